"""``zoo.forecast``: the future after the last row of each series, in original units, as a DataFrame.

What NeuralForecast's ``nf.predict()`` and Darts' ``model.predict(n)`` give, for any zoo forecaster: the
model's last ``seq_len`` rows of each series (a file of exactly ``seq_len`` rows is enough), scaled with
the statistics recorded at training (never refitted), the calendar features of the future timestamps
built as in training, and the forecast mapped back to original units. A value kept missing
(``missing="keep"``) in those rows is an error naming the series, column and date: a forecast cannot
skip its input.

Output: one row per (series, future timestamp): ``unique_id`` (long format only), the date column under
its input name, then one column per target, each followed by ``<target>_q<level>`` columns when quantiles
are asked for: from a probabilistic model's distribution head (``distribution="quantile" | "normal" |
"student_t"``), or, for any model, conformal quantiles calibrated on the data's own backtest residuals
(:mod:`zoo.inference.conformal`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from zoo.data.covariates import future_values_at
from zoo.data.frequency import GapPolicy
from zoo.data.table import DataValidationError, MissingPolicy, SeriesTable
from zoo.data.windows import FutureWindows, future_windows, n_calendar_features
from zoo.distributions import check_levels, level_name
from zoo.inference.applying import ID_COLUMN, apply_net
from zoo.inference.backtest import calibration_residuals, window_scales
from zoo.inference.conformal import calibrate, check_conformal_options
from zoo.inference.inputs import (
    DataSource,
    ReadOptions,
    SeriesCovariates,
    covariates_of,
    read_for_model,
    read_future_for_model,
)
from zoo.inference.model import ForecastModel, ModelSource, check_probabilistic, load_forecaster


def forecast_frame(
    values: np.ndarray,
    windows: FutureWindows,
    target_columns: list[str],
    date_column: str,
    long_format: bool,
    quantiles: np.ndarray | None = None,
    levels: tuple[float, ...] = (),
) -> pd.DataFrame:
    """The forecasts (S, P, C_out) as rows of (series, timestamp): [unique_id], date, one column per target,
    each followed by its quantile columns ``<target>_q<level>`` when ``quantiles`` are given.

    Args:
        values: forecasts in original units, one window per series.
        windows: the windows they were made from (ids and future dates).
        target_columns: the names of the C_out targets.
        date_column: the name of the timestamp column.
        long_format: add the ``unique_id`` column.
        quantiles: (S, P, C_out, Q) quantiles in original units, or None.
        levels: the Q levels of ``quantiles``.
    """
    steps = values.shape[1]
    columns: dict[str, object] = {}
    if long_format:
        columns[ID_COLUMN] = np.repeat(np.asarray(windows.series_ids, dtype=object), steps)
    columns[date_column] = pd.DatetimeIndex(np.concatenate([d.as_unit("ns").values for d in windows.dates]))
    flat = values.reshape(-1, values.shape[-1])
    bands = None if quantiles is None else quantiles.reshape(-1, *quantiles.shape[2:])  # (S * P, C_out, Q)
    for c, name in enumerate(target_columns):
        columns[name] = flat[:, c].astype(np.float64)
        for q, level in enumerate(levels if bands is not None else ()):
            columns[f"{name}_{level_name(level)}"] = bands[:, c, q].astype(np.float64)
    return pd.DataFrame(columns)


def _with_future_covariates(
    forecaster: ForecastModel,
    windows: FutureWindows,
    tables: list[SeriesTable],
    covariates: list[SeriesCovariates],
    future: DataSource | None,
    options: ReadOptions,
) -> FutureWindows:
    """``windows`` with the model's known-future covariates inserted in their time features after the
    calendar (before any statics): the lookback's values from each series' history (the data's covariate
    columns), the horizon's from ``future`` (in a long file, matched by series id); a clear error when
    either is missing or short."""
    scaled = forecaster.future_covariates
    if scaled is None:
        if future is not None:
            raise ValueError(
                f"{forecaster.name} was trained without future_columns, so it reads no future covariates; "
                "leave future out (or train with data.future_columns=[...])"
            )
        return windows
    if future is None:
        raise ValueError(
            f"{forecaster.name} reads the known-future covariates {list(scaled.columns)}: pass future=<a "
            f"file or DataFrame with {forecaster.date_column!r} and those columns at the {forecaster.pred_len} "
            "timestamps after the last row> (train.py forecast ... --future FILE)"
        )
    horizons = {t.series_id: t for t in read_future_for_model(forecaster, future, options, "future")}
    calendar = n_calendar_features(forecaster.freq, forecaster.time_encoding)
    x_marks, y_marks = [], []
    for index, (table, series) in enumerate(zip(tables, covariates, strict=True)):
        assert series.future is not None
        horizon = horizons.get(table.series_id)
        if horizon is None:
            raise DataValidationError(
                f"future: no rows for series {table.series_id!r}; give the future covariates "
                f"{list(scaled.columns)} of every series forecast at its {forecaster.pred_len} future timestamps"
            )
        lookback = table.dates[len(table) - forecaster.seq_len :]
        past = scaled.scaled(
            future_values_at(series.future, lookback, "in the lookback (the data's last rows)")
        )
        ahead = scaled.scaled(
            future_values_at(horizon, windows.dates[index], f"of the {forecaster.pred_len}-step horizon")
        )
        for marks, values, out in (
            (windows.batch["x_mark"][index], past, x_marks),
            (windows.batch["y_mark"][index], ahead, y_marks),
        ):
            out.append(
                torch.cat([marks[:, :calendar], torch.from_numpy(values), marks[:, calendar:]], dim=-1)
            )
    batch = dict(windows.batch)
    batch["x_mark"], batch["y_mark"] = torch.stack(x_marks), torch.stack(y_marks)
    return FutureWindows(batch, windows.series_ids, windows.dates)


def forecast(
    model: ModelSource | ForecastModel,
    data: DataSource,
    *,
    horizon: int | None = None,
    date_column: str | None = None,
    id_column: str | None = None,
    sep: str | None = None,
    missing: MissingPolicy | None = None,
    gaps: GapPolicy | None = None,
    batch_size: int = 256,
    seed: int = 0,
    quantiles: list[float] | tuple[float, ...] | None = None,
    conformal: bool = False,
    calibration_windows: int = 200,
    calibration_step: int = 1,
    future: DataSource | None = None,
) -> pd.DataFrame:
    """Forecast the ``horizon`` steps after the last row of each series of ``data`` (module docstring).

    Args:
        model: a pretrained name (``"tcn.etth1"``) or directory, a ``.ckpt`` file, a ``ForecastingTask``
            or a net with ``pretrained_config``.
        data: a CSV or parquet path, or a DataFrame, with the model's columns (any order).
        horizon: steps to forecast, at most the model's ``pred_len`` (None: ``pred_len``).
        date_column: the timestamp column (None: the model's).
        id_column: the series-id column of a long-format file (None: the model's; "" for a wide file).
        sep: the CSV separator (None: sniffed).
        missing: the missing-value policy (None: the model's).
        gaps: the gap policy (None: the model's).
        batch_size: series per forward pass.
        seed: the seed of the net's own sampling (Informer's ProbSparse key samples).
        quantiles: quantile levels in (0, 1) to forecast besides the point, as ``<target>_q<level>`` columns:
            from the model's distribution head, or with ``conformal`` from backtest residuals.
        conformal: calibrate the quantiles on the residuals of the last ``calibration_windows`` origins of
            ``data`` (:mod:`zoo.inference.conformal`); works for every model, point forecasters included.
        calibration_windows: conformal calibration origins per series.
        calibration_step: rows between calibration origins.
        future: the known-future covariates over the horizon, for a model trained with ``future_columns``
            (``zoo.data.covariates``): a path or DataFrame with the date column and those columns at each of
            the ``pred_len`` timestamps after the last row (the model reads its whole horizon); ``data``
            must hold them over the lookback too.
    """
    forecaster = load_forecaster(model)
    levels = None if quantiles is None else check_levels(quantiles, "quantiles")
    check_conformal_options(levels, conformal, calibration_windows, calibration_step, adapt_rate=0.0)
    if levels is not None and not conformal:
        check_probabilistic(forecaster, "forecast")
    steps = forecaster.pred_len if horizon is None else horizon
    if not 1 <= steps <= forecaster.pred_len:
        raise ValueError(
            f"horizon={horizon}: {forecaster.name} forecasts pred_len={forecaster.pred_len} steps; ask for 1 to "
            f"{forecaster.pred_len} (a longer horizon needs a model trained for it)"
        )
    options = ReadOptions(date_column, id_column, sep, missing, gaps)
    tables = read_for_model(forecaster, data, options)
    covariates = covariates_of(forecaster, data, options, tables)  # read once: forecast and calibration
    windows = future_windows(
        tables,
        [forecaster.scaler_of(t.series_id) for t in tables],
        seq_len=forecaster.seq_len,
        pred_len=forecaster.pred_len,
        n_targets=len(forecaster.target_columns),
        freq=forecaster.freq,
        time_encoding=forecaster.time_encoding,
        statics=[c.static for c in covariates],
    )
    windows = _with_future_covariates(forecaster, windows, tables, covariates, future, options)
    if levels is not None and not conformal:  # the point and the head's quantiles from one pass
        both = apply_net(forecaster.net, windows.batch, batch_size, seed, levels).numpy()[:, :steps]
        values, bands = both[..., 0], both[..., 1:]
    else:
        values, bands = apply_net(forecaster.net, windows.batch, batch_size, seed).numpy()[:, :steps], None
    if levels is not None and conformal:
        residuals = calibration_residuals(
            forecaster, tables, calibration_windows, calibration_step, batch_size, seed, covariates
        )
        bands = calibrate(residuals, levels).quantiles(values, window_scales(windows.batch))
    windows = FutureWindows(windows.batch, windows.series_ids, [d[:steps] for d in windows.dates])
    long_format = any(t.series_id for t in tables)
    return forecast_frame(
        values,
        windows,
        forecaster.target_columns,
        date_column or forecaster.date_column,
        long_format,
        bands,
        levels or (),
    )
