"""The single guarded import of Triton.

``triton_available()`` says whether Triton is installed (without importing it); ``require_triton(op)`` returns the module
or raises an error that names the op and the ways out (install Triton, or ``backend="torch"``).
``interpreter_enabled()`` tells whether ``TRITON_INTERPRET=1`` was set, which must happen before Triton
is first imported for kernels to run on CPU tensors. ``use_triton(op, x, backend, unsupported)`` is the
backend decision every op shares, and ``cdiv`` the launch-grid ceiling division.

``Backend`` is the type of every op's ``backend`` option and ``check_choice`` the one check of a string
option in this package (``kernels`` does not import ``zoo``, which has its own, ``zoo.choices``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Literal, get_args

import torch

#: Where an op runs: "auto" (Triton on CUDA where the op supports the call, else the reference),
#: "triton" (the kernels, or a clear error) or "torch" (the PyTorch reference).
Backend = Literal["auto", "triton", "torch"]
BACKENDS: tuple[str, ...] = get_args(Backend)


def check_choice(
    op: str, option: str, value: object, allowed: Sequence[str], *, optional: bool = False
) -> None:
    """Raise ``ValueError("<op>: <option> must be 'a', 'b' or 'c', got 'x'")`` unless ``value`` is allowed.

    ``optional=True`` also accepts None (the message then reads "must be None or one of ...").
    """
    if (optional and value is None) or value in allowed:
        return
    names = [repr(a) for a in allowed]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    raise ValueError(f"{op}: {option} must be {'None or one of ' if optional else ''}{listed}, got {value!r}")


def _triton_installed() -> bool:
    """Whether a ``triton`` package can be found, without importing it (it is heavy, and the interpreter
    flag must be set before its first import); a ``sys.modules`` entry of None means it is blocked."""
    if "triton" in sys.modules:
        return sys.modules["triton"] is not None
    try:
        return importlib.util.find_spec("triton") is not None
    except (ImportError, ValueError):
        return False


_TRITON_INSTALLED = _triton_installed()


def triton_available() -> bool:
    """True when Triton is installed here.

    A read of a module constant, which ``torch.compile`` traces without a graph break; deciding it at
    import keeps ``torch._dynamo`` out of ``import kernels`` (``torch.compiler.assume_constant_result``
    as a decorator imports it).
    """
    return _TRITON_INSTALLED


def _import_triton() -> ModuleType | None:
    try:
        return importlib.import_module("triton")
    except ImportError:
        return None


def interpreter_enabled() -> bool:
    """True when the Triton interpreter (CPU execution of kernels) was requested via TRITON_INTERPRET=1."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def require_triton(op: str) -> ModuleType:
    """The ``triton`` module, or a clear ImportError for ``op``."""
    module = _import_triton()
    if module is None:
        raise ImportError(
            f"{op}: backend='triton' needs the triton package (pip install triton, Linux x86-64); "
            "use backend='torch' for the PyTorch reference"
        )
    return module


def cdiv(a: int, b: int) -> int:
    """ceil(a / b) for positive ints (launch grids)."""
    return -(-a // b)


def use_triton(op: str, x: torch.Tensor, backend: str, unsupported: str | None) -> bool:
    """Whether ``op`` runs its Triton kernels on ``x`` for ``backend`` ("auto", "triton" or "torch").

    ``unsupported`` is None when the kernels cover the call, else the reason they do not (ending with the
    way out). "auto" picks Triton only on CUDA, for covered calls, below fp64 and with Triton installed;
    "triton" raises a clear error for every case it cannot run: an uncovered call, no Triton, CPU tensors
    without the interpreter, and bf16 under the interpreter.
    """
    if backend == "torch":
        return False
    if backend == "auto":
        return x.is_cuda and unsupported is None and x.dtype != torch.float64 and triton_available()
    if unsupported is not None:
        raise ValueError(f"{op}: {unsupported}")
    if not triton_available():
        require_triton(op)  # raises the ImportError that says what to do
    if not x.is_cuda:
        if not interpreter_enabled():
            raise RuntimeError(
                f"{op}: backend='triton' on CPU tensors needs the Triton interpreter: set "
                "TRITON_INTERPRET=1 before triton is first imported, or use backend='torch'"
            )
        if x.dtype == torch.bfloat16:
            raise ValueError(f"{op}: the Triton interpreter cannot run bf16; use fp16/fp32 or a GPU")
    return True
