"""Triton kernels of the selective scan for short sequences: several batch rows packed along
a tile's time axis (the GPU path for l <= `Settings.short_max`).

TSM2's channel mixer scans along the variates: rows of 7 or 21 steps, tens of thousands of
them. Walking one such row per program leaves most of a tile's lanes idle, and dA, D's and
delta_bias' gradients, which sum over the batch, would be added atomically once per row. Here
a tile of T slots holds R = T // l whole rows one after another (row r, step t at slot
r * l + t; the last T - R l slots are padding), so the lanes are full whatever l is.

B and C arrive laid out (g, n, b, l), not (b, g, n, l) (`triton_op` rearranges them, a copy
of 1/d of u's size per group): for one state a tile's rows are then one contiguous run, where
B's own layout scatters them into a run per row, l elements each. Every channel program loads
B and C once per state and tile, the bulk of these kernels' memory instructions, and both are
bound by their L1 traffic (Nsight Compute, BENCHMARKS.md).

A scan along the tile restarts at every row: the decay dA is taken as zero at each row's
first step, which cuts both the state recurrence h_t = dA_t h_{t-1} + dt_t B_t u_t and the
adjoint G_t = C_t dy_t + dA_{t+1} G_{t+1} at the row boundaries. Every row starts from the
zero state and fits in one tile, so no state is stored between passes: the forward writes only
the state after each row's last step, when the caller keeps it, and the backward recomputes
the states. The backward's programs each walk every P-th tile of rows and add the batch sums
once, at their end.

Everything else (the gradient identities, relaxed atomics for dB and dC) is as in
`triton_chunked.py`, whose helpers these kernels share.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ..triton_support.ptx import LOG2E, exp2
from .triton_chunked import _adjoint_scan, _first_order, _load_dt


@triton.jit
def _packed_rows(tile, rows_per_tile, batch, seq_len, T: tl.constexpr):
    """For tile `tile` of rows: each slot's batch row, step, and whether it holds one."""
    j = tl.arange(0, T)
    r = j // seq_len
    b_row = tile * rows_per_tile + r
    return b_row, j - r * seq_len, (r < rows_per_tile) & (b_row < batch)


@triton.jit
def _row_states(A_ptr, B_ptr, C_ptr, offs_d, mask_d, bc, mask_j, n, state_stride, dt, dtu,
                first, d_state, PTX: tl.constexpr):
    """State n over a tile of whole rows, each from zero: H (BLOCK_D, T), with the segmented
    decay (zero at row starts) and what built H. B and C of state n lie `state_stride` after
    state 0's, at `bc`."""
    A_n = tl.load(A_ptr + offs_d * d_state + n, mask=mask_d, other=0.0)
    B_n = tl.load(B_ptr + bc + n * state_stride, mask=mask_j, other=0.0).to(tl.float32)
    C_n = tl.load(C_ptr + bc + n * state_stride, mask=mask_j, other=0.0).to(tl.float32)
    dA = tl.where(first, 0.0, exp2(dt * (A_n * LOG2E)[:, None], PTX))
    dBu = dtu * B_n[None, :]
    _, H = tl.associative_scan((dA, dBu), 1, _first_order)
    return A_n, B_n, C_n, dA, dBu, H


@triton.jit
def packed_forward_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                          out_ptr, last_ptr, batch, dim, seq_len, d_state, group_dim,
                          rows_per_tile, HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
                          HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                          BLOCK_D: tl.constexpr, T: tl.constexpr, PTX: tl.constexpr,
                          STORE_LAST: tl.constexpr):
    """A program per (tile of rows, block of channels); B and C laid out (g, n, b, l). With
    STORE_LAST, `last` (b, d, n) gets the state after each row's last step."""
    pid_r, pid_d = tl.program_id(0), tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_d < dim
    b_row, t, mask_j = _packed_rows(pid_r, rows_per_tile, batch, seq_len, T)
    mask = mask_d[:, None] & mask_j[None, :]
    first = (t == 0)[None, :]
    group = (pid_d * BLOCK_D) // group_dim  # the launcher keeps a block inside one group
    offs = (b_row[None, :] * dim + offs_d[:, None]) * seq_len + t[None, :]
    bc = (group * d_state * batch + b_row) * seq_len + t  # (T,): B and C at n = 0
    u = tl.load(u_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    dt, _ = _load_dt(delta_ptr + offs, bias_ptr, offs_d, mask, mask_d, HAS_BIAS, SOFTPLUS)
    dtu = dt * u
    last_ptrs = last_ptr + (b_row[None, :] * dim + offs_d[:, None]) * d_state
    is_last = mask & (t == seq_len - 1)[None, :]
    y = tl.zeros((BLOCK_D, T), dtype=tl.float32)
    for n in range(d_state):
        _, _, C_n, _, _, H = _row_states(A_ptr, B_ptr, C_ptr, offs_d, mask_d, bc, mask_j, n,
                                         batch * seq_len, dt, dtu, first, d_state, PTX)
        y += H * C_n[None, :]
        if STORE_LAST:
            tl.store(last_ptrs + n, H, mask=is_last)
    if HAS_D:
        y += tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)[:, None] * u
    if HAS_Z:
        z = tl.load(z_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        y = y * z * tl.sigmoid(z)
    tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def packed_backward_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                           dout_ptr, last_ptr, dlast_ptr, du_ptr, ddelta_ptr, dA_ptr, dBC_ptr,
                           dD_ptr, dz_ptr, dbias_ptr, batch, dim, seq_len, d_state, group_dim,
                           rows_per_tile, n_tiles, bc_numel,
                           HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                           SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr, T: tl.constexpr,
                           PTX: tl.constexpr, N_POW2: tl.constexpr, HAS_DLAST: tl.constexpr,
                           SHIFTED: tl.constexpr):
    """Program (p, block of channels) takes tiles p, p + P, ... of the `n_tiles` (P programs
    along the grid's first axis). `dlast` (b, d, n) is the gradient of the last states, read
    with HAS_DLAST. With SHIFTED the adjoint G_t = src_t + dA_{t+1} G_{t+1} is a scan of pairs
    on the next step's decay (its dt loaded once a tile, zero past a row's end); otherwise
    `_adjoint_scan` composes four terms on this step's. dB and dC lie side by side in `dBC`,
    bc_numel elements each, laid out (g, n, b, l) as B and C are here, so each atomic add of a
    tile touches as few memory sectors as it can (`triton_op` puts them back in B's layout).
    `last_ptr` is unused (the states are recomputed), kept so that both layouts share one signature."""
    pid_r, pid_d = tl.program_id(0), tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, N_POW2)
    mask_d = offs_d < dim
    group = (pid_d * BLOCK_D) // group_dim
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
    dA_acc = tl.zeros((BLOCK_D, N_POW2), dtype=tl.float32)  # column n: dA[:, n] so far
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for tile in range(pid_r, n_tiles, tl.num_programs(0)):
        b_row, t, mask_j = _packed_rows(tile, rows_per_tile, batch, seq_len, T)
        bc = (group * d_state * batch + b_row) * seq_len + t  # B, C, dB and dC at n = 0
        mask = mask_d[:, None] & mask_j[None, :]
        first = (t == 0)[None, :]
        offs = (b_row[None, :] * dim + offs_d[:, None]) * seq_len + t[None, :]
        u = tl.load(u_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dt, pre = _load_dt(delta_ptr + offs, bias_ptr, offs_d, mask, mask_d, HAS_BIAS,
                           SOFTPLUS)
        dtu = dt * u
        dout = tl.load(dout_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        if HAS_Z:
            z = tl.load(z_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            sig = tl.sigmoid(z)
            dy = dout * z * sig
        else:
            dy = dout
        if SHIFTED:
            has_next = mask & (t < seq_len - 1)[None, :]
            dt_next, _ = _load_dt(delta_ptr + offs + 1, bias_ptr, offs_d, has_next, mask_d,
                                  HAS_BIAS, SOFTPLUS)
        dlast_ptrs = dlast_ptr + (b_row[None, :] * dim + offs_d[:, None]) * d_state
        is_last = mask & (t == seq_len - 1)[None, :]
        y = tl.zeros((BLOCK_D, T), dtype=tl.float32)  # pre-gate output, for dz
        GB = tl.zeros((BLOCK_D, T), dtype=tl.float32)  # sum_n G B
        XA = tl.zeros((BLOCK_D, T), dtype=tl.float32)  # sum_n G dA h_{t-1} A
        for n in range(d_state):
            A_n, B_n, C_n, dA, dBu, H = _row_states(A_ptr, B_ptr, C_ptr, offs_d, mask_d, bc,
                                                    mask_j, n, batch * seq_len, dt, dtu, first,
                                                    d_state, PTX)
            y += H * C_n[None, :]
            src = dy * C_n[None, :]
            if HAS_DLAST:
                src += tl.load(dlast_ptrs + n, mask=is_last, other=0.0)
            if SHIFTED:
                dA_next = tl.where(has_next, exp2(dt_next * (A_n * LOG2E)[:, None], PTX), 0.0)
                _, G = tl.associative_scan((dA_next, src), 1, _first_order, reverse=True)
            else:  # the segmented dA has no carry into an earlier tile: R is not needed
                _, G = _adjoint_scan(dA, src, 1, "", "")
            GB += G * B_n[None, :]
            X = G * (H - dBu)  # G_t dA_t h_{t-1}: zero at a row's first step
            XA += X * A_n[:, None]
            dA_acc += tl.where(offs_n[None, :] == n, tl.sum(X * dt, axis=1)[:, None], 0.0)
            dB_ptrs = dBC_ptr + bc + n * batch * seq_len
            tl.atomic_add(dB_ptrs, tl.sum(G * dtu, axis=0), mask=mask_j, sem="relaxed")
            tl.atomic_add(dB_ptrs + bc_numel, tl.sum(H * dy, axis=0), mask=mask_j,
                          sem="relaxed")
        du = GB * dt
        ddt = GB * u + XA
        if HAS_D:
            du += Dv[:, None] * dy
            dD_acc += tl.sum(dy * u, axis=1)
            y += Dv[:, None] * u
        if HAS_Z:
            dz = dout * y * sig * (1.0 + z * (1.0 - sig))
            tl.store(dz_ptr + offs, dz.to(dz_ptr.dtype.element_ty), mask=mask)
        if SOFTPLUS:
            ddt = ddt * tl.sigmoid(pre)
        ddt = tl.where(mask, ddt, 0.0)
        dbias_acc += tl.sum(ddt, axis=1)
        tl.store(du_ptr + offs, du.to(du_ptr.dtype.element_ty), mask=mask)
        tl.store(ddelta_ptr + offs, ddt.to(ddelta_ptr.dtype.element_ty), mask=mask)
    tl.atomic_add(dA_ptr + offs_d[:, None] * d_state + offs_n[None, :], dA_acc,
                  mask=mask_d[:, None] & (offs_n < d_state)[None, :], sem="relaxed")
    if HAS_D:
        tl.atomic_add(dD_ptr + offs_d, dD_acc, mask=mask_d, sem="relaxed")
    if HAS_BIAS:
        tl.atomic_add(dbias_ptr + offs_d, dbias_acc, mask=mask_d, sem="relaxed")
