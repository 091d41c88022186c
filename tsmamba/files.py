"""File helpers shared by model files, checkpoints, CLI outputs and the dataset cache."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no directory locks
    fcntl = None

# Whether `lock_directory` can lock at all; without locks, nothing may clean up temporaries
# that another process could still be writing.
CAN_LOCK = fcntl is not None


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


def lock_directory(folder, wait: bool = True) -> int | None:
    """An exclusive lock on the directory `folder`, held until `unlock` (or the process ends):
    the open descriptor, or None where there are no locks (Windows). With wait=False a folder
    another process holds raises BlockingIOError at once."""
    if not CAN_LOCK:
        return None
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BaseException:
        os.close(handle)
        raise
    return handle


def unlock(handle: int | None) -> None:
    if handle is not None:
        os.close(handle)  # closing the descriptor releases its lock
