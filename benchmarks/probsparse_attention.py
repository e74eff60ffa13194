"""Speed and memory of ``kernels.probsparse_attention`` against the original algorithm and full attention.

    python benchmarks/probsparse_attention.py --device cpu    # benchmarks/results/probsparse_attention_cpu.*
    python benchmarks/probsparse_attention.py --device cuda   # benchmarks/results/probsparse_attention_cuda.*
    python benchmarks/probsparse_attention.py --device cpu --lengths 96 336 --repeats 3 --out /tmp/pa

CPU (fp32, B=8, H=8, D=64 by default): the reference fallback (``backend="torch"``) against a faithful
implementation of the gather-keys algorithm of Informer2020's ``ProbAttention`` (Zhou et al., AAAI
2021, ``models/attn.py``: expand K to (B, H, L_Q, L_K, D), gather the U sampled keys of every query
into a (B, H, L_Q, U, D) tensor, score them, top-u, attention for the active rows, in-place update of
the initial context) and against full attention, ``F.scaled_dot_product_attention``. Both ProbSparse
variants get the same ``index_sample``. Times: medians (and minima) over rounds that alternate the
order of the variants. Peak memory: in a fresh Python process per figure, the high-water mark of the
resident set (``VmHWM``, reset to the current resident set through /proc/self/clear_refs just before
the call) minus the resident set before it, with the inputs already built and a warm-up call at L=32
done (one-off library allocations excluded); it counts what the call allocates and touches, outputs
and gradients included (tracemalloc does not see torch's allocations, and torch keeps no CPU
allocator statistics). Freed memory that the process still holds is reused without showing up, so
figures of a few MiB are lower bounds.

CUDA (bf16 and fp32, L up to 16384): the Triton backend against the reference on the GPU and against
SDPA's fused full attention (flash for bf16; fp32 takes the memory-efficient kernel), forward and
forward+backward, medians of ``triton.testing.do_bench``, peak memory from
``torch.cuda.max_memory_allocated`` above the inputs. Each Triton figure sits next to its
memory-bandwidth roofline: the bytes of q, k, v read once and o written once (forward; the backward
adds reading q, k, v, o, dO and writing dq, dk, dv) over the bandwidth of a measured 1 GiB
device-to-device copy. The score kernel's gathered key reads (U rows per query, mostly from L2) are not
in that count, which is the floor of any fused implementation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.environment import others_running, run_metadata  # noqa: E402
from kernels import probsparse_attention  # noqa: E402
from kernels.probsparse_attention import probsparse_sizes, sample_index  # noqa: E402

Fn = Callable[[], Any]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
CPU_LENGTHS = [96, 336, 720, 1440, 2880]
CUDA_LENGTHS = [96, 336, 720, 1440, 2880, 8192, 16384]


# ---------------------------------------------------------------- the variants


def informer_prob_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, index_sample: torch.Tensor, factor: int, causal: bool
) -> torch.Tensor:
    """Informer2020 ``ProbAttention.forward`` (models/attn.py) on (B, H, L, D) tensors, step by step:
    unscaled sampled scores from the gathered keys, M, top-u, scaled scores of the active rows, ProbMask,
    softmax, in-place update of the initial context (mean, or cumsum when causal). The key samples are
    passed in instead of drawn inside, and the original's (B, L, H, D) transposes are left out."""
    batch, heads, l_k, dim = k.shape
    l_q = q.shape[2]
    n_sample, n_top = probsparse_sizes(l_q, l_k, factor)
    k_expand = k.unsqueeze(-3).expand(batch, heads, l_q, l_k, dim)
    k_sample = k_expand[:, :, torch.arange(l_q, device=q.device).unsqueeze(1), index_sample, :]
    q_k_sample = torch.matmul(q.unsqueeze(-2), k_sample.transpose(-2, -1)).squeeze(-2)
    m = q_k_sample.max(-1)[0] - torch.div(q_k_sample.sum(-1), l_k)
    m_top = m.topk(n_top, sorted=False)[1]
    b_idx = torch.arange(batch, device=q.device)[:, None, None]
    h_idx = torch.arange(heads, device=q.device)[None, :, None]
    scores_top = torch.matmul(q[b_idx, h_idx, m_top, :], k.transpose(-2, -1)) * (1.0 / math.sqrt(dim))
    if causal:
        context = v.cumsum(dim=-2)
        mask = torch.ones(l_q, l_k, dtype=torch.bool, device=q.device).triu(1)
        indicator = mask[None, None, :].expand(batch, heads, l_q, l_k)[b_idx, h_idx, m_top, :]
        scores_top.masked_fill_(indicator, -math.inf)
    else:
        context = v.mean(dim=-2).unsqueeze(-2).expand(batch, heads, l_q, dim).clone()
    attn = torch.softmax(scores_top, dim=-1)
    context[b_idx, h_idx, m_top, :] = torch.matmul(attn, v).type_as(context)
    return context


class Case:
    """Inputs of one shape and the closures of every variant, forward and forward+backward."""

    def __init__(
        self,
        batch: int,
        heads: int,
        length: int,
        dim: int,
        factor: int,
        causal: bool,
        dtype: torch.dtype,
        device: str,
        seed: int = 0,
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        shape = (batch, heads, length, dim)
        self.q, self.k, self.v, self.do = (
            torch.randn(shape, generator=gen).to(device=device, dtype=dtype) for _ in range(4)
        )
        for t in (self.q, self.k, self.v):
            t.requires_grad_()
        self.index = sample_index(length, length, factor, generator=gen).to(device)
        self.factor, self.causal = factor, causal

    def forward(self, variant: str) -> Fn:
        q, k, v, index, factor, causal = self.q, self.k, self.v, self.index, self.factor, self.causal
        if variant in ("fallback", "reference", "triton"):
            backend = "triton" if variant == "triton" else "torch"
            return lambda: probsparse_attention(
                q, k, v, factor=factor, causal=causal, index_sample=index, backend=backend
            )
        if variant == "informer":
            return lambda: informer_prob_attention(q, k, v, index, factor, causal)
        if variant == "sdpa":
            return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        raise ValueError(variant)

    def step(self, variant: str, pass_name: str) -> Fn:
        forward = self.forward(variant)
        if pass_name == "fwd":

            def run() -> None:
                with torch.no_grad():
                    forward()

            return run

        def run_bwd() -> None:
            for t in (self.q, self.k, self.v):
                t.grad = None
            forward().backward(self.do)

        return run_bwd


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want.float()).abs().max() / want.float().abs().max().clamp_min(1e-30))


# ---------------------------------------------------------------- CPU


def _status_bytes(key: str) -> int:
    """A ``VmRSS`` / ``VmHWM`` line of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _rss_child(spec: dict[str, Any]) -> None:
    """Runs in a fresh process: prints the call's peak memory (module docstring) as JSON."""
    torch.set_num_threads(spec["threads"])

    def case(length: int) -> Case:
        return Case(
            spec["batch"],
            spec["heads"],
            length,
            spec["dim"],
            spec["factor"],
            spec["causal"],
            torch.float32,
            "cpu",
        )

    case(32).step(spec["variant"], spec["pass"])()  # warm-up: one-off library allocations
    step = case(spec["length"]).step(spec["variant"], spec["pass"])
    Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: high-water mark := current resident set
    before = _status_bytes("VmRSS")
    step()
    print(json.dumps({"peak_mib": max(_status_bytes("VmHWM") - before, 0) / 2**20}))


def _peak_mib(spec: dict[str, Any]) -> float | str:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", json.dumps(spec)], capture_output=True, text=True
    )
    if out.returncode != 0:
        return f"error: {out.stderr.strip().splitlines()[-1][:200] if out.stderr.strip() else out.returncode}"
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"])


def _interleaved_ms(fns: dict[str, Fn], repeats: int) -> dict[str, dict[str, float]]:
    """Median and minimum (ms) per function over ``repeats`` rounds alternating the order, taken over
    the repetitions no other process competed with when there are at least half of them, else all."""
    threads = torch.get_num_threads()
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    clean: dict[str, list[float]] = {name: [] for name in fns}
    for rep in range(repeats):
        for name in list(fns) if rep % 2 == 0 else list(reversed(fns)):
            t0 = time.perf_counter()
            fns[name]()
            times[name].append((time.perf_counter() - t0) * 1e3)
            if not others_running(threads):
                clean[name].append(times[name][-1])
    out = {}
    for name, all_ts in times.items():
        ts = clean[name] if 2 * len(clean[name]) >= len(all_ts) else all_ts
        out[name] = {
            "ms": statistics.median(ts),
            "min_ms": min(ts),
            "reps": len(all_ts),
            "clean_reps": len(clean[name]),
        }
    return out


def run_cpu(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    variants = ("fallback", "informer", "sdpa")
    for causal in args.causal:
        for length in args.lengths:
            case = Case(args.batch, args.heads, length, args.dim, args.factor, causal, torch.float32, "cpu")
            with torch.no_grad():
                want = case.forward("informer")()
                err = _rel_err(case.forward("fallback")(), want)
            del want
            for pass_name in ("fwd", "fwd+bwd"):
                timing = _interleaved_ms({v: case.step(v, pass_name) for v in variants}, args.repeats)
                spec = {
                    "batch": args.batch,
                    "heads": args.heads,
                    "length": length,
                    "dim": args.dim,
                    "factor": args.factor,
                    "causal": causal,
                    "pass": pass_name,
                    "threads": torch.get_num_threads(),
                }
                memory = {v: _peak_mib(spec | {"variant": v}) for v in variants}
                row = {
                    "causal": causal,
                    "pass": pass_name,
                    "length": length,
                    "timing": timing,
                    "peak_mib": memory,
                    "rel_err_fallback_vs_informer": err,
                    "load_average_after": os.getloadavg()[0],
                }
                for other in ("informer", "sdpa"):
                    row[f"speedup_vs_{other}"] = timing[other]["ms"] / timing["fallback"]["ms"]
                    mem_other, mem_ours = memory[other], memory["fallback"]
                    both = isinstance(mem_other, float) and isinstance(mem_ours, float) and mem_ours > 0
                    row[f"memory_ratio_vs_{other}"] = mem_other / mem_ours if both else None
                rows.append(row)
                figures = " | ".join(
                    f"{v} {timing[v]['ms']:9.2f} ms {_fmt(memory[v], '.1f')} MiB" for v in variants
                )
                mode = "causal" if causal else "full"
                print(
                    f"{mode:6s} {pass_name:7s} L={length:5d}  {figures} | vs informer: "
                    f"{row['speedup_vs_informer']:.2f}x faster, "
                    f"{_fmt(row['memory_ratio_vs_informer'], '.1f')}x less memory",
                    flush=True,
                )
            del case
    return rows


def _cpu_markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    lines = [
        f"fp32, B={args.batch}, H={args.heads}, D={args.dim}, factor={args.factor}, L_Q = L_K = L. Times:"
        f" medians (minimum in brackets) over {args.repeats} rounds alternating the variants' order, over",
        "the repetitions no other process competed with (/proc/loadavg) when at least half were, else",
        "all; forward under `torch.no_grad()`, forward+backward = `out.backward(dO)` into fresh `.grad` of",
        "q, k, v. Peak memory: resident-set high-water mark during the call (`VmHWM`, reset through",
        "/proc/self/clear_refs) minus the resident set before it, in a fresh process per figure, inputs",
        "built and a warm-up call at L=32 done first (outputs and gradients included). Speedup and memory",
        "ratio: the other variant's figure over the fallback's (> 1: the fallback is faster / smaller).",
        "informer = the original gather-keys algorithm; sdpa = full attention.",
        "",
        "| mode | pass | L | fallback ms | informer ms | sdpa ms | fallback MiB | informer MiB | sdpa MiB |"
        " speedup vs informer | memory vs informer | speedup vs sdpa | rel. err vs informer |"
        " clean/all reps | load after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, m = r["timing"], r["peak_mib"]
        cell = {k: f"{t[k]['ms']:.1f} ({t[k]['min_ms']:.1f})" for k in t}
        cells = [
            "causal" if r["causal"] else "full",
            r["pass"],
            str(r["length"]),
            cell["fallback"],
            cell["informer"],
            cell["sdpa"],
            *(_fmt(m[v], ".1f") for v in m),
            f"{r['speedup_vs_informer']:.2f}",
            _fmt(r["memory_ratio_vs_informer"], ".1f"),
            f"{r['speedup_vs_sdpa']:.2f}",
            f"{r['rel_err_fallback_vs_informer']:.1e}",
            f"{t['fallback']['clean_reps']}/{t['fallback']['reps']}",
            f"{r['load_average_after']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    long = [r for r in rows if r["length"] >= 720]
    if long:
        speed = min(r["speedup_vs_informer"] for r in long)
        mem = [r["memory_ratio_vs_informer"] for r in long if r["memory_ratio_vs_informer"] is not None]
        lines += [
            "",
            f"At L >= 720: the fallback is at least {speed:.2f}x faster than the gather-keys "
            "algorithm"
            + (f" and uses at least {min(mem):.1f}x less peak memory." if mem else ".")
            + " Target: >= 3x and >= 5x.",
        ]
    return lines


# ---------------------------------------------------------------- CUDA


def _gpu_ms(fn: Fn, args: argparse.Namespace) -> float:
    from triton.testing import do_bench

    return float(do_bench(fn, warmup=args.warmup_ms, rep=args.rep_ms, return_mode="median"))


def measure_bandwidth() -> float:
    """Bytes per second of a 1 GiB device-to-device copy (read + write)."""
    n = 1 << 28
    src = torch.empty(n, device="cuda", dtype=torch.float32).uniform_()
    dst = torch.empty_like(src)
    from triton.testing import do_bench

    ms = float(do_bench(lambda: dst.copy_(src), warmup=25, rep=200, return_mode="median"))
    return 2 * 4 * n / (ms * 1e-3)


def _gpu_peak_mib(case: Case, step: Fn) -> float:
    for t in (case.q, case.k, case.v):  # gradients of earlier runs would count in the base
        t.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def _try(
    case: Case, variant: str, pass_name: str, args: argparse.Namespace
) -> tuple[float | str, float | str, float | None]:
    """(median ms, peak MiB, seconds of the first call) or the error text in place of the figures."""
    step = case.step(variant, pass_name)
    try:
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        first = time.perf_counter() - t0
        return _gpu_ms(step, args), _gpu_peak_mib(case, step), first
    except Exception as error:  # recorded in the row: the benchmark must survive an unsupported case
        text = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        torch.cuda.empty_cache()
        return text, text, None


def run_cuda(args: argparse.Namespace, bandwidth: float) -> list[dict[str, Any]]:
    rows = []
    for dtype_name in args.dtypes:
        dtype = DTYPES[dtype_name]
        for causal in args.causal:
            for length in args.lengths:
                case = Case(args.batch, args.heads, length, args.dim, args.factor, causal, dtype, "cuda")
                with torch.no_grad():
                    try:
                        err = _rel_err(case.forward("triton")(), case.forward("reference")())
                    except Exception as error:
                        err = f"{type(error).__name__}: {error}".splitlines()[0][:300]
                elem = torch.finfo(dtype).bits // 8
                tensor_bytes = elem * args.batch * args.heads * length * args.dim
                for pass_name in ("fwd", "fwd+bwd"):
                    row: dict[str, Any] = {
                        "dtype": dtype_name,
                        "causal": causal,
                        "pass": pass_name,
                        "length": length,
                        "rel_err_triton_vs_reference": err,
                    }
                    for variant in ("triton", "reference", "sdpa"):
                        ms, mib, first = _try(case, variant, pass_name, args)
                        row[f"{variant}_ms"], row[f"{variant}_peak_mib"] = ms, mib
                        if variant == "triton":
                            row["triton_first_call_s"] = first
                    n_tensors = 4 if pass_name == "fwd" else 12
                    row["roofline_ms"] = n_tensors * tensor_bytes / bandwidth * 1e3
                    ours = row["triton_ms"]
                    ok = isinstance(ours, float)
                    row["fraction_of_roofline"] = row["roofline_ms"] / ours if ok else None
                    for other in ("reference", "sdpa"):
                        theirs = row[f"{other}_ms"]
                        both = ok and isinstance(theirs, float)
                        row[f"speedup_vs_{other}"] = theirs / ours if both else None
                    rows.append(row)
                    print(
                        f"{dtype_name} {'causal' if causal else 'full':6s} {pass_name:7s} L={length:6d} "
                        f"triton {_fmt(row['triton_ms'])} ms  reference {_fmt(row['reference_ms'])} ms  "
                        f"sdpa "
                        f"{_fmt(row['sdpa_ms'])} ms  roofline {row['roofline_ms']:.4f} ms  fraction "
                        f"{_fmt(row['fraction_of_roofline'], '.2f')}",
                        flush=True,
                    )
                del case
                torch.cuda.empty_cache()
    return rows


def _cuda_markdown(rows: list[dict[str, Any]], args: argparse.Namespace, bandwidth: float) -> list[str]:
    lines = [
        f"B={args.batch}, H={args.heads}, D={args.dim}, factor={args.factor}, L_Q = L_K = L. Measured "
        f"bandwidth {bandwidth / 1e12:.2f} TB/s (1 GiB device-to-device copy, read + write). Medians of",
        "`triton.testing.do_bench`; forward under `torch.no_grad()`. Roofline = bytes / bandwidth with",
        "bytes = q, k, v read and o written once (forward), plus q, k, v, o, dO read and dq, dk, dv written",
        "(backward).",
        "Fraction = roofline / Triton; speedup = other / Triton. Peak MiB: `max_memory_allocated` above the",
        "inputs during one call. sdpa = full attention (flash for bf16, memory-efficient for fp32).",
        "",
        "| dtype | mode | pass | L | triton ms | reference ms | sdpa ms | roofline ms |"
        " fraction of roofline | speedup vs reference | speedup vs sdpa | triton MiB | reference MiB |"
        " sdpa MiB | rel. err |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["dtype"],
            "causal" if r["causal"] else "full",
            r["pass"],
            str(r["length"]),
            _fmt(r["triton_ms"]),
            _fmt(r["reference_ms"]),
            _fmt(r["sdpa_ms"]),
            f"{r['roofline_ms']:.4f}",
            _fmt(r["fraction_of_roofline"], ".2f"),
            _fmt(r["speedup_vs_reference"], ".2f"),
            _fmt(r["speedup_vs_sdpa"], ".2f"),
            _fmt(r["triton_peak_mib"], ".1f"),
            _fmt(r["reference_peak_mib"], ".1f"),
            _fmt(r["sdpa_peak_mib"], ".1f"),
            _fmt(r["rel_err_triton_vs_reference"], ".1e"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------- main


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "–"
    if isinstance(value, str):  # an error text: shortened in the table, whole in the JSON
        return value.replace("|", "/")[:80]
    return format(value, spec)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--rss-child":
        _rss_child(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), required=True)
    parser.add_argument(
        "--out",
        help="output stem: writes <out>.md and <out>.json "
        "(default benchmarks/results/probsparse_attention_<device>)",
    )
    parser.add_argument(
        "--lengths", type=int, nargs="+", help=f"L values (default CPU {CPU_LENGTHS}, CUDA {CUDA_LENGTHS})"
    )
    parser.add_argument(
        "--causal",
        choices=("no", "yes", "both"),
        default="no",
        help="non-causal (Informer's encoder), causal (its decoder self-attention) or both",
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--factor", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="CPU: timed rounds per figure")
    parser.add_argument("--dtypes", nargs="+", choices=tuple(DTYPES), default=["bf16", "fp32"], help="CUDA")
    parser.add_argument("--warmup-ms", type=int, default=25, help="CUDA: do_bench warm-up per measurement")
    parser.add_argument("--rep-ms", type=int, default=100, help="CUDA: do_bench timing budget per figure")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    args.lengths = args.lengths or (CPU_LENGTHS if args.device == "cpu" else CUDA_LENGTHS)
    args.causal = {"no": [False], "yes": [True], "both": [False, True]}[args.causal]

    start = time.perf_counter()
    meta: dict[str, Any] = run_metadata(args.device)
    if args.device == "cpu":
        meta |= {"torch_threads": torch.get_num_threads(), "load_average_before": os.getloadavg()}
        rows, bandwidth = run_cpu(args), None
        meta["load_average_after"] = os.getloadavg()
        body = _cpu_markdown(rows, args)
        title = "probsparse_attention on CPU: the fallback vs the original gather-keys algorithm and SDPA"
    else:
        meta |= {"cuda": torch.version.cuda, "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
        bandwidth = measure_bandwidth()
        print(f"device-to-device copy: {bandwidth / 1e12:.2f} TB/s", flush=True)
        rows = run_cuda(args, bandwidth)
        body = _cuda_markdown(rows, args, bandwidth)
        title = "probsparse_attention on CUDA: Triton vs reference and SDPA, next to the roofline"
    meta["seconds"] = round(time.perf_counter() - start, 1)

    out = Path(args.out or REPO / "benchmarks" / "results" / f"probsparse_attention_{args.device}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.device == "cpu":
        extra = (
            f", {meta['torch_threads']} threads, load average {meta['load_average_before'][0]:.2f} "
            f"before and {meta['load_average_after'][0]:.2f} after"
        )
    else:
        extra = f", CUDA {meta['cuda']}"
    header = [
        f"# {title}",
        "",
        f"Date {meta['date']}, device {meta['device']}, torch {meta['torch']}, triton {meta['triton']}"
        f"{extra}; {meta['seconds']} s.",
        f"Command: `{meta['command']}`",
        "",
    ]
    Path(f"{out}.md").write_text("\n".join(header + body) + "\n")
    record = {"meta": meta, "bandwidth_bytes_per_s": bandwidth, "results": rows}
    Path(f"{out}.json").write_text(json.dumps(record, indent=1))
    print(f"wrote {out}.md and {out}.json in {meta['seconds']} s")


if __name__ == "__main__":
    main()
