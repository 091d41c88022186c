"""How many threads a CPU fit runs on: fewer when other processes already keep cores busy.

PyTorch splits every large CPU op across its intra-op threads, and each op waits for all of
them. With a busy neighbour on a 2-core machine, one of two threads is often off its core, so
each of the thousands of small ops a training step makes waits for it: measured on the 2-core
machine (BENCHMARKS.md), a TSM2 fit took 2.5-3.0x its quiet time on 2 threads beside one busy
process, and 1.2x on 1 thread. So before training, the processes that are runnable right now
are counted (/proc/loadavg, Linux), and the fit takes the cores they leave, never more threads
than PyTorch was set to use. TSMAMBA_CPU_THREADS=N fixes the count instead: results are
bit-identical only between fits on the same number of threads.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

import torch

from .errors import TSMambaInputError

ENV = "TSMAMBA_CPU_THREADS"
SAMPLES, INTERVAL_S = 9, 0.005


def _runnable_now() -> int | None:
    """Processes (threads) runnable at this instant, this one included; None off Linux."""
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            return int(handle.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_left(runnable: list[int], cores: int, most: int) -> int:
    """Threads for a fit, given samples of the runnable count (each including the process
    that reads it): the cores the others leave, between 1 and `most`."""
    others = max(0, round(statistics.median(runnable)) - 1)
    return max(1, min(most, cores - others))


def fit_threads() -> int:
    """The threads a CPU fit should use now (see the module docstring)."""
    fixed = os.environ.get(ENV)
    if fixed:
        if not fixed.isdigit() or int(fixed) < 1:
            raise TSMambaInputError(f"{ENV}={fixed!r}; set it to a positive number of threads "
                                    "or unset it")
        return int(fixed)
    samples = []
    for _ in range(SAMPLES):
        count = _runnable_now()
        if count is None:
            return torch.get_num_threads()
        samples.append(count)
        time.sleep(INTERVAL_S)
    return threads_left(samples, _cores(), torch.get_num_threads())


@contextlib.contextmanager
def training_threads(device: torch.device):
    """Run the block on `fit_threads()` threads when training on the CPU, then restore."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(fit_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)
