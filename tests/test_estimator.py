"""The scikit-learn contract and forecasting behaviour of TSMambaForecaster."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from tsmamba import TSMambaForecaster, TSMambaInputError


def test_init_only_stores_and_params_round_trip():
    est = TSMambaForecaster(horizon=7, lookback=30, d_model=8)
    assert est.get_params()["horizon"] == 7
    est.set_params(horizon=9)
    assert est.horizon == 9
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    # Invalid values are stored as given and reported by fit, as scikit-learn does.
    TSMambaForecaster(horizon=-1)


def test_predict_and_save_before_fit_raise_not_fitted(tmp_path):
    with pytest.raises(NotFittedError):
        TSMambaForecaster().predict()
    with pytest.raises(NotFittedError):
        TSMambaForecaster().save(tmp_path / "m")


def test_fit_returns_self_and_sets_fitted_attributes(hourly, fast):
    est = TSMambaForecaster(horizon=5, lookback=24, **fast)
    assert est.fit(hourly) is est
    for name in ("model_", "scaler_", "columns_", "freq_", "history_", "history_index_",
                 "n_epochs_", "best_epoch_", "training_log_"):
        assert hasattr(est, name), name
    assert est.columns_ == list(hourly.columns) and est.n_features_in_ == 3


def test_predict_is_horizon_rows_indexed_after_the_data_in_original_units(hourly, fast):
    est = TSMambaForecaster(horizon=5, lookback=24, **fast).fit(hourly)
    forecast = est.predict()
    assert forecast.shape == (5, 3) and list(forecast.columns) == list(hourly.columns)
    expected = pd.date_range(hourly.index[-1] + pd.Timedelta(hours=1), periods=5, freq="h")
    pd.testing.assert_index_equal(forecast.index, expected, check_names=False)
    assert np.isfinite(forecast.values).all()
    # Original units: the forecast sits near the data's level, not near 0 +- 1.
    assert np.all(np.abs(forecast.mean() - hourly.mean()) < 3 * hourly.std())


def test_predict_from_a_given_history_accepts_reordered_columns(hourly, fast):
    est = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(hourly.iloc[:150])
    recent = hourly.iloc[150:]
    forecast = est.predict(recent)
    assert forecast.index[0] == recent.index[-1] + pd.Timedelta(hours=1)
    shuffled = recent[list(reversed(recent.columns))]
    pd.testing.assert_frame_equal(est.predict(shuffled), forecast)


def test_predict_history_problems(hourly, fast):
    est = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(hourly)
    with pytest.raises(TSMambaInputError, match=r"has 10 rows but needs at least 24"):
        est.predict(hourly.iloc[-10:])
    with pytest.raises(TSMambaInputError, match=r"missing \['series_2'\]"):
        est.predict(hourly.drop(columns="series_2"))
    with pytest.raises(TSMambaInputError, match=r"not seen in fit \['extra'\]"):
        est.predict(hourly.assign(extra=1.0))


def test_same_random_state_gives_identical_forecasts(hourly, fast):
    a = TSMambaForecaster(horizon=4, lookback=24, random_state=3, **fast).fit(hourly).predict()
    b = TSMambaForecaster(horizon=4, lookback=24, random_state=3, **fast).fit(hourly).predict()
    c = TSMambaForecaster(horizon=4, lookback=24, random_state=4, **fast).fit(hourly).predict()
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.values, c.values)


@pytest.mark.parametrize("name, value, error", [
    ("horizon", 0, TSMambaInputError), ("horizon", -3, TSMambaInputError),
    ("horizon", 2.5, TypeError), ("lookback", "96", TypeError),
    ("model", "prophet", TSMambaInputError), ("val_size", 1.5, TSMambaInputError),
    ("loss", "mape", TSMambaInputError)])
def test_bad_parameters_are_reported_by_fit(hourly, name, value, error, fast):
    with pytest.raises(error, match=name if name != "model" else "available models"):
        TSMambaForecaster(**{**fast, name: value}).fit(hourly)


def test_the_chosen_loss_is_the_one_trained_on(hourly, fast):
    # One step from the same seed: the three losses are taken of the same errors e, before any
    # update, so huber(e) <= e**2 / 2, huber(e) < |e| and mean|e| <= sqrt(mean e**2).
    settings = {**fast, "max_epochs": 1, "max_steps_per_epoch": 1, "random_state": 5}
    first = {loss: TSMambaForecaster(horizon=4, lookback=24, loss=loss, **settings)
             .fit(hourly).training_log_[0]["train_loss"] for loss in ("mse", "mae", "huber")}
    assert first["huber"] <= first["mse"] / 2
    assert first["huber"] < first["mae"] <= first["mse"] ** 0.5


def test_too_few_rows_names_lookback_and_horizon(hourly, fast):
    with pytest.raises(TSMambaInputError, match=r"has 50 rows but needs at least 124 \(lookback 100 \+ horizon 24\)"):
        TSMambaForecaster(horizon=24, lookback=100, **fast).fit(hourly.iloc[:50])


def test_training_improves_on_the_untrained_model(hourly):
    # MSE, so that the training loss compares with the validation MSE.
    est = TSMambaForecaster(horizon=6, lookback=48, d_model=16, max_epochs=4, loss="mse",
                            max_steps_per_epoch=10, progress=False).fit(hourly)
    log = est.training_log_
    assert log[est.best_epoch_ - 1]["val_loss"] < log[0]["train_loss"]


def test_etth1_head_forecasts_24_hours_of_7_columns(etth1_head, fast):
    est = TSMambaForecaster(horizon=24, lookback=96, **fast).fit(etth1_head)
    forecast = est.predict()
    assert forecast.shape == (24, 7)
    last = pd.Timestamp(etth1_head["date"].iloc[-1])
    assert forecast.index[0] == last + pd.Timedelta(hours=1)
    assert (forecast.index[1:] - forecast.index[:-1] == pd.Timedelta(hours=1)).all()


def test_a_constant_column_gets_finite_forecasts_near_its_value(hourly, fast):
    df = hourly.assign(flat=7.25)
    forecast = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(df).predict()
    # The scaler maps a constant column to 0 (scale 1), so the forecast stays near the value.
    assert np.isfinite(forecast.to_numpy()).all()
    assert np.allclose(forecast["flat"], 7.25, atol=0.5)


def test_a_single_series_is_a_one_column_forecast(hourly, fast):
    forecast = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(hourly["series_0"]).predict()
    assert list(forecast.columns) == ["series_0"] and forecast.shape == (4, 1)


def test_time_zones_are_kept_or_made_utc_never_dropped(hourly, fast):
    est = TSMambaForecaster(horizon=4, lookback=24, **fast)
    berlin = hourly.tz_localize("Europe/Berlin")
    assert str(est.fit(berlin).predict().index.tz) == "Europe/Berlin"
    # Written out as text with offsets that change at a daylight-saving switch: kept as UTC.
    spring = hourly.set_axis(pd.date_range("2024-03-29", periods=len(hourly), freq="h",
                                           tz="Europe/Berlin"))
    text = spring.reset_index(names="time").assign(time=lambda d: d["time"].astype(str))
    with pytest.warns(UserWarning, match="mixes UTC offsets.*converted to UTC"):
        forecast = est.fit(text).predict()
    assert str(forecast.index.tz) == "UTC"
    assert forecast.index[0] == spring.index[-1] + pd.Timedelta(hours=1)


def test_a_column_nearly_constant_in_training_stays_finite(fast):
    """Found by the property test: a std of 1e-129 over the training rows would scale a later
    1.0 to 1e129, beyond float32."""
    values = np.zeros(40)
    values[0], values[-2] = 3.4e-129, 1.0
    df = pd.DataFrame({"a": np.zeros(40), "b": values},
                      index=pd.date_range("2024-01-01", periods=40, freq="h"))
    forecast = TSMambaForecaster(horizon=2, lookback=8, **fast).fit(df).predict()
    assert np.isfinite(forecast.to_numpy()).all()


def test_progress_outside_a_terminal_is_epoch_lines_on_stderr_only(hourly, fast, capsys):
    TSMambaForecaster(horizon=3, lookback=24, **{**fast, "progress": True}).fit(hourly)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [line.split()[:2] for line in captured.err.splitlines()] == [["epoch", "1/2"],
                                                                       ["epoch", "2/2"]]
    TSMambaForecaster(horizon=3, lookback=24, **fast).fit(hourly)  # progress=False: silence
    assert capsys.readouterr() == ("", "")
