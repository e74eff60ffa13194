"""One check for string options: the value must be one of a ``Literal``'s choices."""

from __future__ import annotations

from typing import Any, get_args


def check_choice(option: str, value: object, allowed: Any) -> str:
    """Return ``value`` when it is one of ``allowed`` (a ``Literal[...]`` or a tuple of strings), else a
    ValueError naming ``option`` and every allowed value."""
    choices = get_args(allowed) or tuple(allowed)
    if value not in choices:
        raise ValueError(f"{option} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value  # type: ignore[return-value]
