"""Accuracy benchmark: train and test forecasting configs over seeds and horizons, write md + json.

    python benchmarks/forecast_accuracy.py \
        --config naive=configs/forecasting/naive_etth1.yaml \
        --config lstm=configs/forecasting/lstm_etth1.yaml \
        --seeds 2021 2022 2023 --horizons 96 192 336 720 --jobs 4 --out benchmarks/results/etth1_rnn

Each (config, horizon, seed) is one ``train.py fit`` in its own process (``--jobs`` run at once),
followed by a test of the checkpoint with the best ``val/mse``; metrics are on every test window
unless the config sets ``data.eval_drop_last``. A ``name=path`` config may carry CLI overrides after
a ``::`` separator, e.g. ``lstm_revin=configs/forecasting/lstm_etth1.yaml::--model.net.init_args.revin=true``.
``--resume`` keeps the runs an interrupted sweep recorded in ``<out>.partial.jsonl``.
The markdown table gives mean ± std over seeds beside the published figure in ``published.py``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.environment import device_name, run_metadata  # noqa: E402
from benchmarks.published import PUBLISHED  # noqa: E402
from benchmarks.workers import append_record, entry_point, run_worker  # noqa: E402


def run_one(config: str, overrides: list[str], horizon: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Fit + test one configuration in this process; returns the metrics and bookkeeping."""
    import torch

    from zoo.cli import build_cli

    args = [
        "--config",
        config,
        *overrides,
        f"--data.pred_len={horizon}",
        f"--seed_everything={seed}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.logger.init_args.save_dir={workdir}",
        "--test_after_fit=false",
    ]
    start = time.perf_counter()
    cli = build_cli(args, run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    fit_seconds = time.perf_counter() - start
    checkpoint = cli.trainer.checkpoint_callback
    best = checkpoint.best_model_path or None
    best_val = float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None
    metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=best, verbose=False)[0]
    return {
        "horizon": horizon,
        "seed": seed,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "best_val_mse": best_val,
        "epochs": cli.trainer.current_epoch,
        "best_checkpoint_epoch": _epoch_of(best),
        "fit_seconds": round(fit_seconds, 2),
        "windows": cli.datamodule.num_windows,
        "trainable_parameters": sum(p.numel() for p in cli.model.parameters() if p.requires_grad),
        "device": device_name("cuda" if torch.cuda.is_available() else "cpu"),
    }


def _epoch_of(path: str | None) -> int | None:
    if not path or "epoch" not in Path(path).name:
        return None
    return int(Path(path).name.split("epoch")[1].split("-")[0])


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    return run_one(spec["config"], spec["overrides"], spec["horizon"], spec["seed"], Path(spec["workdir"]))


def _launch(
    name: str, config: str, overrides: list[str], horizon: int, seed: int, tmp: Path, partial: Path
) -> dict[str, Any]:
    stem = f"{name}_h{horizon}_s{seed}"
    spec = {
        "config": config,
        "overrides": overrides,
        "horizon": horizon,
        "seed": seed,
        "workdir": str(tmp / stem),
    }
    result = {**run_worker(__file__, spec, tmp, stem), "name": name}
    append_record(partial, result)  # results so far survive an interrupted sweep
    print(f"{stem}: test/mse={result['metrics']['test/mse']:.4f} ({result['fit_seconds']:.0f}s)", flush=True)
    return result


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _markdown(results: list[dict[str, Any]], meta: dict[str, Any], dataset: str) -> str:
    lines = [
        f"# Forecasting accuracy: {dataset}",
        "",
        f"Date {meta['date']}, device {meta['device']}, torch {meta['torch']}, lightning {meta['lightning']}, "
        f"git {meta['git']}.",
        f"Command: `{meta['command']}`",
        "",
        "Test MSE / MAE on the standardised scale (mean ± sample std over seeds "
        f"{', '.join(map(str, meta['seeds']))}), every test window unless noted; best-val checkpoint.",
        "",
        "| model | horizon | test windows | MSE | MAE | MSE (orig.) | best val MSE | epochs | fit s | published MSE / MAE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    sources: list[str] = []
    names = list(dict.fromkeys(r["name"] for r in results))
    for name in names:
        for horizon in sorted({r["horizon"] for r in results if r["name"] == name}):
            rows = [r for r in results if r["name"] == name and r["horizon"] == horizon]
            metric = {k: [r["metrics"][k] for r in rows] for k in ("test/mse", "test/mae", "test/mse_orig")}
            vals = [r["best_val_mse"] for r in rows if r.get("best_val_mse") is not None]
            base = name.split("_")[0]
            pub = PUBLISHED.get((base, dataset, horizon))
            if pub is not None and pub.source not in sources:
                sources.append(pub.source)
            pub_text = (
                f"{pub.mse:.3f} / {pub.mae:.3f} [{sources.index(pub.source) + 1}]" if pub else "none found"
            )
            lines.append(
                f"| {name} | {horizon} | {int(rows[0]['metrics']['test/windows'])} | {_mean_std(metric['test/mse'])} | "
                f"{_mean_std(metric['test/mae'])} | {_mean_std(metric['test/mse_orig'])} | "
                f"{_mean_std(vals) if vals else '-'} | "
                f"{statistics.mean(r['epochs'] for r in rows):.1f} | {statistics.mean(r['fit_seconds'] for r in rows):.0f} | "
                f"{pub_text} |"
            )
    lines += ["", "Sources:", *[f"[{i + 1}] {text}" for i, text in enumerate(sources)]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", action="append", default=[], help="name=path[::override ...]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021, 2022, 2023])
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--dataset", default="ETTh1", help="label for the table and published lookup")
    parser.add_argument("--out", required=True, help="output stem: writes <out>.md and <out>.json")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs recorded in <out>.partial.jsonl by an interrupted sweep (same name, "
        "horizon and seed) instead of running them again",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite <out>.md from <out>.json (e.g. after published.py gained figures); trains nothing",
    )
    args = parser.parse_args()
    out = Path(args.out)
    if args.render:
        record = json.loads(out.with_suffix(".json").read_text())
        out.with_suffix(".md").write_text(_markdown(record["results"], record["meta"], args.dataset))
        print(out.with_suffix(".md").read_text())
        return

    if not args.config:
        parser.error("--config is required (unless --render)")
    import torch

    specs = []
    for item in args.config:
        name, _, rest = item.partition("=")
        path, *overrides = rest.split("::")
        specs.append((name, path, [o for part in overrides for o in part.split()]))
    jobs = [(name, path, ov, h, s) for name, path, ov in specs for h in args.horizons for s in args.seeds]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.jsonl")
    done: dict[tuple[str, int, int], dict[str, Any]] = {}
    if args.resume and partial.exists():
        for line in partial.read_text().splitlines():
            record = json.loads(line)
            done[(record["name"], record["horizon"], record["seed"])] = record
    else:
        partial.unlink(missing_ok=True)
    wanted = {(name, h, s) for name, _, _, h, s in jobs}
    partial.write_text("".join(json.dumps(r) + "\n" for key, r in done.items() if key in wanted))
    with tempfile.TemporaryDirectory(prefix="zoo_bench_") as tmp_dir:
        with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {
                i: pool.submit(_launch, *job, Path(tmp_dir), partial)
                for i, job in enumerate(jobs)
                if (job[0], job[3], job[4]) not in done
            }
            results = [
                futures[i].result() if i in futures else done[(job[0], job[3], job[4])]
                for i, job in enumerate(jobs)
            ]
    meta = {**run_metadata("cuda" if torch.cuda.is_available() else "cpu"), "seeds": args.seeds}
    partial.unlink(missing_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    out.with_suffix(".md").write_text(_markdown(results, meta, args.dataset))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    entry_point(main, _worker)
