"""A TSM2 fit on a quiet CPU and beside one busy process, with the thread policy of
`tsmamba.cpu_threads` (auto) and with the threads fixed at PyTorch's default.

    python benchmarks/loaded_cpu_fit.py [--runs 2]

Each fit is its own process (ETTh1's first 4000 rows, horizon 96, TSM2 at the estimator's
defaults but 2 epochs); the neighbour is `python -c "while True: pass"`, started before the
loaded fits and stopped after them. Prints one line per fit. Needs TSMAMBA_DATA_DIR
(ETTh1.csv).
"""

import argparse
import os
import subprocess
import sys
import time

FIT = """
import os, time, pandas as pd
from tsmamba import TSMambaForecaster
from tsmamba.datasets import load
df = load("ETTh1")
start = time.perf_counter()
forecaster = TSMambaForecaster(model="tsm2", horizon=96, max_epochs=2, progress=False,
                               device="cpu")
forecaster.fit(df.iloc[:4000])
print(f"{time.perf_counter() - start:.1f}")
"""


def fit_seconds(threads: str | None) -> str:
    env = dict(os.environ)
    env.pop("TSMAMBA_CPU_THREADS", None)
    if threads is not None:
        env["TSMAMBA_CPU_THREADS"] = threads
    done = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    import torch

    fixed = str(torch.get_num_threads())
    for machine in ("quiet", "one busy neighbour"):
        neighbour = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                     if machine != "quiet" else None)
        time.sleep(1)
        try:
            for _ in range(args.runs):
                for label, threads in (("auto", None), (f"{fixed} fixed", fixed)):
                    print(f"{machine:18} threads {label:8} fit {fit_seconds(threads)} s",
                          flush=True)
        finally:
            if neighbour is not None:
                neighbour.kill()


if __name__ == "__main__":
    main()
