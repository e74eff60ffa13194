"""Reversible instance normalisation (RevIN; Kim et al., "Reversible Instance Normalization for Accurate
Time-Series Forecasting against Distribution Shift", ICLR 2022; reference code ts-kim/RevIN).

Each window is normalised by its own per-channel mean and standard deviation over time (optionally
followed by a learnable per-channel affine map) before the network, and the forecast is mapped back
with the same statistics. Unlike the reference, the statistics are returned instead of stored on the
module, so one module can serve interleaved calls; and the inverse uses only the statistics of the
target channels, the last ``C_out`` channels of the input (the data layer puts targets last).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class InstanceStats:
    """Per-window statistics: ``mean`` and ``std`` of shape (B, 1, C_in)."""

    mean: torch.Tensor
    std: torch.Tensor


class RevIN(nn.Module):
    """x (B, L, C_in) -> normalised x and its stats; forecast (B, P, C_out) -> original scale.

    Args:
        n_features: C_in, the channels normalised.
        affine: learn a per-channel affine map after the normalisation.
        eps: added to the variance before the square root.
    """

    def __init__(self, n_features: int, affine: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.n_features, self.affine, self.eps = n_features, affine, eps
        if affine:
            self.weight = nn.Parameter(torch.ones(n_features))
            self.bias = nn.Parameter(torch.zeros(n_features))

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, InstanceStats]:
        if x.shape[-1] != self.n_features:
            raise ValueError(f"RevIN expects {self.n_features} channels, got x of shape {tuple(x.shape)}")
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        out = (x - mean) / std
        if self.affine:
            out = out * self.weight + self.bias
        return out, InstanceStats(mean=mean, std=std)

    def denormalize(self, y: torch.Tensor, stats: InstanceStats) -> torch.Tensor:
        channels = y.shape[-1]
        if channels > self.n_features:
            raise ValueError(
                f"RevIN: forecast has {channels} channels, more than the {self.n_features} inputs"
            )
        if self.affine:
            y = (y - self.bias[-channels:]) / (self.weight[-channels:] + self.eps * self.eps)
        return y * stats.std[..., -channels:] + stats.mean[..., -channels:]

    def around(self, forecaster: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """``forecaster`` applied to the normalised x (B, L, C_in), its (B, P, C_out) output mapped back."""
        normed, stats = self.normalize(x)
        return self.denormalize(forecaster(normed), stats)
