"""Check and time the selective-scan backends side by side (`tsmamba bench scan`).

Method: every backend first runs a correctness check against the sequential fp32 reference on
fresh random inputs; timings are medians of `triton.testing.do_bench` on CUDA (CUDA events,
warm-up excluded) and of repeated wall-clock runs on the CPU. Forward runs under no_grad;
forward + backward includes the backward of sum(y * w) for a fixed random w. With several
rounds, each round times every backend once, in turn, on the same inputs, and a row reports
the median over rounds (and the range of forward + backward): the speed of a shared machine
drifts, and taking the backends in turn spreads that drift over all of them.

On CUDA, short sequences finish on the GPU sooner than Python can issue the next call, so
those timings measure the CPU. Two things separate that from the kernels: the "floor" backend,
an op with the same signature that does no work (what any Python-level op pays for autograd
and allocation here), and `graphs=True`, which replays each call from a CUDA graph
(`triton.testing.do_bench_cudagraph`), leaving only GPU time.
"""

from __future__ import annotations

import statistics
import time

import torch
from einops import rearrange

from . import selective_scan
from .naive import naive_selective_scan

PAPER_SIZES = [(32, 512, 16, 96), (32, 512, 16, 720), (8, 2048, 16, 4096)]
# The sweep: every length a model makes, from TSM2's channel mixer (a few variates) to long
# lookbacks, at the same work b * l per channel, for three widths.
SWEEP_LENGTHS = (2, 7, 21, 96, 720, 4096)
SWEEP_WIDTHS = (64, 256, 1024)
SWEEP_ROWS_TIMES_LENGTH = 2 ** 17


def sweep_sizes(rows_times_length: int = SWEEP_ROWS_TIMES_LENGTH, d_state: int = 16) -> list:
    """(b, d, n, l) for every sweep width and length, b = rows_times_length // l."""
    return [(max(rows_times_length // l, 1), d, d_state, l)
            for d in SWEEP_WIDTHS for l in SWEEP_LENGTHS]


def loop_reference(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """A plain per-time-step loop differentiated by autograd: the baseline the CPU path must
    beat. Each step updates the (b, d, n) state in cache-sized slabs, h_t = exp(dt_t A) h_{t-1}
    + dt_t u_t B_t; the states are contracted with C once, after the loop. Of the loops tried
    on the 2-core machine (decays precomputed for the whole sequence, each step's output
    contracted in the loop, the state laid out (n, d)) this was the fastest (BENCHMARKS.md)."""
    dt = delta + delta_bias[:, None] if delta_bias is not None else delta
    dt = torch.nn.functional.softplus(dt) if delta_softplus else dt
    steps = zip(rearrange(dt, "b d l -> l b d 1").unbind(0),
                rearrange(dt * u, "b d l -> l b d 1").unbind(0),
                rearrange(B, "b n l -> l b 1 n").unbind(0))
    h, states = None, []
    for dt_t, dtu_t, B_t in steps:
        x = dtu_t * B_t
        h = x if h is None else torch.addcmul(x, torch.exp(dt_t * A), h)
        states.append(h)
    y = torch.einsum("lbdn,bnl->bdl", torch.stack(states), C)
    if D is not None:
        y = y + D[:, None] * u
    return y * torch.nn.functional.silu(z) if z is not None else y


def make_inputs(b, d, n, l, dtype, device, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)

    def rnd(*shape, scale=1.0, dt=dtype):
        return (torch.randn(*shape, generator=g) * scale).to(device=device, dtype=dt)

    return dict(u=rnd(b, d, l), delta=rnd(b, d, l, scale=0.5),
                A=-(torch.rand(d, n, generator=g) + 0.5).to(device),
                B=rnd(b, n, l), C=rnd(b, n, l), D=rnd(d, dt=torch.float32),
                z=rnd(b, d, l), delta_bias=rnd(d, scale=0.5, dt=torch.float32))


class _FloorFn(torch.autograd.Function):
    """No scan at all: one output and eight gradients, allocated and left unwritten."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias):
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias)
        return torch.empty_like(u)

    @staticmethod
    def backward(ctx, dout):
        return tuple(None if t is None else torch.empty_like(t) for t in ctx.saved_tensors)


def floor_op(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    return _FloorFn.apply(u, delta, A, B, C, D, z, delta_bias)


def _mamba_ssm():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


def backends(device: torch.device) -> dict:
    found = {"torch": lambda **kw: selective_scan(**kw, backend="torch")}
    if device.type == "cuda":
        found["triton"] = lambda **kw: selective_scan(**kw, backend="triton")
        mamba = _mamba_ssm()
        if mamba is not None:
            found["mamba_ssm"] = lambda **kw: mamba(**kw)
        found["floor"] = floor_op
    else:
        found["loop+autograd"] = loop_reference
    return found


# Where every backend is checked first: both Triton layouts (a long row and short ones).
CHECK_SIZES = ((2, 40, 16, 300), (64, 40, 16, 7))


def check(fn, device, dtype, sizes=CHECK_SIZES) -> float:
    """Worst relative error of output and all gradients against the reference."""
    worst = 0.0
    for size in sizes:
        inputs = make_inputs(*size, dtype, device, seed=1)
        ref = {k: v.detach().cpu().float().requires_grad_() for k, v in inputs.items()}
        ins = {k: v.detach().requires_grad_() for k, v in inputs.items()}
        w = torch.randn(size[0], size[1], size[3])
        y = fn(**ins, delta_softplus=True)
        (y.float() * w.to(device)).sum().backward()
        y_ref = naive_selective_scan(**ref, delta_softplus=True)
        (y_ref * w).sum().backward()
        pairs = [(y.detach(), y_ref.detach())] + [(ins[k].grad, ref[k].grad) for k in ins]
        for fast, slow in pairs:
            err = ((fast.detach().cpu().float() - slow).abs().max()
                   / slow.abs().max().clamp_min(1e-6))
            worst = max(worst, float(err))
    return worst


def _time(fn, device, graphs=False, rep_ms=200) -> float:
    """Median milliseconds."""
    if device.type == "cuda":
        import triton

        if graphs:
            return triton.testing.do_bench_cudagraph(fn, rep=rep_ms, return_mode="median")
        return triton.testing.do_bench(fn, warmup=25, rep=rep_ms, return_mode="median")
    fn()
    samples = []
    budget = time.perf_counter() + 3.0
    while len(samples) < 3 or (time.perf_counter() < budget and len(samples) < 20):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def time_backend(fn, size, dtype, device, graphs=False, inputs=None,
                 rep_ms=200) -> tuple[float, float]:
    """Median ms of forward and of forward + backward at `size`, on `inputs` if given (from
    `make_inputs` at that size and dtype)."""
    inputs = make_inputs(*size, dtype, device) if inputs is None else inputs
    grads = {k: v.detach().requires_grad_() for k, v in inputs.items()}
    w = torch.randn(size[0], size[1], size[3], device=device, dtype=dtype)

    def forward():
        with torch.no_grad():
            fn(**inputs, delta_softplus=True)

    def forward_backward():
        for v in grads.values():
            v.grad = None
        (fn(**grads, delta_softplus=True) * w).sum().backward()

    return (_time(forward, device, graphs, rep_ms),
            _time(forward_backward, device, graphs, rep_ms))


def warm_up(device: torch.device, seconds: float = 1.0) -> None:
    """Keep the GPU busy for a moment so that its clocks have risen before the first timing."""
    if device.type != "cuda":
        return
    x = torch.randn(4096, 4096, device=device)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(10):
            x = torch.tanh(x @ x)
        torch.cuda.synchronize(device)


def run(sizes, dtypes, device: torch.device, skip=(), graphs=False, rounds=1, rep_ms=None):
    """Yield one row per (dtype, size, backend): correctness and times, the median over
    `rounds` rounds that each time every backend in turn; with `graphs` (CUDA only) also the
    same calls replayed from CUDA graphs."""
    warm_up(device)
    found = {name: fn for name, fn in backends(device).items() if name not in skip}
    graphs = graphs and device.type == "cuda"
    # Several rounds, each a shorter do_bench: the median is taken over the rounds.
    rep_ms = rep_ms or (200 if rounds == 1 else 100)
    for dtype in dtypes:
        errs = {name: float("nan") if fn is floor_op else check(fn, device, dtype)
                for name, fn in found.items()}
        for size in sizes:
            inputs = make_inputs(*size, dtype, device)
            times = {name: [] for name in found}
            for _ in range(rounds):
                for name, fn in found.items():
                    sample = time_backend(fn, size, dtype, device, inputs=inputs, rep_ms=rep_ms)
                    if graphs:
                        sample += time_backend(fn, size, dtype, device, graphs=True,
                                               inputs=inputs, rep_ms=rep_ms)
                    times[name].append(sample)
            for name, samples in times.items():
                fwd, fwd_bwd, *graph = (statistics.median(col) for col in zip(*samples))
                b, d, _, l = size
                row = dict(backend=name, dtype=str(dtype).replace("torch.", ""),
                           size="x".join(map(str, size)), max_rel_err=errs[name], rounds=rounds,
                           fwd_ms=fwd, fwd_bwd_ms=fwd_bwd,
                           # elements b * l * d per second of forward + backward
                           fwd_bwd_gelem_s=b * l * d / fwd_bwd / 1e6,
                           fwd_bwd_ms_min=min(s[1] for s in samples),
                           fwd_bwd_ms_max=max(s[1] for s in samples))
                if graphs:
                    row["graph_fwd_ms"], row["graph_fwd_bwd_ms"] = graph
                yield row


def tune(size=(8, 2048, 16, 4096), dtype=torch.float32, device=torch.device("cuda"),
         block_ds=(1, 2, 4), chunk_sets=((128,), (128, 256), (128, 256, 512)), lane_steps=(4, 8)):
    """Sweep the Triton launch settings for `dtype` at one size: channels per program, chunk
    choices and steps per thread, the same for both kernels, the backward on the forward's
    chunks. Yield (settings, fwd ms, fwd+bwd ms, error); the difference of the two times is the
    backward's, so each kernel's best can be read off the same sweep."""
    import itertools

    from . import triton_plan

    width = torch.empty((), dtype=dtype).element_size()
    saved = triton_plan.CONFIG[width]
    fn = backends(device)["triton"]
    try:
        for block_d, chunks, steps in itertools.product(block_ds, chunk_sets, lane_steps):
            settings = triton_plan.Settings(chunks=tuple(chunks), lane_steps=steps,
                                            fwd_block_d=block_d, bwd_block_d=block_d,
                                            bwd_chunk=max(chunks))
            triton_plan.CONFIG[width] = settings
            try:
                fwd, fwd_bwd = time_backend(fn, size, dtype, device)
            except Exception as exc:  # noqa: BLE001 - a setting that fails to compile is skipped
                yield settings, float("nan"), float("nan"), str(exc)[:80]
                continue
            yield settings, fwd, fwd_bwd, ""
    finally:
        triton_plan.CONFIG[width] = saved
