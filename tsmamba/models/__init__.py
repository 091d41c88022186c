"""Forecasting networks, each mapping a (b, lookback, m) window to a (b, horizon, m) forecast."""

from __future__ import annotations

import dataclasses

import torch.nn as nn

from ..errors import TSMambaInputError
from .tsm2 import TSM2, TSM2Config

# name -> (config dataclass, module); the estimator and the CLI reach models only through this.
MODELS = {
    "tsm2": (TSM2Config, TSM2),
}


def model_names() -> list[str]:
    return sorted(MODELS)


def build_config(name: str, **settings):
    """The model's config from the settings it knows; other settings are ignored."""
    if name not in MODELS:
        raise TSMambaInputError(f"unknown model {name!r}; available models: {model_names()}")
    config_cls, _ = MODELS[name]
    known = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in settings.items() if k in known})


def build_model(name: str, config) -> nn.Module:
    return MODELS[name][1](config)


__all__ = ["MODELS", "model_names", "build_config", "build_model", "TSM2", "TSM2Config"]
