"""The `tsmamba` command: forecast, fit and predict from CSV or Parquet files.

Exit codes: 0 success, 1 a data or runtime error (one line on stderr, no traceback unless
--debug), 2 a usage error (unknown option, missing file).
"""

from __future__ import annotations

import enum
import errno
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="tsmamba",
    help="Multivariate time-series forecasting with selective state-space models.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)


class FillGaps(str, enum.Enum):
    interpolate = "interpolate"
    ffill = "ffill"


class KeepDuplicate(str, enum.Enum):
    first = "first"
    last = "last"


def _model_name(value: str) -> str:
    from tsmamba.models import model_names

    if value not in model_names():
        raise typer.BadParameter(f"unknown model {value!r}; available: {', '.join(model_names())}")
    return value


DataArg = Annotated[Optional[Path], typer.Argument(
    exists=True, dir_okay=False, show_default=False,
    help="CSV or Parquet file, one column per series and a time column. Omit for demo data.")]
Horizon = Annotated[int, typer.Option(min=1, help="Steps to forecast.")]
Lookback = Annotated[int, typer.Option(min=1, help="Steps of history each forecast reads.")]
Model = Annotated[str, typer.Option(callback=_model_name,
                                    help="Network: tsm2, s4, mamba or mamba2.")]


def _options(values: Optional[list[str]]) -> Optional[dict]:
    """KEY=VALUE pairs; values are read as JSON when they parse (1, 0.5, true), else as text."""
    import json

    if not values:
        return None
    options = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE (for example init=lin)")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def _check_options(values: Optional[list[str]]) -> Optional[list[str]]:
    _options(values)  # a malformed pair is a usage error (exit 2), found before any work
    return values


Options = Annotated[Optional[list[str]], typer.Option(
    "--option", callback=_check_options, help="Model-specific setting KEY=VALUE (repeatable), e.g. init=lin for s4.")]
TimeCol = Annotated[Optional[str], typer.Option(help="Time column (detected when omitted).")]
Freq = Annotated[Optional[str], typer.Option(help="Frequency such as h, 15min, D (inferred when omitted).")]
Gaps = Annotated[Optional[FillGaps], typer.Option(help="Fill missing timestamps instead of stopping.")]
Dups = Annotated[Optional[KeepDuplicate], typer.Option(
    "--drop-duplicates", help="Keep the first or last row of a duplicated timestamp instead of stopping.")]
Epochs = Annotated[int, typer.Option(min=1, help="Most training epochs.")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Output = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Write the forecast here (.csv or .parquet); stdout CSV when omitted.")]
PlotPath = Annotated[Optional[Path], typer.Option("--plot", help="Save a forecast plot (PNG).")]
Debug = Annotated[bool, typer.Option(help="Show tracebacks.")]
Progress = Annotated[bool, typer.Option(help="Progress bar on stderr while fitting.")]
Levels = Annotated[Optional[list[float]], typer.Option(
    "--level", help="Add a conformal prediction interval at this % (repeatable: 80, 95).")]
CheckpointDir = Annotated[Optional[Path], typer.Option(
    help="Checkpoint every epoch here; re-running the same command after a crash resumes.")]


def _warn_line(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def _fail(message: str, debug: bool, exc: BaseException) -> None:
    if debug:
        raise exc
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _read(path: Optional[Path]):
    import pandas as pd

    if path is None:
        from tsmamba.datasets import demo

        return demo()
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix not in (".csv", ".txt", ".tsv"):
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    if frame.shape[1] == 1 and len(frame) and any(s in str(frame.columns[0]) for s in ";|\t"):
        raise ValueError(f"{path}: only one column was read, named {frame.columns[0]!r}; the "
                         "file seems to use another delimiter: save it comma-separated")
    return frame


def _check_writable(*paths: Optional[Path]) -> None:
    """Fail before training, not after it, when an output path cannot be written."""
    for path in paths:
        if path is None:
            continue
        folder = path.parent
        if not folder.is_dir():
            raise OSError(errno.ENOENT, f"cannot write it: {folder} is not an existing directory;"
                          " create it or choose another path", str(path))
        if not os.access(folder, os.W_OK):
            raise OSError(errno.EACCES, f"cannot write it: no permission to write in {folder}",
                          str(path))
        if path.is_dir():
            raise OSError(errno.EISDIR, "is a directory; give a file name", str(path))


def _write(frame, path: Optional[Path]) -> None:
    import pandas as pd

    index = not isinstance(frame.index, pd.RangeIndex)  # long frames carry their time in ds
    if path is None:
        frame.to_csv(sys.stdout, index=index)
    elif path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=index)
    else:
        frame.to_csv(path, index=index)


def _guarded(debug: bool, source: Optional[Path], action):
    """Run `action`, turning every error into one line and exit code 1."""
    import pandas as pd

    from tsmamba.errors import ModelFormatError, TSMambaInputError

    where = f"{source}: " if source is not None else ""
    with warnings.catch_warnings():
        warnings.showwarning = _warn_line
        try:
            return action()
        except (TSMambaInputError, ModelFormatError) as exc:
            _fail(f"{where}{exc}", debug, exc)
        except pd.errors.EmptyDataError as exc:
            _fail(f"{where}the file is empty", debug, exc)
        except pd.errors.ParserError as exc:
            _fail(f"{where}cannot be parsed as CSV ({str(exc).strip()})", debug, exc)
        except OSError as exc:
            place = f"{exc.filename}: " if exc.filename else where
            _fail(f"{place}{exc.strerror or exc}", debug, exc)
        except Exception as exc:  # noqa: BLE001 - one line for anything else, --debug for more
            _fail(f"{where}{exc.__class__.__name__}: {exc}", debug, exc)


def _forecaster(**kwargs):
    from tsmamba import TSMambaForecaster

    kwargs["fill_gaps"] = kwargs["fill_gaps"].value if kwargs["fill_gaps"] else None
    kwargs["drop_duplicates"] = kwargs["drop_duplicates"].value if kwargs["drop_duplicates"] else None
    kwargs["model_options"] = _options(kwargs["model_options"])
    return TSMambaForecaster(**kwargs)


def _plot(est, frame, forecast, path: Path) -> None:
    """Plot the forecast (and its intervals) after the validated history it was made from."""
    import pandas as pd

    from tsmamba import plot_forecast
    from tsmamba.data import FrameOptions

    if frame is None:
        history = pd.DataFrame(est.history_, index=est.history_index_, columns=est.columns_)
    else:
        history = FrameOptions.from_params(est.get_params()).read(frame, est.freq_)[0].to_frame()
    plot_forecast(history, forecast).savefig(path, dpi=110)


@app.command()
def forecast(data: DataArg = None, horizon: Horizon = 24, lookback: Lookback = 96,
             model: Model = "tsm2", option: Options = None, time_col: TimeCol = None,
             freq: Freq = None, fill_gaps: Gaps = None, drop_duplicates: Dups = None, max_epochs: Epochs = 10,
             seed: Seed = 0, device: Device = "auto", output: Output = None,
             plot: PlotPath = None,
             save_model: Annotated[Optional[Path], typer.Option(help="Also save the fitted model to this directory.")] = None,
             level: Levels = None, checkpoint_dir: CheckpointDir = None,
             progress: Progress = True, debug: Debug = False):
    """Fit a model on DATA (or the built-in demo data) and print the next HORIZON steps."""

    def run():
        _check_writable(output, plot)
        frame = _read(data)
        est = _forecaster(model=model, model_options=option, horizon=horizon, lookback=lookback,
                          time_col=time_col, freq=freq, fill_gaps=fill_gaps, drop_duplicates=drop_duplicates,
                          max_epochs=max_epochs, random_state=seed, device=device,
                          progress=progress)
        result = est.fit(frame, checkpoint_dir=checkpoint_dir).predict(level=level)
        _write(result, output)
        if plot is not None:
            _plot(est, frame, result, plot)
        if save_model is not None:
            est.save(save_model)

    _guarded(debug, data, run)


@app.command()
def fit(data: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or Parquet file.")],
        out: Annotated[Path, typer.Option("--out", help="Directory to save the model to.")],
        horizon: Horizon = 24, lookback: Lookback = 96, model: Model = "tsm2",
        option: Options = None, time_col: TimeCol = None, freq: Freq = None, fill_gaps: Gaps = None,
        drop_duplicates: Dups = None, max_epochs: Epochs = 10, seed: Seed = 0,
        device: Device = "auto", checkpoint_dir: CheckpointDir = None, progress: Progress = True,
        debug: Debug = False):
    """Fit a model on DATA and save it to a directory (safetensors + JSON)."""

    def run():
        est = _forecaster(model=model, model_options=option, horizon=horizon, lookback=lookback,
                          time_col=time_col, freq=freq, fill_gaps=fill_gaps, drop_duplicates=drop_duplicates,
                          max_epochs=max_epochs, random_state=seed, device=device,
                          progress=progress)
        est.fit(_read(data), checkpoint_dir=checkpoint_dir).save(out)
        typer.echo(f"saved {out} ({est.n_epochs_} epochs, best {est.best_epoch_})", err=True)

    _guarded(debug, data, run)


@app.command()
def predict(model_dir: Annotated[Path, typer.Argument(help="A directory written by `tsmamba fit`.")],
            data: Annotated[Optional[Path], typer.Argument(
                exists=True, dir_okay=False, show_default=False,
                help="Recent history to forecast from (default: the end of the training data).")] = None,
            output: Output = None, plot: PlotPath = None, level: Levels = None,
            debug: Debug = False):
    """Forecast with a saved model, from the end of its training data or of DATA."""

    def run():
        from tsmamba import TSMambaForecaster

        _check_writable(output, plot)
        est = TSMambaForecaster.load(model_dir)
        frame = _read(data) if data is not None else None
        result = est.predict(frame, level=level)
        _write(result, output)
        if plot is not None:
            _plot(est, frame, result, plot)

    _guarded(debug, data or model_dir, run)


@app.command("cv")
def cross_validate(
        data: DataArg = None, n_windows: Annotated[int, typer.Option(min=1, help="Windows to forecast.")] = 5,
        step_size: Annotated[Optional[int], typer.Option(min=1, help="Rows between cutoffs (default: the horizon).")] = None,
        refit: Annotated[bool, typer.Option(help="Fit a fresh model at every cutoff.")] = False,
        horizon: Horizon = 24, lookback: Lookback = 96, model: Model = "tsm2",
        option: Options = None, time_col: TimeCol = None, freq: Freq = None,
        fill_gaps: Gaps = None, drop_duplicates: Dups = None, max_epochs: Epochs = 10,
        seed: Seed = 0, device: Device = "auto", level: Levels = None, output: Output = None,
        plot: Annotated[Optional[Path], typer.Option("--plot", help="Save the windows' plot (PNG).")] = None,
        plot_backtest: Annotated[Optional[Path], typer.Option(help="Save the error-per-window plot (PNG).")] = None,
        progress: Progress = True, debug: Debug = False):
    """Rolling-origin evaluation: forecast the last N windows of DATA (or the demo data), print
    MSE and MAE per series (and interval coverage with --level), write the windows with -o."""

    def run():
        from rich.console import Console

        import tsmamba

        _check_writable(output, plot, plot_backtest)
        est = _forecaster(model=model, model_options=option, horizon=horizon, lookback=lookback,
                          time_col=time_col, freq=freq, fill_gaps=fill_gaps,
                          drop_duplicates=drop_duplicates, max_epochs=max_epochs,
                          random_state=seed, device=device, progress=progress)
        cv = est.cross_validation(_read(data), n_windows=n_windows, step_size=step_size,
                                  refit=refit, level=level)
        metrics = ["mse", "mae"] + (["coverage"] if level else [])
        Console(stderr=True).print(tsmamba.evaluate(cv, metrics=metrics).to_string(index=False))
        if output is not None:
            _write(cv, output)
        if plot is not None:
            tsmamba.plot_cross_validation(cv).savefig(plot, dpi=110)
        if plot_backtest is not None:
            tsmamba.plot_backtest(cv).savefig(plot_backtest, dpi=110)

    _guarded(debug, data, run)


@app.command()
def env():
    """Print versions, devices, and which selective-scan backend runs where."""
    import platform

    import torch

    import tsmamba
    from tsmamba.kernels.selective_scan import resolve_backend

    def version(name):
        try:
            from importlib.metadata import version as v

            return v(name)
        except Exception:  # noqa: BLE001 - a missing optional package is reported, not fatal
            return "not installed"

    lines = [f"tsmamba {tsmamba.__version__}", f"python {platform.python_version()} "
             f"({platform.system()} {platform.machine()})"]
    lines += [f"{name} {version(name)}" for name in ("torch", "triton", "numpy", "pandas",
                                                      "scikit-learn")]
    lines.append(f"cpu threads: {torch.get_num_threads()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            lines.append(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
    else:
        lines.append("cuda: not available")
    lines.append(f"selective scan on cpu: {resolve_backend('auto', torch.device('cpu'))}")
    if torch.cuda.is_available():
        lines.append(f"selective scan on cuda: {resolve_backend('auto', torch.device('cuda'))}")
    lines.append("ssd: torch (chunked) on every device")
    import os

    if os.environ.get("TRITON_INTERPRET") == "1":
        lines.append("TRITON_INTERPRET=1: Triton kernels run in the interpreter")
    typer.echo("\n".join(lines))


datasets_app = typer.Typer(help="The benchmark datasets and their local cache.",
                           no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("list")
def datasets_list():
    """List the datasets, their frequency, and whether a verified copy is in the data directory."""
    from tsmamba import datasets

    typer.echo(f"data directory: {datasets.data_dir()} (set TSMAMBA_DATA_DIR to change it)")
    for name in datasets.names():
        record = datasets.info(name)
        present = (datasets.data_dir() / record.filename).exists()
        typer.echo(f"{name:18} {record.freq:>6}  {'present' if present else 'not downloaded'}")


@datasets_app.command("download")
def datasets_download(name: Annotated[str, typer.Argument(help="A name from `tsmamba datasets list`.")],
                      debug: Debug = False):
    """Download NAME into the data directory (if missing) and verify its sha256."""

    def run():
        from tsmamba import datasets

        typer.echo(str(datasets.path(name)))

    _guarded(debug, None, run)


def _print_backtest(table, split: str) -> None:
    """One table per (dataset, lookback): our MSE/MAE per horizon beside the published ones."""
    import math

    from rich.console import Console
    from rich.table import Table

    from tsmamba.backtest import PUBLISHED_MODELS

    def pair(mse, mae):
        if mse is None or (isinstance(mse, float) and math.isnan(mse)):
            return ""
        return f"{mse:.3f}" if mae is None or math.isnan(mae) else f"{mse:.3f} / {mae:.3f}"

    console = Console(width=max(Console().width, 170))  # wide tables, even when piped
    for (dataset, model, lookback), rows in table.groupby(["dataset", "model", "lookback"],
                                                          sort=False):
        published = [m for m in PUBLISHED_MODELS + ("TSM2",) if f"{m} mse" in rows.columns
                     and rows[f"{m} mse"].notna().any()]
        view = Table(title=f"{dataset}, {model}, lookback {lookback}, {split} MSE / MAE "
                           f"(scaled), on {rows['device'].iloc[0]}")
        for column in ["horizon", model, *published, "windows", "epochs", "wall s",
                       "peak MB", "seeds"]:
            view.add_column(column, justify="left" if column == "horizon" else "right")
        for _, row in rows.iterrows():
            view.add_row(row["horizon"], pair(row["mse"], row["mae"]),
                         *[pair(row[f"{m} mse"], row.get(f"{m} mae")) for m in published],
                         str(int(row["windows"])), f"{row['epochs']:.1f}",
                         f"{row['wall_s']:.0f}", f"{row['peak_mem_mb']:.0f}",
                         str(int(row["seeds"])))
        console.print(view)


@app.command()
def backtest(
        dataset: Annotated[list[str], typer.Argument(help="Names from `tsmamba datasets list` (ETTh1, weather, ...).")],
        model: Model = "tsm2", lookback: Lookback = 96,
        horizon: Annotated[Optional[list[int]], typer.Option(min=1, help="Horizon (repeatable); default 96.")] = None,
        seed: Annotated[Optional[list[int]], typer.Option(min=0, help="Seed (repeatable); default 0.")] = None,
        set_: Annotated[Optional[list[str]], typer.Option(
            "--set", callback=_check_options,
            help="Estimator parameter KEY=VALUE over the backtest defaults (repeatable), e.g. d_model=64.")] = None,
        option: Options = None,
        split: Annotated[str, typer.Option(help="test, or validation to choose settings.")] = "test",
        device: Device = "auto",
        json_out: Annotated[Optional[Path], typer.Option(
            "--json", help="Append one JSON line per run (every setting and result) to this file.")] = None,
        plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a few test windows: history, truth, forecast (PNG).")] = None,
        progress: Progress = True, debug: Debug = False):
    """Backtest under the literature's protocol (chronological splits, train-only scaling,
    every test window at stride 1) and print MSE / MAE per horizon beside published results."""

    def run():
        import json

        from tsmamba.backtest import backtest as run_backtest, summarise

        _check_writable(json_out, plot)
        params = _options(set_) or {}
        if option:
            params["model_options"] = _options(option)

        def record(row):
            line = json.dumps(row)
            print(f"{row['dataset']} h={row['horizon']} seed={row['seed']}: mse {row['mse']:.4f} "
                  f"mae {row['mae']:.4f} ({row['epochs']} epochs, {row['wall_s']:.0f} s)",
                  file=sys.stderr, flush=True)
            if json_out is not None:
                with open(json_out, "a", encoding="utf-8") as out:
                    out.write(line + "\n")

        results = run_backtest(dataset, model, lookback, horizon or [96], seed or [0],
                               params=params, split=split, device=device, plot=plot,
                               progress=progress, on_result=record)
        _print_backtest(summarise(results), split)

    _guarded(debug, None, run)


bench_app = typer.Typer(help="Check and time the kernels.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("scan")
def bench_scan(
        device: Annotated[str, typer.Option(help="cuda or cpu (default: cuda when available).")] = "auto",
        size: Annotated[Optional[list[str]], typer.Option(
            help="b,d,n,l (repeatable); default: the three sizes of BENCHMARKS.md.")] = None,
        dtype: Annotated[Optional[list[str]], typer.Option(help="float32 and/or bfloat16.")] = None,
        skip: Annotated[Optional[list[str]], typer.Option(help="Backends to leave out.")] = None,
        graphs: Annotated[bool, typer.Option(
            help="Also time each call replayed from a CUDA graph: GPU time without Python's.")] = False,
        rounds: Annotated[Optional[int], typer.Option(
            min=1, help="Rounds that each time every backend in turn; rows give the median "
                        "(default: 5 on CUDA, 1 on the CPU).")] = None,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write rows as JSON lines.")] = None):
    """Check every selective-scan backend against the reference, then time forward and
    forward + backward (median ms over rounds that take the backends in turn)."""
    import json

    import torch
    from rich.console import Console
    from rich.table import Table

    from tsmamba.kernels.selective_scan import benchmark

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    sizes = [tuple(int(v) for v in s.split(",")) for s in size] if size else benchmark.PAPER_SIZES
    dtypes = [getattr(torch, d) for d in (dtype or ["float32", "bfloat16"])]
    table = Table(title=f"selective scan on {torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU'}")
    rounds = rounds or (5 if dev.type == "cuda" else 1)
    graph_keys = ("graph_fwd_ms", "graph_fwd_bwd_ms") if graphs and dev.type == "cuda" else ()
    for column in ("backend", "dtype", "b x d x n x l", "max rel err", "fwd ms", "fwd+bwd ms",
                   *(("fwd+bwd range",) if rounds > 1 else ()),
                   *(("graph fwd ms", "graph fwd+bwd ms") if graph_keys else ())):
        table.add_column(column)
    rows = []
    for row in benchmark.run(sizes, dtypes, dev, skip=skip or (), graphs=graphs, rounds=rounds):
        rows.append(row)
        spread = (f"{row['fwd_bwd_ms_min']:.3f}–{row['fwd_bwd_ms_max']:.3f}",) if rounds > 1 else ()
        table.add_row(row["backend"], row["dtype"], row["size"], f"{row['max_rel_err']:.1e}",
                      f"{row['fwd_ms']:.3f}", f"{row['fwd_bwd_ms']:.3f}", *spread,
                      *(f"{row[k]:.3f}" for k in graph_keys))
        print(json.dumps(row), file=sys.stderr, flush=True)
    Console().print(table)
    if json_out is not None:
        json_out.write_text("".join(json.dumps(r) + "\n" for r in rows))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
