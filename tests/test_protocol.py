"""The literature's split and scaling (`tsmamba.protocol`), checked against the row numbers
the published loaders use (../shared/data/README.md)."""

import numpy as np
import pytest
import torch

from tsmamba import datasets
from tsmamba.errors import TSMambaInputError
from tsmamba.backtest.protocol import prepare, split_rows


@pytest.mark.parametrize("lookback", [96, 512])
def test_ett_hour_and_minute_borders(lookback):
    hour = split_rows("ett-hour", 17420, lookback)
    assert hour.train == (0, 8640)
    assert hour.validation == (8640 - lookback, 11520)
    assert hour.test == (11520 - lookback, 14400)
    minute = split_rows("ett-minute", 69680, lookback)
    assert minute.train == (0, 34560)
    assert minute.validation == (34560 - lookback, 46080)
    assert minute.test == (46080 - lookback, 57600)


@pytest.mark.parametrize("n_rows, n_train, n_val, n_test", [
    (52696, 36887, 5270, 10539),  # weather
    (7588, 5311, 760, 1517),  # exchange_rate
    (966, 676, 97, 193),  # national_illness
])
def test_ratio_split_matches_the_published_sizes(n_rows, n_train, n_val, n_test):
    split = split_rows("ratio", n_rows, 36)
    assert split.train == (0, n_train)
    assert split.validation == (n_train - 36, n_train + n_val)
    assert split.test == (n_rows - n_test - 36, n_rows)


def test_too_few_rows_and_unknown_convention_are_named():
    with pytest.raises(TSMambaInputError, match="needs 14400 rows, the data has 9000"):
        split_rows("ett-hour", 9000, 96)
    with pytest.raises(TSMambaInputError, match="unknown split convention 'monthly'"):
        split_rows("monthly", 1000, 96)
    with pytest.raises(TSMambaInputError,
                       match="validation split has 40 rows, fewer than lookback 30 \\+ horizon 25"):
        prepare(np.zeros((100, 2)), "ratio", 30, 25)


def test_etth1_windows_and_train_only_scaling():
    values = datasets.load("ETTh1").drop(columns="date").to_numpy(np.float64)
    data = prepare(values, "ett-hour", lookback=96, horizon=96)
    assert len(data.windows("test")) == 2785  # every stride-1 window, the published count
    assert len(data.windows("validation")) == 2785
    assert len(data.windows("train")) == 8640 - 96 - 96 + 1
    np.testing.assert_allclose(data.scaler.mean_, values[:8640].mean(axis=0))
    np.testing.assert_allclose(data.scaler.scale_, values[:8640].std(axis=0))
    # The last test target is row 14399; nothing after it is read.
    x, y = data.windows("test").batch(torch.tensor([2784]))
    expected = (values[14399] - values[:8640].mean(axis=0)) / values[:8640].std(axis=0)
    np.testing.assert_allclose(y[0, -1].numpy(), expected, rtol=1e-6)


def test_weather_is_positional_despite_its_duplicate_and_gap():
    frame = datasets.load("weather")
    assert frame["date"].duplicated().sum() == 1  # the file keeps its quirk
    data = prepare(frame.drop(columns="date").to_numpy(np.float64), "ratio", 96, 96)
    assert len(data.windows("test")) == 10539 - 96 + 1
    assert data.scaled.shape == (52696, 21)
