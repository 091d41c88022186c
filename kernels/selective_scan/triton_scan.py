"""Triton forward and backward kernels for the selective scan (the GPU path).

Each program owns BLOCK_D channels of one batch row and walks the sequence in chunks of T
steps. A chunk's inputs are loaded once as (BLOCK_D, T) tiles; then the kernel loops over the
state index n, and for each n runs the chunk's recurrence as one `tl.associative_scan` along
time. Time is the parallel axis (each thread holds a few consecutive steps, the scan joins
them across lanes), so the (d, n, t) work never needs a reduction over n across threads: y,
and in the backward du and ddelta, simply accumulate over the n loop. This mirrors how
mamba_ssm's CUDA kernel is organised (threads over time, a loop over states).

State crosses chunk boundaries through `states` (b, d, n_states, n): the forward writes the
state at every chunk start there (and, when a backward will follow, every `CKPT` steps inside
longer chunks), and the backward reads them back as the starts of its own chunks, so nothing
of size (b, d, l, n) is ever stored. The backward walks its chunks in reverse and runs the
adjoint recurrence G_t = C_t dy_t + dA_{t+1} G_{t+1} as a reverse scan (`_adjoint_scan`), one
warp per chunk; the adjoint at the chunk's first step, times its dA, is the carry into the
previous chunk. Triton's reverse scan reverses its inputs and outputs across the lanes, a warp
shuffle per register each; where the compiler lays the chunk out as consecutive steps per
lane, the scan runs as inline PTX that combines the lanes downwards instead
(`_adjoint_scan_ptx`, vetted on every compiled kernel by `_check_scan_layout`). One identity
avoids a shifted copy of the states:

    dA_t * h_{t-1} = h_t - dt_t B_t u_t

dB and dC sum over channels: a program sums its BLOCK_D channels in registers and adds the
(T,) result atomically; dA, D and delta_bias sum over batch and time the same way. The atomics
are relaxed: Triton's default (acquire-release) puts a GPU-wide memory barrier behind each
one, which cost more than the arithmetic (BENCHMARKS.md).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re

import torch
import triton
import triton.language as tl

from .launch_cache import CachedLaunch, aligned


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: plans are cached per object
class Settings:
    """Launch settings for one byte width of the inputs. The forward walks chunks of one of
    `chunks` time steps (`_chunk_for` picks the one that pads the sequence least) and stores the
    state every `bwd_chunk` steps, or at every chunk end if chunks are shorter; the backward
    walks chunks of that length, starting from those states.

    A forward program owns `fwd_block_d` channels and gets enough warps that each thread holds
    `lane_steps` consecutive steps of a row (4 fp32 or 8 bf16 steps are one 16-byte load). A
    backward program owns `bwd_block_d` channels in one warp, which spans a whole chunk of
    them: bwd_chunk / 32 steps per thread, which its scan's PTX relies on."""

    chunks: tuple
    lane_steps: int
    fwd_block_d: int
    bwd_block_d: int
    bwd_chunk: int


# By byte width; chosen by sweeps on an H100 (`benchmark.tune`), see BENCHMARKS.md.
CONFIG = {
    4: Settings(chunks=(128,), lane_steps=4, fwd_block_d=1, bwd_block_d=1, bwd_chunk=128),
    2: Settings(chunks=(128, 256, 512), lane_steps=8, fwd_block_d=1, bwd_block_d=1,
                bwd_chunk=256),
}

LOG2E = tl.constexpr(1.4426950408889634)  # exp(x) = exp2(x * LOG2E)
# The interpreter (CI, no GPU) cannot run inline PTX; kernels then take plain Triton.
INLINE_PTX = os.environ.get("TRITON_INTERPRET") != "1"

# Tests set this to fill outputs with NaN before launch, so unwritten elements show.
POISON_OUTPUTS = False


def _poison(out):
    """`out`, filled with NaN under POISON_OUTPUTS (tests), so that what a kernel leaves
    unwritten shows."""
    return out.fill_(float("nan")) if POISON_OUTPUTS else out


def _dtype(x):
    return None if x is None else x.dtype


@triton.jit
def _first_order(a1, b1, a2, b2):
    # Composition of h -> a1 h + b1 then h -> a2 h + b2.
    return a1 * a2, b1 * a2 + b2


@triton.jit
def _exp2(x, PTX: tl.constexpr):
    # ex2.approx.ftz is one MUFU instruction; tl.exp adds a scale and denormal fix-ups.
    if PTX:
        return tl.inline_asm_elementwise("ex2.approx.ftz.f32 $0, $1;", "=r,r", [x],
                                         dtype=tl.float32, is_pure=True, pack=1)
    else:
        return tl.exp2(x)


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


def _adjoint_scan_ptx(v: int) -> tuple[str, str]:
    """PTX, and its constraints, for the backward's reverse scan over one warp: given the
    first-order steps (a_t, b_t) of R_t = a_t R_{t+1} + b_t, v consecutive steps per thread and
    the chunk across the 32 lanes in order, return R_t and R_{t+1} (zero past the chunk).

    Each thread composes its own steps from the last back, the lanes then combine their
    compositions with shfl.down (lane i with lane i + offset, 5 rounds), and every step applies
    what comes after its thread. Triton's reverse scan instead reverses every input and output
    across the lanes, a shuffle per register each time."""
    a, b = [f"a{k}" for k in range(v)], [f"b{k}" for k in range(v)]
    r_out, next_out = [f"${k}" for k in range(v)], [f"${v + k}" for k in range(v)]
    a_in, b_in = [f"${2 * v + k}" for k in range(v)], [f"${3 * v + k}" for k in range(v)]
    lines = ["{", f".reg .f32 a<{v}>, b<{v}>, sa, sb, na, nb;", ".reg .pred p;"]
    lines += [f"mov.b32 {a[k]}, {a_in[k]}; mov.b32 {b[k]}, {b_in[k]};" for k in range(v)]
    for k in reversed(range(v - 1)):  # suffix compositions inside the thread
        lines.append(f"fma.rn.f32 {b[k]}, {a[k]}, {b[k + 1]}, {b[k]}; "
                     f"mul.f32 {a[k]}, {a[k]}, {a[k + 1]};")
    lines.append(f"mov.b32 sa, {a[0]}; mov.b32 sb, {b[0]};")
    for offset in (1, 2, 4, 8, 16):  # inclusive suffixes across lanes
        lines.append(f"shfl.sync.down.b32 na|p, sa, {offset}, 0x1f, 0xffffffff; "
                     f"shfl.sync.down.b32 nb, sb, {offset}, 0x1f, 0xffffffff; "
                     f"@p fma.rn.f32 sb, sa, nb, sb; @p mul.f32 sa, sa, na;")
    # R entering this thread from the lanes after it (zero on the last lane)
    lines.append("shfl.sync.down.b32 nb|p, sb, 1, 0x1f, 0xffffffff; @!p mov.f32 nb, 0f00000000;")
    lines += [f"fma.rn.f32 {r_out[k]}, {a[k]}, nb, {b[k]};" for k in range(v)]
    lines += [f"mov.b32 {next_out[k]}, {r_out[k + 1]};" for k in range(v - 1)]
    lines.append(f"shfl.sync.down.b32 {next_out[v - 1]}|p, {r_out[0]}, 1, 0x1f, 0xffffffff; "
                 f"@!p mov.f32 {next_out[v - 1]}, 0f00000000;")
    lines.append("}")
    return "\n".join(lines), ",".join(["=r"] * (2 * v) + ["r"] * (2 * v))


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
    checkpoint `ckpt` (the chunk's start), and what built them (A_n, the rows B_n and C_n, dA,
    dBu). B_ptr, C_ptr point at the block's group of B and C in this batch row."""
    A_n = tl.load(A_ptr + offs_d * d_state + n, mask=mask_d, other=0.0)
    B_n = tl.load(B_ptr + n * seq_len + t, mask=mask_t, other=0.0).to(tl.float32)
    C_n = tl.load(C_ptr + n * seq_len + t, mask=mask_t, other=0.0).to(tl.float32)
    h0 = tl.load(st_ptr + ckpt * d_state + n, mask=mask_d, other=0.0)
    dA = _exp2(dt * (A_n * LOG2E)[:, None], PTX)
    dBu = dtu * B_n[None, :]
    _, H = tl.associative_scan((dA, tl.where(first, dBu + dA * h0[:, None], dBu)), 1,
                               _first_order)
    return A_n, B_n, C_n, dA, dBu, H


@triton.jit
def _fwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr,
                states_ptr, dim, seq_len, d_state, group_dim, n_groups, n_chunks,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr, T: tl.constexpr,
                CKPT: tl.constexpr, V: tl.constexpr, PTX: tl.constexpr):
    """`states` gets the state every CKPT steps (CKPT divides T), the backward's chunks; its
    last entry is the state after the last step (padding steps pass the state on)."""
    pid_b, pid_d = tl.program_id(0), tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_t = tl.arange(0, T)
    mask_d = offs_d < dim
    first = (offs_t == 0)[None, :]
    group = (pid_d * BLOCK_D) // group_dim  # the launcher keeps a block inside one group
    row = (pid_b * dim + offs_d) * seq_len  # (BLOCK_D,) offsets of the channels' rows
    bc_off = (pid_b * n_groups + group) * d_state * seq_len
    PER_CHUNK: tl.constexpr = T // CKPT  # checkpoints per chunk
    st_ptr = states_ptr + (pid_b * dim + offs_d) * (n_chunks * PER_CHUNK + 1) * d_state
    for n in range(d_state):
        tl.store(st_ptr + n, tl.zeros((BLOCK_D,), dtype=tl.float32), mask=mask_d)
    tl.debug_barrier()
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
def _bwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, dout_ptr,
                states_ptr, carry_ptr, du_ptr, ddelta_ptr, dA_ptr, dBC_ptr, dD_ptr, dz_ptr,
                dbias_ptr, dim, seq_len, d_state, group_dim, n_groups, n_chunks, n_states, bc_numel,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr, T: tl.constexpr,
                V: tl.constexpr, PTX: tl.constexpr, SCAN_PTX: tl.constexpr,
                SCAN_CONSTRAINTS: tl.constexpr):
    """Chunks of T steps, each starting at one of the forward's checkpoints in `states`
    (n_states of them per channel). `carry` (b, d, n) holds dL/dh_{l-1} on entry (zeros if
    none) and R between chunks. dB and dC lie side by side in `dBC`, bc_numel elements each."""
    pid_b, pid_d = tl.program_id(0), tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_t = tl.arange(0, T)
    mask_d = offs_d < dim
    first, last = (offs_t == 0)[None, :], (offs_t == T - 1)[None, :]
    group = (pid_d * BLOCK_D) // group_dim
    row = (pid_b * dim + offs_d) * seq_len
    bc_off = (pid_b * n_groups + group) * d_state * seq_len
    st_ptr = states_ptr + (pid_b * dim + offs_d) * n_states * d_state
    cr_ptr = carry_ptr + (pid_b * dim + offs_d) * d_state
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
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
            tl.atomic_add(dA_ptr + offs_d * d_state + n, tl.sum(X * dt, axis=1), mask=mask_d,
                          sem="relaxed")
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
    if HAS_D:
        tl.atomic_add(dD_ptr + offs_d, dD_acc, mask=mask_d, sem="relaxed")
    if HAS_BIAS:
        tl.atomic_add(dbias_ptr + offs_d, dbias_acc, mask=mask_d, sem="relaxed")


def _cdiv(a: int, b: int) -> int:
    # Not triton.cdiv: that is a JIT function, and calling one from Python costs microseconds.
    return -(-a // b)


def _chunk_for(seq_len: int, chunks) -> int:
    """The chunk that pads the sequence least (the longer one on a tie)."""
    return min(chunks, key=lambda c: (_cdiv(seq_len, c) * c, -c))


def _block_d(block: int, group_dim: int, n_groups: int) -> int:
    """`block` channels per program, or fewer so that a block never spans two groups of B/C."""
    if n_groups > 1:
        while group_dim % block:
            block //= 2
    return max(block, 1)


class _Plan:
    """Everything about one forward, and the backward that may follow it, that depends only on
    the shapes, the inputs' dtypes (None for an absent input), the flags and the settings:
    grids, integer arguments and constexprs of both kernels, buffer sizes, the gradients'
    dtypes. `_plan` computes it once per combination: at short lengths the op is bound by the
    CPU that launches it. A plan fixes everything Triton specialises on but pointer alignment,
    so the plan itself keys the compiled launchers (`launch_cache`)."""

    def __init__(self, batch, dim, n_groups, d_state, seq_len, settings: Settings, softplus,
                 for_backward, dtypes):
        u, delta, A, B, C, D, z, bias = dtypes
        has_d, has_z, has_bias = D is not None, z is not None, bias is not None
        # du, ddelta and dz are written once each, so the kernel stores them in the inputs'
        # dtype when they share one; dB and dC, summed in fp32, are cast to theirs in one call.
        same = delta == u and z in (None, u)
        self.per_step_dtype = u if same else torch.float32
        self.bc_dtype = B if B == C else torch.float32
        fp32_params = all(x in (None, torch.float32) for x in (A, D, bias))
        # Otherwise some gradients come out in another dtype than their input's.
        self.casts = None if same and B == C and fp32_params else dtypes
        fwd_chunk = _chunk_for(seq_len, settings.chunks)
        bwd_chunk = min(settings.bwd_chunk, fwd_chunk)
        # Without a backward to come, only chunk ends are stored (states inside a chunk cost
        # the forward more than their arithmetic, BENCHMARKS.md).
        checkpoint = bwd_chunk if for_backward else fwd_chunk
        self.n_chunks = _cdiv(seq_len, fwd_chunk)
        self.n_states = self.n_chunks * (fwd_chunk // checkpoint) + 1
        group_dim = dim // n_groups
        self.states_shape = (batch, dim, self.n_states, d_state)
        bc_numel = batch * n_groups * d_state * seq_len
        # dA, dD, dbias, the carry, and dB beside dC, carved from one zeroed buffer.
        self.accumulator_sizes = [dim * d_state, dim, dim, batch * dim * d_state, 2 * bc_numel]
        self.accumulated = sum(self.accumulator_sizes)
        self.fwd_ints = (dim, seq_len, d_state, group_dim, n_groups, self.n_chunks)
        self.bwd_ints = (dim, seq_len, d_state, group_dim, n_groups, _cdiv(seq_len, bwd_chunk),
                         self.n_states, bc_numel)
        flag_args = dict(HAS_D=has_d, HAS_Z=has_z, HAS_BIAS=has_bias, SOFTPLUS=softplus)
        self.fwd_grid, fwd = self._forward_grid(batch, dim, n_groups, settings.fwd_block_d,
                                                  fwd_chunk, settings.lane_steps)
        self.fwd_constexprs = dict(flag_args, **fwd, CKPT=checkpoint, PTX=INLINE_PTX)
        self.bwd_grid, bwd = self._backward_grid(batch, dim, n_groups, settings.bwd_block_d,
                                                   bwd_chunk, seq_len)
        self.bwd_constexprs = dict(flag_args, **bwd, PTX=INLINE_PTX)

    @staticmethod
    def _forward_grid(batch, dim, n_groups, block, chunk, lane_steps):
        """Grid and constexprs for `block` channels per program and chunks of `chunk` steps,
        with enough warps that each thread holds `lane_steps` consecutive steps of a row."""
        block = _block_d(block, dim // n_groups, n_groups)
        warps = max(chunk // (32 * lane_steps), 1)
        constexprs = dict(BLOCK_D=block, T=chunk, V=max(chunk // (32 * warps), 1), num_warps=warps)
        return (batch, _cdiv(dim, block), 1), constexprs

    @staticmethod
    def _backward_grid(batch, dim, n_groups, block, chunk, seq_len):
        """Grid and constexprs for `block` channels per program and chunks of `chunk` steps in
        one warp, chunk / 32 steps per thread."""
        if chunk % 32:
            raise ValueError(f"backward chunks of {chunk} steps: need a multiple of 32")
        block = _block_d(block, dim // n_groups, n_groups)
        steps = chunk // 32
        # Only when Triton can vectorise the tiles' loads (rows start 16-element aligned) does
        # it give the scan's operands the layout that the PTX needs; `_check_scan_layout`
        # verifies that on every compiled kernel.
        ptx, constraints = (_adjoint_scan_ptx(steps) if INLINE_PTX and seq_len % 16 == 0
                            else ("", ""))
        constexprs = dict(BLOCK_D=block, T=chunk, V=steps, SCAN_PTX=ptx,
                          SCAN_CONSTRAINTS=constraints, num_warps=1)
        return (batch, _cdiv(dim, block), 1), constexprs


_LANE_LAYOUT = re.compile(r"sizePerThread = \[\d+, (\d+)\], threadsPerWarp = \[1, 32\], "
                          r"warpsPerCTA = \[1, 1\], order = \[1, 0\]")


def _check_scan_layout(compiled, constexprs):
    """Fall back to Triton's scan if the compiler laid out the scan's PTX operands in any way
    but V consecutive steps per lane, lanes in time order (what the PTX assumes): the layout
    is the compiler's choice, and versions differ. Returns the constexprs to use instead, or
    None to keep these."""
    if not constexprs["SCAN_PTX"]:
        return None
    ttgir = compiled.asm["ttgir"]
    layouts = dict(re.findall(r"^(#\w+) = (.*)$", ttgir, re.M))
    used = {encoding for line in ttgir.splitlines()
            if "elementwise_inline_asm" in line and "shfl.sync.down" in line
            for encoding in re.findall(r"tensor<[^,>]*, (#\w+)>", line)}

    def as_assumed(encoding):
        match = _LANE_LAYOUT.search(layouts.get(encoding, ""))
        return match is not None and int(match.group(1)) == constexprs["V"]

    # No scan PTX found in the TTGIR at all counts as a layout we cannot vouch for.
    if used and all(as_assumed(encoding) for encoding in used):
        return None
    return dict(constexprs, SCAN_PTX="", SCAN_CONSTRAINTS="")


_plan = functools.lru_cache(maxsize=1024)(_Plan)


_forward_launch = CachedLaunch(_fwd_kernel)
_backward_launch = CachedLaunch(_bwd_kernel, vet=_check_scan_layout)


class TritonSelectiveScanFn(torch.autograd.Function):
    """At short lengths this op is bound by the CPU that issues it (BENCHMARKS.md), so both
    passes keep the Python between the launches to the few tensor calls they need."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, grad_enabled,
                return_last_state):
        # Under no_grad needs_input_grad still reports requires_grad, hence grad_enabled.
        for_backward = grad_enabled and any(ctx.needs_input_grad)
        b, d, l = u.shape
        plan = _plan(b, d, 1 if B.dim() == 3 else B.shape[1], A.shape[1], l,
                     CONFIG.get(u.element_size(), CONFIG[4]), bool(delta_softplus), for_backward,
                     (u.dtype, delta.dtype, A.dtype, B.dtype, C.dtype, _dtype(D), _dtype(z),
                      _dtype(delta_bias)))
        u, delta, B, C = u.contiguous(), delta.contiguous(), B.contiguous(), C.contiguous()
        z = z.contiguous() if z is not None else None
        A32 = A.float().contiguous()
        D32 = D.float().contiguous() if D is not None else None
        bias32 = delta_bias.float().contiguous() if delta_bias is not None else None
        # Shapes go to torch as separate arguments: parsing a tuple costs the CPU more.
        out = _poison(torch.empty_like(u))
        states = _poison(u.new_empty(*plan.states_shape, dtype=torch.float32))
        inputs_aligned = aligned(u, delta, A32, B, C, D32, z, bias32)
        _forward_launch(plan if inputs_aligned else None, plan.fwd_grid,
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
        _backward_launch(key, plan.bwd_grid,
                         (u, delta, A32, B, C, D32, z, bias32, dout, states, carry, du, ddelta, dA,
                          dBC, dD, dz, dbias) + plan.bwd_ints,
                         plan.bwd_constexprs)
        if plan.bc_dtype != torch.float32:
            dBC = dBC.to(plan.bc_dtype)
        dB, dC = dBC.view(2, *B.shape).unbind(0)
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
