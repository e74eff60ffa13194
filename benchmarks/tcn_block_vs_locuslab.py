"""TCN residual block, forward+backward in train mode, on CPU: locuslab/TCN's unchanged ``TemporalBlock`` beside
zoo's (``zoo.models.tcn.TemporalBlock``), eager and compiled, fp32 and bf16 autocast.

Both blocks as Bai, Kolter & Koltun (2018) define them: two weight-normalised dilated causal convolutions
with ReLU and dropout 0.2, identity residual (C_in = C_out). One thread. Every variant runs ``--calls``
forward+backward passes per round, the variants in turn (interleaved), ``--rounds`` rounds after a warm-up
that holds the compilation; the table gives the median time per pass over rounds and the ratio to
locuslab's fp32 block per round (median, min-max)::

    python benchmarks/tcn_block_vs_locuslab.py --locuslab ../peers/TCN --rounds 7 --calls 20 \\
        --out benchmarks/results/tcn_block_vs_locuslab
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.environment import others_running, ratio_cell, run_metadata, write_results
from zoo.models.tcn import TemporalBlock

VARIANTS = (
    "locuslab_fp32",
    "locuslab_bf16",
    "zoo_fp32",
    "zoo_bf16",
    "zoo_fp32_compile",
    "zoo_bf16_compile",
)


def locuslab_block(root: Path, channels: int, kernel: int, dilation: int) -> torch.nn.Module:
    sys.path.insert(0, str(root / "TCN"))
    from tcn import TemporalBlock as LocuslabBlock

    return LocuslabBlock(channels, channels, kernel, 1, dilation, (kernel - 1) * dilation, dropout=0.2)


def pass_of(variant: str, block: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    forward = torch.compile(block) if variant.endswith("compile") else block
    low = "_bf16" in variant

    def run() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=low):
            out = forward(x)
        out.float().sum().backward()

    return run


def measure(args: argparse.Namespace, shape: tuple[int, int, int], dilation: int) -> dict[str, Any]:
    batch, channels, length = shape
    x = torch.randn(batch, channels, length, requires_grad=True)
    runs = {}
    for variant in VARIANTS:
        torch.manual_seed(0)
        if variant.startswith("locuslab"):
            block = locuslab_block(args.locuslab, channels, args.kernel, dilation)
        else:
            block = TemporalBlock(channels, channels, args.kernel, dilation, dropout=0.2)
        runs[variant] = pass_of(variant, block.train(), x)
        for _ in range(3):
            runs[variant]()  # warm-up, the compilation included
    ms: dict[str, list[float]] = {v: [] for v in VARIANTS}
    busy = []
    for _ in range(args.rounds):
        busy.append(others_running(1))
        for variant in VARIANTS:
            start = time.perf_counter()
            for _ in range(args.calls):
                runs[variant]()
            ms[variant].append((time.perf_counter() - start) * 1e3 / args.calls)
    return {"shape": list(shape), "dilation": dilation, "ms": ms, "others_running": busy}


def render(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# TCN block fwd+bwd (train mode, dropout 0.2) vs locuslab/TCN's TemporalBlock, CPU",
        "",
        f"Date {meta['date']}, device {meta['device']}, torch {meta['torch']}, 1 thread, git {meta['git']}, "
        f"locuslab/TCN {meta['locuslab_commit']}, K={meta['kernel']}; {meta['rounds']} rounds of "
        f"{meta['calls']} passes per variant, interleaved.",
        f"Command: `{meta['command']}`",
        "",
        "ms per forward+backward (median over rounds); speed-up: locuslab fp32 time / variant time per round, "
        "median (min-max).",
        "",
        "| B, C, L | dilation | variant | ms | speed-up vs locuslab fp32 |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        ms = result["ms"]
        for variant in VARIANTS:
            ratios = [b / t for b, t in zip(ms["locuslab_fp32"], ms[variant], strict=True)]
            lines.append(
                f"| {', '.join(map(str, result['shape']))} | {result['dilation']} | {variant} | "
                f"{statistics.median(ms[variant]):.2f} | {ratio_cell(ratios)} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locuslab", type=Path, required=True, help="a checkout of locuslab/TCN")
    parser.add_argument("--shape", type=int, nargs=3, default=[32, 64, 512], metavar=("B", "C", "L"))
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--dilations", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--out", required=True, help="output stem: writes <out>.md and <out>.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    commit_file = args.locuslab / "COMMIT"
    meta = {
        **run_metadata("cpu"),
        "locuslab_commit": commit_file.read_text().strip() if commit_file.is_file() else "unknown",
        "kernel": args.kernel,
        "rounds": args.rounds,
        "calls": args.calls,
    }
    results = [measure(args, tuple(args.shape), d) for d in args.dilations]
    write_results(args.out, meta, results, render(results, meta))


if __name__ == "__main__":
    main()
