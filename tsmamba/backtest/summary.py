"""The four-horizon averages and the published numbers set beside backtest runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .published import published, published_name

PUBLISHED_MODELS = ("iTransformer", "S-Mamba", "PatchTST", "DLinear", "CMamba")
FOUR_HORIZONS = ["96", "192", "336", "720"]  # the published average is over these


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (dataset, model, lookback, horizon), with the four-horizon average
    when all four of 96, 192, 336 and 720 ran, and the published MSE / MAE beside it."""
    keys = ["dataset", "model", "lookback", "horizon"]
    table = (results.groupby(keys, sort=False)
             .agg(mse=("mse", "mean"), mae=("mae", "mean"), seeds=("seed", "nunique"),
                  windows=("windows", "first"), epochs=("epochs", "mean"),
                  wall_s=("wall_s", "mean"), peak_mem_mb=("peak_mem_mb", "max"),
                  device=("device", "first"))
             .reset_index())
    table["horizon"] = table["horizon"].astype(str)
    averages = []
    for (dataset, model, lookback), group in table.groupby(keys[:3], sort=False):
        if set(FOUR_HORIZONS) <= set(group["horizon"]):
            four = group[group["horizon"].isin(FOUR_HORIZONS)]
            averages.append({"dataset": dataset, "model": model, "lookback": lookback,
                             "horizon": "avg", "mse": four["mse"].mean(),
                             "mae": four["mae"].mean(), "seeds": four["seeds"].min(),
                             "windows": four["windows"].sum(), "epochs": four["epochs"].mean(),
                             "wall_s": four["wall_s"].sum(),
                             "peak_mem_mb": four["peak_mem_mb"].max(),
                             "device": four["device"].iloc[0]})
    table = pd.concat([table, pd.DataFrame(averages)], ignore_index=True)
    for lookback in table["lookback"].unique():
        anchors = published(int(lookback))
        if anchors.empty:
            continue
        anchors = _with_averages(anchors)
        for (model,), rows in anchors.groupby(["model"], sort=False):
            for metric in [c for c in ("mse", "mae") if c in rows.columns]:
                lookup = rows.set_index(["dataset", "horizon"])[metric]
                at = table["lookback"] == lookback
                table.loc[at, f"{model} {metric}"] = [
                    lookup.get((published_name(d), h), np.nan)
                    for d, h in zip(table.loc[at, "dataset"], table.loc[at, "horizon"])]
    return table


def _with_averages(anchors: pd.DataFrame) -> pd.DataFrame:
    """Published tables plus each model's four-horizon average where it is not given."""
    metrics = [c for c in ("mse", "mae") if c in anchors.columns]
    per_horizon = anchors[anchors["horizon"] != "avg"]
    averaged = (per_horizon.groupby(["dataset", "model"], sort=False)[metrics].mean()
                .reset_index().assign(horizon="avg"))
    given = set(zip(anchors.loc[anchors["horizon"] == "avg", "dataset"],
                    anchors.loc[anchors["horizon"] == "avg", "model"]))
    averaged = averaged[[(d, m) not in given for d, m in zip(averaged["dataset"],
                                                                averaged["model"])]]
    return pd.concat([anchors, averaged], ignore_index=True)
