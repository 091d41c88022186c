"""Ragged panels: long frames whose series start and end at different times train one global
channel-independent model, and each series is forecast from its own end."""

import numpy as np
import pandas as pd
import pytest
import torch

from tsmamba import TSMambaForecaster, TSMambaInputError
from tsmamba.datasets import demo
from tsmamba.long_format import LongColumns
from tsmamba.panel import (PanelWindows, panel_scaler, read_panel, validation_stops,
                           window_starts)


def ragged(n_series=12, low=60, high=160, seed=0, freq="h") -> pd.DataFrame:
    """A daily-cycle panel: series of random lengths and starts, integer ids, levels apart."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        length = int(rng.integers(low, high))
        step = pd.tseries.frequencies.to_offset(freq)
        start = pd.Timestamp("2024-01-01") + int(rng.integers(0, 200)) * step
        ds = pd.date_range(start, periods=length, freq=freq)
        y = (3 * i + (1 + i % 3) * np.sin(2 * np.pi * ds.hour.to_numpy() / 24)
             + 0.1 * rng.standard_normal(length))
        frames.append(pd.DataFrame({"unique_id": 100 + i, "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def panel_fit(fast):
    df = ragged()
    settings = {**fast, "model": "s4", "lookback": 24, "horizon": 6, "max_epochs": 3}
    return TSMambaForecaster(**settings).fit(df), df, settings


def test_each_series_is_forecast_from_its_own_end(panel_fit):
    est, df, _ = panel_fit
    out = est.predict(level=80)
    assert list(out.columns) == ["unique_id", "ds", "S4", "S4-lo-80", "S4-hi-80"]
    ends = df.groupby("unique_id")["ds"].max()
    assert out["unique_id"].tolist() == [uid for uid in sorted(df["unique_id"].unique())
                                         for _ in range(6)]
    assert out["unique_id"].dtype.kind == "O" and isinstance(out["unique_id"].iloc[0], int)
    for uid, group in out.groupby("unique_id"):
        expected = pd.date_range(ends[uid] + pd.Timedelta(hours=1), periods=6, freq="h")
        assert (group["ds"].to_numpy() == expected.to_numpy()).all()
    assert (out["S4-lo-80"] <= out["S4"]).all() and (out["S4"] <= out["S4-hi-80"]).all()
    assert len(est.predict(h=2)) == 2 * df["unique_id"].nunique()


def test_the_global_model_tracks_each_series_level(panel_fit):
    # Series sit 3 apart: a forecast nearer another series' level than its own has learnt
    # nothing of the series it forecasts.
    est, df, _ = panel_fit
    out = est.predict()
    last = df.groupby("unique_id")["y"].apply(lambda s: s.iloc[-24:].mean())
    error = (out.groupby("unique_id")["S4"].mean() - last).abs()
    assert error.max() < 1.5, error


def test_predict_from_new_histories_and_a_saved_model_is_bit_identical(panel_fit, tmp_path):
    est, df, _ = panel_fit
    shorter = df.groupby("unique_id").head(40)  # each series ends 40 rows after its start
    out = est.predict(shorter)
    starts = df.groupby("unique_id")["ds"].min()
    for uid, group in out.groupby("unique_id"):
        assert group["ds"].iloc[0] == starts[uid] + pd.Timedelta(hours=40)
    est.save(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(level=80), est.predict(level=80))
    pd.testing.assert_frame_equal(loaded.predict(shorter), out)


@pytest.mark.parametrize("model", ["mamba", "mamba2"])
def test_every_channel_independent_model_fits_a_ragged_panel(fast, model):
    df = ragged(n_series=5)
    settings = {**fast, "model": model, "lookback": 24, "horizon": 4}
    out = TSMambaForecaster(**settings).fit(df).predict()
    assert len(out) == 5 * 4 and np.isfinite(out.iloc[:, 2]).all()


@pytest.mark.parametrize("model", ["tsm2", "groupmamba"])
def test_channel_mixing_models_name_the_unaligned_series_and_the_models_that_take_them(fast, model):
    with pytest.raises(TSMambaInputError, match=r"not aligned: series \d+ has \d+ timestamps.*"
                       r"needs the same timestamps.*\(s4, mamba, mamba2\)"):
        TSMambaForecaster(**{**fast, "model": model, "lookback": 24, "horizon": 4}).fit(ragged(4))


def test_panel_errors_name_the_series_row_and_timestamp(fast):
    settings = {**fast, "model": "s4", "lookback": 24, "horizon": 4}
    df = ragged(4)
    gap = df.drop(index=df.index[df["unique_id"] == 102][10])
    with pytest.raises(TSMambaInputError, match=r"series 102 has a gap: .* follows .* where "
                       r"2024-01-\d\d \d\d:00:00 was due"):
        TSMambaForecaster(**settings).fit(gap)
    short = pd.concat([df, pd.DataFrame({"unique_id": 999, "ds": pd.date_range("2024-03-01",
                                         periods=10, freq="h"), "y": 1.0})])
    with pytest.warns(UserWarning, match=r"1 of 5 series are shorter than the lookback of 24 "
                      r"rows: 999 \(10 rows\); each is forecast from its history padded"):
        out = TSMambaForecaster(**settings).fit(short).predict()
    assert (out.loc[out["unique_id"] == 999, "ds"].iloc[0] == pd.Timestamp("2024-03-01 10:00"))
    with pytest.raises(TSMambaInputError, match="no series has the lookback 100 \\+ horizon 4"), \
            pytest.warns(UserWarning, match="training without early stopping"):
        TSMambaForecaster(**{**settings, "lookback": 100}).fit(ragged(4, low=100, high=103))
    teacher = TSMambaForecaster(**settings).fit(demo(n_rows=80, n_series=1))
    with pytest.raises(TSMambaInputError, match="teacher= is not supported for a global model"):
        TSMambaForecaster(**settings, teacher=teacher).fit(df)
    text = df.assign(y=df["y"].astype(object))
    text.loc[7, "y"] = "n/a"
    with pytest.raises(TSMambaInputError, match=r"column 'y' is not numeric .* 'n/a' at row 7"):
        TSMambaForecaster(**settings).fit(text)


def test_cross_validation_cuts_each_series_at_its_own_end(panel_fit):
    est, df, settings = panel_fit
    cv = est.cross_validation(df, n_windows=2, step_size=3, level=80)
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "y", "S4", "S4-lo-80", "S4-hi-80"]
    assert len(cv) == df["unique_id"].nunique() * 2 * 6
    ends = df.groupby("unique_id")["ds"].max()
    step = pd.Timedelta(hours=1)
    for series, rows in cv.groupby("unique_id"):
        cutoffs = sorted(rows["cutoff"].unique())  # windows end 3 rows apart, the last at the end
        assert cutoffs == [ends[series] - 9 * step, ends[series] - 6 * step]
        first = rows[rows["cutoff"] == cutoffs[0]]
        assert (first["ds"] == pd.date_range(cutoffs[0] + step, periods=6, freq="h")).all()
    truth = cv.merge(df, on=["unique_id", "ds"], suffixes=("", "_data"))
    assert len(truth) == len(cv) and (truth["y"] == truth["y_data"]).all()
    # refit=False: one model, fitted on each series' rows up to its first cutoff.
    history = df[df["ds"] <= df["unique_id"].map(ends - 9 * step)]
    fitted = TSMambaForecaster(**settings).fit(history)
    first_fold = cv[cv["cutoff"] == cv["unique_id"].map(ends - 9 * step)]
    np.testing.assert_allclose(first_fold["S4"].to_numpy(),
                               fitted.predict(history).sort_values(["unique_id", "ds"])["S4"])
    with pytest.raises(TSMambaInputError, match=r"series \[.*\] \(\d+\) have at most \d+ rows, "
                                                r"too few for 40 windows"):
        est.cross_validation(df, n_windows=40, step_size=3)


def test_score_compares_each_series_with_the_rows_after_its_end(fast):
    df = ragged(n_series=5)
    after = df.groupby("unique_id").cumcount(ascending=False) < 4
    train, test = df[~after], df[after]
    est = TSMambaForecaster(**{**fast, "lookback": 24, "horizon": 6, "max_epochs": 2}).fit(train)
    forecast = est.predict(h=4).merge(test, on=["unique_id", "ds"])
    scale = forecast["unique_id"].map(dict(zip(est.series_ids_, est.scaler_.scale_)))
    expected = -np.mean(((forecast["S4"] - forecast["y"]) / scale) ** 2)
    assert est.score(test) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(TSMambaInputError, match=r"df has no rows of the fitted series \[100\]"):
        est.score(test[test["unique_id"] != 100])
    late = test.assign(ds=test["ds"] + pd.Timedelta(hours=2))
    with pytest.raises(TSMambaInputError, match=r"df has no 'y' for series 100 at "):
        est.score(late)


def test_predict_refuses_other_series_or_a_wide_frame(panel_fit):
    est, df, _ = panel_fit
    with pytest.raises(TSMambaInputError, match=r"missing \['100'\] \(1\)"):
        est.predict(df[df["unique_id"] != 100])
    with pytest.raises(TSMambaInputError, match="fitted on a long frame of a panel"):
        est.predict(df.pivot(index="ds", columns="unique_id", values="y"))
    with pytest.warns(UserWarning, match="12 of 12 series are shorter than the lookback"):
        est.predict(df.groupby("unique_id").head(10))


def test_rows_out_of_order_are_read_in_time_order(panel_fit):
    est, df, settings = panel_fit
    shuffled = df.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(TSMambaForecaster(**settings).fit(shuffled).predict(),
                                  est.predict())


def test_short_histories_are_padded_with_their_first_value():
    df = ragged(n_series=3, low=5, high=9)
    panel = read_panel(df, LongColumns())
    rows = panel.last_rows(12)  # (12, 3), every series shorter than 12
    for i in range(3):
        own = panel.values[panel.offsets[i]:panel.offsets[i + 1]]
        pad = 12 - len(own)
        np.testing.assert_array_equal(rows[:pad, i], own[0])
        np.testing.assert_array_equal(rows[pad:, i], own)


def test_windows_never_cross_from_one_series_into_the_next():
    df = ragged(n_series=7, low=30, high=70)
    panel = read_panel(df, LongColumns())
    lengths = panel.lengths
    stops = validation_stops(lengths, 0.2, 12, 4)
    series = np.repeat(np.arange(len(lengths)), lengths).astype(np.float32)
    data = torch.from_numpy(series).unsqueeze(1)  # each row holds its series' number
    windows = PanelWindows(data, window_starts(panel.offsets, np.zeros_like(lengths), stops, 16),
                           12, 4)
    assert len(windows) == int(np.maximum(stops - 16 + 1, 0).sum())  # every window, once
    x, y = windows.batch(torch.arange(len(windows)))
    whole = torch.cat([x, y], dim=1)[..., 0]  # (windows, 16)
    assert (whole == whole[:, :1]).all()  # one series a window
    spread = window_starts(panel.offsets, np.zeros_like(lengths), lengths, 16, at_most=10)
    assert len(spread) == 10 and (np.diff(spread) > 0).all()


def test_each_series_is_scaled_by_its_own_training_rows():
    df = ragged(n_series=5)
    panel = read_panel(df, LongColumns())
    stops = validation_stops(panel.lengths, 0.25, 24, 6)
    scaler = panel_scaler(panel, stops)
    for i in range(5):
        own = panel.values[panel.offsets[i]:panel.offsets[i] + stops[i]]
        assert scaler.mean_[i] == pytest.approx(own.mean())
        assert scaler.scale_[i] == pytest.approx(own.std())
    assert panel.names == [str(uid) for uid in sorted(df["unique_id"].unique())]
