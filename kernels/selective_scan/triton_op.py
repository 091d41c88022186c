"""The Triton selective scan as an autograd op: plans a call (`triton_plan`), launches the
kernels (`triton_chunked`, or `triton_packed` for short rows) through the launch cache, and
carves the gradients' buffers.

At short lengths this op is bound by the CPU that issues it (BENCHMARKS.md), so both passes
keep the Python between the launches to the few tensor calls they need.
"""

from __future__ import annotations

import torch

from ..triton_support.launch_cache import CachedLaunch, aligned
from .triton_adjoint_ptx import check_scan_layout
from .triton_chunked import backward_kernel, forward_kernel
from .triton_packed import packed_backward_kernel, packed_forward_kernel
from .triton_plan import CONFIG, plan_call

# Tests set this to fill outputs with NaN before launch, so unwritten elements show.
POISON_OUTPUTS = False


def _poison(out):
    """`out`, filled with NaN under POISON_OUTPUTS (tests), so that what a kernel leaves
    unwritten shows."""
    return out.fill_(float("nan")) if POISON_OUTPUTS else out


def _dtype(x):
    return None if x is None else x.dtype


# By layout: time-parallel chunks (False), or short rows packed into tiles (True).
_forward_launch = {False: CachedLaunch(forward_kernel), True: CachedLaunch(packed_forward_kernel)}
_backward_launch = {False: CachedLaunch(backward_kernel, vet=check_scan_layout),
                    True: CachedLaunch(packed_backward_kernel)}


class TritonSelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, grad_enabled,
                return_last_state):
        # Under no_grad needs_input_grad still reports requires_grad, hence grad_enabled.
        for_backward = grad_enabled and any(ctx.needs_input_grad)
        b, d, l = u.shape
        plan = plan_call(b, d, 1 if B.dim() == 3 else B.shape[1], A.shape[1], l,
                         CONFIG.get(u.element_size(), CONFIG[4]), bool(delta_softplus),
                         for_backward, (u.dtype, delta.dtype, A.dtype, B.dtype, C.dtype,
                                        _dtype(D), _dtype(z), _dtype(delta_bias)),
                         bool(return_last_state))
        ctx.bc_shape = B.shape
        if plan.short:  # the packed kernels read B and C laid out (g, n, b, l)
            B, C = (x.reshape(b, -1, l).transpose(0, 1).contiguous() for x in (B, C))
        else:
            B, C = B.contiguous(), C.contiguous()
        u, delta = u.contiguous(), delta.contiguous()
        z = z.contiguous() if z is not None else None
        A32 = A.float().contiguous()
        D32 = D.float().contiguous() if D is not None else None
        bias32 = delta_bias.float().contiguous() if delta_bias is not None else None
        # Shapes go to torch as separate arguments: parsing a tuple costs the CPU more.
        out = _poison(torch.empty_like(u))
        states = _poison(u.new_empty(*plan.states_shape, dtype=torch.float32))
        inputs_aligned = aligned(u, delta, A32, B, C, D32, z, bias32)
        _forward_launch[plan.short](plan if inputs_aligned else None, plan.fwd_grid,
                        (u, delta, A32, B, C, D32, z, bias32, out, states) + plan.fwd_ints,
                        plan.fwd_constexprs)
        ctx.save_for_backward(u, delta, A32, B, C, D32, z, bias32, states)
        ctx.plan, ctx.inputs_aligned = plan, inputs_aligned
        if return_last_state:
            ctx.set_materialize_grads(False)  # an unused output's gradient stays None, not zeros
            return out, states[:, :, -1]  # a view: the state after the last step
        return out

    @staticmethod
    def backward(ctx, dout, dlast=None):
        u, delta, A32, B, C, D32, z, bias32, states = ctx.saved_tensors
        plan = ctx.plan
        # Every accumulated gradient (and the carry) comes from one zeroed buffer, the
        # per-step gradients from one uninitialised one.
        zeroed = torch.zeros(plan.accumulated, dtype=torch.float32, device=u.device)
        dA, dD, dbias, carry, dBC = zeroed.split_with_sizes(plan.accumulator_sizes)
        if dlast is not None:
            carry.copy_(dlast.reshape(-1))
        per_step = _poison(u.new_empty(2 if z is None else 3, *u.shape, dtype=plan.per_step_dtype))
        du, ddelta, *rest = per_step.unbind(0)
        dz = rest[0] if rest else None
        dout = torch.zeros_like(u) if dout is None else dout.contiguous()
        # The plan keys the launcher only for the dtype it fixes: dout arrives in y's.
        key = plan if (ctx.inputs_aligned and dout.dtype == u.dtype
                       and aligned(dout, zeroed, per_step)) else None
        _backward_launch[plan.short](key, plan.bwd_grid,
                         (u, delta, A32, B, C, D32, z, bias32, dout, states, carry, du, ddelta, dA,
                          dBC, dD, dz, dbias) + plan.bwd_ints,
                         plan.bwd_constexprs)
        if plan.short:  # the packed backward adds dB and dC laid out (g, n, b, l)
            dBC = dBC.view(2, *plan.packed_bc_shape).permute(0, 3, 1, 2, 4)
        # One copy at most: the cast, the return to B's layout, or both at once.
        dBC = dBC.to(plan.bc_dtype, memory_format=torch.contiguous_format)
        dB, dC = dBC.view(2, *ctx.bc_shape).unbind(0)
        grads = (du, ddelta, dA.view(*A32.shape), dB, dC, dD if D32 is not None else None, dz,
                 dbias if bias32 is not None else None)
        if plan.casts is not None:
            grads = tuple(grad if grad is None or grad.dtype == dtype else grad.to(dtype)
                          for grad, dtype in zip(grads, plan.casts))
        return grads + (None, None, None)


def triton_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                          delta_softplus=False, return_last_state=False):
    return TritonSelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                       torch.is_grad_enabled(), return_last_state)
