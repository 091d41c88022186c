"""Every model behind the same estimator: train, forecast, save/load, options, errors."""

import numpy as np
import pandas as pd
import pytest

from tsmamba import TSMambaForecaster, TSMambaInputError
from tsmamba.datasets import demo
from tsmamba.models import model_names, model_options

FAST = dict(horizon=6, lookback=48, d_model=16, d_state=4, n_layers=1, max_epochs=2,
            max_steps_per_epoch=3, batch_size=16, progress=False)


def test_the_five_models_are_registered():
    assert model_names() == ["tsm2", "s4", "mamba", "mamba2", "groupmamba"]


@pytest.mark.parametrize("name", ["tsm2", "s4", "mamba", "mamba2", "groupmamba"])
def test_each_model_trains_forecasts_and_round_trips(name, tmp_path):
    est = TSMambaForecaster(model=name, **FAST).fit(demo(n_rows=240, n_series=3))
    forecast = est.predict()
    assert forecast.shape == (6, 3) and np.isfinite(forecast.to_numpy()).all()
    assert est.training_log_[-1]["train_loss"] < est.training_log_[0]["train_loss"] * 2
    est.save(tmp_path / name)
    # Loaded onto the device it was trained on: CPU and GPU kernels round differently.
    loaded = TSMambaForecaster.load(tmp_path / name, device=est.device_)
    pd.testing.assert_frame_equal(loaded.predict(), forecast, check_exact=True)


@pytest.mark.parametrize("name, options", [("s4", {"init": "lin"}),
                                           ("tsm2", {"bidirectional_time": True}),
                                           ("groupmamba", {"weighted_average": True,
                                                           "ffn_expand": 1}),
                                           ("mamba2", {"head_dim": 8, "n_groups": 2})])
def test_model_options_reach_the_network_and_survive_save(name, options, tmp_path):
    est = TSMambaForecaster(model=name, model_options=options, **FAST).fit(demo(n_rows=240))
    for key, value in options.items():
        assert getattr(est.config_, key) == value
    est.save(tmp_path / "m")
    loaded = TSMambaForecaster.load(tmp_path / "m", device=est.device_)
    assert loaded.model_options == options
    pd.testing.assert_frame_equal(loaded.predict(), est.predict(), check_exact=True)


def test_option_errors_name_the_model_and_list_the_options():
    df = demo(n_rows=240)
    with pytest.raises(TSMambaInputError, match=r"'s4' has no option \['heads'\].*\['init'\]"):
        TSMambaForecaster(model="s4", model_options={"heads": 2}, **FAST).fit(df)
    with pytest.raises(TSMambaInputError, match="has no option.*passed to it directly"):
        TSMambaForecaster(model="s4", model_options={"d_model": 2}, **FAST).fit(df)
    with pytest.raises(TSMambaInputError, match="'mamba2'.*divisible by head_dim"):
        TSMambaForecaster(model="mamba2", **{**FAST, "d_model": 20}).fit(df)
    with pytest.raises(TypeError, match="model_options must be a dict"):
        TSMambaForecaster(model_options="init=lin", **FAST).fit(df)
    with pytest.raises(TSMambaInputError, match=r"available models: \['tsm2', 's4', 'mamba', 'mamba2', 'groupmamba'\]"):
        TSMambaForecaster(model="lstm", **FAST).fit(df)
    assert model_options("s4")["init"] == "inv"
