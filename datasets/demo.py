"""A deterministic synthetic multivariate series: the built-in demo data (no file, no network).

Each series is a sum of a daily and a weekly cycle, a slow trend and noise; series k > 0 also
follows series k - 1 with a lag, so there is cross-channel structure for a channel mixer to find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEMO_START = "2024-01-01"


def demo(n_rows: int = 2000, n_series: int = 5, freq: str = "h", seed: int = 0) -> pd.DataFrame:
    """A wide frame of `n_rows` hourly rows (by default) and `n_series` columns."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows, dtype=np.float64)
    daily, weekly = 24.0, 168.0
    columns = {}
    previous = None
    for k in range(n_series):
        phase_d, phase_w = rng.uniform(0, 2 * np.pi, size=2)
        level = rng.uniform(5, 20)
        series = (level
                  + rng.uniform(1, 3) * np.sin(2 * np.pi * t / daily + phase_d)
                  + rng.uniform(0.5, 2) * np.sin(2 * np.pi * t / weekly + phase_w)
                  + rng.uniform(-1, 1) * t / n_rows  # trend over the whole span
                  + rng.normal(0, 0.3, size=n_rows))
        if previous is not None:
            lag = 3 + k
            series[lag:] += 0.5 * (previous[:-lag] - previous.mean())
        columns[f"series_{k}"] = series
        previous = series
    index = pd.date_range(DEMO_START, periods=n_rows, freq=freq, name="timestamp")
    return pd.DataFrame(columns, index=index)
