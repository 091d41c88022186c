"""Plots show every series up to a limit, say what they leave out and how to choose, and
shade each interval region as its legend does."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

import tsmamba
from tsmamba import TSMambaInputError
from tsmamba.plotting import MAX_PANELS


def _frames(n_series, levels=()):
    index = pd.date_range("2024-01-01", periods=40, freq="h")
    names = [f"s{i}" for i in range(n_series - 1)] + ["OT"]
    history = pd.DataFrame(np.random.default_rng(0).normal(size=(40, n_series)), index, names)
    future = pd.date_range(index[-1], periods=9, freq="h")[1:]
    forecast = pd.DataFrame(0.0, future, names)
    for level in levels:  # wider for higher levels
        for name in names:
            forecast[f"{name}-lo-{level}"] = -level / 100
            forecast[f"{name}-hi-{level}"] = level / 100
    return history, forecast


def _titles(fig):
    return [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]


def test_seven_series_show_all_seven_with_a_title():
    history, forecast = _frames(7)
    fig = tsmamba.plot_forecast(history, forecast)
    assert _titles(fig) == list(forecast.columns)
    assert "7 series" in fig.get_suptitle() and "8 steps" in fig.get_suptitle()
    assert fig.get_supxlabel() == ""  # nothing left out, no note


def test_forty_series_show_the_limit_and_say_how_to_choose():
    history, forecast = _frames(40)
    fig = tsmamba.plot_forecast(history, forecast, target="OT")
    titles = _titles(fig)
    assert len(titles) == MAX_PANELS and titles[0] == "OT"  # the target first
    assert titles[1:] == [f"s{i}" for i in range(MAX_PANELS - 1)]
    note = fig.get_supxlabel()
    assert f"showing {MAX_PANELS} of 40 series" in note and "columns=" in note
    chosen = tsmamba.plot_forecast(history, forecast, columns=["s30", "s2"])
    assert _titles(chosen) == ["s30", "s2"] and chosen.get_supxlabel() == ""
    with pytest.raises(TSMambaInputError, match=r"\['nope'\] not among the series"):
        tsmamba.plot_forecast(history, forecast, columns=["s1", "nope"])
    with pytest.raises(TSMambaInputError, match="target='nope' is not among the series"):
        tsmamba.plot_forecast(history, forecast, target="nope")


def test_bands_never_overlap_so_each_shade_is_its_legend_patch():
    history, forecast = _frames(2, levels=(80, 95))
    ax = tsmamba.plot_forecast(history, forecast).axes[0]
    handles, labels = ax.get_legend_handles_labels()
    patches = dict(zip(labels, handles))
    assert to_rgba(patches["80% interval"].get_facecolor()[0])[3] > \
        to_rgba(patches["95% interval"].get_facecolor()[0])[3]  # the narrower darker
    spans = []
    for band in ax.collections:
        ys = band.get_paths()[0].vertices[:, 1]
        spans.append((round(ys.min(), 6), round(ys.max(), 6)))
    # 80 % from -0.8 to 0.8; 95 % only outside it, below and above.
    assert sorted(spans) == [(-0.95, -0.8), (-0.8, 0.8), (0.8, 0.95)]


def test_cross_validation_plot_chooses_ids_and_notes_the_rest():
    rows = []
    for uid in [f"u{i}" for i in range(15)]:
        for cutoff in pd.date_range("2024-01-01", periods=2, freq="4h"):
            for step in range(1, 5):
                rows.append((uid, cutoff + pd.Timedelta(hours=step), cutoff, 1.0, 1.1))
    cv = pd.DataFrame(rows, columns=["unique_id", "ds", "cutoff", "y", "TSM2"])
    fig = tsmamba.plot_cross_validation(cv, target="u14")
    assert len(_titles(fig)) == MAX_PANELS and _titles(fig)[0] == "u14"
    assert "of 15 series" in fig.get_supxlabel() and "ids=" in fig.get_supxlabel()
    assert _titles(tsmamba.plot_cross_validation(cv, ids=["u3"])) == ["u3"]
    assert "2 windows" in fig.get_suptitle()


def test_a_ragged_panel_draws_each_series_from_its_own_end():
    # Series ending at different times: a long forecast pivots to NaN where a series has no
    # step, and each panel must join its own history's last point to its own forecast.
    ends = {"a": pd.Timestamp("2024-01-02"), "b": pd.Timestamp("2024-01-05")}
    history = pd.concat([pd.Series(np.arange(30.0), name=uid,
                                   index=pd.date_range(end=end, periods=30, freq="h"))
                         for uid, end in ends.items()], axis=1)
    forecast = pd.concat([pd.DataFrame({"unique_id": uid, "S4": 1.0, "S4-lo-80": 0.0,
                                        "S4-hi-80": 2.0,
                                        "ds": pd.date_range(end, periods=5, freq="h")[1:]})
                          for uid, end in ends.items()])
    fig = tsmamba.plot_forecast(history, forecast)
    for ax, (uid, end) in zip(fig.axes, ends.items()):
        past, line = ax.get_lines()[:2]
        assert not np.isnan(np.asarray(past.get_ydata(), float)).any()
        assert pd.Timestamp(line.get_xdata()[0]) == end and len(line.get_xdata()) == 5
