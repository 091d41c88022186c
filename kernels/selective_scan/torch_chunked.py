"""Chunked selective scan in PyTorch with a hand-written backward: the CPU fast path.

The recurrence h_t = dA_t * h_{t-1} + dBu_t is walked one step at a time, but each step is a
single fused multiply-add over a whole (b, d, n) slab with no autograd graph behind it. All
other work (discretisation, the C contraction, every gradient reduction) runs vectorised over a
chunk of `chunk_len` steps. Only chunk-sized (T, b, d, n) buffers exist at any moment; the
backward stores the state at each chunk start and recomputes the chunk's states from it.

Backward, with G_t = dL/dh_t:
    G_t      = C_t * dy_t + dA_{t+1} * G_{t+1}          (reverse recurrence)
    dC_t     = sum_d dy_t * h_t
    dB_t     = sum_d G_t * dt_t * u_t
    du_t     = sum_n G_t * B_t * dt_t + D * dy_t
    ddt_t    = sum_n G_t * (B_t * u_t + A * dA_t * h_{t-1})
    dA       = sum_{b,t} G_t * dt_t * dA_t * h_{t-1}
"""

from __future__ import annotations

import math
import threading

import torch
import torch.nn.functional as F

DEFAULT_CHUNK_LEN = 32
# A call passes over its chunk-sized buffers some twenty times, so it pays to keep them in the
# last-level cache: chunks are halved, down to MIN_CHUNK_LEN, until a chunk's states fit in
# CHUNK_BYTES. On the 2-core machine (32 MB of L3) chunks of 16 steps ran the scan 1.17
# times as fast as 32 at (b, d, n) = (32, 128, 16), where a step's states take 256 KB
# (BENCHMARKS.md). Not below 16: the states kept at the chunk starts (a step's states every T
# steps) then take no more memory than u does, at n = 16.
CHUNK_BYTES = 4 * 2**20
MIN_CHUNK_LEN = 16
# The decays are taken as exp2(dt * A log2(e)): torch's CPU exp ran on one thread where exp2 ran
# on all of them, 2.3 times as fast on the 2-core machine (BENCHMARKS.md).
LOG2E = 1 / math.log(2)


def _grouped(BC: torch.Tensor) -> torch.Tensor:
    """(b, n, l) -> (b, 1, n, l); grouped (b, g, n, l) stays."""
    return BC.unsqueeze(1) if BC.dim() == 3 else BC


def _discretise(delta, delta_bias, delta_softplus):
    dt = delta.float()
    if delta_bias is not None:
        dt = dt + delta_bias.float()[:, None]
    return F.softplus(dt) if delta_softplus else dt  # (b, d, l)


def _time_major(x: torch.Tensor) -> torch.Tensor:
    """(b, g, k, l) -> a contiguous (l, b, g, k): every chunk is then a contiguous slice."""
    return x.permute(3, 0, 1, 2).contiguous()


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """(l, b, g, k) -> a contiguous (b, g, k, l)."""
    return x.permute(1, 2, 3, 0).contiguous()


# The workspace is kept between calls, up to this many bytes per thread: a training step
# calls the scan with the same few shapes over and over, and on a CPU the first write to freshly
# allocated memory costs page faults, about 0.2 ms per MB (BENCHMARKS.md). Bigger workspaces
# are allocated per call, where the faults weigh less against the work.
KEPT_WORKSPACE_BYTES = 256 * 2**20
_kept = threading.local()


class _Workspace:
    """The three chunk-sized (T, b, g, n, e) buffers of a call, reused by every chunk; carved
    from this thread's kept buffer when they fit in KEPT_WORKSPACE_BYTES. The forward and the
    backward of one call, and the calls of one thread, run one after another, so a thread's
    calls can share one buffer; threads do not."""

    def __init__(self, T, b, g, n, e, like):
        numel = T * b * g * n * e
        flat = getattr(_kept, "buffer", None)
        if 3 * numel * like.element_size() > KEPT_WORKSPACE_BYTES:
            flat = like.new_empty(3 * numel)
        elif flat is None or flat.numel() < 3 * numel or flat.dtype != like.dtype:
            flat = _kept.buffer = like.new_empty(3 * numel)
        self.dA, self.H, self.G = (part.view(T, b, g, n, e)
                                   for part in flat[:3 * numel].split(numel))


class _Chunk:
    """One chunk's states and decays as time-major (T, b, g, n, e) buffers.

    The channel axis e is innermost: every elementwise op then runs over long contiguous rows
    (e is the model width, n only 16), each step is one contiguous (b, g, n, e) slab, and the
    contractions over n or e are batched matmuls with no transposing copies. dt, dtu
    (= dt * u) and B are the chunk's (T, b, g, e), (T, b, g, e) and (T, b, g, n) slices;
    A2_t is A * log2(e), (g, n, e).
    """

    def __init__(self, dt, dtu, A2_t, B, h0, work: _Workspace):
        T = dt.shape[0]
        self.dA = torch.mul(dt.unsqueeze(3), A2_t, out=work.dA[:T]).exp2_()  # (T, b, g, n, e)
        # dt * B * u, then walked in place into the states h_t = dA_t * h_{t-1} + dt_t B_t u_t.
        self.H = torch.mul(B.unsqueeze(-1), dtu.unsqueeze(3), out=work.H[:T])
        states, decays = self.H.unbind(0), self.dA.unbind(0)
        if h0 is not None:  # None: the zero state
            states[0].addcmul_(decays[0], h0)
        for t in range(1, T):
            states[t].addcmul_(decays[t], states[t - 1])


def _contract_n(X: torch.Tensor, V: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """sum_n X[t,b,g,n,e] V[t,b,g,n] into out (T, b, g, e), as one batched matmul."""
    T, b, g, n, e = X.shape
    torch.bmm(V.reshape(-1, 1, n), X.view(-1, n, e), out=out.view(-1, 1, e))
    return out


def _contract_e(X: torch.Tensor, V: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """sum_e X[t,b,g,n,e] V[t,b,g,e] into out (T, b, g, n), as one batched matmul.

    Written as the row vector V times X transposed: as X times the column V, torch's CPU
    batched product took 6-7 times as long at (32, 32, 1, 16, 128) (BENCHMARKS.md)."""
    T, b, g, n, e = X.shape
    torch.bmm(V.reshape(-1, 1, e), X.view(-1, n, e).transpose(1, 2), out=out.view(-1, 1, n))
    return out


def _layout(u, A, B, C):
    """Time-major fp32 copies, channels split into (g, e) (the g groups of B/C, e channels
    each): u (l, b, g, e), A (g, n, e), B and C (l, b, g, n)."""
    b, d, l = u.shape
    Bg, Cg = _grouped(B), _grouped(C)
    g, n = Bg.shape[1], A.shape[1]
    e = d // g
    u_t = _time_major(u.float().view(b, g, e, l))
    A_t = A.float().view(g, e, n).transpose(1, 2).contiguous()  # (g, n, e)
    return u_t, A_t, _time_major(Bg.float()), _time_major(Cg.float()), (b, d, l, g, n, e)


class SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_len, keep_last):
        with torch.no_grad():
            u_t, A_t, B_t, C_t, (b, d, l, g, n, e) = _layout(u, A, B, C)
            dt_t = _time_major(_discretise(delta, delta_bias, delta_softplus).view(b, g, e, l))
            dtu_t = dt_t * u_t
            y_t = u_t.new_empty(l, b, g, e)
            work = _Workspace(min(chunk_len, l), b, g, n, e, u_t)
            A2_t = A_t * LOG2E
            # The state at the start of every chunk but the first (which starts from zero,
            # None): nothing to allocate, copy or save when the sequence is one chunk.
            starts = u_t.new_empty(-(-l // chunk_len) - 1, b, g, n, e)
            h = None
            for k, t0 in enumerate(range(0, l, chunk_len)):
                t1 = min(t0 + chunk_len, l)
                chunk = _Chunk(dt_t[t0:t1], dtu_t[t0:t1], A2_t, B_t[t0:t1], h, work)
                _contract_n(chunk.H, C_t[t0:t1], out=y_t[t0:t1])
                if t1 < l:
                    h = starts[k].copy_(chunk.H[-1])
            y = _channels_last(y_t).view(b, d, l)
            if D is not None:
                y.addcmul_(D.float()[:, None], u.float())
            out = y * F.silu(z.float()) if z is not None else y
            # (b, g, n, e) -> (b, d, n), a copy (the workspace is reused); an empty stand-in
            # when the caller does not want it.
            last_state = (chunk.H[-1].transpose(-1, -2).reshape(b, d, n).clone() if keep_last
                          else u_t.new_empty(0))
        # dt (time-major) and the ungated y are kept: recomputing them costs more than the
        # memory they take.
        ctx.save_for_backward(u, A, B, C, D, z, dt_t, y if z is not None else None, starts)
        ctx.delta_softplus, ctx.chunk_len = delta_softplus, chunk_len
        ctx.delta_dtype = delta.dtype
        ctx.delta_bias_dtype = None if delta_bias is None else delta_bias.dtype
        ctx.set_materialize_grads(False)  # an unused output's gradient stays None, not zeros
        return out.to(u.dtype), last_state

    @staticmethod
    def backward(ctx, dout, dlast):
        u, A, B, C, D, z, dt_t, y, starts = ctx.saved_tensors
        T = ctx.chunk_len
        u_t, A_t, B_t, C_t, (b, d, l, g, n, e) = _layout(u, A, B, C)
        dout = u_t.new_zeros(u.shape) if dout is None else dout.float()

        dz = None
        if z is not None:
            z32 = z.float()
            sig = torch.sigmoid(z32)
            dy = torch.mul(z32, sig).mul_(dout)  # d(out)/dy = silu(z)
            # d(out)/dz = y * sigmoid(z) * (1 + z * (1 - sigmoid(z)))
            dz = torch.sub(1, sig).mul_(z32).add_(1).mul_(sig).mul_(y).mul_(dout)
        else:
            dy = dout
        dy_t = _time_major(dy.reshape(b, g, e, l))
        dtu_t = dt_t * u_t

        # The per-step gradients, time-major until the end.
        du_t, ddt_t = torch.empty_like(u_t), torch.empty_like(u_t)
        dB_t, dC_t = torch.empty_like(B_t), torch.empty_like(C_t)
        dA_t = torch.zeros_like(A_t)  # (g, n, e)
        # The adjoint flowing into the chunk after the one at hand; None: zero.
        carry = (dlast.float().view(b, g, e, n).transpose(-1, -2).contiguous()
                 if dlast is not None and dlast.numel() else None)

        work = _Workspace(min(T, l), b, g, n, e, u_t)
        A2_t = A_t * LOG2E
        for k in reversed(range(starts.shape[0] + 1)):
            t0, t1 = k * T, min((k + 1) * T, l)
            h0 = starts[k - 1] if k else None  # None: the zero state
            dt_c, u_c, dtu_c, B_c = dt_t[t0:t1], u_t[t0:t1], dtu_t[t0:t1], B_t[t0:t1]
            dy_c = dy_t[t0:t1]  # (T, b, g, e)
            chunk = _Chunk(dt_c, dtu_c, A2_t, B_c, h0, work)
            H, dA_c = chunk.H, chunk.dA

            G = torch.mul(C_t[t0:t1].unsqueeze(-1), dy_c.unsqueeze(3), out=work.G[:t1 - t0])
            adjoints, decays = G.unbind(0), dA_c.unbind(0)
            if carry is not None:
                adjoints[-1].add_(carry)
            for t in range(len(adjoints) - 2, -1, -1):
                adjoints[t].addcmul_(decays[t + 1], adjoints[t + 1])
            if k:
                carry = decays[0] * adjoints[0]

            _contract_e(H, dy_c, out=dC_t[t0:t1])
            _contract_e(G, dtu_c, out=dB_t[t0:t1])
            GB = _contract_n(G, B_c, out=du_t[t0:t1])  # sum_n G B, then scaled into du
            # W_t = G_t * dA_t * h_{t-1}: the gradient through the decay, built in G's buffer.
            W = G.mul_(dA_c)
            W[1:].mul_(H[:-1])
            if h0 is None:
                W[0].zero_()
            else:
                W[0].mul_(h0)
            # H is spent: its buffer holds the two weighted copies of W that are summed.
            scratch = H
            decay = torch.mul(W, A_t, out=scratch).sum(3)
            torch.addcmul(decay, GB, u_c, out=ddt_t[t0:t1])
            GB.mul_(dt_c)
            dA_t += torch.mul(W, dt_c.unsqueeze(3), out=scratch).sum((0, 1))
        dA = dA_t.transpose(1, 2)  # (g, e, n)

        if ctx.delta_softplus:
            # softplus'(x) = sigmoid(x) = 1 - exp(-softplus(x)): read off the saved dt.
            ddt_t.mul_(torch.neg(dt_t).expm1_().neg_())
        ddelta_bias = None
        if ctx.delta_bias_dtype is not None:
            ddelta_bias = ddt_t.sum((0, 1)).reshape(d).to(ctx.delta_bias_dtype)
        du, ddt = _channels_last(du_t).view(b, d, l), _channels_last(ddt_t).view(b, d, l)
        dB, dC = _channels_last(dB_t), _channels_last(dC_t)
        dD = None
        if D is not None:
            du.addcmul_(D.float()[:, None], dy)
            dD = (dy * u.float()).sum((0, 2))
        if B.dim() == 3:
            dB, dC = dB.squeeze(1), dC.squeeze(1)

        def cast(grad, like):
            return None if grad is None else grad.to(like.dtype)

        return (cast(du, u), ddt.to(ctx.delta_dtype), cast(dA.reshape(d, n), A), cast(dB, B),
                cast(dC, C), cast(dD, D), cast(dz, z), ddelta_bias, None, None, None)


def chunk_len_for(b: int, d: int, n: int) -> int:
    """The chunk length for states of (b, d, n) per step, fp32 (see CHUNK_BYTES)."""
    chunk_len = DEFAULT_CHUNK_LEN
    while chunk_len > MIN_CHUNK_LEN and chunk_len * b * d * n * 4 > CHUNK_BYTES:
        chunk_len //= 2
    return chunk_len


def chunked_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                           delta_softplus=False, return_last_state=False, chunk_len=None):
    if chunk_len is None:
        chunk_len = chunk_len_for(u.shape[0], u.shape[1], A.shape[1])
    y, last_state = SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias,
                                          delta_softplus, chunk_len, return_last_state)
    return (y, last_state) if return_last_state else y
