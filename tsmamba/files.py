"""File helpers shared by model files, checkpoints, CLI outputs and the dataset cache."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks so large files never sit in memory whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path beside `path`, with its suffix (writers pick formats by it), and
    rename it over `path` once the block ends without an error. A kill or Ctrl-C mid-write
    leaves the earlier file whole and no half-written one that still parses; the temporary
    is removed on any error."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}",
                                         dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)  # same folder: atomic
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
