"""TSM2's structure: shapes, the weighted-average initialisation, and gradient flow."""

import torch

from tsmamba.models import build_config, build_model


def small_tsm2(options=None, **overrides):
    config = build_config("tsm2", options, n_series=3, lookback=32, horizon=6, d_model=8, d_state=4,
                          n_layers=3, patch_len=8, stride=4, dropout=0.0, norm="revin",
                          **overrides)
    torch.manual_seed(0)
    return build_model("tsm2", config)


def test_forecast_shape_and_finite():
    model = small_tsm2()
    y = model(torch.randn(4, 32, 3))
    assert y.shape == (4, 6, 3) and torch.isfinite(y).all()


def test_weights_start_as_plain_sequential_stacking():
    """With the initial alpha/beta/theta/gamma, TSM2 equals time -> channel -> time -> ... mixers."""
    model = small_tsm2().eval()
    x = torch.randn(2, 32, 3)
    with torch.no_grad():
        normed, stats = model.norm_in.normalise(x)
        h = model.embed(model.patching(normed.transpose(1, 2))) + model.position  # (b, m, p, d)
        b, m, p, d = h.shape
        for time_mixer, channel_mixer in zip(model.time_mixers, model.channel_mixers):
            h = time_mixer(h.reshape(b * m, p, d)).reshape(b, m, p, d)
            h = channel_mixer(h.permute(0, 2, 1, 3).reshape(b * p, m, d))
            h = h.reshape(b, p, m, d).permute(0, 2, 1, 3)
        expected = model.norm_in.denormalise(model.head(model.norm_out(h)).transpose(1, 2), stats)
        torch.testing.assert_close(model(x), expected)


def test_channel_mixer_lets_each_variate_see_the_others():
    model = small_tsm2().eval()
    x = torch.randn(1, 32, 3)
    bumped = x.clone()
    bumped[:, :, 2] += torch.randn(32)  # change only variate 2
    with torch.no_grad():
        y, y_bumped = model(x), model(bumped)
    assert not torch.allclose(y[..., 0], y_bumped[..., 0])  # variate 0 depends on variate 2


def test_every_parameter_gets_a_gradient():
    model = small_tsm2()
    model(torch.randn(2, 32, 3)).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    # Weights of not-yet-used earlier outputs start at 0 but must still be trainable.
    assert not missing, missing


def test_bidirectional_time_mixer_reads_later_patches():
    """Causal time mixer: a patch's token depends only on earlier patches; bidirectional: also
    on later ones."""
    for bidirectional, expect_future in ((False, False), (True, True)):
        model = small_tsm2(options={"bidirectional_time": bidirectional}).eval()
        mixer = model.time_mixers[0]
        x = torch.randn(1, 5, 8)
        later = x.clone()
        later[:, 4] += torch.randn(8)  # change only the last patch (not by a constant: LayerNorm)
        with torch.no_grad():
            sees_future = not torch.allclose(mixer(x)[:, 0], mixer(later)[:, 0])
        assert sees_future == expect_future
