"""The training loop: Adam on MSE, gradient clipping, early stopping on a validation split.

Kept apart from the estimator so the loop reads on its own and the estimator stays about data
and the scikit-learn contract.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .data import SlidingWindows

EVAL_BATCH = 256
GRAD_CLIP = 1.0


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the message names the epoch and step."""


@dataclass
class TrainSettings:
    learning_rate: float
    batch_size: int
    max_epochs: int
    max_steps_per_epoch: int | None
    patience: int
    progress: bool


@dataclass
class TrainResult:
    best_epoch: int
    epochs_run: int
    log: list[dict] = field(default_factory=list)  # one {"epoch", "train_loss", "val_loss"} each


def _progress_bar(enabled: bool) -> Progress:
    # Progress goes to stderr only, and only to a terminal: piped output and CI logs stay clean.
    console = Console(stderr=True)
    return Progress(TextColumn("[bold]fit"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[losses]}"), TimeElapsedColumn(), console=console,
                    disable=not (enabled and sys.stderr.isatty()), transient=False)


@torch.no_grad()
def evaluate(model: nn.Module, windows: SlidingWindows, device: torch.device) -> float:
    """Mean squared error over every window."""
    model.eval()
    total, count = 0.0, 0
    for x, y in windows.batches(EVAL_BATCH):
        pred = model(x.to(device))
        total += torch.sum((pred - y.to(device)) ** 2).item()
        count += y.numel()
    return total / max(count, 1)


def train(model: nn.Module, train_windows: SlidingWindows, val_windows: SlidingWindows | None,
          settings: TrainSettings, device: torch.device, generator: torch.Generator) -> TrainResult:
    """Train in place; on return the model holds the weights of the best validation epoch."""
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    result = TrainResult(best_epoch=0, epochs_run=0)
    best_loss, best_state, stale = float("inf"), None, 0
    with _progress_bar(settings.progress) as bar:
        task = bar.add_task("fit", total=settings.max_epochs, losses="")
        for epoch in range(1, settings.max_epochs + 1):
            model.train()
            running, steps = 0.0, 0
            for x, y in train_windows.batches(settings.batch_size, generator,
                                              settings.max_steps_per_epoch):
                loss = torch.mean((model(x.to(device)) - y.to(device)) ** 2)
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"the training loss became {loss.item()} at epoch {epoch}, step "
                        f"{steps + 1}; lower learning_rate or check the data for extreme values")
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
                optimiser.step()
                running += loss.item()
                steps += 1
            train_loss = running / max(steps, 1)
            val_loss = evaluate(model, val_windows, device) if val_windows else train_loss
            result.log.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            result.epochs_run = epoch
            bar.update(task, advance=1,
                       losses=f"train {train_loss:.4f}  val {val_loss:.4f}")
            if val_loss < best_loss:
                best_loss, stale, result.best_epoch = val_loss, 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if stale >= settings.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
