"""Choose a model's backtest defaults by validation MSE: run a grid of settings on the
validation split (never the test split) and print the best per dataset.

    python benchmarks/search_defaults.py --datasets ETTh1 ETTh2 --horizons 96 720 \\
        --grid '{"d_model": [32, 64], "learning_rate": [0.0005, 0.001]}' \\
        --workers 8 --json search.jsonl
    python benchmarks/search_defaults.py --summary search.jsonl

Each (dataset, horizon, setting) is one `tsmamba.backtest(..., split="validation")` run in
its own worker process; on a GPU several workers share it, since small models leave it idle
between kernel launches. Results are appended to --json as they finish, so an interrupted
search keeps what it measured. The summary ranks settings by their validation MSE averaged
over the horizons, counting only settings that ran at every horizon.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

import pandas as pd


def grid_points(grid: dict) -> list[dict]:
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def run_one(dataset: str, model: str, lookback: int, horizon: int, seed: int,
            params: dict) -> dict:
    import torch

    torch.set_num_threads(1)  # many workers share the machine's cores
    from tsmamba.backtest import backtest

    row = backtest(dataset, model, lookback, horizon, seed, params=params,
                   split="validation").iloc[0].to_dict()
    row["searched"] = params
    return row


def summary(path: str) -> pd.DataFrame:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    table = pd.DataFrame(rows)
    table["setting"] = [json.dumps(s, sort_keys=True) for s in table["searched"]]
    n_horizons = table.groupby(["dataset", "model", "lookback"])["horizon"].transform("nunique")
    table["complete"] = (table.groupby(["dataset", "model", "lookback", "setting"])["horizon"]
                         .transform("nunique") == n_horizons)
    ranked = (table[table["complete"]]
              .groupby(["dataset", "model", "lookback", "setting"])
              .agg(val_mse=("mse", "mean"), val_mae=("mae", "mean"), runs=("mse", "size"),
                   epochs=("epochs", "mean"), wall_s=("wall_s", "sum"))
              .reset_index()
              .sort_values(["dataset", "model", "lookback", "val_mse"]))
    return ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ETTh1"])
    parser.add_argument("--model", default="tsm2")
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 720])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", type=json.loads, default={},
                        help="JSON object: parameter -> list of values")
    parser.add_argument("--fixed", type=json.loads, default={},
                        help="JSON object: parameters held at one value in every run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", help="append one line per run here")
    parser.add_argument("--summary", metavar="JSONL", help="only rank the runs in this file")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()

    if args.summary:
        ranked = summary(args.summary)
        with pd.option_context("display.width", 200, "display.max_colwidth", 120):
            for _, group in ranked.groupby(["dataset", "model", "lookback"]):
                print(group.head(args.top).to_string(index=False), "\n")
        return

    jobs = [(dataset, args.model, args.lookback, horizon, args.seed, {**args.fixed, **point})
            for point in grid_points(args.grid)
            for dataset in args.datasets for horizon in args.horizons]
    # Long datasets first keeps the pool busy to the end; within a size class (5 MB steps)
    # settings stay in grid order, so a cut-short search has whole settings.
    jobs.sort(key=lambda job: -(os.path.getsize(_data_file(job[0])) // 5_000_000))
    print(f"{len(jobs)} runs on {args.workers} workers", flush=True)
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        futures = [pool.submit(run_one, *job) for job in jobs]
        for future in as_completed(futures):
            row = future.result()
            print(f"{row['dataset']} h={row['horizon']} {json.dumps(row['searched'])}: "
                  f"val mse {row['mse']:.4f} ({row['epochs']} epochs, {row['wall_s']:.0f} s)",
                  flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as out:
                    out.write(json.dumps(row) + "\n")


def _data_file(name: str) -> str:
    from tsmamba.datasets import registry

    return str(registry.data_dir() / registry.info(name).filename)


if __name__ == "__main__":
    main()
