"""tsmamba's Adam against torch.optim.Adam: the same weights bit for bit, state dicts that
load either way, and no torch._dynamo import (the reason the module exists)."""

import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from tsmamba.adam import Adam, EpochSchedule

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _factor(epoch):
    return 0.5 ** epoch


def _twins(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3)).to(device)
    twin = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3)).to(device)
    twin.load_state_dict(model.state_dict())
    return model, twin


def _train(model, optimiser, schedule, steps, seed):
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    for step in range(steps):
        x = torch.randn(16, 6, generator=generator).to(device)
        optimiser.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        optimiser.step()
        if step % 2 == 1:
            schedule.step()


def _torch_adam(model, device, captured=False):
    lr = torch.tensor(1e-2, device=device) if captured else 1e-2
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, fused=device.type == "cuda",
                                 capturable=captured)
    return optimiser, torch.optim.lr_scheduler.LambdaLR(optimiser, _factor)


def _ours(model, device, captured=False):
    optimiser = Adam(model.parameters(), 1e-2, fused=device.type == "cuda",
                     capturable=captured, device=device)
    return optimiser, EpochSchedule(optimiser, _factor)


def _assert_identical(model, twin):
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("captured", [False, True], ids=["plain", "capturable"])
@pytest.mark.parametrize("device", DEVICES)
def test_updates_match_torch_optim_adam_bit_for_bit(device, captured):
    device = torch.device(device)
    if captured and device.type != "cuda":
        pytest.skip("capturable Adam is for CUDA graphs")
    model, twin = _twins(device)
    _train(model, *_ours(model, device, captured), steps=7, seed=1)
    _train(twin, *_torch_adam(twin, device, captured), steps=7, seed=1)
    _assert_identical(model, twin)


@pytest.mark.parametrize("device", DEVICES)
def test_state_dicts_load_either_way(device):
    """A run half-way in torch.optim resumes in ours, and the other way round, as if never
    interrupted."""
    device = torch.device(device)
    reference, _ = _twins(device)
    _train(reference, *_torch_adam(reference, device), steps=8, seed=2)
    for first, second in ((_torch_adam, _ours), (_ours, _torch_adam)):
        model, _ = _twins(device)
        optimiser, schedule = first(model, device)
        generator = torch.Generator().manual_seed(2)
        for step in range(4):  # the first half of _train(..., steps=8, seed=2)
            x = torch.randn(16, 6, generator=generator).to(device)
            optimiser.zero_grad()
            model(x).square().mean().backward()
            optimiser.step()
            if step % 2 == 1:
                schedule.step()
        saved_optimiser, saved_schedule = optimiser.state_dict(), schedule.state_dict()
        resumed, resumed_schedule = second(model, device)
        resumed.load_state_dict(saved_optimiser)
        resumed_schedule.load_state_dict(saved_schedule)
        for step in range(4, 8):
            x = torch.randn(16, 6, generator=generator).to(device)
            resumed.zero_grad()
            model(x).square().mean().backward()
            resumed.step()
            if step % 2 == 1:
                resumed_schedule.step()
        _assert_identical(model, reference)


def test_a_state_dict_of_another_model_is_refused():
    model, _ = _twins(torch.device("cpu"))
    optimiser, _ = _ours(model, torch.device("cpu"))
    with pytest.raises(ValueError, match="holds 2 parameters in 1 groups; this model has 4"):
        optimiser.load_state_dict({"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]})


def test_zeroing_in_place_keeps_the_gradient_tensors():
    model, _ = _twins(torch.device("cpu"))
    optimiser, _ = _ours(model, torch.device("cpu"))
    model(torch.randn(4, 6)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    optimiser.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.any() for p, g in zip(model.parameters(), grads))
    optimiser.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_training_never_imports_torch_dynamo():
    script = (
        "import sys, torch\n"
        "from tsmamba.adam import Adam, EpochSchedule\n"
        "model = torch.nn.Linear(3, 2)\n"
        "optimiser = Adam(model.parameters(), 1e-3)\n"
        "schedule = EpochSchedule(optimiser, lambda e: 0.9 ** e)\n"
        "model(torch.randn(5, 3)).sum().backward()\n"
        "optimiser.step(); schedule.step(); optimiser.zero_grad()\n"
        "optimiser.load_state_dict(optimiser.state_dict())\n"
        "print('torch._dynamo' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
