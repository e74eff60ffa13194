"""Generic checks every registered forecaster gets for free (DESIGN.md section 2)."""

from __future__ import annotations

import inspect

import pytest
import torch

import zoo
from zoo.layers.position import POSITION_TYPES
from zoo.models.base import Forecaster
from zoo.registry import get_model_entry, register_model

FORECASTERS = zoo.list_models(task="forecasting")
# Every attention model once per position encoding, small enough to stay fast.
ATTENTION_SIZES = {"d_model": 16, "n_heads": 2, "d_ff": 32}


def _positions_of(name: str) -> tuple[str, ...]:
    """The position encodings a model takes: every one, except "none" only for variate tokens."""
    return ("none",) if get_model_entry(name).defaults.get("tokens") == "variates" else POSITION_TYPES


VARIANTS = [pytest.param(name, {}, id=name) for name in FORECASTERS] + [
    pytest.param(name, {**ATTENTION_SIZES, "position": position}, id=f"{name}-{position}")
    for name in FORECASTERS
    if "position" in get_model_entry(name).parameters()
    for position in _positions_of(name)
]
DIMS = {"n_features": 3, "seq_len": 24, "pred_len": 7, "n_targets": 3, "label_len": 12, "n_time_features": 4}


def _batch(batch: int = 2) -> dict[str, torch.Tensor]:
    return {
        "x": torch.randn(batch, DIMS["seq_len"], DIMS["n_features"]),
        "x_mark": torch.rand(batch, DIMS["seq_len"], DIMS["n_time_features"]) - 0.5,
        "y_mark": torch.rand(batch, DIMS["pred_len"], DIMS["n_time_features"]) - 0.5,
    }


def test_expected_models_registered() -> None:
    expected = {"naive", "lstm", "gru", "tcn", "transformer", "patchtst", "itransformer"}
    assert expected | {"linear", "dlinear", "nlinear", "rlinear"} <= set(zoo.list_models())
    assert zoo.list_models("l*") == ["linear", "lstm"]
    assert zoo.list_models("*linear") == ["dlinear", "linear", "nlinear", "rlinear"]


@pytest.mark.parametrize("name", FORECASTERS)
def test_constructor_takes_the_linked_dims_and_no_kwargs(name: str) -> None:
    params = get_model_entry(name).parameters()
    assert set(DIMS) <= set(params)
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())


@pytest.mark.parametrize("name, extra", VARIANTS)
def test_forward_shape_finite_and_gradients(name: str, extra: dict) -> None:
    net = zoo.create_model(name, **DIMS, **extra)
    assert isinstance(net, Forecaster)
    batch = _batch()
    out = net(batch["x"], batch["x_mark"], batch["y_mark"])
    assert out.shape == (2, DIMS["pred_len"], DIMS["n_targets"])
    assert torch.isfinite(out).all()
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        return  # parameter-free (naive)
    out.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: parameters without a finite gradient: {missing}"


@pytest.mark.parametrize("name, extra", VARIANTS)
def test_state_dict_round_trip_and_rebuild(name: str, extra: dict) -> None:
    torch.manual_seed(1)
    net = zoo.create_model(name, **DIMS, **extra).eval()
    torch.manual_seed(2)
    rebuilt = zoo.create_model(name, **DIMS, **extra).eval()
    rebuilt.load_state_dict(net.state_dict())
    batch = _batch()
    torch.testing.assert_close(rebuilt(**batch), net(**batch))


@pytest.mark.parametrize("name", FORECASTERS)
def test_targets_are_last_channels_for_ms(name: str) -> None:
    net = zoo.create_model(name, **{**DIMS, "n_targets": 1})
    assert net(**_batch()).shape == (2, DIMS["pred_len"], 1)


@pytest.mark.parametrize("name", FORECASTERS)
def test_wrong_input_shape_is_a_clear_error(name: str) -> None:
    net = zoo.create_model(name, **DIMS)
    with pytest.raises(ValueError, match=r"expected x of shape \(B, L, 3\)"):
        net(torch.randn(2, DIMS["seq_len"], 5))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"seq_len": 0}, "seq_len must be positive"), ({"n_targets": 9}, "exceeds n_features")],
)
def test_bad_dims(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zoo.create_model("naive", **{**DIMS, **kwargs})


@pytest.mark.parametrize("mode", ["direct", "seq2seq"])
@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("channel_independent", [False, True])
def test_rnn_modes_use_time_features(name: str, mode: str, channel_independent: bool) -> None:
    net = zoo.create_model(
        name,
        **DIMS,
        mode=mode,
        use_time_features=True,
        hidden_size=8,
        channel_independent=channel_independent,
    )
    batch = _batch()
    out = net(**batch)
    assert out.shape == (2, DIMS["pred_len"], DIMS["n_targets"])
    changed = batch["y_mark"] + 0.3
    moved = net(batch["x"], batch["x_mark"], changed)
    # only the decoder reads future time features
    assert (not torch.allclose(moved, out)) == (mode == "seq2seq")
    with pytest.raises(ValueError, match="pass x_mark"):
        net(batch["x"])


def test_channel_independent_shares_weights_across_channels() -> None:
    net = zoo.create_model(
        "gru", **{**DIMS, "n_time_features": 0}, hidden_size=8, channel_independent=True
    ).eval()
    x = torch.randn(1, DIMS["seq_len"], 3)
    out = net(x)
    swapped = net(x[..., [1, 0, 2]])
    torch.testing.assert_close(swapped[..., [1, 0, 2]], out)


def test_naive_repeats_last_value() -> None:
    net = zoo.create_model("naive", **{**DIMS, "n_targets": 2})
    x = torch.randn(2, DIMS["seq_len"], 3)
    out = net(x)
    torch.testing.assert_close(out, x[:, -1:, 1:].expand(-1, DIMS["pred_len"], -1))


def test_registry_errors() -> None:
    with pytest.raises(KeyError, match="Did you mean 'lstm'"):
        zoo.create_model("lstmm", **DIMS)
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) \['hiden_size'\]"):
        zoo.create_model("lstm", **DIMS, hiden_size=3)
    with pytest.raises(ValueError, match=r"'lstm' names an architecture.*pretrained variants: lstm.etth1"):
        zoo.create_model("lstm", pretrained=True, **DIMS)
    with pytest.raises(
        ValueError, match=r"'naive' names an architecture.*no pretrained weights are published"
    ):
        zoo.create_model("naive", pretrained=True, **DIMS)

    def builder(n: int, **kwargs: int) -> torch.nn.Module:
        return torch.nn.Linear(n, n)

    with pytest.raises(TypeError, match=r"\*\*kwargs"):
        register_model("bad_builder")(builder)
    with pytest.raises(ValueError, match="already registered"):
        register_model("lstm")(torch.nn.Linear)
