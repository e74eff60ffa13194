"""A 20-trial search for the TCN on ETTh1 from the CLI, killed once and resumed (issue 22).

    python benchmarks/tune_tcn_etth1.py

``train.py tune --config configs/forecasting/tcn_etth1.yaml --space configs/tune/tcn_etth1_space.yaml
--trials 20 --seed 0 --trainer.max_epochs=3``: trial 0 is the committed config itself; each trial is scored by its
best validation MSE within 3 epochs (the budget of every trial, the committed config's included), with
median pruning. The search is SIGKILLed once 5 trials are done and one runs, and the same command then
resumes it (the killed trial is failed after its heartbeat's grace period). Only after the choice are the
committed config and ``best.yaml`` trained once more with the same budget and seed and tested.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.environment import run_metadata, write_results  # noqa: E402

CONFIG = ROOT / "configs" / "forecasting" / "tcn_etth1.yaml"
SPACE = ROOT / "configs" / "tune" / "tcn_etth1_space.yaml"
OUTPUT = ROOT / "runs" / "tune" / "tcn_etth1"
BUDGET = "--trainer.max_epochs=3"
TUNE = [
    sys.executable,
    str(ROOT / "train.py"),
    "tune",
    "--config",
    str(CONFIG),
    "--space",
    str(SPACE),
    "--trials",
    "20",
    "--output",
    str(OUTPUT),
    "--heartbeat",
    "5",
    BUDGET,
]


def _study() -> optuna.Study:
    return optuna.load_study(study_name="tune-tcn_etth1", storage=f"sqlite:///{OUTPUT / 'study.db'}")


def _test(config: Path, name: str) -> dict:
    """Fit ``config`` with the search's budget and test it (after the choice)."""
    from zoo.cli import main as train

    cli = train(
        [
            "fit",
            "--config",
            str(config),
            BUDGET,
            f"--trainer.logger.init_args.save_dir={OUTPUT / 'final'}",
            f"--trainer.logger.init_args.name={name}",
            "--trainer.enable_progress_bar=false",
        ]
    )
    assert cli is not None
    return {
        "config": name,
        "best_val_mse": float(cli.trainer.checkpoint_callback.best_model_score),
        "test_mse": float(cli.trainer.callback_metrics["test/mse"]),
        "test_mae": float(cli.trainer.callback_metrics["test/mae"]),
    }


def main() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    worker = subprocess.Popen(TUNE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = None
    while worker.poll() is None:
        time.sleep(2)
        try:
            trials = _study().trials
        except Exception:  # not created yet
            continue
        done = sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
        running = [t.number for t in trials if t.state.name == "RUNNING"]
        if done >= 5 and running:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            killed = running[0]
    time.sleep(16)  # three missed heartbeats
    resumed = subprocess.run(TUNE, env=env, capture_output=True, text=True)
    if resumed.returncode != 0:
        raise SystemExit(resumed.stderr[-2000:])
    search_seconds = time.perf_counter() - started
    study = _study()
    trials = [
        {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params}
        for t in study.trials
    ]
    baseline = next(t for t in study.trials if t.number == 0)
    finals = [_test(CONFIG, "committed"), _test(OUTPUT / "best.yaml", "best")]
    meta = run_metadata("cpu")
    meta["command"] = "python benchmarks/tune_tcn_etth1.py"
    states = [t["state"] for t in trials]
    lines = [
        "# A 20-trial search for the TCN on ETTh1 (features M, 96 -> 96), killed once and resumed",
        "",
        (__doc__ or "").split("\n\n", 2)[2].strip(),
        "",
        f"Command: `{meta['command']}`. Device: {meta['device']}, torch {meta['torch']}, one thread. "
        f"Search wall time {search_seconds / 60:.1f} min.",
        "",
        f"- Trials: {len(trials)} ({states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned, "
        f"{states.count('FAIL')} failed: trial {killed}, killed).",
        f"- Trial 0, the committed config: best validation MSE {baseline.value:.4f}.",
        f"- Best: trial {study.best_trial.number}, validation MSE {study.best_value:.4f}, {study.best_trial.params}.",
        "",
        "Trained once more with the same budget and seed, then tested (standardised scale):",
        "",
        "| config | best val MSE | test MSE | test MAE |",
        "|---|---|---|---|",
        *[
            f"| {r['config']} | {r['best_val_mse']:.4f} | {r['test_mse']:.4f} | {r['test_mae']:.4f} |"
            for r in finals
        ],
        "",
        "Every trial: `tune_tcn_etth1.json`.",
    ]
    write_results(
        str(ROOT / "benchmarks" / "results" / "tune_tcn_etth1"),
        meta,
        {"trials": trials, "killed": killed, "finals": finals},
        "\n".join(lines) + "\n",
    )
    print(json.dumps(finals))


if __name__ == "__main__":
    main()
