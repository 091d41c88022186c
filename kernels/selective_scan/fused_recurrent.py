"""Triton forward and backward kernels for the selective scan (the GPU path).

Each program owns BLOCK_D channels of one batch row and keeps their (BLOCK_D, N) state in
registers. It walks the sequence in chunks of T steps: a chunk's inputs are loaded as
(BLOCK_D, T) and (N, T) tiles, discretised, and the linear recurrence inside the chunk is one
`tl.associative_scan` over the time axis, seeded with the state carried from the last chunk.
The forward stores only the state at each chunk start; the backward walks the chunks in
reverse, recomputes each chunk's states from its start, and runs the reverse recurrence for
G_t = dL/dh_t as a reverse associative scan. Two identities keep everything in registers:

    dA_t * h_{t-1} = h_t - dt_t B_t u_t          (no shifted copy of the states)
    G_t = C_t dy_t + dA_{t+1} G_{t+1}            (dA_{t+1} is loaded from dt at t + 1)

dB and dC sum over channels, so programs add their (N, T) partial sums atomically; dA, D and
delta_bias sum over batch and time, one atomic add per program.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

# Launch settings: channels per program, time steps per associative scan, warps per program.
# Chosen by the sweep in benchmark.py (`tune`) on an H100; see BENCHMARKS.md.
CONFIG = {"block_d": 8, "chunk": 8, "num_warps": 1}

# Tests set this to fill outputs with NaN before launch, so unwritten elements show.
POISON_OUTPUTS = False


def _alloc(shape, dtype, device, zero=False):
    if zero:
        return torch.zeros(shape, dtype=dtype, device=device)
    if POISON_OUTPUTS:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


@triton.jit
def _first_order(a1, b1, a2, b2):
    # Composition of h -> a1 h + b1 then h -> a2 h + b2.
    return a1 * a2, b1 * a2 + b2


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(x)))


@triton.jit
def _load_chunk(u_ptr, delta_ptr, B_ptr, C_ptr, bias_ptr, A_ptr, offs_d, offs_n, t, mask_d,
                mask_n, mask_dt, mask_nt, seq_len, stride_ud, stride_bn, d_state,
                HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Tiles of one chunk: u, dt (BLOCK_D, T); B, C (N, T); dA, dBu (BLOCK_D, N, T)."""
    ud_off = offs_d[:, None] * stride_ud + t[None, :]
    u = tl.load(u_ptr + ud_off, mask=mask_dt, other=0.0).to(tl.float32)
    dt = tl.load(delta_ptr + ud_off, mask=mask_dt, other=0.0).to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0)[:, None]
    if SOFTPLUS:
        dt = _softplus(dt)
    dt = tl.where(mask_dt, dt, 0.0)  # padding steps: dA = 1, dBu = 0, the state passes through
    bn_off = offs_n[:, None] * stride_bn + t[None, :]
    B = tl.load(B_ptr + bn_off, mask=mask_nt, other=0.0).to(tl.float32)
    C = tl.load(C_ptr + bn_off, mask=mask_nt, other=0.0).to(tl.float32)
    A = tl.load(A_ptr + offs_d[:, None] * d_state + offs_n[None, :],
                mask=mask_d[:, None] & mask_n[None, :], other=0.0)  # (BLOCK_D, N)
    dA = tl.exp(dt[:, None, :] * A[:, :, None])  # (BLOCK_D, N, T)
    dBu = (dt * u)[:, None, :] * B[None, :, :]  # (BLOCK_D, N, T)
    return u, dt, B, C, A, dA, dBu


@triton.jit
def _fwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr,
                starts_ptr, last_ptr, dim, seq_len, d_state, group_dim, n_groups, n_chunks,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr, N: tl.constexpr,
                T: tl.constexpr):
    pid_b, pid_d = tl.program_id(0), tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, N)
    offs_t = tl.arange(0, T)
    mask_d, mask_n = offs_d < dim, offs_n < d_state
    group = (pid_d * BLOCK_D) // group_dim  # the launcher keeps a block inside one group
    base_ud = pid_b * dim * seq_len
    base_bc = (pid_b * n_groups + group) * d_state * seq_len
    h = tl.zeros((BLOCK_D, N), dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
    for k in range(n_chunks):
        t = k * T + offs_t
        mask_t = t < seq_len
        mask_dt = mask_d[:, None] & mask_t[None, :]
        mask_nt = mask_n[:, None] & mask_t[None, :]
        tl.store(starts_ptr + ((pid_b * dim + offs_d[:, None]) * n_chunks + k) * d_state
                 + offs_n[None, :], h, mask=mask_d[:, None] & mask_n[None, :])
        u, dt, B, C, A, dA, dBu = _load_chunk(
            u_ptr + base_ud, delta_ptr + base_ud, B_ptr + base_bc, C_ptr + base_bc, bias_ptr,
            A_ptr, offs_d, offs_n, t, mask_d, mask_n, mask_dt, mask_nt, seq_len, seq_len,
            seq_len, d_state, HAS_BIAS, SOFTPLUS)
        first = (offs_t == 0)[None, None, :]
        dBu = tl.where(first, dBu + dA * h[:, :, None], dBu)  # seed with the carried state
        _, H = tl.associative_scan((dA, dBu), 2, _first_order)  # (BLOCK_D, N, T)
        y = tl.sum(H * C[None, :, :], axis=1)  # (BLOCK_D, T)
        if HAS_D:
            y += Dv[:, None] * u
        if HAS_Z:
            z = tl.load(z_ptr + base_ud + offs_d[:, None] * seq_len + t[None, :], mask=mask_dt,
                        other=0.0).to(tl.float32)
            y = y * z * tl.sigmoid(z)
        tl.store(out_ptr + base_ud + offs_d[:, None] * seq_len + t[None, :],
                 y.to(out_ptr.dtype.element_ty), mask=mask_dt)
        h = tl.sum(tl.where((offs_t == T - 1)[None, None, :], H, 0.0), axis=2)
    tl.store(last_ptr + (pid_b * dim + offs_d[:, None]) * d_state + offs_n[None, :], h,
             mask=mask_d[:, None] & mask_n[None, :])


@triton.jit
def _bwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, dout_ptr,
                starts_ptr, dlast_ptr, du_ptr, ddelta_ptr, dA_ptr, dB_ptr, dC_ptr, dD_ptr,
                dz_ptr, dbias_ptr, dim, seq_len, d_state, group_dim, n_groups, n_chunks,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                SOFTPLUS: tl.constexpr, HAS_DLAST: tl.constexpr, BLOCK_D: tl.constexpr,
                N: tl.constexpr, T: tl.constexpr):
    pid_b, pid_d = tl.program_id(0), tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, N)
    offs_t = tl.arange(0, T)
    mask_d, mask_n = offs_d < dim, offs_n < d_state
    mask_dn = mask_d[:, None] & mask_n[None, :]
    group = (pid_d * BLOCK_D) // group_dim
    base_ud = pid_b * dim * seq_len
    base_bc = (pid_b * n_groups + group) * d_state * seq_len
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
    if HAS_DLAST:
        carry = tl.load(dlast_ptr + (pid_b * dim + offs_d[:, None]) * d_state + offs_n[None, :],
                        mask=mask_dn, other=0.0)
    else:
        carry = tl.zeros((BLOCK_D, N), dtype=tl.float32)  # G at the first step of the next chunk
    dA_acc = tl.zeros((BLOCK_D, N), dtype=tl.float32)
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    last = (offs_t == T - 1)[None, None, :]
    for kk in range(n_chunks):
        k = n_chunks - 1 - kk
        t = k * T + offs_t
        mask_t = t < seq_len
        mask_dt = mask_d[:, None] & mask_t[None, :]
        mask_nt = mask_n[:, None] & mask_t[None, :]
        ud_off = base_ud + offs_d[:, None] * seq_len + t[None, :]
        h0 = tl.load(starts_ptr + ((pid_b * dim + offs_d[:, None]) * n_chunks + k) * d_state
                     + offs_n[None, :], mask=mask_dn, other=0.0)
        u, dt, B, C, A, dA, dBu = _load_chunk(
            u_ptr + base_ud, delta_ptr + base_ud, B_ptr + base_bc, C_ptr + base_bc, bias_ptr,
            A_ptr, offs_d, offs_n, t, mask_d, mask_n, mask_dt, mask_nt, seq_len, seq_len,
            seq_len, d_state, HAS_BIAS, SOFTPLUS)
        first = (offs_t == 0)[None, None, :]
        _, H = tl.associative_scan((dA, tl.where(first, dBu + dA * h0[:, :, None], dBu)), 2,
                                   _first_order)  # (BLOCK_D, N, T): h_t for the chunk's steps

        dout = tl.load(dout_ptr + ud_off, mask=mask_dt, other=0.0).to(tl.float32)
        y = tl.sum(H * C[None, :, :], axis=1)  # (BLOCK_D, T), before D and the gate
        if HAS_D:
            y += Dv[:, None] * u
        if HAS_Z:
            z = tl.load(z_ptr + ud_off, mask=mask_dt, other=0.0).to(tl.float32)
            sig = tl.sigmoid(z)
            dy = dout * z * sig
            dz = dout * y * sig * (1.0 + z * (1.0 - sig))
            tl.store(dz_ptr + ud_off, dz, mask=mask_dt)
        else:
            dy = dout

        # dA_{t+1} for the reverse recurrence, from dt one step ahead (0 past the end).
        t_next = t + 1
        mask_next = mask_d[:, None] & (t_next < seq_len)[None, :]
        dt_next = tl.load(delta_ptr + ud_off + 1, mask=mask_next, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt_next += tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0)[:, None]
        if SOFTPLUS:
            dt_next = _softplus(dt_next)
        dA_next = tl.exp(tl.where(mask_next, dt_next, 0.0)[:, None, :] * A[:, :, None])
        src = dy[:, None, :] * C[None, :, :]  # (BLOCK_D, N, T)
        src = tl.where(last, src + dA_next * carry[:, :, None], src)
        _, G = tl.associative_scan((dA_next, src), 2, _first_order, reverse=True)
        carry = tl.sum(tl.where(first, G, 0.0), axis=2)

        GB = tl.sum(G * B[None, :, :], axis=1)  # (BLOCK_D, T)
        X = G * (H - dBu)  # G_t * dA_t * h_{t-1}
        ddt = GB * u + tl.sum(X * A[:, :, None], axis=1)
        du = GB * dt
        if HAS_D:
            du += Dv[:, None] * dy
            dD_acc += tl.sum(tl.where(mask_dt, dy * u, 0.0), axis=1)
        dA_acc += tl.sum(X * dt[:, None, :], axis=2)
        if SOFTPLUS:
            pre = tl.load(delta_ptr + ud_off, mask=mask_dt, other=0.0).to(tl.float32)
            if HAS_BIAS:
                pre += tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0)[:, None]
            ddt = ddt * tl.sigmoid(pre)
        ddt = tl.where(mask_dt, ddt, 0.0)
        dbias_acc += tl.sum(ddt, axis=1)
        tl.store(du_ptr + ud_off, du, mask=mask_dt)
        tl.store(ddelta_ptr + ud_off, ddt, mask=mask_dt)
        bc_off = base_bc + offs_n[:, None] * seq_len + t[None, :]
        tl.atomic_add(dB_ptr + bc_off, tl.sum(G * (dt * u)[:, None, :], axis=0), mask=mask_nt)
        tl.atomic_add(dC_ptr + bc_off, tl.sum(H * dy[:, None, :], axis=0), mask=mask_nt)
    tl.atomic_add(dA_ptr + offs_d[:, None] * d_state + offs_n[None, :], dA_acc, mask=mask_dn)
    if HAS_D:
        tl.atomic_add(dD_ptr + offs_d, dD_acc, mask=mask_d)
    if HAS_BIAS:
        tl.atomic_add(dbias_ptr + offs_d, dbias_acc, mask=mask_d)


def _block_d(dim: int, group_dim: int, n_groups: int) -> int:
    """Channels per program: CONFIG's, or fewer so that a block never spans two groups of B/C."""
    block = CONFIG["block_d"]
    if n_groups > 1:
        while group_dim % block:
            block //= 2
    return max(block, 1)


def _launch_shape(u, A, B):
    b, d, l = u.shape
    g = 1 if B.dim() == 3 else B.shape[1]
    n = A.shape[1]
    block = _block_d(d, d // g, g)
    n_chunks = triton.cdiv(l, CONFIG["chunk"])
    return b, d, l, g, n, block, n_chunks


class TritonSelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        u, delta, B, C = (x.contiguous() for x in (u, delta, B, C))
        z = z.contiguous() if z is not None else None
        A32 = A.float().contiguous()
        D32 = D.float().contiguous() if D is not None else None
        bias32 = delta_bias.float().contiguous() if delta_bias is not None else None
        b, d, l, g, n, block, n_chunks = _launch_shape(u, A, B)
        out = _alloc((b, d, l), u.dtype, u.device)
        starts = _alloc((b, d, n_chunks, n), torch.float32, u.device)
        last = _alloc((b, d, n), torch.float32, u.device)
        grid = (b, triton.cdiv(d, block))
        _fwd_kernel[grid](u, delta, A32, B, C, D32, z, bias32, out, starts, last, d, l, n, d // g,
                          g, n_chunks, HAS_D=D is not None, HAS_Z=z is not None,
                          HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
                          BLOCK_D=block, N=triton.next_power_of_2(n), T=CONFIG["chunk"],
                          num_warps=CONFIG["num_warps"])
        ctx.chunk = CONFIG["chunk"]
        ctx.save_for_backward(u, delta, A32, B, C, D32, z, bias32, starts)
        ctx.delta_softplus = delta_softplus
        ctx.dtypes = (A.dtype, D.dtype if D is not None else None,
                      delta_bias.dtype if delta_bias is not None else None)
        return out, last

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A32, B, C, D32, z, bias32, starts = ctx.saved_tensors
        b, d, l, g, n, block, _ = _launch_shape(u, A32, B)
        n_chunks = starts.shape[2]  # the forward's chunking, whatever CONFIG says now
        dout = dout.contiguous()
        dev = u.device
        du = _alloc((b, d, l), torch.float32, dev)
        ddelta = _alloc((b, d, l), torch.float32, dev)
        dz = _alloc((b, d, l), torch.float32, dev) if z is not None else None
        dA = _alloc((d, n), torch.float32, dev, zero=True)
        dB = _alloc(B.shape, torch.float32, dev, zero=True)
        dC = _alloc(C.shape, torch.float32, dev, zero=True)
        dD = _alloc((d,), torch.float32, dev, zero=True) if D32 is not None else None
        dbias = _alloc((d,), torch.float32, dev, zero=True) if bias32 is not None else None
        dlast = dlast.float().contiguous() if dlast is not None else None
        grid = (b, triton.cdiv(d, block))
        _bwd_kernel[grid](u, delta, A32, B, C, D32, z, bias32, dout, starts, dlast, du, ddelta,
                          dA, dB, dC, dD, dz, dbias, d, l, n, d // g, g, n_chunks,
                          HAS_D=D32 is not None, HAS_Z=z is not None, HAS_BIAS=bias32 is not None,
                          SOFTPLUS=ctx.delta_softplus, HAS_DLAST=dlast is not None,
                          BLOCK_D=block, N=triton.next_power_of_2(n), T=ctx.chunk,
                          num_warps=CONFIG["num_warps"])
        A_dtype, D_dtype, bias_dtype = ctx.dtypes
        return (du.to(u.dtype), ddelta.to(delta.dtype), dA.to(A_dtype), dB.to(B.dtype),
                dC.to(C.dtype), dD.to(D_dtype) if dD is not None else None,
                dz.to(z.dtype) if dz is not None else None,
                dbias.to(bias_dtype) if dbias is not None else None, None)


def triton_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                          delta_softplus=False, return_last_state=False):
    out, last = TritonSelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return (out, last) if return_last_state else out
