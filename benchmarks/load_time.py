"""Time to load a shipped model: ``import zoo; zoo.create_model("tcn.etth1", pretrained=True)`` after ``import torch``.

Each measurement is a fresh Python process that imports torch, then times the import of zoo and the load
of the pretrained model, and lists the top-level packages the two brought in. Several source trees (e.g.
this one and a checkout of an older commit, ``git worktree add /tmp/before <commit>``) are measured
interleaved, ``--repeats`` times each, and reported as medians::

    python benchmarks/load_time.py --tree before=/tmp/before --tree after=. --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

PROBE = """
import json, sys, time
import torch
before = set(sys.modules)
start = time.perf_counter()
import zoo
net = zoo.create_model("tcn.etth1", pretrained=True)
seconds = time.perf_counter() - start
new = sorted(set(sys.modules) - before)
print(json.dumps({"seconds": seconds, "modules": len(new),
                  "packages": sorted({m.split(".")[0] for m in new}),
                  "heavy": [m for m in ("lightning", "pandas", "torchmetrics", "torch._dynamo", "matplotlib")
                            if m in sys.modules]}))
"""


def commit_of(tree: Path) -> str:
    """The tree's git commit (short), with "+changes" when its work tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tree), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        "+changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


def measure(tree: Path) -> dict:
    """One fresh process loading the model from the source tree ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "ZOO_PRETRAINED_DIR": str(tree / "checkpoints")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tree, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def markdown(report: dict) -> str:
    """The report as a table: one row per tree."""
    lines = [
        "# Load time of a shipped model",
        "",
        f'`import zoo; zoo.create_model("tcn.etth1", pretrained=True)` after `import torch`, each run a fresh '
        f"process, {report['repeats']} runs per tree, interleaved. {report['date']}; Python {report['python']}, "
        f"torch {report['torch']}, {report['cores']} cores ({report['cpu']}).",
        "",
        f"Command: `{report['command']}`",
        "",
        "| tree | commit | median s | runs (s) | modules imported | heavy packages imported |",
        "|---|---|---|---|---|---|",
    ]
    for label, result in report["results"].items():
        runs = ", ".join(f"{s:.3f}" for s in result["seconds"])
        heavy = ", ".join(result["heavy_imported"]) or "none"
        lines.append(
            f"| {label} | {result['commit']} | {result['median_seconds']:.3f} | {runs} | {result['modules_imported']} | {heavy} |"
        )
    for label, result in report["results"].items():
        lines += ["", f"Top-level packages imported ({label}): {', '.join(result['packages_imported'])}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tree", action="append", required=True, help="LABEL=PATH of a source tree (repeatable)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per tree")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/load_time.json"))
    options = parser.parse_args()
    trees = dict(spec.split("=", 1) for spec in options.tree)
    runs: dict[str, list[dict]] = {label: [] for label in trees}
    for _ in range(options.repeats):  # interleaved, so drift in the machine's load hits every tree alike
        for label, path in trees.items():
            runs[label].append(measure(Path(path).resolve()))
    import torch

    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "repeats": options.repeats,
        "results": {
            label: {
                "commit": commit_of(Path(trees[label]).resolve()),
                "median_seconds": statistics.median(r["seconds"] for r in rs),
                "seconds": [round(r["seconds"], 4) for r in rs],
                "modules_imported": rs[-1]["modules"],
                "packages_imported": rs[-1]["packages"],
                "heavy_imported": rs[-1]["heavy"],
            }
            for label, rs in runs.items()
        },
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    options.output.with_suffix(".md").write_text(markdown(report))
    for label, result in report["results"].items():
        print(
            f"{label}: median {result['median_seconds']:.3f} s over {options.repeats} processes "
            f"({', '.join(f'{s:.3f}' for s in result['seconds'])}); {result['modules_imported']} modules; "
            f"heavy: {result['heavy_imported'] or 'none'}"
        )


if __name__ == "__main__":
    main()
