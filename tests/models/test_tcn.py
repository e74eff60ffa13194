"""TCN forecaster: receptive field, causality, equivalence with a locuslab-style block, weight norm, modes."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

import zoo
from zoo.layers.causal_conv import CausalConv1d
from zoo.models.tcn import TCNForecaster, TemporalBlock, tcn_levels_for, tcn_receptive_field

DIMS = {"n_features": 3, "seq_len": 24, "pred_len": 7, "n_targets": 3, "label_len": 0, "n_time_features": 4}


@pytest.mark.parametrize(
    "seq_len, kernel_size, levels, field",
    [
        (96, 3, 5, 125),
        (24, 3, 3, 29),
        (96, 2, 6, 127),
        (336, 3, 7, 509),
        (1, 3, 1, 5),
        (61, 3, 4, 61),
    ],
)
def test_receptive_field_and_auto_levels(seq_len: int, kernel_size: int, levels: int, field: int) -> None:
    assert tcn_levels_for(seq_len, kernel_size) == levels
    assert tcn_receptive_field(kernel_size, levels) == field
    assert levels == 1 or tcn_receptive_field(kernel_size, levels - 1) < seq_len  # the fewest levels
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a covering receptive field does not warn
        net = TCNForecaster(3, seq_len, 5, kernel_size=kernel_size, hidden_channels=4)
    assert (net.num_levels, net.receptive_field, len(net.encoder)) == (levels, field, levels)
    assert [block.conv1.dilation for block in net.encoder] == [2**i for i in range(levels)]
    assert 1 + sum(block.receptive_field - 1 for block in net.encoder) == field


def test_short_receptive_field_warns() -> None:
    with pytest.warns(
        UserWarning,
        match=r"receptive field 13 \(kernel_size=3, num_levels=2\) is shorter than "
        r"seq_len=24.*first 11 steps",
    ):
        net = TCNForecaster(3, 24, 7, num_levels=2)
    assert net.receptive_field == 13
    with pytest.warns(UserWarning, match="receptive field 1 "):
        TCNForecaster(3, 24, 7, kernel_size=1)


def test_encoder_is_causal_with_the_stated_receptive_field() -> None:
    with pytest.warns(UserWarning, match="shorter than seq_len=40"):  # L > field: the support is visible
        net = TCNForecaster(2, 40, 5, hidden_channels=6, kernel_size=3, num_levels=3).double().eval()
    assert net.receptive_field == 29
    x = torch.randn(3, 2, 40, dtype=torch.float64)
    features = net.encoder(x)
    for t in (0, 17, 39):  # perturbing step t leaves every earlier feature unchanged
        moved = x.clone()
        moved[..., t] += 1.0
        changed = net.encoder(moved)
        torch.testing.assert_close(changed[..., :t], features[..., :t], rtol=0, atol=0)
        assert not torch.allclose(changed[..., t:], features[..., t:])
    # With positive weights, biases and inputs no ReLU is inactive, so the gradient support of one output
    # step is exactly its receptive field: steps t - 28 .. t.
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    x = x.abs().requires_grad_(True)
    net.encoder(x)[..., 35].sum().backward()
    support = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero().flatten().tolist()
    assert support == list(range(35 - 28, 36))


class _LocuslabBlock(nn.Module):
    """The reference block written out: symmetric padding, chomp, separate ReLUs (eval: no dropout)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, padding=self.pad, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, padding=self.pad, dilation=dilation)
        self.downsample = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(x)[..., : -self.pad])  # chomp
        out = F.relu(self.conv2(out)[..., : -self.pad])
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


@pytest.mark.parametrize("c_in, c_out, kernel_size, dilation", [(3, 8, 3, 1), (8, 8, 2, 4), (5, 4, 4, 8)])
def test_temporal_block_matches_locuslab_block(
    c_in: int, c_out: int, kernel_size: int, dilation: int
) -> None:
    block = TemporalBlock(c_in, c_out, kernel_size, dilation, dropout=0.3, backend="torch").double().eval()
    reference = _LocuslabBlock(c_in, c_out, kernel_size, dilation).double()
    with torch.no_grad():
        for name in ("conv1", "conv2"):
            getattr(reference, name).weight.copy_(getattr(block, name).weight)  # the weight-normed weight
            getattr(reference, name).bias.copy_(getattr(block, name).bias)
        if block.downsample is not None:
            reference.downsample.load_state_dict(block.downsample.state_dict())
    x = torch.randn(2, c_in, 30, dtype=torch.float64, requires_grad=True)
    out = block(x)
    torch.testing.assert_close(out, reference(x))
    (grad,) = torch.autograd.grad(out.sin().sum(), x)
    (grad_ref,) = torch.autograd.grad(reference(x).sin().sum(), x)
    torch.testing.assert_close(grad, grad_ref)


def test_weight_norm_and_fused_relu() -> None:
    net = TCNForecaster(3, 24, 7, hidden_channels=8)
    for block in net.encoder:
        for conv in (block.conv1, block.conv2):
            assert isinstance(conv, CausalConv1d) and conv.activation == "relu"
            assert parametrize.is_parametrized(conv, "weight")
            g = conv.parametrizations.weight.original0  # (C_out, 1, 1)
            v = conv.parametrizations.weight.original1  # (C_out, C_in, K)
            assert g.shape == (conv.out_channels, 1, 1)
            torch.testing.assert_close(conv.weight, g * v / v.norm(dim=(1, 2), keepdim=True))
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())  # the ReLUs are the op's epilogue
    names = set(net.state_dict())
    assert {
        "encoder.0.conv1.parametrizations.weight.original0",
        "encoder.0.conv1.parametrizations.weight.original1",
    } <= names


@pytest.mark.parametrize("channel_independent", [False, True])
@pytest.mark.parametrize("highway", [False, True])
@pytest.mark.parametrize("head", ["last", "flatten"])
@pytest.mark.parametrize("use_time_features", [False, True])
@pytest.mark.parametrize("n_targets", [3, 1])
def test_modes_give_the_right_shapes(
    channel_independent: bool, highway: bool, head: str, use_time_features: bool, n_targets: int
) -> None:
    net = zoo.create_model(
        "tcn",
        **{**DIMS, "n_targets": n_targets},
        hidden_channels=8,
        head=head,
        channel_independent=channel_independent,
        highway=highway,
        use_time_features=use_time_features,
    ).eval()
    x = torch.randn(2, 24, 3)
    x_mark = torch.rand(2, 24, 4) - 0.5
    out = net(x, x_mark)
    assert out.shape == (2, 7, n_targets) and torch.isfinite(out).all()
    assert (net.highway is not None) == highway
    if use_time_features:
        assert not torch.allclose(net(x, x_mark + 0.3), out)
        with pytest.raises(ValueError, match="pass x_mark"):
            net(x)
    else:
        torch.testing.assert_close(net(x, x_mark + 0.3), out)  # time features ignored


def test_channel_independent_shares_weights_across_channels() -> None:
    net = zoo.create_model(
        "tcn", **{**DIMS, "n_time_features": 0}, hidden_channels=8, channel_independent=True, highway=True
    ).eval()
    x = torch.randn(2, 24, 3)
    out = net(x)
    torch.testing.assert_close(net(x[..., [2, 0, 1]])[..., [1, 2, 0]], out)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="needs n_time_features > 0"):
        TCNForecaster(3, 24, 7, use_time_features=True)
    with pytest.raises(ValueError, match="head must be"):
        TCNForecaster(3, 24, 7, head="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dropout must lie"):
        TCNForecaster(3, 24, 7, dropout=1.0)
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) \['hidden_size'\]"):
        zoo.create_model("tcn", **DIMS, hidden_size=8)
