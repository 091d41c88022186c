"""The training loop: Adam on a pointwise loss (MSE unless chosen otherwise), gradient clipping,
early stopping on the validation split's MSE; optionally channel mixup (`augmentation.py`)
and distillation from a teacher's forecasts (`distillation.py`).

The first `warmup_epochs` epochs train at the full learning rate and do not count towards
`lr_decay`: epoch E trains at learning_rate * lr_decay ** max(0, E - 1 - warmup_epochs)
(CMamba's schedule is warmup_epochs=2 with lr_decay=0.9).

Kept apart from the estimator so the loop reads on its own and the estimator stays about data
and the scikit-learn contract.

On CUDA a whole training step (forward, backward, clipping, Adam) is captured once as a CUDA
graph and replayed for every full batch (`training_step.py`): a step of these small networks
is otherwise bound by launching hundreds of tiny kernels. `TSMAMBA_CUDA_GRAPHS=0` turns this
off (tests/test_cuda_graphs.py checks it against the plain step on a GPU).
"""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import distributed
from .augmentation import channel_mixup
from .checkpoint import Checkpointer, LoopState
from .cpu_threads import training_threads
from .data import SlidingWindows
from .distillation import teacher_forecast
from .errors import NonFiniteError, TSMambaInputError
from .inference import mean_errors
from .models import build_config, build_model
from .progress import EpochProgress
from .adam import EpochSchedule
from .training_step import CapturedStep, TrainingStep, can_capture, make_optimiser
from .weight_average import WeightAverage


# Training losses on the scaled values. Early stopping compares validation MSE whatever the
# loss, so a robust loss changes what the network fits, not how the best epoch is chosen. Huber is
# quadratic within one standard deviation of the training data and linear beyond it.
LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


@dataclass
class TrainSettings:
    learning_rate: float
    batch_size: int
    max_epochs: int
    max_steps_per_epoch: int | None
    patience: int
    progress: bool
    lr_decay: float = 1.0  # the learning rate is multiplied by this after every epoch
    loss: str = "mse"  # a key of LOSSES
    warmup_epochs: int = 0  # first epochs at the full rate, not counted by lr_decay
    augment: str | None = None  # None or "channel_mixup"
    mixup_sigma: float = 1.0  # the mixing weights' standard deviation
    distill_weight: float = 0.5  # w in (1 - w) loss(truth) + w loss(teacher), with a teacher
    ema_decay: float = 0.0  # validate and keep an EMA of the weights (weight_average.py); 0: off

    @classmethod
    def from_params(cls, params) -> TrainSettings:
        """The training-loop settings among an estimator's parameters."""
        return cls(params["learning_rate"], params["batch_size"], params["max_epochs"],
                   params["max_steps_per_epoch"], params["patience"], params["progress"],
                   params["lr_decay"], params["loss"], params["warmup_epochs"],
                   params["augment"], params["mixup_sigma"], params["distill_weight"],
                   params["ema_decay"])

    def lr_factor(self, epochs_done: int) -> float:
        """The learning rate after `epochs_done` epochs, as a multiple of learning_rate."""
        return self.lr_decay ** max(0, epochs_done - self.warmup_epochs)


def _train_epoch(step, windows, settings, device, generator, epoch, teacher=None,
                 average=None, place=distributed.World()) -> float:
    """One pass over the training windows; the mean training loss. The steps' losses stay on
    the device until the epoch ends, so the loop never waits for the GPU.

    In distributed training every rank draws the same global batches (and mixup weights) and
    trains on its shard of each (`distributed.py`)."""
    step.model.train()
    losses = []
    for x, y in windows.batches(settings.batch_size * place.size, generator,
                                settings.max_steps_per_epoch):
        x, y = x.to(device), y.to(device)  # (global batch, lookback, m), (global batch, f, m)
        if settings.augment == "channel_mixup":
            x, y = channel_mixup(x, y, settings.mixup_sigma, generator)
        scale = 1.0
        if place.active:
            if len(x) < place.size:  # a last batch too small to give every rank a window
                continue
            mine = distributed.shard(len(x), place)
            scale = (mine.stop - mine.start) * place.size / len(x)
            x, y = x[mine], y[mine]  # (this rank's windows, ...)
        losses.append(step(x, y, teacher(x) if teacher is not None else None, scale))
        if average is not None:
            average.update()
    values = torch.stack(losses) if losses else torch.zeros(1, device=device)
    if place.active:  # each step's loss over the global batch: the mean of the scaled ones
        with distributed.peer_failures():
            torch.distributed.all_reduce(values)
        values = values / place.size
    values = values.cpu()
    bad = (~torch.isfinite(values)).nonzero()
    if len(bad):
        first = int(bad[0])
        raise NonFiniteError(
            f"the training loss became {values[first].item()} at epoch {epoch}, step "
            f"{first + 1}; lower learning_rate or check the data for extreme values")
    return values.mean().item()


def train(model: nn.Module, train_windows: SlidingWindows, val_windows: SlidingWindows | None,
          settings: TrainSettings, device: torch.device, generator: torch.Generator,
          checkpointer: Checkpointer | None = None, teacher: nn.Module | None = None) -> LoopState:
    """Train in place; on return the model holds the weights of the best validation epoch.

    With a checkpointer, every completed epoch is saved and an earlier run of the same
    settings and data is resumed from its last complete epoch. With a teacher (windows ->
    forecasts, as `distillation.TeacherForecast`), the loss is distilled. With
    `settings.ema_decay` > 0, validation and the returned weights are those of the weights'
    moving average (`weight_average.py`).
    """
    place = distributed.join(device)
    # Under DDP each step all-reduces gradients between ranks, which a captured graph of
    # this loop does not do: the step runs eagerly there.
    captured = can_capture(device, len(train_windows), settings.batch_size) and not place.active
    optimiser = make_optimiser(model, settings.learning_rate, device, captured)
    scheduler = EpochSchedule(optimiser, settings.lr_factor)
    state, best_state = LoopState(), None
    average = WeightAverage(model, settings.ema_decay) if settings.ema_decay > 0 else None
    if checkpointer is not None:  # under DDP rank 0 alone has one
        resumed = checkpointer.restore(model, optimiser, scheduler, generator, average)
        if resumed is not None:
            state, best_state = resumed
    if place.active:
        state, best_state = _same_start(model, optimiser, scheduler, generator, average,
                                        state, best_state, place)
    trained = (torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
               if place.active else model)
    step = _training_step(trained, optimiser, settings, train_windows, device, captured, teacher)
    dropout_seed = torch.initial_seed()
    with EpochProgress(settings.progress and place.leads, settings.max_epochs,
                       state.epoch) as progress, distributed.peer_failures():
        while not state.finished and state.epoch < settings.max_epochs:
            epoch = state.epoch + 1
            if place.active:  # other dropout masks on every rank, the same after a resume
                torch.manual_seed((dropout_seed * 1_000_003 + place.rank * 10_007 + epoch)
                                  % 2 ** 63)
            train_loss = _train_epoch(step, train_windows, settings, device, generator, epoch,
                                      teacher, average, place)
            with average.applied() if average is not None else nullcontext():
                if not place.leads:  # one decision, rank 0's: the others need not validate
                    val_loss = distributed.broadcast(None, place)
                else:
                    val_loss = distributed.broadcast(
                        mean_errors(model, val_windows).mse if val_windows else train_loss,
                        place)
                improved = val_loss < state.best_loss
                if improved:
                    best_state = copy.deepcopy(model.state_dict())
            if not math.isfinite(val_loss):
                raise NonFiniteError(f"the validation loss became {val_loss} after epoch "
                                     f"{epoch}; lower learning_rate")
            scheduler.step()
            state.epoch = epoch
            state.log.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            if improved:
                state.best_loss, state.best_epoch, state.stale = val_loss, epoch, 0
            else:
                state.stale += 1
            state.finished = state.stale >= settings.patience or epoch == settings.max_epochs
            if checkpointer is not None:
                checkpointer.save(model, best_state, optimiser, scheduler, generator, state,
                                  average)
            progress.epoch_done(epoch, train_loss, val_loss if val_windows else None)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return state


def _same_start(model, optimiser, scheduler, generator, average, state, best_state, place):
    """Every rank starts from rank 0's state: the checkpoint it resumed, if any."""
    resumed = distributed.broadcast(
        None if state.epoch == 0 else {
            "model": model.state_dict(), "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
            "average": average.state_dict() if average is not None else None,
            "state": state, "best": best_state}, place)
    if resumed is None or place.leads:
        return state, best_state
    model.load_state_dict(resumed["model"])
    optimiser.load_state_dict(resumed["optimiser"])
    scheduler.load_state_dict(resumed["scheduler"])
    generator.set_state(resumed["generator"])
    if average is not None:
        average.load_state_dict(resumed["average"])
    return resumed["state"], resumed["best"]


def _training_step(model, optimiser, settings, windows, device, captured, teacher):
    """The step of `model` (the network, or its DistributedDataParallel wrapper)."""
    loss_fn = LOSSES[settings.loss]
    if not captured:
        return TrainingStep(model, optimiser, loss_fn, settings.distill_weight)
    model.train()
    x, y = windows.batch(torch.arange(settings.batch_size))  # (batch, lookback, m), (batch, f, m)
    x, y = x.to(device), y.to(device)
    return CapturedStep(model, optimiser, loss_fn, settings.distill_weight, x, y,
                        teacher(x) if teacher is not None else None)


class Trained(NamedTuple):
    network: nn.Module  # on the device it trained on, in eval mode, at its best epoch
    config: object  # the network's config dataclass
    state: LoopState


def build_and_train(params, columns: list, scaler, train_windows: SlidingWindows,
                    val_windows: SlidingWindows | None, device: torch.device,
                    checkpointer: Checkpointer | None = None, n_covariates: int = 0,
                    n_past: int = 0, n_static: int = 0) -> Trained:
    """The one way from estimator parameters (`TSMambaForecaster.get_params()`, validated by
    `tsmamba.validation.check_params`) to a trained network: `fit`, backtests and
    cross-validation all come here. The windows hold the series `columns`, scaled by `scaler`,
    on `device`; a `teacher` among the parameters distils (`distillation.teacher_forecast`).
    With `n_covariates` known in the future (the last `n_static` of them static features) or
    `n_past` observed only in the past (the windows carry them), the network adds their
    effects (`models.covariate_effects`).

    Seeded by `params["random_state"]` alone: the caller's random state is left as it was,
    so the same seed gives the same network on CPU (on the same number of threads, which
    `cpu_threads.training_threads` picks)."""
    if (n_covariates or n_past) and params["teacher"] is not None:
        raise TSMambaInputError("a teacher cannot distil into a model with covariates yet "
                                "(futr_exog, hist_exog or calendar=True); fit without "
                                "teacher=")
    config = build_config(params["model"], params["model_options"], n_series=len(columns),
                          n_future_covariates=n_covariates, n_past_covariates=n_past,
                          n_static_covariates=n_static, relative_past_covariates=True,
                          relative_future_covariates=True,
                          **params)
    teacher = (teacher_forecast(params["teacher"], columns, params["lookback"],
                                params["horizon"], scaler, device)
               if params["teacher"] is not None else None)
    seed = params["random_state"]
    fork = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork), training_threads(device):
        torch.manual_seed(seed)
        try:
            network = build_model(params["model"], config).to(device)
        except (RuntimeError, MemoryError) as exc:  # the allocator, for sizes far too large
            if "alloc" not in str(exc) and "out of memory" not in str(exc) and \
                    not isinstance(exc, MemoryError):
                raise
            raise TSMambaInputError(
                f"the {params['model']} network (d_model={params['d_model']}, d_state="
                f"{params['d_state']}, n_layers={params['n_layers']}) does not fit in the "
                f"memory of {device}; make it smaller") from None
        generator = torch.Generator().manual_seed(seed)
        state = train(network, train_windows, val_windows, TrainSettings.from_params(params),
                      device, generator, checkpointer, teacher)
    return Trained(network, config, state)
