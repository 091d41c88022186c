"""examples/quickstart.ipynb runs top to bottom and shows its figures."""

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_executes_and_draws_its_figures(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    data_dir = Path(os.environ.get("TSMAMBA_DATA_DIR", NOTEBOOK.parents[2] / "shared" / "data"))
    if not (data_dir / "ETTh1.csv").exists():
        pytest.skip(f"{data_dir / 'ETTh1.csv'} is not available (set TSMAMBA_DATA_DIR)")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("TSMAMBA_DATA_DIR", str(data_dir))  # the kernel inherits it
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    images = [o for cell in notebook.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    # forecast, cross-validation windows, backtest, ETTh1 forecast, the ragged panel's forecast
    assert len(images) == 5
    text = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for o in cell.get("outputs", []))
    assert "loaded model forecasts identically" in text
    assert "Name: cutoff" in text  # the ragged panel's cross-validation, each series' cutoffs
