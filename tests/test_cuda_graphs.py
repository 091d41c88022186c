"""The CUDA-graph training step against the plain one (runs only where there is a GPU)."""

import pytest
import torch

from tsmamba.data import SlidingWindows
from tsmamba.models import build_config, build_model, model_names
from tsmamba.training import graphed_forward

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("name", model_names())
def test_graphed_step_matches_the_plain_step(name):
    device = torch.device("cuda")
    torch.manual_seed(0)
    data = torch.randn(300, 5, device=device)  # (rows, m)
    windows = SlidingWindows(data, 48, 12)
    config = build_config(name, n_series=5, lookback=48, horizon=12, d_model=16, d_state=16,
                          n_layers=2, patch_len=16, stride=8, dropout=0.0)
    model = build_model(name, config).to(device)
    twin = build_model(name, config).to(device)
    twin.load_state_dict(model.state_dict())
    graphed = graphed_forward(model, windows, 8, device)
    assert graphed is not None
    for step in range(3):  # new inputs each step: the graph must read them, not stale ones
        x, y = windows.batch(torch.arange(step * 8, step * 8 + 8))
        for net, forward in ((model, graphed), (twin, twin)):
            net.zero_grad(set_to_none=True)
            torch.mean((forward(x) - y) ** 2).backward()
        for (key, a), b in zip(model.named_parameters(), twin.parameters()):
            assert a.grad is not None, key
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=key)
        with torch.no_grad():
            for a, b in zip(model.parameters(), twin.parameters()):
                a -= 0.01 * a.grad
                b -= 0.01 * b.grad
    # A last, smaller batch goes through the model itself, not the graph's fixed-size input.
    x, _ = windows.batch(torch.arange(5))
    assert model(x).shape == (5, 12, 5)
    torch.testing.assert_close(model(x), twin(x), rtol=1e-4, atol=1e-5)
