"""Checks of a series' training rows and windows, shared by the data module's set-up."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from zoo.data.scaling import StandardScaler
from zoo.data.table import DataValidationError, SeriesTable
from zoo.data.windows import WindowDataset

log = logging.getLogger("zoo.data.timeseries")


def fit_train_scaler(table: SeriesTable, train_end: int, scale: bool = True) -> StandardScaler:
    """The scaler of ``table``'s training rows ``[0, train_end)``, ignoring values kept missing (NaN).

    Args:
        table: the series (inputs, or future covariates).
        train_end: the end of its training rows.
        scale: False gives the identity (``scale=False`` in the data module).
    """
    train_rows = check_training_values(table, train_end)
    return StandardScaler.fit(train_rows) if scale else StandardScaler.identity(train_rows.shape[1])


def check_training_values(table: SeriesTable, train_end: int) -> np.ndarray:
    """``table``'s training rows ``[0, train_end)``, or a clear error when a column has no value in them
    (checked with ``scale=False`` too: every training window would be skipped).

    Args:
        table: the series (inputs, or future covariates).
        train_end: the end of its training rows.
    """
    train_rows = table.values[:train_end]
    empty = np.flatnonzero(np.isnan(train_rows).all(axis=0))
    if len(empty):
        raise DataValidationError(
            f"{table.where}: column {table.columns[int(empty[0])]!r} has no value in the {train_end} "
            f"training rows [0, {train_end}) (all missing, kept by missing='keep'), so it has no "
            "statistics and every training window would be skipped. Drop the column (columns=[...]), "
            "give it values in the training rows, or move the split (val_size/test_size, val_start)."
        )
    return train_rows


def fit_pooled_scaler(
    tables: Sequence[SeriesTable], train_ends: Sequence[int], scale: bool = True
) -> StandardScaler:
    """One scaler of the training rows of every series together (a long file's known-future covariates,
    which share one scale across series), each series checked by :func:`check_training_values`.

    Args:
        tables: the series' covariate tables.
        train_ends: the end of each series' training rows.
        scale: False gives the identity.
    """
    rows = [check_training_values(t, end) for t, end in zip(tables, train_ends, strict=True)]
    return StandardScaler.fit(np.concatenate(rows)) if scale else StandardScaler.identity(rows[0].shape[1])


def check_skipped(table: SeriesTable, name: str, rows: tuple[int, int], windows: WindowDataset) -> None:
    """Log the windows of a split skipped for values kept missing; a split left with none is an error.

    Args:
        table: the series.
        name: the split ("train", "val", "test").
        rows: the split's rows [start, end).
        windows: its windows.
    """
    if not windows.n_skipped:
        return
    start, end = rows
    if len(windows) == 0:
        raise DataValidationError(
            f"{table.where}: every one of the {windows.n_candidates} {name} window(s) (rows [{start}, {end})) "
            "holds a missing value kept by missing='keep', so the split has no window. Choose "
            "missing='interpolate' to fill them, or fill the values in the file."
        )
    log.warning(
        "%s: %s split: skipped %d of %d window(s) that hold missing values (missing='keep'); %d kept",
        table.where,
        name,
        windows.n_skipped,
        windows.n_candidates,
        len(windows),
    )
