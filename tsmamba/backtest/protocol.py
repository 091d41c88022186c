"""The long-term forecasting benchmark protocol, as the published ETT / Weather numbers use it.

Splits are positional and chronological (the Time-Series-Library data loaders):

    ett-hour    train [0, 8640)    validation [8640 - L, 11520)    test [11520 - L, 14400)
    ett-minute  the same x 4       (34560, 46080, 57600); later rows are unused
    ratio       n_train = floor(0.7 N), n_test = floor(0.2 N), validation the rest;
                validation starts at n_train - L, test at N - n_test - L

L is the lookback: the validation and test ranges start L rows early so that their first
target row follows a full history, and targets never cross splits. A StandardScaler is fitted
on the training rows only (the estimator's own, `data.fit_scaler`). Every window of a range at
stride 1 is used: a range of S rows holds S - L - H + 1 windows (ETTh1, L = H = 96: 2785 test
windows), none dropped.

Rows are taken as they are, timestamps unread: weather.csv's duplicate timestamp and its gap
stay, as in the published runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from ..data import SlidingWindows, fit_scaler
from ..errors import TSMambaInputError

ETT_HOUR_BORDERS = (8640, 11520, 14400)  # 12 / 4 / 4 months of 30 days, hourly
CONVENTIONS = ("ett-hour", "ett-minute", "ratio")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    """Row ranges [start, stop) of each split, the lookback rows before its targets included."""

    train: tuple[int, int]
    validation: tuple[int, int]
    test: tuple[int, int]

    def rows(self, name: str) -> tuple[int, int]:
        if name not in SPLITS:
            raise TSMambaInputError(f"unknown split {name!r}; use one of {SPLITS}")
        return getattr(self, name)


def split_rows(convention: str, n_rows: int, lookback: int) -> Split:
    """The published split of a dataset with `n_rows` rows for inputs of `lookback` rows."""
    if convention == "ett-hour":
        train_stop, val_stop, test_stop = ETT_HOUR_BORDERS
    elif convention == "ett-minute":
        train_stop, val_stop, test_stop = (4 * border for border in ETT_HOUR_BORDERS)
    elif convention == "ratio":
        n_train, n_test = int(0.7 * n_rows), int(0.2 * n_rows)
        train_stop, val_stop, test_stop = n_train, n_rows - n_test, n_rows
    else:
        raise TSMambaInputError(f"unknown split convention {convention!r}; use one of "
                                f"{CONVENTIONS}")
    if n_rows < test_stop:
        raise TSMambaInputError(f"the {convention!r} split needs {test_stop} rows, the data "
                                f"has {n_rows}")
    return Split((0, train_stop), (train_stop - lookback, val_stop),
                 (val_stop - lookback, test_stop))


@dataclass
class ProtocolData:
    """A dataset scaled the protocol's way, with its windows per split."""

    scaler: StandardScaler
    scaled: torch.Tensor  # (rows, m) float32
    split: Split
    lookback: int
    horizon: int

    def windows(self, name: str) -> SlidingWindows:
        start, stop = self.split.rows(name)
        return SlidingWindows(self.scaled, self.lookback, self.horizon, start, stop)


def prepare(values: np.ndarray, convention: str, lookback: int, horizon: int,
            device: torch.device | str = "cpu") -> ProtocolData:
    """Scale `values` (rows, m) with the estimator's scaler (`data.fit_scaler`) fitted on the
    training rows and cut the split; the scaled series lives on `device`, where the windows
    are cut."""
    split = split_rows(convention, len(values), lookback)
    for name in SPLITS:
        start, stop = split.rows(name)
        if stop - start < lookback + horizon:
            raise TSMambaInputError(
                f"the {name} split has {stop - start} rows, fewer than lookback {lookback} + "
                f"horizon {horizon}; use a shorter lookback or horizon")
    scaler = fit_scaler(values, split.train[1])
    scaled = torch.from_numpy(scaler.transform(values).astype(np.float32)).to(device)
    return ProtocolData(scaler, scaled, split, lookback, horizon)
