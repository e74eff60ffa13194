"""The one check of a string option: ``check_choice`` names the option, the values it takes and the one given.

Options are typed ``Literal[...]`` (DESIGN.md section 7), which the CLI enforces; a direct Python call
(``zoo.create_model``, a test, a notebook) is checked here, from the same ``Literal``, so the allowed
values are written once. ``kernels`` does not import ``zoo`` and has its own check
(``kernels.triton_support.check_choice``).
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

T = TypeVar("T")


def allowed_values(allowed: Any) -> tuple[Any, ...]:
    """The values of a ``Literal`` type (also inside ``X | None``, None standing for ``NoneType``), or of an
    iterable of values given directly."""
    origin = get_origin(allowed)
    if origin is Literal:
        return get_args(allowed)
    if origin is Union or origin is types.UnionType:
        return tuple(
            v for arg in get_args(allowed) for v in ((None,) if arg is type(None) else allowed_values(arg))
        )
    if isinstance(allowed, str) or not isinstance(allowed, Iterable):
        raise TypeError(f"allowed must be a Literal type or a collection of values, got {allowed!r}")
    return tuple(allowed)


def describe_choices(values: tuple[Any, ...]) -> str:
    """``'a' or 'b'`` for two values, ``one of 'a', 'b' or 'c'`` for more (None written as None)."""
    names = [repr(v) for v in values]
    if len(names) == 1:
        return names[0]
    listed = f"{', '.join(names[:-1])} or {names[-1]}"
    return listed if len(names) == 2 else f"one of {listed}"


def check_choice(option: str, value: T, allowed: Any, *, owner: str | None = None) -> T:
    """Return ``value`` if ``allowed`` (a ``Literal`` type or a collection) holds it, else raise
    ``ValueError("[<owner>: ]<option> must be one of 'a', 'b' or 'c', got 'x'")``."""
    values = allowed_values(allowed)
    if any(value is v or (isinstance(value, type(v)) and value == v) for v in values):
        return value
    prefix = f"{owner}: " if owner else ""
    raise ValueError(f"{prefix}{option} must be {describe_choices(values)}, got {value!r}")
