"""``zoo.layers`` re-exports its public building blocks by name."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest
from torch import nn

import zoo.layers


@pytest.mark.parametrize("name", zoo.layers.__all__)
def test_every_exported_name_is_a_layer_or_a_function(name: str) -> None:
    obj = getattr(importlib.import_module("zoo.layers"), name)
    is_module = inspect.isclass(obj) and issubclass(obj, nn.Module)
    # TemperatureSchedule, the Gumbel models' schedule, is a frozen dataclass called like a function.
    is_schedule = inspect.isclass(obj) and dataclasses.is_dataclass(obj) and callable(obj)
    assert is_module or inspect.isfunction(obj) or is_schedule, f"zoo.layers.{name} is {obj!r}"
    assert obj.__module__.startswith("zoo.layers."), obj.__module__


def test_every_public_layer_class_is_exported() -> None:
    modules = {obj.__module__ for obj in map(lambda n: getattr(zoo.layers, n), zoo.layers.__all__)}
    for module_name in sorted(modules):
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, nn.Module)
                and obj.__module__ == module_name
                and not name.startswith("_")
            ):
                assert name in zoo.layers.__all__, f"{module_name}.{name} is not exported by zoo.layers"


def test_the_cited_import_works() -> None:
    from zoo.layers import CausalConv1d, LinearHighway, MultiHeadAttention, RevIN

    assert all(issubclass(c, nn.Module) for c in (CausalConv1d, LinearHighway, MultiHeadAttention, RevIN))
    assert sorted(zoo.layers.__all__) == zoo.layers.__all__
