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
import typing

import numpy as np
import torch.nn as nn

from ..errors import TSMambaInputError
from .covariate_effects import CovariateEffects
from .groupmamba import GroupMamba, GroupMambaConfig
from .layers import PatchConfig, PatchForecaster
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

# The models that forecast each series on its own (weights shared, nothing mixed across
# series): they also train one global network over a panel of unaligned series.
CHANNEL_INDEPENDENT = tuple(name for name, (_, module) in MODELS.items()
                            if issubclass(module, PatchForecaster))


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


# How the command line spells booleans (`--option bidirectional_time=false`).
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _option_types(name: str) -> dict:
    config_cls, _ = MODELS[name]
    hints = typing.get_type_hints(config_cls)
    return {key: hints[key] for key in model_options(name)}


def _checked_option(name: str, key: str, value, kind):
    """`value` if it is of the option's type (an int where a float is asked), else a clear
    error: "no" or "False" must never switch a boolean option on."""
    ok = {bool: lambda v: isinstance(v, (bool, np.bool_)),
          int: lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)),
          float: lambda v: isinstance(v, (int, float, np.integer, np.floating))
          and not isinstance(v, (bool, np.bool_)),
          str: lambda v: isinstance(v, str)}[kind]
    if not ok(value):
        spelled = "true or false" if kind is bool else f"a {kind.__name__}"
        raise TSMambaInputError(f"model {name!r}: option {key!r} must be {spelled}, got "
                                f"{value!r} ({type(value).__name__})")
    if kind is int and value < 1:  # every integer option is a size or a count
        raise TSMambaInputError(f"model {name!r}: option {key!r} must be a positive integer, "
                                f"got {value}")
    return bool(value) if kind is bool else kind(value)


def options_from_text(name: str, texts: dict | None) -> dict | None:
    """Model options given as text (`--option KEY=VALUE`), read as each option's type:
    booleans as true/false, yes/no, on/off or 1/0 in any case; a clear error otherwise."""
    if not texts:
        return None
    types = _option_types(name)
    options = {}
    for key, text in texts.items():
        kind = types.get(key)
        if kind is bool and text.strip().lower() in TRUE_WORDS + FALSE_WORDS:
            options[key] = text.strip().lower() in TRUE_WORDS
        elif kind in (int, float):
            try:
                options[key] = kind(text)
            except ValueError:
                raise TSMambaInputError(f"model {name!r}: option {key!r} must be a "
                                        f"{kind.__name__}, got {text!r}") from None
        elif kind is bool:
            raise TSMambaInputError(f"model {name!r}: option {key!r} must be true or false "
                                    f"(or yes/no, on/off, 1/0), got {text!r}")
        else:  # text options, and unknown keys (build_config names those)
            options[key] = text
    return options


def checked_options(name: str, options: dict | None) -> dict:
    """`options` of model `name`, each known and of its type (a clear error otherwise):
    checked with the estimator's parameters, before any data is read."""
    own = sorted(model_options(name))  # what only `options` can set
    unknown = sorted(set(options or {}) - set(own))
    if unknown:
        raise TSMambaInputError(f"model {name!r} has no option {unknown} (settings of the "
                                f"estimator are passed to it directly); its options are {own}")
    types = _option_types(name)
    return {k: _checked_option(name, k, v, types[k]) for k, v in (options or {}).items()}


def build_config(name: str, options: dict | None = None, **settings):
    """The model's config from the settings it knows (others are ignored) and `options`,
    model-specific settings that must all be known."""
    options = checked_options(name, options)
    shared = {f.name for f in dataclasses.fields(PatchConfig)}
    values = {k: v for k, v in settings.items() if k in shared}
    config_cls, _ = MODELS[name]
    try:
        return config_cls(**{**values, **(options or {})})
    except (TypeError, ValueError) as exc:
        raise TSMambaInputError(f"model {name!r}: {exc}") from None


def build_model(name: str, config) -> nn.Module:
    """The network of `config`; with covariates, wrapped to add their effects."""
    try:
        network = MODELS[name][1](config)
    except ValueError as exc:  # sizes that do not fit together, e.g. heads vs width
        raise TSMambaInputError(f"model {name!r}: {exc}") from None
    covariates = config.n_future_covariates or config.n_past_covariates
    return CovariateEffects(network, config) if covariates else network


__all__ = ["MODELS", "ALIASES", "CHANNEL_INDEPENDENT", "model_names", "check_model_name", "model_options",
           "checked_options", "options_from_text",
           "build_config", "build_model", "PatchConfig", "TSM2", "TSM2Config", "S4", "S4Config",
           "Mamba", "MambaConfig", "Mamba2", "Mamba2Config", "GroupMamba", "GroupMambaConfig"]
