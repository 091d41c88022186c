"""Choose the estimator's own defaults (what `TSMambaForecaster()` does with no arguments) by
validation MSE over several datasets, never by test.

    python benchmarks/search_estimator_defaults.py --workers 16 --seeds 0 1 --json est.jsonl \\
        --grid '{"model": ["s4"], "max_epochs": [10, 30]}'
    python benchmarks/search_estimator_defaults.py --summary est.jsonl

For each dataset, the estimator is fitted as a user would fit it: on the published training
rows as one frame (it holds out its own `val_size` for early stopping), then it forecasts the
windows of the published validation split at a stride of a quarter horizon, each from its own
lookback inside the split, and is scored by MSE on values standardised with the training
rows' statistics. The test split is never read. Every fit runs on one CPU thread
(TSMAMBA_CPU_THREADS=1) in its own worker process, so many run side by side; `fit_s` is
comparable only within one run. The summary ranks settings by the mean over datasets of
their validation MSE divided by the reference setting's (`{}`: today's defaults), averaged
over seeds (`--reference` names another).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from search_defaults import grid_points  # the backtests' search, beside this script

# (dataset, horizon): horizon 96 as in the long-horizon benchmarks; ILI has 966 weekly rows.
DATASETS = [("ETTh1", 96), ("ETTh2", 96), ("ETTm1", 96), ("weather", 96),
            ("exchange_rate", 96), ("national_illness", 24)]


def fit_and_score(dataset: str, horizon: int, params: dict, seed: int) -> dict:
    os.environ["TSMAMBA_CPU_THREADS"] = "1"
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from tsmamba import TSMambaForecaster
    from tsmamba.backtest.protocol import split_rows
    from tsmamba.datasets import info, load

    import pandas as pd

    frame = load(dataset).set_index("date")
    # Positional, as the published splits are: a regular index from the first timestamp at
    # the data's frequency (weather has a repeated timestamp that a user would drop).
    frame.index = pd.date_range(pd.to_datetime(frame.index[0]), periods=len(frame),
                                freq=info(dataset).freq)
    lookback = params.get("lookback", 96)
    split = split_rows(info(dataset).split, len(frame), lookback)
    train = frame.iloc[:split.train[1]]
    scaled = (frame - train.mean()) / train.std(ddof=0).replace(0, 1)
    start, stop = split.validation
    model = TSMambaForecaster(**{"horizon": horizon, "lookback": lookback, "device": "cpu",
                                 "progress": False, "random_state": seed, **params})
    began = time.perf_counter()
    model.fit(scaled.iloc[:split.train[1]])
    fit_s = time.perf_counter() - began
    errors = []
    for origin in range(start + lookback, stop - horizon + 1, max(1, horizon // 4)):
        forecast = model.predict(scaled.iloc[origin - lookback:origin]).to_numpy()
        errors.append((forecast - scaled.iloc[origin:origin + horizon].to_numpy()) ** 2)
    return {"dataset": dataset, "horizon": horizon, "seed": seed, "searched": params,
            "val_mse": float(np.mean(errors)), "windows": len(errors), "fit_s": fit_s,
            "epochs": model.n_epochs_, "best_epoch": model.best_epoch_}


def summary(path: str, reference: str = "{}"):
    import pandas as pd

    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    table = pd.DataFrame([r for r in rows if "error" not in r])
    table["setting"] = [json.dumps(s, sort_keys=True) for s in table["searched"]]
    reference = json.dumps(json.loads(reference), sort_keys=True)
    reference = (table[table["setting"] == reference].groupby(["dataset", "seed"])["val_mse"]
                 .mean())
    table["ratio"] = [row.val_mse / reference.get((row.dataset, row.seed), float("nan"))
                      for row in table.itertuples()]
    per_dataset = table.pivot_table(index="setting", columns="dataset", values="val_mse",
                                    aggfunc="mean")
    ranked = (table.groupby("setting")
              .agg(mean_ratio=("ratio", "mean"), worst_ratio=("ratio", "max"),
                   fits=("ratio", "size"), fit_s=("fit_s", "mean"))
              .join(per_dataset).sort_values("mean_ratio"))
    at_limit = table.assign(limit=[r.best_epoch == r.epochs and r.epochs == json.loads(
        r.setting).get("max_epochs", 10) for r in table.itertuples()])
    ranked["at_limit"] = at_limit.groupby("setting")["limit"].mean()
    return ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="{}", help="JSON: parameter -> values")
    parser.add_argument("--extra", action="append", default=[],
                        help="one more setting as JSON (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--datasets", nargs="+", default=[d for d, _ in DATASETS])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--json", default=None)
    parser.add_argument("--summary", default=None)
    parser.add_argument("--reference", default="{}",
                        help="the setting the summary's ratios divide by (JSON)")
    parser.add_argument("--no-reference", action="store_true",
                        help="do not fit the {} setting (today's defaults)")
    args = parser.parse_args()
    if args.summary:
        import pandas as pd

        with pd.option_context("display.width", 250, "display.max_colwidth", 120,
                               "display.max_columns", 20):
            print(summary(args.summary, args.reference).round(4).to_string())
        return
    settings = (([] if args.no_reference else [{}])
                + [p for p in grid_points(json.loads(args.grid)) if p]
                + [json.loads(e) for e in args.extra])
    horizons = dict(DATASETS)
    jobs = [(d, horizons[d], s, seed) for s in settings for d in args.datasets
            for seed in args.seeds]
    # The slowest first (the reference, today's TSM2, and weather's 21 series), so the pool's
    # tail is short.
    jobs.sort(key=lambda j: (j[2] != {}, j[0] != "weather"))
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {pool.submit(fit_and_score, *job): job for job in jobs}
        for future in as_completed(futures):
            try:
                row = future.result()
            except Exception as exc:  # one failed fit must not lose the others' results
                dataset, horizon, params, seed = futures[future]
                row = {"dataset": dataset, "horizon": horizon, "seed": seed,
                       "searched": params, "error": repr(exc)}
            print(json.dumps(row), flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as out:
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
