"""Training checkpoints: a killed `fit(..., checkpoint_dir=DIR)` resumes where its last complete
epoch ended, and on CPU finishes with the same weights as a run that was never interrupted.

A checkpoint is one file, `DIR/checkpoint.safetensors`, holding everything the loop needs:

    model/<name>        the weights after the epoch
    best/<name>         the weights of the best validation epoch so far (what fit returns)
    average/<name>      the moving average of the weights, when the run keeps one
    optimiser/<i>/<k>   Adam's moments and step counts
    rng/torch, rng/generator, rng/cuda/<i>   dropout and data-order random states
    metadata "tsmamba"  JSON: epoch, losses, early-stopping counters, optimiser and scheduler
                        settings, and the fingerprint of the run (settings and data)

It is written to a temporary file in DIR, flushed to disk, then renamed over the old one, so
a kill at any moment - also half-way through a write - leaves the previous checkpoint or the
new one, never a mix. The metadata carries a sha256 of every tensor's bytes: a checkpoint
whose weights changed on disk (one flipped bit) is refused, not resumed. The fingerprint stops
a checkpoint of other data or settings from being resumed by mistake; such a directory is
left untouched. A run holds a lock on DIR from its restore to its end (where fcntl exists),
so two runs never share one; only then are a killed write's temporaries removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import NonFiniteError, TSMambaInputError
from .files import CAN_LOCK, lock_directory, unlock

FILE = "checkpoint.safetensors"
FORMAT_VERSION = 1


@dataclass
class LoopState:
    """Where the training loop stands after `epoch` complete epochs."""

    epoch: int = 0
    best_epoch: int = 0
    best_loss: float = float("inf")
    stale: int = 0  # epochs since the validation loss last improved
    finished: bool = False  # early stopping or max_epochs reached
    log: list[dict] = field(default_factory=list)


def fingerprint(settings: dict, *arrays: torch.Tensor) -> str:
    """sha256 over the run's settings and the exact bytes of its (scaled) data."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for array in arrays:
        digest.update(array.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _check_finite(tensors: dict[str, torch.Tensor], what: str) -> None:
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise NonFiniteError(f"{what} {name!r} holds NaN or inf; not writing it (the last "
                                 "good checkpoint is kept)")


def _numbers(value):
    """`value` with every one-element tensor (a captured step's learning rates) as a number,
    so that it can be written as JSON."""
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numbers(v) for v in value]
    return value


class Checkpointer:
    """Reads and writes the checkpoint of one run in `directory`."""

    def __init__(self, directory, run_fingerprint: str):
        self.directory = Path(directory)
        self.path = self.directory / FILE
        self.fingerprint = run_fingerprint
        if self.directory.exists() and not self.directory.is_dir():
            raise TSMambaInputError(f"checkpoint_dir {self.directory} is a file; pass a "
                                    "directory (it is created when missing)")

    def save(self, model, best_state: dict, optimiser, scheduler, generator,
             state: LoopState, average=None) -> None:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        _check_finite(weights, "weight")
        tensors = {f"model/{k}": v for k, v in weights.items()}
        tensors.update({f"best/{k}": v.detach().cpu().contiguous() for k, v in best_state.items()})
        if average is not None:
            tensors.update({f"average/{k}": v.detach().cpu().contiguous()
                            for k, v in average.state_dict().items()})
        opt = optimiser.state_dict()
        for index, slots in opt["state"].items():
            for key, value in slots.items():
                tensors[f"optimiser/{index}/{key}"] = value.detach().cpu().contiguous()
        tensors["rng/torch"] = torch.get_rng_state()
        tensors["rng/generator"] = generator.get_state()
        if torch.cuda.is_available():
            for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng/cuda/{i}"] = cuda_state
        metadata = {"format_version": FORMAT_VERSION, "fingerprint": self.fingerprint,
                    "loop": asdict(state), "param_groups": _numbers(opt["param_groups"]),
                    "scheduler": _numbers(scheduler.state_dict()),
                    "tensors_sha256": _tensors_sha256(tensors)}
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp",
                                             dir=self.directory)
        os.close(handle)
        try:
            save_file(tensors, temporary, metadata={"tsmamba": json.dumps(metadata)})
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.replace(temporary, self.path)  # atomic: the old checkpoint or the new one
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def _lock(self) -> None:
        """Take the directory for this run, or refuse when another run holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if getattr(self, "_held", None) is not None:
            return
        try:
            self._held = lock_directory(self.directory, wait=False)
        except BlockingIOError:
            raise TSMambaInputError(
                f"checkpoint_dir {self.directory} is in use by another running fit; wait for "
                "it to end, or give this run a directory of its own") from None

    def release(self) -> None:
        """Let the directory go (the end of the run; also when the process ends)."""
        handle, self._held = getattr(self, "_held", None), None
        unlock(handle)

    def __del__(self):
        self.release()

    def _remove_killed_writes(self) -> None:
        """Temporaries of writes that were killed: with the lock held (or no locks at all)
        none can belong to a run still going. Files of any other name are left alone."""
        if CAN_LOCK and getattr(self, "_held", None) is None:
            return
        for leftover in self.directory.glob(".checkpoint-*.tmp"):
            leftover.unlink(missing_ok=True)

    def restore(self, model, optimiser, scheduler, generator,
                average=None) -> tuple[LoopState, dict] | None:
        """Load the checkpoint into the given objects (`average`: a
        `weight_average.WeightAverage`, or None); None when there is none yet.

        Returns the loop state and the best weights so far.
        """
        self._lock()
        if not self.path.exists():
            self._remove_killed_writes()
            return None
        try:
            with safe_open(str(self.path), framework="pt") as reader:
                metadata = json.loads(reader.metadata()["tsmamba"])
                tensors = {key: reader.get_tensor(key) for key in reader.keys()}
        except (SafetensorError, OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise TSMambaInputError(
                f"{self.path} is not a readable tsmamba checkpoint ({exc}); delete it to start "
                "training over") from None
        if metadata.get("fingerprint") != self.fingerprint:
            raise TSMambaInputError(
                f"{self.path} belongs to another run (different data or settings) and was left "
                "untouched; pass an empty checkpoint_dir, or delete that file to start over")
        stored = metadata.get("tensors_sha256")  # absent in checkpoints of earlier versions
        if stored is not None and stored != _tensors_sha256(tensors):
            raise TSMambaInputError(
                f"{self.path} does not match its own checksum: it was damaged on disk; delete "
                "it to start training over")
        for what in ("model/", "best/", "average/"):
            bad = [k for k, v in tensors.items() if k.startswith(what) and v.is_floating_point()
                   and not torch.isfinite(v).all()]
            if bad:
                raise TSMambaInputError(f"{self.path}: {bad[0]!r} holds NaN or inf; delete the "
                                        "checkpoint to start training over")
        self._remove_killed_writes()

        def part(prefix):
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        model.load_state_dict(part("model/"))
        if average is not None:
            average.load_state_dict(part("average/"))
        slots: dict[int, dict] = {}
        for key, value in part("optimiser/").items():
            index, name = key.split("/")
            slots.setdefault(int(index), {})[name] = value
        optimiser.load_state_dict({"state": slots, "param_groups": metadata["param_groups"]})
        scheduler.load_state_dict(metadata["scheduler"])
        torch.set_rng_state(tensors["rng/torch"])
        generator.set_state(tensors["rng/generator"])
        cuda_states = part("rng/cuda/")
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([cuda_states[str(i)] for i in range(len(cuda_states))])
        return LoopState(**metadata["loop"]), part("best/")
