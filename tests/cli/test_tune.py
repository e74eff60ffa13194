"""``train.py tune``: an Optuna search over a fit config, its database, resumption after a kill, several
workers on one study, its outputs and its errors."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from zoo.cli import build_cli, main
from zoo.tuning import _Pruning, read_space

REPO = Path(__file__).resolve().parents[2]
CONFIG = """
seed_everything: 0
trainer:
  max_epochs: 2
  limit_train_batches: 3
  limit_val_batches: 2
  enable_model_summary: false
model:
  net:
    class_path: zoo.models.RNNForecaster
    init_args:
      cell: gru
      hidden_size: 8
  optimizer:
    lr: 0.003
data:
  dataset: synthetic
  seq_len: 48
  label_len: 0
  pred_len: 12
  batch_size: 64
"""
SPACE = (
    "model.optimizer.lr: {low: 1.0e-4, high: 1.0e-2, log: true}\nmodel.net.init_args.hidden_size: [4, 8]\n"
)


@pytest.fixture
def search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick.yaml").write_text(CONFIG)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def _tune(*extra: str) -> None:
    main(
        [
            "tune",
            "--config",
            "quick.yaml",
            "--space",
            "space.yaml",
            "--output",
            "out",
            "--pruner",
            "none",
            *extra,
        ]
    )


def _states(directory: Path) -> list[str]:
    study = optuna.load_study(study_name="tune-quick", storage=f"sqlite:///{directory / 'out' / 'study.db'}")
    return [t.state.name for t in study.trials]


def test_a_search_writes_its_trials_and_a_best_config_fit_takes(search: Path) -> None:
    _tune("--trials", "2", "--seed", "0", "--trainer.max_epochs=1")  # a fit option given to every trial
    _tune(
        "--trials", "4", "--seed", "0", "--trainer.max_epochs=1"
    )  # resumes: two more trials, the first kept
    study = optuna.load_study(study_name="tune-quick", storage=f"sqlite:///{search / 'out' / 'study.db'}")
    assert [list(t.intermediate_values) for t in study.trials] == [
        [0]
    ] * 4  # one epoch each, not the config's 2
    trials = pd.read_csv(search / "out" / "trials.csv")
    sampled = (
        trials[["params_model.optimizer.lr", "params_model.net.init_args.hidden_size"]].to_numpy().tolist()
    )
    assert sampled[2] != sampled[1]  # the resumed sampler does not replay the first run's draws
    assert len(trials) == 4 and set(trials["state"]) == {"COMPLETE"}
    assert trials["number"].tolist() == [0, 1, 2, 3]
    assert trials.loc[0, "params_model.optimizer.lr"] == 0.003  # trial 0: the config's own values
    assert trials.loc[0, "params_model.net.init_args.hidden_size"] == 8
    best = trials.loc[trials["value"].idxmin()]
    document = yaml.safe_load((search / "out" / "best.yaml").read_text())
    assert document["model"]["optimizer"]["lr"] == pytest.approx(best["params_model.optimizer.lr"])
    assert (
        document["model"]["net"]["init_args"]["hidden_size"] == best["params_model.net.init_args.hidden_size"]
    )
    assert document["trainer"]["max_epochs"] == 2  # the rest of the config unchanged
    for name in ("trials.csv", "best.yaml"):
        path = search / "out" / name
        assert (
            path.with_name(name + ".sha256").read_text().split()[0]
            == hashlib.sha256(path.read_bytes()).hexdigest()
        )
    cli = build_cli(["--config", str(search / "out" / "best.yaml")], run=False)  # fit --config takes it
    assert (
        cli.model.net.constructor_args["hidden_size"] == document["model"]["net"]["init_args"]["hidden_size"]
    )


def _worker(directory: Path, trials: int, heartbeat: int = 1) -> subprocess.Popen:
    command = [
        sys.executable,
        str(REPO / "train.py"),
        "tune",
        "--config",
        "quick.yaml",
        "--space",
        "space.yaml",
    ]
    options = ["--trials", str(trials), "--output", "out", "--pruner", "none", "--heartbeat", str(heartbeat)]
    return subprocess.Popen(
        [*command, *options], cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_a_killed_search_resumes_and_two_workers_share_one_study(search: Path) -> None:
    worker = _worker(search, 4)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it once a trial is done and the next one runs
        time.sleep(0.5)
        if (search / "out" / "study.db").exists():
            try:
                states = _states(search)
            except Exception:  # the database is being created
                continue
            if states.count("COMPLETE") >= 1 and "RUNNING" in states:
                break
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert "RUNNING" in _states(search)
    time.sleep(3.5)  # past the grace period of three missed heartbeats
    first, second = _worker(search, 4), _worker(search, 4)
    for process in (first, second):
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
    states = _states(search)
    assert "RUNNING" not in states and "FAIL" in states  # the killed trial, failed by the next worker
    assert 4 <= states.count("COMPLETE") <= 5  # the workers stop at 4, one trial may be in flight


def test_search_space_errors_name_the_key(search: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "model.optimizer.lrr: {low: 1.0e-4, high: 1.0e-2}\n": "model.optimizer.lrr=0.0001 is not an option of quick.yaml",
        "model.optimizer.lr: {low: 1.0e-2, high: 1.0e-4}\n": "an empty range (low=0.01 is not below high=0.0001)",
        "model.net.init_args.hidden_size: []\n": "an empty list of choices",
        "model.optimizer.lr: {low: 0.0, high: 1.0, log: true}\n": "a log range needs low > 0",
        "model.optimizer.lr: {low: 0.1, high: 1.0, scale: 2}\n": "unknown field(s) ['scale']",
        "model.net.init_args.hidden_size: [8, big]\n": "hidden_size='big' is not an option",
    }
    for text, message in cases.items():
        (search / "bad.yaml").write_text(text)
        with pytest.raises(SystemExit) as refused:
            main(
                ["tune", "--config", "quick.yaml", "--space", "bad.yaml", "--trials", "2", "--output", "bad"]
            )
        assert refused.value.code == 2
        assert message in capsys.readouterr().err, text
    assert not (search / "bad").exists()  # nothing written before the space is checked
    with pytest.raises(ValueError, match="a search space maps config keys"):
        (search / "empty.yaml").write_text("")
        read_space(search / "empty.yaml")


def test_another_studys_database_and_a_locked_one_are_clear_errors(
    search: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tune("--trials", "1")
    (search / "space.yaml").write_text("model.optimizer.lr: {low: 1.0e-3, high: 1.0e-2}\n")
    with pytest.raises(SystemExit):
        _tune("--trials", "2")
    assert "was started with another config, space or metric" in capsys.readouterr().err
    lock = sqlite3.connect(search / "out" / "study.db", timeout=0.1)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(SystemExit):
            main(
                [
                    "tune",
                    "--config",
                    "quick.yaml",
                    "--space",
                    "space.yaml",
                    "--trials",
                    "2",
                    "--output",
                    "out",
                    "--study_name",
                    "other",
                ]
            )
        assert "cannot open the study database" in capsys.readouterr().err
    finally:
        lock.rollback()
        lock.close()


def test_the_pruning_callback_stops_a_bad_trial() -> None:
    class Trial:
        reported: list[tuple[float, int]] = []

        def report(self, value: float, step: int) -> None:
            self.reported.append((value, step))

        def should_prune(self) -> bool:
            return len(self.reported) >= 2

    class Trainer:
        sanity_checking = False
        current_epoch = 0
        callback_metrics = {"val/mse": 0.5}

    pruning = _Pruning(Trial(), "val/mse")
    callback = pruning.callback()
    callback.on_validation_end(Trainer(), None)
    Trainer.current_epoch, Trainer.callback_metrics = 1, {"val/mse": 0.4}
    with pytest.raises(optuna.TrialPruned):
        callback.on_validation_end(Trainer(), None)
    assert pruning.best == 0.4
    Trainer.callback_metrics = {"val/loss": 1.0}
    with pytest.raises(
        ValueError, match=r"--metric 'val/mse' was not logged at validation; logged: \['val/loss'\]"
    ):
        callback.on_validation_end(Trainer(), None)


def test_wandb_logs_every_trial_offline_without_a_key(search: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(search / "wandb_dir"))
    _tune("--trials", "2", "--wandb", "--trainer.max_epochs=1")
    runs = sorted((search / "out" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2  # one offline W&B run per trial
