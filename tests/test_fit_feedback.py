"""What a fit tells its user: epoch lines outside a terminal, nothing on stdout, warnings when
the data gives few windows or training ends at the epoch limit; polars frames accepted."""

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from tsmamba import TSMambaForecaster
from tsmamba.datasets import demo
from tsmamba.progress import EpochProgress


def test_epoch_lines_outside_a_terminal_and_none_when_quiet():
    stream = io.StringIO()  # not a terminal
    with EpochProgress(True, total=3, stream=stream) as progress:
        progress.epoch_done(1, 0.5, 0.25)
        progress.epoch_done(2, 0.4, None)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("epoch 1/3  train 0.5000  val 0.2500  ")
    assert lines[0].endswith(" s") and lines[1].startswith("epoch 2/3  train 0.4000  ")
    quiet = io.StringIO()
    with EpochProgress(False, total=3, stream=quiet) as progress:
        progress.epoch_done(1, 0.5, 0.25)
    assert quiet.getvalue() == ""


def _cli(*args, tmp_path):
    script = Path(sys.executable).with_name("tsmamba")
    env = dict(os.environ, TSMAMBA_CPU_THREADS="1")
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


def test_cli_forecast_logs_epochs_on_stderr_and_only_the_forecast_on_stdout(tmp_path):
    data = tmp_path / "data.csv"
    demo(n_rows=200, n_series=2).to_csv(data)
    common = [str(data), "--horizon", "3", "--lookback", "24", "--max-epochs", "2",
              "--model", "s4"]
    run = _cli("forecast", *common, tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    epochs = [line for line in run.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    forecast = pd.read_csv(io.StringIO(run.stdout), index_col=0)  # stdout is the CSV alone
    assert forecast.shape == (3, 2)
    quiet = _cli("forecast", *common, "--quiet", "-o", "f.csv", tmp_path=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == ""
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("epoch ")]


def test_few_training_windows_are_named_with_the_fix(fast):
    monthly = demo(n_rows=150, n_series=2, freq="MS")
    with pytest.warns(UserWarning, match=r"only 1 training window\(s\), fewer than one batch "
                      r"of 16: of the 150 rows, 120 train \(val_size=0.2\) and each window "
                      r"spans lookback 96 \+ horizon 24 rows; shorten the lookback"):
        TSMambaForecaster(horizon=24, lookback=96, **fast).fit(monthly)


def test_stopping_at_the_epoch_limit_while_improving_is_said(fast):
    data = demo(n_rows=300, n_series=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = TSMambaForecaster(horizon=4, lookback=24, **{**fast, "max_epochs": 2}).fit(data)
    assert est.best_epoch_ == est.n_epochs_ == 2  # this budget ends while still improving
    limit = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(limit) == 1 and "epoch limit (max_epochs=2)" in str(limit[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Without the weight average, whose smoother validation curve stops later.
        stopped = TSMambaForecaster(horizon=4, lookback=24, ema_decay=0.0,
                                    **{**fast, "max_epochs": 30, "patience": 1}).fit(data)
    assert stopped.n_epochs_ < 30  # early stopping ended it: nothing to say
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_polars_frames_wide_and_long_are_converted(fast):
    pl = pytest.importorskip("polars")
    data = demo(n_rows=200, n_series=2)
    wide = data.rename_axis("date").reset_index()
    from_pandas = TSMambaForecaster(horizon=3, lookback=24, **fast).fit(wide).predict()
    from_polars = TSMambaForecaster(horizon=3, lookback=24, **fast).fit(pl.from_pandas(wide))
    pd.testing.assert_frame_equal(from_polars.predict(), from_pandas)
    pd.testing.assert_frame_equal(from_polars.predict(pl.from_pandas(wide).lazy()),
                                  from_pandas)
    long = wide.melt(id_vars="date", var_name="unique_id", value_name="y").rename(
        columns={"date": "ds"})
    forecast = TSMambaForecaster(horizon=3, lookback=24, **fast).fit(pl.from_pandas(long)).predict()
    assert list(forecast.columns[:2]) == ["unique_id", "ds"] and len(forecast) == 6
