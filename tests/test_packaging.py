"""The wheel holds tsmamba and its subpackages, and claims no top-level kernels/datasets/cli."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tsmamba

REPO = Path(__file__).resolve().parents[1]
# The card's folders and the packages they install as.
INSTALLED_AS = {"tsmamba": "tsmamba", "kernels": "tsmamba/kernels",
                "datasets": "tsmamba/datasets", "cli": "tsmamba/cli"}


def source_packages() -> list[str]:
    """Every package in the source tree, by the path it installs at: any folder of the card's
    top level with an __init__.py."""
    found = []
    for folder, installed in INSTALLED_AS.items():
        for init in sorted((REPO / folder).rglob("__init__.py")):
            relative = init.parent.relative_to(REPO / folder).as_posix()
            found.append(installed if relative == "." else f"{installed}/{relative}")
    return found


def test_pyproject_lists_every_package_of_the_source_tree():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert sorted(p.replace(".", "/") for p in listed) == sorted(source_packages())


def test_wheel_contains_every_subpackage_and_no_top_level_names(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".peers", "tests", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(source)], check=True)
    (wheel,) = (tmp_path / "dist").glob("tsmamba-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in source_packages():
        assert f"{package}/__init__.py" in names, package
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"tsmamba"}
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA")))
    requires = [line for line in metadata.decode().splitlines() if line.startswith("Requires-Dist")]
    # Triton only through an extra: a CPU-only install must not pull its 1 GB.
    assert [r for r in requires if "triton" in r] and \
        all("extra ==" in r for r in requires if "triton" in r)
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
