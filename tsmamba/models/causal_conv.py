"""The causal depthwise convolution in front of every selective scan.

On a CPU, `F.conv1d` of a (b, d, l) input with d groups costs more than its arithmetic: its
backward, through oneDNN, took 6.4 ms a call at TSM2's demo shapes (l = 5 and 12, d = 64),
14 % of a training step (torch profiler, 2-core machine). With a kernel of 4 taps the
convolution is four shifted products, which are summed here as a few elementwise ops whose
backward autograd derives. On a GPU cuDNN's kernel stays: one launch instead of a dozen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_depthwise_conv(x: torch.Tensor, weight: torch.Tensor,
                          bias: torch.Tensor | None) -> torch.Tensor:
    """y_t = bias + sum_j weight[:, 0, j] x_{t - (k - 1) + j}, with x zero before the start.

    x: (b, d, l); weight: (d, 1, k), as `nn.Conv1d(d, d, k, groups=d)` holds it; bias: (d,).
    """
    d, l, k = x.shape[1], x.shape[-1], weight.shape[-1]
    if x.device.type != "cpu":
        return F.conv1d(x, weight, bias, padding=k - 1, groups=d)[..., :l]
    taps = weight[:, 0]  # (d, k)
    y = x * taps[:, k - 1, None]  # the current step's tap
    if bias is not None:
        y = y + bias[:, None]
    padded = F.pad(x, (k - 1, 0))
    for j in range(k - 1):  # tap j reads the input k - 1 - j steps back
        y = y + padded[..., j:j + l] * taps[:, j, None]
    return y
