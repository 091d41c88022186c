"""How fast the future-covariate head learns, by its output gain (`EFFECT_GAIN` of
`tsmamba.models.covariate_effects`), on the synthetic panel of tests/test_covariates.py.

    python benchmarks/covariate_gain.py [--gain 1 10 30] [--models tsm2 s4] [--epochs 8]

For each model: a fit without the covariate, then one with it at every gain (the test's small
settings); prints the held-out MSE over six windows of eight steps after the training rows.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from tsmamba import TSMambaForecaster
from tsmamba.models import covariate_effects

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_covariates import SMALL, _panel  # noqa: E402  (the test's panel and settings)


def held_out_mse(model: str, epochs: int, futr_exog) -> float:
    frame = _panel()
    train_rows = len(frame) - 48
    columns = ["a", "b", "price"] if futr_exog else ["a", "b"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = TSMambaForecaster(**{**SMALL, "model": model, "max_epochs": epochs,
                                   "futr_exog": futr_exog}).fit(frame.iloc[:train_rows][columns])
    squared = []
    for origin in range(train_rows, len(frame), 8):
        forecast = est.predict(frame.iloc[origin - 32:origin][columns],
                               futr_df=frame.iloc[origin:origin + 8] if futr_exog else None)
        squared.append((forecast.to_numpy() - frame.iloc[origin:origin + 8][["a", "b"]]
                        .to_numpy()) ** 2)
    return float(np.mean(squared))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gain", type=float, nargs="+", default=[1.0, 10.0, 30.0])
    parser.add_argument("--models", nargs="+", default=["tsm2", "s4"])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    for model in args.models:
        print(f"{model}: without the covariate {held_out_mse(model, args.epochs, None):.3f}",
              flush=True)
        for gain in args.gain:
            covariate_effects.EFFECT_GAIN = gain
            print(f"{model}: gain {gain:g} {held_out_mse(model, args.epochs, ['price']):.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
