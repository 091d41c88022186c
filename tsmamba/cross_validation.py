"""Rolling-origin evaluation: forecast the last `n_windows` windows of a frame, each from the
rows before its cutoff, and score them with scikit-learn's metrics.

    rows:     |------------------ history ------------------|
    window 1:                       cutoff_1 |-- h --|
    window 2:                  step_size ->  cutoff_2 |-- h --|
    ...                                          the last window ends at the last row

With `refit=False` one model is fitted on the rows up to the first cutoff and reused; with
`refit=True` a fresh model is fitted at every cutoff. The output is long, as utilsforecast
and neuralforecast write it: unique_id, ds, cutoff, y, the model's forecast (and bounds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import (mean_absolute_error, mean_absolute_percentage_error,
                             mean_squared_error, root_mean_squared_error)

from .errors import TSMambaInputError
from .estimator import _positive_int
from .long_format import is_bound, model_columns, to_long
from .models import ALIASES

METRICS = {"mse": mean_squared_error, "mae": mean_absolute_error,
           "rmse": root_mean_squared_error, "mape": mean_absolute_percentage_error}


def cross_validation(estimator, df, n_windows: int = 1, step_size: int | None = None,
                     refit: bool = False, level=None) -> pd.DataFrame:
    """See `TSMambaForecaster.cross_validation`."""
    horizon, lookback = estimator.horizon, estimator.lookback
    step = horizon if step_size is None else step_size
    _positive_int("n_windows", n_windows)
    _positive_int("step_size", step)
    probe = clone(estimator)
    probe._check_params()
    frame, long = probe._frame(df, lookback + horizon,
                               f" (lookback {lookback} + horizon {horizon})", estimator.freq)
    wide = frame.to_frame()  # validated, regular, one column per series
    n_rows = len(wide)
    # cutoff k (0-based) is the number of rows its forecast may read.
    origins = [n_rows - horizon - (n_windows - 1 - k) * step for k in range(n_windows)]
    need = lookback + horizon
    if origins[0] < need:
        raise TSMambaInputError(
            f"{n_windows} windows of horizon {horizon}, {step} apart, leave {origins[0]} rows "
            f"before the first cutoff but fitting needs at least {need} (lookback {lookback} "
            "+ horizon); use fewer windows, a smaller step_size, or more rows")
    alias = ALIASES[estimator.model]
    series = list(wide.columns)
    levels = [] if level is None else [float(v) for v in np.atleast_1d(level)]
    est = None
    frames = []
    for origin in origins:
        if est is None or refit:
            est = clone(estimator).fit(wide.iloc[:origin])
        # predict reads the last `lookback` rows; passing only those avoids re-validating
        # the whole prefix at every cutoff.
        forecast = est.predict(wide.iloc[origin - lookback:origin], level=level)
        out = to_long(forecast, alias, series, estimator._long_columns(), levels)
        truth = wide.iloc[origin:origin + horizon]
        out.insert(2, "cutoff", wide.index[origin - 1])
        out.insert(3, estimator.target_col, np.concatenate([truth[c].to_numpy() for c in series]))
        frames.append(out)
    result = pd.concat(frames, ignore_index=True)
    ids, time_col = estimator.id_col, estimator._long_columns().time_col
    return result.sort_values([ids, "cutoff", time_col], kind="stable", ignore_index=True)


def evaluate(cv: pd.DataFrame, metrics=("mse", "mae"), id_col: str = "unique_id",
             target_col: str = "y") -> pd.DataFrame:
    """Score every model column of a cross-validation frame per series.

    metrics : names ("mse", "mae", "rmse", "mape", "coverage") or callables f(y_true, y_pred)
        such as any of sklearn.metrics' regression metrics. "coverage" is the percentage of
        values inside each interval in the frame, one row per level.
    Returns one row per series and metric (utilsforecast's layout), a column per model.
    """
    bounds = [c for c in cv.columns if is_bound(c)]
    models = model_columns(cv, id_col, target_col, "cutoff", "ds")
    rows = []
    for metric in metrics:
        if metric == "coverage":
            for model in models:
                for lo in sorted(c for c in bounds if c.startswith(f"{model}-lo-")):
                    level = lo.rsplit("-", 1)[1]
                    inside = ((cv[target_col] >= cv[lo]) & (cv[target_col] <= cv[f"{model}-hi-{level}"]))
                    for uid, hits in inside.groupby(cv[id_col], sort=False):
                        rows.append({id_col: uid, "metric": f"coverage-{level}",
                                     model: 100.0 * hits.mean()})
            continue
        if isinstance(metric, str):
            if metric not in METRICS:
                raise TSMambaInputError(f"unknown metric {metric!r}; use one of "
                                        f"{sorted(METRICS) + ['coverage']} or a callable")
            name, fn = metric, METRICS[metric]
        else:
            name, fn = getattr(metric, "__name__", str(metric)), metric
        for uid, group in cv.groupby(id_col, sort=False):
            rows.append({id_col: uid, "metric": name,
                         **{m: float(fn(group[target_col], group[m])) for m in models}})
    table = pd.DataFrame(rows)
    return table.groupby([id_col, "metric"], sort=False, as_index=False).first()
