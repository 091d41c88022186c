"""Evaluation passes: batches sized by the number of series, the same errors at any size."""

import torch

from tsmamba.data import SlidingWindows
from tsmamba.inference import eval_batch, forecast_errors, mean_errors
from tsmamba.models import build_config, build_model


def test_evaluation_batches_shrink_with_the_number_of_series():
    assert [eval_batch(m) for m in (1, 7, 32, 321, 862, 10**5)] == [256, 256, 256, 25, 9, 1]


def test_the_errors_do_not_depend_on_the_evaluation_batch():
    torch.manual_seed(0)
    config = build_config("tsm2", n_series=40, lookback=24, horizon=4, d_model=8, d_state=4,
                          n_layers=1, patch_len=8, stride=4, dropout=0.0, norm="revin")
    model = build_model("tsm2", config).eval()
    windows = SlidingWindows(torch.randn(300, 40), 24, 4)
    default = torch.cat(list(forecast_errors(model, windows)))  # batches of 204 windows
    assert eval_batch(40) == 204
    one_pass = torch.cat(list(forecast_errors(model, windows, batch_size=len(windows))))
    torch.testing.assert_close(default, one_pass, rtol=1e-5, atol=1e-6)
    assert mean_errors(model, windows).mse > 0
