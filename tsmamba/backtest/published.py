"""Published results that backtests are set beside (package data in `anchors/` beside this file).

    lookback96.csv        MSE / MAE at lookback 96, horizons 96-720: iTransformer, S-Mamba,
                          PatchTST, DLinear; CMamba's four-horizon averages (horizon "avg")
    tsm2_lookback512.csv  the TSM2 paper's own table at lookback 512, MSE only

Each row names its source. All were computed under `tsmamba.backtest.protocol`.
"""

from __future__ import annotations

from importlib.resources import files

import pandas as pd

TABLES = {96: "lookback96.csv", 512: "tsm2_lookback512.csv"}


def published(lookback: int = 96) -> pd.DataFrame:
    """dataset, horizon (a string: "96" ... "720" or "avg"), model, mse[, mae], source."""
    if lookback not in TABLES:
        return pd.DataFrame(columns=["dataset", "horizon", "model", "mse", "mae", "source"])
    table = files("tsmamba.backtest") / "anchors" / TABLES[lookback]
    with table.open() as handle:
        return pd.read_csv(handle, dtype={"horizon": str})


def published_name(dataset: str) -> str:
    """The name a registry dataset has in published tables ("weather" is "Weather")."""
    return "Weather" if dataset == "weather" else dataset
