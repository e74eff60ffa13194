"""Position encodings, chosen by name: ``position: Literal["sinusoidal", "learned", "rope", "alibi", "none"]``.

Two of them are *absolute* and are added to the token embedding before the first layer:

- ``"sinusoidal"``: the fixed table of Vaswani et al., "Attention Is All You Need" (NeurIPS 2017),
  PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)). It is computed for the
  positions asked for (no fixed-size table), so a model runs at any length.
- ``"learned"``: a trainable table of ``max_len`` rows (BERT, GPT); positions at or beyond ``max_len``
  are a clear error, since no row was ever trained for them.

Two are *relative* and act inside attention, so they too run at any length:

- ``"rope"``: rotary position embedding, Su et al., "RoFormer: Enhanced Transformer with Rotary Position
  Embedding" (arXiv:2104.09864, 2021). q and k are rotated by position-dependent angles so that
  q_i . k_j depends on i - j only. Rotate-half convention (GPT-NeoX / Hugging Face ``rotate_half``):
  dimension d pairs with d + D/2, not with its neighbour as in the paper's interleaved form; both are
  the same function up to a fixed permutation of the head dimensions.
- ``"alibi"``: attention with linear biases, Press, Smith & Lewis, "Train Short, Test Long" (ICLR 2022;
  reference code ofirpress/attention_with_linear_biases): head h adds -m_h * |i - j| to the score of
  query i and key j. The paper uses the causal form (keys after the query are masked anyway); the
  symmetric |i - j| form here also serves bidirectional encoders and cross-attention.

``"none"`` uses no position information at all (attention is then permutation-equivariant).

Positions are integer time steps, (L,) long tensors; queries and keys may have different ones
(cross-attention from decoder steps to encoder steps).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import nn

from zoo.choices import check_choice

PositionType = Literal["sinusoidal", "learned", "rope", "alibi", "none"]
POSITION_TYPES: tuple[str, ...] = get_args(PositionType)
ABSOLUTE_POSITIONS: tuple[str, ...] = ("sinusoidal", "learned")


def check_position_type(position: str) -> None:
    """Raise a clear error for a position name outside :data:`POSITION_TYPES`."""
    check_choice("position", position, PositionType)


def sinusoidal_table(positions: torch.Tensor, d_model: int) -> torch.Tensor:
    """The sinusoidal encoding (Vaswani et al. 2017, section 3.5) of ``positions`` (L,) -> (L, d_model), fp32.

    Even columns hold sines and odd columns cosines of the same frequency 1 / 10000^(2i/d_model); an odd
    ``d_model`` gets one more sine than cosine column.
    """
    pos = positions.to(torch.float64).unsqueeze(-1)  # (L, 1); fp64 keeps large t * freq exact enough
    freqs = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float64, device=positions.device)
        * (-math.log(10000.0) / d_model)
    )  # (ceil(d/2),)
    angles = pos * freqs  # (L, ceil(d/2))
    table = torch.empty(positions.shape[0], d_model, dtype=torch.float64, device=positions.device)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return table.float()


class SinusoidalPositionEmbedding(nn.Module):
    """Fixed sinusoidal absolute positions: positions (L,) -> (L, d_model). No parameters, no length limit."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return sinusoidal_table(positions, self.d_model)


class LearnedPositionEmbedding(nn.Module):
    """A trainable table of ``max_len`` positions: positions (L,) -> (L, d_model).

    Initialised N(0, 0.02) as in GPT-2 / BERT. Positions outside [0, max_len) raise a ``ValueError``.
    """

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        if max_len <= 0:
            raise ValueError(f"LearnedPositionEmbedding: max_len must be positive, got {max_len}")
        self.max_len = max_len
        self.table = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        if positions.numel() and (int(positions.min()) < 0 or int(positions.max()) >= self.max_len):
            raise ValueError(
                f"learned positions cover [0, {self.max_len}) but positions up to {int(positions.max())} were "
                f"asked for: the model was built for shorter sequences; use position='sinusoidal', 'rope' or "
                f"'alibi' to run longer ones, or build with a larger max_len"
            )
        return self.table[positions]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021), rotate-half convention.

    Frequencies theta_i = base^(-2i / D) for i < D/2; position t rotates the pair (d, d + D/2) of a head
    vector by the angle t * theta_d. cos/sin are computed in fp32 (from fp64 angles) and cached as
    non-persistent buffers of shape (T, D), grown on demand when a longer position is asked for, so
    nothing length-dependent enters the state dict.

    Args:
        head_dim: D, must be even.
        base: theta's base (10000 in the paper; larger values stretch the wavelengths, as in later
            long-context models).
    """

    cos_cached: torch.Tensor
    sin_cached: torch.Tensor

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(f"RotaryEmbedding: head_dim must be even and positive, got {head_dim}")
        if base <= 1.0:
            raise ValueError(f"RotaryEmbedding: base must be > 1, got {base}")
        self.head_dim, self.base = head_dim, float(base)
        self.register_buffer("cos_cached", torch.empty(0, head_dim), persistent=False)
        self.register_buffer("sin_cached", torch.empty(0, head_dim), persistent=False)

    def inv_freq(self, device: torch.device | None = None) -> torch.Tensor:
        """theta_i = base^(-2i/D), (D/2,) in fp64."""
        exponent = torch.arange(0, self.head_dim, 2, dtype=torch.float64, device=device) / self.head_dim
        return self.base ** (-exponent)

    def _grow(self, length: int, device: torch.device) -> None:
        # Grow to the next power of two so that a slowly growing length does not rebuild every call.
        size = max(16, 1 << (length - 1).bit_length())
        angles = torch.arange(size, dtype=torch.float64, device=device)[:, None] * self.inv_freq(device)
        angles = torch.cat((angles, angles), dim=-1)  # (T, D): pair d and d + D/2 share a frequency
        self.cos_cached = angles.cos().float()
        self.sin_cached = angles.sin().float()

    def cos_sin(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of the rotation angles at ``positions`` (L,) long -> two (L, D) fp32 tensors."""
        if positions.numel() and int(positions.min()) < 0:
            raise ValueError(f"RotaryEmbedding: positions must be >= 0, got {int(positions.min())}")
        needed = int(positions.max()) + 1 if positions.numel() else 0
        if needed > self.cos_cached.shape[0] or self.cos_cached.device != positions.device:
            self._grow(needed, positions.device)
        return self.cos_cached[positions], self.sin_cached[positions]

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate x (..., L, D) by ``positions`` (L,); the math runs in fp32 and returns x's dtype."""
        if x.shape[-1] != self.head_dim or x.shape[-2] != positions.shape[0]:
            raise ValueError(
                f"RotaryEmbedding: expected x of shape (..., {positions.shape[0]}, {self.head_dim}) "
                f"for {positions.shape[0]} positions, got {tuple(x.shape)}"
            )
        cos, sin = self.cos_sin(positions)
        if x.dtype == torch.float64:
            cos, sin = cos.double(), sin.double()
        x32 = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        return (x32 * cos + rotate_half(x32) * sin).to(x.dtype)


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi head slopes m_h (Press et al. 2022, section 3), (n_heads,) fp32.

    For n a power of two the slopes are the geometric sequence 2^(-8/n), 2^(-16/n), ..., 2^(-8): for 8
    heads 1/2, 1/4, ..., 1/256. Otherwise, with n0 the largest power of two below n, the slopes are the
    n0 slopes of the n0-head model followed by every other slope (the 1st, 3rd, ...) of the 2*n0-head
    model, n - n0 of them, which interleaves new slopes between the existing ones (the rule of the
    reference implementation, ofirpress/attention_with_linear_biases).
    """
    if n_heads <= 0:
        raise ValueError(f"alibi_slopes: n_heads must be positive, got {n_heads}")

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if n_heads & (n_heads - 1) == 0:
        slopes = power_of_two(n_heads)
    else:
        n0 = 1 << (n_heads.bit_length() - 1)
        slopes = power_of_two(n0) + power_of_two(2 * n0)[0::2][: n_heads - n0]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_bias(
    slopes: torch.Tensor, q_positions: torch.Tensor, k_positions: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """The ALiBi bias -m_h * |i - j| for query positions i (L_Q,) and key positions j (L_K,): (H, L_Q, L_K).

    ``causal=True`` also masks keys after the query (j > i) with -inf, the paper's causal form.
    """
    distance = (q_positions[:, None] - k_positions[None, :]).abs().to(slopes.dtype)  # (L_Q, L_K)
    bias = -slopes[:, None, None] * distance
    if causal:
        future = k_positions[None, :] > q_positions[:, None]
        bias = bias.masked_fill(future, float("-inf"))
    return bias


def absolute_position_embedding(position: str, d_model: int, max_len: int) -> nn.Module | None:
    """The module that adds ``position`` to token embeddings, or None for the relative/no encodings."""
    check_position_type(position)
    if position == "sinusoidal":
        return SinusoidalPositionEmbedding(d_model)
    if position == "learned":
        return LearnedPositionEmbedding(max_len, d_model)
    return None
