"""``zoo.forecast``: the future after the last row of each series, in original units, as a DataFrame.

What NeuralForecast's ``nf.predict()`` and Darts' ``model.predict(n)`` give, for any zoo forecaster: the
model's last ``seq_len`` rows of each series (a file of exactly ``seq_len`` rows is enough), scaled with
the statistics recorded at training (never refitted), the calendar features of the future timestamps
built as in training, and the forecast mapped back to original units. A value kept missing
(``missing="keep"``) in those rows is an error naming the series, column and date: a forecast cannot
skip its input.

Output: one row per (series, future timestamp): ``unique_id`` (long format only), the date column under
its input name, then one column per target.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import nn

from zoo.data.frequency import GapPolicy
from zoo.data.table import MissingPolicy
from zoo.data.windows import FutureWindows, future_windows
from zoo.inference.inputs import DataSource, ReadOptions, read_for_model
from zoo.inference.model import ForecastModel, ModelSource, load_forecaster

ID_COLUMN = "unique_id"


@contextmanager
def evaluating(net: nn.Module, seed: int) -> Iterator[None]:
    """Eval mode, no gradients and a fixed seed for the net's own sampling (Informer's key samples);
    the net's mode and the global RNG are restored afterwards."""
    was_training = net.training
    net.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            yield
    finally:
        net.train(was_training)


def apply_net(net: nn.Module, batch: dict[str, torch.Tensor], batch_size: int, seed: int = 0) -> torch.Tensor:
    """The net's forecasts in original units (B, P, C_out) of scaled windows, in chunks of ``batch_size``.

    Args:
        net: the forecaster.
        batch: ``x`` (B, L, C_in), ``x_mark`` (B, L, F), ``y_mark`` (B, P, F), ``target_mean`` and
            ``target_std`` (B, C_out).
        batch_size: windows per forward pass.
        seed: the seed of the net's own sampling.
    """
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    outputs = []
    with evaluating(net, seed):
        for start in range(0, len(batch["x"]), batch_size):
            part = {k: v[start : start + batch_size].to(device) for k, v in batch.items()}
            scaled = net(part["x"], part["x_mark"], part["y_mark"]).float()
            outputs.append(
                (scaled * part["target_std"].unsqueeze(1) + part["target_mean"].unsqueeze(1)).cpu()
            )
    return torch.cat(outputs)


def forecast_frame(
    values: np.ndarray,
    windows: FutureWindows,
    target_columns: list[str],
    date_column: str,
    long_format: bool,
) -> pd.DataFrame:
    """The forecasts (S, P, C_out) as rows of (series, timestamp): [unique_id], date, one column per target.

    Args:
        values: forecasts in original units, one window per series.
        windows: the windows they were made from (ids and future dates).
        target_columns: the names of the C_out targets.
        date_column: the name of the timestamp column.
        long_format: add the ``unique_id`` column.
    """
    steps = values.shape[1]
    columns: dict[str, object] = {}
    if long_format:
        columns[ID_COLUMN] = np.repeat(np.asarray(windows.series_ids, dtype=object), steps)
    columns[date_column] = pd.DatetimeIndex(np.concatenate([d.as_unit("ns").values for d in windows.dates]))
    flat = values.reshape(-1, values.shape[-1])
    for c, name in enumerate(target_columns):
        columns[name] = flat[:, c].astype(np.float64)
    return pd.DataFrame(columns)


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
    """
    forecaster = load_forecaster(model)
    steps = forecaster.pred_len if horizon is None else horizon
    if not 1 <= steps <= forecaster.pred_len:
        raise ValueError(
            f"horizon={horizon}: {forecaster.name} forecasts pred_len={forecaster.pred_len} steps; ask for 1 to "
            f"{forecaster.pred_len} (a longer horizon needs a model trained for it)"
        )
    options = ReadOptions(date_column, id_column, sep, missing, gaps)
    tables = read_for_model(forecaster, data, options)
    windows = future_windows(
        tables,
        [forecaster.scaler_of(t.series_id) for t in tables],
        seq_len=forecaster.seq_len,
        pred_len=forecaster.pred_len,
        n_targets=len(forecaster.target_columns),
        freq=forecaster.freq,
        time_encoding=forecaster.time_encoding,
    )
    values = apply_net(forecaster.net, windows.batch, batch_size, seed).numpy()[:, :steps]
    windows = FutureWindows(windows.batch, windows.series_ids, [d[:steps] for d in windows.dates])
    long_format = any(t.series_id for t in tables)
    return forecast_frame(
        values, windows, forecaster.target_columns, date_column or forecaster.date_column, long_format
    )
