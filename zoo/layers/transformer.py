"""Transformer encoder and decoder layers (Vaswani et al., "Attention Is All You Need", NeurIPS 2017).

Each sub-layer (self-attention, cross-attention, position-wise feed-forward) is wrapped in a residual
connection with dropout and a LayerNorm, either after the residual sum (``norm_first=False``, the
paper's post-norm, also Informer's and Time-Series-Library's) or before the sub-layer
(``norm_first=True``, pre-norm: Xiong et al., "On Layer Normalization in the Transformer Architecture",
ICML 2020, which trains more stably without warm-up). The feed-forward is two ``nn.Linear`` layers
(``fc1``, ``fc2``; the references use width-1 ``Conv1d``s, the same map) with GELU or ReLU.

The attention kernel of each attention sub-layer is a constructor argument (``zoo.layers.attention``),
so Informer swaps in ProbSparse attention with these same layers.

Shapes: x (B, L, d_model), memory (B, L_enc, d_model) -> (B, L, d_model); positions (L,) long.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from zoo.choices import check_choice
from zoo.layers.attention import AttentionKernel, MultiHeadAttention

#: The non-linearity between the two linear layers of the position-wise feed-forward.
FeedForwardActivation = Literal["gelu", "relu"]


class FeedForward(nn.Module):
    """Position-wise d_model -> d_ff -> d_model with an activation and dropout after it.

    Args:
        d_model: input and output width.
        d_ff: hidden width.
        dropout: dropout after the activation.
        activation: "gelu" or "relu".
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: FeedForwardActivation) -> None:
        super().__init__()
        check_choice("activation", activation, FeedForwardActivation, owner="FeedForward")
        self.fc1, self.fc2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.activation = F.gelu if activation == "gelu" else F.relu
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.activation(self.fc1(x))))


class _Residual(nn.Module):
    """x + dropout(sublayer(x)), normalised after (post-norm) or before the sub-layer (pre-norm)."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool) -> None:
        super().__init__()
        self.norm, self.dropout, self.norm_first = nn.LayerNorm(d_model), nn.Dropout(dropout), norm_first

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) if self.norm_first else x

    def post(self, x: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        out = x + self.dropout(update)
        return out if self.norm_first else self.norm(out)


class EncoderLayer(nn.Module):
    """Self-attention + feed-forward.

    Args:
        d_model: model width.
        n_heads: attention heads H (must divide d_model).
        d_ff: feed-forward hidden width.
        dropout: on attention weights and residual branches.
        activation: of the feed-forward, "gelu" or "relu".
        norm_first: pre-norm instead of post-norm.
        position: the model's position encoding (only "rope" and "alibi" act in attention).
        rope_base: RoPE's theta base.
        kernel: the self-attention's kernel (None: full attention).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
        activation: FeedForwardActivation,
        norm_first: bool,
        position: str,
        rope_base: float,
        kernel: AttentionKernel | None = None,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, position, rope_base, kernel)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)
        self.attn_block = _Residual(d_model, dropout, norm_first)
        self.ffn_block = _Residual(d_model, dropout, norm_first)

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.attn_block.pre(x)
        x = self.attn_block.post(
            x,
            self.self_attn(
                h, h, h, q_positions=positions, k_positions=positions, key_padding_mask=key_padding_mask
            ),
        )
        return self.ffn_block.post(x, self.ffn(self.ffn_block.pre(x)))


class DecoderLayer(nn.Module):
    """Masked (causal) self-attention + cross-attention to the encoder output + feed-forward.

    Args:
        d_model: model width.
        n_heads: attention heads H (must divide d_model).
        d_ff: feed-forward hidden width.
        dropout: on attention weights and residual branches.
        activation: of the feed-forward, "gelu" or "relu".
        norm_first: pre-norm instead of post-norm.
        position: the model's position encoding (only "rope" and "alibi" act in attention).
        rope_base: RoPE's theta base.
        self_kernel: the masked self-attention's kernel (None: full attention).
        cross_kernel: the cross-attention's kernel (None: full attention).
        mix_self_heads: merge the self-attention's heads as Informer2020's ``mix=True``
            (``MultiHeadAttention.mix_heads``).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
        activation: FeedForwardActivation,
        norm_first: bool,
        position: str,
        rope_base: float,
        self_kernel: AttentionKernel | None = None,
        cross_kernel: AttentionKernel | None = None,
        mix_self_heads: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(
            d_model, n_heads, dropout, position, rope_base, self_kernel, mix_heads=mix_self_heads
        )
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout, position, rope_base, cross_kernel)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)
        self.self_block = _Residual(d_model, dropout, norm_first)
        self.cross_block = _Residual(d_model, dropout, norm_first)
        self.ffn_block = _Residual(d_model, dropout, norm_first)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        positions: torch.Tensor,
        memory_positions: torch.Tensor,
        memory_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = self.self_block.pre(x)
        x = self.self_block.post(
            x, self.self_attn(h, h, h, q_positions=positions, k_positions=positions, causal=True)
        )
        h = self.cross_block.pre(x)
        x = self.cross_block.post(
            x,
            self.cross_attn(
                h,
                memory,
                memory,
                q_positions=positions,
                k_positions=memory_positions,
                key_padding_mask=memory_padding_mask,
            ),
        )
        return self.ffn_block.post(x, self.ffn(self.ffn_block.pre(x)))
