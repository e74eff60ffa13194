"""The "Repeat" baseline: every future step repeats the last observed value of each target.

The honest floor of every long-horizon table (Zeng et al., "Are Transformers Effective for Time Series
Forecasting?", AAAI 2023, Table 2, row "Repeat"). It has no parameters; training it is a no-op.
"""

from __future__ import annotations

import torch

from zoo.distributions import DistributionName
from zoo.models.base import Forecaster
from zoo.registry import register_model


@register_model("naive")
class NaiveForecaster(Forecaster):
    """Repeat the last value of each target channel over the horizon: x (B, L, C_in) -> (B, P, C_out).

    Takes only the six data dimensions (their ``Args:`` lines come from ``Forecaster``).
    """

    def __init__(
        self,
        n_features: int,
        seq_len: int,
        pred_len: int,
        n_targets: int | None = None,
        label_len: int = 0,
        n_time_features: int = 0,
        revin: bool = False,
        revin_affine: bool = True,
        distribution: DistributionName = "point",
        quantiles: list[float] | None = None,
        future_effect: bool = False,
    ) -> None:
        super().__init__(
            n_features,
            seq_len,
            pred_len,
            n_targets,
            label_len,
            n_time_features,
            revin,
            revin_affine,
            distribution,
            quantiles,
            future_effect,
        )

    def forecast(
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_input(x)
        last = x[:, -1:, self.n_features - self.n_targets :]  # (B, 1, C_out)
        return last.expand(-1, self.pred_len, -1).clone()
