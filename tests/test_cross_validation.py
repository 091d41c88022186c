"""Rolling-origin cross-validation and its evaluation with scikit-learn's metrics."""

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error

import tsmamba
from tsmamba import TSMambaForecaster, TSMambaInputError
from tsmamba.datasets import demo


@pytest.fixture(scope="module")
def data():
    return demo(n_rows=200, n_series=2)


def test_windows_cutoffs_and_truth(data, fast):
    est = TSMambaForecaster(horizon=4, lookback=24, **fast)
    cv = est.cross_validation(data, n_windows=3, step_size=5)
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "y", "S4"]
    assert len(cv) == 2 * 3 * 4
    cutoffs = sorted(cv["cutoff"].unique())
    assert cutoffs == list(data.index[[200 - 4 - 10 - 1, 200 - 4 - 5 - 1, 200 - 4 - 1]])
    assert cv["ds"].max() == data.index[-1]
    for uid, group in cv.groupby("unique_id"):
        np.testing.assert_array_equal(group["y"], data.loc[group["ds"], uid].to_numpy())
        for cutoff, window in group.groupby("cutoff"):
            assert (window["ds"] > cutoff).all() and len(window) == 4
    assert not hasattr(est, "model_")  # the estimator itself stays unfitted


def test_refit_false_reuses_one_model_and_matches_predict(data, fast):
    est = TSMambaForecaster(horizon=4, lookback=24, **fast)
    cv = est.cross_validation(data, n_windows=2, step_size=4)
    first_cutoff_rows = 200 - 4 - 4
    fitted = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(data.iloc[:first_cutoff_rows])
    later = fitted.predict(data.iloc[:200 - 4])
    last_window = cv[cv["cutoff"] == data.index[200 - 4 - 1]]
    np.testing.assert_allclose(last_window[last_window["unique_id"] == "series_1"]["S4"],
                               later["series_1"], rtol=0, atol=0)


def test_refit_and_intervals_and_long_input(data, fast):
    long = (data.rename_axis("ds").reset_index()
            .melt(id_vars="ds", var_name="unique_id", value_name="y"))
    cv = TSMambaForecaster(horizon=4, lookback=24, model="mamba", **fast).cross_validation(
        long, n_windows=2, refit=True, level=[80])
    assert {"Mamba", "Mamba-lo-80", "Mamba-hi-80"} <= set(cv.columns)
    assert (cv["Mamba-lo-80"] <= cv["Mamba"]).all() and (cv["Mamba"] <= cv["Mamba-hi-80"]).all()


def test_evaluate_uses_sklearn_metrics_per_series(data, fast):
    cv = TSMambaForecaster(horizon=4, lookback=24, **fast).cross_validation(
        data, n_windows=2, level=[80])
    table = tsmamba.evaluate(cv, metrics=["mse", "mae", mean_squared_error, "coverage"])
    assert table["metric"].tolist() == ["mse", "mse", "mae", "mae", "mean_squared_error",
                                        "mean_squared_error", "coverage-80", "coverage-80"]
    one = cv[cv["unique_id"] == "series_0"]
    assert table.iloc[0]["S4"] == pytest.approx(mean_squared_error(one["y"], one["S4"]))
    inside = ((one["y"] >= one["S4-lo-80"]) & (one["y"] <= one["S4-hi-80"])).mean() * 100
    assert table.iloc[6]["S4"] == pytest.approx(inside)
    with pytest.raises(TSMambaInputError, match="unknown metric 'r2'"):
        tsmamba.evaluate(cv, metrics=["r2"])


def test_too_many_windows_say_the_numbers(data, fast):
    with pytest.raises(TSMambaInputError, match=r"leave 24 rows before the first cutoff but fitting needs at least 28"):
        TSMambaForecaster(horizon=4, lookback=24, **fast).cross_validation(data, n_windows=44)
    with pytest.raises(TSMambaInputError, match="n_windows must be a positive integer"):
        TSMambaForecaster(**fast).cross_validation(data, n_windows=0)


def test_plots_return_figures_with_what_they_claim(data, fast):
    est = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(data)
    forecast = est.predict(level=[80, 95])
    fig = tsmamba.plot_forecast(data, forecast)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
    assert labels == ["history", "forecast"]
    assert len(ax.collections) == 3  # the 80 % band, and the 95 % one above and below it
    cv = est.cross_validation(data, n_windows=3, level=[80])
    fig = tsmamba.plot_cross_validation(cv)
    assert len(fig.axes) == 2 and len(fig.axes[0].collections) == 3  # a band per window
    fig = tsmamba.plot_backtest(cv)
    assert len(fig.axes[0].lines) == 3  # two series and their mean
    long_forecast = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(
        data.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id",
                                                  value_name="y")).predict(level=80)
    assert len(tsmamba.plot_forecast(None, long_forecast).axes) == 2
