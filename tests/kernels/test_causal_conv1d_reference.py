"""The PyTorch reference of ``causal_conv1d`` against the definition, and the public op's input checks.

The oracle here is a direct loop over the definition in plain Python floats (no torch ops):
``y[b, o, t] = act(bias[o] + sum_{i, j} w[o, i, K - 1 - j] * x[b, g(o) * C_in_g + i, t - j * d])`` over
``t - j * d >= 0``, i.e. the newest input meets the last tap, as in ``F.conv1d`` (cross-correlation)
and the locuslab TCN. The Triton backend is tested against the reference elsewhere.
"""

from __future__ import annotations

import math

import pytest
import torch

from kernels import causal_conv1d
from kernels.causal_conv1d.reference import ACTIVATIONS, causal_conv1d_reference

ACTS = (None, *ACTIVATIONS)


def _act(z: float, activation: str | None) -> float:
    if activation is None:
        return z
    if activation == "relu":
        return max(z, 0.0)
    if activation == "gelu":  # exact erf form
        return 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0)))
    if activation == "silu":
        return z / (1.0 + math.exp(-z))
    raise AssertionError(activation)


def _direct(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dilation: int,
    groups: int,
    activation: str | None,
) -> torch.Tensor:
    """Slow, literal evaluation of the definition in float64 Python arithmetic."""
    batch, c_in, length = x.shape
    c_out, c_in_g, taps = weight.shape
    c_out_g = c_out // groups
    xs, ws = x.double().tolist(), weight.double().tolist()
    bs = bias.double().tolist() if bias is not None else [0.0] * c_out
    out = [[[0.0] * length for _ in range(c_out)] for _ in range(batch)]
    for b in range(batch):
        for o in range(c_out):
            first = (o // c_out_g) * c_in_g  # first input channel of o's group
            for t in range(length):
                acc = bs[o]
                for i in range(c_in_g):
                    row = xs[b][first + i]
                    for j in range(taps):  # j dilation steps into the past
                        src = t - j * dilation
                        if src >= 0:
                            acc += ws[o][i][taps - 1 - j] * row[src]
                out[b][o][t] = _act(acc, activation)
    return torch.tensor(out, dtype=torch.float64)


def _inputs(
    batch: int,
    c_in: int,
    c_out: int,
    groups: int,
    length: int,
    taps: int,
    with_bias: bool = True,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    x = torch.randn(batch, c_in, length, dtype=dtype)
    weight = torch.randn(c_out, c_in // groups, taps, dtype=dtype)
    bias = torch.randn(c_out, dtype=dtype) if with_bias else None
    return x, weight, bias


# (B, C_in, C_out, groups) per layout; L = 11 is odd and shorter than (K - 1) * d for the larger (K, d).
LAYOUTS = {"dense": (2, 3, 4, 1), "depthwise": (2, 4, 4, 4), "grouped": (1, 4, 6, 2)}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dilation", [1, 2, 4, 16])
@pytest.mark.parametrize("taps", [1, 2, 3, 5, 7])
def test_forward_matches_definition(layout: str, dilation: int, taps: int) -> None:
    batch, c_in, c_out, groups = LAYOUTS[layout]
    x, weight, bias = _inputs(batch, c_in, c_out, groups, 11, taps)
    for activation in ACTS:
        for b in (bias, None):
            got = causal_conv1d_reference(x, weight, b, dilation, groups, activation)
            assert got.shape == (batch, c_out, 11)
            torch.testing.assert_close(
                got,
                _direct(x, weight, b, dilation, groups, activation),
                rtol=1e-10,
                atol=1e-10,
                msg=lambda m, a=activation, b=b: f"activation={a}, bias={b is not None}: {m}",
            )


@pytest.mark.parametrize(
    ("batch", "c_in", "c_out", "groups", "length", "taps", "dilation"),
    [
        (1, 1, 1, 1, 1, 1, 1),  # everything 1
        (1, 1, 1, 1, 1, 3, 2),  # L = 1 with a receptive field beyond it
        (1, 1, 1, 1, 7, 3, 3),  # (K - 1) d = 6 < L = 7
        (1, 1, 1, 1, 8, 3, 4),  # (K - 1) d = L exactly
        (1, 1, 1, 1, 9, 5, 16),  # (K - 1) d = 64 >> L
        (1, 5, 5, 5, 13, 7, 2),  # depthwise, B = 1
        (3, 1, 2, 1, 5, 2, 1),  # C_in = 1 -> C_out = 2
        (2, 6, 3, 3, 15, 3, 1),  # grouped with C_out < C_in
    ],
)
def test_forward_edge_shapes(
    batch: int, c_in: int, c_out: int, groups: int, length: int, taps: int, dilation: int
) -> None:
    x, weight, bias = _inputs(batch, c_in, c_out, groups, length, taps)
    for activation in ACTS:
        got = causal_conv1d_reference(x, weight, bias, dilation, groups, activation)
        torch.testing.assert_close(
            got, _direct(x, weight, bias, dilation, groups, activation), rtol=1e-10, atol=1e-10
        )


def test_forward_float32_close_to_float64_definition() -> None:
    x, weight, bias = _inputs(2, 3, 5, 1, 17, 3, dtype=torch.float32)
    got = causal_conv1d_reference(x, weight, bias, 2, 1, "gelu")
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), _direct(x, weight, bias, 2, 1, "gelu"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("batch", "c_in", "c_out", "groups", "length", "taps", "dilation", "activation"),
    [
        (2, 3, 2, 1, 6, 3, 2, None),  # dense
        (2, 3, 3, 3, 7, 2, 1, "gelu"),  # depthwise
        (1, 2, 3, 1, 5, 3, 4, "silu"),  # (K - 1) d = 8 >= L = 5
        (1, 4, 2, 2, 5, 2, 3, "gelu"),  # grouped
    ],
)
def test_backward_gradcheck(
    batch: int,
    c_in: int,
    c_out: int,
    groups: int,
    length: int,
    taps: int,
    dilation: int,
    activation: str | None,
) -> None:
    x, weight, bias = (t.requires_grad_() for t in _inputs(batch, c_in, c_out, groups, length, taps))

    def fn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return causal_conv1d_reference(x, weight, bias, dilation, groups, activation)

    assert torch.autograd.gradcheck(fn, (x, weight, bias), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("dilation", [1, 2, 5, 16])
@pytest.mark.parametrize("t0", [0, 7, 19])
def test_causality_perturbation(dilation: int, t0: int) -> None:
    """Changing x at step t0 changes y exactly at t0, t0 + d, ..., t0 + (K - 1) d (within L), nowhere else."""
    length, taps = 20, 3
    x, weight, bias = _inputs(2, 3, 4, 1, length, taps)
    y = causal_conv1d_reference(x, weight, bias, dilation)
    x2 = x.clone()
    x2[:, :, t0] += 1.0
    y2 = causal_conv1d_reference(x2, weight, bias, dilation)
    assert torch.equal(y2[..., :t0], y[..., :t0]), "an output before the perturbed step changed"
    changed = {t for t in range(length) if (y2[..., t] - y[..., t]).abs().max() > 1e-9}
    assert changed == {t0 + j * dilation for j in range(taps) if t0 + j * dilation < length}


@pytest.mark.parametrize("dilation", [1, 3, 16])
@pytest.mark.parametrize("groups", [1, 4])
def test_causality_receptive_field_of_gradient(dilation: int, groups: int) -> None:
    """d y[..., t] / d x is nonzero exactly at t - j d, j in [0, K), t - j d >= 0."""
    length, taps = 19, 4
    x, weight, bias = _inputs(1, 4, 4, groups, length, taps)
    x.requires_grad_()
    y = causal_conv1d_reference(x, weight, bias, dilation, groups, "silu")
    for t in (0, 5, length - 1):
        (grad,) = torch.autograd.grad(y[..., t].sum(), x, retain_graph=True)
        support = {s for s in range(length) if grad[..., s].abs().max() > 0}
        assert support == {t - j * dilation for j in range(taps) if t - j * dilation >= 0}


# ---- the public op: input checks (backend="torch") and strided inputs ----


def _call(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, **kwargs: object) -> None:
    causal_conv1d(x, weight, bias, backend=kwargs.pop("backend", "torch"), **kwargs)


# values do not matter for the checks (built at import, outside the seeded fixture)
X = torch.ones(2, 4, 9)
W = torch.ones(6, 4, 3)
B = torch.ones(6)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((torch.ones(4, 9), W), {}, r"x must be \(B, C_in, L\).*\(4, 9\)"),
        ((torch.ones(1, 2, 4, 9), W), {}, r"x must be \(B, C_in, L\)"),
        ((X, torch.ones(6, 4)), {}, r"weight must be \(C_out, C_in // groups, K\).*\(6, 4\)"),
        ((X, torch.ones(1, 6, 4, 3)), {}, r"weight must be"),
        ((X, torch.ones(6, 3, 3)), {}, r"weight has 3 input channels per group.*C_in=4"),
        ((X, torch.ones(6, 2, 3)), {}, r"input channels per group.*groups=1"),
        ((X, torch.ones(6, 2, 3)), {"groups": 3}, r"C_in=4.*divisible by groups=3"),
        ((X, torch.ones(5, 2, 3)), {"groups": 2}, r"C_out=5.*divisible by groups=2"),
        ((X, torch.ones(4, 4, 3)), {"groups": 4}, r"weight has 4 input channels per group.*expected 1"),
        ((X, W), {"groups": 0}, r"groups must be a positive int"),
        ((X, W, torch.ones(5)), {}, r"bias must be \(C_out,\).*\(5,\)"),
        ((X, W, torch.ones(1, 6)), {}, r"bias must be \(C_out,\).*\(1, 6\)"),
        ((X, W), {"dilation": 0}, r"dilation must be an int >= 1, got 0"),
        ((X, W), {"dilation": -1}, r"dilation must be an int >= 1, got -1"),
        ((X, W), {"dilation": 1.5}, r"dilation must be an int"),
        ((X, torch.ones(6, 4, 0)), {}, r"kernel size K must be >= 1"),
        ((X, W), {"activation": "tanh"}, r"activation must be None or one of .*'tanh'"),
        ((X, W), {"activation": "GELU"}, r"activation.*'GELU'"),
        ((X, W), {"backend": "cuda"}, r"backend must be .*'cuda'"),
        ((X, W.double()), {}, r"one floating dtype.*float64"),
        ((X, W, B.half()), {}, r"one floating dtype.*float16"),
        ((X.long(), W.long()), {}, r"floating dtype"),
        ((X.to("meta"), W), {}, r"different devices.*meta"),
        ((X, W, B.to("meta")), {}, r"different devices.*meta"),
    ],
    ids=[
        "x-2d",
        "x-4d",
        "weight-2d",
        "weight-4d",
        "weight-cin",
        "weight-cin-groups",
        "cin-not-divisible",
        "cout-not-divisible",
        "depthwise-weight-wrong",
        "groups-0",
        "bias-len",
        "bias-2d",
        "dilation-0",
        "dilation-neg",
        "dilation-float",
        "k-0",
        "activation-unknown",
        "activation-case",
        "backend-unknown",
        "dtype-weight",
        "dtype-bias",
        "dtype-int",
        "device-x-meta",
        "device-bias-meta",
    ],
)
def test_bad_input_raises_value_error(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _call(*args, **dict(kwargs))


@pytest.mark.parametrize("groups", [1, 4])
def test_non_contiguous_inputs(groups: int) -> None:
    x_blc = torch.randn(3, 13, 4)  # (B, L, C): the usual forecaster layout
    x = x_blc.transpose(1, 2)  # (B, C, L) view, not contiguous
    weight = torch.randn(3, 4 // groups, 4).permute(2, 1, 0)  # (C_out=4, C_in // groups, K=3), strided
    bias = torch.randn(8)[::2]  # (4,), strided
    assert not x.is_contiguous() and not weight.is_contiguous() and not bias.is_contiguous()
    got = causal_conv1d(x, weight, bias, dilation=2, groups=groups, activation="relu", backend="torch")
    want = causal_conv1d(
        x.contiguous(),
        weight.contiguous(),
        bias.contiguous(),
        dilation=2,
        groups=groups,
        activation="relu",
        backend="torch",
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(
        got.double(), _direct(x, weight, bias, 2, groups, "relu"), rtol=1e-5, atol=1e-5
    )
    # a strided slice in time (every other step) is a valid, shorter sequence
    x_every_other = torch.randn(3, 4, 26)[..., ::2]
    torch.testing.assert_close(
        causal_conv1d(x_every_other, weight, bias, dilation=3, groups=groups, backend="torch"),
        causal_conv1d(x_every_other.contiguous(), weight, bias, dilation=3, groups=groups, backend="torch"),
    )


@pytest.mark.parametrize("groups", [1, 4])
def test_autocast_casts_like_conv1d(groups: int) -> None:
    """Under CPU bf16 autocast, fp32 weights meet bf16 activations: the op casts as F.conv1d does, the
    output is bf16, and the gradients reach the fp32 parameters; equal to F.conv1d on the same casts."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 19, generator=generator).bfloat16().requires_grad_()  # a bf16 activation
    weight = torch.randn(4, 4 // groups, 3, generator=generator).requires_grad_()
    bias = torch.randn(4, generator=generator).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = causal_conv1d(x, weight, bias, dilation=2, groups=groups, activation="relu")
        expected = torch.relu(
            torch.nn.functional.conv1d(
                torch.nn.functional.pad(x, (4, 0)), weight, bias, dilation=2, groups=groups
            )
        )
    assert y.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(y, expected, rtol=0, atol=0)
    grads = torch.autograd.grad(y.float().square().sum(), (x, weight, bias))
    expected_grads = torch.autograd.grad(expected.float().square().sum(), (x, weight, bias))
    assert grads[1].dtype == grads[2].dtype == torch.float32 and grads[0].dtype == torch.bfloat16
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # fp64 stays fp64, as autocast leaves it
        y64 = causal_conv1d(x.double().detach(), weight.double().detach(), dilation=2, groups=groups)
    assert y64.dtype == torch.float64
