"""Every forecaster in the registry with every distribution head: shapes, gradients, non-crossing quantiles,
scale equivariance, the pretrained round trip and the errors."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.hub import save_pretrained
from zoo.registry import get_model_entry

FORECASTERS = [name for name in zoo.list_models() if get_model_entry(name).task == "forecasting"]
DIMENSIONS = {"n_features": 3, "seq_len": 24, "pred_len": 8, "label_len": 12, "n_time_features": 4}


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(5, 24, 3, generator=generator),
        torch.randn(5, 24, 4, generator=generator),
        torch.randn(5, 8, 4, generator=generator),
    )


@pytest.mark.parametrize("distribution", ["quantile", "normal", "student_t"])
@pytest.mark.parametrize("name", FORECASTERS)
def test_every_forecaster_trains_every_head(name: str, distribution: str) -> None:
    torch.manual_seed(0)
    net = zoo.create_model(name, **DIMENSIONS, distribution=distribution)
    x, x_mark, y_mark = _inputs()
    with torch.no_grad():
        net.eval()  # no dropout: the location is the point forecast itself
        torch.testing.assert_close(net.predict_distribution(x, x_mark, y_mark).point, net(x, x_mark, y_mark))
        net.train()
    prediction = net.predict_distribution(x, x_mark, y_mark)
    assert prediction.point.shape == (5, 8, 3)
    quantiles = prediction.quantiles([0.1, 0.5, 0.9])
    assert quantiles.shape == (5, 8, 3, 3) and torch.isfinite(quantiles).all()
    prediction.loss(torch.randn(5, 8, 3)).backward()
    untouched = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not untouched


@pytest.mark.parametrize("distribution", ["quantile", "normal", "student_t"])
def test_quantiles_never_cross_whatever_the_weights(distribution: str) -> None:
    torch.manual_seed(1)
    levels = [0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98]
    kwargs = {"quantiles": levels} if distribution == "quantile" else {}
    net = zoo.create_model("linear", **DIMENSIONS, distribution=distribution, **kwargs)
    with torch.no_grad():
        for parameter in net.distribution_head.parameters():
            parameter.normal_(0.0, 3.0)
    quantiles = net.predict_distribution(_inputs()[0] * 10).quantiles(levels)
    assert (quantiles.diff(dim=-1) >= 0).all()


@pytest.mark.parametrize("distribution", ["quantile", "normal", "student_t"])
def test_intervals_scale_and_shift_with_the_series(distribution: str) -> None:
    """The naive forecaster is equivariant, and so is the head: forecasting 3x + 7 gives 3q + 7."""
    torch.manual_seed(2)
    net = zoo.create_model("naive", **DIMENSIONS, distribution=distribution)
    with torch.no_grad():
        for parameter in net.distribution_head.parameters():
            parameter.normal_(0.0, 0.3)
    x = _inputs()[0]
    base = net.predict_distribution(x).quantiles([0.1, 0.9])
    moved = net.predict_distribution(3.0 * x + 7.0).quantiles([0.1, 0.9])
    torch.testing.assert_close(moved, 3.0 * base + 7.0, rtol=1e-4, atol=1e-4)


def test_an_untrained_normal_head_spreads_like_the_window() -> None:
    net = zoo.create_model("naive", **DIMENSIONS, distribution="normal")
    x = _inputs()[0]
    prediction = net.predict_distribution(x)
    window_std = x.std(dim=1, unbiased=False, keepdim=True).expand(-1, 8, -1)
    torch.testing.assert_close(prediction.scale, window_std, rtol=1e-3, atol=1e-3)


def test_a_probabilistic_model_round_trips_through_save_pretrained(tmp_path) -> None:
    torch.manual_seed(3)
    net = zoo.create_model("dlinear", **DIMENSIONS, distribution="quantile", quantiles=[0.05, 0.5, 0.95])
    with torch.no_grad():
        for parameter in net.distribution_head.parameters():
            parameter.normal_(0.0, 0.1)
    save_pretrained(net, tmp_path / "dlinear.q")
    loaded = zoo.create_model(str(tmp_path / "dlinear.q"), pretrained=True)
    assert loaded.distribution == "quantile" and loaded.distribution_head.levels == (0.05, 0.5, 0.95)
    x = _inputs()[0]
    torch.testing.assert_close(loaded.predict_distribution(x).values, net.predict_distribution(x).values)


def test_head_errors_name_the_option() -> None:
    with pytest.raises(ValueError, match="quantiles=.* is for distribution='quantile'"):
        zoo.create_model("lstm", **DIMENSIONS, distribution="normal", quantiles=[0.1, 0.9])
    with pytest.raises(ValueError, match="distribution"):
        zoo.create_model("lstm", **DIMENSIONS, distribution="gaussian")
    with pytest.raises(ValueError, match="strictly increasing"):
        zoo.create_model("lstm", **DIMENSIONS, distribution="quantile", quantiles=[0.9, 0.1])
    with pytest.raises(ValueError, match=r"outside \(0, 1\)"):
        zoo.create_model("lstm", **DIMENSIONS, distribution="quantile", quantiles=[0.1, 1.5])
    with pytest.raises(ValueError, match="forecasts points only"):
        zoo.create_model("lstm", **DIMENSIONS).predict_distribution(_inputs()[0])


def test_a_quantile_head_without_the_median_keeps_the_models_point() -> None:
    torch.manual_seed(4)
    net = zoo.create_model("linear", **DIMENSIONS, distribution="quantile", quantiles=[0.1, 0.9]).eval()
    with torch.no_grad():
        for parameter in net.distribution_head.parameters():
            parameter.normal_(0.0, 0.5)  # asymmetric spreads: the mean of q0.1 and q0.9 is not the point
        x = _inputs()[0]
        prediction = net.predict_distribution(x)
        torch.testing.assert_close(prediction.point, net(x))
        torch.testing.assert_close(
            prediction.rescaled(torch.tensor(2.0), torch.tensor(3.0)).point, 3.0 * net(x) + 2.0
        )


def test_a_quantile_prediction_samples_its_piecewise_linear_quantile_function() -> None:
    from zoo.distributions import QuantilePrediction

    levels = (0.1, 0.5, 0.9)
    values = torch.tensor([[-1.0, 0.0, 3.0], [5.0, 6.0, 7.0]]).view(2, 1, 1, 3)  # skewed, and narrow
    torch.manual_seed(0)
    draws = QuantilePrediction(values, levels).sample(40000)  # (S, B, P, C)
    assert draws.shape == (40000, 2, 1, 1)
    for series in range(2):
        below = [(draws[:, series] <= values[series, 0, 0, q]).float().mean().item() for q in range(3)]
        assert below == pytest.approx(list(levels), abs=0.01)
    # inside a segment the draws are uniform: half of those in [q0.5, q0.9] lie below its midpoint
    upper = draws[:, 0][(draws[:, 0] > 0.0) & (draws[:, 0] < 3.0)]
    assert (upper < 1.5).float().mean().item() == pytest.approx(0.5, abs=0.02)
    # the outer slopes continue: below q0.1 of the first series, the slope (0 - -1) / 0.4 per unit level
    assert draws[:, 0].min().item() == pytest.approx(-1.0 - 0.1 * 2.5, abs=0.01)
    with pytest.raises(ValueError, match="at least two levels"):
        QuantilePrediction(values[..., :1], (0.5,)).sample(3)
