"""A forecaster wrapped in reversible instance normalisation, as one module.

``ForecastingTask(revin=True)`` keeps RevIN (Kim et al., ICLR 2022; :mod:`zoo.layers.revin`) beside the
net; a pretrained forecaster must carry it inside, so that ``zoo.create_model("tcn.etth1",
pretrained=True)`` alone reproduces the forecasts the card reports. The state-dict keys (``net.*``,
``revin.*``) are those of the task, so weights move between the two without renaming.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from zoo.layers.revin import RevIN
from zoo.models.base import Forecaster


class InstanceNormalized(Forecaster):
    """``revin.around(net)``: x (B, L, C_in) -> (B, P, C_out), with the inner net's dimensions.

    Args:
        net: the forecaster to wrap.
        affine: RevIN's learnable per-channel affine map.
    """

    def __init__(self, net: Forecaster, affine: bool = True) -> None:
        super().__init__(n_features=net.n_features, seq_len=net.seq_len, pred_len=net.pred_len,
                         n_targets=net.n_targets, label_len=net.label_len, n_time_features=net.n_time_features)
        self.net = net
        self.revin = RevIN(net.n_features, affine=affine)
        self._net_takes_mask = "x_mask" in inspect.signature(net.forward).parameters

    @classmethod
    def from_modules(cls, net: Forecaster, revin: RevIN) -> InstanceNormalized:
        """Wrap ``net`` with an existing ``revin`` (shared, not copied), e.g. a task's pair."""
        wrapped = cls(net, affine=revin.affine)
        wrapped.revin = revin
        return wrapped

    def forward(
        self,
        x: torch.Tensor,
        x_mark: torch.Tensor | None = None,
        y_mark: torch.Tensor | None = None,
        x_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return run_forecaster(self.net, self.revin, x, x_mark, y_mark, x_mask, self._net_takes_mask)


def run_forecaster(
    net: nn.Module,
    revin: RevIN | None,
    x: torch.Tensor,
    x_mark: torch.Tensor | None,
    y_mark: torch.Tensor | None,
    x_mask: torch.Tensor | None,
    net_takes_mask: bool,
) -> torch.Tensor:
    """``net`` on x (B, L, C_in) -> (B, P, C_out), inside ``revin`` when given; ``x_mask`` (panels' left
    padding) goes only to nets whose ``forward`` takes it. Shared by this wrapper and ``ForecastingTask``."""
    extra = {"x_mask": x_mask} if x_mask is not None and net_takes_mask else {}
    if revin is None:
        return net(x, x_mark, y_mark, **extra)
    return revin.around(lambda normed: net(normed, x_mark, y_mark, **extra), x)
