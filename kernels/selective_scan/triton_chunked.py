"""Triton kernels of the selective scan, chunked along time (the GPU path).

Each program owns BLOCK_D channels of one batch row and walks the sequence in chunks of T
steps. A chunk's inputs are loaded once as (BLOCK_D, T) tiles; then the kernel loops over the
state index n, and for each n runs the chunk's recurrence as one `tl.associative_scan` along
time. Time is the parallel axis (each thread holds a few consecutive steps, the scan joins
them across lanes), so the (d, n, t) work never needs a reduction over n across threads: y,
and in the backward du and ddelta, simply accumulate over the n loop. This mirrors how
mamba_ssm's CUDA kernel is organised (threads over time, a loop over states).

State crosses chunk boundaries through `states` (b, d, n_states, n): the forward writes the
state at every chunk end there (and, when a backward will follow, every `CKPT` steps inside
longer chunks; the zero state before the first step is neither written nor read), and the
backward reads them back as the starts of its own chunks, so nothing
of size (b, d, l, n) is ever stored. The backward walks its chunks in reverse and runs the
adjoint recurrence G_t = C_t dy_t + dA_{t+1} G_{t+1} as a reverse scan (`_adjoint_scan`), one
warp per chunk; the adjoint at the chunk's first step, times its dA, is the carry into the
previous chunk. Triton's reverse scan reverses its inputs and outputs across the lanes, a warp
shuffle per register each; where the compiler lays the chunk out as consecutive steps per
lane, the scan runs as inline PTX that combines the lanes downwards instead
(`triton_adjoint_ptx.py`, vetted on every compiled kernel). One identity avoids a shifted copy
of the states:

    dA_t * h_{t-1} = h_t - dt_t B_t u_t

dB and dC sum over channels: a program sums its BLOCK_D channels in registers and adds the
(T,) result atomically; dA, D and delta_bias sum over batch and time the same way. The atomics
are relaxed: Triton's default (acquire-release) puts a GPU-wide memory barrier behind each
one, which cost more than the arithmetic (BENCHMARKS.md).

Short sequences (TSM2's channel mixer scans a handful of variates) take the packed layout of
`triton_packed.py` instead, which shares these helpers.

Launch settings and their planning are in `triton_plan.py`, the autograd op that launches these
kernels in `triton_op.py`.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ..triton_support.ptx import LOG2E, exp2


@triton.jit
def _first_order(a1, b1, a2, b2):
    # Composition of h -> a1 h + b1 then h -> a2 h + b2.
    return a1 * a2, b1 * a2 + b2


@triton.jit
def _store_step(ptrs, x, mask_d, STEP: tl.constexpr, BLOCK_D: tl.constexpr, T: tl.constexpr,
                V: tl.constexpr):
    """Store column STEP of a (BLOCK_D, T) tile at ptrs (BLOCK_D,). A thread holds V (or a
    multiple of V) consecutive steps of a row, so picking the step inside each group of V is
    register selection, and the store is masked down to the one group that holds it; summing
    a masked tile instead would reduce across the warp with shuffles."""
    groups = tl.reshape(x, (BLOCK_D, T // V, V))
    picked = tl.sum(tl.where(tl.arange(0, V)[None, None, :] == STEP % V, groups, 0.0), axis=2)
    group = tl.arange(0, T // V)[None, :]
    tl.store(ptrs[:, None] + group * 0, picked, mask=mask_d[:, None] & (group == STEP // V))


@triton.jit
def _adjoint_combine(p_late, q_late, g0_late, g1_late, p_early, q_early, g0_early, g1_early):
    # A segment of steps maps x = R entering at its late end to R = p x + q and G = g1 x + g0
    # at its early end; a reverse scan combines (later segment, earlier segment).
    return (p_early * p_late, p_early * q_late + q_early, g0_early + g1_early * q_late,
            g1_early * p_late)


@triton.jit
def _adjoint_scan(dA, src, V: tl.constexpr, SCAN_PTX: tl.constexpr,
                  SCAN_CONSTRAINTS: tl.constexpr):
    """The adjoint G_t = src_t + dA_{t+1} G_{t+1} along the chunk, and R_t = dA_t G_t.

    With SCAN_PTX the reverse scan runs on R alone, which is first order in its own right
    (R_t = dA_t (src_t + R_{t+1})), and G_t = src_t + R_{t+1} takes R one step later from the
    same PTX. Otherwise Triton's reverse scan carries both: R, and G as the "exclusive" part of
    the same affine composition (`_adjoint_combine`)."""
    if SCAN_PTX != "":
        R, R_next = tl.inline_asm_elementwise(SCAN_PTX, SCAN_CONSTRAINTS, [dA, dA * src],
                                              dtype=(tl.float32, tl.float32), is_pure=True,
                                              pack=V)
        G = src + R_next
    else:
        ones = tl.full(dA.shape, 1.0, tl.float32)
        _, R, G, _ = tl.associative_scan((dA, dA * src, src, ones), 1, _adjoint_combine,
                                         reverse=True)
    return R, G


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(x)))


@triton.jit
def _load_dt(delta_ptrs, bias_ptr, offs_d, mask, mask_d, HAS_BIAS: tl.constexpr,
             SOFTPLUS: tl.constexpr):
    """dt for a (BLOCK_D, T) tile, zero on padding so that padded steps pass the state on."""
    pre = tl.load(delta_ptrs, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        pre += tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0)[:, None]
    dt = _softplus(pre) if SOFTPLUS else pre
    return tl.where(mask, dt, 0.0), pre


@triton.jit
def _chunk_states(A_ptr, B_ptr, C_ptr, st_ptr, offs_d, mask_d, t, mask_t, n, ckpt, d_state,
                  seq_len, dt, dtu, first, PTX: tl.constexpr):
    """State n over one chunk: the states H (BLOCK_D, T), seeded with the state stored at
    checkpoint `ckpt` (the chunk's start; zero for the first), and what built them (A_n, the
    rows B_n and C_n, dA, dBu). B_ptr, C_ptr point at the block's group of B and C in this
    batch row."""
    A_n = tl.load(A_ptr + offs_d * d_state + n, mask=mask_d, other=0.0)
    B_n = tl.load(B_ptr + n * seq_len + t, mask=mask_t, other=0.0).to(tl.float32)
    C_n = tl.load(C_ptr + n * seq_len + t, mask=mask_t, other=0.0).to(tl.float32)
    # The state before the first step is zero: it is never stored, nor read.
    h0 = tl.load(st_ptr + ckpt * d_state + n, mask=mask_d & (offs_d * 0 + ckpt > 0), other=0.0)
    dA = exp2(dt * (A_n * LOG2E)[:, None], PTX)
    dBu = dtu * B_n[None, :]
    _, H = tl.associative_scan((dA, tl.where(first, dBu + dA * h0[:, None], dBu)), 1,
                               _first_order)
    return A_n, B_n, C_n, dA, dBu, H


@triton.jit
def forward_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr,
                states_ptr, dim, seq_len, d_state, group_dim, n_groups, n_chunks,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr, T: tl.constexpr,
                CKPT: tl.constexpr, V: tl.constexpr, PTX: tl.constexpr,
                ROW_AXIS: tl.constexpr):
    """`states` gets the state every CKPT steps (CKPT divides T), the backward's chunks, from
    entry 1 on; its last entry is the state after the last step
    (padding steps pass the state on). Entry 0, the zero state, is left unwritten."""
    pid_b, pid_d = tl.program_id(ROW_AXIS), tl.program_id(1 - ROW_AXIS)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_t = tl.arange(0, T)
    mask_d = offs_d < dim
    first = (offs_t == 0)[None, :]
    group = (pid_d * BLOCK_D) // group_dim  # the launcher keeps a block inside one group
    row = (pid_b * dim + offs_d) * seq_len  # (BLOCK_D,) offsets of the channels' rows
    bc_off = (pid_b * n_groups + group) * d_state * seq_len
    PER_CHUNK: tl.constexpr = T // CKPT  # checkpoints per chunk
    st_ptr = states_ptr + (pid_b * dim + offs_d) * (n_chunks * PER_CHUNK + 1) * d_state
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
    for k in range(n_chunks):
        t = k * T + offs_t
        mask_t = t < seq_len
        mask = mask_d[:, None] & mask_t[None, :]
        offs = row[:, None] + t[None, :]
        u = tl.load(u_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dt, _ = _load_dt(delta_ptr + offs, bias_ptr, offs_d, mask, mask_d, HAS_BIAS, SOFTPLUS)
        dtu = dt * u
        y = tl.zeros((BLOCK_D, T), dtype=tl.float32)
        for n in range(d_state):
            _, _, C_n, _, _, H = _chunk_states(
                A_ptr, B_ptr + bc_off, C_ptr + bc_off, st_ptr, offs_d, mask_d, t, mask_t, n,
                k * PER_CHUNK, d_state, seq_len, dt, dtu, first, PTX)
            y += H * C_n[None, :]
            for c in tl.static_range(PER_CHUNK):
                _store_step(st_ptr + (k * PER_CHUNK + c + 1) * d_state + n, H, mask_d,
                            (c + 1) * CKPT - 1, BLOCK_D, T, V)
        if HAS_D:
            y += Dv[:, None] * u
        if HAS_Z:
            z = tl.load(z_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            y = y * z * tl.sigmoid(z)
        tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=mask)
        tl.debug_barrier()  # this chunk's end states are read by other threads next chunk


@triton.jit
def _backward_row(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, z_ptr, bias_ptr, dout_ptr, states_ptr,
                  carry_ptr, du_ptr, ddelta_ptr, dA_ptr, dBC_ptr, dz_ptr, b_row, dim, seq_len,
                  d_state, n_groups, group, n_chunks, n_states, bc_numel, offs_d, offs_t, offs_n,
                  mask_d, first, last, Dv, dA_acc, dD_acc, dbias_acc, HAS_D: tl.constexpr,
                  HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                  BLOCK_D: tl.constexpr, T: tl.constexpr, V: tl.constexpr, PTX: tl.constexpr,
                  SCAN_PTX: tl.constexpr, SCAN_CONSTRAINTS: tl.constexpr,
                  LOOP_ROWS: tl.constexpr):
    """The backward over the chunks of batch row `b_row`, for the program's channels: writes
    du, ddelta, dz, adds dB and dC (and dA, unless LOOP_ROWS sums it in dA_acc), and returns
    the accumulators with this row's part."""
    row = (b_row * dim + offs_d) * seq_len
    bc_off = (b_row * n_groups + group) * d_state * seq_len
    st_ptr = states_ptr + (b_row * dim + offs_d) * n_states * d_state
    cr_ptr = carry_ptr + (b_row * dim + offs_d) * d_state
    for kk in range(n_chunks):
        k = n_chunks - 1 - kk
        t = k * T + offs_t
        mask_t = t < seq_len
        mask = mask_d[:, None] & mask_t[None, :]
        offs = row[:, None] + t[None, :]
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
        y = tl.zeros((BLOCK_D, T), dtype=tl.float32)  # pre-gate output, for dz
        GB = tl.zeros((BLOCK_D, T), dtype=tl.float32)  # sum_n G B
        XA = tl.zeros((BLOCK_D, T), dtype=tl.float32)  # sum_n G dA h_{t-1} A
        for n in range(d_state):
            A_n, B_n, C_n, dA, dBu, H = _chunk_states(
                A_ptr, B_ptr + bc_off, C_ptr + bc_off, st_ptr, offs_d, mask_d, t, mask_t, n, k,
                d_state, seq_len, dt, dtu, first, PTX)
            y += H * C_n[None, :]
            R_in = tl.load(cr_ptr + n, mask=mask_d, other=0.0)
            src = dy * C_n[None, :]
            src = tl.where(last, src + R_in[:, None], src)
            R, G = _adjoint_scan(dA, src, V, SCAN_PTX, SCAN_CONSTRAINTS)
            _store_step(cr_ptr + n, R, mask_d, 0, BLOCK_D, T, V)
            GB += G * B_n[None, :]
            X = G * (H - dBu)  # G_t dA_t h_{t-1}
            XA += X * A_n[:, None]
            if LOOP_ROWS:
                dA_acc += tl.where(offs_n[None, :] == n, tl.sum(X * dt, axis=1)[:, None], 0.0)
            else:
                tl.atomic_add(dA_ptr + offs_d * d_state + n, tl.sum(X * dt, axis=1),
                              mask=mask_d, sem="relaxed")
            dB_ptrs = dBC_ptr + bc_off + n * seq_len + t
            tl.atomic_add(dB_ptrs, tl.sum(G * dtu, axis=0), mask=mask_t, sem="relaxed")
            tl.atomic_add(dB_ptrs + bc_numel, tl.sum(H * dy, axis=0), mask=mask_t, sem="relaxed")
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
        tl.debug_barrier()  # the carries written above are read by other threads next chunk
    return dA_acc, dD_acc, dbias_acc


@triton.jit
def backward_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, dout_ptr,
                    states_ptr, carry_ptr, du_ptr, ddelta_ptr, dA_ptr, dBC_ptr, dD_ptr, dz_ptr,
                    dbias_ptr, batch, dim, seq_len, d_state, group_dim, n_groups, n_chunks,
                    n_states, bc_numel,
                    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr, T: tl.constexpr,
                    V: tl.constexpr, PTX: tl.constexpr, SCAN_PTX: tl.constexpr,
                    SCAN_CONSTRAINTS: tl.constexpr, N_POW2: tl.constexpr,
                    LOOP_ROWS: tl.constexpr, ROW_AXIS: tl.constexpr):
    """Chunks of T steps, each starting at one of the forward's checkpoints in `states`
    (n_states of them per channel). `carry` (b, d, n) holds dL/dh_{l-1} on entry (zeros if
    none) and R between chunks. dB and dC lie side by side in `dBC`, bc_numel elements each.

    Without LOOP_ROWS a program takes batch row pid_b and adds dA's gradient once per chunk.
    With it (`Settings.long_programs`) a program takes rows pid_b, pid_b + P, ... (P programs
    along the grid's first axis) and sums dA, D's and delta_bias' gradients over all of them
    in registers before one atomic add each: with many rows, adding once per row queues
    thousands of programs on the same (d, n) addresses."""
    pid_b, pid_d = tl.program_id(ROW_AXIS), tl.program_id(1 - ROW_AXIS)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_t = tl.arange(0, T)
    offs_n = tl.arange(0, N_POW2)
    mask_d = offs_d < dim
    first, last = (offs_t == 0)[None, :], (offs_t == T - 1)[None, :]
    group = (pid_d * BLOCK_D) // group_dim
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
    else:
        Dv = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dA_acc = tl.zeros((BLOCK_D, N_POW2), dtype=tl.float32)  # column n: dA[:, n] so far
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    if LOOP_ROWS:
        for b_row in range(pid_b, batch, tl.num_programs(ROW_AXIS)):
            dA_acc, dD_acc, dbias_acc = _backward_row(
                u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, z_ptr, bias_ptr, dout_ptr, states_ptr,
                carry_ptr, du_ptr, ddelta_ptr, dA_ptr, dBC_ptr, dz_ptr, b_row, dim, seq_len,
                d_state, n_groups, group, n_chunks, n_states, bc_numel, offs_d, offs_t, offs_n,
                mask_d, first, last, Dv, dA_acc, dD_acc, dbias_acc, HAS_D, HAS_Z, HAS_BIAS,
                SOFTPLUS, BLOCK_D, T, V, PTX, SCAN_PTX, SCAN_CONSTRAINTS, LOOP_ROWS)
        tl.atomic_add(dA_ptr + offs_d[:, None] * d_state + offs_n[None, :], dA_acc,
                      mask=mask_d[:, None] & (offs_n < d_state)[None, :], sem="relaxed")
    else:
        dA_acc, dD_acc, dbias_acc = _backward_row(
            u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, z_ptr, bias_ptr, dout_ptr, states_ptr,
            carry_ptr, du_ptr, ddelta_ptr, dA_ptr, dBC_ptr, dz_ptr, pid_b, dim, seq_len,
            d_state, n_groups, group, n_chunks, n_states, bc_numel, offs_d, offs_t, offs_n,
            mask_d, first, last, Dv, dA_acc, dD_acc, dbias_acc, HAS_D, HAS_Z, HAS_BIAS,
            SOFTPLUS, BLOCK_D, T, V, PTX, SCAN_PTX, SCAN_CONSTRAINTS, LOOP_ROWS)
    if HAS_D:
        tl.atomic_add(dD_ptr + offs_d, dD_acc, mask=mask_d, sem="relaxed")
    if HAS_BIAS:
        tl.atomic_add(dbias_ptr + offs_d, dbias_acc, mask=mask_d, sem="relaxed")
