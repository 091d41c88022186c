"""The `tsmamba` command: the Typer app (`app.py`) with every command module registered.

    forecast.py   forecast, fit, predict        cv.py        cv
    backtest.py   backtest                      bench.py     bench scan
    datasets.py   datasets list / download      env.py       env
"""

from __future__ import annotations

from . import backtest, bench, cv, datasets, env, forecast  # noqa: F401 - each registers its commands
from .app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
