"""Covariates: the columns a user names as known in the future (`futr_exog`, as Nixtla's
libraries call them: calendars, prices, weather forecasts) or observed only in the past
(`hist_exog`: a competitor's sales, yesterday's readings), and calendar features made from the
time index (`calendar=True`).

In a wide frame the named columns are inputs, not series to forecast; a long frame's are
pivoted to a column per covariate and series (`long_format.covariate_column`). They are scaled
on the training rows like the targets; each window carries the future ones over its lookback
and horizon rows and the past ones over its lookback (`data.SlidingWindows`), and the network
adds their effects (`models.covariate_effects`). `predict` reads the future values from a
frame the user fills (`TSMambaForecaster.make_future_frame`) and the past ones from the
history; calendar features it computes itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import _check_value_columns, _split_time_axis, as_pandas
from .errors import TSMambaInputError

# name -> (the position within its cycle, the cycle's length), from a DatetimeIndex.
_CYCLES = {
    "hour": (lambda index: index.hour + index.minute / 60, 24),
    "weekday": (lambda index: index.day_of_week + index.hour / 24, 7),
    "month": (lambda index: index.month - 1 + (index.day - 1) / index.days_in_month, 12),
}
# A cycle is a feature only when a step is shorter than the cycle's own unit: hourly data
# has hours of the day, daily data days of the week, monthly data months of the year.
_FINER_THAN = {"hour": pd.Timedelta(days=1), "weekday": pd.Timedelta(days=7),
               "month": pd.Timedelta(days=365)}


def _step(freq: pd.DateOffset) -> pd.Timedelta:
    """How long one step of `freq` is, between two of its own timestamps (an anchored
    offset's first step from an arbitrary date may be shorter: weeks ending on Sunday)."""
    first = pd.Timestamp("2000-01-01") + freq
    return (first + freq) - first


def calendar_columns(freq: pd.DateOffset) -> list[str]:
    """The calendar features the frequency allows, each as a sine and a cosine (so the
    cycle's end meets its start): hour of the day, day of the week, month of the year."""
    step = _step(freq)
    return [f"{name}_{part}" for name in _CYCLES if step < _FINER_THAN[name]
            for part in ("sin", "cos")]


def calendar_features(index: pd.DatetimeIndex, columns: list[str]) -> np.ndarray:
    """(rows, len(columns)) values of `calendar_columns` at the timestamps `index`."""
    out = np.empty((len(index), len(columns)))
    for j, column in enumerate(columns):
        name, part = column.rsplit("_", 1)
        position, cycle = _CYCLES[name]
        angle = 2 * np.pi * np.asarray(position(index), dtype=np.float64) / cycle
        out[:, j] = np.sin(angle) if part == "sin" else np.cos(angle)
    return out


def check_exog(name: str, columns) -> list[str]:
    """`columns`, the parameter `name` (futr_exog, hist_exog), as a list of column names
    (None: none); a clear error otherwise."""
    if columns is None:
        return []
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"{name} must be a list of column names, e.g. ['price'], got "
                        f"{columns!r}")
    names = list(columns)
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise TSMambaInputError(f"{name} names {repeated} more than once; name each column "
                                "once")
    return names


def check_futr_exog(futr_exog) -> list[str]:
    return check_exog("futr_exog", futr_exog)


def check_hist_exog(hist_exog, futr_exog=None) -> list[str]:
    """hist_exog's names; a column is known in the future or observed only in the past, not
    both."""
    names = check_exog("hist_exog", hist_exog)
    both = [c for c in names if c in check_futr_exog(futr_exog)]
    if both:
        raise TSMambaInputError(f"{both} are named in both futr_exog and hist_exog; a covariate "
                                "is known in the future (futr_exog) or observed only in the "
                                "past (hist_exog): name it in one")
    return names


def split_targets(columns: list[str], futr_exog: list[str],
                  hist_exog: list[str] = ()) -> tuple[list[int], list[int], list[int]]:
    """Positions of the target columns, of the `futr_exog` ones and of the `hist_exog` ones
    among a wide frame's `columns`; every named covariate must be there and at least one
    target must remain."""
    for name, named in (("futr_exog", futr_exog), ("hist_exog", hist_exog)):
        missing = [c for c in named if c not in columns]
        if missing:
            raise TSMambaInputError(f"{name} names {missing}, which the frame lacks; its value "
                                    f"columns are {columns}")
    inputs = set(futr_exog) | set(hist_exog)
    targets = [j for j, c in enumerate(columns) if c not in inputs]
    if not targets:
        raise TSMambaInputError(f"every column is a covariate ({columns}); leave at least one "
                                "column to forecast")
    return (targets, [columns.index(c) for c in futr_exog],
            [columns.index(c) for c in hist_exog])


def future_values(futr_df, futr_exog: list[str], future: pd.DatetimeIndex,
                  time_col: str | None) -> np.ndarray:
    """(len(future), k) values of the `futr_exog` columns of `futr_df` at the timestamps
    `future`; every pair must be there and finite. Other rows and columns are ignored."""
    futr_df = as_pandas(futr_df)
    if not isinstance(futr_df, pd.DataFrame):
        raise TypeError(f"futr_df must be a pandas DataFrame of the future values of "
                        f"{futr_exog}, got {type(futr_df).__name__}; make_future_frame() gives "
                        "one to fill")
    times, values = _split_time_axis(futr_df, time_col)
    absent = [c for c in futr_exog if c not in values.columns]
    if absent:
        raise TSMambaInputError(f"futr_df lacks the futr_exog columns {absent}; its columns are "
                                f"{[str(c) for c in values.columns]}")
    values = values[futr_exog]
    _check_value_columns(values, times)
    by_time = pd.DataFrame(values.to_numpy(dtype=np.float64), index=times, columns=futr_exog)
    if by_time.index.has_duplicates:
        repeated = by_time.index[by_time.index.duplicated()][:3]
        raise TSMambaInputError(f"futr_df repeats the timestamps {[str(t) for t in repeated]}; "
                                "give one row per timestamp")
    lacking = future.difference(by_time.index)
    if len(lacking):
        raise TSMambaInputError(
            f"futr_df lacks {len(lacking)} of the {len(future)} timestamps to forecast, the "
            f"first {[str(t) for t in lacking[:3]]}; it needs a row for each of "
            f"{future[0]} ... {future[-1]} (make_future_frame() lists them)")
    picked = by_time.loc[future].to_numpy()  # (f, k)
    bad = ~np.isfinite(picked)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise TSMambaInputError(
            f"futr_df's column {futr_exog[col]!r} has no finite value at {future[row]} "
            f"({picked[row, col]}; {int(bad.sum())} such values among the timestamps to "
            "forecast); fill in the future values (make_future_frame() lists the timestamps)")
    return picked
