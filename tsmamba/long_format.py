"""Long frames (one row per series and timestamp, Nixtla's `unique_id`, `ds`, `y`) in and out.

The network forecasts aligned series jointly, so a long frame is pivoted to a wide one (one
column per series) after checking that every series has exactly the same timestamps; a
forecast made from a long frame is returned long, with the columns utilsforecast's evaluation
and plotting read: `unique_id`, `ds`, the model's name, and `<name>-lo-<level>` /
`<name>-hi-<level>` for intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .errors import TSMambaInputError


@dataclass(frozen=True)
class LongColumns:
    id_col: str = "unique_id"
    time_col: str = "ds"
    target_col: str = "y"


def is_long(df, columns: LongColumns) -> bool:
    """A frame is long when it has the id and target columns (and is not indexed by time)."""
    return (isinstance(df, pd.DataFrame) and columns.id_col in df.columns
            and columns.target_col in df.columns)


def to_wide(df: pd.DataFrame, columns: LongColumns) -> pd.DataFrame:
    """Pivot a long frame to a wide one (the time column first, then one column per series);
    the series must be aligned."""
    ids, time_col, target = columns.id_col, columns.time_col, columns.target_col
    if time_col not in df.columns:
        raise TSMambaInputError(
            f"the long frame (it has {ids!r} and {target!r}) has no time column {time_col!r}; "
            f"its columns are {list(df.columns)}: pass time_col=")
    extra = [c for c in df.columns if c not in (ids, time_col, target)]
    if extra:
        raise TSMambaInputError(f"the long frame has columns besides {ids!r}, {time_col!r} and "
                                f"{target!r}: {extra}; covariates of long frames are not "
                                "supported yet: drop them, or pass a wide frame (one column "
                                "per series) that names its covariate columns in futr_exog")
    if df[ids].isna().any():
        row = int(df[ids].isna().to_numpy().argmax())
        raise TSMambaInputError(f"column {ids!r} is empty at row {row}; every row needs a "
                                "series id")
    empty = df[target].isna().to_numpy()
    if empty.any():  # named here, by the user's own row: after the pivot only positions remain
        row = int(empty.argmax())
        raise TSMambaInputError(
            f"column {target!r} is empty at row {row} (series {df[ids].iloc[row]!r}, "
            f"{time_col} {df[time_col].iloc[row]}; {int(empty.sum())} such rows); fill or drop "
            "them before fitting")
    keys = df[[ids, time_col]]
    duplicated = keys.duplicated(keep=False).to_numpy()
    if duplicated.any():
        first = keys[duplicated].head(3).to_records(index=False).tolist()
        raise TSMambaInputError(f"{int(duplicated.sum())} rows repeat a ({ids}, {time_col}) "
                                f"pair, for example {first}; keep one row per series and time")
    times = {uid: set(group) for uid, group in df.groupby(ids, sort=False)[time_col]}
    reference_id = max(times, key=lambda uid: len(times[uid]))
    reference = times[reference_id]
    for uid, stamps in times.items():
        if stamps != reference:
            missing = sorted(reference - stamps)
            surplus = sorted(stamps - reference)
            detail = (f"lacks {len(missing)} of them, the first {missing[0]}" if missing else
                      f"has {len(surplus)} others, the first {surplus[0]}")
            raise TSMambaInputError(
                f"the series are not aligned: series {uid!r} has {len(stamps)} timestamps and "
                f"{reference_id!r} has {len(reference)}; {uid!r} {detail}. The series are "
                "forecast jointly, so give every series the same timestamps (fill or trim "
                "them), or fit the unaligned ones separately")
    wide = df.pivot(index=time_col, columns=ids, values=target)
    wide.columns = [str(c) for c in wide.columns]
    wide.columns.name = None
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
