"""tsmamba: multivariate time-series forecasting with selective state-space models.

Glossary (used in every module, in shape comments and einops patterns):

    b  batch            l  length (time steps or patches)     d  channels / model width
    n  SSM state size   m  variates (series)                   p  patch length / patch count
    h  horizon          g  groups of B/C
    A, B, C, D, dt      the SSM parameters as in the S4 / Mamba papers; stored as A_log, dt_bias
    fitted attributes   end in "_" (scikit-learn convention)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import ModelFormatError, NonFiniteError, TSMambaInputError
from .backtest import backtest
from .cross_validation import evaluate
from .estimator import TSMambaForecaster
from .plotting import plot_backtest, plot_cross_validation, plot_forecast

try:
    __version__ = version("tsmamba")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["TSMambaForecaster", "backtest", "evaluate", "plot_forecast", "plot_cross_validation",
           "plot_backtest", "TSMambaInputError", "ModelFormatError",
           "NonFiniteError", "__version__"]
