"""What every benchmark table records about the machine it ran on."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning
import torch

REPO = Path(__file__).resolve().parents[1]


def device_name(device: str) -> str:
    """The GPU's name for "cuda"; the CPU model from /proc/cpuinfo (or platform) otherwise."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def triton_version() -> str | None:
    """Triton's version, or None where it is not installed."""
    try:
        import triton
    except ImportError:
        return None
    return triton.__version__


def others_running(threads: int) -> int | None:
    """Runnable tasks beyond this process's ``threads`` and the idle cores (None where unknown).

    The 4th field of /proc/loadavg counts runnable tasks, the reader and OpenMP workers still spinning
    after an op included. A shared 2-core box under someone else's job stalls an OpenMP team for whole
    scheduler slices, which inflates CPU timings 5-40x (seen here), so benchmarks set such repetitions
    aside.
    """
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - threads - max(0, (os.cpu_count() or 1) - threads))


def git_commit() -> str:
    """The short commit of the checkout; ``$ZOO_GIT_COMMIT`` for copies without .git (a remote GPU box)."""
    if os.environ.get("ZOO_GIT_COMMIT"):
        return os.environ["ZOO_GIT_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_metadata(device: str) -> dict[str, Any]:
    """What every results file starts with: date (UTC), device, versions, commit and the command line."""
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device_name(device),
        "torch": torch.__version__,
        "triton": triton_version(),
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "git": git_commit(),
        "command": "python " + " ".join(sys.argv),
    }


def ratio_cell(ratios: list[float]) -> str:
    """A table cell for per-round speed-ups: ``median x (min-max)``.

    Args:
        ratios: one ratio per round.
    """
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def write_results(out: str | Path, meta: dict[str, Any], results: list[Any], markdown: str) -> None:
    """Write ``<out>.json`` (meta and results) and ``<out>.md`` (the table), and print the table.

    Args:
        out: the output stem.
        meta: what :func:`run_metadata` recorded, plus the script's own settings.
        results: the script's records, one per measured case.
        markdown: the rendered table.
    """
    out = Path(out)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
