"""Covariates, for any forecaster: the effects of the covariates known in the future and of
those observed only in the past are added to the forecaster's own forecast.

Known in the future: each forecast step's covariates add their effect at that step,

    forecast_t = backbone(targets' lookback)_t + c_t W + GELU(c_t U) V       t = 1 .. f

with c_t the k (scaled) covariates at step t less their mean over the lookback (static
features, constant, as they are), W (k, m), U (k, d), V (d, m), the effect multiplied by
EFFECT_GAIN. Why less the lookback mean: the backbone forecasts each target relative to its
lookback mean (RevIN), and a target that moves with a covariate has the covariate's lookback
level inside that mean already; what is left to add is the covariate's move since. A
covariate's raw level, read instead, had to extrapolate wherever it left the training range
(a trend), and on neuralforecast's AirPassengersPanel the held-out MAE of the tutorial's three
covariate lists went from 23.32 to 17.57 with the change (BENCHMARKS.md). This is the
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

Observed only in the past (`hist_exog`): the p covariates over the whole lookback, flattened
to one vector q of l p values, add an effect to every step and series at once,

    forecast += (q P + GELU(q Q) R)                         P (l p, f m), Q (l p, d), R (d, f m)

a dense encoder of the past covariates into the horizon, as TiDE's encoder reads them
(Sec. 4), with P and R zero at the start and the same gain. Each past covariate enters as its
moves from its own lookback mean, not as its values: the network forecasts the targets
relative to their lookback mean (RevIN), and a target that follows a covariate follows its
moves, so an effect read from levels would have to extrapolate wherever the levels leave the
training range (a trend, a series rebased). On neuralforecast's AirPassengersPanel, where the
past covariate is the target a year earlier, this took the held-out MAE with the static
feature from 24.96 to 16.78 (BENCHMARKS.md). Files saved before read the values of both kinds,
as they were trained to (`PatchConfig.relative_past_covariates`, `relative_future_covariates`).

A window reaches it as one (b, l + f, m + k + p) tensor (`data.SlidingWindows`): rows [0, l)
of the first m channels are the targets' lookback, rows [l, l + f) there are zeros (unknown);
the next k channels hold the future covariates over all l + f rows (the last s of them static
features) and the last p the past ones over the lookback rows (zeros after). Each forecast
step reads its own step's future covariates and their lookback mean, so a forecast cut at h
steps needs only h of them beyond the history.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange


EFFECT_GAIN = 10.0


def _zero_start(*weights) -> None:
    for weight in weights:
        nn.init.zeros_(weight)


class CovariateEffects(nn.Module):
    def __init__(self, backbone: nn.Module, config):
        super().__init__()
        self.backbone = backbone
        self.lookback, self.n_series = config.lookback, config.n_series
        k, p = config.n_future_covariates, config.n_past_covariates
        m, d, l, f = config.n_series, config.d_model, config.lookback, config.horizon
        self.n_future, self.n_past = k, p
        self.relative_past = config.relative_past_covariates
        # The known covariates read as moves from their lookback mean: all but the static ones.
        self.n_moving = (k - config.n_static_covariates) * config.relative_future_covariates
        if k:
            self.linear = nn.Linear(k, m)  # W
            self.hidden = nn.Linear(k, d)  # U
            self.out = nn.Linear(d, m, bias=False)  # V
            _zero_start(self.linear.weight, self.linear.bias, self.out.weight)
        if p:
            self.past_linear = nn.Linear(l * p, f * m)  # P
            self.past_hidden = nn.Linear(l * p, d)  # Q
            self.past_out = nn.Linear(d, f * m, bias=False)  # R
            _zero_start(self.past_linear.weight, self.past_linear.bias, self.past_out.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l + f, m + k + p)
        l, m, k = self.lookback, self.n_series, self.n_future
        forecast = self.backbone(x[:, :l, :m])  # (b, f, m)
        if k:
            c = x[:, l:, m:m + k]  # (b, f, k)
            if self.n_moving:  # the moves since their lookback level (docstring)
                moving = self.n_moving
                level = x[:, :l, m:m + moving].mean(dim=1, keepdim=True)  # (b, 1, moving)
                c = torch.cat([c[..., :moving] - level, c[..., moving:]], dim=-1)
            forecast = forecast + (self.linear(c) + self.out(F.gelu(self.hidden(c)))) * EFFECT_GAIN
        if self.n_past:
            past = x[:, :l, m + k:]  # (b, l, p)
            if self.relative_past:  # the moves since their lookback level (docstring)
                past = past - past.mean(dim=1, keepdim=True)
            q = rearrange(past, "b l p -> b (l p)")
            effect = self.past_linear(q) + self.past_out(F.gelu(self.past_hidden(q)))
            forecast = forecast + rearrange(effect, "b (f m) -> b f m", m=m) * EFFECT_GAIN
        return forecast
