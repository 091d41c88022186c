"""Panels for one global model: many series in one long frame, each with its own start, end
and length (a ragged panel), or with static features, trained as one channel-independent
network over every series' own windows.

Memory stays proportional to the data: the values of all series are one concatenated array
(series after series, each in time order), a window is its first row in that array (one
int64), and a batch is gathered only when asked for. Nothing is ever padded to the longest
series. A series' covariates are columns in the same order as its values; its static
features one row of an (n, s) table, which each window reads through its series.

    values:   |-- series 0 --|------- series 1 -------|-- series 2 --|
    offsets:  0              o1                       o2             o3 = rows
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.preprocessing import StandardScaler

from .data import (SlidingWindows, _check_finite, _check_value_columns, _parse_times, as_offset,
                   infer_frequency)
from .errors import TSMambaInputError
from .long_format import LongColumns, series_ids

_SHOW = 5  # how many series an error message names
# Validation windows a panel evaluates every epoch, at most: all of 10,000 series' held-out
# windows would cost more than the epoch's training; an even spread over them is enough for
# early stopping and conformal calibration.
MAX_VALIDATION_WINDOWS = 8192


@dataclass(frozen=True)
class RaggedPanel:
    """The validated series of a long frame, each regular and gap-free at `freq`."""

    names: list[str]  # the series ids as text, sorted by id
    ids: list | None  # the frame's own ids (ints, floats, text) in that order; None: text
    values: np.ndarray  # (rows,) float64, series after series, as given
    offsets: np.ndarray  # (n + 1,) int64: series i is values[offsets[i]:offsets[i + 1]]
    ends: pd.DatetimeIndex  # (n,) each series' last timestamp
    freq: pd.DateOffset
    times: pd.DatetimeIndex  # (rows,) the timestamps of `values`
    # The covariate columns the frame has (of those `LongColumns.covariates` names): name ->
    # (rows,) float64, in the order of `values`.
    covariates: dict

    @property
    def lengths(self) -> np.ndarray:  # (n,)
        return np.diff(self.offsets)

    def last_rows(self, count: int, values: np.ndarray | None = None) -> np.ndarray:
        """(count, n, ...): each series' last `count` values (or rows of `values`, an array
        in the order of `values`), the series side by side by position (not by time: their
        ends differ). A shorter series is padded at its start with its first value, as
        `Patching` pads the end with the last."""
        rows = self.offsets[1:, None] - count + np.arange(count)  # (n, count)
        rows = np.maximum(rows, self.offsets[:-1, None])
        picked = (self.values if values is None else values)[rows.T]  # (count, n, ...)
        return np.ascontiguousarray(picked)

    @property
    def row_series(self) -> np.ndarray:  # (rows,) the series each row of `values` is of
        return np.repeat(np.arange(len(self.names)), self.lengths)

    def rows_before(self, stops: np.ndarray) -> np.ndarray:
        """(rows,) whether each row lies before its series' row `stops[series]`."""
        series = self.row_series
        return np.arange(len(self.values)) - self.offsets[series] < stops[series]

    def series_of(self, rows: np.ndarray) -> np.ndarray:
        """The series (0 .. n - 1) that each of `rows` belongs to."""
        return np.searchsorted(self.offsets, rows, side="right") - 1


def _infer_freq(times: np.ndarray, codes: np.ndarray, offsets: np.ndarray) -> pd.DateOffset:
    """The frequency of the longest series (pandas' inference, which knows calendar steps
    such as months), or the most common step within series when that is not regular."""
    longest = int(np.argmax(np.diff(offsets)))
    own = pd.DatetimeIndex(times[offsets[longest]:offsets[longest + 1]])
    if len(own) >= 3:
        inferred = infer_frequency(own)
        if inferred is not None:
            return inferred
    steps = np.diff(times.astype(np.int64))[codes[1:] == codes[:-1]]
    if len(steps) == 0 or pd.Series(steps).mode().iloc[0] <= 0:
        raise TSMambaInputError("the frequency cannot be inferred: no series has two "
                                "timestamps; pass freq= (for example freq='h' or freq='MS')")
    return as_offset(pd.Timedelta(int(pd.Series(steps).mode().iloc[0]), unit="ns"))


def read_panel(df: pd.DataFrame, columns: LongColumns, freq=None) -> RaggedPanel:
    """Validate a long frame (checked by `long_format.check_long`) whose series need not
    share timestamps; every series must be regular at one frequency, without gaps. Errors
    name the series, row and timestamp."""
    ids, time_col, target = columns.id_col, columns.time_col, columns.target_col
    times = _parse_times(df[time_col].to_numpy(), repr(time_col))
    _check_value_columns(df[[target]], times)
    values = df[target].to_numpy(dtype=np.float64)
    _check_finite(values[:, None], [target], times)
    try:  # sorted by id, as the pivot of aligned series sorts them: row order does not matter
        codes, uniques = pd.factorize(df[ids], sort=True)
    except TypeError:  # ids of mixed types: in the order of first appearance
        codes, uniques = pd.factorize(df[ids], sort=False)
    order = np.lexsort((times.as_unit("ns").asi8, codes))  # by series, then time
    user_times = times  # in the frame's own row order, for errors that name a row
    codes, times, values = codes[order], times[order], values[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(uniques)))])
    offset = as_offset(freq) if freq is not None else _infer_freq(
        times.as_unit("ns").to_numpy(), codes, offsets)
    _check_regular(times, codes, offset, df[ids].to_numpy()[order], order, freq is not None)
    covariates = {}
    for name in columns.covariates:
        if name in df.columns:
            _check_value_columns(df[[name]], user_times)
            column = df[name].to_numpy(dtype=np.float64)
            _check_finite(column[:, None], [name], user_times)
            covariates[name] = column[order]
    names = [str(uid) for uid in uniques]
    return RaggedPanel(names=names, ids=series_ids(df, columns, names), values=values,
                       offsets=offsets.astype(np.int64), ends=times[offsets[1:] - 1],
                       freq=offset, times=times, covariates=covariates)


def _check_regular(times: pd.DatetimeIndex, codes: np.ndarray, offset: pd.DateOffset,
                   ids: np.ndarray, rows: np.ndarray, freq_given: bool) -> None:
    """Every timestamp of a series one step after the one before: the first gap or off-grid
    timestamp is named, with its series and the user's row."""
    same = codes[1:] == codes[:-1]
    expected = times[:-1] + offset
    wrong = np.flatnonzero(same & (times[1:] != expected))
    if len(wrong) == 0:
        return
    k = wrong[0]
    uid = ids[k + 1].item() if hasattr(ids[k + 1], "item") else ids[k + 1]  # 7, not int64(7)
    gap = times[k + 1] > expected[k]
    hint = ("" if freq_given else
            f" (the inferred frequency is {offset.freqstr!r}: pass freq= if that is wrong)")
    what = (f"has a gap: {times[k + 1]} (row {rows[k + 1]}) follows {times[k]} (row {rows[k]}), "
            f"where {expected[k]} was due; insert the missing rows (fill them) or trim the "
            "series" if gap else
            f"has timestamp {times[k + 1]} (row {rows[k + 1]}) less than one step after "
            f"{times[k]}; fix or drop it")
    raise TSMambaInputError(f"series {uid!r} {what}{hint}; {len(wrong)} such places in all")


def read_static(static_df, columns: LongColumns, names: list[str], stat_exog) -> tuple:
    """The static features of each series, (n, s) float64 in the order of `names`, and their
    names: the `stat_exog` columns of `static_df` (a frame with the id column and one row a
    series, or a wide frame's table indexed by its series' names), or all its columns but the
    id when stat_exog is None."""
    if not isinstance(static_df, pd.DataFrame):
        raise TypeError(f"static_df must be a pandas DataFrame with a {columns.id_col!r} "
                        f"column and one row a series, got {type(static_df).__name__}")
    ids = columns.id_col
    if ids not in static_df.columns:  # a wide frame's static table: a row a series, by name
        if not set(names) & set(static_df.index.astype(str)):
            raise TSMambaInputError(
                f"static_df has no {ids!r} column and its index names none of the series "
                f"({names[:3]}...); give each series' id in a {ids!r} column, or index the "
                "table by the series' column names")
        static_df = static_df.rename_axis(None).reset_index(names=ids)
    features = [c for c in static_df.columns if c != ids] if stat_exog is None else stat_exog
    absent = [c for c in features if c not in static_df.columns]
    if absent or not features:
        raise TSMambaInputError(f"stat_exog names {absent}, which static_df lacks" if absent
                                else "static_df has no feature column besides the ids")
    keys = static_df[ids].astype(str)
    if keys.duplicated().any():
        repeated = sorted(set(keys[keys.duplicated()]))[:5]
        raise TSMambaInputError(f"static_df repeats the series {repeated}; give one row a "
                                "series")
    lacking = sorted(set(names) - set(keys))
    if lacking:
        raise TSMambaInputError(f"static_df lacks {len(lacking)} of the series, for example "
                                f"{lacking[:5]}; give every series a row")
    table = static_df.set_index(keys)[features]
    for name in features:
        column = table[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise TSMambaInputError(f"static_df's column {name!r} is not numeric (dtype "
                                    f"{column.dtype}); encode it as numbers (0/1 for a category)")
    values = table.loc[names].to_numpy(dtype=np.float64)  # (n, s)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise TSMambaInputError(f"static_df's column {features[col]!r} has no finite value for "
                                f"series {names[row]!r} ({values[row, col]}); fill it")
    return values, list(features)


def warn_short(panel: RaggedPanel, lookback: int) -> None:
    """Say which series are shorter than the lookback: they are forecast from padded
    histories (`RaggedPanel.last_rows`)."""
    short = np.flatnonzero(panel.lengths < lookback)
    if len(short):
        ids = panel.ids if panel.ids is not None else panel.names
        shown = ", ".join(f"{ids[i]!r} ({panel.lengths[i]} rows)" for i in short[:_SHOW])
        warnings.warn(
            f"{len(short)} of {len(panel.names)} series are shorter than the lookback of "
            f"{lookback} rows: {shown}; each is forecast from its history padded at the start "
            "with its first value. Lower lookback to read less history", stacklevel=4)


def validation_stops(lengths: np.ndarray, val_size: float, lookback: int,
                     horizon: int) -> np.ndarray:
    """(n,) the row of each series where its validation targets start (its length when it
    holds back none): its last val_size share, when that is a horizon at least and leaves a
    whole training window before it."""
    n_val = np.rint(val_size * lengths).astype(np.int64)
    ok = (n_val >= horizon) & (lengths - n_val >= lookback + horizon)
    return np.where(ok, lengths - n_val, lengths)


def panel_scaler(panel: RaggedPanel, stops: np.ndarray) -> StandardScaler:
    """Each series standardised by the mean and std of its own rows [0, stop): a
    StandardScaler of n columns, one a series, whose transform applies to `last_rows`.
    A series (nearly) constant there has its scale floored as `data.fit_scaler` does."""
    n = len(panel.names)
    series, train = panel.row_series, panel.rows_before(stops)  # (rows,) each
    count = np.maximum(stops, 1)
    mean = np.bincount(series[train], panel.values[train], minlength=n) / count
    deviation = panel.values[train] - mean[series[train]]
    std = np.sqrt(np.bincount(series[train], deviation ** 2, minlength=n) / count)
    spread = (np.maximum.reduceat(panel.values, panel.offsets[:-1])
              - np.minimum.reduceat(panel.values, panel.offsets[:-1]))  # (n,)
    scale = np.where(std > 0, std, 1.0)  # sklearn's scale of a constant column
    scale = np.where(scale < 1e-6 * spread, 1e-6 * spread, scale)
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, scale ** 2
    scaler.n_features_in_, scaler.n_samples_seen_ = n, int(train.sum())
    return scaler


def scaled_values(panel: RaggedPanel, scaler: StandardScaler) -> torch.Tensor:
    """(rows, 1) float32: each value standardised by its series' statistics."""
    series = panel.row_series
    scaled = (panel.values - scaler.mean_[series]) / scaler.scale_[series]
    return torch.from_numpy(scaled.astype(np.float32)).unsqueeze(1)


def window_starts(offsets: np.ndarray, first: np.ndarray, stop: np.ndarray, size: int,
                  at_most: int | None = None) -> np.ndarray:
    """The first rows (into the concatenated values) of every window of `size` rows that
    lies within rows [first_i, stop_i) of its series i, series after series; with `at_most`,
    that many of them evenly spread over the whole list."""
    counts = np.maximum(0, stop - first - size + 1)  # (n,)
    before = np.cumsum(counts) - counts  # windows of the series before each
    starts = (np.repeat(offsets[:-1] + first - before, counts)
              + np.arange(int(counts.sum()), dtype=np.int64))
    if at_most is not None and len(starts) > at_most:
        starts = starts[np.linspace(0, len(starts) - 1, at_most).round().astype(np.int64)]
    return starts


class PanelWindows(SlidingWindows):
    """SlidingWindows over a ragged panel: window i starts at row `starts[i]` of the
    concatenated (rows, 1) values, so no window crosses from one series into the next. The
    covariates are rows of (rows, k) and (rows, p) arrays in the same order; `static` (n, s)
    holds each series' features, which window i reads through `series[i]`."""

    def __init__(self, data: torch.Tensor, starts: np.ndarray, lookback: int, horizon: int,
                 covariates: torch.Tensor | None = None, past: torch.Tensor | None = None,
                 static: torch.Tensor | None = None, series: np.ndarray | None = None):
        super().__init__(data, lookback, horizon, covariates=covariates, past=past)
        self.starts = torch.from_numpy(starts).to(data.device)  # (windows,)
        self.count = len(starts)
        self.static = static
        self.series = None if static is None else torch.from_numpy(series).to(data.device)

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        indices = indices.to(self.data.device)
        rows = self.starts[indices][:, None] + self._offsets  # (b, l + h)
        return self.window(rows, None if self.static is None else self.static[self.series[indices]])


PREDICT_SERIES = 4096  # series forecast in one forward pass: bounded memory at any panel size


@torch.no_grad()
def forecast_panel(model, scaler: StandardScaler, history: np.ndarray, horizon: int,
                   inputs: np.ndarray | None = None) -> np.ndarray:
    """(f, n) forecasts in the data's units from (lookback, n) histories, side by side by
    position, each series one window of the batch; `inputs` (n, lookback + f, c) are each
    window's scaled covariates, in `PanelWindows`' layout after the target."""
    device = next(model.parameters()).device
    scaled = scaler.transform(history).astype(np.float32)  # (lookback, n)
    x = torch.from_numpy(np.ascontiguousarray(scaled.T)).unsqueeze(-1)  # (n, lookback, 1)
    if inputs is not None:
        x = torch.cat([F.pad(x, (0, 0, 0, horizon)), torch.from_numpy(inputs)], dim=-1)
    model.eval()
    parts = [model(x[j:j + PREDICT_SERIES].to(device))[:, :, 0].cpu()
             for j in range(0, x.shape[0], PREDICT_SERIES)]  # (chunk, f) each
    forecast = torch.cat(parts).numpy().T.astype(np.float64)  # (f, n)
    return scaler.inverse_transform(forecast)


def future_stamps(ends: pd.DatetimeIndex, freq: pd.DateOffset, steps: int) -> pd.DatetimeIndex:
    """The `steps` timestamps after each series' end, series after series: (n * steps,)."""
    after = np.stack([(ends + k * freq).as_unit("ns").asi8 for k in range(1, steps + 1)], axis=1)
    stamps = pd.to_datetime(after.ravel(), unit="ns", utc=ends.tz is not None)
    return (stamps.tz_convert(ends.tz) if ends.tz is not None else stamps).rename(ends.name)
