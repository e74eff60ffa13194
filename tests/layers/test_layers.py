"""CausalConv1d against the op and an independent left-padding oracle; LinearHighway against nn.Linear."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kernels import causal_conv1d
from zoo.layers.causal_conv import CausalConv1d
from zoo.layers.highway import LinearHighway


def _left_padded_conv(x: torch.Tensor, conv: CausalConv1d) -> torch.Tensor:
    """Oracle: F.conv1d on x padded with (K - 1) * d zeros on the left, then the activation."""
    pad = (conv.kernel_size - 1) * conv.dilation
    z = F.conv1d(F.pad(x, (pad, 0)), conv.weight, conv.bias, dilation=conv.dilation, groups=conv.groups)
    return {None: z, "relu": F.relu(z), "gelu": F.gelu(z), "silu": F.silu(z)}[conv.activation]


@pytest.mark.parametrize(
    "c_in, c_out, k, dilation, groups, bias, activation",
    [
        (3, 5, 3, 1, 1, True, None),
        (4, 6, 2, 4, 2, False, "relu"),
        (5, 5, 4, 3, 5, True, "gelu"),
        (2, 3, 1, 1, 1, True, "silu"),
        (3, 2, 3, 16, 1, True, "relu"),  # (K - 1) * d >= L
    ],
)
def test_causal_conv1d_layer_matches_op_and_oracle(
    c_in: int, c_out: int, k: int, dilation: int, groups: int, bias: bool, activation: str | None
) -> None:
    conv = CausalConv1d(
        c_in, c_out, k, dilation=dilation, groups=groups, bias=bias, activation=activation, backend="torch"
    ).double()
    x = torch.randn(2, c_in, 13, dtype=torch.float64, requires_grad=True)
    out = conv(x)
    assert out.shape == (2, c_out, 13)
    expected = causal_conv1d(
        x, conv.weight, conv.bias, dilation=dilation, groups=groups, activation=activation, backend="torch"
    )
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out, _left_padded_conv(x, conv))
    out.square().sum().backward()
    assert conv.weight.grad is not None and (conv.bias is None or conv.bias.grad is not None)


def test_causal_conv1d_is_causal() -> None:
    conv = CausalConv1d(2, 3, 3, dilation=2)
    x = torch.randn(1, 2, 20)
    moved = x.clone()
    moved[..., 11] += 1.0
    out, out_moved = conv(x), conv(moved)
    torch.testing.assert_close(out_moved[..., :11], out[..., :11], rtol=0, atol=0)
    assert not torch.allclose(out_moved[..., 11], out[..., 11])


def test_causal_conv1d_init_matches_nn_conv1d() -> None:
    torch.manual_seed(7)
    ours = CausalConv1d(6, 4, 3, groups=2)
    torch.manual_seed(7)
    theirs = nn.Conv1d(6, 4, 3, groups=2)
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
    torch.testing.assert_close(ours.bias, theirs.bias, rtol=0, atol=0)
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    assert ours.weight.shape == (4, 3, 3)


def test_causal_conv1d_receptive_field_repr_and_errors() -> None:
    conv = CausalConv1d(2, 3, 4, dilation=5, bias=False, activation="relu")
    assert conv.receptive_field == 16
    assert CausalConv1d(2, 3, 1).receptive_field == 1
    assert repr(conv) == "CausalConv1d(2, 3, kernel_size=4, dilation=5, bias=False, activation='relu')"
    with pytest.raises(ValueError, match="divisible by groups=2"):
        CausalConv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        CausalConv1d(3, 4, 0)
    with pytest.raises(ValueError, match="activation must be"):
        CausalConv1d(3, 4, 3, activation="tanh")  # type: ignore[arg-type]


@pytest.mark.parametrize("n_targets", [3, 1])
def test_linear_highway_is_a_shared_linear_over_time(n_targets: int) -> None:
    torch.manual_seed(3)
    highway = LinearHighway(seq_len=10, pred_len=4, n_features=3, n_targets=n_targets)
    torch.manual_seed(3)
    linear = nn.Linear(10, 4)
    torch.testing.assert_close(highway.weight, linear.weight, rtol=0, atol=0)  # same init, same RNG draws
    torch.testing.assert_close(highway.bias, linear.bias, rtol=0, atol=0)
    x = torch.randn(2, 10, 3)
    out = highway(x)
    assert out.shape == (2, 4, n_targets)
    for c in range(n_targets):  # every target channel through the same map, time on the last axis
        torch.testing.assert_close(out[..., c], linear(x[..., 3 - n_targets + c]))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, 10, 3\)"):
        highway(torch.randn(2, 9, 3))
    with pytest.raises(ValueError, match="exceeds n_features"):
        LinearHighway(10, 4, n_features=2, n_targets=3)
