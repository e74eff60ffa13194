"""Triton kernels with PyTorch fallbacks (DESIGN.md section 5).

Each op is a sub-package ``<op>/{reference,triton,op}.py``. Triton is optional: the package imports on
machines without it, and :mod:`kernels.triton_support` is the one place that imports ``triton``.
"""

from kernels.causal_conv1d import causal_conv1d
from kernels.probsparse_attention import probsparse_attention
from kernels.triton_support import interpreter_enabled, require_triton, triton_available

__all__ = [
    "causal_conv1d",
    "interpreter_enabled",
    "probsparse_attention",
    "require_triton",
    "triton_available",
]
