"""``CausalConv1d``: a causal dilated 1-D convolution layer on the ``kernels.causal_conv1d`` op.

The convolution of WaveNet (van den Oord et al. 2016) and of the TCN of Bai, Kolter & Koltun ("An
Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling", 2018;
reference code locuslab/TCN): output step t sees inputs t, t - d, ..., t - (K - 1) d only. The
reference builds it from ``nn.Conv1d(padding=(K-1)d)`` followed by a "chomp" of the last (K-1)d steps;
this layer calls the op instead, which keeps the output length L for every K (also K = 1, where the
chomp ``x[..., :-0]`` is empty) and fuses bias and activation into the Triton kernel's epilogue.

Parameters and initialisation are those of ``nn.Conv1d`` (``weight`` (C_out, C_in // groups, K),
``bias`` (C_out,)), so weights can be copied between the two and ``weight_norm`` applies unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kernels import causal_conv1d
from kernels.causal_conv1d.reference import ConvActivation
from kernels.triton_support import Backend
from zoo.choices import check_choice


class CausalConv1d(nn.Module):
    """x (B, C_in, L) -> (B, C_out, L); ``y[..., t]`` sees ``x[..., t - j * dilation]``, j in [0, K), only.

    Args:
        in_channels: C_in, as in ``nn.Conv1d``.
        out_channels: C_out, as in ``nn.Conv1d``.
        kernel_size: taps K, as in ``nn.Conv1d``.
        dilation: spacing d between taps, as in ``nn.Conv1d``.
        groups: blocked connections from input to output channels, as in ``nn.Conv1d``.
        bias: whether to add a learnable bias, as in ``nn.Conv1d``.
        activation: None, "relu", "gelu" or "silu", applied after the bias (fused on the Triton path).
        backend: the op's backend, "auto" (Triton on CUDA where supported), "triton" or "torch".
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        activation: ConvActivation = None,
        backend: Backend = "auto",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
            ("dilation", dilation),
            ("groups", groups),
        ):
            if value <= 0:
                raise ValueError(f"CausalConv1d: {name} must be positive, got {value}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"CausalConv1d: in_channels={in_channels} and out_channels={out_channels} must be "
                f"divisible by groups={groups}"
            )
        check_choice("activation", activation, ConvActivation, owner="CausalConv1d")
        check_choice("backend", backend, Backend, owner="CausalConv1d")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.dilation, self.groups = dilation, groups
        self.activation: ConvActivation = activation
        self.backend: Backend = backend
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Conv1d``'s initialisation: kaiming-uniform weight (a=sqrt(5)), bias U(-1/sqrt(fan_in), ...)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.weight.shape[2]  # C_in // groups * K
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def receptive_field(self) -> int:
        """Number of input steps one output step sees: (K - 1) * dilation + 1."""
        return (self.kernel_size - 1) * self.dilation + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return causal_conv1d(
            x,
            self.weight,
            self.bias,
            dilation=self.dilation,
            groups=self.groups,
            activation=self.activation,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        parts = [f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"]
        if self.dilation != 1:
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        if self.activation is not None:
            parts.append(f"activation={self.activation!r}")
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        return ", ".join(parts)
