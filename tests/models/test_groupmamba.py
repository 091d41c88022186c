"""GroupMamba's structure: shapes, each group scanning its own direction, gradient flow, and
determinism."""

import pytest
import torch

from tsmamba.models import build_config, build_model
from tsmamba.models.groupmamba import DIRECTIONS, GroupedScan


def small_groupmamba(options=None, seed=0):
    config = build_config("groupmamba", options, n_series=3, lookback=32, horizon=6, d_model=8,
                          d_state=4, n_layers=2, patch_len=8, stride=4, dropout=0.0, norm="revin")
    torch.manual_seed(seed)
    return build_model("groupmamba", config)


@pytest.mark.parametrize("options", [None, {"weighted_average": True}],
                         ids=["stacked", "weighted-average"])
def test_forecast_shape_finite_and_every_parameter_learns(options):
    model = small_groupmamba(options)
    y = model(torch.randn(4, 32, 3))
    assert y.shape == (4, 6, 3) and torch.isfinite(y).all()
    y.pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_same_seed_same_network_and_forecast():
    x = torch.randn(2, 32, 3)
    a, b, c = small_groupmamba(seed=1), small_groupmamba(seed=1), small_groupmamba(seed=2)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
        assert not torch.allclose(a(x), c(x))


def mirrored_scan(e=4):
    """A grouped scan whose backward groups have their forward twin's weights, on an input whose
    channel groups are copies of each other. Groups of 4 channels: LayerNorm over 2 maps every
    pair to (-1, 1) or (1, -1), which would hide most changes of the input."""
    torch.manual_seed(0)
    scan = GroupedScan(4 * e, d_state=4, expand=2, d_conv=2).eval()
    for forward, backward in ((0, 1), (2, 3)):
        scan.norms[backward].load_state_dict(scan.norms[forward].state_dict())
        scan.mixers[backward].load_state_dict(scan.mixers[forward].state_dict())
    group = torch.randn(2, 3, 5, e)  # (b, m, k, e)
    return scan, torch.cat([group] * 4, dim=-1), e


@pytest.mark.parametrize("pair, axis", [((0, 1), 2), ((2, 3), 1)], ids=["patches", "variates"])
def test_flipping_the_grid_maps_each_direction_to_its_mirror(pair, axis):
    """A forward scan of the flipped grid is the backward scan of the grid, flipped back."""
    scan, x, e = mirrored_scan()
    forward, backward = pair
    assert DIRECTIONS[forward][1] is False and DIRECTIONS[backward][1] is True
    with torch.no_grad():
        out, out_of_flipped = scan(x), scan(x.flip(axis))
    part = lambda t, g: t[..., g * e:(g + 1) * e]  # noqa: E731
    torch.testing.assert_close(part(out_of_flipped, forward), part(out, backward).flip(axis))
    torch.testing.assert_close(part(out_of_flipped, backward), part(out, forward).flip(axis))


@pytest.mark.parametrize("group, axis, later_unseen", [
    (0, 2, True), (1, 2, False), (2, 1, True), (3, 1, False)],
    ids=["patches-forward", "patches-backward", "variates-forward", "variates-backward"])
def test_each_group_reads_only_what_precedes_it_in_its_direction(group, axis, later_unseen):
    """Changing the last patch (variate) leaves a forward group's earlier outputs alone; a
    backward group's output at the last position sees nothing but that position onwards."""
    scan, x, e = mirrored_scan()
    bumped = x.clone()
    index = [slice(None)] * 4
    index[axis] = -1
    bumped[tuple(index)] += torch.randn_like(bumped[tuple(index)])
    with torch.no_grad():
        out, out_bumped = scan(x), scan(bumped)
    part = lambda t: t[..., group * e:(group + 1) * e]  # noqa: E731
    first = [slice(None)] * 4
    first[axis] = 0
    # Exactly equal: causality is exact, while a reverse scan's reach over a few steps can be
    # small (dt starts at 1e-3 to 1e-1).
    same_at_first = torch.equal(part(out)[tuple(first)], part(out_bumped)[tuple(first)])
    assert same_at_first == later_unseen


def test_d_model_must_split_into_the_four_groups():
    from tsmamba import TSMambaInputError

    config = build_config("groupmamba", None, n_series=3, lookback=32, horizon=6, d_model=10,
                          d_state=4, n_layers=1, patch_len=8, stride=4, dropout=0.0, norm="revin")
    with pytest.raises(TSMambaInputError, match="divisible by 4"):
        build_model("groupmamba", config)
