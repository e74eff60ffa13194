"""The linear floor of long-horizon forecasting: Linear, DLinear, NLinear and RLinear.

- Zeng, Chen, Zhang & Xu, "Are Transformers Effective for Time Series Forecasting?" (AAAI 2023; reference
  code cure-lab/LTSF-Linear): one linear map from the L past values of a channel to its P future values,
  shared by the channels (or one per channel, ``individual``). **DLinear** first splits each window into
  a trend (a moving average, kernel 25, with the first and last values repeated at the ends) and the
  remainder ("seasonal"), maps each with its own linear layer and adds the two forecasts. **NLinear**
  subtracts the window's last value before the map and adds it back after.
- Li, Qi, Li & Xu, "Revisiting Long-term Time Series Forecasting: An Investigation on Linear Mapping"
  (2023; reference code plumprc/RTSF): **RLinear** is the same linear map inside reversible instance
  normalisation (RevIN, ``revin=True`` here, an option of every forecaster), with dropout on its input.

All four are channel-independent: each target channel is forecast from its own history only, so under
features "MS" the covariate channels are not read (as in the references, which forecast every channel and
keep the last). The lookback length is fixed at ``seq_len`` (one weight per past step).

``init="mean"`` starts every weight at 1/L (each forecast step the window's mean), as Time-Series-Library's
``models/DLinear.py`` does; the default ``"uniform"`` is ``nn.Linear``'s draw, as in LTSF-Linear.

Shapes: x (B, L, C_in) -> (B, P, C_out); inside, the target channels as (B, C_out, L).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from zoo.choices import check_choice
from zoo.distributions import DistributionName
from zoo.models.base import Forecaster
from zoo.registry import register_model

#: Trend/remainder split before the linear maps (DLinear) or none.
LinearDecomposition = Literal["none", "moving_average"]
#: What each window is measured from before the map: nothing, or its last value (NLinear).
LinearNormalisation = Literal["none", "last_value"]
#: How the linear maps start: ``nn.Linear``'s uniform draw, or every weight 1/L and bias 0.
LinearInit = Literal["uniform", "mean"]


class ChannelwiseLinear(nn.Module):
    """One ``Linear(L, P)`` per channel: (B, C, L) -> (B, C, P).

    Args:
        channels: C, the channels, each with its own weight (P, L) and bias (P,).
        seq_len: L, the inputs of each map.
        pred_len: P, the outputs of each map.
    """

    def __init__(self, channels: int, seq_len: int, pred_len: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, pred_len, seq_len))
        self.bias = nn.Parameter(torch.empty(channels, pred_len))
        bound = 1.0 / math.sqrt(seq_len)
        for channel in range(channels):  # nn.Linear's initialisation, channel by channel
            nn.init.kaiming_uniform_(self.weight[channel], a=math.sqrt(5))
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bcl,cpl->bcp", x, self.weight) + self.bias


def moving_average(series: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """The centred moving average of each row of ``series`` (B, C, L), ends padded with the edge values.

    Zeng et al.'s ``series_decomp`` trend: (kernel_size - 1) / 2 copies of the first value before the
    window and as many of the last after it, then the mean of every ``kernel_size`` consecutive values,
    so the trend has the window's length L.
    """
    half = (kernel_size - 1) // 2
    padded = F.pad(series, (half, half), mode="replicate")  # (B, C, L + K - 1)
    return F.avg_pool1d(padded, kernel_size, stride=1)  # (B, C, L)


@register_model("linear", description="one linear map over time per channel (Zeng et al. 2023)")
@register_model(
    "dlinear",
    defaults={"decomposition": "moving_average"},
    description="DLinear: moving-average trend + remainder, a linear map each (Zeng et al. 2023)",
)
@register_model(
    "nlinear",
    defaults={"normalisation": "last_value"},
    description="NLinear: a linear map of the window minus its last value (Zeng et al. 2023)",
)
@register_model(
    "rlinear",
    defaults={"revin": True},
    description="RLinear: RevIN around one linear map (Li et al. 2023)",
)
class LinearForecaster(Forecaster):
    """Linear, DLinear, NLinear and RLinear (module docstring): x (B, L, C_in) -> (B, P, C_out).

    Args:
        decomposition: "moving_average" splits each window into trend and remainder, a linear map each
            (DLinear); "none": one map.
        moving_average: the trend's kernel size K (odd; DLinear's 25).
        normalisation: "last_value" subtracts each window's last value before the map and adds it back
            after (NLinear); "none": no shift.
        individual: one linear map per target channel instead of one shared by all.
        dropout: on the map's input (RLinear's).
        init: "uniform" (``nn.Linear``'s) or "mean" (every weight 1/L, bias 0, as TSLib's DLinear).
        past_covariates: also map the lookback of the non-target input channels (past covariates,
            ``past_columns`` with features "MS") linearly to every target's horizon, a map that starts at
            zero (not in DLinear, whose channels never meet; the linear part of TiDE's covariate encoder,
            Das et al., TMLR 2023). False: the targets alone, as the papers.
    """

    #: LoRA default: the shared linear maps (an ``individual`` model has no ``nn.Linear`` to adapt).
    lora_target_modules: ClassVar[str] = r"linear|seasonal|trend"

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
        decomposition: LinearDecomposition = "none",
        moving_average: int = 25,
        normalisation: LinearNormalisation = "none",
        individual: bool = False,
        dropout: float = 0.0,
        init: LinearInit = "uniform",
        past_covariates: bool = False,
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
        check_choice("decomposition", decomposition, LinearDecomposition, owner="LinearForecaster")
        check_choice("normalisation", normalisation, LinearNormalisation, owner="LinearForecaster")
        check_choice("init", init, LinearInit, owner="LinearForecaster")
        if decomposition == "moving_average" and (moving_average < 1 or moving_average % 2 == 0):
            raise ValueError(
                f"LinearForecaster: moving_average must be a positive odd kernel size (the trend is centred "
                f"on each step), got {moving_average}; DLinear uses 25"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LinearForecaster: dropout must lie in [0, 1), got {dropout}")
        self.decomposition, self.moving_average, self.normalisation = (
            decomposition,
            moving_average,
            normalisation,
        )
        self.dropout = nn.Dropout(dropout)
        maps = ("seasonal", "trend") if decomposition == "moving_average" else ("linear",)
        for name in maps:
            layer = (
                ChannelwiseLinear(self.n_targets, seq_len, pred_len)
                if individual
                else nn.Linear(seq_len, pred_len)
            )
            if init == "mean":
                nn.init.constant_(layer.weight, 1.0 / seq_len)
                nn.init.zeros_(layer.bias)
            self.add_module(name, layer)
        covariates = self.n_features - self.n_targets
        if past_covariates and covariates == 0:
            raise ValueError(
                "LinearForecaster: past_covariates=True needs input channels that are not targets "
                "(features 'MS' with past_columns); this model has only its targets"
            )
        self.covariate_map = (
            nn.Linear(covariates * seq_len, self.n_targets * pred_len) if past_covariates else None
        )
        if self.covariate_map is not None:
            nn.init.zeros_(self.covariate_map.weight)
            nn.init.zeros_(self.covariate_map.bias)

    def forecast(
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_input(x)
        if x.shape[1] != self.seq_len:
            raise ValueError(
                f"LinearForecaster maps exactly seq_len={self.seq_len} past steps (one weight per step), "
                f"got x with L={x.shape[1]}"
            )
        targets = x[..., self.n_features - self.n_targets :]  # (B, L, C_out)
        last = targets[:, -1:] if self.normalisation == "last_value" else None
        if last is not None:
            targets = targets - last
        series = self.dropout(targets.transpose(1, 2))  # (B, C_out, L)
        if self.decomposition == "moving_average":
            trend = moving_average(series, self.moving_average)
            out = self.seasonal(series - trend) + self.trend(trend)  # (B, C_out, P)
        else:
            out = self.linear(series)
        out = out.transpose(1, 2)  # (B, P, C_out)
        if self.covariate_map is not None:
            past = x[..., : self.n_features - self.n_targets].flatten(1)  # (B, L * C_past)
            out = out + self.covariate_map(past).view(-1, self.pred_len, self.n_targets)
        return out if last is None else out + last
