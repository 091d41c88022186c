"""Training-time augmentation of windows.

Channel mixup (CMamba, Zeng et al. 2024, "CMamba: Channel Correlation Enhanced State Space
Models for Multivariate Time Series Forecasting", Sec. 3.3): every training window, input and
target alike, becomes itself plus a random multiple of another of its series,

    x'[:, c] = x[:, c] + w_c x[:, perm(c)],    w_c ~ N(0, sigma^2) per window and series,

with one random permutation of the series per batch. The mixed series follow the same
dynamics as a linear mix of the originals, so a network that mixes across series sees more
cross-series combinations than the data holds; one with a single series gains nothing (a
series mixed with itself is only rescaled).
"""

from __future__ import annotations

import torch

AUGMENTATIONS = ("channel_mixup",)


def channel_mixup(x: torch.Tensor, y: torch.Tensor, sigma: float,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x (b, l, m), y (b, f, m), mixed with weights drawn from `generator` (CPU, so that a run
    is reproducible and resumes from its checkpoint on any device). An x with covariates,
    (b, l + f, m + k), has only its first m channels mixed: covariates are not series."""
    b, _, m = y.shape
    perm = torch.randperm(m, generator=generator).to(x.device)  # (m,)
    weights = (torch.randn(b, 1, m, generator=generator) * sigma).to(x.device)  # (b, 1, m)
    series = x[:, :, :m]
    mixed = series + series[:, :, perm] * weights
    if x.shape[2] > m:
        mixed = torch.cat([mixed, x[:, :, m:]], dim=-1)
    return mixed, y + y[:, :, perm] * weights
