"""Training throughput of data-parallel TSM2 on 1, 2, 4 ... GPUs, and its test MSE.

    torchrun --standalone --nproc-per-node N benchmarks/ddp_throughput.py --data weather
    torchrun --standalone --nproc-per-node N benchmarks/ddp_throughput.py --data panel

`weather`: the benchmark file (TSMAMBA_DATA_DIR), lookback 512, horizon 96. `panel`: a
synthetic traffic-sized panel, 862 daily-and-weekly seasonal series of 17,544 hourly rows
(traffic's shape), lookback 96, horizon 96. Values are standardised with the first 70 % of
the rows; the model fits those (its own last 20 % for early stopping off: patience above
the epochs), and the test MSE is over windows at stride 96 in the last 20 % of the rows.

Every run trains `--epochs` epochs of `--steps` steps of `--batch-size` windows per rank, so
N ranks see N times the windows in each step; windows per second = epochs x steps x batch x
N / fit seconds (the fit's validation passes included). One JSON line on rank 0.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd


def panel(rows: int = 17_544, series: int = 862, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (2, series))
    level = rng.uniform(0.5, 2.0, series)
    values = level * (1 + 0.6 * np.sin(2 * np.pi * t / 24 + phase[0])
                      + 0.3 * np.sin(2 * np.pi * t / 168 + phase[1]))
    values += 0.2 * rng.standard_normal((rows, series))
    index = pd.date_range("2016-07-01", periods=rows, freq="h")
    return pd.DataFrame(values, index=index, columns=[f"s{i}" for i in range(series)])


def load(name: str) -> tuple[pd.DataFrame, int]:
    if name == "panel":
        return panel(), 96
    from tsmamba.datasets import load as load_dataset

    frame = load_dataset(name).set_index("date")
    frame.index = pd.date_range(pd.to_datetime(frame.index[0]), periods=len(frame),
                                freq="10min")  # positional, as the benchmark splits are
    return frame, 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="weather", help="weather or panel")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rows", type=int, default=None, help="only the first ROWS rows "
                        "(a quick check of the script)")
    args = parser.parse_args()
    from tsmamba import TSMambaForecaster, distributed

    frame, lookback = load(args.data)
    frame = frame.iloc[:args.rows]
    horizon, train_end, test_start = 96, int(len(frame) * 0.7), int(len(frame) * 0.8)
    train = frame.iloc[:train_end]
    scaled = (frame - train.mean()) / train.std(ddof=0).replace(0, 1)
    model = TSMambaForecaster(model="tsm2", horizon=horizon, lookback=lookback,
                              batch_size=args.batch_size, max_epochs=args.epochs,
                              max_steps_per_epoch=args.steps, patience=args.epochs + 1,
                              random_state=args.seed, device=args.device, progress=False)
    began = time.perf_counter()
    model.fit(scaled.iloc[:train_end])
    fit_s = time.perf_counter() - began
    world = distributed.world()
    errors = [(model.predict(scaled.iloc[o - lookback:o]).to_numpy()
               - scaled.iloc[o:o + horizon].to_numpy()) ** 2
              for o in range(test_start + lookback, len(frame) - horizon + 1, horizon)]
    if world.leads:
        windows = args.epochs * args.steps * args.batch_size * world.size
        print(json.dumps({"data": args.data, "ranks": world.size, "seed": args.seed,
                          "fit_s": fit_s, "windows_per_s": windows / fit_s,
                          "test_mse": float(np.mean(errors)), "test_windows": len(errors),
                          "epochs": model.n_epochs_, "device": model.device_,
                          "gpu": os.environ.get("CUDA_VISIBLE_DEVICES", "all")}), flush=True)


if __name__ == "__main__":
    main()
