"""Pieces every forecaster shares: instance normalisation, patching, residual blocks, the
forecasting head, and the patch backbone that S4, Mamba and Mamba-2 run their mixers in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange


class InstanceNorm(nn.Module):
    """Reversible instance normalisation (RevIN, Kim et al. 2022), per window and series.

    Each input window is standardised by its own mean and std over time, and forecasts are
    mapped back; this removes level shifts between training and test windows.
    """

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def normalise(self, x: torch.Tensor):  # x: (b, l, m)
        mean = x.mean(dim=1, keepdim=True)  # (b, 1, m)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)  # (b, 1, m)
        return (x - mean) / std, (mean, std)

    @staticmethod
    def denormalise(y: torch.Tensor, stats) -> torch.Tensor:  # y: (b, h, m)
        mean, std = stats
        return y * std + mean


class Patching(nn.Module):
    """Cut each series into overlapping patches (PatchTST, Nie et al. 2023, Sec. 3.1).

    The end is padded by repeating the last value `stride` times, as PatchTST does, so the most
    recent steps start a patch of their own.
    """

    def __init__(self, lookback: int, patch_len: int, stride: int):
        super().__init__()
        self.patch_len = min(patch_len, lookback)
        self.stride = stride
        self.n_patches = (lookback - self.patch_len) // stride + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, m, l)
        x = F.pad(x, (0, self.stride), mode="replicate")  # (b, m, l + stride)
        return x.unfold(-1, self.patch_len, self.stride)  # (b, m, p, patch_len)


class FlattenHead(nn.Module):
    """Per-series linear map from all patch embeddings to the horizon (PatchTST's head)."""

    def __init__(self, n_patches: int, d_model: int, horizon: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(n_patches * d_model, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, m, p, d)
        x = rearrange(x, "b m p d -> b m (p d)")
        return self.proj(self.dropout(x))  # (b, m, h)


class ResidualMixer(nn.Module):
    """in + Mixer(LayerNorm(in)), the mixer applied along dim 1 of (b, l, d): a pre-norm block."""

    def __init__(self, mixer: nn.Module, d_model: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = mixer
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.mixer(self.norm(x)))


@dataclass
class PatchConfig:
    """Settings every patch forecaster has; each model's config adds its own."""

    n_series: int  # m
    lookback: int  # l
    horizon: int  # h
    d_model: int = 64
    n_layers: int = 2
    patch_len: int = 16
    stride: int = 8
    dropout: float = 0.1


class PatchForecaster(nn.Module):
    """A sequence model turned forecaster, channel-independent as in PatchTST:

        input (b, l, m) --RevIN--> patches (b, m, p, patch_len) --linear + position--> (b m, p, d)
        n_layers x ResidualMixer(mixer along the p patches of each variate)
        LayerNorm, flatten (p d), linear to h, RevIN inverse -> (b, h, m)

    `make_mixer()` builds one (b, p, d) -> (b, p, d) sequence mixer per layer.
    """

    def __init__(self, config: PatchConfig, make_mixer: Callable[[], nn.Module]):
        super().__init__()
        self.config = c = config
        self.norm_in = InstanceNorm()
        self.patching = Patching(c.lookback, c.patch_len, c.stride)
        p = self.patching.n_patches
        self.embed = nn.Linear(self.patching.patch_len, c.d_model)
        self.position = nn.Parameter(torch.randn(p, c.d_model) * 0.02)  # (p, d)
        self.blocks = nn.ModuleList(ResidualMixer(make_mixer(), c.d_model, c.dropout)
                                    for _ in range(c.n_layers))
        self.norm_out = nn.LayerNorm(c.d_model)
        self.head = FlattenHead(p, c.d_model, c.horizon, c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l, m)
        b = x.shape[0]
        x, stats = self.norm_in.normalise(x)  # (b, l, m)
        patches = self.patching(rearrange(x, "b l m -> b m l"))  # (b, m, p, patch_len)
        tokens = rearrange(self.embed(patches) + self.position, "b m p d -> (b m) p d")
        for block in self.blocks:
            tokens = block(tokens)  # (b m, p, d)
        y = self.head(rearrange(self.norm_out(tokens), "(b m) p d -> b m p d", b=b))  # (b, m, h)
        return self.norm_in.denormalise(rearrange(y, "b m h -> b h m"), stats)  # (b, h, m)
