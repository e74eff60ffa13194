"""``probsparse_attention``: checks, dispatch, launchers and autograd for ProbSparse attention.

The function (Zhou et al., AAAI 2021; the Informer2020 repository's ``ProbAttention``, with every
choice spelled out) is defined in ``reference.py``. Backends: ``"torch"`` (the reference), ``"triton"``
(the kernels in ``triton.py``, on CUDA, or on CPU tensors under ``TRITON_INTERPRET=1``), ``"auto"``
(Triton on CUDA for fp16/bf16/fp32 and D <= 128, else the reference). The key samples are an input:
``index_sample`` (L_Q, U), drawn from ``generator`` when not given, so both backends compute the same
function of (q, k, v, index_sample). The top-u selection (``torch.topk`` over the sparsity measure)
stays in PyTorch on both paths.

The Triton path is a pair of ``torch.library`` custom ops (``zoo_kernels::probsparse_attention_fwd`` and
``..._bwd``) with a registered autograd formula and fake (meta) implementations, so it composes with
``torch.compile``. fp32 inputs use TF32 tensor cores when ``torch.backends.cuda.matmul.allow_tf32`` is
set, the switch that lets ``q @ k^T`` in PyTorch use them.
"""

from __future__ import annotations

import math

import torch

from kernels.probsparse_attention.reference import (
    probsparse_attention_reference,
    probsparse_sizes,
    sample_index,
    select_active,
)
from kernels.triton_support import BACKENDS, Backend, cdiv, check_choice, use_triton

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_TRITON_MAX_D = 128
_LOG2E = 1.4426950408889634


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_tensors(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    for name, t, axes in (("q", q, "(B, H, L_Q, D)"), ("k", k, "(B, H, L_K, D)"), ("v", v, "(B, H, L_K, D)")):
        if not isinstance(t, torch.Tensor) or t.ndim != 4:
            got = _shape(t) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"probsparse_attention: {name} must be {axes}, got shape {got}")
        if 0 in t.shape:
            raise ValueError(f"probsparse_attention: {name} must be non-empty {axes}, got shape {_shape(t)}")
    if k.shape != v.shape:
        raise ValueError(
            f"probsparse_attention: k and v must have the same shape (B, H, L_K, D), got "
            f"k {_shape(k)} and v {_shape(v)}"
        )
    if q.shape[:2] != k.shape[:2]:
        raise ValueError(
            f"probsparse_attention: q and k must share (B, H), got q {_shape(q)} and k {_shape(k)}"
        )
    if q.shape[3] != k.shape[3]:
        raise ValueError(
            f"probsparse_attention: q and k must share the head dim D, got q {_shape(q)} "
            f"(D={q.shape[3]}) and k {_shape(k)} (D={k.shape[3]})"
        )
    devices = {"q": q.device, "k": k.device, "v": v.device}
    if len(set(devices.values())) > 1:
        raise ValueError(f"probsparse_attention: q, k and v are on different devices: {devices}")
    dtypes = {"q": q.dtype, "k": k.dtype, "v": v.dtype}
    if len(set(dtypes.values())) > 1 or q.dtype not in _FLOATS:
        raise ValueError(f"probsparse_attention: q, k and v need one floating dtype, got {dtypes}")


def _check(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    factor: int,
    causal: bool,
    index_sample: torch.Tensor | None,
    generator: torch.Generator | None,
    scale: float | None,
    alibi_slopes: torch.Tensor | None,
    backend: str,
) -> tuple[int, int]:
    """Validates every argument; returns (U, u)."""
    _check_tensors(q, k, v)
    heads, l_q, l_k = q.shape[1], q.shape[2], k.shape[2]
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"probsparse_attention: factor must be an int >= 1, got {factor!r}")
    if not isinstance(causal, bool):
        raise ValueError(f"probsparse_attention: causal must be a bool, got {causal!r}")
    if causal and l_q != l_k:
        raise ValueError(
            f"probsparse_attention: causal=True needs L_Q == L_K (self-attention; Informer's "
            f"ProbAttention asserts it), got q {_shape(q)} and k {_shape(k)}"
        )
    if scale is not None and (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float))
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise ValueError(f"probsparse_attention: scale must be None or a positive number, got {scale!r}")
    if alibi_slopes is not None:
        slopes = alibi_slopes
        if not isinstance(slopes, torch.Tensor) or slopes.shape != (heads,):
            got = _shape(slopes) if isinstance(slopes, torch.Tensor) else type(slopes).__name__
            raise ValueError(f"probsparse_attention: alibi_slopes must be (H,) = ({heads},), got shape {got}")
        if not slopes.is_floating_point() or slopes.device != q.device:
            raise ValueError(
                f"probsparse_attention: alibi_slopes must be a floating tensor on {q.device}, "
                f"got {slopes.dtype} on {slopes.device}"
            )
    n_sample, n_top = probsparse_sizes(l_q, l_k, factor)
    if index_sample is not None:
        _check_index(index_sample, generator, q.device, l_q, l_k, n_sample, factor)
    elif generator is not None and generator.device.type != q.device.type:
        raise ValueError(
            f"probsparse_attention: generator is on {generator.device} but q is on {q.device}; "
            "index_sample is drawn on q's device"
        )
    check_choice("probsparse_attention", "backend", backend, BACKENDS)
    return n_sample, n_top


def _check_index(
    index_sample: torch.Tensor,
    generator: torch.Generator | None,
    device: torch.device,
    l_q: int,
    l_k: int,
    n_sample: int,
    factor: int,
) -> None:
    if generator is not None:
        raise ValueError(
            "probsparse_attention: pass index_sample or generator, not both (the generator only "
            "draws index_sample when it is not given)"
        )
    if not isinstance(index_sample, torch.Tensor) or index_sample.shape != (l_q, n_sample):
        got = _shape(index_sample) if isinstance(index_sample, torch.Tensor) else type(index_sample).__name__
        raise ValueError(
            f"probsparse_attention: index_sample must be (L_Q, U) = ({l_q}, {n_sample}) (U = "
            f"min(factor * ceil(ln L_K), L_K) with factor={factor}, L_K={l_k}), got shape {got}"
        )
    if index_sample.dtype != torch.int64:
        raise ValueError(
            f"probsparse_attention: index_sample must be int64 (torch.long), got {index_sample.dtype}"
        )
    if index_sample.device != device:
        raise ValueError(
            f"probsparse_attention: index_sample is on {index_sample.device} but q is on {device}"
        )
    if not torch.compiler.is_compiling():  # a value check (one device sync), only for user-given samples
        low, high = int(index_sample.min()), int(index_sample.max())
        if low < 0 or high >= l_k:
            raise ValueError(
                f"probsparse_attention: index_sample must hold key positions in [0, L_K) = "
                f"[0, {l_k}), got values in [{low}, {high}]"
            )


def _unsupported(q: torch.Tensor) -> str | None:
    """Why the Triton kernels do not cover this call, or None."""
    if q.shape[-1] <= _TRITON_MAX_D:
        return None
    return (
        f"the Triton kernels cover head dims D <= {_TRITON_MAX_D}, got D={q.shape[-1]}; use backend='torch'"
    )


# ----------------------------------------------------------------------------- launchers
def _block_d(dim: int) -> int:
    return max(16, 1 << max(dim - 1, 0).bit_length())


def _rows(t: torch.Tensor) -> torch.Tensor:
    """The kernels address (batch, head, row) by strides and need a unit stride along D."""
    return t if t.stride(-1) == 1 or t.shape[-1] == 1 else t.contiguous()


def _strides(t: torch.Tensor) -> tuple[int, int, int]:
    return t.stride(0), t.stride(1), t.stride(2)


def _acc(q: torch.Tensor) -> tuple[torch.dtype, object]:
    import triton.language as tl

    return (torch.float64, tl.float64) if q.dtype == torch.float64 else (torch.float32, tl.float32)


def _precision(q: torch.Tensor) -> str | None:
    if q.dtype == torch.float32:
        return "tf32" if q.is_cuda and torch.backends.cuda.matmul.allow_tf32 else "ieee"
    return None


def _chunk(q: torch.Tensor) -> int:
    """Rows per chunk of the lazy-row scans (and key block of the dk/dv kernel): small in the interpreter."""
    return 64 if q.is_cuda else 16


def _carry(part: torch.Tensor, causal: bool, reverse: bool) -> tuple[torch.Tensor, int]:
    """From the chunk sums (B*H, n_chunks, BLOCK_D): non-causal, their total (B*H, 1, BLOCK_D); causal,
    the sum of the chunks before (``reverse=False``) or after (``reverse=True``) each chunk."""
    if not causal:
        return part.sum(1, keepdim=True), 1
    inclusive = part.flip(1).cumsum(1).flip(1) if reverse else part.cumsum(1)
    exclusive = torch.zeros_like(part)
    if reverse:
        exclusive[:, :-1] = inclusive[:, 1:]
    else:
        exclusive[:, 1:] = inclusive[:, :-1]
    return exclusive, part.shape[1]


def _launch_fwd(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    index_sample: torch.Tensor,
    slopes: torch.Tensor | None,
    n_top: int,
    causal: bool,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from kernels.probsparse_attention import triton as tk

    batch, heads, l_q, dim = q.shape
    l_k, n_sample = k.shape[2], index_sample.shape[1]
    acc_torch, acc = _acc(q)
    block_d, bh = _block_d(dim), batch * heads
    index_sample = index_sample.contiguous()
    m = torch.empty(batch, heads, l_q, device=q.device, dtype=acc_torch)
    slopes_arg = slopes if slopes is not None else m
    tk._probsparse_score_kernel[lambda meta: (cdiv(l_q, meta["BLOCK_Q"]), bh)](
        q,
        k,
        index_sample,
        slopes_arg,
        m,
        heads,
        l_q,
        l_k,
        n_sample,
        scale,
        1.0 / l_k,
        *_strides(q),
        *_strides(k),
        D=dim,
        HAS_ALIBI=slopes is not None,
        ACC_DTYPE=acc,
        BLOCK_D=block_d,
    )
    top = select_active(m, n_top).contiguous()  # (B, H, u) int64, sorted
    o = torch.empty(batch, heads, l_q, dim, device=q.device, dtype=q.dtype)
    chunk = _chunk(q)
    n_chunks = cdiv(l_k, chunk)
    part = torch.empty(bh, n_chunks, block_d, device=q.device, dtype=acc_torch)
    tk._probsparse_chunk_sum_kernel[(n_chunks, bh)](
        v, part, heads, l_k, n_chunks, *_strides(v), D=dim, ACC_DTYPE=acc, BLOCK_D=block_d, CHUNK=chunk
    )
    carry, n_carry = _carry(part, causal, reverse=False)
    tk._probsparse_lazy_kernel[(cdiv(l_q, chunk), bh)](
        v,
        carry,
        o,
        heads,
        l_q,
        n_carry,
        1.0 / l_k,
        *_strides(v),
        *_strides(o),
        D=dim,
        CAUSAL=causal,
        ACC_DTYPE=acc,
        BLOCK_D=block_d,
        CHUNK=chunk,
    )
    lse = torch.empty(batch, heads, n_top, device=q.device, dtype=acc_torch)
    tk._probsparse_attn_fwd_kernel[lambda meta: (cdiv(n_top, meta["BLOCK_M"]), bh)](
        q,
        k,
        v,
        top,
        slopes_arg,
        o,
        lse,
        heads,
        l_k,
        n_top,
        scale * _LOG2E,
        *_strides(q),
        *_strides(k),
        *_strides(v),
        *_strides(o),
        D=dim,
        CAUSAL=causal,
        HAS_ALIBI=slopes is not None,
        ACC_DTYPE=acc,
        PRECISION=_precision(q),
        BLOCK_D=block_d,
    )
    return o, top, lse


def _launch_bwd(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    o: torch.Tensor,
    top: torch.Tensor,
    lse: torch.Tensor,
    slopes: torch.Tensor | None,
    causal: bool,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from kernels.probsparse_attention import triton as tk

    batch, heads, l_q, dim = q.shape
    l_k, n_top = k.shape[2], top.shape[2]
    acc_torch, acc = _acc(q)
    block_d, bh = _block_d(dim), batch * heads
    do = _rows(do)
    slopes_arg = slopes if slopes is not None else lse
    flags = {
        "D": dim,
        "CAUSAL": causal,
        "HAS_ALIBI": slopes is not None,
        "ACC_DTYPE": acc,
        "PRECISION": _precision(q),
        "BLOCK_D": block_d,
    }
    dq = torch.zeros(batch, heads, l_q, dim, device=q.device, dtype=q.dtype)  # lazy rows: no gradient
    delta = torch.empty_like(lse)
    tk._probsparse_bwd_dq_kernel[lambda meta: (cdiv(n_top, meta["BLOCK_M"]), bh)](
        q,
        k,
        v,
        o,
        do,
        top,
        slopes_arg,
        lse,
        delta,
        dq,
        heads,
        l_k,
        n_top,
        scale * _LOG2E,
        scale,
        *_strides(q),
        *_strides(k),
        *_strides(v),
        *_strides(o),
        *_strides(do),
        *_strides(dq),
        **flags,
    )
    block_n = _chunk(q)
    n_chunks = cdiv(l_q, block_n)
    part = torch.empty(bh, n_chunks, block_d, device=q.device, dtype=acc_torch)
    tk._probsparse_chunk_sum_kernel[(n_chunks, bh)](
        do, part, heads, l_q, n_chunks, *_strides(do), D=dim, ACC_DTYPE=acc, BLOCK_D=block_d, CHUNK=block_n
    )
    carry, n_carry = _carry(part, causal, reverse=True)
    dk = torch.empty(batch, heads, l_k, dim, device=q.device, dtype=q.dtype)
    dv = torch.empty_like(dk)
    tk._probsparse_bwd_dkdv_kernel[(cdiv(l_k, block_n), bh)](
        q,
        k,
        v,
        do,
        top,
        slopes_arg,
        lse,
        delta,
        carry,
        dk,
        dv,
        heads,
        l_q,
        l_k,
        n_top,
        n_carry,
        scale * _LOG2E,
        scale,
        1.0 / l_k,
        *_strides(q),
        *_strides(k),
        *_strides(v),
        *_strides(do),
        *_strides(dk),
        BLOCK_N=block_n,
        **flags,
    )
    return dq, dk, dv


# ----------------------------------------------------------------------------- custom ops + autograd
@torch.library.custom_op("zoo_kernels::probsparse_attention_fwd", mutates_args=())
def _fwd_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    index_sample: torch.Tensor,
    alibi_slopes: torch.Tensor | None,
    n_top: int,
    causal: bool,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _launch_fwd(_rows(q), _rows(k), _rows(v), index_sample, alibi_slopes, n_top, causal, scale)


@_fwd_op.register_fake
def _(q, k, v, index_sample, alibi_slopes, n_top, causal, scale):
    batch, heads, l_q, dim = q.shape
    acc = torch.float64 if q.dtype == torch.float64 else torch.float32
    return (
        q.new_empty(batch, heads, l_q, dim),
        q.new_empty(batch, heads, n_top, dtype=torch.int64),
        q.new_empty(batch, heads, n_top, dtype=acc),
    )


@torch.library.custom_op("zoo_kernels::probsparse_attention_bwd", mutates_args=())
def _bwd_op(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    o: torch.Tensor,
    top: torch.Tensor,
    lse: torch.Tensor,
    alibi_slopes: torch.Tensor | None,
    causal: bool,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _launch_bwd(do, _rows(q), _rows(k), _rows(v), o, top, lse, alibi_slopes, causal, scale)


@_bwd_op.register_fake
def _(do, q, k, v, o, top, lse, alibi_slopes, causal, scale):
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


def _setup_context(ctx, inputs, output) -> None:
    q, k, v, _, alibi_slopes, _, causal, scale = inputs
    o, top, lse = output
    ctx.save_for_backward(q, k, v, o, top, lse, alibi_slopes)
    ctx.causal, ctx.scale = causal, scale


def _backward(ctx, do: torch.Tensor, _dtop: torch.Tensor, _dlse: torch.Tensor):
    q, k, v, o, top, lse, alibi_slopes = ctx.saved_tensors
    dq, dk, dv = _bwd_op(do, q, k, v, o, top, lse, alibi_slopes, ctx.causal, ctx.scale)
    return dq, dk, dv, None, None, None, None, None


_fwd_op.register_autograd(_backward, setup_context=_setup_context)


def probsparse_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    factor: int = 5,
    causal: bool = False,
    index_sample: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    scale: float | None = None,
    alibi_slopes: torch.Tensor | None = None,
    backend: Backend = "auto",
) -> torch.Tensor:
    """ProbSparse attention (Zhou et al., AAAI 2021): q (B, H, L_Q, D), k/v (B, H, L_K, D) -> (B, H, L_Q, D).

    Args:
        factor: c of the paper: ``U = c ceil(ln L_K)`` key samples per query, ``u = c ceil(ln L_Q)``
            active queries, each clipped to [1, L].
        causal: active query i attends keys j <= i and lazy rows are the running sum of v (the original's
            masked ``ProbAttention``); needs L_Q == L_K.
        index_sample: (L_Q, U) int64 key positions sampled for each query. When None it is drawn with
            ``torch.randint(L_K, (L_Q, U), generator=generator, device=q.device)``: pass it, or a seeded
            generator, for a deterministic result (e.g. in evaluation).
        generator: the generator for that draw (on q's device); not together with ``index_sample``.
        scale: score scale, ``1 / sqrt(D)`` by default.
        alibi_slopes: (H,) ALiBi slopes m_h: the bias ``-m_h |i - j|`` is added to the sampled and to the
            full scores (a constant: no gradient). RoPE, if any, is applied to q and k by the caller.
        backend: "auto", "triton" or "torch" (module docstring).

    Gradients reach q (active rows), k and v; see ``reference.py`` for every detail of the function.
    """
    _, n_top = _check(q, k, v, factor, causal, index_sample, generator, scale, alibi_slopes, backend)
    if index_sample is None:
        index_sample = sample_index(q.shape[2], k.shape[2], factor, generator=generator, device=q.device)
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    if not use_triton("probsparse_attention", q, backend, _unsupported(q)):
        return probsparse_attention_reference(
            q, k, v, index_sample, factor=factor, causal=causal, scale=scale, alibi_slopes=alibi_slopes
        )
    slopes = alibi_slopes.detach().contiguous() if alibi_slopes is not None else None
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    if not needs_grad and not torch.compiler.is_compiling():
        # inference: launch directly, skipping the custom-op dispatch (tens of microseconds per call)
        return _launch_fwd(_rows(q), _rows(k), _rows(v), index_sample, slopes, n_top, causal, scale)[0]
    return _fwd_op(q, k, v, index_sample, slopes, n_top, causal, scale)[0]
