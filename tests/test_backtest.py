"""Backtests: scoring over every window, published tables, settings, and one small real run."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tsmamba.backtest import backtest, score, summarise, tunable
from tsmamba.errors import TSMambaInputError
from tsmamba.backtest.protocol import prepare
from tsmamba.backtest.published import published

TINY = {"d_model": 8, "d_state": 4, "n_layers": 1, "max_epochs": 1, "max_steps_per_epoch": 2}


class RepeatLast(torch.nn.Module):
    """Forecasts the window's last value: errors easy to compute by hand."""

    def __init__(self, horizon):
        super().__init__()
        self.horizon = horizon

    def forward(self, x):  # (b, l, m) -> (b, h, m)
        return x[:, -1:, :].expand(-1, self.horizon, -1)


def test_score_averages_every_window_step_and_column():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(400, 3)).cumsum(axis=0)
    data = prepare(values, "ratio", lookback=10, horizon=7)
    mse, mae, n = score(RepeatLast(7), data, "test")
    scaled = data.scaled.numpy().astype(np.float64)
    start, stop = data.split.test
    errors = [scaled[i + 10:i + 17] - scaled[i + 9] for i in range(start, stop - 16)]
    assert n == len(errors) == 80 + 10 - 10 - 7 + 1
    np.testing.assert_allclose(mse, np.mean(np.square(errors)), rtol=1e-6)
    np.testing.assert_allclose(mae, np.mean(np.abs(errors)), rtol=1e-6)


def test_published_averages_are_the_ones_to_beat():
    table = published(96)
    itransformer = table[(table["model"] == "iTransformer")]
    averages = itransformer.groupby("dataset")["mse"].mean().round(3)
    assert averages.to_dict() == {"ETTh1": 0.454, "ETTh2": 0.383, "ETTm1": 0.407,
                                  "ETTm2": 0.288, "Weather": 0.258}
    cmamba = table[table["model"] == "CMamba"].set_index("dataset")["mse"]
    assert cmamba.to_dict() == {"ETTh1": 0.433, "ETTh2": 0.368, "ETTm1": 0.376,
                                "ETTm2": 0.273, "Weather": 0.237}
    assert set(published(512)["model"]) == {"TSM2"}
    assert published(336).empty


def test_summary_adds_the_average_only_over_all_four_horizons():
    runs = pd.DataFrame([
        {"dataset": "ETTh1", "model": "tsm2", "lookback": 96, "horizon": h, "seed": s,
         "mse": 0.4 + s / 100, "mae": 0.4, "windows": 10, "epochs": 3, "wall_s": 1.0,
         "peak_mem_mb": 5.0, "device": "cpu"}
        for h in (96, 192, 336, 720) for s in (0, 1)])
    table = summarise(runs).set_index("horizon")
    assert table.loc["96", "mse"] == pytest.approx(0.405)  # the mean over seeds
    assert table.loc["avg", "mse"] == pytest.approx(0.405)
    assert table.loc["avg", "iTransformer mse"] == pytest.approx(0.45425)
    assert table.loc["avg", "CMamba mse"] == pytest.approx(0.433)
    assert np.isnan(table.loc["96", "CMamba mse"])  # CMamba published averages only
    partial = summarise(runs[runs["horizon"] != 720])
    assert "avg" not in set(partial["horizon"])


def test_bad_arguments_name_the_problem():
    with pytest.raises(TSMambaInputError, match="cannot set \\['horizon'\\]"):
        backtest("ETTh1", params={"horizon": 5})
    with pytest.raises(TSMambaInputError, match="unknown dataset 'ETTh9'"):
        backtest("ETTh9")
    with pytest.raises(TSMambaInputError, match="split must be"):
        backtest("ETTh1", split="train")
    with pytest.raises(TSMambaInputError, match="non-negative"):
        backtest("ETTh1", seeds=[-1])
    assert "learning_rate" in tunable() and "random_state" not in tunable()


def test_small_etth1_backtest_reports_every_test_window(tmp_path):
    rows = []
    plot = tmp_path / "windows.png"
    result = backtest("ETTh1", "tsm2", lookback=96, horizons=96, seeds=0, params=TINY,
                      device="cpu", plot=str(plot), on_result=rows.append)
    row = result.iloc[0]
    assert row["windows"] == 2785 and row["train_windows"] == 8449
    assert np.isfinite(row["mse"]) and np.isfinite(row["mae"]) and row["epochs"] == 1
    assert row["settings"]["d_model"] == 8 and row["settings"]["batch_size"] == 32
    assert row["config"]["n_series"] == 7
    assert rows and json.loads(json.dumps(rows[0]))["mse"] == row["mse"]
    assert plot.stat().st_size > 10_000
