"""The instance normalisations around every network (`layers.InstanceNorm`)."""

import pytest
import torch

from tsmamba.models.layers import NORMS, InstanceNorm


def _windows():
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 24, 3, generator=g) * 4 + 10  # (b, l, m), far from zero mean


@pytest.mark.parametrize("kind", NORMS)
def test_denormalise_undoes_normalise(kind):
    norm = InstanceNorm(kind, n_series=3)
    if norm.affine:  # weights away from their identity start, so the map is exercised
        with torch.no_grad():
            norm.weight.copy_(torch.tensor([0.5, 2.0, -1.5]))
            norm.bias.copy_(torch.tensor([0.3, -0.2, 1.0]))
    x = _windows()
    z, stats = norm.normalise(x)
    torch.testing.assert_close(norm.denormalise(z, stats), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, level", [("revin", "mean"), ("last", "last")])
def test_the_level_taken_out_is_the_mean_or_the_last_value(kind, level):
    x = _windows()
    z, _ = InstanceNorm(kind).normalise(x)
    if level == "mean":
        torch.testing.assert_close(z.mean(dim=1), torch.zeros(5, 3), atol=1e-5, rtol=0)
    else:
        assert torch.equal(z[:, -1, :], torch.zeros(5, 3))
    torch.testing.assert_close(z.std(dim=1, unbiased=False), torch.ones(5, 3), atol=1e-4, rtol=0)


def test_affine_weights_train_and_start_as_the_identity():
    norm = InstanceNorm("last_affine", n_series=3)
    x = _windows()
    z, stats = norm.normalise(x)
    torch.testing.assert_close(z, InstanceNorm("last").normalise(x)[0])
    norm.denormalise(z * 2, stats).sum().backward()
    assert norm.weight.grad is not None and norm.bias.grad.abs().sum() > 0
    assert [n for n, _ in InstanceNorm("revin").named_parameters()] == []


def test_an_unknown_norm_names_the_choices():
    with pytest.raises(ValueError, match="last_affine"):
        InstanceNorm("median")
