"""Forecasting metrics that torchmetrics lacks: sMAPE, MAPE, MASE and OWA exactly as the M4 competition.

Definitions follow the M4 organisers (Makridakis, Spiliotis & Assimakopoulos, "The M4 Competition:
100,000 time series and 61 forecasting methods", IJF 2020, section 2.4, and their evaluation code in
Mcompetitions/M4-methods) and the N-BEATS losses (Oreshkin et al., ICLR 2020, section 2 and the
ElementAI/N-BEATS reference):

- sMAPE = 200 / P * sum_t |y_t - f_t| / (|y_t| + |f_t|)            (per series, in percent)
- MAPE  = 100 / P * sum_t |y_t - f_t| / |y_t|
- MASE  = (1 / P * sum_t |y_t - f_t|) / scale, with the in-sample seasonal-naive error
  scale = 1 / (n - m) * sum_{j=m+1..n} |h_j - h_{j-m}| of the series' history h (m: seasonal period);
- the score of a frequency is the mean of the per-series values; OWA = (sMAPE / sMAPE_Naive2 +
  MASE / MASE_Naive2) / 2 on those means, so the official Naive2 forecasts score exactly 1.

A ratio with a zero denominator counts as 0 (the reference's ``divide_no_nan``), so padded or constant
stretches never produce NaN or infinite gradients. Every function takes numpy arrays or torch tensors
(forecast and target (..., P), the horizon on the last axis) and returns the same kind: tensors keep
their graph (the losses are these functions), arrays are computed in float64.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torchmetrics import Metric

from zoo.scoring import Reduction, _reduce

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def _as_tensor(value: np.ndarray | torch.Tensor | float) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value, dtype=np.float64))


def _like(result: torch.Tensor, template: np.ndarray | torch.Tensor) -> ArrayT:
    return result if isinstance(template, torch.Tensor) else result.numpy()  # type: ignore[return-value]


def divide_no_nan(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` with 0 wherever the denominator is 0 (finite gradients there too)."""
    zero = denominator == 0
    return torch.where(zero, torch.zeros_like(numerator), numerator / torch.where(zero, 1.0, denominator))


def _check_pair(forecast: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
    if forecast.shape != target.shape:
        raise ValueError(
            f"forecast shape {tuple(forecast.shape)} differs from target shape {tuple(target.shape)}"
        )
    if mask is not None and mask.shape != target.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} differs from target shape {tuple(target.shape)}")
    if forecast.ndim == 0:
        raise ValueError("forecast and target need a horizon axis (..., P); got scalars")


def _per_series(errors: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``errors`` (..., P) over the valid steps of each series -> (...)."""
    if mask is None:
        return errors.mean(dim=-1)
    return divide_no_nan((errors * mask).sum(dim=-1), mask.sum(dim=-1).to(errors.dtype))


def smape(
    forecast: ArrayT,
    target: ArrayT,
    mask: ArrayT | None = None,
    reduction: Reduction = "mean",
    detach_denominator: bool = False,
) -> ArrayT:
    """Symmetric MAPE in percent (0..200): per series over the horizon, then the mean over series.

    Args:
        forecast, target: (..., P). mask: optional (..., P) of {0, 1}; steps with 0 are ignored (the
            per-series mean is over the valid steps). reduction: "mean" over all series, or "none" (...).
        detach_denominator: no gradient through |y| + |f|, as the N-BEATS training loss (its
            reference implementation divides by ``forecast.data``): the gradient then cannot shrink the
            loss by inflating the forecast.
    """
    f, y = _as_tensor(forecast), _as_tensor(target)
    m = None if mask is None else _as_tensor(mask).to(f.dtype)
    _check_pair(f, y, m)
    denominator = (f.detach() if detach_denominator else f).abs() + y.abs()
    errors = 200.0 * divide_no_nan((f - y).abs(), denominator)
    return _like(_reduce(_per_series(errors, m), reduction), forecast)


def mape(
    forecast: ArrayT, target: ArrayT, mask: ArrayT | None = None, reduction: Reduction = "mean"
) -> ArrayT:
    """Mean absolute percentage error in percent; steps with a zero target count as 0. Shapes as :func:`smape`."""
    f, y = _as_tensor(forecast), _as_tensor(target)
    m = None if mask is None else _as_tensor(mask).to(f.dtype)
    _check_pair(f, y, m)
    errors = 100.0 * divide_no_nan((f - y).abs(), y.abs())
    return _like(_reduce(_per_series(errors, m), reduction), forecast)


def seasonal_naive_scale(history: ArrayT, period: int, mask: ArrayT | None = None) -> ArrayT:
    """MASE denominator: mean |h_t - h_{t-m}| over the history (..., n) -> (...).

    With ``mask`` (..., n), a difference counts only where both of its ends are valid (left-padded
    lookback windows in training). Fewer than ``period + 1`` valid points give 0.
    """
    if period < 1:
        raise ValueError(f"the seasonal period must be >= 1, got {period}")
    h = _as_tensor(history)
    if h.shape[-1] <= period:
        return _like(torch.zeros(h.shape[:-1], dtype=h.dtype), history)
    diffs = (h[..., period:] - h[..., :-period]).abs()
    valid = None
    if mask is not None:
        m = _as_tensor(mask).to(h.dtype)
        if m.shape != h.shape:
            raise ValueError(f"mask shape {tuple(m.shape)} differs from history shape {tuple(h.shape)}")
        valid = m[..., period:] * m[..., :-period]
    return _like(_per_series(diffs, valid), history)


def mase(
    forecast: ArrayT,
    target: ArrayT,
    scale: ArrayT,
    mask: ArrayT | None = None,
    reduction: Reduction = "mean",
) -> ArrayT:
    """Mean absolute scaled error: per-series MAE over the horizon divided by ``scale`` (...).

    ``scale`` is :func:`seasonal_naive_scale` of each series' history (the whole training series in the
    M4 evaluation). A zero scale gives 0 for that series (``divide_no_nan``).
    """
    f, y, s = _as_tensor(forecast), _as_tensor(target), _as_tensor(scale)
    m = None if mask is None else _as_tensor(mask).to(f.dtype)
    _check_pair(f, y, m)
    if s.shape != f.shape[:-1]:
        raise ValueError(
            f"scale shape {tuple(s.shape)} must be the forecast's without the horizon, {tuple(f.shape[:-1])}"
        )
    per_series = divide_no_nan(_per_series((f - y).abs(), m), s.to(f.dtype))
    return _like(_reduce(per_series, reduction), forecast)


def owa(smape_value: float, mase_value: float, smape_naive2: float, mase_naive2: float) -> float:
    """Overall weighted average of the M4 competition: (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) / 2."""
    if smape_naive2 <= 0 or mase_naive2 <= 0:
        raise ValueError(f"Naive2 scores must be positive, got sMAPE {smape_naive2} and MASE {mase_naive2}")
    return 0.5 * (float(smape_value) / float(smape_naive2) + float(mase_value) / float(mase_naive2))


class M4Scores(Metric):
    """Running per-series sMAPE / MASE of a model, and of the Naive2 benchmark when given, for OWA.

    ``update(forecast, target, scale, naive2=None)`` with forecast/target/naive2 (B, P) or (B, P, 1) and
    scale (B,); ``compute()`` returns ``{"smape", "mase"}`` plus ``"owa"`` when every update carried
    Naive2 forecasts. Sums reduce across processes, so DDP evaluation gives the single-process numbers.
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("smape_sum", "mase_sum", "naive2_smape_sum", "naive2_mase_sum", "count", "naive2_count"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self,
        forecast: torch.Tensor,
        target: torch.Tensor,
        scale: torch.Tensor,
        naive2: torch.Tensor | None = None,
    ) -> None:
        f, y = forecast.reshape(len(forecast), -1).double(), target.reshape(len(target), -1).double()
        s = scale.reshape(-1).double()
        self.smape_sum += smape(f, y, reduction="none").sum()
        self.mase_sum += mase(f, y, s, reduction="none").sum()
        self.count += len(f)
        if naive2 is not None:
            n2 = naive2.reshape(len(naive2), -1).double()
            self.naive2_smape_sum += smape(n2, y, reduction="none").sum()
            self.naive2_mase_sum += mase(n2, y, s, reduction="none").sum()
            self.naive2_count += len(n2)

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.clamp_min(1)
        scores = {"smape": self.smape_sum / n, "mase": self.mase_sum / n}
        if self.naive2_count > 0 and self.naive2_count == self.count:
            ratio_smape = self.smape_sum / self.naive2_smape_sum.clamp_min(1e-12)
            ratio_mase = self.mase_sum / self.naive2_mase_sum.clamp_min(1e-12)
            scores["owa"] = 0.5 * (ratio_smape + ratio_mase)
        return scores
