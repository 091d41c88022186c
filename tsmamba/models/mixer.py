"""A Mamba-style selective mixer (Gu & Dao 2023, Sec. 3.4, Fig. 3), optionally bidirectional.

    x, z = in_proj(input)
    x    = SiLU(causal depthwise conv(x))
    y    = selective_scan(x, dt(x), A, B(x), C(x), D) * SiLU(z)
    out  = out_proj(y)

The bidirectional form (Vision Mamba, Zhu et al. 2024, Alg. 1; MambaMixer's channel mixer)
adds a second SSM with its own conv and parameters that reads the sequence in reverse; both
share the input projection and the gate.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat

from tsmamba.kernels import selective_scan


class SelectiveSSM(nn.Module):
    """Conv, input-dependent (dt, B, C) and the selective scan, for one direction."""

    def __init__(self, d_inner: int, d_state: int = 16, d_conv: int = 4, dt_rank: int | None = None,
                 dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        self.d_state = d_state
        self.dt_rank = dt_rank or math.ceil(d_inner / 32)
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner, bias=False)
        # dt starts log-uniform in [dt_min, dt_max]; dt_bias stores its softplus inverse.
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min))  # (d,)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        # S4D-Real initialisation: A = -(1, 2, ..., N) for every channel.
        A = repeat(torch.arange(1, d_state + 1, dtype=torch.float32), "n -> d n", d=d_inner)
        self.A_log = nn.Parameter(torch.log(A))  # (d, n)
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # x, z: (b, l, d)
        l = x.shape[1]
        x = rearrange(x, "b l d -> b d l")
        x = F.silu(self.conv(x)[..., :l])  # (b, d, l), causal: the right padding is cut off
        dt, B, C = torch.split(self.x_proj(rearrange(x, "b d l -> b l d")),
                               [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = rearrange(self.dt_proj(dt), "b l d -> b d l")  # (b, d, l)
        B = rearrange(B, "b l n -> b n l").contiguous()  # (b, n, l)
        C = rearrange(C, "b l n -> b n l").contiguous()  # (b, n, l)
        A = -torch.exp(self.A_log.float())  # (d, n)
        y = selective_scan(x, dt, A, B, C, self.D.float(), z=rearrange(z, "b l d -> b d l"),
                           delta_bias=self.dt_bias.float(), delta_softplus=True)  # (b, d, l)
        return rearrange(y, "b d l -> b l d")


class MambaMixer(nn.Module):
    """Selective mixing along dim 1 of a (b, l, d_model) tensor."""

    def __init__(self, d_model: int, d_state: int = 16, expand: int = 2, d_conv: int = 4,
                 bidirectional: bool = False):
        super().__init__()
        d_inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.forward_ssm = SelectiveSSM(d_inner, d_state, d_conv)
        self.backward_ssm = SelectiveSSM(d_inner, d_state, d_conv) if bidirectional else None
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l, d_model)
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (b, l, d_inner) each
        y = self.forward_ssm(x, z)  # (b, l, d_inner)
        if self.backward_ssm is not None:
            # The gate is linear in y, so gating each direction equals gating their sum.
            y = y + self.backward_ssm(x.flip(1), z.flip(1)).flip(1)
        return self.out_proj(y)  # (b, l, d_model)
