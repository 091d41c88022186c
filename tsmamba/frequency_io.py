"""A time series' frequency as JSON for model files, exactly or not at all.

Most offsets are their frequency string ("h", "2D", "W-TUE"). Business-day and business-hour
offsets carry more than the string says: a CustomBusinessDay's holidays and weekmask, a
BusinessHour's opening hours. Those are written field by field; anything the JSON would not
give back equal to the original is refused at save, so that a loaded model never forecasts on
a holiday its training data skipped.
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from .errors import TSMambaInputError

# The offsets written field by field, and the fields each needs.
_BY_FIELDS = {"CustomBusinessDay": ("n", "weekmask", "holidays", "offset"),
              "BusinessHour": ("n", "start", "end", "offset"),
              "CustomBusinessHour": ("n", "weekmask", "holidays", "start", "end", "offset")}


def _encode(name: str, value):
    if name == "holidays":
        return [str(np.datetime64(day, "D")) for day in value]
    if name in ("start", "end"):
        return [t.strftime("%H:%M:%S") for t in value]
    if name == "offset":
        return pd.Timedelta(value).value  # nanoseconds
    return value


def _decode(name: str, value):
    if name == "holidays":
        return list(value)
    if name in ("start", "end"):
        return [datetime.time.fromisoformat(t) for t in value]
    if name == "offset":
        return pd.Timedelta(value, unit="ns").to_pytimedelta()
    return value


def offset_to_json(offset):
    """The offset as its frequency string, or as its class and fields; TSMambaInputError when
    neither gives it back exactly."""
    kind = type(offset).__name__
    if to_offset(offset.freqstr) == offset:
        return offset.freqstr
    if kind in _BY_FIELDS:
        value = {"offset_class": kind,
                 **{name: _encode(name, getattr(offset, name)) for name in _BY_FIELDS[kind]}}
        if offset_from_json(value) == offset:
            return value
    raise TSMambaInputError(
        f"the frequency {offset!r} cannot be saved exactly (its {offset.freqstr!r} string "
        "drops some of its settings); refit with a plain frequency, or keep the fitted "
        "estimator in memory")


def offset_from_json(value):
    """Inverse of `offset_to_json`; a plain string is what every earlier version wrote."""
    if isinstance(value, str):
        return to_offset(value)
    kind = value["offset_class"]
    if kind not in _BY_FIELDS:
        raise ValueError(f"unknown offset class {kind!r}")
    fields = {name: _decode(name, value[name]) for name in _BY_FIELDS[kind]}
    return getattr(pd.offsets, kind)(**fields)
