"""Static covariates: one value per series of a long-format panel (a store's size, a region, a product type).

A ``static_columns`` covariate holds one value per series (every row of the series repeats it; a series whose
rows disagree is an error naming it). It is not forecast and not an input channel: each series' values are
encoded once and appended, constant over time, after the calendar features and the known-future covariates
to the time features of every window of that series, so ``x_mark`` (B, L, F + K + E) and ``y_mark``
(B, P, F + K + E) carry them, the way Darts' and NeuralForecast's ``stat_exog_list`` reach their models.
Every forecaster that reads time features reads them, and ``future_effect=True`` turns them into a
per-series offset and slope on the horizon (TFT's static covariate encoders, Lim et al., IJF 2021, are
the learnt form of that).

Encoding (fitted on the training file's series, recorded with the model, never refitted on new data):

- a numeric column is standardised with its mean and standard deviation over the series (1 when all
  series share one value): one feature;
- any other column is categorical: one indicator per category seen in training, sorted (E grows by the
  category count); a category the model never saw is an error naming the series, the column and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from zoo.data.table import DataValidationError, resolve_columns

#: One series' static values, by column.
StaticValues = dict[str, Any]


@dataclass(frozen=True)
class StaticCovariates:
    """The static columns and their encoding (module docstring).

    Attributes:
        columns: the static columns, in the order they are encoded.
        numeric: for each numeric column, its (mean, std) over the training series.
        categories: for each categorical column, its training categories, sorted.
    """

    columns: tuple[str, ...]
    numeric: Mapping[str, tuple[float, float]]
    categories: Mapping[str, tuple[str, ...]]

    @property
    def width(self) -> int:
        """E, the features the encoding appends to the time features."""
        return sum(1 if c in self.numeric else len(self.categories[c]) for c in self.columns)

    @property
    def feature_names(self) -> list[str]:
        """One name per encoded feature: the column, or ``<column>=<category>``."""
        names: list[str] = []
        for column in self.columns:
            if column in self.numeric:
                names.append(column)
            else:
                names += [f"{column}={category}" for category in self.categories[column]]
        return names

    def encode(self, values: StaticValues, where: str) -> np.ndarray:
        """One series' values -> its (E,) float32 features.

        Args:
            values: the series' value of every static column.
            where: the series, for messages.
        """
        features: list[float] = []
        for column in self.columns:
            value = values[column]
            if column in self.numeric:
                mean, std = self.numeric[column]
                if isinstance(value, str):
                    raise DataValidationError(
                        f"{where}: static column {column!r} is {value!r}, but the model was trained on numbers in "
                        "it; give a number"
                    )
                features.append((float(value) - mean) / std)
                continue
            known = self.categories[column]
            if str(value) not in known:
                raise DataValidationError(
                    f"{where}: static column {column!r} is {str(value)!r}, a category the model never saw (it knows "
                    f"{list(known)}); use one of those, or train a model whose data has this category"
                )
            features += [1.0 if str(value) == category else 0.0 for category in known]
        return np.asarray(features, dtype=np.float32)

    def record(self) -> dict[str, Any]:
        """What a pretrained config records (``preprocessing["static_covariates"]``)."""
        return {
            "columns": list(self.columns),
            "numeric": {c: list(stats) for c, stats in self.numeric.items()},
            "categories": {c: list(values) for c, values in self.categories.items()},
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StaticCovariates:
        numeric = {str(c): (float(m), float(s)) for c, (m, s) in record["numeric"].items()}
        categories = {str(c): tuple(str(v) for v in values) for c, values in record["categories"].items()}
        return cls(tuple(str(c) for c in record["columns"]), numeric, categories)

    @classmethod
    def fit(cls, columns: Sequence[str], series: Mapping[str, StaticValues]) -> StaticCovariates:
        """The encoding of the training series' values.

        Args:
            columns: the static columns.
            series: each training series' values, by series id.
        """
        numeric: dict[str, tuple[float, float]] = {}
        categories: dict[str, tuple[str, ...]] = {}
        for column in columns:
            values = [v[column] for v in series.values()]
            if all(_is_number(v) for v in values):
                array = np.asarray(values, dtype=np.float64)
                std = float(array.std())
                numeric[column] = (float(array.mean()), std if std > 0 else 1.0)
            else:
                categories[column] = tuple(sorted({str(v) for v in values}))
        return cls(tuple(columns), numeric, categories)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_static_columns(
    static: Sequence[str], id_column: str | None, others: Mapping[str, Sequence[str]]
) -> None:
    """``static_columns`` need a long-format file and cannot be named twice or play another role.

    Args:
        static: the static_columns option.
        id_column: the series-id column (None: a wide file).
        others: the other options' columns, by option name (columns, target, future_columns, ...).
    """
    if not static:
        raise ValueError("static_columns must name at least one column (or be None)")
    if id_column is None:
        raise ValueError(
            "static_columns hold one value per series of a long-format file: give id_column=<the series-id "
            "column> (a wide file is one series; its constants carry no information)"
        )
    twice = sorted({c for c in static if list(static).count(c) > 1})
    if twice:
        raise ValueError(f"static_columns names {twice} more than once; name each column once")
    if id_column in static:
        raise ValueError(
            f"static_columns names the id_column {id_column!r}; the series id is not a covariate"
        )
    for option, names in others.items():
        both = [c for c in static if c in names]
        if both:
            raise ValueError(
                f"column(s) {both} are both static_columns and {option}; a static covariate has one value per "
                f"series and is not an input channel: remove it from one of them"
            )


def read_static_values(
    frame: pd.DataFrame, *, source: str, id_column: str, columns: Sequence[str]
) -> dict[str, StaticValues]:
    """Each series' value of every static column (one per series, or a clear error).

    Args:
        frame: the raw long-format table.
        source: the file, for messages.
        id_column: the series-id column.
        columns: the static columns.
    """
    resolve_columns(list(columns), [str(c) for c in frame.columns], source, "static_columns")
    resolve_columns([id_column], [str(c) for c in frame.columns], source, "id_column")
    ids = frame[id_column].astype(str)
    values: dict[str, StaticValues] = {}
    for series_id, part in frame.groupby(ids, sort=True):
        where = f"{source} (series {series_id!r})"
        row: StaticValues = {}
        for column in columns:
            cells = part[column]
            if cells.isna().any():
                first = int(np.flatnonzero(cells.isna().to_numpy())[0])
                raise DataValidationError(
                    f"{where}: static column {column!r} is missing in its row {first}; give every row of the series "
                    "its value"
                )
            distinct = pd.unique(cells.to_numpy())
            if len(distinct) > 1:
                raise DataValidationError(
                    f"{where}: static column {column!r} takes {len(distinct)} values ({distinct[0]!r}, "
                    f"{distinct[1]!r}, ...); a static covariate has one value per series: make it constant, or "
                    "give it as a future_columns covariate"
                )
            value = distinct[0]
            row[column] = value.item() if isinstance(value, np.generic) else value
        values[str(series_id)] = row
    return values


def static_marks(encoded: np.ndarray | None, steps: int) -> np.ndarray:
    """A series' encoded statics (E,) repeated over ``steps`` rows -> (steps, E) (None: (steps, 0))."""
    if encoded is None:
        return np.zeros((steps, 0), dtype=np.float32)
    return np.broadcast_to(encoded, (steps, len(encoded))).astype(np.float32)
