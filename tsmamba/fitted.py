"""What `fit` learns, as one record: `fit` builds it, the estimator wears it as attributes
ending in "_" (scikit-learn's convention), and model files write and read it.

Each field says where a model file keeps it (`store`): "json" and "array" fields are written
and read by name (state.json, history.safetensors), so adding one of those is this file's
edit alone; the others have an encoding of their own in `tsmamba.model_io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import torch.nn as nn
from sklearn.preprocessing import StandardScaler


def _kept(store: str, **kwargs):
    return field(metadata={"store": store}, **kwargs)


@dataclass
class FittedState:
    model: nn.Module = _kept("weights")  # weights.safetensors
    config: object = _kept("config")  # the network's config dataclass; config.json
    scaler: StandardScaler = _kept("scaler")  # fitted on the training rows; state.json
    freq: pd.DateOffset = _kept("freq")  # state.json
    history_index: pd.DatetimeIndex = _kept("index")  # timestamps of `history`; state.json
    device: str = _kept("runtime")  # where the network runs; not saved (load chooses it)
    columns: list = _kept("json")  # the series, in the network's order
    best_epoch: int = _kept("json")
    n_epochs: int = _kept("json")
    training_log: list = _kept("json")  # one {"epoch", "train_loss", "val_loss"} per epoch
    history: np.ndarray = _kept("array")  # (lookback, m): the last rows seen, original units
    input_format: str = _kept("json", default="wide")  # "wide" or "long", as fit was given
    # A long frame's own series ids (ints, floats or text), in `columns` order; None: text.
    series_ids: list | None = _kept("json", default=None)
    # (n, f, m) absolute validation errors in the data's units: conformal intervals' scale.
    conformity_scores: np.ndarray | None = _kept("array", default=None)
    # Covariates known in the future, in the network's order: the futr_exog columns, then
    # the calendar features (`tsmamba.covariates`); their training rows' mean and scale.
    covariates: list = _kept("json", default_factory=list)
    covariate_mean: np.ndarray | None = _kept("array", default=None)  # (k,)
    covariate_scale: np.ndarray | None = _kept("array", default=None)  # (k,)
    # Their last lookback rows (original units), which predict reads when it forecasts from the
    # end of the training data: the network takes their moves from their lookback level.
    covariate_history: np.ndarray | None = _kept("array", default=None)  # (lookback, k); panel: n, k
    # Covariates observed only in the past (hist_exog), in the network's order; their training
    # rows' mean and scale, and their last lookback rows (original units), which predict reads
    # when it forecasts from the end of the training data.
    past_covariates: list = _kept("json", default_factory=list)
    past_mean: np.ndarray | None = _kept("array", default=None)  # (p,)
    past_scale: np.ndarray | None = _kept("array", default=None)  # (p,)
    past_history: np.ndarray | None = _kept("array", default=None)  # (lookback, p); panel: n, p
    # A panel's static features (`static_df`): their names, each series' values (n, s) in
    # the data's units, and their mean and scale over the series.
    static_covariates: list = _kept("json", default_factory=list)
    static_values: np.ndarray | None = _kept("array", default=None)  # (n, s)
    static_mean: np.ndarray | None = _kept("array", default=None)  # (s,)
    static_scale: np.ndarray | None = _kept("array", default=None)  # (s,)
    # A global model over a panel (`tsmamba.panel`: unaligned series, or static features):
    # `columns` are its series, `history` holds each one's last lookback values side by side by
    # position, `history_index` each one's last timestamp, and `conformity_scores` are
    # (n, f, 1) in the scaled units.
    global_model: bool = _kept("json", default=False)

    def apply(self, estimator) -> None:
        """Set every field on `estimator` as `<name>_`, and sklearn's n_features_in_."""
        for item in fields(self):
            setattr(estimator, f"{item.name}_", getattr(self, item.name))
        estimator.n_features_in_ = len(self.columns)

    @classmethod
    def of(cls, estimator) -> FittedState:
        return cls(**{item.name: getattr(estimator, f"{item.name}_") for item in fields(cls)})

    @classmethod
    def stored_as(cls, store: str) -> list:
        """The fields a model file keeps in `store`."""
        return [item for item in fields(cls) if item.metadata["store"] == store]
