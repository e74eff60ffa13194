"""Distribution heads: turn any forecaster's point forecast into quantiles or a Normal / Student-t.

Every forecaster in the registry takes ``distribution="quantile" | "normal" | "student_t"``
(:class:`zoo.models.Forecaster`); the head is the same for all of them, so a new model gets probabilistic
forecasts for free. It is a location-scale head around the model's own forecast, in the spirit of the
multi-quantile heads of MQ-RNN (Wen et al. 2017) and the likelihood heads of DeepAR (Salinas et al.
2020), but model-agnostic:

- the location is the forecaster's point forecast (B, P, C), the prediction's ``point`` (the median; for a
  quantile head also its level 0.5 when that is among its levels);
- the spreads come from one channel-independent linear map of the standardised lookback of each target
  and of the point forecast (L + P values -> P * K numbers per channel; DLinear-style, Zeng et al., AAAI
  2023), passed through softplus and multiplied by the window's standard deviation, so they scale with the
  series (a series twice as large gets intervals twice as wide) and are strictly positive;
- quantiles are the location plus cumulative sums of those spreads upwards and downwards, so they never
  cross (the monotone construction of Gasthaus et al., "Probabilistic Forecasting with Spline Quantile
  Function RNNs", AISTATS 2019, with linear pieces).

The map starts at zero weights with biases that reproduce a Normal of the window's standard deviation
(the z-scores of the levels for quantiles, scale 1 for Normal and Student-t, df = 8 for Student-t), so an
untrained head already gives sensible intervals. The head reads the point forecast detached: it learns the
spread, while the location is learnt by the forecaster through the loss of every quantile (or the
likelihood).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.distributions import (
    DistributionName,
    NormalPrediction,
    Prediction,
    QuantilePrediction,
    StudentTPrediction,
    check_levels,
)

DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
#: The smallest Student-t degrees of freedom (variance and kurtosis exist; the quantile expansion is accurate).
MIN_DF = 3.0
_INITIAL_DF = 8.0
_EPS = 1e-5


def inverse_softplus(value: float) -> float:
    """The x with ``softplus(x) == value`` (value > 0)."""
    return value + math.log(-math.expm1(-value))


class DistributionHead(nn.Module):
    """The shared spread map: (history (B, L, C), point (B, P, C)) -> raw spreads (B, P, C, K) and the
    window's standard deviation (B, 1, C).

    Args:
        seq_len: L, the lookback length.
        pred_len: P, the horizon.
        initial: the K starting values of the softplus-ed spreads (in window standard deviations).
    """

    def __init__(self, seq_len: int, pred_len: int, initial: list[float]) -> None:
        super().__init__()
        self.pred_len, self.n_params = pred_len, len(initial)
        self.spread = nn.Linear(seq_len + pred_len, pred_len * self.n_params)
        nn.init.zeros_(self.spread.weight)
        with torch.no_grad():
            start = torch.tensor([inverse_softplus(v) for v in initial], dtype=self.spread.bias.dtype)
            self.spread.bias.copy_(start.repeat(pred_len))  # (P * K,), step-major

    def spreads(self, history: torch.Tensor, point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Positive spreads (B, P, C, K) in the series' units, and the window's std (B, 1, C)."""
        mean = history.mean(dim=1, keepdim=True)
        std = torch.sqrt(history.var(dim=1, keepdim=True, unbiased=False) + _EPS)
        features = torch.cat([history, point.detach()], dim=1).sub(mean).div(std)  # (B, L + P, C)
        raw = self.spread(features.transpose(1, 2))  # (B, C, P * K)
        raw = raw.view(*raw.shape[:2], self.pred_len, self.n_params).permute(0, 2, 1, 3)  # (B, P, C, K)
        return F.softplus(raw), std

    def forward(self, history: torch.Tensor, point: torch.Tensor) -> Prediction:
        """The prediction around ``point`` (B, P, C) given the target channels' lookback ``history`` (B, L, C)."""
        raise NotImplementedError


class QuantileHead(DistributionHead):
    """Non-crossing quantiles at ``levels`` around the point forecast (module docstring).

    Args:
        seq_len: L, the lookback length.
        pred_len: P, the horizon.
        levels: the sorted quantile levels in (0, 1); 0.5, if present, is the point forecast itself.
    """

    def __init__(self, seq_len: int, pred_len: int, levels: tuple[float, ...]) -> None:
        self.levels = check_levels(levels)
        self.upper = [level for level in self.levels if level > 0.5]  # ascending
        self.lower = [level for level in self.levels if level < 0.5][::-1]  # descending from the median
        normal = torch.distributions.Normal(0.0, 1.0)

        def gaps(side: list[float]) -> list[float]:
            z = [abs(float(normal.icdf(torch.tensor(level)))) for level in side]
            return [b - a for a, b in zip([0.0, *z[:-1]], z, strict=True)]

        super().__init__(seq_len, pred_len, gaps(self.upper) + gaps(self.lower))

    def forward(self, history: torch.Tensor, point: torch.Tensor) -> QuantilePrediction:
        spreads, std = self.spreads(history, point)
        steps = spreads * std.unsqueeze(-1)  # (B, P, C, K)
        above = point.unsqueeze(-1) + steps[..., : len(self.upper)].cumsum(dim=-1)
        below = point.unsqueeze(-1) - steps[..., len(self.upper) :].cumsum(dim=-1)
        parts = [below.flip(-1)]
        if 0.5 in self.levels:
            parts.append(point.unsqueeze(-1))
        parts.append(above)
        return QuantilePrediction(torch.cat(parts, dim=-1), self.levels, point)


class NormalHead(DistributionHead):
    """A Normal with the point forecast as location.

    Args:
        seq_len: L, the lookback length.
        pred_len: P, the horizon.
    """

    def __init__(self, seq_len: int, pred_len: int) -> None:
        super().__init__(seq_len, pred_len, [1.0])

    def forward(self, history: torch.Tensor, point: torch.Tensor) -> NormalPrediction:
        spreads, std = self.spreads(history, point)
        return NormalPrediction(point, spreads[..., 0] * std + _EPS)


class StudentTHead(DistributionHead):
    """A Student-t with the point forecast as location and ``df = 3 + softplus(.)`` degrees of freedom.

    Args:
        seq_len: L, the lookback length.
        pred_len: P, the horizon.
    """

    def __init__(self, seq_len: int, pred_len: int) -> None:
        super().__init__(seq_len, pred_len, [1.0, _INITIAL_DF - MIN_DF])

    def forward(self, history: torch.Tensor, point: torch.Tensor) -> StudentTPrediction:
        spreads, std = self.spreads(history, point)
        return StudentTPrediction(point, spreads[..., 0] * std + _EPS, spreads[..., 1] + MIN_DF)


def build_head(
    distribution: DistributionName,
    quantiles: list[float] | tuple[float, ...] | None,
    seq_len: int,
    pred_len: int,
) -> DistributionHead | None:
    """The head of a forecaster built with ``distribution`` / ``quantiles``; None for point forecasts.

    Args:
        distribution: "point", "quantile", "normal" or "student_t".
        quantiles: the levels of a quantile head (None: 0.1, 0.5, 0.9); only with distribution="quantile".
        seq_len: L, the lookback length.
        pred_len: P, the horizon.
    """
    if quantiles is not None and distribution != "quantile":
        raise ValueError(
            f"quantiles={list(quantiles)} is for distribution='quantile' (got distribution={distribution!r}); "
            "a Normal or Student-t model gives any quantile at prediction time"
        )
    if distribution == "point":
        return None
    if distribution == "quantile":
        return QuantileHead(seq_len, pred_len, tuple(DEFAULT_QUANTILES if quantiles is None else quantiles))
    if distribution == "normal":
        return NormalHead(seq_len, pred_len)
    return StudentTHead(seq_len, pred_len)
