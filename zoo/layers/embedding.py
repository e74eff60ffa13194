"""Input embeddings of the attention forecasters: value + temporal + absolute position.

Follows the ``DataEmbedding`` of Zhou et al., Informer (AAAI 2021; reference code zhouhaoyi/Informer2020,
``models/embed.py``), which Time-Series-Library reuses for its Transformer baselines:

- value ("token") embedding: a width-3 ``Conv1d`` over time from C_in channels to d_model, circular
  padding, Kaiming-normal initialisation (fan_in, leaky_relu);
- temporal embedding of the "timeF" features: ``Linear(F, d_model)`` (the reference's
  ``TimeFeatureEmbedding``), omitted when the data has no time features;
- both without biases by default, as Time-Series-Library's copy (``layers/Embed.py``) has them;
  Informer2020's own ``models/embed.py`` gives both a bias (``bias=True``);
- absolute position: sinusoidal or learned (``zoo.layers.position``), computed for the given positions
  so no fixed-size table limits the length (the reference slices a 5000-row table); nothing is added for
  the relative encodings (RoPE, ALiBi), which act inside attention;
- dropout on the sum.

Shapes: x (B, L, C_in), x_mark (B, L, F), positions (L,) -> (B, L, d_model).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.layers.position import absolute_position_embedding


class TokenEmbedding(nn.Module):
    """Circular width-3 convolution over time: (B, L, C_in) -> (B, L, d_model).

    Args:
        n_features: C_in.
        d_model: output width.
        bias: give the convolution a bias (Informer2020's; TSLib's has none).
    """

    def __init__(self, n_features: int, d_model: int, bias: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            n_features, d_model, kernel_size=3, padding=1, padding_mode="circular", bias=bias
        )
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class DataEmbedding(nn.Module):
    """value + temporal + absolute position embedding, then dropout; see the module docstring.

    Args:
        n_features: C_in.
        d_model: output width.
        n_time_features: F (0: no temporal embedding).
        position: the model's position encoding name.
        max_len: rows of a learned table.
        dropout: dropout on the summed embedding.
        bias: give the value and temporal embeddings biases (Informer2020's; TSLib's have none).
    """

    def __init__(
        self,
        n_features: int,
        d_model: int,
        n_time_features: int,
        position: str,
        max_len: int,
        dropout: float,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.value = TokenEmbedding(n_features, d_model, bias)
        self.temporal = nn.Linear(n_time_features, d_model, bias=bias) if n_time_features > 0 else None
        self.position = absolute_position_embedding(position, d_model, max_len)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None, positions: torch.Tensor) -> torch.Tensor:
        out = self.value(x)
        if self.temporal is not None:
            if x_mark is None:
                raise ValueError("DataEmbedding was built with time features: pass the marks (B, L, F)")
            out = out + self.temporal(x_mark)
        if self.position is not None:
            out = out + self.position(positions).to(out.dtype)
        return self.dropout(out)
