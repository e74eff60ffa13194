"""Validating a time-series table (a date column plus numeric channels), in wide or long format.

- **wide**: one series, one column per channel (the ETT files: ``date, HUFL, ..., OT``);
- **long**: a panel, ``id_column`` naming the series of each row (NeuralForecast's ``unique_id, ds, y``);
  each series becomes one :class:`SeriesTable`, its rows sorted by time.

``columns`` selects the channels (others are ignored) and ``target`` (one column or a list) names the
forecast channels, which go last in the given order. Unknown names are errors that suggest the closest
column.

Every problem is a :class:`DataValidationError` that names the file, the column and the row, because
a forecasting number is only as good as the rows it was computed on. Cleaning is opt-in:

- ``missing="error"`` (default): NaN (an empty cell) or a sentinel value (``-9999`` by default) is an error;
  ``"keep"`` keeps them as missing: sentinels become NaN, the scaler's statistics ignore them and every
  window whose ``x`` or ``y`` holds one is skipped (``zoo.data.windows``); a forecast whose input rows
  hold one is an error;
  ``"raw"`` uses sentinel values as the numbers they are (what TSLib does with weather.csv's -9999
  entries, needed to reproduce its tables); a NaN has no raw value and is an error under ``"raw"``;
  ``"interpolate"`` replaces them by linear interpolation in time (edges: nearest valid value).
- ``inf``, ``-inf`` and values beyond float32's range (``|v| > 3.4e38``, what the models compute in) are
  an error under every policy, naming the column, the row, its date and the value.
- ``timestamps="strict"`` (default): timestamps must strictly increase; ``"ignore"`` keeps the
  row order as it is (TSLib windows by row index, e.g. over weather.csv's one duplicated stamp).

Row numbers in messages are 0-based data rows; the file line is ``row + 2`` (line 1 is the header).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: What to do with NaN and sentinel values (module docstring): "error", "keep" (as missing: skipped),
#: "interpolate", or "raw" (sentinels used as numbers, as TSLib does).
MissingPolicy = Literal["error", "keep", "interpolate", "raw"]
#: The largest magnitude a float32 holds; a value beyond it becomes inf in a model's input.
FLOAT32_MAX = float(np.finfo(np.float32).max)
TimestampPolicy = Literal["strict", "ignore"]
#: The splits every data module serves (time series, M4 panels, images).
Stage = Literal["train", "val", "test"]
STAGES: tuple[Stage, ...] = get_args(Stage)


class DataValidationError(ValueError):
    """A data file that cannot be used as it is; the message names the file, column and row."""


@dataclass(frozen=True)
class SeriesTable:
    """A validated table: ``values[i, c]`` is channel ``columns[c]`` at ``dates[i]``.

    Attributes:
        source: the file path or dataset name, for messages.
        dates: the timestamps (N,), strictly increasing unless ``timestamps="ignore"``.
        columns: the channel names (C,), targets last.
        values: the channel values (N, C) float64.
        series_id: the series' id in a long-format file; "" for a wide one.
        file_rows: the data row of the file each row came from (N,), for a long file's messages; None
            when row ``i`` is the file's data row ``i`` (a wide file).
    """

    source: str
    dates: pd.DatetimeIndex
    columns: list[str]
    values: np.ndarray
    series_id: str = ""
    file_rows: np.ndarray | None = None

    @property
    def where(self) -> str:
        """The file, and the series in a long file, for messages."""
        return f"{self.source} (series {self.series_id!r})" if self.series_id else self.source

    def rows(self, start: int, end: int) -> SeriesTable:
        """The rows ``[start, end)`` (a view of the same series)."""
        file_rows = None if self.file_rows is None else self.file_rows[start:end]
        return SeriesTable(
            self.source,
            self.dates[start:end],
            self.columns,
            self.values[start:end],
            self.series_id,
            file_rows,
        )

    def file_row(self, i: int) -> int:
        """The file's data row of row ``i``, as every message names it.

        Args:
            i: a row of this table.
        """
        return i if self.file_rows is None else int(self.file_rows[i])

    def __len__(self) -> int:
        return len(self.dates)


def _where(
    source: str,
    column: str,
    rows: np.ndarray,
    what: str,
    hint: str,
    file_rows: np.ndarray | None = None,
    dates: pd.DatetimeIndex | None = None,
) -> DataValidationError:
    """The error for ``rows`` (positions in the table; ``file_rows`` maps them to data rows of the file;
    ``dates``, indexed like the table, adds the first row's date)."""
    first = int(rows[0] if file_rows is None else file_rows[rows[0]])
    dated = f", dated {dates[rows[0]]}" if dates is not None else ""
    more = f"{',' if dated else ''} and {len(rows) - 1} more row(s)" if len(rows) > 1 else ""
    return DataValidationError(
        f"{source}: column {column!r} has {what} at row {first} (file line {first + 2}){dated}{more}. {hint}"
    )


_DATE_NAMES = ("date", "ds", "datetime", "timestamp", "time", "dates", "day", "period")


def suggest_column(name: str, columns: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the column closest to ``name`` (case-insensitive), or "".

    Args:
        name: the column asked for.
        columns: the columns there are.
    """
    lowered = {str(c).lower(): str(c) for c in columns}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def resolve_columns(names: Sequence[str], columns: Sequence[str], source: str, option: str) -> list[str]:
    """``names`` checked against the frame's ``columns``; an unknown one is an error naming it and the option.

    Args:
        names: the columns an option asks for.
        columns: the columns of the file.
        source: the file, for the message.
        option: the option that named them (``columns``, ``target``, ``id_column``), for the message.
    """
    what = {
        "columns": "input",
        "id_column": "id",
        "past_columns": "past covariate",
        "future_columns": "future covariate",
        "static_columns": "static covariate",
    }.get(option, option)
    for name in names:
        if name not in columns:
            raise DataValidationError(
                f"{source}: unknown {what} column {name!r} (option {option}); the columns are "
                f"{list(columns)}.{suggest_column(name, columns)}"
            )
    return list(names)


def _guess_date_column(frame: pd.DataFrame) -> str | None:
    """The column most likely to hold timestamps: a date-like name, else the first that parses as dates."""
    for column in frame.columns:
        if str(column).lower() in _DATE_NAMES:
            return str(column)
    for column in frame.columns:
        head = frame[column].head(5)
        if head.dtype.kind in "Mm":
            return str(column)
        if (head.dtype == object or pd.api.types.is_string_dtype(head)) and len(head):
            parsed = pd.to_datetime(head, errors="coerce", format="mixed")
            if parsed.notna().all():
                return str(column)
    return None


def check_date_column(frame: pd.DataFrame, source: str, date_column: str) -> None:
    """A missing date column is an error listing the columns and suggesting the likely one.

    Args:
        frame: the raw table.
        source: the file, for the message.
        date_column: the column that should hold the timestamps.
    """
    if date_column not in frame.columns:
        guess = _guess_date_column(frame)
        header = str(frame.columns[0]) if len(frame.columns) == 1 else ""
        separator = next((sep for sep in ",;\t|" if sep in header), None)
        if separator is not None:  # one column whose name holds separators: the wrong sep was given
            raise DataValidationError(
                f"{source}: the header {header!r} was read as one column; it looks separated by {separator!r}: "
                f"pass sep={separator!r} (or leave sep unset to sniff it)"
            )
        hint = (
            f" The timestamps look like they are in {guess!r}: pass date_column={guess!r}."
            if guess
            else " Pass date_column=<the column with the timestamps>."
        )
        raise DataValidationError(
            f"{source}: no date column {date_column!r}; columns are {[str(c) for c in frame.columns]}.{hint}"
        )


def _parse_dates(frame: pd.DataFrame, source: str, date_column: str) -> pd.DatetimeIndex:
    check_date_column(frame, source, date_column)
    raw = frame[date_column]
    dates = pd.to_datetime(raw, errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if len(bad):
        raise _where(
            source, date_column, bad, f"an unparseable timestamp {raw.iloc[bad[0]]!r}", "Fix the file."
        )
    return pd.DatetimeIndex(dates)


def _check_timestamps(
    dates: pd.DatetimeIndex,
    source: str,
    date_column: str,
    policy: TimestampPolicy,
    file_rows: np.ndarray | None = None,
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
        if file_rows is not None:  # a long file: the pair (series, timestamp) appears twice
            hint = "Each (series, timestamp) pair must appear once: remove or aggregate the duplicates."
    raise _where(source, date_column, rows, what, hint, file_rows)


def _numeric_values(
    frame: pd.DataFrame, source: str, columns: list[str], file_rows: np.ndarray | None = None
) -> np.ndarray:
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for c, name in enumerate(columns):
        raw = frame[name]
        if raw.dtype == bool:
            raw = raw.astype(np.float64)
        col = pd.to_numeric(raw, errors="coerce")
        not_numeric = np.flatnonzero(col.isna().to_numpy() & raw.notna().to_numpy())
        if len(not_numeric):
            raise _where(
                source,
                name,
                not_numeric,
                f"a non-numeric value {raw.iloc[not_numeric[0]]!r}",
                "Only numeric channels besides the date (and id) column are supported: drop the column "
                "(columns=[...] selects the channels) or fix the value.",
                file_rows,
            )
        out[:, c] = col.to_numpy(dtype=np.float64)
    return out


def _check_finite(
    values: np.ndarray,
    source: str,
    columns: list[str],
    dates: pd.DatetimeIndex,
    file_rows: np.ndarray | None = None,
) -> None:
    """``inf``, ``-inf`` or a value beyond float32's range is an error under every missing policy: no
    statistic or window can use it, and unlike a NaN it is not a missing value that a policy may skip."""
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (np.abs(values) > FLOAT32_MAX)
    if not bad.any():
        return
    c = int(np.flatnonzero(bad.any(axis=0))[0])
    rows = np.flatnonzero(bad[:, c])
    value = values[rows[0], c]
    what = (
        f"the non-finite value {value:g}"
        if np.isinf(value)
        else f"the value {value:g}, beyond float32's range (|v| > {FLOAT32_MAX:.4g})"
    )
    raise _where(
        source,
        columns[c],
        rows,
        what,
        "No missing policy uses such a value: fix it in the file (a unit or parsing error?), or empty the "
        "cell and choose missing='keep' or missing='interpolate'.",
        file_rows,
        dates,
    )


def _handle_missing(
    values: np.ndarray,
    source: str,
    columns: list[str],
    policy: MissingPolicy,
    sentinels: tuple[float, ...],
    file_rows: np.ndarray | None = None,
) -> np.ndarray:
    nan = np.isnan(values)
    sentinel = np.zeros_like(nan)
    for s in sentinels:
        sentinel |= values == s
    bad = nan | sentinel
    if not bad.any():
        return values
    if policy == "keep":
        log.warning(
            "%s: %d missing/sentinel value(s) kept as missing (NaN, missing='keep'): the scaler ignores them "
            "and windows that contain them are skipped",
            source,
            int(bad.sum()),
        )
        return np.where(sentinel, np.nan, values)
    if policy == "raw" and not nan.any():
        log.warning(
            "%s: %d sentinel value(s) used as raw numbers (missing='raw')", source, int(sentinel.sum())
        )
        return values
    if policy in ("error", "raw"):
        at_fault = bad if policy == "error" else nan
        c = int(np.flatnonzero(at_fault.any(axis=0))[0])
        rows = np.flatnonzero(at_fault[:, c])
        first = values[rows[0], c]
        what = "a missing value (NaN)" if np.isnan(first) else f"the sentinel value {first:g}"
        hint = (
            "Cleaning is opt-in: missing='interpolate' fills by linear interpolation, missing='keep' keeps "
            "them missing (windows that contain them are skipped), missing='raw' uses sentinels as numbers."
            if policy == "error"
            else "missing='raw' uses sentinel values as numbers, but a NaN has no value: choose "
            "missing='keep' (windows that contain it are skipped) or missing='interpolate'."
        )
        raise _where(source, columns[c], rows, what, hint, file_rows)
    cleaned = pd.DataFrame(np.where(bad, np.nan, values))
    if cleaned.isna().all(axis=0).any():
        c = int(np.flatnonzero(cleaned.isna().all(axis=0).to_numpy())[0])
        raise DataValidationError(f"{source}: column {columns[c]!r} has no valid value to interpolate from")
    filled = cleaned.interpolate(method="linear", limit_direction="both", axis=0)
    log.info("%s: interpolated %d missing/sentinel value(s)", source, int(bad.sum()))
    return filled.to_numpy(dtype=np.float64)


def as_target_list(target: str | Sequence[str] | None) -> list[str]:
    """``target`` as a list of column names (None: none).

    Args:
        target: one column name, a list of them, or None.
    """
    if target is None:
        return []
    return [target] if isinstance(target, str) else [str(t) for t in target]


def channel_columns(
    frame: pd.DataFrame,
    source: str,
    *,
    date_column: str,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    target: str | Sequence[str] | None = None,
) -> list[str]:
    """The channels of a table in model order: ``columns`` (or every column but the date and id), with the
    targets present moved to the end in the order given (TSLib's ``Dataset_Custom`` puts its one target last).

    Args:
        frame: the raw table.
        source: the file, for messages.
        date_column: the timestamp column (never a channel).
        id_column: the series-id column of a long file (never a channel).
        columns: the channels to use (others are ignored); None: all.
        target: the forecast column(s); those named in ``columns`` (or present, for ``columns=None``) go last.
    """
    reserved = {date_column, *([id_column] if id_column else [])}
    if id_column is not None and id_column == date_column:
        raise DataValidationError(
            f"{source}: id_column and date_column are both {date_column!r}; the series ids need their own column"
        )
    for option, names in (("columns", list(columns or [])), ("target", as_target_list(target))):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DataValidationError(
                f"{source}: {option} names {twice} more than once; name each column once"
            )
    for name in as_target_list(target):
        if name in reserved:
            role = "date" if name == date_column else "id"
            raise DataValidationError(
                f"{source}: target {name!r} is the {role} column, not a channel; name a numeric column as target"
            )
    available = [str(c) for c in frame.columns if str(c) not in reserved]
    if columns is not None:
        chosen = resolve_columns(list(columns), [str(c) for c in frame.columns], source, "columns")
        clash = [c for c in chosen if c in reserved]
        if clash:
            raise DataValidationError(
                f"{source}: columns names {clash[0]!r}, which is the date or id column, not a channel"
            )
    else:
        chosen = available
    if not chosen:
        raise DataValidationError(f"{source}: no channel columns besides {sorted(reserved)}")
    targets = [t for t in as_target_list(target) if t in chosen]
    return [c for c in chosen if c not in targets] + targets


def tables_from_frame(
    frame: pd.DataFrame,
    *,
    source: str,
    date_column: str = "date",
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    target: str | Sequence[str] | None = None,
    missing: MissingPolicy = "error",
    timestamps: TimestampPolicy = "strict",
    sentinels: tuple[float, ...] = (-9999.0,),
) -> list[SeriesTable]:
    """Validate a raw frame into one :class:`SeriesTable` per series (one for a wide frame).

    Args:
        frame: the raw table (``zoo.data.reading.read_frame``, or a user's DataFrame).
        source: the file or frame, for messages.
        date_column: the timestamp column.
        id_column: the series-id column of a long-format frame; None: a wide frame of one series.
        columns: the channels to use (others are ignored); None: all but the date and id columns.
        target: the forecast column(s), moved last (see :func:`channel_columns`).
        missing: "error", "keep", "interpolate" or "raw" (module docstring).
        timestamps: "strict" or "ignore" (module docstring).
        sentinels: values that stand for missing data.
    """
    if len(frame) == 0:
        raise DataValidationError(f"{source}: the table has no rows")
    if id_column is not None:
        resolve_columns([id_column], [str(c) for c in frame.columns], source, "id_column")
    channels = channel_columns(
        frame, source, date_column=date_column, id_column=id_column, columns=columns, target=target
    )
    dates = _parse_dates(frame, source, date_column)
    if id_column is None:
        _check_timestamps(dates, source, date_column, timestamps)
        values = _numeric_values(frame, source, channels)
        _check_finite(values, source, channels, dates)
        values = _handle_missing(values, source, channels, missing, sentinels)
        return [SeriesTable(source=source, dates=dates, columns=channels, values=values)]
    ids = frame[id_column]
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())
        raise _where(source, id_column, rows, "a missing series id", "Every row needs its series id.")
    ids = ids.astype(str).to_numpy()
    order = np.lexsort((dates.asi8, ids))  # by series, then time; stable, rows may come in any order
    tables = []
    boundaries = np.flatnonzero(ids[order][1:] != ids[order][:-1]) + 1
    for rows in np.split(order, boundaries):
        series_id = str(ids[rows[0]])
        part = frame.iloc[rows]
        where = f"{source} (series {series_id!r})"
        series_dates = pd.DatetimeIndex(dates[rows])
        _check_timestamps(series_dates, where, date_column, timestamps, file_rows=rows)
        values = _numeric_values(part, where, channels, file_rows=rows)
        _check_finite(values, where, channels, series_dates, file_rows=rows)
        values = _handle_missing(values, where, channels, missing, sentinels, file_rows=rows)
        tables.append(SeriesTable(source, series_dates, channels, values, series_id, file_rows=rows))
    return tables
