"""The Transformer's patch (PatchTST) and variate (iTransformer) tokens: patching against a written-out
reference, channel independence, permutation equivariance over variates, and the options' errors."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.layers.position import POSITION_TYPES
from zoo.layers.tokens import PatchEmbedding, patch_count

SMALL = {"d_model": 16, "n_heads": 2, "d_ff": 32, "e_layers": 2}
DIMS = {"n_features": 3, "seq_len": 24, "pred_len": 5}


def _x(batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(
        batch, DIMS["seq_len"], DIMS["n_features"], generator=torch.Generator().manual_seed(seed)
    )


@pytest.mark.parametrize(
    "seq_len, patch_len, stride", [(96, 16, 8), (24, 16, 8), (25, 4, 3), (7, 7, 1), (5, 8, 4)]
)
def test_patch_count_is_patchtst_formula(seq_len: int, patch_len: int, stride: int) -> None:
    # Time-Series-Library's PatchTST: head_nf = d_model * int((seq_len - patch_len) / stride + 2)
    assert patch_count(seq_len, patch_len, stride) == int((seq_len - patch_len) / stride + 2)


def test_patches_are_the_end_padded_windows_of_each_channel() -> None:
    torch.manual_seed(0)
    seq_len, patch_len, stride = 13, 4, 3
    embedding = PatchEmbedding(seq_len, patch_len, stride, d_model=5, position="none", dropout=0.0)
    x = torch.randn(2, seq_len, 3)
    padded = torch.cat([x, x[:, -1:].expand(-1, stride, -1)], dim=1)  # last value repeated `stride` times
    n = patch_count(seq_len, patch_len, stride)
    patches = torch.stack(
        [
            torch.stack([padded[b, i * stride : i * stride + patch_len, c] for i in range(n)])
            for b in range(2)
            for c in range(3)
        ]
    )  # (B * C, N, patch_len), channel-major within each sample
    torch.testing.assert_close(embedding(x), patches @ embedding.value.weight.T)


@pytest.mark.parametrize("position", POSITION_TYPES)
def test_patchtst_forecasts_each_channel_from_its_own_history(position: str) -> None:
    torch.manual_seed(0)
    net = zoo.create_model("patchtst", **DIMS, **SMALL, position=position).eval()
    jacobian = torch.autograd.functional.jacobian(net, _x(batch=1))[0, :, :, 0]  # (P, C_out, L, C_in)
    for out_channel in range(3):
        for in_channel in range(3):
            touched = bool(jacobian[:, out_channel, :, in_channel].abs().sum() > 0)
            assert touched == (out_channel == in_channel), (position, out_channel, in_channel)


def test_patchtst_ms_reads_the_target_channel_only() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("patchtst", **DIMS, **SMALL, n_targets=1).eval()
    x = _x()
    changed = x.clone()
    changed[..., :2] = torch.randn_like(changed[..., :2])
    assert net(x).shape == (2, 5, 1)
    torch.testing.assert_close(net(changed), net(x))


@pytest.mark.parametrize("position", ["none", "rope", "alibi"])
def test_relative_positions_act_over_the_patch_index(position: str) -> None:
    """Without a position encoding the encoder is blind to the order of the patch tokens (permuting them
    permutes its output); RoPE and ALiBi make it see their distances."""
    torch.manual_seed(0)
    net = zoo.create_model("patchtst", **DIMS, **SMALL, position=position).eval()
    tokens = net.enc_embedding(_x(batch=1))  # (C, N, d_model)
    order = torch.randperm(tokens.shape[1])

    def encoded(h: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(h.shape[1])
        for layer in net.encoder:
            h = layer(h, positions)
        return h

    equivariant = torch.allclose(encoded(tokens[:, order]), encoded(tokens)[:, order], atol=1e-5)
    assert equivariant == (position == "none")


def test_itransformer_is_equivariant_to_the_order_of_the_variates() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("itransformer", **DIMS, **SMALL).eval()
    x, order = _x(), torch.tensor([2, 0, 1])
    torch.testing.assert_close(net(x[..., order]), net(x)[..., order], atol=1e-5, rtol=1e-5)


def test_itransformer_reads_time_features_as_tokens_and_forecasts_the_variates() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("itransformer", **DIMS, **SMALL, n_time_features=4).eval()
    assert net.use_time_features
    x = _x()
    x_mark, y_mark = torch.rand(2, 24, 4) - 0.5, torch.rand(2, 5, 4) - 0.5
    assert net.enc_embedding(x, x_mark).shape == (2, 3 + 4, 16)
    out = net(x, x_mark, y_mark)
    assert out.shape == (2, 5, 3)
    assert not torch.allclose(net(x, x_mark + 0.3, y_mark), out)
    torch.testing.assert_close(net(x, x_mark, y_mark + 0.3), out)  # the future's marks are not read


def test_itransformer_ms_forecasts_the_last_variates_from_all() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("itransformer", **DIMS, **SMALL, n_targets=1).eval()
    x = _x()
    changed = x.clone()
    changed[..., 0] = torch.randn_like(changed[..., 0])  # a new shape, not a shift (RevIN removes shifts)
    assert net(x).shape == (2, 5, 1)
    assert not torch.allclose(net(changed), net(x))  # attention across variates reads the covariates


def test_the_layout_follows_the_tokens_unless_given() -> None:
    assert zoo.create_model("transformer", **DIMS, **SMALL).architecture == "encoder_decoder"
    patch = zoo.create_model("transformer", **DIMS, **SMALL, tokens="patches")
    variate = zoo.create_model("transformer", **DIMS, **SMALL, tokens="variates")
    assert (patch.architecture, patch.position) == ("encoder_only", "sinusoidal")
    assert (variate.architecture, variate.position) == ("encoder_only", "none")
    assert zoo.create_model("patchtst", **DIMS, **SMALL).revin is not None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tokens": "variates", "position": "rope"}, "variate tokens .* use position='none'"),
        ({"tokens": "patches", "architecture": "encoder_decoder"}, "patches tokens are encoder-only"),
        (
            {"tokens": "patches", "use_time_features": True, "n_time_features": 4},
            "patch tokens .* not time features",
        ),
        ({"tokens": "patches", "patch_len": 40}, "patch_len=40 is longer than the padded window"),
        ({"tokens": "patches", "patch_stride": 0}, "patch_len and patch_stride must be positive"),
        ({"tokens": "words"}, "tokens must be one of 'steps', 'patches' or 'variates', got 'words'"),
    ],
)
def test_bad_token_options_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zoo.create_model("transformer", **DIMS, **SMALL, **kwargs)


@pytest.mark.parametrize("name", ["patchtst", "itransformer"])
def test_another_lookback_length_is_a_clear_error(name: str) -> None:
    net = zoo.create_model(name, **DIMS, **SMALL)
    with pytest.raises(ValueError, match="maps exactly seq_len=24 steps"):
        net(torch.randn(2, 30, 3))


def test_patchtst_ignores_time_features_by_default() -> None:
    torch.manual_seed(0)
    net = zoo.create_model("patchtst", **DIMS, **SMALL, n_time_features=4).eval()
    x = _x()
    assert not net.use_time_features
    torch.testing.assert_close(net(x, torch.rand(2, 24, 4), torch.rand(2, 5, 4)), net(x))
