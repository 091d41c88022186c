"""Forecasting networks, each mapping a (b, lookback, m) window to a (b, horizon, m) forecast.

Every config inherits the settings all models share (`layers.PatchConfig`), which the
estimator sets; each model's own options, with their defaults, are what `model_options` lists.

    tsm2        TSM2, the Time Series MambaMixer (time and channel mixers)     tsm2.py
    s4          S4D blocks along each variate's patches                         s4.py
    mamba       Mamba (S6) blocks along each variate's patches                  mamba.py
    mamba2      Mamba-2 (SSD) blocks along each variate's patches               mamba2.py
    groupmamba  modulated group Mamba blocks over the (variate x patch) grid    groupmamba.py
"""

from __future__ import annotations

import dataclasses

import torch.nn as nn

from ..errors import TSMambaInputError
from .groupmamba import GroupMamba, GroupMambaConfig
from .layers import PatchConfig
from .mamba import Mamba, MambaConfig
from .mamba2 import Mamba2, Mamba2Config
from .s4 import S4, S4Config
from .tsm2 import TSM2, TSM2Config

# name -> (config dataclass, module); the estimator and the CLI reach models only through this.
MODELS = {
    "tsm2": (TSM2Config, TSM2),
    "s4": (S4Config, S4),
    "mamba": (MambaConfig, Mamba),
    "mamba2": (Mamba2Config, Mamba2),
    "groupmamba": (GroupMambaConfig, GroupMamba),
}

# The column name a model's forecasts get in long frames (Nixtla's convention: the model).
ALIASES = {"tsm2": "TSM2", "s4": "S4", "mamba": "Mamba", "mamba2": "Mamba2",
           "groupmamba": "GroupMamba"}

def model_names() -> list[str]:
    return list(MODELS)


def check_model_name(name) -> None:
    """Raise TSMambaInputError unless `name` is a registered model: the one check of a model
    name, whichever door (estimator, backtest, command line) it came through."""
    if name not in MODELS:
        raise TSMambaInputError(f"unknown model {name!r}; available models: {model_names()}")


def model_options(name: str) -> dict:
    """The options of `name`'s network that are not estimator parameters, with their
    defaults; they are set through `model_options=` (`--option KEY=VALUE`)."""
    check_model_name(name)
    config_cls, _ = MODELS[name]
    shared = {f.name for f in dataclasses.fields(PatchConfig)}
    return {f.name: f.default for f in dataclasses.fields(config_cls) if f.name not in shared}


def build_config(name: str, options: dict | None = None, **settings):
    """The model's config from the settings it knows (others are ignored) and `options`,
    model-specific settings that must all be known."""
    own = sorted(model_options(name))  # what only `options` can set
    unknown = sorted(set(options or {}) - set(own))
    if unknown:
        raise TSMambaInputError(f"model {name!r} has no option {unknown} (settings of the "
                                f"estimator are passed to it directly); its options are {own}")
    shared = {f.name for f in dataclasses.fields(PatchConfig)}
    values = {k: v for k, v in settings.items() if k in shared}
    config_cls, _ = MODELS[name]
    try:
        return config_cls(**{**values, **(options or {})})
    except (TypeError, ValueError) as exc:
        raise TSMambaInputError(f"model {name!r}: {exc}") from None


def build_model(name: str, config) -> nn.Module:
    try:
        return MODELS[name][1](config)
    except ValueError as exc:  # sizes that do not fit together, e.g. heads vs width
        raise TSMambaInputError(f"model {name!r}: {exc}") from None


__all__ = ["MODELS", "ALIASES", "model_names", "check_model_name", "model_options",
           "build_config", "build_model", "PatchConfig", "TSM2", "TSM2Config", "S4", "S4Config",
           "Mamba", "MambaConfig", "Mamba2", "Mamba2Config", "GroupMamba", "GroupMambaConfig"]
