"""Causal dilated 1-D convolution in pure PyTorch: the CPU fallback and the test oracle.

``y[b, o, t] = bias[o] + sum_{i, k} w[o, i, k] * x[b, g(o) + i, t - (K - 1 - k) * d]`` with zeros for
negative time, i.e. output step t sees only inputs t, t-d, ..., t-(K-1)d (Oord et al., WaveNet 2016;
Bai, Kolter & Koltun, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for
Sequence Modeling", 2018). The locuslab TCN reference pads both sides by (K-1)d inside ``nn.Conv1d``
and "chomps" the last (K-1)d steps with ``x[..., :-pad]``, which returns an empty tensor when pad == 0
(K == 1). Here two forms, both correct for every K and dilation (also (K-1)d >= L), are used where each
is faster (``benchmarks/results/causal_conv1d_cpu.md``, oneDNN on 2 cores):

- padding inside the conv, result sliced to ``[..., :L]``: faster for dense convs in training with a
  short reach ((K-1)d < 32), by 5-13 %; also the faster form on CUDA (cuDNN);
- an explicit left pad ``F.pad(x, ((K-1)d, 0))``: on CPU for grouped/depthwise convs (up to 2.3x faster
  forward+backward: oneDNN keeps its direct depthwise kernel instead of falling back to im2col), for
  inference (1.4-1.7x at d >= 4) and for long reaches ((K-1)d >= 32).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F

from kernels.triton_support import check_choice

#: The activation fused into the convolution's epilogue (None: none).
ConvActivation = Literal["relu", "gelu", "silu"] | None
ACTIVATIONS: tuple[str, ...] = tuple(a for arg in get_args(ConvActivation) for a in get_args(arg))


def apply_activation(z: torch.Tensor, activation: ConvActivation) -> torch.Tensor:
    """The fused epilogue's activation (GELU is the exact erf form, as ``F.gelu`` by default)."""
    check_choice("causal_conv1d", "activation", activation, ACTIVATIONS, optional=True)
    if activation is None:
        return z
    if activation == "relu":
        return F.relu(z)
    if activation == "gelu":
        return F.gelu(z)
    return F.silu(z)


def causal_conv1d_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    dilation: int = 1,
    groups: int = 1,
    activation: ConvActivation = None,
) -> torch.Tensor:
    """x (B, C_in, L), weight (C_out, C_in // groups, K) -> (B, C_out, L); differentiable."""
    pad = (weight.shape[-1] - 1) * dilation
    if _left_pad_is_faster(x, weight, groups, pad):
        z = F.conv1d(F.pad(x, (pad, 0)), weight, bias, dilation=dilation, groups=groups)
    else:
        z = F.conv1d(x, weight, bias, padding=pad, dilation=dilation, groups=groups)[..., : x.shape[-1]]
    return apply_activation(z, activation)


def _left_pad_is_faster(x: torch.Tensor, weight: torch.Tensor, groups: int, pad: int) -> bool:
    """Which form to use (module docstring): measured on CPU; CUDA keeps the pad-inside form."""
    if x.device.type != "cpu" or pad == 0:
        return False
    training = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    return groups > 1 or not training or pad >= 32
