"""Frames in, validated arrays out: checking a user's frame, scaling, and sliding windows.

A *wide* frame has one row per timestamp and one column per series. The time axis is the
DatetimeIndex, or a time column (named by `time_col`, or detected when exactly one column parses
as datetimes). Every problem is reported before any training, with the column, timestamp or row
and the fix. Repairs happen only when asked for (`fill_gaps=`, `drop_duplicates=`), except one:
an unsorted frame is sorted by time, with a warning, because row order carries no information
in a time-indexed frame.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pandas.tseries.frequencies import to_offset
from sklearn.preprocessing import StandardScaler

from .errors import TSMambaInputError
from .long_format import LongColumns, is_long, to_wide

FILL_GAPS = ("ffill", "interpolate")
DROP_DUPLICATES = ("first", "last")
FLOAT32_MAX = float(np.finfo(np.float32).max)
_SHOW = 5  # how many offending timestamps an error message lists


@dataclass(frozen=True)
class SeriesFrame:
    """A validated, regular, gap-free multivariate series."""

    index: pd.DatetimeIndex  # (rows,), strictly increasing, regular at `freq`
    values: np.ndarray  # (rows, m) float64 as given (within float32 range), finite
    columns: list[str]
    freq: pd.DateOffset

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, index=self.index, columns=self.columns)


def _fail(message: str) -> TSMambaInputError:
    return TSMambaInputError(message)


def as_pandas(data):
    """A polars DataFrame, LazyFrame or Series as pandas (through Arrow, which pandas already
    needs here); anything else as it came. Recognised by module name, so polars is never
    imported for a pandas user."""
    if type(data).__module__.split(".")[0] != "polars":
        return data
    if hasattr(data, "collect") and not hasattr(data, "to_pandas"):  # a LazyFrame
        data = data.collect()
    return data.to_pandas()


def _as_frame(data) -> pd.DataFrame:
    data = as_pandas(data)
    if isinstance(data, pd.Series):
        return data.to_frame(name=data.name if data.name is not None else "y")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame (or Series), got {type(data).__name__}; "
                        "build one with pd.DataFrame(...) or pd.read_csv(...) (polars frames "
                        "are converted)")
    return data


# A date written with numbers, day and month in an order the text does not say: 03/04/2024,
# 3.4.24, 03-04-2024 (not ISO's 2024-04-03).
_NUMERIC_DATE = re.compile(r"\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}(?!\d)")


def _day_first(series: pd.Series, label: str | None) -> bool:
    """Whether numeric dates put the day first: only when some day is above 12. When every
    one could be either, and the two readings differ, that is an error naming the column and
    the fix (with `label`; without, for guessing which column is the time axis, month first)."""
    texts = [v for v in series.dropna() if isinstance(v, str)]
    matches = [_NUMERIC_DATE.match(v) for v in texts]
    if not texts or not all(matches):
        return False
    first = [int(m.group(1)) for m in matches]
    second = [int(m.group(2)) for m in matches]
    if max(first) > 12 >= max(second):
        return True
    if max(first) <= 12 and max(second) <= 12 and first != second and label is not None:
        example = next(t for t, a, b in zip(texts, first, second) if a != b).strip()
        raise _fail(
            f"time column {label}: dates like {example!r} read day first and month first give "
            "two different series; parse the column yourself, e.g. df[col] = "
            "pd.to_datetime(df[col], dayfirst=True) (day first) or format='%m/%d/%Y' (month "
            "first), or write the dates as YYYY-MM-DD")
    return False


def _to_datetime(series: pd.Series, warn: bool, label: str | None = None) -> pd.Series:
    """pd.to_datetime, except that timestamps with differing UTC offsets (a daylight-saving
    change written as "+01:00" then "+02:00") become UTC instants instead of an error: the
    instants are exact and the zone information is kept as UTC, never dropped. Numeric dates
    are read day first only where a day above 12 proves it; where both orders fit and differ,
    `_day_first` stops with the fix."""
    dayfirst = _day_first(series, label)
    try:
        return pd.to_datetime(series, errors="coerce", dayfirst=dayfirst)
    except ValueError as exc:
        if "Mixed timezones" not in str(exc):
            raise
    if warn:
        warnings.warn("the time column mixes UTC offsets (a daylight-saving change?); the "
                      "timestamps were converted to UTC. Pass a DatetimeIndex in your zone "
                      "(tz_convert) to keep it", UserWarning, stacklevel=5)
    return pd.to_datetime(series, errors="coerce", utc=True, dayfirst=dayfirst)


def _parse_times(values, label: str) -> pd.DatetimeIndex:
    """Parse a column of timestamps, naming the first value that does not parse."""
    if isinstance(values, pd.DatetimeIndex):
        times = values
    else:
        series = pd.Series(values)
        if pd.api.types.is_datetime64_any_dtype(series):  # parsed already: nothing to guess
            return _parse_times(pd.DatetimeIndex(series), label)
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise _fail(f"time column {label} holds numbers, not timestamps; convert it with "
                        f"pd.to_datetime(..., unit=...) first")
        try:
            times = pd.DatetimeIndex(_to_datetime(series, warn=True, label=label))
        except TSMambaInputError:
            raise
        except (ValueError, TypeError) as exc:  # mixed time zones and similar
            raise _fail(f"time column {label} could not be parsed as timestamps ({exc}); "
                        "parse it with pd.to_datetime and pass a DatetimeIndex") from None
        bad = np.flatnonzero(np.asarray(times.isna()) & pd.Series(values).notna().to_numpy())
        if len(bad):
            raise _fail(f"time column {label}: value {pd.Series(values).iloc[bad[0]]!r} at row "
                        f"{bad[0]} is not a timestamp ({len(bad)} such rows); fix or drop them")
    missing = np.flatnonzero(times.isna())
    if len(missing):
        raise _fail(f"time column {label} is empty at row {missing[0]} ({len(missing)} rows); "
                    "every row needs a timestamp")
    return times


def _looks_like_time(column: pd.Series, share: float = 1.0) -> bool:
    """Whether the column is timestamps: all its values parse (or `share` of them)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return False
    sample = column.dropna()
    if sample.empty:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it has to guess a format
        try:
            parsed = _to_datetime(sample, warn=False)
        except (ValueError, TypeError):
            return False
    return bool(parsed.notna().mean() >= share) if share < 1.0 else bool(parsed.notna().all())


def _split_time_axis(df: pd.DataFrame, time_col: str | None) -> tuple[pd.DatetimeIndex, pd.DataFrame]:
    if time_col is not None:
        if time_col not in df.columns:
            raise _fail(f"time_col={time_col!r} is not a column; the columns are "
                        f"{list(df.columns)}")
        times = _parse_times(df[time_col].to_numpy(), repr(time_col)).rename(time_col)
        return times, df.drop(columns=time_col)
    if isinstance(df.index, pd.DatetimeIndex):
        return _parse_times(df.index, "(the index)"), df
    if isinstance(df.index, pd.PeriodIndex):
        return df.index.to_timestamp(), df
    candidates = [c for c in df.columns if _looks_like_time(df[c])]
    if not candidates:  # one that almost parses: name its first bad value, not "no time axis"
        nearly = [c for c in df.columns if _looks_like_time(df[c], share=0.9)]
        if len(nearly) == 1:
            col = nearly[0]
            return _parse_times(df[col].to_numpy(), repr(col)).rename(col), df.drop(columns=col)
    if len(candidates) == 1:
        col = candidates[0]
        return _parse_times(df[col].to_numpy(), repr(col)).rename(col), df.drop(columns=col)
    if not candidates:
        raise _fail("no time axis found: the index is not a DatetimeIndex and no column parses "
                    "as timestamps; pass time_col='<name>' or set a DatetimeIndex "
                    "(df.set_index(pd.to_datetime(df['date'])))")
    raise _fail(f"several columns parse as timestamps: {candidates}; pass time_col= to say "
                "which one is the time axis")


def _check_value_columns(values: pd.DataFrame, times: pd.DatetimeIndex) -> None:
    if values.shape[1] == 0:
        raise _fail("the frame has a time axis but no value columns; add at least one numeric "
                    "series column")
    names = [str(c) for c in values.columns]
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise _fail(f"duplicate column names {dup}; rename them so that each series has its "
                    "own name")
    for pos, name in enumerate(values.columns):
        col = values.iloc[:, pos]
        if pd.api.types.is_bool_dtype(col):
            raise _fail(f"column {name!r} is boolean; forecasting needs numbers: cast it with "
                        f"df[{name!r}].astype(float) if 0/1 is meant, or drop it")
        if isinstance(col.dtype, pd.CategoricalDtype):
            raise _fail(f"column {name!r} is categorical; drop it or encode it as numbers")
        if pd.api.types.is_complex_dtype(col):
            raise _fail(f"column {name!r} holds complex numbers; tsmamba forecasts real values: "
                        f"keep a real part (df[{name!r}].to_numpy().real) or drop the column")
        if pd.api.types.is_datetime64_any_dtype(col):
            raise _fail(f"column {name!r} holds timestamps, not values: a second time column? "
                        "Pass time_col= to say which column is the time axis and drop the other")
        if pd.api.types.is_timedelta64_dtype(col):
            raise _fail(f"column {name!r} holds durations; convert them to numbers, e.g. "
                        f"df[{name!r}] = df[{name!r}].dt.total_seconds()")
        if pd.api.types.is_numeric_dtype(col):
            continue
        # Numbers stored as text are refused, not coerced: "1,5" or "1e3 kW" would otherwise
        # turn into wrong numbers or NaN without a word.
        as_num = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero(as_num.isna().to_numpy() & col.notna().to_numpy())
        if len(bad) == 0:
            raise _fail(f"column {name!r} holds numbers stored as text (dtype {col.dtype}); "
                        f"convert it with df[{name!r}] = pd.to_numeric(df[{name!r}])")
        where = bad[0]
        raise _fail(f"column {name!r} is not numeric (dtype {col.dtype}): value "
                    f"{col.iloc[where]!r} at row {where} ({times[where]}); drop the column or "
                    "convert it to numbers")


def _sort(times: pd.DatetimeIndex, values: pd.DataFrame):
    if times.is_monotonic_increasing:
        return times, values
    diffs = np.flatnonzero(times[1:] < times[:-1])
    first = diffs[0] + 1
    warnings.warn(f"the frame is not sorted by time (row {first}, {times[first]}, comes after "
                  f"{times[first - 1]}); sorting it by timestamp", stacklevel=3)
    order = np.argsort(times.to_numpy(), kind="stable")
    return times[order], values.iloc[order]


def _deduplicate(times, values, drop_duplicates):
    dup_mask = times.duplicated(keep=False)
    if not dup_mask.any():
        return times, values
    dups = times[dup_mask].unique()
    if drop_duplicates is None:
        rows = np.flatnonzero(dup_mask)[:_SHOW]
        shown = ", ".join(f"{times[r]} (row {r})" for r in rows)
        raise _fail(f"{len(dups)} duplicate timestamp(s): {shown}; remove them, or pass "
                    "drop_duplicates='first' or 'last' (CLI: --drop-duplicates first) to keep "
                    "one row per timestamp")
    if drop_duplicates not in DROP_DUPLICATES:
        raise _fail(f"drop_duplicates={drop_duplicates!r}; use one of {DROP_DUPLICATES} or None")
    keep = ~times.duplicated(keep=drop_duplicates)
    warnings.warn(f"dropped {int((~keep).sum())} row(s) with duplicate timestamps "
                  f"(first: {dups[0]}), keeping the {drop_duplicates}", stacklevel=3)
    return times[keep], values.iloc[np.flatnonzero(keep)]


def as_offset(freq) -> pd.DateOffset:
    """The pandas offset that the `freq` parameter names, or a clear error."""
    try:
        return to_offset(freq)
    except (ValueError, TypeError):
        raise _fail(f"freq={freq!r} is not a pandas frequency (examples: 'h', '15min', "
                    "'D', 'W-SUN', 'MS')") from None


def infer_frequency(times: pd.DatetimeIndex) -> pd.DateOffset | None:
    """pandas' frequency of three or more regular `times` (calendar steps such as months
    included), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 announces a change of return type
        inferred = pd.infer_freq(times)
    return to_offset(inferred) if inferred is not None else None


def _resolve_freq(times: pd.DatetimeIndex, freq) -> pd.DateOffset:
    if freq is not None:
        offset = as_offset(freq)
        grid = pd.date_range(times[0], periods=min(len(times), 3), freq=offset)
        if len(times) > 1 and times[1] < grid[1]:
            raise _fail(f"freq={freq!r} contradicts the data: {times[0]} is followed by "
                        f"{times[1]}, closer than one step; check the freq or the timestamps")
        return offset
    if len(times) >= 3:
        inferred = infer_frequency(times)
        if inferred is not None:
            return inferred
        # Not regular: regular but for gaps if every step is a multiple of the usual step.
        steps = np.diff(times.as_unit("ns").asi8)
        usual = pd.Series(steps).mode().iloc[0]
        if usual > 0 and np.all(steps % usual == 0):
            return to_offset(pd.Timedelta(int(usual), unit="ns"))
        if usual > 0:  # name the first step that is not a whole number of usual steps
            odd = int(np.flatnonzero(steps % usual)[0])
            raise _fail(
                f"the frequency cannot be inferred from the timestamps: most steps are "
                f"{pd.Timedelta(int(usual), unit='ns')}, but {times[odd + 1]} (row {odd + 1}) "
                f"follows {times[odd]} after {pd.Timedelta(int(steps[odd]), unit='ns')}; fix "
                "that timestamp, or pass freq= (for example freq='h' or freq='MS')")
    raise _fail("the frequency cannot be inferred from the timestamps; pass freq= "
                "(for example freq='h' or freq='MS')")


def _fill_gaps(times, values, offset, fill_gaps, freq_given):
    expected = pd.date_range(times[0], times[-1], freq=offset, name=times.name)
    off_grid = times.difference(expected)
    if len(off_grid):
        hint = "" if freq_given else "; pass freq= if the inferred step is wrong"
        raise _fail(f"timestamp {off_grid[0]} is not on the {offset.freqstr!r} grid that starts "
                    f"at {times[0]} ({len(off_grid)} such timestamps){hint}")
    missing = expected.difference(times)
    if len(missing) == 0:
        return times, values
    first_gap_row = int(times.searchsorted(missing[0])) - 1
    if fill_gaps is None:
        raise _fail(f"{len(missing)} missing timestamp(s) for frequency {offset.freqstr!r}: the "
                    f"first gap follows {times[first_gap_row]} (row {first_gap_row}) and starts "
                    f"at {missing[0]}; insert the rows, or pass fill_gaps='interpolate' or "
                    "'ffill' (CLI: --fill-gaps interpolate) to fill them")
    if fill_gaps not in FILL_GAPS:
        raise _fail(f"fill_gaps={fill_gaps!r}; use one of {FILL_GAPS} or None")
    warnings.warn(f"filled {len(missing)} missing timestamp(s) by {fill_gaps} (first: "
                  f"{missing[0]})", stacklevel=3)
    full = values.set_axis(times).reindex(expected)
    full = full.interpolate(method="time") if fill_gaps == "interpolate" else full.ffill()
    return expected, full


def _check_finite(values: np.ndarray, columns, times) -> None:
    for kind, mask in (("NaN (missing)", np.isnan(values)), ("infinite", np.isinf(values)),
                       ("too large for float32", np.abs(np.nan_to_num(values)) > FLOAT32_MAX)):
        if mask.any():
            rows, cols = np.nonzero(mask)  # row-major order: the first hit is the earliest row
            name, row = columns[cols[0]], rows[0]
            raise _fail(f"column {name!r} has {kind} values ({int(mask[:, cols[0]].sum())} "
                        f"in that column), the first at {times[row]} (row {row}); fill or drop "
                        "them before fitting (for example df.interpolate() or df.ffill())")


def to_series_frame(data, *, time_col=None, freq=None, fill_gaps=None, drop_duplicates=None,
                    min_rows: int = 1, min_rows_reason: str = "") -> SeriesFrame:
    """Validate a wide frame and return its regular, finite values (float64, unchanged)."""
    df = _as_frame(data)
    if len(df) == 0:
        raise _fail("the frame is empty (0 rows); pass the history to forecast from")
    times, values = _split_time_axis(df, time_col)
    _check_value_columns(values, times)
    raw = values.to_numpy(dtype=np.float64)
    _check_finite(raw, [str(c) for c in values.columns], times)
    times, values = _sort(times, values)
    times, values = _deduplicate(times, values, drop_duplicates)
    if len(times) < min_rows:
        raise _fail(f"the frame has {len(times)} rows but needs at least {min_rows}"
                    f"{min_rows_reason}; pass a longer history or lower lookback/horizon")
    offset = _resolve_freq(times, freq)
    times, values = _fill_gaps(times, values, offset, fill_gaps, freq is not None)
    return SeriesFrame(index=pd.DatetimeIndex(times, freq=None),
                       values=np.ascontiguousarray(values.to_numpy(dtype=np.float64)),
                       columns=[str(c) for c in values.columns], freq=offset)


@dataclass(frozen=True)
class FrameOptions:
    """How a user's frame is read: its time axis, the repairs asked for, and the columns that
    make a frame long. `from_params` takes them from the estimator's parameters."""

    time_col: str | None = None
    fill_gaps: str | None = None
    drop_duplicates: str | None = None
    long: LongColumns = LongColumns()

    @classmethod
    def from_params(cls, params) -> FrameOptions:
        return cls(params["time_col"], params["fill_gaps"], params["drop_duplicates"],
                   LongColumns(params["id_col"], params["time_col"] or "ds",
                               params["target_col"],
                               (*(params.get("futr_exog") or ()),
                                *(params.get("hist_exog") or ()))))

    def read(self, df, freq=None, min_rows: int = 1, reason: str = "") -> tuple[SeriesFrame, bool]:
        """The validated wide frame of `df` (wide or long), and whether `df` was long; fewer
        than `min_rows` rows is an error that ends with `reason`."""
        long = is_long(df, self.long)
        time_col = self.time_col
        if long:
            df, time_col = to_wide(df, self.long), self.long.time_col
        frame = to_series_frame(df, time_col=time_col, freq=freq, fill_gaps=self.fill_gaps,
                                drop_duplicates=self.drop_duplicates, min_rows=min_rows,
                                min_rows_reason=reason)
        return frame, long


def fit_scaler(values: np.ndarray, train_stop: int) -> StandardScaler:
    """A per-column StandardScaler fitted on rows [0, train_stop) of `values` (rows, m).

    Scaled values must stay finite in float32: a column (nearly) constant over the training
    rows but not later would otherwise be divided by a vanishing std. Its scale is floored at
    a millionth of the column's whole range (constant columns keep sklearn's scale of 1).

    A column of tiny magnitude (all below 1e-100) is fitted on itself divided by its largest
    magnitude: its squares would underflow float64 and sklearn would take the variance for
    zero (scale 1), so values near 1e-300 would scale to 0 in float32 and be forecast on an
    absolute scale. (Values too large for float32 are refused before this.)"""
    magnitude = np.abs(values[:train_stop]).max(axis=0)  # (m,)
    unit = np.where((magnitude > 0) & (magnitude < 1e-100), magnitude, 1.0)
    scaler = StandardScaler().fit(values[:train_stop] / unit)
    scaler.mean_, scaler.scale_ = scaler.mean_ * unit, scaler.scale_ * unit
    floor = 1e-6 * np.ptp(values, axis=0)  # (m,)
    scaler.scale_ = np.where(scaler.scale_ < floor, floor, scaler.scale_)
    scaler.var_ = scaler.scale_ ** 2
    return scaler


class SlidingWindows:
    """Lazy (lookback, horizon) windows over a scaled array; only requested batches exist.

    Window i reads rows [start + i, start + i + lookback) as input and the next `horizon`
    rows as target. With covariates known in the future, `covariates` (rows, k), or observed
    only in the past, `past` (rows, p), its input is instead the (lookback + horizon,
    m + k + p) frame that `models.covariate_effects` reads: the targets' lookback, zeros where
    they are to be forecast, the future covariates over every row and the past ones over the
    lookback rows (zeros after).
    """

    def __init__(self, data: torch.Tensor, lookback: int, horizon: int, start: int = 0,
                 stop: int | None = None, covariates: torch.Tensor | None = None,
                 past: torch.Tensor | None = None):
        self.data = data  # (rows, m)
        self.covariates = covariates  # (rows, k) or None
        self.past = past  # (rows, p) or None
        self.lookback, self.horizon = lookback, horizon
        stop = data.shape[0] if stop is None else stop
        self.start = start
        self.count = max(0, stop - start - lookback - horizon + 1)
        self._offsets = torch.arange(lookback + horizon, device=data.device)  # (l + h,)

    def __len__(self) -> int:
        return self.count

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.start + indices.to(self.data.device)[:, None] + self._offsets  # (b, l + h)
        return self.window(rows)

    def window(self, rows: torch.Tensor, static: torch.Tensor | None = None):
        """The (x, y) of the windows whose rows are `rows` (b, l + h); `static` (b, s), known
        at every row, joins the future covariates (a panel's series features)."""
        window = self.data[rows]  # (b, lookback + horizon, m)
        x, y = window[:, : self.lookback], window[:, self.lookback:]
        if self.covariates is None and self.past is None and static is None:
            return x, y
        parts = [F.pad(x, (0, 0, 0, self.horizon))]  # (b, lookback + horizon, m)
        if self.covariates is not None:
            parts.append(self.covariates[rows])  # (b, l + h, k)
        if static is not None:
            parts.append(static[:, None, :].expand(-1, rows.shape[1], -1))  # (b, l + h, s)
        if self.past is not None:
            past = self.past[rows]  # (b, l + h, p), a copy
            past[:, self.lookback:] = 0  # not observed when the forecast is made
            parts.append(past)
        return torch.cat(parts, dim=-1), y  # (b, l + h, m + k + p)

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                max_batches: int | None = None):
        """Yield (x, y) batches; shuffled when a generator is given."""
        order = (torch.randperm(self.count, generator=generator) if generator is not None
                 else torch.arange(self.count))
        # Moved once: copying each batch's indices to a GPU would wait for it every step.
        order = order.to(self.data.device)
        for k, i in enumerate(range(0, self.count, batch_size)):
            if max_batches is not None and k >= max_batches:
                return
            yield self.batch(order[i:i + batch_size])
