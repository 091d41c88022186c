"""The Triton kernels, forward and backward, against the sequential reference.

On a machine without a GPU they run under TRITON_INTERPRET=1 (set in conftest.py) on CPU
tensors, so shapes stay tiny. Outputs are poisoned with NaN before launch.
"""

import pytest
import torch

from tsmamba.kernels import selective_scan
from tsmamba.kernels.selective_scan import naive_selective_scan

from .scan_helpers import GRAD_NAMES, TOLERANCE, close, make_inputs, run

triton_op = pytest.importorskip("tsmamba.kernels.selective_scan.triton_op")
from tsmamba.kernels.selective_scan import triton_plan  # noqa: E402
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

CASES = [
    # (b, d, n, l, groups, with_z, with_D, with_bias, softplus)
    (1, 5, 4, 1, None, True, True, True, True),
    (2, 5, 4, 33, None, True, True, True, True),  # one full chunk and one partial
    (1, 18, 1, 65, None, False, False, False, False),  # three chunks, five channel blocks, n = 1
    (1, 6, 4, 40, 3, True, False, True, True),  # grouped B/C, blocks of 2 channels
    (3, 6, 4, 7, None, True, True, True, True),  # short rows: 2 a tile, 2 tiles a program
    (2, 8, 3, 5, 2, True, True, True, True),  # short rows, grouped: blocks inside a group
    (11, 4, 3, 3, None, True, True, True, True),  # 5 rows a tile, the last tile part empty
    (7, 3, 2, 2, None, False, False, False, False),  # 8 rows a tile, plain scan
]


SMALL_SETTINGS = {
    # Both kernels on chunks of 32 steps, so these short sequences cross chunk boundaries.
    "same-chunks": triton_plan.Settings(chunks=(32,), lane_steps=1, fwd_block_d=4,
                                        bwd_block_d=4, bwd_chunk=32, short_max=0),
    # The forward on chunks of 64 that store the state every 32 steps, the backward on those
    # 32-step chunks, with blocks of its own width.
    "checkpoints-inside-chunks": triton_plan.Settings(chunks=(64,), lane_steps=1, fwd_block_d=4,
                                                      bwd_block_d=2, bwd_chunk=32, short_max=0),
    # Sequences of up to 64 steps packed into tiles of 16 slots (or the next power of two of
    # a longer one: 33 and 40 steps take a tile of 64), 2 channels a program, and a backward
    # of 2 programs at most, so that each walks several tiles and sums dA, dD and dbias
    # over them.
    "short-rows": triton_plan.Settings(chunks=(32,), lane_steps=1, fwd_block_d=4,
                                       bwd_block_d=4, bwd_chunk=32, short_max=64,
                                       short_tiles=((64, 16, 2, 1, True),), short_programs=2),
    # The same with the backward's adjoint as the four-term composition, and rows of up to 4
    # steps in tiles of 8 slots, 4 channels a program.
    "short-rows-composed": triton_plan.Settings(
        chunks=(32,), lane_steps=1, fwd_block_d=4, bwd_block_d=4, bwd_chunk=32, short_max=64,
        short_tiles=((4, 8, 4, 2, False), (64, 16, 2, 1, False)), short_programs=2),
    # The time-parallel layout with channel blocks along the grid's first axis.
    "channels-first": triton_plan.Settings(chunks=(32,), lane_steps=1, fwd_block_d=4,
                                           bwd_block_d=2, bwd_chunk=32, short_max=0,
                                           long_channels_first_bytes=0),
    # The time-parallel backward on 2 programs at most, each over several batch rows (where a
    # row is one backward chunk: the lengths up to 32).
    "rows-per-program": triton_plan.Settings(chunks=(32,), lane_steps=1, fwd_block_d=4,
                                             bwd_block_d=2, bwd_chunk=32, short_max=0,
                                             long_programs=2),
}


@pytest.fixture(autouse=True, params=list(SMALL_SETTINGS))
def small_chunks_and_poison(request, monkeypatch):
    # Blocks of 4 (or 2) channels cross block boundaries too; outputs start as NaN so that
    # unwritten elements fail.
    for width in (4, 2):
        monkeypatch.setitem(triton_plan.CONFIG, width, SMALL_SETTINGS[request.param])
    monkeypatch.setattr(triton_op, "POISON_OUTPUTS", True)


def to_device(inputs):
    return {k: (v.detach().to(DEVICE).requires_grad_() if v is not None else None)
            for k, v in inputs.items()}


# Every case in fp32; bf16 on the short ones (the interpreter is slow).
RUNS = [(c, torch.float32) for c in CASES] + [(c, torch.bfloat16) for c in CASES[:2]]


def run_id(run):
    (b, d, n, l, g, *_), dtype = run
    return f"B{b}-D{d}-N{n}-L{l}-G{g or 1}-{'bf16' if dtype == torch.bfloat16 else 'fp32'}"


@pytest.mark.parametrize("case, dtype", RUNS, ids=[run_id(r) for r in RUNS])
def test_triton_matches_naive_forward_and_backward(case, dtype):
    b, d, n, l, groups, with_z, with_D, with_bias, softplus = case
    inputs = to_device(make_inputs(b, d, n, l, groups, dtype, with_z, with_D, with_bias,
                                   positive_dt=not softplus))
    ref_inputs = {k: (v.detach().cpu().float().requires_grad_() if v is not None else None)
                  for k, v in inputs.items()}
    y, last, grads = run(selective_scan, inputs, softplus, backend="triton")
    y_ref, last_ref, grads_ref = run(naive_selective_scan, ref_inputs, softplus)
    tol = TOLERANCE[dtype]
    assert y.dtype == dtype and last.dtype == torch.float32
    close(y.cpu().float(), y_ref, tol, "y")
    close(last.cpu(), last_ref, tol, "last state")
    for name in GRAD_NAMES:
        if inputs[name] is not None:
            assert grads[name].dtype == inputs[name].dtype, name
            close(grads[name].cpu().float(), grads_ref[name], tol * 2, f"d{name}")


def test_the_layout_follows_the_length():
    settings = SMALL_SETTINGS["short-rows"]
    f32 = torch.float32
    dtypes = (f32,) * 8

    def plan(b, d, l):
        return triton_plan.plan_call(b, d, 1, 4, l, settings, True, True, dtypes)

    short, long = plan(6, 5, 7), plan(6, 5, 65)
    assert short.short and short.fwd_constexprs["T"] == 16 and short.fwd_constexprs["BLOCK_D"] == 2
    assert short.fwd_grid == (3, 3, 1)  # 2 rows a tile; 3 blocks of 2 channels
    assert short.bwd_grid == (1, 3, 1)  # 2 programs at most: one per channel block, every tile
    assert not long.short and long.bwd_grid == (6, 2, 1)  # a program per batch row
    rows_per_program = SMALL_SETTINGS["rows-per-program"]
    looped = triton_plan.plan_call(6, 5, 1, 4, 20, rows_per_program, True, True, dtypes)
    assert looped.bwd_grid == (1, 3, 1) and looped.bwd_constexprs["LOOP_ROWS"]
    # Rows of several backward chunks keep a program each.
    chunked = triton_plan.plan_call(6, 5, 1, 4, 65, rows_per_program, True, True, dtypes)
    assert chunked.bwd_grid == (6, 3, 1) and not chunked.bwd_constexprs["LOOP_ROWS"]
    assert chunked.fwd_constexprs["ROW_AXIS"] == chunked.bwd_constexprs["ROW_AXIS"] == 0
    # Where B, C, dB and dC outgrow the threshold, channel blocks go first.
    swapped = triton_plan.plan_call(6, 5, 1, 4, 65, SMALL_SETTINGS["channels-first"], True,
                                    True, dtypes)
    assert swapped.fwd_grid == (2, 6, 1) and swapped.bwd_grid == (3, 6, 1)
    assert swapped.fwd_constexprs["ROW_AXIS"] == swapped.bwd_constexprs["ROW_AXIS"] == 1
    assert plan(6, 5, 64).short and not plan(6, 5, 65).short


def test_every_planned_argument_is_a_kernel_parameter():
    # The interpreter ignores keyword arguments a kernel does not take, a compiled launch
    # refuses them: check the plans against the kernels' signatures here, on every machine.
    import inspect

    from tsmamba.kernels.selective_scan import triton_chunked, triton_packed

    dtypes = (torch.float32,) * 8
    kernels = {True: (triton_packed.packed_forward_kernel, triton_packed.packed_backward_kernel),
               False: (triton_chunked.forward_kernel, triton_chunked.backward_kernel)}
    for settings in (triton_plan.CONFIG[4], triton_plan.CONFIG[2], *SMALL_SETTINGS.values()):
        for l in (2, 7, 64, 300):
            plan = triton_plan.plan_call(2, 8, 1, 4, l, settings, True, True, dtypes)
            forward, backward = kernels[plan.short]
            for kernel, tensors, ints, constexprs in (
                    (forward, 10, plan.fwd_ints, plan.fwd_constexprs),
                    (backward, 18, plan.bwd_ints, plan.bwd_constexprs)):
                params = list(inspect.signature(kernel.fn).parameters)
                assert len(params) == tensors + len(ints) + len(constexprs) - 1, kernel.fn
                assert set(constexprs) - {"num_warps"} == set(params[tensors + len(ints):])


def test_auto_dispatch_uses_triton_only_for_cuda_tensors():
    from tsmamba.kernels.selective_scan import resolve_backend

    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    if torch.cuda.is_available():
        assert resolve_backend("auto", torch.device("cuda")) == "triton"


@pytest.mark.parametrize("used", ["y", "last"])
def test_triton_backward_when_only_one_output_is_used(used):
    # The backward receives None for the unused output (no zeros are materialised for it).
    inputs = to_device(make_inputs(1, 5, 4, 40, None, torch.float32, True, True, True))
    ref_inputs = {k: (v.detach().cpu().float().requires_grad_() if v is not None else None)
                  for k, v in inputs.items()}
    for fn, ins, kw in ((selective_scan, inputs, {"backend": "triton"}),
                        (naive_selective_scan, ref_inputs, {})):
        y, last = fn(**ins, delta_softplus=True, return_last_state=True, **kw)
        (y.float().square().sum() if used == "y" else last.sum()).backward()
    for name in GRAD_NAMES:
        fast, ref = inputs[name].grad, ref_inputs[name].grad
        if ref is None:  # z does not reach the last state
            assert fast is None or not fast.any(), f"d{name}"
        else:
            close(fast.cpu(), ref, 2e-5, f"d{name}")


def test_forward_without_gradients_matches_the_one_that_keeps_checkpoints():
    # With no backward to come, the forward stores states only at its chunk ends.
    inputs = to_device(make_inputs(2, 5, 4, 65, None, torch.float32, True, True, True))
    with torch.no_grad():
        y_plain, last_plain = selective_scan(**inputs, delta_softplus=True,
                                             return_last_state=True, backend="triton")
    y, last = selective_scan(**inputs, delta_softplus=True, return_last_state=True,
                             backend="triton")
    assert y.requires_grad and not y_plain.requires_grad
    assert torch.equal(y.detach(), y_plain) and torch.equal(last.detach(), last_plain)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="compiled launchers exist on a GPU only")
@pytest.mark.parametrize("offset", [0, 1], ids=["aligned", "misaligned-input"])
def test_repeated_calls_through_the_launch_cache_match_naive(offset, monkeypatch):
    # The first call compiles through Triton's JIT; the second launches the kept kernel, unless
    # an input starts off the cache's alignment (a view at an odd offset), which takes the JIT.
    for launch in (triton_op._forward_launch[False], triton_op._backward_launch[False]):
        monkeypatch.setattr(launch, "launchers", {})
    inputs = to_device(make_inputs(2, 5, 4, 65, None, torch.float32, True, True, True))
    u = inputs["u"].detach()
    storage = torch.empty(u.numel() + offset, device=u.device)
    storage[offset:] = u.reshape(-1)
    inputs["u"] = storage[offset:].view_as(u).requires_grad_()
    ref_inputs = {k: (v.detach().cpu().float().requires_grad_() if v is not None else None)
                  for k, v in inputs.items()}
    y_ref, last_ref, grads_ref = run(naive_selective_scan, ref_inputs, True)
    tol = TOLERANCE[torch.float32]
    for _ in range(2):
        y, last, grads = run(selective_scan, inputs, True, backend="triton")
        close(y.cpu(), y_ref, tol, "y")
        close(last.cpu(), last_ref, tol, "last state")
        for name in GRAD_NAMES:
            if inputs[name] is not None:
                close(grads[name].cpu(), grads_ref[name], 2 * tol, f"d{name}")
    for launch in (triton_op._forward_launch[False], triton_op._backward_launch[False]):
        assert len(launch.launchers) == (1 if offset == 0 else 0)


def test_a_second_backward_through_the_graph_adds_the_same_gradients():
    # Each backward (retain_graph) accumulates dA, dB, dC, dD and delta_bias atomically into
    # zeros of its own, not into what the one before left.
    inputs = to_device(make_inputs(1, 5, 4, 40, None, torch.float32, True, True, True))
    y = selective_scan(**inputs, delta_softplus=True, backend="triton")
    w = torch.linspace(-1, 1, y.numel(), device=y.device).view_as(y)
    (y * w).sum().backward(retain_graph=True)
    once = {k: v.grad.clone() for k, v in inputs.items()}
    (y * w).sum().backward()
    for name in GRAD_NAMES:
        close(inputs[name].grad.cpu(), 2 * once[name].cpu(), 1e-5, f"d{name}")
