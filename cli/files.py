"""Tables in and out of the command line: CSV or Parquet files, stdout, and output paths
checked before any training."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Optional


TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq")


def read_table(path: Optional[Path]):
    """The frame in `path` (.csv, .tsv, .txt or .parquet; "-": CSV on stdin), or the demo
    data for None."""
    import pandas as pd

    if path is None:
        from tsmamba.datasets import demo

        return demo()
    if str(path) == "-":
        path, source = Path("(stdin)"), sys.stdin
    else:
        source = path
    suffix = path.suffix.lower() if source is not sys.stdin else ".csv"
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    try:
        frame = pd.read_csv(source, sep="\t" if suffix == ".tsv" else ",")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                         f"{exc.start}); save it as UTF-8 CSV, or as Parquet") from None
    if frame.shape[1] == 1 and len(frame) and any(s in str(frame.columns[0]) for s in ";|\t"):
        raise ValueError(f"{path}: only one column was read, named {frame.columns[0]!r}; the "
                         "file seems to use another delimiter: save it comma-separated")
    return frame


def check_writable(*paths: Optional[Path]) -> None:
    """Fail before training, not after it, when an output path cannot be written."""
    for path in paths:
        if path is None:
            continue
        folder = path.parent
        if not folder.is_dir():
            raise OSError(errno.ENOENT, f"cannot write it: {folder} is not an existing directory;"
                          " create it or choose another path", str(path))
        if not os.access(folder, os.W_OK):
            raise OSError(errno.EACCES, f"cannot write it: no permission to write in {folder}",
                          str(path))
        if path.is_dir():
            raise OSError(errno.EISDIR, "is a directory; give a file name", str(path))
        if path.exists() and not os.access(path, os.W_OK):
            # A rename would replace it anyway; read-only is the user saying "keep this".
            raise OSError(errno.EACCES, "is read-only; make it writable or choose another path",
                          str(path))


def check_table_output(output: Optional[Path], data: Optional[Path]) -> None:
    """Fail before training when -o names a format it would not write, or the input file."""
    if output is None:
        return
    if output.suffix.lower() not in TABLE_SUFFIXES:
        raise OSError(errno.EINVAL, f"{output.suffix or 'no suffix'} is not a table format "
                      "tsmamba writes; end the name in .csv or .parquet", str(output))
    if data is not None and str(data) != "-" and output.exists() and \
            os.path.samefile(output, data):
        raise OSError(errno.EEXIST, "is the input data; writing the forecast there would "
                      "overwrite it: choose another path", str(output))


def check_image_paths(*paths: Optional[Path]) -> None:
    """Fail before training when a plot's suffix names no image format matplotlib writes."""
    wanted = [p for p in paths if p is not None]
    if not wanted:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    for path in wanted:
        if path.suffix.lower().lstrip(".") not in formats:
            raise OSError(errno.EINVAL, f"{path.suffix or 'no suffix'} is not an image format; "
                          f"end the name in one of {', '.join('.' + f for f in sorted(formats))}",
                          str(path))


def _nearest_folder(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_directory_output(path: Optional[Path], what: str) -> None:
    """Fail before training when `path` (a model directory or a checkpoint directory) cannot
    be written, or, for a model, could not be replaced (it holds other files)."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise OSError(errno.ENOTDIR, f"is a file; {what} is a directory: choose another path",
                      str(path))
    nearest = _nearest_folder(path)
    if not nearest.is_dir() or not os.access(nearest, os.W_OK):
        raise OSError(errno.EACCES, f"cannot write {what} there: no permission to write in "
                      f"{nearest}", str(path))
    if what == "a model" and path.is_dir():
        from tsmamba.model_io import check_replaceable

        check_replaceable(path)


def write_table(frame, path: Optional[Path]) -> None:
    """`frame` to `path` (Parquet for .parquet / .pq, else CSV), or CSV on stdout for None."""
    import pandas as pd

    from tsmamba.files import atomic_write

    index = not isinstance(frame.index, pd.RangeIndex)  # long frames carry their time in ds
    if path is None:
        try:
            frame.to_csv(sys.stdout, index=index)
            sys.stdout.flush()
        except BrokenPipeError:  # `| head` stopped reading: end quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(141) from None  # 128 + SIGPIPE
        return
    with atomic_write(path) as temporary:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(temporary, index=index)
        else:
            frame.to_csv(temporary, index=index)


def save_figure(figure, path: Path) -> None:
    """`figure` as an image at `path` (its format from the suffix), written atomically."""
    from tsmamba.files import atomic_write

    with atomic_write(path) as temporary:
        figure.savefig(temporary, dpi=110)


def append_line(path: Path, line: str) -> None:
    """`line` added at the end of the text file `path` (created if missing), by writing the
    whole file anew beside it and renaming: a kill mid-write never leaves a broken last line."""
    from tsmamba.files import atomic_write

    earlier = path.read_text(encoding="utf-8") if path.exists() else ""
    if earlier and not earlier.endswith("\n"):
        earlier += "\n"
    with atomic_write(path) as temporary:
        temporary.write_text(earlier + line + "\n", encoding="utf-8")
