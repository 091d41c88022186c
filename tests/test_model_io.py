"""Model files: exact round trip, no code execution, clear errors for damaged directories."""

import json
import pickle

import pandas as pd
import pytest

from tsmamba import ModelFormatError, TSMambaForecaster
from tsmamba.model_io import FILES, MANIFEST


@pytest.fixture(scope="module")
def fitted(fast):
    from tsmamba.datasets import demo

    return TSMambaForecaster(horizon=4, lookback=24, **fast).fit(demo(n_rows=150, n_series=2))


def test_save_load_predict_is_bit_identical(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(), fitted.predict(), check_exact=True)
    assert loaded.get_params() == fitted.get_params()
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(FILES + (MANIFEST,))


def test_time_zone_survives_the_round_trip(tmp_path, fast):
    from tsmamba.datasets import demo

    df = demo(n_rows=120, n_series=2).tz_localize("America/New_York")
    est = TSMambaForecaster(horizon=3, lookback=24, **fast).fit(df)
    est.save(tmp_path / "m")
    forecast = TSMambaForecaster.load(tmp_path / "m").predict()
    assert str(forecast.index.tz) == "America/New_York"
    pd.testing.assert_frame_equal(forecast, est.predict())


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("victim", list(FILES) + [MANIFEST, None])
def test_a_pickle_payload_never_runs(fitted, tmp_path, victim):
    marker = tmp_path / "pwned"
    blob = pickle.dumps(_Payload(str(marker)))
    target = tmp_path / "m"
    if victim is None:  # the pickle given as the model path itself
        target = tmp_path / "model.pkl"
        target.write_bytes(blob)
    else:
        fitted.save(target)
        (target / victim).write_bytes(blob)
    with pytest.raises(ModelFormatError):
        TSMambaForecaster.load(target)
    assert not marker.exists()


def test_missing_corrupt_and_newer_files_are_clear_errors(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    (tmp_path / "m" / "history.safetensors").unlink()
    with pytest.raises(ModelFormatError, match="history.safetensors is missing"):
        TSMambaForecaster.load(tmp_path / "m")

    fitted.save(tmp_path / "c")
    weights = tmp_path / "c" / "weights.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelFormatError, match="does not match its checksum"):
        TSMambaForecaster.load(tmp_path / "c")

    fitted.save(tmp_path / "v")
    manifest = json.loads((tmp_path / "v" / MANIFEST).read_text())
    manifest.update(format_version=99, package_version="9.0")
    (tmp_path / "v" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match=r"version 99, written by tsmamba 9.0.*reads format version 1"):
        TSMambaForecaster.load(tmp_path / "v")

    with pytest.raises(ModelFormatError, match="does not exist"):
        TSMambaForecaster.load(tmp_path / "nowhere")


def test_saving_over_a_model_replaces_it_and_leaves_no_temporaries(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    fitted.save(tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    TSMambaForecaster.load(tmp_path / "m")


def test_save_refuses_to_replace_a_foreign_directory(fitted, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("keep me")
    with pytest.raises(ModelFormatError, match="not a tsmamba model; refusing"):
        fitted.save(tmp_path / "docs")
    assert (tmp_path / "docs" / "notes.txt").read_text() == "keep me"


def test_package_never_loads_pickles():
    """Static check: no pickle-based loading or eval/exec anywhere in the installed package."""
    import re
    from pathlib import Path

    import tsmamba

    roots = [Path(tsmamba.__file__).parent]
    import tsmamba.cli
    import tsmamba.datasets
    import tsmamba.kernels

    roots += [Path(m.__file__).parent for m in (tsmamba.kernels, tsmamba.datasets, tsmamba.cli)]
    banned = re.compile(r"pickle\.loads?\(|joblib\.load\(|allow_pickle=True|(?<![.\w])(?:eval|exec)\(")
    torch_load = re.compile(r"torch\.load\((?![^)]*weights_only=True)")
    offenders = []
    for root in roots:
        for path in root.rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if banned.search(line) or torch_load.search(line):
                    offenders.append(f"{path}:{number}: {line.strip()}")
    assert not offenders


def _rehash(folder):
    """Make the manifest match the files again, as a careless copy tool might not, so the
    checks after the checksum are reached too."""
    from tsmamba.files import sha256_file

    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"] = {name: sha256_file(folder / name) for name in FILES}
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("rehash", [False, True], ids=["manifest-stale", "manifest-rehashed"])
def test_truncated_and_extra_tensor_files_are_model_format_errors(fitted, tmp_path, rehash):
    from safetensors.torch import load_file, save_file

    fitted.save(tmp_path / "t")
    weights = tmp_path / "t" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    if rehash:
        _rehash(tmp_path / "t")
    with pytest.raises(ModelFormatError, match="not a readable safetensors" if rehash else "checksum"):
        TSMambaForecaster.load(tmp_path / "t")

    fitted.save(tmp_path / "x")
    weights = tmp_path / "x" / "weights.safetensors"
    tensors = load_file(str(weights))
    tensors["smuggled.weight"] = tensors[next(iter(tensors))].clone()
    save_file(tensors, str(weights))
    if rehash:
        _rehash(tmp_path / "x")
    with pytest.raises(ModelFormatError, match=r"unexpected \['smuggled.weight'\]" if rehash else "checksum"):
        TSMambaForecaster.load(tmp_path / "x")


def test_a_save_that_fails_half_way_keeps_the_previous_model(fitted, tmp_path, monkeypatch):
    import errno

    import tsmamba.model_io as model_io

    fitted.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    real = model_io._write_json

    def disk_full_at_state(path, payload):
        if path.name == "state.json":  # weights are already written by now
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, payload)

    monkeypatch.setattr(model_io, "_write_json", disk_full_at_state)
    with pytest.raises(OSError, match="No space left"):
        fitted.save(tmp_path / "m")
    with pytest.raises(OSError, match="No space left"):
        fitted.save(tmp_path / "new")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporaries, no "new"
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before
    pd.testing.assert_frame_equal(TSMambaForecaster.load(tmp_path / "m").predict(),
                                  fitted.predict(), check_exact=True)


def test_non_finite_weights_are_never_saved(fitted, tmp_path):
    import copy

    import torch

    from tsmamba import NonFiniteError

    broken = copy.deepcopy(fitted)
    with torch.no_grad():
        next(broken.model_.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="holds NaN or inf"):
        broken.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_a_model_saved_before_input_format_was_recorded_loads_as_wide(fitted, tmp_path):
    """Format 1 as written before state.json had "input_format": a field that a file lacks
    takes its default (`FittedState`), so older model files keep loading."""
    fitted.save(tmp_path / "m")
    state = json.loads((tmp_path / "m" / "state.json").read_text())
    del state["input_format"]
    (tmp_path / "m" / "state.json").write_text(json.dumps(state))
    _rehash(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m")
    assert loaded.input_format_ == "wide"
    pd.testing.assert_frame_equal(loaded.predict(), fitted.predict(), check_exact=True)


def test_a_model_saved_before_norm_was_a_setting_forecasts_with_revin(tmp_path, fast):
    """Files written before `norm` existed hold networks trained with RevIN: they load as
    norm="revin" and forecast exactly what they did, whatever the estimator's default is."""
    from tsmamba.datasets import demo

    est = TSMambaForecaster(horizon=4, lookback=24, norm="revin", **fast).fit(
        demo(n_rows=150, n_series=2))
    est.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    del config["params"]["norm"], config["model_config"]["norm"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    _rehash(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m")
    assert loaded.norm == "revin" and loaded.model_.norm_in.kind == "revin"
    pd.testing.assert_frame_equal(loaded.predict(), est.predict(), check_exact=True)


def test_a_model_saved_before_relative_covariates_keeps_reading_their_values(tmp_path, fast):
    """Files written before covariates acted by their moves from their lookback level hold
    networks trained on the values themselves: they load so, keep reading them, and still
    forecast from a history without the known covariates' columns."""
    import numpy as np

    index = pd.date_range("2024-01-01", periods=150, freq="h")
    rng = np.random.default_rng(0)
    lead, price = rng.normal(size=150), rng.normal(size=150)
    frame = pd.DataFrame({"a": 2 * np.roll(lead, 4) + price, "lead": lead, "price": price},
                         index=index)
    est = TSMambaForecaster(horizon=4, lookback=24, hist_exog=["lead"], futr_exog=["price"],
                            **fast).fit(frame)
    est.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    for key in ("relative_past_covariates", "relative_future_covariates", "n_static_covariates"):
        del config["model_config"][key]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    _rehash(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m")
    assert est.model_.relative_past and est.model_.n_moving == 1
    assert not loaded.model_.relative_past and loaded.model_.n_moving == 0
    history = frame.iloc[-24:]
    future = est.make_future_frame().assign(price=0.5)
    rebased = history.assign(lead=history["lead"] + 3.0, price=history["price"] + 3.0)
    gap = loaded.predict(rebased, futr_df=future + 3.0) - loaded.predict(history, futr_df=future)
    assert gap.abs().to_numpy().max() > 1e-3
    pd.testing.assert_frame_equal(est.predict(rebased, futr_df=future + 3.0),
                                  est.predict(history, futr_df=future), atol=1e-4, rtol=1e-4)
    pd.testing.assert_frame_equal(loaded.predict(history.drop(columns="price"), futr_df=future),
                                  loaded.predict(history, futr_df=future))


def test_save_never_deletes_what_a_user_put_beside_a_model(fitted, tmp_path):
    # Cause 1: any directory with a manifest.json used to be replaced whole.
    fitted.save(tmp_path / "m")
    (tmp_path / "m" / "notes.txt").write_text("mine")
    with pytest.raises(ModelFormatError, match="also notes.txt; replacing it would delete them"):
        fitted.save(tmp_path / "m")
    assert (tmp_path / "m" / "notes.txt").read_text() == "mine"
    TSMambaForecaster.load(tmp_path / "m")  # the model itself is untouched too


def test_a_foreign_manifest_json_does_not_make_a_folder_a_model(fitted, tmp_path):
    project = tmp_path / "webapp"
    project.mkdir()
    (project / MANIFEST).write_text(json.dumps({"name": "my app", "icons": []}))
    (project / "app.js").write_text("console.log(1)")
    with pytest.raises(ModelFormatError, match="not a tsmamba model; refusing"):
        fitted.save(project)
    assert sorted(p.name for p in project.iterdir()) == ["app.js", MANIFEST]


KILLED_SAVE = """
import os, sys
import tsmamba.model_io as model_io
from tsmamba import TSMambaForecaster

model = TSMambaForecaster.load(sys.argv[1])
renames = []
real = os.rename

def rename(src, dst):
    renames.append(dst)
    if len(renames) == int(sys.argv[2]):
        os._exit(9)  # killed: no clean-up runs
    real(src, dst)

model_io.os.rename = rename
model.save(sys.argv[1])
"""


@pytest.mark.parametrize("killed_at", [1, 2])  # while moving the old aside, or between renames
def test_a_save_killed_mid_swap_loses_nothing_and_is_cleaned_up(fitted, tmp_path, killed_at):
    # Cause 2: replacing a model was two renames, and a kill between them left nothing at the
    # path (the old model only in a hidden folder).
    import subprocess
    import sys

    path = tmp_path / "m"
    fitted.save(path)
    before = fitted.predict()
    script = tmp_path / "kill.py"
    script.write_text(KILLED_SAVE)
    done = subprocess.run([sys.executable, str(script), str(path), str(killed_at)])
    assert done.returncode == 9
    assert any(p.name.startswith(".m.") for p in tmp_path.iterdir())  # leftovers of the kill
    pd.testing.assert_frame_equal(TSMambaForecaster.load(path).predict(), before,
                                  check_exact=True)
    fitted.save(path)  # the next save clears what the killed one left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kill.py", "m"]


@pytest.mark.parametrize("field, value", [("scaler_scale", 0.0), ("scaler_scale", -1.0),
                                          ("scaler_scale", float("nan")),
                                          ("scaler_mean", float("inf"))])
def test_load_refuses_statistics_that_save_never_writes(fitted, tmp_path, field, value):
    # Cause 10: a NaN or non-positive scale loaded and gave all-NaN forecasts.
    fitted.save(tmp_path / "m")
    state = json.loads((tmp_path / "m" / "state.json").read_text())
    state[field][0] = value
    (tmp_path / "m" / "state.json").write_text(json.dumps(state))
    _rehash(tmp_path / "m")  # a consistent manifest: only the values are wrong
    with pytest.raises(ModelFormatError, match=f"{field}.*altered"):
        TSMambaForecaster.load(tmp_path / "m")


@pytest.mark.parametrize("file", ["weights.safetensors", "history.safetensors"])
def test_load_refuses_non_finite_tensors(fitted, tmp_path, file):
    from safetensors.torch import load_file, save_file

    fitted.save(tmp_path / "m")
    path = tmp_path / "m" / file
    tensors = load_file(str(path))
    name = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel())
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, str(path))
    _rehash(tmp_path / "m")
    with pytest.raises(ModelFormatError, match=f"{name}.*NaN or inf"):
        TSMambaForecaster.load(tmp_path / "m")


@pytest.mark.parametrize("offset", [
    pd.offsets.CustomBusinessDay(holidays=["2024-03-29", "2024-04-01"]),
    pd.offsets.CustomBusinessDay(weekmask="Mon Wed Fri"),
    pd.offsets.BusinessHour(start="10:00", end="16:00")])
def test_frequencies_with_settings_survive_the_round_trip(tmp_path, fast, offset):
    # Cause 5: only the frequency string was saved, so holidays, weekmasks and opening hours
    # were lost and a loaded model forecast on days its data never had.
    import numpy as np

    index = pd.date_range("2024-01-02", periods=120, freq=offset)
    frame = pd.DataFrame({"a": np.sin(np.arange(120) / 5.0)}, index=index)
    model = TSMambaForecaster(horizon=6, lookback=24, freq=offset, **fast).fit(frame)
    model.save(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m")
    pd.testing.assert_index_equal(loaded.predict().index, model.predict().index)
    assert loaded.freq_ == offset and loaded.get_params()["freq"] == offset


def test_a_frequency_that_cannot_be_saved_exactly_is_refused(tmp_path, fitted, monkeypatch):
    from tsmamba.errors import TSMambaInputError
    from tsmamba.frequency_io import offset_to_json

    lossy = pd.offsets.CustomBusinessMonthEnd(holidays=["2024-01-31"])
    with pytest.raises(TSMambaInputError, match="cannot be saved exactly"):
        offset_to_json(lossy)
