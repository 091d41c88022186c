"""Measure the empirical coverage of the conformal prediction intervals on held-out windows.

    python examples/interval_coverage.py                      # demo data
    python examples/interval_coverage.py --data ETTh1.csv

The model is fitted once on the rows before the last 20 % (its own validation split, the
last 20 % of those, calibrates the intervals); every window of the held-out 20 % at a stride
of the horizon is then forecast with 80 % and 95 % intervals, and the share of true values
inside each interval is reported, overall and per series.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import tsmamba
from tsmamba import TSMambaForecaster
from tsmamba.datasets import demo


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="CSV with a time column (default: the demo data)")
    parser.add_argument("--model", default="tsm2")
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--lookback", type=int, default=96)
    args = parser.parse_args()
    df = demo() if args.data is None else pd.read_csv(args.data, index_col=0, parse_dates=True)
    n_windows = int(len(df) * 0.2) // args.horizon
    began = time.perf_counter()
    cv = TSMambaForecaster(model=args.model, horizon=args.horizon, lookback=args.lookback,
                           progress=False).cross_validation(df, n_windows=n_windows,
                                                            level=[80, 95])
    table = tsmamba.evaluate(cv, metrics=["coverage"])
    model = table.columns[-1]
    print(f"{args.data or 'demo'}: {n_windows} held-out windows x {args.horizon} steps x "
          f"{df.shape[1]} series, {time.perf_counter() - began:.0f} s")
    print(table.pivot(index="unique_id", columns="metric", values=model).round(1).to_string())
    print("overall:", table.groupby("metric")[model].mean().round(1).to_dict())


if __name__ == "__main__":
    main()
