"""``model.compile``: the net compiled with ``torch.compile`` for training and evaluation, CPU or GPU.

The task compiles its net's modules in place (``nn.Module.compile``), so parameter names, checkpoints,
pretrained directories and LoRA adapters are exactly those of the eager net, and a compiled run resumes
an eager one and the other way round. A forecaster is compiled whole; a latent-variable model's encoder
and decoder networks are (its distributions, KL terms and samplers stay eager Python).

Shapes: the batch dimension becomes dynamic at its first change (dynamo's automatic dynamic shapes), so
the last, partial batch of an epoch costs one recompilation in the first epoch and none after it; the
train/eval switch adds one graph each. Compilation is lazy: nothing is traced until the first batch.

Random numbers: Inductor draws dropout masks and Informer's ProbSparse key samples from its own generator,
seeded from torch's global one, so a compiled run is as reproducible under ``seed_everything`` as an eager
one (``zoo.tasks.optim.StepSeededRNG``), but its random draws are not the eager run's.
``torch._inductor.config.fallback_random = True`` makes them the same (the tests compare outputs that way).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from torch import nn

from zoo.choices import check_choice

CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


def check_compile_options(backend: str, mode: str) -> None:
    """Refuse an unknown ``compile_mode`` or ``compile_backend`` when the task is built, not at the first batch.

    Args:
        backend: a ``torch.compile`` backend name ("inductor", "aot_eager", "eager", ...).
        mode: one of :data:`CompileMode` (Inductor's modes; other backends ignore it).
    """
    check_choice("compile_mode", mode, CompileMode)
    import torch._dynamo  # here: only a compiled run pays for importing dynamo

    known = torch._dynamo.list_backends(exclude_tags=())
    if backend not in known:
        raise ValueError(f"compile_backend must be one of {sorted(known)}, got {backend!r}")


def compile_in_place(modules: Iterable[nn.Module], backend: str, mode: str) -> None:
    """Compile each module's ``__call__`` in place (``nn.Module.compile``; state-dict keys unchanged).

    Args:
        modules: the modules to compile (a forecaster; a latent model's encoder and decoder).
        backend: the ``torch.compile`` backend.
        mode: the Inductor mode (:data:`CompileMode`); passed only to Inductor.
    """
    check_compile_options(backend, mode)
    options = {"mode": mode} if backend == "inductor" else {}
    for module in modules:
        module.compile(backend=backend, dynamic=None, **options)
