"""Mamba (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
Sec. 3.4 and Fig. 3): the selective (S6) block, and a forecaster built from it.

    x, z = in_proj(input)                              (b, l, d_inner) each
    x    = SiLU(causal depthwise conv(x))
    dt, B, C = x_proj(x)                               dt: (b, l, dt_rank) -> dt_proj -> (b, l, d_inner)
    y    = selective_scan(x, dt, A, B, C, D, z, dt_bias, softplus)   = SSM(x) * SiLU(z)
    out  = out_proj(y)

Initialisation as in the paper: dt log-uniform in [1e-3, 1e-1] (stored as the softplus inverse
in dt_bias), A = -(1, 2, ..., N) per channel (S4D-Real, stored as A_log), D = 1.

The block runs in two modes: `forward` scans a whole sequence (training); `step` takes one
token with a recurrent state, the last d_conv conv inputs and the SSM state (streaming), and
a test proves the two equal.

The bidirectional form (Vision Mamba, Zhu et al. 2024, Alg. 1) adds a second SSM with its own
conv and parameters that reads the sequence in reverse; both share the input projection and
the gate. TSM2 uses it for its channel mixer (and, optionally, its time mixer).

The forecaster (`Mamba`) is the patch backbone of `layers.py` with these blocks as mixers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat

from tsmamba.kernels import selective_scan, selective_state_update

from .causal_conv import causal_depthwise_conv
from .layers import PatchConfig, PatchForecaster


def init_dt_bias(size: int, dt_min: float, dt_max: float) -> torch.Tensor:
    """dt starts log-uniform in [dt_min, dt_max]; the bias stores its softplus inverse, so that
    softplus(0 + dt_bias) is that dt (Mamba, Sec. 3.6; Mamba-2 keeps it)."""
    dt = torch.exp(torch.rand(size) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    return dt + torch.log(-torch.expm1(-dt))


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
        self.dt_bias = nn.Parameter(init_dt_bias(d_inner, dt_min, dt_max))  # (d,)
        # S4D-Real initialisation: A = -(1, 2, ..., N) for every channel.
        A = repeat(torch.arange(1, d_state + 1, dtype=torch.float32), "n -> d n", d=d_inner)
        self.A_log = nn.Parameter(torch.log(A))  # (d, n)
        self.D = nn.Parameter(torch.ones(d_inner))

    def _dt_B_C(self, x: torch.Tensor):  # x: (..., d)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        return self.dt_proj(dt), B, C  # (..., d), (..., n), (..., n)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # x, z: (b, l, d)
        x = rearrange(x, "b l d -> b d l")
        x = F.silu(causal_depthwise_conv(x, self.conv.weight, self.conv.bias))  # (b, d, l)
        dt, B, C = self._dt_B_C(rearrange(x, "b d l -> b l d"))
        dt = rearrange(dt, "b l d -> b d l")  # (b, d, l)
        B = rearrange(B, "b l n -> b n l").contiguous()  # (b, n, l)
        C = rearrange(C, "b l n -> b n l").contiguous()  # (b, n, l)
        A = -torch.exp(self.A_log.float())  # (d, n)
        y = selective_scan(x, dt, A, B, C, self.D.float(), z=rearrange(z, "b l d -> b d l"),
                           delta_bias=self.dt_bias.float(), delta_softplus=True)  # (b, d, l)
        return rearrange(y, "b d l -> b l d")

    def init_state(self, batch: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Zeros: the conv's last inputs (b, d, d_conv) and the SSM state (b, d, n)."""
        d, k = self.conv.weight.shape[0], self.conv.weight.shape[-1]
        return (torch.zeros(batch, d, k, device=device),
                torch.zeros(batch, d, self.d_state, device=device))

    def step(self, x: torch.Tensor, z: torch.Tensor, state) -> torch.Tensor:  # x, z: (b, d)
        """One token; `state` (from `init_state`) is updated in place."""
        conv_window, ssm_state = state
        conv_window.copy_(torch.roll(conv_window, -1, dims=-1))
        conv_window[..., -1] = x
        weight = rearrange(self.conv.weight, "d 1 width -> d width")
        x = F.silu(torch.sum(conv_window * weight, dim=-1) + self.conv.bias)  # (b, d)
        dt, B, C = self._dt_B_C(x)  # (b, d), (b, n), (b, n)
        A = -torch.exp(self.A_log.float())  # (d, n)
        return selective_state_update(ssm_state, x, dt, A, B, C, self.D.float(), z=z,
                                      dt_bias=self.dt_bias.float(), dt_softplus=True)  # (b, d)


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

    def init_state(self, batch: int, device=None):
        return self.forward_ssm.init_state(batch, device)

    def step(self, x: torch.Tensor, state) -> torch.Tensor:  # x: (b, d_model)
        """One token of the causal (unidirectional) mixer; a reverse scan cannot stream."""
        if self.backward_ssm is not None:
            raise NotImplementedError("a bidirectional mixer reads the whole sequence; it has "
                                      "no step mode")
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (b, d_inner) each
        return self.out_proj(self.forward_ssm.step(x, z, state))  # (b, d_model)


@dataclass
class MambaConfig(PatchConfig):
    expand: int = 2
    d_conv: int = 4


class Mamba(PatchForecaster):
    """Mamba forecaster: causal selective blocks along each variate's patches."""

    def make_mixer(self) -> MambaMixer:
        c = self.config
        return MambaMixer(c.d_model, c.d_state, c.expand, c.d_conv)
