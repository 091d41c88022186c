"""Mamba's block: the recurrent step mode equal to the parallel scan, and its initialisation."""

import math

import pytest
import torch

from tsmamba.models.mamba import MambaMixer


def test_recurrent_steps_equal_the_parallel_scan():
    torch.manual_seed(0)
    mixer = MambaMixer(d_model=6, d_state=8, expand=2, d_conv=4).eval()
    x = torch.randn(3, 29, 6)  # (b, l, d); longer than the conv so its window wraps
    with torch.no_grad():
        parallel = mixer(x)
        state = mixer.init_state(3)
        recurrent = torch.stack([mixer.step(x[:, t], state) for t in range(29)], dim=1)
    torch.testing.assert_close(recurrent, parallel, rtol=1e-4, atol=1e-5)


def test_initialisation_follows_the_paper():
    torch.manual_seed(0)
    ssm = MambaMixer(d_model=32, d_state=16).forward_ssm
    torch.testing.assert_close(torch.exp(ssm.A_log[0]), torch.arange(1.0, 17.0))
    dt = torch.nn.functional.softplus(ssm.dt_bias)
    assert dt.min() >= 1e-3 * (1 - 1e-4) and dt.max() <= 1e-1 * (1 + 1e-4)
    assert torch.all(ssm.D == 1)
    assert ssm.dt_rank == math.ceil(64 / 32)


def test_a_bidirectional_mixer_has_no_step_mode():
    mixer = MambaMixer(d_model=4, d_state=2, bidirectional=True)
    with pytest.raises(NotImplementedError, match="bidirectional"):
        mixer.step(torch.randn(1, 4), mixer.init_state(1))
