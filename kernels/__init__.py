"""Scan operators for tsmamba's models, each with a sequential reference and fast paths."""

from .selective_scan import selective_scan, selective_state_update
from .ssd import ssd

__all__ = ["selective_scan", "selective_state_update", "ssd"]
