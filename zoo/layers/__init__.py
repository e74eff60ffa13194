"""Shared building blocks (``nn.Module``s and functions) used by several model families.

Each lives in its own module (``zoo.layers.attention``, ``.causal_conv``, ``.position``, ...); the public ones
are re-exported here, so ``from zoo.layers import CausalConv1d, RevIN, MultiHeadAttention`` works.
"""

from zoo.layers.attention import AttentionKernel, FullAttention, MultiHeadAttention
from zoo.layers.causal_conv import CausalConv1d
from zoo.layers.embedding import DataEmbedding, TokenEmbedding
from zoo.layers.gumbel import TemperatureSchedule, binary_concrete_sample, gumbel_softmax_sample
from zoo.layers.highway import LinearHighway
from zoo.layers.position import (
    LearnedPositionEmbedding,
    RotaryEmbedding,
    SinusoidalPositionEmbedding,
    absolute_position_embedding,
    alibi_bias,
    alibi_slopes,
    check_position_type,
    sinusoidal_table,
)
from zoo.layers.probsparse import ProbSparseAttention
from zoo.layers.revin import RevIN
from zoo.layers.transformer import DecoderLayer, EncoderLayer, FeedForward

__all__ = [
    "AttentionKernel",
    "CausalConv1d",
    "DataEmbedding",
    "DecoderLayer",
    "EncoderLayer",
    "FeedForward",
    "FullAttention",
    "LearnedPositionEmbedding",
    "LinearHighway",
    "MultiHeadAttention",
    "ProbSparseAttention",
    "RevIN",
    "RotaryEmbedding",
    "SinusoidalPositionEmbedding",
    "TemperatureSchedule",
    "TokenEmbedding",
    "absolute_position_embedding",
    "alibi_bias",
    "alibi_slopes",
    "binary_concrete_sample",
    "check_position_type",
    "gumbel_softmax_sample",
    "sinusoidal_table",
]
