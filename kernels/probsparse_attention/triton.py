"""Triton kernels for ProbSparse attention (Zhou et al., AAAI 2021; Informer2020 ``ProbAttention``).

The function is defined in ``reference.py``. Axis legend: B batch, H heads, L_Q / L_K lengths, D head
dim (padded to BLOCK_D, a power of two, with masked loads), U sampled keys per query, u active queries.
One program handles one (b, h) slice (``program_id(1)``) and one block of rows; tensors are addressed
through (batch, head, row) strides with a unit stride along D.

- ``_probsparse_score_kernel``: the sparsity measure M (B, H, L_Q) of a block of queries. Each program
  loads the sampled key rows by index straight from K (no gathered copy in memory: the original builds
  a (B, H, L_Q, U, D) tensor) and keeps a running max and sum of the U sampled scores.
- ``_probsparse_chunk_sum_kernel``: per-chunk column sums (B*H, n_chunks, D), fp32 (fp64 for fp64), of
  V (forward) or dO (backward): the first pass of a blocked scan. The launcher reduces them (a few KiB
  per (b, h)) to the total, or to each chunk's exclusive prefix (forward) / suffix (backward) sum, in
  PyTorch, so that no program re-reads all the chunk sums.
- ``_probsparse_lazy_kernel``: the lazy rows: the mean of V broadcast to every row (non-causal) or the
  running sum of V (causal: the chunk's prefix plus ``tl.cumsum`` within the chunk). It writes every
  row; the attention kernel then overwrites the active ones.
- ``_probsparse_attn_fwd_kernel``: flash-style attention (online softmax, Dao et al. 2022) of the u
  active rows, gathered by index, over all keys (causal: up to the largest position in the block),
  storing the output rows and the log-sum-exp (base 2) for the backward pass.
- ``_probsparse_bwd_dq_kernel``: ``delta = rowsum(dO * O)`` and dq of the active rows (lazy rows get 0).
- ``_probsparse_bwd_dkdv_kernel``: dk and dv of one key block over all active rows, plus the lazy rows'
  share of dv: ``sum_i dO_i / L_K`` (non-causal) or the reverse cumulative sum ``sum_{i >= j} dO_i``
  (causal, chunk suffix plus ``tl.cumsum(..., reverse=True)``), minus what the active rows would have
  contributed through that path (they are overwritten, so they pass nothing to v that way).

Scores are kept in base 2 (``qk_scale = scale * log2(e)``; ALiBi slopes too) so that ``exp2`` is used.
Every output element is written by exactly one program: the results are deterministic, no atomics.
Under ``TRITON_INTERPRET=1`` one small config per kernel is used (the interpreter does not support
several). Only ``@triton.jit`` kernels live here; launchers and autograd are in ``op.py``.
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"


def _configs(gpu: list[tuple[dict, int, int]], interpreter: dict) -> list[triton.Config]:
    if _INTERPRET:
        return [triton.Config(interpreter, num_warps=1, num_stages=1)]
    return [triton.Config(meta, num_warps=w, num_stages=s) for meta, w, s in gpu]


_ATTN = _configs(
    [
        ({"BLOCK_M": 16, "BLOCK_N": 64}, 4, 3),
        ({"BLOCK_M": 32, "BLOCK_N": 64}, 4, 3),
        ({"BLOCK_M": 64, "BLOCK_N": 64}, 4, 3),
        ({"BLOCK_M": 64, "BLOCK_N": 128}, 8, 3),
        ({"BLOCK_M": 32, "BLOCK_N": 128}, 4, 2),
    ],
    {"BLOCK_M": 16, "BLOCK_N": 16},
)
_DKDV = _configs(  # BLOCK_N is fixed by the launcher: it must equal the chunk of the dO chunk sums
    [({"BLOCK_M": 16}, 4, 2), ({"BLOCK_M": 32}, 4, 2), ({"BLOCK_M": 64}, 4, 2), ({"BLOCK_M": 64}, 8, 2)],
    {"BLOCK_M": 16},
)
_SCORE = _configs(
    [({"BLOCK_Q": 32}, 4, 2), ({"BLOCK_Q": 64}, 4, 2), ({"BLOCK_Q": 128}, 4, 2), ({"BLOCK_Q": 128}, 8, 2)],
    {"BLOCK_Q": 16},
)


@triton.jit
def _load_rows(BASE, rows, row_mask, stride_l, offs_d, D: tl.constexpr):
    """Rows ``rows`` (R,) of a (L, D) slice as an (R, BLOCK_D) tile, zeros outside."""
    return tl.load(
        BASE + rows[:, None] * stride_l + offs_d[None, :],
        mask=row_mask[:, None] & (offs_d[None, :] < D),
        other=0.0,
    )


@triton.jit
def _alibi(pos_q, pos_k, slope2):
    """ALiBi bias in base 2: -m_h * log2(e) * |i - j| for query rows (M,) and key rows (N,)."""
    return -slope2 * tl.abs(pos_q[:, None] - pos_k[None, :]).to(slope2.dtype)


@triton.autotune(configs=_SCORE, key=["L_Q", "U", "D", "HAS_ALIBI"])
@triton.jit
def _probsparse_score_kernel(
    Q,
    K,
    IDX,
    SLOPES,
    M,
    H,
    L_Q,
    L_K,
    U,
    scale,
    inv_l_k,
    sqb,
    sqh,
    sql,
    skb,
    skh,
    skl,
    D: tl.constexpr,
    HAS_ALIBI: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_Q: tl.constexpr,
):
    """M[b, h, i] = max_j s_ij - sum_j s_ij / L_K over j in IDX[i, :U], s_ij = scale q_i.k_j (+ ALiBi).
    Natural-log units (M only ranks queries). IDX is (L_Q, U) contiguous; M is (B*H, L_Q)."""
    pid_q, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    rows = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)
    row_mask = rows < L_Q
    offs_d = tl.arange(0, BLOCK_D)
    q = _load_rows(Q + b * sqb + h * sqh, rows, row_mask, sql, offs_d, D).to(ACC_DTYPE) * scale
    k_base = K + b * skb + h * skh
    slope = 0.0
    if HAS_ALIBI:
        slope = tl.load(SLOPES + h).to(ACC_DTYPE)
    running_max = tl.full((BLOCK_Q,), float("-inf"), ACC_DTYPE)
    running_sum = tl.zeros((BLOCK_Q,), ACC_DTYPE)
    for j in range(U):
        key = tl.load(IDX + rows.to(tl.int64) * U + j, mask=row_mask, other=0)
        s = tl.sum(q * _load_rows(k_base, key, row_mask, skl, offs_d, D).to(ACC_DTYPE), axis=1)
        if HAS_ALIBI:
            s -= slope * tl.abs(rows - key).to(ACC_DTYPE)
        running_max = tl.maximum(running_max, s)
        running_sum += s
    tl.store(M + pid_bh.to(tl.int64) * L_Q + rows, running_max - running_sum * inv_l_k, mask=row_mask)


@triton.jit
def _probsparse_chunk_sum_kernel(
    X,
    PART,
    H,
    L,
    n_chunks,
    sxb,
    sxh,
    sxl,
    D: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_D: tl.constexpr,
    CHUNK: tl.constexpr,
):
    """PART[b*H + h, c, :] = sum of rows [c*CHUNK, (c+1)*CHUNK) of X[b, h] (in ACC_DTYPE)."""
    pid_c, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    rows = pid_c * CHUNK + tl.arange(0, CHUNK)
    offs_d = tl.arange(0, BLOCK_D)
    x = _load_rows(X + b * sxb + h * sxh, rows, rows < L, sxl, offs_d, D).to(ACC_DTYPE)
    tl.store(PART + (pid_bh.to(tl.int64) * n_chunks + pid_c) * BLOCK_D + offs_d, tl.sum(x, axis=0))


@triton.jit
def _probsparse_lazy_kernel(
    X,
    CARRY,
    Y,
    H,
    L_out,
    n_carry,
    carry_scale,
    sxb,
    sxh,
    sxl,
    syb,
    syh,
    syl,
    D: tl.constexpr,
    CAUSAL: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_D: tl.constexpr,
    CHUNK: tl.constexpr,
):
    """Lazy rows [c*CHUNK, (c+1)*CHUNK) of Y[b, h], in ACC_DTYPE. Non-causal: CARRY (B*H, 1, BLOCK_D) holds
    the column sums of X, and every row gets ``carry_scale`` times them (the mean of V). Causal: CARRY
    (B*H, n_chunks, BLOCK_D) holds the sum of the chunks before c, and the rows get it plus the running
    sum of X within the chunk (same CHUNK as the chunk sums)."""
    pid_c, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    rows = pid_c * CHUNK + tl.arange(0, CHUNK)
    row_mask = rows < L_out
    offs_d = tl.arange(0, BLOCK_D)
    carry_row = pid_bh.to(tl.int64) * n_carry
    if CAUSAL:
        carry_row += pid_c
    carry = tl.load(CARRY + carry_row * BLOCK_D + offs_d).to(ACC_DTYPE)
    if CAUSAL:
        x = _load_rows(X + b * sxb + h * sxh, rows, row_mask, sxl, offs_d, D).to(ACC_DTYPE)
        y = tl.cumsum(x, axis=0) + carry[None, :]
    else:
        y = tl.zeros((CHUNK, BLOCK_D), ACC_DTYPE) + (carry * carry_scale)[None, :]
    tl.store(
        Y + b * syb + h * syh + rows[:, None] * syl + offs_d[None, :],
        y.to(Y.dtype.element_ty),
        mask=row_mask[:, None] & (offs_d[None, :] < D),
    )


@triton.autotune(configs=_ATTN, key=["N_TOP", "L_K", "D", "CAUSAL", "HAS_ALIBI"])
@triton.jit
def _probsparse_attn_fwd_kernel(
    Q,
    K,
    V,
    TOP,
    SLOPES,
    OUT,
    LSE,
    H,
    L_K,
    N_TOP,
    qk_scale,
    sqb,
    sqh,
    sql,
    skb,
    skh,
    skl,
    svb,
    svh,
    svl,
    sob,
    soh,
    sol,
    D: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_ALIBI: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """Active rows TOP[b, h, m-block] (sorted positions): OUT[pos] = softmax(scale q K^T + bias) V and
    LSE[b, h, m] = log2 sum_j exp2(s_ij) with s in base 2. Padded rows (m >= N_TOP) compute on position
    0 (never empty, so no NaN) and are not stored."""
    pid_m, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = offs_m < N_TOP
    offs_d = tl.arange(0, BLOCK_D)
    top_base = pid_bh.to(tl.int64) * N_TOP
    pos = tl.load(TOP + top_base + offs_m, mask=m_mask, other=0)
    q = _load_rows(Q + b * sqb + h * sqh, pos, m_mask, sql, offs_d, D)
    k_base, v_base = K + b * skb + h * skh, V + b * svb + h * svh
    slope2 = 0.0
    if HAS_ALIBI:
        slope2 = tl.load(SLOPES + h).to(ACC_DTYPE) * 1.4426950408889634
    m_i = tl.full((BLOCK_M,), float("-inf"), ACC_DTYPE)
    l_i = tl.zeros((BLOCK_M,), ACC_DTYPE)
    acc = tl.zeros((BLOCK_M, BLOCK_D), ACC_DTYPE)
    hi = L_K
    if CAUSAL:
        hi = tl.minimum(L_K, tl.max(pos) + 1)
    for n0 in range(0, hi, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_mask = offs_n < L_K
        k = _load_rows(k_base, offs_n, n_mask, skl, offs_d, D)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION, out_dtype=ACC_DTYPE) * qk_scale
        if HAS_ALIBI:
            s += _alibi(pos, offs_n, slope2)
        valid = n_mask[None, :]
        if CAUSAL:
            valid = valid & (offs_n[None, :] <= pos[:, None])
        s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = _load_rows(v_base, offs_n, n_mask, svl, offs_d, D)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None], input_precision=PRECISION, out_dtype=ACC_DTYPE)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(
        OUT + b * sob + h * soh + pos[:, None] * sol + offs_d[None, :],
        out.to(OUT.dtype.element_ty),
        mask=m_mask[:, None] & (offs_d[None, :] < D),
    )
    tl.store(LSE + top_base + offs_m, (m_i + tl.log2(l_i)).to(LSE.dtype.element_ty), mask=m_mask)


@triton.autotune(configs=_ATTN, key=["N_TOP", "L_K", "D", "CAUSAL", "HAS_ALIBI"])
@triton.jit
def _probsparse_bwd_dq_kernel(
    Q,
    K,
    V,
    OUT,
    DO,
    TOP,
    SLOPES,
    LSE,
    DELTA,
    DQ,
    H,
    L_K,
    N_TOP,
    qk_scale,
    scale,
    sqb,
    sqh,
    sql,
    skb,
    skh,
    skl,
    svb,
    svh,
    svl,
    sob,
    soh,
    sol,
    sdb,
    sdh,
    sdl,
    sgb,
    sgh,
    sgl,
    D: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_ALIBI: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """delta_m = dO_m . O_m (stored) and dq_m = scale sum_j p_mj (dp_mj - delta_m) k_j for the active
    rows m; DQ is pre-zeroed (lazy rows have no gradient) and gets the active rows."""
    pid_m, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = offs_m < N_TOP
    offs_d = tl.arange(0, BLOCK_D)
    top_base = pid_bh.to(tl.int64) * N_TOP
    pos = tl.load(TOP + top_base + offs_m, mask=m_mask, other=0)
    q = _load_rows(Q + b * sqb + h * sqh, pos, m_mask, sql, offs_d, D)
    do = _load_rows(DO + b * sdb + h * sdh, pos, m_mask, sdl, offs_d, D)
    o = _load_rows(OUT + b * sob + h * soh, pos, m_mask, sol, offs_d, D)
    delta = tl.sum(do.to(ACC_DTYPE) * o.to(ACC_DTYPE), axis=1)
    tl.store(DELTA + top_base + offs_m, delta.to(DELTA.dtype.element_ty), mask=m_mask)
    lse = tl.load(LSE + top_base + offs_m, mask=m_mask, other=0.0).to(ACC_DTYPE)
    k_base, v_base = K + b * skb + h * skh, V + b * svb + h * svh
    slope2 = 0.0
    if HAS_ALIBI:
        slope2 = tl.load(SLOPES + h).to(ACC_DTYPE) * 1.4426950408889634
    dq = tl.zeros((BLOCK_M, BLOCK_D), ACC_DTYPE)
    hi = L_K
    if CAUSAL:
        hi = tl.minimum(L_K, tl.max(pos) + 1)
    for n0 in range(0, hi, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_mask = offs_n < L_K
        k = _load_rows(k_base, offs_n, n_mask, skl, offs_d, D)
        v = _load_rows(v_base, offs_n, n_mask, svl, offs_d, D)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION, out_dtype=ACC_DTYPE) * qk_scale
        if HAS_ALIBI:
            s += _alibi(pos, offs_n, slope2)
        valid = m_mask[:, None] & n_mask[None, :]
        if CAUSAL:
            valid = valid & (offs_n[None, :] <= pos[:, None])
        p = tl.where(valid, tl.exp2(s - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION, out_dtype=ACC_DTYPE)
        ds = p * (dp - delta[:, None])
        dq = tl.dot(ds.to(k.dtype), k, dq, input_precision=PRECISION, out_dtype=ACC_DTYPE)
    tl.store(
        DQ + b * sgb + h * sgh + pos[:, None] * sgl + offs_d[None, :],
        (dq * scale).to(DQ.dtype.element_ty),
        mask=m_mask[:, None] & (offs_d[None, :] < D),
    )


@triton.autotune(configs=_DKDV, key=["N_TOP", "L_K", "D", "CAUSAL", "HAS_ALIBI"])
@triton.jit
def _probsparse_bwd_dkdv_kernel(
    Q,
    K,
    V,
    DO,
    TOP,
    SLOPES,
    LSE,
    DELTA,
    CARRY,
    DK,
    DV,
    H,
    L_Q,
    L_K,
    N_TOP,
    n_carry,
    qk_scale,
    scale,
    inv_l_k,
    sqb,
    sqh,
    sql,
    skb,
    skh,
    skl,
    svb,
    svh,
    svl,
    sdb,
    sdh,
    sdl,
    sgb,
    sgh,
    sgl,
    D: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_ALIBI: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_M: tl.constexpr,
):
    """dk, dv of keys [n-block] (DK, DV share the strides sg*). CARRY (as for the lazy kernel, over dO
    rows in chunks of BLOCK_N): non-causal (B*H, 1, BLOCK_D), the column sums of dO; causal (B*H,
    n_chunks, BLOCK_D), the sum of the dO chunks after chunk c (L_Q == L_K: chunk c is key block c)."""
    pid_n, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_mask = offs_n < L_K
    offs_d = tl.arange(0, BLOCK_D)
    k = _load_rows(K + b * skb + h * skh, offs_n, n_mask, skl, offs_d, D)
    v = _load_rows(V + b * svb + h * svh, offs_n, n_mask, svl, offs_d, D)
    q_base, do_base = Q + b * sqb + h * sqh, DO + b * sdb + h * sdh
    # the lazy rows' path, as if every row were lazy; the active rows' share is removed below
    carry_row = pid_bh.to(tl.int64) * n_carry
    if CAUSAL:
        carry_row += pid_n
    carry = tl.load(CARRY + carry_row * BLOCK_D + offs_d).to(ACC_DTYPE)
    if CAUSAL:
        do_rows = _load_rows(do_base, offs_n, offs_n < L_Q, sdl, offs_d, D).to(ACC_DTYPE)
        dv = tl.cumsum(do_rows, axis=0, reverse=True) + carry[None, :]
    else:
        dv = tl.zeros((BLOCK_N, BLOCK_D), ACC_DTYPE) + (carry * inv_l_k)[None, :]
    dk = tl.zeros((BLOCK_N, BLOCK_D), ACC_DTYPE)
    slope2 = 0.0
    if HAS_ALIBI:
        slope2 = tl.load(SLOPES + h).to(ACC_DTYPE) * 1.4426950408889634
    top_base = pid_bh.to(tl.int64) * N_TOP
    for m0 in range(0, N_TOP, BLOCK_M):
        offs_m = m0 + tl.arange(0, BLOCK_M)
        m_mask = offs_m < N_TOP
        pos = tl.load(TOP + top_base + offs_m, mask=m_mask, other=0)
        q = _load_rows(q_base, pos, m_mask, sql, offs_d, D)
        do = _load_rows(do_base, pos, m_mask, sdl, offs_d, D)
        lse = tl.load(LSE + top_base + offs_m, mask=m_mask, other=0.0).to(ACC_DTYPE)
        delta = tl.load(DELTA + top_base + offs_m, mask=m_mask, other=0.0).to(ACC_DTYPE)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION, out_dtype=ACC_DTYPE) * qk_scale  # (M, N)
        if HAS_ALIBI:
            s += _alibi(pos, offs_n, slope2)
        valid = m_mask[:, None] & n_mask[None, :]
        if CAUSAL:
            valid = valid & (offs_n[None, :] <= pos[:, None])
        p = tl.where(valid, tl.exp2(s - lse[:, None]), 0.0)
        dv = tl.dot(tl.trans(p.to(do.dtype)), do, dv, input_precision=PRECISION, out_dtype=ACC_DTYPE)
        # remove the active rows from the lazy path: kept apart from p, which (p - 1) would drown in
        # fp16/bf16
        if CAUSAL:
            dv = tl.dot(
                tl.trans(tl.where(valid, -1.0, 0.0).to(do.dtype)),
                do,
                dv,
                input_precision=PRECISION,
                out_dtype=ACC_DTYPE,
            )
        else:
            dv -= tl.where(n_mask[:, None], tl.sum(do.to(ACC_DTYPE), axis=0)[None, :] * inv_l_k, 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION, out_dtype=ACC_DTYPE)
        ds = p * (dp - delta[:, None])
        dk = tl.dot(tl.trans(ds.to(q.dtype)), q, dk, input_precision=PRECISION, out_dtype=ACC_DTYPE)
    out = b * sgb + h * sgh + offs_n[:, None] * sgl + offs_d[None, :]
    out_mask = n_mask[:, None] & (offs_d[None, :] < D)
    tl.store(DK + out, (dk * scale).to(DK.dtype.element_ty), mask=out_mask)
    tl.store(DV + out, dv.to(DV.dtype.element_ty), mask=out_mask)
