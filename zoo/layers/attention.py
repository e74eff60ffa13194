"""Multi-head attention with a choice of position encoding and a pluggable attention kernel.

Vaswani et al., "Attention Is All You Need" (NeurIPS 2017), section 3.2: queries, keys and values are
projected by separate ``nn.Linear`` layers named ``q_proj``, ``k_proj``, ``v_proj`` (the names LoRA and
PEFT target), split into H heads of D = d_model / H dimensions, attended with
softmax(Q K^T * scale + bias) V per head, concatenated and projected by ``out_proj``.

Positions act here when they are relative (``zoo.layers.position``): ``"rope"`` rotates q and k by their
own positions (queries and keys may have different ones in cross-attention), ``"alibi"`` adds
-m_h |i - j|. The absolute encodings (``"sinusoidal"``, ``"learned"``) are added to the token
embedding instead, so for them (and ``"none"``) this layer uses no positions.

The softmax itself is done by an :class:`AttentionKernel` module given to the layer: :class:`FullAttention`
(``torch.nn.functional.scaled_dot_product_attention``, every query against every key) by default;
Informer's ProbSparse attention plugs into the same slot without touching this layer. A kernel receives
the projected, rotated q, k, v and the structure of the bias (causal flag, ALiBi slopes, positions,
an additive mask for padding), not a dense bias matrix, so a sparse kernel never has to build one.

Masks follow ``nn.MultiheadAttention``: ``key_padding_mask`` (B, L_K) bool, True = padding (ignored);
``attn_mask`` (L_Q, L_K) or (B, L_Q, L_K), bool with True = not allowed, or float (added to the scores).
``causal=True`` lets query position i see key positions j <= i. A query row with no allowed key returns
zeros (not NaN) and passes no gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from zoo.layers.position import RotaryEmbedding, alibi_bias, alibi_slopes, check_position_type


def same_positions(q_positions: torch.Tensor, k_positions: torch.Tensor) -> bool:
    """Whether queries and keys sit at the same positions (self-attention). The layer passes one tensor for
    both there, which answers without comparing values (a device sync on GPU)."""
    if q_positions is k_positions:
        return True
    return q_positions.shape == k_positions.shape and bool(torch.equal(q_positions, k_positions))


class AttentionKernel(nn.Module):
    """The slot for the attention computation itself: heads in, heads out.

    ``forward(q, k, v, *, scale, causal, mask, alibi_slopes, q_positions, k_positions, dropout_p)`` with
    q (B, H, L_Q, D), k and v (B, H, L_K, D), ``mask`` None or an additive float (B|1, 1, L_Q, L_K) for
    padding/attention masks (-inf = not allowed; causality is *not* in it), ``alibi_slopes`` None or (H,),
    positions (L_Q,) and (L_K,) long; returns (B, H, L_Q, D).
    """

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        scale: float,
        causal: bool,
        mask: torch.Tensor | None,
        alibi_slopes: torch.Tensor | None,
        q_positions: torch.Tensor,
        k_positions: torch.Tensor,
        dropout_p: float,
    ) -> torch.Tensor:
        raise NotImplementedError


class FullAttention(AttentionKernel):
    """Every query attends to every (allowed) key, through ``F.scaled_dot_product_attention``.

    Without ALiBi or masks SDPA picks its fused (flash / memory-efficient) kernels; causal attention over
    aligned positions uses ``is_causal=True``. Otherwise the ALiBi bias, the causal mask and ``mask`` are
    summed into one additive (B|1, H|1, L_Q, L_K) bias.
    """

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        scale: float,
        causal: bool,
        mask: torch.Tensor | None,
        alibi_slopes: torch.Tensor | None,
        q_positions: torch.Tensor,
        k_positions: torch.Tensor,
        dropout_p: float,
    ) -> torch.Tensor:
        if mask is None and alibi_slopes is None and (not causal or same_positions(q_positions, k_positions)):
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal, scale=scale)
        bias = torch.zeros((), dtype=q.dtype, device=q.device)
        if alibi_slopes is not None:
            bias = alibi_bias(
                alibi_slopes.to(q.dtype), q_positions, k_positions, causal=causal
            )  # (H, L_Q, L_K)
        elif causal:
            future = k_positions[None, :] > q_positions[:, None]
            bias = torch.zeros(future.shape, dtype=q.dtype, device=q.device).masked_fill(
                future, float("-inf")
            )
        if mask is not None:
            bias = bias + mask
        bias = bias.expand(*bias.shape[:-2], q.shape[-2], k.shape[-2])
        # A query row without any allowed key would softmax to NaN (and poison the gradients): let it see
        # every key here and zero its output below.
        empty_rows = torch.isinf(bias).all(dim=-1, keepdim=True) if bias.ndim else None
        if empty_rows is not None and bool(empty_rows.any()):
            bias = bias.masked_fill(empty_rows, 0.0)
        else:
            empty_rows = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
        if empty_rows is not None:
            out = out.masked_fill(empty_rows.expand_as(out[..., :1]), 0.0)
        return out


def padding_mask(
    key_padding_mask: torch.Tensor | None,
    attn_mask: torch.Tensor | None,
    batch: int,
    l_q: int,
    l_k: int,
    dtype: torch.dtype,
) -> torch.Tensor | None:
    """Combine ``nn.MultiheadAttention``-style masks into one additive (B|1, 1, L_Q, L_K) mask, or None."""
    if key_padding_mask is None and attn_mask is None:
        return None
    mask = torch.zeros(1, 1, l_q, l_k, dtype=dtype)
    if attn_mask is not None:
        if attn_mask.shape not in ((l_q, l_k), (batch, l_q, l_k)):
            raise ValueError(
                f"attn_mask must be ({l_q}, {l_k}) or ({batch}, {l_q}, {l_k}), got {tuple(attn_mask.shape)}"
            )
        extra = attn_mask.reshape(-1, 1, l_q, l_k)
        if extra.dtype == torch.bool:
            extra = torch.zeros(extra.shape, dtype=dtype, device=extra.device).masked_fill(
                extra, float("-inf")
            )
        mask = mask.to(extra.device) + extra.to(dtype)
    if key_padding_mask is not None:
        if key_padding_mask.shape != (batch, l_k) or key_padding_mask.dtype != torch.bool:
            raise ValueError(
                f"key_padding_mask must be a bool tensor of shape ({batch}, {l_k}), "
                f"got {key_padding_mask.dtype} {tuple(key_padding_mask.shape)}"
            )
        pad = torch.zeros(batch, 1, 1, l_k, dtype=dtype, device=key_padding_mask.device)
        mask = mask.to(pad.device) + pad.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
    return mask


class MultiHeadAttention(nn.Module):
    """Multi-head (self- or cross-) attention; see the module docstring.

    Args:
        d_model: model width (input and output).
        n_heads: H, must divide d_model.
        dropout: dropout on the attention weights, in training only.
        position: the model's position encoding; only "rope" and "alibi" act in this layer.
        rope_base: RoPE's theta base.
        kernel: the attention computation (default :class:`FullAttention`).
        bias: whether the four projections have biases.
        mix_heads: merge the heads' outputs as Informer2020's ``AttentionLayer(mix=True)`` does: the
            (B, H, L_Q, D) output read in memory order as (B, L_Q, H * D), which mixes time steps across
            heads (its decoder self-attention); False merges each step's heads as usual.

    Shapes: query (B, L_Q, d_model), key and value (B, L_K, d_model) -> (B, L_Q, d_model).
    """

    alibi_slopes: torch.Tensor | None

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        position: str = "none",
        rope_base: float = 10000.0,
        kernel: AttentionKernel | None = None,
        bias: bool = True,
        mix_heads: bool = False,
    ) -> None:
        super().__init__()
        check_position_type(position)
        self.mix_heads = mix_heads
        if n_heads <= 0 or d_model % n_heads:
            raise ValueError(f"MultiHeadAttention: n_heads={n_heads} must divide d_model={d_model}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must lie in [0, 1), got {dropout}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.dropout, self.position = dropout, position
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.rotary = RotaryEmbedding(self.head_dim, base=rope_base) if position == "rope" else None
        # Slopes are a fixed function of H: a non-persistent buffer, so it follows .to(device) but stays
        # out of the state dict.
        self.register_buffer(
            "alibi_slopes", alibi_slopes(n_heads) if position == "alibi" else None, persistent=False
        )
        self.kernel = kernel if kernel is not None else FullAttention()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "b l (h d) -> b h l d", h=self.n_heads)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        *,
        q_positions: torch.Tensor | None = None,
        k_positions: torch.Tensor | None = None,
        causal: bool = False,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if query.ndim != 3 or query.shape[-1] != self.d_model:
            raise ValueError(
                f"MultiHeadAttention: expected query of shape (B, L_Q, {self.d_model}), "
                f"got {tuple(query.shape)}"
            )
        if (
            key.shape != value.shape
            or key.ndim != 3
            or key.shape[0] != query.shape[0]
            or key.shape[-1] != self.d_model
        ):
            raise ValueError(
                f"MultiHeadAttention: expected key and value of shape ({query.shape[0]}, L_K, "
                f"{self.d_model}), got {tuple(key.shape)} and {tuple(value.shape)}"
            )
        batch, l_q, l_k = query.shape[0], query.shape[1], key.shape[1]
        if q_positions is None and k_positions is None and l_q == l_k:
            q_positions = k_positions = torch.arange(l_q, device=query.device)  # one tensor: self-attention
        if q_positions is None:
            q_positions = torch.arange(l_q, device=query.device)
        if k_positions is None:
            k_positions = torch.arange(l_k, device=query.device)
        if q_positions.shape != (l_q,) or k_positions.shape != (l_k,):
            raise ValueError(
                f"MultiHeadAttention: positions must be ({l_q},) and ({l_k},), got "
                f"{tuple(q_positions.shape)} and {tuple(k_positions.shape)}"
            )
        q, k, v = (
            self._heads(self.q_proj(query)),
            self._heads(self.k_proj(key)),
            self._heads(self.v_proj(value)),
        )
        if self.rotary is not None:
            q, k = self.rotary(q, q_positions), self.rotary(k, k_positions)
        mask = padding_mask(key_padding_mask, attn_mask, batch, l_q, l_k, q.dtype)
        out = self.kernel(
            q,
            k,
            v,
            scale=1.0 / math.sqrt(self.head_dim),
            causal=causal,
            mask=None if mask is None else mask.to(q.device),
            alibi_slopes=self.alibi_slopes,
            q_positions=q_positions,
            k_positions=k_positions,
            dropout_p=self.dropout if self.training else 0.0,
        )  # (B, H, L_Q, D)
        if self.mix_heads:
            return self.out_proj(out.reshape(batch, l_q, self.d_model))  # memory order, heads and steps mixed
        return self.out_proj(rearrange(out, "b h l d -> b l (h d)"))
