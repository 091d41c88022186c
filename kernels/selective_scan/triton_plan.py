"""Launch settings of the chunked Triton kernels, and the plan of one call: everything about
a forward, and the backward that may follow it, that depends only on shapes, dtypes and
flags, computed once per combination."""

from __future__ import annotations

import dataclasses
import functools

import torch

from ..triton_support.ptx import INLINE_PTX
from .triton_adjoint_ptx import adjoint_scan_ptx


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: plans are cached per object
class Settings:
    """Launch settings for one byte width of the inputs, in two layouts chosen by length.

    Sequences longer than `short_max` take the time-parallel layout: the forward walks chunks
    of one of `chunks` time steps (`_chunk_for` picks the one that pads the sequence least) and
    stores the state every `bwd_chunk` steps, or at every chunk end if chunks are shorter; the
    backward walks chunks of that length, starting from those states. A forward program owns
    `fwd_block_d` channels and gets enough warps that each thread holds `lane_steps`
    consecutive steps of a row (4 fp32 or 8 bf16 steps are one 16-byte load). A backward
    program owns `bwd_block_d` channels in one warp, which spans a whole chunk of them:
    bwd_chunk / 32 steps per thread, which its scan's PTX relies on.

    Sequences of at most `short_max` steps (TSM2's channel mixer scans 7 or 21 variates) take
    chunks of a power of two steps, the one of at least `short_chunk_min` (or the whole
    sequence's next power of two, if shorter) that pads the sequence least, and a program owns
    as many channels as make a tile of `short_tile` (channels x steps) elements, in
    `short_warps` warps: channels, not time, fill the lanes, so short rows waste none. Their
    backward runs on at most `short_programs` programs, each over many batch rows, so that dA,
    D's and delta_bias' gradients (sums over the batch) are added once per program, not once
    per row."""

    chunks: tuple
    lane_steps: int
    fwd_block_d: int
    bwd_block_d: int
    bwd_chunk: int
    short_max: int = 64
    short_tile: int = 1024
    short_warps: int = 4
    short_programs: int = 1056  # 8 per multiprocessor of an H100 or H200
    # 64: one chunk of the whole sequence, the setting the H200 sweep timed (BENCHMARKS.md);
    # shorter chunks (fewer padded steps, more stored states) are tested but not yet timed.
    short_chunk_min: int = 64


# By byte width; chosen by sweeps on an H100 (`benchmark.tune`), see BENCHMARKS.md.
CONFIG = {
    4: Settings(chunks=(128,), lane_steps=4, fwd_block_d=1, bwd_block_d=1, bwd_chunk=128),
    2: Settings(chunks=(128, 256, 512), lane_steps=8, fwd_block_d=1, bwd_block_d=1,
                bwd_chunk=256),
}


def _cdiv(a: int, b: int) -> int:
    # Not triton.cdiv: that is a JIT function, and calling one from Python costs microseconds.
    return -(-a // b)


def _chunk_for(seq_len: int, chunks) -> int:
    """The chunk that pads the sequence least (the longer one on a tie)."""
    return min(chunks, key=lambda c: (_cdiv(seq_len, c) * c, -c))


def _next_pow2(x: int) -> int:
    return 1 << max(x - 1, 0).bit_length()


def _short_chunk(seq_len: int, chunk_min: int) -> int:
    """The power of two of at least `chunk_min` steps (the sequence's own next power of two, if
    that is less) that pads the sequence least, the longer one on a tie."""
    whole = max(2, _next_pow2(seq_len))
    chunks = [c for c in (2 ** k for k in range(1, whole.bit_length())) if c >= chunk_min]
    return _chunk_for(seq_len, chunks or [whole])


def _block_d(block: int, group_dim: int, n_groups: int) -> int:
    """`block` channels per program, or fewer so that a block never spans two groups of B/C."""
    if n_groups > 1:
        while group_dim % block:
            block //= 2
    return max(block, 1)


class Plan:
    """Everything about one forward, and the backward that may follow it, that depends only on
    the shapes, the inputs' dtypes (None for an absent input), the flags and the settings:
    grids, integer arguments and constexprs of both kernels, buffer sizes, the gradients'
    dtypes. `plan_call` computes it once per combination: at short lengths the op is bound by the
    CPU that launches it. A plan fixes everything Triton specialises on but pointer alignment,
    so the plan itself keys the compiled launchers (`launch_cache`)."""

    def __init__(self, batch, dim, n_groups, d_state, seq_len, settings: Settings, softplus,
                 for_backward, dtypes, keep_last=True):
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
        self.short = seq_len <= settings.short_max
        if self.short:
            fwd_chunk = bwd_chunk = _short_chunk(seq_len, settings.short_chunk_min)
        else:
            fwd_chunk = _chunk_for(seq_len, settings.chunks)
            bwd_chunk = min(settings.bwd_chunk, fwd_chunk)
        # Without a backward to come, only chunk ends are stored (states inside a chunk cost
        # the forward more than their arithmetic, BENCHMARKS.md).
        checkpoint = bwd_chunk if for_backward else fwd_chunk
        self.n_chunks = _cdiv(seq_len, fwd_chunk)
        self.n_states = self.n_chunks * (fwd_chunk // checkpoint) + 1
        group_dim = dim // n_groups
        # One chunk starts from the zero state, so its backward reads no stored state: the
        # forward stores only the last one, and that only when the caller keeps it.
        store_states = not (self.short and self.n_chunks == 1) or keep_last
        self.states_shape = (batch, dim, self.n_states, d_state) if store_states else (1,)
        bc_numel = batch * n_groups * d_state * seq_len
        # dA, dD, dbias, the carry, and dB beside dC, carved from one zeroed buffer.
        self.accumulator_sizes = [dim * d_state, dim, dim, batch * dim * d_state, 2 * bc_numel]
        self.accumulated = sum(self.accumulator_sizes)
        self.fwd_ints = (dim, seq_len, d_state, group_dim, n_groups, self.n_chunks)
        self.bwd_ints = (batch, dim, seq_len, d_state, group_dim, n_groups,
                         _cdiv(seq_len, bwd_chunk), self.n_states, bc_numel)
        flags = dict(HAS_D=has_d, HAS_Z=has_z, HAS_BIAS=has_bias, SOFTPLUS=softplus,
                     PTX=INLINE_PTX)
        if self.short:
            self.fwd_grid, fwd, self.bwd_grid, bwd = self._short_grids(
                batch, dim, n_groups, fwd_chunk, settings)
        else:
            self.fwd_grid, fwd = self._forward_grid(batch, dim, n_groups, settings.fwd_block_d,
                                                    fwd_chunk, settings.lane_steps)
            self.bwd_grid, bwd = self._backward_grid(batch, dim, n_groups, settings.bwd_block_d,
                                                     bwd_chunk, seq_len)
        self.fwd_constexprs = dict(flags, **fwd, CKPT=checkpoint, STORE_STATES=store_states)
        self.bwd_constexprs = dict(flags, **bwd, N_POW2=_next_pow2(d_state))

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
        one warp, chunk / 32 steps per thread; a program per batch row."""
        if chunk % 32:
            raise ValueError(f"backward chunks of {chunk} steps: need a multiple of 32")
        block = _block_d(block, dim // n_groups, n_groups)
        steps = chunk // 32
        # Only when Triton can vectorise the tiles' loads (rows start 16-element aligned) does
        # it give the scan's operands the layout that the PTX needs;
        # `triton_adjoint_ptx.check_scan_layout` verifies that on every compiled kernel.
        ptx, constraints = (adjoint_scan_ptx(steps) if INLINE_PTX and seq_len % 16 == 0
                            else ("", ""))
        constexprs = dict(BLOCK_D=block, T=chunk, V=steps, SCAN_PTX=ptx,
                          SCAN_CONSTRAINTS=constraints, num_warps=1, LOOP_ROWS=False)
        return (batch, _cdiv(dim, block), 1), constexprs

    @staticmethod
    def _short_grids(batch, dim, n_groups, chunk, settings):
        """Both kernels' grids and constexprs for sequences of one chunk: tiles of
        `short_tile` (channels x steps) elements; the backward on at most `short_programs`
        programs, each over every P-th batch row."""
        block = _block_d(min(max(settings.short_tile // chunk, 1), _next_pow2(dim)),
                         dim // n_groups, n_groups)
        tile = dict(BLOCK_D=block, T=chunk, V=1, num_warps=settings.short_warps)
        d_blocks = _cdiv(dim, block)
        rows_per_program = max(1, min(batch, settings.short_programs // d_blocks))
        return ((batch, d_blocks, 1), tile, (rows_per_program, d_blocks, 1),
                dict(tile, SCAN_PTX="", SCAN_CONSTRAINTS="", LOOP_ROWS=True))


plan_call = functools.lru_cache(maxsize=1024)(Plan)
