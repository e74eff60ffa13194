"""Ensembles of the shipped ETTh1 forecasters against their members on ETTh1's test split (issue 22).

    python benchmarks/ensemble_etth1.py

Every model is a shipped pretrained forecaster (``tcn.etth1``, ``nbeats.etth1``, ``dlinear.etth1``: features
M, lookback 96, horizon 96, trained by their committed configs) or ``zoo.ensemble`` of the three, their
median or mean per element (``zoo/models/ensemble.py``). Scores: ``trainer.test`` over every test window
(TSLib protocol, the standardised scale), no training.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning.pytorch as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from benchmarks.environment import run_metadata, write_results  # noqa: E402
from zoo.data import TimeSeriesDataModule  # noqa: E402
from zoo.tasks import ForecastingTask  # noqa: E402

MEMBERS = ("tcn.etth1", "nbeats.etth1", "dlinear.etth1")


def main() -> None:
    dm = TimeSeriesDataModule("ETTh1", seq_len=96, label_len=48, pred_len=96, features="M", batch_size=32)
    trainer = pl.Trainer(
        logger=False, enable_progress_bar=False, enable_checkpointing=False, accelerator="cpu"
    )
    models = {name: zoo.create_model(name, pretrained=True) for name in MEMBERS}
    models |= {
        f"{combine} of the three": zoo.ensemble(list(MEMBERS), combine=combine)
        for combine in ("median", "mean")
    }
    rows = []
    for name, net in models.items():
        scores = trainer.test(ForecastingTask(net, plot_windows=0), datamodule=dm, verbose=False)[0]
        rows.append({"model": name, "mse": scores["test/mse"], "mae": scores["test/mae"]})
        print(rows[-1], flush=True)
    meta = run_metadata("cpu")
    meta["command"] = "python benchmarks/ensemble_etth1.py"
    lines = [
        "# Ensembles of the shipped ETTh1 forecasters (features M, 96 -> 96, every test window)",
        "",
        (__doc__ or "").split("\n\n", 2)[2].strip(),
        "",
        f"Command: `{meta['command']}`. Device: {meta['device']}, torch {meta['torch']}.",
        "",
        "| model | MSE | MAE |",
        "|---|---|---|",
        *[f"| {r['model']} | {r['mse']:.4f} | {r['mae']:.4f} |" for r in rows],
    ]
    write_results(
        str(ROOT / "benchmarks" / "results" / "ensemble_etth1"), meta, rows, "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
