"""Train / validation / test borders of a series: the literature's fixed borders, sizes, cut dates, or none.

- ``ett_hour`` / ``ett_minute``: Informer's ETT borders, 12 / 4 / 4 months of rows;
- ``ratio_70_10_20``: TSLib's ``Dataset_Custom`` (``int(0.7 N)`` train, ``int(0.2 N)`` test, the rest
  validation), the default for every other file;
- sizes: ``val_size`` / ``test_size`` as a fraction of the series' rows (a float in [0, 1)) or a count
  (an int); 0 leaves the split out;
- cut dates: ``val_start`` / ``test_start``, the first timestamp of validation / test (either may be given
  with a size for the other);
- ``none``: every row trains; there is no validation or test split.

Validation and test slices start ``seq_len`` rows before their border, so their first window's lookback
is the rows just before it and targets never overlap between splits.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from zoo.choices import check_choice
from zoo.data.table import DataValidationError, Stage

SplitKind = Literal["auto", "ett_hour", "ett_minute", "ratio_70_10_20", "none"]
_FIXED = ("ett_hour", "ett_minute", "ratio_70_10_20", "none")
_DEFAULT_VAL, _DEFAULT_TEST = 0.1, 0.2


@dataclass(frozen=True)
class SplitSpec:
    """How to cut a series (module docstring); ``kind`` is one of the fixed splits or "custom".

    Attributes:
        kind: "ett_hour", "ett_minute", "ratio_70_10_20", "none" or "custom" (sizes and dates below).
        val_size: validation rows, a fraction (float) or a count (int); None: the default 0.1.
        test_size: test rows, a fraction (float) or a count (int); None: the default 0.2.
        val_start: first timestamp of the validation split (instead of ``val_size``).
        test_start: first timestamp of the test split (instead of ``test_size``).
    """

    kind: str
    val_size: float | int | None = None
    test_size: float | int | None = None
    val_start: str | None = None
    test_start: str | None = None

    @classmethod
    def build(
        cls,
        split: str,
        *,
        val_size: float | int | None = None,
        test_size: float | int | None = None,
        val_start: str | None = None,
        test_start: str | None = None,
        catalog_split: str | None = None,
    ) -> SplitSpec:
        """The spec the datamodule's options ask for; contradictory options are an error naming them.

        Args:
            split: the ``split`` option ("auto" or a fixed split).
            val_size: the ``val_size`` option.
            test_size: the ``test_size`` option.
            val_start: the ``val_start`` option.
            test_start: the ``test_start`` option.
            catalog_split: the catalog's split for a catalog dataset, None for a user file.
        """
        check_choice("split", split, SplitKind)
        val_size, test_size = _as_size(val_size), _as_size(test_size)
        for name, size in (("val_size", val_size), ("test_size", test_size)):
            if size is None:
                continue
            if isinstance(size, bool) or not isinstance(size, (int, float)):
                raise ValueError(f"{name} must be a fraction in [0, 1) or a row count, got {size!r}")
            if isinstance(size, float) and not 0.0 <= size < 1.0:
                raise ValueError(
                    f"{name}={size} is not a fraction in [0, 1); give a row count as an integer "
                    f"(e.g. {name}={int(size)})"
                )
            if isinstance(size, int) and size < 0:
                raise ValueError(f"{name} must be >= 0, got {size}")
        for size_name, date_name, size, date in (
            ("val_size", "val_start", val_size, val_start),
            ("test_size", "test_start", test_size, test_start),
        ):
            if size is not None and date is not None:
                raise ValueError(f"give {size_name} or {date_name}, not both")
        for name, date in (("val_start", val_start), ("test_start", test_start)):
            if date is not None:
                try:
                    pd.Timestamp(date)
                except (ValueError, TypeError):
                    raise ValueError(f"{name}={date!r} is not a timestamp (e.g. '2018-01-01')") from None
        custom = any(v is not None for v in (val_size, test_size, val_start, test_start))
        if custom and split != "auto":
            raise ValueError(
                f"split={split!r} fixes the borders; val_size, test_size, val_start and test_start need "
                "split='auto'"
            )
        if custom:
            return cls("custom", val_size, test_size, val_start, test_start)
        if split != "auto":
            return cls(split)
        return cls(catalog_split or "ratio_70_10_20")

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The splits this spec can produce (a size of 0 may still leave one empty)."""
        return ("train",) if self.kind == "none" else ("train", "val", "test")


def _as_size(size: object) -> object:
    """numpy integers and floats as Python ones (a count stays an int, a fraction a float)."""
    if isinstance(size, bool) or size is None:
        return size
    if isinstance(size, numbers.Integral):
        return int(size)
    if isinstance(size, numbers.Real):
        return float(size)
    return size


def _rows_of(size: float | int, n_rows: int) -> int:
    return size if isinstance(size, int) else int(size * n_rows)


def _border_at(dates: pd.DatetimeIndex | None, when: str, name: str, where: str) -> int:
    if dates is None:
        raise ValueError(f"{where}: {name} needs the series' timestamps")
    stamp = pd.Timestamp(when)
    if dates.tz is not None and stamp.tz is None:
        stamp = stamp.tz_localize(dates.tz)
    return int(np.searchsorted(dates.as_unit("ns").asi8, stamp.as_unit("ns").value, side="left"))


def split_bounds(
    n_rows: int,
    seq_len: int,
    split: str | SplitSpec,
    *,
    dates: pd.DatetimeIndex | None = None,
    where: str = "the table",
) -> dict[Stage, tuple[int, int]]:
    """Row slices ``[start, end)`` per split; val/test start ``seq_len`` rows before their border.

    A split with no rows of its own (a size of 0) is left out.

    Args:
        n_rows: the series' length.
        seq_len: the lookback L.
        split: a fixed split's name or a :class:`SplitSpec`.
        dates: the series' timestamps (for cut dates).
        where: the file and series, for messages.
    """
    spec = split if isinstance(split, SplitSpec) else SplitSpec(split)
    if spec.kind == "none":
        return {"train": (0, n_rows)}
    if spec.kind in ("ett_hour", "ett_minute"):
        m = 1 if spec.kind == "ett_hour" else 4
        month = 30 * 24 * m
        borders = [0, 12 * month, 16 * month, 20 * month]
        if n_rows < borders[-1]:
            raise DataValidationError(
                f"{where}: the {spec.kind} split needs {borders[-1]} rows, it has {n_rows}"
            )
    elif spec.kind == "ratio_70_10_20":
        n_train, n_test = int(n_rows * 0.7), int(n_rows * 0.2)
        borders = [0, n_train, n_rows - n_test, n_rows]
    elif spec.kind == "custom":
        if spec.test_start is not None:
            test_border = _border_at(dates, spec.test_start, "test_start", where)
        else:
            test_border = n_rows - _rows_of(
                spec.test_size if spec.test_size is not None else _DEFAULT_TEST, n_rows
            )
        if spec.val_start is not None:
            val_border = _border_at(dates, spec.val_start, "val_start", where)
        else:
            size = spec.val_size if spec.val_size is not None else _DEFAULT_VAL
            val_border = test_border - _rows_of(size, n_rows)
        if not 0 < val_border <= test_border <= n_rows:
            first = f", from {dates[0]} to {dates[-1]}" if dates is not None and len(dates) else ""
            raise DataValidationError(
                f"{where}: the requested split does not fit its {n_rows} rows{first}: the validation "
                f"border falls at row {val_border} and the test border at row {test_border}. Give smaller "
                "val_size/test_size, or cut dates inside the series."
            )
        borders = [0, val_border, test_border, n_rows]
    else:
        check_choice("split", spec.kind, _FIXED)
    bounds: dict[Stage, tuple[int, int]] = {"train": (0, borders[1])}
    if borders[2] > borders[1]:
        bounds["val"] = (max(borders[1] - seq_len, 0), borders[2])
    if borders[3] > borders[2]:
        bounds["test"] = (max(borders[2] - seq_len, 0), borders[3])
    return bounds
