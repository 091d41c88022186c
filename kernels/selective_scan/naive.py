"""Sequential fp32 reference of the selective scan (Mamba's S6, Gu & Dao 2023, Algorithm 2).

This file is the specification: short, obvious and slow. Every fast path is tested against it.

    dt  = softplus(delta + delta_bias)        (softplus only when delta_softplus)
    h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t        h_0 = 0
    y_t = <C_t, h_t> + D * u_t
    y   = y * silu(z)                          (when z is given)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def expand_groups(BC: torch.Tensor, d: int) -> torch.Tensor:
    """(b, n, l) or grouped (b, g, n, l) -> (b, d, n, l): channel i reads group i // (d // g)."""
    if BC.dim() == 3:
        return BC.unsqueeze(1).expand(-1, d, -1, -1)
    g = BC.shape[1]
    return BC.repeat_interleave(d // g, dim=1)


def naive_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                         delta_softplus=False, return_last_state=False):
    """u, delta, z: (b, d, l); A: (d, n); B, C: (b, n, l) or (b, g, n, l); D, delta_bias: (d,)."""
    dtype_in = u.dtype
    b, d, l = u.shape
    u, delta = u.float(), delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    B = expand_groups(B.float(), d)  # (b, d, n, l)
    C = expand_groups(C.float(), d)  # (b, d, n, l)
    h = u.new_zeros(b, d, A.shape[1])  # (b, d, n)
    ys = []
    for t in range(l):
        dA = torch.exp(delta[:, :, t, None] * A.float())  # (b, d, n)
        h = dA * h + delta[:, :, t, None] * B[..., t] * u[:, :, t, None]
        ys.append((h * C[..., t]).sum(-1))  # (b, d)
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(b, d, 0)  # (b, d, l)
    if D is not None:
        y = y + D.float()[:, None] * u
    if z is not None:
        y = y * F.silu(z.float())
    y = y.to(dtype_in)
    return (y, h) if return_last_state else y


def naive_selective_state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None,
                                 dt_softplus=False):
    """One recurrent step. state: (b, d, n), updated in place; x, dt, z: (b, d); B, C: (b, n)."""
    dt = dt.float()
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    if dt_softplus:
        dt = F.softplus(dt)
    dA = torch.exp(dt[..., None] * A.float())  # (b, d, n)
    new_state = dA * state.float() + dt[..., None] * B.float()[:, None, :] * x.float()[..., None]
    state.copy_(new_state)
    y = (new_state * C.float()[:, None, :]).sum(-1)  # (b, d)
    if D is not None:
        y = y + D.float() * x.float()
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(x.dtype)
