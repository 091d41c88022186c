"""What the selective-scan tests share: the tolerance table, inputs, a loss that touches every
output, and the comparison."""

import torch

# One tolerance table: max |fast - ref| / max(max |ref|, 1), per input dtype. The floor of 1
# makes it absolute for quantities whose reference is ~0 (dA at L = 1 is exactly 0, and the
# kernels' rounding leaves ~1e-7 there).
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 2e-2}
GRAD_NAMES = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]


def make_inputs(b, d, n, l, groups, dtype, with_z, with_D, with_bias, positive_dt=False, seed=0):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, dt=dtype, positive=False):
        x = torch.randn(*shape, generator=g) * scale
        return (x.abs() if positive else x).to(dt).requires_grad_()

    bc_shape = (b, n, l) if groups is None else (b, groups, n, l)
    return dict(
        u=rnd(b, d, l), delta=rnd(b, d, l, scale=0.5, positive=positive_dt),
        A=(-torch.rand(d, n, generator=g) * 2 - 0.1).requires_grad_(),
        B=rnd(*bc_shape), C=rnd(*bc_shape),
        D=rnd(d, dt=torch.float32) if with_D else None,
        z=rnd(b, d, l) if with_z else None,
        delta_bias=(rnd(d, scale=0.5, dt=torch.float32, positive=positive_dt)
                    if with_bias else None))


def run(fn, inputs, softplus, **kwargs):
    for t in inputs.values():
        if t is not None:
            t.grad = None
    y, last = fn(**inputs, delta_softplus=softplus, return_last_state=True, **kwargs)
    # A loss that weights every output element and the last state differently.
    w = torch.linspace(-1, 1, y.numel(), device=y.device).view_as(y)
    (torch.sum(y.float() * w) + torch.sum(last * last)).backward()
    grads = {k: (v.grad.clone() if v is not None else None) for k, v in inputs.items()}
    return y.detach(), last.detach(), grads


def close(fast, ref, tol, name=""):
    assert fast.dtype == ref.dtype and fast.shape == ref.shape, name
    assert torch.isfinite(fast).all(), f"{name}: non-finite (unwritten?) elements"
    scale = ref.float().abs().max().clamp_min(1.0)
    err = (fast.float() - ref.float()).abs().max() / scale
    assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"
