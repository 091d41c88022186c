"""Rolling-origin evaluation: forecast the last `n_windows` windows of a frame, each from the
rows before its cutoff (score them with `tsmamba.metrics.evaluate`).

    rows:     |------------------ history ------------------|
    window 1:                       cutoff_1 |-- h --|
    window 2:                  step_size ->  cutoff_2 |-- h --|
    ...                                          the last window ends at the last row

With `refit=False` one model is fitted on the rows up to the first cutoff and reused; with
`refit=True` a fresh model is fitted at every cutoff. In a panel of series that start and end
at different times (a ragged panel, `tsmamba.panel`) the windows are each series' own: window
k of every series ends (n_windows - 1 - k) * step_size rows before that series' last row, and
its cutoff is that series' own timestamp, as each series is forecast from its own end. The output is long, as utilsforecast
and neuralforecast write it: unique_id, ds, cutoff, y, the model's forecast (and bounds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from .covariates import check_futr_exog, check_hist_exog
from .data import FrameOptions
from .errors import TSMambaInputError
from .long_format import (check_long, is_long, misalignment, pivoted_covariates, series_ids,
                          to_long)
from .models import ALIASES
from .validation import check_params, positive_int


def cross_validation(estimator, df, n_windows: int = 1, step_size: int | None = None,
                     refit: bool = False, level=None, static_df=None) -> pd.DataFrame:
    """See `TSMambaForecaster.cross_validation`."""
    params = estimator.get_params()
    horizon, lookback = params["horizon"], params["lookback"]
    step = horizon if step_size is None else step_size
    positive_int("n_windows", n_windows)
    positive_int("step_size", step)
    check_params(params)
    options = FrameOptions.from_params(params)
    if is_long(df, options.long):
        check_long(df, options.long)
        if misalignment(df, options.long):  # a ragged panel: each series' own cutoffs
            return _ragged_folds(estimator, df, options.long, n_windows, step, horizon, refit,
                                 level, static_df)
    frame, long = options.read(df, params["freq"], lookback + horizon,
                               f" (lookback {lookback} + horizon {horizon})")
    wide = frame.to_frame()  # validated, regular, one column per series (and covariate)
    n_rows = len(wide)
    # cutoff k (0-based) is the number of rows its forecast may read.
    origins = [n_rows - horizon - (n_windows - 1 - k) * step for k in range(n_windows)]
    need = lookback + horizon
    if origins[0] < need:
        raise TSMambaInputError(
            f"{n_windows} windows of horizon {horizon}, {step} apart, leave {origins[0]} rows "
            f"before the first cutoff but fitting needs at least {need} (lookback {lookback} "
            "+ horizon); use fewer windows, a smaller step_size, or more rows")
    if long and static_df is not None:  # a global model of each series' own covariates
        return _long_folds(estimator, df, options.long, wide.index, origins, lookback, horizon,
                           refit, level, static_df)
    alias = ALIASES[params["model"]]
    futr_exog = check_futr_exog(params["futr_exog"])  # inputs, not series: known at each cutoff
    hist_exog = check_hist_exog(params["hist_exog"], params["futr_exog"])
    if long:  # pivoted: a column per covariate and series, which the wide copies name
        futr_exog, hist_exog = pivoted_covariates(list(wide.columns), futr_exog, hist_exog)
        estimator = clone(estimator).set_params(futr_exog=futr_exog or None,
                                                hist_exog=hist_exog or None)
    series = [c for c in wide.columns if c not in futr_exog and c not in hist_exog]
    ids = series_ids(df, options.long, series) if long else None
    levels = [] if level is None else [float(v) for v in np.atleast_1d(level)]
    est = None
    frames = []
    for origin in origins:
        if est is None or refit:
            est = clone(estimator).fit(wide.iloc[:origin], static_df=static_df)
        # predict reads the last `lookback` rows; passing only those avoids re-validating
        # the whole prefix at every cutoff.
        forecast = est.predict(wide.iloc[origin - lookback:origin], level=level,
                               futr_df=wide.iloc[origin:origin + horizon] if futr_exog else None)
        out = to_long(forecast, alias, series, options.long, levels, ids)
        truth = wide.iloc[origin:origin + horizon]
        out.insert(2, "cutoff", wide.index[origin - 1])
        out.insert(3, options.long.target_col,
                   np.concatenate([truth[c].to_numpy() for c in series]))
        frames.append(out)
    result = pd.concat(frames, ignore_index=True)
    return result.sort_values([options.long.id_col, "cutoff", options.long.time_col],
                              kind="stable", ignore_index=True)


def _long_folds(estimator, df, names, times, origins, lookback, horizon, refit, level,
                static_df) -> pd.DataFrame:
    """The folds of a long frame fitted with static features: each fit and forecast reads
    the long rows themselves, by time, so that every series keeps its own covariates."""
    stamps = pd.DatetimeIndex(pd.to_datetime(df[names.time_col]))
    frame = df.assign(**{names.time_col: stamps})
    cuts = [(stamps <= times[origin - 1],
             (stamps <= times[origin - 1]) & (stamps >= times[origin - lookback]),
             (stamps > times[origin - 1]) & (stamps <= times[origin + horizon - 1]))
            for origin in origins]
    return _folds_of_rows(estimator, frame, names, cuts, refit, level, static_df)


def _ragged_folds(estimator, df, names, n_windows, step, horizon, refit, level,
                  static_df) -> pd.DataFrame:
    """The folds of a ragged panel: at window k each series keeps the rows that end
    (n_windows - 1 - k) * step + horizon rows before its own last one, and its next `horizon`
    rows are the truth; the global model forecasts every series from its own cutoff."""
    frame = df.assign(**{names.time_col: pd.to_datetime(df[names.time_col])})
    frame = frame.sort_values([names.id_col, names.time_col], kind="stable", ignore_index=True)
    from_end = frame.groupby(names.id_col, sort=False).cumcount(ascending=False).to_numpy()
    lengths = frame.groupby(names.id_col, sort=False)[names.time_col].transform("size")
    held = (n_windows - 1) * step + horizon  # rows after the first cutoff
    short = frame.loc[lengths.to_numpy() <= held, names.id_col].unique()
    if len(short):
        shortest = int(lengths.min())
        raise TSMambaInputError(
            f"series {list(short[:5])} ({len(short)}) have at most {shortest} rows, too few "
            f"for {n_windows} windows of horizon {horizon}, {step} apart ({held} rows after "
            "the first cutoff, and a row before it at least); use fewer windows or a smaller "
            "step_size, or leave those series out")
    cuts = []
    for k in range(n_windows):
        after = (n_windows - 1 - k) * step  # each series' rows after this window
        history = from_end >= after + horizon
        cuts.append((history, history, (from_end >= after) & (from_end < after + horizon)))
    return _folds_of_rows(estimator, frame, names, cuts, refit, level, static_df)


def _folds_of_rows(estimator, frame, names, cuts, refit, level, static_df) -> pd.DataFrame:
    """Each of `cuts`, masks of `frame`'s rows (those to fit on, the history to forecast
    from, the truth after it), as one fold: forecast, truth and each series' cutoff, the last
    timestamp of its history. The first fit serves every fold unless `refit`."""
    futr = bool(estimator.get_params()["futr_exog"])
    est = None
    folds = []
    for fit_rows, history_rows, truth_rows in cuts:
        if est is None or refit:
            est = clone(estimator).fit(frame[fit_rows], static_df=static_df)
        history, truth = frame[history_rows], frame[truth_rows]
        forecast = est.predict(history, level=level,
                               futr_df=truth.drop(columns=names.target_col) if futr else None)
        cutoffs = history.groupby(names.id_col, sort=False)[names.time_col].max()
        fold = forecast.merge(truth[[names.id_col, names.time_col, names.target_col]],
                              on=[names.id_col, names.time_col], how="left")
        fold.insert(2, "cutoff", fold[names.id_col].map(cutoffs).to_numpy())
        fold.insert(3, names.target_col, fold.pop(names.target_col))
        folds.append(fold)
    result = pd.concat(folds, ignore_index=True)
    return result.sort_values([names.id_col, "cutoff", names.time_col], kind="stable",
                              ignore_index=True)
