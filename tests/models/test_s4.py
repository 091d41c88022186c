"""S4D: HiPPO initialisations, and the recurrent mode equal to the convolution mode."""

import math

import pytest
import torch

from tsmamba.models.s4 import S4Block, S4D, hippo_diagonal


@pytest.mark.parametrize("init", ["lin", "inv"])
def test_recurrent_steps_equal_the_fft_convolution(init):
    torch.manual_seed(0)
    block = S4Block(d_model=6, d_state=16, init=init, dropout=0.0).eval()
    x = torch.randn(3, 37, 6)  # (b, l, d)
    with torch.no_grad():
        parallel = block(x)
        state = block.init_state(3)
        recurrent = torch.stack([block.step(x[:, t], state) for t in range(37)], dim=1)
    torch.testing.assert_close(recurrent, parallel, rtol=1e-4, atol=1e-5)


def test_kernel_is_the_impulse_response():
    torch.manual_seed(1)
    layer = S4D(d_model=4, d_state=8)
    impulse = torch.zeros(1, 20, 4)
    impulse[:, 0] = 1.0
    with torch.no_grad():
        response = layer(impulse)[0] - layer.D * impulse[0]  # (l, d)
        torch.testing.assert_close(response.T, layer.kernel(20), rtol=1e-4, atol=1e-6)


def test_convolution_is_causal():
    torch.manual_seed(2)
    layer = S4D(d_model=3, d_state=8)
    x = torch.randn(1, 30, 3)
    later = x.clone()
    later[:, 20:] += 1.0
    with torch.no_grad():
        torch.testing.assert_close(layer(x)[:, :20], layer(later)[:, :20])


def test_hippo_initialisations():
    real, imag = hippo_diagonal(8, "lin")
    assert torch.all(real == -0.5)
    torch.testing.assert_close(imag, math.pi * torch.arange(4.0))
    _, imag = hippo_diagonal(8, "inv")
    torch.testing.assert_close(imag, (8 / math.pi) * (8 / (2 * torch.arange(4.0) + 1) - 1))
    with pytest.raises(ValueError, match="unknown S4D init"):
        hippo_diagonal(8, "legs")


def test_every_parameter_gets_a_gradient():
    block = S4Block(d_model=4, d_state=8, init="inv", dropout=0.0)
    block(torch.randn(2, 16, 4)).pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
