"""The selective scan's fast paths against the sequential fp32 reference (`naive.py`)."""

import pytest
import torch

from tsmamba.kernels import selective_scan, selective_state_update
from tsmamba.kernels.selective_scan import naive_selective_scan, resolve_backend

from .scan_helpers import GRAD_NAMES, TOLERANCE, close, make_inputs, run

CASES = [
    # (b, d, n, l, groups, with_z, with_D, with_bias, softplus)
    (2, 5, 16, 1, None, True, True, True, True),
    (2, 5, 16, 63, None, True, True, True, True),
    (2, 5, 1, 64, None, False, False, False, False),
    (1, 6, 16, 65, 3, True, False, True, True),
    (2, 6, 1, 65, 2, False, True, False, True),
    (1, 3, 16, 500, None, True, True, True, True),
    (1, 6, 16, 500, 3, False, True, True, False),
]


def case_id(c):
    b, d, n, l, g, z, D, bias, sp = c
    return (f"B{b}-D{d}-N{n}-L{l}-{'G' + str(g) if g else 'ungrouped'}"
            f"{'-z' if z else ''}{'-D' if D else ''}{'-bias' if bias else ''}{'-softplus' if sp else ''}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_torch_path_matches_naive(case, dtype):
    b, d, n, l, groups, with_z, with_D, with_bias, softplus = case
    # Without softplus, dt is used as given: keep it positive so the recurrence decays.
    inputs = make_inputs(b, d, n, l, groups, dtype, with_z, with_D, with_bias,
                         positive_dt=not softplus)
    # The reference runs in fp32 on the same (rounded) inputs.
    ref_inputs = {k: (v.detach().float().requires_grad_() if v is not None else None)
                  for k, v in inputs.items()}
    y, last, grads = run(selective_scan, inputs, softplus, backend="torch")
    y_ref, last_ref, grads_ref = run(naive_selective_scan, ref_inputs, softplus)
    tol = TOLERANCE[dtype]
    assert y.dtype == dtype and last.dtype == torch.float32
    close(y.float(), y_ref, tol)
    close(last, last_ref, tol)
    for name in GRAD_NAMES:
        if inputs[name] is None:
            continue
        assert grads[name].dtype == inputs[name].dtype, name
        close(grads[name].float(), grads_ref[name], tol * 2, f"d{name}")


@pytest.mark.parametrize("chunk_len", [1, 7, 16, 64])
def test_chunk_length_does_not_change_results(chunk_len):
    from tsmamba.kernels.selective_scan import chunked_selective_scan

    inputs = make_inputs(2, 4, 8, 40, None, torch.float32, True, True, True)
    y_ref, last_ref, grads_ref = run(naive_selective_scan, inputs, True)
    y, last, grads = run(chunked_selective_scan, inputs, True, chunk_len=chunk_len)
    close(y, y_ref, 1e-5)
    close(last, last_ref, 1e-5)
    for name in GRAD_NAMES:
        close(grads[name], grads_ref[name], 2e-5, f"d{name}")


def test_chunks_shorten_for_large_states_down_to_a_floor():
    from tsmamba.kernels.selective_scan import torch_chunked

    assert torch_chunked.chunk_len_for(2, 4, 8) == torch_chunked.DEFAULT_CHUNK_LEN
    assert torch_chunked.chunk_len_for(32, 128, 16) == 16  # 256 KB of states a step: 4 MB
    assert torch_chunked.chunk_len_for(1024, 1024, 16) == torch_chunked.MIN_CHUNK_LEN


@pytest.mark.parametrize("last", ["not returned", "returned, unused"])
@pytest.mark.parametrize("l", [5, 40])  # one chunk, and two
def test_torch_path_gradients_of_the_output_alone(last, l):
    # Without the last state's gradient the backward starts from no adjoint at all.
    inputs = make_inputs(2, 4, 3, l, 2, torch.float32, True, True, True)
    grads = {}
    for name, fn in (("ref", naive_selective_scan), ("torch", None)):
        x = {k: (v.detach().clone().requires_grad_() if v is not None else None)
             for k, v in inputs.items()}
        if fn is None:
            out = selective_scan(**x, delta_softplus=True, backend="torch",
                                 return_last_state=last != "not returned")
        else:
            out = fn(**x, delta_softplus=True)
        y = out[0] if isinstance(out, tuple) else out
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        grads[name] = {k: v.grad for k, v in x.items() if v is not None}
    for k, ref in grads["ref"].items():
        close(grads["torch"][k], ref, 2e-5, f"d{k}")


def test_calls_in_between_leave_a_pending_backward_intact():
    # Calls of one thread share a kept workspace; a backward must not depend on what it held.
    first = make_inputs(2, 4, 3, 40, None, torch.float32, True, True, True)
    other = make_inputs(3, 8, 3, 7, None, torch.float32, True, True, True)
    y_ref, last_ref, grads_ref = run(naive_selective_scan, first, True)
    x = {k: v.detach().clone().requires_grad_() for k, v in first.items()}
    y, last = selective_scan(**x, delta_softplus=True, return_last_state=True, backend="torch")
    for _ in range(2):  # another shape, then the same one, forward and backward
        for inputs in (other, first):
            run(selective_scan, inputs, True, backend="torch")
    w = torch.linspace(-1, 1, y.numel()).view_as(y)
    (torch.sum(y * w) + torch.sum(last * last)).backward()
    close(y.detach(), y_ref, 1e-5)
    close(last.detach(), last_ref, 1e-5)
    for name in GRAD_NAMES:
        close(x[name].grad, grads_ref[name], 2e-5, f"d{name}")


@pytest.mark.parametrize("groups", [None, 2])
def test_state_update_stepped_over_a_sequence_equals_the_scan(groups):
    b, d, n, l = 2, 4, 16, 33
    inputs = make_inputs(b, d, n, l, groups, torch.float32, True, True, True)
    x = {k: (v.detach() if v is not None else None) for k, v in inputs.items()}
    y_scan, last = selective_scan(**x, delta_softplus=True, return_last_state=True)
    state = torch.zeros(b, d, n)
    for t in range(l):
        B_t, C_t = x["B"][..., t], x["C"][..., t]
        if groups:  # per-channel B/C for a grouped scan: channel i reads group i // (d // g)
            B_t = B_t.repeat_interleave(d // groups, dim=1)
            C_t = C_t.repeat_interleave(d // groups, dim=1)
            state_t = state
            y_t = torch.stack([selective_state_update(
                state_t[:, i:i + 1], x["u"][:, i:i + 1, t], x["delta"][:, i:i + 1, t],
                x["A"][i:i + 1], B_t[:, i], C_t[:, i], x["D"][i:i + 1], x["z"][:, i:i + 1, t],
                x["delta_bias"][i:i + 1], True)[:, 0] for i in range(d)], dim=1)
        else:
            y_t = selective_state_update(state, x["u"][..., t], x["delta"][..., t], x["A"], B_t,
                                         C_t, x["D"], x["z"][..., t], x["delta_bias"], True)
        torch.testing.assert_close(y_t, y_scan[..., t], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state, last, rtol=1e-5, atol=1e-5)


def test_dispatch_picks_torch_on_cpu_and_rejects_unknown_backends():
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    with pytest.raises(ValueError, match="unknown selective-scan backend"):
        resolve_backend("cuda-magic", torch.device("cpu"))


def test_bad_shapes_raise_clear_errors():
    x = make_inputs(1, 4, 2, 5, None, torch.float32, False, False, False)
    with pytest.raises(ValueError, match="B must be"):
        selective_scan(x["u"], x["delta"], x["A"], x["B"][:, :1], x["C"])
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(x["u"], x["delta"], x["A"][:3], x["B"], x["C"])


def test_benchmark_checks_and_times_every_cpu_backend():
    from tsmamba.kernels.selective_scan import benchmark

    rows = list(benchmark.run([(1, 4, 2, 8)], [torch.float32], torch.device("cpu"), rounds=3))
    assert {r["backend"] for r in rows} == {"torch", "loop+autograd"}
    for r in rows:
        assert r["max_rel_err"] < 1e-5 and r["fwd_ms"] > 0 and r["rounds"] == 3
        assert 0 < r["fwd_bwd_ms_min"] <= r["fwd_bwd_ms"] <= r["fwd_bwd_ms_max"]


def test_the_sweep_covers_every_length_and_width_at_the_same_work_per_channel():
    from tsmamba.kernels.selective_scan import benchmark

    sizes = benchmark.sweep_sizes(4096)
    assert {l for *_, l in sizes} == set(benchmark.SWEEP_LENGTHS)
    assert {d for _, d, _, _ in sizes} == set(benchmark.SWEEP_WIDTHS)
    assert all(abs(b * l - 4096) < l for b, _, _, l in sizes)
