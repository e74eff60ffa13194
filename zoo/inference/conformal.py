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
