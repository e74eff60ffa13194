"""Triton probsparse_attention kernels against the reference: forward and every gradient, awkward shapes.

On CPU the kernels run in Triton's interpreter (tests/conftest.py sets TRITON_INTERPRET=1 before triton
is imported); on a GPU the same tests run compiled, plus the ``gpu``-marked bf16/large-shape tests. Both
backends are given the same ``index_sample``, so they compute the same function.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch

from kernels import probsparse_attention
from kernels.probsparse_attention import probsparse_attention_reference, probsparse_sizes, sample_index
from kernels.probsparse_attention.reference import attend_selected, select_active, sparsity_measure
from tests.conftest import REPO

pytest.importorskip("triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("the Triton interpreter was not enabled before triton was imported", allow_module_level=True)

# (B, H, L_Q, L_K, D, causal, alibi): L = 1; L < U (every query active, keys sampled more than once);
# odd D (24, 20: padded to 32 and masked); cross attention L_Q < L_K and L_Q > L_K > ... with L_K < U;
# several row/key blocks and scan chunks (16 in the interpreter); D in {16, 32, 64}.
CASES = [
    (1, 1, 1, 1, 16, False, False),
    (1, 1, 1, 1, 16, True, True),
    (1, 1, 7, 7, 16, True, False),
    (2, 3, 40, 40, 24, True, True),
    (2, 2, 40, 40, 20, False, True),
    (1, 2, 33, 50, 32, False, False),
    (2, 1, 9, 3, 64, False, True),
    (1, 1, 50, 20, 16, False, False),
    (1, 2, 64, 64, 64, True, False),
    (1, 1, 70, 70, 32, False, True),
]
IDS = ["B{}H{}Lq{}Lk{}D{}".format(*c[:5]) + "-causal" * c[5] + "-alibi" * c[6] for c in CASES]


def _inputs(case: tuple, dtype: torch.dtype, seed: int = 0) -> dict:
    batch, heads, l_q, l_k, dim, causal, alibi = case
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(device=DEVICE, dtype=dtype)

    return {
        "q": randn(batch, heads, l_q, dim),
        "k": randn(batch, heads, l_k, dim),
        "v": randn(batch, heads, l_k, dim),
        "grad_out": randn(batch, heads, l_q, dim),
        "causal": causal,
        "alibi_slopes": torch.rand(heads, generator=gen).to(DEVICE) if alibi else None,
        "index_sample": sample_index(l_q, l_k, 5, generator=gen).to(DEVICE),
    }


def _run(backend: str, inp: dict, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, ...]:
    """Output and (dq, dk, dv), with the inputs cast to ``dtype`` first when given."""
    leaves = [inp[n].to(dtype or inp[n].dtype).detach().requires_grad_() for n in ("q", "k", "v")]
    out = probsparse_attention(
        *leaves,
        causal=inp["causal"],
        index_sample=inp["index_sample"],
        alibi_slopes=inp["alibi_slopes"],
        backend=backend,
    )
    grads = torch.autograd.grad(out, leaves, inp["grad_out"].to(out.dtype))
    return (out.detach(), *grads)


@pytest.fixture
def no_tf32() -> Iterator[None]:
    """Exact fp32 on both sides: no TF32 in the reference's matmuls nor in tl.dot (the same switch)."""
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = old


@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fp32_forward_and_gradients_match_reference(case: tuple) -> None:
    inp = _inputs(case, torch.float32)
    got, want = _run("triton", inp), _run("torch", inp)
    tol = {"rtol": 2e-5, "atol": 2e-5} if DEVICE == "cpu" else {"rtol": 1e-4, "atol": 1e-4}
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want, strict=True):
        torch.testing.assert_close(g, w, **tol, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("case", [CASES[3], CASES[5], CASES[8]], ids=[IDS[3], IDS[5], IDS[8]])
def test_fp16_matches_fp32_reference_within_rounding(case: tuple) -> None:
    """fp16 in, fp32 accumulation, fp16 out (P cast to fp16 before P @ V, as flash attention does): within
    1e-2 of each tensor's largest magnitude, far below an indexing or masking error. The same key
    samples and fp32-accumulated scores give the same active rows as the fp32 reference."""
    inp = _inputs(case, torch.float16, seed=1)
    got = _run("triton", inp)
    want = _run("torch", inp, dtype=torch.float32)
    assert all(t.dtype == torch.float16 for t in got)
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want, strict=True):
        scale = w.abs().max().item()
        assert (g.float() - w).abs().max().item() <= 1e-2 * scale + 1e-3, name


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck_fp64(causal: bool) -> None:
    gen = torch.Generator().manual_seed(2)
    q, k, v = (
        torch.randn(1, 2, 12, 5, generator=gen, dtype=torch.float64).to(DEVICE).requires_grad_()
        for _ in range(3)
    )
    index = sample_index(12, 12, 2, generator=gen).to(DEVICE)
    slopes = torch.tensor([0.3, 0.05], device=DEVICE)
    assert torch.autograd.gradcheck(
        lambda q, k, v: probsparse_attention(
            q, k, v, factor=2, causal=causal, index_sample=index, alibi_slopes=slopes, backend="triton"
        ),
        (q, k, v),
        eps=1e-6,
        atol=1e-6,
        rtol=1e-5,
        fast_mode=True,
    )


@pytest.mark.parametrize("case", [CASES[4], CASES[8]], ids=[IDS[4], IDS[8]])
def test_selection_and_launcher_outputs(case: tuple) -> None:
    """The score kernel's sparsity measure selects the reference's active rows; the log-sum-exp is finite."""
    from kernels.probsparse_attention.op import _launch_fwd

    inp = _inputs(case, torch.float32, seed=3)
    q, k, v, index, slopes = inp["q"], inp["k"], inp["v"], inp["index_sample"], inp["alibi_slopes"]
    scale = q.shape[-1] ** -0.5
    n_top = probsparse_sizes(q.shape[2], k.shape[2], 5)[1]
    out, top, lse = _launch_fwd(q, k, v, index, slopes, n_top, inp["causal"], scale)
    assert torch.equal(top, select_active(sparsity_measure(q, k, index, scale, slopes), n_top))
    assert torch.isfinite(lse).all() and torch.isfinite(out).all()


def test_deterministic_and_generator_seeded() -> None:
    inp = _inputs(CASES[4], torch.float32, seed=4)
    runs = [_run("triton", inp) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))
    q, k, v = inp["q"], inp["k"], inp["v"]
    seeded = [
        probsparse_attention(q, k, v, generator=torch.Generator(DEVICE).manual_seed(5), backend="triton")
        for _ in range(2)
    ]
    assert torch.equal(*seeded)


def test_non_contiguous_inputs() -> None:
    blhd = [torch.randn(2, 30, 3, 24, device=DEVICE) for _ in range(3)]  # (B, L, H, D) projections
    q, k, v = (t.transpose(1, 2).requires_grad_() for t in blhd)
    index = sample_index(30, 30, 5).to(DEVICE)
    out = probsparse_attention(q, k, v, index_sample=index, causal=True, backend="triton")
    want = probsparse_attention_reference(q, k, v, index, causal=True)
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
    # the gradient of a sum arrives as an expanded (stride 0) tensor
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    grads_ref = torch.autograd.grad(want.sum(), (q, k, v))
    for g, w in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_custom_op_under_torch_compile() -> None:
    q, k, v = (torch.randn(1, 2, 20, 16, device=DEVICE, requires_grad=True) for _ in range(3))
    index = sample_index(20, 20, 5).to(DEVICE)

    def fn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return probsparse_attention(q, k, v, causal=True, index_sample=index, backend="triton").square().sum()

    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v), fn(q, k, v))
    (gk,) = torch.autograd.grad(compiled(q, k, v), (k,))
    (gk_ref,) = torch.autograd.grad(fn(q, k, v), (k,))
    torch.testing.assert_close(gk, gk_ref)
    torch.library.opcheck(
        torch.ops.zoo_kernels.probsparse_attention_fwd.default,
        (q.detach(), k.detach(), v.detach(), index, None, 15, True, 0.25),
    )


def test_unsupported_cases_are_clear_errors() -> None:
    q = torch.randn(1, 2, 8, 160, device=DEVICE)
    with pytest.raises(ValueError, match=r"head dims D <= 128, got D=160"):
        probsparse_attention(q, q, q, backend="triton")
    # auto falls back to the reference for them
    assert probsparse_attention(q, q, q).shape == (1, 2, 8, 160)
    if DEVICE == "cpu":
        x = torch.randn(1, 2, 8, 16).bfloat16()
        with pytest.raises(ValueError, match="interpreter cannot run bf16"):
            probsparse_attention(x, x, x, backend="triton")


def test_triton_on_cpu_without_interpreter_is_a_clear_error() -> None:
    code = (
        "import torch, kernels\nx = torch.randn(1, 1, 5, 16)\n"
        "try:\n    kernels.probsparse_attention(x, x, x, backend='triton')\n"
        "except RuntimeError as err:\n    print(err)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert "TRITON_INTERPRET=1" in out.stdout


def _check_on_kernel_selection(case: tuple, dtype: torch.dtype, seed: int, rel: float) -> None:
    """Triton in ``dtype`` against the fp32 reference on the same active rows: the score kernel's
    selection must agree with the reference's for almost all of them (a near-tie in M may flip one in
    fp32 with another summation order), and the attention is compared on the kernel's selection."""
    from kernels.probsparse_attention.op import _launch_fwd

    inp = _inputs(case, dtype, seed=seed)
    q, k, v = inp["q"], inp["k"], inp["v"]
    scale = q.shape[-1] ** -0.5
    n_top = probsparse_sizes(q.shape[2], k.shape[2], 5)[1]
    with torch.no_grad():
        top = _launch_fwd(q, k, v, inp["index_sample"], inp["alibi_slopes"], n_top, inp["causal"], scale)[1]
    up = [t.float() for t in (q, k, v)]
    want_top = select_active(
        sparsity_measure(up[0], up[1], inp["index_sample"], scale, inp["alibi_slopes"]), n_top
    )
    agree = (top[..., :, None] == want_top[..., None, :]).any(-1).float().mean().item()  # per (b, h)
    assert agree >= 0.99, f"only {agree:.3f} of the active rows agree with the reference's"
    got = _run("triton", inp)
    leaves = [t.detach().requires_grad_() for t in up]
    out = attend_selected(*leaves, top, causal=inp["causal"], scale=scale, alibi_slopes=inp["alibi_slopes"])
    want = (out.detach(), *torch.autograd.grad(out, leaves, inp["grad_out"].float()))
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want, strict=True):
        assert (g.float() - w).abs().max().item() <= rel * w.abs().max().item(), name


def test_check_on_kernel_selection_small() -> None:
    """The helper of the GPU tests, on a shape the interpreter runs quickly."""
    _check_on_kernel_selection((1, 2, 40, 40, 16, True, True), torch.float32, seed=8, rel=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dim", [32, 64, 128])
def test_gpu_large_shapes(dtype: torch.dtype, causal: bool, dim: int) -> None:
    rel = {torch.float32: 5e-3, torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]
    _check_on_kernel_selection((2, 4, 1500, 1500, dim, causal, True), dtype, seed=6, rel=rel)


@pytest.mark.gpu
def test_gpu_cross_attention_long_keys() -> None:
    _check_on_kernel_selection((1, 2, 96, 5000, 64, False, False), torch.bfloat16, seed=7, rel=5e-2)
