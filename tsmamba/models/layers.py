"""Pieces every forecaster shares: instance normalisation, patching and the forecasting head."""

from __future__ import annotations

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
