"""The benchmark datasets: one record each, a verified local cache, and a loader.

`load("ETTh1")` returns the CSV as a DataFrame from the data directory: `$TSMAMBA_DATA_DIR`
when set, else `$XDG_CACHE_HOME/tsmamba/data` (`~/.cache/tsmamba/data`). A file that is not
there is downloaded from its record's URL; every file, found or downloaded, must match the
record's sha256 before it is read, so a damaged or different file is never used silently.

Weather, exchange rate and ILI are distributed in the literature's Google Drive folder; the
records point at a plain-HTTP copy of the same bytes inside a zip (`member`), and the sha256
is that of the extracted CSV.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tsmamba.errors import TSMambaInputError
from tsmamba.files import sha256_file

ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/{}"
ZIP_URL = "https://raw.githubusercontent.com/aspire-zero/long_term_forecast_data/master/{}"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    filename: str
    url: str
    sha256: str
    freq: str  # pandas frequency of the time column
    split: str  # "ett-hour", "ett-minute" or "ratio" (see tsmamba's backtest protocol)
    time_col: str = "date"
    member: str | None = None  # the CSV's path inside the zip at `url`, if zipped
    quirks: str = ""


REGISTRY = {d.name: d for d in [
    DatasetInfo("ETTh1", "ETTh1.csv", ETT_URL.format("ETTh1.csv"),
                "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066", "h", "ett-hour"),
    DatasetInfo("ETTh2", "ETTh2.csv", ETT_URL.format("ETTh2.csv"),
                "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b", "h", "ett-hour"),
    DatasetInfo("ETTm1", "ETTm1.csv", ETT_URL.format("ETTm1.csv"),
                "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e", "15min",
                "ett-minute"),
    DatasetInfo("ETTm2", "ETTm2.csv", ETT_URL.format("ETTm2.csv"),
                "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd", "15min",
                "ett-minute"),
    DatasetInfo("weather", "weather.csv", ZIP_URL.format("weather.zip"),
                "34ee981d07313e51da2a50bb600072c8ae4a69cb4b0651f4cb93a069d7a2ba63", "10min",
                "ratio", member="weather/weather.csv",
                quirks="one duplicate timestamp (2020-05-12 06:00) and 9 missing 10-minute steps "
                       "after 2020-05-29 09:30; the benchmark protocol is positional and keeps "
                       "the rows as they are"),
    DatasetInfo("exchange_rate", "exchange_rate.csv", ZIP_URL.format("exchange_rate.zip"),
                "48b4d9d3d508f5104162e85b9a6042e3557fde11aa9f2944eba8c0d0efc89842", "D",
                "ratio", member="exchange_rate/exchange_rate.csv",
                quirks="dates written YYYY/M/D H:MM"),
    DatasetInfo("national_illness", "national_illness.csv", ZIP_URL.format("illness.zip"),
                "93601f64d2566dc796ca4305adad8b8560c2db1a1ff04543c3bd813a7263570a", "7D",
                "ratio", member="illness/national_illness.csv"),
]}


def names() -> list[str]:
    return list(REGISTRY)


def info(name: str) -> DatasetInfo:
    if name not in REGISTRY:
        raise TSMambaInputError(f"unknown dataset {name!r}; available: {names()}")
    return REGISTRY[name]


def data_dir() -> Path:
    """Where datasets are looked for and downloaded to."""
    if os.environ.get("TSMAMBA_DATA_DIR"):
        return Path(os.environ["TSMAMBA_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "tsmamba" / "data"


def _fetch(url: str, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URLs
        return response.read()


def download(name: str) -> Path:
    """Download `name` into the data directory (atomically) and verify it."""
    record = info(name)
    target = data_dir() / record.filename
    try:
        payload = _fetch(record.url)
    except (urllib.error.URLError, OSError) as exc:
        raise TSMambaInputError(
            f"cannot download {record.name} from {record.url} ({exc}); offline, put the file "
            f"{record.filename} (sha256 {record.sha256}) into {target.parent}, or point "
            "TSMAMBA_DATA_DIR at a folder that has it") from None
    if record.member is not None:
        try:
            payload = zipfile.ZipFile(io.BytesIO(payload)).read(record.member)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise TSMambaInputError(f"{record.url} is not the expected zip ({exc})") from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != record.sha256:
        raise TSMambaInputError(f"{record.url} gave a file with sha256 {digest}, not "
                                f"{record.sha256}; it was not saved")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{record.filename}.", dir=target.parent)
    with os.fdopen(handle, "wb") as out:
        out.write(payload)
    os.replace(temporary, target)  # same folder: atomic, never a half-written CSV
    return target


def path(name: str) -> Path:
    """The verified local file of `name`, downloaded first when missing."""
    record = info(name)
    target = data_dir() / record.filename
    if not target.exists():
        return download(name)
    digest = sha256_file(target)
    if digest != record.sha256:
        raise TSMambaInputError(
            f"{target} has sha256 {digest}, not {record.sha256}: it is not the published "
            f"{record.name} file (edited or damaged); replace it or delete it to download again")
    return target


def load(name: str) -> pd.DataFrame:
    """The dataset as published: a DataFrame with its time column first, rows unchanged."""
    return pd.read_csv(path(name))
