"""Sequential fp32 reference of the SSD (Mamba-2's state space dual, Dao & Gu 2024, Sec. 3-6).

This file is the specification: short, obvious and slow. The chunked path is tested against it.
Shapes follow mamba_ssm's `mamba_chunk_scan_combined`; head i reads B/C group i // (h // g).

    dt  = softplus(dt + dt_bias)                 (softplus only when dt_softplus)
    H_t = exp(dt_t * A) * H_{t-1} + dt_t * x_t B_t^T      H: (p, n) per head, H_0 = 0
    y_t = H_t C_t + D * x_t
    y   = y * silu(z)                            (when z is given)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def expand_heads(BC: torch.Tensor, h: int) -> torch.Tensor:
    """(b, l, g, n) -> (b, l, h, n): head i reads group i // (h // g)."""
    return BC.repeat_interleave(h // BC.shape[2], dim=2)


def prepare_dt(dt, dt_bias=None, dt_softplus=False) -> torch.Tensor:
    dt = dt.float()  # (b, l, h)
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    return F.softplus(dt) if dt_softplus else dt


def finish(y, x, D=None, z=None):
    """The skip connection and the gate, shared by every path. y, x, z: (b, l, h, p)."""
    if D is not None:
        D = D.float()
        y = y + (D[:, None] if D.dim() == 1 else D) * x.float()  # D: (h,) or (h, p)
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(x.dtype)


def naive_ssd(x, dt, A, B, C, chunk_size=None, D=None, z=None, dt_bias=None,
              dt_softplus=False, return_final_state=False):
    """x, z: (b, l, h, p); dt: (b, l, h); A: (h,); B, C: (b, l, g, n); D: (h,) or (h, p).

    `chunk_size` is accepted for a drop-in signature and has no effect here.
    """
    b, l, h, p = x.shape
    dt = prepare_dt(dt, dt_bias, dt_softplus)  # (b, l, h)
    B = expand_heads(B.float(), h)  # (b, l, h, n)
    C = expand_heads(C.float(), h)  # (b, l, h, n)
    xf = x.float()
    state = xf.new_zeros(b, h, p, B.shape[-1])  # (b, h, p, n)
    ys = []
    for t in range(l):
        decay = torch.exp(dt[:, t] * A.float())  # (b, h)
        update = (dt[:, t, :, None] * xf[:, t])[..., None] * B[:, t, :, None, :]  # (b, h, p, n)
        state = decay[..., None, None] * state + update
        ys.append(torch.einsum("bhpn,bhn->bhp", state, C[:, t]))  # (b, h, p)
    y = torch.stack(ys, dim=1) if ys else xf.new_zeros(b, 0, h, p)  # (b, l, h, p)
    y = finish(y, x, D, z)
    return (y, state) if return_final_state else y
