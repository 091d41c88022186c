"""The captured training step against the eager one (runs only where there is a GPU)."""

import pytest
import torch

from tsmamba.adam import EpochSchedule
from tsmamba.checkpoint import Checkpointer, LoopState
from tsmamba.data import SlidingWindows
from tsmamba.models import build_config, build_model, model_names
from tsmamba.training import LOSSES
from tsmamba.training_step import CapturedStep, TrainingStep, make_optimiser

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _twins(name, device):
    torch.manual_seed(0)
    config = build_config(name, n_series=5, lookback=48, horizon=12, d_model=16, d_state=16,
                          n_layers=2, patch_len=16, stride=8, dropout=0.0,
                          norm="last_affine")
    model = build_model(name, config).to(device).train()
    twin = build_model(name, config).to(device).train()
    twin.load_state_dict(model.state_dict())
    return model, twin


def _assert_same_weights(model, twin):
    for (key, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=key)


@cuda
@pytest.mark.parametrize("name", model_names())
def test_captured_step_matches_the_eager_step(name):
    device = torch.device("cuda")
    windows = SlidingWindows(torch.randn(300, 5, device=device), 48, 12)
    model, twin = _twins(name, device)
    optimiser = make_optimiser(model, 1e-3, device, captured=True)
    twin_optimiser = make_optimiser(twin, 1e-3, device, captured=False)
    schedules = [EpochSchedule(o, lambda e: 0.5 ** e) for o in (optimiser, twin_optimiser)]
    x, y = windows.batch(torch.arange(8))
    captured = CapturedStep(model, optimiser, LOSSES["mse"], 0.5, x, y)
    eager = TrainingStep(twin, twin_optimiser, LOSSES["mse"], 0.5)
    _assert_same_weights(model, twin)  # capturing left the weights where they were
    for step in range(4):  # new inputs each step: the graph must read them, not stale ones
        x, y = windows.batch(torch.arange(step * 8, step * 8 + 8))
        torch.testing.assert_close(captured(x, y), eager(x, y), rtol=1e-4, atol=1e-6)
        _assert_same_weights(model, twin)
        if step == 1:  # a new epoch's learning rate reaches the graph
            for schedule in schedules:
                schedule.step()
    # A last, smaller batch runs eagerly, and the graph still replays after it.
    for indices in (torch.arange(5), torch.arange(100, 108)):
        x, y = windows.batch(indices)
        captured(x, y), eager(x, y)
        _assert_same_weights(model, twin)


@cuda
def test_a_captured_optimiser_survives_a_checkpoint(tmp_path):
    device = torch.device("cuda")
    model, twin = _twins("tsm2", device)
    optimiser = make_optimiser(model, 1e-3, device, captured=True)
    schedule = EpochSchedule(optimiser, lambda e: 0.5 ** e)
    windows = SlidingWindows(torch.randn(300, 5, device=device), 48, 12)
    step = CapturedStep(model, optimiser, LOSSES["mse"], 0.5, *windows.batch(torch.arange(8)))
    step(*windows.batch(torch.arange(8, 16)))
    schedule.step()
    generator = torch.Generator()
    Checkpointer(tmp_path, "run").save(model, model.state_dict(), optimiser, schedule,
                                       generator, LoopState())
    resumed = make_optimiser(twin, 1e-3, device, captured=True)
    resumed_schedule = EpochSchedule(resumed, lambda e: 0.5 ** e)
    Checkpointer(tmp_path, "run").restore(twin, resumed, resumed_schedule, generator)
    lr = resumed.lr
    assert isinstance(lr, torch.Tensor) and lr.device.type == "cuda"
    assert lr.item() == pytest.approx(5e-4)
    x, y = windows.batch(torch.arange(16, 24))
    twin_step = CapturedStep(twin, resumed, LOSSES["mse"], 0.5, x, y)
    torch.testing.assert_close(twin_step(x, y), step(x, y), rtol=1e-4, atol=1e-6)
    _assert_same_weights(model, twin)
