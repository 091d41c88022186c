"""Outputs that cannot be written fail before any training (issue 22, "checked before
training"): one line, exit 1, and fit never runs."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tsmamba.cli.main import app

FAST = ["--horizon", "2", "--lookback", "24", "--max-epochs", "1", "--no-progress"]


@pytest.fixture
def data(tmp_path, monkeypatch):
    from tsmamba import TSMambaForecaster
    from tsmamba.datasets import demo

    def never(*args, **kwargs):
        raise AssertionError("trained before the outputs were checked")

    monkeypatch.setattr(TSMambaForecaster, "fit", never)
    path = tmp_path / "small.csv"
    demo(n_rows=120, n_series=2).to_csv(path)
    return path


def refused(args, *expected):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "trained before" not in result.output
    for text in expected:
        assert text in result.output, result.output


def test_a_plot_path_without_an_image_suffix(data, tmp_path):
    refused(["forecast", str(data), "--plot", str(tmp_path / "plot.txt"), *FAST],
            "plot.txt", ".txt is not an image format", ".png")
    refused(["cv", str(data), "--plot", str(tmp_path / "plot"), *FAST], "no suffix")


def test_a_model_directory_that_holds_other_files(data, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    refused(["fit", str(data), "--out", str(project), *FAST], "not a tsmamba model")
    refused(["forecast", str(data), "--save-model", str(project), *FAST], "not a tsmamba model")
    assert (project / "notes.txt").read_text() == "mine"


def test_a_model_or_checkpoint_path_that_is_a_file(data, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    refused(["fit", str(data), "--out", str(blocker), *FAST], "is a file")
    refused(["fit", str(data), "--out", str(tmp_path / "m"), "--checkpoint-dir", str(blocker),
             *FAST], "is a file; the checkpoint directory is a directory")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permissions do not bind root (or Windows)")
def test_read_only_outputs(data, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("keep")
    out.chmod(0o444)
    refused(["forecast", str(data), "-o", str(out), *FAST], "read-only")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(["fit", str(data), "--out", str(locked / "m"), *FAST], "no permission")
    finally:
        locked.chmod(0o755)


def test_read_only_outputs_as_any_user(data, tmp_path, monkeypatch):
    # The same checks with permissions simulated, so that they run as root too (CI).
    import tsmamba.cli.files as files

    out, checkpoints = tmp_path / "out.csv", tmp_path / "ckpt"
    out.write_text("keep")
    checkpoints.mkdir()
    read_only = {out, checkpoints}
    real = os.access
    monkeypatch.setattr(files.os, "access", lambda path, mode: real(path, mode) and not (
        mode & os.W_OK and Path(path) in read_only))
    plot, model = tmp_path / "plot.png", tmp_path / "model"
    plot.write_bytes(b"png")
    model.mkdir()
    read_only |= {plot, model}
    refused(["forecast", str(data), "-o", str(out), *FAST], "read-only")
    refused(["forecast", str(data), "--plot", str(plot), *FAST], "read-only")
    refused(["cv", str(data), "-o", str(out), *FAST], "read-only")
    refused(["forecast", str(data), "--save-model", str(model), *FAST], "no permission")
    refused(["fit", str(data), "--out", str(model), *FAST], "no permission")
    refused(["forecast", str(data), "--checkpoint-dir", str(checkpoints), *FAST],
            "no permission to write in")
    assert out.read_text() == "keep" and plot.read_bytes() == b"png"
