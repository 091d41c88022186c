"""Long frames (one row per series and timestamp, Nixtla's `unique_id`, `ds`, `y`) in and out.

The network forecasts aligned series jointly, so a long frame is pivoted to a wide one (one
column per series) after checking that every series has exactly the same timestamps (series
that are not aligned train the channel-independent models over `tsmamba.panel`); a
forecast made from a long frame is returned long, with the columns utilsforecast's evaluation
and plotting read: `unique_id`, `ds`, the model's name, and `<name>-lo-<level>` /
`<name>-hi-<level>` for intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .errors import TSMambaInputError
from .models import CHANNEL_INDEPENDENT


@dataclass(frozen=True)
class LongColumns:
    id_col: str = "unique_id"
    time_col: str = "ds"
    target_col: str = "y"
    # Covariate columns a long frame may carry besides (futr_exog: one value per series and
    # time); pivoted to one wide column per covariate and series, `covariate_column`.
    covariates: tuple = ()


def covariate_column(name: str, series: str) -> str:
    """The wide column of covariate `name` of one series of a long frame."""
    return f"{name}[{series}]"


def pivoted_covariates(columns: list[str], futr_exog: list[str],
                       hist_exog: list[str]) -> tuple[list[str], list[str]]:
    """The wide columns that `to_wide` made of a long frame's futr_exog and hist_exog
    covariates, among its `columns`: one per covariate and series, series in column order."""
    pivoted = {covariate_column(c, s) for c in futr_exog + hist_exog for s in columns}
    series = [s for s in columns if s not in pivoted]
    return ([covariate_column(c, s) for c in futr_exog for s in series],
            [covariate_column(c, s) for c in hist_exog for s in series])


def is_long(df, columns: LongColumns) -> bool:
    """A frame is long when it has the id and target columns (and is not indexed by time)."""
    return (isinstance(df, pd.DataFrame) and columns.id_col in df.columns
            and columns.target_col in df.columns)


def check_long(df: pd.DataFrame, columns: LongColumns) -> None:
    """What every long frame must satisfy, aligned or not: a time column, no other columns,
    an id on every row, a value on every row, one row per series and time."""
    ids, time_col, target = columns.id_col, columns.time_col, columns.target_col
    if time_col not in df.columns:
        raise TSMambaInputError(
            f"the long frame (it has {ids!r} and {target!r}) has no time column {time_col!r}; "
            f"its columns are {list(df.columns)}: pass time_col=")
    extra = [c for c in df.columns if c not in (ids, time_col, target, *columns.covariates)]
    if extra:
        raise TSMambaInputError(f"the long frame has columns besides {ids!r}, {time_col!r} and "
                                f"{target!r}: {extra}; name the covariates known in the future "
                                "in futr_exog and those observed only in the past in "
                                "hist_exog, or drop them")

    if df[ids].isna().any():
        row = int(df[ids].isna().to_numpy().argmax())
        raise TSMambaInputError(f"column {ids!r} is empty at row {row}; every row needs a "
                                "series id")
    for column in (target, *[c for c in columns.covariates if c in df.columns]):
        empty = df[column].isna().to_numpy()
        if empty.any():  # named here, by the user's own row: after the pivot only positions remain
            row = int(empty.argmax())
            raise TSMambaInputError(
                f"column {column!r} is empty at row {row} (series {df[ids].iloc[row]!r}, "
                f"{time_col} {df[time_col].iloc[row]}; {int(empty.sum())} such rows); fill or "
                "drop them before fitting")
    keys = df[[ids, time_col]]
    duplicated = keys.duplicated(keep=False).to_numpy()
    if duplicated.any():
        first = keys[duplicated].head(3).to_records(index=False).tolist()
        raise TSMambaInputError(f"{int(duplicated.sum())} rows repeat a ({ids}, {time_col}) "
                                f"pair, for example {first}; keep one row per series and time")


def misalignment(df: pd.DataFrame, columns: LongColumns) -> str | None:
    """None when every series of a checked long frame has the same timestamps; else what
    differs, naming a series and a timestamp it lacks or has besides the others."""
    ids, time_col = columns.id_col, columns.time_col
    counts = df.groupby(ids, sort=False).size()
    if (counts == df[time_col].nunique()).all():  # one row a pair: then every series has all
        return None
    reference_id = counts.idxmax()
    reference_id = reference_id.item() if hasattr(reference_id, "item") else reference_id
    reference = set(df.loc[df[ids] == reference_id, time_col])
    for uid, stamps in df.groupby(ids, sort=False)[time_col]:
        stamps = set(stamps)
        if stamps != reference:
            missing = sorted(reference - stamps)
            surplus = sorted(stamps - reference)
            detail = (f"lacks {len(missing)} of them, the first {missing[0]}" if missing else
                      f"has {len(surplus)} others, the first {surplus[0]}")
            return (f"the series are not aligned: series {uid!r} has {len(stamps)} timestamps "
                    f"and {reference_id!r} has {len(reference)}; {uid!r} {detail}")
    return None


def to_wide(df: pd.DataFrame, columns: LongColumns) -> pd.DataFrame:
    """Pivot a long frame to a wide one (the time column first, then one column per series,
    then one per covariate and series); the series must be aligned."""
    check_long(df, columns)
    problem = misalignment(df, columns)
    if problem:
        raise TSMambaInputError(
            f"{problem}. Forecasting them jointly needs the same timestamps for every series "
            "(fill or trim them); the channel-independent models "
            f"({', '.join(CHANNEL_INDEPENDENT)}) fit unaligned series as one global model")
    # A history to forecast from may leave the covariates out: only their future is read.
    values = [columns.target_col, *[c for c in columns.covariates if c in df.columns]]
    wide = df.pivot(index=columns.time_col, columns=columns.id_col, values=values)
    wide.columns = [str(uid) if value == columns.target_col else covariate_column(value, str(uid))
                    for value, uid in wide.columns]  # the series, then each covariate's
    return wide.reset_index()  # the wide validation parses and checks the time column


def series_ids(df: pd.DataFrame, columns: LongColumns, series: list[str]) -> list | None:
    """The long frame's own ids of the wide columns `series` (which are their text), as JSON
    values (ints, floats, text); None when some id is none of those."""
    own = {str(uid): uid for uid in pd.unique(df[columns.id_col])}
    values = [own[name].item() if hasattr(own[name], "item") else own[name] for name in series]
    ok = all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in values)
    return values if ok else None


def to_long(wide: pd.DataFrame, alias: str, series: list[str], columns: LongColumns,
            levels: list[float] = (), ids: list | None = None) -> pd.DataFrame:
    """A wide forecast (columns `series`, plus `<series>-lo-<level>` / `-hi-` bounds) in long
    form: unique_id, ds, alias[, alias-lo-<level>, alias-hi-<level>]. `ids`, the series' own
    ids (`series_ids`), keep the user's id values and dtype; without, the ids are text."""
    frames = []
    for uid, own in zip(series, ids or series):
        part = pd.DataFrame({columns.id_col: own, columns.time_col: wide.index,
                             alias: wide[uid].to_numpy()})
        for level in levels:
            for side in ("lo", "hi"):
                part[f"{alias}-{side}-{level:g}"] = wide[f"{uid}-{side}-{level:g}"].to_numpy()
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def is_bound(column: str) -> bool:
    return "-lo-" in column or "-hi-" in column


def model_columns(frame: pd.DataFrame, *not_models: str) -> list[str]:
    """The point-forecast columns of a long forecast or cross-validation frame: numeric, not
    a bound, and not one of `not_models` (the id, time, cutoff and target columns)."""
    return [c for c in frame.columns if c not in not_models and not is_bound(c)
            and pd.api.types.is_numeric_dtype(frame[c])]


def future_rows(futr_df, columns: LongColumns, wanted: pd.MultiIndex) -> pd.DataFrame:
    """The covariate columns of a long `futr_df` (id, time and the covariates) at the
    (series, timestamp) pairs `wanted`, in that order; a missing pair is named."""
    if not isinstance(futr_df, pd.DataFrame):
        raise TypeError(f"futr_df must be a pandas DataFrame, got {type(futr_df).__name__}; "
                        "make_future_frame() gives one to fill")
    ids, time_col = columns.id_col, columns.time_col
    absent = [c for c in (ids, time_col, *columns.covariates) if c not in futr_df.columns]
    if absent:
        raise TSMambaInputError(f"futr_df lacks the columns {absent}; a long model reads "
                                f"{[ids, time_col, *columns.covariates]} (make_future_frame() "
                                "gives that frame to fill)")
    try:
        times = pd.DatetimeIndex(pd.to_datetime(futr_df[time_col]))
    except (ValueError, TypeError) as exc:
        raise TSMambaInputError(f"futr_df's column {time_col!r} is not timestamps "
                                f"({exc})") from None
    keys = pd.MultiIndex.from_arrays([futr_df[ids].astype(str).to_numpy(), times])
    if keys.has_duplicates:
        raise TSMambaInputError(f"futr_df repeats the ({ids}, {time_col}) pairs "
                                f"{[(s, str(t)) for s, t in keys[keys.duplicated()][:3]]}; give "
                                "one row per series and timestamp")
    lacking = wanted.difference(keys, sort=False)
    if len(lacking):
        raise TSMambaInputError(
            f"futr_df lacks {len(lacking)} of the {len(wanted)} (series, timestamp) pairs to "
            f"forecast, for example {[(s, str(t)) for s, t in lacking[:3]]}; it needs a row for "
            "each series at each timestamp to forecast (make_future_frame() lists them)")
    return futr_df.set_axis(keys)[list(columns.covariates)].loc[wanted]


def long_future(futr_df, columns: LongColumns, series: list[str],
                future: pd.DatetimeIndex) -> pd.DataFrame:
    """A long `futr_df` as the wide frame that `covariates.future_values` reads: the time
    column, then a column per covariate and series, at the timestamps `future`."""
    rows = future_rows(futr_df, columns, pd.MultiIndex.from_product([series, future]))
    wide = rows.unstack(level=0)  # (timestamps, (covariate, series))
    wide.columns = [covariate_column(c, s) for c, s in wide.columns]
    return wide.rename_axis(columns.time_col).reset_index()
