"""The `tsmamba` command: the Typer app (`app.py`) with every command module registered.

    forecast.py   forecast, fit, predict        cv.py        cv
    backtest.py   backtest                      bench.py     bench scan
    datasets.py   datasets list / download      env.py       env
"""

from __future__ import annotations

import sys


def _app():
    from . import backtest, bench, cv, datasets, env, forecast  # noqa: F401 - each registers
    from .app import app

    return app


def __getattr__(name: str):
    if name == "app":  # `from tsmamba.cli.main import app`, with every command registered
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    # Everything is imported in here, so that Ctrl-C while the command starts (torch takes a
    # second or more to import) is one line and exit 130, as it is later (`app.guarded`).
    try:
        app = _app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    from . import app as commands

    try:
        app()
    except SystemExit as exit:
        # Ctrl-C where typer caught it (parsing, callbacks, imports before a command's guard)
        # ends in exit 130 without a word; say it once.
        if exit.code == 130 and not commands._told:
            print(commands.INTERRUPTED, file=sys.stderr)
        raise


if __name__ == "__main__":
    main()
