"""Position encodings against their definitions (Vaswani 2017, Su et al. 2021, Press et al. 2022)."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.layers.position import (
    LearnedPositionEmbedding,
    RotaryEmbedding,
    SinusoidalPositionEmbedding,
    alibi_bias,
    alibi_slopes,
    sinusoidal_table,
)


def test_sinusoidal_matches_the_formula_for_odd_and_even_widths() -> None:
    for d_model in (8, 7):
        table = sinusoidal_table(torch.arange(50), d_model)
        for t in (0, 3, 49):
            for i in range(d_model):
                angle = t / 10000 ** (2 * (i // 2) / d_model)
                expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
                assert table[t, i].item() == pytest.approx(expected, abs=1e-6)


def test_sinusoidal_has_no_length_limit_and_is_a_prefix_of_longer_tables() -> None:
    module = SinusoidalPositionEmbedding(16)
    short, long = module(torch.arange(96)), module(torch.arange(10_000))
    torch.testing.assert_close(long[:96], short)
    assert long.shape == (10_000, 16) and torch.isfinite(long).all()


def test_learned_positions_raise_beyond_their_table() -> None:
    module = LearnedPositionEmbedding(max_len=20, d_model=4)
    assert module(torch.arange(20)).shape == (20, 4)
    with pytest.raises(ValueError, match=r"learned positions cover \[0, 20\) but positions up to 25"):
        module(torch.arange(26))


def _rope_scores(rope: RotaryEmbedding, q: torch.Tensor, k: torch.Tensor, i: int, j: int) -> torch.Tensor:
    qi = rope(q[None], torch.tensor([i]))[0]
    kj = rope(k[None], torch.tensor([j]))[0]
    return (qi * kj).sum()


@pytest.mark.parametrize("head_dim", [2, 6, 16, 64])
def test_rope_score_depends_only_on_the_offset(head_dim: int) -> None:
    rope = RotaryEmbedding(head_dim).double()
    q, k = torch.randn(head_dim, dtype=torch.float64), torch.randn(head_dim, dtype=torch.float64)
    for i, j, shift in ((5, 2, 7), (0, 9, 100), (40, 40, 3), (3, 1000, 2000)):
        base = _rope_scores(rope, q, k, i, j)
        torch.testing.assert_close(_rope_scores(rope, q, k, i + shift, j + shift), base, atol=1e-5, rtol=1e-5)


def test_rope_preserves_norms_and_rotates_pairs_d_and_d_plus_half() -> None:
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 3, 50, 8)
    positions = torch.arange(50)
    rotated = rope(x, positions)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rotated[..., 0, :], x[..., 0, :])  # position 0 is the identity
    # one pair by hand: dimensions (1, 5) at position 7 rotate by 7 * 10000^(-2/8)
    angle = 7 * 10000 ** (-2 / 8)
    a, b = x[..., 7, 1], x[..., 7, 5]
    torch.testing.assert_close(
        rotated[..., 7, 1], a * math.cos(angle) - b * math.sin(angle), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        rotated[..., 7, 5], b * math.cos(angle) + a * math.sin(angle), atol=1e-5, rtol=0
    )


def test_rope_cache_is_fp32_grows_on_demand_and_matches_float64() -> None:
    rope = RotaryEmbedding(32, base=500.0)
    cos, sin = rope.cos_sin(torch.arange(10))
    assert cos.dtype == torch.float32 and rope.cos_cached.shape[0] == 16
    positions = torch.arange(3000)
    cos, sin = rope.cos_sin(positions)
    assert rope.cos_cached.shape[0] == 4096
    inv = 500.0 ** (-torch.arange(0, 32, 2, dtype=torch.float64) / 32)
    angles = positions.double()[:, None] * torch.cat([inv, inv])
    torch.testing.assert_close(cos.double(), angles.cos(), atol=1e-7, rtol=0)
    torch.testing.assert_close(sin.double(), angles.sin(), atol=1e-7, rtol=0)
    assert "cos_cached" not in rope.state_dict()


def test_rope_low_precision_inputs_rotate_in_fp32() -> None:
    rope = RotaryEmbedding(16)
    x = torch.randn(1, 2, 64, 16)
    positions = torch.arange(64)
    out = rope(x.to(torch.bfloat16), positions)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(
        out.float(), rope(x.to(torch.bfloat16).float(), positions), atol=1e-2, rtol=1e-2
    )


def test_rope_rejects_odd_head_dims() -> None:
    with pytest.raises(ValueError, match="head_dim must be even"):
        RotaryEmbedding(7)


def test_alibi_slopes_for_powers_of_two() -> None:
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    torch.testing.assert_close(alibi_slopes(4), torch.tensor([2.0 ** -(2 * (i + 1)) for i in range(4)]))


def test_alibi_slopes_interleave_for_other_head_counts() -> None:
    # 12 heads: the 8 slopes of the 8-head model, then the 1st, 3rd, 5th, 7th of the 16-head model
    # (2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5), which fall between the existing ones.
    expected = [2.0 ** -(i + 1) for i in range(8)] + [2.0 ** -(0.5 + i) for i in range(4)]
    torch.testing.assert_close(alibi_slopes(12), torch.tensor(expected))
    assert alibi_slopes(1).tolist() == [2.0**-8]
    assert len(alibi_slopes(6)) == 6 and len(set(alibi_slopes(6).tolist())) == 6


def test_alibi_bias_is_minus_slope_times_distance_and_causal_masks_the_future() -> None:
    slopes = alibi_slopes(4)
    q_pos, k_pos = torch.arange(3, 8), torch.arange(10)
    bias = alibi_bias(slopes, q_pos, k_pos)
    assert bias.shape == (4, 5, 10)
    for h in range(4):
        for a, i in enumerate(q_pos.tolist()):
            for b, j in enumerate(k_pos.tolist()):
                assert bias[h, a, b].item() == pytest.approx(-slopes[h].item() * abs(i - j))
    causal = alibi_bias(slopes, q_pos, k_pos, causal=True)
    future = k_pos[None, :] > q_pos[:, None]
    assert torch.isinf(causal[:, future]).all() and (causal[:, future] < 0).all()
    torch.testing.assert_close(causal[:, ~future], bias[:, ~future])
