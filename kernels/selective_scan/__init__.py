"""The selective scan op (Mamba's S6) behind one dispatch.

`selective_scan` has mamba_ssm's `selective_scan_fn` semantics and shapes. The backend is chosen
here and nowhere else: "auto" runs the Triton kernels when the tensors are on CUDA and Triton
imports, otherwise the chunked PyTorch path; `backend=` forces one ("naive" is the sequential
reference, for tests and debugging).
"""

from __future__ import annotations

import functools

import torch

from .naive import naive_selective_scan, naive_selective_state_update
from .torch_chunked import chunked_selective_scan

BACKENDS = ("auto", "triton", "torch", "naive")


@functools.cache
def _triton_selective_scan():
    """The Triton path's entry point, or None where Triton does not import. Cached: at short
    lengths the op is bound by the CPU that issues it, and even a resolved import costs."""
    try:
        from .triton_op import triton_selective_scan
    except ImportError:
        return None
    return triton_selective_scan


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend that `backend="auto"` picks for tensors on `device`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown selective-scan backend {backend!r}; choose one of {BACKENDS}")
    if backend != "auto":
        return backend
    return "triton" if device.type == "cuda" and _triton_selective_scan() else "torch"


def _shape(x):
    return None if x is None else x.shape


@functools.lru_cache(maxsize=256)
def _check_shapes(u, delta, A, B, C, D, z, delta_bias):
    """Raise a ValueError unless the shapes (torch.Size, or None for an absent input) fit
    together. Cached per combination, which passes the check without repeating it."""
    if len(u) != 3:
        raise ValueError(f"u must be (b, d, l), got shape {tuple(u)}")
    b, d, l = u
    if delta != u or (z is not None and z != u):
        raise ValueError("delta and z must have u's shape (b, d, l)")
    if len(A) != 2 or A[0] != d:
        raise ValueError(f"A must be (d, n) = ({d}, n), got {tuple(A)}")
    n = A[1]
    for name, BC in (("B", B), ("C", C)):
        if BC == (b, n, l):
            continue
        if len(BC) == 4 and BC[0] == b and BC[2:] == (n, l) and d % BC[1] == 0:
            continue
        raise ValueError(f"{name} must be (b, n, l) or (b, g, n, l) with d divisible by g; "
                         f"got {tuple(BC)} for u {tuple(u)} and n={n}")
    if len(B) != len(C) or (len(B) == 4 and B[1] != C[1]):
        raise ValueError("B and C must both be ungrouped or have the same number of groups")
    for name, vec in (("D", D), ("delta_bias", delta_bias)):
        if vec is not None and vec != (d,):
            raise ValueError(f"{name} must be (d,) = ({d},), got {tuple(vec)}")


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, backend="auto"):
    """Selective scan y = S6(u); see `naive.py` for the exact recurrence.

    u, delta, z: (b, d, l); A: (d, n); B, C: (b, n, l) or (b, g, n, l); D, delta_bias: (d,).
    Returns y (b, d, l) in u's dtype, and the last state (b, d, n) in fp32 when asked.
    """
    _check_shapes(u.shape, delta.shape, A.shape, B.shape, C.shape, _shape(D), _shape(z),
                  _shape(delta_bias))
    chosen = resolve_backend(backend, u.device)
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    if chosen == "naive":
        return naive_selective_scan(*args)
    if chosen == "triton":
        triton_selective_scan = _triton_selective_scan()
        if triton_selective_scan is None:
            raise ImportError("backend='triton' needs the triton package, which does not import "
                              "here; install it or use backend='torch'")
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
