"""Property: any finite frame of modest size gives finite forecasts or a documented error."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tsmamba import NonFiniteError, TSMambaForecaster, TSMambaInputError

LOOKBACK, HORIZON = 8, 2
TINY = dict(horizon=HORIZON, lookback=LOOKBACK, d_model=8, d_state=2, n_layers=1, patch_len=4,
            stride=4, max_epochs=1, max_steps_per_epoch=1, batch_size=4, progress=False)

# Mostly enough rows to train; a few too short, which must be the documented error.
rows = st.shared(st.one_of(st.integers(0, 12), st.integers(10, 40)), key="rows")
# Any finite float64, some of them beyond float32 (a documented error), mostly moderate.
finite = st.one_of(st.floats(-1e6, 1e6), st.floats(allow_nan=False, allow_infinity=False))
column = st.one_of(
    arrays(np.float64, rows, elements=finite),
    arrays(np.int64, rows, elements=st.integers(-2**53, 2**53)),
    arrays(np.float64, rows, elements=st.sampled_from([0.0, 1.5, -1e6])),  # constant columns
)


@st.composite
def frames(draw):
    columns = draw(st.lists(column, min_size=0, max_size=3))
    index = pd.date_range("2024-01-01", periods=draw(rows), freq="h")
    return pd.DataFrame({f"s{i}": c for i, c in enumerate(columns)}, index=index)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_any_finite_frame_gives_finite_forecasts_or_a_documented_error(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            forecast = TSMambaForecaster(**TINY).fit(df).predict()
        except (TSMambaInputError, TypeError) as exc:
            assert str(exc)  # documented errors always say what and where
            return
        except NonFiniteError:
            pytest.fail("a finite frame made training non-finite")
    assert forecast.shape == (HORIZON, df.shape[1])
    assert np.isfinite(forecast.to_numpy()).all()
