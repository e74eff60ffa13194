"""A linear effect of the known-future features on every target, for any forecaster.

Regression with time-series errors (Hyndman & Athanasopoulos, "Forecasting: Principles and Practice",
3rd ed., chapter 10, "Dynamic regression models"), with the forecaster in place of ARIMA, and the
exogenous block of NBEATSx (Olivares et al., IJF 2023) reduced to its linear part: the effect
``mark[t] @ W`` (W of shape (F, C_out)) of each step's time features (calendar and ``future_columns``,
``zoo.data.covariates``) is removed from the lookback of every target before the forecaster reads it and
added back to its forecast at the same step, so the value of a covariate at step t moves the forecast of
step t and of no other step. W starts at zero: an untrained effect is the plain forecaster.
"""

from __future__ import annotations

import torch
from torch import nn


class FutureEffect(nn.Module):
    """mark (B, T, F) -> effect (B, T, C_out), step by step.

    Args:
        n_time_features: F, the time features per step.
        n_targets: C_out, the targets.
    """

    def __init__(self, n_time_features: int, n_targets: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_time_features, n_targets))

    def forward(self, mark: torch.Tensor) -> torch.Tensor:
        return mark @ self.weight.to(mark.dtype)
