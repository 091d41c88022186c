"""The moving average of the weights: its arithmetic, the swap, and what a fit returns."""

import pytest
import torch
import torch.nn as nn
from safetensors import safe_open

from tsmamba import TSMambaForecaster, TSMambaInputError
from tsmamba.checkpoint import FILE
from tsmamba.datasets import demo
from tsmamba.weight_average import STEPS, WeightAverage


def test_the_average_weighs_the_steps_weights_alone_bias_corrected():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    names = [name for name, _ in model.named_parameters()]
    average = WeightAverage(model, decay=0.75)
    assert all(torch.equal(average.state_dict()[n], p) for n, p in model.named_parameters())
    history = []
    for _ in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        history.append([p.detach().clone() for p in model.parameters()])
        average.update()
    # decay ** (t - s) weights over steps s = 1..t, normalised: the initial weights are out.
    weights = torch.tensor([0.75 ** (3 - s) for s in range(4)])
    weights /= weights.sum()
    for index, name in enumerate(names):
        expected = sum(w * step[index] for w, step in zip(weights, history))
        torch.testing.assert_close(average.state_dict()[name], expected)
    again = WeightAverage(model, decay=0.75)
    again.load_state_dict(average.state_dict())
    assert again.steps == 4


def test_applied_swaps_the_average_in_and_puts_the_same_tensors_back():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update()
    live = model.weight.detach().clone()
    storage = model.weight.data_ptr()
    with average.applied():
        torch.testing.assert_close(model.weight.detach(), average.state_dict()["weight"])
        assert model.weight.data_ptr() == storage  # in place: a CUDA graph's inputs stay put
    assert torch.equal(model.weight.detach(), live)
    with pytest.raises(RuntimeError), average.applied():
        raise RuntimeError("validation failed")
    assert torch.equal(model.weight.detach(), live)  # put back on an error too


FAST = dict(horizon=4, lookback=24, d_model=16, n_layers=1, batch_size=16, max_steps_per_epoch=4,
            progress=False, device="cpu")


def test_a_fit_returns_the_average_of_its_best_epoch(tmp_path):
    # One epoch: the best epoch is the last one, whose average the checkpoint keeps beside
    # the trained weights.
    est = TSMambaForecaster(ema_decay=0.9, max_epochs=1, **FAST)
    est.fit(demo(n_rows=200, n_series=2), checkpoint_dir=tmp_path)
    with safe_open(str(tmp_path / FILE), framework="pt") as reader:
        stored = {key: reader.get_tensor(key) for key in reader.keys()}
    fitted = est.model_.state_dict()
    averaged = [k for k in stored if k.startswith("average/") and k != f"average/{STEPS}"]
    assert averaged
    for key in averaged:
        name = key[len("average/"):]
        assert torch.equal(fitted[name].cpu(), stored[key])
        assert torch.equal(stored[f"best/{name}"], stored[key])
    assert any(not torch.equal(stored[k], stored["model/" + k[len("average/"):]])
               for k in averaged)  # the average is not the trained weights


def test_the_average_changes_the_forecast_and_zero_turns_it_off():
    df = demo(n_rows=200, n_series=2)
    plain = TSMambaForecaster(ema_decay=0.0, max_epochs=2, **FAST).fit(df).predict()
    again = TSMambaForecaster(ema_decay=0.0, max_epochs=2, **FAST).fit(df).predict()
    averaged = TSMambaForecaster(ema_decay=0.9, max_epochs=2, **FAST).fit(df).predict()
    assert plain.equals(again)
    assert not plain.equals(averaged)


@pytest.mark.parametrize("value", [1.0, -0.1, 1.5])
def test_a_decay_outside_zero_to_one_is_named(value):
    with pytest.raises(TSMambaInputError, match=r"ema_decay must be in \[0, 1\)"):
        TSMambaForecaster(ema_decay=value, **FAST).fit(demo(n_rows=200, n_series=2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_average_works_with_a_captured_step(monkeypatch):
    # The captured step updates the weights through a CUDA graph; swapping the average in and
    # out must copy into the graph's tensors, so both ways give the same model.
    import tsmamba.training_step as training_step

    df = demo(n_rows=400, n_series=3)
    settings = dict(FAST, device="cuda", ema_decay=0.9, max_epochs=3, dropout=0.0)
    graphed = TSMambaForecaster(**settings).fit(df).predict()
    monkeypatch.setattr(training_step, "CUDA_GRAPHS", False)
    eager = TSMambaForecaster(**settings).fit(df).predict()
    assert ((graphed - eager).abs().to_numpy().max()) < 1e-3
