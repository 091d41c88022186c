"""The dataset registry: verified local files, downloads checked before saving, clear offline
errors."""

import hashlib
import io
import urllib.error
import zipfile

import pytest
from typer.testing import CliRunner

from tsmamba import TSMambaInputError, datasets
from tsmamba.cli.main import app
from tsmamba.datasets import registry


def shared(name):
    path = datasets.data_dir() / datasets.info(name).filename
    if not path.exists():
        pytest.skip(f"{path} is not available (set TSMAMBA_DATA_DIR)")
    return path


def test_records_match_the_checksums_file():
    sums = shared("ETTh1").parent / "SHA256SUMS"
    listed = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line)
    assert {r.filename: r.sha256 for r in datasets.REGISTRY.values()} == listed


@pytest.mark.parametrize("name, shape", [("ETTh1", (17420, 8)), ("weather", (52696, 22)),
                                         ("national_illness", (966, 8))])
def test_load_returns_the_published_rows(name, shape):
    shared(name)
    df = datasets.load(name)
    assert df.shape == shape and df.columns[0] == "date" and df.columns[-1] == "OT"


def test_a_changed_file_is_refused_and_left_alone(tmp_path, monkeypatch):
    raw = bytearray(shared("national_illness").read_bytes())
    raw[-3] = ord("9") if raw[-3] != ord("9") else ord("8")
    (tmp_path / "national_illness.csv").write_bytes(bytes(raw))
    monkeypatch.setenv("TSMAMBA_DATA_DIR", str(tmp_path))
    with pytest.raises(TSMambaInputError, match="not the published national_illness file"):
        datasets.load("national_illness")
    assert (tmp_path / "national_illness.csv").read_bytes() == bytes(raw)


def test_offline_says_which_file_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TSMAMBA_DATA_DIR", str(tmp_path / "cache"))

    def offline(url, timeout=60.0):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(registry, "_fetch", offline)
    with pytest.raises(TSMambaInputError, match=r"put the file ETTm2.csv \(sha256 db973ca2.*\) into .*cache"):
        datasets.load("ETTm2")


def test_downloads_are_verified_before_they_are_saved(tmp_path, monkeypatch):
    csv = shared("national_illness").read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("illness/national_illness.csv", csv)
    served = {"bytes": archive.getvalue()}
    monkeypatch.setattr(registry, "_fetch", lambda url, timeout=60.0: served["bytes"])
    monkeypatch.setenv("TSMAMBA_DATA_DIR", str(tmp_path))
    assert datasets.load("national_illness").shape == (966, 8)
    assert hashlib.sha256((tmp_path / "national_illness.csv").read_bytes()).hexdigest() == \
        datasets.info("national_illness").sha256
    (tmp_path / "national_illness.csv").unlink()
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as zf:
        zf.writestr("illness/national_illness.csv", csv + b"extra\n")
    served["bytes"] = tampered.getvalue()
    with pytest.raises(TSMambaInputError, match="it was not saved"):
        datasets.load("national_illness")
    assert list(tmp_path.iterdir()) == []


def test_unknown_names_list_the_datasets():
    with pytest.raises(TSMambaInputError, match=r"unknown dataset 'ETTh3'.*'ETTh1'"):
        datasets.load("ETTh3")


def test_cli_lists_and_resolves_datasets():
    shared("ETTh1")
    runner = CliRunner()
    listed = runner.invoke(app, ["datasets", "list"])
    assert listed.exit_code == 0 and "ETTh1" in listed.stdout and "present" in listed.stdout
    got = runner.invoke(app, ["datasets", "download", "ETTh1"])
    assert got.exit_code == 0 and got.stdout.strip().endswith("ETTh1.csv")
    bad = runner.invoke(app, ["datasets", "download", "nope"])
    assert bad.exit_code == 1 and "unknown dataset" in bad.stderr
