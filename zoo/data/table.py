"""Reading and validating a time-series table (a ``date`` column plus numeric channels).

Every problem is a :class:`DataValidationError` that names the file, the column and the row, because
a forecasting number is only as good as the rows it was computed on. Cleaning is opt-in:

- ``missing="error"`` (default): NaN or a sentinel value (``-9999`` by default) is an error;
  ``"keep"`` uses the raw values (what TSLib does with weather.csv's -9999 entries);
  ``"interpolate"`` replaces them by linear interpolation in time (edges: nearest valid value).
- ``timestamps="strict"`` (default): timestamps must strictly increase; ``"ignore"`` keeps the
  row order as it is (TSLib windows by row index, e.g. over weather.csv's one duplicated stamp).

Row numbers in messages are 0-based data rows; the file line is ``row + 2`` (line 1 is the header).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

MissingPolicy = Literal["error", "keep", "interpolate"]
TimestampPolicy = Literal["strict", "ignore"]
#: The splits every data module serves (time series, M4 panels, images).
Stage = Literal["train", "val", "test"]
STAGES: tuple[Stage, ...] = get_args(Stage)


class DataValidationError(ValueError):
    """A data file that cannot be used as it is; the message names the file, column and row."""


@dataclass(frozen=True)
class SeriesTable:
    """A validated table: ``values[i, c]`` is channel ``columns[c]`` at ``dates[i]``."""

    source: str  # file path or dataset name, for messages
    dates: pd.DatetimeIndex
    columns: list[str]
    values: np.ndarray  # (N, C) float64

    def __len__(self) -> int:
        return len(self.dates)


def _where(source: str, column: str, rows: np.ndarray, what: str, hint: str) -> DataValidationError:
    first = int(rows[0])
    more = f" and {len(rows) - 1} more row(s)" if len(rows) > 1 else ""
    return DataValidationError(
        f"{source}: column {column!r} has {what} at row {first} (file line {first + 2}){more}. {hint}"
    )


def _parse_dates(frame: pd.DataFrame, source: str, date_column: str) -> pd.DatetimeIndex:
    if date_column not in frame.columns:
        raise DataValidationError(
            f"{source}: no date column {date_column!r}; columns are {list(frame.columns)}"
        )
    raw = frame[date_column]
    dates = pd.to_datetime(raw, errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if len(bad):
        raise _where(
            source, date_column, bad, f"an unparseable timestamp {raw.iloc[bad[0]]!r}", "Fix the file."
        )
    return pd.DatetimeIndex(dates)


def _check_timestamps(
    dates: pd.DatetimeIndex, source: str, date_column: str, policy: TimestampPolicy
) -> None:
    steps = np.diff(dates.asi8)
    duplicate = np.flatnonzero(steps == 0) + 1
    backwards = np.flatnonzero(steps < 0) + 1
    if not len(duplicate) and not len(backwards):
        return
    hint = "Pass timestamps='ignore' to window by row order as TSLib does."
    if policy == "ignore":
        log.warning(
            "%s: %d duplicate and %d non-increasing timestamp(s) kept as they are",
            source,
            len(duplicate),
            len(backwards),
        )
        return
    if len(backwards):
        rows = backwards
        what = f"a timestamp that goes backwards ({dates[rows[0]]} after {dates[rows[0] - 1]})"
    else:
        rows = duplicate
        what = f"a duplicate timestamp ({dates[rows[0]]})"
    raise _where(source, date_column, rows, what, hint)


def _numeric_values(frame: pd.DataFrame, source: str, columns: list[str]) -> np.ndarray:
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for c, name in enumerate(columns):
        col = pd.to_numeric(frame[name], errors="coerce")
        not_numeric = np.flatnonzero(col.isna().to_numpy() & frame[name].notna().to_numpy())
        if len(not_numeric):
            raise _where(
                source,
                name,
                not_numeric,
                f"a non-numeric value {frame[name].iloc[not_numeric[0]]!r}",
                "Only numeric channels besides the date column are supported.",
            )
        out[:, c] = col.to_numpy(dtype=np.float64)
    return out


def _handle_missing(
    values: np.ndarray, source: str, columns: list[str], policy: MissingPolicy, sentinels: tuple[float, ...]
) -> np.ndarray:
    bad = np.isnan(values) | np.isinf(values)
    for s in sentinels:
        bad |= values == s
    if not bad.any():
        return values
    if policy == "keep":
        log.warning(
            "%s: %d missing/sentinel value(s) kept as they are (missing='keep')", source, int(bad.sum())
        )
        return values
    if policy == "error":
        c = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, c])
        first = values[rows[0], c]
        what = "a missing value (NaN)" if np.isnan(first) else f"the sentinel value {first:g}"
        raise _where(
            source,
            columns[c],
            rows,
            what,
            "Cleaning is opt-in: missing='interpolate' fills by linear interpolation, "
            "missing='keep' uses the raw values.",
        )
    cleaned = pd.DataFrame(np.where(bad, np.nan, values))
    if cleaned.isna().all(axis=0).any():
        c = int(np.flatnonzero(cleaned.isna().all(axis=0).to_numpy())[0])
        raise DataValidationError(f"{source}: column {columns[c]!r} has no valid value to interpolate from")
    filled = cleaned.interpolate(method="linear", limit_direction="both", axis=0)
    log.info("%s: interpolated %d missing/sentinel value(s)", source, int(bad.sum()))
    return filled.to_numpy(dtype=np.float64)


def load_series_table(
    path: str | Path,
    *,
    date_column: str = "date",
    target: str | None = None,
    missing: MissingPolicy = "error",
    timestamps: TimestampPolicy = "strict",
    sentinels: tuple[float, ...] = (-9999.0,),
    source: str | None = None,
) -> SeriesTable:
    """Read a CSV into a validated :class:`SeriesTable`.

    Column order follows TSLib's ``Dataset_Custom``: every channel in file order, with ``target`` (when
    given and present) moved to the end.
    """
    path = Path(path)
    name = source or str(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such data file {str(path)!r}")
    try:
        frame = pd.read_csv(path, encoding="utf-8", encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataValidationError(f"{name}: cannot parse as CSV: {err}") from err
    return table_from_frame(
        frame,
        source=name,
        date_column=date_column,
        target=target,
        missing=missing,
        timestamps=timestamps,
        sentinels=sentinels,
    )


def table_from_frame(
    frame: pd.DataFrame,
    *,
    source: str,
    date_column: str = "date",
    target: str | None = None,
    missing: MissingPolicy = "error",
    timestamps: TimestampPolicy = "strict",
    sentinels: tuple[float, ...] = (-9999.0,),
) -> SeriesTable:
    """Validate an in-memory frame the same way as :func:`load_series_table`."""
    if len(frame) == 0:
        raise DataValidationError(f"{source}: the table has no rows")
    dates = _parse_dates(frame, source, date_column)
    _check_timestamps(dates, source, date_column, timestamps)
    columns = [c for c in frame.columns if c != date_column]
    if not columns:
        raise DataValidationError(f"{source}: no channel columns besides {date_column!r}")
    if target is not None and target in columns:
        columns = [c for c in columns if c != target] + [target]
    values = _numeric_values(frame, source, columns)
    values = _handle_missing(values, source, columns, missing, sentinels)
    return SeriesTable(source=source, dates=dates, columns=[str(c) for c in columns], values=values)
