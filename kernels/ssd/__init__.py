"""The SSD op (Mamba-2's state space dual) behind one dispatch.

`ssd` has the shapes of mamba_ssm's `mamba_chunk_scan_combined`. There is no Triton kernel yet,
so "auto" runs the chunked PyTorch algorithm on every device; "naive" is the sequential
reference, for tests and debugging.
"""

from __future__ import annotations

from .naive import naive_ssd
from .torch_chunked import chunked_ssd

BACKENDS = ("auto", "torch", "naive")


def resolve_backend(backend: str, device) -> str:
    """The backend that `backend="auto"` picks for tensors on `device`: the chunked PyTorch
    algorithm on every device, until a Triton one exists."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown ssd backend {backend!r}; choose one of {BACKENDS}")
    return "torch" if backend == "auto" else backend


def _check_shapes(x, dt, A, B, C, chunk_size, D, z, dt_bias):
    if x.dim() != 4:
        raise ValueError(f"x must be (b, l, h, p), got shape {tuple(x.shape)}")
    b, l, h, p = x.shape
    if dt.shape != (b, l, h):
        raise ValueError(f"dt must be (b, l, h) = {(b, l, h)}, got {tuple(dt.shape)}")
    if A.shape != (h,):
        raise ValueError(f"A must be (h,) = ({h},), got {tuple(A.shape)}")
    if B.dim() != 4 or B.shape[:2] != (b, l) or h % B.shape[2] != 0 or C.shape != B.shape:
        raise ValueError(f"B and C must both be (b, l, g, n) with h={h} divisible by g; got "
                         f"{tuple(B.shape)} and {tuple(C.shape)}")
    if D is not None and D.shape not in ((h,), (h, p)):
        raise ValueError(f"D must be (h,) or (h, p), got {tuple(D.shape)}")
    if z is not None and z.shape != x.shape:
        raise ValueError("z must have x's shape (b, l, h, p)")
    if dt_bias is not None and dt_bias.shape != (h,):
        raise ValueError(f"dt_bias must be (h,) = ({h},), got {tuple(dt_bias.shape)}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def ssd(x, dt, A, B, C, chunk_size=64, D=None, z=None, dt_bias=None, dt_softplus=False,
        return_final_state=False, backend="auto"):
    """Mamba-2's SSD y = SSD(x); see `naive.py` for the exact recurrence.

    x, z: (b, l, h, p); dt: (b, l, h); A: (h,); B, C: (b, l, g, n); D: (h,) or (h, p);
    dt_bias: (h,). Returns y (b, l, h, p) in x's dtype, and the final state (b, h, p, n) in
    fp32 when asked.
    """
    chosen = resolve_backend(backend, x.device)
    _check_shapes(x, dt, A, B, C, chunk_size, D, z, dt_bias)
    run = naive_ssd if chosen == "naive" else chunked_ssd
    return run(x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, return_final_state)


__all__ = ["ssd", "naive_ssd", "chunked_ssd", "resolve_backend", "BACKENDS"]
