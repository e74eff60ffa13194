"""Transformer forecaster: length extrapolation per position type, decoder causality, variants, errors."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.layers.position import POSITION_TYPES

SMALL = {"d_model": 16, "n_heads": 4, "d_ff": 32, "e_layers": 2, "d_layers": 1, "dropout": 0.0}
DIMS = {"n_features": 3, "seq_len": 96, "pred_len": 24, "label_len": 48, "n_time_features": 4}


def _inputs(length: int, pred_len: int = 24, batch: int = 2) -> tuple[torch.Tensor, ...]:
    return (
        torch.randn(batch, length, 3),
        torch.rand(batch, length, 4) - 0.5,
        torch.rand(batch, pred_len, 4) - 0.5,
    )


@pytest.mark.parametrize("position", ["rope", "alibi", "sinusoidal", "none"])
def test_built_at_96_runs_at_192(position: str) -> None:
    net = zoo.create_model("transformer", **DIMS, **SMALL, position=position).eval()
    out = net(*_inputs(192))
    assert out.shape == (2, 24, 3) and torch.isfinite(out).all()


def test_learned_positions_refuse_longer_inputs_clearly() -> None:
    net = zoo.create_model("transformer", **DIMS, **SMALL, position="learned").eval()
    assert net(*_inputs(96)).shape == (2, 24, 3)
    with pytest.raises(ValueError, match=r"learned positions cover \[0, 120\)"):
        net(*_inputs(192))


@pytest.mark.parametrize("position", POSITION_TYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_is_causal_over_the_horizon(position: str, norm_first: bool) -> None:
    # Decoder step t sees decoder inputs <= t only: changing the time features of the last future step
    # may change the last forecast step and nothing before it.
    torch.manual_seed(0)
    net = zoo.create_model("transformer", **DIMS, **SMALL, position=position, norm_first=norm_first).eval()
    x, x_mark, y_mark = _inputs(96)
    out = net(x, x_mark, y_mark)
    moved = y_mark.clone()
    moved[:, -1] += 1.0
    changed = net(x, x_mark, moved)
    torch.testing.assert_close(changed[:, :-1], out[:, :-1])
    assert not torch.allclose(changed[:, -1], out[:, -1])


def test_start_token_is_the_last_label_len_steps() -> None:
    # Only the encoder reads x before the start token: with one layer of each, the output depends on the
    # start token through the decoder too, so perturbing one start-token step changes the forecast more
    # than a step the decoder never copies would through the encoder alone. Check the decoder input.
    net = zoo.create_model("transformer", **DIMS, **SMALL).eval()
    seen: dict[str, torch.Tensor] = {}
    net.dec_embedding.register_forward_pre_hook(lambda _m, args: seen.update(x=args[0], mark=args[1]))
    x, x_mark, y_mark = _inputs(96)
    net(x, x_mark, y_mark)
    torch.testing.assert_close(seen["x"][:, :48], x[:, -48:])
    assert (seen["x"][:, 48:] == 0).all()
    torch.testing.assert_close(seen["mark"], torch.cat([x_mark[:, -48:], y_mark], dim=1))


def test_encoder_only_head_and_its_length_limit() -> None:
    net = zoo.create_model("transformer", **DIMS, **SMALL, architecture="encoder_only").eval()
    assert not hasattr(net, "decoder")
    assert net(*_inputs(96)).shape == (2, 24, 3)
    with pytest.raises(ValueError, match="maps exactly seq_len=96 steps, got x with L=192"):
        net(*_inputs(192))


def test_without_time_features_marks_are_optional() -> None:
    net = zoo.create_model("transformer", **{**DIMS, "n_time_features": 0}, **SMALL).eval()
    assert net(torch.randn(2, 96, 3)).shape == (2, 24, 3)
    marked = zoo.create_model("transformer", **DIMS, **SMALL)
    with pytest.raises(ValueError, match="pass x_mark and y_mark"):
        marked(torch.randn(2, 96, 3))


def test_label_len_zero_decodes_from_zeros_only() -> None:
    net = zoo.create_model("transformer", **{**DIMS, "label_len": 0}, **SMALL).eval()
    assert net(*_inputs(96)).shape == (2, 24, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"position": "relative"}, "position must be one of"),
        ({"architecture": "decoder_only"}, "architecture must be"),
        ({"d_layers": 0}, "d_layers >= 1"),
        ({"d_model": 18}, "must divide d_model"),
    ],
)
def test_bad_configuration(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zoo.create_model("transformer", **DIMS, **{**SMALL, **kwargs})


def test_reference_defaults() -> None:
    net = zoo.create_model("transformer", **DIMS)
    assert (
        net.enc_embedding.value.conv.out_channels == 512 and len(net.encoder) == 2 and len(net.decoder) == 1
    )
    attn = net.encoder[0].self_attn
    assert attn.n_heads == 8 and net.encoder[0].ffn.fc1.out_features == 2048


def test_highway_adds_the_linear_map_of_the_targets() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("transformer", **{**DIMS, "n_targets": 2}, **SMALL, highway=True).eval()
    x, x_mark, y_mark = _inputs(96)
    out = net(x, x_mark, y_mark)
    highway = net.highway
    net.highway = None
    expected = net(x, x_mark, y_mark) + torch.nn.functional.linear(
        x[..., 1:].transpose(1, 2), highway.weight, highway.bias
    ).transpose(1, 2)
    torch.testing.assert_close(out, expected)
