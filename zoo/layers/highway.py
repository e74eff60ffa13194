"""The linear "highway" of LSTNet (Lai, Chang, Yang & Liu, "Modeling Long- and Short-Term Temporal
Patterns with Deep Neural Networks", SIGIR 2018; reference code laiguokun/LSTNet).

LSTNet adds to its neural forecast the output of a linear autoregressive model, one linear map from a
channel's past values to its future, shared across channels, so that the scale of the forecast follows
the scale of the input even where the non-linear part saturates. The reference maps the last ``hw``
steps to a single next step; here the map goes from all L past steps to all P future steps at once
(the direct multi-horizon form, as in DLinear's per-channel linear layer), and it is computed only for
the target channels, the last ``C_out`` channels of the input (see ``zoo.models.base``).

The parameters are ``weight`` (P, L) and ``bias`` (P,), initialised exactly as ``nn.Linear(L, P)``
(same names, same draws from the RNG), so a model that used a plain ``nn.Linear`` as its highway loads
the same state dict and, for a given seed, builds the same weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LinearHighway(nn.Module):
    """x (B, L, C_in) -> (B, P, C_out): one ``Linear(L, P)`` over time, shared by the last C_out channels.

    Args:
        seq_len: L, the past steps read.
        pred_len: P, the future steps written.
        n_features: C_in, the channels of x.
        n_targets: C_out, the target channels (the last C_out of x); None: all C_in.
    """

    def __init__(self, seq_len: int, pred_len: int, n_features: int, n_targets: int | None = None) -> None:
        super().__init__()
        n_targets = n_features if n_targets is None else n_targets
        if min(seq_len, pred_len, n_features, n_targets) <= 0:
            raise ValueError(
                f"LinearHighway: sizes must be positive, got seq_len={seq_len}, pred_len={pred_len}, "
                f"n_features={n_features}, n_targets={n_targets}"
            )
        if n_targets > n_features:
            raise ValueError(f"LinearHighway: n_targets={n_targets} exceeds n_features={n_features}")
        self.seq_len, self.pred_len = seq_len, pred_len
        self.n_features, self.n_targets = n_features, n_targets
        self.weight = nn.Parameter(torch.empty(pred_len, seq_len))
        self.bias = nn.Parameter(torch.empty(pred_len))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Linear``'s initialisation: kaiming-uniform weight (a=sqrt(5)), bias U(-1/sqrt(L), 1/sqrt(L))."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(self.seq_len)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1:] != (self.seq_len, self.n_features):
            raise ValueError(
                f"LinearHighway: expected x of shape (B, {self.seq_len}, {self.n_features}), "
                f"got {tuple(x.shape)}"
            )
        targets = x[..., self.n_features - self.n_targets :].transpose(1, 2)  # (B, C_out, L)
        return F.linear(targets, self.weight, self.bias).transpose(1, 2)  # (B, C_out, P) -> (B, P, C_out)

    def extra_repr(self) -> str:
        return (
            f"seq_len={self.seq_len}, pred_len={self.pred_len}, n_features={self.n_features}, "
            f"n_targets={self.n_targets}"
        )
