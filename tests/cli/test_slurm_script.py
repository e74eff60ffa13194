"""``configs/slurm/fit.sbatch``: it trains with the options it names, and a requeued job resumes from
last.ckpt (``srun`` replaced by a shim that runs the command here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.conftest import REPO

SCRIPT = REPO / "configs" / "slurm" / "fit.sbatch"
QUICK = [
    "--trainer.accelerator=cpu",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=2",
    "--trainer.enable_progress_bar=false",
    "--test_after_fit=false",
    "--model.net.init_args.hidden_size=8",
]


def _job(tmp_path: Path, restart: int, *options: str) -> subprocess.CompletedProcess:
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "srun").write_text('#!/bin/bash\nexec "$@"\n')
    (shim / "srun").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{shim}:{os.environ['PATH']}",
        "ZOO_PYTHON": sys.executable,
        "ZOO_RUN": str(tmp_path / "run"),
        "SLURM_NNODES": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_RESTART_COUNT": str(restart),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        ["bash", str(SCRIPT), "configs/quickstart.yaml", *QUICK, *options],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_script_trains_under_ddp_and_a_requeued_job_resumes_from_last_ckpt(tmp_path: Path) -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    first = _job(tmp_path, 0, "--trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr[-2000:]
    saved = next((tmp_path / "run").rglob("config.yaml")).read_text()  # the run's own record of its options
    for line in ("strategy: ddp", "num_nodes: 1", "every_n_train_steps: 200", "ckpt_path: last"):
        assert line in saved, line
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    steps = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert steps == 3  # one epoch of 3 steps
    requeued = _job(tmp_path, 1, "--trainer.max_epochs=2")
    assert requeued.returncode == 0, requeued.stderr[-2000:]
    assert "restart 1" in requeued.stdout
    assert "last.ckpt" in requeued.stderr  # zoo logs the checkpoint it resumes from
    steps = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert steps == 6  # it went on from step 3, not over
