"""``zoo.choices.check_choice``: the one check of a string option, and the option types it reads."""

from __future__ import annotations

import re
from typing import Literal

import pytest

from kernels.triton_support import check_choice as kernel_check_choice
from zoo.choices import allowed_values, check_choice


def test_accepts_allowed_values_and_returns_them() -> None:
    assert check_choice("head", "last", Literal["last", "flatten"]) == "last"
    assert check_choice("binarize", None, Literal["dynamic", "static"] | None) is None
    assert check_choice("split", "b", ("a", "b")) == "b"


@pytest.mark.parametrize(
    "allowed, value, message",
    [
        (Literal["prob", "full"], "sparse", "attention must be 'prob' or 'full', got 'sparse'"),
        (Literal["M", "S", "MS"], "X", "attention must be one of 'M', 'S' or 'MS', got 'X'"),
        (
            Literal["dynamic", "static"] | None,
            "otsu",
            "attention must be one of 'dynamic', 'static' or None, got 'otsu'",
        ),
        (("only",), "other", "attention must be 'only', got 'other'"),
        (Literal["a", "b"], None, "attention must be 'a' or 'b', got None"),
    ],
)
def test_names_the_option_the_allowed_values_and_the_value(
    allowed: object, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_choice("attention", value, allowed)
    with pytest.raises(ValueError, match=f"^Informer: {re.escape(message)}$"):
        check_choice("attention", value, allowed, owner="Informer")


def test_bad_allowed_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Literal type or a collection"):
        allowed_values("abc")
    assert allowed_values(Literal["x"] | Literal["y"] | None) == ("x", "y", None)


def test_the_kernels_check() -> None:
    kernel_check_choice("op", "backend", "torch", ("auto", "triton", "torch"))
    kernel_check_choice("op", "activation", None, ("relu",), optional=True)
    with pytest.raises(ValueError, match=r"^op: backend must be 'auto', 'triton' or 'torch', got 'cuda'$"):
        kernel_check_choice("op", "backend", "cuda", ("auto", "triton", "torch"))
    with pytest.raises(
        ValueError, match=r"^op: activation must be None or one of 'relu' or 'gelu', got 'tanh'$"
    ):
        kernel_check_choice("op", "activation", "tanh", ("relu", "gelu"), optional=True)
