"""The one model registry (timm-style): ``@register_model``, ``create_model``, ``list_models``.

Every model file registers its variants here; the test-suite walks :func:`list_models` so that a new
model gets the generic checks (shapes, gradients, state-dict round trip, rebuild from config) for free.
A registered builder is a class (or a function returning an ``nn.Module``) with a typed signature and
no ``**kwargs``: a misspelt argument is a :class:`TypeError` naming the accepted parameters.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from torch import nn

TaskKind = Literal["forecasting", "generative"]
BuilderT = TypeVar("BuilderT", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class ModelEntry:
    """One registered model name: the builder, its task family and the defaults of the variant."""

    name: str
    builder: Callable[..., nn.Module]
    task: TaskKind
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The builder's keyword parameters (``self`` excluded)."""
        params = inspect.signature(self.builder).parameters
        return {k: p for k, p in params.items() if k != "self"}


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str | None = None,
    *,
    task: TaskKind = "forecasting",
    defaults: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Callable[[BuilderT], BuilderT]:
    """Register a model class or builder function under ``name`` (default: the lower-cased class name).

    ``defaults`` makes a named variant: ``register_model("nbeats_generic", defaults={...})(NBeats)``.
    Decorating returns the builder unchanged, so one class can carry several names.
    """

    def decorator(builder: BuilderT) -> BuilderT:
        key = name or builder.__name__.lower()
        if key in _REGISTRY and _REGISTRY[key].builder is not builder:
            raise ValueError(f"model name {key!r} is already registered by {_REGISTRY[key].builder!r}")
        accepted = inspect.signature(builder).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            raise TypeError(f"{builder!r} takes **kwargs; registered models need explicit typed parameters")
        unknown = set(defaults or {}) - set(accepted)
        if unknown:
            raise TypeError(f"defaults {sorted(unknown)} for {key!r} are not parameters of {builder!r}")
        doc = description if description is not None else (inspect.getdoc(builder) or "").split("\n")[0]
        _REGISTRY[key] = ModelEntry(key, builder, task, dict(defaults or {}), doc)
        return builder

    return decorator


def _ensure_models_imported() -> None:
    # Importing the package runs every model file's @register_model decorators.
    import zoo.models  # noqa: F401


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name is a KeyError with the closest matches."""
    _ensure_models_imported()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown model {name!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))}") from None


def list_models(pattern: str = "*", task: TaskKind | None = None) -> list[str]:
    """Sorted registered names matching the shell-style ``pattern`` (and ``task`` if given)."""
    _ensure_models_imported()
    return sorted(
        n for n, e in _REGISTRY.items() if fnmatch.fnmatchcase(n, pattern) and (task is None or e.task == task)
    )


def list_pretrained(pattern: str = "*") -> list[str]:
    """Sorted names of the shipped pretrained models (``"<family>.<tag>"``) matching ``pattern``."""
    from zoo.pretrained import list_pretrained as shipped

    return shipped(pattern)


def create_model(
    name: str,
    pretrained: bool = False,
    checkpoint_path: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build the registered model ``name`` with the variant's defaults overridden by ``kwargs``.

    ``create_model("lstm", n_features=7, seq_len=96, pred_len=96)`` returns a plain ``nn.Module``.
    A pretrained name ``"<family>.<tag>"`` (``zoo.list_pretrained()``) builds the architecture its
    ``config.json`` records; with ``pretrained=True`` the shipped weights are loaded (sha256-checked,
    see :mod:`zoo.pretrained`), with ``checkpoint_path`` a directory or ``.safetensors`` file instead.
    ``kwargs`` that change a pretrained model's shapes make loading its weights fail with a clear error.
    """
    if "." in name and name not in _REGISTRY:
        return _create_from_pretrained(name, pretrained, checkpoint_path, kwargs)
    entry = get_model_entry(name)
    if pretrained or checkpoint_path is not None:
        from zoo.pretrained import list_pretrained

        tags = list_pretrained(f"{name}.*")
        hint = f"; pretrained variants: {', '.join(tags)}" if tags else "; no pretrained weights are published for it"
        raise ValueError(f"{name!r} names an architecture, not a pretrained model: use '<name>.<tag>'{hint}")
    accepted = entry.parameters()
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"create_model({name!r}) got unexpected argument(s) {unknown}; "
            f"accepted: {', '.join(accepted)}"
        )
    return entry.builder(**{**entry.defaults, **kwargs})


def _create_from_pretrained(
    name: str, pretrained: bool, checkpoint_path: str | os.PathLike[str] | None, kwargs: dict[str, Any]
) -> nn.Module:
    from zoo.pretrained import from_pretrained

    load = pretrained or checkpoint_path is not None
    return from_pretrained(name, checkpoint_path=checkpoint_path, load_weights=load, model_args=kwargs)
