"""Applying a trained forecaster to a user's data: forecasts of the future, rolling-origin backtests, files.

- :mod:`zoo.inference.model`: :class:`ForecastModel`, a net with the preprocessing it was trained with,
  loaded from a pretrained name or directory, a ``.ckpt``, a task or a net;
- :mod:`zoo.inference.inputs`: a file or DataFrame read the model's way (columns matched by name, its
  frequency, its scaler statistics, never refitted);
- :mod:`zoo.inference.forecast`: :func:`forecast`, the ``pred_len`` steps after the last row of each series;
- :mod:`zoo.inference.backtest`: :func:`backtest`, per-origin, per-series, per-channel metrics;
- :mod:`zoo.inference.ensembling`: :func:`ensemble`, trained forecasters combined into one model;
- :mod:`zoo.inference.outputs`: CSV / parquet files written atomically with a sha256 beside them.
"""

from zoo.inference.backtest import BacktestResult, backtest
from zoo.inference.ensembling import ensemble
from zoo.inference.forecast import forecast
from zoo.inference.model import ForecastModel, load_forecaster
from zoo.inference.outputs import write_backtest, write_table

__all__ = [
    "BacktestResult",
    "ForecastModel",
    "backtest",
    "ensemble",
    "forecast",
    "load_forecaster",
    "write_backtest",
    "write_table",
]
