"""Scores of forecasts against what happened, per series: scikit-learn's regression metrics
over a cross-validation frame (utilsforecast's layout), and interval coverage."""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import (mean_absolute_error, mean_absolute_percentage_error,
                             mean_squared_error, root_mean_squared_error)

from .errors import TSMambaInputError
from .long_format import is_bound, model_columns

METRICS = {"mse": mean_squared_error, "mae": mean_absolute_error,
           "rmse": root_mean_squared_error, "mape": mean_absolute_percentage_error}


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
