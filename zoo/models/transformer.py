"""Transformer forecaster: the Vaswani encoder-decoder as the Informer / Time-Series-Library benchmarks use it.

Vaswani et al., "Attention Is All You Need" (NeurIPS 2017), applied to long-horizon forecasting as in
Zhou et al., Informer (AAAI 2021) and Time-Series-Library's ``models/Transformer.py`` (thuml), the
"vanilla Transformer" rows of their tables:

- the encoder embeds the lookback window x (B, L, C_in) with a value (token-convolution) embedding, a
  temporal embedding of its time features x_mark and the chosen position encoding
  (``zoo.layers.embedding.DataEmbedding``), then runs ``e_layers`` self-attention layers;
- the decoder input is the "start token", the last ``label_len`` steps of x, followed by P zeros, embedded
  the same way with the time features of those steps (the last ``label_len`` rows of x_mark, then y_mark);
  ``d_layers`` layers of causal self-attention and cross-attention to the encoder output; a linear map
  from d_model to the C_out targets; the last P steps are the forecast (one shot, no autoregression).

Positions are time steps on one axis: the encoder's are 0..L-1 and the decoder's L-label_len..L+P-1, so
the start token shares positions with the encoder steps it copies and cross-attention with RoPE/ALiBi
sees true time distances. (The references restart the decoder's sinusoidal positions at 0.) With
``position`` "rope", "alibi" or "sinusoidal" the model runs at lookbacks longer than it was built for;
"learned" holds ``max_len`` rows (default L + P) and raises a clear error beyond them. (The optional
``highway`` and the encoder-only head below have one weight per lookback step, so they fix L.)

``architecture="encoder_only"`` drops the decoder: the encoder output (B, L, d_model) is mapped per step
to the C_out targets and then by one linear layer over time from L to P steps (a linear horizon head,
which fixes the lookback length at ``seq_len``).

Defaults are the references' (d_model 512, 8 heads, 2 encoder and 1 decoder layers, d_ff 2048,
dropout 0.1, GELU, post-norm); ``norm_first=True`` gives pre-norm layers.

Shapes: x (B, L, C_in), x_mark (B, L, F), y_mark (B, P, F) -> (B, P, C_out).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import nn

from zoo.choices import check_choice
from zoo.layers.embedding import DataEmbedding
from zoo.layers.highway import LinearHighway
from zoo.layers.position import PositionType, check_position_type
from zoo.layers.transformer import DecoderLayer, EncoderLayer, FeedForwardActivation
from zoo.models.base import Forecaster
from zoo.registry import register_model

#: The Transformer forecaster's layout: the start-token encoder-decoder, or an encoder with a linear horizon head.
TransformerArchitecture = Literal["encoder_decoder", "encoder_only"]


class StartTokenForecaster(Forecaster):
    """The forward shared by the start-token encoder-decoder forecasters (Transformer, Informer).

    Subclasses build ``enc_embedding``, ``dec_embedding``, ``decoder`` (a list of
    ``zoo.layers.transformer.DecoderLayer``), ``decoder_norm`` and ``projection``, set
    ``use_time_features`` (``Forecaster.time_features_used``), and implement :meth:`encode`; the decoder
    input, its positions and marks are built here once.
    """

    #: LoRA default (Transformer and Informer): the attention projections, as Hu et al. adapt W_q, W_k, W_v, W_o.
    lora_target_modules: ClassVar[list[str]] = ["q_proj", "k_proj", "v_proj", "out_proj"]

    use_time_features: bool

    def encode(self, x: torch.Tensor, x_mark: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, C_in) -> encoder output (B, L_enc, d_model) and the time positions (L_enc,) of its steps."""
        raise NotImplementedError

    def checked_marks(
        self, x: torch.Tensor, x_mark: torch.Tensor | None, y_mark: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Validate x and the marks; None marks when the model does not use time features."""
        self.check_input(x)
        if not self.use_time_features:
            return None, None
        self.required_marks(x_mark=x_mark, y_mark=y_mark)
        self.check_marks(x_mark, "x_mark", x.shape[1])
        self.check_marks(y_mark, "y_mark", self.pred_len)
        return x_mark, y_mark

    def decode(
        self,
        x: torch.Tensor,
        x_mark: torch.Tensor | None,
        y_mark: torch.Tensor | None,
        memory: torch.Tensor,
        memory_positions: torch.Tensor,
    ) -> torch.Tensor:
        """Start token (last label_len steps of x) + P zeros through the decoder -> forecast (B, P, C_out)."""
        batch, length, _ = x.shape
        if length < self.label_len:
            raise ValueError(f"x has L={length} steps, fewer than the decoder's label_len={self.label_len}")
        start = length - self.label_len
        dec_in = torch.cat(
            [x[:, start:], x.new_zeros(batch, self.pred_len, x.shape[-1])], dim=1
        )  # (B, S+P, C)
        dec_mark = None if x_mark is None or y_mark is None else torch.cat([x_mark[:, start:], y_mark], dim=1)
        positions = torch.arange(start, length + self.pred_len, device=x.device)
        h = self.dec_embedding(dec_in, dec_mark, positions)
        for layer in self.decoder:
            h = layer(h, memory, positions, memory_positions)
        return self.projection(self.decoder_norm(h))[:, -self.pred_len :]  # (B, P, C_out)

    def forecast(
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        x_mark, y_mark = self.checked_marks(x, x_mark, y_mark)
        memory, memory_positions = self.encode(x, x_mark)
        return self.decode(x, x_mark, y_mark, memory, memory_positions)


@register_model(
    "transformer", description="Vaswani encoder-decoder forecaster (Informer/TSLib benchmark form)"
)
class TransformerForecaster(StartTokenForecaster):
    """Transformer forecaster; see the module docstring.

    Args:
        d_model: model width.
        n_heads: attention heads.
        e_layers: encoder layers.
        d_layers: decoder layers.
        d_ff: feed-forward width.
        dropout: on embeddings, attention weights and residual branches.
        activation: of the feed-forward ("gelu" or "relu").
        position: "sinusoidal", "learned", "rope", "alibi" or "none".
        rope_base: RoPE's theta base.
        max_len: rows of the learned position table (default L + P).
        norm_first: pre-norm instead of post-norm layers.
        architecture: "encoder_decoder" or "encoder_only" (linear horizon head).
        use_time_features: embed x_mark / y_mark. None (default): when the data has time features
            (n_time_features > 0); True needs ``n_time_features > 0``; False: ignore the marks.
        highway: add LSTNet's linear map from the L past values to the P future values of each target
            (``zoo.layers.LinearHighway``, as the RNN and TCN forecasters offer).
    """

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
        d_model: int = 512,
        n_heads: int = 8,
        e_layers: int = 2,
        d_layers: int = 1,
        d_ff: int = 2048,
        dropout: float = 0.1,
        activation: FeedForwardActivation = "gelu",
        position: PositionType = "sinusoidal",
        rope_base: float = 10000.0,
        max_len: int | None = None,
        norm_first: bool = False,
        architecture: TransformerArchitecture = "encoder_decoder",
        use_time_features: bool | None = None,
        highway: bool = False,
    ) -> None:
        super().__init__(
            n_features, seq_len, pred_len, n_targets, label_len, n_time_features, revin, revin_affine
        )
        check_position_type(position)
        check_choice("architecture", architecture, TransformerArchitecture)
        if e_layers < 1 or (architecture == "encoder_decoder" and d_layers < 1):
            raise ValueError(f"need e_layers >= 1 and d_layers >= 1, got {e_layers} and {d_layers}")
        self.position, self.architecture = position, architecture
        self.use_time_features = self.time_features_used(use_time_features)
        marks = n_time_features if self.use_time_features else 0
        max_len = seq_len + pred_len if max_len is None else max_len

        def embedding() -> DataEmbedding:
            return DataEmbedding(n_features, d_model, marks, position, max_len, dropout)

        layer_args = (d_model, n_heads, d_ff, dropout, activation, norm_first, position, rope_base)
        self.enc_embedding = embedding()
        self.encoder = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(e_layers))
        self.encoder_norm = nn.LayerNorm(d_model)
        if architecture == "encoder_decoder":
            self.dec_embedding = embedding()
            self.decoder = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(d_layers))
            self.decoder_norm = nn.LayerNorm(d_model)
            self.projection = nn.Linear(d_model, self.n_targets)
        else:
            self.projection = nn.Linear(d_model, self.n_targets)
            self.horizon = nn.Linear(seq_len, pred_len)
        self.highway = LinearHighway(seq_len, pred_len, n_features, self.n_targets) if highway else None

    def encode(self, x: torch.Tensor, x_mark: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, C_in) -> encoder output (B, L, d_model) at positions 0..L-1."""
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.enc_embedding(x, x_mark, positions)
        for layer in self.encoder:
            h = layer(h, positions)
        return self.encoder_norm(h), positions

    def forecast(
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.architecture == "encoder_decoder":
            out = super().forecast(x, x_mark, y_mark)
        else:
            x_mark, _ = self.checked_marks(x, x_mark, y_mark)
            if x.shape[1] != self.seq_len:
                raise ValueError(
                    f"the encoder-only Transformer's horizon head maps exactly seq_len={self.seq_len} "
                    f"steps, got x with L={x.shape[1]}; use architecture='encoder_decoder' to vary L"
                )
            h = self.projection(self.encode(x, x_mark)[0])  # (B, L, C_out)
            out = self.horizon(h.transpose(1, 2)).transpose(1, 2)  # (B, P, C_out)
        # The highway maps exactly seq_len steps (one weight per lookback step), like the encoder-only head.
        return out if self.highway is None else out + self.highway(x)
