"""One fresh process per training run, for the accuracy benchmarks (forecast_accuracy.py, nbeats_m4.py).

A benchmark script calls itself as ``python <script> --worker <spec.json>``: the worker reads the spec,
runs, and writes its result as JSON where ``spec["result"]`` says. A fresh process per run keeps runs
independent (global RNG, thread pools, memory) and lets ``--jobs`` of them run at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_worker(script: str, spec: dict[str, Any], tmp: Path, stem: str) -> dict[str, Any]:
    """Run ``script --worker`` on ``spec`` in a new process (log in ``tmp/<stem>.log``); its JSON result.

    A failing worker raises RuntimeError with the end of its log.
    """
    spec = {**spec, "result": str(tmp / f"{stem}.json")}
    spec_file = tmp / f"{stem}.spec.json"
    spec_file.write_text(json.dumps(spec))
    log_file = tmp / f"{stem}.log"
    with log_file.open("w") as log:
        proc = subprocess.run(
            [sys.executable, script, "--worker", str(spec_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(script).resolve().parents[1],
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{stem} failed (exit {proc.returncode}):\n{log_file.read_text()[-3000:]}")
    return json.loads(Path(spec["result"]).read_text())


def append_record(partial: Path, record: dict[str, Any]) -> None:
    """Append one finished run to the sweep's ``.partial.jsonl`` (what ``--resume`` reads back)."""
    with partial.open("a") as sink:
        sink.write(json.dumps(record) + "\n")


def entry_point(main: Callable[[], None], worker: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """``--worker <spec.json>``: run ``worker(spec)`` and write its result; otherwise ``main()``."""
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        spec = json.loads(Path(sys.argv[2]).read_text())
        Path(spec["result"]).write_text(json.dumps(worker(spec)))
    else:
        main()
