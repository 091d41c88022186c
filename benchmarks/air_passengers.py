"""neuralforecast's AirPassengersPanel (two airlines, monthly, with a future-known `trend`, a
past-only `y_[lag12]` and a static `airline1`), forecast by NHITS with neuralforecast's own
calls and by tsmamba with the same calls, the last 12 months of each series held out.

The data ships inside neuralforecast, which is not a dependency: install it beside the
project in another environment and pass its interpreter,

    python -m venv /tmp/nf && /tmp/nf/bin/pip install torch==2.13.0 neuralforecast
    python benchmarks/air_passengers.py --nf-python /tmp/nf/bin/python --rounds 3 \
        --variants all static none

The neuralforecast side runs the NHITS example of its documentation (h 12, input 24, the three
kinds of covariates, robust scaling, 200 steps, early stopping on the last 12 months) with an
MAE loss for a point forecast; the tsmamba side the same three covariate lists with its
defaults. Each fit is its own process, the libraries alternating. Prints JSON lines and a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FUTR, HIST, STAT = ["trend"], ["y_[lag12]"], ["airline1"]


def split(panel: pd.DataFrame):
    last = panel["ds"].values[-12]
    return panel[panel["ds"] < last].reset_index(drop=True), \
        panel[panel["ds"] >= last].reset_index(drop=True)


def scores(test: pd.DataFrame, forecast: pd.DataFrame, column: str) -> dict:
    joined = test.merge(forecast[["unique_id", "ds", column]], on=["unique_id", "ds"])
    if len(joined) != len(test):
        raise SystemExit(f"the forecast covers {len(joined)} of {len(test)} held-out rows")
    error = joined[column] - joined["y"]
    return {"mae": round(float(error.abs().mean()), 2),
            "mse": round(float((error ** 2).mean()), 1),
            "mape_pct": round(float((error.abs() / joined["y"]).mean() * 100), 2)}


# tsmamba's variants: the tutorial's three covariate lists, the static feature with the
# future one or the past one, the static feature alone, none.
VARIANTS = {"all": dict(futr_exog=FUTR, hist_exog=HIST, stat_exog=STAT),
            "static+futr": dict(futr_exog=FUTR, stat_exog=STAT),
            "static+hist": dict(hist_exog=HIST, stat_exog=STAT),
            "static": dict(stat_exog=STAT), "none": {}}


def child(library: str, folder: Path, seed: int, variant: str = "all") -> dict:
    start = time.perf_counter()
    if library == "neuralforecast":
        import logging

        from neuralforecast import NeuralForecast
        from neuralforecast.losses.pytorch import MAE
        from neuralforecast.models import NHITS
        from neuralforecast.utils import AirPassengersPanel, AirPassengersStatic

        logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
        AirPassengersPanel.to_csv(folder / "panel.csv", index=False)
        AirPassengersStatic.to_csv(folder / "static.csv", index=False)
        train, test = split(AirPassengersPanel)
        start = time.perf_counter()
        model = NHITS(h=12, input_size=24, loss=MAE(), stat_exog_list=STAT, futr_exog_list=FUTR,
                      hist_exog_list=HIST, n_freq_downsample=[2, 1, 1], scaler_type="robust",
                      max_steps=200, early_stop_patience_steps=2, val_check_steps=10,
                      learning_rate=1e-3, random_seed=seed, enable_progress_bar=False,
                      logger=False, enable_model_summary=False)
        nf = NeuralForecast(models=[model], freq="ME")
        nf.fit(df=train, static_df=AirPassengersStatic, val_size=12)
        forecast = nf.predict(futr_df=test.drop(columns="y")).reset_index()
        column = "NHITS"
    else:
        from tsmamba import TSMambaForecaster

        panel = pd.read_csv(folder / "panel.csv", parse_dates=["ds"])
        static = pd.read_csv(folder / "static.csv")
        train, test = split(panel)
        start = time.perf_counter()
        options = VARIANTS[variant]
        columns = ["unique_id", "ds", "y", *options.get("futr_exog", []),
                   *options.get("hist_exog", [])]
        model = TSMambaForecaster(horizon=12, lookback=24, random_state=seed, progress=False,
                                  **options)
        model.fit(train[columns], static_df=static if "stat_exog" in options else None)
        forecast = model.predict(futr_df=test.drop(columns="y") if "futr_exog" in options
                                 else None)
        column = forecast.columns[2]
    name = library if library != "tsmamba" else f"tsmamba ({variant})"
    return {"library": name, "seed": seed, "fit_predict_s": round(time.perf_counter() - start, 2),
            **scores(test, forecast, column)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nf-python", required=True, help="an interpreter with neuralforecast")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=["all"], choices=list(VARIANTS),
                        help="tsmamba's covariates: the tutorial's three lists (all), the "
                             "static feature with the future or the past one, alone, or none")
    parser.add_argument("--child", choices=["tsmamba", "neuralforecast"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="all", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.folder), args.seed, args.variant)))
        return
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.rounds):
            runs = [("neuralforecast", args.nf_python, "all")] + [
                ("tsmamba", sys.executable, variant) for variant in args.variants]
            for library, python, variant in runs:
                out = subprocess.run([python, __file__, "--child", library, "--folder", folder,
                                      "--seed", str(seed), "--variant", variant,
                                      "--nf-python", args.nf_python],
                                     capture_output=True, text=True, check=True)
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(json.dumps(results[-1]), flush=True)
    print("\n| library | seed | fit + predict s | MAE | MSE | MAPE % |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['library']} | {r['seed']} | {r['fit_predict_s']} | {r['mae']} | {r['mse']} | "
              f"{r['mape_pct']} |")
    for library in dict.fromkeys(r["library"] for r in results):
        mine = [r["mae"] for r in results if r["library"] == library]
        print(f"{library}: mean MAE {np.mean(mine):.2f}")


if __name__ == "__main__":
    main()
