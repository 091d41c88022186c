"""Every estimator parameter of the wrong type or value is named before training (issue 22,
"parameters"): TypeError for the wrong kind of value, TSMambaInputError for a wrong value."""

import pytest

from tsmamba import TSMambaForecaster
from tsmamba.errors import TSMambaInputError


@pytest.mark.parametrize("name, value, error, text", [
    ("random_state", "abc", TypeError, "random_state must be a non-negative integer"),
    ("random_state", -1, TypeError, "random_state"),
    ("device", "mps", TSMambaInputError, "device='mps' is not supported"),
    ("device", 3, TypeError, "device must be"),
    ("learning_rate", "1e-3", TypeError, "learning_rate must be a number"),
    ("lr_decay", "0.9", TypeError, "lr_decay must be a number"),
    ("dropout", None, TypeError, "dropout must be a number"),
    ("loss", ["mse"], TypeError, "loss must be a string"),
    ("loss", "rmse", TSMambaInputError, "unknown loss 'rmse'"),
    ("norm", "median", TSMambaInputError, "unknown norm 'median'; use one of"),
    ("norm", None, TypeError, "norm must be a string"),
    ("fill_gaps", "bogus", TSMambaInputError, "unknown fill_gaps 'bogus'"),
    ("drop_duplicates", "all", TSMambaInputError, "unknown drop_duplicates 'all'"),
    ("augment", "mixup", TSMambaInputError, "unknown augment 'mixup'"),
    ("model", ["tsm2"], TypeError, "model must be a string"),
    ("model_options", {"init": 3}, TSMambaInputError, "option 'init' must be a str"),
    ("progress", "yes", TypeError, "progress must be True or False"),
    ("id_col", 3, TypeError, "id_col must be a column name"),
    ("target_col", ["y"], TypeError, "target_col must be a column name"),
])
def test_bad_parameters_are_named_before_training(fast, hourly, monkeypatch, name, value, error,
                                                  text):
    import tsmamba.training as training

    def never(*args, **kwargs):
        raise AssertionError("trained with a bad parameter")

    monkeypatch.setattr(training, "train", never)
    with pytest.raises(error, match=text):
        TSMambaForecaster(horizon=4, lookback=24, **{**fast, name: value}).fit(hourly)


def test_a_network_too_large_for_memory_is_a_clear_error(fast, hourly):
    with pytest.raises(TSMambaInputError, match=r"d_model=1000000.*does not fit in the memory"):
        TSMambaForecaster(horizon=4, lookback=24, **{**fast, "d_model": 10**6}).fit(hourly)


def test_loading_onto_an_absent_gpu_is_a_clear_error(fast, hourly, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    TSMambaForecaster(horizon=4, lookback=24, **fast).fit(hourly).save(tmp_path / "m")
    with pytest.raises(TSMambaInputError, match="no CUDA GPU is available"):
        TSMambaForecaster.load(tmp_path / "m", device="cuda")
