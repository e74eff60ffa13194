"""Triton causal_conv1d kernels against the reference: forward and every gradient, awkward shapes.

On CPU the kernels run in Triton's interpreter (tests/conftest.py sets TRITON_INTERPRET=1 before triton
is imported); on a GPU the same tests run compiled, plus the ``gpu``-marked bf16/large-shape tests.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from kernels import causal_conv1d
from kernels.causal_conv1d import causal_conv1d_reference
from tests.conftest import REPO

pytest.importorskip("triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("the Triton interpreter was not enabled before triton was imported", allow_module_level=True)

# (B, C_in, C_out, L, K, dilation, groups, activation, bias): B=1, C=1, odd L, every K and dilation,
# receptive field longer than L, dense and depthwise, every activation.
CASES = [
    (1, 1, 1, 7, 1, 1, 1, None, False),
    (2, 3, 5, 17, 2, 1, 1, "relu", True),
    (1, 1, 4, 9, 3, 2, 1, "gelu", True),
    (2, 5, 3, 33, 5, 4, 1, "silu", False),
    (3, 7, 7, 19, 7, 16, 1, None, True),  # (K-1)d = 96 >> L
    (2, 20, 33, 41, 3, 4, 1, "gelu", True),  # several channel tiles
    (1, 18, 17, 70, 2, 16, 1, "relu", True),  # several time tiles
    (2, 1, 1, 11, 5, 2, 1, "silu", True),
    (1, 4, 4, 13, 1, 1, 4, "relu", True),  # depthwise
    (2, 6, 6, 21, 3, 2, 6, None, False),
    (1, 9, 9, 15, 5, 4, 9, "gelu", True),
    (2, 3, 3, 25, 7, 16, 3, "silu", True),  # depthwise, (K-1)d > L
    (1, 10, 10, 129, 2, 1, 10, None, True),  # depthwise, several time tiles
]


def _inputs(case: tuple, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    b, c_in, c_out, length, taps, _, groups, _, has_bias = case
    x = torch.randn(b, c_in, length, device=DEVICE, dtype=dtype)
    w = torch.randn(c_out, c_in // groups, taps, device=DEVICE, dtype=dtype) / (c_in // groups * taps) ** 0.5
    bias = torch.randn(c_out, device=DEVICE, dtype=dtype) if has_bias else None
    return x, w, bias


def _run(fn, x, w, bias, case, grad_out):
    _, _, _, _, _, dilation, groups, activation, _ = case
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, w) + ((bias,) if bias is not None else ())]
    y = fn(
        leaves[0],
        leaves[1],
        leaves[2] if bias is not None else None,
        dilation=dilation,
        groups=groups,
        activation=activation,
    )
    grads = torch.autograd.grad(y, leaves, grad_out)
    return y.detach(), grads


def _triton(x, w, bias, **kw):
    return causal_conv1d(x, w, bias, backend="triton", **kw)


def _reference(x, w, bias, **kw):
    return causal_conv1d_reference(x, w, bias, kw["dilation"], kw["groups"], kw["activation"])


@pytest.mark.parametrize(
    "case", CASES, ids=[f"B{c[0]}C{c[1]}-{c[2]}L{c[3]}K{c[4]}d{c[5]}g{c[6]}{c[7]}" for c in CASES]
)
def test_fp32_forward_and_gradients_match_reference(case: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    # exact fp32 on both sides: no TF32 in cuDNN (the reference) nor in tl.dot (same switch)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    torch.manual_seed(0)
    x, w, bias = _inputs(case, torch.float32)
    grad_out = torch.randn(x.shape[0], w.shape[0], x.shape[2], device=DEVICE)
    y, grads = _run(_triton, x, w, bias, case, grad_out)
    y_ref, grads_ref = _run(_reference, x, w, bias, case, grad_out)
    tol = (
        {"rtol": 1e-5, "atol": 1e-5} if DEVICE == "cpu" else {"rtol": 1e-4, "atol": 1e-4}
    )  # GPU: other sum order
    torch.testing.assert_close(y, y_ref, **tol)
    for name, g, g_ref in zip(("dx", "dw", "dbias"), grads, grads_ref, strict=False):
        torch.testing.assert_close(g, g_ref, **tol, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize(
    "case", [CASES[1], CASES[5], CASES[10], CASES[12]], ids=["dense", "dense-tiles", "dw", "dw-long"]
)
def test_fp16_matches_fp32_reference_within_rounding(case: tuple) -> None:
    """fp16 in, fp32 accumulation, fp16 out: the error is the final rounding of each output (relative
    2**-11) plus the fp16 rounding of dz before the weight-gradient reduction; we allow 4e-3 of the
    largest magnitude of each tensor (about 8 fp16 ulps), far below any indexing or tap error."""
    torch.manual_seed(1)
    x, w, bias = _inputs(case, torch.float16)
    grad_out = torch.randn(x.shape[0], w.shape[0], x.shape[2], device=DEVICE, dtype=torch.float16)
    y, grads = _run(_triton, x, w, bias, case, grad_out)
    up = [t.float() if t is not None else None for t in (x, w, bias)]
    y_ref, grads_ref = _run(_reference, *up, case, grad_out.float())
    assert y.dtype == torch.float16 and all(g.dtype == torch.float16 for g in grads)
    for got, want in zip((y, *grads), (y_ref, *grads_ref), strict=False):
        scale = want.abs().max().item()
        assert (got.float() - want).abs().max().item() <= 4e-3 * scale + 1e-3


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("activation", [None, "gelu"])
def test_gradcheck_fp64(groups: int, activation: str | None) -> None:
    torch.manual_seed(2)
    x = torch.randn(1, 3, 9, device=DEVICE, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 3 // groups, 3, device=DEVICE, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, device=DEVICE, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: causal_conv1d(
            x, w, b, dilation=2, groups=groups, activation=activation, backend="triton"
        ),
        (x, w, b),
        atol=1e-6,
        rtol=1e-5,
    )


@pytest.mark.parametrize("groups", [1, 8])
def test_causality(groups: int) -> None:
    torch.manual_seed(3)
    x = torch.randn(2, 8, 40, device=DEVICE)
    w = torch.randn(8, 8 // groups, 3, device=DEVICE)
    y = causal_conv1d(x, w, dilation=4, groups=groups, backend="triton")
    for t in (0, 13, 39):
        x2 = x.clone()
        x2[..., t] += 10.0
        y2 = causal_conv1d(x2, w, dilation=4, groups=groups, backend="triton")
        assert torch.equal(y2[..., :t], y[..., :t])
        assert not torch.allclose(y2[..., t], y[..., t])


@pytest.mark.parametrize("groups", [1, 6])
def test_weight_gradient_is_deterministic(groups: int) -> None:
    torch.manual_seed(4)
    x = torch.randn(3, 6, 50, device=DEVICE)
    w = torch.randn(6, 6 // groups, 3, device=DEVICE, requires_grad=True)
    b = torch.zeros(6, device=DEVICE, requires_grad=True)
    runs = []
    for _ in range(2):
        y = causal_conv1d(x, w, b, dilation=2, groups=groups, activation="silu", backend="triton")
        runs.append(torch.autograd.grad(y.square().sum(), (w, b)))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


def test_non_contiguous_input_is_handled() -> None:
    x = torch.randn(2, 30, 5, device=DEVICE).transpose(1, 2)  # (2, 5, 30), non-contiguous
    w = torch.randn(4, 5, 3, device=DEVICE)
    torch.testing.assert_close(
        causal_conv1d(x, w, backend="triton"), causal_conv1d_reference(x, w), rtol=1e-4, atol=1e-4
    )


def test_custom_op_under_torch_compile() -> None:
    x = torch.randn(2, 4, 20, device=DEVICE, requires_grad=True)
    w = torch.randn(4, 4, 3, device=DEVICE, requires_grad=True)

    def fn(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return causal_conv1d(x, w, dilation=2, activation="relu", backend="triton").sum()

    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, w), fn(x, w))
    (gx,) = torch.autograd.grad(compiled(x, w), (x,))
    (gx_ref,) = torch.autograd.grad(fn(x, w), (x,))
    torch.testing.assert_close(gx, gx_ref)
    torch.library.opcheck(
        torch.ops.zoo_kernels.causal_conv1d_fwd.default, (x.detach(), w.detach(), None, 2, 1, 1, False)
    )


def test_unsupported_cases_are_clear_errors() -> None:
    x = torch.randn(1, 4, 8, device=DEVICE)
    with pytest.raises(ValueError, match="groups=1 and depthwise"):
        causal_conv1d(x, torch.randn(4, 2, 3, device=DEVICE), groups=2, backend="triton")
    if DEVICE == "cpu":
        with pytest.raises(ValueError, match="interpreter cannot run bf16"):
            causal_conv1d(x.bfloat16(), torch.randn(4, 4, 3).bfloat16(), backend="triton")
    # grouped (not depthwise) still works through the reference on "auto"
    assert causal_conv1d(x, torch.randn(4, 2, 3, device=DEVICE), groups=2).shape == (1, 4, 8)


def test_triton_on_cpu_without_interpreter_is_a_clear_error() -> None:
    code = (
        "import torch, kernels\n"
        "try:\n    kernels.causal_conv1d(torch.randn(1, 2, 5), torch.randn(2, 2, 3), backend='triton')\n"
        "except RuntimeError as err:\n    print(err)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert "TRITON_INTERPRET=1" in out.stdout


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("groups", [1, 256])
def test_gpu_large_shapes(dtype: torch.dtype, groups: int) -> None:
    torch.manual_seed(5)
    case = (4, 256, 256, 1000, 3, 8, groups, "relu", True)
    x, w, bias = _inputs(case, dtype)
    grad_out = torch.randn(4, 256, 1000, device=DEVICE, dtype=dtype)
    y, grads = _run(_triton, x, w, bias, case, grad_out)
    y_ref, grads_ref = _run(_reference, *[t.float() for t in (x, w, bias)], case, grad_out.float())
    rel = {torch.float32: 5e-3, torch.float16: 5e-3, torch.bfloat16: 3e-2}[dtype]
    for got, want in zip((y, *grads), (y_ref, *grads_ref), strict=False):
        assert (got.float() - want).abs().max().item() <= rel * want.abs().max().item()
