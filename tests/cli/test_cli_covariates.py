"""Covariates known in the future on the command line: --futr-exog, --futr, --calendar."""

import io

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tsmamba.cli.main import app

ARGS = ["--horizon", "4", "--lookback", "24", "--max-epochs", "1", "--no-progress"]


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="time")
    price = rng.normal(size=200)
    frame = pd.DataFrame({"load": np.sin(np.arange(200) / 4) + price, "price": price},
                         index=index)
    frame.iloc[:-4].to_csv(tmp_path / "train.csv")
    frame.iloc[-4:][["price"]].to_csv(tmp_path / "futr.csv")
    return tmp_path


def test_forecast_reads_the_future_values_from_futr(files):
    result = CliRunner().invoke(app, ["forecast", str(files / "train.csv"), "--futr-exog",
                                      "price", "--futr", str(files / "futr.csv"), *ARGS])
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(io.StringIO(result.stdout), index_col=0)
    assert list(forecast.columns) == ["load"] and len(forecast) == 4


def test_futr_exog_without_futr_stops_before_training(files):
    result = CliRunner().invoke(app, ["forecast", str(files / "train.csv"), "--futr-exog",
                                      "price", *ARGS])
    assert result.exit_code == 1
    assert "--futr-exog needs --futr FILE" in result.output and "epoch" not in result.output


def test_fit_then_predict_with_futr_and_calendar(files, tmp_path):
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", str(files / "train.csv"), "--out", str(tmp_path / "m"),
                                 "--futr-exog", "price", "--calendar", *ARGS])
    assert fitted.exit_code == 0, fitted.output
    result = runner.invoke(app, ["predict", str(tmp_path / "m"), "--futr",
                                 str(files / "futr.csv")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(io.StringIO(result.stdout), index_col=0)) == 4


def test_hist_exog_is_an_input_read_from_the_history(files):
    result = CliRunner().invoke(app, ["forecast", str(files / "train.csv"), "--hist-exog",
                                      "price", *ARGS])
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(io.StringIO(result.stdout), index_col=0)
    assert list(forecast.columns) == ["load"] and len(forecast) == 4
