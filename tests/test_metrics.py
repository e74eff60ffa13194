"""zoo.metrics: sMAPE, MAPE, MASE and OWA against hand computations and the official M4 Naive2 scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.metrics import M4Scores, divide_no_nan, mape, mase, owa, seasonal_naive_scale, smape


def test_smape_mape_by_hand_on_arrays_and_tensors() -> None:
    forecast = np.array([[1.0, 2.0, 4.0], [10.0, 10.0, 10.0]])
    target = np.array([[1.0, 1.0, 2.0], [5.0, 20.0, 10.0]])
    per_series = np.array(
        [
            200 / 3 * (0 + 1 / 3 + 2 / 6),
            200 / 3 * (5 / 15 + 10 / 30 + 0),
        ]
    )
    np.testing.assert_allclose(smape(forecast, target, reduction="none"), per_series)
    assert isinstance(smape(forecast, target), np.ndarray)
    assert float(smape(forecast, target)) == pytest.approx(per_series.mean())
    result = smape(torch.tensor(forecast), torch.tensor(target))
    assert isinstance(result, torch.Tensor) and result.item() == pytest.approx(per_series.mean())
    expected_mape = np.array([100 / 3 * (0 + 1 + 1), 100 / 3 * (1 + 0.5 + 0)])
    np.testing.assert_allclose(mape(forecast, target, reduction="none"), expected_mape)


def test_mask_restricts_each_series_to_its_valid_steps() -> None:
    forecast, target = np.array([[2.0, 9.0, 9.0]]), np.array([[1.0, 1.0, 1.0]])
    mask = np.array([[1.0, 0.0, 0.0]])
    assert float(smape(forecast, target, mask)) == pytest.approx(200 * 1 / 3)
    assert float(mase(forecast, target, np.array([0.5]), mask)) == pytest.approx(2.0)


def test_zero_denominators_count_as_zero_with_finite_gradients() -> None:
    forecast = torch.zeros(1, 2, requires_grad=True)
    value = smape(forecast, torch.zeros(1, 2)) + mape(forecast, torch.zeros(1, 2))
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(forecast.grad).all()
    torch.testing.assert_close(
        divide_no_nan(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0])), torch.tensor([0.0, 0.5])
    )


def test_smape_detached_denominator_gradient() -> None:
    forecast = torch.tensor([[3.0]], requires_grad=True)
    target = torch.tensor([[1.0]])
    smape(forecast, target, detach_denominator=True).backward()
    # d/df 200 |f - y| / c with c = |f| + |y| held fixed = 200 / 4
    assert forecast.grad.item() == pytest.approx(50.0)


def test_seasonal_naive_scale_and_mase() -> None:
    history = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    assert float(seasonal_naive_scale(history, 1)) == pytest.approx(np.mean([1, 2, 3, 4]))
    assert float(seasonal_naive_scale(history, 2)) == pytest.approx(np.mean([3, 5, 7]))
    assert float(seasonal_naive_scale(history, 5)) == 0.0  # too short for one seasonal difference
    padded = np.array([0.0, 0.0, 1.0, 2.0, 4.0])
    assert float(seasonal_naive_scale(padded, 1, np.array([0, 0, 1, 1, 1.0]))) == pytest.approx(1.5)
    scale = seasonal_naive_scale(history, 1)
    value = mase(np.array([[12.0, 14.0]]), np.array([[13.0, 16.0]]), np.array([scale]))
    assert float(value) == pytest.approx(1.5 / 2.5)
    with pytest.raises(ValueError, match="period must be >= 1"):
        seasonal_naive_scale(history, 0)
    with pytest.raises(ValueError, match="scale shape"):
        mase(np.ones((2, 3)), np.ones((2, 3)), np.ones(3))


def test_shape_mismatches_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"forecast shape \(2, 3\) differs from target shape \(2, 4\)"):
        smape(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="mask shape"):
        smape(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 1)))


def test_owa_formula_and_naive2_is_one() -> None:
    assert owa(10.0, 2.0, 20.0, 4.0) == pytest.approx(0.5)
    assert owa(18.383, 2.395, 18.383, 2.395) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must be positive"):
        owa(1.0, 1.0, 0.0, 1.0)


def test_m4_scores_accumulate_like_one_batch() -> None:
    torch.manual_seed(0)
    forecast, target, naive2 = torch.rand(6, 4, 1) + 1, torch.rand(6, 4, 1) + 1, torch.rand(6, 4, 1) + 1
    scale = torch.rand(6) + 0.5
    scores = M4Scores()
    scores.update(forecast[:4], target[:4], scale[:4], naive2[:4])
    scores.update(forecast[4:], target[4:], scale[4:], naive2[4:])
    result = scores.compute()
    f, y, n2 = forecast[..., 0].double(), target[..., 0].double(), naive2[..., 0].double()
    s = scale.double()
    assert result["smape"].item() == pytest.approx(smape(f, y).item())
    assert result["mase"].item() == pytest.approx(mase(f, y, s).item())
    expected = owa(smape(f, y).item(), mase(f, y, s).item(), smape(n2, y).item(), mase(n2, y, s).item())
    assert result["owa"].item() == pytest.approx(expected)
    without = M4Scores()
    without.update(forecast, target, scale)
    assert "owa" not in without.compute()


# Published Naive2 scores of the M4 competition (Makridakis, Spiliotis & Assimakopoulos, IJF 2020, the
# benchmarks' per-frequency table; also in the organisers' evaluation code): sMAPE, MASE.
NAIVE2_PUBLISHED = {"Hourly": (18.383, 2.395), "Weekly": (9.161, 2.777)}


@pytest.mark.parametrize("frequency", sorted(NAIVE2_PUBLISHED))
def test_official_naive2_forecasts_score_the_published_values(data_dir, frequency: str) -> None:
    from zoo.data.m4 import load_m4

    panel = load_m4(frequency)
    scale = np.array([seasonal_naive_scale(history, panel.period) for history in panel.train])
    smape_value = float(smape(panel.naive2, panel.test))
    mase_value = float(mase(panel.naive2, panel.test, scale))
    published_smape, published_mase = NAIVE2_PUBLISHED[frequency]
    assert round(smape_value, 3) == published_smape
    assert round(mase_value, 3) == published_mase
    assert owa(smape_value, mase_value, smape_value, mase_value) == 1.0
    # The same through the running metric the task uses for test/owa.
    scores = M4Scores()
    scores.update(
        torch.tensor(panel.naive2), torch.tensor(panel.test), torch.tensor(scale), torch.tensor(panel.naive2)
    )
    result = scores.compute()
    assert result["owa"].item() == pytest.approx(1.0)
    assert result["smape"].item() == pytest.approx(smape_value)


def test_naive2_yearly_smape_matches_the_published_value(data_dir) -> None:
    from zoo.data.m4 import load_m4

    panel = load_m4("Yearly")  # no Yearly training file here, so MASE cannot be computed
    assert round(float(smape(panel.naive2, panel.test)), 3) == 16.342
