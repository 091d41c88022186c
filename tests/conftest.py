import os
from pathlib import Path

import torch

# Without a GPU the Triton kernels run under Triton's interpreter on CPU tensors; the variable
# must be set before the kernel module is first imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TSMAMBA_DATA_DIR", REPO.parent / "shared" / "data"))
# The dataset registry reads from here; tests never download.
os.environ["TSMAMBA_DATA_DIR"] = str(SHARED_DATA)
# Tests that compare two fits bit for bit need the same thread count in both, whatever else
# the machine runs meanwhile (tsmamba otherwise takes fewer threads beside busy processes).
os.environ.setdefault("TSMAMBA_CPU_THREADS", str(torch.get_num_threads()))

# Small training budgets keep the suite fast; the numbers here are about behaviour, not skill.
# The CPU is pinned because several tests compare two fits or a fit and its reload bit for bit,
# which holds on the CPU only (the CUDA scan's backward sums with atomics; see README).
FAST = dict(d_model=16, d_state=4, n_layers=1, max_epochs=2, max_steps_per_epoch=3,
            batch_size=16, progress=False, device="cpu")


@pytest.fixture(scope="session")
def fast():
    return dict(FAST)


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """A test that needs a benchmark file the data directory lacks is skipped, never left to
    download it: the suite passes in a lone clone with no network."""
    from tsmamba.datasets import registry

    def skip(url, timeout=None):
        files = [r.filename for r in registry.REGISTRY.values() if r.url == url]
        pytest.skip(f"needs {' or '.join(files) or url}, absent from {SHARED_DATA} (tests "
                    "never download; set TSMAMBA_DATA_DIR to a folder with the benchmark CSVs)")

    monkeypatch.setattr(registry, "_fetch", skip)


def shared_csv(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not available (set TSMAMBA_DATA_DIR)")
    return path


@pytest.fixture
def hourly():
    """A small regular hourly wide frame with a DatetimeIndex."""
    from tsmamba.datasets import demo

    return demo(n_rows=200, n_series=3)


@pytest.fixture
def etth1_csv() -> Path:
    return shared_csv("ETTh1.csv")


@pytest.fixture
def etth1_head():
    return pd.read_csv(shared_csv("ETTh1.csv"), nrows=3000)


@pytest.fixture
def weather_slice(tmp_path):
    """Rows of weather.csv around its duplicate timestamp (2020-05-12 06:00) and its 100-minute
    gap (after 2020-05-29 09:30), byte-for-byte, so CLI tests stay quick."""
    lines = shared_csv("weather.csv").read_bytes().splitlines(keepends=True)
    path = tmp_path / "weather_slice.csv"
    path.write_bytes(b"".join([lines[0], *lines[18800:21800]]))
    return path
