"""Pieces every forecaster shares: instance normalisation, patching, residual blocks, the
forecasting head, the stem and head around every model's mixers (`PatchModel`), and the
channel-independent backbone that S4, Mamba and Mamba-2 run their mixers in."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from .dropout import Dropout


# The instance normalisations a forecaster can wrap around its network (the estimator's `norm`).
NORMS = ("revin", "revin_affine", "last", "last_affine")


class InstanceNorm(nn.Module):
    """Reversible instance normalisation, per window and series: the network sees each input
    window shifted by a level and divided by its std over time, and forecasts are mapped back.
    This removes level shifts between training and test windows.

    - "revin": the level is the window's mean (RevIN, Kim et al. 2022, without its affine map).
    - "last": the level is the window's last value, as NLinear (Zeng et al. 2023) subtracts
      it; the scale is still the std.
    - "..._affine": then a learned scale and shift per series (RevIN's affine map), undone on
      the way out. The weights start at 1 and 0, drawn from no random generator, so a seed
      gives the other weights it always gave.

    "revin" is the estimator's default. "last_affine" lowered the mean validation MSE over six
    datasets by 2.6 %, but trained longer: the README's demo fit then ran into the epoch
    limit (BENCHMARKS.md, the estimator's defaults, round 13).
    """

    def __init__(self, kind: str = "revin", n_series: int = 1, eps: float = 1e-5):
        super().__init__()
        if kind not in NORMS:
            raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")
        self.kind, self.eps = kind, eps
        self.last_level, self.affine = kind.startswith("last"), kind.endswith("_affine")
        if self.affine:
            self.weight = nn.Parameter(torch.ones(n_series))  # (m,)
            self.bias = nn.Parameter(torch.zeros(n_series))  # (m,)

    def normalise(self, x: torch.Tensor):  # x: (b, l, m)
        level = (x[:, -1:, :] if self.last_level
                 else x.mean(dim=1, keepdim=True))  # (b, 1, m)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)  # (b, 1, m)
        x = (x - level) / std
        return (x * self.weight + self.bias if self.affine else x), (level, std)

    def denormalise(self, y: torch.Tensor, stats) -> torch.Tensor:  # y: (b, f, m)
        if self.affine:
            y = (y - self.bias) / (self.weight + self.eps ** 2)
        level, std = stats
        return y * std + level


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
        return x.unfold(-1, self.patch_len, self.stride)  # (b, m, k, w)


class FlattenHead(nn.Module):
    """Per-series linear map from all patch embeddings to the horizon (PatchTST's head)."""

    def __init__(self, n_patches: int, d_model: int, horizon: int, dropout: float):
        super().__init__()
        self.dropout = Dropout(dropout)
        self.proj = nn.Linear(n_patches * d_model, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, m, k, d)
        x = rearrange(x, "b m k d -> b m (k d)")
        return self.proj(self.dropout(x))  # (b, m, f)


class ResidualMixer(nn.Module):
    """in + Mixer(LayerNorm(in)), the mixer applied along dim 1 of (b, l, d): a pre-norm block."""

    def __init__(self, mixer: nn.Module, d_model: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = mixer
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.mixer(self.norm(x)))


@dataclass
class PatchConfig:
    """Settings every forecaster has; each model's config adds its own options, with defaults.

    These carry no defaults: the estimator is the one place that sets them (its parameters of
    the same names), so that a model's file never claims a value that does not run."""

    n_series: int  # m
    lookback: int  # l
    horizon: int  # f
    d_model: int  # d
    d_state: int  # n
    n_layers: int
    patch_len: int  # w
    stride: int
    dropout: float
    norm: str  # a key of NORMS: the instance normalisation around the network
    # k and p: covariates known in the future and observed only in the past, whose effects
    # `covariate_effects` adds (0: none). The defaults here: files saved before covariates
    # existed have none.
    n_future_covariates: int = 0
    n_past_covariates: int = 0
    # The last s of the k known covariates are static features, constant over a window.
    n_static_covariates: int = 0
    # The effects of the past covariates, and of the known ones that are not static, are of
    # their moves from their lookback means, not of their values (`covariate_effects`). The
    # estimator sets both True; files saved before read False and forecast as they did.
    relative_past_covariates: bool = False
    relative_future_covariates: bool = False


class PatchModel(nn.Module):
    """The stem and head every forecaster shares; a subclass adds its mixers in `build_mixers`.

        input (b, l, m) --norm--> patches (b, m, k, w) --linear + position--> tokens (b, m, k, d)
        ... the model's mixers ...
        LayerNorm, flatten (k d), linear to f, norm undone -> (b, f, m)

    "norm" is the instance normalisation the config names (`InstanceNorm`).

    `build_mixers` runs between the stem and the head, so that parameters are created (and
    drawn from the seeded generator) in the order of the data path: a seed gives the same
    initial weights as it always has, and saved models keep their tensor names.
    """

    def __init__(self, config: PatchConfig):
        super().__init__()
        self.config = c = config
        self.norm_in = InstanceNorm(c.norm, c.n_series)
        self.patching = Patching(c.lookback, c.patch_len, c.stride)
        k = self.patching.n_patches
        self.embed = nn.Linear(self.patching.patch_len, c.d_model)
        self.position = nn.Parameter(torch.randn(k, c.d_model) * 0.02)  # (k, d)
        self.build_mixers(c)
        self.norm_out = nn.LayerNorm(c.d_model)
        self.head = FlattenHead(k, c.d_model, c.horizon, c.dropout)

    def build_mixers(self, config) -> None:
        raise NotImplementedError

    def tokens(self, x: torch.Tensor):  # x: (b, l, m)
        """The patch tokens (b, m, k, d) of a window, and the statistics that undo its norm."""
        x, stats = self.norm_in.normalise(x)  # (b, l, m)
        patches = self.patching(rearrange(x, "b l m -> b m l"))  # (b, m, k, w)
        return self.embed(patches) + self.position, stats  # (b, m, k, d)

    def forecast(self, tokens: torch.Tensor, stats) -> torch.Tensor:  # tokens: (b, m, k, d)
        y = self.head(self.norm_out(tokens))  # (b, m, f)
        return self.norm_in.denormalise(rearrange(y, "b m f -> b f m"), stats)  # (b, f, m)


class PatchForecaster(PatchModel):
    """A sequence model turned forecaster, channel-independent as in PatchTST: n_layers
    ResidualMixers, each along the k patches of every variate on its own. `make_mixer()`
    builds one (b, k, d) -> (b, k, d) sequence mixer per layer."""

    def build_mixers(self, config) -> None:
        self.blocks = nn.ModuleList(ResidualMixer(self.make_mixer(), config.d_model,
                                                  config.dropout)
                                    for _ in range(config.n_layers))

    def make_mixer(self) -> nn.Module:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l, m)
        tokens, stats = self.tokens(x)  # (b, m, k, d)
        z = rearrange(tokens, "b m k d -> (b m) k d")
        for block in self.blocks:
            z = block(z)  # (b m, k, d)
        return self.forecast(rearrange(z, "(b m) k d -> b m k d", m=x.shape[2]), stats)
