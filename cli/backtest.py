"""`tsmamba backtest`: the benchmark datasets under the literature's protocol, printed beside
the published numbers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import (Debug, Device, Lookback, Model, Options, Progress, app, check_options,
                  guarded, model_option_values, parse_options)
from .files import append_line, check_image_paths, check_writable
from .launch import Devices, run_on


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
            "--set", callback=check_options,
            help="Estimator parameter KEY=VALUE over the backtest defaults (repeatable), e.g. d_model=64.")] = None,
        option: Options = None,
        split: Annotated[str, typer.Option(help="test, or validation to choose settings.")] = "test",
        device: Device = "auto",
        json_out: Annotated[Optional[Path], typer.Option(
            "--json", help="Append one JSON line per run (every setting and result) to this file.")] = None,
        plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a few test windows: history, truth, forecast (PNG).")] = None,
        progress: Progress = True, devices: Devices = 1, debug: Debug = False):
    """Backtest under the literature's protocol (chronological splits, train-only scaling,
    every test window at stride 1) and print MSE / MAE per horizon beside published results."""

    def run():
        import json

        from tsmamba import distributed
        from tsmamba.backtest import backtest as run_backtest, summarise

        if run_on(devices, device):
            return
        check_writable(json_out, plot)
        check_image_paths(plot)
        params = parse_options(set_) or {}
        if option:
            params["model_options"] = model_option_values(model, option)

        def record(row):
            line = json.dumps(row)
            print(f"{row['dataset']} h={row['horizon']} seed={row['seed']}: mse {row['mse']:.4f} "
                  f"mae {row['mae']:.4f} ({row['epochs']} epochs, {row['wall_s']:.0f} s)",
                  file=sys.stderr, flush=True)
            if json_out is not None:
                append_line(json_out, line)

        leads = distributed.leads()  # under torchrun, rank 0 alone prints and writes
        results = run_backtest(dataset, model, lookback, horizon or [96], seed or [0],
                               params=params, split=split, device=device, plot=plot,
                               progress=progress, on_result=record if leads else None)
        if leads:
            _print_backtest(summarise(results), split)

    guarded(debug, None, run)
