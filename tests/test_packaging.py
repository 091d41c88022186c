"""The wheel holds tsmamba and its subpackages, and claims no top-level kernels/datasets/cli."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tsmamba

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["tsmamba", "tsmamba/models", "tsmamba/kernels", "tsmamba/kernels/selective_scan",
               "tsmamba/datasets", "tsmamba/cli"]


def test_wheel_contains_every_subpackage_and_no_top_level_names(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "tests", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(source)], check=True)
    (wheel,) = (tmp_path / "dist").glob("tsmamba-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in SUBPACKAGES:
        assert f"{package}/__init__.py" in names, package
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"tsmamba"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tsmamba = tsmamba.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_subpackages_import_under_the_tsmamba_namespace():
    import tsmamba.cli.main
    import tsmamba.datasets
    import tsmamba.kernels

    assert tsmamba.kernels.__name__ == "tsmamba.kernels"
    assert Path(tsmamba.kernels.__file__).parent.name == "kernels"
    assert callable(tsmamba.datasets.demo) and callable(tsmamba.cli.main.main)


def test_repository_root_is_not_on_sys_path():
    # "" on sys.path means the working directory, which is the repository root under CI.
    roots = {Path(p or ".").resolve() for p in sys.path}
    assert REPO not in roots
    assert tsmamba.TSMambaForecaster is not None
