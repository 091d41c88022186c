"""Numeric dates whose day and month order the text leaves open (issue 22, cause 6)."""

import numpy as np
import pandas as pd
import pytest

from tsmamba import TSMambaForecaster
from tsmamba.errors import TSMambaInputError

MONTHS = pd.date_range("2015-01-01", periods=60, freq="MS")
DAYS = pd.date_range("2020-01-01", periods=80, freq="D")


def fit(fast, dates):
    frame = pd.DataFrame({"date": dates, "y": np.sin(np.arange(len(dates)) / 3.0)})
    return TSMambaForecaster(horizon=3, lookback=12, **fast).fit(frame)


@pytest.mark.parametrize("layout", ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%y", "%d-%m-%Y"])
def test_monthly_dates_that_read_both_ways_stop_with_the_fix(fast, layout):
    # Day-first monthly data (01/02/2015 is 1 February) used to be read month first: daily.
    with pytest.raises(TSMambaInputError, match=r"time column 'date': dates like '\d") as caught:
        fit(fast, MONTHS.strftime(layout))
    assert "dayfirst=True" in str(caught.value) and "YYYY-MM-DD" in str(caught.value)


@pytest.mark.parametrize("layout", ["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d"])
def test_dates_whose_order_a_day_above_12_proves_are_read_that_way(fast, layout):
    model = fit(fast, DAYS.strftime(layout))
    assert model.freq_ == pd.offsets.Day()
    assert model.predict().index[0] == DAYS[-1] + pd.Timedelta(days=1)


def test_dates_that_read_the_same_both_ways_pass(fast):
    # 01/01, 02/02, ...: one reading; the frequency is inferred as usual (here it fails for
    # irregular steps, which is its own clear error), never as an ambiguity.
    dates = [f"{d:02d}/{d:02d}/2020" for d in range(1, 13)] * 1
    frame = pd.DataFrame({"date": dates, "y": np.arange(12.0)})
    with pytest.raises(TSMambaInputError) as caught:
        TSMambaForecaster(horizon=2, lookback=4, **{**fast, "batch_size": 2}).fit(frame)
    assert "day first and month first" not in str(caught.value)
