"""One optimisation step (forward, loss, backward, gradient clipping, Adam), and on CUDA the
same step captured whole as one CUDA graph.

A training step of these small networks launches hundreds of tiny kernels; on a GPU it is
bound by the CPU that launches them, not by the GPU (an H200 ran TSM2's ETTh1 backtest step
in 3.4 ms, of which the graphed forward and backward were 1.7 ms and clipping and Adam,
launched eagerly, 1.4 ms; BENCHMARKS.md). Captured whole, a step is a copy of the batch into
the graph's inputs and one replay. Adam then takes its learning rate from a tensor on the
device, which the scheduler updates in place, so that the graph sees every epoch's rate.

Nothing here synchronises with the GPU: a step returns its loss as a tensor on the device,
and the loop reads the epoch's losses once, at its end.
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn

from .adam import Adam

GRAD_CLIP = 1.0
CUDA_GRAPHS = os.environ.get("TSMAMBA_CUDA_GRAPHS", "1") != "0"
WARM_UP_STEPS = 3  # before a capture, on a side stream, as CUDA graphs require


def make_optimiser(model: nn.Module, learning_rate: float, device: torch.device,
                   captured: bool) -> Adam:
    """Adam, fused on CUDA (one kernel updates every parameter); for a captured step,
    capturable, with its learning rate as a tensor on the device."""
    return Adam(model.parameters(), learning_rate, fused=device.type == "cuda",
                capturable=captured, device=device)


class TrainingStep:
    """`step(x, y, teacher_y)`: one update of `model`; returns the loss (a device tensor).

    With a teacher's forecasts the loss is (1 - w) loss(truth) + w loss(teacher). `scale`
    multiplies the loss before the backward pass (a rank's share of a distributed batch)."""

    def __init__(self, model: nn.Module, optimiser: Adam, loss_fn,
                 distill_weight: float):
        self.model, self.optimiser = model, optimiser
        self.loss_fn, self.distill_weight = loss_fn, distill_weight

    def _update(self, x, y, teacher_y, scale=1.0):
        """Forward, backward, clip, Adam; gradients must be None on entry."""
        forecast = self.model(x)
        loss = self.loss_fn(forecast, y)
        if teacher_y is not None:
            weight = self.distill_weight
            loss = (1 - weight) * loss + weight * self.loss_fn(forecast, teacher_y)
        if scale != 1.0:
            loss = loss * scale
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), GRAD_CLIP)
        self.optimiser.step()
        return loss.detach()

    def __call__(self, x, y, teacher_y=None, scale=1.0) -> torch.Tensor:
        self.optimiser.zero_grad(set_to_none=True)
        return self._update(x, y, teacher_y, scale)


class CapturedStep(TrainingStep):
    """The step as one CUDA graph for batches of `batch_size`; other sizes run eagerly.

    Capturing needs a few real steps first (they allocate the gradients and Adam's moments);
    the weights and the optimiser's state are put back afterwards, in place, so training
    starts from exactly where it stood."""

    def __init__(self, model, optimiser, loss_fn, distill_weight, sample_x, sample_y,
                 sample_teacher_y=None):
        super().__init__(model, optimiser, loss_fn, distill_weight)
        self.inputs = [t.clone() for t in (sample_x, sample_y)]
        self.inputs.append(None if sample_teacher_y is None else sample_teacher_y.clone())
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        moments = {p: {k: v.clone() for k, v in s.items()} for p, s in optimiser.state.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARM_UP_STEPS):
                super().__call__(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        optimiser.zero_grad(set_to_none=True)  # the capture allocates them in its own pool
        with torch.cuda.graph(self.graph):
            self.loss = self._update(*self.inputs)
        model.load_state_dict(weights)  # copies into the same tensors the graph reads
        for param, state in optimiser.state.items():
            for key, value in state.items():
                if param in moments:
                    value.copy_(moments[param][key])
                else:
                    value.zero_()  # a fresh Adam: no step taken, zero moments
        self.batch_size = len(sample_x)

    def __call__(self, x, y, teacher_y=None, scale=1.0) -> torch.Tensor:
        if len(x) != self.batch_size or scale != 1.0:
            # Zeroed in place, not dropped: the graph keeps using these gradient tensors.
            self.optimiser.zero_grad(set_to_none=False)
            return self._update(x, y, teacher_y, scale)
        for static, value in zip(self.inputs, (x, y, teacher_y)):
            if static is not None:
                static.copy_(value)
        self.graph.replay()
        return self.loss.clone()


def can_capture(device: torch.device, n_windows: int, batch_size: int) -> bool:
    return device.type == "cuda" and CUDA_GRAPHS and n_windows >= batch_size
