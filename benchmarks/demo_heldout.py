"""Fit a model on the demo data minus its last 24 rows and score those rows (CPU).

    python benchmarks/demo_heldout.py                          # the estimator's defaults
    python benchmarks/demo_heldout.py '{"model": "tsm2"}'      # then others, alternating

Prints the held-out MSE (original units) and the seconds of fit + predict, imports apart.
"""

import json
import sys
import time

t0 = time.perf_counter()
from tsmamba import TSMambaForecaster  # noqa: E402 - imports are timed apart
from tsmamba.datasets import demo  # noqa: E402

params = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
df = demo()
train, test = df.iloc[:-24], df.iloc[-24:]
start = time.perf_counter()
forecast = TSMambaForecaster(**{"progress": False, "device": "cpu", **params}).fit(train).predict()
fit_s = time.perf_counter() - start
mse = ((forecast.values - test.values) ** 2).mean()
print(f"{json.dumps(params):60} held-out MSE {mse:.4f}  fit+predict {fit_s:.1f} s  "
      f"(imports {start - t0:.1f} s)")
