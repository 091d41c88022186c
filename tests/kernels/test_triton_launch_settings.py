"""The Triton kernels under the launch settings that users get (`triton_plan.CONFIG`).

`test_selective_scan_triton.py` shrinks the chunks so that short sequences cross them; these
lengths instead pick each backward width that the shipped settings use (4 and 8 steps per
thread), at lengths that are multiples of 16, where the backward's scan runs as inline PTX on a
GPU, and at lengths that are not, where it runs Triton's scan. Under the interpreter both run
Triton's scan.
"""

import pytest
import torch

from tsmamba.kernels import selective_scan
from tsmamba.kernels.selective_scan import naive_selective_scan

from .scan_helpers import GRAD_NAMES, TOLERANCE, close, make_inputs, run

triton_op = pytest.importorskip("tsmamba.kernels.selective_scan.triton_op")
from tsmamba.kernels.selective_scan import triton_adjoint_ptx, triton_plan  # noqa: E402
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(autouse=True)
def poison(monkeypatch):
    monkeypatch.setattr(triton_op, "POISON_OUTPUTS", True)


def backward_steps_per_thread(l, dtype):
    f32 = torch.float32
    plan = triton_plan.plan_call(1, 3, 1, 4, l, triton_plan.CONFIG[dtype.itemsize], True, True,
                                 (dtype, dtype, f32, dtype, dtype, f32, dtype, f32))
    return None if plan.short else plan.bwd_constexprs["V"]


# (dtype, length, steps per thread of the backward): the time-parallel layout at 4 and 8 steps
# per thread, lengths aligned and not; then short rows (packed, None).
CASES = [(torch.float32, 320, 4), (torch.float32, 300, 4), (torch.bfloat16, 128, 4),
         (torch.bfloat16, 127, 4), (torch.bfloat16, 512, 8), (torch.bfloat16, 500, 8),
         (torch.float32, 7, None), (torch.bfloat16, 21, None), (torch.float32, 64, None)]


@pytest.mark.parametrize("dtype, l, steps", CASES,
                         ids=[f"{str(c[0])[6:]}-L{c[1]}" for c in CASES])
def test_shipped_settings_match_naive(dtype, l, steps, monkeypatch):
    assert backward_steps_per_thread(l, dtype) == steps
    short = l <= triton_plan.CONFIG[dtype.itemsize].short_max
    launch = triton_op._backward_launch[short]
    monkeypatch.setattr(launch, "launchers", {})
    monkeypatch.setattr(launch, "chosen", {})
    inputs = make_inputs(1, 3, 4, l, None, dtype, True, True, True, positive_dt=False)
    inputs = {k: v.detach().to(DEVICE).requires_grad_() for k, v in inputs.items()}
    ref_inputs = {k: v.detach().cpu().float().requires_grad_() for k, v in inputs.items()}
    y, last, grads = run(selective_scan, inputs, True, backend="triton")
    y_ref, last_ref, grads_ref = run(naive_selective_scan, ref_inputs, True)
    tol = TOLERANCE[dtype]
    close(y.cpu().float(), y_ref, tol, "y")
    close(last.cpu(), last_ref, tol, "last state")
    for name in GRAD_NAMES:
        close(grads[name].cpu().float(), grads_ref[name], 2 * tol, f"d{name}")
    if DEVICE == "cuda":  # the scan ran as PTX exactly where long rows are 16-element aligned
        (chosen,) = launch.chosen.values()
        assert bool(chosen.get("SCAN_PTX")) == (l % 16 == 0 and not short)


class Compiled:
    def __init__(self, ttgir):
        self.asm = {"ttgir": ttgir}


def ttgir_with_scan_layout(layout):
    return (f"#blocked = #ttg.blocked<{{sizePerThread = [1, 1], threadsPerWarp = [1, 32], "
            f"warpsPerCTA = [1, 1], order = [1, 0]}}>\n#blocked2 = #ttg.blocked<{{{layout}}}>\n"
            '    %41:2 = tt.elementwise_inline_asm "shfl.sync.down.b32 ..." %a, %b : '
            "tensor<1x256xf32, #blocked2>, tensor<1x256xf32, #blocked2> -> "
            "tensor<1x256xf32, #blocked2>, tensor<1x256xf32, #blocked2> loc(#loc262)\n")


@pytest.mark.parametrize("layout, keeps", [
    ("sizePerThread = [1, 8], threadsPerWarp = [1, 32], warpsPerCTA = [1, 1], order = [1, 0]",
     True),
    # Steps strided across the lanes, as Triton lays out loads it cannot vectorise.
    ("sizePerThread = [1, 1], threadsPerWarp = [1, 32], warpsPerCTA = [1, 1], order = [1, 0]",
     False),
    ("sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [1, 1], order = [1, 0]",
     False),  # 4 steps per lane where the PTX takes 8
    ("sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [1, 1], order = [1, 0]",
     False),
], ids=["lanes-in-order", "strided", "other-width", "half-warps"])
def test_the_scan_ptx_runs_only_on_the_layout_it_assumes(layout, keeps):
    ptx, constraints = triton_adjoint_ptx.adjoint_scan_ptx(8)
    constexprs = dict(V=8, SCAN_PTX=ptx, SCAN_CONSTRAINTS=constraints)
    verdict = triton_adjoint_ptx.check_scan_layout(Compiled(ttgir_with_scan_layout(layout)),
                                                   constexprs)
    if keeps:
        assert verdict is None
    else:
        assert verdict == dict(constexprs, SCAN_PTX="", SCAN_CONSTRAINTS="")


def test_a_kernel_without_the_scan_ptx_is_not_vetted():
    assert triton_adjoint_ptx.check_scan_layout(Compiled(""), dict(V=8, SCAN_PTX="")) is None


def test_a_kernel_whose_scan_ptx_cannot_be_found_falls_back():
    ptx, constraints = triton_adjoint_ptx.adjoint_scan_ptx(8)
    constexprs = dict(V=8, SCAN_PTX=ptx, SCAN_CONSTRAINTS=constraints)
    verdict = triton_adjoint_ptx.check_scan_layout(Compiled("#blocked = #ttg.blocked<{}>\n"),
                                                   constexprs)
    assert verdict == dict(constexprs, SCAN_PTX="", SCAN_CONSTRAINTS="")


@pytest.mark.parametrize("l", [7, 300])
def test_aligned_inputs_take_the_launch_cache(l, monkeypatch):
    # Whether an allocation is 256-byte aligned is up to the allocator: on a CPU it is chance.
    # Aligned inputs pass a key, which on a GPU finds a compiled launcher and under the
    # interpreter (no GPU driver) must still just run the kernel.
    monkeypatch.setattr(triton_op, "aligned", lambda *tensors: True)
    inputs = make_inputs(1, 3, 4, l, None, torch.float32, True, True, True)
    inputs = {k: v.detach().to(DEVICE).requires_grad_() for k, v in inputs.items()}
    ref_inputs = {k: v.detach().cpu().float().requires_grad_() for k, v in inputs.items()}
    y, last, grads = run(selective_scan, inputs, True, backend="triton")
    y_ref, last_ref, grads_ref = run(naive_selective_scan, ref_inputs, True)
    tol = TOLERANCE[torch.float32]
    close(y.cpu(), y_ref, tol, "y")
    close(last.cpu(), last_ref, tol, "last state")
    for name in GRAD_NAMES:
        close(grads[name].cpu(), grads_ref[name], 2 * tol, f"d{name}")
