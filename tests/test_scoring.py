"""Pinball loss, CRPS, coverage and width against hand computations; Student-t quantiles against tables."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from zoo.distributions import (
    NormalPrediction,
    QuantilePrediction,
    StudentTPrediction,
    central_levels,
    check_levels,
    level_name,
    student_t_quantile,
)
from zoo.scoring import (
    crps_from_quantiles,
    crps_from_samples,
    interval_coverage,
    interval_width,
    pinball_loss,
)
from zoo.tasks.probabilistic import ProbabilisticScores


def test_pinball_loss_by_hand() -> None:
    quantiles = torch.tensor([[1.0, 2.0, 3.0]])
    target = torch.tensor([2.5])
    # errors y - q = 1.5, 0.5, -0.5 -> 0.1 * 1.5, 0.5 * 0.5, (0.9 - 1) * (-0.5)
    losses = pinball_loss(quantiles, target, [0.1, 0.5, 0.9], reduction="none")
    assert torch.allclose(losses, torch.tensor([[0.15, 0.25, 0.05]]))
    assert pinball_loss(quantiles, target, [0.1, 0.5, 0.9]).item() == pytest.approx(0.15)
    assert crps_from_quantiles(quantiles, target, [0.1, 0.5, 0.9]).item() == pytest.approx(0.30)


def test_pinball_loss_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected \(4, 3\)"):
        pinball_loss(torch.zeros(4, 2), torch.zeros(4), [0.1, 0.5, 0.9])


def test_crps_from_samples_by_hand_and_against_all_pairs() -> None:
    assert crps_from_samples(torch.tensor([[0.0], [1.0]]), torch.tensor([0.0])).item() == pytest.approx(0.0)
    # samples 0, 2, 4 and y = 1: E|X - y| = 5/3, fair E|X - X'| = 8/3, CRPS = 5/3 - 4/3
    samples = torch.tensor([0.0, 2.0, 4.0]).reshape(3, 1)
    assert crps_from_samples(samples, torch.tensor([1.0])).item() == pytest.approx(1.0 / 3.0)
    generator = torch.Generator().manual_seed(0)
    samples, target = torch.randn(7, 5, generator=generator), torch.randn(5, generator=generator)
    pairs = [(samples[i] - samples[j]).abs() for i, j in itertools.permutations(range(7), 2)]
    brute = (samples - target).abs().mean(0) - 0.5 * torch.stack(pairs).mean(0)
    assert torch.allclose(crps_from_samples(samples, target, reduction="none"), brute, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 draws"):
        crps_from_samples(torch.zeros(1, 5), torch.zeros(5))


def test_normal_crps_closed_form_agrees_with_samples_and_quantiles() -> None:
    torch.manual_seed(0)
    loc, scale = torch.tensor([[[0.3, -1.0]]]), torch.tensor([[[1.5, 0.2]]])
    target = torch.tensor([[[1.0, -0.9]]])
    prediction = NormalPrediction(loc.double(), scale.double())
    exact = prediction.crps(target.double())
    # the closed form at y = loc, scale 1: 2 * pdf(0) - 1 / sqrt(pi)
    at_centre = NormalPrediction(torch.zeros(1), torch.ones(1)).crps(torch.zeros(1))
    assert at_centre.item() == pytest.approx(2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi))
    sampled = crps_from_samples(prediction.sample(40000), target.double(), reduction="none")
    assert torch.allclose(sampled, exact, rtol=2e-2)
    levels = [k / 100 for k in range(1, 100)]
    from_quantiles = crps_from_quantiles(
        prediction.quantiles(levels), target.double(), levels, reduction="none"
    )
    assert torch.allclose(from_quantiles, exact, rtol=2e-2)


@pytest.mark.parametrize(
    ("level", "df", "table"),
    [
        (0.95, 3, 2.353363),
        (0.975, 10, 2.228139),
        (0.9, 5, 1.475884),
        (0.05, 30, -1.697261),
        (0.995, 3, 5.840909),
    ],
)
def test_student_t_quantiles_match_tables(level: float, df: float, table: float) -> None:
    value = student_t_quantile(torch.tensor(level), torch.tensor(float(df), dtype=torch.float64)).item()
    tolerance = 2.5e-2 if level > 0.99 else 1e-3
    assert value == pytest.approx(table, rel=tolerance)


def test_student_t_quantiles_match_its_samples() -> None:
    torch.manual_seed(0)
    shape = (1, 1, 1)
    prediction = StudentTPrediction(torch.full(shape, 2.0), torch.full(shape, 0.5), torch.full(shape, 4.0))
    samples = prediction.sample(200000).reshape(-1)
    for level, value in zip([0.1, 0.5, 0.9], prediction.quantiles([0.1, 0.5, 0.9]).reshape(-1), strict=True):
        assert torch.quantile(samples, level).item() == pytest.approx(value.item(), abs=0.01)


def test_coverage_and_width_by_hand() -> None:
    lower, upper = torch.tensor([0.0, 0.0, -1.0]), torch.tensor([1.0, 1.0, 1.0])
    target = torch.tensor([0.5, 2.0, 1.0])  # inside, above, on the edge
    assert interval_coverage(lower, upper, target).item() == pytest.approx(2 / 3)
    assert interval_width(lower, upper).item() == pytest.approx(4 / 3)


def test_scores_accumulate_per_channel() -> None:
    scores = ProbabilisticScores(2)
    ones = torch.ones(2, 3, 2)
    target = torch.zeros(2, 3, 2)
    target[..., 1] = 5.0  # channel 1 falls outside [-1, 1]
    scores.update(pinball=ones, crps=2 * ones, lower=-ones, upper=ones, target=target)
    scores.update(pinball=3 * ones, crps=2 * ones, lower=-ones, upper=ones, target=target)
    result = scores.compute()
    assert result["pinball"].tolist() == [2.0, 2.0]
    assert result["coverage"].tolist() == [1.0, 0.0]
    assert result["width"].tolist() == [2.0, 2.0]


def test_quantile_prediction_median_and_levels() -> None:
    values = torch.tensor([1.0, 2.0, 4.0]).reshape(1, 1, 1, 3)
    prediction = QuantilePrediction(values, (0.1, 0.5, 0.9))
    assert prediction.point.item() == 2.0
    assert QuantilePrediction(values[..., [0, 2]], (0.1, 0.9)).point.item() == pytest.approx(2.5)
    assert prediction.quantiles([0.9]).item() == 4.0
    with pytest.raises(ValueError, match=r"levels \[0.25\] were not predicted"):
        prediction.quantiles([0.25])
    assert prediction.sample(10).shape == (10, 1, 1, 1)
    rescaled = prediction.rescaled(torch.tensor([10.0]), torch.tensor([2.0]))
    assert rescaled.values.reshape(-1).tolist() == [12.0, 14.0, 18.0]


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ([], "at least one"),
        ([0.0, 0.5], r"outside \(0, 1\)"),
        ([0.5, 1.2], r"outside \(0, 1\)"),
        ([0.9, 0.1], "strictly increasing"),
        ([0.1, 0.1, 0.9], "strictly increasing"),
    ],
)
def test_bad_levels_are_clear_errors(levels: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_levels(levels)


def test_level_names_and_central_levels() -> None:
    assert [level_name(q) for q in (0.1, 0.025, 0.5)] == ["q0.1", "q0.025", "q0.5"]
    assert central_levels(0.8) == (0.1, 0.9)
    assert central_levels(0.95) == (0.025, 0.975)
    with pytest.raises(ValueError, match=r"coverage must lie in \(0, 1\)"):
        central_levels(80)
