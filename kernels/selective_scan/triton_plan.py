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
    the packed layout (`triton_packed.py`): tiles of a number of time slots (or the
    sequence's next power of two, if more) hold as many whole rows as fit, with a number of
    channels per program and of warps, all by length (`short_tiles`); the backward runs on at most
    `short_programs` programs, each over many tiles, so that dA, D's and delta_bias'
    gradients (sums over the batch) are added once per program, not once per row.

    Where the time-parallel backward has one chunk a row, it runs on at most `long_programs`
    programs (over the batch rows) and adds those sums once per program (0: a program per row,
    always). With more chunks a row, a program per row was faster on an H200 (BENCHMARKS.md).
    """

    chunks: tuple
    lane_steps: int
    fwd_block_d: int
    bwd_block_d: int
    bwd_chunk: int
    short_max: int = 64
    # (longest row, slots, channels a program, warps, shifted adjoint): the first row that
    # takes the length. The backward's adjoint G_t = src_t + dA_{t+1} G_{t+1} is either a scan
    # of pairs on the next step's decay (shifted) or of a four-term composition on this
    # step's. By dtype in CONFIG, from `benchmarks/tune_layouts.py` on an H200 (BENCHMARKS.md):
    # one warp of 64 slots over two channels, which share each load of B and C.
    short_tiles: tuple = ((64, 64, 2, 1, False),)
    short_programs: int = 8448  # 64 per multiprocessor of an H100 or H200
    long_programs: int = 8448
    # The time-parallel kernels put channel blocks, not batch rows, along the grid's first
    # axis (so the programs of one row run together and share its B and C in the L2) when
    # B, C, dB and dC together exceed this many bytes; in TSM2's and Mamba's training steps
    # on an H200 that gained up to 26 % where they took 44 MB or more, and alone the kernels
    # lost up to 22 % at 34 MB, where rows first keep B and C in the L2 (BENCHMARKS.md).
    long_channels_first_bytes: int = 40 * 2**20

# By byte width; chosen by sweeps on an H100 (`benchmark.tune`) and an H200
# (`benchmarks/tune_layouts.py`), see BENCHMARKS.md. In fp32 the two-channel tile's backward
# was 1.5-1.6x faster with the shifted adjoint up to 21 steps, and slower at 64.
CONFIG = {
    4: Settings(chunks=(128,), lane_steps=4, fwd_block_d=1, bwd_block_d=1, bwd_chunk=128,
                short_tiles=((32, 64, 2, 1, True), (64, 64, 2, 1, False))),
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
        group_dim = dim // n_groups
        if self.short:
            # Whole rows from the zero state, one tile each: no state but the last is kept.
            tile = next((t for t in settings.short_tiles if seq_len <= t[0]),
                        settings.short_tiles[-1])
            slots = max(tile[1], _next_pow2(seq_len))
            rows_per_tile = slots // seq_len
            n_tiles = _cdiv(batch, rows_per_tile)
            self.states_shape = (batch, dim, 1, d_state) if keep_last else (1,)
        else:
            fwd_chunk = _chunk_for(seq_len, settings.chunks)
            bwd_chunk = min(settings.bwd_chunk, fwd_chunk)
            # Without a backward to come, only chunk ends are stored (states inside a chunk
            # cost the forward more than their arithmetic, BENCHMARKS.md).
            checkpoint = bwd_chunk if for_backward else fwd_chunk
            self.n_chunks = _cdiv(seq_len, fwd_chunk)
            self.n_states = self.n_chunks * (fwd_chunk // checkpoint) + 1
            self.states_shape = (batch, dim, self.n_states, d_state)
        bc_numel = batch * n_groups * d_state * seq_len
        # dA, dD, dbias, the carry, and dB beside dC, carved from one zeroed buffer.
        self.accumulator_sizes = [dim * d_state, dim, dim, batch * dim * d_state, 2 * bc_numel]
        self.accumulated = sum(self.accumulator_sizes)
        flags = dict(HAS_D=has_d, HAS_Z=has_z, HAS_BIAS=has_bias, SOFTPLUS=softplus,
                     PTX=INLINE_PTX)
        if self.short:
            self.fwd_ints = (batch, dim, seq_len, d_state, group_dim, rows_per_tile)
            self.bwd_ints = self.fwd_ints + (n_tiles, bc_numel)
            self.packed_bc_shape = (n_groups, d_state, batch, seq_len)  # B's, C's, dB's, dC's
            self.fwd_grid, fwd, self.bwd_grid, bwd = self._packed_grids(
                n_tiles, dim, n_groups, slots, tile[2], tile[3], settings.short_programs)
            self.fwd_constexprs = dict(flags, **fwd, STORE_LAST=keep_last)
            self.bwd_constexprs = dict(flags, **bwd, N_POW2=_next_pow2(d_state),
                                       HAS_DLAST=keep_last, SHIFTED=tile[4])
            return
        self.fwd_ints = (dim, seq_len, d_state, group_dim, n_groups, self.n_chunks)
        self.bwd_ints = (batch, dim, seq_len, d_state, group_dim, n_groups,
                         _cdiv(seq_len, bwd_chunk), self.n_states, bc_numel)
        self.fwd_grid, fwd = self._forward_grid(batch, dim, n_groups, settings.fwd_block_d,
                                                fwd_chunk, settings.lane_steps)
        self.bwd_grid, bwd = self._backward_grid(batch, dim, n_groups, settings.bwd_block_d,
                                                 bwd_chunk, seq_len, settings.long_programs)
        bc_bytes = bc_numel * 2 * (B.itemsize + 4)  # B and C, and dB and dC in fp32
        # The grid's second axis holds at most 65535 programs.
        axis = int(bc_bytes > settings.long_channels_first_bytes
                   and max(self.fwd_grid[0], self.bwd_grid[0]) < 65536)
        fwd["ROW_AXIS"] = bwd["ROW_AXIS"] = axis
        if axis:
            self.fwd_grid = (self.fwd_grid[1], self.fwd_grid[0], 1)
            self.bwd_grid = (self.bwd_grid[1], self.bwd_grid[0], 1)
        self.fwd_constexprs = dict(flags, **fwd, CKPT=checkpoint)
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
    def _backward_grid(batch, dim, n_groups, block, chunk, seq_len, programs):
        """Grid and constexprs for `block` channels per program and chunks of `chunk` steps in
        one warp, chunk / 32 steps per thread; a program per batch row, or with `programs`
        at most that many, each over every P-th row."""
        if chunk % 32:
            raise ValueError(f"backward chunks of {chunk} steps: need a multiple of 32")
        block = _block_d(block, dim // n_groups, n_groups)
        steps = chunk // 32
        # Only when Triton can vectorise the tiles' loads (rows start 16-element aligned) does
        # it give the scan's operands the layout that the PTX needs;
        # `triton_adjoint_ptx.check_scan_layout` verifies that on every compiled kernel.
        ptx, constraints = (adjoint_scan_ptx(steps) if INLINE_PTX and seq_len % 16 == 0
                            else ("", ""))
        d_blocks = _cdiv(dim, block)
        one_chunk = seq_len <= chunk
        rows = min(batch, max(1, programs // d_blocks)) if programs and one_chunk else batch
        constexprs = dict(BLOCK_D=block, T=chunk, V=steps, SCAN_PTX=ptx,
                          SCAN_CONSTRAINTS=constraints, num_warps=1, LOOP_ROWS=rows < batch)
        return (rows, d_blocks, 1), constexprs

    @staticmethod
    def _packed_grids(n_tiles, dim, n_groups, slots, block, warps, programs):
        """Both packed kernels' grids and constexprs: a forward program per (tile of rows,
        block of `block` channels); the backward on at most `programs` programs."""
        block = _block_d(min(block, _next_pow2(dim)), dim // n_groups, n_groups)
        tile = dict(BLOCK_D=block, T=slots, num_warps=warps)
        d_blocks = _cdiv(dim, block)
        rows = min(n_tiles, max(1, programs // d_blocks))
        return (n_tiles, d_blocks, 1), tile, (rows, d_blocks, 1), tile


plan_call = functools.lru_cache(maxsize=1024)(Plan)
