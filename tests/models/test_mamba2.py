"""Mamba-2's block: the SSD mixer against a step-by-step evaluation, heads and groups."""

import pytest
import torch
import torch.nn.functional as F

from tsmamba.kernels.ssd import naive_ssd
from tsmamba.models.mamba2 import Mamba2Mixer


def test_mixer_equals_its_recurrence_for_a_length_off_the_chunk():
    """The block with the chunked SSD equals the same block computed with the sequential
    reference, at a length that is not a multiple of the chunk."""
    torch.manual_seed(0)
    mixer = Mamba2Mixer(d_model=8, d_state=4, expand=2, head_dim=4, n_groups=2, chunk_size=8)
    u = torch.randn(2, 21, 8)
    with torch.no_grad():
        fast = mixer(u)
        import tsmamba.models.mamba2 as module

        real = module.ssd
        module.ssd = lambda *a, **k: naive_ssd(*a, **k)
        try:
            slow = mixer(u)
        finally:
            module.ssd = real
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)


def test_shapes_heads_and_causality():
    torch.manual_seed(0)
    mixer = Mamba2Mixer(d_model=8, d_state=4, expand=2, head_dim=4)
    assert mixer.n_heads == 4 and mixer.A_log.shape == (4,)
    assert 1 <= torch.exp(mixer.A_log).min() and torch.exp(mixer.A_log).max() <= 16
    dt = F.softplus(mixer.dt_bias)
    assert dt.min() >= 1e-3 * (1 - 1e-4) and dt.max() <= 1e-1 * (1 + 1e-4)
    u = torch.randn(1, 12, 8)
    later = u.clone()
    later[:, 8:] += 1.0
    with torch.no_grad():
        torch.testing.assert_close(mixer(u)[:, :8], mixer(later)[:, :8])


def test_sizes_that_do_not_divide_are_refused():
    with pytest.raises(ValueError, match="divisible by head_dim"):
        Mamba2Mixer(d_model=10, head_dim=16)
    with pytest.raises(ValueError, match="divisible by n_groups"):
        Mamba2Mixer(d_model=8, head_dim=4, n_groups=3)
