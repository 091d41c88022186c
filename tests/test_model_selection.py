"""scikit-learn's model selection over the forecaster: `score`, `GridSearchCV` with a
time-series split, and `predict(h=)` (issue 25)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score

from tsmamba import TSMambaForecaster, TSMambaInputError
from tsmamba.datasets import demo


@pytest.fixture(scope="module")
def frame():
    return demo(n_rows=400, n_series=2)


def test_grid_search_over_a_time_series_split_runs_and_picks(frame, fast):
    search = GridSearchCV(TSMambaForecaster(horizon=4, lookback=24, **fast),
                          {"learning_rate": [1e-3, 1e-2]}, cv=TimeSeriesSplit(3))
    search.fit(frame)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 2 and np.isfinite(scores).all() and (scores <= 0).all()
    assert search.best_params_["learning_rate"] in (1e-3, 1e-2)
    assert search.best_estimator_.predict().shape == (4, 2)


def test_score_is_minus_the_scaled_mse_of_the_next_rows(frame, fast):
    train, test = frame.iloc[:300], frame.iloc[300:]
    model = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(train)
    forecast = model.predict()
    expected = -np.mean(((forecast.to_numpy() - test.iloc[:4].to_numpy()) / model.scaler_.scale_)
                        ** 2)
    assert model.score(test) == pytest.approx(expected)
    assert len(cross_val_score(TSMambaForecaster(horizon=4, lookback=24, **fast), frame,
                               cv=TimeSeriesSplit(2))) == 2
    with pytest.raises(TSMambaInputError, match="df should start at"):
        model.score(frame.iloc[310:])


def test_predict_h_gives_the_first_steps(frame, fast):
    model = TSMambaForecaster(horizon=6, lookback=24, **fast).fit(frame)
    full, first = model.predict(level=80), model.predict(h=2, level=80)
    pd.testing.assert_frame_equal(first, full.iloc[:2], check_freq=False)
    with pytest.raises(TSMambaInputError, match="h=7 is more than the fitted horizon 6"):
        model.predict(h=7)
    with pytest.raises(TypeError, match="h must be a positive integer"):
        model.predict(h=1.5)


def test_score_of_a_long_frame(fast):
    times = pd.date_range("2024-01-01", periods=200, freq="h")
    long = pd.DataFrame({"unique_id": np.repeat([3, 5], 200), "ds": np.tile(times, 2),
                         "y": np.sin(np.arange(400) / 7.0)})
    train = long[long["ds"] < times[150]]
    test = long[long["ds"] >= times[150]]
    model = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(train)
    assert np.isfinite(model.score(test)) and model.score(test) <= 0
