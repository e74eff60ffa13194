"""Gumbel-Softmax / binary Concrete samplers and the temperature schedule against their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.layers.gumbel import TemperatureSchedule, binary_concrete_sample, gumbel_softmax_sample


def _chi_square_p(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Upper-tail p-value of Pearson's chi-square statistic (Wilson-Hilferty normal approximation)."""
    n = counts.sum()
    expected = n * probs
    stat = float(((counts - expected) ** 2 / expected).sum())
    dof = len(probs) - 1
    z = ((stat / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0, 5.0])
def test_relaxed_samples_lie_on_the_simplex(temperature):
    torch.manual_seed(0)
    logits = torch.randn(7, 3, 10) * 3
    z = gumbel_softmax_sample(logits, temperature, sample_shape=(4,))
    assert z.shape == (4, 7, 3, 10)
    assert (z >= 0).all() and (z <= 1).all()
    torch.testing.assert_close(z.sum(-1), torch.ones(4, 7, 3))


def test_low_temperature_argmax_frequencies_match_softmax():
    torch.manual_seed(1)
    logits = torch.tensor([1.5, 0.2, -0.7, 0.9, -2.0])
    z = gumbel_softmax_sample(logits, 1e-3, sample_shape=(20000,))
    # At tau -> 0 the relaxed sample collapses onto a vertex ...
    assert (z.max(-1).values > 0.99).float().mean() > 0.99
    # ... whose frequencies are the categorical's (the Gumbel-max trick).
    counts = torch.bincount(z.argmax(-1), minlength=5).double()
    assert _chi_square_p(counts, torch.softmax(logits.double(), -1)) > 1e-3


def test_chi_square_check_rejects_wrong_probabilities():
    counts = torch.tensor([5000.0, 5000.0])
    assert _chi_square_p(counts, torch.tensor([0.6, 0.4], dtype=torch.float64)) < 1e-6


def test_straight_through_is_one_hot_with_the_soft_gradient():
    logits = torch.randn(6, 4, 5, requires_grad=True)
    weights = torch.randn(6, 4, 5)
    torch.manual_seed(3)
    hard = gumbel_softmax_sample(logits, 0.7, hard=True)
    assert set(hard.detach().unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(hard.detach().sum(-1), torch.ones(6, 4))
    (grad_hard,) = torch.autograd.grad((hard * weights).sum(), logits)
    torch.manual_seed(3)
    soft = gumbel_softmax_sample(logits, 0.7, hard=False)
    (grad_soft,) = torch.autograd.grad((soft * weights).sum(), logits)
    assert torch.equal(hard.detach().argmax(-1), soft.detach().argmax(-1))
    torch.testing.assert_close(grad_hard, grad_soft)
    assert grad_hard.abs().sum() > 0


def test_binary_concrete_samples_and_straight_through():
    torch.manual_seed(4)
    logits = torch.tensor([-1.0, 0.0, 2.0])
    soft = binary_concrete_sample(logits, 0.5, sample_shape=(40000,))
    assert ((soft > 0) & (soft < 1)).all()
    # P(sample > 1/2) = sigmoid(logits) at any temperature.
    torch.testing.assert_close(
        (soft > 0.5).double().mean(0), torch.sigmoid(logits).double(), atol=0.01, rtol=0
    )
    leaf = logits.clone().requires_grad_()
    hard = binary_concrete_sample(leaf, 0.5, hard=True, sample_shape=(8,))
    assert set(hard.detach().unique().tolist()) <= {0.0, 1.0}
    hard.sum().backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0


def test_noise_is_fp32_under_autocast():
    logits = torch.randn(4, 10, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gumbel_softmax_sample(logits, 0.5).dtype == torch.float32
        assert binary_concrete_sample(logits, 0.5).dtype == torch.float32


def test_temperature_schedule_formula():
    schedule = TemperatureSchedule(tau0=1.0, tau_min=0.5, rate=1e-4, every=1000)
    for step in (0, 1, 999, 1000, 1500, 2000, 6000, 6999, 7000, 50_000):
        held = (step // 1000) * 1000
        assert schedule(step) == pytest.approx(max(0.5, math.exp(-1e-4 * held)))
    assert schedule(999) == 1.0 and schedule(1000) < 1.0
    assert schedule(10**7) == 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tau0": 0.4, "tau_min": 0.5}, "tau_min <= tau0"),
        ({"rate": -1.0}, "rate"),
        ({"every": 0}, "every"),
    ],
)
def test_temperature_schedule_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TemperatureSchedule(**kwargs)
