"""Data-parallel training on the CPU (gloo): two ranks train like one process with the
doubled batch; one set of files; a dead rank stops the other; a mismatched launch is refused.

The ranks are separate processes started here with torchrun's environment variables (and
once through torchrun itself, as users start it), so the tests exercise the same code a
cluster launch does. They compare to float tolerance, not bit for bit: the all-reduce sums
the two ranks' gradients in another order than one process's backward pass sums them.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tsmamba import TSMambaForecaster
from tsmamba.datasets import demo

# dropout 0: each rank draws its own dropout masks, which one process cannot reproduce.
SETTINGS = dict(model="tsm2", horizon=4, lookback=24, d_model=16, d_state=4, n_layers=1,
                max_epochs=3, max_steps_per_epoch=None, dropout=0.0, progress=False,
                device="cpu")
DATA = dict(n_rows=300, n_series=3)  # 213 training windows: the last global batch is uneven

WORKER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import tsmamba.training_step as training_step
    from tsmamba import TSMambaForecaster
    from tsmamba.datasets import demo

    out, settings, data = sys.argv[1], {settings!r}, {data!r}
    rank = int(os.environ["RANK"])
    die_after = int(os.environ.get("DIE_AFTER_STEPS", "0"))
    if die_after and rank == 1:  # rank 1 is killed between optimiser steps
        clip, calls = training_step.nn.utils.clip_grad_norm_, [0]
        def clip_then_maybe_die(*args, **kwargs):
            calls[0] += 1
            if calls[0] > die_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return clip(*args, **kwargs)
        training_step.nn.utils.clip_grad_norm_ = clip_then_maybe_die
    if rank == 1 and os.environ.get("OTHER_DATA"):
        data = dict(data, n_rows=data["n_rows"] + 1)
    est = TSMambaForecaster(**settings).fit(demo(**data),
                                            checkpoint_dir=os.environ.get("CHECKPOINT_DIR"))
    est.save(out)
""")


def _loopback_works() -> bool:
    try:
        with socket.socket() as server, socket.socket() as client:
            server.bind(("127.0.0.1", 0))
            server.listen()
            client.connect(server.getsockname())
        return True
    except OSError:
        return False


# The ranks talk over 127.0.0.1; a sandbox without any network (`unshare -n`) has none.
ranks = pytest.mark.skipif(not _loopback_works(),
                           reason="needs the loopback interface (127.0.0.1) for the ranks")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(tmp_path, world: int, batch_size: int, **env):
    """Start `world` ranks of WORKER; returns the processes."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(settings=dict(SETTINGS, batch_size=batch_size), data=DATA))
    base = dict(os.environ, WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(_free_port()), TSMAMBA_CPU_THREADS="1", OMP_NUM_THREADS="1",
                TSMAMBA_DIST_TIMEOUT="60", **env)
    return [subprocess.Popen([sys.executable, str(script), str(tmp_path / "model")],
                             cwd=tmp_path, stderr=subprocess.PIPE,
                             env=dict(base, RANK=str(rank), LOCAL_RANK=str(rank)))
            for rank in range(world)]


def _wait(processes, timeout=240):
    return [(p.wait(timeout=timeout), p.stderr.read().decode()) for p in processes]


@ranks
def test_two_ranks_train_like_one_process_with_the_doubled_batch(tmp_path):
    results = _wait(_launch(tmp_path, 2, batch_size=8))
    assert [code for code, _ in results] == [0, 0], results
    two = TSMambaForecaster.load(tmp_path / "model")
    one = TSMambaForecaster(**dict(SETTINGS, batch_size=16)).fit(demo(**DATA))
    np.testing.assert_allclose(two.predict().to_numpy(), one.predict().to_numpy(),
                               rtol=1e-5, atol=1e-5)
    for a, b in zip(two.model_.state_dict().values(), one.model_.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    assert [r["epoch"] for r in two.training_log_] == [r["epoch"] for r in one.training_log_]
    # One writer: the model directory and nothing beside it (no second copy, no temporaries).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "worker.py"]


@ranks
def test_a_dead_rank_stops_the_other_which_resumes_alone(tmp_path):
    checkpoints = tmp_path / "ckpt"
    began = time.monotonic()
    results = _wait(_launch(tmp_path, 2, batch_size=8, DIE_AFTER_STEPS="20",
                            CHECKPOINT_DIR=str(checkpoints)), timeout=120)
    (survivor, message), (killed, _) = results
    assert killed == -signal.SIGKILL
    assert survivor != 0 and "a peer rank stopped" in message, message
    assert time.monotonic() - began < 120  # within the timeout, never a hang
    assert (checkpoints / "checkpoint.safetensors").exists()  # epoch 1 was complete
    # The same run resumed by one process (the per-rank batch stays 8: the fingerprint's).
    resumed = TSMambaForecaster(**dict(SETTINGS, batch_size=8)).fit(
        demo(**DATA), checkpoint_dir=checkpoints)
    assert resumed.n_epochs_ == SETTINGS["max_epochs"]
    assert resumed.training_log_[0]["epoch"] == 1
    assert np.isfinite(resumed.predict().to_numpy()).all()


@ranks
def test_ranks_given_other_data_are_refused(tmp_path):
    results = _wait(_launch(tmp_path, 2, batch_size=8, OTHER_DATA="1"))
    assert all(code != 0 for code, _ in results)
    assert "rank(s) [1] were given other data or settings than rank 0" in results[0][1]
    assert not (tmp_path / "model").exists()


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2", "-m", "tsmamba.cli"]


@ranks
@pytest.mark.parametrize("launch", ["torchrun", "--devices"])
def test_the_command_line_on_two_ranks_writes_one_model(tmp_path, launch):
    data = tmp_path / "data.csv"
    demo(n_rows=240, n_series=2).to_csv(data)
    fit = ["fit", str(data), "--out", str(tmp_path / "m"), "--max-epochs", "1", "--horizon",
           "4", "--lookback", "24", "--device", "cpu", "--no-progress"]
    command = (TORCHRUN + fit if launch == "torchrun"
               else [sys.executable, "-m", "tsmamba.cli", *fit, "--devices", "2"])
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env=dict(os.environ, TSMAMBA_CPU_THREADS="1"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("saved ") == 1  # rank 0 alone reports
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "m"]
    assert np.isfinite(TSMambaForecaster.load(tmp_path / "m").predict().to_numpy()).all()


@pytest.mark.parametrize("count, size", [(16, 2), (5, 2), (7, 3), (2, 2)])
def test_shards_cover_a_batch_once_and_evenly(count, size):
    from tsmamba.distributed import World, shard

    parts = [shard(count, World(rank, size)) for rank in range(size)]
    assert [i for part in parts for i in range(count)[part]] == list(range(count))
    assert max(p.stop - p.start for p in parts) - min(p.stop - p.start for p in parts) <= 1


@ranks
def test_a_backtest_on_two_ranks_scores_like_one_process_with_the_doubled_batch(tmp_path,
                                                                              etth1_csv):
    common = ["backtest", "ETTh1", "--model", "s4", "--set", "max_epochs=2", "--set",
              "max_steps_per_epoch=4", "--set", "dropout=0.0", "--device", "cpu",
              "--no-progress"]
    scores = []
    for world, batch in ((2, 16), (1, 32)):
        out = tmp_path / f"{world}.jsonl"
        command = ((TORCHRUN if world == 2 else [sys.executable, "-m", "tsmamba.cli"]) + common
                   + ["--set", f"batch_size={batch}", "--json", str(out)])
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env=dict(os.environ, TSMAMBA_CPU_THREADS="1",
                                                    TSMAMBA_DATA_DIR=str(etth1_csv.parent)))
        assert done.returncode == 0, done.stderr
        lines = out.read_text().splitlines()
        assert len(lines) == 1  # one writer
        scores.append(json.loads(lines[0])["mse"])
    assert scores[0] == pytest.approx(scores[1], rel=1e-4)
