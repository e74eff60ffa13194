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

``tokens`` chooses what the encoder attends over (``zoo.layers.tokens``); both alternatives are
encoder-only and fix the lookback length at ``seq_len``:

- ``"steps"`` (default): one token per time step, as above;
- ``"patches"``: PatchTST (Nie et al., ICLR 2023): each target channel alone is cut into patches of
  ``patch_len`` steps every ``patch_stride`` steps (16 and 8 in the paper), one token per patch, every
  position encoding over the patch index, and a flatten head from the N patch tokens to the P steps. The
  other channels are not read (channel independence), nor are the time features. PatchTST normalises the
  encoder with BatchNorm; here it is the LayerNorm of the other layouts.
- ``"variates"``: iTransformer (Liu et al., ICLR 2024): one token per channel (its whole window) plus one
  per time feature, no position encoding (``position`` defaults to "none" and must be), attention
  across variates and ``Linear(d_model, P)`` per token; the last C_out variate tokens are the forecast.

PatchTST and iTransformer both normalise each window as RevIN without the affine map does
(``revin=True, revin_affine=False``).

Defaults are the references' (d_model 512, 8 heads, 2 encoder and 1 decoder layers, d_ff 2048,
dropout 0.1, GELU, post-norm); ``norm_first=True`` gives pre-norm layers.

Shapes: x (B, L, C_in), x_mark (B, L, F), y_mark (B, P, F) -> (B, P, C_out).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import nn

from zoo.choices import check_choice
from zoo.distributions import DistributionName
from zoo.layers.embedding import DataEmbedding
from zoo.layers.highway import LinearHighway
from zoo.layers.position import PositionType, check_position_type
from zoo.layers.tokens import CovariateTokens, FlattenHead, PatchEmbedding, VariateEmbedding
from zoo.layers.transformer import DecoderLayer, EncoderLayer, FeedForwardActivation
from zoo.models.base import Forecaster
from zoo.registry import register_model

#: The Transformer forecaster's layout: the start-token encoder-decoder, or an encoder with a linear horizon head.
TransformerArchitecture = Literal["encoder_decoder", "encoder_only"]
#: What the encoder attends over: time steps, patches of each channel (PatchTST) or whole variates (iTransformer).
TransformerTokens = Literal["steps", "patches", "variates"]


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
    #: Number the decoder's absolute position embeddings from 0 instead of from the start token's time step
    #: (Informer2020's ``DataEmbedding`` of the decoder input); attention positions stay time steps.
    decoder_embedding_from_zero: bool = False

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
        return self.checked_window_marks(x_mark, y_mark, x.shape[1])

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
        h = self.dec_embedding(
            dec_in, dec_mark, positions - start if self.decoder_embedding_from_zero else positions
        )
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
@register_model(
    "patchtst",
    defaults={"tokens": "patches", "revin": True, "revin_affine": False},
    description="PatchTST: the Transformer over channel-independent patches (Nie et al. 2023)",
)
@register_model(
    "itransformer",
    defaults={"tokens": "variates", "revin": True, "revin_affine": False},
    description="iTransformer: the Transformer over variate tokens (Liu et al. 2024)",
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
        position: "sinusoidal", "learned", "rope", "alibi" or "none". None (default): "none" for variate
            tokens, else "sinusoidal".
        rope_base: RoPE's theta base.
        max_len: rows of the learned position table (default L + P; patch tokens: always the N patches).
        norm_first: pre-norm instead of post-norm layers.
        architecture: "encoder_decoder" or "encoder_only" (linear horizon head). None (default):
            "encoder_decoder" for step tokens; patch and variate tokens are always encoder-only.
        use_time_features: embed x_mark / y_mark. None (default): when the data has time features
            (n_time_features > 0); True needs ``n_time_features > 0``; False: ignore the marks.
        highway: add LSTNet's linear map from the L past values to the P future values of each target
            (``zoo.layers.LinearHighway``, as the RNN and TCN forecasters offer).
        tokens: "steps" (one per time step), "patches" (PatchTST) or "variates" (iTransformer).
        patch_len: steps per patch (``tokens="patches"``).
        patch_stride: steps between the starts of consecutive patches (``tokens="patches"``).
        covariate_tokens: patch and variate tokens only: covariates as tokens that the others attend to
            (``zoo.layers.tokens.CovariateTokens``, TimeXer's exogenous tokens): for patches, one per past
            covariate channel (the non-target inputs) and one per time feature over the lookback and the
            horizon, beside every target channel's patches; for variates, the time features' tokens span
            the horizon too (iTransformer reads their lookback only). False: the papers' models.
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
        distribution: DistributionName = "point",
        quantiles: list[float] | None = None,
        future_effect: bool = False,
        d_model: int = 512,
        n_heads: int = 8,
        e_layers: int = 2,
        d_layers: int = 1,
        d_ff: int = 2048,
        dropout: float = 0.1,
        activation: FeedForwardActivation = "gelu",
        position: PositionType | None = None,
        rope_base: float = 10000.0,
        max_len: int | None = None,
        norm_first: bool = False,
        architecture: TransformerArchitecture | None = None,
        use_time_features: bool | None = None,
        highway: bool = False,
        tokens: TransformerTokens = "steps",
        patch_len: int = 16,
        patch_stride: int = 8,
        covariate_tokens: bool = False,
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
        check_choice("tokens", tokens, TransformerTokens, owner="TransformerForecaster")
        position, architecture = _resolved_layout(tokens, position, architecture)
        if e_layers < 1 or (architecture == "encoder_decoder" and d_layers < 1):
            raise ValueError(f"need e_layers >= 1 and d_layers >= 1, got {e_layers} and {d_layers}")
        self.position, self.architecture, self.tokens = position, architecture, tokens
        if tokens == "patches" and use_time_features and not covariate_tokens:
            raise ValueError(
                "TransformerForecaster: patch tokens (PatchTST) read each channel's values only, not time "
                "features; use use_time_features=None or False, covariate_tokens=True, or tokens='steps' or "
                "'variates'"
            )
        self.use_time_features = (tokens != "patches" or covariate_tokens) and self.time_features_used(
            use_time_features
        )
        self.covariate_tokens = covariate_tokens
        self.covariate_embedding = (
            self._covariate_embedding(tokens, seq_len, pred_len, d_model, dropout)
            if covariate_tokens
            else None
        )
        marks = n_time_features if self.use_time_features else 0
        max_len = seq_len + pred_len if max_len is None else max_len

        def embedding() -> DataEmbedding:
            return DataEmbedding(n_features, d_model, marks, position, max_len, dropout)

        layer_args = (d_model, n_heads, d_ff, dropout, activation, norm_first, position, rope_base)
        if tokens == "patches":
            self.enc_embedding = PatchEmbedding(seq_len, patch_len, patch_stride, d_model, position, dropout)
        elif tokens == "variates":
            self.enc_embedding = VariateEmbedding(seq_len, d_model, dropout)
        else:
            self.enc_embedding = embedding()
        self.encoder = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(e_layers))
        self.encoder_norm = nn.LayerNorm(d_model)
        if tokens == "patches":
            self.head = FlattenHead(self.enc_embedding.n_patches, d_model, pred_len, dropout)
        elif tokens == "variates":
            self.head = nn.Linear(d_model, pred_len)
        elif architecture == "encoder_decoder":
            self.dec_embedding = embedding()
            self.decoder = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(d_layers))
            self.decoder_norm = nn.LayerNorm(d_model)
            self.projection = nn.Linear(d_model, self.n_targets)
        else:
            self.projection = nn.Linear(d_model, self.n_targets)
            self.horizon = nn.Linear(seq_len, pred_len)
        self.highway = LinearHighway(seq_len, pred_len, n_features, self.n_targets) if highway else None

    def _covariate_embedding(
        self, tokens: str, seq_len: int, pred_len: int, d_model: int, dropout: float
    ) -> CovariateTokens:
        """The covariate tokens of ``covariate_tokens=True``, or a clear error where there are none."""
        if tokens == "steps":
            raise ValueError(
                "TransformerForecaster: covariate_tokens=True applies to patch and variate tokens; step tokens "
                "read the covariates through their embedding (x, x_mark) and the decoder (y_mark)"
            )
        past = self.n_features - self.n_targets if tokens == "patches" else 0  # variates: inputs are tokens
        marks = self.n_time_features if self.use_time_features else 0
        if past + marks == 0:
            raise ValueError(
                f"TransformerForecaster: covariate_tokens=True needs covariates: past ones (features 'MS' with "
                f"past_columns{', for patch tokens' if tokens == 'variates' else ''}) or time features "
                "(time_encoding='timeF', future_columns)"
            )
        return CovariateTokens(seq_len, pred_len, past, marks, d_model, dropout)

    def encode(
        self, x: torch.Tensor, x_mark: torch.Tensor | None, y_mark: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, C_in) -> encoder output and the positions of its tokens: (B, L, d_model) at 0..L-1 for
        step tokens, (B * C_out, N + E, d_model) at 0..N-1 for patches (the E covariate tokens, if any, at
        N), (B, C_in + F, d_model) for variates."""
        covariates = self.covariate_embedding
        if self.tokens == "patches":
            h = self.enc_embedding(x[..., self.n_features - self.n_targets :])
            patches = h.shape[1]
            if covariates is not None:
                extra = covariates(x[..., : self.n_features - self.n_targets], x_mark, y_mark)
                h = torch.cat([h, extra.repeat_interleave(self.n_targets, dim=0)], dim=1)
            positions = torch.arange(h.shape[1], device=x.device).clamp_max(patches)
        else:
            if self.tokens == "variates" and covariates is not None:
                h = torch.cat([self.enc_embedding(x, None), covariates(None, x_mark, y_mark)], dim=1)
            elif self.tokens == "variates":
                h = self.enc_embedding(x, x_mark)
            else:
                h = self.enc_embedding(x, x_mark, torch.arange(x.shape[1], device=x.device))
            positions = torch.arange(h.shape[1], device=x.device)
        for layer in self.encoder:
            h = layer(h, positions)
        return self.encoder_norm(h), positions

    def forecast(
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.architecture == "encoder_decoder":
            out = super().forecast(x, x_mark, y_mark)
        else:
            x_mark, y_mark = self.checked_marks(x, x_mark, y_mark)
            if x.shape[1] != self.seq_len:
                raise ValueError(
                    f"the encoder-only Transformer ({self.tokens} tokens) maps exactly seq_len={self.seq_len} "
                    f"steps, got x with L={x.shape[1]}; use architecture='encoder_decoder' to vary L"
                )
            memory = self.encode(x, x_mark, y_mark)[0]
            if self.tokens == "patches":
                out = self.head(memory[:, : self.enc_embedding.n_patches], self.n_targets)  # (B, P, C_out)
            elif self.tokens == "variates":
                variates = memory[
                    :, self.n_features - self.n_targets : self.n_features
                ]  # (B, C_out, d_model)
                out = self.head(variates).transpose(1, 2)  # (B, P, C_out)
            else:
                h = self.projection(memory)  # (B, L, C_out)
                out = self.horizon(h.transpose(1, 2)).transpose(1, 2)  # (B, P, C_out)
        # The highway maps exactly seq_len steps (one weight per lookback step), like the encoder-only head.
        return out if self.highway is None else out + self.highway(x)


def _resolved_layout(tokens: str, position: str | None, architecture: str | None) -> tuple[str, str]:
    """The position encoding and layout ``tokens`` implies where they were left None; a clear error where
    they were given and do not fit (variates have no order; only step tokens have a decoder)."""
    if position is None:
        position = "none" if tokens == "variates" else "sinusoidal"
    check_position_type(position)
    if tokens == "variates" and position != "none":
        raise ValueError(
            f"TransformerForecaster: variate tokens (iTransformer) have no order, so no position encoding: "
            f"use position='none' (or leave it unset), got {position!r}"
        )
    if architecture is None:
        architecture = "encoder_decoder" if tokens == "steps" else "encoder_only"
    check_choice("architecture", architecture, TransformerArchitecture)
    if tokens != "steps" and architecture != "encoder_only":
        raise ValueError(
            f"TransformerForecaster: {tokens} tokens are encoder-only (the start-token decoder reads time "
            f"steps): use architecture='encoder_only' (or leave it unset), or tokens='steps'"
        )
    return position, architecture
