"""The one model registry (timm-style): ``@register_model``, ``get_model_entry``, ``list_models``, ``build_model``.

Every model file registers its variants here (``import zoo`` imports them all, through :mod:`zoo.models`:
this module imports no model, so models can import it without a cycle); the test-suite walks :func:`list_models` so that a new
model gets the generic checks (shapes, gradients, state-dict round trip, rebuild from config) for free.
A registered builder is a class (or a function returning an ``nn.Module``) with a typed signature and
no ``**kwargs``: a misspelt argument is a :class:`TypeError` naming the accepted parameters.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
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


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name is a KeyError with the closest matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_models(pattern: str = "*", task: TaskKind | None = None) -> list[str]:
    """Sorted registered names matching the shell-style ``pattern`` (and ``task`` if given)."""
    return sorted(
        n
        for n, e in _REGISTRY.items()
        if fnmatch.fnmatchcase(n, pattern) and (task is None or e.task == task)
    )


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """The registered architecture ``name``, randomly initialised: the variant's defaults overridden by ``kwargs``.

    An argument the builder does not take is a TypeError naming the accepted ones. Pretrained names
    (``"tcn.etth1"``) are :func:`zoo.create_model`'s business (:mod:`zoo.hub`).
    """
    entry = get_model_entry(name)
    accepted = entry.parameters()
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"create_model({name!r}) got unexpected argument(s) {unknown}; accepted: {', '.join(accepted)}"
        )
    return entry.builder(**{**entry.defaults, **kwargs})
