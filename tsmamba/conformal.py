"""Prediction intervals by split conformal prediction (Vovk et al. 2005; Lei et al. 2018).

After training, the model forecasts every held-out validation window; the absolute errors
|y - y_hat| are the conformity scores, one set per horizon step and series. For a level of
L %, the interval is y_hat +- the ceil((n + 1) L / 100)-th smallest of the n scores of that
step and series. With exchangeable windows this covers at least L % of future values, with no
assumption on the error distribution, and lower <= point <= upper always holds.

Conformal rather than a quantile loss: it keeps the point forecast trained on MSE exactly as
it is, costs one pass over the validation windows, serves any set of levels after the fact,
and its coverage is a property to measure rather than a hope about a trained quantile head.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from .data import SlidingWindows
from .errors import TSMambaInputError
from .inference import forecast_errors


def conformity_scores(model, windows: SlidingWindows) -> np.ndarray:
    """|y - y_hat| for every window: (n_windows, f, m), in the windows' (scaled) units."""
    return torch.cat([error.abs().cpu() for error in forecast_errors(model, windows)]).numpy()


def check_levels(level) -> list[float]:
    levels = [level] if isinstance(level, numbers.Real) else list(level)
    for value in levels:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 100:
            raise TSMambaInputError(f"level must be a percentage in (0, 100), such as 80 or "
                                    f"95; got {value!r}")
    return [float(v) for v in levels]


def half_widths(scores: np.ndarray, level: float) -> np.ndarray:
    """(f, m) interval half-widths at `level` % from (n, f, m) scores."""
    n = scores.shape[0]
    rank = math.ceil((n + 1) * level / 100)
    if rank > n:
        raise TSMambaInputError(
            f"level {level:g} needs at least {math.ceil(level / (100 - level))} calibration "
            f"windows but the validation split gave {n}; lower the level, or fit on more rows "
            "or with a larger val_size")
    return np.sort(scores, axis=0)[rank - 1]
