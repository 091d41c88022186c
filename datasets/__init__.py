"""Data sets: the built-in synthetic demo (and, later, the benchmark registry)."""

from .demo import demo

__all__ = ["demo"]
