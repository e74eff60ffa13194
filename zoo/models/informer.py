"""Informer forecaster: ProbSparse self-attention, self-attention distilling and a generative decoder.

Zhou, Zhang, Peng, Zhang, Li, Xiong & Zhang, "Informer: Beyond Efficient Transformer for Long Sequence
Time-Series Forecasting" (AAAI 2021); reference implementation zhouhaoyi/Informer2020 (``models/model.py``,
``encoder.py``, ``decoder.py``, ``attn.py``):

- embedding: value (token convolution) + temporal ("timeF") + position (``zoo.layers.embedding``);
- encoder: ``e_layers`` post-norm self-attention layers whose attention is ProbSparse (section 3.1;
  ``zoo.layers.probsparse``, on the op ``kernels.probsparse_attention``) or full (``attention="full"``, the
  paper's Informer† ablation), with a *distilling* layer between consecutive ones (section 3.2, eq. 5):
  width-3 circular Conv1d, BatchNorm, ELU and a stride-2 max-pool that halves the length;
- ``encoder_stack=[3, 2, 1]`` (the reference's "informerstack"): several encoders, the i-th reading only
  the last L / 2^i embedded steps with the given number of layers, their outputs concatenated in time;
- decoder: the generative "start token" decoder shared with ``zoo.models.transformer`` (the last
  ``label_len`` steps of x, then P zeros, with their time features), masked ProbSparse self-attention and
  full cross-attention, then a linear map to the C_out targets; one forward pass, no autoregression.

Differences from the reference, on purpose, unless ``informer2020=True``:

- the reference's ``mix=True`` decoder self-attention output reshape (it transposes heads and time before
  merging heads, mixing time steps across heads) is not reproduced: heads are merged per step as usual;
- the value and temporal embeddings have no biases, as in Time-Series-Library's copy (Informer2020's
  ``models/embed.py`` has them);
- the decoder's absolute position embeddings continue from the start token's time step (the reference
  numbers the decoder input from 0).

``informer2020=True`` reproduces those three details of the authors' code. In both forms:

- the tokens are time steps: the Transformer's patch and variate tokens (``zoo.models.transformer``)
  are not offered here: ProbSparse attention only differs from full attention over long token
  sequences, and its u = factor * ceil(ln N) active queries (15 for 12 patches, 10 for 7 variates at
  factor 5) would already be every token;

- positions are time steps (``zoo.models.transformer``): after a distilling layer a step stands for the
  input step at twice its index, so RoPE/ALiBi see distances in input time steps;
- ProbSparse samples keys from the global RNG in training (reseeded per step by the task) and from a
  fixed-seed generator in eval (``eval_seed``), so test metrics are reproducible.

Shapes: x (B, L, C_in), x_mark (B, L, F), y_mark (B, P, F) -> (B, P, C_out).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from kernels.triton_support import Backend
from zoo.choices import check_choice
from zoo.distributions import DistributionName
from zoo.layers.attention import AttentionKernel
from zoo.layers.embedding import DataEmbedding
from zoo.layers.position import PositionType, check_position_type
from zoo.layers.probsparse import ProbSparseAttention
from zoo.layers.transformer import DecoderLayer, EncoderLayer, FeedForwardActivation
from zoo.models.transformer import StartTokenForecaster
from zoo.registry import register_model

#: The self-attention of the encoder and decoder: ProbSparse, or full (the paper's Informer† ablation).
AttentionType = Literal["prob", "full"]


class DistillingLayer(nn.Module):
    """Self-attention distilling (Informer eq. 5): (B, L, d) -> (B, floor((L - 1) / 2) + 1, d).

    Conv1d(d, d, 3, circular padding) -> BatchNorm1d -> ELU -> MaxPool1d(3, stride 2, padding 1). Output step
    t pools input steps 2t - 1 .. 2t + 1, so it carries the position of input step 2t.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, kernel_size=3, padding=1, padding_mode="circular")
        self.norm = nn.BatchNorm1d(d_model)
        self.pool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.elu(self.norm(self.conv(x.transpose(1, 2))))  # (B, d, L)
        return self.pool(h).transpose(1, 2)


class InformerEncoder(nn.Module):
    """Self-attention layers with a distilling layer between consecutive ones, then LayerNorm.

    ``forward(h (B, L, d), positions (L,)) -> (B, L', d), positions (L',)``; L' = L halved once per distilling
    layer (rounding up).
    """

    def __init__(
        self,
        n_layers: int,
        layer_args: tuple,
        make_kernel: type[AttentionKernel] | None,
        kernel_args: dict,
        distil: bool,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(*layer_args, kernel=make_kernel(**kernel_args) if make_kernel else None)
            for _ in range(n_layers)
        )
        d_model = layer_args[0]
        self.distil = nn.ModuleList(DistillingLayer(d_model) for _ in range(n_layers - 1)) if distil else None
        self.norm = nn.LayerNorm(d_model)

    def forward(self, h: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i, layer in enumerate(self.layers):
            h = layer(h, positions)
            if self.distil is not None and i < len(self.distil):
                h = self.distil[i](h)
                positions = positions[::2]
        return self.norm(h), positions


@register_model(
    "informer", description="Informer (Zhou et al. 2021): ProbSparse attention, distilling encoder"
)
class InformerForecaster(StartTokenForecaster):
    """Informer forecaster; see the module docstring.

    Args:
        d_model: model width (the reference's 512).
        n_heads: attention heads (the reference's 8).
        e_layers: encoder layers (the reference's 2).
        d_layers: decoder layers (the reference's 1).
        d_ff: feed-forward width (the reference's 2048).
        dropout: on embeddings, attention weights and residual branches (the reference's 0.05).
        activation: of the feed-forward, "gelu" (the reference's) or "relu".
        position: "sinusoidal" (the reference), "learned", "rope", "alibi" or "none".
        rope_base: RoPE's theta base.
        max_len: rows of a learned position table (default L + P).
        attention: "prob" (ProbSparse) or "full" (Informer†) for the encoder and decoder self-attention.
        factor: ProbSparse sampling factor c.
        distil: distilling layers between encoder layers.
        encoder_stack: layer counts of stacked encoders (e.g. [3, 2, 1]); None: one encoder of e_layers.
        eval_seed: ProbSparse key-sample seed in eval mode (None: global RNG).
        backend: ``kernels.probsparse_attention`` backend ("auto", "triton" or "torch").
        use_time_features: embed x_mark / y_mark. None (default): when the data has time features
            (n_time_features > 0); True needs ``n_time_features > 0``; False: ignore the marks.
        informer2020: as the authors' code (zhouhaoyi/Informer2020): embedding biases, the decoder
            self-attention's ``mix=True`` head merge, decoder position embeddings from 0 (module docstring).
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
        dropout: float = 0.05,
        activation: FeedForwardActivation = "gelu",
        position: PositionType = "sinusoidal",
        rope_base: float = 10000.0,
        max_len: int | None = None,
        attention: AttentionType = "prob",
        factor: int = 5,
        distil: bool = True,
        encoder_stack: list[int] | None = None,
        eval_seed: int | None = 0,
        backend: Backend = "auto",
        use_time_features: bool | None = None,
        informer2020: bool = False,
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
        check_position_type(position)
        check_choice("attention", attention, AttentionType)
        stack = [e_layers] if encoder_stack is None else list(encoder_stack)
        if not stack or min(stack) < 1 or d_layers < 1:
            raise ValueError(
                f"need at least one layer in every encoder and d_layers >= 1, got "
                f"encoder layers {stack} and d_layers={d_layers}"
            )
        if seq_len >> (len(stack) - 1) < 1:
            raise ValueError(
                f"encoder_stack {stack} reads the last L / 2^i steps: seq_len={seq_len} is too short"
            )
        self.position, self.attention = position, attention
        self.decoder_embedding_from_zero = informer2020
        self.use_time_features = self.time_features_used(use_time_features)
        marks = n_time_features if self.use_time_features else 0
        max_len = seq_len + pred_len if max_len is None else max_len
        layer_args = (d_model, n_heads, d_ff, dropout, activation, False, position, rope_base)
        prob = ProbSparseAttention if attention == "prob" else None
        kernel_args = {"factor": factor, "eval_seed": eval_seed, "backend": backend}
        self.enc_embedding = DataEmbedding(
            n_features, d_model, marks, position, max_len, dropout, informer2020
        )
        self.encoders = nn.ModuleList(
            InformerEncoder(n, layer_args, prob, kernel_args, distil) for n in stack
        )
        self.dec_embedding = DataEmbedding(
            n_features, d_model, marks, position, max_len, dropout, informer2020
        )
        self.decoder = nn.ModuleList(
            DecoderLayer(
                *layer_args, self_kernel=prob(**kernel_args) if prob else None, mix_self_heads=informer2020
            )
            for _ in range(d_layers)
        )
        self.decoder_norm = nn.LayerNorm(d_model)
        self.projection = nn.Linear(d_model, self.n_targets)

    def encode(self, x: torch.Tensor, x_mark: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, C_in) -> the concatenated outputs of the encoder stack (B, L_enc, d) and their positions."""
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.enc_embedding(x, x_mark, positions)
        outputs, out_positions = [], []
        for i, encoder in enumerate(self.encoders):
            steps = x.shape[1] >> i  # the i-th encoder reads the last L / 2^i steps
            if steps < 1:
                raise ValueError(
                    f"x has L={x.shape[1]} steps, too few for {len(self.encoders)} stacked encoders"
                )
            out, pos = encoder(h[:, -steps:], positions[-steps:])
            outputs.append(out)
            out_positions.append(pos)
        return torch.cat(outputs, dim=1), torch.cat(out_positions)
