"""Forecast and backtest files: CSV or parquet by extension, atomic, never over an existing file unless asked.

Every table is written to a temporary file beside its destination, fsynced and renamed into place, so a
failure leaves nothing behind; a ``<file>.sha256`` line in ``sha256sum`` format is written beside it
(``sha256sum -c forecast.csv.sha256`` checks it; :func:`verify_table` does the same in Python). A backtest
is one directory (``metrics``, ``forecasts`` and ``summary`` tables and a ``SHA256SUMS`` file), staged
and renamed as a whole.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from zoo.data.reading import PARQUET_SUFFIXES
from zoo.hub.errors import OutputExistsError
from zoo.hub.files import check_directory_target, write_directory, write_text_atomic

SUFFIXES = (".csv", *PARQUET_SUFFIXES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_output_path(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """``path`` if a table may be written there: a known extension, and nothing there unless ``overwrite``.

    Args:
        path: the output file.
        overwrite: replace an existing file.
    """
    target = Path(path)
    if target.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{target}: unknown output format {target.suffix!r}; name the file .csv or .parquet")
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory; give a file name ending in .csv or .parquet")
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{target} already exists; pass --overwrite (overwrite=True) to replace it, or choose another path"
        )
    return target


BACKTEST_TABLES = ("metrics", "forecasts", "summary")
# what a backtest directory may hold, in either format: an earlier csv run may be replaced by a parquet one
BACKTEST_NAMES = frozenset({f"{t}{s}" for t in BACKTEST_TABLES for s in SUFFIXES} | {"SHA256SUMS"})


def check_output_directory(directory: str | os.PathLike[str], overwrite: bool) -> Path:
    """``directory`` if a backtest may be written there: nothing there unless ``overwrite``, never a file,
    and never a directory holding files a backtest does not write (:func:`zoo.hub.check_directory_target`).

    Args:
        directory: the output directory.
        overwrite: replace an existing backtest directory.
    """
    target = Path(directory)
    check_directory_target(target, BACKTEST_NAMES, overwrite)
    return target


def _write_frame(frame: pd.DataFrame, path: Path, suffix: str) -> None:
    if suffix in PARQUET_SUFFIXES:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``frame`` to ``path`` (CSV or parquet by extension) atomically, with ``<path>.sha256`` beside it.

    Args:
        frame: the table.
        path: the output file, ``.csv`` or ``.parquet``.
        overwrite: replace an existing file.
    """
    target = check_output_path(path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        _write_frame(frame, staging, target.suffix.lower())
        with open(staging, "rb") as handle:
            os.fsync(handle.fileno())
        digest = _sha256(staging)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    write_text_atomic(target.with_name(target.name + ".sha256"), f"{digest}  {target.name}\n")
    return target


def verify_table(path: str | os.PathLike[str]) -> None:
    """Check a table against the ``<path>.sha256`` written beside it; an error names the file.

    Args:
        path: a table written by :func:`write_table`.
    """
    target = Path(path)
    record = target.with_name(target.name + ".sha256")
    if not record.is_file():
        raise FileNotFoundError(f"{record} not found: {target} has no recorded sha256")
    expected = record.read_text().split()[0]
    actual = _sha256(target)
    if actual != expected:
        raise ValueError(f"{target}: sha256 {actual} differs from {expected} recorded in {record.name}")


def write_backtest(
    tables: Mapping[str, pd.DataFrame],
    directory: str | os.PathLike[str],
    *,
    suffix: str = ".csv",
    overwrite: bool = False,
) -> Path:
    """Write a backtest's tables into ``directory`` (one file each and ``SHA256SUMS``), atomically.

    Args:
        tables: name -> table (``metrics``, ``forecasts``, ``summary``).
        directory: the output directory.
        suffix: ".csv" or ".parquet".
        overwrite: replace an existing directory.
    """
    if suffix not in SUFFIXES:
        raise ValueError(f"unknown output format {suffix!r}; use .csv or .parquet")
    target = check_output_directory(directory, overwrite)
    names = {f"{name}{suffix}": frame for name, frame in tables.items()}

    def writer(frame: pd.DataFrame):
        return lambda path: _write_frame(frame, path, suffix)

    def sums(path: Path) -> None:
        lines = [f"{_sha256(path.parent / name)}  {name}\n" for name in names]
        path.write_text("".join(lines))

    files = {**{n: writer(f) for n, f in names.items()}, "SHA256SUMS": sums}
    return write_directory(target, files, overwrite=overwrite, replaceable=BACKTEST_NAMES)
