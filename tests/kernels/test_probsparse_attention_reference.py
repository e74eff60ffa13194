"""The PyTorch reference of ``probsparse_attention`` against a literal transcription of Informer2020's
``ProbAttention`` (Zhou et al., AAAI 2021, ``models/attn.py``), and the public op's input checks.

The oracle below follows the original code step by step in float64 (expand K to (B, H, L_Q, L_K, D),
gather the sampled keys, the sparsity measure, ``topk``, the initial context, the in-place update), with
the one documented change of ``reference.py``: the sampled scores are scaled and carry the ALiBi bias,
which the original has no notion of. The Triton backend is tested against the reference elsewhere.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from kernels import probsparse_attention
from kernels.probsparse_attention import (
    probsparse_attention_reference,
    probsparse_sizes,
    sample_index,
    sparsity_measure,
)
from kernels.probsparse_attention.reference import _measure_dense, _measure_gathered, select_active
from tests.conftest import REPO


def _alibi_full(slopes: torch.Tensor | None, l_q: int, l_k: int) -> torch.Tensor:
    """(H, L_Q, L_K) bias -m_h |i - j| (zeros without slopes)."""
    if slopes is None:
        return torch.zeros(1, l_q, l_k, dtype=torch.float64)
    distance = (torch.arange(l_q)[:, None] - torch.arange(l_k)[None, :]).abs().double()
    return -slopes.double()[:, None, None] * distance


def _informer_literal(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    index_sample: torch.Tensor,
    factor: int,
    causal: bool,
    scale: float,
    slopes: torch.Tensor | None = None,
    unscaled_measure: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Informer2020 ProbAttention.forward on (B, H, L, D) tensors; returns (context, M_top)."""
    batch, heads, l_q, dim = q.shape
    l_k = k.shape[2]
    u_part = factor * math.ceil(math.log(l_k))  # c*ln(L_k)
    u = factor * math.ceil(math.log(l_q))  # c*ln(L_q)
    u_part = max(1, u_part if u_part < l_k else l_k)
    u = max(1, u if u < l_q else l_q)
    assert index_sample.shape == (l_q, u_part)
    bias = _alibi_full(slopes, l_q, l_k)  # (H or 1, L_Q, L_K)
    # _prob_QK
    k_expand = k.unsqueeze(-3).expand(batch, heads, l_q, l_k, dim)
    k_sample = k_expand[:, :, torch.arange(l_q).unsqueeze(1), index_sample, :]  # (B, H, L_Q, U, D)
    q_k_sample = torch.matmul(q.unsqueeze(-2), k_sample.transpose(-2, -1)).squeeze(-2)  # (B, H, L_Q, U)
    if not unscaled_measure:
        q_k_sample = q_k_sample * scale + bias[:, torch.arange(l_q).unsqueeze(1), index_sample]
    m = q_k_sample.max(-1)[0] - torch.div(q_k_sample.sum(-1), l_k)
    m_top = m.topk(u, sorted=False)[1]
    b_idx, h_idx = torch.arange(batch)[:, None, None], torch.arange(heads)[None, :, None]
    q_reduce = q[b_idx, h_idx, m_top, :]
    scores_top = torch.matmul(q_reduce, k.transpose(-2, -1)) * scale
    scores_top = scores_top + bias.expand(batch, heads, l_q, l_k)[b_idx, h_idx, m_top, :]
    # _get_initial_context
    if not causal:
        v_sum = v.mean(dim=-2)
        context = v_sum.unsqueeze(-2).expand(batch, heads, l_q, v_sum.shape[-1]).clone()
    else:
        assert l_q == l_k
        context = v.cumsum(dim=-2)
    # _update_context with ProbMask
    if causal:
        mask = torch.ones(l_q, l_k, dtype=torch.bool).triu(1)[None, None].expand(batch, heads, l_q, l_k)
        scores_top = scores_top.masked_fill(mask[b_idx, h_idx, m_top, :], -math.inf)
    attn = torch.softmax(scores_top, dim=-1)
    context[b_idx, h_idx, m_top, :] = torch.matmul(attn, v).type_as(context)
    return context, m_top


def _qkv(
    batch: int, heads: int, l_q: int, l_k: int, dim: int, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    shapes = ((batch, heads, l_q, dim), (batch, heads, l_k, dim), (batch, heads, l_k, dim))
    q, k, v = (torch.randn(*shape, dtype=dtype) for shape in shapes)
    return q, k, v


# (B, H, L_Q, L_K, D, factor): L = 1; L < U and u (every query active); cross attention both ways; many lazy
# rows; factor 1 and 2 give U small enough that the gathered-keys path of the measure runs (L_K > 12 U).
SHAPES = [
    (1, 1, 1, 1, 4, 5),
    (2, 2, 5, 5, 3, 5),
    (2, 3, 24, 24, 8, 5),
    (1, 2, 30, 50, 8, 5),
    (2, 1, 40, 9, 5, 5),
    (2, 2, 60, 60, 16, 2),
    (1, 3, 50, 50, 6, 1),
]


@pytest.mark.parametrize("alibi", [False, True], ids=["plain", "alibi"])
@pytest.mark.parametrize(
    ("shape", "causal"),
    [(s, c) for s in SHAPES for c in (False, True) if not c or s[2] == s[3]],  # causal needs L_Q == L_K
    ids=lambda p: "B{}H{}Lq{}Lk{}D{}c{}".format(*p) if isinstance(p, tuple) else ("causal" if p else "full"),
)
def test_forward_and_gradients_match_informer_literal(shape: tuple, causal: bool, alibi: bool) -> None:
    batch, heads, l_q, l_k, dim, factor = shape
    q, k, v = _qkv(batch, heads, l_q, l_k, dim)
    slopes = torch.rand(heads, dtype=torch.float64) if alibi else None
    index = sample_index(l_q, l_k, factor)
    scale = dim**-0.5
    grad_out = torch.randn(batch, heads, l_q, dim, dtype=torch.float64)
    results = []
    for fn in (
        lambda q, k, v: probsparse_attention_reference(
            q, k, v, index, factor=factor, causal=causal, alibi_slopes=slopes
        ),
        lambda q, k, v: _informer_literal(q, k, v, index, factor, causal, scale, slopes)[0],
    ):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        out = fn(*leaves)
        results.append((out.detach(), *torch.autograd.grad(out, leaves, grad_out)))
    for name, got, want in zip(("out", "dq", "dk", "dv"), *results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("alibi", [False, True])
@pytest.mark.parametrize(("l_q", "l_k", "factor"), [(7, 7, 5), (40, 33, 5), (64, 200, 2), (30, 90, 1)])
def test_both_measure_paths_match_literal(l_q: int, l_k: int, factor: int, alibi: bool) -> None:
    """The dense (gather scores) and gathered (gather keys, chunked) forms of M agree with the original."""
    q, k, _ = _qkv(2, 3, l_q, l_k, 8)
    slopes = torch.rand(3, dtype=torch.float64) if alibi else None
    index = sample_index(l_q, l_k, factor)
    bias = _alibi_full(slopes, l_q, l_k)[:, torch.arange(l_q)[:, None], index]  # (H, L_Q, U)
    sampled = torch.einsum("bhid,bhiud->bhiu", q, k[:, :, index]) * 0.3 + bias
    want = sampled.amax(-1) - sampled.sum(-1) / l_k
    for fn in (_measure_dense, _measure_gathered, sparsity_measure):
        torch.testing.assert_close(fn(q, k, index, 0.3, slopes), want, rtol=1e-12, atol=1e-12)


def test_selection_without_alibi_equals_the_originals_unscaled_measure() -> None:
    """Scaling the sampled scores by scale > 0 (ours) keeps the original's top-u queries."""
    q, k, v = _qkv(3, 4, 80, 80, 16)
    index = sample_index(80, 80, 5)
    for scale in (0.25, 1.0, 3.0):
        _, m_top = _informer_literal(q, k, v, index, 5, False, scale, unscaled_measure=True)
        ours = select_active(sparsity_measure(q, k, index, scale), probsparse_sizes(80, 80, 5)[1])
        assert torch.equal(m_top.sort(-1).values, ours)


@pytest.mark.parametrize(
    ("length", "factor", "expected"),
    [
        (1, 5, 1),
        (2, 5, 2),
        (3, 5, 3),
        (5, 5, 5),
        (20, 5, 15),
        (96, 5, 25),
        (336, 5, 30),
        (720, 5, 35),
        (2880, 5, 40),
        (96, 1, 5),
        (96, 3, 15),
        (2, 1, 1),
    ],
)
def test_sizes_follow_c_ln_l_clipped(length: int, factor: int, expected: int) -> None:
    assert probsparse_sizes(length, length, factor) == (expected, expected)


def test_cross_attention_sizes_use_each_length() -> None:
    assert probsparse_sizes(96, 720, 5) == (35, 25)  # (U from L_K, u from L_Q)
    assert sample_index(96, 720, 5).shape == (96, 35)


def test_lazy_rows_and_gradient_support() -> None:
    """Lazy rows are mean(v) / cumsum(v); dq vanishes on them; exactly u rows are active per (b, h)."""
    q, k, v = _qkv(2, 2, 60, 60, 8)
    index = sample_index(60, 60, 2)
    n_top = probsparse_sizes(60, 60, 2)[1]
    for causal in (False, True):
        qq = q.clone().requires_grad_()
        out = probsparse_attention_reference(qq, k, v, index, factor=2, causal=causal)
        lazy = v.cumsum(-2) if causal else v.mean(-2, keepdim=True).expand_as(v)
        is_lazy = (out - lazy).abs().amax(-1) < 1e-12  # (B, H, L_Q)
        assert (is_lazy.logical_not().sum(-1) <= n_top).all()
        (dq,) = torch.autograd.grad(out.square().sum(), qq)
        assert (dq.abs().amax(-1)[is_lazy] == 0).all()
        # causal: an active row 0 sees key 0 only, so its output (v_0) and dq (0) do not depend on q
        rows_with_dq = (dq.abs().amax(-1) > 0).sum(-1)
        assert (rows_with_dq <= n_top).all() and (rows_with_dq >= n_top - int(causal)).all()


def test_float32_close_to_float64_literal() -> None:
    q, k, v = _qkv(2, 2, 48, 48, 16, dtype=torch.float32)
    index = sample_index(48, 48, 5)
    got = probsparse_attention_reference(q, k, v, index, causal=True)
    assert got.dtype == torch.float32
    want, _ = _informer_literal(q.double(), k.double(), v.double(), index, 5, True, 0.25)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


def test_gradcheck() -> None:
    q, k, v = (t.requires_grad_() for t in _qkv(1, 2, 9, 9, 4))
    slopes = torch.tensor([0.5, 0.25], dtype=torch.float64)
    index = sample_index(9, 9, 1)
    for causal in (False, True):
        assert torch.autograd.gradcheck(
            lambda q, k, v, c=causal: probsparse_attention_reference(
                q, k, v, index, factor=1, causal=c, alibi_slopes=slopes
            ),
            (q, k, v),
            eps=1e-6,
            atol=1e-7,
            rtol=1e-5,
            fast_mode=True,
        )


class _LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an op returns."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("length", [200, 3000])  # the dense-scores and the gathered-keys path
def test_never_materialises_the_gathered_keys(length: int) -> None:
    """No tensor of forward+backward is larger than the inputs, the active rows' scores (B, H, u, L_K)
    or one chunk of scratch (4 MiB on CPU), and none is as large as the original's gathered keys."""
    batch, heads, dim = 2, 2, 16
    q, k, v = (t.requires_grad_() for t in _qkv(batch, heads, length, length, dim, dtype=torch.float32))
    index = sample_index(length, length, 5)
    with _LargestTensor() as mode:
        probsparse_attention_reference(q, k, v, index).sum().backward()
    n_sample, n_top = probsparse_sizes(length, length, 5)
    gathered = batch * heads * length * n_sample * dim  # the original's (B, H, L_Q, U, D)
    assert mode.largest <= max(q.numel(), batch * heads * n_top * length, (4 << 20) // 4)
    assert mode.largest < gathered / 2


# ---- the public op: sampling, determinism, dispatch and input checks (backend="torch") ----


def test_same_generator_seed_same_output() -> None:
    q, k, v = _qkv(2, 2, 50, 50, 8, dtype=torch.float32)
    outs = [
        probsparse_attention(q, k, v, generator=torch.Generator().manual_seed(s), backend="torch")
        for s in (7, 7, 8)
    ]
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])
    # a given index_sample is the same function: the draw of the seeded generator, passed explicitly
    index = sample_index(50, 50, 5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(probsparse_attention(q, k, v, index_sample=index, backend="torch"), outs[0])
    # the default draw uses the global RNG: reseeding it reproduces the output too
    torch.manual_seed(3)
    first = probsparse_attention(q, k, v)
    torch.manual_seed(3)
    assert torch.equal(probsparse_attention(q, k, v), first)


def test_auto_on_cpu_is_the_reference_and_scale_default() -> None:
    q, k, v = _qkv(1, 2, 20, 30, 8, dtype=torch.float32)
    index = sample_index(20, 30, 5)
    want = probsparse_attention_reference(q, k, v, index, scale=8**-0.5)
    assert torch.equal(probsparse_attention(q, k, v, index_sample=index), want)
    other = probsparse_attention(q, k, v, index_sample=index, scale=0.5, backend="torch")
    assert torch.equal(other, probsparse_attention_reference(q, k, v, index, scale=0.5))


def test_works_without_triton() -> None:
    """The op imports and runs the reference where triton cannot be imported; backend='triton' says why."""
    code = (
        "import sys\nsys.modules['triton'] = None\nimport torch, kernels\n"
        "x = torch.randn(1, 2, 30, 8)\n"
        "assert kernels.probsparse_attention(x, x, x).shape == (1, 2, 30, 8)\n"
        "try:\n    kernels.probsparse_attention(x, x, x, backend='triton')\n"
        "except ImportError as err:\n    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert "probsparse_attention: backend='triton' needs the triton package" in out.stdout


def test_non_contiguous_inputs() -> None:
    blhd = [torch.randn(2, 30, 3, 8) for _ in range(3)]  # (B, L, H, D): the usual projection layout
    q, k, v = (t.transpose(1, 2) for t in blhd)
    index = sample_index(30, 30, 5)
    got = probsparse_attention(q, k, v, index_sample=index, causal=True, backend="torch")
    want = probsparse_attention(
        *(t.contiguous() for t in (q, k, v)), index_sample=index, causal=True, backend="torch"
    )
    torch.testing.assert_close(got, want)


# values do not matter for the checks (built at import, outside the seeded fixture)
Q = torch.ones(2, 3, 10, 8)
KV = torch.ones(2, 3, 12, 8)
IDX = torch.zeros(10, 15, dtype=torch.long)  # 5 ceil(ln 12) = 15 columns, but U = min(15, L_K) = 12


def _call(q: torch.Tensor = Q, k: torch.Tensor = KV, v: torch.Tensor | None = None, **kwargs: object) -> None:
    probsparse_attention(q, k, k if v is None else v, backend=kwargs.pop("backend", "torch"), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"q": torch.ones(3, 10, 8)}, r"q must be \(B, H, L_Q, D\), got shape \(3, 10, 8\)"),
        ({"k": torch.ones(1, 2, 3, 12, 8)}, r"k must be \(B, H, L_K, D\), got shape \(1, 2, 3, 12, 8\)"),
        ({"v": torch.ones(2, 3, 11, 8)}, r"k and v must have the same shape.*\(2, 3, 12, 8\).*\(2, 3, 11"),
        ({"q": torch.ones(1, 3, 10, 8)}, r"q and k must share \(B, H\).*\(1, 3, 10, 8\).*\(2, 3, 12, 8\)"),
        ({"q": torch.ones(2, 4, 10, 8)}, r"q and k must share \(B, H\)"),
        ({"q": torch.ones(2, 3, 10, 6)}, r"share the head dim D.*D=6.*D=8"),
        ({"q": torch.ones(2, 3, 0, 8)}, r"q must be non-empty"),
        ({"causal": True}, r"causal=True needs L_Q == L_K.*\(2, 3, 10, 8\).*\(2, 3, 12, 8\)"),
        ({"factor": 0}, r"factor must be an int >= 1, got 0"),
        ({"factor": 2.5}, r"factor must be an int >= 1, got 2.5"),
        ({"scale": -1.0}, r"scale must be None or a positive number, got -1.0"),
        ({"alibi_slopes": torch.ones(2)}, r"alibi_slopes must be \(H,\) = \(3,\), got shape \(2,\)"),
        ({"alibi_slopes": torch.ones(3, dtype=torch.long)}, r"alibi_slopes must be a floating tensor"),
        ({"index_sample": IDX}, r"must be \(L_Q, U\) = \(10, 12\).*factor=5, L_K=12.*\(10, 15\)"),
        ({"index_sample": torch.zeros(12, 12, dtype=torch.long)}, r"must be \(L_Q, U\) = \(10, 12\)"),
        ({"index_sample": torch.zeros(10, 12, dtype=torch.int32)}, r"index_sample must be int64.*int32"),
        ({"index_sample": torch.full((10, 12), 12)}, r"key positions in \[0, L_K\) = \[0, 12\).*\[12, 12\]"),
        ({"index_sample": torch.full((10, 12), -1)}, r"key positions in \[0, L_K\).*\[-1, -1\]"),
        (
            {"index_sample": torch.zeros(10, 12, dtype=torch.long), "generator": torch.Generator()},
            r"pass index_sample or generator, not both",
        ),
        ({"index_sample": torch.zeros(10, 12, dtype=torch.long, device="meta")}, r"index_sample is on meta"),
        ({"backend": "cuda"}, r"backend must be 'auto', 'triton' or 'torch', got 'cuda'"),
        ({"v": KV.double()}, r"one floating dtype.*float64"),
        ({"q": Q.long(), "k": KV.long()}, r"floating dtype"),
        ({"v": KV.to("meta")}, r"different devices.*meta"),
    ],
    ids=[
        "q-3d",
        "k-5d",
        "v-shape",
        "batch",
        "heads",
        "head-dim",
        "empty",
        "causal-cross",
        "factor-0",
        "factor-float",
        "scale-neg",
        "alibi-shape",
        "alibi-int",
        "index-cols",
        "index-rows",
        "index-int32",
        "index-high",
        "index-neg",
        "index-and-generator",
        "index-device",
        "backend",
        "dtype-v",
        "dtype-int",
        "device-v",
    ],
)
def test_bad_input_raises_value_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _call(**dict(kwargs))
