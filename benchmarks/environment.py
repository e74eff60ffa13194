"""What every benchmark table records about the machine it ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


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
