"""Linear, DLinear, NLinear and RLinear against written-out references and the properties they must have."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.models.linear import LinearForecaster, moving_average

DIMS = {"n_features": 3, "seq_len": 20, "pred_len": 6}


def _x(batch: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, DIMS["seq_len"], DIMS["n_features"], generator=generator, dtype=dtype)


def _loop_moving_average(series: torch.Tensor, kernel: int) -> torch.Tensor:
    """Zeng et al.'s trend written out: step t averages steps t-h..t+h, indices clamped to the window."""
    half, length = (kernel - 1) // 2, series.shape[-1]
    out = torch.empty_like(series)
    for t in range(length):
        idx = torch.tensor([min(max(s, 0), length - 1) for s in range(t - half, t + half + 1)])
        out[..., t] = series[..., idx].mean(-1)
    return out


@pytest.mark.parametrize("kernel", [1, 3, 25, 41])
def test_moving_average_matches_the_written_out_trend(kernel: int) -> None:
    series = torch.randn(2, 3, 20, dtype=torch.float64)
    torch.testing.assert_close(moving_average(series, kernel), _loop_moving_average(series, kernel))


def test_dlinear_is_trend_map_plus_remainder_map_forward_and_backward() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("dlinear", **DIMS, moving_average=5).double()
    x = _x(dtype=torch.float64).requires_grad_(True)
    series = x.transpose(1, 2)  # (B, C, L)
    trend = _loop_moving_average(series, 5)
    ws, bs = net.seasonal.weight, net.seasonal.bias
    wt, bt = net.trend.weight, net.trend.bias
    expected = ((series - trend) @ ws.T + bs + trend @ wt.T + bt).transpose(1, 2)  # (B, P, C)
    out = net(x)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), (x, ws, wt))
    expected_grads = torch.autograd.grad(expected.square().sum(), (x, ws, wt))
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(lambda inp: net(inp), (x[:1].detach().requires_grad_(True),))


def test_nlinear_follows_a_shift_of_each_channel() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("nlinear", **DIMS).eval()
    x, shift = _x(), torch.tensor([5.0, -3.0, 100.0])
    torch.testing.assert_close(net(x + shift), net(x) + shift, atol=1e-4, rtol=1e-5)


def test_rlinear_follows_a_scale_and_shift_of_each_channel() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("rlinear", **DIMS).eval()
    x, scale, shift = _x(), torch.tensor([2.0, 0.5, 10.0]), torch.tensor([1.0, -4.0, 50.0])
    torch.testing.assert_close(net(x * scale + shift), net(x) * scale + shift, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("name", ["linear", "dlinear"])
def test_mean_init_forecasts_the_window_mean(name: str) -> None:
    net = zoo.create_model(name, **DIMS, init="mean")
    x = _x()
    expected = x.mean(dim=1, keepdim=True).expand(-1, DIMS["pred_len"], -1)
    torch.testing.assert_close(net(x), expected)


@pytest.mark.parametrize("name", ["linear", "dlinear", "nlinear", "rlinear"])
@pytest.mark.parametrize("individual", [False, True])
def test_each_channel_is_forecast_from_its_own_history_only(name: str, individual: bool) -> None:
    torch.manual_seed(0)
    net = zoo.create_model(name, **DIMS, individual=individual).eval()
    x = _x(batch=1)
    jacobian = torch.autograd.functional.jacobian(net, x)[0, :, :, 0]  # (P, C_out, L, C_in)
    for out_channel in range(3):
        for in_channel in range(3):
            block = jacobian[:, out_channel, :, in_channel]
            assert (block.abs().sum() > 0) == (out_channel == in_channel), (out_channel, in_channel)


def test_individual_maps_are_separate_and_shared_maps_are_one() -> None:
    torch.manual_seed(0)
    shared = zoo.create_model("linear", **DIMS)
    individual = zoo.create_model("linear", **DIMS, individual=True)
    assert shared.linear.weight.shape == (6, 20)
    assert individual.linear.weight.shape == (3, 6, 20)
    x = _x()
    with torch.no_grad():
        individual.linear.weight.zero_()
        individual.linear.weight[1] = 1.0
        individual.linear.bias.zero_()
    out = individual(x)
    assert torch.equal(out[..., 0], torch.zeros_like(out[..., 0]))
    torch.testing.assert_close(out[..., 1], x[..., 1].sum(1, keepdim=True).expand(-1, 6))


def test_ms_forecasts_the_last_channel_without_reading_the_covariates() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("dlinear", **DIMS, n_targets=1).eval()
    x = _x()
    changed = x.clone()
    changed[..., :2] = torch.randn_like(changed[..., :2])
    assert net(x).shape == (4, 6, 1)
    torch.testing.assert_close(net(changed), net(x))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"decomposition": "moving_average", "moving_average": 24}, "moving_average must be a positive odd"),
        ({"decomposition": "moving_average", "moving_average": 0}, "moving_average must be a positive odd"),
        ({"decomposition": "fourier"}, "decomposition must be 'none' or 'moving_average', got 'fourier'"),
        ({"normalisation": "mean"}, "normalisation must be 'none' or 'last_value'"),
        ({"init": "zeros"}, "init must be 'uniform' or 'mean'"),
        ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
    ],
)
def test_bad_options_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinearForecaster(**DIMS, **kwargs)


def test_another_lookback_length_is_a_clear_error() -> None:
    net = zoo.create_model("dlinear", **DIMS)
    with pytest.raises(ValueError, match="maps exactly seq_len=20 past steps"):
        net(torch.randn(2, 24, 3))
