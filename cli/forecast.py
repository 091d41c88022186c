"""`tsmamba forecast`, `fit` and `predict`: train on a file (or the demo data), save and load
models, and write forecasts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import (CheckpointDir, DataArg, Debug, FutrFile, Levels, Output, PlotPath,
                  PlotSeries, StaticFile, app, data_file, guarded)
from .estimator_options import trains
from .files import (check_directory_output, check_image_paths, check_table_output,
                    check_writable, read_table, save_figure, write_table)
from .launch import Devices, run_on


def _plot(est, frame, forecast, path: Path, series=None) -> None:
    """Plot the forecast (and its intervals) after the validated history it was made from."""
    import pandas as pd

    from tsmamba import plot_forecast
    from tsmamba.data import FrameOptions

    if est.global_model_:  # a panel: one column a series, NaN where it has no row
        history = _panel_history(est, frame)
    elif frame is None:
        history = pd.DataFrame(est.history_, index=est.history_index_, columns=est.columns_)
    else:
        history = FrameOptions.from_params(est.get_params()).read(frame, est.freq_)[0].to_frame()
    save_figure(plot_forecast(history, forecast, columns=series), path)


def _panel_history(est, frame):
    """A ragged panel's recent history as a wide frame indexed by time, for plotting only."""
    import pandas as pd

    from tsmamba.data import FrameOptions
    from tsmamba.panel import read_panel

    if frame is not None:
        panel = read_panel(frame, FrameOptions.from_params(est.get_params()).long, est.freq_)
        values, ends = panel.last_rows(min(panel.lengths.min(), 4 * est.horizon)), panel.ends
        names = panel.names
    else:
        values, ends, names = est.history_, est.history_index_, est.columns_
    parts = [pd.Series(values[:, j], index=pd.date_range(end=ends[j], periods=len(values),
                                                          freq=est.freq_), name=name)
             for j, name in enumerate(names)]
    return pd.concat(parts, axis=1).sort_index()


@app.command()
@trains
def forecast(data: DataArg = None, output: Output = None, plot: PlotPath = None,
             plot_series: PlotSeries = None, save_model: Annotated[Optional[Path], typer.Option(
                 help="Also save the fitted model to this directory.")] = None,
             level: Levels = None, futr: FutrFile = None, static: StaticFile = None,
             checkpoint_dir: CheckpointDir = None, devices: Devices = 1, debug: Debug = False,
             *, forecaster):
    """Fit a model on DATA (or the built-in demo data) and print the next HORIZON steps."""

    def run():
        from tsmamba import distributed
        from tsmamba.errors import TSMambaInputError

        if run_on(devices, forecaster.device):
            return
        check_writable(output, plot)
        check_table_output(output, data)
        check_image_paths(plot)
        check_directory_output(save_model, "a model")
        check_directory_output(checkpoint_dir, "the checkpoint directory")
        if forecaster.futr_exog and futr is None:  # said before training, not after it
            raise TSMambaInputError("--futr-exog needs --futr FILE: the future values of "
                                    f"{forecaster.futr_exog} at the timestamps to forecast")
        frame = read_table(data)
        futr_df = read_table(futr) if futr is not None else None
        static_df = read_table(static) if static is not None else None
        result = forecaster.fit(frame, checkpoint_dir=checkpoint_dir,
                                static_df=static_df).predict(level=level, futr_df=futr_df)
        if save_model is not None:
            forecaster.save(save_model)  # every rank: it waits for rank 0's files
        if not distributed.leads():  # under torchrun, rank 0 alone prints and writes
            return
        write_table(result, output)
        if plot is not None:
            _plot(forecaster, frame, result, plot, plot_series)

    guarded(debug, data, run)


@app.command()
@trains
def fit(data: Annotated[Path, typer.Argument(callback=data_file,
                                             help="CSV or Parquet file ('-': CSV on stdin).")],
        out: Annotated[Path, typer.Option("--out", help="Directory to save the model to.")],
        static: StaticFile = None, checkpoint_dir: CheckpointDir = None, devices: Devices = 1,
        debug: Debug = False, *, forecaster):
    """Fit a model on DATA and save it to a directory (safetensors + JSON)."""

    def run():
        from tsmamba import distributed

        if run_on(devices, forecaster.device):
            return
        check_directory_output(out, "a model")
        check_directory_output(checkpoint_dir, "the checkpoint directory")
        forecaster.fit(read_table(data), checkpoint_dir=checkpoint_dir,
                       static_df=read_table(static) if static is not None else None).save(out)
        if distributed.leads():
            typer.echo(f"saved {out} ({forecaster.n_epochs_} epochs, best "
                       f"{forecaster.best_epoch_})", err=True)

    guarded(debug, data, run)


@app.command()
def predict(model_dir: Annotated[Path, typer.Argument(help="A directory written by `tsmamba fit`.")],
            data: Annotated[Optional[Path], typer.Argument(
                callback=data_file, show_default=False,
                help="Recent history to forecast from ('-': CSV on stdin; default: the end of "
                     "the training data).")] = None,
            output: Output = None, plot: PlotPath = None, plot_series: PlotSeries = None,
            level: Levels = None, futr: FutrFile = None,
            debug: Debug = False):
    """Forecast with a saved model, from the end of its training data or of DATA."""

    def run():
        from tsmamba import TSMambaForecaster

        check_writable(output, plot)
        check_table_output(output, data)
        check_image_paths(plot)
        est = TSMambaForecaster.load(model_dir)
        frame = read_table(data) if data is not None else None
        result = est.predict(frame, level=level,
                             futr_df=read_table(futr) if futr is not None else None)
        write_table(result, output)
        if plot is not None:
            _plot(est, frame, result, plot, plot_series)

    guarded(debug, data or model_dir, run)
