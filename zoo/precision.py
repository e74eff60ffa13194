"""Mixed precision (``--trainer.precision bf16-mixed``): what stays in float32.

Under autocast the nets compute in bf16 (fp16 on GPUs); their outputs are brought back to float32 where
numbers are accumulated or compared: the forecasting task's loss, metrics and inverse scaling, the latent
models' posterior and likelihood parameters (so KL, log-likelihoods and samples are fp32), and the
Gumbel-Softmax samplers (``zoo.layers.gumbel``). RevIN's statistics are taken from the fp32 input before any
autocast op (Kim et al., ICLR 2022). fp64 stays fp64.
"""

from __future__ import annotations

import torch

_LOW = (torch.float16, torch.bfloat16)


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in float32 when it is fp16/bf16, else unchanged (fp32, fp64, integers).

    Args:
        tensor: a net's output, of any shape.
    """
    return tensor.float() if tensor.dtype in _LOW else tensor
