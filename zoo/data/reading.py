"""Reading a user's table from CSV or parquet into a pandas frame, with clear errors for what is not one.

- Parquet by extension (``.parquet``, ``.pq``) or by its ``PAR1`` magic bytes, read with pyarrow.
- CSV otherwise: the separator is ``sep`` or sniffed from the first lines (``csv.Sniffer`` over
  ``, ; \\t |``); a file whose bytes are not text (NUL bytes, not UTF-8) is refused with a message that
  says what it looks like, rather than parsed into garbage.
- Duplicate column names are an error naming them (pandas would silently rename the second ``a`` to
  ``a.1``; parquet and DataFrames may carry both).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from zoo.data.table import DataValidationError

PARQUET_SUFFIXES = (".parquet", ".pq")
_PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 64 * 1024
_SEPARATORS = ",;\t|"


def is_parquet(path: Path) -> bool:
    """True when ``path`` is named or shaped like a parquet file (its first four bytes are ``PAR1``)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    with open(path, "rb") as handle:
        return handle.read(4) == _PARQUET_MAGIC


def check_unique_columns(columns: list[str], source: str) -> None:
    """A :class:`DataValidationError` naming the column names that appear more than once.

    Args:
        columns: the header, in file order.
        source: the file or frame, for the message.
    """
    seen: set[str] = set()
    duplicates = sorted({c for c in columns if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    if duplicates:
        raise DataValidationError(
            f"{source}: duplicate column name(s) {duplicates}; every column needs its own name. "
            "Rename them in the file."
        )


def sniff_separator(sample: str, source: str) -> str:
    """The separator of a CSV sample (its first lines), or ``","`` when there is a single column.

    Args:
        sample: the first kilobytes of the file, decoded.
        source: the file, for the message.
    """
    header = sample.splitlines()[0] if sample else ""
    try:
        return csv.Sniffer().sniff(sample, delimiters=_SEPARATORS).delimiter
    except csv.Error:
        counts = {sep: header.count(sep) for sep in _SEPARATORS}
        best = max(counts, key=lambda s: counts[s])
        return best if counts[best] else ","


def read_frame(path: str | Path, *, sep: str | None = None, source: str | None = None) -> pd.DataFrame:
    """The table in ``path`` (CSV or parquet) as a frame of raw columns; validation is the caller's.

    Args:
        path: a ``.csv`` (any separator) or ``.parquet`` file.
        sep: the CSV separator; None sniffs it from the first lines.
        source: the name used in messages (default: the path).
    """
    path = Path(path)
    name = source or str(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{name}: no such data file{' (it is a directory)' if path.is_dir() else ''}; "
            "give the path of a .csv or .parquet file"
        )
    if is_parquet(path):
        try:
            frame = pd.read_parquet(path)
        except ImportError as err:
            raise DataValidationError(f"{name}: reading parquet needs pyarrow: pip install pyarrow") from err
        except Exception as err:  # pyarrow raises ArrowInvalid / OSError subclasses for foreign bytes
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataValidationError(f"{name}: not a readable parquet file ({first})") from err
        check_unique_columns([str(c) for c in frame.columns], name)
        return frame
    raw = path.read_bytes()
    if not raw.strip():
        raise DataValidationError(f"{name}: the file is empty; a CSV needs a header line and data rows")
    head = raw[:_SNIFF_BYTES]
    if b"\x00" in head:
        raise DataValidationError(
            f"{name}: not a CSV file (it holds binary data); give a text CSV or a .parquet file"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataValidationError(
            f"{name}: not a UTF-8 text file (byte {err.start} is {raw[err.start : err.start + 1]!r}); "
            "save the CSV as UTF-8"
        ) from None
    separator = sep if sep is not None else sniff_separator(text[:_SNIFF_BYTES], name)
    header = next(csv.reader(io.StringIO(text.splitlines()[0]), delimiter=separator), [])
    check_unique_columns([c.strip() for c in header], name)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=separator)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        message = " ".join(str(err).split())
        raise DataValidationError(
            f"{name}: cannot parse as CSV with separator {separator!r}: {message}. "
            "Pass the right separator (sep=...) or fix the file."
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
