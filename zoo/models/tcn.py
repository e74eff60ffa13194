"""Temporal convolutional network (TCN) forecaster.

Follows Bai, Kolter & Koltun, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks
for Sequence Modeling" (arXiv:1803.01271, 2018), reference implementation locuslab/TCN
(``TCN/tcn.py``): a stack of residual ``TemporalBlock``s, block i made of two causal convolutions with
dilation 2**i, each followed by weight normalisation (Salimans & Kingma 2016, on the weight, per output
channel), ReLU and dropout, plus a residual connection (a 1x1 convolution where the channel count
changes) and a ReLU on the sum. With kernel size K and n blocks, one output step sees
``1 + 2 (K - 1) (2**n - 1)`` input steps (the receptive field).

How this differs from the reference:

- The causal convolutions call ``kernels.causal_conv1d`` (``zoo.layers.CausalConv1d``) instead of a
  symmetrically padded ``nn.Conv1d`` followed by a "chomp" of the last (K-1)d steps; the ReLU after each
  convolution is the op's fused activation (one kernel on the Triton path), not a separate module.
  Weight norm uses ``torch.nn.utils.parametrizations.weight_norm`` (parameters ``original0`` = g,
  ``original1`` = v). The reference's ``normal_(0, 0.01)`` re-initialisation of the two convolutions
  writes into the derived ``weight`` of the old weight-norm hook and so never reaches g and v; here
  they keep ``nn.Conv1d``'s initialisation, which is what the reference trains from in effect. The 1x1
  residual projection does get ``normal_(0, 0.01)``, as in the reference.
- Forecasting head: the reference is a sequence-to-sequence model (one output per input step). Here the
  encoder's features feed a direct multi-horizon linear head that writes all P x C_out values at once,
  from the last step's features (``head="last"``, which sees the receptive field) or from all L steps
  (``head="flatten"``).
- ``num_levels=None`` picks the fewest blocks whose receptive field covers ``seq_len``; a network that
  cannot see the whole lookback window warns.
- Options shared with the RNN forecasters: ``use_time_features`` (x_mark concatenated to the input
  channels; ``zoo.models.base`` gives its meaning), ``channel_independent`` (every channel a univariate
  series through the same weights, as in PatchTST, Nie et al. 2023) and ``highway`` (LSTNet's linear
  component, ``zoo.layers.LinearHighway``).

Shapes: x (B, L, C_in), x_mark (B, L, F) -> (B, P, C_out); the targets are the last C_out channels.
"""

from __future__ import annotations

import warnings
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from kernels.triton_support import Backend
from zoo.choices import check_choice
from zoo.distributions import DistributionName
from zoo.layers.causal_conv import CausalConv1d
from zoo.layers.highway import LinearHighway
from zoo.models.base import Forecaster
from zoo.registry import register_model

#: What the linear head reads: the last step's features, or all L steps' (flattened).
HeadType = Literal["last", "flatten"]


def tcn_receptive_field(kernel_size: int, num_levels: int) -> int:
    """Input steps seen by one output step of ``num_levels`` blocks of two convs: 1 + 2 (K-1) (2**n - 1)."""
    return 1 + 2 * (kernel_size - 1) * (2**num_levels - 1)


def tcn_levels_for(seq_len: int, kernel_size: int) -> int:
    """The fewest levels whose receptive field covers ``seq_len`` (1 when K == 1: no depth helps)."""
    if kernel_size == 1:
        return 1
    levels = 1
    while tcn_receptive_field(kernel_size, levels) < seq_len:
        levels += 1
    return levels


class TemporalBlock(nn.Module):
    """Residual block of the TCN: x (B, C_in, L) -> (B, C_out, L), causal, dilation ``dilation``.

    ``relu(dropout(relu(wn(conv2)(dropout(relu(wn(conv1)(x)))))) + res(x))`` with both ReLUs fused into
    the convolutions and ``res`` the identity, or a 1x1 convolution when C_in != C_out.

    Args:
        in_channels: C_in of the block.
        out_channels: C_out of the block (and of both convolutions).
        kernel_size: taps K of both convolutions.
        dilation: dilation of both convolutions.
        dropout: after each convolution's ReLU.
        backend: backend of the causal convolutions.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float = 0.0,
        backend: Backend = "auto",
    ) -> None:
        super().__init__()
        self.conv1 = weight_norm(
            CausalConv1d(
                in_channels, out_channels, kernel_size, dilation=dilation, activation="relu", backend=backend
            ),
            dim=0,
        )
        self.dropout1 = nn.Dropout(dropout)
        self.conv2 = weight_norm(
            CausalConv1d(
                out_channels, out_channels, kernel_size, dilation=dilation, activation="relu", backend=backend
            ),
            dim=0,
        )
        self.dropout2 = nn.Dropout(dropout)
        self.downsample = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None
        if self.downsample is not None:
            nn.init.normal_(self.downsample.weight, 0.0, 0.01)

    @property
    def receptive_field(self) -> int:
        return self.conv1.receptive_field + self.conv2.receptive_field - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout2(self.conv2(self.dropout1(self.conv1(x))))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)


@register_model("tcn")
class TCNForecaster(Forecaster):
    """TCN forecaster (Bai, Kolter & Koltun 2018) with a direct multi-horizon head; see the module docstring.

    Args:
        hidden_channels: channels of every block.
        num_levels: number of blocks (block i has dilation 2**i); None picks the fewest whose receptive
            field covers ``seq_len``.
        kernel_size: taps K of every convolution.
        dropout: after each convolution's ReLU.
        use_time_features: concatenate x_mark to the input channels. True needs ``n_time_features > 0``;
            None: when the data has time features; False (default): ignore x_mark.
        channel_independent: run each target channel as its own univariate series with shared weights.
        highway: add LSTNet's linear map from the L past values to the P future values of each target.
        head: "last" (linear from the last step's features) or "flatten" (linear from all L steps).
        backend: backend of the causal convolutions ("auto": Triton on CUDA where supported).
    """

    #: LoRA default: both causal convolutions and the 1x1 downsample of every block, and the head.
    lora_target_modules: ClassVar[str] = r".*\.(conv1|conv2|downsample)|head"

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
        *,
        hidden_channels: int = 64,
        num_levels: int | None = None,
        kernel_size: int = 3,
        dropout: float = 0.1,
        use_time_features: bool | None = False,
        channel_independent: bool = False,
        highway: bool = False,
        head: HeadType = "last",
        backend: Backend = "auto",
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
        if hidden_channels <= 0 or kernel_size <= 0:
            raise ValueError(
                f"hidden_channels and kernel_size must be positive, got {hidden_channels}, {kernel_size}"
            )
        if num_levels is not None and num_levels <= 0:
            raise ValueError(f"num_levels must be positive or None, got {num_levels}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        check_choice("head", head, HeadType)
        use_time_features = self.time_features_used(use_time_features)
        self.num_levels = tcn_levels_for(seq_len, kernel_size) if num_levels is None else num_levels
        self.kernel_size, self.head_type = kernel_size, head
        self.use_time_features, self.channel_independent = use_time_features, channel_independent
        self.receptive_field = tcn_receptive_field(kernel_size, self.num_levels)
        if self.receptive_field < seq_len:
            warnings.warn(
                f"TCNForecaster: receptive field {self.receptive_field} (kernel_size={kernel_size}, "
                f"num_levels={self.num_levels}) is shorter than seq_len={seq_len}: the forecast cannot see the "
                f"first {seq_len - self.receptive_field} steps of the lookback window through the last step; "
                "raise num_levels or kernel_size (or use num_levels=None)",
                UserWarning,
                stacklevel=2,
            )
        marks = n_time_features if use_time_features else 0
        series_in = 1 if channel_independent else n_features  # series channels each sample feeds the encoder
        series_out = 1 if channel_independent else self.n_targets  # channels each head row writes
        channels = [series_in + marks] + [hidden_channels] * self.num_levels
        self.encoder = nn.Sequential(
            *(
                TemporalBlock(channels[i], channels[i + 1], kernel_size, 2**i, dropout, backend)
                for i in range(self.num_levels)
            )
        )
        head_in = hidden_channels * (seq_len if head == "flatten" else 1)
        self.head = nn.Linear(head_in, pred_len * series_out)
        self.highway = LinearHighway(seq_len, pred_len, n_features, self.n_targets) if highway else None

    def encode(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        """Causal features (B*, hidden, L) of x (B, L, C_in); B* = B * C_out when channel-independent."""
        if self.channel_independent:
            # Channels do not interact, so only the targets (the last C_out) are encoded, each as one series
            # (channel-major within each sample).
            series = rearrange(x[..., self.n_features - self.n_targets :], "b l c -> (b c) 1 l")
        else:
            series = x.transpose(1, 2)  # (B, C_in, L)
        if self.use_time_features:
            marks = self.series_marks(x_mark, "x_mark", self.seq_len, series.shape[0])  # (B*, L, F)
            series = torch.cat([series, marks.to(series.dtype).transpose(1, 2)], dim=1)
        return self.encoder(series.contiguous())

    def forecast(
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_input(x)
        batch = x.shape[0]
        features = self.encode(x, x_mark)  # (B*, hidden, L)
        flat = features[..., -1] if self.head_type == "last" else features.flatten(1)  # (B*, hidden [* L])
        out = self.head(flat)  # (B*, P * series_out)
        if self.channel_independent:
            out = rearrange(out, "(b c) p -> b p c", b=batch)
        else:
            out = out.view(batch, self.pred_len, self.n_targets)
        if self.highway is not None:
            out = out + self.highway(x)
        return out.contiguous()
