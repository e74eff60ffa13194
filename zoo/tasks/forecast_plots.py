"""Forecast plots: lookback history, ground truth and forecast of a few windows, one subplot per window.

Shapes (all in the same, original units):

- ``history``: (N, L, C_in), the lookback windows fed to the model;
- ``truth``: (N, P, C_out), the targets; ``forecast``: (N, P, C_out), the predictions.

The x axis is the time step relative to the forecast origin: history at ``-L .. -1``, truth and forecast at
``0 .. P-1``, a vertical line at the origin. ``channel`` indexes the target channels (of truth/forecast);
the history channel plotted with it is the same index when ``C_in == C_out`` (features "M"), otherwise
the last input channel, which is where the data layer puts the target (features "MS").

The figure is built with :class:`matplotlib.figure.Figure` directly, never through pyplot: no GUI backend,
no global figure registry to leak into. Render or log it with :mod:`zoo.tasks.media`
(``figure_to_uint8``, ``log_figure``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

ArrayLike = torch.Tensor | np.ndarray


def _as_numpy(name: str, value: ArrayLike) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.float16, torch.bfloat16):
            value = value.float()
        value = value.numpy()
    array = np.asarray(value)
    if array.ndim != 3:
        raise ValueError(
            f"{name} must have 3 dimensions (N, steps, channels), got shape {tuple(array.shape)}"
        )
    return array


def _check(history: np.ndarray, truth: np.ndarray, forecast: np.ndarray, channel: int) -> None:
    n = history.shape[0]
    for name, array in (("truth", truth), ("forecast", forecast)):
        if array.shape[0] != n:
            raise ValueError(
                f"{name} has {array.shape[0]} windows (shape {tuple(array.shape)}) but history "
                f"has {n} (shape {tuple(history.shape)}); N must match"
            )
    if forecast.shape[1] != truth.shape[1]:
        raise ValueError(
            f"forecast has horizon P={forecast.shape[1]} (shape {tuple(forecast.shape)}) but truth "
            f"has P={truth.shape[1]} (shape {tuple(truth.shape)})"
        )
    if forecast.shape[2] != truth.shape[2]:
        raise ValueError(
            f"forecast has {forecast.shape[2]} channels (shape {tuple(forecast.shape)}) but truth "
            f"has {truth.shape[2]} (shape {tuple(truth.shape)})"
        )
    c_out = truth.shape[2]
    if not -c_out <= channel < c_out:
        raise ValueError(
            f"channel={channel} is out of range for truth/forecast of shape {tuple(truth.shape)} "
            f"({c_out} target channels)"
        )


def plot_forecast_windows(
    history: ArrayLike,
    truth: ArrayLike,
    forecast: ArrayLike,
    *,
    channel: int = -1,
    channel_name: str | None = None,
    window_ids: Sequence[int] | None = None,
    max_windows: int = 4,
    band: tuple[ArrayLike, ArrayLike] | None = None,
    band_label: str = "interval",
) -> Figure:
    """Plot history (N, L, C_in), truth (N, P, C_out) and forecast (N, P, C_out) of a few windows.

    ``band`` (lower, upper), each (N, P, C_out), shades a prediction interval around the forecast, labelled
    ``band_label`` (e.g. "80% interval").

    ``window_ids`` picks the windows (indices along N) to plot, default ``0 .. N-1``; at most the first
    ``max_windows`` of them are plotted, one subplot each, titled ``window {id}`` (and ``channel_name`` when
    given). Each subplot has three lines labelled ``history``, ``truth`` and ``forecast``, and the first
    subplot has the legend. Raises ``ValueError`` naming the argument for inconsistent shapes, a
    ``channel`` or window id out of range, or nothing to plot.
    """
    hist = _as_numpy("history", history)
    true = _as_numpy("truth", truth)
    pred = _as_numpy("forecast", forecast)
    _check(hist, true, pred, channel)
    n, lookback, c_in = hist.shape
    horizon, c_out = true.shape[1], true.shape[2]
    if max_windows < 1:
        raise ValueError(f"max_windows must be at least 1, got {max_windows}")
    ids = list(range(n)) if window_ids is None else [int(i) for i in window_ids]
    ids = ids[:max_windows]
    if not ids:
        raise ValueError(
            f"no windows to plot: history has shape {tuple(hist.shape)}, window_ids={window_ids}"
        )
    for i in ids:
        if not 0 <= i < n:
            raise ValueError(
                f"window_ids contains {i}, out of range for N={n} windows (history shape {tuple(hist.shape)})"
            )
    bounds = None
    if band is not None:
        bounds = tuple(_as_numpy(name, b) for name, b in zip(("band lower", "band upper"), band, strict=True))
        for name, b in zip(("band lower", "band upper"), bounds, strict=True):
            if b.shape != true.shape:
                raise ValueError(f"{name} has shape {b.shape}; expected the truth's shape {true.shape}")
    target = channel % c_out
    source = target if c_in == c_out else c_in - 1

    x_hist = np.arange(-lookback, 0)
    x_pred = np.arange(horizon)
    figure = Figure(figsize=(8.0, 2.4 * len(ids)), layout="constrained")
    axes = figure.subplots(len(ids), 1, squeeze=False)[:, 0]
    for ax, i in zip(axes, ids, strict=True):
        ax.plot(x_hist, hist[i, :, source], color="C0", label="history")
        ax.plot(x_pred, true[i, :, target], color="C2", label="truth")
        ax.plot(x_pred, pred[i, :, target], color="C3", linestyle="--", label="forecast")
        if bounds is not None:
            lower, upper = bounds[0][i, :, target], bounds[1][i, :, target]
            ax.fill_between(x_pred, lower, upper, color="C3", alpha=0.2, label=band_label)
        ax.axvline(0, color="0.5", linewidth=0.8, linestyle=":", label="_origin")
        ax.set_title(f"window {i}" + (f": {channel_name}" if channel_name else ""))
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel("time step relative to the forecast origin")
    return figure
