"""neuralforecast's exogenous-variable calls, made on tsmamba: the AirPassengersPanel layout
(a future-known `trend`, a past-only `y_[lag12]`, a static `airline1`), fitted and forecast as
its documentation does. On neuralforecast's own data when it is installed beside the project
(never a dependency); on a synthetic frame of the same layout always."""

import warnings

import numpy as np
import pandas as pd
import pytest

from tsmamba import TSMambaForecaster


def _panel_like_air_passengers():
    rng = np.random.default_rng(0)
    ds = pd.date_range("1949-01-31", periods=144, freq="ME")
    frames = []
    for k, uid in enumerate(["Airline1", "Airline2"]):
        y = (100 + 2 * np.arange(144) + 30 * np.sin(2 * np.pi * np.arange(144) / 12)
             + 5 * rng.normal(size=144) + 300 * k)
        frames.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y,
                                    "trend": np.arange(144) + 144 * k,
                                    "y_[lag12]": np.concatenate([y[:12], y[:-12]])}))
    static = pd.DataFrame({"unique_id": ["Airline1", "Airline2"], "airline1": [0, 1],
                           "airline2": [1, 0]})
    return pd.concat(frames, ignore_index=True), static


def _the_calls(panel, static):
    last = panel["ds"].values[-12]
    train = panel[panel["ds"] < last].reset_index(drop=True)
    test = panel[panel["ds"] >= last].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the short budget below ends at the epoch limit
        model = TSMambaForecaster(horizon=12, lookback=24, futr_exog=["trend"],
                                  hist_exog=["y_[lag12]"], stat_exog=["airline1"],
                                  max_epochs=3, progress=False)
        model.fit(train, static_df=static)
    forecast = model.predict(futr_df=test.drop(columns="y"))
    assert list(forecast.columns) == ["unique_id", "ds", "S4"]
    joined = forecast.merge(test, on=["unique_id", "ds"])
    assert len(joined) == 24 and np.isfinite(joined["S4"]).all()
    assert model.covariates_ == ["trend"] and model.past_covariates_ == ["y_[lag12]"]
    assert model.static_covariates_ == ["airline1"]


def test_the_calls_on_a_frame_of_the_same_layout():
    _the_calls(*_panel_like_air_passengers())


def test_the_calls_on_neuralforecasts_own_air_passengers_panel():
    utils = pytest.importorskip("neuralforecast.utils",
                                reason="neuralforecast is not installed beside the project")
    _the_calls(utils.AirPassengersPanel, utils.AirPassengersStatic)
