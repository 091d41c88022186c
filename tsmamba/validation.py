"""Checks of the estimator's parameters, shared by `fit`, backtests and cross-validation.

scikit-learn's convention: `__init__` stores arguments as given, and whoever is about to train
validates them here first, so that a bad value is reported once, the same way, whichever door
it came through.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from .augmentation import AUGMENTATIONS
from .errors import TSMambaInputError
from .models import check_model_name, checked_options
from .models.layers import NORMS
from .training import LOSSES

POSITIVE_INTS = ("horizon", "lookback", "d_model", "d_state", "n_layers", "patch_len", "stride",
                 "batch_size", "max_epochs", "patience")


def positive_int(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} "
                        f"({type(value).__name__})")
    if value <= 0:
        raise TSMambaInputError(f"{name} must be a positive integer, got {value}")


def _real(name: str, value) -> None:
    """A number (not a bool, not text): "1e-3" must not reach a comparison or an optimiser."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")


def _choice(name: str, value, choices, allow_none: bool = True) -> None:
    """One of `choices` (or None); checked even where the value would go unused."""
    if value is None and allow_none:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise TSMambaInputError(f"unknown {name} {value!r}; use one of {sorted(choices)}"
                                + (" or None" if allow_none else ""))


def check_params(params: Mapping) -> None:
    """Raise TypeError or TSMambaInputError for the first estimator parameter that cannot be
    used; `params` as `TSMambaForecaster.get_params()` returns them."""
    from .covariates import check_exog, check_futr_exog, check_hist_exog
    from .data import DROP_DUPLICATES, FILL_GAPS, as_offset
    from .distillation import check_teacher_type

    if not isinstance(params["model"], str):
        raise TypeError(f"model must be a string, got {params['model']!r}")
    check_model_name(params["model"])
    for name in POSITIVE_INTS:
        positive_int(name, params[name])
    positive_int("max_steps_per_epoch", params["max_steps_per_epoch"], allow_none=True)
    options = params["model_options"]
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"model_options must be a dict or None, got {type(options).__name__}")
    checked_options(params["model"], options)
    for name in ("val_size", "dropout", "learning_rate", "lr_decay", "mixup_sigma",
                 "distill_weight", "ema_decay"):
        _real(name, params[name])
    seed = params["random_state"]
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"random_state must be a non-negative integer, got {seed!r} "
                        f"({type(seed).__name__})")
    _choice("loss", params["loss"], LOSSES, allow_none=False)
    _choice("norm", params["norm"], NORMS, allow_none=False)
    _choice("augment", params["augment"], AUGMENTATIONS)
    _choice("fill_gaps", params["fill_gaps"], FILL_GAPS)
    _choice("drop_duplicates", params["drop_duplicates"], DROP_DUPLICATES)
    if params["freq"] is not None:
        as_offset(params["freq"])
    teacher = params["teacher"]
    if isinstance(teacher, (str, os.PathLike)) and not (Path(teacher) / "manifest.json").is_file():
        raise TSMambaInputError(f"teacher={os.fspath(teacher)!r} is not a saved model's "
                                "directory (no manifest.json there); pass the directory that "
                                "save() wrote, or a fitted TSMambaForecaster")
    check_teacher_type(teacher)
    if not isinstance(params["progress"], (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {params['progress']!r}")
    check_futr_exog(params["futr_exog"])
    check_hist_exog(params["hist_exog"], params["futr_exog"])
    check_exog("stat_exog", params["stat_exog"])
    if not isinstance(params["calendar"], (bool, np.bool_)):
        raise TypeError(f"calendar must be True or False, got {params['calendar']!r}")
    for name in ("id_col", "target_col"):  # used by long frames only; checked always
        if not isinstance(params[name], str):
            raise TypeError(f"{name} must be a column name (a string), got {params[name]!r}")
    device = params["device"]
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if not 0.0 <= params["val_size"] < 1.0:
        raise TSMambaInputError(f"val_size must be in [0, 1), got {params['val_size']}")
    if not 0.0 <= params["dropout"] < 1.0:
        raise TSMambaInputError(f"dropout must be in [0, 1), got {params['dropout']}")
    if not params["learning_rate"] > 0:
        raise TSMambaInputError(f"learning_rate must be positive, got {params['learning_rate']}")
    if not 0.0 < params["lr_decay"] <= 1.0:
        raise TSMambaInputError(f"lr_decay must be in (0, 1], got {params['lr_decay']}")
    warmup = params["warmup_epochs"]
    if isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral) or warmup < 0:
        raise TSMambaInputError(f"warmup_epochs must be a non-negative integer, got {warmup!r}")
    if not params["mixup_sigma"] > 0:
        raise TSMambaInputError(f"mixup_sigma must be positive, got {params['mixup_sigma']}")
    if not 0.0 <= params["distill_weight"] <= 1.0:
        raise TSMambaInputError(f"distill_weight must be in [0, 1], got "
                                f"{params['distill_weight']}")
    if not 0.0 <= params["ema_decay"] < 1.0:
        raise TSMambaInputError(f"ema_decay must be in [0, 1) (0 turns the average off), got "
                                f"{params['ema_decay']}")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise TSMambaInputError(f"device={device!r} is not a device; use 'auto', 'cpu' or "
                                "'cuda'") from None
    if resolved.type not in ("cpu", "cuda"):  # mps, xpu, ...: the kernels are CPU or CUDA
        raise TSMambaInputError(f"device={device!r} is not supported; use 'auto', 'cpu' or "
                                "'cuda' (or 'cuda:N')")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise TSMambaInputError(f"device={device!r} but no CUDA GPU is available; use "
                                "device='cpu' or 'auto'")
    return resolved
