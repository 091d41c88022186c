"""Forecast plots that return a matplotlib Figure (no pyplot state, so they work headless).

    plot_forecast          history, forecast and its interval bands, one panel per series
    plot_cross_validation  the rolling-origin windows: truth and each cutoff's forecast
    plot_backtest          the error of each cross-validation window against its cutoff
    plot_test_windows      a benchmark backtest's test windows: history, truth, forecast
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .errors import TSMambaInputError
from .long_format import is_bound, model_columns

# Shades of the interval bands, narrowest level first: the narrowest band is darkest. Each
# band is drawn only where no narrower one is, so every region's shade is its legend patch's.
BAND_ALPHA = (0.4, 0.22, 0.12, 0.07)
MAX_PANELS = 12  # panels drawn when the caller chooses none; a note says how to choose others


def _panels(n: int, height: float = 2.2):
    n_cols = 1 if n <= 3 else 2 if n <= 8 else 3
    n_rows = math.ceil(n / n_cols)
    fig = Figure(figsize=(6 * min(n_cols, 2) + 3 * (n_cols > 2), height * n_rows + 0.8),
                 layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def choose_series(available: list, chosen, target, max_panels: int, keyword: str):
    """The series to draw, and a note when some are left out.

    `chosen` (a list, in the order given) picks them; unknown names are an error that lists
    the known ones. Otherwise every series up to `max_panels`, `target` first when given.
    """
    names = {str(a): a for a in available}
    if chosen is not None:
        chosen = [chosen] if isinstance(chosen, (str, int)) else list(chosen)
        unknown = [c for c in chosen if str(c) not in names]
        if unknown or not chosen:
            raise TSMambaInputError(
                f"{keyword}={chosen!r}: " + (f"{unknown} not among the series" if unknown
                                             else "choose at least one series")
                + f"; the series are {list(names)[:50]}")
        return [names[str(c)] for c in chosen], None
    ordered = list(available)
    if target is not None:
        if str(target) not in names:
            raise TSMambaInputError(f"target={target!r} is not among the series; the series "
                                    f"are {list(names)[:50]}")
        ordered.remove(names[str(target)])
        ordered.insert(0, names[str(target)])
    if len(ordered) <= max_panels:
        return ordered, None
    note = (f"showing {max_panels} of {len(ordered)} series ({ordered[0]} to "
            f"{ordered[max_panels - 1]}); choose others with {keyword}=[...]")
    return ordered[:max_panels], note


def _finish(fig, axes, title, note) -> Figure:
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    if note:
        fig.supxlabel(note, fontsize=8, color="tab:red")
    return fig


def _levels(columns, prefix: str) -> list[str]:
    """The levels of the `<prefix>-lo-<level>` columns, narrowest first."""
    found = [c[len(prefix) + 4:] for c in columns if c.startswith(f"{prefix}-lo-")]
    return sorted(found, key=float)


def _bands(ax, index, lows: list, highs: list, levels: list, colour: str, labelled=True):
    """Interval bands, narrowest first (lows, highs: arrays in the same order): the narrowest
    from its low to its high, each wider one only outside the next narrower one."""
    for rank, (level, lo, hi) in enumerate(zip(levels, lows, highs)):
        alpha = BAND_ALPHA[min(rank, len(BAND_ALPHA) - 1)]
        label = f"{level}% interval" if labelled else None
        if rank == 0:
            ax.fill_between(index, lo, hi, color=colour, lw=0, alpha=alpha, label=label)
        else:
            ax.fill_between(index, lo, lows[rank - 1], color=colour, lw=0, alpha=alpha,
                            label=label)
            ax.fill_between(index, highs[rank - 1], hi, color=colour, lw=0, alpha=alpha)


def _long_to_wide(forecast: pd.DataFrame, id_col: str, time_col: str) -> pd.DataFrame:
    model = model_columns(forecast, id_col, time_col, "cutoff", "y")[0]
    parts = []
    for uid, group in forecast.groupby(id_col, sort=False):
        part = group.set_index(time_col).drop(columns=[id_col])
        parts.append(part.rename(columns=lambda c: c.replace(model, str(uid), 1)))
    return pd.concat(parts, axis=1)


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, *,
                  actual: pd.DataFrame | None = None, tail: int | None = None,
                  columns=None, target=None, max_panels: int = MAX_PANELS,
                  title: str | None = None, id_col: str = "unique_id",
                  time_col: str = "ds") -> Figure:
    """One panel per series: the history's tail, the forecast, and a band for every interval
    level in the forecast.

    history : wide frame indexed by time (the data the forecast follows), or None.
    forecast : what `TSMambaForecaster.predict` returned, wide or long, with or without bounds.
    actual : optional wide frame of what really happened over the forecast period (drawn
        dashed), for held-out evaluations.
    tail : how many history rows to show; default four forecast lengths.
    columns : the series to draw, in this order (a long forecast's ids); default all of them
        up to `max_panels`, then a note under the panels says how many were left out.
    target : the series drawn first, when `columns` is not given.
    """
    if id_col in forecast.columns:
        forecast = _long_to_wide(forecast, id_col, time_col)
    available = [c for c in forecast.columns if not is_bound(c)]
    series, note = choose_series(available, columns, target, max_panels, "columns")
    # A panel's series end at their own times: each is drawn over its own rows, and the
    # frames hold NaN elsewhere (aligned series have none).
    steps = int(forecast[available].notna().sum().max())
    tail = tail or 4 * steps
    fig, axes = _panels(len(series))
    for ax, column in zip(axes, series):
        line = forecast[column].dropna()
        own = forecast.loc[line.index]
        if history is not None and column in history.columns:
            shown = history[column].dropna().iloc[-tail:]
            ax.plot(shown.index, shown, color="0.35", lw=1, label="history")
            line = pd.concat([shown.iloc[-1:], line])  # join the forecast to the history
        levels = _levels(forecast.columns, column)
        _bands(ax, own.index, [own[f"{column}-lo-{v}"] for v in levels],
               [own[f"{column}-hi-{v}"] for v in levels], levels, "tab:blue")
        ax.plot(line.index, line.values, color="tab:blue", lw=1.5, label="forecast")
        if actual is not None and column in actual.columns:
            ax.plot(actual.index, actual[column], color="k", ls="--", lw=1, label="actual")
        ax.axvline(own.index[0], color="0.7", ls=":", lw=1)
        ax.set_title(str(column), fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
    default = (f"Forecast of {len(available)} series, {steps} steps from "
               f"{forecast.index[0]}")
    return _finish(fig, axes, title or default, note)


def plot_cross_validation(cv: pd.DataFrame, *, ids=None, target=None,
                          max_panels: int = MAX_PANELS, title: str | None = None,
                          id_col: str = "unique_id", time_col: str = "ds",
                          target_col: str = "y") -> Figure:
    """One panel per series: the truth over every window, each cutoff's forecast (and its
    widest interval) in its own colour, and a dotted line at each cutoff. `ids` chooses the
    series (in that order); default all of them up to `max_panels`, `target` first, then a
    note under the panels says how many were left out."""
    model = model_columns(cv, id_col, time_col, "cutoff", target_col)[0]
    levels = _levels(cv.columns, model)
    chosen, note = choose_series(list(dict.fromkeys(cv[id_col])), ids, target, max_panels,
                                 "ids")
    fig, axes = _panels(len(chosen))
    n_windows = cv["cutoff"].nunique()
    colours = [f"C{i % 10}" for i in range(n_windows)]
    for ax, uid in zip(axes, chosen):
        series = cv[cv[id_col] == uid]
        truth = series.drop_duplicates(time_col).sort_values(time_col)
        ax.plot(truth[time_col], truth[target_col], color="0.3", lw=1, label="truth")
        for k, (colour, (cutoff, window)) in enumerate(zip(colours, series.groupby("cutoff"))):
            if levels:
                _bands(ax, window[time_col], [window[f"{model}-lo-{levels[-1]}"]],
                       [window[f"{model}-hi-{levels[-1]}"]], levels[-1:], colour,
                       labelled=k == 0)
            ax.plot(window[time_col], window[model], color=colour, lw=1.5,
                    label="forecast per cutoff" if k == 0 else None)
            ax.axvline(cutoff, color=colour, ls=":", lw=1)
        ax.set_title(str(uid), fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
    default = (f"{model} cross-validation: {n_windows} windows"
               + (f", {levels[-1]}% intervals" if levels else ""))
    return _finish(fig, axes, title or default, note)


def plot_backtest(cv: pd.DataFrame, *, title: str | None = None, id_col: str = "unique_id",
                  time_col: str = "ds", target_col: str = "y") -> Figure:
    """Mean absolute error of each cross-validation window, per series, against its cutoff:
    whether accuracy holds up over time."""
    model = model_columns(cv, id_col, time_col, "cutoff", target_col)[0]
    error = (cv[model] - cv[target_col]).abs()
    table = error.groupby([cv["cutoff"], cv[id_col]]).mean().unstack(id_col)  # (cutoffs, series)
    fig = Figure(figsize=(7, 3.2), layout="constrained")
    ax = fig.subplots()
    for column in table.columns:
        ax.plot(table.index, table[column], marker="o", ms=3, lw=1, label=str(column))
    ax.plot(table.index, table.mean(axis=1), color="k", lw=2, label="mean")
    ax.set_ylabel(f"MAE of {model}", fontsize=8)
    ax.set_xlabel("cutoff", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, ncol=min(4, len(table.columns) + 1))
    ax.set_title(title or f"{model}: error per window ({len(table)} windows, "
                 f"mean MAE {np.nanmean(table.to_numpy()):.3g})", fontsize=9, loc="left")
    return fig


def plot_test_windows(runs: list[tuple[str, list]], column: str) -> Figure:
    """One row per run, one panel per window: the window's history, the truth that followed
    and the forecast, for one column. `runs` holds (title, [(history, truth, forecast), ...])
    with Series indexed by time, as `tsmamba.backtest(plot=...)` collects them."""
    n_cols = max(len(windows) for _, windows in runs)
    fig = Figure(figsize=(4 * n_cols, 2.3 * len(runs) + 0.5), layout="constrained")
    axes = fig.subplots(len(runs), n_cols, squeeze=False)
    for row, (title, windows) in zip(axes, runs):
        for ax, (history, truth, forecast) in zip(row, windows):
            ax.plot(history.index, history.values, color="0.35", lw=1, label="history")
            ax.plot(truth.index, truth.values, color="k", ls="--", lw=1, label="truth")
            ax.plot(forecast.index, forecast.values, color="tab:blue", lw=1.5, label="forecast")
            ax.axvline(truth.index[0], color="0.7", ls=":", lw=1)
            ax.set_title(f"{title}: {column} from {truth.index[0]:%Y-%m-%d %H:%M}", fontsize=8,
                         loc="left")
            ax.tick_params(labelsize=6)
            for label in ax.get_xticklabels():
                label.set_rotation(30)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    return fig
