"""Every model against the last-value and seasonal-naive forecasts on held-out windows.

    python examples/compare_models.py                       # demo data, all models
    python examples/compare_models.py --data ETTh1.csv --split validation --seeds 0 1

Rows are split chronologically: the first 60 % train, the next 20 % are the validation
windows, the last 20 % the test windows. Each model is fitted once on the rows before the
evaluated part (train only for `validation`; train + validation for `test`) and forecasts from
every origin of that part at a stride of the horizon, reading only the rows before the origin.
MSE and MAE are on the columns standardised by the training rows, so series of different
scales count equally. Seasonal naive repeats the last `season` steps.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from tsmamba import TSMambaForecaster
from tsmamba.datasets import demo
from tsmamba.models import model_names


def score(forecasts, truths, scale) -> tuple[float, float]:
    err = (np.stack(forecasts) - np.stack(truths)) / scale  # (windows, h, m)
    return float(np.mean(err ** 2)), float(np.mean(np.abs(err)))


def evaluate(df, split, horizon, lookback, season, configs, seeds, fit_settings):
    n = len(df)
    train_end, val_end = int(n * 0.6), int(n * 0.8)
    start, stop = (train_end, val_end) if split == "validation" else (val_end, n)
    scale = df.iloc[:train_end].to_numpy().std(axis=0)
    origins = range(start, stop - horizon + 1, horizon)
    truths = [df.iloc[o:o + horizon].to_numpy() for o in origins]
    rows = []
    last = [np.repeat(df.iloc[o - 1:o].to_numpy(), horizon, axis=0) for o in origins]
    seasonal = [np.resize(df.iloc[o - season:o].to_numpy(), (horizon, df.shape[1]))
                for o in origins]
    for name, forecasts in (("last value", last), ("seasonal naive", seasonal)):
        mse, mae = score(forecasts, truths, scale)
        rows.append(dict(model=name, options=None, seed=None, mse=mse, mae=mae, seconds=0.0))
    for model, options in configs:
        for seed in seeds:
            began = time.perf_counter()
            est = TSMambaForecaster(model=model, model_options=options, horizon=horizon,
                                    lookback=lookback, random_state=seed, progress=False,
                                    **fit_settings).fit(df.iloc[:start])
            forecasts = [est.predict(df.iloc[o - lookback:o]).to_numpy() for o in origins]
            mse, mae = score(forecasts, truths, scale)
            rows.append(dict(model=model, options=options, seed=seed, mse=mse, mae=mae,
                             seconds=time.perf_counter() - began))
            print(json.dumps(rows[-1]), flush=True)
    return pd.DataFrame(rows), len(truths)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="CSV with a time column (default: the demo data)")
    parser.add_argument("--split", choices=["validation", "test"], default="test")
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--season", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--models", nargs="+", default=model_names())
    parser.add_argument("--option", action="append", default=[], metavar="MODEL:KEY=JSON",
                        help="also run MODEL with this option, e.g. tsm2:bidirectional_time=true")
    args = parser.parse_args()
    df = demo() if args.data is None else pd.read_csv(args.data, index_col=0, parse_dates=True)
    configs = [(m, None) for m in args.models]
    for item in args.option:
        model, _, pair = item.partition(":")
        key, _, value = pair.partition("=")
        configs.append((model, {key: json.loads(value)}))
    table, windows = evaluate(df, args.split, args.horizon, args.lookback, args.season,
                              configs, args.seeds, {})
    print(f"\n{args.data or 'demo'}, {args.split} split, {windows} windows, horizon "
          f"{args.horizon}, lookback {args.lookback}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
