"""Training that survives faults: checkpoint each epoch, resume after kill -9, bit-identically."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from tsmamba import NonFiniteError, TSMambaForecaster, TSMambaInputError
from tsmamba.checkpoint import FILE
from tsmamba.datasets import demo

# Enough epochs that a kill lands mid-run; patience high so every epoch runs; a weight average,
# which the checkpoint must carry too. Resuming is bit-identical on the CPU, which is what
# these tests compare (README, "Guarantees").
SETTINGS = dict(model="tsm2", horizon=4, lookback=24, d_model=16, d_state=4, n_layers=1, batch_size=16,
                max_epochs=6, max_steps_per_epoch=4, patience=100, lr_decay=0.9, ema_decay=0.9,
                progress=False, device="cpu")
DATA = dict(n_rows=240, n_series=2)

# The child fits exactly like the tests do, after installing one way of dying.
CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    import tsmamba.checkpoint as checkpoint
    import tsmamba.training as training
    from tsmamba import TSMambaForecaster
    from tsmamba.datasets import demo

    how, when, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    settings, data = {settings!r}, {data!r}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    calls = {{"n": 0}}
    if how == "mid-epoch":  # between optimiser steps, after `when` of them
        clip = training.nn.utils.clip_grad_norm_
        def clip_then_maybe_die(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > when:
                die()
            return clip(*args, **kwargs)
        training.nn.utils.clip_grad_norm_ = clip_then_maybe_die
    elif how == "half-written":  # the checkpoint file of epoch `when` is cut off mid-write
        real = checkpoint.save_file
        def save_half(tensors, path, metadata):
            calls["n"] += 1
            real(tensors, path, metadata=metadata)
            if calls["n"] == when:
                with open(path, "r+b") as handle:
                    handle.truncate(os.path.getsize(path) // 2)
                die()
        checkpoint.save_file = save_half
    elif how == "before-rename":  # written completely, killed before it replaces the old one
        real = checkpoint.os.replace
        def replace_or_die(src, dst):
            calls["n"] += 1
            if calls["n"] == when:
                die()
            real(src, dst)
        checkpoint.os.replace = replace_or_die
    TSMambaForecaster(**settings).fit(demo(**data), checkpoint_dir=directory)
""").format(settings=SETTINGS, data=DATA)


def _child(tmp_path, how, when, directory):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen([sys.executable, str(script), how, str(when), str(directory)],
                            cwd=tmp_path, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def uninterrupted():
    est = TSMambaForecaster(**SETTINGS).fit(demo(**DATA))
    return est.predict().to_numpy(), est.training_log_


def _resume_and_compare(directory, uninterrupted):
    forecast, log = uninterrupted
    est = TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)
    assert np.array_equal(est.predict().to_numpy(), forecast)  # bit-identical, not close
    assert est.training_log_ == log
    assert not list(directory.glob(".checkpoint-*"))


@pytest.mark.parametrize("how, when", [("mid-epoch", 9), ("half-written", 3),
                                       ("before-rename", 2)])
def test_resume_after_kill_9_is_bit_identical(tmp_path, uninterrupted, how, when):
    directory = tmp_path / "ckpt"
    child = _child(tmp_path, how, when, directory)
    _, stderr = child.communicate(timeout=300)
    assert child.returncode == -signal.SIGKILL, stderr.decode()
    assert (directory / FILE).exists()  # an earlier epoch's checkpoint survived the kill
    _resume_and_compare(directory, uninterrupted)


def test_resume_after_kill_9_at_a_random_moment(tmp_path, uninterrupted):
    directory = tmp_path / "ckpt"
    child = _child(tmp_path, "never", 0, directory)
    deadline = time.monotonic() + 120
    while not (directory / FILE).exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(np.random.default_rng().uniform(0, 0.05))
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=60)
    _resume_and_compare(directory, uninterrupted)


def test_a_finished_checkpoint_returns_the_same_model_without_training(tmp_path, uninterrupted):
    directory = tmp_path / "ckpt"
    TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)
    before = (directory / FILE).read_bytes()
    _resume_and_compare(directory, uninterrupted)
    assert (directory / FILE).read_bytes() == before


def test_a_checkpoint_of_another_run_is_refused_and_kept(tmp_path):
    directory = tmp_path / "ckpt"
    TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)
    before = (directory / FILE).read_bytes()
    with pytest.raises(TSMambaInputError, match="belongs to another run.*left untouched"):
        TSMambaForecaster(**{**SETTINGS, "learning_rate": 0.01}).fit(
            demo(**DATA), checkpoint_dir=directory)
    with pytest.raises(TSMambaInputError, match="belongs to another run"):
        TSMambaForecaster(**SETTINGS).fit(demo(n_rows=250, n_series=2), checkpoint_dir=directory)
    assert (directory / FILE).read_bytes() == before


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path):
    directory = tmp_path / "ckpt"
    directory.mkdir()
    (directory / FILE).write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(TSMambaInputError, match="not a readable tsmamba checkpoint.*delete it"):
        TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)


def test_non_finite_loss_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    directory = tmp_path / "ckpt"
    est = TSMambaForecaster(**SETTINGS)
    steps = {"n": 0}
    real_forward = None

    def poisoned(self, x):
        steps["n"] += 1
        out = real_forward(self, x)
        # Calls 1-4 train epoch 1, call 5 validates it, call 8 is step 3 of epoch 2.
        return out * float("nan") if self.training and steps["n"] == 8 else out

    from tsmamba.models.tsm2 import TSM2

    real_forward = TSM2.forward
    monkeypatch.setattr(TSM2, "forward", poisoned)
    with pytest.raises(NonFiniteError, match=r"loss became nan at epoch 2, step 3"):
        est.fit(demo(**DATA), checkpoint_dir=directory)
    from safetensors import safe_open

    with safe_open(str(directory / FILE), framework="pt") as reader:
        assert '"epoch": 1' in reader.metadata()["tsmamba"]
        assert all(torch.isfinite(reader.get_tensor(k)).all() for k in reader.keys()
                   if reader.get_tensor(k).is_floating_point())


def test_gradients_are_clipped(monkeypatch):
    import tsmamba.training_step as training

    norms = []
    real = training.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        total = real(parameters, max_norm, *args, **kwargs)
        norms.append(torch.linalg.vector_norm(
            torch.stack([p.grad.norm() for p in parameters if p.grad is not None])).item())
        return total

    monkeypatch.setattr(training.nn.utils, "clip_grad_norm_", spy)
    TSMambaForecaster(**{**SETTINGS, "max_epochs": 1, "learning_rate": 1.0}).fit(demo(**DATA))
    assert norms and max(norms) <= training.GRAD_CLIP * (1 + 1e-5)


@pytest.mark.parametrize("where", [0.5, 0.9])  # how far into the tensors' bytes
def test_one_flipped_bit_in_the_weights_is_refused(tmp_path, where):
    # Cause 8: checkpoints had no checksum; a flipped bit gave forecasts off by 3e37.
    import json
    import struct

    directory = tmp_path / "ckpt"
    TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)
    path = directory / FILE
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    start = 8 + header_len  # the tensors' bytes begin after the JSON header
    assert json.loads(data[8:start])  # (a header that parses: the flip is past it)
    data[start + int(where * (len(data) - start))] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(TSMambaInputError, match="does not match its own checksum"):
        TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)
    assert path.read_bytes() == bytes(data)  # refused, not deleted


def test_a_refused_run_leaves_another_runs_files_alone(tmp_path):
    # Cause 9: restore() removed temporaries before it checked the fingerprint, so a run that
    # was then refused had deleted another run's checkpoint being written.
    directory = tmp_path / "ckpt"
    TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)
    in_flight = directory / ".checkpoint-abc123.tmp"
    in_flight.write_bytes(b"another run's epoch, being written")
    with pytest.raises(TSMambaInputError, match="belongs to another run"):
        TSMambaForecaster(**{**SETTINGS, "learning_rate": 0.01}).fit(
            demo(**DATA), checkpoint_dir=directory)
    assert in_flight.read_bytes() == b"another run's epoch, being written"
    # The run the checkpoint belongs to resumes and clears what a killed write left.
    TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)
    assert not in_flight.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="no directory locks on Windows")
def test_two_runs_never_share_a_checkpoint_directory(tmp_path):
    import fcntl

    directory = tmp_path / "ckpt"
    directory.mkdir()
    handle = os.open(directory, os.O_RDONLY)
    fcntl.flock(handle, fcntl.LOCK_EX)  # a run going on in another process
    try:
        with pytest.raises(TSMambaInputError, match="in use by another running fit"):
            TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)
    finally:
        os.close(handle)
    TSMambaForecaster(**SETTINGS).fit(demo(**DATA), checkpoint_dir=directory)  # free again
