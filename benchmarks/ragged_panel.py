"""A ragged panel of many series, fitted and forecast by tsmamba and by neuralforecast's NHITS
on the same data: wall time and peak memory of each, and the held-out MSE.

The panel: `--series` hourly series of 100 to 1,000 rows with random starts, each a level, a
daily cycle of its own amplitude and noise (seeded). The last `--horizon` rows of every
series are held out; each library fits the rest and forecasts them. MSE is over every series
and step, each series divided by its own training std.

Each fit runs in a fresh process (so peak RSS is its own), the libraries alternating, A B A
B. neuralforecast is not a dependency: install it beside the project in another environment
and pass its interpreter, e.g.

    python -m venv /tmp/nf && /tmp/nf/bin/pip install torch==2.13.0 neuralforecast
    python benchmarks/ragged_panel.py --series 10000 --rounds 2 --nf-python /tmp/nf/bin/python

Prints one JSON line per fit and a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd


def make_panel(n_series: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(100, 1001, n_series)
    starts = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, n_series), "h")
    ids = np.repeat(np.arange(n_series), lengths)
    position = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ds = np.repeat(starts.to_numpy(), lengths) + position * np.timedelta64(1, "h")
    hour = pd.DatetimeIndex(ds).hour.to_numpy()
    level = rng.uniform(0, 10, n_series)[ids]
    amplitude = rng.uniform(0.5, 2, n_series)[ids]
    y = level + amplitude * np.sin(2 * np.pi * hour / 24) + 0.2 * rng.standard_normal(len(ids))
    return pd.DataFrame({"unique_id": ids, "ds": ds, "y": y})


def split(df: pd.DataFrame, horizon: int):
    tail = df.groupby("unique_id").cumcount(ascending=False) < horizon
    return df[~tail], df[tail]


def held_out_mse(train: pd.DataFrame, test: pd.DataFrame, forecast: pd.DataFrame,
                 column: str) -> float:
    scale = train.groupby("unique_id")["y"].std()
    joined = test.merge(forecast[["unique_id", "ds", column]], on=["unique_id", "ds"])
    if len(joined) != len(test):
        raise SystemExit(f"the forecast covers {len(joined)} of {len(test)} held-out rows")
    error = (joined[column] - joined["y"]) / joined["unique_id"].map(scale)
    return float(np.mean(error ** 2))


def child(library: str, n_series: int, horizon: int, lookback: int) -> dict:
    train, test = split(make_panel(n_series), horizon)
    start = time.perf_counter()
    if library == "tsmamba":
        from tsmamba import TSMambaForecaster

        model = TSMambaForecaster(horizon=horizon, lookback=lookback, progress=False).fit(train)
        fitted = time.perf_counter()
        forecast = model.predict()
        column = forecast.columns[2]
        detail = {"model": model.model, "epochs": model.n_epochs_}
    else:
        import logging

        from neuralforecast import NeuralForecast
        from neuralforecast.models import NHITS

        logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
        # start_padding_enabled: without it NHITS refuses series shorter than input_size.
        nf = NeuralForecast(models=[NHITS(h=horizon, input_size=lookback,
                                          start_padding_enabled=True,
                                          enable_progress_bar=False, logger=False,
                                          enable_model_summary=False)], freq="h")
        nf.fit(train)
        fitted = time.perf_counter()
        forecast = nf.predict().reset_index()
        column = "NHITS"
        detail = {"model": "NHITS", "epochs": None}
    done = time.perf_counter()
    return {"library": library, **detail, "series": n_series, "rows": len(train),
            "fit_s": round(fitted - start, 2), "predict_s": round(done - fitted, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3),
            "mse": round(held_out_mse(train, test, forecast, column), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=10000)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--nf-python", help="an interpreter with neuralforecast installed")
    parser.add_argument("--child", choices=["tsmamba", "neuralforecast"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.series, args.horizon, args.lookback)))
        return
    runners = [("tsmamba", sys.executable)] + ([("neuralforecast", args.nf_python)]
                                               if args.nf_python else [])
    results = []
    for _ in range(args.rounds):
        for library, python in runners:
            out = subprocess.run([python, __file__, "--child", library, "--series",
                                  str(args.series), "--horizon", str(args.horizon),
                                  "--lookback", str(args.lookback)],
                                 capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    print("\n| library, model | fit s | predict s | peak RSS MB | held-out MSE |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['library']} {r['model']} | {r['fit_s']} | {r['predict_s']} | "
              f"{r['peak_rss_mb']} | {r['mse']} |")


if __name__ == "__main__":
    main()
