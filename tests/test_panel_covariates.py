"""Covariates of a global model over a panel: each series' own futr_exog and hist_exog
columns, its static features (`static_df`), and every error they can raise."""

import warnings

import numpy as np
import pandas as pd
import pytest

from tsmamba import TSMambaForecaster, TSMambaInputError
from tsmamba.models import ALIASES, CHANNEL_INDEPENDENT

SMALL = dict(horizon=8, lookback=32, d_model=16, d_state=4, n_layers=1, patch_len=8, stride=4,
             max_epochs=8, max_steps_per_epoch=25, progress=False, device="cpu")


def responsive_panel(n_series=20, seed=0):
    """Hourly series of their own starts and lengths that move with a random, known-ahead
    `price`, each by a `response` of +2 or -2 that only its static feature tells, plus a
    daily cycle and noise; the last 8 rows of every series are held out."""
    rng = np.random.default_rng(seed)
    frames, static = [], []
    for i in range(n_series):
        length = int(rng.integers(200, 320))
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=int(rng.integers(0, 100)))
        ds = pd.date_range(start, periods=length, freq="h")
        response = 2.0 if i % 2 else -2.0
        price = rng.normal(size=length)
        y = (response * price + np.sin(2 * np.pi * ds.hour.to_numpy() / 24)
             + 0.1 * rng.normal(size=length))
        frames.append(pd.DataFrame({"unique_id": f"s{i:02d}", "ds": ds, "y": y, "price": price}))
        static.append({"unique_id": f"s{i:02d}", "response": response, "other": float(i)})
    df = pd.concat(frames, ignore_index=True)
    last = df.groupby("unique_id").cumcount(ascending=False) < 8
    return df[~last], df[last], pd.DataFrame(static)


def _fit(train, static_df=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short budget: the epoch limit is expected
        return TSMambaForecaster(**{**SMALL, **params}).fit(train, static_df=static_df)


def _mse(est, test, futr=True):
    forecast = est.predict(futr_df=test.drop(columns="y") if futr else None)
    joined = forecast.merge(test, on=["unique_id", "ds"])
    assert len(joined) == len(test)
    return float(np.mean((joined[ALIASES[est.model]] - joined["y"]) ** 2))


@pytest.mark.parametrize("model", CHANNEL_INDEPENDENT)
def test_a_static_feature_lowers_the_error_of_every_global_model(model):
    train, test, static = responsive_panel()
    without = _mse(_fit(train, model=model, futr_exog=["price"]), test)
    with_static = _fit(train, static[["unique_id", "response"]], model=model,
                       futr_exog=["price"])
    assert with_static.static_covariates_ == ["response"]
    assert _mse(with_static, test) <= 0.5 * without, (without, _mse(with_static, test))


def test_a_panel_covariate_known_ahead_lowers_the_error():
    train, test, _ = responsive_panel()
    # Every series' response the same sign: the covariate alone tells the future.
    train, test = (frame.assign(y=frame["y"].where(frame["unique_id"].str[-1].astype(int) % 2
                                                 == 1, -frame["y"])) for frame in (train, test))
    without = _mse(_fit(train.drop(columns="price")), test.drop(columns="price"), futr=False)
    assert _mse(_fit(train, futr_exog=["price"]), test) <= 0.5 * without


def test_panel_covariates_survive_save_load_and_new_histories(tmp_path):
    train, test, static = responsive_panel(n_series=6)
    train = train.assign(lag=train.groupby("unique_id")["y"].shift(1).fillna(0.0))
    est = _fit(train, static, futr_exog=["price"], hist_exog=["lag"], calendar=True,
               stat_exog=["response"], max_epochs=1)
    assert est.covariates_ == ["price", "hour_sin", "hour_cos", "weekday_sin", "weekday_cos",
                              "month_sin", "month_cos"]
    assert est.past_covariates_ == ["lag"] and est.static_values_.shape == (6, 1)
    future = test.drop(columns="y")
    forecast = est.predict(futr_df=future)
    est.save(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(futr_df=future), forecast)
    shorter = train.groupby("unique_id").head(150)
    plan = est.make_future_frame(shorter)
    assert list(plan.columns) == ["unique_id", "ds", "price"] and plan["price"].isna().all()
    ends = shorter.groupby("unique_id")["ds"].max()
    assert (plan.groupby("unique_id")["ds"].min() == ends + pd.Timedelta(hours=1)).all()
    plan["price"] = 0.0
    assert len(est.predict(shorter, futr_df=plan)) == 6 * 8
    with pytest.raises(TSMambaInputError, match=r"the history lacks the hist_exog covariates "
                                                r"\['lag'\]"):
        est.predict(shorter.drop(columns="lag"), futr_df=plan)
    with pytest.raises(TSMambaInputError, match=r"lacks 1 of the 48 \(series, timestamp\) "
                                                r"pairs.*'s05'"):
        est.predict(futr_df=future.iloc[:-1])
    with pytest.raises(TSMambaInputError, match="pass their values at each series' timestamps"):
        est.predict()


def test_a_panel_forecast_reads_each_series_known_covariates_over_its_lookback():
    train, test, static = responsive_panel(n_series=4)
    est = _fit(train, static[["unique_id", "response"]], futr_exog=["price"], max_epochs=2)
    assert est.covariate_history_.shape == (32, 4, 1)  # (lookback, series, k)
    future = test.drop(columns="y")
    forecast = est.predict(futr_df=future)
    pd.testing.assert_frame_equal(est.predict(train, futr_df=future), forecast)
    # Each series' price moved to another level over its lookback and future alike: the
    # same moves, the same forecast.
    shift = train["unique_id"].map({"s00": 3.0, "s01": -1.0, "s02": 0.0, "s03": 2.0})
    rebased = train.assign(price=train["price"] + shift)
    moved = future.assign(price=future["price"] + future["unique_id"].map(
        {"s00": 3.0, "s01": -1.0, "s02": 0.0, "s03": 2.0}))
    pd.testing.assert_frame_equal(est.predict(rebased, futr_df=moved), forecast,
                                  atol=1e-4, rtol=1e-4)
    with pytest.raises(TSMambaInputError, match=r"the history lacks the futr_exog covariates "
                                                r"\['price'\].*beside y"):
        est.predict(train.drop(columns="price"), futr_df=future)


def test_static_df_errors_name_the_series_and_column(fast):
    train, _, static = responsive_panel(n_series=4)
    train = train.drop(columns="price")
    settings = {**SMALL, "max_epochs": 1}
    with pytest.raises(TSMambaInputError, match=r"static_df lacks 1 of the series.*'s03'"):
        _fit(train, static.iloc[:3], **settings)
    with pytest.raises(TSMambaInputError, match=r"static_df repeats the series \['s00'\]"):
        _fit(train, pd.concat([static, static.iloc[:1]]), **settings)
    with pytest.raises(TSMambaInputError, match="static_df has no 'unique_id' column"):
        _fit(train, static.drop(columns="unique_id"), **settings)
    with pytest.raises(TSMambaInputError, match=r"stat_exog names \['size'\], which static_df"):
        _fit(train, static, stat_exog=["size"], **settings)
    with pytest.raises(TSMambaInputError, match="column 'kind' is not numeric"):
        _fit(train, static.assign(kind="a"), **settings)
    with pytest.raises(TSMambaInputError, match=r"'response' has no finite value for series "
                                                r"'s01'"):
        _fit(train, static.assign(response=[1.0, np.nan, 1.0, 1.0]), **settings)
    with pytest.raises(TypeError, match="static_df must be a pandas DataFrame"):
        _fit(train, static.to_numpy(), **settings)


def test_static_features_need_a_long_frame_and_a_global_model(fast):
    train, _, static = responsive_panel(n_series=4)
    aligned = train.drop(columns="price").groupby("unique_id").head(150)
    aligned = aligned.assign(ds=pd.Timestamp("2024-01-01") + pd.to_timedelta(
        aligned.groupby("unique_id").cumcount(), unit="h"))
    with pytest.raises(TSMambaInputError, match=r"static_df was given, but model='tsm2' "
                                                r"forecasts the aligned series jointly"):
        _fit(aligned, static, model="tsm2")
    wide = pd.DataFrame({"a": np.arange(100.0)},
                        index=pd.date_range("2024-01-01", periods=100, freq="h"))
    with pytest.raises(TSMambaInputError, match="static_df has no 'unique_id' column and its "
                                                "index names none of the series"):
        _fit(wide, static.drop(columns="unique_id"))


def test_a_wide_frame_with_its_static_table_is_forecast_wide(tmp_path):
    # The wide form of the responsive panel (aligned): each series' response in a table
    # indexed by the series' column names.
    rng = np.random.default_rng(1)
    index = pd.date_range("2024-01-01", periods=300, freq="h")
    price = rng.normal(size=300)
    responses = {f"s{i}": 2.0 if i % 2 else -2.0 for i in range(6)}
    frame = pd.DataFrame({name: r * price + 0.1 * rng.normal(size=300)
                          for name, r in responses.items()}, index=index).assign(price=price)
    table = pd.DataFrame({"response": list(responses.values())}, index=list(responses))
    train, test = frame.iloc[:-8], frame.iloc[-8:]
    est = _fit(train, table, futr_exog=["price"])
    forecast = est.predict(futr_df=test[["price"]], level=80)
    assert list(forecast.columns[:3]) == ["s0", "s0-lo-80", "s0-hi-80"]
    assert (forecast.index == test.index).all() and est.static_covariates_ == ["response"]
    series = list(responses)
    error = float(np.mean((forecast[series].to_numpy() - test[series].to_numpy()) ** 2))
    assert error < 0.5 * float(np.mean(test[series].to_numpy() ** 2))  # the response learnt
    scale = est.scaler_.scale_  # score: the same forecast, on each series' training scale
    expected = np.mean(((forecast[series].to_numpy() - test[series].to_numpy()) / scale) ** 2)
    assert est.score(test) == pytest.approx(-expected, rel=1e-6)
    plan = est.make_future_frame()
    assert list(plan.columns) == ["price"] and (plan.index == test.index).all()
    est.save(tmp_path / "m")
    pd.testing.assert_frame_equal(TSMambaForecaster.load(tmp_path / "m").predict(
        train.iloc[:200], futr_df=frame.iloc[200:208][["price"]]),
        est.predict(train.iloc[:200], futr_df=frame.iloc[200:208][["price"]]))


def test_cross_validation_of_a_ragged_panel_with_covariates():
    train, _, static = responsive_panel(n_series=4)
    est = TSMambaForecaster(**{**SMALL, "max_epochs": 2}, futr_exog=["price"],
                            hist_exog=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folds = est.cross_validation(train, n_windows=2, step_size=4, static_df=static)
    assert len(folds) == 4 * 2 * 8 and np.isfinite(folds["S4"]).all()
    ends = train.groupby("unique_id")["ds"].max()
    last = folds.groupby("unique_id")["cutoff"].max()
    assert (last == ends - pd.Timedelta(hours=8)).all()  # each series' own last window


def test_cross_validation_with_static_features_keeps_each_series_covariates():
    train, _, static = responsive_panel(n_series=4)
    aligned = train.groupby("unique_id").head(150)
    aligned = aligned.assign(ds=pd.Timestamp("2024-01-01") + pd.to_timedelta(
        aligned.groupby("unique_id").cumcount(), unit="h"))
    est = TSMambaForecaster(**{**SMALL, "max_epochs": 1, "futr_exog": ["price"]})
    folds = est.cross_validation(aligned, n_windows=2, static_df=static, level=80)
    assert list(folds.columns) == ["unique_id", "ds", "cutoff", "y", "S4", "S4-lo-80",
                                   "S4-hi-80"]
    assert len(folds) == 2 * 4 * 8 and folds["y"].notna().all()
    truth = aligned.set_index(["unique_id", "ds"])["y"]
    np.testing.assert_array_equal(folds["y"], truth.loc[list(zip(folds["unique_id"],
                                                                 folds["ds"]))].to_numpy())
