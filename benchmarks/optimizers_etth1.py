"""Lion and Schedule-Free AdamW against Adam on ETTh1, the TCN of the committed config (issue 22).

    python benchmarks/optimizers_etth1.py --seeds 2021 2022 2023

Every run is ``train.py fit --config configs/forecasting/tcn_etth1.yaml`` (TCN, features M, 96 -> 96,
at most 10 epochs, early stopping on val/mse with patience 3, the checkpoint of the best val/mse tested)
with only the optimiser changed, its settings fixed in advance from the papers' advice and not tuned:

- ``adam``: the config's own (lr 1e-3, TSLib's halving every epoch);
- ``lion``: lr 3e-4 (Chen et al. 2023: 3-10x below AdamW's), the same halving;
- ``schedule_free_adamw``: lr 1e-3, no schedule (Defazio et al. 2024: the optimiser replaces it).

Scores on the standardised scale: the best validation MSE and the test MSE / MAE of that checkpoint.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.environment import run_metadata, write_results  # noqa: E402
from zoo.cli import main as train  # noqa: E402

CONFIG = ROOT / "configs" / "forecasting" / "tcn_etth1.yaml"
OPTIMIZERS = {
    "adam": [],
    "lion": ["--model.optimizer.name=lion", "--model.optimizer.lr=0.0003"],
    "schedule_free_adamw": [
        "--model.optimizer.name=schedule_free_adamw",
        "--model.optimizer.lr_schedule=constant",
    ],
}


def run(name: str, seed: int, workdir: Path) -> dict:
    """One fit and test; its scores."""
    cli = train(
        [
            "fit",
            "--config",
            str(CONFIG),
            f"--seed_everything={seed}",
            *OPTIMIZERS[name],
            f"--trainer.logger.init_args.save_dir={workdir}",
            f"--trainer.logger.init_args.name={name}_{seed}",
            "--trainer.enable_progress_bar=false",
        ]
    )
    assert cli is not None
    metrics = cli.trainer.callback_metrics
    checkpoint = cli.trainer.checkpoint_callback
    return {
        "optimizer": name,
        "seed": seed,
        "best_val_mse": float(checkpoint.best_model_score),
        "epochs": cli.trainer.current_epoch,
        "test_mse": float(metrics["test/mse"]),
        "test_mae": float(metrics["test/mae"]),
    }


def render(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Optimisers on ETTh1 (TCN, features M, 96 -> 96)",
        "",
        (__doc__ or "").split("\n\n", 2)[2].strip(),
        "",
        f"Command: `{meta['command']}`. Device: {meta['device']}, torch {meta['torch']}, one thread.",
        "Values: mean over the seeds [min-max].",
        "",
        "| optimizer | seeds | best val MSE | test MSE | test MAE |",
        "|---|---|---|---|---|",
    ]
    for name in OPTIMIZERS:
        group = [r for r in rows if r["optimizer"] == name]
        if not group:
            continue

        def cell(key: str, group: list[dict] = group) -> str:
            values = [r[key] for r in group]
            return f"{statistics.fmean(values):.4f} [{min(values):.4f}-{max(values):.4f}]"

        lines.append(
            f"| {name} | {len(group)} | {cell('best_val_mse')} | {cell('test_mse')} | {cell('test_mae')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021, 2022, 2023])
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "optimizers")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "optimizers_etth1"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    meta = run_metadata("cpu")
    meta["command"] = "python benchmarks/optimizers_etth1.py " + " ".join(sys.argv[1:])
    rows = []
    for seed in args.seeds:
        for name in args.optimizers:
            rows.append(run(name, seed, args.workdir))
            print(rows[-1], flush=True)
            write_results(args.out, meta, rows, render(rows, meta))


if __name__ == "__main__":
    main()
