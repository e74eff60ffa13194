"""ProbSparse attention in pure PyTorch: the CPU fallback and the oracle of the Triton kernels.

ProbSparse self-attention is from Zhou et al., "Informer: Beyond Efficient Transformer for Long
Sequence Time-Series Forecasting" (AAAI 2021); the function computed here follows ``ProbAttention`` in
``models/attn.py`` of the authors' Informer2020 repository. Axis legend: B batch, H heads, L_Q / L_K
query / key lengths, D head dim, U sampled keys per query, u active ("top") queries.

The function, for q (B, H, L_Q, D), k and v (B, H, L_K, D), output (B, H, L_Q, D):

1. Sizes: ``U = factor * ceil(ln L_K)`` sampled keys per query and ``u = factor * ceil(ln L_Q)``
   active queries, clipped to the lengths (``min(U, L_K)``, ``min(u, L_Q)``) as the original does, and
   at least 1 (``ln 1 = 0`` would give none; the original then breaks).
2. Key samples ``index_sample`` (L_Q, U), int64 in [0, L_K): row i holds the keys sampled for query i,
   drawn with replacement (``torch.randint(L_K, (L_Q, U))``, as the original). It is an explicit input
   here, shared by the (B, H) slices as in the original, so that every backend computes one function.
3. Sampled scores ``s_ij = scale * q_i . k_j (+ ALiBi bias b_ij)`` for j in ``index_sample[i]``, and the
   sparsity measure ``M_i = max_j s_ij - sum_j s_ij / L_K`` (the sum divided by L_K, not by U, exactly as
   the original). The original scores the samples unscaled and without a bias; without ALiBi our M is
   the original's times ``scale > 0``, so the top-u queries are the same. ``M`` is computed without
   gradient: only the indices of its top-u entries (``torch.topk``, per (b, h)) are used.
4. Active queries attend to all keys: ``softmax(scale * q_i K^T + b_i) V``; with ``causal=True`` keys
   j > i are masked (then L_Q must equal L_K, as the original asserts).
5. Lazy (not active) queries get the initial context of the original: ``mean_j v_j`` (non-causal) or
   the running *sum* ``sum_{j <= i} v_j`` (causal; the original's ``V.cumsum``, not a mean).
6. ALiBi (Press et al., ICLR 2022), ``alibi_slopes`` m (H,): ``b_ij = -m_h * |i - j|`` with i the query
   and j the key position (indices into L_Q and L_K), added to the sampled scores (so it also shapes the
   selection) and to the active rows; it is a constant of the op (no gradient). RoPE is applied by the
   caller to q and k before the op. ``scale`` defaults to ``1 / sqrt(D)``.

Gradients reach q (active rows only: the selection is not differentiable), k and v. The lazy rows pass
``dV_j += sum_{i lazy} dO_i / L_K`` (non-causal) or ``sum_{i lazy, i >= j} dO_i`` (causal) to v.

How this differs from the original's code (not its function): the original gathers the sampled keys
into a (B, H, L_Q, U, D) tensor, ``U`` times the size of K (1.9 GB in fp32 at B = H = 8, L = 2880,
D = 64). Here the scores are computed without gradient in chunks of queries that stay in cache, with
(b, h) innermost so that each sampled key index fetches one contiguous (B * H * D) row; short sequences,
where a dense ``q @ k^T`` chunk is cheaper than the gather, use that and gather scores instead of keys.
The original overwrites the lazy context in place under autograd; here steps 4-5 are one
``autograd.Function`` whose hand-written backward needs no (B, H, L, D) temporaries beyond the
gradients themselves (non-causal; causal adds two for the reverse cumulative sum of dO, computed on a
flipped copy because torch has no negative strides).
"""

from __future__ import annotations

import math

import torch

# Bytes of scratch per chunk of the sparsity measure: a CPU chunk stays in cache (4 MiB measured best
# among 1-16 MiB on 2 EPYC cores); on a GPU, fewer, larger chunks (launch overhead dominates there).
_CHUNK_BYTES = {"cpu": 4 << 20, "cuda": 256 << 20}
# Dense q @ k^T chunks beat gathering the sampled keys when L_K is at most this many times U (measured
# on one EPYC core, B = H = 8, D = 64: the GEMM is 2.3x faster at L = 96 (L/U = 3.8), even at L = 336
# (11.2), 2.3x slower at L = 720 (20.6)).
_DENSE_MAX_RATIO = 12


def probsparse_sizes(l_q: int, l_k: int, factor: int) -> tuple[int, int]:
    """(U, u): sampled keys per query and active queries, ``factor * ceil(ln L)`` clipped to [1, L]."""

    def c_ln(length: int) -> int:
        return max(1, min(factor * math.ceil(math.log(length)), length))

    return c_ln(l_k), c_ln(l_q)


def sample_index(
    l_q: int,
    l_k: int,
    factor: int = 5,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Key samples (L_Q, U) int64, drawn uniformly with replacement from [0, L_K) (the original's draw)."""
    n_sample, _ = probsparse_sizes(l_q, l_k, factor)
    return torch.randint(l_k, (l_q, n_sample), generator=generator, device=device)


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


@torch.no_grad()
def sparsity_measure(
    q: torch.Tensor,
    k: torch.Tensor,
    index_sample: torch.Tensor,
    scale: float,
    alibi_slopes: torch.Tensor | None = None,
) -> torch.Tensor:
    """M (B, H, L_Q) = max_j s_ij - sum_j s_ij / L_K over the sampled keys j (module docstring, step 3).

    Accumulates in fp32 for fp16/bf16 inputs. Never materialises the (B, H, L_Q, U, D) gathered keys.
    """
    l_k, n_sample = k.shape[2], index_sample.shape[1]
    if l_k <= _DENSE_MAX_RATIO * n_sample:
        return _measure_dense(q, k, index_sample, scale, alibi_slopes)
    return _measure_gathered(q, k, index_sample, scale, alibi_slopes)


def _chunk_bytes(device: torch.device) -> int:
    return _CHUNK_BYTES.get(device.type, _CHUNK_BYTES["cuda"])


def _chunk_rows(per_row_bytes: int, device: torch.device) -> int:
    """Query rows per chunk of the eager scans. Under ``torch.compile`` / ``torch.export`` the batch size is
    symbolic and a size-dependent chunk count would specialise it (a recompilation per batch size, an export
    fixed to one): one chunk then, whose memory the compiler plans."""
    if torch.compiler.is_compiling():
        return 1 << 62
    return max(1, _chunk_bytes(device) // max(per_row_bytes, 1))


def _alibi(slopes: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """-m_h |i - j| for query positions ``rows`` (R, 1) and key positions ``cols`` (R, C): (H, R, C)."""
    distance = (rows - cols).abs().to(dtype)
    return -slopes.to(dtype)[:, None, None] * distance


def _measure_dense(
    q: torch.Tensor,
    k: torch.Tensor,
    index_sample: torch.Tensor,
    scale: float,
    alibi_slopes: torch.Tensor | None,
) -> torch.Tensor:
    """Chunks of dense scores (B*H, c, L_K) = q_chunk @ k^T, from which the sampled columns are gathered."""
    batch, heads, l_q, dim = q.shape
    l_k, n_sample = k.shape[2], index_sample.shape[1]
    acc = _acc_dtype(q.dtype)
    qs = q.reshape(batch * heads, l_q, dim).to(acc) * scale  # (BH, L_Q, D)
    ks = k.reshape(batch * heads, l_k, dim).to(acc).transpose(1, 2)  # (BH, D, L_K)
    out = torch.empty(batch * heads, l_q, dtype=acc, device=q.device)
    step = _chunk_rows(batch * heads * l_k * torch.finfo(acc).bits // 8, q.device)
    for i0 in range(0, l_q, step):
        idx = index_sample[i0 : i0 + step]  # (c, U)
        s = torch.bmm(qs[:, i0 : i0 + step], ks).gather(2, idx.expand(batch * heads, -1, -1))  # (BH, c, U)
        if alibi_slopes is not None:
            rows = torch.arange(i0, i0 + idx.shape[0], device=q.device)[:, None]
            s = (s.view(batch, heads, -1, n_sample) + _alibi(alibi_slopes, rows, idx, acc)).view_as(s)
        torch.sub(s.amax(-1), s.sum(-1), alpha=1.0 / l_k, out=out[:, i0 : i0 + step])
    return out.view(batch, heads, l_q)


def _measure_gathered(
    q: torch.Tensor,
    k: torch.Tensor,
    index_sample: torch.Tensor,
    scale: float,
    alibi_slopes: torch.Tensor | None,
) -> torch.Tensor:
    """Chunks of c queries: gather their c*U sampled key rows, each a contiguous (B*H*D) row of a
    position-major copy of k, into a scratch buffer in cache, then multiply-reduce over D."""
    batch, heads, l_q, dim = q.shape
    l_k, n_sample = k.shape[2], index_sample.shape[1]
    acc = _acc_dtype(q.dtype)
    bh = batch * heads
    # a position-major copy of k, (L_K, B, H, D) contiguous, so that a key index selects one (B*H*D) row;
    # the queries of a chunk are copied to the same layout (and scaled) one chunk at a time
    ks = torch.empty(l_k, batch, heads, dim, dtype=acc, device=q.device).copy_(k.permute(2, 0, 1, 3))
    ks = ks.view(l_k, bh, dim)
    step = _chunk_rows(n_sample * bh * dim * torch.finfo(acc).bits // 8, q.device)
    step = min(step, l_q)
    scratch = torch.empty(step * n_sample, bh, dim, dtype=acc, device=q.device)
    q_chunk = torch.empty(step, batch, heads, dim, dtype=acc, device=q.device)
    out = torch.empty(l_q, bh, dtype=acc, device=q.device)
    for i0 in range(0, l_q, step):
        idx = index_sample[i0 : i0 + step]  # (c, U)
        rows = idx.shape[0]
        qc = q_chunk[:rows].copy_(q[:, :, i0 : i0 + rows].permute(2, 0, 1, 3)).mul_(scale)  # (c, B, H, D)
        qc = qc.view(rows, 1, bh, dim)
        keys = torch.index_select(ks, 0, idx.reshape(-1), out=scratch[: rows * n_sample])  # (c*U, BH, D)
        s = keys.view(rows, n_sample, bh, dim).mul_(qc).sum(-1)  # (c, U, BH)
        if alibi_slopes is not None:
            pos = torch.arange(i0, i0 + rows, device=q.device)[:, None]
            bias = _alibi(alibi_slopes, pos, idx, acc).permute(1, 2, 0)  # (c, U, H)
            s = (s.view(rows, n_sample, batch, heads) + bias[:, :, None, :]).view(rows, n_sample, bh)
        torch.sub(s.amax(1), s.sum(1), alpha=1.0 / l_k, out=out[i0 : i0 + rows])
    return out.t().reshape(batch, heads, l_q)


def select_active(m: torch.Tensor, n_top: int) -> torch.Tensor:
    """The u active queries per (b, h): indices of the top-u entries of M (B, H, L_Q) -> (B, H, u) int64,
    sorted ascending (the order does not change the output; sorted rows let causal kernels stop early)."""
    return m.topk(n_top, dim=-1, sorted=False).indices.sort(dim=-1).values


def _active_scores(
    q_top: torch.Tensor,
    k: torch.Tensor,
    top: torch.Tensor,
    causal: bool,
    alibi_slopes: torch.Tensor | None,
) -> torch.Tensor:
    """Scores of the active rows against every key, (B, H, u, L_K), in the accumulation dtype: the
    scaled ``q_top @ k^T`` with the ALiBi bias and the causal mask (``q_top`` carries the scale)."""
    scores = torch.matmul(q_top, k.transpose(-2, -1)).to(_acc_dtype(q_top.dtype))
    keys = torch.arange(k.shape[2], device=k.device)
    if alibi_slopes is not None:
        distance = (top[..., None] - keys).abs().to(scores.dtype)  # (B, H, u, L_K)
        scores -= alibi_slopes.to(scores.dtype)[:, None, None] * distance
    if causal:
        scores.masked_fill_(keys > top[..., None], float("-inf"))
    return scores


class _AttendSelected(torch.autograd.Function):
    """Steps 4-5 with a hand-written backward that allocates little beyond the three gradients (autograd
    through gather/scatter/mean would add several (B, H, L, D) temporaries). Beyond one scratch chunk,
    only the softmax's log-normaliser (B, H, u, 1) is saved: the backward recomputes the probabilities
    from it in chunks of the batch, so its (u, L_K) buffers are a chunk's, not the whole batch's (as
    FlashAttention does); smaller probabilities are kept. Checked against autograd through the literal
    transcription of the original in the tests."""

    @staticmethod
    def forward(
        ctx,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        top: torch.Tensor,
        causal: bool,
        scale: float,
        alibi_slopes: torch.Tensor | None,
    ) -> torch.Tensor:
        batch, heads, l_q, dim = q.shape
        rows = top[..., None].expand(batch, heads, top.shape[-1], dim)  # (B, H, u, D)
        q_top = q.gather(2, rows) * scale
        scores = _active_scores(q_top, k, top, causal, alibi_slopes)
        probs = torch.softmax(scores, dim=-1)
        # probabilities that fit in one scratch chunk are kept (recomputing them costs more than they
        # weigh); else the log-normaliser (B, H, u, 1), from the row maxima: P_max = exp(s_max - lse).
        # Under torch.compile / torch.export they are kept: a size test would specialise the batch size.
        kept, log_norm = probs, None
        if not torch.compiler.is_compiling() and probs.numel() * probs.element_size() > _chunk_bytes(
            q.device
        ):
            kept = None
            log_norm = scores.amax(dim=-1, keepdim=True) - probs.amax(dim=-1, keepdim=True).log()
        del scores
        attn = probs.to(v.dtype)
        lazy = v.cumsum(dim=-2) if causal else v.mean(dim=-2, keepdim=True).expand(batch, heads, l_q, dim)
        ctx.save_for_backward(q_top, k, v, top, log_norm, alibi_slopes, kept)
        ctx.causal, ctx.scale = causal, scale
        return lazy.scatter(2, rows, torch.matmul(attn, v))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q_top, k, v, top, log_norm, alibi_slopes, kept = ctx.saved_tensors
        batch, heads, n_top, dim = q_top.shape
        l_q, l_k = d_out.shape[2], k.shape[2]
        rows = top[..., None].expand(batch, heads, n_top, dim)
        d_active = d_out.gather(2, rows)  # (B, H, u, D)
        dv = torch.empty_like(v)
        dq_top = torch.empty_like(q_top) if ctx.needs_input_grad[0] else None
        dk = torch.empty_like(k) if ctx.needs_input_grad[1] else None
        acc = _acc_dtype(q_top.dtype)
        # two (u, L_K) buffers per batch row (P and dS), within one scratch chunk together
        step = _chunk_rows(2 * heads * n_top * l_k * torch.finfo(acc).bits // 8, q_top.device)
        for b0 in range(0, batch, step):
            part = slice(b0, b0 + step)
            if kept is not None:
                probs = kept[part]
            else:  # P, recomputed
                probs = _active_scores(q_top[part], k[part], top[part], ctx.causal, alibi_slopes)
                probs = probs.sub_(log_norm[part]).exp_()
            p_low = probs.to(v.dtype)
            torch.matmul(p_low.transpose(-2, -1), d_active[part], out=dv[part])
            # softmax backward dS = P * (dP - rowsum(dP * P)) in dP's buffer, the row sums as batched dot
            # products (dP * P would be one more (u, L_K) buffer)
            d_scores = torch.matmul(d_active[part], v[part].transpose(-2, -1)).to(acc)  # dP
            delta = torch.matmul(d_scores.unsqueeze(-2), probs.unsqueeze(-1)).squeeze(-1)
            d_scores = d_scores.sub_(delta).mul_(probs).to(v.dtype)
            del probs, p_low
            if dq_top is not None:
                torch.matmul(d_scores, k[part], out=dq_top[part])
            if dk is not None:
                torch.matmul(d_scores.transpose(-2, -1), q_top[part], out=dk[part])  # q_top carries the scale
        dq = None
        if dq_top is not None:  # lazy rows get no gradient
            dq = d_out.new_zeros(batch, heads, l_q, dim).scatter_(2, rows, dq_top.mul_(ctx.scale))
        # the lazy rows (all but the active ones, which are overwritten) pass dO to v through the context
        if ctx.causal:  # reverse cumulative sum over the lazy rows, sum_{i >= j} dO_i, in flipped order
            flipped = d_out.flip(-2).scatter_(2, (l_q - 1 - top)[..., None].expand_as(rows), 0.0)
            dv += flipped.cumsum_(-2).flip(-2)
        else:
            dv += (d_out.sum(-2, keepdim=True) - d_active.sum(-2, keepdim=True)) / l_k
        return dq, dk, dv, None, None, None, None


def attend_selected(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    top: torch.Tensor,
    *,
    causal: bool,
    scale: float,
    alibi_slopes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Steps 4-5: full attention for the active rows ``top`` (B, H, u), the initial context elsewhere;
    differentiable in q, k and v (``top`` and ``alibi_slopes`` are constants)."""
    return _AttendSelected.apply(q, k, v, top, causal, scale, alibi_slopes)


def probsparse_attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    index_sample: torch.Tensor,
    *,
    factor: int = 5,
    causal: bool = False,
    scale: float | None = None,
    alibi_slopes: torch.Tensor | None = None,
) -> torch.Tensor:
    """ProbSparse attention (module docstring): q (B, H, L_Q, D), k/v (B, H, L_K, D), index_sample
    (L_Q, U) int64 -> (B, H, L_Q, D). Differentiable in q, k and v; inputs are not checked here (the
    public ``kernels.probsparse_attention`` checks them)."""
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    slopes = alibi_slopes.detach() if alibi_slopes is not None else None
    _, n_top = probsparse_sizes(q.shape[2], k.shape[2], factor)
    top = select_active(sparsity_measure(q.detach(), k.detach(), index_sample, scale, slopes), n_top)
    return attend_selected(q, k, v, top, causal=causal, scale=scale, alibi_slopes=slopes)
