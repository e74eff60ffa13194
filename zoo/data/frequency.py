"""Sampling frequency of a series: inferring it, finding gaps, filling them, and the dates after the last row.

A forecaster is trained on rows one step apart and its calendar features are those of the rows' dates, so
a model can only be applied to rows at its own frequency, and a window that spans a gap is not a window
of ``L`` steps. Gaps are therefore an error that says where they are, unless a policy is chosen
(``gaps="interpolate"`` or ``"ffill"`` insert the missing timestamps and fill their values; ``"ignore"``
windows by row order, as TSLib does).

A frequency is a pandas offset alias (``"h"``, ``"15min"``, ``"D"``, ``"W"``, ``"MS"``). An anchored alias
whose anchor the series does not sit on (``"W"`` means weeks ending on Sunday; illness.csv's are Tuesdays)
steps by the same length from the series' own first date instead (:func:`step_offset`).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset, DateOffset, Week

from zoo.data.table import DataValidationError, SeriesTable

#: "error": a gap is an error naming where it is; "interpolate" / "ffill": insert the missing timestamps
#: and fill them linearly in time / with the last value; "ignore": window by row order.
GapPolicy = Literal["error", "interpolate", "ffill", "ignore"]
_MAX_GAPS_LISTED = 3


def offset_of(freq: str) -> BaseOffset:
    """The pandas offset of a frequency alias; an unknown alias is a ValueError naming it.

    Args:
        freq: a pandas offset alias such as "h", "15min", "D", "W".
    """
    try:
        return to_offset(freq)
    except ValueError:
        raise ValueError(
            f"unknown frequency {freq!r}: use a pandas offset alias such as 'h', '15min', 'D', 'W', 'MS'"
        ) from None


def step_offset(freq: str, first: pd.Timestamp) -> BaseOffset:
    """The offset from one row to the next at ``freq``, anchored on the series' own ``first`` date.

    Args:
        freq: the frequency alias.
        first: a date of the series (its first or last row).
    """
    offset = offset_of(freq)
    if offset.is_on_offset(first):
        return offset
    if isinstance(offset, Week):  # weeks of the series' own weekday
        return Week(n=offset.n)
    name = type(offset).__name__
    if name.startswith(("Month", "BusinessMonth", "SemiMonth")):
        return DateOffset(months=offset.n)
    if name.startswith("Quarter"):
        return DateOffset(months=3 * offset.n)
    if name.startswith("Year"):
        return DateOffset(years=offset.n)
    return offset


def _fixed_step_ns(offset: BaseOffset) -> int | None:
    try:
        return int(offset.nanos)
    except ValueError:  # calendar offsets (weeks, months, business days) have no fixed length
        return None


def _next_dates(dates: pd.DatetimeIndex, offset: BaseOffset) -> pd.DatetimeIndex:
    """``dates + offset`` elementwise (pandas warns that non-fixed offsets are not vectorised)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        return dates + offset


def infer_frequency(dates: pd.DatetimeIndex) -> str | None:
    """The frequency alias of ``dates``: pandas' inference on the first 1000 rows, else the most common step.

    None when there are fewer than three dates and no step repeats.

    Args:
        dates: increasing timestamps.
    """
    head = dates[: min(len(dates), 1000)]
    if len(head) >= 3:
        with warnings.catch_warnings():  # pandas 3 announces an offset return type; we take the alias
            warnings.simplefilter("ignore")
            freq = pd.infer_freq(head)
        if freq is not None:
            return freq if isinstance(freq, str) else freq.freqstr
    if len(dates) < 2:
        return None
    steps = np.diff(dates.as_unit("ns").asi8)
    steps = steps[steps > 0]
    if not len(steps):
        return None
    values, counts = np.unique(steps, return_counts=True)
    return to_offset(pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")).freqstr


def gap_rows(dates: pd.DatetimeIndex, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``i`` whose date is not one step after row ``i - 1`` at ``freq``: (gaps, too-close).

    ``gaps`` are rows after missing steps; ``too_close`` rows less than one step after the previous one
    (the series is finer than ``freq``, or off its grid).

    Args:
        dates: increasing timestamps.
        freq: the frequency alias.
    """
    if len(dates) < 2:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    offset = step_offset(freq, dates[0])
    fixed = _fixed_step_ns(offset)
    if fixed is not None:
        steps = np.diff(dates.as_unit("ns").asi8)
        return np.flatnonzero(steps > fixed) + 1, np.flatnonzero(steps < fixed) + 1
    expected = _next_dates(dates[:-1], offset).as_unit("ns").asi8
    actual = dates[1:].as_unit("ns").asi8
    return np.flatnonzero(actual > expected) + 1, np.flatnonzero(actual < expected) + 1


def _missing_steps(before: pd.Timestamp, after: pd.Timestamp, freq: str) -> int:
    offset = step_offset(freq, before)
    return max(len(pd.date_range(before, after, freq=offset)) - 2, 0)


def _same_frequency(a: str, b: str) -> bool:
    """True when the aliases ``a`` and ``b`` are the same step ("h" and "60min")."""
    try:
        return offset_of(a) == offset_of(b)
    except ValueError:
        return a == b


def check_frequency(table: SeriesTable, freq: str, *, expected_by: str = "") -> None:
    """A series with rows closer than one step of ``freq`` is at another frequency: an error naming both.

    Args:
        table: the series.
        freq: the frequency it must have.
        expected_by: who fixes ``freq`` (e.g. "the model tcn.etth1 was trained at"), for the message.
    """
    _, too_close = gap_rows(table.dates, freq)
    if not len(too_close):
        return
    i = int(too_close[0])
    actual = infer_frequency(table.dates)
    fixed_by = expected_by or "the frequency is"
    if actual is None or _same_frequency(actual, freq):  # mostly at freq: irregular, not another frequency
        more = f" ({len(too_close) - 1} more such row(s))" if len(too_close) > 1 else ""
        raise DataValidationError(
            f"{table.where}: irregular timestamps: row {table.file_row(i)} ({table.dates[i]}) is less than one "
            f"{freq!r} step after row {table.file_row(i - 1)} ({table.dates[i - 1]}){more}, and {fixed_by} {freq!r}. Resample the data "
            f"onto the {freq!r} grid (e.g. pandas resample) or remove the extra rows."
        )
    raise DataValidationError(
        f"{table.where}: the rows are at frequency {actual!r} ({table.dates[i - 1]} then {table.dates[i]}), "
        f"but {fixed_by} {freq!r}. Resample the data to {freq!r}, or use a model of its frequency."
    )


def regularize(table: SeriesTable, freq: str, policy: GapPolicy, date_column: str = "date") -> SeriesTable:
    """``table`` with no gaps at ``freq``: checked (``"error"``), filled, or left as it is (``"ignore"``).

    Args:
        table: the series, with increasing timestamps.
        freq: its frequency alias.
        policy: what to do with gaps (:data:`GapPolicy`).
        date_column: the name of the timestamp column, for messages.
    """
    if policy == "ignore" or len(table) < 2:
        return table
    check_frequency(table, freq)
    gaps, _ = gap_rows(table.dates, freq)
    if not len(gaps):
        return table
    grid = pd.date_range(table.dates[0], table.dates[-1], freq=step_offset(freq, table.dates[0]))
    off_grid = np.flatnonzero(~table.dates.isin(grid))
    if len(off_grid):
        i = int(off_grid[0])
        raise DataValidationError(
            f"{table.where}: column {date_column!r} has timestamp {table.dates[i]} (row {table.file_row(i)}) off the "
            f"{freq!r} grid "
            f"that starts at {table.dates[0]}"
            + (f", and {len(off_grid) - 1} more" if len(off_grid) > 1 else "")
            + "; resample the data onto one grid (e.g. pandas resample) before using it"
        )
    if policy == "error":
        listed = ", ".join(
            f"{table.dates[i - 1]} -> {table.dates[i]} "
            f"({_missing_steps(table.dates[i - 1], table.dates[i], freq)} missing, after row {table.file_row(i - 1)})"
            for i in gaps[:_MAX_GAPS_LISTED]
        )
        more = f" and {len(gaps) - _MAX_GAPS_LISTED} more" if len(gaps) > _MAX_GAPS_LISTED else ""
        actual = infer_frequency(table.dates)
        coarser = (
            f" The rows look like frequency {actual!r}: if that is their frequency, pass freq={actual!r}."
            if actual is not None and not _same_frequency(actual, freq)
            else ""
        )
        raise DataValidationError(
            f"{table.where}: column {date_column!r} has {len(gaps)} gap(s) at frequency {freq!r}: "
            f"{listed}{more}. Fill them in the file, or pass gaps='interpolate' or gaps='ffill' to insert "
            f"the missing timestamps, or gaps='ignore' to window by row order.{coarser}"
        )
    frame = pd.DataFrame(table.values, index=table.dates).reindex(grid)
    filled = frame.interpolate(method="time") if policy == "interpolate" else frame.ffill()
    # the policy fills the inserted timestamps only: a value the file has but kept missing (NaN,
    # missing="keep") stays missing, so its windows are still skipped
    original = grid.isin(table.dates)[:, None] & frame.isna().to_numpy()
    values = np.where(original, np.nan, filled.to_numpy(np.float64))
    return SeriesTable(table.source, grid, table.columns, values, table.series_id)


def future_dates(last: pd.Timestamp, freq: str, steps: int) -> pd.DatetimeIndex:
    """The ``steps`` timestamps after ``last`` at ``freq`` (on the series' own anchor).

    Args:
        last: the last timestamp of a series.
        freq: its frequency alias.
        steps: how many future timestamps.
    """
    offset = step_offset(freq, last)
    return pd.date_range(last + offset, periods=steps, freq=offset)
