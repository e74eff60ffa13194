"""``informer2020=True``: the three details of the authors' code (zhouhaoyi/Informer2020), each against a
written-out form of what that code does."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.layers.attention import MultiHeadAttention
from zoo.layers.embedding import DataEmbedding

SMALL = {"d_model": 16, "n_heads": 4, "d_ff": 32, "factor": 5}
DIMS = {"n_features": 3, "seq_len": 24, "pred_len": 6, "label_len": 12, "n_time_features": 4}


def _authors_attention_layer(
    layer: MultiHeadAttention, x: torch.Tensor, causal: bool, mix: bool
) -> torch.Tensor:
    """Informer2020's ``AttentionLayer`` around its ``FullAttention``, written out (``models/attn.py``):
    queries/keys/values viewed (B, L, H, E); scores einsum('blhe,bshe->bhls'); the triangular mask;
    softmax; V = einsum('bhls,bshd->blhd'); with mix, ``out.transpose(2, 1).contiguous()``; then
    ``out.view(B, L, -1)`` and the output projection."""
    batch, length, _ = x.shape
    heads = layer.n_heads
    q = layer.q_proj(x).view(batch, length, heads, -1)
    k = layer.k_proj(x).view(batch, length, heads, -1)
    v = layer.v_proj(x).view(batch, length, heads, -1)
    scores = torch.einsum("blhe,bshe->bhls", q, k)
    if causal:
        scores = scores.masked_fill(torch.ones(length, length, dtype=torch.bool).triu(1), -math.inf)
    weights = torch.softmax(scores / math.sqrt(q.shape[-1]), dim=-1)
    out = torch.einsum("bhls,bshd->blhd", weights, v).contiguous()
    if mix:
        out = out.transpose(2, 1).contiguous()
    return layer.out_proj(out.view(batch, length, -1))


@pytest.mark.parametrize("mix", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_head_merge_matches_the_authors_attention_layer(mix: bool, causal: bool) -> None:
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4, mix_heads=mix).double()
    x = torch.randn(2, 7, 16, dtype=torch.float64, requires_grad=True)
    out = layer(x, x, x, causal=causal)
    expected = _authors_attention_layer(layer, x, causal, mix)
    torch.testing.assert_close(out, expected)
    grad, expected_grad = (torch.autograd.grad(o.square().sum(), x)[0] for o in (out, expected))
    torch.testing.assert_close(grad, expected_grad)
    if mix:  # the reshape really mixes steps: it differs from the usual per-step merge
        usual = _authors_attention_layer(layer, x, causal, mix=False)
        assert not torch.allclose(out, usual)


def test_informer2020_has_embedding_biases_and_mixes_only_the_decoder_self_attention() -> None:
    plain = zoo.create_model("informer", **DIMS, **SMALL)
    authors = zoo.create_model("informer", **DIMS, **SMALL, informer2020=True)
    added = sorted(set(authors.state_dict()) - set(plain.state_dict()))
    assert added == [
        "dec_embedding.temporal.bias",
        "dec_embedding.value.conv.bias",
        "enc_embedding.temporal.bias",
        "enc_embedding.value.conv.bias",
    ]
    assert [layer.self_attn.mix_heads for layer in authors.decoder] == [True]
    assert not any(layer.cross_attn.mix_heads for layer in authors.decoder)
    assert not any(layer.self_attn.mix_heads for enc in authors.encoders for layer in enc.layers)
    assert not any(layer.self_attn.mix_heads for layer in plain.decoder)


def test_informer2020_numbers_the_decoder_embedding_from_zero() -> None:
    seen: dict[str, torch.Tensor] = {}

    def record(name: str):
        def hook(module: DataEmbedding, args: tuple) -> None:
            seen[name] = args[2]

        return hook

    for informer2020, start in ((False, DIMS["seq_len"] - DIMS["label_len"]), (True, 0)):
        net = zoo.create_model("informer", **DIMS, **SMALL, informer2020=informer2020).eval()
        net.dec_embedding.register_forward_pre_hook(record("decoder"))
        net.enc_embedding.register_forward_pre_hook(record("encoder"))
        net(torch.randn(2, 24, 3), torch.rand(2, 24, 4), torch.rand(2, 6, 4))
        steps = DIMS["label_len"] + DIMS["pred_len"]
        assert torch.equal(seen["decoder"], torch.arange(start, start + steps))
        assert torch.equal(seen["encoder"], torch.arange(24))


def test_informer2020_trains_a_step_in_every_position_encoding() -> None:
    for position in ("sinusoidal", "rope", "alibi"):
        torch.manual_seed(0)
        net = zoo.create_model("informer", **DIMS, **SMALL, informer2020=True, position=position)
        out = net(torch.randn(2, 24, 3), torch.rand(2, 24, 4), torch.rand(2, 6, 4))
        out.square().mean().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
