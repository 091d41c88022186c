"""TSMambaForecaster: the scikit-learn-style front door (fit a wide frame, predict a frame).

`__init__` only stores arguments, so `get_params`, `set_params` and `sklearn.clone` work;
`fit` validates them and the data, trains, and sets attributes ending in `_`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from . import conformal, distributed, model_io
from .checkpoint import Checkpointer, fingerprint
from .covariates import (calendar_columns, calendar_features, check_futr_exog,
                         check_hist_exog, future_values, split_targets)
from .cross_validation import cross_validation
from .data import FrameOptions, SlidingWindows, _split_time_axis, as_pandas, fit_scaler
from .errors import TSMambaInputError
from .fitted import FittedState
from .long_format import (LongColumns, check_long, covariate_column, future_rows, is_long,
                          long_future, misalignment, pivoted_covariates, series_ids, to_long)
from .models import ALIASES, CHANNEL_INDEPENDENT
from .panel import (MAX_VALIDATION_WINDOWS, PanelWindows, forecast_panel,
                    future_stamps, panel_scaler, read_panel, read_static, scaled_values,
                    validation_stops, warn_short, window_starts)
from .training import build_and_train
from .validation import check_params, positive_int, resolve_device


def _scaled(values: np.ndarray, train_stop: int | None = None,
            training: np.ndarray | None = None):
    """A scaler fitted on rows [0, train_stop) of `values` (rows, k), or on the rows where
    `training` (rows,) holds, and the scaled float32 tensor; (None, None) when there are no
    columns."""
    if values.shape[1] == 0:
        return None, None
    scaler = (fit_scaler(values, train_stop) if training is None
              else fit_scaler(values[training], int(training.sum())))
    return scaler, torch.from_numpy(scaler.transform(values).astype(np.float32))


def _panel_known(panel, futr: list, calendar: list) -> np.ndarray:
    """(rows, k) the known covariates of every row of `panel`: the futr_exog columns, then the
    calendar features of the rows' timestamps."""
    if not futr and not calendar:
        return np.empty((len(panel.values), 0))
    return np.column_stack([panel.covariates[c] for c in futr]
                           + [calendar_features(panel.times, calendar)])


class TSMambaForecaster(BaseEstimator):
    """Multivariate forecaster: every column of a wide frame is forecast jointly, but those
    named as covariates known in the future (`futr_exog`), which are inputs.

    Parameters
    ----------
    model : the network, one of `tsmamba.models.model_names()`: "s4" (the default), "tsm2",
        "mamba", "mamba2", "groupmamba".

    The defaults (S4, batch 64, dropout 0.3, RevIN, Huber loss, up to 40 epochs of 25 steps
    with patience 5, a moving average of the weights at decay 0.98) were chosen by validation MSE
    over six datasets for a fit that takes seconds on a laptop CPU (BENCHMARKS.md, "The
    estimator's defaults"); a fit that ends at max_epochs while still improving warns
    (sklearn's ConvergenceWarning).
    horizon, lookback : steps to forecast, and steps of history each forecast reads.
    d_model, d_state, n_layers, patch_len, stride, dropout : network size (see the model).
    norm : the instance normalisation around the network, per window and series: "revin"
        (subtract the window's mean, divide by its std), "last" (subtract its last value,
        divide by its std), each with "_affine" for a learned scale and shift per series
        (`tsmamba.models.layers.InstanceNorm`).
    model_options : dict of model-specific settings, e.g. {"init": "lin"} for s4 or
        {"bidirectional_time": True} for tsm2; `tsmamba.models.model_options(name)` lists them.
    learning_rate, batch_size, max_epochs, max_steps_per_epoch, patience : training; an epoch
        is a shuffled pass over the training windows, cut at `max_steps_per_epoch` batches.
    lr_decay, warmup_epochs : epoch E trains at learning_rate * lr_decay ** max(0, E - 1 -
        warmup_epochs): the rate is multiplied by lr_decay after every epoch (1.0: constant),
        except after the first warmup_epochs.
    loss : the training loss on the scaled values, "mse", "mae" or "huber" (delta 1, i.e. one
        training standard deviation). Early stopping compares validation MSE whatever the
        loss (with val_size=0 it compares the training loss).
    augment, mixup_sigma : "channel_mixup" mixes every training window (input and target)
        with a random multiple (N(0, mixup_sigma^2)) of another of its series (CMamba's
        channel mixup); None trains on the windows as they are.
    teacher, distill_weight : distillation. `teacher` is a fitted TSMambaForecaster or the
        directory of a saved one, of the same columns, lookback and horizon; the training loss
        becomes (1 - distill_weight) loss(forecast, truth) + distill_weight loss(forecast,
        teacher's forecast). A teacher given as an object is not saved with the model.
    ema_decay : validate, early-stop and keep an exponential moving average of the weights,
        moved towards them by (1 - ema_decay) after every step (`tsmamba.weight_average`);
        0 keeps the trained weights themselves.
    val_size : fraction of the rows (the most recent ones) held out for early stopping.
    time_col, freq : the time axis (detected when None; "ds" for long frames) and its
        frequency (inferred when None).
    id_col, target_col : the series-id and value columns that make a frame *long* (Nixtla's
        unique_id / ds / y). A long frame of aligned series is pivoted to one column per
        series; one whose series start and end at different times (a ragged panel) trains
        the channel-independent models (s4, mamba, mamba2) as one global model over every
        series' own windows (`tsmamba.panel`). Forecasts made from a long frame are long too,
        each series' after its own end.
    futr_exog : columns that are covariates known in the future (calendars, prices, weather
        forecasts), inputs rather than series to forecast; `predict` then needs their future
        values (`futr_df`, the frame `make_future_frame` gives to fill). Each forecast step
        adds their effect at that step (`tsmamba.models.covariate_effects`). In long frames,
        columns beside `unique_id, ds, y` with a value per series and time.
    hist_exog : columns that are covariates observed only in the past (a neighbour's load,
        yesterday's readings): inputs over the lookback, never needed for the future; the
        history `predict` forecasts from must hold them. In long frames, as futr_exog.
    stat_exog : the columns of `fit(static_df=...)` to use as static features of each series
        (None: all of them). static_df has the id column and a row a series, or, for a wide
        frame, is indexed by its series' names. Static features make the fit one global model
        over the series (channel-independent models only), whose covariates' effects then
        depend on them.
    calendar : add calendar features of the time index as future covariates: hour of the day,
        day of the week and month of the year, as the frequency allows, each as a sine and a
        cosine (`tsmamba.covariates`); predict computes them itself.
    fill_gaps : None (missing timestamps are an error), "interpolate" or "ffill".
    drop_duplicates : None (duplicate timestamps are an error), "first" or "last".
    random_state : seed; the same seed gives identical forecasts on CPU.
    device : "auto" (CUDA when available), "cpu" or "cuda".
    progress : report each epoch on stderr while fitting: rich's bar in a terminal or a
        notebook, one line per epoch elsewhere (`tsmamba.progress`); False for silence.

    An unsorted frame is sorted by time with a warning; every other repair is opt-in.
    """

    def __init__(self, model="s4", horizon=24, lookback=96, *, d_model=32, d_state=16,
                 n_layers=2, patch_len=16, stride=8, dropout=0.3, norm="revin",
                 model_options=None,
                 learning_rate=1e-3, batch_size=64, max_epochs=40, max_steps_per_epoch=25,
                 patience=5, lr_decay=1.0, warmup_epochs=0, loss="huber", ema_decay=0.98,
                 augment=None, mixup_sigma=1.0, teacher=None, distill_weight=0.5, val_size=0.2,
                 time_col=None, freq=None, futr_exog=None, hist_exog=None, stat_exog=None,
                 calendar=False,
                 fill_gaps=None, drop_duplicates=None, id_col="unique_id", target_col="y",
                 random_state=0, device="auto", progress=True):
        self.model = model
        self.horizon = horizon
        self.lookback = lookback
        self.d_model = d_model
        self.d_state = d_state
        self.n_layers = n_layers
        self.patch_len = patch_len
        self.stride = stride
        self.dropout = dropout
        self.norm = norm
        self.model_options = model_options
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.max_steps_per_epoch = max_steps_per_epoch
        self.patience = patience
        self.lr_decay = lr_decay
        self.warmup_epochs = warmup_epochs
        self.loss = loss
        self.augment = augment
        self.mixup_sigma = mixup_sigma
        self.teacher = teacher
        self.distill_weight = distill_weight
        self.ema_decay = ema_decay
        self.val_size = val_size
        self.time_col = time_col
        self.freq = freq
        self.futr_exog = futr_exog
        self.hist_exog = hist_exog
        self.stat_exog = stat_exog
        self.calendar = calendar
        self.fill_gaps = fill_gaps
        self.drop_duplicates = drop_duplicates
        self.id_col = id_col
        self.target_col = target_col
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _frame_options(self) -> FrameOptions:
        return FrameOptions.from_params(self.get_params())

    def _split(self, n_rows: int) -> int:
        """Row where validation targets start; n_rows when there is no validation split."""
        n_val = int(round(self.val_size * n_rows))
        if n_val == 0:
            return n_rows
        if n_val < self.horizon or n_rows - n_val < self.lookback + self.horizon:
            warnings.warn(f"{n_rows} rows are too few for a validation split of val_size="
                          f"{self.val_size} (lookback {self.lookback}, horizon {self.horizon}); "
                          "training without early stopping", stacklevel=3)
            return n_rows
        return n_rows - n_val

    # -- scikit-learn API ------------------------------------------------------------------
    def fit(self, df, y=None, checkpoint_dir=None, static_df=None):
        """Validate `df` (a wide or long frame), train the network, and return self.

        With `checkpoint_dir`, every epoch is checkpointed there (atomically); calling fit
        again with the same data and settings after a crash or kill resumes from the last
        complete epoch, and on CPU ends with the same model as an uninterrupted run.
        """
        df = as_pandas(df)  # polars frames are converted at the door
        params = self.get_params()
        check_params(params)
        device = distributed.local_device(resolve_device(self.device))
        options = self._frame_options()
        if is_long(df, options.long):
            check_long(df, options.long)
            problem = misalignment(df, options.long)
            if problem or static_df is not None:
                return self._fit_panel(df, params, device, checkpoint_dir, problem, static_df)
        elif static_df is not None:  # a wide frame's static table: its series as a panel
            frame, _ = options.read(df, self.freq, self.lookback + self.horizon,
                                    f" (lookback {self.lookback} + horizon {self.horizon})")
            return self._fit_panel(self._melted(frame), params, device, checkpoint_dir, None,
                                   static_df, input_format="wide")
        frame, long = options.read(
            df, self.freq, self.lookback + self.horizon,
            f" (lookback {self.lookback} + horizon {self.horizon})")
        values, columns, covariates, known, past, observed = \
            self._targets_and_covariates(frame, long)
        n_rows = len(values)
        train_stop = self._split(n_rows)
        scaler = fit_scaler(values, train_stop)
        scaled = torch.from_numpy(scaler.transform(values).astype(np.float32))  # (rows, m)
        on_device = scaled.to(device)  # windows are cut where the model runs
        known_scaler, known_scaled = _scaled(known, train_stop)  # (rows, k)
        past_scaler, past_scaled = _scaled(observed, train_stop)  # (rows, p)
        inputs = [t.to(device) if t is not None else None for t in (known_scaled, past_scaled)]
        train_windows = SlidingWindows(on_device, self.lookback, self.horizon, 0, train_stop,
                                       *inputs)
        val_windows = (SlidingWindows(on_device, self.lookback, self.horizon,
                                      train_stop - self.lookback, n_rows, *inputs)
                       if train_stop < n_rows else None)
        if len(train_windows) < self.batch_size and distributed.leads():  # said once per run
            warnings.warn(
                f"only {len(train_windows)} training window(s), fewer than one batch of "
                f"{self.batch_size}: of the {n_rows} rows, {train_stop} train (val_size="
                f"{self.val_size}) and each window spans lookback {self.lookback} + horizon "
                f"{self.horizon} rows; shorten the lookback or horizon, or lower val_size",
                stacklevel=2)
        network, config, result = self._train(
            params, columns, scaler, train_windows, val_windows, device, checkpoint_dir,
            [t for t in (scaled, known_scaled, past_scaled) if t is not None], train_stop,
            len(covariates), len(past))
        # Intervals: absolute errors on the validation windows, in the data's units.
        scores = (conformal.conformity_scores(network, val_windows) * scaler.scale_
                  if val_windows is not None and len(val_windows) else None)  # (n, f, m)
        FittedState(
            model=network, config=config, scaler=scaler, freq=frame.freq,
            history_index=frame.index[-self.lookback:], device=str(device),
            columns=columns, best_epoch=result.best_epoch, n_epochs=result.epoch,
            training_log=result.log,
            history=values[-self.lookback:].copy(),  # (lookback, m), original units
            input_format="long" if long else "wide", conformity_scores=scores,
            series_ids=series_ids(df, self._frame_options().long, columns) if long else None,
            covariates=covariates,
            covariate_mean=known_scaler.mean_ if covariates else None,
            covariate_scale=known_scaler.scale_ if covariates else None,
            covariate_history=known[-self.lookback:].copy() if covariates else None,
            past_covariates=past, past_mean=past_scaler.mean_ if past else None,
            past_scale=past_scaler.scale_ if past else None,
            past_history=observed[-self.lookback:].copy() if past else None).apply(self)
        return self

    def _melted(self, frame) -> pd.DataFrame:
        """A validated wide frame as the long frame of its series (id, time, value), each row
        with the covariate columns' values at its time."""
        names = self._frame_options().long
        inputs = check_futr_exog(self.futr_exog) + check_hist_exog(self.hist_exog)
        split_targets(frame.columns, check_futr_exog(self.futr_exog),
                      check_hist_exog(self.hist_exog))  # every named column is there
        shared = {c: frame.values[:, frame.columns.index(c)] for c in inputs}
        return pd.concat([pd.DataFrame({names.id_col: name, names.time_col: frame.index,
                                        names.target_col: frame.values[:, j], **shared})
                          for j, name in enumerate(frame.columns) if name not in inputs],
                         ignore_index=True)

    def _fit_panel(self, df, params, device, checkpoint_dir, problem, static_df,
                   input_format="long"):
        """Fit one global network over the windows of every series of a long frame whose
        series are not aligned, or that comes with static features (`tsmamba.panel`):
        channel-independent models only. Covariates are each series' own."""
        if self.model not in CHANNEL_INDEPENDENT:
            why = (f"{problem}. model={self.model!r} mixes the series of each timestamp, so it "
                   "needs the same timestamps for every series (fill or trim them)" if problem
                   else f"static_df was given, but model={self.model!r} forecasts the aligned "
                   "series jointly, each with its own output, which a constant per series "
                   "cannot inform")
            raise TSMambaInputError(
                f"{why}; the channel-independent models ({', '.join(CHANNEL_INDEPENDENT)}) "
                "train one global model over every series' own windows, and take unaligned "
                "series and static features")
        if self.teacher is not None:
            raise TSMambaInputError("teacher= is not supported for a global model over a panel "
                                    f"yet ({problem or 'static features'}); leave it out")
        options = self._frame_options()
        panel = read_panel(df, options.long, self.freq)
        futr, hist = check_futr_exog(self.futr_exog), check_hist_exog(self.hist_exog)
        absent = [c for c in futr + hist if c not in panel.covariates]
        if absent:
            raise TSMambaInputError(f"{absent} are named as covariates, but the long frame "
                                    "lacks them; name columns of the frame")
        static, static_names = (read_static(static_df, options.long, panel.names, self.stat_exog)
                                if static_df is not None else (np.empty((len(panel.names), 0)), []))
        calendar = calendar_columns(panel.freq) if self.calendar else []
        if self.calendar and not calendar:
            raise TSMambaInputError(f"calendar=True finds no calendar feature at the frequency "
                                    f"{panel.freq.freqstr}; leave calendar=False")
        warn_short(panel, self.lookback)
        lengths, size = panel.lengths, self.lookback + self.horizon
        stops = validation_stops(lengths, self.val_size, self.lookback, self.horizon)
        if self.val_size > 0 and (stops == lengths).all():
            warnings.warn(f"no series has rows enough for a validation split of val_size="
                          f"{self.val_size} (lookback {self.lookback}, horizon {self.horizon}; "
                          f"the longest has {lengths.max()} rows); training without early "
                          "stopping", stacklevel=3)
        scaler = panel_scaler(panel, stops)
        scaled = scaled_values(panel, scaler)  # (rows, 1)
        # The covariates: one scale each over every series' training rows; static features
        # over the series.
        training = panel.rows_before(stops)  # (rows,)
        known = _panel_known(panel, futr, calendar)
        observed = (np.column_stack([panel.covariates[c] for c in hist]) if hist
                    else np.empty((len(panel.values), 0)))
        known_scaler, known_scaled = _scaled(known, training=training)
        past_scaler, past_scaled = _scaled(observed, training=training)
        static_scaler, static_scaled = _scaled(static, len(static))
        on = [t.to(device) if t is not None else None
              for t in (scaled, known_scaled, past_scaled, static_scaled)]
        zeros = np.zeros_like(lengths)

        def windows(first, stop, at_most=None):
            starts = window_starts(panel.offsets, first, stop, size, at_most)
            return PanelWindows(on[0], starts, self.lookback, self.horizon, on[1], on[2], on[3],
                                panel.series_of(starts))

        train_windows = windows(zeros, stops)
        if len(train_windows) == 0:
            raise TSMambaInputError(
                f"no series has the lookback {self.lookback} + horizon {self.horizon} = {size} "
                f"rows a training window spans (the longest has {lengths.max()}); lower "
                "lookback or horizon")
        held = stops < lengths
        val_windows = (windows(np.where(held, stops - self.lookback, lengths), lengths,
                               MAX_VALIDATION_WINDOWS) if held.any() else None)
        untrained = int((stops < size).sum())
        if untrained and distributed.leads():
            warnings.warn(f"{untrained} of {len(lengths)} series are too short for a training "
                          f"window of lookback {self.lookback} + horizon {self.horizon} rows; "
                          "the global model forecasts them from what it learnt on the others",
                          stacklevel=3)
        n_known = known.shape[1] + static.shape[1]
        network, config, result = self._train(
            params, [self.target_col], scaler, train_windows, val_windows, device,
            checkpoint_dir, [t for t in (scaled, torch.from_numpy(panel.offsets), known_scaled,
                                         past_scaled, static_scaled) if t is not None],
            stops.tolist(), n_known, observed.shape[1], static.shape[1], stacklevel=4)
        # Intervals: the validation windows' absolute errors in scaled units, (n, f, 1):
        # predict multiplies them by each series' own scale.
        scores = (conformal.conformity_scores(network, val_windows)
                  if val_windows is not None else None)
        FittedState(
            model=network, config=config, scaler=scaler, freq=panel.freq,
            history_index=panel.ends, device=str(device), columns=panel.names,
            best_epoch=result.best_epoch, n_epochs=result.epoch, training_log=result.log,
            history=panel.last_rows(self.lookback), input_format=input_format,
            conformity_scores=scores, series_ids=panel.ids, global_model=True,
            covariates=futr + calendar,
            covariate_mean=known_scaler.mean_ if known_scaler else None,
            covariate_scale=known_scaler.scale_ if known_scaler else None,
            past_covariates=hist, past_mean=past_scaler.mean_ if past_scaler else None,
            past_scale=past_scaler.scale_ if past_scaler else None,
            past_history=panel.last_rows(self.lookback, observed) if hist else None,
            covariate_history=(panel.last_rows(self.lookback, known)
                               if futr or calendar else None),
            static_covariates=static_names, static_values=static if static_names else None,
            static_mean=static_scaler.mean_ if static_scaler else None,
            static_scale=static_scaler.scale_ if static_scaler else None).apply(self)
        return self

    def _train(self, params, columns, scaler, train_windows, val_windows, device,
               checkpoint_dir, data: list, split, n_covariates: int = 0, n_past: int = 0,
               n_static: int = 0, stacklevel: int = 3):
        """The network trained on the windows (checkpointed to `checkpoint_dir`, whose run
        is told by the parameters, the scaled `data` and the `split`); says so when training
        stopped at the epoch limit."""
        place = distributed.join(device)
        run = (fingerprint({**params, "progress": None, "device": device.type,
                            "train_stop": split}, *data)
               if checkpoint_dir is not None or place.active else None)
        distributed.check_same_run(run, place)
        # Under torchrun rank 0 alone reads and writes the checkpoint (`distributed.py`).
        checkpointer = (Checkpointer(checkpoint_dir, run)
                        if checkpoint_dir is not None and place.leads else None)
        try:
            network, config, result = build_and_train(params, columns, scaler,
                                                      train_windows, val_windows, device,
                                                      checkpointer, n_covariates, n_past,
                                                      n_static)
        finally:
            if checkpointer is not None:
                checkpointer.release()  # the directory is free for the next run
        if val_windows is not None and self.max_epochs > 1 and distributed.leads() and \
                result.best_epoch == result.epoch == self.max_epochs:
            warnings.warn(ConvergenceWarning(
                f"training stopped at the epoch limit (max_epochs={self.max_epochs}) with the "
                "validation loss still falling at its last epoch; raise max_epochs for a "
                "better fit"), stacklevel=stacklevel)  # the user's call of fit
        return network, config, result

    def _targets_and_covariates(self, frame, long):
        """The series to forecast (rows, m) and their names; the covariates known in the
        future, their names and values (rows, k), the futr_exog columns then the calendar;
        and those observed only in the past, their names and values (rows, p)."""
        futr_exog, hist_exog = self._covariate_columns(frame.columns, long)
        if long:
            named = check_futr_exog(self.futr_exog) + check_hist_exog(self.hist_exog)
            absent = [c for c in named
                      if covariate_column(c, frame.columns[0]) not in frame.columns]
            if absent:
                raise TSMambaInputError(f"{absent} are named as covariates, but the long frame "
                                        "lacks them; name columns of the frame")
        targets, exog, hist = split_targets(frame.columns, futr_exog, hist_exog)
        calendar = calendar_columns(frame.freq) if self.calendar else []
        if self.calendar and not calendar:
            raise TSMambaInputError(
                f"calendar=True finds no calendar feature at the frequency {frame.freq.freqstr}: "
                "hours of the day, days of the week and months of the year need steps shorter "
                "than a day, a week and a year; leave calendar=False")
        known = np.concatenate([frame.values[:, exog], calendar_features(frame.index, calendar)],
                               axis=1)  # (rows, k)
        return (frame.values[:, targets], [frame.columns[j] for j in targets],
                futr_exog + calendar, known, hist_exog, frame.values[:, hist])

    def _covariate_columns(self, columns: list[str], long: bool) -> tuple[list, list]:
        """The wide columns of the futr_exog and hist_exog covariates: as named, or, pivoted
        from a long frame, one per covariate and series (`long_format.pivoted_covariates`)."""
        futr, hist = check_futr_exog(self.futr_exog), check_hist_exog(self.hist_exog)
        return pivoted_covariates(columns, futr, hist) if long else (futr, hist)

    def _history_from(self, df):
        """The last lookback rows of `df`: the fitted series' values (lookback, m), their
        timestamps, whether `df` is long, the past covariates' values (lookback, p), and the
        known covariates' (lookback, k), or None where `df` lacks a futr_exog column."""
        frame, long = self._frame_options().read(
            df, self.freq_, self.lookback, f" (the lookback of {self.lookback})")
        futr_exog = self._covariate_columns(frame.columns, long)[0]
        past = self.past_covariates_
        missing = [c for c in self.columns_ if c not in frame.columns]
        unseen = [c for c in frame.columns
                  if c not in self.columns_ and c not in futr_exog and c not in past]
        if missing or unseen:
            raise TSMambaInputError(
                f"the columns differ from those seen in fit: missing {missing}, not seen in "
                f"fit {unseen}; pass exactly the fitted columns {self.columns_}")
        lacking = [c for c in past if c not in frame.columns]
        if lacking:
            raise TSMambaInputError(
                f"the history lacks the hist_exog covariates {lacking}: the forecast reads "
                "their values over the lookback; pass them beside the series")
        order = [frame.columns.index(c) for c in self.columns_]  # reordered columns are fine
        observed = frame.values[-self.lookback:, [frame.columns.index(c) for c in past]]
        index = frame.index[-self.lookback:]
        known = None
        if all(c in frame.columns for c in futr_exog):
            calendar = self.covariates_[len(futr_exog):]
            known = np.concatenate([frame.values[-self.lookback:, [frame.columns.index(c)
                                                                   for c in futr_exog]],
                                    calendar_features(index, calendar)], axis=1)
        return frame.values[-self.lookback:, order], index, long, observed, known

    def _reads_covariate_lookback(self) -> bool:
        """Whether the network reads the known covariates' lookback rows, whose mean their
        effects are measured from: every model fitted now; files saved before read none."""
        return bool(self.covariates_) and getattr(self.config_, "relative_future_covariates",
                                                  False)

    def _lacking_covariate_history(self, columns: list, beside: str) -> TSMambaInputError:
        return TSMambaInputError(
            f"the history lacks the futr_exog covariates {columns}: the forecast reads their "
            "values over the lookback (their moves from there act on the forecast) as well as "
            f"futr_df's; pass them beside {beside}")

    def predict(self, df=None, level=None, h=None, futr_df=None) -> pd.DataFrame:
        """Forecast `horizon` steps (or the first `h` of them) after the training data, or
        after the end of `df`. A model fitted with `futr_exog` needs their values at the
        timestamps forecast: `futr_df`, a frame of those columns indexed (or with a time
        column) by time, as `make_future_frame()` gives it to fill; other rows are ignored.
        A history `df` carries those columns too: the network reads their moves from their
        lookback mean (`tsmamba.models.covariate_effects`).

        Wide in, wide out: horizon rows x the fitted columns, in the data's units, indexed by
        the timestamps that follow the history; with `level` (a percentage or a list, e.g.
        [80, 95]) also `<column>-lo-<level>` and `<column>-hi-<level>` columns, conformal
        intervals calibrated on the validation windows (see `tsmamba.conformal`).
        Long in (fit or `df`), long out: unique_id, ds, the model's name (e.g. "TSM2"), and
        "TSM2-lo-80", "TSM2-hi-80" for intervals.
        """
        df = as_pandas(df)  # polars frames are converted at the door
        check_is_fitted(self, "model_")
        steps = self._steps(h)
        levels = conformal.check_levels(level) if level is not None else []
        if levels and self.conformity_scores_ is None:
            raise TSMambaInputError("no calibration windows: this model was fitted without a "
                                    "validation split (val_size=0 or too few rows); refit with "
                                    "val_size > 0 to get intervals")
        if self.global_model_:
            return self._predict_panel(df, steps, levels, futr_df)
        if df is None:
            history, index, long = self.history_, self.history_index_, self.input_format_ == "long"
            observed, known = self.past_history_, self.covariate_history_
        else:
            history, index, long, observed, known = self._history_from(df)
        future = pd.date_range(index[-1] + self.freq_, periods=steps, freq=self.freq_,
                               name=index.name)
        scaled = self.scaler_.transform(history).astype(np.float32)  # (lookback, m)
        x = torch.from_numpy(scaled).unsqueeze(0)  # (1, lookback, m)
        m, k, p = len(self.columns_), len(self.covariates_), len(self.past_covariates_)
        if k or p:
            window = torch.zeros(1, self.lookback + self.horizon, m + k + p)
            window[0, :self.lookback, :m] = x[0]
            if k:  # each step reads only its own covariates: steps past h stay zero, unread
                window[0, self.lookback:self.lookback + steps, m:m + k] = \
                    torch.from_numpy(self._known_future(futr_df, future))
                if known is not None:
                    window[0, :self.lookback, m:m + k] = torch.from_numpy(
                        ((known - self.covariate_mean_) / self.covariate_scale_).astype(np.float32))
                elif self._reads_covariate_lookback():
                    raise self._lacking_covariate_history(check_futr_exog(self.futr_exog),
                                                          "y" if long else "the series")
            if p:
                window[0, :self.lookback, m + k:] = torch.from_numpy(
                    ((observed - self.past_mean_) / self.past_scale_).astype(np.float32))
            x = window  # (1, lookback + horizon, m + k + p)
        elif futr_df is not None:
            raise TSMambaInputError("futr_df was given, but this model was fitted without "
                                    "futr_exog covariates; leave futr_df out")
        device = next(self.model_.parameters()).device
        self.model_.eval()
        with torch.no_grad():
            forecast = self.model_(x.to(device))[0].cpu().numpy()  # (f, m)
        values = self.scaler_.inverse_transform(forecast.astype(np.float64))[:steps]
        forecast = pd.DataFrame(values, index=future, columns=self.columns_)
        for lvl in levels:
            width = conformal.half_widths(self.conformity_scores_, lvl)[:steps]  # (h, m)
            for j, column in enumerate(self.columns_):
                forecast[f"{column}-lo-{lvl:g}"] = values[:, j] - width[:, j]
                forecast[f"{column}-hi-{lvl:g}"] = values[:, j] + width[:, j]
        if long:
            return to_long(forecast, ALIASES[self.model], self.columns_,
                           self._frame_options().long, levels, getattr(self, "series_ids_", None))
        return forecast

    def _predict_panel(self, df, steps: int, levels: list, futr_df=None) -> pd.DataFrame:
        """A panel's forecast, long: each series from its own end (the training data's, or
        that of `df`, a long frame of the same series)."""
        history, ends, observed = self.history_, self.history_index_, self.past_history_
        known = self.covariate_history_
        options = self._frame_options()
        wide = self.input_format_ == "wide"  # a wide frame fitted with its static table
        if wide and df is not None:
            df = self._melted(options.read(df, self.freq_, self.lookback,
                                           f" (the lookback of {self.lookback})")[0])
        if wide and futr_df is not None:
            futr_df = self._melted_future(as_pandas(futr_df))
        if df is not None:
            if not is_long(df, options.long):
                raise TSMambaInputError(
                    "this model was fitted on a long frame of a panel; pass the history to "
                    f"forecast from in that form ({options.long.id_col!r}, "
                    f"{options.long.time_col!r}, {options.long.target_col!r})")
            check_long(df, options.long)
            panel = read_panel(df, options.long, self.freq_)
            missing = sorted(set(self.columns_) - set(panel.names))
            unseen = sorted(set(panel.names) - set(self.columns_))
            if missing or unseen:
                raise TSMambaInputError(
                    f"the series differ from those seen in fit: missing {missing[:5]} "
                    f"({len(missing)}), not seen in fit {unseen[:5]} ({len(unseen)}); pass a "
                    "frame with exactly the fitted series")
            lacking = [c for c in self.past_covariates_ if c not in panel.covariates]
            if lacking:
                raise TSMambaInputError(
                    f"the history lacks the hist_exog covariates {lacking}: the forecast reads "
                    "their values over the lookback; pass them beside y")
            warn_short(panel, self.lookback)
            where = {name: i for i, name in enumerate(panel.names)}
            order = np.array([where[name] for name in self.columns_])
            history = np.ascontiguousarray(panel.last_rows(self.lookback)[:, order])
            ends = panel.ends[order]
            if self.past_covariates_:
                observed = panel.last_rows(self.lookback, np.column_stack(
                    [panel.covariates[c] for c in self.past_covariates_]))[:, order]
            futr = check_futr_exog(self.futr_exog)
            lacking = [c for c in futr if c not in panel.covariates]
            if lacking and self._reads_covariate_lookback():
                raise self._lacking_covariate_history(lacking, "y")
            known = None if lacking or not self.covariates_ else panel.last_rows(
                self.lookback, _panel_known(panel, futr, self.covariates_[len(futr):]))[:, order]
        stamps = future_stamps(ends, self.freq_, steps)  # (n * steps,), series after series
        values = forecast_panel(self.model_, self.scaler_, history, self.horizon,
                                self._panel_inputs(futr_df, stamps, steps, observed, known))
        values = values[:steps]  # (steps, n)
        alias = ALIASES[self.model]
        ids = self.series_ids_ if self.series_ids_ is not None else self.columns_
        forecast = pd.DataFrame({
            options.long.id_col: np.repeat(np.asarray(ids, dtype=object), steps),
            options.long.time_col: stamps, alias: values.T.ravel()})
        for lvl in levels:
            half = (conformal.half_widths(self.conformity_scores_, lvl)[:steps]
                    * self.scaler_.scale_).T.ravel()  # (n * steps,), the data's units
            forecast[f"{alias}-lo-{lvl:g}"] = forecast[alias] - half
            forecast[f"{alias}-hi-{lvl:g}"] = forecast[alias] + half
        return self._widened(forecast, alias) if wide else forecast

    def _widened(self, forecast: pd.DataFrame, alias: str) -> pd.DataFrame:
        """A long forecast of a wide frame's series, wide again: a column a series (and its
        bounds, `<series>-lo-<level>`), indexed by time."""
        names = self._frame_options().long
        parts = []
        for name, part in forecast.groupby(names.id_col, sort=False):
            part = part.set_index(names.time_col).drop(columns=names.id_col)
            parts.append(part.rename(columns=lambda c: c.replace(alias, str(name), 1)))
        wide = pd.concat(parts, axis=1)
        wide.index.name = self.time_col
        return wide

    def _melted_future(self, futr_df: pd.DataFrame) -> pd.DataFrame:
        """A wide futr_df (time axis and the futr_exog columns) as the long one a panel
        reads: each series' rows with the same values."""
        names = self._frame_options().long
        futr = check_futr_exog(self.futr_exog)
        times, values = _split_time_axis(futr_df, self.time_col)
        absent = [c for c in futr if c not in values.columns]
        if absent:
            raise TSMambaInputError(f"futr_df lacks the futr_exog columns {absent}; its columns "
                                    f"are {[str(c) for c in values.columns]}")
        return pd.concat([pd.DataFrame({names.id_col: name, names.time_col: times,
                                        **{c: values[c].to_numpy() for c in futr}})
                          for name in self.columns_], ignore_index=True)

    def _panel_inputs(self, futr_df, stamps, steps: int, observed, known) -> np.ndarray | None:
        """(n, lookback + horizon, c) scaled covariates of each series' window, as
        `PanelWindows` lays them out (future, static, past), or None when it has none;
        `observed` (lookback, n, p) and `known` (lookback, n, k) are the past and the known
        covariates over each series' lookback (`known` None: not given, left zero)."""
        n, l, f = len(self.columns_), self.lookback, self.horizon
        futr = check_futr_exog(self.futr_exog)
        blocks = []
        if self.covariates_:
            if futr and futr_df is None:
                raise TSMambaInputError(
                    f"this model was fitted with futr_exog={futr}: pass their values at each "
                    "series' timestamps to forecast as predict(futr_df=...) (on the command "
                    "line: --futr FILE); make_future_frame() gives that frame to fill")
            given = (future_rows(as_pandas(futr_df), LongColumns(
                self.id_col, self._frame_options().long.time_col, self.target_col, tuple(futr)),
                pd.MultiIndex.from_arrays([np.repeat(self.columns_, steps), stamps]))
                .to_numpy(dtype=np.float64) if futr else np.empty((n * steps, 0)))
            bad = ~np.isfinite(given)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                raise TSMambaInputError(
                    f"futr_df's column {futr[col]!r} has no finite value for series "
                    f"{self.columns_[row // steps]!r} at {stamps[row]}; fill in the future values")
            calendar = self.covariates_[len(futr):]
            future = np.concatenate([given, calendar_features(stamps, calendar)], axis=1)
            future = (future - self.covariate_mean_) / self.covariate_scale_
            block = np.zeros((n, l + f, future.shape[1]))
            block[:, l:l + steps] = future.reshape(n, steps, -1)  # steps past h stay unread
            if known is not None:
                block[:, :l] = ((known - self.covariate_mean_)
                                / self.covariate_scale_).transpose(1, 0, 2)
            blocks.append(block)
        elif futr_df is not None:
            raise TSMambaInputError("futr_df was given, but this model was fitted without "
                                    "futr_exog covariates; leave futr_df out")
        if self.static_covariates_:
            static = (self.static_values_ - self.static_mean_) / self.static_scale_  # (n, s)
            blocks.append(np.repeat(static[:, None, :], l + f, axis=1))
        if self.past_covariates_:
            block = np.zeros((n, l + f, len(self.past_covariates_)))
            block[:, :l] = ((observed - self.past_mean_) / self.past_scale_).transpose(1, 0, 2)
            blocks.append(block)
        return np.concatenate(blocks, axis=2).astype(np.float32) if blocks else None

    def _n_calendar(self) -> int:
        return len(calendar_columns(self.freq_)) if self.calendar else 0

    def _steps(self, h) -> int:
        """How many steps to forecast: the fitted horizon, or h <= it."""
        steps = self.horizon if h is None else h
        positive_int("h", steps)
        if steps > self.horizon:
            raise TSMambaInputError(f"h={h} is more than the fitted horizon {self.horizon}; the "
                                    "network forecasts that many steps: refit with "
                                    f"horizon={h} for more")
        return steps

    def _known_future(self, futr_df, future: pd.DatetimeIndex) -> np.ndarray:
        """(len(future), k) scaled covariates at the timestamps `future`: the futr_exog
        columns' values from `futr_df`, then the calendar features."""
        futr_exog = self.covariates_[:len(self.covariates_) - self._n_calendar()]
        if futr_exog and futr_df is None:
            raise TSMambaInputError(
                f"this model was fitted with futr_exog={check_futr_exog(self.futr_exog)}: pass "
                f"their values at the {len(future)} timestamps to forecast ({future[0]} ... "
                f"{future[-1]}) as "
                "predict(futr_df=...) (on the command line: --futr FILE); make_future_frame() "
                "gives that frame to fill")
        time_col = self.time_col
        if futr_exog and self.input_format_ == "long":
            names = self._frame_options().long
            futr_df, time_col = long_future(as_pandas(futr_df), names, self.columns_,
                                            future), names.time_col
        given = (future_values(futr_df, futr_exog, future, time_col) if futr_exog
                 else np.empty((len(future), 0)))
        calendar = self.covariates_[len(futr_exog):]
        known = np.concatenate([given, calendar_features(future, calendar)], axis=1)
        return ((known - self.covariate_mean_) / self.covariate_scale_).astype(np.float32)

    def make_future_frame(self, df=None, h=None) -> pd.DataFrame:
        """The frame `predict(futr_df=...)` reads, to fill: the timestamps of the next
        `horizon` steps (or `h`) after the training data, or after the end of `df`, as its
        index, and one column per futr_exog covariate, all NaN."""
        check_is_fitted(self, "model_")
        steps = self._steps(h)
        futr_exog = check_futr_exog(self.futr_exog)
        if self.global_model_:  # each series' own next steps
            names = self._frame_options().long
            ends = self.history_index_
            if df is not None:
                df = as_pandas(df)
                if self.input_format_ == "wide":
                    df = self._melted(self._frame_options().read(df, self.freq_)[0])
                panel = read_panel(df, names, self.freq_)
                where = {name: i for i, name in enumerate(panel.names)}
                ends = panel.ends[[where[c] for c in self.columns_ if c in where]]
            ids = self.series_ids_ if self.series_ids_ is not None else self.columns_
            frame = pd.DataFrame({names.id_col: np.repeat(np.asarray(ids, dtype=object), steps),
                                  names.time_col: future_stamps(ends, self.freq_, steps)})
            if self.input_format_ == "wide":  # aligned series: one row a timestamp
                future = pd.DatetimeIndex(frame[names.time_col].iloc[:steps]).rename(self.time_col)
                return pd.DataFrame(np.nan, index=future, columns=futr_exog)
            return frame.assign(**{c: np.nan for c in futr_exog})
        index = self.history_index_ if df is None else self._history_from(as_pandas(df))[1]
        future = pd.date_range(index[-1] + self.freq_, periods=steps, freq=self.freq_,
                               name=index.name)
        if self.input_format_ == "long":  # Nixtla's make_future_dataframe: a row a series and step
            names = self._frame_options().long
            ids = self.series_ids_ if self.series_ids_ is not None else self.columns_
            frame = pd.DataFrame({names.id_col: np.repeat(np.asarray(ids, dtype=object), steps),
                                  names.time_col: np.tile(future, len(ids))})
            return frame.assign(**{c: np.nan for c in futr_exog})
        return pd.DataFrame(np.nan, index=future, columns=futr_exog)

    def score(self, df, y=None) -> float:
        """Minus the mean squared error, on the training rows' standard scale, of the forecast
        after the training data against the first rows of `df`, the rows that follow it (a
        test fold of `sklearn.model_selection.TimeSeriesSplit`): higher is better, as
        scikit-learn's model selection (`GridSearchCV`, `cross_val_score`) expects. `y` is
        unused."""
        df = as_pandas(df)  # polars frames are converted at the door
        check_is_fitted(self, "model_")
        if self.global_model_ and self.input_format_ == "long":
            return self._panel_score(df)
        frame, _ = self._frame_options().read(df, self.freq_)
        forecast = self.predict(h=min(self.horizon, len(frame.values)),
                                futr_df=df if self.futr_exog else None)
        if self.input_format_ == "long":  # back to one column per series, named as fitted
            names = self._frame_options().long
            forecast = forecast.pivot(index=names.time_col, columns=names.id_col,
                                      values=ALIASES[self.model])
            forecast.columns = [str(c) for c in forecast.columns]
        actual = frame.to_frame()
        start = forecast.index[0]
        if actual.index[0] != start:
            raise TSMambaInputError(
                f"score() compares the forecast after the training data with the first rows of "
                f"df: df should start at {start}, it starts at {actual.index[0]}")
        missing = [c for c in self.columns_ if c not in actual.columns]
        if missing:
            raise TSMambaInputError(f"df lacks the fitted columns {missing}")
        truth = actual[self.columns_].to_numpy()[:len(forecast)]
        predicted = forecast[self.columns_].to_numpy()
        return -float(np.mean(((predicted - truth) / self.scaler_.scale_) ** 2))

    def _panel_score(self, df) -> float:
        """score() of a global model fitted on a long frame: each series' forecast from its own
        end against the rows of `df` that follow it, each on its own training scale."""
        names = self._frame_options().long
        if not is_long(df, names):
            raise TSMambaInputError(
                f"this model was fitted on a long frame of a panel; score it on the rows that "
                f"follow each series' end in that form ({names.id_col!r}, {names.time_col!r}, "
                f"{names.target_col!r})")
        check_long(df, names)
        truth = df.assign(**{names.time_col: pd.to_datetime(df[names.time_col])})
        ids = self.series_ids_ if self.series_ids_ is not None else self.columns_
        counts = truth[names.id_col].value_counts()
        absent = [i for i in ids if counts.get(i, 0) == 0]
        if absent:
            raise TSMambaInputError(f"df has no rows of the fitted series {absent[:5]} "
                                    f"({len(absent)}); give each series the rows after its end")
        steps = int(min(self.horizon, counts[list(ids)].min()))
        forecast = self.predict(h=steps, futr_df=truth.drop(columns=names.target_col)
                                if self.futr_exog else None)
        alias = ALIASES[self.model]
        joined = forecast.merge(truth[[names.id_col, names.time_col, names.target_col]],
                                on=[names.id_col, names.time_col], how="left")
        missing = joined[joined[names.target_col].isna()]
        if len(missing):
            first = missing.iloc[0]
            raise TSMambaInputError(
                f"score() compares each series' forecast after its end with the rows of df that "
                f"follow it: df has no {names.target_col!r} for series {first[names.id_col]!r} "
                f"at {first[names.time_col]} ({len(missing)} such rows)")
        position = {name: j for j, name in enumerate(ids)}
        scale = self.scaler_.scale_[joined[names.id_col].map(position).to_numpy()]
        error = (joined[alias].to_numpy() - joined[names.target_col].to_numpy()) / scale
        return -float(np.mean(error ** 2))

    def cross_validation(self, df, n_windows: int = 1, step_size: int | None = None,
                         refit: bool = False, level=None, static_df=None) -> pd.DataFrame:
        """Rolling-origin evaluation on the last `n_windows` windows of `df` (wide or long).

        Windows are `step_size` rows apart (default: the horizon) and the last one ends at the
        last row. With refit=False one copy of this estimator is fitted on the rows before
        the first cutoff; with refit=True a copy is fitted at every cutoff. This estimator
        itself is left as it is. Returns a long frame: unique_id, ds, cutoff, y, the model's
        forecast (e.g. "TSM2") and, with `level`, its bounds; score it with
        `tsmamba.evaluate`.
        """
        return cross_validation(self, as_pandas(df), n_windows, step_size, refit, level,
                                static_df)

    # -- model files -------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted forecaster to directory `path` (safetensors + JSON, atomically).

        Under torchrun, rank 0 writes and every rank returns once the files are there."""
        check_is_fitted(self, "model_")
        if distributed.leads():
            model_io.save(self, path)
        distributed.barrier()

    @classmethod
    def load(cls, path, device="cpu") -> TSMambaForecaster:
        """Read a forecaster written by `save`; a damaged or foreign directory raises
        `ModelFormatError`. The network is placed on `device` (the CPU unless told); its
        forecasts equal the saved model's bit for bit on the device that model ran on."""
        return model_io.load(cls, path, device)
