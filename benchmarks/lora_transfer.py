"""ETTh1 -> ETTh2 transfer of the shipped forecasters (and MNIST -> Fashion-MNIST for the VAE): zero-shot,
LoRA at several ranks, full fine-tuning and training from scratch, at the same protocol and seed.

    python benchmarks/lora_transfer.py --jobs 2 --out benchmarks/results/lora_transfer

Rows per model: ``zero-shot`` (the shipped ETTh1 model on ETTh2's test split, scaled with ETTh2's train
rows), ``lora r=R`` (``configs/finetune/lora_<model>_etth1_to_etth2.yaml`` with r=R, alpha=2R),
``full fine-tune`` (the model's ETTh1 config on ETTh2, starting from the shipped weights) and ``scratch``
(the same config from a random initialisation). Each run is ``train.py fit`` with the same seed, early
stopping on ETTh2's validation split, and testing of the best checkpoint; the table gives test MSE / MAE
(standardised), trainable parameters and the fit's wall time. Results accumulate in ``<out>.partial.jsonl``
(``--resume`` keeps finished runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.environment import run_metadata  # noqa: E402

# The ETTh1 configs the shipped models were trained with, and the overrides their cards record.
FORECASTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tcn": ("configs/forecasting/tcn_etth1.yaml", ()),
    "transformer": (
        "configs/forecasting/transformer_etth1.yaml",
        ("--model.net.init_args.revin=true", "--model.net.init_args.highway=true"),
    ),
    "informer": ("configs/forecasting/informer_etth1.yaml", ("--model.net.init_args.revin=true",)),
    "lstm": ("configs/forecasting/lstm_etth1.yaml", ()),
}
RANKS = (4, 8, 16)
SEED = 2021


@dataclass(frozen=True)
class Run:
    model: str
    method: str
    arguments: tuple[str, ...]  # train.py fit arguments; empty for the zero-shot evaluation


def plan(models: list[str], include_vae: bool) -> list[Run]:
    runs = []
    for model in models:
        config, extra = FORECASTERS[model]
        finetune = f"configs/finetune/lora_{model}_etth1_to_etth2.yaml"
        runs.append(Run(model, "zero-shot", ()))
        runs += [
            Run(
                model,
                f"lora r={r}",
                ("--config", finetune, f"--model.lora.r={r}", f"--model.lora.lora_alpha={2 * r}"),
            )
            for r in RANKS
        ]
        runs.append(
            Run(
                model,
                "full fine-tune",
                ("--config", config, *extra, f"--model.init_from={model}.etth1", "--data.dataset=ETTh2"),
            )
        )
        runs.append(Run(model, "scratch", ("--config", config, *extra, "--data.dataset=ETTh2")))
    if include_vae:
        finetune = "configs/finetune/lora_vae_mnist_to_fashion_mnist.yaml"
        same = (
            "--data.dataset=fashion_mnist",
            "--data.binarize=dynamic",
            "--trainer.max_epochs=5",
            "--model.test_iwae_samples=0",
            "--seed_everything=2021",
            "--test_after_fit=true",
        )
        runs += [
            Run("vae", "zero-shot", ()),
            Run("vae", "lora r=8", ("--config", finetune)),
            Run(
                "vae",
                "full fine-tune",
                (
                    "--config",
                    "configs/generative/vae_mnist.yaml",
                    "--model.init_from=vae.mnist",
                    "--model.lr_schedule=constant",
                    *same,
                ),
            ),
            Run(
                "vae",
                "scratch",
                ("--config", "configs/generative/vae_mnist.yaml", "--model.lr_schedule=constant", *same),
            ),
        ]
    return runs


def trainable_parameters(run: Run) -> int:
    """Parameters the run trains: the adapter's for LoRA, every weight (and RevIN) otherwise."""
    import zoo
    from zoo.adapters import LoraConfig, get_lora_model
    from zoo.adapters.lora import trainable_parameters as count

    name = "vae.mnist" if run.model == "vae" else f"{run.model}.etth1"
    model = zoo.create_model(name, pretrained=True)
    if not run.method.startswith("lora"):
        return sum(p.numel() for p in model.parameters())
    rank = int(run.method.split("=")[1])
    return count(get_lora_model(getattr(model, "net", model), LoraConfig(r=rank)))[0]


def zero_shot(run: Run) -> dict[str, float]:
    from zoo.conversion import evaluate_pretrained

    if run.model == "vae":
        return evaluate_pretrained(
            "vae.mnist", data_overrides={"dataset": "fashion_mnist", "binarize": "dynamic"}
        )
    return evaluate_pretrained(f"{run.model}.etth1", data_overrides={"dataset": "ETTh2"})


def fit(run: Run, workdir: Path) -> dict[str, float]:
    arguments = [
        "fit",
        *run.arguments,
        f"--seed_everything={SEED}",
        "--test_after_fit=true",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.logger.init_args.save_dir={workdir}",
        "--trainer.logger.init_args.name=run",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "train.py", *arguments], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{run.model} {run.method} failed:\n{result.stderr[-3000:]}")
    rows = list(csv.DictReader(open(next(workdir.glob("run/version_*/metrics.csv")))))
    metrics = {}
    for row in rows:
        metrics.update({k: float(v) for k, v in row.items() if k.startswith("test/") and v})
    # Epochs run: those with a validation row (the test row after fitting carries the next epoch index).
    epochs = {
        int(float(r["epoch"]))
        for r in rows
        if r.get("epoch") and any(k.startswith("val/") and v for k, v in r.items())
    }
    return {**metrics, "epochs": float(len(epochs))}


def execute(run: Run) -> dict:
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="lora-transfer-") as workdir:
        metrics = zero_shot(run) if not run.arguments else fit(run, Path(workdir))
    return {
        "model": run.model,
        "method": run.method,
        "metrics": metrics,
        "wall_s": round(time.time() - started, 1),
        "trainable": trainable_parameters(run) if run.arguments else 0,
        "command": "python train.py fit " + " ".join(run.arguments)
        if run.arguments
        else "evaluate_pretrained",
    }


def render(rows: list[dict], meta: dict) -> str:
    lines = [
        "# LoRA transfer: ETTh1 -> ETTh2 (96 -> 96, features M) and MNIST -> Fashion-MNIST",
        "",
        f"Date {meta['date']}, device {meta['device']}, torch {meta['torch']}, lightning {meta['lightning']}, "
        f"git {meta['git']}.",
        f"Command: `{meta['command']}`",
        "",
        f"Seed {SEED}, one run per row; fits use early stopping on the target's validation split and test the "
        "best checkpoint. Forecasters: test MSE / MAE on ETTh2's standardised scale, every window. VAE: test "
        "negative ELBO (nats) on dynamically binarised Fashion-MNIST. Wall time: the whole `train.py fit` "
        "(or the evaluation), one CPU thread, two runs at a time.",
        "",
        "| model | method | test MSE | test MAE | neg. ELBO | trainable params | epochs | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m = row["metrics"]
        mse = f"{m['test/mse']:.4f}" if "test/mse" in m else ""
        mae = f"{m['test/mae']:.4f}" if "test/mae" in m else ""
        elbo = f"{m['test/neg_elbo']:.2f}" if "test/neg_elbo" in m else ""
        epochs = f"{m['epochs']:.0f}" if "epochs" in m else ""
        trainable = f"{row['trainable']:,}" if row["trainable"] else "0"
        lines.append(
            f"| {row['model']} | {row['method']} | {mse} | {mae} | {elbo} | {trainable} | {epochs} | "
            f"{row['wall_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(FORECASTERS), choices=list(FORECASTERS))
    parser.add_argument("--no-vae", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lora_transfer")
    parser.add_argument("--render-only", action="store_true", help="rewrite <out>.md from <out>.json")
    options = parser.parse_args()
    if options.render_only:
        saved = json.loads(options.out.with_suffix(".json").read_text())
        options.out.with_suffix(".md").write_text(render(saved["rows"], saved["meta"]))
        return
    partial = options.out.with_suffix(".partial.jsonl")
    done = (
        [json.loads(line) for line in partial.read_text().splitlines()]
        if options.resume and partial.exists()
        else []
    )
    if not options.resume:
        partial.unlink(missing_ok=True)
    finished = {(r["model"], r["method"]) for r in done}
    runs = [r for r in plan(options.models, not options.no_vae) if (r.model, r.method) not in finished]

    def record(run: Run) -> dict:
        row = execute(run)
        with open(partial, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"{run.model} {run.method}: {row['metrics']} in {row['wall_s']} s", flush=True)
        return row

    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        rows = done + list(pool.map(record, runs))
    order = {(r.model, r.method): i for i, r in enumerate(plan(list(FORECASTERS), True))}
    rows.sort(key=lambda r: order.get((r["model"], r["method"]), 0))
    meta = run_metadata("cpu")
    options.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    options.out.with_suffix(".md").write_text(render(rows, meta))


if __name__ == "__main__":
    main()
