"""N-BEATS: double residual stacking, bases, interpretable decomposition, channel independence, masks."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.models.nbeats import NBeatsBlock, NBeatsForecaster, fourier_basis, polynomial_basis

SMALL_GENERIC = {"num_stacks": 3, "num_blocks": 2, "num_layers": 2, "layer_width": 16}
SMALL_INTERPRETABLE = {
    "trend_width": 8,
    "seasonality_width": 16,
    "trend_blocks": 2,
    "seasonality_blocks": 2,
    "trend_layers": 2,
    "seasonality_layers": 2,
}


def _generic(**kwargs) -> NBeatsForecaster:
    return zoo.create_model(
        "nbeats_generic", n_features=1, seq_len=12, pred_len=4, **{**SMALL_GENERIC, **kwargs}
    )


def test_variants_registered_with_their_architecture() -> None:
    assert {"nbeats", "nbeats_generic", "nbeats_interpretable"} <= set(zoo.list_models("nbeats*"))
    assert (
        zoo.create_model("nbeats", n_features=1, seq_len=8, pred_len=2, num_stacks=1).architecture
        == "generic"
    )
    net = zoo.create_model("nbeats_interpretable", n_features=1, seq_len=8, pred_len=2, **SMALL_INTERPRETABLE)
    assert [s.spec.name for s in net.stacks] == ["trend", "seasonality"]


def test_double_residual_stacking_matches_a_hand_loop() -> None:
    torch.manual_seed(0)
    net = _generic().eval()
    x = torch.randn(5, 12, 1)
    residual, forecast = x[..., 0], torch.zeros(5, 4)
    for stack in net.stacks:
        for block in stack.blocks:  # no sharing: each block once, in order
            hidden = block.fc(residual)
            theta = block.theta(hidden)
            residual = residual - theta[:, :12]
            forecast = forecast + theta[:, 12:]
    torch.testing.assert_close(net(x)[..., 0], forecast)


def test_shared_weights_apply_one_block_num_blocks_times() -> None:
    torch.manual_seed(0)
    shared = _generic(share_weights=True)
    assert all(len(stack.blocks) == 1 for stack in shared.stacks)
    unshared = _generic()
    unshared_params = sum(p.numel() for p in unshared.parameters())
    assert sum(p.numel() for p in shared.parameters()) * 2 == unshared_params
    # Copying the shared block into both slots of an unshared stack gives the same function.
    for s_stack, u_stack in zip(shared.stacks, unshared.stacks, strict=True):
        for block in u_stack.blocks:
            block.load_state_dict(s_stack.blocks[0].state_dict())
    x = torch.randn(3, 12, 1)
    torch.testing.assert_close(shared(x), unshared(x))


def test_polynomial_basis_rows_are_powers_of_time() -> None:
    basis = polynomial_basis(5, 2)
    t = torch.arange(5) / 5
    torch.testing.assert_close(basis, torch.stack([torch.ones(5), t, t**2]))


def test_fourier_basis_frequencies_and_shape() -> None:
    horizon = 6
    basis = fourier_basis(horizon, horizon, harmonics=1)
    count = horizon // 2  # frequencies 0, 1, 2 cycles per horizon
    assert basis.shape == (2 * count - 1, horizon)
    t = torch.arange(horizon, dtype=torch.float64) / horizon
    torch.testing.assert_close(basis[1], torch.cos(2 * math.pi * t).float())
    torch.testing.assert_close(basis[count], torch.sin(2 * math.pi * t).float())
    backcast = fourier_basis(24, 6, harmonics=2)
    assert backcast.shape == (2 * 6 - 1, 24)  # finer frequency grid: f = 0, 0.5, 1, ... cycles per horizon
    # Time is in horizon units over the backcast too: a one-cycle-per-horizon row repeats every 6 steps.
    torch.testing.assert_close(backcast[2, :6], backcast[2, 6:12])
    torch.testing.assert_close(backcast[2, :6], basis[1])


def test_trend_block_outputs_polynomials_and_seasonality_is_periodic() -> None:
    torch.manual_seed(0)
    trend = NBeatsBlock("trend", seq_len=10, pred_len=5, num_layers=1, width=4, degree=1)
    back, fore = trend(torch.randn(3, 10))
    # Degree 1: the forecast is affine in time, so its second differences vanish.
    torch.testing.assert_close(fore.diff(n=2, dim=-1), torch.zeros(3, 3), atol=1e-5, rtol=0)
    assert back.shape == (3, 10)
    season = NBeatsBlock("seasonality", seq_len=8, pred_len=8, num_layers=1, width=4)
    _, fore = season(torch.randn(2, 8))
    # Frequencies 0..3 whole cycles per horizon: the forecast's DFT has energy on bins 0..3 and none at
    # the Nyquist bin 4, which the basis leaves out.
    spectrum = torch.fft.rfft(fore.double(), dim=-1).abs()
    assert spectrum[:, :4].sum() > 1e-3
    torch.testing.assert_close(spectrum[:, 4], torch.zeros(2, dtype=torch.float64), atol=1e-5, rtol=0)


def test_interpretable_stack_forecasts_sum_to_the_total() -> None:
    torch.manual_seed(0)
    net = zoo.create_model(
        "nbeats_interpretable", n_features=2, seq_len=16, pred_len=8, **SMALL_INTERPRETABLE
    )
    out = net.decompose(torch.randn(4, 16, 2))
    assert set(out.stack_forecasts) == {"trend", "seasonality"}
    torch.testing.assert_close(
        out.stack_forecasts["trend"] + out.stack_forecasts["seasonality"], out.forecast
    )
    assert out.forecast.shape == (4, 8, 2)


def test_channel_independent_with_shared_weights() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("nbeats", n_features=3, seq_len=12, pred_len=4, **SMALL_GENERIC)
    x = torch.randn(2, 12, 3)
    x[..., 2] = x[..., 0]
    out = net(x)
    torch.testing.assert_close(out[..., 2], out[..., 0])  # same series, same weights, same forecast
    moved = x.clone()
    moved[..., 1] += 5.0
    changed = net(moved)
    torch.testing.assert_close(changed[..., [0, 2]], out[..., [0, 2]])  # other channels untouched
    # features "MS": only the target (last) channel is forecast, from its own history
    ms = zoo.create_model("nbeats", n_features=3, n_targets=1, seq_len=12, pred_len=4, **SMALL_GENERIC)
    ms.load_state_dict(net.state_dict())
    torch.testing.assert_close(ms(x)[..., 0], out[..., 2])


def test_padded_history_is_ignored_under_the_mask() -> None:
    torch.manual_seed(0)
    net = _generic()
    x = torch.randn(2, 12, 1)
    mask = torch.ones(2, 12, 1)
    mask[0, :5] = 0  # the first series has only 7 observed steps
    garbage = x.clone()
    garbage[0, :5] = 1e3
    torch.testing.assert_close(net(x, x_mask=mask), net(garbage, x_mask=mask))
    with pytest.raises(ValueError, match="x_mask must have x's shape"):
        net(x, x_mask=mask[:, :5])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"architecture": "mixed"}, "architecture must be 'generic' or 'interpretable'"),
        ({"num_stacks": 0}, "num_stacks must be >= 1"),
        ({"num_blocks": 0}, "num_blocks must be >= 1"),
        ({"layer_width": 0}, "num_layers and width must be >= 1"),
        ({"architecture": "interpretable", "harmonics": 0}, "harmonics >= 1"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zoo.create_model("nbeats", n_features=1, seq_len=8, pred_len=2, **{**SMALL_GENERIC, **kwargs})


def test_scale_inputs_makes_the_forecast_scale_equivariant() -> None:
    torch.manual_seed(0)
    net = _generic(scale_inputs=True)
    x = torch.rand(3, 12, 1) + 0.5
    mask = torch.ones(3, 12, 1)
    mask[1, :4] = 0
    torch.testing.assert_close(
        net(1000.0 * x, x_mask=mask), 1000.0 * net(x, x_mask=mask), rtol=1e-4, atol=1e-3
    )
    parts = net.decompose(1000.0 * x, mask)
    torch.testing.assert_close(sum(parts.stack_forecasts.values()), parts.forecast)
    plain = _generic()
    assert not torch.allclose(plain(1000.0 * x), 1000.0 * plain(x))  # the paper's default is not
