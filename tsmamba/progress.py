"""What a fit tells the user while it runs, always on stderr (stdout stays the forecast's).

In a terminal or a notebook, rich's bar; anywhere else (a pipe, a log file, CI), one plain
line per epoch, since a bar that redraws itself is noise in a log and invisible in a pipe.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class EpochProgress:
    """A context manager: `epoch_done(epoch, train_loss, val_loss)` after every epoch."""

    def __init__(self, enabled: bool, total: int, done: int = 0, stream=None):
        self.enabled, self.total, self.done = enabled, total, done
        self.stream = stream if stream is not None else sys.stderr
        console = Console(file=self.stream)
        self.bar = None
        if enabled and (console.is_terminal or console.is_jupyter):
            self.bar = Progress(TextColumn("[bold]fit"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[losses]}"), TimeElapsedColumn(),
                                console=console, transient=False)

    def __enter__(self) -> EpochProgress:
        self.started = time.perf_counter()
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task("fit", total=self.total, completed=self.done,
                                          losses="")
        return self

    def epoch_done(self, epoch: int, train_loss: float, val_loss: float | None) -> None:
        losses = f"train {train_loss:.4f}" + (f"  val {val_loss:.4f}" if val_loss is not None
                                              else "")
        if self.bar is not None:
            self.bar.update(self.task, advance=1, losses=losses)
        elif self.enabled:
            elapsed = time.perf_counter() - self.started
            print(f"epoch {epoch}/{self.total}  {losses}  {elapsed:.1f} s", file=self.stream,
                  flush=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
