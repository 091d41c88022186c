"""TSM2, the Time Series MambaMixer (Behrouz et al. 2024, "MambaMixer", arXiv 2403.19888, Sec. 4).

Glossary: m variates, p patches per variate, d model width, h horizon.

    input (b, l, m) --RevIN--> patches (b, m, p, patch_len) --linear--> X (b, m, p, d)
    for block k = 1..K:
        time mixer:    along p, per variate; selective, causal (Mamba-style), or with
                       bidirectional_time=True also a reversed scan (Vision-Mamba-style)
        channel mixer: along m, per patch; selective, bidirectional (forward + flipped scan)
    head: LayerNorm, flatten (p d), linear to h, RevIN inverse  -> (b, h, m)

Weighted averaging of earlier outputs (paper Eq. 9-10): with Yt_0 = Yc_0 = X,

    time input of block k    = sum_{i<k}  alpha_{k,i} Yt_i + sum_{i<k} beta_{k,i}  Yc_i
    channel input of block k = sum_{i<=k} theta_{k,i} Yt_i + sum_{i<k} gamma_{k,i} Yc_i

The scalars start as plain sequential stacking (beta_{k,k-1} = theta_{k,k} = 1, all else 0).
Each mixer is applied pre-norm with a residual, out = in + Mixer(LayerNorm(in)), the form of
a Mamba block; the paper leaves this detail open and the residual keeps deep stacks trainable
from that initialisation.

The paper describes the time mixer both as causal and as bidirectional. Measured on
validation windows (BENCHMARKS.md, "TSM2's time mixer"), the causal one was better on ETTh1
(MSE 0.246 against 0.263), within 3 % on the demo data, and cheaper to train: it is the
default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from einops import rearrange

from .layers import FlattenHead, InstanceNorm, Patching, ResidualMixer
from .mamba import MambaMixer


@dataclass
class TSM2Config:
    n_series: int  # m
    lookback: int  # l
    horizon: int  # h
    d_model: int = 64
    d_state: int = 16
    n_layers: int = 2
    patch_len: int = 16
    stride: int = 8
    expand: int = 2
    d_conv: int = 4
    dropout: float = 0.1
    bidirectional_time: bool = False  # also scan each variate's patches in reverse (Vision Mamba)


class TSM2(nn.Module):
    def __init__(self, config: TSM2Config):
        super().__init__()
        self.config = c = config
        self.norm_in = InstanceNorm()
        self.patching = Patching(c.lookback, c.patch_len, c.stride)
        p = self.patching.n_patches
        self.embed = nn.Linear(self.patching.patch_len, c.d_model)
        self.position = nn.Parameter(torch.randn(p, c.d_model) * 0.02)  # (p, d)
        self.time_mixers = nn.ModuleList(
            ResidualMixer(MambaMixer(c.d_model, c.d_state, c.expand, c.d_conv,
                                     bidirectional=c.bidirectional_time), c.d_model, c.dropout)
            for _ in range(c.n_layers))
        self.channel_mixers = nn.ModuleList(
            ResidualMixer(MambaMixer(c.d_model, c.d_state, c.expand, c.d_conv, bidirectional=True),
                          c.d_model, c.dropout) for _ in range(c.n_layers))
        # Block k (1-based) averages 2k earlier outputs for its time mixer (alpha | beta) and
        # 2k + 1 for its channel mixer (theta | gamma); see the module docstring.
        self.time_weights = nn.ParameterList()
        self.channel_weights = nn.ParameterList()
        for k in range(1, c.n_layers + 1):
            alpha_beta = torch.zeros(2 * k)
            alpha_beta[2 * k - 1] = 1.0  # beta_{k,k-1}: the previous channel mixer's output
            theta_gamma = torch.zeros(2 * k + 1)
            theta_gamma[k] = 1.0  # theta_{k,k}: this block's time mixer output
            self.time_weights.append(nn.Parameter(alpha_beta))
            self.channel_weights.append(nn.Parameter(theta_gamma))
        self.norm_out = nn.LayerNorm(c.d_model)
        self.head = FlattenHead(p, c.d_model, c.horizon, c.dropout)

    @staticmethod
    def _average(weights: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.einsum("k,k...->...", weights, torch.stack(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l, m)
        b, _, m = x.shape
        x, stats = self.norm_in.normalise(x)  # (b, l, m)
        patches = self.patching(rearrange(x, "b l m -> b m l"))  # (b, m, p, patch_len)
        X = self.embed(patches) + self.position  # (b, m, p, d)
        p = X.shape[2]
        time_out, channel_out = [X], [X]
        for k in range(1, self.config.n_layers + 1):
            t_in = self._average(self.time_weights[k - 1], time_out + channel_out)  # (b, m, p, d)
            t = self.time_mixers[k - 1](rearrange(t_in, "b m p d -> (b m) p d"))
            time_out.append(rearrange(t, "(b m) p d -> b m p d", b=b))
            c_in = self._average(self.channel_weights[k - 1], time_out + channel_out)
            c = self.channel_mixers[k - 1](rearrange(c_in, "b m p d -> (b p) m d"))
            channel_out.append(rearrange(c, "(b p) m d -> b m p d", p=p))
        y = self.head(self.norm_out(channel_out[-1]))  # (b, m, h)
        return self.norm_in.denormalise(rearrange(y, "b m h -> b h m"), stats)  # (b, h, m)
