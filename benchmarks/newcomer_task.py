"""A newcomer's first task, tsmamba beside neuralforecast (issue 25's table), on the CPU.

    python benchmarks/newcomer_task.py --rounds 2 [--nf TSMixer NHITS] [--tsmamba '{}' ...]

ETTh1 (7 series), training rows [0, 8640), lookback 96, horizon 96. The test rows are the
literature's test split, [11520, 14400): 29 windows at stride 96, each with its lookback inside
them (rows [8640, 11520), the validation split, are not used). Values are
standardised with the training rows' mean and deviation before either library sees them, and
the MSE is on those values, over all 29 windows x 96 steps x 7 series.

tsmamba runs with its estimator defaults (each `--tsmamba` JSON adds parameters to one more
entry); neuralforecast with the settings of its long-horizon tutorials at input size 96
(`NF_SETTINGS`), when it is importable (install it beside tsmamba, never as a dependency).
Each round runs every entry once, the libraries alternating, so drift spreads over all of them.
One JSON line per fit goes to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

TRAIN_END, TEST_START, TEST_END, LOOKBACK, HORIZON = 8640, 11520, 14400, 96, 96

# neuralforecast's long-horizon tutorial settings, input size 96, horizon 96.
NF_SETTINGS = {
    "TSMixer": dict(n_series=7, n_block=2, ff_dim=64, dropout=0.7, revin=True, max_steps=1000,
                    val_check_steps=100, early_stop_patience_steps=5, scaler_type="identity",
                    learning_rate=1e-3),
    "NHITS": dict(n_freq_downsample=[24, 12, 1], max_steps=1000, val_check_steps=100,
                  early_stop_patience_steps=5, scaler_type="identity", learning_rate=1e-3),
    "PatchTST": dict(patch_len=16, stride=8, revin=True, max_steps=1000, val_check_steps=100,
                     early_stop_patience_steps=5, scaler_type="identity", learning_rate=1e-4),
    "iTransformer": dict(n_series=7, max_steps=1000, val_check_steps=100,
                         early_stop_patience_steps=5, scaler_type="identity",
                         learning_rate=1e-3),
}


def load_standardised(path: str) -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["date"]).set_index("date").iloc[:TEST_END]
    train = frame.iloc[:TRAIN_END]
    return (frame - train.mean()) / train.std(ddof=0)


def test_origins() -> list[int]:
    """Row indices where each test window's horizon starts."""
    first = TEST_START + LOOKBACK
    return list(range(first, TEST_END - HORIZON + 1, HORIZON))


def run_tsmamba(frame: pd.DataFrame, params: dict) -> dict:
    from tsmamba import TSMambaForecaster

    model = TSMambaForecaster(horizon=HORIZON, lookback=LOOKBACK, device="cpu", progress=False,
                              **params)
    start = time.perf_counter()
    model.fit(frame.iloc[:TRAIN_END])
    fit_s = time.perf_counter() - start
    errors = [(model.predict(frame.iloc[o - LOOKBACK:o]).to_numpy()
               - frame.iloc[o:o + HORIZON].to_numpy()) ** 2 for o in test_origins()]
    return {"library": "tsmamba", "model": params.get("model", "default"), "params": params,
            "fit_s": fit_s, "mse": float(np.mean(errors)), "epochs": model.n_epochs_}


def to_long(frame: pd.DataFrame) -> pd.DataFrame:
    return (frame.rename_axis("ds").reset_index()
            .melt(id_vars="ds", var_name="unique_id", value_name="y")[["unique_id", "ds", "y"]])


def run_neuralforecast(frame: pd.DataFrame, name: str) -> dict:
    import neuralforecast.models
    from neuralforecast import NeuralForecast

    model = getattr(neuralforecast.models, name)(h=HORIZON, input_size=LOOKBACK, random_seed=1,
                                                 enable_progress_bar=False,
                                                 enable_model_summary=False, logger=False,
                                                 **NF_SETTINGS[name])
    nf = NeuralForecast(models=[model], freq="h")
    train = to_long(frame.iloc[:TRAIN_END])
    start = time.perf_counter()
    nf.fit(df=train, val_size=HORIZON * 12)
    fit_s = time.perf_counter() - start
    # A multivariate model forecasts its n_series together: one call per window.
    forecasts = []
    for origin in test_origins():
        out = nf.predict(df=to_long(frame.iloc[origin - LOOKBACK:origin]))
        forecasts.append(out.pivot(index="ds", columns="unique_id", values=name)[frame.columns])
    errors = [(f.to_numpy() - frame.iloc[o:o + HORIZON].to_numpy()) ** 2
              for f, o in zip(forecasts, test_origins())]
    return {"library": "neuralforecast", "model": name, "params": NF_SETTINGS[name],
            "fit_s": fit_s, "mse": float(np.mean(errors))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(
        os.environ.get("TSMAMBA_DATA_DIR", "../shared/data"), "ETTh1.csv"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--nf", nargs="*", default=["TSMixer"])
    parser.add_argument("--tsmamba", action="append", default=None,
                        help="estimator parameters as JSON, one entry each (default: {})")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    frame = load_standardised(args.data)
    # Imports are not fit time: torch's optimisers import torch._dynamo on first use (about
    # 3 s), which would otherwise land in whichever fit runs first.
    import torch._dynamo  # noqa: F401
    import tsmamba.training  # noqa: F401
    ours = [json.loads(p) for p in (args.tsmamba or ["{}"])]
    try:
        import neuralforecast  # noqa: F401
        theirs = args.nf
    except ImportError:
        print("neuralforecast is not importable: timing tsmamba alone", file=sys.stderr)
        theirs = []
    for r in range(args.rounds):
        # Alternate the libraries: ours, theirs, ours, ...
        queue = []
        for k in range(max(len(ours), len(theirs))):
            queue += [("tsmamba", ours[k])] if k < len(ours) else []
            queue += [("nf", theirs[k])] if k < len(theirs) else []
        for library, what in queue:
            row = run_tsmamba(frame, what) if library == "tsmamba" else run_neuralforecast(
                frame, what)
            row["round"] = r
            print(f"{row['library']:15} {row['model']:13} fit {row['fit_s']:6.1f} s  "
                  f"MSE {row['mse']:.4f}  {json.dumps(row['params'])[:80]}", flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as out:
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
