"""Exception types. Input problems are ValueErrors, so `except ValueError` keeps working."""

from __future__ import annotations


class TSMambaInputError(ValueError):
    """The data or an argument cannot be used as given; the message says where and how to fix it."""


class ModelFormatError(ValueError):
    """A saved model directory is missing, corrupt, foreign or from an unsupported version."""
