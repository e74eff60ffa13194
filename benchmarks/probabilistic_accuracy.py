"""Prediction intervals on ETTh1: a quantile model, Normal and Student-t models, and conformal intervals
around a point model, side by side (issue 21).

    python benchmarks/probabilistic_accuracy.py --seeds 2021 2022 2023 --features S M

Every model is RLinear (RevIN + one linear map, ``configs/forecasting/rlinear_etth1.yaml``'s
hyperparameters: init "mean", Adam lr 5e-3 halved each epoch, batch 32, at most 10 epochs) or, with
``--model tcn``, the TCN of ``configs/forecasting/tcn_etth1.yaml``, at lookback 96, horizon 96, on the TSLib protocol (train-only scaler, every test window), with
``distribution="point" | "quantile" | "normal" | "student_t"``. Features "S": OT alone; "M": all seven
channels; "MS": OT forecast from the six loads as past covariates (``past_columns``) and the calendar
(timeF) as known-future covariates through ``future_effect=True`` (:mod:`zoo.data.covariates`). Early stopping and the checkpoint kept
follow ``val/loss`` (MSE, pinball or NLL: each model's own training loss, on validation only). The point
model's conformal intervals are calibrated on the residuals of every validation window (split conformal,
per horizon step and channel, each residual divided by its window's lookback standard deviation,
:mod:`zoo.inference.conformal`) and applied to the test windows. The rows "+ ACI" take each model's 80 %
interval (the point itself for the point model), conformalise it on the validation windows' scores
``max(q0.1 - y, y - q0.9)`` over the lookback scale (Romano et al. 2019) and adapt its level over the test
windows in time order, each judged only once its 96 rows are past (adaptive conformal inference, Gibbs &
Candès 2021, their step size 0.005, fixed in advance): what a forecaster rolled forward month after month
reaches when the test months are more volatile than the validation months.

Scores on the test windows, on the standardised scale: point MSE / MAE (of the median), coverage and
width of the 80 % interval [q0.1, q0.9] (averaged over channels, and on OT, the last channel, alone),
CRPS (Normal: closed form; Student-t, conformal: from the 99 quantiles 0.01..0.99; the quantile model:
from its three quantiles, which underestimates the integral), and ``crps3``, the CRPS approximation from
the quantiles 0.1 / 0.5 / 0.9 that every model has.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from benchmarks.environment import run_metadata, write_results  # noqa: E402
from zoo.data import TimeSeriesDataModule  # noqa: E402
from zoo.distributions import CRPS_LEVELS  # noqa: E402
from zoo.inference.conformal import (  # noqa: E402
    adaptive_conformal,
    calibrate,
    interval_scores,
    lookback_scale,
)
from zoo.scoring import crps_from_quantiles  # noqa: E402
from zoo.tasks import ForecastingTask  # noqa: E402

KINDS = (
    "point",
    "conformal",
    "conformal + ACI",
    "quantile",
    "quantile + ACI",
    "normal",
    "normal + ACI",
    "student_t",
    "student_t + ACI",
)
#: Gibbs & Candès' step size of the adaptive level (fixed in advance, not tuned).
ACI_RATE = 0.005
THREE = (0.1, 0.5, 0.9)


#: The two models: their registry name, constructor options, optimiser and gradient clipping (the
#: committed ETTh1 configs' values, ``configs/forecasting/<model>_etth1.yaml``).
MODELS = {
    "rlinear": ("rlinear", {"init": "mean"}, {"lr": 0.005, "lr_schedule": "type1"}, None),
    "tcn": (
        "tcn",
        {
            "hidden_channels": 32,
            "kernel_size": 3,
            "dropout": 0.3,
            "highway": True,
            "head": "last",
            "revin": True,
        },
        {"lr": 0.001, "lr_schedule": "type1"},
        1.0,
    ),
}
LOADS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]


def _data(features: str) -> TimeSeriesDataModule:
    """ETTh1 at 96 -> 96; "MS": OT from the six loads as past covariates (and the calendar as known-future)."""
    covariates = {"past_columns": LOADS, "target": "OT"} if features == "MS" else {}
    dm = TimeSeriesDataModule(
        "ETTh1",
        seq_len=96,
        label_len=48,
        pred_len=96,
        features=features,
        batch_size=32,
        num_workers=0,
        **covariates,
    )
    dm.setup()
    return dm


def _train(
    dm: TimeSeriesDataModule, model: str, distribution: str, seed: int, workdir: Path
) -> tuple[ForecastingTask, dict]:
    pl.seed_everything(seed, workers=True)
    name, options, optimizer, clip = MODELS[model]
    net = zoo.create_model(
        name,
        n_features=dm.n_features,
        n_targets=dm.n_targets,
        seq_len=dm.seq_len,
        pred_len=dm.pred_len,
        label_len=dm.label_len,
        n_time_features=dm.n_time_features,
        distribution=distribution,
        future_effect=dm.features == "MS",  # the calendar as known-future covariates
        **options,
        **({"past_covariates": True} if name == "rlinear" and dm.features == "MS" else {}),
    )
    task = ForecastingTask(net, optimizer=optimizer, plot_windows=0)
    shutil.rmtree(workdir, ignore_errors=True)  # a rerun's checkpoint must not compete with an older one
    checkpoint = ModelCheckpoint(dirpath=workdir, monitor="val/loss", mode="min", save_top_k=1)
    trainer = pl.Trainer(
        max_epochs=10,
        gradient_clip_val=clip,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[EarlyStopping(monitor="val/loss", mode="min", patience=3), checkpoint],
    )
    started = time.perf_counter()
    trainer.fit(task, datamodule=dm)
    best = ForecastingTask.load_from_checkpoint(checkpoint.best_model_path, net=net, weights_only=False)
    record = {
        "best_val_loss": float(checkpoint.best_model_score),
        "best_checkpoint": Path(checkpoint.best_model_path).name,
        "epochs": trainer.current_epoch,
        "fit_seconds": round(time.perf_counter() - started, 1),
    }
    return best.eval(), record


def _collect(task: ForecastingTask, loader, distribution: str) -> dict[str, torch.Tensor]:
    """Targets, points and (for probabilistic nets) the three and the 99 quantiles of every window."""
    parts: dict[str, list[torch.Tensor]] = {
        "y": [],
        "point": [],
        "scale": [],
        "three": [],
        "grid": [],
        "crps": [],
    }
    with torch.inference_mode():
        for batch in loader:
            point, prediction = task._predict(batch)
            parts["y"].append(batch["y"])
            parts["point"].append(point)
            parts["scale"].append(
                torch.from_numpy(lookback_scale(batch["x"][..., -point.shape[-1] :].double().numpy()))
            )
            if prediction is None:
                continue
            parts["three"].append(prediction.quantiles(THREE))
            parts["crps"].append(prediction.crps(batch["y"]))
            if distribution != "quantile":
                parts["grid"].append(prediction.quantiles(CRPS_LEVELS))
    return {k: torch.cat(v) for k, v in parts.items() if v}


def _scores(
    y: torch.Tensor, point: torch.Tensor, three: torch.Tensor, crps: torch.Tensor
) -> dict[str, float]:
    lower, upper = three[..., 0], three[..., -1]
    return {
        "mse": float(((point - y) ** 2).mean()),
        "mae": float((point - y).abs().mean()),
        "coverage": float(((y >= lower) & (y <= upper)).double().mean()),
        "coverage_ot": float(((y >= lower) & (y <= upper))[..., -1].double().mean()),
        "width": float((upper - lower).mean()),
        "crps": float(crps.mean()),
        "crps3": float(crps_from_quantiles(three, y, THREE)),
        "windows": len(y),
    }


def run(model: str, features: str, distribution: str, seed: int, workdir: Path) -> list[dict]:
    """Train one model and score it (and, for the point model, its conformal intervals)."""
    dm = _data(features)
    task, record = _train(
        dm, model, distribution, seed, workdir / f"{model}_{features}_{distribution}_{seed}"
    )
    test = _collect(task, dm.test_dataloader(), distribution)
    common = {"model": model, "features": features, "seed": seed, **record}
    val = _collect(task, dm.val_dataloader(), distribution)
    adaptive = {"kind": f"{'conformal' if distribution == 'point' else distribution} + ACI", **common}
    adaptive.update(_adaptive_scores(val, test))
    if distribution != "point":
        scores = _scores(test["y"], test["point"], test["three"], test["crps"])
        scores["val_coverage_ot"] = _scores(val["y"], val["point"], val["three"], val["crps"])["coverage_ot"]
        return [{"kind": distribution, **common, **scores}, adaptive]
    residuals = (val["y"] - val["point"]).numpy().astype(np.float64) / val["scale"].numpy()[:, None, :]
    scale = test["scale"].numpy()
    point = test["point"].numpy().astype(np.float64)
    three = torch.from_numpy(calibrate(residuals, THREE).quantiles(point, scale))
    grid = torch.from_numpy(calibrate(residuals, CRPS_LEVELS).quantiles(point, scale))
    y = test["y"].double()
    crps = crps_from_quantiles(grid, y, CRPS_LEVELS, reduction="none")
    empty = torch.zeros(0)
    point_row = _scores(test["y"], test["point"], torch.stack([test["point"]] * 3, dim=-1), empty)
    point_row.update({key: float("nan") for key in ("coverage", "coverage_ot", "width", "crps", "crps3")})
    conformal = _scores(y, test["point"].double(), three, crps)
    conformal["calibration_windows"] = len(residuals)
    return [
        {"kind": "point", **common, **point_row},
        {"kind": "conformal", **common, **conformal},
        adaptive,
    ]


def _bounds(parts: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """The 80 % interval of every window: the model's q0.1 / q0.9, or the point twice for a point model."""
    if "three" in parts:
        return parts["three"][..., 0].double().numpy(), parts["three"][..., -1].double().numpy()
    point = parts["point"].double().numpy()
    return point, point


def _adaptive_scores(val: dict[str, torch.Tensor], test: dict[str, torch.Tensor]) -> dict[str, float]:
    """The 80 % interval (the model's, or the point's) conformalised on the validation windows' scores and
    adapted over the test windows in time order (adaptive conformal inference, rate :data:`ACI_RATE`;
    the test windows are one row apart and each is judged once its 96 rows are past)."""
    lower, upper = _bounds(val)
    scores = interval_scores(lower, upper, val["y"].double().numpy(), val["scale"].numpy())
    lower, upper = _bounds(test)
    y = test["y"].double()
    result = adaptive_conformal(
        lower,
        upper,
        test["scale"].numpy(),
        y.numpy(),
        scores,
        0.8,
        np.arange(len(y)),
        y.shape[1],
        rate=ACI_RATE,
    )
    three = torch.stack(
        [torch.from_numpy(result.lower), test["point"].double(), torch.from_numpy(result.upper)], dim=-1
    )
    row = _scores(y, test["point"].double(), three, torch.zeros(0))
    row["crps"] = float("nan")  # the adapted interval is not a whole distribution
    return row


def render(rows: list[dict], meta: dict, stem: str) -> str:
    lines = [
        f"# Prediction intervals on ETTh1 ({rows[0].get('model', 'rlinear')}, lookback 96, horizon 96, every test window)",
        "",
        __doc__.split("\n\n", 2)[2].strip(),
        "",
        f"Command: `{meta['command']}`. Device: {meta['device']}, torch {meta['torch']}, one thread per run.",
        "Values: mean over the seeds (min-max in brackets when more than one).",
        "",
        "| features | model | seeds | MSE | MAE | coverage (nominal 0.80) | OT coverage | width | CRPS | "
        "CRPS (3 quantiles) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for features in dict.fromkeys(r["features"] for r in rows):
        for kind in KINDS:
            group = [r for r in rows if r["features"] == features and r["kind"] == kind]
            if not group:
                continue

            def cell(key: str, group: list[dict] = group) -> str:
                values = [r[key] for r in group]
                if any(v != v for v in values):
                    return "-"
                mean = statistics.fmean(values)
                spread = f" [{min(values):.4f}-{max(values):.4f}]" if len(values) > 1 else ""
                return f"{mean:.4f}{spread}"

            lines.append(
                f"| {features} | {kind} | {len(group)} | {cell('mse')} | {cell('mae')} | "
                f"{cell('coverage')} | {cell('coverage_ot')} | "
                f"{cell('width')} | {cell('crps')} | {cell('crps3')} |"
            )
    lines += ["", f"Per run: `{stem}.json` (seed, epochs, best validation loss and checkpoint)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021])
    parser.add_argument("--model", default="rlinear", choices=sorted(MODELS))
    parser.add_argument("--features", nargs="+", default=["S", "M"], choices=["S", "M", "MS"])
    parser.add_argument("--kinds", nargs="+", default=["point", "quantile", "normal", "student_t"])
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "probabilistic")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "probabilistic_etth1"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    meta = run_metadata("cpu")
    meta["command"] = "python benchmarks/probabilistic_accuracy.py " + " ".join(sys.argv[1:])
    rows: list[dict] = []
    for features in args.features:
        for distribution in args.kinds:
            for seed in args.seeds:
                rows += run(args.model, features, distribution, seed, args.workdir)
                print(json.dumps(rows[-1]), flush=True)
    write_results(args.out, meta, rows, render(rows, meta, Path(args.out).name))


if __name__ == "__main__":
    main()
