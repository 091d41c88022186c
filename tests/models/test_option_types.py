"""Model options are read and checked by their config field's type (issue 22, cause 4)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from tsmamba import TSMambaForecaster
from tsmamba.errors import TSMambaInputError
from tsmamba.models import build_config as build, options_from_text

SHARED = dict(n_series=2, lookback=24, horizon=4, d_model=8, d_state=4, n_layers=1, patch_len=8,
              stride=4, dropout=0.1, norm="revin")


def build_config(name, options):
    return build(name, options, **SHARED)


@pytest.mark.parametrize("value", ["no", "0", "False", "false", 1, None])
def test_a_boolean_option_takes_only_a_boolean(value):
    # "no" and "False" used to switch the option on (a non-empty string is truthy).
    with pytest.raises(TSMambaInputError, match="'bidirectional_time' must be true or false"):
        build_config("tsm2", {"bidirectional_time": value})


@pytest.mark.parametrize("value, kind", [(1.5, "int"), ("2", "int"), (True, "int")])
def test_numeric_options_refuse_other_types(value, kind):
    with pytest.raises(TSMambaInputError, match=f"'expand' must be a {kind}"):
        build_config("mamba", {"expand": value})


@pytest.mark.parametrize("model, option, value", [
    ("tsm2", "expand", 0), ("tsm2", "expand", -2), ("tsm2", "d_conv", 0), ("mamba", "d_conv", -1),
    ("mamba2", "chunk_size", 0), ("mamba2", "head_dim", 0),
    ("groupmamba", "affinity_reduction", 0), ("groupmamba", "ffn_expand", 0)])
def test_sizes_and_counts_must_be_positive(model, option, value):
    # These gave raw errors from torch (negative dimensions) or Python (division by zero).
    with pytest.raises(TSMambaInputError, match=f"'{option}' must be a positive integer"):
        build_config(model, {option: value})


def test_right_types_pass_through():
    config = build_config("tsm2", {"bidirectional_time": np.bool_(True), "expand": np.int64(3)})
    assert config.bidirectional_time is True and config.expand == 3
    assert build_config("s4", {"init": "lin"}).init == "lin"


def test_the_estimator_refuses_a_string_boolean_before_training(fast, hourly):
    model = TSMambaForecaster(model="tsm2", model_options={"bidirectional_time": "no"}, **fast)
    with pytest.raises(TSMambaInputError, match="bidirectional_time"):
        model.fit(hourly)


@pytest.mark.parametrize("text, value", [("False", False), ("no", False), ("OFF", False),
                                         ("0", False), ("true", True), ("Yes", True)])
def test_command_line_spellings_of_booleans(text, value):
    assert options_from_text("tsm2", {"bidirectional_time": text}) == {
        "bidirectional_time": value}


def test_command_line_numbers_and_bad_words():
    assert options_from_text("mamba2", {"head_dim": "8"}) == {"head_dim": 8}
    with pytest.raises(TSMambaInputError, match="'head_dim' must be a int, got 'eight'"):
        options_from_text("mamba2", {"head_dim": "eight"})
    with pytest.raises(TSMambaInputError, match="must be true or false .*got 'maybe'"):
        options_from_text("tsm2", {"bidirectional_time": "maybe"})


def test_the_cli_option_false_builds_the_causal_model(tmp_path):
    from tsmamba.cli.main import app
    from tsmamba.datasets import demo

    data = tmp_path / "small.csv"
    demo(n_rows=120, n_series=2).to_csv(data)
    model = tmp_path / "m"
    result = CliRunner().invoke(app, ["fit", str(data), "--out", str(model), "--horizon", "2",
                                      "--lookback", "24", "--max-epochs", "1", "--no-progress",
                                      "--model", "tsm2", "--option", "bidirectional_time=False"])
    assert result.exit_code == 0, result.output
    assert TSMambaForecaster.load(model).model_options == {"bidirectional_time": False}
    bad = CliRunner().invoke(app, ["fit", str(data), "--out", str(tmp_path / "n"), "--model",
                                   "tsm2", "--option", "bidirectional_time=maybe",
                                   "--no-progress"])
    assert bad.exit_code != 0 and "bidirectional_time" in bad.output
    assert "Traceback" not in bad.output
