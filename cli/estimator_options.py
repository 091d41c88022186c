"""The estimator's settings as command-line options, declared once for every command that
trains (`forecast`, `fit`, `cv`): `@trains` adds them to a command and hands it the
`TSMambaForecaster` they describe. Each option maps 1:1 onto an estimator parameter."""

from __future__ import annotations

import functools
import inspect
from typing import Optional

from .app import (Augment, AugmentOption, Calendar, Device, DistillWeight, Dups, Epochs,
                  FillGaps, Freq, FutrExog, Gaps, HistExog, Horizon, KeepDuplicate, Lookback,
                  Model, Options, Progress, Seed, StatExog, Teacher, TimeCol, guarded,
                  model_option_values)

# option name -> (type, default), in the order `--help` lists them
ESTIMATOR_OPTIONS = {
    "horizon": (Horizon, 24), "lookback": (Lookback, 96), "model": (Model, "s4"),
    "option": (Options, None), "time_col": (TimeCol, None), "freq": (Freq, None),
    "futr_exog": (FutrExog, None), "hist_exog": (HistExog, None),
    "stat_exog": (StatExog, None),
    "calendar": (Calendar, False),
    "fill_gaps": (Gaps, None), "drop_duplicates": (Dups, None), "max_epochs": (Epochs, 40),
    "augment": (AugmentOption, None), "teacher": (Teacher, None),
    "distill_weight": (DistillWeight, 0.5), "seed": (Seed, 0), "device": (Device, "auto"),
    "progress": (Progress, True),
}


def build_forecaster(*, horizon: int, lookback: int, model: str, option: Optional[list[str]],
                     time_col: Optional[str], freq: Optional[str],
                     futr_exog: Optional[list[str]], hist_exog: Optional[list[str]],
                     stat_exog: Optional[list[str]],
                     calendar: bool, fill_gaps: Optional[FillGaps],
                     drop_duplicates: Optional[KeepDuplicate], max_epochs: int,
                     augment: Optional[Augment], teacher, distill_weight: float, seed: int,
                     device: str, progress: bool):
    from tsmamba import TSMambaForecaster

    return TSMambaForecaster(
        model=model, model_options=model_option_values(model, option), horizon=horizon, lookback=lookback,
        time_col=time_col, freq=freq, futr_exog=list(futr_exog) if futr_exog else None,
        hist_exog=list(hist_exog) if hist_exog else None,
        stat_exog=list(stat_exog) if stat_exog else None, calendar=calendar,
        fill_gaps=fill_gaps.value if fill_gaps else None,
        drop_duplicates=drop_duplicates.value if drop_duplicates else None,
        max_epochs=max_epochs, augment=augment.value if augment else None,
        teacher=str(teacher) if teacher is not None else None, distill_weight=distill_weight,
        random_state=seed, device=device, progress=progress)


def trains(command):
    """Give `command` the options of ESTIMATOR_OPTIONS after its own, and call it with
    `forecaster=`, the estimator they describe."""
    own = [p for name, p in inspect.signature(command, eval_str=True).parameters.items()
           if name != "forecaster"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                annotation=kind)
              for name, (kind, default) in ESTIMATOR_OPTIONS.items()]

    @functools.wraps(command)
    def with_forecaster(**kwargs):
        options = {name: kwargs.pop(name) for name in ESTIMATOR_OPTIONS}
        # A bad --option is one line and exit 1, as errors inside the command are.
        forecaster = guarded(kwargs.get("debug", False), None,
                             lambda: build_forecaster(**options))
        return command(forecaster=forecaster, **kwargs)

    with_forecaster.__signature__ = inspect.Signature(
        [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared)
    return with_forecaster
