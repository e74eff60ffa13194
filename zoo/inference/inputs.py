"""A user's file or DataFrame read the way a model was trained: its columns by name, its frequency.

- the model's input columns are found by name and put in its order (a reordered file is reordered);
  a missing or renamed one is an error naming it (with the closest column), and so is an extra channel
  when the model was trained on every column of its file (a model trained with ``columns=[...]``
  ignores the others, as in training);
- the timestamps must be at the model's frequency: a file at another one is an error naming both;
  gaps are an error naming where they are, unless a ``gaps`` policy fills them;
- the validation policies (missing values, sentinels, timestamps) are the model's unless overridden;
  inf and values beyond float32 are an error under every policy (``zoo.data.table``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.choices import check_choice
from zoo.data import sources
from zoo.data.covariates import read_future_tables
from zoo.data.frequency import GapPolicy, check_frequency, regularize
from zoo.data.reading import check_unique_columns, read_frame
from zoo.data.statics import read_static_values
from zoo.data.synthetic import synthetic_series
from zoo.data.table import (
    DataValidationError,
    MissingPolicy,
    SeriesTable,
    check_date_column,
    suggest_column,
    tables_from_frame,
)
from zoo.data.timeseries import SYNTHETIC, is_data_file
from zoo.inference.model import ForecastModel

DataSource = str | os.PathLike[str] | pd.DataFrame


@dataclass(frozen=True)
class ReadOptions:
    """How to read the data; None takes what the model was trained with.

    Attributes:
        date_column: the timestamp column.
        id_column: the series-id column of a long-format file; "" forces a wide file.
        sep: the CSV separator (None: sniffed).
        missing: the missing-value policy.
        gaps: the gap policy.
    """

    date_column: str | None = None
    id_column: str | None = None
    sep: str | None = None
    missing: MissingPolicy | None = None
    gaps: GapPolicy | None = None


def read_frame_of(data: DataSource, sep: str | None) -> tuple[pd.DataFrame, str]:
    """The raw frame of a path or DataFrame, and its name for messages."""
    if isinstance(data, pd.DataFrame):
        check_unique_columns([str(c) for c in data.columns], "the DataFrame")
        return data, "the DataFrame"
    path = Path(data)
    if not path.exists() and not is_data_file(str(data)):  # a catalog name, or the embedded series
        if str(data) == SYNTHETIC:
            return synthetic_series(), SYNTHETIC
        path = sources.resolve(sources.get_source(str(data)))
    return read_frame(path, sep=sep), str(path)


def _check_columns(frame: pd.DataFrame, source: str, model: ForecastModel, reserved: set[str]) -> None:
    present = [str(c) for c in frame.columns]
    expected = model.input_columns
    missing = [c for c in expected if c not in present]
    if missing:
        hints = "".join(suggest_column(c, [p for p in present if p not in expected]) for c in missing[:1])
        raise DataValidationError(
            f"{source}: column(s) {missing} missing; {model.name} was trained on columns {expected} "
            f"(matched by name, in any order), the file has {present}.{hints}"
        )
    arguments = model.arguments
    trained_on_all = (
        arguments.get("columns") is None
        and arguments.get("past_columns") is None
        and arguments.get("features", "M") != "S"
    )
    extra = [c for c in present if c not in expected and c not in reserved]
    if extra and trained_on_all:
        raise DataValidationError(
            f"{source}: column(s) {extra} are not among the columns {model.name} was trained on {expected}; "
            "drop them from the data (the model was trained on every column of its file)"
        )


def _frame_for(model: ForecastModel, data: DataSource, options: ReadOptions) -> tuple[pd.DataFrame, str]:
    """The raw frame of ``data`` read with the option's separator, else the model's, and its name."""
    return read_frame_of(data, options.sep if options.sep is not None else model.arguments.get("sep"))


def _id_column_of(model: ForecastModel, options: ReadOptions, source: str) -> str | None:
    """The series-id column to read: the option's ("" for none), else the model's; a long-format model
    needs one."""
    id_column = model.id_column if options.id_column is None else (options.id_column or None)
    if model.id_column and id_column is None:
        raise DataValidationError(
            f"{source}: {model.name} was trained on a long-format file; pass id_column=<series id column>"
        )
    return id_column


def read_for_model(model: ForecastModel, data: DataSource, options: ReadOptions) -> list[SeriesTable]:
    """The series of ``data`` with the model's channels in its order, checked at its frequency.

    Args:
        model: the forecaster and its preprocessing.
        data: a CSV / parquet path or a DataFrame, in the layout the model was trained on.
        options: reading options that override the model's.
    """
    if options.missing is not None:
        check_choice("missing", options.missing, MissingPolicy)
    if options.gaps is not None:
        check_choice("gaps", options.gaps, GapPolicy)
    arguments = model.arguments
    frame, source = _frame_for(model, data, options)
    date_column = options.date_column or model.date_column
    id_column = _id_column_of(model, options, source)
    check_date_column(frame, source, date_column)
    covariates, statics = model.future_covariates, model.static_covariates
    reserved = {
        date_column,
        *([id_column] if id_column else []),
        *(covariates.columns if covariates else ()),
        *(statics.columns if statics else ()),
    }
    _check_columns(frame, source, model, reserved)
    timestamps = arguments.get("timestamps", "strict")
    tables = tables_from_frame(
        frame,
        source=source,
        date_column=date_column,
        id_column=id_column,
        columns=model.input_columns,
        missing=options.missing or arguments.get("missing", "error"),
        timestamps=timestamps,
        sentinels=tuple(arguments.get("sentinels", (-9999.0,))),
    )
    gaps = options.gaps or arguments.get("gaps", "error")
    if timestamps == "ignore":
        return tables
    for table in tables:
        check_frequency(table, model.freq, expected_by=f"{model.name} was trained at frequency")
    return [regularize(t, model.freq, gaps, date_column) for t in tables]


def read_future_for_model(
    model: ForecastModel,
    data: DataSource,
    options: ReadOptions,
    role: str,
    read: tuple[pd.DataFrame, str] | None = None,
) -> list[SeriesTable]:
    """The model's known-future covariate columns of ``data`` (``zoo.data.covariates``), at its frequency.

    Args:
        model: a forecaster trained with future_columns.
        data: the history (every covariate at every row) or the future (the horizon's values) as a path or
            DataFrame with the date column and the covariate columns.
        options: reading options that override the model's.
        role: "the data" (the history: put on the model's frequency grid) or "future" (the horizon's values,
            matched timestamp by timestamp).
        read: ``data``'s frame and name when the caller has read it already (None: read it here).
    """
    covariates = model.future_covariates
    assert covariates is not None
    arguments = model.arguments
    frame, source = read if read is not None else _frame_for(model, data, options)
    date_column = options.date_column or model.date_column
    id_column = _id_column_of(model, options, source)
    check_date_column(frame, source, date_column)
    present = [str(c) for c in frame.columns]
    missing = [c for c in covariates.columns if c not in present]
    if missing:
        raise DataValidationError(
            f"{source} ({role}): future column(s) {missing} missing; {model.name} reads the known-future "
            f"covariates {list(covariates.columns)} at every lookback and horizon step: give {role} those columns"
        )
    if id_column is not None and id_column not in present:
        raise DataValidationError(
            f"{source} ({role}): no series-id column {id_column!r}; {model.name} forecasts a long-format panel, "
            f"so each row of {role} names its series in {id_column!r}"
        )
    return read_future_tables(
        frame,
        source=source,
        date_column=date_column,
        id_column=id_column,
        columns=covariates.columns,
        freq=model.freq,
        gaps=options.gaps or arguments.get("gaps", "error"),
        missing=options.missing or arguments.get("missing", "error"),
        timestamps=arguments.get("timestamps", "strict"),
        sentinels=tuple(arguments.get("sentinels", (-9999.0,))),
        regular=role == "the data",
    )


@dataclass(frozen=True)
class SeriesCovariates:
    """One series' covariates, as its model reads them.

    Attributes:
        future: its known-future covariate columns at every row of the history, or None.
        static: its encoded static covariates (E,) (``zoo.data.statics``), or None.
    """

    future: SeriesTable | None = None
    static: np.ndarray | None = None


def covariates_of(
    model: ForecastModel, data: DataSource, options: ReadOptions, tables: list[SeriesTable]
) -> list[SeriesCovariates]:
    """The covariates of each series of ``tables`` (read from ``data``), for a model that reads any.

    Args:
        model: the forecaster.
        data: the history the tables were read from.
        options: reading options.
        tables: its series, read with :func:`read_for_model`.
    """
    statics = model.static_covariates
    if model.future_covariates is None and statics is None:
        return [SeriesCovariates() for _ in tables]
    frame, source = _frame_for(model, data, options)  # read once for both kinds
    futures: dict[str, SeriesTable] = {}
    if model.future_covariates is not None:
        read = (frame, source)
        futures = {t.series_id: t for t in read_future_for_model(model, data, options, "the data", read)}
    encoded: dict[str, np.ndarray] = {}
    if statics is not None:
        id_column = _id_column_of(model, options, source)
        assert id_column is not None  # static columns are trained on long files only
        absent = [c for c in statics.columns if c not in [str(p) for p in frame.columns]]
        if absent:
            raise DataValidationError(
                f"{source}: static column(s) {absent} missing; {model.name} reads the static covariates "
                f"{list(statics.columns)} of every series (one value per series): give the data those columns"
            )
        values = read_static_values(frame, source=source, id_column=id_column, columns=statics.columns)
        encoded = {sid: statics.encode(row, f"{source} (series {sid!r})") for sid, row in values.items()}
    return [SeriesCovariates(futures.get(t.series_id), encoded.get(t.series_id)) for t in tables]
