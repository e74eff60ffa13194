"""MultiHeadAttention against a naive float64 softmax(Q K^T / sqrt(D) + bias) V, for every position type."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.layers.attention import AttentionKernel, FullAttention, MultiHeadAttention
from zoo.layers.position import POSITION_TYPES, alibi_slopes, rotate_half

D_MODEL, HEADS = 16, 4


def _naive(
    mha: MultiHeadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    q_pos: torch.Tensor,
    k_pos: torch.Tensor,
    causal: bool,
    allowed: torch.Tensor | None,
) -> torch.Tensor:
    """A literal float64 transcription: projections, rotation by hand, explicit bias, softmax, output."""
    batch, l_q, l_k, dh = query.shape[0], query.shape[1], key.shape[1], D_MODEL // HEADS

    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.view(batch, -1, HEADS, dh).transpose(1, 2)

    q, k, v = heads(mha.q_proj(query)), heads(mha.k_proj(key)), heads(mha.v_proj(key))
    if mha.position == "rope":
        inv = 10000.0 ** (-torch.arange(0, dh, 2, dtype=torch.float64) / dh)

        def rotate(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            ang = pos.double()[:, None] * torch.cat([inv, inv])
            return x * ang.cos() + rotate_half(x) * ang.sin()

        q, k = rotate(q, q_pos), rotate(k, k_pos)
    scores = q @ k.transpose(-1, -2) / math.sqrt(dh)  # (B, H, L_Q, L_K)
    if mha.position == "alibi":
        m = alibi_slopes(HEADS).double()
        scores = scores - m[:, None, None] * (q_pos[:, None] - k_pos[None, :]).abs().double()
    ok = torch.ones(batch, 1, l_q, l_k, dtype=torch.bool)
    if causal:
        ok = ok & (k_pos[None, :] <= q_pos[:, None])
    if allowed is not None:
        ok = ok & allowed
    scores = scores.masked_fill(~ok, float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # rows without keys -> zeros
    out = (weights @ v).transpose(1, 2).reshape(batch, l_q, D_MODEL)
    return mha.out_proj(out)


def _module(position: str) -> MultiHeadAttention:
    torch.manual_seed(3)
    return MultiHeadAttention(D_MODEL, HEADS, position=position).double().eval()


@pytest.mark.parametrize("position", POSITION_TYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_naive(position: str, causal: bool) -> None:
    mha = _module(position)
    x = torch.randn(2, 9, D_MODEL, dtype=torch.float64)
    pos = torch.arange(9)
    out = mha(x, x, x, causal=causal)
    torch.testing.assert_close(out, _naive(mha, x, x, pos, pos, causal, None))


@pytest.mark.parametrize("position", POSITION_TYPES)
def test_cross_attention_with_separate_positions_and_masks(position: str) -> None:
    mha = _module(position)
    query, memory = (
        torch.randn(3, 5, D_MODEL, dtype=torch.float64),
        torch.randn(3, 11, D_MODEL, dtype=torch.float64),
    )
    q_pos, k_pos = torch.arange(8, 13), torch.arange(11)
    padding = torch.zeros(3, 11, dtype=torch.bool)
    padding[1, 7:] = True
    padding[2, :] = True  # a sample with no valid key at all: zeros, not NaN
    attn_mask = torch.zeros(5, 11, dtype=torch.bool)
    attn_mask[0, :4] = True
    out = mha(
        query,
        memory,
        memory,
        q_positions=q_pos,
        k_positions=k_pos,
        key_padding_mask=padding,
        attn_mask=attn_mask,
    )
    allowed = (~padding[:, None, None, :]) & (~attn_mask)
    expected = _naive(mha, query, memory, q_pos, k_pos, False, allowed)
    torch.testing.assert_close(out, expected)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("position", ["rope", "alibi"])
def test_causal_cross_positions_and_float_masks(position: str) -> None:
    mha = _module(position)
    x = torch.randn(2, 6, D_MODEL, dtype=torch.float64)
    q_pos, k_pos = torch.arange(4, 10), torch.arange(2, 8)  # the last keys lie in some queries' future
    float_mask = torch.randn(2, 6, 6, dtype=torch.float64)
    out = mha(x, x, x, q_positions=q_pos, k_positions=k_pos, causal=True, attn_mask=float_mask)
    # the float mask adds to the scores: an explicit-softmax kernel in the same layer gives the reference
    ref = _naive_with_additive(_module(position), x, q_pos, k_pos, float_mask)
    torch.testing.assert_close(out, ref)


def _naive_with_additive(
    mha: MultiHeadAttention, x: torch.Tensor, q_pos: torch.Tensor, k_pos: torch.Tensor, additive: torch.Tensor
) -> torch.Tensor:
    class AddMask(FullAttention):
        def forward(self, q, k, v, *, scale, causal, mask, alibi_slopes, q_positions, k_positions, dropout_p):
            scores = q @ k.transpose(-1, -2) * scale + mask
            if alibi_slopes is not None:
                scores = (
                    scores
                    - alibi_slopes.double()[:, None, None]
                    * (q_positions[:, None] - k_positions[None, :]).abs().double()
                )
            scores = scores.masked_fill(k_positions[None, :] > q_positions[:, None], float("-inf"))
            return torch.softmax(scores, dim=-1) @ v

    mha.kernel = AddMask()
    return mha(x, x, x, q_positions=q_pos, k_positions=k_pos, causal=True, attn_mask=additive)


def test_gradients_match_naive_in_float64() -> None:
    mha = _module("alibi")
    x = torch.randn(2, 7, D_MODEL, dtype=torch.float64, requires_grad=True)
    pos = torch.arange(7)
    (mha(x, x, x, causal=True) ** 2).sum().backward()
    grad = x.grad.clone()
    x.grad = None
    (_naive(mha, x, x, pos, pos, True, None) ** 2).sum().backward()
    torch.testing.assert_close(grad, x.grad)


def test_dropout_acts_on_attention_weights_in_training_only() -> None:
    mha = MultiHeadAttention(D_MODEL, HEADS, dropout=0.5)
    x = torch.randn(2, 8, D_MODEL)
    mha.eval()
    torch.testing.assert_close(mha(x, x, x), mha(x, x, x))
    mha.train()
    torch.manual_seed(0)
    first = mha(x, x, x)
    torch.manual_seed(1)
    assert not torch.allclose(first, mha(x, x, x))


def test_kernel_slot_receives_heads_and_structure() -> None:
    seen: dict[str, object] = {}

    class Recording(AttentionKernel):
        def forward(self, q, k, v, *, scale, causal, mask, alibi_slopes, q_positions, k_positions, dropout_p):
            seen.update(shape=tuple(q.shape), causal=causal, slopes=alibi_slopes, scale=scale, mask=mask)
            return torch.zeros_like(q)

    mha = MultiHeadAttention(D_MODEL, HEADS, position="alibi", kernel=Recording())
    x = torch.randn(2, 5, D_MODEL)
    out = mha(x, x, x, causal=True)
    assert (
        seen["shape"] == (2, HEADS, 5, D_MODEL // HEADS) and seen["causal"] is True and seen["mask"] is None
    )
    torch.testing.assert_close(seen["slopes"], alibi_slopes(HEADS))
    assert seen["scale"] == pytest.approx(1 / math.sqrt(D_MODEL // HEADS))
    torch.testing.assert_close(out, mha.out_proj(torch.zeros(2, 5, D_MODEL)))


def test_projection_names_and_no_position_state() -> None:
    mha = MultiHeadAttention(D_MODEL, HEADS, position="rope")
    names = {name for name, _ in mha.named_children()}
    assert {"q_proj", "k_proj", "v_proj", "out_proj"} <= names
    assert all(
        isinstance(getattr(mha, n), torch.nn.Linear) for n in ("q_proj", "k_proj", "v_proj", "out_proj")
    )
    assert set(mha.state_dict()) == {
        f"{n}.{p}" for n in ("q_proj", "k_proj", "v_proj", "out_proj") for p in ("weight", "bias")
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 10, "n_heads": 4}, "must divide d_model"),
        ({"d_model": 16, "n_heads": 4, "position": "relative"}, "position must be one of"),
        ({"d_model": 16, "n_heads": 4, "dropout": 1.0}, "dropout must lie"),
    ],
)
def test_bad_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(**kwargs)


def test_bad_shapes_are_clear_errors() -> None:
    mha = MultiHeadAttention(D_MODEL, HEADS)
    x = torch.randn(2, 5, D_MODEL)
    with pytest.raises(ValueError, match=r"expected query of shape \(B, L_Q, 16\)"):
        mha(torch.randn(2, 5, 8), x, x)
    with pytest.raises(ValueError, match="key_padding_mask must be a bool tensor of shape"):
        mha(x, x, x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="positions must be"):
        mha(x, x, x, q_positions=torch.arange(4))
