"""Informer: distilling, stacked encoders, ProbSparse vs full attention, determinism, errors."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.layers.attention import FullAttention, MultiHeadAttention
from zoo.layers.probsparse import ProbSparseAttention
from zoo.models.informer import DistillingLayer

SMALL = {"d_model": 16, "n_heads": 2, "d_ff": 32, "dropout": 0.0}
DIMS = {"n_features": 3, "seq_len": 96, "pred_len": 24, "label_len": 48, "n_time_features": 4}


def _inputs(length: int = 96, batch: int = 2) -> tuple[torch.Tensor, ...]:
    return torch.randn(batch, length, 3), torch.rand(batch, length, 4) - 0.5, torch.rand(batch, 24, 4) - 0.5


@pytest.mark.parametrize("length, expected", [(96, 48), (7, 4), (1, 1), (48, 24)])
def test_distilling_halves_the_length(length: int, expected: int) -> None:
    layer = DistillingLayer(8).eval()
    assert layer(torch.randn(2, length, 8)).shape == (2, expected, 8)


def test_encoder_lengths_and_positions_with_distilling_and_stacks() -> None:
    net = zoo.create_model("informer", **DIMS, **SMALL, e_layers=3).eval()
    memory, positions = net.encode(*_inputs()[:2])
    assert memory.shape == (2, 24, 16) and positions.tolist() == list(range(0, 96, 4))
    stacked = zoo.create_model("informer", **DIMS, **SMALL, encoder_stack=[2, 1]).eval()
    memory, positions = stacked.encode(*_inputs()[:2])
    # encoder 0: all 96 steps, one distilling -> 48; encoder 1: the last 48 steps, no distilling -> 48
    assert memory.shape == (2, 96, 16)
    assert positions.tolist() == list(range(0, 96, 2)) + list(range(48, 96))
    plain = zoo.create_model("informer", **DIMS, **SMALL, distil=False).eval()
    assert plain.encode(*_inputs()[:2])[0].shape == (2, 96, 16)


def _kernels(net: torch.nn.Module) -> dict[str, type]:
    return {name: type(m.kernel) for name, m in net.named_modules() if isinstance(m, MultiHeadAttention)}


def test_attention_flag_selects_prob_or_full_self_attention() -> None:
    prob = _kernels(zoo.create_model("informer", **DIMS, **SMALL))
    assert prob["encoders.0.layers.0.self_attn"] is ProbSparseAttention
    assert prob["decoder.0.self_attn"] is ProbSparseAttention
    assert prob["decoder.0.cross_attn"] is FullAttention
    full = _kernels(zoo.create_model("informer", **DIMS, **SMALL, attention="full"))
    assert set(full.values()) == {FullAttention}


@pytest.mark.parametrize("position", ["sinusoidal", "rope", "alibi"])
def test_prob_equals_full_when_every_query_is_active(position: str) -> None:
    # With factor large enough, u = factor * ceil(ln L_Q) >= L_Q: every query is active and ProbSparse
    # attention is exactly full (causal in the decoder) attention.
    torch.manual_seed(0)
    prob = zoo.create_model("informer", **DIMS, **SMALL, position=position, factor=100).eval()
    full = zoo.create_model("informer", **DIMS, **SMALL, position=position, attention="full").eval()
    full.load_state_dict(prob.state_dict())
    inputs = _inputs()
    torch.testing.assert_close(prob(*inputs), full(*inputs), atol=1e-5, rtol=1e-5)


def test_eval_is_deterministic_and_training_samples_keys() -> None:
    net = zoo.create_model("informer", **DIMS, **SMALL).eval()
    inputs = _inputs()
    torch.manual_seed(1)
    first = net(*inputs)
    torch.manual_seed(2)
    torch.testing.assert_close(net(*inputs), first)
    net.train()
    torch.manual_seed(1)
    a = net(*inputs)
    torch.manual_seed(1)
    torch.testing.assert_close(net(*inputs), a)  # same global seed, same key sample
    torch.manual_seed(2)
    assert not torch.allclose(net(*inputs), a)


def test_runs_at_a_longer_lookback_with_relative_positions() -> None:
    net = zoo.create_model("informer", **DIMS, **SMALL, position="rope").eval()
    out = net(*_inputs(192))
    assert out.shape == (2, 24, 3) and torch.isfinite(out).all()


def test_probsparse_kernel_refuses_masks_and_misaligned_alibi() -> None:
    mha = MultiHeadAttention(16, 2, position="alibi", kernel=ProbSparseAttention())
    x = torch.randn(2, 30, 16)
    with pytest.raises(ValueError, match="does not support padding or attention masks"):
        mha(x, x, x, key_padding_mask=torch.zeros(2, 30, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs the same query and key positions"):
        mha(x, x, x, q_positions=torch.arange(5, 35))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attention": "sparse"}, "attention must be 'prob' or 'full'"),
        ({"encoder_stack": []}, "at least one layer"),
        ({"factor": 0}, "factor must be >= 1"),
    ],
)
def test_bad_configuration(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zoo.create_model("informer", **DIMS, **{**SMALL, **kwargs})


def test_paper_defaults() -> None:
    net = zoo.create_model("informer", **DIMS)
    layer = net.encoders[0].layers[0]
    assert (
        layer.self_attn.d_model == 512 and layer.self_attn.n_heads == 8 and layer.ffn.fc1.out_features == 2048
    )
    assert len(net.encoders[0].layers) == 2 and len(net.encoders[0].distil) == 1 and len(net.decoder) == 1
    assert layer.self_attn.kernel.factor == 5
