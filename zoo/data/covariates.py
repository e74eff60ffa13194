"""Known-future covariates: columns whose values are known in advance (prices, promotions, holidays).

A ``future_columns`` covariate is not forecast and not an input channel of ``x``: its values, scaled with
the statistics of the training rows (like the inputs), are appended after the calendar features to the
time features of every window, so ``x_mark`` (B, L, F + K) holds them for the lookback and ``y_mark``
(B, P, F + K) for the horizon, each row at its own timestamp (the value of the covariate at step t sits
in ``y_mark[:, t]``, beside the calendar of step t). Every forecaster that reads time features then
reads them (TSLib's ``x_mark_dec`` convention, NeuralForecast's ``futr_exog_list``); and
``future_effect=True`` (:mod:`zoo.layers.future_effect`) gives every forecaster a linear effect of them.

Past-only covariates are input channels that are not forecast: ``past_columns`` with ``features="MS"``
(the model reads them in ``x`` and forecasts the targets). Forecasting the future with future covariates
needs their values over the horizon (``zoo.forecast(..., future=...)``); missing or short future values
are an error naming the column and the dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from zoo.data.frequency import GapPolicy, regularize
from zoo.data.scaling import StandardScaler
from zoo.data.statics import static_marks
from zoo.data.table import (
    DataValidationError,
    MissingPolicy,
    SeriesTable,
    TimestampPolicy,
    resolve_columns,
    tables_from_frame,
)


@dataclass(frozen=True)
class FutureCovariates:
    """The known-future columns and their training-row scaler.

    Attributes:
        columns: the K covariate columns, in the order they are appended to the time features.
        scaler: their train-row StandardScaler (K channels).
    """

    columns: tuple[str, ...]
    scaler: StandardScaler

    def scaled(self, values: np.ndarray) -> np.ndarray:
        """(N, K) raw values -> float32 scaled values."""
        return self.scaler.transform(values).astype(np.float32)

    def record(self) -> dict[str, Any]:
        """What a pretrained config records (``preprocessing["future_covariates"]``)."""
        return {
            "columns": list(self.columns),
            "mean": self.scaler.mean.tolist(),
            "std": self.scaler.std.tolist(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FutureCovariates:
        return cls(tuple(str(c) for c in record["columns"]), StandardScaler.from_record(record))


def check_future_columns(future: Sequence[str], inputs: Sequence[str], source: str) -> None:
    """A covariate cannot also be an input or target channel, nor be named twice.

    Args:
        future: the future_columns.
        inputs: the input channels (targets included).
        source: the file, for messages.
    """
    twice = sorted({c for c in future if list(future).count(c) > 1})
    if twice:
        raise DataValidationError(
            f"{source}: future_columns names {twice} more than once; name each column once"
        )
    both = [c for c in future if c in inputs]
    if both:
        raise DataValidationError(
            f"{source}: column(s) {both} are both input channels and future_columns; a known-future covariate "
            "is not an input of x: remove it from columns / past_columns / target, or from future_columns"
        )


def read_future_tables(
    frame: pd.DataFrame,
    *,
    source: str,
    date_column: str,
    columns: Sequence[str],
    freq: str,
    gaps: GapPolicy,
    id_column: str | None = None,
    missing: MissingPolicy = "error",
    timestamps: TimestampPolicy = "strict",
    sentinels: tuple[float, ...] = (-9999.0,),
    regular: bool = True,
) -> list[SeriesTable]:
    """The covariate columns of ``frame`` as validated tables (one per series of a long frame), at ``freq``
    with the same gap policy as the inputs (so their rows are the inputs' rows).

    Args:
        frame: the raw table.
        source: the file, for messages.
        date_column: the timestamp column.
        columns: the future_columns.
        freq: the series' frequency alias.
        gaps: the gap policy.
        id_column: the series-id column of a long frame (None: one wide series).
        missing: the missing-value policy.
        timestamps: "strict" or "ignore".
        sentinels: values that stand for missing data.
        regular: put the rows on the ``freq`` grid with ``gaps`` (False for a file of future values, whose
            timestamps are matched one by one).
    """
    resolve_columns(list(columns), [str(c) for c in frame.columns], source, "future_columns")
    tables = tables_from_frame(
        frame,
        source=source,
        date_column=date_column,
        id_column=id_column,
        columns=list(columns),
        missing=missing,
        timestamps=timestamps,
        sentinels=sentinels,
    )
    if timestamps == "ignore" or not regular:
        return tables
    return [regularize(t, freq, gaps, date_column) for t in tables]


def check_aligned(inputs: SeriesTable, future: SeriesTable) -> None:
    """The covariates' rows are the inputs' rows (same timestamps), or a clear error."""
    if len(inputs) != len(future) or not inputs.dates.equals(future.dates):
        raise DataValidationError(
            f"{future.where}: the future_columns {future.columns} have {len(future)} timestamps and the inputs "
            f"{len(inputs)}, not the same ones; give every covariate a value at every timestamp of the series"
        )


def future_values_at(table: SeriesTable, dates: pd.DatetimeIndex, what: str) -> np.ndarray:
    """The covariates' raw values (N, K) at exactly ``dates``; an error names the column and the dates
    missing (absent rows, or values kept missing).

    Args:
        table: the covariates' table.
        dates: the timestamps wanted.
        what: what the values are for, for messages.
    """
    positions = table.dates.get_indexer(dates)
    absent = dates[positions < 0]
    if len(absent):
        shown = ", ".join(str(d) for d in absent[:3]) + (
            f" and {len(absent) - 3} more" if len(absent) > 3 else ""
        )
        raise DataValidationError(
            f"{table.where}: future_columns {table.columns} have no row for {len(absent)} of the {len(dates)} "
            f"timestamps {what} ({shown}); give their values at every one of those timestamps"
        )
    values = table.values[positions]
    holes = np.argwhere(np.isnan(values))
    if len(holes):
        row, column = holes[0]
        raise DataValidationError(
            f"{table.where}: future column {table.columns[column]!r} is missing at {dates[row]} "
            f"({len(holes)} missing value(s) {what}); a forecast needs every known-future value"
        )
    return values


def covariate_columns(
    columns: list[str] | None,
    past_columns: list[str] | None,
    future_columns: list[str] | None,
    features: str,
    targets: list[str],
) -> list[str] | None:
    """The input channels a data module reads, given ``past_columns``: those and the targets; a clear error
    for options that contradict each other.

    Args:
        columns: the ``columns`` option.
        past_columns: the ``past_columns`` option.
        future_columns: the ``future_columns`` option.
        features: "M", "S" or "MS".
        targets: the target columns.
    """
    if past_columns is not None:
        if columns is not None:
            raise ValueError(
                "give past_columns (the observed covariates; the inputs are those and the targets) or columns "
                "(every input channel), not both"
            )
        if features != "MS":
            raise ValueError(
                f"past_columns are inputs that are not forecast: use features='MS' (got {features!r}) and name "
                "the forecast column(s) in target"
            )
        if not past_columns:
            raise ValueError("past_columns must name at least one column (or be None)")
        forecast = [c for c in past_columns if c in targets]
        if forecast:
            raise ValueError(
                f"past_columns {forecast} are targets: a past covariate is an input that is not forecast"
            )
        columns = [*past_columns, *targets]
    if future_columns is not None and not future_columns:
        raise ValueError("future_columns must name at least one column (or be None)")
    return columns


def covariate_marks(calendar: np.ndarray, future: np.ndarray | None, static: np.ndarray | None) -> np.ndarray:
    """The time features of one series' rows: calendar (N, F), scaled future covariates (N, K), encoded
    statics (E,) repeated on every row -> (N, F + K + E).

    Args:
        calendar: the calendar features.
        future: the scaled known-future covariates, or None.
        static: the series' encoded static covariates, or None.
    """
    parts = [calendar]
    if future is not None:
        parts.append(future.astype(np.float32))
    if static is not None:
        parts.append(static_marks(static, len(calendar)))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else calendar
