"""Evaluation on 2 DDP processes (gloo, CPU) sees every window and image exactly once, as one process does.

Lightning's default ``DistributedSampler`` pads the index list to a multiple of the world size, so an odd
split was evaluated with one item twice (553 test windows counted as 554). ``zoo.data.sampling`` shards
without padding; these runs check the count, the sum of the inputs (a repeated or missing item changes it)
and, for the deterministic forecasting task, the metrics against a one-process run of the same command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bad_inputs.cli_runs import QUICKSTART, run
from tests.conftest import REPO

FORECAST = [
    "test",
    "--config",
    QUICKSTART,
    "--data.pred_len=24",  # 553 test windows: an odd split, where padding would show
    "--model.net.init_args.hidden_size=8",
]
GENERATIVE = [
    "validate",
    "--config",
    str(REPO / "configs" / "generative" / "vae_mnist.yaml"),
    "--data.val_size=1001",
    "--data.batch_size=128",
    "--model.net.init_args.hidden_dims=[16]",
    "--model.net.init_args.latent_dim=4",
]
COMMON = [
    "--trainer.accelerator=cpu",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.callbacks+=tests.helpers.RecordEvalItems",
]


def _records(directory: Path, stage: str) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(directory.glob(f"{stage}-rank*.json"))]


def _two_processes(args: list[str], tmp_path: Path) -> list[dict]:
    items = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "ZOO_TEST_ITEMS_DIR": str(items)}
    logs = f"--trainer.logger.init_args.save_dir={tmp_path / 'ddp-logs'}"
    command = [
        sys.executable,
        "train.py",
        *args,
        *COMMON,
        logs,
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
    ]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return _records(items, args[0])


def _one_process(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict:
    monkeypatch.setenv("ZOO_TEST_ITEMS_DIR", str(tmp_path / "single"))
    logs = f"--trainer.logger.init_args.save_dir={tmp_path / 'single-logs'}"
    outcome = run([*args, *COMMON, logs, "--trainer.devices=1"], capsys)
    assert outcome.code == 0, outcome.err[-3000:]
    (record,) = _records(tmp_path / "single", args[0])
    return record


@pytest.mark.parametrize("args", [FORECAST, GENERATIVE], ids=["forecasting-test", "generative-validate"])
def test_two_process_evaluation_counts_every_item_once(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    single = _one_process(args, tmp_path, monkeypatch, capsys)
    assert single["items"] % 2 == 1, "the split must be odd for padding to show"
    ranks = _two_processes(args, tmp_path)
    assert len(ranks) == 2
    assert sorted(r["items"] for r in ranks) == [single["items"] // 2, single["items"] // 2 + 1]
    assert sum(r["sum"] for r in ranks) == pytest.approx(single["sum"], rel=1e-12)
    if args is FORECAST:  # deterministic: the reduced metrics equal one process's
        metrics = ranks[0]["metrics"]
        assert metrics["test/windows"] == single["items"] == single["metrics"]["test/windows"]
        for name in ("test/mse", "test/mae", "test/mse_orig", "test/mae_orig"):
            assert metrics[name] == pytest.approx(single["metrics"][name], rel=1e-5), name
