"""The CPU dropout drops at its stated rate, keeps the expectation, and is seeded."""

import pytest
import torch

from tsmamba.models.dropout import Dropout


def test_rate_expectation_and_seed():
    layer = Dropout(0.3).train()
    x = torch.ones(200_000)
    torch.manual_seed(0)
    y = layer(x)
    dropped = (y == 0).float().mean().item()
    assert dropped == pytest.approx(77 / 256, abs=0.004)  # 0.3 rounded to 1/256
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)
    assert torch.allclose(y.unique(), torch.tensor([0.0, 256 / 179]))
    torch.manual_seed(0)
    assert torch.equal(layer(x), y)  # the default generator seeds it
    assert torch.equal(layer.eval()(x), x) and torch.equal(Dropout(0.0).train()(x), x)


def test_gradient_flows_only_through_kept_values():
    x = torch.randn(3, 50, 8, requires_grad=True)
    y = Dropout(0.5).train()(x)
    y.sum().backward()
    assert torch.equal(x.grad == 0, y == 0) and torch.allclose(x.grad[y != 0], torch.tensor(2.0))


def test_rate_is_checked():
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        Dropout(1.0)
