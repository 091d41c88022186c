"""CLI outputs are replaced whole or not at all; Ctrl-C exits 130 with one line."""

import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from tsmamba.cli.main import app
from tsmamba.files import atomic_write


def test_an_interrupted_write_keeps_the_earlier_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "forecast.csv"
    path.write_text("earlier\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as temporary:
            temporary.write_text("half of a new fi")
            raise KeyboardInterrupt
    assert path.read_text() == "earlier\n"
    assert [p.name for p in tmp_path.iterdir()] == ["forecast.csv"]


def test_the_temporary_keeps_the_suffix_that_picks_the_format(tmp_path):
    from tsmamba.cli.files import write_table

    frame = pd.DataFrame({"a": [1.0, 2.0]})
    write_table(frame, tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f.parquet"), frame)


@pytest.mark.parametrize("where", ["-o", "--plot"])
def test_ctrl_c_while_writing_an_output_keeps_the_old_one(tmp_path, monkeypatch, where):
    # Cause 3: outputs were written in place, so a kill left a truncated file that still parsed.
    import matplotlib.figure

    from tsmamba.datasets import demo

    data = tmp_path / "small.csv"
    demo(n_rows=120, n_series=2).to_csv(data)
    out, plot = tmp_path / "out.csv", tmp_path / "plot.png"
    out.write_text("the forecast of yesterday\n")
    plot.write_bytes(b"yesterday's plot")

    def interrupted(self, path, **kwargs):
        with open(path, "w") as handle:
            handle.write("time,a\n2024-")  # part of the output, then Ctrl-C
        raise KeyboardInterrupt

    target = pd.DataFrame.to_csv if where == "-o" else matplotlib.figure.Figure.savefig
    monkeypatch.setattr(pd.DataFrame if where == "-o" else matplotlib.figure.Figure,
                        target.__name__, interrupted)
    result = CliRunner().invoke(app, ["forecast", str(data), "--horizon", "2", "--lookback",
                                      "24", "--max-epochs", "1", "--no-progress", "-o", str(out),
                                      "--plot", str(plot)])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Traceback" not in result.output
    if where == "-o":
        assert out.read_text() == "the forecast of yesterday\n"
    else:  # the forecast was written whole before the plot
        assert pd.read_csv(out, index_col=0).shape == (2, 2)
    assert plot.read_bytes() == b"yesterday's plot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "plot.png", "small.csv"]


def test_backtest_json_lines_are_appended_whole(tmp_path):
    from tsmamba.cli.files import append_line

    path = tmp_path / "runs.jsonl"
    path.write_text('{"kept": true}')  # a last line without its newline
    append_line(path, '{"new": 1}')
    append_line(path, '{"new": 2}')
    assert path.read_text().splitlines() == ['{"kept": true}', '{"new": 1}', '{"new": 2}']


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
@pytest.mark.parametrize("after", [0.2, 0.5, 1.5])  # while importing, parsing, and later
def test_ctrl_c_while_the_command_starts_is_one_line(after):
    import signal
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-m", "tsmamba.cli", "forecast", "--max-epochs",
                              "1", "--no-progress"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode in (130, -signal.SIGINT), err  # as a shell reports, 130 either way
    assert "interrupted" in err and "Traceback" not in err
