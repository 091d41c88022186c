"""tsmamba: multivariate time-series forecasting with selective state-space models.

Glossary (used in every module, in shape comments and einops patterns):

    b  batch                            l  length of a sequence (time steps, or what a mixer
    d  channels / model width              scans: patches, variates)
    n  SSM state size                   h  heads (Mamba-2)       p  head dim
    g  groups of B/C                    e  the channels of one group, or of a concatenation
    m  variates (series)                k  patches of a variate  w  patch length
    f  horizon (forecast steps)         c, s, t  chunks, and steps inside a chunk (SSD)
    A, B, C, D, dt      the SSM parameters as in the S4 / Mamba papers; stored as A_log, dt_bias
    fitted attributes   end in "_" (scikit-learn convention)
    recurrent state     `init_state(batch)` and `step(x, state)` in every model that streams
"""

from __future__ import annotations

from importlib import import_module

from .errors import DistributedError, ModelFormatError, NonFiniteError, TSMambaInputError

# The rest is imported on first use (PEP 562), not by `import tsmamba`: the command line
# starts without torch, so Ctrl-C while it loads is caught like any other (exit 130). The
# version too: importlib.metadata takes most of a bare `import tsmamba` (about 70 of 80 ms),
# time in which a Ctrl-C would end in a traceback.
_LAZY = {"TSMambaForecaster": ".estimator", "backtest": ".backtest", "evaluate": ".metrics",
         "plot_forecast": ".plotting", "plot_cross_validation": ".plotting",
         "plot_backtest": ".plotting"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tsmamba")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def __getattr__(name: str):
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # once imported, an ordinary attribute
        return value
    raise AttributeError(f"module 'tsmamba' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})

__all__ = ["TSMambaForecaster", "backtest", "evaluate", "plot_forecast", "plot_cross_validation",
           "plot_backtest", "TSMambaInputError", "ModelFormatError",
           "NonFiniteError", "DistributedError", "__version__"]
