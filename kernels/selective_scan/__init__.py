"""The selective scan op (Mamba's S6) behind one dispatch.

`selective_scan` has mamba_ssm's `selective_scan_fn` semantics and shapes. The backend is chosen
here and nowhere else: "auto" runs the Triton kernels when the tensors are on CUDA and Triton
imports, otherwise the chunked PyTorch path; `backend=` forces one ("naive" is the sequential
reference, for tests and debugging).
"""

from __future__ import annotations

import functools

import torch

from .chunked import chunked_selective_scan
from .naive import naive_selective_scan, naive_selective_state_update

BACKENDS = ("auto", "triton", "torch", "naive")


@functools.cache
def _triton_available() -> bool:
    try:
        from . import triton_scan  # noqa: F401  (imports triton)
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend that `backend="auto"` picks for tensors on `device`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown selective-scan backend {backend!r}; choose one of {BACKENDS}")
    if backend != "auto":
        return backend
    return "triton" if device.type == "cuda" and _triton_available() else "torch"


def _check_shapes(u, delta, A, B, C, D, z, delta_bias):
    if u.dim() != 3:
        raise ValueError(f"u must be (b, d, l), got shape {tuple(u.shape)}")
    b, d, l = u.shape
    if delta.shape != u.shape or (z is not None and z.shape != u.shape):
        raise ValueError("delta and z must have u's shape (b, d, l)")
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"A must be (d, n) = ({d}, n), got {tuple(A.shape)}")
    n = A.shape[1]
    for name, BC in (("B", B), ("C", C)):
        if BC.dim() == 3 and BC.shape == (b, n, l):
            continue
        if BC.dim() == 4 and BC.shape[0] == b and BC.shape[2:] == (n, l) and d % BC.shape[1] == 0:
            continue
        raise ValueError(f"{name} must be (b, n, l) or (b, g, n, l) with d divisible by g; "
                         f"got {tuple(BC.shape)} for u {tuple(u.shape)} and n={n}")
    if B.dim() != C.dim() or (B.dim() == 4 and B.shape[1] != C.shape[1]):
        raise ValueError("B and C must both be ungrouped or have the same number of groups")
    for name, vec in (("D", D), ("delta_bias", delta_bias)):
        if vec is not None and vec.shape != (d,):
            raise ValueError(f"{name} must be (d,) = ({d},), got {tuple(vec.shape)}")


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, backend="auto"):
    """Selective scan y = S6(u); see `naive.py` for the exact recurrence.

    u, delta, z: (b, d, l); A: (d, n); B, C: (b, n, l) or (b, g, n, l); D, delta_bias: (d,).
    Returns y (b, d, l) in u's dtype, and the last state (b, d, n) in fp32 when asked.
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    chosen = resolve_backend(backend, u.device)
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    if chosen == "naive":
        return naive_selective_scan(*args)
    if chosen == "triton":
        from .triton_scan import triton_selective_scan

        return triton_selective_scan(*args)
    return chunked_selective_scan(*args)


def selective_state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None,
                           dt_softplus=False):
    """One recurrent step of the scan: state (b, d, n) is updated in place; returns y (b, d).

    x, dt, z: (b, d); B, C: (b, n). Stepping it over a sequence reproduces `selective_scan`.
    """
    return naive_selective_state_update(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)


__all__ = ["selective_scan", "selective_state_update", "naive_selective_scan",
           "chunked_selective_scan", "resolve_backend", "BACKENDS"]
