"""Triton kernels for the causal dilated convolution (forward and backward).

Definitions (x (B, C_in, L), w (C_out, C_in // groups, K), shift_k = (K - 1 - k) * dilation):
    z[b, o, t]  = bias[o] + sum_{k, i} w[o, i, k] * x[b, i, t - shift_k]      (x = 0 for t < 0)
    y           = act(z)
    dz          = dy * act'(z)
    dx[b, i, s] = sum_{k, o} w[o, i, k] * dz[b, o, s + shift_k]             (dz = 0 for s >= L)
    dw[o, i, k] = sum_{b, t} dz[b, o, t] * x[b, i, t - shift_k]
    dbias[o]    = sum_{b, t} dz[b, o, t]

Dense (groups = 1): implicit GEMMs over taps with ``tl.dot``, tiles of (channels x time); the weight is
passed tap-major, (K, C_out, C_in), so every tap's (C_out x C_in) slab is contiguous, and the shifted
input tile of each tap is a masked load (zeros for t < 0). Depthwise (groups = C_in = C_out): a
bandwidth-bound kernel over (channel, time) tiles whose K shifted loads overlap and hit the cache (the
dilated halo is re-read from L1/L2, not from HBM). Weight and bias gradients are deterministic: each
program reduces a fixed, strided share of the (batch, time) tiles into its own partial-sum slot and the
slots are summed afterwards in a fixed order; no atomics.

Tile sizes are autotuned per shape on GPUs; under ``TRITON_INTERPRET=1`` (CPU) a single small config is
used, because the interpreter does not support several. Only ``@triton.jit`` kernels live here;
launchers and autograd are in ``op.py``.
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


_DENSE = _configs(
    [
        ({"BLOCK_O": 64, "BLOCK_T": 128, "BLOCK_R": 32}, 4, 3),
        ({"BLOCK_O": 128, "BLOCK_T": 128, "BLOCK_R": 32}, 8, 3),
        ({"BLOCK_O": 64, "BLOCK_T": 64, "BLOCK_R": 64}, 4, 4),
        ({"BLOCK_O": 128, "BLOCK_T": 64, "BLOCK_R": 64}, 4, 3),
        ({"BLOCK_O": 64, "BLOCK_T": 256, "BLOCK_R": 32}, 8, 3),
    ],
    {"BLOCK_O": 16, "BLOCK_T": 32, "BLOCK_R": 16},
)
_DENSE_DW = _configs(
    [
        ({"BLOCK_CO": 64, "BLOCK_CI": 64, "BLOCK_T": 64}, 4, 3),
        ({"BLOCK_CO": 128, "BLOCK_CI": 64, "BLOCK_T": 32}, 4, 3),
        ({"BLOCK_CO": 64, "BLOCK_CI": 64, "BLOCK_T": 128}, 8, 3),
        ({"BLOCK_CO": 128, "BLOCK_CI": 128, "BLOCK_T": 32}, 8, 3),
    ],
    {"BLOCK_CO": 16, "BLOCK_CI": 16, "BLOCK_T": 32},
)
_DEPTHWISE = _configs(
    [
        ({"BLOCK_C": 4, "BLOCK_T": 512}, 4, 2),
        ({"BLOCK_C": 8, "BLOCK_T": 256}, 4, 2),
        ({"BLOCK_C": 2, "BLOCK_T": 1024}, 4, 2),
        ({"BLOCK_C": 16, "BLOCK_T": 128}, 4, 2),
    ],
    {"BLOCK_C": 8, "BLOCK_T": 32},
)


@triton.jit
def _activation(z, ACT: tl.constexpr):
    if ACT == 1:
        z = tl.maximum(z, 0.0)
    elif ACT == 2:
        z = 0.5 * z * (1.0 + tl.math.erf(z * 0.7071067811865476))
    elif ACT == 3:
        z = z * tl.sigmoid(z)
    return z


@triton.jit
def _activation_grad(z, ACT: tl.constexpr):
    if ACT == 1:
        g = tl.where(z > 0, 1.0, 0.0)
    elif ACT == 2:
        cdf = 0.5 * (1.0 + tl.math.erf(z * 0.7071067811865476))
        g = cdf + z * 0.3989422804014327 * tl.exp(-0.5 * z * z)
    elif ACT == 3:
        s = tl.sigmoid(z)
        g = s * (1.0 + z * (1.0 - s))
    else:
        g = tl.full(z.shape, 1.0, z.dtype)
    return g


@triton.jit
def _epilogue(
    acc,
    BIAS,
    Y,
    Z,
    offs_c,
    mask_c,
    offs_t,
    L,
    out_base,
    syc,
    HAS_BIAS: tl.constexpr,
    ACT: tl.constexpr,
    SAVE_Z: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
):
    if HAS_BIAS:
        acc += tl.load(BIAS + offs_c, mask=mask_c, other=0.0).to(ACC_DTYPE)[:, None]
    out_offs = out_base + offs_c[:, None] * syc + offs_t[None, :]
    out_mask = mask_c[:, None] & (offs_t[None, :] < L)
    if SAVE_Z:
        tl.store(Z + out_offs, acc.to(Z.dtype.element_ty), mask=out_mask)
    tl.store(Y + out_offs, _activation(acc, ACT).to(Y.dtype.element_ty), mask=out_mask)


@triton.autotune(configs=_DENSE, key=["C_in", "C_out", "L", "K"])
@triton.jit
def _causal_conv1d_fwd_kernel(
    X,
    WT,
    BIAS,
    Y,
    Z,
    C_in,
    C_out,
    L,
    K,
    dilation,
    sxb,
    sxc,
    swk,
    swo,
    syb,
    syc,
    HAS_BIAS: tl.constexpr,
    ACT: tl.constexpr,
    SAVE_Z: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_O: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_R: tl.constexpr,
):
    """Dense forward: one (BLOCK_O output channels x BLOCK_T steps) tile of batch row ``pid(2)``.
    WT is the tap-major weight (K, C_out, C_in)."""
    pid_t, pid_o, b = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_o = pid_o * BLOCK_O + tl.arange(0, BLOCK_O)
    mask_o = offs_o < C_out
    acc = tl.zeros((BLOCK_O, BLOCK_T), dtype=ACC_DTYPE)
    for k in range(K):
        src_t = offs_t - (K - 1 - k) * dilation
        mask_t = (src_t >= 0) & (src_t < L)
        for r0 in range(0, C_in, BLOCK_R):
            offs_r = r0 + tl.arange(0, BLOCK_R)
            mask_r = offs_r < C_in
            w = tl.load(
                WT + k * swk + offs_o[:, None] * swo + offs_r[None, :],
                mask=mask_o[:, None] & mask_r[None, :],
                other=0.0,
            )
            xs = tl.load(
                X + b * sxb + offs_r[:, None] * sxc + src_t[None, :],
                mask=mask_r[:, None] & mask_t[None, :],
                other=0.0,
            )
            acc = tl.dot(w, xs, acc, input_precision=PRECISION, out_dtype=ACC_DTYPE)
    _epilogue(acc, BIAS, Y, Z, offs_o, mask_o, offs_t, L, b * syb, syc, HAS_BIAS, ACT, SAVE_Z, ACC_DTYPE)


@triton.autotune(configs=_DEPTHWISE, key=["C", "L", "K"])
@triton.jit
def _causal_conv1d_fwd_depthwise_kernel(
    X,
    W,
    BIAS,
    Y,
    Z,
    C,
    L,
    K,
    dilation,
    sxb,
    sxc,
    swc,
    syb,
    syc,
    HAS_BIAS: tl.constexpr,
    ACT: tl.constexpr,
    SAVE_Z: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    """Depthwise forward: one (BLOCK_C channels x BLOCK_T steps) tile; W is (C, 1, K)."""
    pid_t, pid_c, b = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    acc = tl.zeros((BLOCK_C, BLOCK_T), dtype=ACC_DTYPE)
    for k in range(K):
        src_t = offs_t - (K - 1 - k) * dilation
        w = tl.load(W + offs_c * swc + k, mask=mask_c, other=0.0).to(ACC_DTYPE)
        xs = tl.load(
            X + b * sxb + offs_c[:, None] * sxc + src_t[None, :],
            mask=mask_c[:, None] & (src_t[None, :] >= 0) & (src_t[None, :] < L),
            other=0.0,
        )
        acc += w[:, None] * xs.to(ACC_DTYPE)
    _epilogue(acc, BIAS, Y, Z, offs_c, mask_c, offs_t, L, b * syb, syc, HAS_BIAS, ACT, SAVE_Z, ACC_DTYPE)


@triton.jit
def _causal_conv1d_bwd_act_kernel(
    DY, Z, DZ, N, ACT: tl.constexpr, ACC_DTYPE: tl.constexpr, BLOCK: tl.constexpr
):
    """dz = dy * act'(z), elementwise over N contiguous elements."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    z = tl.load(Z + offs, mask=mask, other=0.0).to(ACC_DTYPE)
    dy = tl.load(DY + offs, mask=mask, other=0.0).to(ACC_DTYPE)
    tl.store(DZ + offs, (dy * _activation_grad(z, ACT)).to(DZ.dtype.element_ty), mask=mask)


@triton.autotune(configs=_DENSE, key=["C_in", "C_out", "L", "K"])
@triton.jit
def _causal_conv1d_bwd_dx_kernel(
    DZ,
    WT,
    DX,
    C_in,
    C_out,
    L,
    K,
    dilation,
    sdb,
    sdc,
    swk,
    swo,
    sxb,
    sxc,
    ACC_DTYPE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_O: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_R: tl.constexpr,
):
    """Dense dx: one (BLOCK_O input channels x BLOCK_T steps) tile, reducing over output channels
    (BLOCK_R at a time) and taps: the anti-causal correlation of dz with w. WT is (K, C_out, C_in)."""
    pid_t, pid_i, b = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_i = pid_i * BLOCK_O + tl.arange(0, BLOCK_O)
    mask_i = offs_i < C_in
    acc = tl.zeros((BLOCK_O, BLOCK_T), dtype=ACC_DTYPE)
    for k in range(K):
        dst_t = offs_t + (K - 1 - k) * dilation
        mask_t = dst_t < L
        for r0 in range(0, C_out, BLOCK_R):
            offs_r = r0 + tl.arange(0, BLOCK_R)
            mask_r = offs_r < C_out
            wt = tl.load(
                WT + k * swk + offs_r[None, :] * swo + offs_i[:, None],
                mask=mask_i[:, None] & mask_r[None, :],
                other=0.0,
            )
            g = tl.load(
                DZ + b * sdb + offs_r[:, None] * sdc + dst_t[None, :],
                mask=mask_r[:, None] & mask_t[None, :],
                other=0.0,
            )
            acc = tl.dot(wt, g, acc, input_precision=PRECISION, out_dtype=ACC_DTYPE)
    tl.store(
        DX + b * sxb + offs_i[:, None] * sxc + offs_t[None, :],
        acc.to(DX.dtype.element_ty),
        mask=mask_i[:, None] & (offs_t[None, :] < L),
    )


@triton.autotune(configs=_DEPTHWISE, key=["C", "L", "K"])
@triton.jit
def _causal_conv1d_bwd_dx_depthwise_kernel(
    DZ,
    W,
    DX,
    C,
    L,
    K,
    dilation,
    sdb,
    sdc,
    swc,
    sxb,
    sxc,
    ACC_DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    """Depthwise dx: one (BLOCK_C x BLOCK_T) tile, dx[c, s] = sum_k w[c, k] dz[c, s + shift_k]."""
    pid_t, pid_c, b = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    acc = tl.zeros((BLOCK_C, BLOCK_T), dtype=ACC_DTYPE)
    for k in range(K):
        dst_t = offs_t + (K - 1 - k) * dilation
        w = tl.load(W + offs_c * swc + k, mask=mask_c, other=0.0).to(ACC_DTYPE)
        g = tl.load(
            DZ + b * sdb + offs_c[:, None] * sdc + dst_t[None, :],
            mask=mask_c[:, None] & (dst_t[None, :] < L),
            other=0.0,
        )
        acc += w[:, None] * g.to(ACC_DTYPE)
    tl.store(
        DX + b * sxb + offs_c[:, None] * sxc + offs_t[None, :],
        acc.to(DX.dtype.element_ty),
        mask=mask_c[:, None] & (offs_t[None, :] < L),
    )


@triton.autotune(configs=_DENSE_DW, key=["C_in", "C_out", "L", "K"])
@triton.jit
def _causal_conv1d_bwd_dw_kernel(
    X,
    DZ,
    DW_PART,
    DB_PART,
    B,
    C_in,
    C_out,
    L,
    K,
    dilation,
    n_splits,
    sxb,
    sxc,
    sdb,
    sdc,
    ACC_DTYPE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_CO: tl.constexpr,
    BLOCK_CI: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    """Dense dw partial sums: program (co tile, ci tile, k + K * split) reduces its share of (b, t) tiles
    into DW_PART[split, k, co, ci]; the (ci tile 0, k 0) programs also write DB_PART[split, co]."""
    pid_co, pid_ci, pid_ks = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    k = pid_ks % K
    split = pid_ks // K
    shift = (K - 1 - k) * dilation
    offs_co = pid_co * BLOCK_CO + tl.arange(0, BLOCK_CO)
    offs_ci = pid_ci * BLOCK_CI + tl.arange(0, BLOCK_CI)
    mask_co, mask_ci = offs_co < C_out, offs_ci < C_in
    acc = tl.zeros((BLOCK_CO, BLOCK_CI), dtype=ACC_DTYPE)
    acc_b = tl.zeros((BLOCK_CO,), dtype=ACC_DTYPE)
    n_t = tl.cdiv(L, BLOCK_T)
    for j in range(split, B * n_t, n_splits):
        b = (j // n_t).to(tl.int64)
        offs_t = (j % n_t) * BLOCK_T + tl.arange(0, BLOCK_T)
        src_t = offs_t - shift
        g = tl.load(
            DZ + b * sdb + offs_co[:, None] * sdc + offs_t[None, :],
            mask=mask_co[:, None] & (offs_t[None, :] < L),
            other=0.0,
        )
        xt = tl.load(
            X + b * sxb + offs_ci[None, :] * sxc + src_t[:, None],
            mask=mask_ci[None, :] & (src_t[:, None] >= 0) & (src_t[:, None] < L),
            other=0.0,
        )
        acc = tl.dot(g, xt, acc, input_precision=PRECISION, out_dtype=ACC_DTYPE)
        acc_b += tl.sum(g.to(ACC_DTYPE), axis=1)
    part = DW_PART + (split * K + k) * C_out * C_in + offs_co[:, None] * C_in + offs_ci[None, :]
    tl.store(part, acc, mask=mask_co[:, None] & mask_ci[None, :])
    if (pid_ci == 0) & (k == 0):
        tl.store(DB_PART + split * C_out + offs_co, acc_b, mask=mask_co)


@triton.autotune(configs=_DEPTHWISE, key=["C", "L", "K"])
@triton.jit
def _causal_conv1d_bwd_dw_depthwise_kernel(
    X,
    DZ,
    DW_PART,
    DB_PART,
    B,
    C,
    L,
    K,
    dilation,
    n_splits,
    sxb,
    sxc,
    sdb,
    sdc,
    ACC_DTYPE: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    """Depthwise dw partial sums: program (c tile, split) reduces its (b, t) tiles into
    DW_PART[split, c, k] for every tap k, and DB_PART[split, c]."""
    pid_c, split = tl.program_id(0), tl.program_id(1)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    offs_k = tl.arange(0, BLOCK_K)
    mask_c = offs_c < C
    acc = tl.zeros((BLOCK_C, BLOCK_K), dtype=ACC_DTYPE)
    acc_b = tl.zeros((BLOCK_C,), dtype=ACC_DTYPE)
    n_t = tl.cdiv(L, BLOCK_T)
    for j in range(split, B * n_t, n_splits):
        b = (j // n_t).to(tl.int64)
        offs_t = (j % n_t) * BLOCK_T + tl.arange(0, BLOCK_T)
        g = tl.load(
            DZ + b * sdb + offs_c[:, None] * sdc + offs_t[None, :],
            mask=mask_c[:, None] & (offs_t[None, :] < L),
            other=0.0,
        ).to(ACC_DTYPE)
        acc_b += tl.sum(g, axis=1)
        for k in range(K):
            src_t = offs_t - (K - 1 - k) * dilation
            xs = tl.load(
                X + b * sxb + offs_c[:, None] * sxc + src_t[None, :],
                mask=mask_c[:, None] & (src_t[None, :] >= 0) & (src_t[None, :] < L),
                other=0.0,
            ).to(ACC_DTYPE)
            tap = tl.sum(g * xs, axis=1)
            acc = tl.where(offs_k[None, :] == k, acc + tap[:, None], acc)
    part = DW_PART + split * C * K + offs_c[:, None] * K + offs_k[None, :]
    tl.store(part, acc, mask=mask_c[:, None] & (offs_k[None, :] < K))
    tl.store(DB_PART + split * C + offs_c, acc_b, mask=mask_c)
