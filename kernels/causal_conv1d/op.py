"""``causal_conv1d``: checks, dispatch, launchers and autograd for the causal dilated convolution.

Backends: ``"torch"`` (the reference, ``reference.py``), ``"triton"`` (the kernels in ``triton.py``,
on CUDA, or on CPU tensors under ``TRITON_INTERPRET=1``), ``"auto"`` (Triton on CUDA for the cases the
kernels support, dense ``groups=1`` and depthwise ``groups = C_in = C_out``, in fp16/bf16/fp32; else the
reference). The Triton path is a pair of ``torch.library`` custom ops (``zoo_kernels::causal_conv1d_fwd``
and ``..._bwd``) with a registered autograd formula and fake (meta) implementations, so it composes with
``torch.compile``. fp32 inputs use TF32 tensor cores when ``torch.backends.cudnn.allow_tf32`` is set,
the same switch that lets cuDNN's convolutions use them.
"""

import functools

import torch

from kernels.causal_conv1d.reference import ACTIVATIONS, ConvActivation, causal_conv1d_reference
from kernels.triton_support import BACKENDS, Backend, cdiv, check_choice, use_triton

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps")  # torch.is_autocast_enabled raises for others (e.g. meta)
_ACT_CODES = {None: 0, "relu": 1, "gelu": 2, "silu": 3}


def _check(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dilation: int,
    groups: int,
    activation: ConvActivation,
    backend: str,
) -> None:
    if x.ndim != 3:
        raise ValueError(f"causal_conv1d: x must be (B, C_in, L), got shape {tuple(x.shape)}")
    if weight.ndim != 3:
        raise ValueError(
            f"causal_conv1d: weight must be (C_out, C_in // groups, K), got shape {tuple(weight.shape)}"
        )
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"causal_conv1d: groups must be a positive int, got {groups!r}")
    if not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"causal_conv1d: dilation must be an int >= 1, got {dilation!r}")
    c_out, c_per_group, taps = weight.shape
    if taps < 1:
        raise ValueError(
            f"causal_conv1d: kernel size K must be >= 1, got weight of shape {tuple(weight.shape)}"
        )
    if x.shape[1] % groups or c_out % groups:
        raise ValueError(
            f"causal_conv1d: C_in={x.shape[1]} and C_out={c_out} must be divisible by groups={groups}"
        )
    if c_per_group != x.shape[1] // groups:
        raise ValueError(
            f"causal_conv1d: weight has {c_per_group} input channels per group, but x has "
            f"C_in={x.shape[1]} and groups={groups} (expected {x.shape[1] // groups})"
        )
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != c_out):
        raise ValueError(f"causal_conv1d: bias must be (C_out,) = ({c_out},), got shape {tuple(bias.shape)}")
    tensors = {"x": x, "weight": weight} | ({"bias": bias} if bias is not None else {})
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        raise ValueError(f"causal_conv1d: tensors are on different devices: {devices}")
    dtypes = {name: t.dtype for name, t in tensors.items()}
    if len(set(dtypes.values())) > 1 or x.dtype not in _FLOATS:
        raise ValueError(f"causal_conv1d: x, weight and bias need one floating dtype, got {dtypes}")
    check_choice("causal_conv1d", "activation", activation, ACTIVATIONS, optional=True)
    check_choice("causal_conv1d", "backend", backend, BACKENDS)


def _autocast(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The inputs in autocast's dtype when autocast is on for their device (fp64 is left alone, as torch does)."""
    device = x.device.type
    if device not in _AUTOCAST_DEVICES or x.dtype == torch.float64 or not torch.is_autocast_enabled(device):
        return x, weight, bias
    dtype = torch.get_autocast_dtype(device)

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.to(dtype) if t.is_floating_point() and t.dtype != dtype else t

    return cast(x), cast(weight), cast(bias) if bias is not None else None


def _is_depthwise(x: torch.Tensor, weight: torch.Tensor, groups: int) -> bool:
    return groups > 1 and groups == x.shape[1] == weight.shape[0]


def _unsupported(x: torch.Tensor, weight: torch.Tensor, groups: int) -> str | None:
    """Why the Triton kernels do not cover this call, or None (they cover dense and depthwise)."""
    if groups == 1 or _is_depthwise(x, weight, groups):
        return None
    return (
        f"the Triton kernels cover groups=1 and depthwise (groups = C_in = C_out), got groups={groups} "
        f"with C_in={x.shape[1]}, C_out={weight.shape[0]}; use backend='torch'"
    )


# ----------------------------------------------------------------------------- launchers
def _pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _precision(x: torch.Tensor) -> str | None:
    if x.dtype == torch.float32:
        return "tf32" if x.is_cuda and torch.backends.cudnn.allow_tf32 else "ieee"
    return None


def _acc_dtype(x: torch.Tensor):
    import triton.language as tl

    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _tap_major(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, C_in, K) -> (K, C_out, C_in) contiguous: each tap's weight slab is one dense matrix."""
    return weight.permute(2, 0, 1).contiguous()


def _launch_fwd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dilation: int,
    depthwise: bool,
    act: int,
    save_z: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    from kernels.causal_conv1d import triton as tk

    batch, c_in, length = x.shape
    c_out, _, taps = weight.shape
    y = torch.empty(batch, c_out, length, device=x.device, dtype=x.dtype)
    z = torch.empty_like(y) if save_z else y.new_empty(0)
    bias_arg, z_arg = (bias if bias is not None else y), (z if save_z else y)
    flags = {"HAS_BIAS": bias is not None, "ACT": act, "SAVE_Z": save_z, "ACC_DTYPE": _acc_dtype(x)}
    if depthwise:
        tk._causal_conv1d_fwd_depthwise_kernel[
            lambda meta: (cdiv(length, meta["BLOCK_T"]), cdiv(c_out, meta["BLOCK_C"]), batch)
        ](
            x,
            weight,
            bias_arg,
            y,
            z_arg,
            c_out,
            length,
            taps,
            dilation,
            x.stride(0),
            x.stride(1),
            weight.stride(0),
            y.stride(0),
            y.stride(1),
            **flags,
        )
    else:
        wt = _tap_major(weight)
        tk._causal_conv1d_fwd_kernel[
            lambda meta: (cdiv(length, meta["BLOCK_T"]), cdiv(c_out, meta["BLOCK_O"]), batch)
        ](
            x,
            wt,
            bias_arg,
            y,
            z_arg,
            c_in,
            c_out,
            length,
            taps,
            dilation,
            x.stride(0),
            x.stride(1),
            wt.stride(0),
            wt.stride(1),
            y.stride(0),
            y.stride(1),
            PRECISION=_precision(x),
            **flags,
        )
    return y, z


@functools.cache
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def _n_splits(programs: int, chunks: int, x: torch.Tensor) -> int:
    """How many partial-sum slots a weight-gradient reduction uses: enough programs to fill the GPU."""
    if not x.is_cuda:
        return min(2, chunks)
    target = 4 * _sm_count(x.device.index if x.device.index is not None else torch.cuda.current_device())
    return max(1, min(chunks, cdiv(target, max(programs, 1))))


def _launch_bwd(
    dy: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    z: torch.Tensor,
    dilation: int,
    depthwise: bool,
    act: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from kernels.causal_conv1d import triton as tk

    batch, c_in, length = x.shape
    c_out, _, taps = weight.shape
    acc = _acc_dtype(x)
    if act:
        dz = torch.empty_like(dy)
        block = 1024 if x.is_cuda else 256
        tk._causal_conv1d_bwd_act_kernel[(cdiv(dz.numel(), block),)](
            dy, z, dz, dz.numel(), ACT=act, ACC_DTYPE=acc, BLOCK=block
        )
    else:
        dz = dy
    part_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    dx = torch.empty_like(x)
    # the partial-sum count depends on the shape only (nominal 64-wide tiles), never on the tuned config
    chunks = batch * cdiv(length, 64)
    if depthwise:
        tk._causal_conv1d_bwd_dx_depthwise_kernel[
            lambda meta: (cdiv(length, meta["BLOCK_T"]), cdiv(c_in, meta["BLOCK_C"]), batch)
        ](
            dz,
            weight,
            dx,
            c_in,
            length,
            taps,
            dilation,
            dz.stride(0),
            dz.stride(1),
            weight.stride(0),
            dx.stride(0),
            dx.stride(1),
            ACC_DTYPE=acc,
        )
        n_splits = _n_splits(cdiv(c_out, 8), chunks, x)
        dw_part = torch.empty(n_splits, c_out, taps, device=x.device, dtype=part_dtype)
        db_part = torch.empty(n_splits, c_out, device=x.device, dtype=part_dtype)
        tk._causal_conv1d_bwd_dw_depthwise_kernel[lambda meta: (cdiv(c_out, meta["BLOCK_C"]), n_splits)](
            x,
            dz,
            dw_part,
            db_part,
            batch,
            c_out,
            length,
            taps,
            dilation,
            n_splits,
            x.stride(0),
            x.stride(1),
            dz.stride(0),
            dz.stride(1),
            ACC_DTYPE=acc,
            BLOCK_K=_pow2(taps),
        )
        dw = dw_part.sum(0).view(c_out, 1, taps)
    else:
        wt = _tap_major(weight)
        tk._causal_conv1d_bwd_dx_kernel[
            lambda meta: (cdiv(length, meta["BLOCK_T"]), cdiv(c_in, meta["BLOCK_O"]), batch)
        ](
            dz,
            wt,
            dx,
            c_in,
            c_out,
            length,
            taps,
            dilation,
            dz.stride(0),
            dz.stride(1),
            wt.stride(0),
            wt.stride(1),
            dx.stride(0),
            dx.stride(1),
            ACC_DTYPE=acc,
            PRECISION=_precision(x),
        )
        n_splits = _n_splits(cdiv(c_out, 64) * cdiv(c_in, 64) * taps, chunks, x)
        dw_part = torch.empty(n_splits, taps, c_out, c_in, device=x.device, dtype=part_dtype)
        db_part = torch.empty(n_splits, c_out, device=x.device, dtype=part_dtype)
        tk._causal_conv1d_bwd_dw_kernel[
            lambda meta: (cdiv(c_out, meta["BLOCK_CO"]), cdiv(c_in, meta["BLOCK_CI"]), taps * n_splits)
        ](
            x,
            dz,
            dw_part,
            db_part,
            batch,
            c_in,
            c_out,
            length,
            taps,
            dilation,
            n_splits,
            x.stride(0),
            x.stride(1),
            dz.stride(0),
            dz.stride(1),
            ACC_DTYPE=acc,
            PRECISION=_precision(x),
        )
        dw = dw_part.sum(0).permute(1, 2, 0)  # (K, C_out, C_in) -> (C_out, C_in, K)
    return dx, dw.to(weight.dtype).contiguous(), db_part.sum(0).to(weight.dtype)


# ----------------------------------------------------------------------------- custom ops + autograd
@torch.library.custom_op("zoo_kernels::causal_conv1d_fwd", mutates_args=())
def _fwd_op(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dilation: int,
    groups: int,
    act: int,
    save_z: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    return _launch_fwd(x, weight, bias, dilation, _is_depthwise(x, weight, groups), act, save_z)


@_fwd_op.register_fake
def _(x, weight, bias, dilation, groups, act, save_z):
    y = x.new_empty(x.shape[0], weight.shape[0], x.shape[2])
    return y, (torch.empty_like(y) if save_z else y.new_empty(0))


@torch.library.custom_op("zoo_kernels::causal_conv1d_bwd", mutates_args=())
def _bwd_op(
    dy: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    z: torch.Tensor,
    dilation: int,
    groups: int,
    act: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _launch_bwd(dy, x, weight, z, dilation, _is_depthwise(x, weight, groups), act)


@_bwd_op.register_fake
def _(dy, x, weight, z, dilation, groups, act):
    return torch.empty_like(x), torch.empty_like(weight), weight.new_empty(weight.shape[0])


def _setup_context(ctx, inputs, output) -> None:
    x, weight, bias, dilation, groups, act, _ = inputs
    ctx.save_for_backward(x, weight, output[1])
    ctx.dilation, ctx.groups, ctx.act, ctx.has_bias = dilation, groups, act, bias is not None


def _backward(ctx, dy: torch.Tensor, _dz: torch.Tensor):
    x, weight, z = ctx.saved_tensors
    if ctx.act and z.numel() == 0:
        raise RuntimeError("causal_conv1d: backward needs the pre-activation, which was not saved")
    dx, dw, db = _bwd_op(dy.contiguous(), x, weight, z, ctx.dilation, ctx.groups, ctx.act)
    return dx, dw, (db if ctx.has_bias else None), None, None, None, None


_fwd_op.register_autograd(_backward, setup_context=_setup_context)


def causal_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    dilation: int = 1,
    groups: int = 1,
    activation: ConvActivation = None,
    backend: Backend = "auto",
) -> torch.Tensor:
    """Causal dilated conv: x (B, C_in, L), weight (C_out, C_in // groups, K) -> (B, C_out, L).

    ``y[..., t]`` depends on ``x[..., t - j * dilation]`` for j in [0, K) only; bias and activation
    ("relu", "gelu", "silu") are fused into the epilogue on the Triton path. Non-contiguous inputs are
    copied to contiguous memory first. Under ``torch.autocast`` the inputs are cast to its dtype first, as
    ``torch.nn.functional.conv1d`` is (convolutions are on autocast's lower-precision list), so fp32
    weights meet bf16 activations in one dtype; gradients flow back to the fp32 parameters.
    """
    x, weight, bias = _autocast(x, weight, bias)
    _check(x, weight, bias, dilation, groups, activation, backend)
    if not use_triton("causal_conv1d", x, backend, _unsupported(x, weight, groups)):
        return causal_conv1d_reference(x, weight, bias, dilation, groups, activation)
    act = _ACT_CODES[activation]
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias))
    x, weight = x.contiguous(), weight.contiguous()
    bias = bias.contiguous() if bias is not None else None
    if not needs_grad and not torch.compiler.is_compiling():
        # inference: launch directly, skipping the custom-op dispatch (tens of microseconds per call)
        return _launch_fwd(x, weight, bias, dilation, _is_depthwise(x, weight, groups), act, False)[0]
    y, _ = _fwd_op(x, weight, bias, dilation, groups, act, bool(act and needs_grad))
    return y
