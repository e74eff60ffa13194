"""Adaptive conformal inference (Gibbs & Candès 2021) over a rolling backtest: split conformal at rate 0,
nominal coverage under a shift that breaks split conformal, and no look at a window's truth before it is
past."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoo.inference.conformal import adaptive_conformal, interval_scores


def _windows(count: int, sigma: float, steps: int = 4, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Point forecasts 0, truths N(0, sigma^2), scale 1: (count, steps, 1) each, and the (count, 1) scale."""
    rng = np.random.default_rng(seed)
    truth = sigma * rng.standard_normal((count, steps, 1))
    point = np.zeros_like(truth)
    return point, truth, np.ones((count, 1))


def _coverage(result, truth: np.ndarray) -> float:
    return float(((truth >= result.lower) & (truth <= result.upper)).mean())


def test_rate_zero_is_split_conformal_on_the_scores() -> None:
    point, truth, scale = _windows(50, 1.0)
    cal_point, cal_truth, cal_scale = _windows(99, 1.0, seed=1)
    scores = interval_scores(cal_point, cal_point, cal_truth, cal_scale)
    np.testing.assert_allclose(scores, np.abs(cal_truth))
    result = adaptive_conformal(point, point, scale, truth, scores, 0.8, np.arange(50), 4, rate=0.0)
    rank = math.ceil(100 * 0.8)  # the 80th smallest of 99 scores, per step
    expected = np.sort(np.abs(cal_truth), axis=0)[rank - 1]
    np.testing.assert_allclose(result.upper, np.broadcast_to(expected, truth.shape))
    np.testing.assert_allclose(result.lower, -result.upper)
    np.testing.assert_allclose(result.alphas, 0.2)


def test_a_shift_in_spread_is_caught_up_with() -> None:
    cal_point, cal_truth, cal_scale = _windows(500, 1.0, seed=1)
    scores = interval_scores(cal_point, cal_point, cal_truth, cal_scale)
    point, truth, scale = _windows(3000, 2.0)  # the test months twice as volatile as calibration
    origins = np.arange(3000)
    split = adaptive_conformal(point, point, scale, truth, scores, 0.8, origins, 4, rate=0.0)
    adaptive = adaptive_conformal(point, point, scale, truth, scores, 0.8, origins, 4, rate=0.005)
    assert _coverage(split, truth) < 0.55  # P(|z| < 1.28 / 2) = 0.48
    assert abs(_coverage(adaptive, truth) - 0.8) < 0.03
    calm_point, calm_truth, calm_scale = _windows(3000, 1.0, seed=2)  # no shift: stays at the nominal level
    calm = adaptive_conformal(calm_point, calm_point, calm_scale, calm_truth, scores, 0.8, origins, 4)
    assert abs(_coverage(calm, calm_truth) - 0.8) < 0.02


def test_a_window_is_judged_only_once_its_truth_is_past() -> None:
    cal_point, cal_truth, cal_scale = _windows(200, 1.0, seed=1)
    scores = interval_scores(cal_point, cal_point, cal_truth, cal_scale)
    point, truth, scale = _windows(40, 1.0)
    origins = np.arange(40) * 2  # two rows apart, four-row horizons: the two windows before are not past
    before = adaptive_conformal(point, point, scale, truth, scores, 0.8, origins, 4, rate=0.05)
    changed = truth.copy()
    changed[18:20] = 100.0  # windows 18 and 19 miss everything
    after = adaptive_conformal(point, point, scale, changed, scores, 0.8, origins, 4, rate=0.05)
    # window 18 (rows 36..39) is past at window 20 (origin 40), not before
    np.testing.assert_array_equal(after.alphas[:20], before.alphas[:20])
    assert after.alphas[20, 0] < before.alphas[20, 0] and after.alphas[21, 0] < after.alphas[20, 0]
    assert (after.upper[21] > before.upper[21]).all()  # misses widen the next intervals


def test_adaptive_conformal_errors() -> None:
    point, truth, scale = _windows(5, 1.0)
    scores = np.abs(truth)
    with pytest.raises(ValueError, match=r"coverage must lie in \(0, 1\), got 80"):
        adaptive_conformal(point, point, scale, truth, scores, 80, np.arange(5), 4)
    with pytest.raises(ValueError, match="rate must be >= 0"):
        adaptive_conformal(point, point, scale, truth, scores, 0.8, np.arange(5), 4, rate=-0.1)
    with pytest.raises(ValueError, match="increasing origin order"):
        adaptive_conformal(point, point, scale, truth, scores, 0.8, np.arange(5)[::-1], 4)
