"""Exception types. Input problems are ValueErrors, so `except ValueError` keeps working."""

from __future__ import annotations


class TSMambaInputError(ValueError):
    """The data or an argument cannot be used as given; the message says where and how to fix it."""


class ModelFormatError(ValueError):
    """A saved model directory is missing, corrupt, foreign or from an unsupported version."""


class NonFiniteError(RuntimeError):
    """Training produced a NaN or infinite loss or weight; the message says where. Nothing
    non-finite is ever written to a checkpoint or a model file."""


class DistributedError(RuntimeError):
    """Distributed training cannot go on: a peer rank died or stopped answering, or the ranks
    were launched with different data or settings; the message says what to do."""
