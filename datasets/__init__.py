"""Datasets: the built-in synthetic demo and the benchmark registry (installed as
`tsmamba.datasets`)."""

from .demo import demo
from .registry import REGISTRY, DatasetInfo, data_dir, download, info, load, names, path

__all__ = ["demo", "load", "names", "info", "path", "download", "data_dir", "REGISTRY",
           "DatasetInfo"]
