"""Covariates known in the future, for any forecaster: the effect of each forecast step's
covariates is added to the forecaster's own forecast,

    forecast_t = backbone(targets' lookback)_t + c_t W + GELU(c_t U) V       t = 1 .. f

with c_t the k (scaled) covariates at step t, W (k, m), U (k, d), V (d, m), the effect
multiplied by EFFECT_GAIN. This is the
"projected into the head" design of TiDE (Das et al. 2023, "Long-term Forecasting with TiDE:
Time-series Dense Encoder", Sec. 4: a feature projection of the future covariates into the
decoder), reduced to one linear and one hidden layer per step. It leaves every model's own
network as it is, channel-independent or channel-mixing; W and V start at zero, so training
starts from the backbone's forecast.

Why the gain: Adam moves each weight by about the learning rate a step, so a zero-initialised
regression weight of size 1 takes about 1 / learning_rate steps to grow. Multiplied by 10, the
effect grows ten times as fast. On a synthetic panel whose series move with a random known
covariate (tests/test_covariates.py's), 8 epochs of 25 steps at the estimator's learning rate
took TSM2's held-out MSE from 3.12 without the covariate to 2.28 with it at gain 1, 0.45 at
10 and 0.42 at 30; S4's from 2.66 to 2.02, 0.36 and 0.32 (`benchmarks/covariate_gain.py`).

A window reaches it as one (b, l + f, m + k) tensor (`data.SlidingWindows`): rows [0, l) of
the first m channels are the targets' lookback, rows [l, l + f) there are zeros (unknown), and
the last k channels hold the covariates over all l + f rows. Each forecast step reads only
its own step's covariates, so a forecast cut at h steps needs only h of them.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


EFFECT_GAIN = 10.0


class FutureCovariates(nn.Module):
    def __init__(self, backbone: nn.Module, config):
        super().__init__()
        self.backbone = backbone
        self.lookback, self.n_series = config.lookback, config.n_series
        k, m, d = config.n_future_covariates, config.n_series, config.d_model
        self.linear = nn.Linear(k, m)  # W
        self.hidden = nn.Linear(k, d)  # U
        self.out = nn.Linear(d, m, bias=False)  # V
        for weight in (self.linear.weight, self.linear.bias, self.out.weight):
            nn.init.zeros_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l + f, m + k)
        l, m = self.lookback, self.n_series
        c = x[:, l:, m:]  # (b, f, k)
        effect = (self.linear(c) + self.out(F.gelu(self.hidden(c)))) * EFFECT_GAIN  # (b, f, m)
        return self.backbone(x[:, :l, :m]) + effect  # (b, f, m)
