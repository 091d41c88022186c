"""Mamba-2 (Dao & Gu 2024, "Transformers are SSMs", Sec. 7 and Fig. 6): the SSD block, and a
forecaster built from it.

Differences from Mamba's block: one input projection makes z, x, B, C and dt at once (the
"parallel" block); A is one scalar per head; the state is multi-head, (p, n) per head, like
multi-value attention; the output is normalised by a gated RMSNorm before the out projection.

    z, xBC, dt = in_proj(input)              z, x: (b, l, d_inner); B, C: (b, l, g*n); dt: (b, l, h)
    x, B, C    = split(SiLU(causal depthwise conv(xBC)))
    y          = ssd(x as (b, l, h, p), dt, A, B, C, D, dt_bias, softplus)
    out        = out_proj(RMSNorm(y * SiLU(z)))

Initialisation as in mamba_ssm: A uniform in [1, 16] per head (stored as A_log), dt
log-uniform in [1e-3, 1e-1] (stored as its softplus inverse, dt_bias), D = 1.

The forecaster (`Mamba2`) is the patch backbone of `layers.py` with these blocks as mixers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from tsmamba.kernels import ssd

from .causal_conv import causal_depthwise_conv
from .layers import PatchConfig, PatchForecaster
from .mamba import init_dt_bias


class GatedRMSNorm(nn.Module):
    """RMSNorm(y * SiLU(z)) with a learned scale: the gate first, as mamba_ssm's default."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # (b, l, d) each
        y = y * F.silu(z)
        return y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Mamba2Mixer(nn.Module):
    """SSD mixing along dim 1 of a (b, l, d_model) tensor."""

    def __init__(self, d_model: int, d_state: int = 64, expand: int = 2, head_dim: int = 16,
                 n_groups: int = 1, d_conv: int = 4, chunk_size: int = 64,
                 dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        d_inner = expand * d_model
        if d_inner % head_dim:
            raise ValueError(f"expand * d_model = {d_inner} must be divisible by head_dim "
                             f"{head_dim}")
        self.n_heads = d_inner // head_dim
        if self.n_heads % n_groups:
            raise ValueError(f"{self.n_heads} heads must be divisible by n_groups {n_groups}")
        self.d_inner, self.d_state, self.n_groups = d_inner, d_state, n_groups
        self.head_dim, self.chunk_size = head_dim, chunk_size
        d_xBC = d_inner + 2 * n_groups * d_state
        self.in_proj = nn.Linear(d_model, d_inner + d_xBC + self.n_heads, bias=False)
        self.conv = nn.Conv1d(d_xBC, d_xBC, d_conv, groups=d_xBC, padding=d_conv - 1)
        self.dt_bias = nn.Parameter(init_dt_bias(self.n_heads, dt_min, dt_max))  # (h,)
        self.A_log = nn.Parameter(torch.log(torch.empty(self.n_heads).uniform_(1, 16)))  # (h,)
        self.D = nn.Parameter(torch.ones(self.n_heads))  # (h,)
        self.norm = GatedRMSNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:  # u: (b, l, d_model)
        gn = self.n_groups * self.d_state
        z, xBC, dt = torch.split(self.in_proj(u), [self.d_inner, self.d_inner + 2 * gn,
                                                   self.n_heads], dim=-1)
        xBC = F.silu(causal_depthwise_conv(rearrange(xBC, "b l e -> b e l"), self.conv.weight,
                                           self.conv.bias))
        x, B, C = torch.split(rearrange(xBC, "b e l -> b l e"), [self.d_inner, gn, gn], dim=-1)
        y = ssd(rearrange(x, "b l (h p) -> b l h p", p=self.head_dim), dt,
                -torch.exp(self.A_log.float()),
                rearrange(B, "b l (g n) -> b l g n", g=self.n_groups),
                rearrange(C, "b l (g n) -> b l g n", g=self.n_groups),
                chunk_size=self.chunk_size, D=self.D.float(), dt_bias=self.dt_bias.float(),
                dt_softplus=True)  # (b, l, h, p)
        return self.out_proj(self.norm(rearrange(y, "b l h p -> b l (h p)"), z))


@dataclass
class Mamba2Config(PatchConfig):
    expand: int = 2
    head_dim: int = 16
    n_groups: int = 1
    d_conv: int = 4
    chunk_size: int = 64


class Mamba2(PatchForecaster):
    """Mamba-2 forecaster: SSD blocks along each variate's patches."""

    def make_mixer(self) -> Mamba2Mixer:
        c = self.config
        return Mamba2Mixer(c.d_model, c.d_state, c.expand, c.head_dim, c.n_groups, c.d_conv,
                           c.chunk_size)
