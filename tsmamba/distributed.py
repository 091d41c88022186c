"""Data-parallel training on torch.distributed, as torchrun (or Slurm, Kubernetes, Ray
Train, Spark's TorchDistributor through it) starts it: one process per device, each told its
place by the environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).

With WORLD_SIZE > 1 a fit joins the process group (NCCL between GPUs, gloo on the CPU; one
already initialised by the caller is used as it is), trains a DistributedDataParallel copy
of the network, and gives every rank its slice of each global batch of world_size x
batch_size windows, drawn in the same seeded order on every rank: world size N with batch b
per rank walks the windows that one process with batch N*b walks. Windows are sharded, never
series, so channel-mixing models see every series of a window. Each rank's loss is weighted
by its share of the global batch, so DDP's mean over ranks is the global batch's mean loss
also when the last batch splits unevenly.

Rank 0 alone decides early stopping (its validation loss, broadcast), reads and writes
checkpoints (their state is broadcast to the others), and writes model files, outputs and
progress. A peer that dies makes every collective of the others fail, within TIMEOUT at
most; that failure is raised as a `DistributedError` that says what to do.
"""

from __future__ import annotations

import atexit
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .errors import DistributedError, TSMambaInputError

# How long a rank waits in one collective for its peers before it gives up: long enough for
# a slow validation pass on rank 0, short enough that a lost peer never hangs a job for long.
TIMEOUT = timedelta(seconds=float(os.environ.get("TSMAMBA_DIST_TIMEOUT", "300")))


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def leads(self) -> bool:
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0


def world() -> World:
    """This process's place, from torchrun's environment (one process when it is unset)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(),
                     int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise TSMambaInputError("WORLD_SIZE, RANK and LOCAL_RANK must be integers; start "
                                "distributed training with torchrun") from None
    return World(rank, size, local)


def leads() -> bool:
    """True outside distributed training and on rank 0."""
    return world().leads


def join(device: torch.device) -> World:
    """Join the process group for training on `device` (once per process); the world."""
    place = world()
    if not place.active or dist.is_initialized():
        return place
    # TSMAMBA_DIST_BACKEND=gloo also runs CUDA ranks: several ranks on one GPU (which NCCL
    # refuses), as the GPU test does, or a cluster without NCCL.
    backend = os.environ.get("TSMAMBA_DIST_BACKEND") or ("nccl" if device.type == "cuda"
                                                         else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=TIMEOUT)
    atexit.register(_leave)
    return world()


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, each process trains on the GPU of its local rank."""
    place = world()
    if place.active and device.type == "cuda" and device.index is None:
        return torch.device("cuda", place.local_rank % max(1, torch.cuda.device_count()))
    return device


def shard(count: int, place: World) -> slice:
    """This rank's part of a global batch of `count` windows: contiguous, as even as can be
    (the first count % size ranks take one more)."""
    base, extra = divmod(count, place.size)
    start = place.rank * base + min(place.rank, extra)
    return slice(start, start + base + (place.rank < extra))


def broadcast(value, place: World):
    """Rank 0's `value` (any picklable object) on every rank."""
    if not place.active:
        return value
    box = [value]
    with peer_failures():
        dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank (nothing to wait for outside distributed training)."""
    if dist.is_available() and dist.is_initialized():
        with peer_failures():
            dist.barrier()


def check_same_run(run_fingerprint: str, place: World) -> None:
    """Refuse a launch whose ranks were given different data or settings."""
    if not place.active:
        return
    everyone = [None] * place.size
    with peer_failures():
        dist.all_gather_object(everyone, run_fingerprint)
    differ = [rank for rank, other in enumerate(everyone) if other != everyone[0]]
    if differ:
        raise DistributedError(
            f"rank(s) {differ} were given other data or settings than rank 0 (their run "
            f"fingerprints differ); launch every rank with the same data file and arguments")


@contextmanager
def peer_failures():
    """Inside the block, a collective that fails (a peer died, or did not answer within
    TIMEOUT) is raised as a DistributedError that says what to do."""
    try:
        yield
    except DistributedError:
        raise
    except RuntimeError as exc:  # torch's DistError family derives from it
        if not (dist.is_available() and dist.is_initialized()) or not _collective_failure(exc):
            raise
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise DistributedError(
            f"a peer rank stopped or stopped answering ({type(exc).__name__}: {first_line}); "
            "this rank stops too. Run the command again: with a checkpoint_dir it resumes "
            "from the last complete epoch, on any number of processes") from exc


def _collective_failure(exc: RuntimeError) -> bool:
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()  # gloo's transport errors are plain RuntimeErrors
    return any(word in text for word in ("gloo", "nccl", "connection", "timed out", "peer"))
