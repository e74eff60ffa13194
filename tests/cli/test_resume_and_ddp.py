"""Subprocess tests: SIGKILL + ``--ckpt_path last`` resumes exactly; 2-process DDP (gloo) agrees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.conftest import REPO

BASE = [
    "fit",
    "--config",
    "configs/quickstart.yaml",
    "--test_after_fit=false",
    "--trainer.limit_train_batches=4",
    "--trainer.limit_val_batches=2",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.accelerator=cpu",
    "--model.net.init_args.hidden_size=8",
    "--model.net.init_args.dropout=0.2",
]


def _train(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "train.py", *BASE, *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    common = ["--trainer.max_epochs=4", f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}"]
    straight = _train([*common, f"--checkpoint.dirpath={tmp_path / 'straight'}"], tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]

    killed_dir = f"--checkpoint.dirpath={tmp_path / 'killed'}"
    killed = _train(
        [
            *common,
            killed_dir,
            "--trainer.callbacks+=tests.helpers.KillAtEpochStart",
            "--trainer.callbacks.init_args.epoch=2",
        ],
        tmp_path,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (tmp_path / "killed" / "last.ckpt").is_file()
    assert torch.load(tmp_path / "killed" / "last.ckpt", weights_only=True)["epoch"] == 1

    resumed = _train([*common, killed_dir, "--ckpt_path=last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Restored all states from the checkpoint" in resumed.stderr + resumed.stdout

    expected, actual = (
        _weights(tmp_path / "straight" / "last.ckpt"),
        _weights(tmp_path / "killed" / "last.ckpt"),
    )
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)


def test_ddp_two_cpu_processes_agree(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    run = _train(
        [
            "--trainer.max_epochs=1",
            "--trainer.devices=2",
            "--trainer.strategy=ddp",
            f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}",
            f"--checkpoint.dirpath={tmp_path / 'ckpt'}",
            "--trainer.callbacks+=tests.helpers.SaveFinalWeights",
        ],
        tmp_path,
        env={"ZOO_TEST_WEIGHTS_DIR": str(weights)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rank0, rank1 = load_file(weights / "rank0.safetensors"), load_file(weights / "rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        torch.testing.assert_close(rank1[name], rank0[name], rtol=0, atol=0, msg=name)
    saved = _weights(tmp_path / "ckpt" / "last.ckpt")  # written by rank 0 only
    for name in rank0:
        torch.testing.assert_close(saved[name], rank0[name], rtol=0, atol=0, msg=name)


def test_two_nodes_launched_by_torchrun_train_one_model(tmp_path: Path) -> None:
    """Two "nodes" of one process each, each launched by its own ``torchrun --nnodes 2 --node_rank r`` on
    this machine (gloo over localhost): Lightning reads the torchrun environment, the two ranks end with
    the same weights, and only global rank 0 writes the checkpoint."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    weights = tmp_path / "weights"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "ZOO_TEST_WEIGHTS_DIR": str(weights),
    }
    fit = [
        *BASE,
        "--trainer.max_epochs=1",
        "--trainer.num_nodes=2",
        "--trainer.devices=1",
        "--trainer.strategy=ddp",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}",
        f"--checkpoint.dirpath={tmp_path / 'ckpt'}",
        "--trainer.callbacks+=tests.helpers.SaveFinalWeights",
    ]
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                "--nproc_per_node=1",
                f"--node_rank={rank}",
                "--master_addr=127.0.0.1",
                f"--master_port={port}",
                "train.py",
                *fit,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    for node in nodes:
        assert node.wait(timeout=300) == 0, node.stderr.read()[-3000:]
    rank0, rank1 = load_file(weights / "rank0.safetensors"), load_file(weights / "rank1.safetensors")
    for name in rank0:
        torch.testing.assert_close(rank1[name], rank0[name], rtol=0, atol=0, msg=name)
    saved = _weights(tmp_path / "ckpt" / "last.ckpt")  # written once, by global rank 0
    for name in rank0:
        torch.testing.assert_close(saved[name], rank0[name], rtol=0, atol=0, msg=name)
