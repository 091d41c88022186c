"""Distillation (GroupMamba's training objective, Shaker et al. 2024, Sec. 3.4): a student
trained on (1 - w) loss(student, truth) + w loss(student, teacher), where the teacher is a
fitted forecaster, typically a large, slow and accurate one, and the student small and fast.

The teacher was fitted with its own scaler (and perhaps its own column order), so
`TeacherForecast` wraps its network as a map from the student's scaled windows to the
teacher's forecast in the student's scaled units: an affine map per series on the way in and
on the way out.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import torch
import torch.nn as nn

from .errors import TSMambaInputError


class TeacherForecast(nn.Module):
    """(b, l, m) student-scaled windows -> (b, f, m) teacher forecasts, student-scaled."""

    def __init__(self, network: nn.Module, student_mean, student_scale, teacher_mean,
                 teacher_scale, order):
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        order = torch.as_tensor(order)
        s_mean, s_scale = (torch.as_tensor(v, dtype=torch.float64)
                           for v in (student_mean, student_scale))
        t_mean, t_scale = (torch.as_tensor(v, dtype=torch.float64)[order]
                           for v in (teacher_mean, teacher_scale))
        # teacher-scaled input = x * a_in + b_in; student-scaled output = y * a_out + b_out,
        # all in the student's column order.
        for name, value in (("a_in", s_scale / t_scale), ("b_in", (s_mean - t_mean) / t_scale),
                            ("a_out", t_scale / s_scale), ("b_out", (t_mean - s_mean) / s_scale)):
            self.register_buffer(name, value.float(), persistent=False)
        self.register_buffer("to_teacher", torch.argsort(order), persistent=False)
        self.register_buffer("to_student", order, persistent=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l, m)
        teacher_x = (x * self.a_in + self.b_in)[:, :, self.to_teacher]  # teacher's columns
        y = self.network(teacher_x)[:, :, self.to_student]  # (b, f, m), student's columns
        return y * self.a_out + self.b_out


def check_teacher_type(teacher) -> None:
    """A teacher is a saved model's directory or a TSMambaForecaster (None: no teacher)."""
    from .estimator import TSMambaForecaster  # here: the estimator imports this module

    if teacher is not None and not isinstance(teacher, (str, os.PathLike, TSMambaForecaster)):
        raise TypeError(f"teacher must be a fitted TSMambaForecaster or a saved model's "
                        f"directory, got {type(teacher).__name__}")


def fitted_teacher(teacher, device):
    """The fitted forecaster that `teacher` names: itself, or the model saved in that
    directory (loaded onto `device`)."""
    from .estimator import TSMambaForecaster  # here: the estimator imports this module

    if isinstance(teacher, (str, os.PathLike)):
        return TSMambaForecaster.load(teacher, device=str(device))
    check_teacher_type(teacher)
    if not hasattr(teacher, "model_"):
        raise TSMambaInputError(
            "the teacher is not fitted: fit it first, or pass the directory of a saved "
            "teacher (sklearn.clone makes unfitted copies of a forecaster given as teacher)")
    return teacher


def teacher_forecast(teacher, columns: list, lookback: int, horizon: int, scaler,
                     device: torch.device) -> TeacherForecast:
    """`teacher` (a fitted forecaster or a saved model's directory) as a TeacherForecast for a
    student of `columns`, `lookback` and `horizon` whose data `scaler` scales, on `device`."""
    fitted = fitted_teacher(teacher, device)
    if fitted.lookback != lookback or fitted.horizon != horizon:
        raise TSMambaInputError(
            f"the teacher reads lookback {fitted.lookback} and forecasts horizon "
            f"{fitted.horizon}, the student lookback {lookback} and horizon {horizon}; "
            "distil only between models of the same lookback and horizon")
    if sorted(fitted.columns_) != sorted(columns):
        missing = [c for c in columns if c not in fitted.columns_]
        extra = [c for c in fitted.columns_ if c not in columns]
        raise TSMambaInputError(
            f"the teacher was fitted on other columns: the student's {missing} are not the "
            f"teacher's, the teacher's {extra} are not the student's; fit the teacher on the "
            "same series")
    order = [fitted.columns_.index(c) for c in columns]  # teacher column of each student one
    network = copy.deepcopy(fitted.model_).to(device)
    return TeacherForecast(network, scaler.mean_, scaler.scale_, np.asarray(fitted.scaler_.mean_),
                           np.asarray(fitted.scaler_.scale_), order).to(device)
