"""A ragged panel on the command line: a long CSV of unaligned series is forecast, saved,
reloaded and plotted, each series from its own end."""

import io

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tsmamba.cli.main import app

ARGS = ["--model", "s4", "--horizon", "4", "--lookback", "24", "--max-epochs", "1",
        "--no-progress"]


def write_panel(path):
    frames = [pd.DataFrame({"unique_id": f"shop_{i}",
                            "ds": pd.date_range(f"2024-01-0{i + 1}", periods=60 + 20 * i, freq="h"),
                            "y": np.sin(np.arange(60 + 20 * i) / 3) + i})
              for i in range(3)]
    pd.concat(frames).to_csv(path, index=False)
    return {f"shop_{i}": frames[i]["ds"].iloc[-1] for i in range(3)}


def test_forecast_fit_and_predict_a_ragged_panel(tmp_path):
    ends = write_panel(tmp_path / "panel.csv")
    runner = CliRunner()
    result = runner.invoke(app, ["forecast", str(tmp_path / "panel.csv"), "--plot",
                                 str(tmp_path / "f.png"), *ARGS])
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(io.StringIO(result.stdout), parse_dates=["ds"])
    assert list(forecast.columns) == ["unique_id", "ds", "S4"] and len(forecast) == 12
    first = forecast.groupby("unique_id")["ds"].min()
    assert all(first[uid] == end + pd.Timedelta(hours=1) for uid, end in ends.items())
    assert (tmp_path / "f.png").stat().st_size > 0
    result = runner.invoke(app, ["fit", str(tmp_path / "panel.csv"), "--out",
                                 str(tmp_path / "m"), *ARGS])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "panel.csv"),
                                 "--plot", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(io.StringIO(result.stdout)).shape == (12, 3)


def test_a_channel_mixing_model_names_the_models_that_take_the_panel(tmp_path):
    write_panel(tmp_path / "panel.csv")
    result = CliRunner().invoke(app, ["forecast", str(tmp_path / "panel.csv"),
                                      *ARGS[2:], "--model", "tsm2"])
    assert result.exit_code == 1
    assert "not aligned" in result.output and "(s4, mamba, mamba2)" in result.output


def test_static_features_come_from_static(tmp_path):
    write_panel(tmp_path / "panel.csv")
    pd.DataFrame({"unique_id": [f"shop_{i}" for i in range(3)], "size": [1.0, 2.0, 3.0],
                  "rent": [5.0, 1.0, 2.0]}).to_csv(tmp_path / "static.csv", index=False)
    result = CliRunner().invoke(app, ["forecast", str(tmp_path / "panel.csv"), "--static",
                                      str(tmp_path / "static.csv"), "--stat-exog", "size", *ARGS])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(io.StringIO(result.stdout)).shape == (12, 3)
    result = CliRunner().invoke(app, ["fit", str(tmp_path / "panel.csv"), "--static",
                                      str(tmp_path / "static.csv"), "--out", str(tmp_path / "m"),
                                      *ARGS])
    assert result.exit_code == 0, result.output
    from tsmamba import TSMambaForecaster

    assert TSMambaForecaster.load(tmp_path / "m").static_covariates_ == ["size", "rent"]


def test_cv_of_a_ragged_panel_cuts_each_series_at_its_own_end(tmp_path):
    ends = write_panel(tmp_path / "panel.csv")
    result = CliRunner().invoke(app, ["cv", str(tmp_path / "panel.csv"), "--n-windows", "2",
                                      "-o", str(tmp_path / "cv.csv"), "--plot",
                                      str(tmp_path / "cv.png"), *ARGS])
    assert result.exit_code == 0, result.output
    cv = pd.read_csv(tmp_path / "cv.csv", parse_dates=["ds", "cutoff"])
    assert len(cv) == 3 * 2 * 4 and np.isfinite(cv["S4"]).all()
    last = cv.groupby("unique_id")["cutoff"].max()
    assert all(last[uid] == end - pd.Timedelta(hours=4) for uid, end in ends.items())
    assert (tmp_path / "cv.png").stat().st_size > 0
