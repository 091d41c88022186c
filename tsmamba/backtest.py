"""Backtests on the benchmark datasets under the literature's protocol (`tsmamba.protocol`).

One run = (dataset, model, lookback, horizon, seed): train on the training split with early
stopping on the validation split, then score every test window at stride 1 by MSE and MAE on
the scaled values, the way the published numbers (`tsmamba.published`) were computed.
`backtest` returns one row per run; `summarise` sets runs beside the published numbers.
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import torch

from .backtest_defaults import backtest_defaults
from .errors import TSMambaInputError
from .estimator import TSMambaForecaster, _positive_int, resolve_device
from .models import build_config, model_names
from .protocol import SPLITS, ProtocolData, prepare
from .published import published, published_name
from .training import EVAL_BATCH, fit_network

# Estimator parameters a backtest sets itself, from its own arguments or the protocol.
FIXED = ("model", "horizon", "lookback", "random_state", "device", "progress", "val_size",
         "time_col", "freq", "fill_gaps", "drop_duplicates", "id_col", "target_col")
PUBLISHED_MODELS = ("iTransformer", "S-Mamba", "PatchTST", "DLinear", "CMamba")
EXAMPLE_WINDOWS = 3  # test windows drawn per run by `--plot`
FOUR_HORIZONS = ["96", "192", "336", "720"]  # the published average is over these


def tunable() -> list[str]:
    """The estimator parameters a backtest accepts in `params`."""
    return [k for k in TSMambaForecaster().get_params() if k not in FIXED]


def _as_list(value, name: str) -> list:
    values = [value] if isinstance(value, (str, int)) else list(value)
    if not values:
        raise TSMambaInputError(f"{name} is empty; give at least one")
    return values


def _version() -> str:
    from . import __version__  # the package imports this module: read it at run time

    return __version__


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def _peak_memory_mb(device: torch.device) -> float:
    """CUDA: the most memory torch held on the GPU during the run. CPU: the process's peak
    resident set so far (Linux reports it in KiB), an upper bound for the run."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@torch.no_grad()
def score(network: torch.nn.Module, data: ProtocolData, split: str) -> tuple[float, float, int]:
    """MSE and MAE over every window of `split` (each window, step and column weighs the
    same), and the number of windows."""
    windows = data.windows(split)
    network.eval()
    squared = absolute = torch.zeros((), dtype=torch.float64, device=data.scaled.device)
    for x, y in windows.batches(EVAL_BATCH):
        error = (network(x) - y).double()  # (b, h, m)
        squared = squared + error.square().sum()
        absolute = absolute + error.abs().sum()
    count = len(windows) * data.horizon * data.scaled.shape[1]
    return squared.item() / count, absolute.item() / count, len(windows)


def _examples(network, data: ProtocolData, split: str, times: pd.Series, column: int) -> list:
    """A few windows of `split`, evenly spaced, in the data's units: (history, truth,
    forecast) as Series indexed by time."""
    windows = data.windows(split)
    picks = torch.linspace(0, len(windows) - 1, EXAMPLE_WINDOWS).round().long()
    with torch.no_grad():
        x, y = windows.batch(picks)
        forecast = network(x)
    mean, scale = data.scaler.mean_[column], data.scaler.scale_[column]
    x, y, forecast = (t[:, :, column].cpu().numpy() * scale + mean for t in (x, y, forecast))
    out = []
    for k, start in enumerate((windows.start + picks).tolist()):
        past = times.iloc[start:start + data.lookback]
        future = times.iloc[start + data.lookback:start + data.lookback + data.horizon]
        out.append((pd.Series(x[k], index=past), pd.Series(y[k], index=future),
                    pd.Series(forecast[k], index=future)))
    return out


def _run(model: str, dataset: str, data: ProtocolData, seed: int, settings: dict,
         split: str, device: torch.device, progress: bool):
    estimator = TSMambaForecaster(model=model, horizon=data.horizon, lookback=data.lookback,
                                  random_state=seed, device=str(device), progress=progress,
                                  **settings)
    estimator._check_params()
    config = build_config(model, estimator.model_options, n_series=data.scaled.shape[1],
                          **estimator.get_params())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    began = time.perf_counter()
    train_windows = data.windows("train")
    network, state = fit_network(model, config, train_windows,
                                 data.windows("validation"), estimator.train_settings(), device,
                                 seed)
    mse, mae, n_windows = score(network, data, split)
    wall = time.perf_counter() - began
    # Validation errors are what settings are chosen by; scored once when that is the split.
    val_mse, val_mae = (mse, mae) if split == "validation" else score(network, data,
                                                                       "validation")[:2]
    row = {
        "dataset": dataset, "model": model, "lookback": data.lookback, "horizon": data.horizon,
        "seed": seed, "split": split, "mse": mse, "mae": mae, "windows": n_windows,
        "val_mse": val_mse, "val_mae": val_mae,
        "train_windows": len(train_windows), "epochs": state.epoch,
        "best_epoch": state.best_epoch, "wall_s": wall, "peak_mem_mb": _peak_memory_mb(device),
        "device": _device_name(device),
        "settings": {k: v for k, v in estimator.get_params().items() if k in tunable()},
        "config": dataclasses.asdict(config), "tsmamba": _version(),
        "torch": torch.__version__,
    }
    return row, network


def backtest(datasets: str | Iterable[str] = "ETTh1", model: str = "tsm2", lookback: int = 96,
             horizons: int | Iterable[int] = 96, seeds: int | Iterable[int] = 0, *,
             params: dict | None = None, split: str = "test", device: str = "auto",
             plot: str | None = None, progress: bool = False,
             on_result: Callable[[dict], None] | None = None) -> pd.DataFrame:
    """Run every (dataset, horizon, seed) and return one row per run.

    datasets : names from `tsmamba.datasets.names()`, read through the dataset registry.
    params : estimator parameters (`tunable()`) over the backtest defaults of the model and
        dataset (`tsmamba.backtest_defaults`).
    split : "test" to report; "validation" to choose settings without looking at the test.
    plot : write a PNG of a few windows of `split` per (dataset, horizon): history, truth
        and forecast of the last column.
    on_result : called with each row as soon as its run ends (the CLI's --json).

    Columns: dataset, model, lookback, horizon, seed, split, mse, mae (on `split`), windows,
    val_mse, val_mae (on the validation split, for choosing settings), train_windows,
    epochs, best_epoch, wall_s, peak_mem_mb, device, settings (every parameter used), config
    (the network's), tsmamba and torch versions.
    """
    from tsmamba.datasets import registry

    datasets = [registry.info(name).name for name in _as_list(datasets, "datasets")]
    horizons, seeds = _as_list(horizons, "horizons"), _as_list(seeds, "seeds")
    _positive_int("lookback", lookback)
    for horizon in horizons:
        _positive_int("horizon", horizon)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TSMambaInputError(f"seeds must be non-negative integers, got {seed!r}")
    if model not in model_names():
        raise TSMambaInputError(f"unknown model {model!r}; available models: {model_names()}")
    if split not in SPLITS[1:]:
        raise TSMambaInputError(f"split must be 'validation' or 'test', got {split!r}")
    unknown = sorted(set(params or {}) - set(tunable()))
    if unknown:
        raise TSMambaInputError(f"a backtest cannot set {unknown}; it sets {list(FIXED)} "
                                f"itself, and accepts {tunable()}")
    resolved = resolve_device(device)
    rows, examples = [], []
    for dataset in datasets:
        record = registry.info(dataset)
        frame = registry.load(dataset)
        values = frame.drop(columns=[record.time_col]).to_numpy(np.float64)  # (rows, m)
        times = pd.to_datetime(frame[record.time_col], format="mixed")
        settings = {**backtest_defaults(model, dataset), **(params or {})}
        for horizon in horizons:
            data = prepare(values, record.split, lookback, horizon, resolved)
            for seed in seeds:
                row, network = _run(model, dataset, data, seed, settings, split, resolved,
                                    progress)
                rows.append(row)
                if on_result is not None:
                    on_result(row)
                if plot is not None and seed == seeds[0]:
                    examples.append((f"{dataset}, horizon {horizon}",
                                     _examples(network, data, split, times, -1)))
    if plot is not None:
        from .plotting import plot_test_windows

        plot_test_windows(examples, frame.columns[-1]).savefig(plot, dpi=110)
    return pd.DataFrame(rows)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (dataset, model, lookback, horizon), with the four-horizon average
    when all four of 96, 192, 336 and 720 ran, and the published MSE / MAE beside it."""
    keys = ["dataset", "model", "lookback", "horizon"]
    table = (results.groupby(keys, sort=False)
             .agg(mse=("mse", "mean"), mae=("mae", "mean"), seeds=("seed", "nunique"),
                  windows=("windows", "first"), epochs=("epochs", "mean"),
                  wall_s=("wall_s", "mean"), peak_mem_mb=("peak_mem_mb", "max"),
                  device=("device", "first"))
             .reset_index())
    table["horizon"] = table["horizon"].astype(str)
    averages = []
    for (dataset, model, lookback), group in table.groupby(keys[:3], sort=False):
        if set(FOUR_HORIZONS) <= set(group["horizon"]):
            four = group[group["horizon"].isin(FOUR_HORIZONS)]
            averages.append({"dataset": dataset, "model": model, "lookback": lookback,
                             "horizon": "avg", "mse": four["mse"].mean(),
                             "mae": four["mae"].mean(), "seeds": four["seeds"].min(),
                             "windows": four["windows"].sum(), "epochs": four["epochs"].mean(),
                             "wall_s": four["wall_s"].sum(),
                             "peak_mem_mb": four["peak_mem_mb"].max(),
                             "device": four["device"].iloc[0]})
    table = pd.concat([table, pd.DataFrame(averages)], ignore_index=True)
    for lookback in table["lookback"].unique():
        anchors = published(int(lookback))
        if anchors.empty:
            continue
        anchors = _with_averages(anchors)
        for (model,), rows in anchors.groupby(["model"], sort=False):
            for metric in [c for c in ("mse", "mae") if c in rows.columns]:
                lookup = rows.set_index(["dataset", "horizon"])[metric]
                at = table["lookback"] == lookback
                table.loc[at, f"{model} {metric}"] = [
                    lookup.get((published_name(d), h), np.nan)
                    for d, h in zip(table.loc[at, "dataset"], table.loc[at, "horizon"])]
    return table


def _with_averages(anchors: pd.DataFrame) -> pd.DataFrame:
    """Published tables plus each model's four-horizon average where it is not given."""
    metrics = [c for c in ("mse", "mae") if c in anchors.columns]
    per_horizon = anchors[anchors["horizon"] != "avg"]
    averaged = (per_horizon.groupby(["dataset", "model"], sort=False)[metrics].mean()
                .reset_index().assign(horizon="avg"))
    given = set(zip(anchors.loc[anchors["horizon"] == "avg", "dataset"],
                    anchors.loc[anchors["horizon"] == "avg", "model"]))
    averaged = averaged[[(d, m) not in given for d, m in zip(averaged["dataset"],
                                                                averaged["model"])]]
    return pd.concat([anchors, averaged], ignore_index=True)
