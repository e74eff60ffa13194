"""ProbSparse attention (Informer, Zhou et al. 2021): reference (PyTorch), Triton kernels, and the op."""

from kernels.probsparse_attention.op import probsparse_attention
from kernels.probsparse_attention.reference import (
    probsparse_attention_reference,
    probsparse_sizes,
    sample_index,
    sparsity_measure,
)

__all__ = [
    "probsparse_attention",
    "probsparse_attention_reference",
    "probsparse_sizes",
    "sample_index",
    "sparsity_measure",
]
