"""Conformal prediction intervals around any point forecaster, calibrated on backtest residuals.

Split conformal prediction (Vovk, Gammerman & Shafer, "Algorithmic Learning in a Random World", 2005;
for multi-step forecasts Stankeviciute, Alaa & van der Schaar, "Conformal Time-Series Forecasting",
NeurIPS 2021, who calibrate each horizon step on its own): the model forecasts the last ``windows``
origins of the data it is asked about (a backtest, :func:`zoo.backtest`'s origins), and the signed
residuals ``y - f`` of those windows, per horizon step and target channel, each divided by the standard
deviation of its own lookback window (the normalised nonconformity score of Papadopoulos, Gammerman & Vovk,
"Normalized nonconformity measures for regression conformal prediction", 2008, and Lei et al., JASA 2018,
"locally weighted" conformal), give the quantile offsets, which are multiplied back by the forecast
window's own standard deviation, so intervals widen in volatile stretches and narrow in calm ones:

- the level-tau offset is the k-th smallest of the n residuals with k = ceil((n + 1) * tau) for tau >= 0.5
  and k = floor((n + 1) * tau) for tau < 0.5 (the finite-sample rank, so a one-sided bound holds with
  probability at least tau when residuals are exchangeable; a central interval [tau, 1 - tau] covers at
  least 1 - 2 tau);
- a level too extreme for n residuals (k outside 1..n) is an error asking for more windows;
- residuals are pooled over the series of a panel on each series' standardised scale (divided by the
  series' target standard deviation) and mapped back per series.

Without the normalisation (constant offsets per step) the intervals calibrated on ETTh1's validation
months over-cover its calmer test months (0.91 for a nominal 0.80 with RLinear on OT, measured with
``benchmarks/probabilistic_accuracy.py``); the table in ``benchmarks/results/probabilistic_etth1.md``
gives the normalised figures.

Time series are not exchangeable; the guarantee is approximate, and the backtest (``interval`` in
:func:`zoo.backtest`) measures the coverage actually reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoo.distributions import check_levels


@dataclass(frozen=True)
class ConformalCalibration:
    """Quantile offsets learnt from backtest residuals.

    Attributes:
        levels: the Q quantile levels.
        offsets: (Q, P, C_out) offsets in lookback standard deviations, added to the point forecast.
        windows: n, the calibration windows (pooled over series).
    """

    levels: tuple[float, ...]
    offsets: np.ndarray
    windows: int

    def quantiles(self, point: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The quantiles (S, P, C, Q) of point forecasts (S, P, C).

        Args:
            point: the point forecasts.
            scale: (S, C) each forecast's scale in the point's units: its lookback window's standard deviation
                (:func:`lookback_scale`), times the series' target standard deviation for original units.
        """
        steps = point.shape[1]
        offsets = np.moveaxis(self.offsets[:, :steps], 0, -1)  # (P, C, Q)
        return point[..., None] + offsets[None] * scale[:, None, :, None]


def lookback_scale(lookback: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """The standard deviation over time of each window's lookback (N, L, C) -> (N, C), floored at ``sqrt(eps)``
    (RevIN's epsilon) so that a constant window gives a narrow interval, not a division by zero.

    Args:
        lookback: the target channels of the input windows.
        eps: added to the variance.
    """
    return np.sqrt(lookback.var(axis=1) + eps)


def rank_for(level: float, count: int) -> int:
    """The 1-based rank of the level-``level`` residual among ``count`` (module docstring)."""
    scaled = (count + 1) * level
    return math.ceil(scaled - 1e-9) if level >= 0.5 else math.floor(scaled + 1e-9)


def calibrate(residuals: np.ndarray, levels: tuple[float, ...] | list[float]) -> ConformalCalibration:
    """Offsets from normalised residuals ``(y - f) / lookback scale`` of shape (n windows, P, C_out).

    Args:
        residuals: the calibration windows' residuals, each divided by its :func:`lookback_scale`.
        levels: the quantile levels in (0, 1).
    """
    wanted = check_levels(levels)
    count = len(residuals)
    ordered = np.sort(residuals, axis=0)
    offsets = []
    for level in wanted:
        rank = rank_for(level, count)
        if not 1 <= rank <= count:
            needed = math.ceil(1.0 / min(level, 1.0 - level)) - 1
            raise ValueError(
                f"conformal level {level:g} needs at least {needed} calibration windows, the data gives {count}; "
                "pass more calibration windows (a smaller calibration step or a longer file) or a less extreme level"
            )
        offsets.append(ordered[rank - 1])
    return ConformalCalibration(wanted, np.stack(offsets), count)


def interval_scores(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Conformity scores of intervals, ``max(lower - y, y - upper)`` over the window's scale (N, P, C):
    negative inside the interval, positive outside (conformalised quantile regression, Romano, Patterson &
    Candès, NeurIPS 2019); for a point forecast (``lower == upper``) the normalised absolute residual.

    Args:
        lower: (N, P, C) lower bounds.
        upper: (N, P, C) upper bounds.
        truth: (N, P, C) observed values.
        scale: (N, C) each window's scale (:func:`lookback_scale`, in the bounds' units).
    """
    return np.maximum(lower - truth, truth - upper) / scale[:, None, :]


@dataclass(frozen=True)
class AdaptiveIntervals:
    """Intervals widened (or narrowed) by adaptive conformal inference (:func:`adaptive_conformal`).

    Attributes:
        lower: (N, P, C) lower bounds.
        upper: (N, P, C) upper bounds.
        alphas: (N, C) the miscoverage level each window's interval was built for.
    """

    lower: np.ndarray
    upper: np.ndarray
    alphas: np.ndarray


def adaptive_conformal(
    lower: np.ndarray,
    upper: np.ndarray,
    scale: np.ndarray,
    truth: np.ndarray,
    scores: np.ndarray,
    coverage: float,
    origins: np.ndarray,
    pred_len: int,
    rate: float = 0.005,
) -> AdaptiveIntervals:
    """Adaptive conformal inference (Gibbs & Candès, "Adaptive Conformal Inference Under Distribution
    Shift", NeurIPS 2021) over a rolling backtest, with the delayed feedback of multi-step forecasts.

    Each window's interval ``[lower - q * s, upper + q * s]`` takes ``q``, per horizon step and channel,
    as the level-``1 - alpha_t`` quantile (finite-sample rank, :func:`rank_for`) of the calibration
    ``scores`` (:func:`interval_scores` of windows before the backtest), ``s`` its window's scale. The
    level starts at ``alpha = 1 - coverage`` and, once a window's truth is all observed (its origin plus
    ``pred_len`` rows lie at or before the current origin), moves by ``alpha += rate * (1 - coverage -
    miss)``, ``miss`` the fraction of that window's steps outside its interval, per channel: intervals widen
    after misses and narrow after covers, so the long-run coverage approaches ``coverage`` under shift.
    ``rate`` 0 is split conformal (CQR). Gibbs & Candès use ``rate`` 0.005. A level beyond what ``n``
    calibration windows resolve takes their extreme score (the paper's infinite interval, kept finite).

    Args:
        lower: (N, P, C) the model's lower bounds (its point forecast for a point model).
        upper: (N, P, C) the upper bounds.
        scale: (N, C) each window's scale in the bounds' units.
        truth: (N, P, C) the observed values, read only once a window is past.
        scores: (n, P, C) the calibration windows' conformity scores.
        coverage: the target coverage in (0, 1), e.g. 0.8.
        origins: (N,) each window's origin row, increasing.
        pred_len: P, the rows a window's truth spans.
        rate: the step size gamma of the level's update (>= 0).
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must lie in (0, 1), got {coverage}")
    if rate < 0:
        raise ValueError(f"rate must be >= 0 (0: split conformal), got {rate}")
    if np.any(np.diff(origins) <= 0):
        raise ValueError("adaptive conformal needs the windows in increasing origin order")
    ordered = np.sort(scores, axis=0)  # (n, P, C)
    count, channels = len(ordered), ordered.shape[2]
    target = 1.0 - coverage
    alpha = np.full(channels, target)
    out_lower, out_upper = np.empty_like(lower, dtype=np.float64), np.empty_like(upper, dtype=np.float64)
    alphas = np.empty((len(origins), channels))
    misses = np.empty((len(origins), channels))
    known = 0
    for index, origin in enumerate(origins):
        while known < index and origins[known] + pred_len <= origin:  # feedback of the windows now past
            alpha = alpha + rate * (target - misses[known])
            known += 1
        ranks = np.clip(np.ceil((count + 1) * (1.0 - alpha) - 1e-9).astype(int), 1, count)  # (C,)
        offset = ordered[ranks - 1, :, np.arange(channels)].T * scale[index]  # (P, C)
        out_lower[index], out_upper[index] = lower[index] - offset, upper[index] + offset
        outside = (truth[index] < out_lower[index]) | (truth[index] > out_upper[index])
        misses[index] = outside.mean(axis=0)
        alphas[index] = alpha
    return AdaptiveIntervals(out_lower, out_upper, alphas)


def check_conformal_options(
    levels: tuple[float, ...] | None, conformal: bool, windows: int, step: int, adapt_rate: float
) -> None:
    """The conformal options of a forecast or backtest agree with each other, or a clear error.

    Args:
        levels: the checked quantile levels, or None.
        conformal: the ``conformal`` option.
        windows: ``calibration_windows``.
        step: ``calibration_step``.
        adapt_rate: ``adapt_rate``.
    """
    if conformal and levels is None:
        raise ValueError(
            "conformal=True calibrates quantiles: give the levels too, e.g. quantiles=[0.1, 0.9]"
        )
    for name, value in (("calibration_windows", windows), ("calibration_step", step)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if adapt_rate < 0 or (adapt_rate > 0 and not conformal):
        raise ValueError(
            f"adapt_rate={adapt_rate}: adaptive conformal inference takes a rate >= 0 and conformal=True "
            "(Gibbs & Candès use 0.005)"
        )
    if adapt_rate > 0 and levels is not None:
        outer = [level for level in levels if level != 0.5]
        paired = all(abs(a + b - 1.0) < 1e-9 for a, b in zip(outer, reversed(outer), strict=True))
        if not outer or not paired:
            raise ValueError(
                f"adapt_rate adapts central intervals [q, 1 - q]: the quantiles {list(levels)} must pair up around "
                "0.5, e.g. [0.1, 0.9] or [0.05, 0.25, 0.75, 0.95]"
            )
