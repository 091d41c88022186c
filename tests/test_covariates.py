"""Covariates known in the future (futr_exog, calendar=True): that every model uses them, the
frames they come in, model files, and every error they can raise."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from tsmamba import TSMambaForecaster
from tsmamba.augmentation import channel_mixup
from tsmamba.covariates import calendar_columns, calendar_features
from tsmamba.errors import TSMambaInputError
from tsmamba.models import ALIASES, model_names


def _panel(n=600, seed=0):
    """Two hourly series that move with a known-in-advance `price` (random, so that nothing
    but the covariate tells its effect), plus a daily cycle and a little noise."""
    rng = np.random.default_rng(seed)
    price = rng.normal(size=n)
    cycle = np.sin(np.arange(n) * 2 * np.pi / 24)
    noise = 0.1 * rng.normal(size=(n, 2))
    return pd.DataFrame({"a": cycle + 2.0 * price + noise[:, 0],
                         "b": 0.5 * cycle - 1.5 * price + noise[:, 1], "price": price},
                        index=pd.date_range("2024-01-01", periods=n, freq="h"))


SMALL = dict(horizon=8, lookback=32, d_model=16, d_state=4, n_layers=1, patch_len=8, stride=4,
             max_epochs=8, max_steps_per_epoch=25, progress=False, device="cpu")


def _fit(frame, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short budget: the epoch limit is expected
        return TSMambaForecaster(**{**SMALL, **params}).fit(frame)


@pytest.mark.parametrize("model", model_names())
def test_a_known_covariate_lowers_the_error_of_every_model(model):
    frame = _panel()
    train_rows = len(frame) - 48
    errors = {}
    for futr_exog in (None, ["price"]):
        columns = ["a", "b", "price"] if futr_exog else ["a", "b"]
        est = _fit(frame.iloc[:train_rows][columns], model=model, futr_exog=futr_exog)
        squared = []
        for origin in range(train_rows, len(frame), 8):  # six held-out windows
            history = frame.iloc[origin - 32:origin][columns]
            future = frame.iloc[origin:origin + 8]
            forecast = est.predict(history, futr_df=future if futr_exog else None)
            squared.append((forecast.to_numpy() - future[["a", "b"]].to_numpy()) ** 2)
        errors[bool(futr_exog)] = float(np.mean(squared))
    assert errors[True] <= 0.5 * errors[False], errors


def test_cross_validation_gives_each_window_its_covariates():
    folds = _fit(_panel(), futr_exog=["price"], max_epochs=1).cross_validation(
        _panel(), n_windows=2)
    assert sorted(folds["unique_id"].unique()) == ["a", "b"] and len(folds) == 2 * 2 * 8


def test_covariate_columns_are_inputs_not_series(fast):
    est = _fit(_panel(), futr_exog=["price"])
    assert est.columns_ == ["a", "b"] and est.covariates_ == ["price"]
    future = est.make_future_frame()
    assert list(future.columns) == ["price"] and future.isna().all().all()
    assert future.index[0] == est.history_index_[-1] + est.freq_ and len(future) == 8
    future["price"] = 1.0
    forecast = est.predict(futr_df=future)
    assert list(forecast.columns) == ["a", "b"] and (forecast.index == future.index).all()
    # A forecast cut at h steps needs only those steps' covariates.
    assert est.predict(h=3, futr_df=future.iloc[:3]).equals(forecast.iloc[:3])
    assert len(est.make_future_frame(h=3)) == 3


def test_the_covariates_change_the_forecast_as_learned():
    est = _fit(_panel(), futr_exog=["price"], max_epochs=15)
    future = est.make_future_frame()
    low, high = future.assign(price=-1.0), future.assign(price=1.0)
    gap = est.predict(futr_df=high) - est.predict(futr_df=low)
    # a moves with +2 price, b with -1.5 price: the signs at least must come out.
    assert (gap["a"] > 0).all() and (gap["b"] < 0).all()


def test_covariates_act_by_their_moves_from_their_lookback_level():
    # RevIN takes the targets' lookback mean as their level, and with it the covariates' part
    # of that level: a covariate's effect is of its moves from its own lookback mean, so the
    # same moves from another level (a price rebased, a trend further on) give the same
    # forecast. Static features are levels, and stay so (test_panel_covariates.py).
    frame = _panel(n=300).assign(lead=lambda f: np.roll(f["price"].to_numpy(), 3))
    est = _fit(frame.iloc[:-8], futr_exog=["price"], hist_exog=["lead"], max_epochs=2)
    history, future = frame.iloc[-40:-8], frame.iloc[-8:][["price"]]
    forecast = est.predict(history, futr_df=future)
    rebased = history.assign(price=history["price"] + 3.0, lead=history["lead"] - 2.0)
    pd.testing.assert_frame_equal(est.predict(rebased, futr_df=future + 3.0), forecast,
                                  atol=1e-4, rtol=1e-4)
    moved = est.predict(history, futr_df=future + 3.0)  # the future alone moves: an effect
    assert (moved - forecast).abs().to_numpy().max() > 1e-2
    moved = est.predict(history.assign(lead=history["lead"] * 2.0), futr_df=future)
    assert (moved - forecast).abs().to_numpy().max() > 1e-2


def test_predict_reads_the_known_covariates_over_the_lookback(with_price):
    est = with_price
    history = _panel(n=100)[["a", "b", "price"]]
    future = est.make_future_frame(history).assign(price=0.5)
    with pytest.raises(TSMambaInputError, match=r"the history lacks the futr_exog covariates "
                                                r"\['price'\].*beside the series"):
        est.predict(history[["a", "b"]], futr_df=future)
    # What fit saw last is kept: from the end of the training data nothing more is needed.
    assert est.covariate_history_.shape == (32, 1)
    assert np.isfinite(est.predict(futr_df=est.make_future_frame().assign(price=0.5))
                       .to_numpy()).all()
    plan = est.make_future_frame(history[["a", "b"]])  # the plan needs only the timestamps
    assert (plan.index == future.index).all()


def test_a_model_with_covariates_survives_save_and_load(tmp_path):
    est = _fit(_panel(), futr_exog=["price"], calendar=True, max_epochs=2)
    future = est.make_future_frame().assign(price=0.5)
    est.save(tmp_path / "model")
    loaded = TSMambaForecaster.load(tmp_path / "model")
    assert loaded.covariates_ == est.covariates_
    pd.testing.assert_frame_equal(loaded.predict(futr_df=future), est.predict(futr_df=future))


def test_score_reads_the_covariates_from_the_test_rows():
    frame = _panel()
    est = _fit(frame.iloc[:-8], futr_exog=["price"], max_epochs=2)
    assert np.isfinite(est.score(frame.iloc[-8:]))


@pytest.mark.parametrize("freq, expected", [
    ("h", ["hour", "weekday", "month"]), ("15min", ["hour", "weekday", "month"]),
    ("D", ["weekday", "month"]), ("W", ["month"]), ("MS", ["month"]), ("YS", [])])
def test_calendar_features_follow_the_frequency(freq, expected):
    from tsmamba.data import as_offset

    columns = calendar_columns(as_offset(freq))
    assert columns == [f"{name}_{part}" for name in expected for part in ("sin", "cos")]


def test_calendar_features_put_each_time_on_its_cycle():
    index = pd.DatetimeIndex(["2024-01-01 06:00", "2024-01-03 18:00"])  # a Monday, a Wednesday
    values = calendar_features(index, ["hour_sin", "hour_cos", "weekday_sin"])
    np.testing.assert_allclose(values[:, 0], [1.0, -1.0], atol=1e-12)  # 6 h and 18 h
    np.testing.assert_allclose(values[:, 1], [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(values[0, 2], np.sin(2 * np.pi * 0.25 / 7))


def test_calendar_covariates_need_no_future_frame(hourly):
    est = _fit(hourly, calendar=True, max_epochs=2)
    assert est.covariates_[0] == "hour_sin" and len(est.predict()) == 8


def test_mixup_leaves_the_covariate_channels_alone():
    x, y = torch.randn(4, 10, 5), torch.randn(4, 2, 3)  # 3 series, 2 covariates
    mixed, _ = channel_mixup(x, y, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(mixed[:, :, 3:], x[:, :, 3:]) and not torch.equal(mixed[:, :, :3],
                                                                         x[:, :, :3])


# -- errors ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def with_price():
    return _fit(_panel(), futr_exog=["price"], max_epochs=1)


def test_fit_names_a_covariate_the_frame_lacks():
    with pytest.raises(TSMambaInputError, match=r"futr_exog names \['cost'\], which the frame "
                                                r"lacks; its value columns are \['a', 'b', 'price'\]"):
        TSMambaForecaster(futr_exog=["cost"], **SMALL).fit(_panel())


def test_fit_refuses_a_frame_of_covariates_only():
    with pytest.raises(TSMambaInputError, match="leave at least one column to forecast"):
        TSMambaForecaster(futr_exog=["a", "b", "price"], **SMALL).fit(_panel())


@pytest.mark.parametrize("bad", ["price", [1], ["price", "price"]])
def test_futr_exog_must_be_a_list_of_distinct_names(bad):
    with pytest.raises((TypeError, TSMambaInputError), match="futr_exog"):
        TSMambaForecaster(futr_exog=bad, **SMALL).fit(_panel())


def test_a_non_numeric_covariate_is_named():
    frame = _panel().astype({"price": str})
    frame.iloc[5, 2] = "n/a"
    with pytest.raises(TSMambaInputError, match="column 'price' is not numeric"):
        TSMambaForecaster(futr_exog=["price"], **SMALL).fit(frame)


def test_calendar_at_a_yearly_frequency_is_refused():
    frame = pd.DataFrame({"y": np.arange(60.0)},
                         index=pd.date_range("1950-01-01", periods=60, freq="YS"))
    with pytest.raises(TSMambaInputError, match="calendar=True finds no calendar feature"):
        TSMambaForecaster(calendar=True, **{**SMALL, "lookback": 16, "horizon": 4}).fit(frame)


def _long_panel(n=600, seed=0):
    """`_panel` in long form: each series with its own copy of the price (Nixtla's layout, a
    value per series and time)."""
    wide = _panel(n, seed)
    return pd.concat([pd.DataFrame({"unique_id": name, "ds": wide.index, "y": wide[name],
                                    "price": wide["price"]}) for name in ("a", "b")],
                     ignore_index=True)


@pytest.mark.parametrize("model", ["s4", "tsm2"])
def test_a_long_frame_covariate_lowers_the_error(model):
    long = _long_panel()
    cutoff = long["ds"].unique()[-8]
    train, test = long[long["ds"] < cutoff], long[long["ds"] >= cutoff]
    errors = {}
    for futr_exog in (None, ["price"]):
        est = _fit(train if futr_exog else train.drop(columns="price"), model=model,
                   futr_exog=futr_exog)
        forecast = est.predict(futr_df=test.drop(columns="y") if futr_exog else None)
        joined = forecast.merge(test, on=["unique_id", "ds"])
        errors[bool(futr_exog)] = float(np.mean((joined[ALIASES[model]] - joined["y"]) ** 2))
    assert errors[True] <= 0.5 * errors[False], errors


def test_long_covariates_are_one_input_per_series_and_predict_reads_them_long(tmp_path):
    long = _long_panel(n=200)
    cutoff = long["ds"].unique()[-8]
    train, test = long[long["ds"] < cutoff], long[long["ds"] >= cutoff]
    est = _fit(train, futr_exog=["price"], max_epochs=1)
    assert est.columns_ == ["a", "b"] and est.covariates_ == ["price[a]", "price[b]"]
    plan = est.make_future_frame()
    assert list(plan.columns) == ["unique_id", "ds", "price"] and len(plan) == 16
    assert plan["price"].isna().all()
    assert (plan["ds"].iloc[:8].to_numpy() == test["ds"].iloc[:8].to_numpy()).all()
    forecast = est.predict(futr_df=test.drop(columns="y"))
    assert list(forecast.columns) == ["unique_id", "ds", "S4"] and len(forecast) == 16
    # A history carries the covariates too: their moves from its lookback act.
    with pytest.raises(TSMambaInputError, match=r"the history lacks the futr_exog covariates "
                                                r"\['price'\].*pass them beside y"):
        est.predict(train.drop(columns="price"), futr_df=test.drop(columns="y"))
    again = est.predict(train, futr_df=test.drop(columns="y"))
    pd.testing.assert_frame_equal(again, forecast)
    est.save(tmp_path / "m")
    pd.testing.assert_frame_equal(TSMambaForecaster.load(tmp_path / "m").predict(
        futr_df=test.drop(columns="y")), forecast)
    folds = est.cross_validation(long, n_windows=2)
    assert set(folds["unique_id"]) == {"a", "b"} and len(folds) == 32
    assert np.isfinite(est.score(test))


def test_long_futr_df_errors_name_the_missing_pairs_and_columns():
    long = _long_panel(n=200)
    cutoff = long["ds"].unique()[-8]
    train, test = long[long["ds"] < cutoff], long[long["ds"] >= cutoff]
    est = _fit(train, futr_exog=["price"], max_epochs=1)
    future = test.drop(columns="y")
    with pytest.raises(TSMambaInputError, match=r"lacks 1 of the 16 \(series, timestamp\) pairs"
                       r".*\('b', '2024-01-09 07:00:00'\)"):
        est.predict(futr_df=future.iloc[:-1])
    with pytest.raises(TSMambaInputError, match=r"futr_df lacks the columns \['price'\]"):
        est.predict(futr_df=future.drop(columns="price"))
    with pytest.raises(TSMambaInputError, match=r"repeats the \(unique_id, ds\) pairs"):
        est.predict(futr_df=pd.concat([future, future.iloc[:1]]))
    gappy = train.copy()
    gappy.loc[gappy.index[5], "price"] = np.nan
    with pytest.raises(TSMambaInputError, match=r"column 'price' is empty at row 5 \(series 'a'"):
        _fit(gappy, futr_exog=["price"])
    with pytest.raises(TSMambaInputError, match=r"besides .*: \['price'\]; name the covariates"):
        _fit(train)
    with pytest.raises(TSMambaInputError, match=r"\['cost'\] are named as covariates, but the "
                                                "long frame lacks them"):
        _fit(train.drop(columns="price"), futr_exog=["cost"])


def test_predict_asks_for_the_future_values(with_price):
    with pytest.raises(TSMambaInputError, match=r"fitted with futr_exog=\['price'\]: pass their "
                                                r"values at the 8 timestamps to forecast"):
        with_price.predict()


def test_predict_names_the_missing_timestamps(with_price):
    future = with_price.make_future_frame().fillna(0.0).iloc[1:]
    first = with_price.make_future_frame().index[0]
    with pytest.raises(TSMambaInputError, match=f"lacks 1 of the 8 timestamps to forecast, the "
                                                f"first \\['{first}'\\]"):
        with_price.predict(futr_df=future)


def test_predict_names_a_missing_covariate_column(with_price):
    future = with_price.make_future_frame().rename(columns={"price": "cost"}).fillna(0.0)
    with pytest.raises(TSMambaInputError, match=r"futr_df lacks the futr_exog columns \['price'\]"):
        with_price.predict(futr_df=future)


def test_predict_names_an_empty_future_value(with_price):
    future = with_price.make_future_frame().fillna(0.0)
    future.iloc[3, 0] = np.nan
    with pytest.raises(TSMambaInputError, match=f"futr_df's column 'price' has no finite value "
                                                f"at {future.index[3]} \\(nan; 1 such"):
        with_price.predict(futr_df=future)


def test_futr_df_for_a_model_without_covariates_is_refused(hourly):
    est = _fit(hourly, max_epochs=1)
    with pytest.raises(TSMambaInputError, match="fitted without futr_exog covariates"):
        est.predict(futr_df=hourly)


def test_a_teacher_with_covariates_is_refused(hourly):
    teacher = _fit(hourly, max_epochs=1)
    with pytest.raises(TSMambaInputError, match="cannot distil into a model with covariates"):
        TSMambaForecaster(calendar=True, teacher=teacher, **SMALL).fit(hourly)


def _leading(n=600, seed=0):
    """Two hourly series that follow a random `lead` eight hours later: nothing but the
    lead's past tells their next eight hours, and its future is never needed."""
    rng = np.random.default_rng(seed)
    lead = rng.normal(size=n)
    noise = 0.1 * rng.normal(size=(n, 2))
    return pd.DataFrame({"a": 2.0 * np.roll(lead, 8) + noise[:, 0],
                         "b": -1.0 * np.roll(lead, 8) + noise[:, 1], "lead": lead},
                        index=pd.date_range("2024-01-01", periods=n, freq="h"))


@pytest.mark.parametrize("model", model_names())
def test_a_past_covariate_lowers_the_error_of_every_model(model):
    frame = _leading()
    train_rows = len(frame) - 48
    errors = {}
    for hist_exog in (None, ["lead"]):
        columns = ["a", "b", "lead"] if hist_exog else ["a", "b"]
        est = _fit(frame.iloc[:train_rows][columns], model=model, hist_exog=hist_exog)
        squared = [(est.predict(frame.iloc[origin - 32:origin][columns]).to_numpy()
                    - frame.iloc[origin:origin + 8][["a", "b"]].to_numpy()) ** 2
                   for origin in range(train_rows, len(frame), 8)]  # six held-out windows
        errors[bool(hist_exog)] = float(np.mean(squared))
    assert errors[True] <= 0.5 * errors[False], errors


def test_past_covariates_are_read_from_the_history_and_saved(tmp_path):
    frame = _leading(n=200)
    est = _fit(frame, hist_exog=["lead"], futr_exog=None, max_epochs=1)
    assert est.columns_ == ["a", "b"] and est.past_covariates_ == ["lead"]
    assert list(est.predict().columns) == ["a", "b"]
    est.save(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(), est.predict())
    pd.testing.assert_frame_equal(loaded.predict(frame.iloc[:150]), est.predict(frame.iloc[:150]))
    with pytest.raises(TSMambaInputError, match=r"the history lacks the hist_exog covariates "
                                                r"\['lead'\]"):
        est.predict(frame.iloc[:150][["a", "b"]])
    folds = est.cross_validation(frame, n_windows=2)
    assert set(folds["unique_id"]) == {"a", "b"}


def test_long_frames_carry_past_covariates_per_series():
    wide = _leading(n=200)
    long = pd.concat([pd.DataFrame({"unique_id": name, "ds": wide.index, "y": wide[name],
                                    "lead": wide["lead"]}) for name in ("a", "b")])
    est = _fit(long, hist_exog=["lead"], max_epochs=1)
    assert est.past_covariates_ == ["lead[a]", "lead[b]"]
    assert len(est.predict()) == 16 and len(est.predict(long.groupby("unique_id").head(150))) == 16


def test_a_column_is_either_future_or_past():
    with pytest.raises(TSMambaInputError, match=r"\['lead'\] are named in both futr_exog and "
                                                "hist_exog"):
        _fit(_leading(n=200), futr_exog=["lead"], hist_exog=["lead"])
    with pytest.raises(TypeError, match="hist_exog must be a list of column names"):
        _fit(_leading(n=200), hist_exog="lead")
    with pytest.raises(TSMambaInputError, match=r"hist_exog names \['cost'\], which the frame "
                                                "lacks"):
        _fit(_leading(n=200), hist_exog=["cost"])
