"""The thread count of CPU fits: the cores other runnable processes leave."""

import pytest
import torch

from tsmamba import TSMambaInputError
from tsmamba import cpu_threads


@pytest.mark.parametrize("runnable, cores, most, expected", [
    ([1, 1, 1], 2, 2, 2),  # only this process: every core
    ([2, 2, 3], 2, 2, 1),  # one busy neighbour on 2 cores: one thread
    ([3, 3, 3], 2, 2, 1),  # never fewer than one
    ([2, 2, 2], 8, 4, 4),  # never more than PyTorch was set to use
    ([1, 9, 1], 2, 2, 2),  # the median: a passing spike is not load
])
def test_threads_left(runnable, cores, most, expected):
    assert cpu_threads.threads_left(runnable, cores, most) == expected


def test_the_environment_fixes_the_count_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv(cpu_threads.ENV, "1")
    assert cpu_threads.fit_threads() == 1
    monkeypatch.setenv(cpu_threads.ENV, "two")
    with pytest.raises(TSMambaInputError, match="TSMAMBA_CPU_THREADS='two'"):
        cpu_threads.fit_threads()


def test_training_threads_restores_the_setting(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv(cpu_threads.ENV, "1")
    with cpu_threads.training_threads(torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_auto_counts_the_runnable_processes(monkeypatch):
    monkeypatch.delenv(cpu_threads.ENV, raising=False)
    monkeypatch.setattr(cpu_threads, "_runnable_now", lambda: 2)
    monkeypatch.setattr(cpu_threads, "_cores", lambda: 2)
    monkeypatch.setattr(cpu_threads, "INTERVAL_S", 0.0)
    assert cpu_threads.fit_threads() == 1
    monkeypatch.setattr(cpu_threads, "_runnable_now", lambda: None)  # not Linux
    assert cpu_threads.fit_threads() == torch.get_num_threads()
