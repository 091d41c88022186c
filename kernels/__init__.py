"""Scan operators for tsmamba's models, each with a sequential reference and fast paths."""

from .selective_scan import selective_scan, selective_state_update

__all__ = ["selective_scan", "selective_state_update"]
