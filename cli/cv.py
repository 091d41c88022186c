"""`tsmamba cv`: rolling-origin evaluation of a file (or the demo data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import DataArg, Debug, Levels, Output, PlotSeries, app, guarded
from .estimator_options import trains
from .files import (check_image_paths, check_table_output, check_writable, read_table,
                    save_figure, write_table)


@app.command("cv")
@trains
def cross_validate(
        data: DataArg = None,
        n_windows: Annotated[int, typer.Option(min=1, help="Windows to forecast.")] = 5,
        step_size: Annotated[Optional[int], typer.Option(
            min=1, help="Rows between cutoffs (default: the horizon).")] = None,
        refit: Annotated[bool, typer.Option(help="Fit a fresh model at every cutoff.")] = False,
        level: Levels = None, output: Output = None,
        plot: Annotated[Optional[Path], typer.Option(
            "--plot", help="Save the windows' plot (PNG).")] = None,
        plot_series: PlotSeries = None,
        plot_backtest: Annotated[Optional[Path], typer.Option(
            help="Save the error-per-window plot (PNG).")] = None,
        debug: Debug = False, *, forecaster):
    """Rolling-origin evaluation: forecast the last N windows of DATA (or the demo data), print
    MSE and MAE per series (and interval coverage with --level), write the windows with -o."""

    def run():
        from rich.console import Console

        import tsmamba

        check_writable(output, plot, plot_backtest)
        check_table_output(output, data)
        check_image_paths(plot, plot_backtest)
        cv = forecaster.cross_validation(read_table(data), n_windows=n_windows,
                                         step_size=step_size, refit=refit, level=level)
        metrics = ["mse", "mae"] + (["coverage"] if level else [])
        Console(stderr=True).print(tsmamba.evaluate(cv, metrics=metrics).to_string(index=False))
        if output is not None:
            write_table(cv, output)
        if plot is not None:
            save_figure(tsmamba.plot_cross_validation(cv, ids=plot_series), plot)
        if plot_backtest is not None:
            save_figure(tsmamba.plot_backtest(cv), plot_backtest)

    guarded(debug, data, run)
