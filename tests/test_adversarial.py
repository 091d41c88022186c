"""Adversarial inputs, drawn at random (seeded) and CI-sized: bad frames, bad parameters and
bad command lines. Every outcome must be a result or one of the documented errors
(README, "Guarantees"): never another exception type, a traceback on the command line, or a
changed input file."""

import hashlib
import random

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from typer.testing import CliRunner

from tsmamba import ModelFormatError, NonFiniteError, TSMambaForecaster, TSMambaInputError
from tsmamba.cli.main import app

@pytest.fixture(autouse=True)
def no_hang():
    """A case that runs past a minute fails (each takes well under a second) instead of
    hanging the suite."""
    import signal

    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def hung(signum, frame):
        raise AssertionError("a case ran for 60 s: hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


DOCUMENTED = (TSMambaInputError, TypeError, ModelFormatError, NonFiniteError, NotFittedError)
TINY = dict(d_model=8, d_state=4, n_layers=1, max_epochs=1, max_steps_per_epoch=1,
            batch_size=8, progress=False, device="cpu")
CASES = 30


def valid_frame(rng: random.Random) -> pd.DataFrame:
    n = rng.randint(40, 80)
    index = pd.date_range("2024-01-01", periods=n, freq=rng.choice(["h", "D", "15min"]))
    data = np.random.default_rng(rng.randint(0, 99)).normal(size=(n, 2)).cumsum(axis=0)
    return pd.DataFrame(data, index=index, columns=["a", "b"])


def spoil(frame: pd.DataFrame, rng: random.Random) -> pd.DataFrame:
    """One of the ways a frame goes wrong."""
    frame = frame.copy()
    row, n = rng.randrange(len(frame)), len(frame)
    kind = rng.randrange(14)
    if kind == 0:
        frame.iloc[row, 0] = np.nan
    elif kind == 1:
        frame.iloc[row, 1] = np.inf
    elif kind == 2:
        frame.iloc[row, 0] = 1e39
    elif kind == 3:
        frame["a"] = frame["a"].astype(object)
        frame.iloc[row, 0] = "1,5"
    elif kind == 4:
        frame = pd.concat([frame, frame.iloc[[row]]]).sort_index()
    elif kind == 5:
        frame = frame.drop(frame.index[row if 0 < row < n - 1 else 1])
    elif kind == 6:
        frame = frame.sample(frac=1.0, random_state=row)
    elif kind == 7:
        frame["flag"] = np.arange(len(frame)) % 2 == 0
    elif kind == 8:
        frame.columns = ["a", "a"]
    elif kind == 9:
        text = frame.index.strftime(rng.choice(["%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M",
                                                "%m/%d/%Y %H:%M", "%Y%m%d%H%M"]))
        frame = frame.reset_index(drop=True).assign(date=text)
        if rng.random() < 0.5:
            frame.loc[row, "date"] = "soon"
    elif kind == 10:
        frame = frame.iloc[:rng.randrange(0, 3)]
    elif kind == 11:
        frame["c"] = np.arange(len(frame)) + 1j
    elif kind == 12:
        frame["when"] = frame.index
    else:
        numeric = frame.select_dtypes("number").columns
        frame[numeric] = frame[numeric] * 1e-300
    return frame


BAD_PARAMS = {
    "random_state": ["x", -1, 1.5, None], "learning_rate": ["1e-3", -1, 0.0, None],
    "loss": ["rmse", ["mse"], None], "fill_gaps": ["bogus", 1], "drop_duplicates": ["all", 0],
    "device": ["mps", 3, "cuda:99"], "model": ["nope", 3, None],
    "model_options": [{"expand": 1.5}, {"unknown": 1}, "expand=2", {"expand": -2},
                      {"d_conv": 0}, {"bidirectional_time": "no"}],
    "horizon": [0, -1, 2.5, "3"], "lookback": [0, 1.0, "24"], "val_size": [1.5, "0.2", -0.1],
    "dropout": [1.0, "0.1"], "batch_size": [0, 2.5], "lr_decay": [0.0, 2.0, "x"],
    "augment": ["mixup", 1], "freq": ["bogus", 3], "time_col": ["missing", 3],
    "progress": ["yes", None], "id_col": [3, None], "target_col": [["y"]],
    "max_steps_per_epoch": ["5", 0], "warmup_epochs": ["1", -1], "mixup_sigma": ["1", -1.0],
    "distill_weight": ["0.5", 2.0], "teacher": [3, "no/such/model"], "ema_decay": ["0.9", 1.0],
}


def outcome_is_documented(frame, params, names: str | None = None) -> None:
    """A finite forecast, or a documented error; with `names`, one whose message names it."""
    try:
        forecast = TSMambaForecaster(**params).fit(frame).predict()
    except DOCUMENTED as exc:
        assert names is None or names in str(exc), f"{exc!r} does not name {names!r}"
        return
    assert np.isfinite(forecast.select_dtypes("number").to_numpy()).all()


@pytest.mark.parametrize("seed", range(CASES))
def test_random_bad_frames(seed):
    rng = random.Random(seed)
    frame = valid_frame(rng)
    for _ in range(rng.randint(1, 2)):
        frame = spoil(frame, rng)
    outcome_is_documented(frame, dict(TINY, horizon=3, lookback=12))


PAIRS = [(name, value) for name, values in sorted(BAD_PARAMS.items()) for value in values]


@pytest.mark.parametrize("index", range(len(PAIRS)))
def test_every_bad_parameter_on_a_frame_good_or_bad(index):
    name, value = PAIRS[index]
    rng = random.Random(500 + index)
    frame = valid_frame(rng)
    if rng.random() < 0.5:
        frame = spoil(frame, rng)
    # Parameters are checked before the frame, so the error names the parameter.
    names = "option" if name == "model_options" else name
    outcome_is_documented(frame, {**TINY, "horizon": 3, "lookback": 12, name: value}, names)


BAD_ARGS = [["--horizon", "0"], ["--horizon", "abc"], ["--lookback", "-3"],
            ["--option", "x"], ["--option", "=1"], ["--option", "expand=abc"],
            ["--option", "nope=1"], ["-o", "{tmp}/f.json"], ["--plot", "{tmp}/p.txt"],
            ["--level", "150"], ["--freq", "bogus"], ["--fill-gaps", "bogus"],
            ["--model", "nope"], ["--device", "mps"], ["--set", "x"], ["--seed", "x"],
            ["-o", "{data}"], ["--time-col", "missing"], ["--checkpoint-dir", "{data}"]]


@pytest.mark.parametrize("seed", range(CASES))
def test_random_bad_command_lines(seed, tmp_path):
    rng = random.Random(1000 + seed)
    frame = valid_frame(rng)
    if rng.random() < 0.5:
        frame = spoil(frame, rng)
    data = tmp_path / "data.csv"
    frame.to_csv(data)
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    args = ["forecast", str(data), "--max-epochs", "1", "--no-progress", "--lookback", "12",
            "--horizon", "3"]
    for extra in rng.sample(BAD_ARGS, rng.randint(1, 2)):
        args += [a.format(tmp=tmp_path, data=data) for a in extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1, 2), (args, result.output)
    assert "Traceback" not in result.output and "hung" not in result.output, (args,
                                                                              result.output)
    if result.exit_code == 1:
        assert result.output.strip().splitlines()[-1].startswith("error:"), result.output
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before, args
