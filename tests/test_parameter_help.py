"""Every constructor parameter the CLI exposes has a --help text (DESIGN.md section 7: one argument per line
under ``Args:``, which jsonargparse reads through docstring-parser).

The parsers are built as LightningCLI builds them (``add_class_arguments``), for every registered model's
builder, both data modules, both tasks and ``LoraConfig``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import docstring_parser  # without it jsonargparse shows no help at all: fail, never skip
import pytest
from jsonargparse import ArgumentParser

import zoo
from zoo.adapters import LoraConfig
from zoo.data import ImageDataModule, TimeSeriesDataModule
from zoo.models.base import SHARED_ARGUMENT_DOCS, Forecaster
from zoo.registry import get_model_entry
from zoo.tasks import ForecastingTask, GenerativeTask, OptimizerConfig

DATA_DIMENSIONS = ("n_features", "seq_len", "pred_len", "n_targets", "label_len", "n_time_features")
SHARED = (
    *DATA_DIMENSIONS,
    "revin",
    "revin_affine",
    "distribution",
    "quantiles",
    "future_effect",
)  # on Forecaster


def _builders() -> list[Callable]:
    seen: list[Callable] = []
    for name in zoo.list_models():
        builder = get_model_entry(name).builder
        if builder not in seen:
            seen.append(builder)
    return seen


BUILDERS = _builders()
TARGETS = [
    *[pytest.param(b, id=b.__name__) for b in BUILDERS],
    pytest.param(TimeSeriesDataModule, id="TimeSeriesDataModule"),
    pytest.param(ImageDataModule, id="ImageDataModule"),
    pytest.param(LoraConfig, id="LoraConfig"),
    pytest.param(ForecastingTask, id="ForecastingTask"),
    pytest.param(GenerativeTask, id="GenerativeTask"),
    pytest.param(OptimizerConfig, id="OptimizerConfig"),
]


def parameter_help(component: Callable) -> dict[str, str | None]:
    """The --help text of each constructor (or function) parameter, from a parser built as the CLI builds it."""
    parser = ArgumentParser(exit_on_error=False)
    if inspect.isclass(component):
        parser.add_class_arguments(component, "x", fail_untyped=False, sub_configs=True)
    else:
        parser.add_function_arguments(component, "x", fail_untyped=False, sub_configs=True)
    helps = {action.dest[2:]: action.help for action in parser._actions if action.dest.startswith("x.")}
    names = [
        name
        for name, p in inspect.signature(component).parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return {name: helps.get(name) for name in names}


def test_docstring_parser_is_installed() -> None:
    from jsonargparse._optionals import docstring_parser_support

    assert docstring_parser_support, "jsonargparse cannot import docstring_parser: --help would show no text"


@pytest.mark.parametrize("component", TARGETS)
def test_every_parameter_has_help(component: Callable) -> None:
    helps = parameter_help(component)
    missing = [name for name, text in helps.items() if not (text and text.strip())]
    assert not missing, (
        f"{component.__qualname__}: {len(missing)} of {len(helps)} parameters have no --help "
        f"text (document each on its own line under 'Args:'): {missing}"
    )


def test_the_registry_has_forecasters_and_generative_models() -> None:
    assert any(inspect.isclass(b) and issubclass(b, Forecaster) for b in BUILDERS)
    assert len(BUILDERS) >= 8


FORECASTERS = [b for b in BUILDERS if inspect.isclass(b) and issubclass(b, Forecaster)]


@pytest.mark.parametrize("forecaster", FORECASTERS, ids=lambda b: b.__name__)
def test_forecasters_get_the_data_dimension_help_from_forecaster(forecaster: type[Forecaster]) -> None:
    """The six dimensions and the shared options (RevIN, distribution head, future effect) are described once (``Forecaster``) and reach every subclass's
    own docstring, so the help does not depend on jsonargparse reading base classes' docstrings."""
    assert set(SHARED_ARGUMENT_DOCS) == set(SHARED)
    expected = {
        name: " ".join(line.strip() for line in SHARED_ARGUMENT_DOCS[name]).split(": ", 1)[1]
        for name in SHARED
    }
    helps = parameter_help(forecaster)
    for name in SHARED:
        assert " ".join((helps[name] or "").split()) == expected[name], name
    own = docstring_parser.parse(forecaster.__doc__ or "", style=docstring_parser.DocstringStyle.GOOGLE)
    assert DATA_DIMENSIONS == tuple(p.arg_name for p in own.params)[:6]


def test_a_subclass_keeps_its_own_description_and_gains_only_what_it_lacks() -> None:
    class Documented(Forecaster):
        """A test forecaster.

        Args:
            seq_len: my own words.
            width: a parameter of its own.
        """

        def __init__(self, n_features: int, seq_len: int, pred_len: int, width: int = 3) -> None:
            super().__init__(n_features, seq_len, pred_len)

    class Undocumented(Forecaster):
        def __init__(self, n_features: int, seq_len: int, pred_len: int) -> None:
            super().__init__(n_features, seq_len, pred_len)

    documented = docstring_parser.parse(Documented.__doc__, style=docstring_parser.DocstringStyle.GOOGLE)
    assert {p.arg_name: " ".join(p.description.split()) for p in documented.params} == {
        "n_features": " ".join(line.strip() for line in SHARED_ARGUMENT_DOCS["n_features"]).split(": ", 1)[1],
        "pred_len": "P, the horizon: the forecast is (B, P, C_out).",
        "seq_len": "my own words.",
        "width": "a parameter of its own.",
    }
    undocumented = docstring_parser.parse(Undocumented.__doc__, style=docstring_parser.DocstringStyle.GOOGLE)
    assert [p.arg_name for p in undocumented.params] == ["n_features", "seq_len", "pred_len"]
