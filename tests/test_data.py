"""Every validation problem stops with a message naming what and where, and the fix."""

import numpy as np
import pandas as pd
import pytest
import torch

from tsmamba import TSMambaInputError
from tsmamba.data import SlidingWindows, to_series_frame


def frame(n=10, freq="h", **columns):
    index = pd.date_range("2024-01-01", periods=n, freq=freq, name="ds")
    data = columns or {"a": np.arange(n, dtype=float), "b": np.ones(n)}
    return pd.DataFrame(data, index=index)


def test_datetime_index_frame_passes_through():
    sf = to_series_frame(frame())
    assert sf.values.shape == (10, 2) and sf.values.dtype == np.float64
    assert sf.columns == ["a", "b"] and sf.freq.freqstr == "h"


def test_time_column_is_detected_when_exactly_one_parses():
    df = frame().reset_index()
    df["ds"] = df["ds"].astype(str)
    sf = to_series_frame(df)
    assert sf.columns == ["a", "b"] and sf.index.name == "ds"


def test_several_time_like_columns_ask_for_time_col():
    df = frame().reset_index()
    df["other"] = df["ds"].astype(str)
    with pytest.raises(TSMambaInputError, match=r"several columns parse as timestamps.*time_col"):
        to_series_frame(df)
    assert to_series_frame(df.drop(columns="other"), time_col="ds").columns == ["a", "b"]


def test_no_time_axis():
    with pytest.raises(TSMambaInputError, match="no time axis found"):
        to_series_frame(pd.DataFrame({"a": [1.0, 2.0]}))


def test_unknown_time_col_lists_columns():
    with pytest.raises(TSMambaInputError, match=r"time_col='when' is not a column.*'a'"):
        to_series_frame(frame().reset_index(), time_col="when")


def test_unparsable_time_value_names_row():
    df = frame().reset_index()
    df["ds"] = df["ds"].astype(str)
    df.loc[4, "ds"] = "not a date"
    with pytest.raises(TSMambaInputError, match=r"'not a date' at row 4"):
        to_series_frame(df, time_col="ds")


def test_unsorted_frame_is_sorted_with_a_warning():
    df = frame().iloc[[0, 1, 3, 2, 4, 5, 6, 7, 8, 9]]
    with pytest.warns(UserWarning, match="not sorted by time.*row 3"):
        sf = to_series_frame(df)
    assert sf.index.is_monotonic_increasing
    np.testing.assert_array_equal(sf.values[:, 0], np.arange(10))


def test_duplicate_timestamps_are_listed_and_dropped_only_when_asked():
    df = pd.concat([frame().iloc[:5], frame().iloc[4:]])
    with pytest.raises(TSMambaInputError, match=r"duplicate timestamp.*2024-01-01 04:00:00 \(row 4\).*drop_duplicates"):
        to_series_frame(df)
    with pytest.warns(UserWarning, match="dropped 1 row"):
        sf = to_series_frame(df, drop_duplicates="first")
    assert len(sf.index) == 10


def test_missing_timestamps_name_count_and_first_gap():
    df = frame(n=20).drop(frame(n=20).index[[5, 6, 12]])
    with pytest.raises(TSMambaInputError, match=r"3 missing timestamp.*follows 2024-01-01 04:00:00.*fill_gaps"):
        to_series_frame(df)
    with pytest.warns(UserWarning, match="filled 3 missing"):
        sf = to_series_frame(df, fill_gaps="interpolate")
    assert len(sf.index) == 20
    np.testing.assert_allclose(sf.values[:, 0], np.arange(20))  # linear data, linear fill


def test_frequency_not_inferable_asks_for_freq():
    index = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-04 05:00", "2024-01-09 07:00"])
    with pytest.raises(TSMambaInputError, match="frequency cannot be inferred.*freq="):
        to_series_frame(pd.DataFrame({"a": [1.0, 2, 3, 4]}, index=index))


def test_explicit_freq_that_contradicts_the_data():
    with pytest.raises(TSMambaInputError, match="contradicts the data"):
        to_series_frame(frame(freq="15min"), freq="h")
    with pytest.raises(TSMambaInputError, match="not a pandas frequency"):
        to_series_frame(frame(), freq="fortnightly-ish")


@pytest.mark.parametrize("bad, kind", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite"),
                                       (1e300, "too large for float32")])
def test_non_finite_values_name_column_and_first_timestamp(bad, kind):
    df = frame()
    df.loc[df.index[3], "b"] = bad
    with pytest.raises(TSMambaInputError, match=rf"column 'b' has {kind}.*2024-01-01 03:00:00 \(row 3\)"):
        to_series_frame(df)


def test_non_numeric_columns_are_refused():
    df = frame()
    df["text"] = ["x"] * 10
    with pytest.raises(TSMambaInputError, match=r"column 'text' is not numeric.*'x' at row 0"):
        to_series_frame(df)
    df["text"] = [str(v) for v in range(10)]
    with pytest.raises(TSMambaInputError, match=r"numbers stored as text.*pd.to_numeric"):
        to_series_frame(df)
    df["text"] = [True] * 10
    with pytest.raises(TSMambaInputError, match="column 'text' is boolean"):
        to_series_frame(df)
    df["text"] = pd.Categorical(["u", "v"] * 5)
    with pytest.raises(TSMambaInputError, match="column 'text' is categorical"):
        to_series_frame(df)
    df["text"] = [{"x": 1}] * 10
    with pytest.raises(TSMambaInputError, match=r"column 'text' is not numeric.*\{'x': 1\} at row 0"):
        to_series_frame(df)


def test_duplicate_column_names_and_no_value_columns():
    df = frame()
    df.columns = ["a", "a"]
    with pytest.raises(TSMambaInputError, match=r"duplicate column names \['a'\]"):
        to_series_frame(df)
    with pytest.raises(TSMambaInputError, match="no value columns"):
        to_series_frame(frame().iloc[:, :0])


def test_empty_frame_and_too_few_rows_say_both_numbers():
    with pytest.raises(TSMambaInputError, match="empty"):
        to_series_frame(frame().iloc[:0])
    with pytest.raises(TSMambaInputError, match=r"has 10 rows but needs at least 30 \(lookback 20 \+ horizon 10\)"):
        to_series_frame(frame(), min_rows=30, min_rows_reason=" (lookback 20 + horizon 10)")


def test_wrong_container_is_a_type_error_and_a_series_is_accepted():
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        to_series_frame([[1, 2], [3, 4]])
    sf = to_series_frame(frame()["a"])
    assert sf.columns == ["a"]


def test_time_zone_is_kept():
    df = frame().tz_localize("Europe/Berlin")
    assert str(to_series_frame(df).index.tz) == "Europe/Berlin"


def test_sliding_windows_are_lazy_and_exact():
    data = torch.arange(30, dtype=torch.float32).view(15, 2)  # (rows, m)
    windows = SlidingWindows(data, lookback=4, horizon=2, start=3, stop=15)
    assert len(windows) == 15 - 3 - 6 + 1
    x, y = windows.batch(torch.tensor([0, 6]))
    torch.testing.assert_close(x[1], data[9:13])
    torch.testing.assert_close(y[1], data[13:15])
    batches = list(windows.batches(4, torch.Generator().manual_seed(0)))
    assert sum(b[0].shape[0] for b in batches) == len(windows)


@pytest.mark.parametrize("magnitude", [1e-300, 1e-200, 1e-120])
def test_tiny_values_are_forecast_on_their_own_scale(fast, magnitude):
    # Cause 7: values near 1e-300 scaled to 0 in float32 and were forecast 10^296 off.
    from tsmamba import TSMambaForecaster

    index = pd.date_range("2024-01-01", periods=200, freq="h")
    base = 2 + np.sin(np.arange(200) / 4.0)
    frame = pd.DataFrame({"a": base, "b": base[::-1]}, index=index)
    plain = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(frame).predict()
    tiny = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(frame * magnitude).predict()
    np.testing.assert_allclose(tiny.to_numpy() / magnitude, plain.to_numpy(), rtol=1e-5)


@pytest.mark.parametrize("values, text", [
    (np.arange(50) + 1j, "holds complex numbers"),
    (pd.date_range("2020-01-01", periods=50, freq="D"), "holds timestamps, not values"),
    (pd.to_timedelta(np.arange(50), unit="h"), "holds durations"),
])
def test_value_columns_of_other_kinds_point_the_right_way(values, text):
    # Issue 22: these were all told to use pd.to_numeric.
    index = pd.date_range("2024-01-01", periods=50, freq="h")
    with pytest.raises(TSMambaInputError, match=f"column 'b' {text}") as caught:
        to_series_frame(pd.DataFrame({"a": np.arange(50.0), "b": values}, index=index))
    assert "to_numeric" not in str(caught.value)


@pytest.mark.parametrize("bad", ["not a date", "03 January 2024 02:00"])
def test_one_bad_or_differently_written_date_is_named_with_its_row(bad):
    # Issue 22: one such value made the whole column unrecognised ("no time axis found").
    dates = pd.date_range("2024-01-01", periods=50, freq="h").strftime("%Y-%m-%d %H:%M")
    dates = dates.tolist()
    dates[20] = bad
    with pytest.raises(TSMambaInputError, match=f"'date': value '{bad}' at row 20"):
        to_series_frame(pd.DataFrame({"date": dates, "a": np.arange(50.0)}))


def test_an_irregular_timestamp_is_named():
    stamps = pd.date_range("2024-01-01", periods=50, freq="h").tolist()
    stamps[30] += pd.Timedelta(minutes=17)
    with pytest.raises(TSMambaInputError, match=r"2024-01-02 06:17:00 \(row 30\) follows"):
        to_series_frame(pd.DataFrame({"a": np.arange(50.0)}, index=pd.DatetimeIndex(stamps)))
