"""What an attention forecaster attends over, besides one token per time step: patches and variates.

- **Patches** (Nie, Nguyen, Sinthong & Kalagnanam, "A Time Series is Worth 64 Words: Long-term Forecasting
  with Transformers", ICLR 2023; reference code yuqinie98/PatchTST, and Time-Series-Library's
  ``models/PatchTST.py``): each channel alone (channel independence) is padded at the end with ``stride``
  copies of its last value and cut into N = (L - patch_len) / stride + 2 overlapping patches; a
  ``Linear(patch_len, d_model)`` without bias embeds each patch, an absolute position encoding of the patch
  index is added (sinusoidal or learned; RoPE and ALiBi act in attention over the same indices) and the
  tokens go through dropout. The head flattens a channel's N tokens and maps N * d_model to the P steps.
- **Variates** (Liu, Hu, Zhang, Wu, Wang, Ma & Long, "iTransformer: Inverted Transformers Are Effective
  for Time Series Forecasting", ICLR 2024; reference code thuml/iTransformer): each channel's whole
  lookback window is one token, ``Linear(L, d_model)``, and so is each time feature's (the reference's
  ``DataEmbedding_inverted`` appends them to the variates); there is no position encoding, attention runs
  across variates, and ``Linear(d_model, P)`` maps each variate token to its forecast. The time-feature
  tokens are read, not forecast.

- **Covariate tokens** (:class:`CovariateTokens`; the exogenous variate tokens of Wang et al., "TimeXer:
  Empowering Transformers for Time Series Forecasting with Exogenous Variables", NeurIPS 2024): each
  past-only covariate's lookback is one token, ``Linear(L, d_model)``, and each time feature's lookback
  and horizon together (calendar and known-future covariates, whose horizon is known) is one token,
  ``Linear(L + P, d_model)``; patch or variate tokens attend to them. A token holds its L + P steps in
  d_model numbers, so a covariate that changes every step (a promotion calendar) needs d_model of the
  order of P to reach each step of the forecast; ``future_effect=True`` is exact at any width.

Shapes: x (B, L, C); patch tokens (B * C, N, d_model); variate tokens (B, C + F, d_model); covariate
tokens (B, C_past + F, d_model).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers.position import absolute_position_embedding


def patch_count(seq_len: int, patch_len: int, stride: int) -> int:
    """N, the patches of a window of ``seq_len`` steps padded at the end with ``stride`` steps."""
    return (seq_len + stride - patch_len) // stride + 1


def check_patching(seq_len: int, patch_len: int, stride: int) -> None:
    """Raise a clear error when ``patch_len`` / ``stride`` cannot cut a window of ``seq_len`` steps."""
    if patch_len < 1 or stride < 1:
        raise ValueError(f"patch_len and patch_stride must be positive, got {patch_len} and {stride}")
    if patch_len > seq_len + stride:
        raise ValueError(
            f"patch_len={patch_len} is longer than the padded window (seq_len={seq_len} + "
            f"patch_stride={stride}); use a patch_len of at most {seq_len + stride}"
        )


class PatchEmbedding(nn.Module):
    """x (B, L, C) -> patch tokens (B * C, N, d_model), channel-major within each sample.

    Args:
        seq_len: L.
        patch_len: steps per patch.
        stride: steps between the starts of consecutive patches (also the end padding).
        d_model: token width.
        position: the model's position encoding (sinusoidal / learned are added here).
        dropout: on the tokens.
    """

    def __init__(
        self, seq_len: int, patch_len: int, stride: int, d_model: int, position: str, dropout: float
    ) -> None:
        super().__init__()
        check_patching(seq_len, patch_len, stride)
        self.patch_len, self.stride = patch_len, stride
        self.n_patches = patch_count(seq_len, patch_len, stride)
        self.value = nn.Linear(patch_len, d_model, bias=False)
        self.position = absolute_position_embedding(position, d_model, self.n_patches)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        series = x.transpose(1, 2)  # (B, C, L)
        padded = F.pad(series, (0, self.stride), mode="replicate")  # (B, C, L + stride)
        patches = padded.unfold(-1, self.patch_len, self.stride)  # (B, C, N, patch_len)
        tokens = self.value(patches.reshape(-1, self.n_patches, self.patch_len))  # (B * C, N, d_model)
        if self.position is not None:
            positions = torch.arange(self.n_patches, device=x.device)
            tokens = tokens + self.position(positions).to(tokens.dtype)
        return self.dropout(tokens)


class FlattenHead(nn.Module):
    """Patch tokens (B * C, N, d_model) -> forecast (B, P, C): a channel's tokens flattened, then linear.

    Args:
        n_patches: N.
        d_model: token width.
        pred_len: P.
        dropout: on the forecast (PatchTST's head dropout).
    """

    def __init__(self, n_patches: int, d_model: int, pred_len: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(n_patches * d_model, pred_len)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, channels: int) -> torch.Tensor:
        out = self.dropout(self.linear(tokens.flatten(1)))  # (B * C, P)
        return out.reshape(-1, channels, out.shape[-1]).transpose(1, 2)  # (B, P, C)


class VariateEmbedding(nn.Module):
    """x (B, L, C) and x_mark (B, L, F) -> one token per variate and per time feature (B, C + F, d_model).

    Args:
        seq_len: L, the steps of each token.
        d_model: token width.
        dropout: on the tokens.
    """

    def __init__(self, seq_len: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.value = nn.Linear(seq_len, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None) -> torch.Tensor:
        series = x if x_mark is None else torch.cat([x, x_mark.to(x.dtype)], dim=-1)  # (B, L, C + F)
        return self.dropout(self.value(series.transpose(1, 2)))


class CovariateTokens(nn.Module):
    """Past covariates (B, L, C_past) and time features x_mark (B, L, F), y_mark (B, P, F) -> one token each
    (B, C_past + F, d_model) (module docstring).

    Args:
        seq_len: L.
        pred_len: P.
        n_past: C_past, the past-only covariate channels (0: none).
        n_marks: F, the time features (0: none).
        d_model: token width.
        dropout: on the tokens.
    """

    def __init__(
        self, seq_len: int, pred_len: int, n_past: int, n_marks: int, d_model: int, dropout: float
    ) -> None:
        super().__init__()
        if n_past + n_marks == 0:
            raise ValueError("CovariateTokens: no covariates to embed (n_past = n_marks = 0)")
        self.past = nn.Linear(seq_len, d_model) if n_past else None
        self.marks = nn.Linear(seq_len + pred_len, d_model) if n_marks else None
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, past: torch.Tensor | None, x_mark: torch.Tensor | None, y_mark: torch.Tensor | None
    ) -> torch.Tensor:
        parts = []
        if self.past is not None:
            assert past is not None
            parts.append(self.past(past.transpose(1, 2)))  # (B, C_past, d_model)
        if self.marks is not None:
            assert x_mark is not None and y_mark is not None
            series = torch.cat([x_mark, y_mark], dim=1).to(self.marks.weight.dtype)  # (B, L + P, F)
            parts.append(self.marks(series.transpose(1, 2)))  # (B, F, d_model)
        return self.dropout(torch.cat(parts, dim=1))
