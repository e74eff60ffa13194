"""Batch-1 forecast latency of every shipped forecaster: eager zoo net vs its ``torch.export`` program vs ONNX Runtime.

Each model is exported with ``zoo.deploy.export_program`` to a temporary directory and loaded back the way
``zoo.forecast`` loads it (``zoo.deploy.load_program``: the runner's input checks included). One thread
(``torch.set_num_threads(1)``, ONNX Runtime ``intra_op_num_threads=1``); one window of scaled inputs
(B=1). Every repeat times ``--calls`` calls of each variant in turn (interleaved), after a warm-up; the table
gives the median per-call time over repeats and each variant's ratio to eager per repeat (median, min-max)::

    python benchmarks/single_forecast.py --repeats 7 --calls 200 --out benchmarks/results/single_forecast
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zoo
from benchmarks.environment import others_running, ratio_cell, run_metadata, write_results
from zoo.deploy import export_program, load_program
from zoo.deploy.programs import program_inputs

VARIANTS = ("eager", "torch_export", "onnxruntime")


def per_call_ms(call: Callable[[], object], calls: int) -> float:
    """Milliseconds per call of ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) * 1e3 / calls


def measure(name: str, repeats: int, calls: int, workdir: Path) -> dict[str, object]:
    """Per-repeat per-call milliseconds of each variant for the shipped model ``name``."""
    net = zoo.create_model(name, pretrained=True).eval()
    _, examples, _ = program_inputs(net, "forecasting")
    inputs = tuple(t[:1] for t in examples.values())
    programs = {}
    for fmt in ("torch_export", "onnx"):
        export_program(net, workdir / f"{name}.{fmt}", format=fmt)
        programs["onnxruntime" if fmt == "onnx" else fmt] = load_program(workdir / f"{name}.{fmt}")
    runs: dict[str, Callable[[], object]] = {"eager": lambda: net(*inputs)}
    runs.update({variant: (lambda p=program: p(*inputs)) for variant, program in programs.items()})
    with torch.inference_mode():
        reference = net(*inputs)
        deviation = {v: float((programs[v](*inputs) - reference).abs().max()) for v in programs}
        for run in runs.values():
            per_call_ms(run, max(10, calls // 10))  # warm-up
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        busy = []
        for _ in range(repeats):
            busy.append(others_running(1))
            for variant in VARIANTS:
                times[variant].append(per_call_ms(runs[variant], calls))
    return {"name": name, "ms": times, "max_abs_deviation": deviation, "others_running": busy}


def render(results: list[dict[str, object]], meta: dict[str, object]) -> str:
    lines = [
        "# Batch-1 forecast latency: eager vs torch.export vs ONNX Runtime",
        "",
        f"Date {meta['date']}, device {meta['device']}, torch {meta['torch']}, onnxruntime "
        f"{meta['onnxruntime']}, git {meta['git']}, 1 thread, {meta['repeats']} repeats of {meta['calls']} "
        "calls each, interleaved.",
        f"Command: `{meta['command']}`",
        "",
        "Milliseconds per forecast (median over repeats); speed-up = eager time / variant time per repeat, "
        "median (min-max). Max abs deviation from eager on the timed input, scaled units.",
        "",
        "| model | eager ms | torch.export ms | ONNX Runtime ms | torch.export speed-up | ORT speed-up | "
        "max abs dev (export / ORT) |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        ms = result["ms"]
        cells = [result["name"], *(f"{statistics.median(ms[v]):.3f}" for v in VARIANTS)]
        for variant in VARIANTS[1:]:
            ratios = [e / t for e, t in zip(ms["eager"], ms[variant], strict=True)]
            cells.append(ratio_cell(ratios))
        dev = result["max_abs_deviation"]
        cells.append(f"{dev['torch_export']:.1e} / {dev['onnxruntime']:.1e}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="shipped forecasters (default: all)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", required=True, help="output stem: writes <out>.md and <out>.json")
    args = parser.parse_args()
    import onnxruntime

    torch.set_num_threads(1)
    names = args.models or [
        n
        for n in zoo.list_pretrained()
        if zoo.hub.PretrainedConfig.from_file(zoo.hub.shipped_dir() / n / "config.json").task == "forecasting"
    ]
    meta = {**run_metadata("cpu"), "onnxruntime": onnxruntime.__version__, "threads": 1}
    meta.update(repeats=args.repeats, calls=args.calls)
    with tempfile.TemporaryDirectory() as workdir:
        results = []
        for name in names:
            results.append(measure(name, args.repeats, args.calls, Path(workdir)))
            print(name, {v: round(statistics.median(results[-1]["ms"][v]), 3) for v in VARIANTS}, flush=True)
    write_results(args.out, meta, results, render(results, meta))


if __name__ == "__main__":
    main()
