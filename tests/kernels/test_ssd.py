"""The SSD's chunked path against the sequential fp32 reference (`kernels/ssd/naive.py`)."""

import pytest
import torch

from tsmamba.kernels import ssd
from tsmamba.kernels.ssd import naive_ssd

# Same table as the selective scan: max |fast - ref| / max(max |ref|, 1), per input dtype.
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 2e-2}
CHUNK = 16

CASES = [
    # (b, l, h, p, g, n, D shape, with_z, with_bias, softplus)
    (2, 1, 3, 5, 1, 16, "h", True, True, True),
    (2, 15, 3, 5, 3, 1, None, False, False, False),
    (1, 16, 4, 3, 2, 16, "hp", True, True, True),
    (2, 17, 6, 5, 3, 8, "h", False, True, True),
    (1, 63, 2, 4, 1, 16, "h", True, True, True),
    (1, 200, 4, 8, 2, 16, "hp", True, False, True),
]


def case_id(c):
    b, l, h, p, g, n, D, z, bias, sp = c
    return (f"B{b}-L{l}-H{h}-P{p}-G{g}-N{n}{'-D' + D if D else ''}{'-z' if z else ''}"
            f"{'-bias' if bias else ''}{'-softplus' if sp else ''}")


def make_inputs(b, l, h, p, g, n, D_shape, with_z, with_bias, softplus, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, dt=dtype, positive=False):
        x = torch.randn(*shape, generator=gen) * scale
        return (x.abs() if positive else x).to(dt).requires_grad_()

    return dict(
        x=rnd(b, l, h, p), dt=rnd(b, l, h, scale=0.5, positive=not softplus),
        A=(-torch.rand(h, generator=gen) * 2 - 0.1).requires_grad_(),
        B=rnd(b, l, g, n), C=rnd(b, l, g, n),
        D=rnd(*((h,) if D_shape == "h" else (h, p)), dt=torch.float32) if D_shape else None,
        z=rnd(b, l, h, p) if with_z else None,
        dt_bias=rnd(h, scale=0.5, dt=torch.float32) if with_bias else None)


def run(inputs, softplus, backend):
    for t in inputs.values():
        if t is not None:
            t.grad = None
    y, state = ssd(**inputs, chunk_size=CHUNK, dt_softplus=softplus, return_final_state=True,
                   backend=backend)
    w = torch.linspace(-1, 1, y.numel()).view_as(y)  # weights every output differently
    (torch.sum(y.float() * w) + torch.sum(state * state)).backward()
    return y.detach(), state.detach(), {k: v.grad.clone() for k, v in inputs.items()
                                        if v is not None}


def close(fast, ref, tol, name):
    assert fast.dtype == ref.dtype and fast.shape == ref.shape, name
    assert torch.isfinite(fast).all(), f"{name}: non-finite elements"
    err = (fast.float() - ref.float()).abs().max() / ref.float().abs().max().clamp_min(1.0)
    assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_chunked_matches_naive(case, dtype):
    softplus = case[-1]
    inputs = make_inputs(*case, dtype)
    ref_inputs = {k: (v.detach().float().requires_grad_() if v is not None else None)
                  for k, v in inputs.items()}
    y, state, grads = run(inputs, softplus, "torch")
    y_ref, state_ref, grads_ref = run(ref_inputs, softplus, "naive")
    tol = TOLERANCE[dtype]
    close(y, y_ref.to(dtype), tol, "y")
    close(state, state_ref, tol, "final state")
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        close(grads[name], grads_ref[name].to(grads[name].dtype), tol, f"d{name}")


def test_chunk_size_does_not_change_the_result():
    inputs = make_inputs(*CASES[4], torch.float32)
    results = [ssd(**inputs, chunk_size=c, dt_softplus=True) for c in (1, 7, 64, 128)]
    for y in results[1:]:
        close(y.detach(), results[0].detach(), 1e-5, "y")


def test_bad_shapes_name_the_argument():
    inputs = make_inputs(*CASES[1], torch.float32)
    with pytest.raises(ValueError, match="dt must be"):
        ssd(**{**inputs, "dt": inputs["dt"][:, :-1]})
    with pytest.raises(ValueError, match="divisible by g"):
        ssd(**{**inputs, "B": inputs["B"][:, :, :2], "C": inputs["C"][:, :, :2]})
    with pytest.raises(ValueError, match="unknown ssd backend"):
        ssd(**inputs, backend="cuda")
