"""The command line's files and streams (issue 22, "CLI"): odd encodings, stdin, output
formats, the input as output, and a reader that stops early."""

import io
import os
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from tsmamba.cli.main import app

FAST = ["--horizon", "2", "--lookback", "24", "--max-epochs", "1", "--no-progress"]


@pytest.fixture
def small_csv(tmp_path):
    from tsmamba.datasets import demo

    path = tmp_path / "small.csv"
    demo(n_rows=120, n_series=2).to_csv(path)
    return path


def test_a_file_that_is_not_utf8_is_one_clear_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("date,caf\xe9\n2024-01-01,1\n".encode("latin-1"))
    result = CliRunner().invoke(app, ["forecast", str(path), *FAST])
    assert result.exit_code == 1
    assert "not UTF-8 text (byte 0xe9" in result.output and "Traceback" not in result.output


def test_a_dash_reads_csv_from_stdin(small_csv):
    result = CliRunner().invoke(app, ["forecast", "-", *FAST], input=small_csv.read_text())
    assert result.exit_code == 0, result.output
    assert pd.read_csv(io.StringIO(result.stdout), index_col=0).shape == (2, 2)


def test_an_output_suffix_it_would_not_write_is_refused_before_training(small_csv, tmp_path):
    result = CliRunner().invoke(app, ["forecast", str(small_csv), "-o",
                                      str(tmp_path / "f.json"), *FAST])
    assert result.exit_code == 1 and ".json is not a table format" in result.output
    assert not (tmp_path / "f.json").exists()


def test_the_input_file_is_never_the_output(small_csv):
    before = small_csv.read_bytes()
    result = CliRunner().invoke(app, ["forecast", str(small_csv), "-o", str(small_csv), *FAST])
    assert result.exit_code == 1 and "is the input data" in result.output
    assert small_csv.read_bytes() == before


@pytest.mark.skipif(os.name != "posix", reason="POSIX pipes")
def test_a_reader_that_stops_early_ends_quietly(monkeypatch):
    from tsmamba.cli.files import write_table

    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` has read what it wanted and gone
    stdout = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", stdout)
    frame = pd.DataFrame({"a": range(100_000)}, index=pd.RangeIndex(100_000) + 1)
    with pytest.raises(SystemExit) as ended:
        write_table(frame, None)
    assert ended.value.code == 141  # as a process ended by SIGPIPE, and no traceback
