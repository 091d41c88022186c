"""`--devices N`: the same command in N worker processes on this machine, started by torch's
own launcher (`torch.distributed.run`, what `torchrun` runs), never by a launcher of ours.

    tsmamba fit data.csv --out m --devices 2
is
    torchrun --standalone --nproc-per-node 2 -m tsmamba.cli fit data.csv --out m

Across machines, start torchrun on each yourself (README, "Training on several GPUs").
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

Devices = Annotated[int, typer.Option(
    min=1, help="Train on N processes of this machine (N GPUs, or N CPU processes), started "
                "through torchrun; 1: this process.")]


def without_devices(args: list[str]) -> list[str]:
    """The command line minus its --devices option."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--devices":
            skip = True
        elif not arg.startswith("--devices="):
            kept.append(arg)
    return kept


def run_on(devices: int, device: str) -> bool:
    """With devices > 1, run this command line in `devices` workers and return True when
    they end (exit status 1 when one failed; its error is on stderr already); False: run it
    here."""
    if devices == 1:
        return False
    from tsmamba.errors import TSMambaInputError

    if "WORLD_SIZE" in os.environ:
        raise TSMambaInputError("--devices under torchrun: torchrun has started the workers "
                                "already; drop --devices")
    import torch

    if device != "cpu" and torch.cuda.is_available() and devices > torch.cuda.device_count():
        raise TSMambaInputError(f"--devices {devices} but this machine has "
                                f"{torch.cuda.device_count()} GPU(s); ask for at most that many")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    if device == "cpu" or not torch.cuda.is_available():
        # N processes share the cores; torchrun would give each one thread, with a warning.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // devices)))
    try:
        torchrun(["--standalone", f"--nproc-per-node={devices}", "-m", "tsmamba.cli",
                  *without_devices(sys.argv[1:])])
    except ChildFailedError:
        raise typer.Exit(1) from None
    return True
