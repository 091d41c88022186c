"""Backtests on the benchmark datasets under the literature's protocol.

    runs.py       backtest(): train, score every test window, one row per run
    summary.py    summarise(): seeds averaged, four-horizon averages, published numbers beside
    protocol.py   the published splits and scaling
    defaults.py   the settings each model and dataset uses unless told otherwise
    published.py  the published tables (`anchors/`)
"""

from .runs import backtest, score, tunable
from .summary import FOUR_HORIZONS, PUBLISHED_MODELS, summarise

__all__ = ["backtest", "score", "tunable", "summarise", "FOUR_HORIZONS", "PUBLISHED_MODELS"]
