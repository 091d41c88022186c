"""Backtests on the benchmark datasets under the literature's protocol (`protocol.py`).

One run = (dataset, model, lookback, horizon, seed): train on the training split with early
stopping on the validation split, then score every test window at stride 1 by MSE and MAE on
the scaled values, the way the published numbers (`published.py`) were computed.
`backtest` returns one row per run; `summary.summarise` sets runs beside the published
numbers. Training goes through `training.build_and_train`, the entry `fit` uses.
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

from .. import distributed
from ..errors import TSMambaInputError
from ..files import atomic_write
from ..estimator import TSMambaForecaster
from ..inference import mean_errors
from ..models import check_model_name
from ..training import build_and_train
from ..validation import check_params, positive_int, resolve_device
from .defaults import backtest_defaults
from .protocol import SPLITS, ProtocolData, prepare

# Estimator parameters a backtest sets itself, from its own arguments or the protocol.
FIXED = ("model", "horizon", "lookback", "random_state", "device", "progress", "val_size",
         "time_col", "freq", "fill_gaps", "drop_duplicates", "id_col", "target_col",
         # the benchmark datasets have no covariates
         "futr_exog", "hist_exog", "stat_exog", "calendar")
EXAMPLE_WINDOWS = 3  # test windows drawn per run by `--plot`


def tunable() -> list[str]:
    """The estimator parameters a backtest accepts in `params`."""
    return [k for k in TSMambaForecaster().get_params() if k not in FIXED]


def _as_list(value, name: str) -> list:
    values = [value] if isinstance(value, (str, int)) else list(value)
    if not values:
        raise TSMambaInputError(f"{name} is empty; give at least one")
    return values


def _version() -> str:
    from .. import __version__  # the package imports this module: read it at run time

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


def score(network: torch.nn.Module, data: ProtocolData, split: str) -> tuple[float, float, int]:
    """MSE and MAE over every window of `split` (each window, step and column weighs the
    same), and the number of windows."""
    windows = data.windows(split)
    mse, mae = mean_errors(network, windows)
    return mse, mae, len(windows)


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


def _run(dataset: str, columns: list, data: ProtocolData, params: dict, split: str,
         device: torch.device):
    """Train on `data`'s training split with estimator parameters `params` (validated), score
    `split`, and return the run's row and the network."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    began = time.perf_counter()
    train_windows = data.windows("train")
    network, config, state = build_and_train(params, columns, data.scaler, train_windows,
                                             data.windows("validation"), device)
    mse, mae, n_windows = score(network, data, split)
    wall = time.perf_counter() - began
    # Validation errors are what settings are chosen by; scored once when that is the split.
    val_mse, val_mae = (mse, mae) if split == "validation" else score(network, data,
                                                                       "validation")[:2]
    row = {
        "dataset": dataset, "model": params["model"], "lookback": data.lookback,
        "horizon": data.horizon, "seed": params["random_state"], "split": split, "mse": mse,
        "mae": mae, "windows": n_windows, "val_mse": val_mse, "val_mae": val_mae,
        "train_windows": len(train_windows), "epochs": state.epoch,
        "best_epoch": state.best_epoch, "wall_s": wall, "peak_mem_mb": _peak_memory_mb(device),
        "device": _device_name(device),
        "settings": {k: v for k, v in params.items() if k in tunable()},
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
        dataset (`tsmamba.backtest.defaults`).
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
    positive_int("lookback", lookback)
    for horizon in horizons:
        positive_int("horizon", horizon)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TSMambaInputError(f"seeds must be non-negative integers, got {seed!r}")
    check_model_name(model)
    if split not in SPLITS[1:]:
        raise TSMambaInputError(f"split must be 'validation' or 'test', got {split!r}")
    unknown = sorted(set(params or {}) - set(tunable()))
    if unknown:
        raise TSMambaInputError(f"a backtest cannot set {unknown}; it sets {list(FIXED)} "
                                f"itself, and accepts {tunable()}")
    resolved = distributed.local_device(resolve_device(device))  # torchrun: this rank's GPU
    rows, examples = [], []
    for dataset in datasets:
        record = registry.info(dataset)
        frame = registry.load(dataset)
        columns = [str(c) for c in frame.columns if c != record.time_col]
        values = frame[columns].to_numpy(np.float64)  # (rows, m)
        times = pd.to_datetime(frame[record.time_col], format="mixed")
        settings = {**backtest_defaults(model, dataset), **(params or {})}
        for horizon in horizons:
            data = prepare(values, record.split, lookback, horizon, resolved)
            for seed in seeds:
                run_params = TSMambaForecaster(
                    model=model, horizon=horizon, lookback=lookback, random_state=seed,
                    device=str(resolved), progress=progress, **settings).get_params()
                check_params(run_params)
                row, network = _run(dataset, columns, data, run_params, split, resolved)
                rows.append(row)
                if on_result is not None:
                    on_result(row)
                if plot is not None and seed == seeds[0]:
                    examples.append((f"{dataset}, horizon {horizon}",
                                     _examples(network, data, split, times, -1)))
    if plot is not None and distributed.leads():  # under torchrun, rank 0 writes files
        from ..plotting import plot_test_windows

        with atomic_write(plot) as temporary:
            plot_test_windows(examples, frame.columns[-1]).savefig(temporary, dpi=110)
    return pd.DataFrame(rows)
