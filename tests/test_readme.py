"""The README's Python snippets run as written, in order, in one namespace (as a reader pastes
them), on the demo data. Only the training budget is cut, by wrapping `fit`, so that the
suite stays quick; every line of the snippets runs."""

import re
from pathlib import Path

import pytest

from tsmamba import TSMambaForecaster

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_snippets_run_as_written(tmp_path, monkeypatch, fast):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    original_fit = TSMambaForecaster.fit

    def quick_fit(self, df, *args, **kwargs):
        self.set_params(**{k: fast[k] for k in ("max_epochs", "max_steps_per_epoch",
                                                 "d_state", "n_layers")}, progress=False,
                        device="cpu")
        return original_fit(self, df, *args, **kwargs)

    monkeypatch.setattr(TSMambaForecaster, "fit", quick_fit)
    monkeypatch.chdir(tmp_path)  # the snippets save "demo-model" here
    namespace = {}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {number + 1}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - say which snippet failed
            pytest.fail(f"README python block {number + 1} failed: {exc!r}\n{block}")
    assert namespace["same"].equals(namespace["forecast"])
