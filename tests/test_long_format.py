"""Long frames (unique_id, ds, y): pivoted in, forecasts out in utilsforecast's columns."""

import numpy as np
import pandas as pd
import pytest

from tsmamba import TSMambaForecaster, TSMambaInputError
from tsmamba.datasets import demo


def as_long(wide: pd.DataFrame) -> pd.DataFrame:
    return (wide.rename_axis("ds").reset_index()
            .melt(id_vars="ds", var_name="unique_id", value_name="y")[["unique_id", "ds", "y"]])


@pytest.fixture(scope="module")
def fitted_pair(fast):
    wide = demo(n_rows=300, n_series=3)
    settings = dict(horizon=5, lookback=24, **fast)
    return (TSMambaForecaster(**settings).fit(wide), TSMambaForecaster(**settings).fit(as_long(wide)),
            wide)


def test_long_round_trip_has_utilsforecast_columns_and_matches_wide(fitted_pair, tmp_path):
    from_wide, from_long, wide = fitted_pair
    out = from_long.predict(level=[80, 95])
    assert list(out.columns) == ["unique_id", "ds", "S4", "S4-lo-80", "S4-hi-80",
                                 "S4-lo-95", "S4-hi-95"]
    assert out["unique_id"].tolist() == [s for s in wide.columns for _ in range(5)]
    expected = from_wide.predict(level=[80, 95])
    for uid, group in out.groupby("unique_id", sort=False):
        assert (group["ds"].to_numpy() == expected.index.to_numpy()).all()
        np.testing.assert_array_equal(group["S4"], expected[uid])  # same network, same data
        np.testing.assert_array_equal(group["S4-hi-95"], expected[f"{uid}-hi-95"])
    from_long.save(tmp_path / "m")
    pd.testing.assert_frame_equal(TSMambaForecaster.load(tmp_path / "m").predict(level=80),
                                  from_long.predict(level=80))
    # A long history gives a long forecast after its own end.
    recent = as_long(wide.iloc[:200])
    assert from_long.predict(recent)["ds"].min() == wide.index[200]


def test_long_column_names_are_configurable(fast):
    df = as_long(demo(n_rows=120, n_series=2)).set_axis(["series", "when", "value"], axis=1)
    est = TSMambaForecaster(horizon=3, lookback=24, id_col="series", time_col="when",
                            target_col="value", model="s4", **fast).fit(df)
    assert list(est.predict().columns) == ["series", "when", "S4"]


def test_unaligned_and_duplicated_long_frames_are_clear_errors(fast):
    df = as_long(demo(n_rows=120, n_series=2))
    gap = df.drop(index=df.index[(df["unique_id"] == "series_1")][7])
    with pytest.raises(TSMambaInputError, match=r"not aligned: series 'series_1' has 119 timestamps.*2024-01-01 07:00:00"):
        TSMambaForecaster(model="tsm2", **fast).fit(gap)
    # A channel-independent model takes unaligned series (tests/test_panel.py), not gaps.
    with pytest.raises(TSMambaInputError, match=r"series 'series_1' has a gap: .* where 2024-01-01 07:00:00 was due"):
        TSMambaForecaster(model="s4", **fast).fit(gap)
    with pytest.raises(TSMambaInputError, match=r"repeat a \(unique_id, ds\) pair"):
        TSMambaForecaster(**fast).fit(pd.concat([df, df.iloc[:1]]))
    with pytest.raises(TSMambaInputError, match="name the covariates known in the future in futr_exog"):
        TSMambaForecaster(**fast).fit(df.assign(price=1.0))
    with pytest.raises(TSMambaInputError, match="no time column 'ds'"):
        TSMambaForecaster(**fast).fit(df.rename(columns={"ds": "date"}))


def test_integer_ids_come_back_as_integers(fast, tmp_path):
    # Issue 22: integer unique_ids came back as strings.
    import numpy as np

    times = pd.date_range("2024-01-01", periods=120, freq="h")
    long = pd.DataFrame({"unique_id": np.repeat([7, 11], 120), "ds": np.tile(times, 2),
                         "y": np.sin(np.arange(240) / 5.0)})
    model = TSMambaForecaster(horizon=3, lookback=24, **fast).fit(long)
    forecast = model.predict()
    assert forecast["unique_id"].dtype == long["unique_id"].dtype
    assert forecast["unique_id"].unique().tolist() == [7, 11]
    model.save(tmp_path / "m")
    again = TSMambaForecaster.load(tmp_path / "m").predict()
    pd.testing.assert_frame_equal(again, forecast, check_exact=True)
    cv = model.cross_validation(long, n_windows=1)
    assert cv["unique_id"].dtype == long["unique_id"].dtype


def test_an_empty_target_is_named_by_the_users_own_row(fast):
    import numpy as np

    times = pd.date_range("2024-01-01", periods=60, freq="h")
    long = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 60), "ds": np.tile(times, 2),
                         "y": np.arange(120.0)})
    long.loc[95, "y"] = np.nan  # series "b", its 36th timestamp
    with pytest.raises(TSMambaInputError, match=r"'y' is empty at row 95 \(series 'b', ds "
                                                r"2024-01-02 11:00:00"):
        TSMambaForecaster(horizon=3, lookback=24, **fast).fit(long)
