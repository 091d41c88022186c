"""Model files: a directory of safetensors and JSON, checked by a sha256 manifest.

    weights.safetensors   the network's tensors
    history.safetensors   the last `lookback` rows seen in fit (what predict() starts from),
                          and the conformity scores that calibrate prediction intervals
    config.json           estimator parameters and the model config
    state.json            columns, frequency, history timestamps, scaler statistics
    manifest.json         format name and version, package version, sha256 of every file;
                          written last, so a directory without it was never completely saved

Nothing here unpickles: safetensors and JSON cannot carry code. A save writes into a
temporary directory beside the target and renames it into place, so an earlier model at the
same path stays intact until the new one is complete; replacing one moves the old aside first,
and a save or load after a kill between the two renames puts it back. A save replaces only a
directory that holds a tsmamba model and nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from sklearn.preprocessing import StandardScaler

from .errors import ModelFormatError, NonFiniteError
from .files import lock_directory, sha256_file, unlock
from .fitted import FittedState
from .frequency_io import offset_from_json, offset_to_json
from .models import MODELS, build_model

FORMAT = "tsmamba-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FILES = ("weights.safetensors", "history.safetensors", "config.json", "state.json")


def _json_safe(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):  # model_options
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # futr_exog
        return [_json_safe(v) for v in value]
    if isinstance(value, os.PathLike):  # a teacher's directory
        return os.fspath(value)
    if hasattr(value, "get_params"):  # a teacher given as a fitted forecaster: not saved
        return None
    if isinstance(value, pd.offsets.BaseOffset):  # an offset given as freq=, settings and all
        return offset_to_json(value)
    return str(value)


def _write_json(path: Path, payload) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())


def _package_version() -> str:
    from . import __version__

    return __version__


def _write_all(estimator, folder: Path) -> None:
    state = FittedState.of(estimator)
    weights = {k: v.detach().cpu().contiguous() for k, v in state.model.state_dict().items()}
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise NonFiniteError(f"the model's tensor {name!r} holds NaN or inf; refusing to save "
                                 "a model that cannot forecast")
    save_file(weights, str(folder / "weights.safetensors"))
    arrays = {item.name: getattr(state, item.name) for item in FittedState.stored_as("array")}
    # Copies: pandas hands out read-only arrays, which torch refuses to wrap quietly.
    save_file({k: torch.from_numpy(np.array(v, order="C")) for k, v in arrays.items()
               if v is not None}, str(folder / "history.safetensors"))
    params = {k: _json_safe(v) for k, v in estimator.get_params().items()}
    _write_json(folder / "config.json", {"params": params,
                                          "model_config": dataclasses.asdict(state.config)})
    index = state.history_index
    _write_json(folder / "state.json", {
        "freq": offset_to_json(state.freq),  # holidays and opening hours too
        # int64 nanoseconds (UTC when tz-aware) and the zone name round-trip exactly.
        "history_index_ns": [int(v) for v in index.as_unit("ns").asi8],
        "history_index_tz": str(index.tz) if index.tz is not None else None,
        "history_index_name": index.name,
        "history_index_unit": index.unit,
        "scaler_mean": state.scaler.mean_.tolist(),
        "scaler_scale": state.scaler.scale_.tolist(),
        **{item.name: getattr(state, item.name) for item in FittedState.stored_as("json")},
    })
    _write_json(folder / MANIFEST, {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": _package_version(),
        "files": {name: sha256_file(folder / name) for name in FILES},
    })


def _ours(folder: Path) -> bool:
    """Whether `folder` holds a manifest in tsmamba's model format (not checked further)."""
    try:
        with open(folder / MANIFEST, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def check_replaceable(target: Path) -> None:
    """A save may replace only a tsmamba model that holds nothing but its own files."""
    if target.exists() and not target.is_dir():
        raise ModelFormatError(f"{target} is a file; a model is saved as a directory: choose "
                               "another path")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not _ours(target):
        raise ModelFormatError(f"{target} is a non-empty directory that is not a tsmamba model;"
                               " refusing to replace it: choose another path")
    others = sorted(p.name for p in target.iterdir() if p.name not in (*FILES, MANIFEST))
    if others:
        listed = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise ModelFormatError(f"{target} holds a tsmamba model and also {listed}; replacing it "
                               "would delete them: move them out of it or choose another path")


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold an exclusive lock on `folder` (the model's parent) while saving or recovering, so
    that a save never meets another one, or a load, half-way. Without fcntl (Windows) there is
    no lock and no clean-up of other saves' leftovers."""
    handle = lock_directory(folder)
    try:
        yield handle is not None
    finally:
        unlock(handle)


def _leftovers(target: Path, kind: str) -> list:
    """The temporaries a save of `target` leaves while it runs: "saving" (the new model being
    written) and "old" (the previous one, moved aside for the swap), newest first."""
    found = target.parent.glob(f".{target.name}.{kind}-*")
    return sorted((p for p in found if p.is_dir()), key=lambda p: p.stat().st_mtime,
                  reverse=True)


def _recover(target: Path, clean: bool) -> None:
    """Undo what a killed save left. Replacing a model is two renames (the old one aside, the
    new one in); a kill between them leaves no model at `target` and the previous one in a
    `.NAME.old-*` folder, which is put back. With `clean` (the lock held: no save of ours is
    running) the other leftovers go: new models whose save never finished, and old ones
    already replaced."""
    if not target.exists():
        for retired in _leftovers(target, "old"):
            if _ours(retired / "model"):
                os.rename(retired / "model", target)
                break
    if clean:
        for leftover in _leftovers(target, "saving") + _leftovers(target, "old"):
            shutil.rmtree(leftover, ignore_errors=True)


def save(estimator, path) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent) as locked:
        _recover(target, clean=locked)
        check_replaceable(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
        try:
            _write_all(estimator, staging)
            if target.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.rename(target, retired / "model")
                os.rename(staging, target)  # a kill before this: `_recover` puts the old back
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _read_json(folder: Path, name: str):
    try:
        with open(folder / name, encoding="utf-8") as handle:
            return json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{folder / name} is not valid JSON ({exc.__class__.__name__}); "
                               "the model directory is corrupt or not a tsmamba model") from None


def _verified_manifest(folder: Path) -> dict:
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is a file, not a model directory"
        raise ModelFormatError(f"{folder} {what}; pass the directory written by save()")
    if not (folder / MANIFEST).is_file():
        raise ModelFormatError(f"{folder} has no {MANIFEST}: it is not a tsmamba model, or its "
                               "save did not complete")
    manifest = _read_json(folder, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFormatError(f"{folder / MANIFEST} is not a tsmamba model manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{folder} has model format version {version!r}, written by tsmamba "
            f"{manifest.get('package_version')}; this tsmamba ({_package_version()}) reads "
            f"format version {FORMAT_VERSION}: upgrade tsmamba to load it")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(FILES):
        raise ModelFormatError(f"{folder / MANIFEST} does not list the model's files {FILES}")
    for name, expected in files.items():
        if not (folder / name).is_file():
            raise ModelFormatError(f"{folder / name} is missing; the model is incomplete")
        if sha256_file(folder / name) != expected:
            raise ModelFormatError(f"{folder / name} does not match its checksum in {MANIFEST}; "
                                   "the file is corrupt or was replaced")
    return manifest


def _load_tensors(path: Path) -> dict:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFormatError(f"{path} is not a readable safetensors file ({exc})") from None


def _stored(item, values: dict):
    """A "json" or "array" field's saved value, or its default where an older file lacks it."""
    if item.name in values:
        return values[item.name]
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    if item.default is dataclasses.MISSING:
        raise KeyError(item.name)
    return item.default


def _scaler(state: dict, n_columns: int, folder: Path) -> StandardScaler:
    scaler = StandardScaler()
    scaler.mean_ = np.asarray(state["scaler_mean"], dtype=np.float64)
    scaler.scale_ = np.asarray(state["scaler_scale"], dtype=np.float64)
    # What save() can only have written: finite statistics and positive scales, one a column.
    for name, values in (("scaler_mean", scaler.mean_), ("scaler_scale", scaler.scale_)):
        if values.shape != (n_columns,) or not np.isfinite(values).all():
            raise ModelFormatError(f"{folder / 'state.json'}: {name} is not {n_columns} finite "
                                   "numbers; the model directory was altered")
    if (scaler.scale_ <= 0).any():
        raise ModelFormatError(f"{folder / 'state.json'}: scaler_scale holds a scale <= 0; the "
                               "model directory was altered")
    scaler.var_ = scaler.scale_ ** 2
    scaler.n_features_in_ = n_columns
    scaler.n_samples_seen_ = 0
    return scaler


def _history_index(state: dict) -> pd.DatetimeIndex:
    index = pd.to_datetime(np.asarray(state["history_index_ns"], dtype=np.int64), unit="ns",
                           utc=state["history_index_tz"] is not None)
    if state["history_index_tz"] is not None:
        index = index.tz_convert(state["history_index_tz"])
    return pd.DatetimeIndex(index, name=state["history_index_name"]).as_unit(
        state["history_index_unit"])


def _network(folder: Path, name: str, config) -> torch.nn.Module:
    network = build_model(name, config)
    tensors = _load_tensors(folder / "weights.safetensors")
    expected_keys = set(network.state_dict())
    missing, unexpected = sorted(expected_keys - set(tensors)), sorted(set(tensors) - expected_keys)
    if missing or unexpected:
        raise ModelFormatError(f"{folder / 'weights.safetensors'} does not fit the model: "
                               f"missing tensors {missing[:5]}, unexpected {unexpected[:5]}")
    _check_finite(tensors, folder / "weights.safetensors")
    network.load_state_dict(tensors)
    return network


def _check_finite(tensors: dict, path: Path) -> None:
    """Refuse NaN or inf, which save() never writes, in a file's tensors."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelFormatError(f"{path}: tensor {name!r} holds NaN or inf; the model "
                                   "directory was altered")


def load(cls, path, device="cpu"):
    from .validation import resolve_device

    device = resolve_device(device)  # a clear error for "cuda" on a CPU-only machine
    folder = Path(path)
    if not folder.exists() and folder.parent.is_dir():
        with _locked(folder.parent) as locked:  # a save killed mid-swap: put the model back
            _recover(folder, clean=locked)
    _verified_manifest(folder)
    config_json = _read_json(folder, "config.json")
    state = _read_json(folder, "state.json")
    try:
        params = dict(config_json["params"])
        params.setdefault("ema_decay", 0.0)  # saved before the option: trained without it
        # Saved before `norm`: those networks were trained and must forecast with RevIN.
        params.setdefault("norm", "revin")
        if isinstance(params.get("freq"), dict):  # an offset with settings, given as freq=
            params["freq"] = offset_from_json(params["freq"])
        config_cls, _ = MODELS[params["model"]]
        config = config_cls(**{"norm": params["norm"], **config_json["model_config"]})
        estimator = cls(**params)
        network = _network(folder, params["model"], config)
        stored = _load_tensors(folder / "history.safetensors")
        _check_finite(stored, folder / "history.safetensors")
        arrays = {k: v.numpy() for k, v in stored.items()}
        fitted = FittedState(
            model=network.to(device).eval(), config=config,
            scaler=_scaler(state, len(state["columns"]), folder), freq=offset_from_json(state["freq"]),
            history_index=_history_index(state), device=str(device),
            **{item.name: _stored(item, state) for item in FittedState.stored_as("json")},
            **{item.name: _stored(item, arrays) for item in FittedState.stored_as("array")})
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFormatError(f"{folder} holds an inconsistent model ({exc.__class__.__name__}: "
                               f"{exc})") from None
    fitted.apply(estimator)
    return estimator
