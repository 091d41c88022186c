"""A network run over windows, in eval mode and without gradients: the forecast errors that
early stopping, conformal calibration and backtest scores all reduce.

Windows are cut where the network runs (their tensor lives on its device), so nothing here
moves data between devices.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn as nn

from .data import SlidingWindows

EVAL_BATCH = 256  # windows per forward pass when nothing is trained ...
# ... and at most this many series-windows, so that a panel of hundreds of series (whose
# channel mixers hold every series of a window at once) is evaluated in memory a fit's
# own batches fit in: 256 windows up to 32 series, 9 windows of traffic's 862.
EVAL_SERIES_WINDOWS = 8192


def eval_batch(n_series: int) -> int:
    return max(1, min(EVAL_BATCH, EVAL_SERIES_WINDOWS // max(n_series, 1)))


@torch.no_grad()
def forecast_errors(model: nn.Module, windows: SlidingWindows,
                    batch_size: int | None = None) -> Iterator[torch.Tensor]:
    """Forecast minus truth, (b, f, m), for consecutive batches of `windows` in order
    (`eval_batch` windows each unless told)."""
    model.eval()
    for x, y in windows.batches(batch_size or eval_batch(windows.data.shape[1])):
        yield model(x) - y


class MeanErrors(NamedTuple):
    mse: float
    mae: float


def mean_errors(model: nn.Module, windows: SlidingWindows) -> MeanErrors:
    """MSE and MAE over every window, horizon step and series (each weighs the same), summed
    in float64 on the device: one transfer at the end, and no rounding that grows with the
    number of windows."""
    squared = absolute = torch.zeros((), dtype=torch.float64, device=windows.data.device)
    for error in forecast_errors(model, windows):
        error = error.double()  # (b, f, m)
        squared = squared + error.square().sum()
        absolute = absolute + error.abs().sum()
    count = max(len(windows) * windows.horizon * windows.data.shape[1], 1)
    return MeanErrors(squared.item() / count, absolute.item() / count)
