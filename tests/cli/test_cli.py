"""The `tsmamba` command through typer's test runner."""

import io

import pandas as pd
import pytest
from typer.testing import CliRunner

from tsmamba.cli.main import app

FAST_ARGS = ["--max-epochs", "1", "--no-progress"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def small_csv(tmp_path):
    from tsmamba.datasets import demo

    path = tmp_path / "small.csv"
    demo(n_rows=160, n_series=2).to_csv(path)
    return path


def test_forecast_demo_data_to_stdout(runner, monkeypatch):
    # The demo command with a smaller network keeps this test quick; defaults are covered by
    # the README command.
    import tsmamba.cli.estimator_options as cli

    original = cli.build_forecaster
    monkeypatch.setattr(cli, "build_forecaster", lambda **kw: original(**kw).set_params(
        d_model=8, d_state=4, n_layers=1, max_steps_per_epoch=2))
    result = runner.invoke(app, ["forecast", "--horizon", "5", *FAST_ARGS])
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(io.StringIO(result.stdout), index_col=0)
    assert forecast.shape == (5, 5)


def test_forecast_file_to_csv_parquet_and_plot(runner, small_csv, tmp_path):
    out, plot = tmp_path / "f.parquet", tmp_path / "f.png"
    result = runner.invoke(app, ["forecast", str(small_csv), "--horizon", "3", "--lookback", "24",
                                 "-o", str(out), "--plot", str(plot), *FAST_ARGS])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out).shape == (3, 2)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_then_predict_round_trip(runner, small_csv, tmp_path):
    model = tmp_path / "model"
    result = runner.invoke(app, ["fit", str(small_csv), "--out", str(model), "--horizon", "3",
                                 "--lookback", "24", *FAST_ARGS])
    assert result.exit_code == 0, result.output
    first = runner.invoke(app, ["predict", str(model)])
    again = runner.invoke(app, ["predict", str(model), "-o", str(tmp_path / "p.csv")])
    assert first.exit_code == 0 and again.exit_code == 0
    assert pd.read_csv(io.StringIO(first.stdout), index_col=0).shape == (3, 2)
    assert (tmp_path / "p.csv").read_text() == first.stdout
    with_history = runner.invoke(app, ["predict", str(model), str(small_csv)])
    assert with_history.exit_code == 0, with_history.output


@pytest.mark.parametrize("model, options", [("tsm2", ["--option", "bidirectional_time=true"]),
                                            ("s4", ["--option", "init=lin"]), ("mamba", []),
                                            ("mamba2", ["--option", "head_dim=8"])])
def test_every_model_is_reachable_from_the_command_line(runner, small_csv, model, options):
    result = runner.invoke(app, ["forecast", str(small_csv), "--model", model, *options,
                                 "--horizon", "3", "--lookback", "24", *FAST_ARGS])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(io.StringIO(result.stdout), index_col=0).shape == (3, 2)


def test_model_option_errors(runner, small_csv):
    malformed = runner.invoke(app, ["forecast", str(small_csv), "--option", "init"])
    assert malformed.exit_code == 2 and "KEY=VALUE" in malformed.output
    unknown = runner.invoke(app, ["forecast", str(small_csv), "--model", "s4", "--option",
                                  "heads=2", *FAST_ARGS])
    assert unknown.exit_code == 1 and "has no option ['heads']" in unknown.stderr


def test_usage_errors_exit_2(runner, tmp_path):
    assert runner.invoke(app, ["forecast", str(tmp_path / "missing.csv")]).exit_code == 2
    assert runner.invoke(app, ["forecast", "--horizon", "zero"]).exit_code == 2
    result = runner.invoke(app, ["forecast", "--model", "prophet"])
    assert result.exit_code == 2 and "available" in result.output


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("date;a;b\n2024-01-01;1;2\n2024-01-02;1;2\n", "another delimiter"),
    ("a,b\n1,2\n3,4\n", "no time axis found"),
    ("date,a,b\n2024-01-01 00:00,1,2\n2024-01-01 01:00,1,2,3\n", "Expected 3 fields in line 3, saw 4"),
])
def test_bad_files_exit_1_with_one_line_naming_the_file(runner, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = runner.invoke(app, ["forecast", str(path), *FAST_ARGS])
    assert result.exit_code == 1
    assert message in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["missing-dir/out.csv", "a-file/out.csv", "a-dir"])
def test_unwritable_output_fails_before_training(runner, small_csv, tmp_path, where):
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "a-dir").mkdir()
    target = tmp_path / where
    result = runner.invoke(app, ["forecast", str(small_csv), "-o", str(target), *FAST_ARGS])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {target}: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_fit_checkpoint_dir_resumes_to_the_same_model(runner, small_csv, tmp_path):
    args = ["fit", str(small_csv), "--horizon", "3", "--lookback", "24", "--max-epochs", "2",
            "--no-progress", "--checkpoint-dir", str(tmp_path / "ckpt")]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "ckpt" / "checkpoint.safetensors").exists()
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])  # finished: nothing to train
    assert again.exit_code == 0, again.output
    assert ((tmp_path / "a" / "weights.safetensors").read_bytes()
            == (tmp_path / "b" / "weights.safetensors").read_bytes())


def test_debug_shows_the_exception(runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["forecast", str(path), "--debug"])
    assert result.exit_code == 1 and result.exception is not None


def test_weather_stops_on_duplicate_and_gap_and_succeeds_with_repairs(runner, weather_slice):
    path = weather_slice
    stopped = runner.invoke(app, ["forecast", str(path), "--horizon", "3", *FAST_ARGS])
    assert stopped.exit_code == 1
    assert "duplicate timestamp" in stopped.stderr and "2020-05-12 06:00:00" in stopped.stderr
    still = runner.invoke(app, ["forecast", str(path), "--horizon", "3",
                                "--drop-duplicates", "first", *FAST_ARGS])
    assert still.exit_code == 1
    assert "9 missing timestamp" in still.stderr and "2020-05-29 09:30:00" in still.stderr
    repaired = runner.invoke(app, ["forecast", str(path), "--horizon", "3", "--drop-duplicates",
                                   "first", "--fill-gaps", "interpolate", *FAST_ARGS])
    assert repaired.exit_code == 0, repaired.output
    assert "filled 9 missing" in repaired.stderr
    assert pd.read_csv(io.StringIO(repaired.stdout), index_col=0).shape == (3, 21)


def test_cv_prints_metrics_and_writes_windows_and_plots(runner, small_csv, tmp_path):
    result = runner.invoke(app, ["cv", str(small_csv), "--n-windows", "2", "--horizon", "4",
                                 "--lookback", "24", "--level", "80", "-o", str(tmp_path / "cv.csv"),
                                 "--plot", str(tmp_path / "cv.png"), "--plot-backtest",
                                 str(tmp_path / "bt.png"), *FAST_ARGS])
    assert result.exit_code == 0, result.output
    assert "coverage-80" in result.stderr and "mse" in result.stderr
    cv = pd.read_csv(tmp_path / "cv.csv")
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "y", "S4", "S4-lo-80", "S4-hi-80"]
    assert len(cv) == 2 * 2 * 4
    assert (tmp_path / "cv.png").stat().st_size > 0 and (tmp_path / "bt.png").stat().st_size > 0


def test_forecast_with_levels_adds_bounds(runner, small_csv):
    result = runner.invoke(app, ["forecast", str(small_csv), "--horizon", "3", "--lookback", "24",
                                 "--level", "80", "--level", "95", *FAST_ARGS])
    assert result.exit_code == 0, result.output
    columns = pd.read_csv(io.StringIO(result.stdout), index_col=0).columns
    assert "series_0-lo-95" in columns and "series_1-hi-80" in columns


def test_env_reports_versions_devices_and_backend(runner):
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0
    for needle in ("tsmamba ", "torch ", "triton ", "selective scan on cpu: torch"):
        assert needle in result.stdout


def test_backtest_prints_the_table_and_appends_json_lines(runner, tmp_path):
    import json

    out = tmp_path / "runs.jsonl"
    out.write_text('{"kept": true}\n')  # an earlier line is kept, never overwritten
    args = ["backtest", "ETTh1", "--horizon", "96", "--set", "d_model=8", "--set", "n_layers=1",
            "--set", "max_epochs=1", "--set", "max_steps_per_epoch=1", "--device", "cpu",
            "--json", str(out), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2785" in result.stdout and "iTransformer" in result.stdout
    assert "0.386 / 0.405" in result.stdout  # iTransformer's published ETTh1-96 beside ours
    lines = out.read_text().splitlines()
    assert json.loads(lines[0]) == {"kept": True}
    run = json.loads(lines[1])
    assert run["windows"] == 2785 and run["settings"]["d_model"] == 8


def test_backtest_unknown_dataset_and_setting_are_one_line_errors(runner):
    result = runner.invoke(app, ["backtest", "ETTh9", "--no-progress"])
    assert result.exit_code == 1 and "unknown dataset 'ETTh9'" in result.output
    result = runner.invoke(app, ["backtest", "ETTh1", "--set", "horizon=5", "--no-progress"])
    assert result.exit_code == 1 and "cannot set ['horizon']" in result.output


def test_fit_distils_from_a_saved_teacher(runner, small_csv, tmp_path):
    common = ["--horizon", "3", "--lookback", "24", *FAST_ARGS]
    assert runner.invoke(app, ["fit", str(small_csv), "--out", str(tmp_path / "t"),
                               *common]).exit_code == 0
    result = runner.invoke(app, ["fit", str(small_csv), "--out", str(tmp_path / "s"), "--teacher",
                                 str(tmp_path / "t"), "--distill-weight", "0.5",
                                 "--augment", "channel_mixup", *common])
    assert result.exit_code == 0, result.output
    wrong = runner.invoke(app, ["fit", str(small_csv), "--out", str(tmp_path / "w"), "--teacher",
                                str(tmp_path / "t"), "--horizon", "4", "--lookback", "24",
                                *FAST_ARGS])
    assert wrong.exit_code == 1 and "teacher reads lookback 24 and forecasts horizon 3" in wrong.stderr


def test_the_commands_defaults_are_the_estimators():
    from tsmamba import TSMambaForecaster
    from tsmamba.cli.estimator_options import ESTIMATOR_OPTIONS

    params = TSMambaForecaster().get_params()
    names = {"seed": "random_state"}
    for option, (_, default) in ESTIMATOR_OPTIONS.items():
        name = names.get(option, option)
        if name in params and option != "option":
            assert default == params[name], option
