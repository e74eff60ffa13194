"""Speed of ``kernels.causal_conv1d`` against the PyTorch forms of a causal dilated convolution.

    python benchmarks/causal_conv1d.py --device cpu  --out benchmarks/results/causal_conv1d_cpu
    python benchmarks/causal_conv1d.py --device cuda --out benchmarks/results/causal_conv1d_cuda

CPU: forward and forward+backward of the reference fallback (``backend="torch"``: conv padded on both
sides inside ``F.conv1d``, sliced to ``[..., :L]``) against the locuslab TCN form (Bai et al. 2018,
``nn.Conv1d(C, C, K, padding=(K-1)d, dilation=d)`` then the chomp ``y[..., :-pad]``) and against an
explicit left pad ``F.conv1d(F.pad(x, (pad, 0)), w, dilation=d)``. The variants run interleaved, round
after round, so that drift of a shared machine hits them alike; each figure is a median over the
repetitions that no other process competed with (see ``benchmarks.environment.others_running``), the minimum is kept too.

CUDA: the measured HBM bandwidth (device-to-device copy) and bf16 matmul peak (8192^3) first, then the
Triton backend against the same two cuDNN forms, each next to its roofline: max(bytes moved / bandwidth,
FLOPs / bf16 peak). Depthwise convolutions are bandwidth-bound (the FLOP term never wins); dense ones
are mostly compute-bound, and the bf16 peak is used for fp32 too, so fp32 fractions are optimistic
bounds. Last, a TCN block's main path (two dense causal convs with ReLU, Bai et al.'s residual block
without weight norm and dropout) through the op against Conv1d+chomp+ReLU twice and F.pad+conv+ReLU
twice. A Triton error is recorded in its row. Timings use ``triton.testing.do_bench`` (median, L2
flushed) and cuDNN runs with ``torch.backends.cudnn.benchmark = True`` (its best algorithm).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.environment import others_running, run_metadata  # noqa: E402
from kernels import causal_conv1d  # noqa: E402

Fn = Callable[[], Any]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


# ---------------------------------------------------------------- the three forms of one convolution


class Case:
    """One convolution: inputs, the three implementations, forward and forward+backward closures."""

    def __init__(
        self,
        batch: int,
        c: int,
        length: int,
        taps: int,
        dilation: int,
        depthwise: bool,
        dtype: torch.dtype,
        device: str,
        seed: int = 0,
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        groups = c if depthwise else 1
        self.dilation, self.groups, self.pad = dilation, groups, (taps - 1) * dilation
        # the same parameters for every form; nn.Conv1d's initialisation scale keeps bf16 in range
        conv = nn.Conv1d(c, c, taps, padding=self.pad, dilation=dilation, groups=groups)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) / (c // groups * taps) ** 0.5)
            conv.bias.copy_(torch.randn(c, generator=gen) * 0.1)
        self.conv = conv.to(device=device, dtype=dtype)
        self.weight = self.conv.weight.detach().clone().requires_grad_()
        self.bias = self.conv.bias.detach().clone().requires_grad_()
        self.x = torch.randn(batch, c, length, generator=gen).to(device=device, dtype=dtype).requires_grad_()
        self.dy = torch.randn(batch, c, length, generator=gen).to(device=device, dtype=dtype)
        self.leaves = [self.x, self.weight, self.bias, self.conv.weight, self.conv.bias]

    def ours(self, backend: str) -> Fn:
        return lambda: causal_conv1d(
            self.x, self.weight, self.bias, dilation=self.dilation, groups=self.groups, backend=backend
        )

    def chomp(self) -> Fn:  # locuslab TCN: Conv1d padding both sides, Chomp1d drops the last pad steps
        return lambda: self.conv(self.x)[..., : -self.pad]

    def left_pad(self) -> Fn:
        return lambda: F.conv1d(
            F.pad(self.x, (self.pad, 0)), self.weight, self.bias, dilation=self.dilation, groups=self.groups
        )

    def fwd_bwd(self, forward: Fn) -> Fn:
        def step() -> None:
            for leaf in self.leaves:  # write, not accumulate, the gradients: the same work for every form
                leaf.grad = None
            forward().backward(self.dy)

        return step


def _nbytes_and_flops(
    batch: int, c_in: int, c_out: int, length: int, taps: int, groups: int, elem: int
) -> dict[str, tuple[int, int]]:
    """Minimum HBM traffic and FLOPs of a forward and of a forward+backward."""
    params = c_out * (c_in // groups) * taps + c_out
    act_in, act_out = batch * c_in * length, batch * c_out * length
    fwd_bytes = elem * (act_in + act_out + params)  # read x and the weights, write y
    bwd_bytes = elem * (act_in + act_out + act_in + 2 * params)  # read x, dy, weights; write dx, dw + db
    fwd_flops = 2 * batch * c_out * (c_in // groups) * taps * length
    return {"fwd": (fwd_bytes, fwd_flops), "fwd+bwd": (fwd_bytes + bwd_bytes, 3 * fwd_flops)}


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want.float()).abs().max() / want.float().abs().max().clamp_min(1e-30))


# ---------------------------------------------------------------- CPU


def _wait_for_quiet(threads: int, max_wait_s: float) -> float:
    """Wait (up to ``max_wait_s``) until 5 samples in a row see no competitor; returns seconds waited."""
    start, quiet = time.perf_counter(), 0
    while quiet < 5 and time.perf_counter() - start < max_wait_s:
        others = others_running(threads)
        if others is None:
            return 0.0
        quiet = quiet + 1 if others == 0 else 0
        time.sleep(0.2)
    return time.perf_counter() - start


def _interleaved_ms(fns: dict[str, Fn], budget_s: float, min_reps: int, max_reps: int) -> dict[str, dict]:
    """Median, interquartile range and minimum (ms) per function, timed in alternating rounds.

    Statistics use the repetitions that no other process competed with (``clean_reps``) when there are
    at least ``min_reps`` of them, else all; the loop runs up to 5x ``budget_s`` to collect them.
    """
    threads = torch.get_num_threads()
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    clean: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    for rep in range(max_reps):
        order = list(fns) if rep % 2 == 0 else list(reversed(fns))
        for name in order:
            t0 = time.perf_counter()
            fns[name]()
            elapsed_ms = (time.perf_counter() - t0) * 1e3
            times[name].append(elapsed_ms)
            if not others_running(threads):
                clean[name].append(elapsed_ms)
        elapsed = time.perf_counter() - start
        enough_clean = min(len(ts) for ts in clean.values()) >= min_reps
        if rep + 1 >= min_reps and (elapsed > budget_s and enough_clean or elapsed > 5 * budget_s):
            break
    out = {}
    for name, all_ts in times.items():
        ts = clean[name] if len(clean[name]) >= min_reps else all_ts
        q = statistics.quantiles(ts, n=4)
        out[name] = {
            "ms": statistics.median(ts),
            "iqr_ms": q[2] - q[0],
            "min_ms": min(ts),
            "reps": len(all_ts),
            "clean_reps": len(clean[name]),
            "used_clean_only": ts is clean[name],
        }
    return out


CPU_SHAPES = [  # (case, B, C, L, K, d)
    ("dense", 32, 64, 512, 3, 1),
    ("dense", 32, 64, 512, 3, 4),
    ("dense", 32, 64, 512, 3, 16),
    ("depthwise", 32, 256, 512, 3, 1),
    ("depthwise", 32, 256, 512, 3, 4),
]


def run_cpu(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for case_name, batch, c, length, taps, dilation in CPU_SHAPES:
        case = Case(batch, c, length, taps, dilation, case_name == "depthwise", torch.float32, "cpu")
        forms = {"fallback": case.ours("torch"), "chomp": case.chomp(), "left_pad": case.left_pad()}
        with torch.no_grad():
            want = forms["left_pad"]()
            errors = {name: _rel_err(fn(), want) for name, fn in forms.items()}
        for pass_name in ("fwd", "fwd+bwd"):
            waited = _wait_for_quiet(torch.get_num_threads(), args.quiet_wait_s)
            fns = forms if pass_name == "fwd" else {name: case.fwd_bwd(fn) for name, fn in forms.items()}
            if pass_name == "fwd":
                with torch.no_grad():
                    timing = _interleaved_ms(fns, args.budget_s, args.min_reps, args.max_reps)
            else:
                timing = _interleaved_ms(fns, args.budget_s, args.min_reps, args.max_reps)
            row = {
                "case": case_name,
                "pass": pass_name,
                "dtype": "fp32",
                "shape": f"B={batch} C={c} L={length} K={taps} d={dilation}",
                "timing": timing,
                "rel_err_vs_left_pad": errors,
                "waited_for_quiet_s": round(waited, 1),
                "load_average_after": os.getloadavg()[0],
                "fallback_over_chomp": timing["fallback"]["ms"] / timing["chomp"]["ms"],
                "fallback_over_left_pad": timing["fallback"]["ms"] / timing["left_pad"]["ms"],
                "min_fallback_over_chomp": timing["fallback"]["min_ms"] / timing["chomp"]["min_ms"],
                "min_fallback_over_left_pad": timing["fallback"]["min_ms"] / timing["left_pad"]["min_ms"],
            }
            rows.append(row)
            print(
                f"{case_name:9s} {pass_name:7s} {row['shape']:28s} fallback {timing['fallback']['ms']:7.2f} ms"
                f"  chomp {timing['chomp']['ms']:7.2f} ms  left-pad {timing['left_pad']['ms']:7.2f} ms"
                f"  fallback/chomp {row['fallback_over_chomp']:.3f}"
                f"  fallback/left-pad {row['fallback_over_left_pad']:.3f}",
                flush=True,
            )
    return rows


def _cpu_markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "Medians over interleaved repetitions (± interquartile range) that no other process competed with",
        '("clean", from /proc/loadavg; all repetitions where fewer than the minimum were clean); the ratios',
        "of the minima beside them. fp32; forward under `torch.no_grad()`,",
        "forward+backward = `y.backward(dy)` into fresh `.grad` for x, weight and bias. Ratio < 1: the fallback",
        "is faster.",
        "",
        "| case | pass | shape | fallback ms | Conv1d+chomp ms | pad+conv ms | fallback / chomp |"
        " fallback / pad+conv | same ratios on the minima | clean/all reps | load after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["timing"]
        cell = {k: f"{t[k]['ms']:.2f} ± {t[k]['iqr_ms']:.2f}" for k in t}
        lines.append(
            f"| {r['case']} | {r['pass']} | {r['shape']} | {cell['fallback']} | {cell['chomp']} | "
            f"{cell['left_pad']} | {r['fallback_over_chomp']:.3f} | {r['fallback_over_left_pad']:.3f} | "
            f"{r['min_fallback_over_chomp']:.3f} / {r['min_fallback_over_left_pad']:.3f} | "
            f"{t['fallback']['clean_reps']}/{t['fallback']['reps']} | {r['load_average_after']:.1f} |"
        )
    worst = max(r["fallback_over_chomp"] for r in rows), max(r["fallback_over_left_pad"] for r in rows)
    lines += [
        "",
        f"Largest ratio: fallback / Conv1d+chomp {worst[0]:.3f}, fallback / pad+conv {worst[1]:.3f}.",
    ]
    for key, label in (("chomp", "Conv1d+chomp"), ("left_pad", "pad+conv")):
        slower = [
            f"{r['case']} {r['pass']} d={r['shape'].rsplit('=', 1)[1]} ({r[f'fallback_over_{key}']:.2f}x)"
            for r in rows
            if min(r[f"fallback_over_{key}"], r[f"min_fallback_over_{key}"]) > 1.05
        ]
        lines.append(
            f"Fallback slower than {label} by > 5 % (median and minimum): {', '.join(slower) or 'none'}."
        )
    return lines


# ---------------------------------------------------------------- CUDA


def _gpu_ms(fn: Fn, grad_to_none: list[torch.Tensor] | None, warmup_ms: int, rep_ms: int) -> float:
    """Median ms of ``fn`` on the current CUDA stream (triton's do_bench when present, else CUDA events)."""
    try:
        from triton.testing import do_bench
    except ImportError:
        do_bench = None
    if do_bench is not None:
        return float(
            do_bench(fn, warmup=warmup_ms, rep=rep_ms, grad_to_none=grad_to_none, return_mode="median")
        )
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    reps = max(3, min(1000, int(rep_ms / max(start.elapsed_time(end), 1e-3))))
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _copy_ms(n: int) -> float:
    src = torch.empty(n, device="cuda", dtype=torch.float32).uniform_()
    dst = torch.empty_like(src)
    return _gpu_ms(lambda: dst.copy_(src), None, 25, 200)


def _matmul_ms(n: int) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    return _gpu_ms(lambda: torch.matmul(a, b), None, 25, 200)


def measure_peaks() -> dict[str, float]:
    n, m = 1 << 28, 8192  # copy 1 GiB of fp32 each way; bf16 matmul m^3
    copy_ms = _copy_ms(n)
    mm_ms = _matmul_ms(m)
    torch.cuda.empty_cache()
    peaks = {
        "hbm_bytes_per_s": 2 * 4 * n / (copy_ms * 1e-3),
        "bf16_flops_per_s": 2 * m**3 / (mm_ms * 1e-3),
        "copy_ms": copy_ms,
        "matmul_ms": mm_ms,
    }
    print(
        f"HBM copy: {peaks['hbm_bytes_per_s'] / 1e12:.2f} TB/s; bf16 matmul: "
        f"{peaks['bf16_flops_per_s'] / 1e12:.0f} TFLOP/s",
        flush=True,
    )
    return peaks


def _roofline(peaks: dict[str, float], nbytes: int, flops: int) -> tuple[float, str]:
    t_mem = nbytes / peaks["hbm_bytes_per_s"] * 1e3
    t_flop = flops / peaks["bf16_flops_per_s"] * 1e3
    return (t_mem, "mem") if t_mem >= t_flop else (t_flop, "flop")


def _finish_row(row: dict[str, Any], peaks: dict[str, float], nbytes: int, flops: int) -> dict[str, Any]:
    row["roofline_ms"], row["bound"] = _roofline(peaks, nbytes, flops)
    row["bytes"], row["flops"] = nbytes, flops
    best = min(row["cudnn_chomp_ms"], row["pad_conv_ms"])
    ours = row.get("triton_ms")
    row["speedup_vs_best_cudnn"] = best / ours if isinstance(ours, float) else None
    row["fraction_of_roofline"] = row["roofline_ms"] / ours if isinstance(ours, float) else None
    return row


def _try_triton(
    fn: Fn, grad_to_none: list[torch.Tensor] | None, args: argparse.Namespace, no_grad: bool
) -> tuple[float | str, float | None]:
    """(median ms or the error text, seconds of the first call: compilation and autotuning)."""
    try:
        with torch.set_grad_enabled(not no_grad):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            first = time.perf_counter() - t0
            return _gpu_ms(fn, grad_to_none, args.warmup_ms, args.rep_ms), first
    except Exception as error:  # recorded in the row: the benchmark must survive an unsupported case
        return f"{type(error).__name__}: {error}".splitlines()[0][:300], None


def _conv_row(case: Case, pass_name: str, args: argparse.Namespace) -> dict[str, Any]:
    forms = {"triton": case.ours("triton"), "cudnn_chomp": case.chomp(), "pad_conv": case.left_pad()}
    no_grad = pass_name == "fwd"
    fns = forms if no_grad else {name: case.fwd_bwd(fn) for name, fn in forms.items()}
    grads = None if no_grad else case.leaves
    row: dict[str, Any] = {}
    row["triton_ms"], row["triton_first_call_s"] = _try_triton(fns["triton"], grads, args, no_grad)
    with torch.set_grad_enabled(not no_grad):
        for name in ("cudnn_chomp", "pad_conv"):
            row[f"{name}_ms"] = _gpu_ms(fns[name], grads, args.warmup_ms, args.rep_ms)
    if no_grad and isinstance(row["triton_ms"], float):
        with torch.no_grad():
            row["rel_err_vs_pad_conv"] = _rel_err(forms["triton"](), forms["pad_conv"]())
    return row


def _gpu_grid(args: argparse.Namespace) -> list[tuple]:
    if args.quick:
        return [(dt_, case, 64, 512, 3, 8) for dt_ in DTYPES for case in ("dense", "depthwise")]
    return [
        (dt_, case, c, length, taps, d)
        for dt_ in DTYPES
        for case in ("dense", "depthwise")
        for c in (64, 256, 512)
        for length in (512, 4096)
        for taps in (3, 7)
        for d in (1, 8)
    ]


def run_cuda(args: argparse.Namespace, peaks: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    batch = 32
    for dtype_name, case_name, c, length, taps, dilation in _gpu_grid(args):
        dtype = DTYPES[dtype_name]
        case = Case(batch, c, length, taps, dilation, case_name == "depthwise", dtype, "cuda")
        cost = _nbytes_and_flops(batch, c, c, length, taps, case.groups, torch.finfo(dtype).bits // 8)
        for pass_name in ("fwd", "fwd+bwd"):
            row = {
                "case": case_name,
                "pass": pass_name,
                "dtype": dtype_name,
                "shape": f"B={batch} C={c} L={length} K={taps} d={dilation}",
            }
            t0 = time.perf_counter()
            row.update(_conv_row(case, pass_name, args))
            row["row_seconds"] = round(time.perf_counter() - t0, 2)
            rows.append(_finish_row(row, peaks, *cost[pass_name]))
            _print_gpu_row(rows[-1])
        del case
    for dtype_name in DTYPES:
        for length in (512,) if args.quick else (512, 4096):
            for dilation in (1, 8):
                rows.append(_block_row(dtype_name, 32, 256, length, 3, dilation, args, peaks))
                _print_gpu_row(rows[-1])
    return rows


def _block_row(
    dtype_name: str,
    batch: int,
    c: int,
    length: int,
    taps: int,
    dilation: int,
    args: argparse.Namespace,
    peaks: dict[str, float],
) -> dict[str, Any]:
    """Two dense causal convs with ReLU (the TCN residual block's main path, without weight norm and dropout)."""
    dtype = DTYPES[dtype_name]
    first = Case(batch, c, length, taps, dilation, False, dtype, "cuda", seed=1)
    second = Case(batch, c, length, taps, dilation, False, dtype, "cuda", seed=2)
    x, pad = first.x, first.pad

    def ours() -> torch.Tensor:
        h = causal_conv1d(x, first.weight, first.bias, dilation=dilation, activation="relu", backend="triton")
        return causal_conv1d(
            h, second.weight, second.bias, dilation=dilation, activation="relu", backend="triton"
        )

    def locuslab() -> torch.Tensor:
        return F.relu(second.conv(F.relu(first.conv(x)[..., :-pad]))[..., :-pad])

    def pad_conv() -> torch.Tensor:
        h = F.relu(F.conv1d(F.pad(x, (pad, 0)), first.weight, first.bias, dilation=dilation))
        return F.relu(F.conv1d(F.pad(h, (pad, 0)), second.weight, second.bias, dilation=dilation))

    leaves = first.leaves + second.leaves[1:]

    def fwd_bwd(forward: Fn) -> Fn:
        def step() -> None:
            for leaf in leaves:
                leaf.grad = None
            forward().backward(first.dy)

        return step

    row: dict[str, Any] = {
        "case": "tcn block (2 dense + relu)",
        "pass": "fwd+bwd",
        "dtype": dtype_name,
        "shape": f"B={batch} C={c} L={length} K={taps} d={dilation}",
    }
    row["triton_ms"], row["triton_first_call_s"] = _try_triton(fwd_bwd(ours), leaves, args, False)
    row["cudnn_chomp_ms"] = _gpu_ms(fwd_bwd(locuslab), leaves, args.warmup_ms, args.rep_ms)
    row["pad_conv_ms"] = _gpu_ms(fwd_bwd(pad_conv), leaves, args.warmup_ms, args.rep_ms)
    if isinstance(row["triton_ms"], float):
        with torch.no_grad():
            row["rel_err_vs_pad_conv"] = _rel_err(ours(), pad_conv())
    nbytes, flops = _nbytes_and_flops(batch, c, c, length, taps, 1, torch.finfo(dtype).bits // 8)["fwd+bwd"]
    return _finish_row(row, peaks, 2 * nbytes, 2 * flops)


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value.replace("|", "/")
    return format(value, spec)


def _print_gpu_row(r: dict[str, Any]) -> None:
    print(
        f"{r['case']:9s} {r['pass']:7s} {r['dtype']} {r['shape']:28s} triton {_fmt(r['triton_ms'])} "
        f"chomp {r['cudnn_chomp_ms']:.3f} pad {r['pad_conv_ms']:.3f} roof {r['roofline_ms']:.3f} "
        f"speedup {_fmt(r['speedup_vs_best_cudnn'], '.2f')} frac {_fmt(r['fraction_of_roofline'], '.2f')}",
        flush=True,
    )


def _cuda_markdown(rows: list[dict[str, Any]], peaks: dict[str, float]) -> list[str]:
    lines = [
        f"Measured peaks: HBM {peaks['hbm_bytes_per_s'] / 1e12:.2f} TB/s (1 GiB device-to-device copy, read + "
        f"write), bf16 matmul {peaks['bf16_flops_per_s'] / 1e12:.0f} TFLOP/s (8192^3 `torch.matmul`).",
        "",
        "Roofline = max(bytes / HBM, FLOPs / bf16 peak); bytes = read x (+ dy), write y (or dx), weights and",
        "their gradients once; FLOPs = 2·B·C_out·C_in/groups·K·L forward, 3x for forward+backward. The bf16 peak",
        "is used for fp32 too (cuDNN runs fp32 convolutions as TF32 when allowed), so fp32 fractions are",
        "optimistic. Medians of `triton.testing.do_bench` (L2 flushed); forward under `torch.no_grad()`.",
        "Speedup = best of the two cuDNN forms / Triton; fraction = roofline / Triton. The smallest shapes are",
        "bound by launch latency and autograd overhead, not by the GPU (cuDNN is far from the roofline there too).",
        "",
        "| case | dtype | shape | triton ms | cudnn+chomp ms | pad+conv ms | roofline ms | speedup vs best "
        "cuDNN | fraction of roofline | bound | rel. err |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} {r['pass']} | {r['dtype']} | {r['shape']} | {_fmt(r['triton_ms'])} | "
            f"{r['cudnn_chomp_ms']:.3f} | {r['pad_conv_ms']:.3f} | {r['roofline_ms']:.3f} | "
            f"{_fmt(r['speedup_vs_best_cudnn'], '.2f')} | {_fmt(r['fraction_of_roofline'], '.2f')} | "
            f"{r['bound']} | {_fmt(r.get('rel_err_vs_pad_conv'), '.1e')} |"
        )
    return lines


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), required=True)
    parser.add_argument("--out", required=True, help="output stem: writes <out>.md and <out>.json")
    parser.add_argument("--budget-s", type=float, default=2.0, help="CPU: seconds of timing per row and pass")
    parser.add_argument("--min-reps", type=int, default=15, help="CPU: repetitions at least")
    parser.add_argument("--max-reps", type=int, default=400, help="CPU: repetitions at most")
    parser.add_argument(
        "--quiet-wait-s",
        type=float,
        default=120.0,
        help="CPU: wait up to this long before each row for other processes to leave our cores",
    )
    parser.add_argument("--warmup-ms", type=int, default=5, help="CUDA: do_bench warm-up per measurement")
    parser.add_argument("--rep-ms", type=int, default=25, help="CUDA: do_bench timing budget per measurement")
    parser.add_argument("--quick", action="store_true", help="CUDA: a few shapes only (smoke test)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")

    start = time.perf_counter()
    meta: dict[str, Any] = run_metadata(args.device)
    if args.device == "cpu":
        meta |= {
            "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "load_average_before": os.getloadavg(),
        }
        rows = run_cpu(args)
        meta["load_average_after"] = os.getloadavg()
        body = _cpu_markdown(rows)
        title = "causal_conv1d on CPU: reference fallback vs Conv1d+chomp and pad+conv"
        peaks = None
    else:
        torch.backends.cudnn.benchmark = True
        meta |= {
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_benchmark": True,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "quick": args.quick,
        }
        peaks = measure_peaks()
        rows = run_cuda(args, peaks)
        body = _cuda_markdown(rows, peaks)
        title = "causal_conv1d on CUDA: Triton vs cuDNN, next to the roofline"
    meta["seconds"] = round(time.perf_counter() - start, 1)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = [
        f"# {title}",
        "",
        f"Date {meta['date']}, device {meta['device']}, torch {meta['torch']}, triton {meta['triton']}"
        + (
            f", {meta['torch_threads']} threads, load average {meta['load_average_before'][0]:.2f} before and "
            f"{meta['load_average_after'][0]:.2f} after"
            if args.device == "cpu"
            else f", CUDA {meta['cuda']}, cuDNN {meta['cudnn']}"
        )
        + f"; {meta['seconds']} s.",
        f"Command: `{meta['command']}`",
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(header + body) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "peaks": peaks, "results": rows}, indent=1))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')} in {meta['seconds']} s")


if __name__ == "__main__":
    main()
