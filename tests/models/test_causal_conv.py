"""The causal depthwise convolution against `F.conv1d`, values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from tsmamba.models.causal_conv import causal_depthwise_conv


@pytest.mark.parametrize("l", [1, 2, 3, 5, 40])  # shorter than the kernel, too
@pytest.mark.parametrize("with_bias", [True, False])
def test_matches_conv1d_with_its_right_padding_cut(l, with_bias):
    g = torch.Generator().manual_seed(l)
    b, d, k = 3, 6, 4
    x = torch.randn(b, d, l, generator=g, requires_grad=True)
    weight = torch.randn(d, 1, k, generator=g, requires_grad=True)
    bias = torch.randn(d, generator=g, requires_grad=True) if with_bias else None
    leaves = [t for t in (x, weight, bias) if t is not None]
    w = torch.randn(b, d, l, generator=g)
    outs, grads = [], []
    for fn in (causal_depthwise_conv,
               lambda x, wt, bs: F.conv1d(x, wt, bs, padding=k - 1, groups=d)[..., :l]):
        y = fn(x, weight, bias)
        outs.append(y)
        grads.append(torch.autograd.grad((y * w).sum(), leaves))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    for mine, ref in zip(*grads):
        torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-5)


def test_each_step_sees_only_itself_and_the_steps_before():
    x = torch.zeros(1, 2, 9, requires_grad=True)
    y = causal_depthwise_conv(x, torch.ones(2, 1, 4), None)
    (grad,) = torch.autograd.grad(y[0, :, 5].sum(), x)
    assert grad[0].nonzero()[:, 1].unique().tolist() == [2, 3, 4, 5]
