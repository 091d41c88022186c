"""The `tsmamba` Typer app, the option types its commands share, and the one way every
command turns an error into a line on stderr.

Exit codes: 0 success, 1 a data or runtime error (one line on stderr, no traceback unless
--debug), 2 a usage error (unknown option, missing file).
"""

from __future__ import annotations

import enum
import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="tsmamba",
    help="Multivariate time-series forecasting with selective state-space models.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)


class FillGaps(str, enum.Enum):
    interpolate = "interpolate"
    ffill = "ffill"


class KeepDuplicate(str, enum.Enum):
    first = "first"
    last = "last"


class Augment(str, enum.Enum):
    channel_mixup = "channel_mixup"


INTERRUPTED = "interrupted: outputs are replaced only when complete, so none is half-written"
_told = []  # whether the line was written (main() writes it where typer exited silently)


def interrupted() -> typer.Exit:
    """The one line for Ctrl-C, and exit 130 (typer's own handler exits 130 without a word)."""
    typer.echo(INTERRUPTED, err=True)
    _told.append(True)
    return typer.Exit(130)


def _model_name(value: str) -> str:
    try:
        from tsmamba.errors import TSMambaInputError
        from tsmamba.models import check_model_name  # the first import of torch: a second
    except KeyboardInterrupt:
        raise interrupted() from None
    try:
        check_model_name(value)
    except TSMambaInputError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def parse_pairs(values: Optional[list[str]]) -> Optional[dict]:
    """KEY=VALUE pairs, values as text."""
    if not values:
        return None
    pairs = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE (for example init=lin)")
        pairs[key] = raw
    return pairs


def parse_options(values: Optional[list[str]]) -> Optional[dict]:
    """KEY=VALUE pairs; values are read as JSON when they parse (1, 0.5, true), else as text.
    For estimator settings (`--set`); model options are read by their types instead
    (`model_option_values`)."""
    pairs = parse_pairs(values)
    if pairs is None:
        return None
    options = {}
    for key, raw in pairs.items():
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def model_option_values(model: str, values: Optional[list[str]]) -> Optional[dict]:
    """`--option KEY=VALUE` pairs read as the model's option types (booleans as true/false,
    yes/no, on/off, 1/0)."""
    from tsmamba.models import options_from_text

    return options_from_text(model, parse_pairs(values))


def check_options(values: Optional[list[str]]) -> Optional[list[str]]:
    parse_pairs(values)  # a malformed pair is a usage error (exit 2), found before any work
    return values


def data_file(value: Optional[Path]) -> Optional[Path]:
    """An existing file, or "-" for CSV on stdin; anything else is a usage error (exit 2)."""
    if value is None or str(value) == "-":
        return value
    if not value.exists():
        raise typer.BadParameter(f"File '{value}' does not exist.")
    if value.is_dir():
        raise typer.BadParameter(f"File '{value}' is a directory.")
    return value


DataArg = Annotated[Optional[Path], typer.Argument(
    callback=data_file, show_default=False,
    help="CSV or Parquet file, one column per series and a time column ('-': CSV on stdin). "
         "Omit for demo data.")]
Horizon = Annotated[int, typer.Option(min=1, help="Steps to forecast.")]
Lookback = Annotated[int, typer.Option(min=1, help="Steps of history each forecast reads.")]
Model = Annotated[str, typer.Option(callback=_model_name,
                                    help="Network: tsm2, s4, mamba, mamba2 or groupmamba.")]
Options = Annotated[Optional[list[str]], typer.Option(
    "--option", callback=check_options,
    help="Model-specific setting KEY=VALUE (repeatable), e.g. init=lin for s4.")]
TimeCol = Annotated[Optional[str], typer.Option(help="Time column (detected when omitted).")]
FutrExog = Annotated[Optional[list[str]], typer.Option(
    "--futr-exog", help="A column of DATA known in the future (repeatable): an input, not a "
    "series to forecast; its future values come from --futr.")]
HistExog = Annotated[Optional[list[str]], typer.Option(
    "--hist-exog", help="A column of DATA observed only in the past (repeatable): an input "
    "over the lookback, not a series to forecast.")]
StatExog = Annotated[Optional[list[str]], typer.Option(
    "--stat-exog", help="A column of --static to use (repeatable; default: all of them).")]
StaticFile = Annotated[Optional[Path], typer.Option(
    "--static", exists=True, dir_okay=False,
    help="CSV or Parquet file of static features: the id column and a row a series (a "
         "global model over the series; s4, mamba, mamba2).")]
Calendar = Annotated[bool, typer.Option(
    help="Add hour of the day, day of the week and month of the year (as the frequency allows) "
         "as covariates known in the future.")]
FutrFile = Annotated[Optional[Path], typer.Option(
    "--futr", exists=True, dir_okay=False,
    help="CSV or Parquet file of the --futr-exog columns' values at the timestamps to forecast.")]
Freq = Annotated[Optional[str], typer.Option(
    help="Frequency such as h, 15min, D (inferred when omitted).")]
Gaps = Annotated[Optional[FillGaps], typer.Option(
    help="Fill missing timestamps instead of stopping.")]
Dups = Annotated[Optional[KeepDuplicate], typer.Option(
    "--drop-duplicates",
    help="Keep the first or last row of a duplicated timestamp instead of stopping.")]
Epochs = Annotated[int, typer.Option(min=1, help="Most training epochs.")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Output = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Write the forecast here (.csv or .parquet); stdout CSV when omitted.")]
PlotPath = Annotated[Optional[Path], typer.Option("--plot", help="Save a forecast plot (PNG).")]
PlotSeries = Annotated[Optional[list[str]], typer.Option(
    "--plot-series", help="A series to plot, in this order (repeatable; default: every series "
    "up to 12, then a note on the plot).")]
Debug = Annotated[bool, typer.Option(help="Show tracebacks.")]
Progress = Annotated[bool, typer.Option(
    "--progress/--no-progress", " /--quiet", " /-q",
    help="Progress on stderr while fitting: a bar in a terminal, one line per epoch elsewhere "
         "(--quiet: none).")]
Levels = Annotated[Optional[list[float]], typer.Option(
    "--level", help="Add a conformal prediction interval at this % (repeatable: 80, 95).")]
Teacher = Annotated[Optional[Path], typer.Option(
    exists=True, file_okay=False,
    help="A saved model (from `tsmamba fit`) to distil from: same columns, lookback, horizon.")]
DistillWeight = Annotated[float, typer.Option(
    min=0.0, max=1.0, help="Weight of the teacher's forecast in the training loss.")]
AugmentOption = Annotated[Optional[Augment], typer.Option(
    help="Training-time augmentation: channel_mixup mixes each window's series at random.")]
CheckpointDir = Annotated[Optional[Path], typer.Option(
    help="Checkpoint every epoch here; re-running the same command after a crash resumes.")]


def _warn_line(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def _fail(message: str, debug: bool, exc: BaseException) -> None:
    if debug:
        raise exc
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def guarded(debug: bool, source: Optional[Path], action):
    """Run `action`, turning every error into one line and exit code 1 (Ctrl-C: 130)."""
    import pandas as pd

    from tsmamba.errors import ModelFormatError, TSMambaInputError

    where = f"{source}: " if source is not None else ""
    with warnings.catch_warnings():
        warnings.showwarning = _warn_line
        try:
            return action()
        except KeyboardInterrupt as exc:
            if debug:
                raise
            # Outputs are renamed into place only when complete: nothing is half-written.
            raise interrupted() from exc
        except (TSMambaInputError, ModelFormatError) as exc:
            _fail(f"{where}{exc}", debug, exc)
        except pd.errors.EmptyDataError as exc:
            _fail(f"{where}the file is empty", debug, exc)
        except pd.errors.ParserError as exc:
            _fail(f"{where}cannot be parsed as CSV ({str(exc).strip()})", debug, exc)
        except OSError as exc:
            place = f"{exc.filename}: " if exc.filename else where
            _fail(f"{place}{exc.strerror or exc}", debug, exc)
        except Exception as exc:  # noqa: BLE001 - one line for anything else, --debug for more
            _fail(f"{where}{exc.__class__.__name__}: {exc}", debug, exc)
