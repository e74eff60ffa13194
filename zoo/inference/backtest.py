"""``zoo.backtest``: rolling-origin evaluation of a forecaster over the last origins of each series.

The origins of a series of ``n`` rows are ``t_k = n - P - k * step`` for ``k = 0 .. windows - 1``: the
last one forecasts the final ``P`` rows; each forecast uses the ``L`` rows before its origin only, scaled
with the model's recorded statistics (as :func:`zoo.forecast` does), and is compared with the rows that
follow (Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed., section 5.10,
"time series cross-validation"; NeuralForecast's ``cross_validation`` with ``step_size``).

Metrics per (origin, series, target channel), in original units: MSE, MAE, sMAPE (percent, 0..200, as in
M4) and MASE (MAE over the in-sample seasonal-naive MAE of the series' rows before the origin, period
``seasonality``; NaN when that is 0); and MSE / MAE on the model's standardised scale (the scale of the
literature's tables). ``summary`` averages them over origins and series, per channel. A value kept
missing (``missing="keep"``) inside a window's input or truth is an error naming it, never a NaN metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from zoo.data.covariates import check_aligned, covariate_marks, future_values_at
from zoo.data.frequency import GapPolicy
from zoo.data.table import DataValidationError, MissingPolicy, SeriesTable
from zoo.data.windows import calendar_features, check_no_missing
from zoo.distributions import check_levels, level_name
from zoo.inference.applying import ID_COLUMN, apply_net
from zoo.inference.conformal import (
    adaptive_conformal,
    calibrate,
    check_conformal_options,
    interval_scores,
    lookback_scale,
)
from zoo.inference.inputs import DataSource, ReadOptions, SeriesCovariates, covariates_of, read_for_model
from zoo.inference.model import ForecastModel, ModelSource, check_probabilistic, load_forecaster
from zoo.metrics import smape
from zoo.scoring import crps_from_quantiles, pinball_loss

METRICS = ("mse", "mae", "smape", "mase", "mse_scaled", "mae_scaled")
#: What a backtest with ``quantiles`` adds (:func:`_interval_metrics`).
INTERVAL_METRICS = ("pinball", "crps", "crps_scaled", "coverage", "width")


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest measured.

    Attributes:
        metrics: one row per (series, origin, channel): [unique_id], ``cutoff`` (the last input
            timestamp), ``channel``, then :data:`METRICS` (and :data:`INTERVAL_METRICS` with ``quantiles``).
        forecasts: one row per (series, origin, step): [unique_id], ``cutoff``, the date column, then
            per target ``<target>`` (forecast), ``<target>_actual`` and, with ``quantiles``,
            ``<target>_q<level>`` per level.
        summary: the metrics averaged over origins and series, one row per channel.
    """

    metrics: pd.DataFrame
    forecasts: pd.DataFrame
    summary: pd.DataFrame


def origins_of(table: SeriesTable, seq_len: int, pred_len: int, windows: int, step: int) -> np.ndarray:
    """The origins (first forecast row) of ``windows`` backtest windows, oldest first; an error when short.

    Args:
        table: the series.
        seq_len: the lookback L.
        pred_len: the horizon P.
        windows: the number of origins.
        step: rows between consecutive origins.
    """
    needed = seq_len + pred_len + (windows - 1) * step
    if len(table) < needed:
        raise DataValidationError(
            f"{table.where}: {len(table)} rows, but {windows} origin(s) {step} row(s) apart need "
            f"seq_len + pred_len + (windows - 1) * step = {needed}; ask for fewer windows or a smaller step"
        )
    last = len(table) - pred_len
    return last - step * np.arange(windows - 1, -1, -1)


def in_sample_scales(history: np.ndarray, origins: np.ndarray, period: int) -> np.ndarray:
    """MASE's scale at each origin: mean |h_t - h_{t-m}| over the rows before it (N, C); 0 where undefined.

    Equal to ``zoo.metrics.seasonal_naive_scale(history[:origin].T, period)`` for every origin, in one
    cumulative sum instead of one pass per origin. Differences with a value kept missing (NaN, under
    ``missing="keep"``) are left out of the mean.

    Args:
        history: the target channels of the whole series (n, C).
        origins: the first forecast row of each window (N,).
        period: the seasonal period m.
    """
    diffs = np.abs(history[period:] - history[:-period])  # (n - m, C)
    known = ~np.isnan(diffs)  # a difference with a value kept missing (missing="keep") is left out
    zeros = np.zeros((1, history.shape[1]))
    totals = np.concatenate([zeros, np.cumsum(np.where(known, diffs, 0.0), axis=0)])
    known_counts = np.concatenate([zeros, np.cumsum(known, axis=0)])
    counts = np.clip(origins - period, 0, None)  # differences inside the rows before each origin
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = totals[counts] / known_counts[counts]
    return np.where(known_counts[counts] > 0, scales, 0.0)


def _series_windows(
    table: SeriesTable, model: ForecastModel, origins: np.ndarray, covariates: SeriesCovariates | None = None
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """The scaled windows of one series at ``origins`` (batch as ``apply_net`` takes it) and the truth
    (N, P, C_out); ``covariates`` holds the series' known-future and static covariates when the model
    reads them."""
    scaler = model.scaler_of(table.series_id)
    n_targets = len(model.target_columns)
    target_scaler = scaler.select(slice(scaler.n_channels - n_targets, None))
    scaled = scaler.transform(table.values).astype(np.float32)
    covariates = covariates or SeriesCovariates()
    future = None
    if model.future_covariates is not None:
        assert covariates.future is not None
        check_aligned(table, covariates.future)
        values = future_values_at(covariates.future, covariates.future.dates, "in the data")
        future = model.future_covariates.scaled(values)
    calendar = calendar_features(table.dates, model.freq, model.time_encoding)
    marks = covariate_marks(calendar, future, covariates.static)
    lookback = origins[:, None] + np.arange(-model.seq_len, 0)[None, :]  # (N, L) row indices
    horizon = origins[:, None] + np.arange(model.pred_len)[None, :]  # (N, P)
    count = len(origins)
    batch = {
        "x": torch.from_numpy(scaled[lookback]),
        "x_mark": torch.from_numpy(marks[lookback]),
        "y_mark": torch.from_numpy(marks[horizon]),
        "target_mean": torch.as_tensor(np.tile(target_scaler.mean, (count, 1)), dtype=torch.float32),
        "target_std": torch.as_tensor(np.tile(target_scaler.std, (count, 1)), dtype=torch.float32),
    }
    return batch, table.values[horizon][..., scaler.n_channels - n_targets :]


def _check_complete(table: SeriesTable, model: ForecastModel, origins: np.ndarray) -> None:
    """A NaN (kept by missing="keep") in a window's input or truth is an error naming the cell: the
    forecast cannot use it and a metric over it would be NaN."""
    fix = (
        "Fill the value in the data, choose missing='interpolate', or choose windows/step so that no "
        "window covers it."
    )
    n_targets = len(model.target_columns)
    lookback = np.unique(origins[:, None] + np.arange(-model.seq_len, 0)[None, :])
    horizon = np.unique(origins[:, None] + np.arange(model.pred_len)[None, :])
    what = f"the rows the {len(origins)} backtest window(s) read"
    check_no_missing(table, lookback, f"{what} as input", fix)
    targets = range(len(table.columns) - n_targets, len(table.columns))
    check_no_missing(table, horizon, f"{what} as truth", fix, channels=targets)


def _metrics_of(
    table: SeriesTable,
    model: ForecastModel,
    origins: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    seasonality: int,
) -> dict[str, np.ndarray]:
    """Each metric as (N origins, C_out channels)."""
    scaler = model.scaler_of(table.series_id)
    n_targets = truth.shape[-1]
    std = scaler.std[scaler.n_channels - n_targets :]
    errors = predicted - truth  # (N, P, C)
    history = table.values[:, scaler.n_channels - n_targets :]
    scales = in_sample_scales(history, origins, seasonality)  # (N, C)
    mae = np.abs(errors).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mase = np.where(scales > 0, mae / scales, np.nan)
    symmetric = smape(
        torch.from_numpy(predicted.transpose(0, 2, 1)),
        torch.from_numpy(truth.transpose(0, 2, 1)),
        reduction="none",
    ).numpy()
    return {
        "mse": (errors**2).mean(axis=1),
        "mae": mae,
        "smape": symmetric,
        "mase": mase,
        "mse_scaled": ((errors / std) ** 2).mean(axis=1),
        "mae_scaled": np.abs(errors / std).mean(axis=1),
    }


@dataclass(frozen=True)
class ConformalSetting:
    """How a backtest calibrates conformal intervals (:func:`backtest`'s arguments of that name).

    Attributes:
        windows: calibration origins per series.
        step: rows between them.
        adapt_rate: adaptive conformal inference's step size (0: split conformal).
        batch_size: windows per forward pass.
        seed: the seed of the net's own sampling.
    """

    windows: int
    step: int
    adapt_rate: float
    batch_size: int
    seed: int


def _conformal_quantiles(
    table: SeriesTable,
    forecaster: ForecastModel,
    origins: np.ndarray,
    covariates: SeriesCovariates,
    batch: dict[str, torch.Tensor],
    predicted: np.ndarray,
    truth: np.ndarray,
    levels: tuple[float, ...],
    setting: ConformalSetting,
) -> np.ndarray:
    """Conformal quantiles (N, P, C, Q) of one series' backtest forecasts, calibrated on the windows whose
    horizons end before its first origin; adaptive (per central interval) when ``setting.adapt_rate`` > 0."""
    pred_len = forecaster.pred_len
    # the last calibration window's truth ends before the backtest's first origin
    last = origins[0] - pred_len
    calibration_origins = last - setting.step * np.arange(setting.windows - 1, -1, -1)
    if calibration_origins[0] < forecaster.seq_len:
        raise DataValidationError(
            f"{table.where}: conformal calibration needs {setting.windows} origin(s) {setting.step} row(s) apart "
            f"before the backtest's first origin (row {origins[0]}), each with seq_len={forecaster.seq_len} rows "
            "of history and its horizon before that origin; ask for fewer calibration_windows, a smaller "
            "calibration_step or fewer backtest windows"
        )
    _check_complete(table, forecaster, calibration_origins)
    cal_batch, cal_truth = _series_windows(table, forecaster, calibration_origins, covariates)
    cal_predicted = apply_net(forecaster.net, cal_batch, setting.batch_size, setting.seed).numpy()
    cal_scale, scale = window_scales(cal_batch), window_scales(batch)
    if setting.adapt_rate == 0:
        residuals = (cal_truth - cal_predicted.astype(np.float64)) / cal_scale[:, None, :]
        return calibrate(residuals, levels).quantiles(predicted, scale)
    scores = interval_scores(cal_predicted, cal_predicted, cal_truth, cal_scale)
    quantiles = np.repeat(predicted[..., None], len(levels), axis=-1)
    for low in (q for q in levels if q < 0.5):
        adapted = adaptive_conformal(
            predicted, predicted, scale, truth, scores, 1.0 - 2.0 * low, origins, pred_len, setting.adapt_rate
        )
        quantiles[..., levels.index(low)] = adapted.lower
        quantiles[..., levels.index(min(levels, key=lambda q: abs(q - (1.0 - low))))] = adapted.upper
    return quantiles


def window_scales(batch: dict[str, torch.Tensor]) -> np.ndarray:
    """Each window's conformal scale in original units (N, C_out): the standard deviation of its targets'
    standardised lookback (:func:`zoo.inference.conformal.lookback_scale`) times the series' target std.

    Args:
        batch: windows as ``apply_net`` takes them (``x``, ``target_std``).
    """
    n_targets = batch["target_std"].shape[-1]
    lookback = lookback_scale(batch["x"][..., -n_targets:].numpy().astype(np.float64))
    return lookback * batch["target_std"].numpy().astype(np.float64)


def calibration_residuals(
    forecaster: ForecastModel,
    tables: list[SeriesTable],
    windows: int,
    step: int,
    batch_size: int = 256,
    seed: int = 0,
    covariates: list[SeriesCovariates] | None = None,
) -> np.ndarray:
    """The normalised residuals (n, P, C_out) of the last ``windows`` origins of every series, ``step`` rows
    apart, pooled over series: ``y - f`` divided by the series' target standard deviation and by the window's
    :func:`zoo.inference.conformal.lookback_scale`, what :func:`zoo.inference.conformal.calibrate` takes.

    Args:
        forecaster: the model.
        tables: the series, read the model's way.
        windows: origins per series.
        step: rows between origins.
        batch_size: windows per forward pass.
        seed: the seed of the net's own sampling.
        covariates: each series' covariates, for a model that reads them.
    """
    parts = []
    for table, series_covariates in zip(tables, covariates or [None] * len(tables), strict=True):
        try:
            origins = origins_of(table, forecaster.seq_len, forecaster.pred_len, windows, step)
        except DataValidationError as error:
            raise DataValidationError(f"conformal calibration: {error}") from None
        _check_complete(table, forecaster, origins)
        batch, truth = _series_windows(table, forecaster, origins, series_covariates)
        predicted = apply_net(forecaster.net, batch, batch_size, seed).numpy().astype(np.float64)
        parts.append((truth - predicted) / window_scales(batch)[:, None, :])
    return np.concatenate(parts)


def _interval_metrics(
    quantiles: np.ndarray, levels: tuple[float, ...], truth: np.ndarray, std: np.ndarray
) -> dict[str, np.ndarray]:
    """Pinball loss (mean over ``levels``), CRPS from those quantiles, and coverage and width of the interval
    between the first and last level, each (N origins, C_out); pinball, CRPS and width in original units,
    and CRPS on the standardised scale too (``std`` (C_out,)).

    Args:
        quantiles: (N, P, C_out, Q) in original units.
        levels: the Q levels.
        truth: (N, P, C_out).
        std: the target scaler's standard deviations.
    """
    tensor, target = torch.from_numpy(quantiles), torch.from_numpy(truth)
    pinball = pinball_loss(tensor, target, levels, reduction="none").mean(dim=-1).numpy()
    crps = crps_from_quantiles(tensor, target, levels, reduction="none").numpy()
    lower, upper = quantiles[..., 0], quantiles[..., -1]
    inside = (truth >= lower) & (truth <= upper)
    return {
        "pinball": pinball.mean(axis=1),
        "crps": crps.mean(axis=1),
        "crps_scaled": (crps / std).mean(axis=1),
        "coverage": inside.mean(axis=1),
        "width": (upper - lower).mean(axis=1),
    }


def backtest(
    model: ModelSource | ForecastModel,
    data: DataSource,
    *,
    windows: int = 10,
    step: int | None = None,
    seasonality: int = 1,
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
    adapt_rate: float = 0.0,
) -> BacktestResult:
    """Rolling-origin evaluation of ``model`` over the last ``windows`` origins of each series (module docstring).

    Args:
        model: a pretrained name or directory, a ``.ckpt`` file, a ``ForecastingTask`` or a net with
            ``pretrained_config``.
        data: a CSV or parquet path, or a DataFrame, with the model's columns (any order).
        windows: origins per series.
        step: rows between consecutive origins (None: the model's ``pred_len``, non-overlapping forecasts).
        seasonality: the seasonal period m of MASE's naive scale (1: the previous value; 24 for daily
            seasonality of hourly data).
        date_column: the timestamp column (None: the model's).
        id_column: the series-id column of a long-format file (None: the model's; "" for a wide file).
        sep: the CSV separator (None: sniffed).
        missing: the missing-value policy (None: the model's).
        gaps: the gap policy (None: the model's).
        batch_size: windows per forward pass.
        seed: the seed of the net's own sampling (Informer's ProbSparse key samples).
        quantiles: quantile levels a probabilistic model (``distribution`` other than "point") predicts at
            every origin: the forecasts gain ``<target>_q<level>`` columns and the metrics
            :data:`INTERVAL_METRICS` (the interval between the first and last level); None: points only.
        conformal: the quantiles of any model (point forecasters included) from split conformal prediction
            around its point forecasts (:mod:`zoo.inference.conformal`), calibrated on each series'
            ``calibration_windows`` origins whose horizons end before the first backtest origin.
        calibration_windows: conformal calibration origins per series.
        calibration_step: rows between conformal calibration origins.
        adapt_rate: with ``conformal``, the step size of adaptive conformal inference (Gibbs & Candès 2021,
            who use 0.005; :func:`zoo.inference.conformal.adaptive_conformal`): each central interval
            ``[q, 1 - q]`` (the levels must pair up around 0.5) widens after misses and narrows after
            covers of the backtest windows already past; 0: split conformal.
    """
    forecaster = load_forecaster(model)
    levels = None if quantiles is None else check_levels(quantiles, "quantiles")
    check_conformal_options(levels, conformal, calibration_windows, calibration_step, adapt_rate)
    if levels is not None and not conformal:
        check_probabilistic(forecaster, "backtest")
    step = forecaster.pred_len if step is None else step
    for name, value in (("windows", windows), ("step", step), ("seasonality", seasonality)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    date_name = date_column or forecaster.date_column
    options = ReadOptions(date_column, id_column, sep, missing, gaps)
    tables = read_for_model(forecaster, data, options)
    covariates = covariates_of(forecaster, data, options, tables)
    long_format = any(t.series_id for t in tables)
    targets = forecaster.target_columns
    metric_parts, forecast_parts = [], []
    for table, series_covariates in zip(tables, covariates, strict=True):
        origins = origins_of(table, forecaster.seq_len, forecaster.pred_len, windows, step)
        _check_complete(table, forecaster, origins)
        batch, truth = _series_windows(table, forecaster, origins, series_covariates)
        head_levels = None if conformal else levels
        outputs = apply_net(forecaster.net, batch, batch_size, seed, head_levels).numpy().astype(np.float64)
        predicted = outputs if head_levels is None else outputs[..., 0]  # with levels: point, then quantiles
        scores = _metrics_of(table, forecaster, origins, predicted, truth, seasonality)
        if levels is not None:
            if conformal:
                calibration = ConformalSetting(
                    calibration_windows, calibration_step, adapt_rate, batch_size, seed
                )
                quantile_values = _conformal_quantiles(
                    table,
                    forecaster,
                    origins,
                    series_covariates,
                    batch,
                    predicted,
                    truth,
                    levels,
                    calibration,
                )
            else:
                quantile_values = outputs[..., 1:]
            std = batch["target_std"][0].numpy().astype(np.float64)
            scores.update(_interval_metrics(quantile_values, levels, truth, std))
        cutoffs = table.dates[origins - 1]
        metric_rows = {
            "cutoff": np.repeat(cutoffs.as_unit("ns").values, len(targets)),
            "channel": np.tile(np.asarray(targets, dtype=object), len(origins)),
            **{name: values.reshape(-1) for name, values in scores.items()},
        }
        horizon_rows = origins[:, None] + np.arange(forecaster.pred_len)[None, :]
        forecast_rows: dict[str, object] = {
            "cutoff": np.repeat(cutoffs.as_unit("ns").values, forecaster.pred_len),
            date_name: table.dates[horizon_rows.reshape(-1)].as_unit("ns").values,
        }
        for c, name in enumerate(targets):
            forecast_rows[name] = predicted[..., c].reshape(-1)
            forecast_rows[f"{name}_actual"] = truth[..., c].reshape(-1)
            for q, level in enumerate(levels or ()):
                forecast_rows[f"{name}_{level_name(level)}"] = quantile_values[..., c, q].reshape(-1)
        metric_frame, forecast_frame = pd.DataFrame(metric_rows), pd.DataFrame(forecast_rows)
        if long_format:
            metric_frame.insert(0, ID_COLUMN, table.series_id)
            forecast_frame.insert(0, ID_COLUMN, table.series_id)
        metric_parts.append(metric_frame)
        forecast_parts.append(forecast_frame)
    metrics = pd.concat(metric_parts, ignore_index=True)
    scored = list(METRICS) + (list(INTERVAL_METRICS) if levels is not None else [])
    summary = metrics.groupby("channel", sort=False)[scored].mean().reset_index()
    return BacktestResult(metrics, pd.concat(forecast_parts, ignore_index=True), summary)
