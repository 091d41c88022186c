"""An exponential moving average (EMA) of a network's weights over the training steps.

After every optimiser step the average moves towards the live weights:
    average <- decay * average + (1 - decay) * weights
starting from the weights the network was built with. Validation, early stopping's best
epoch and so the fitted model use the average; the optimiser keeps training the live weights.
With the few hundred steps of a default fit, the average smooths out the last steps' noise:
in the defaults search (BENCHMARKS.md, "The estimator's defaults") decay 0.98 lowered the
validation MSE on each of six datasets.

Buffers (none of the models have running statistics) are copied, not averaged. The swap in
`applied` copies values in place, so tensors that a captured CUDA graph reads stay the same
tensors.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn


class WeightAverage:
    """The running average of `model`'s floating-point parameters, kept beside it."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.live = [p for p in model.parameters() if p.is_floating_point()]
        self.average = [p.detach().clone() for p in self.live]
        self._names = [name for name, p in model.named_parameters() if p.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average (after an optimiser step); no host synchronisation."""
        torch._foreach_lerp_(self.average, [p.detach() for p in self.live], 1.0 - self.decay)

    @contextmanager
    def applied(self):
        """The model holds the averaged weights inside the block, its own weights after."""
        with torch.no_grad():
            saved = [p.detach().clone() for p in self.live]
            torch._foreach_copy_([p.detach() for p in self.live], self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.detach() for p in self.live], saved)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averages by parameter name (for checkpoints)."""
        return dict(zip(self._names, self.average))

    @torch.no_grad()
    def load_state_dict(self, averages: dict[str, torch.Tensor]) -> None:
        missing = set(self._names) - set(averages)
        if missing:
            raise KeyError(f"the weight average lacks {sorted(missing)[0]!r}")
        for name, average in zip(self._names, self.average):
            average.copy_(averages[name])
