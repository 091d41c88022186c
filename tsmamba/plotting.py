"""Forecast plots that return a matplotlib Figure (no pyplot state, so they work headless)."""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, *, tail: int | None = None,
                  max_panels: int = 6, title: str | None = None) -> Figure:
    """One panel per forecast column (up to `max_panels`): the history's tail, then the forecast.

    history : wide frame indexed by time (the data the forecast follows).
    forecast : the frame returned by `TSMambaForecaster.predict`.
    tail : how many history rows to show; default four forecast lengths.
    """
    columns = list(forecast.columns)[:max_panels]
    tail = tail or 4 * len(forecast)
    shown = history[columns].iloc[-tail:] if set(columns) <= set(history.columns) else None
    n_cols = 1 if len(columns) <= 3 else 2
    n_rows = math.ceil(len(columns) / n_cols)
    fig = Figure(figsize=(6 * n_cols, 2.2 * n_rows + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, column in zip(axes, columns):
        line = forecast[column]
        if shown is not None:
            ax.plot(shown.index, shown[column], color="0.35", lw=1, label="history")
            line = pd.concat([shown[column].iloc[-1:], line])  # join the forecast to the history
        ax.plot(line.index, line.values, color="tab:blue", lw=1.5, label="forecast")
        ax.axvline(forecast.index[0], color="0.7", ls=":", lw=1)
        ax.set_title(str(column), fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    return fig
