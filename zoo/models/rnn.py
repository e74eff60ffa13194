"""LSTM and GRU forecasters with a direct multi-horizon head or a non-autoregressive decoder.

- ``mode="direct"``: a stacked RNN reads the lookback window; a linear head maps the top layer's
  final hidden state to all P x C_out outputs at once (the "direct" multi-horizon strategy of
  Taieb et al. 2012, as in the MQ-RNN forecaster of Wen et al. 2017, without quantiles).
- ``mode="seq2seq"``: encoder-decoder (Sutskever et al. 2014; the LSTMa baseline of Informer,
  Zhou et al. 2021, without attention). The decoder starts from the encoder's final state and reads,
  for each future step, a learned horizon embedding plus (optionally) that step's time features; it
  does not feed its own predictions back, so training and inference see the same inputs and the
  horizon is produced in one pass.

Time features (``use_time_features``, with the meaning ``zoo.models.base`` gives it) are concatenated to
the inputs: x_mark to the encoder's, y_mark to the decoder's. ``channel_independent=True`` runs every
channel as its own univariate series through the same weights (the channel-independence of PatchTST, Nie
et al. 2023, and SegRNN, Lin et al. 2023), which regularises strongly on the ETT data; the forecast
keeps the last C_out channels. ``highway=True`` adds LSTNet's linear autoregressive component (Lai et
al., SIGIR 2018; ``zoo.layers.highway.LinearHighway``): a linear map from each channel's L past values
to its P future values, shared across channels, summed with the RNN forecast, so the scale of the output
follows the input even where the RNN saturates. Shapes: x (B, L, C_in), x_mark (B, L, F), y_mark (B, P,
F) -> (B, P, C_out).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from einops import rearrange
from torch import nn

from zoo.choices import check_choice
from zoo.distributions import DistributionName
from zoo.layers.highway import LinearHighway
from zoo.models.base import Forecaster
from zoo.registry import register_model

CellType = Literal["lstm", "gru"]
#: How the horizon is produced: a linear head on the last state, or a non-autoregressive decoder.
RNNMode = Literal["direct", "seq2seq"]


@register_model(
    "lstm",
    defaults={"cell": "lstm"},
    description="LSTM forecaster (Hochreiter & Schmidhuber 1997), direct or seq2seq",
)
@register_model(
    "gru", defaults={"cell": "gru"}, description="GRU forecaster (Cho et al. 2014), direct or seq2seq"
)
class RNNForecaster(Forecaster):
    """Stacked LSTM/GRU forecaster (see the module docstring for the two modes).

    Registered twice: ``create_model("lstm", ...)`` and ``create_model("gru", ...)`` set ``cell``; in a
    config, use ``class_path: zoo.models.RNNForecaster`` with ``cell: lstm`` or ``cell: gru``.

    Args:
        cell: "lstm" (Hochreiter & Schmidhuber 1997) or "gru" (Cho et al. 2014).
        hidden_size: width of every recurrent layer.
        num_layers: stacked recurrent layers (of the encoder, and of the decoder in seq2seq mode).
        dropout: between stacked layers (when num_layers > 1) and before the head.
        mode: "direct" (a linear head maps the top layer's final state to all P x C_out outputs) or
            "seq2seq" (a decoder reads a learned horizon embedding per future step; module docstring).
        use_time_features: concatenate x_mark to the encoder's inputs and y_mark to the decoder's. True
            needs ``n_time_features > 0``; None: when the data has time features; False (default): ignore
            the marks.
        horizon_embedding_dim: width of the learned per-step horizon embedding (seq2seq mode only).
        channel_independent: run each target channel as its own univariate series with shared weights
            (PatchTST, SegRNN).
        highway: add LSTNet's linear map from the L past values to the P future values of each target
            (``zoo.layers.LinearHighway``).
    """

    #: LoRA default: every input and recurrent matrix of the LSTM/GRU, and the head.
    lora_target_modules: ClassVar[str] = r"encoder|decoder|head"

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
        cell: CellType = "lstm",
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        mode: RNNMode = "direct",
        use_time_features: bool | None = False,
        horizon_embedding_dim: int = 16,
        channel_independent: bool = False,
        highway: bool = False,
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
        check_choice("cell", cell, CellType)
        check_choice("mode", mode, RNNMode)
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"hidden_size and num_layers must be positive, got {hidden_size}, {num_layers}")
        use_time_features = self.time_features_used(use_time_features)
        self.cell, self.mode, self.use_time_features = cell, mode, use_time_features
        self.channel_independent = channel_independent
        rnn_cls = nn.LSTM if cell == "lstm" else nn.GRU
        marks = n_time_features if use_time_features else 0
        series_in = 1 if channel_independent else n_features  # channels each RNN step reads
        series_out = 1 if channel_independent else self.n_targets  # channels each head writes
        layer_dropout = dropout if num_layers > 1 else 0.0
        self.encoder = rnn_cls(
            series_in + marks, hidden_size, num_layers, batch_first=True, dropout=layer_dropout
        )
        self.dropout = nn.Dropout(dropout)
        if mode == "direct":
            self.head = nn.Linear(hidden_size, pred_len * series_out)
        else:
            self.horizon_embedding = nn.Parameter(torch.randn(pred_len, horizon_embedding_dim) * 0.02)
            self.decoder = rnn_cls(
                horizon_embedding_dim + marks,
                hidden_size,
                num_layers,
                batch_first=True,
                dropout=layer_dropout,
            )
            self.head = nn.Linear(hidden_size, series_out)
        self.highway = LinearHighway(seq_len, pred_len, n_features, self.n_targets) if highway else None

    def _with_marks(self, inputs: torch.Tensor, mark: torch.Tensor | None, name: str) -> torch.Tensor:
        """Concatenate time features (B, T, F) to ``inputs`` (B * series, T, *) when they are used."""
        if not self.use_time_features:
            return inputs
        marks = self.series_marks(mark, name, inputs.shape[1], inputs.shape[0])
        return torch.cat([inputs, marks.to(inputs.dtype)], dim=-1)

    def forecast(
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_input(x)
        batch = x.shape[0]
        linear_part = None if self.highway is None else self.highway(x)  # (B, P, C_out)
        if self.channel_independent:
            # Channels do not interact, so only the targets (the last C_out) are encoded, each as one series
            # (channel-major within each sample).
            x = rearrange(x[..., self.n_features - self.n_targets :], "b l c -> (b c) l 1")
        series = x.shape[0]
        _, state = self.encoder(self._with_marks(x, x_mark, "x_mark"))
        if self.mode == "direct":
            top = (state[0] if self.cell == "lstm" else state)[-1]  # (B*, hidden) of the last layer
            out = self.head(self.dropout(top)).view(series, self.pred_len, -1)
        else:
            steps = self.horizon_embedding.unsqueeze(0).expand(series, -1, -1).to(x.dtype)  # (B*, P, E)
            decoded, _ = self.decoder(self._with_marks(steps, y_mark, "y_mark"), state)  # (B*, P, hidden)
            out = self.head(self.dropout(decoded))
        if self.channel_independent:
            out = rearrange(out, "(b c) p 1 -> b p c", b=batch)
        return (out if linear_part is None else out + linear_part).contiguous()
