"""Triton kernels of the selective scan for the shortest sequences: a batch row per lane, its
whole sequence in that lane's registers (the GPU path for l <= `Settings.rows_max`).

TSM2's channel mixer scans along the variates: rows of a handful of steps, tens of thousands
of them. Spread along a tile's lanes (`triton_packed.py`), each scan over time costs a warp
shuffle per round and value, log2(slots) rounds, for rows whose own recurrence is only a few
steps long. Here a tile is (L, BLOCK_R): L = l rounded up to a power of two steps down the
first axis, and BLOCK_R rows, one per lane, across the second. A scan along the first axis then
never leaves its thread: it is the recurrence itself, L steps in registers, with nothing
exchanged between lanes.

Which axis a thread's registers run along is the compiler's choice. A 2-D tile takes the
default layout, lanes along its last axis (the rows), unless a load or store of it asks for
another: the compiler lays memory accesses out with their lanes along the axis whose
addresses it proves consecutive (here time), and where no axis is, Triton versions break the
tie differently. So no memory access here is 2-D: each step of a tile is loaded, stored or
added as one (BLOCK_R,) vector, a row per lane (`_load_steps`, `_step`), and moving a step
into or out of the tile is register selection, since every step's position in the registers
is known when compiling. `tests/kernels` checks the layout on compiled kernels.

Each row starts from the zero state and fits in its thread, so no state is stored between
passes: the forward writes only the state after each row's last step, when the caller keeps
it, and the backward recomputes the states. The backward's programs each walk every P-th
tile of rows and add dA, D's and delta_bias' gradients (sums over the batch) once, at their
end; dB and dC (sums over the channels, a program's one channel at a time) are added
atomically per tile, laid out (g, n, b, l) as in the packed layout.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ..triton_support.ptx import LOG2E, exp2
from .triton_chunked import _adjoint_combine, _first_order, _softplus


@triton.jit
def _step_ok(mask_r, seq_len, s: tl.constexpr):
    # s as a tensor: under the interpreter a Python bool would not combine with the mask.
    return mask_r & (tl.full(mask_r.shape, s, tl.int32) < seq_len)


@triton.jit
def _load_steps(ptrs, mask_r, seq_len, t, L: tl.constexpr, BLOCK_R: tl.constexpr):
    """The (L, BLOCK_R) tile whose step s is loaded at ptrs + s (ptrs: (BLOCK_R,), a row's
    step 0 per lane), zero past seq_len and on rows past the batch, in fp32."""
    x = tl.zeros((L, BLOCK_R), dtype=tl.float32)
    for s in tl.static_range(L):
        v = tl.load(ptrs + s, mask=_step_ok(mask_r, seq_len, s), other=0.0).to(tl.float32)
        x = tl.where(t == s, v[None, :], x)
    return x


@triton.jit
def _step(x, t, s: tl.constexpr):
    """Step s of a tile, (BLOCK_R,). Summed as integers, the zeros around it fold away when
    compiling (a float sum would have to keep every + 0.0)."""
    bits = tl.where(t == s, x.to(tl.int32, bitcast=True), 0)
    return tl.sum(bits, axis=0).to(tl.float32, bitcast=True)


@triton.jit
def _store_steps(ptrs, x, mask_r, seq_len, t, L: tl.constexpr):
    for s in tl.static_range(L):
        tl.store(ptrs + s, _step(x, t, s).to(ptrs.dtype.element_ty), mask=_step_ok(mask_r, seq_len, s))


@triton.jit
def _add_steps(ptrs, x, mask_r, seq_len, t, L: tl.constexpr):
    for s in tl.static_range(L):
        tl.atomic_add(ptrs + s, _step(x, t, s), mask=_step_ok(mask_r, seq_len, s), sem="relaxed")


@triton.jit
def _rows_dt(delta_ptrs, bias_ptr, channel, mask_r, mask, seq_len, t, HAS_BIAS: tl.constexpr,
             SOFTPLUS: tl.constexpr, L: tl.constexpr, BLOCK_R: tl.constexpr):
    """dt for a tile, zero on padding so that padded steps pass the state on, and its
    pre-activation."""
    pre = _load_steps(delta_ptrs, mask_r, seq_len, t, L, BLOCK_R)
    if HAS_BIAS:
        pre += tl.load(bias_ptr + channel)
    dt = _softplus(pre) if SOFTPLUS else pre
    return tl.where(mask, dt, 0.0), pre


@triton.jit
def _rows_states(A_ptr, B_ptrs, C_ptrs, channel, mask_r, n, seq_len, t, dt, dtu, d_state,
                 PTX: tl.constexpr, L: tl.constexpr, BLOCK_R: tl.constexpr):
    """State n over a tile, each row from zero: H (L, BLOCK_R), and what built it. B_ptrs and
    C_ptrs are the rows' B and C at n = 0, step 0."""
    A_n = tl.load(A_ptr + channel * d_state + n)
    B_n = _load_steps(B_ptrs + n * seq_len, mask_r, seq_len, t, L, BLOCK_R)
    C_n = _load_steps(C_ptrs + n * seq_len, mask_r, seq_len, t, L, BLOCK_R)
    dA = exp2(dt * (A_n * LOG2E), PTX)
    dBu = dtu * B_n
    _, H = tl.associative_scan((dA, dBu), 0, _first_order)
    return A_n, B_n, C_n, dA, dBu, H


@triton.jit
def rows_forward_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                        out_ptr, last_ptr, batch, dim, seq_len, d_state, group_dim, n_groups,
                        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                        SOFTPLUS: tl.constexpr, L: tl.constexpr, BLOCK_R: tl.constexpr,
                        PTX: tl.constexpr, STORE_LAST: tl.constexpr):
    """A program per (tile of BLOCK_R rows, channel). With STORE_LAST, `last` (b, d, n) gets
    the state after each row's last step."""
    channel = tl.program_id(1)
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    t = tl.arange(0, L)[:, None]
    mask_r = rows < batch
    mask = (t < seq_len) & mask_r[None, :]
    offs = (rows * dim + channel) * seq_len  # (BLOCK_R,): each row's step 0
    bc = (rows * n_groups + channel // group_dim) * d_state * seq_len
    u = _load_steps(u_ptr + offs, mask_r, seq_len, t, L, BLOCK_R)
    dt, _ = _rows_dt(delta_ptr + offs, bias_ptr, channel, mask_r, mask, seq_len, t, HAS_BIAS,
                     SOFTPLUS, L, BLOCK_R)
    dtu = dt * u
    last_ptrs = last_ptr + (rows * dim + channel) * d_state
    is_last = t == seq_len - 1
    y = tl.zeros((L, BLOCK_R), dtype=tl.float32)
    for n in range(d_state):
        _, _, C_n, _, _, H = _rows_states(A_ptr, B_ptr + bc, C_ptr + bc, channel, mask_r, n,
                                          seq_len, t, dt, dtu, d_state, PTX, L, BLOCK_R)
        y += H * C_n
        if STORE_LAST:  # the row's last step, picked in registers
            tl.store(last_ptrs + n, tl.sum(tl.where(is_last, H, 0.0), axis=0), mask=mask_r)
    if HAS_D:
        y += tl.load(D_ptr + channel) * u
    if HAS_Z:
        z = _load_steps(z_ptr + offs, mask_r, seq_len, t, L, BLOCK_R)
        y = y * z * tl.sigmoid(z)
    _store_steps(out_ptr + offs, y, mask_r, seq_len, t, L)


@triton.jit
def rows_backward_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                         dout_ptr, last_ptr, dlast_ptr, du_ptr, ddelta_ptr, dA_ptr, dBC_ptr,
                         dD_ptr, dz_ptr, dbias_ptr, batch, dim, seq_len, d_state, group_dim,
                         n_groups, n_tiles, bc_numel,
                         HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                         SOFTPLUS: tl.constexpr, L: tl.constexpr, BLOCK_R: tl.constexpr,
                         PTX: tl.constexpr, N_POW2: tl.constexpr, HAS_DLAST: tl.constexpr):
    """Program (p, channel) takes tiles p, p + P, ... of the `n_tiles` (P programs along the
    grid's first axis). `dlast` (b, d, n) is the gradient of the last states, read with
    HAS_DLAST. The adjoint G_t = src_t + dA_{t+1} G_{t+1} is a reverse scan that composes
    four terms on each step's own decay (`_adjoint_combine`), in registers like the states.
    `last_ptr` is unused (the states are recomputed), kept so that all layouts share one
    signature."""
    channel = tl.program_id(1)
    t = tl.arange(0, L)[:, None]
    offs_n = tl.arange(0, N_POW2)[:, None]
    group = channel // group_dim
    if HAS_D:
        Dv = tl.load(D_ptr + channel)
    # Sums over tiles, per lane: dA's column n in row n of dA_acc; reduced across lanes once.
    dA_acc = tl.zeros((N_POW2, BLOCK_R), dtype=tl.float32)
    dD_acc = tl.zeros((BLOCK_R,), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_R,), dtype=tl.float32)
    for tile in range(tl.program_id(0), n_tiles, tl.num_programs(0)):
        rows = tile * BLOCK_R + tl.arange(0, BLOCK_R)
        mask_r = rows < batch
        mask = (t < seq_len) & mask_r[None, :]
        offs = (rows * dim + channel) * seq_len
        bc = (rows * n_groups + group) * d_state * seq_len
        dbc = (group * d_state * batch + rows) * seq_len  # dB and dC at n = 0
        # Only dt, dt u and dy live through the loop over n: what the end of the tile needs
        # besides is loaded again there (from the L1), which leaves registers for longer rows.
        u = _load_steps(u_ptr + offs, mask_r, seq_len, t, L, BLOCK_R)
        dt, _ = _rows_dt(delta_ptr + offs, bias_ptr, channel, mask_r, mask, seq_len, t,
                         HAS_BIAS, SOFTPLUS, L, BLOCK_R)
        dtu = dt * u
        dy = _load_steps(dout_ptr + offs, mask_r, seq_len, t, L, BLOCK_R)
        if HAS_Z:
            z = _load_steps(z_ptr + offs, mask_r, seq_len, t, L, BLOCK_R)
            dy = dy * z * tl.sigmoid(z)
        dlast_ptrs = dlast_ptr + (rows * dim + channel) * d_state
        is_last = mask & (t == seq_len - 1)
        ones = tl.full((L, BLOCK_R), 1.0, tl.float32)
        y = tl.zeros((L, BLOCK_R), dtype=tl.float32)  # pre-gate output, for dz
        GB = tl.zeros((L, BLOCK_R), dtype=tl.float32)  # sum_n G B
        XA = tl.zeros((L, BLOCK_R), dtype=tl.float32)  # sum_n G dA h_{t-1} A
        for n in range(d_state):
            A_n, B_n, C_n, dA, dBu, H = _rows_states(A_ptr, B_ptr + bc, C_ptr + bc, channel,
                                                     mask_r, n, seq_len, t, dt, dtu, d_state,
                                                     PTX, L, BLOCK_R)
            y += H * C_n
            src = dy * C_n
            if HAS_DLAST:
                dlast = tl.load(dlast_ptrs + n, mask=mask_r, other=0.0)
                src = tl.where(is_last, src + dlast[None, :], src)
            # The rows start from zero, so nothing carries into an earlier tile: R is unused.
            _, _, G, _ = tl.associative_scan((dA, dA * src, src, ones), 0, _adjoint_combine,
                                             reverse=True)
            GB += G * B_n
            X = G * (H - dBu)  # G_t dA_t h_{t-1}: zero at a row's first step
            XA += X * A_n
            dA_acc += tl.where(offs_n == n, tl.sum(X * dt, axis=0)[None, :], 0.0)
            dB_ptrs = dBC_ptr + dbc + n * batch * seq_len
            _add_steps(dB_ptrs, G * dtu, mask_r, seq_len, t, L)
            _add_steps(dB_ptrs + bc_numel, H * dy, mask_r, seq_len, t, L)
        u = _load_steps(u_ptr + offs, mask_r, seq_len, t, L, BLOCK_R)
        du = GB * dt
        ddt = GB * u + XA
        if HAS_D:
            du += Dv * dy
            dD_acc += tl.sum(dy * u, axis=0)
            y += Dv * u
        if HAS_Z:
            dout = _load_steps(dout_ptr + offs, mask_r, seq_len, t, L, BLOCK_R)
            z = _load_steps(z_ptr + offs, mask_r, seq_len, t, L, BLOCK_R)
            sig = tl.sigmoid(z)
            _store_steps(dz_ptr + offs, dout * y * sig * (1.0 + z * (1.0 - sig)), mask_r,
                         seq_len, t, L)
        if SOFTPLUS:
            _, pre = _rows_dt(delta_ptr + offs, bias_ptr, channel, mask_r, mask, seq_len, t,
                              HAS_BIAS, False, L, BLOCK_R)
            ddt = ddt * tl.sigmoid(pre)
        ddt = tl.where(mask, ddt, 0.0)
        dbias_acc += tl.sum(ddt, axis=0)
        _store_steps(du_ptr + offs, du, mask_r, seq_len, t, L)
        _store_steps(ddelta_ptr + offs, ddt, mask_r, seq_len, t, L)
    n_idx = tl.arange(0, N_POW2)
    tl.atomic_add(dA_ptr + channel * d_state + n_idx, tl.sum(dA_acc, axis=1),
                  mask=n_idx < d_state, sem="relaxed")
    if HAS_D:
        tl.atomic_add(dD_ptr + channel, tl.sum(dD_acc, axis=0), sem="relaxed")
    if HAS_BIAS:
        tl.atomic_add(dbias_ptr + channel, tl.sum(dbias_acc, axis=0), sem="relaxed")
