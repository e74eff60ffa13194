"""The data layer shared by every task: dataset catalog, time-series windows, M4 panels, images, synthetic series."""

from zoo.data.images import ImageDataModule, read_amat, read_idx
from zoo.data.m4 import M4_FREQUENCIES, M4Frequency, load_m4
from zoo.data.panel import SeriesPanel, seasonal_mae
from zoo.data.scaling import StandardScaler
from zoo.data.synthetic import synthetic_series
from zoo.data.table import DataValidationError
from zoo.data.timeseries import TimeSeriesDataModule

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
