"""The data layer shared by every task: dataset catalog, time-series windows, M4 panels, images, synthetic series.

The public names below load on first use (PEP 562 ``__getattr__``, as SPEC 1's lazy loading does), so
importing a light submodule (``zoo.data.sources``, ``zoo.data.scaling``; the hub needs both) does not
import pandas and Lightning with the data modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.data.images import ImageDataModule, read_amat, read_idx
    from zoo.data.m4 import M4_FREQUENCIES, M4Frequency, load_m4
    from zoo.data.panel import SeriesPanel, seasonal_mae
    from zoo.data.scaling import StandardScaler
    from zoo.data.synthetic import synthetic_series
    from zoo.data.table import DataValidationError
    from zoo.data.timeseries import TimeSeriesDataModule

_SUBMODULE_OF = {
    "ImageDataModule": "images",
    "read_amat": "images",
    "read_idx": "images",
    "M4_FREQUENCIES": "m4",
    "M4Frequency": "m4",
    "load_m4": "m4",
    "SeriesPanel": "panel",
    "seasonal_mae": "panel",
    "StandardScaler": "scaling",
    "synthetic_series": "synthetic",
    "DataValidationError": "table",
    "TimeSeriesDataModule": "timeseries",
}

__all__ = [
    "M4_FREQUENCIES",
    "DataValidationError",
    "ImageDataModule",
    "M4Frequency",
    "SeriesPanel",
    "StandardScaler",
    "TimeSeriesDataModule",
    "load_m4",
    "read_amat",
    "read_idx",
    "seasonal_mae",
    "synthetic_series",
]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access (``from zoo.data import X`` included)."""
    submodule = _SUBMODULE_OF.get(name)
    if submodule is None:
        raise AttributeError(f"module 'zoo.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"zoo.data.{submodule}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
