"""``use_time_features`` means the same in every forecaster that has it (``zoo.models.base``)."""

from __future__ import annotations

import inspect

import pytest
import torch

import zoo
from zoo.registry import get_model_entry

DIMS = {"n_features": 3, "seq_len": 24, "pred_len": 7, "label_len": 12, "n_time_features": 4}
SMALL = {  # keeps the attention models fast; every other argument is the model's default
    "transformer": {"d_model": 16, "n_heads": 2, "d_ff": 32},
    "informer": {"d_model": 16, "n_heads": 2, "d_ff": 32},
    "lstm": {"hidden_size": 8},
    "gru": {"hidden_size": 8},
    "tcn": {"hidden_channels": 8},
}
WITH_TIME_FEATURES = [  # patch tokens (patchtst) read values only: tests/models/test_transformer_tokens.py
    name
    for name in zoo.list_models()
    if "use_time_features" in inspect.signature(get_model_entry(name).builder).parameters
    and get_model_entry(name).defaults.get("tokens") != "patches"
]


def _build(name: str, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return zoo.create_model(name, **{**DIMS, **SMALL.get(name, {}), **kwargs}).eval()


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(2, DIMS["seq_len"], DIMS["n_features"], generator=g),
        torch.rand(2, DIMS["seq_len"], DIMS["n_time_features"], generator=g) - 0.5,
        torch.rand(2, DIMS["pred_len"], DIMS["n_time_features"], generator=g) - 0.5,
    )


def test_the_forecasters_with_time_features_are_found() -> None:
    assert {"lstm", "gru", "tcn", "transformer", "informer"} <= set(WITH_TIME_FEATURES)


@pytest.mark.parametrize("name", WITH_TIME_FEATURES)
def test_true_without_marks_is_the_same_clear_error(name: str) -> None:
    net = _build(name, use_time_features=True)
    x, x_mark, y_mark = _inputs()
    builder = type(net).__name__
    with pytest.raises(
        ValueError,
        match=rf"^{builder} reads time features \(use_time_features, "
        r"n_time_features=4\): pass x_mark",
    ):
        net(x)
    assert net(x, x_mark, y_mark).shape == (2, DIMS["pred_len"], DIMS["n_features"])


@pytest.mark.parametrize("name", WITH_TIME_FEATURES)
def test_true_needs_time_features_in_the_data(name: str) -> None:
    with pytest.raises(ValueError, match=r"use_time_features=True needs n_time_features > 0"):
        _build(name, use_time_features=True, n_time_features=0)


@pytest.mark.parametrize("name", WITH_TIME_FEATURES)
def test_false_ignores_the_marks(name: str) -> None:
    net = _build(name, use_time_features=False)
    x, x_mark, y_mark = _inputs()
    out = net(x)
    torch.testing.assert_close(net(x, x_mark, y_mark), out)
    torch.testing.assert_close(net(x, x_mark + 0.3, y_mark - 0.3), out)


@pytest.mark.parametrize("name", WITH_TIME_FEATURES)
def test_none_reads_the_marks_when_the_data_has_them(name: str) -> None:
    x, x_mark, y_mark = _inputs()
    assert _build(name, use_time_features=None, n_time_features=0)(x).shape == (2, DIMS["pred_len"], 3)
    net = _build(name, use_time_features=None)
    assert net.use_time_features
    with pytest.raises(ValueError, match="pass x_mark"):
        net(x)
    assert not torch.allclose(net(x, x_mark + 0.3, y_mark + 0.3), net(x, x_mark, y_mark))


@pytest.mark.parametrize("name", WITH_TIME_FEATURES)
def test_the_default_is_false_or_none(name: str) -> None:
    """Defaults differ by family, on purpose: the attention models default to None (read the data's time
    features, as Informer and TSLib do), the RNN/TCN baselines to False (their shipped configs and
    checkpoints were trained without them)."""
    default = inspect.signature(get_model_entry(name).builder).parameters["use_time_features"].default
    assert default is (None if name in ("transformer", "informer", "itransformer") else False)
