"""Dropout whose CPU mask costs a quarter of PyTorch's.

On the CPU, `torch.nn.Dropout` draws one Bernoulli variate per element, and those draws were
29 % of an S4 training step on the 2-core machine (torch profiler, batch 64 x 7 series,
BENCHMARKS.md). Here a CPU mask comes from random bytes, eight to each 64-bit draw, each
kept when it is at least round(256 p): the rate is p rounded to a multiple of 1/256 (0.3 drops
77/256 = 0.3008), and kept values are scaled by the inverse of the rate actually kept, so the
expectation is unchanged. Seeded by the default generator, like torch's. On other devices
this is `torch.nn.functional.dropout`, which is fused there.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

_INT64 = torch.iinfo(torch.int64)


class Dropout(nn.Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.threshold = round(256 * p)  # bytes below it are dropped

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.threshold == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True)
        n = x.numel()
        draws = torch.randint(_INT64.min, _INT64.max, ((n + 7) // 8,), dtype=torch.int64)
        keep = draws.view(torch.uint8)[:n].view(x.shape) >= self.threshold
        return x * keep * (256 / (256 - self.threshold))

    def extra_repr(self) -> str:
        return f"p={self.p}"
