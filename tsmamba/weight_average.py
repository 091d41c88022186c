"""An exponential moving average (EMA) of a network's weights over the training steps.

After step t the average is that of the weights after steps 1..t, step s weighted by
decay ** (t - s): the exponential average started from zero, divided by 1 - decay ** t, as
Adam corrects its moments. Without that correction the weights the network was built with
would keep a weight of decay ** t, which after the few steps of a short series (a 40-epoch
fit of one batch per epoch, at decay 0.98: 45 %) is most of the model. It is kept in the
corrected form, moved by (1 - decay) / (1 - decay ** t) towards the weights at every step.

Validation, early stopping's best epoch and so the fitted model use the average; the optimiser
keeps training the live weights. With the few hundred steps of a default fit, the average
smooths out the last steps' noise (BENCHMARKS.md, "The estimator's defaults").

Buffers are not averaged (none of the models keeps running statistics in them). The swap in
`applied` copies values in place, so tensors that a captured CUDA graph reads stay the same
tensors.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn

STEPS = "<steps>"


class WeightAverage:
    """The running average of `model`'s floating-point parameters, kept beside it."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.steps = 0
        named = [(n, p) for n, p in model.named_parameters() if p.is_floating_point()]
        self._names = [name for name, _ in named]
        # Detached once: they share the parameters' storage, which the optimiser updates in
        # place, so every step reads the current weights without building new views.
        self.live = [p.detach() for _, p in named]
        self.average = [p.clone() for p in self.live]

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average (after an optimiser step); no host synchronisation."""
        self.steps += 1
        weight = (1.0 - self.decay) / (1.0 - self.decay ** self.steps)  # 1 at the first step
        torch._foreach_lerp_(self.average, self.live, weight)

    @contextmanager
    def applied(self):
        """The model holds the averaged weights inside the block, its own weights after."""
        with torch.no_grad():
            saved = [p.clone() for p in self.live]
            torch._foreach_copy_(self.live, self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.live, saved)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averages by parameter name, and the steps averaged under STEPS (for
        checkpoints; no parameter name has that form)."""
        return {**dict(zip(self._names, self.average)), STEPS: torch.tensor(self.steps)}

    @torch.no_grad()
    def load_state_dict(self, averages: dict[str, torch.Tensor]) -> None:
        missing = (set(self._names) | {STEPS}) - set(averages)
        if missing:
            raise KeyError(f"the weight average lacks {sorted(missing)[0]!r}")
        for name, average in zip(self._names, self.average):
            average.copy_(averages[name])
        self.steps = int(averages[STEPS])
