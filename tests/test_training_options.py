"""Training options: channel mixup, the learning-rate schedule, and distillation."""

import numpy as np
import pandas as pd
import pytest
import torch

from tsmamba import TSMambaForecaster, TSMambaInputError
from tsmamba.augmentation import channel_mixup
from tsmamba.datasets import demo
from tsmamba.training import TrainSettings


def test_channel_mixup_adds_the_same_multiple_of_one_other_series_to_input_and_target():
    x, y = torch.randn(6, 10, 4), torch.randn(6, 3, 4)
    mixed_x, mixed_y = channel_mixup(x, y, 1.0, torch.Generator().manual_seed(0))
    again_x, _ = channel_mixup(x, y, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(mixed_x, again_x, rtol=0, atol=0)  # seeded: reproducible
    generator = torch.Generator().manual_seed(0)
    perm = torch.randperm(4, generator=generator)
    weights = torch.randn(6, 1, 4, generator=generator)
    torch.testing.assert_close(mixed_x, x + x[:, :, perm] * weights)
    torch.testing.assert_close(mixed_y, y + y[:, :, perm] * weights)
    assert not torch.allclose(mixed_x, x)


def test_the_schedule_holds_for_the_warm_up_then_decays():
    settings = TrainSettings(1e-3, 32, 8, None, 3, False, lr_decay=0.5, warmup_epochs=2)
    assert [settings.lr_factor(done) for done in range(6)] == [1, 1, 1, 0.5, 0.25, 0.125]
    plain = TrainSettings(1e-3, 32, 8, None, 3, False, lr_decay=0.5)
    assert [plain.lr_factor(done) for done in range(3)] == [1, 0.5, 0.25]


def test_options_reach_training_and_bad_values_are_named(fast):
    df = demo(n_rows=200, n_series=3)
    base = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(df).predict()
    mixed = TSMambaForecaster(horizon=4, lookback=24, augment="channel_mixup", mixup_sigma=0.5,
                              **fast).fit(df).predict()
    assert np.isfinite(mixed.to_numpy()).all() and not np.allclose(base, mixed)
    for params, message in ((dict(augment="cutmix"), "unknown augment 'cutmix'"),
                            (dict(mixup_sigma=0.0), "mixup_sigma must be positive"),
                            (dict(distill_weight=1.5), r"distill_weight must be in \[0, 1\]"),
                            (dict(warmup_epochs=-1), "warmup_epochs must be a non-negative")):
        with pytest.raises(TSMambaInputError, match=message):
            TSMambaForecaster(horizon=4, lookback=24, **fast, **params).fit(df)


@pytest.fixture(scope="module")
def teacher(fast):
    return TSMambaForecaster(horizon=4, lookback=24, **fast).fit(demo(n_rows=200, n_series=3))


def test_the_teacher_forecast_is_the_teachers_own_under_another_scaling(teacher, fast):
    """TeacherForecast maps a student's scaled window to the teacher's forecast in the
    student's scaled units, whatever scaler and column order each was fitted with."""
    from tsmamba.distillation import teacher_forecast

    df = demo(n_rows=200, n_series=3)
    student = TSMambaForecaster(horizon=4, lookback=24, val_size=0.1, **fast).fit(
        df[list(reversed(df.columns))])
    forecast = teacher_forecast(teacher, student.columns_, 24, 4, student.scaler_,
                                torch.device("cpu"))
    window = df[student.columns_].to_numpy()[-24:]
    scaled = torch.from_numpy(student.scaler_.transform(window).astype(np.float32))[None]
    ours = student.scaler_.inverse_transform(forecast(scaled)[0].double().numpy())
    expected = teacher.predict(df)[student.columns_].to_numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_distillation_changes_the_student_and_weight_zero_changes_nothing(teacher, fast, tmp_path):
    df = demo(n_rows=200, n_series=3)
    alone = TSMambaForecaster(horizon=4, lookback=24, **fast).fit(df).predict()
    teacher.save(tmp_path / "teacher")
    taught = TSMambaForecaster(horizon=4, lookback=24, teacher=str(tmp_path / "teacher"),
                               distill_weight=0.8, **fast).fit(df)
    assert not np.allclose(taught.predict(), alone)
    ignored = TSMambaForecaster(horizon=4, lookback=24, teacher=teacher, distill_weight=0.0,
                                **fast).fit(df).predict()
    pd.testing.assert_frame_equal(ignored, alone)
    taught.save(tmp_path / "student")  # the teacher's directory is kept as given
    assert TSMambaForecaster.load(tmp_path / "student").teacher == str(tmp_path / "teacher")


def test_a_teacher_of_other_data_or_not_fitted_is_refused(teacher, fast):
    df = demo(n_rows=200, n_series=3)
    with pytest.raises(TSMambaInputError, match="teacher reads lookback 24 and forecasts horizon 4"):
        TSMambaForecaster(horizon=5, lookback=24, teacher=teacher, **fast).fit(df)
    with pytest.raises(TSMambaInputError, match=r"the student's \['extra'\] are not the teacher's"):
        TSMambaForecaster(horizon=4, lookback=24, teacher=teacher, **fast).fit(
            df.assign(extra=np.arange(len(df), dtype=float)))
    with pytest.raises(TSMambaInputError, match="the teacher is not fitted"):
        TSMambaForecaster(horizon=4, lookback=24, teacher=TSMambaForecaster(), **fast).fit(df)
    with pytest.raises(TypeError, match="teacher must be a fitted TSMambaForecaster"):
        TSMambaForecaster(horizon=4, lookback=24, teacher=42, **fast).fit(df)
