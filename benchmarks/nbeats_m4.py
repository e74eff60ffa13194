"""N-BEATS on M4: single models and the paper's median ensemble, sMAPE / MASE / OWA beside published figures.

    python benchmarks/nbeats_m4.py --frequency Hourly --architectures generic interpretable \
        --lookbacks 2 3 4 5 6 7 --losses smape mase mape --seeds 2021 --jobs 2 \
        --out benchmarks/results/m4_hourly_nbeats

Each member (architecture x lookback multiple x loss x seed) is one ``train.py fit`` of the committed
config ``configs/forecasting/nbeats_<architecture>_m4_<frequency>.yaml`` in its own process, with
``--data.seq_len = multiple * horizon``, ``--model.loss`` and the seed; ``::``-separated ``--override``
arguments pass more CLI options to every member (e.g. a shorter schedule on CPU). The checkpoint with
the best ``val/smape`` (the last horizon of each training series, never the test set) forecasts the
official test set. The ensemble is the element-wise median of its members' forecasts, as in Oreshkin
et al. (ICLR 2020, section 3.4), reported per architecture and for all members together (the paper's
N-BEATS-I+G). Scores are computed by ``zoo.metrics`` against the official test values and Naive2.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.environment import run_metadata  # noqa: E402
from benchmarks.workers import append_record, entry_point, run_worker  # noqa: E402

# Published M4 figures (sMAPE, MASE, OWA; None where not published per frequency).
PUBLISHED_M4: dict[str, list[tuple[str, float, float | None, float | None, str]]] = {
    "Hourly": [
        (
            "N-BEATS-I+G ensemble (180+180 models)",
            8.197,
            None,
            None,
            "Oreshkin et al., ICLR 2020, App. C.1 Table 13 (all 414 Hourly series are type Other)",
        ),
        (
            "Smyl ES-RNN (M4 winner)",
            9.328,
            None,
            None,
            "Makridakis et al., IJF 2020; consistent with N-BEATS Table 13's difference (-1.132)",
        ),
        ("Naive2 (official)", 18.383, 2.395, 1.0, "M4 organisers; recomputed here from the official files"),
    ],
    "Weekly": [
        (
            "N-BEATS-I+G ensemble (180+180 models)",
            6.117,
            None,
            None,
            "derived: count-weighted mean of the Weekly columns of Oreshkin et al. Table 13 (not printed as such)",
        ),
        (
            "Smyl ES-RNN (M4 winner)",
            7.817,
            None,
            None,
            "Makridakis et al., IJF 2020; consistent with N-BEATS Table 13's differences",
        ),
        ("Naive2 (official)", 9.161, 2.777, 1.0, "M4 organisers; recomputed here from the official files"),
    ],
}


def run_member(
    config: str, overrides: list[str], seq_len: int, loss: str, seed: int, workdir: Path, forecast_file: Path
) -> dict[str, Any]:
    """Fit one member, test its best checkpoint, save its test forecasts (N, P); return its scores."""
    import torch

    from zoo.cli import build_cli

    args = [
        "--config",
        config,
        *overrides,
        f"--data.seq_len={seq_len}",
        f"--model.loss={loss}",
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
    best = cli.trainer.checkpoint_callback.best_model_path or None
    metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=best, verbose=False)[0]
    forecasts = torch.cat(cli.trainer.predict(cli.model, datamodule=cli.datamodule, ckpt_path=best))
    np.save(forecast_file, forecasts[..., 0].double().numpy())
    return {
        "metrics": {k: float(v) for k, v in metrics.items()},
        "fit_seconds": round(fit_seconds, 1),
        "steps": cli.trainer.global_step,
        "best_val_smape": float(cli.trainer.checkpoint_callback.best_model_score or float("nan")),
        "parameters": sum(p.numel() for p in cli.model.parameters()),
    }


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(int(os.environ.get("ZOO_BENCH_THREADS", "1")))
    return run_member(
        spec["config"],
        spec["overrides"],
        spec["seq_len"],
        spec["loss"],
        spec["seed"],
        Path(spec["workdir"]),
        Path(spec["forecast"]),
    )


def _launch(member: dict[str, Any], tmp: Path, store: Path, partial: Path) -> dict[str, Any]:
    stem = member["name"]
    spec = {**member, "workdir": str(tmp / stem), "forecast": str(store / f"{stem}.npy")}
    result = {**member, **run_worker(__file__, spec, tmp, stem)}
    append_record(partial, result)
    m = result["metrics"]
    print(
        f"{stem}: sMAPE {m['test/smape']:.3f} MASE {m['test/mase']:.3f} OWA {m['test/owa']:.3f} "
        f"({result['fit_seconds']:.0f}s)",
        flush=True,
    )
    return result


def ensemble_scores(forecasts: list[np.ndarray], frequency: str) -> dict[str, float]:
    """sMAPE / MASE / OWA of the element-wise median of ``forecasts`` (each (N, P)) on the M4 test set."""
    from zoo.data.m4 import load_m4
    from zoo.metrics import mase, owa, seasonal_naive_scale, smape

    panel = load_m4(frequency)
    scale = np.array([seasonal_naive_scale(h, panel.period) for h in panel.histories()])
    median = np.median(np.stack(forecasts), axis=0)
    s, m = float(smape(median, panel.test)), float(mase(median, panel.test, scale))
    s2, m2 = float(smape(panel.naive2, panel.test)), float(mase(panel.naive2, panel.test, scale))
    return {"smape": s, "mase": m, "owa": owa(s, m, s2, m2), "members": len(forecasts)}


def _mean_std(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _markdown(
    results: list[dict[str, Any]], ensembles: dict[str, dict[str, float]], meta: dict[str, Any]
) -> str:
    freq = meta["frequency"]
    lines = [
        f"# N-BEATS on M4 {freq}",
        "",
        f"Date {meta['date']}, device {meta['device']}, torch {meta['torch']}, lightning {meta['lightning']}, "
        f"git {meta['git']}.",
        f"Command: `{meta['command']}`",
        "",
        f"Official M4 {freq} test set ({meta['series']} series), sMAPE / MASE / OWA as the M4 competition "
        "(zoo.metrics); OWA against the official Naive2 forecasts. Validation (checkpoint choice) is the "
        "last horizon of each training series.",
        "",
        "## Single models (mean ± std over members)",
        "",
        "| architecture | lookback | loss | members | sMAPE | MASE | OWA | steps | fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = list(dict.fromkeys((r["architecture"], r["multiple"], r["loss"]) for r in results))
    for arch, multiple, loss in keys:
        rows = [r for r in results if (r["architecture"], r["multiple"], r["loss"]) == (arch, multiple, loss)]
        col = {k: [r["metrics"][f"test/{k}"] for r in rows] for k in ("smape", "mase", "owa")}
        lines.append(
            f"| {arch} | {multiple}H | {loss} | {len(rows)} | {_mean_std(col['smape'])} | "
            f"{_mean_std(col['mase'])} | {_mean_std(col['owa'])} | {rows[0]['steps']} | "
            f"{statistics.mean(r['fit_seconds'] for r in rows):.0f} |"
        )
    for arch in dict.fromkeys(r["architecture"] for r in results):
        col = {
            k: [r["metrics"][f"test/{k}"] for r in results if r["architecture"] == arch]
            for k in ("smape", "mase", "owa")
        }
        lines.append(
            f"| **{arch}, all single models** | | | {len(col['smape'])} | {_mean_std(col['smape'])} | "
            f"{_mean_std(col['mase'])} | {_mean_std(col['owa'])} | | |"
        )
    lines += [
        "",
        "## Median ensembles",
        "",
        "| ensemble | members | sMAPE | MASE | OWA |",
        "|---|---|---|---|---|",
    ]
    for name, score in ensembles.items():
        lines.append(
            f"| {name} | {score['members']} | {score['smape']:.3f} | {score['mase']:.3f} | {score['owa']:.3f} |"
        )
    lines += ["", "## Published", "", "| method | sMAPE | MASE | OWA | source |", "|---|---|---|---|---|"]
    for method, s, m, o, source in PUBLISHED_M4.get(freq, []):
        fmt = lambda v: "not published" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"| {method} | {s:.3f} | {fmt(m)} | {fmt(o)} | {source} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frequency", choices=["Hourly", "Weekly"], required=True)
    parser.add_argument(
        "--architectures",
        nargs="+",
        default=["generic", "interpretable"],
        choices=["generic", "interpretable"],
    )
    parser.add_argument(
        "--lookbacks",
        type=int,
        nargs="+",
        default=[2, 3, 4, 5, 6, 7],
        help="lookback multiples of the horizon",
    )
    parser.add_argument(
        "--losses", nargs="+", default=["smape", "mase", "mape"], choices=["smape", "mase", "mape"]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021])
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        help="CLI options for every member; 'generic:--opt=v' applies to one architecture only",
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", required=True, help="output stem: writes <out>.md and <out>.json")
    parser.add_argument("--resume", action="store_true", help="keep members recorded in <out>.partial.jsonl")
    args = parser.parse_args()

    import torch

    from zoo.data.m4 import m4_frequency

    horizon = m4_frequency(args.frequency).horizon
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    store = out.parent / f"{out.name}_forecasts"  # per-member test forecasts, for re-ensembling (git-ignored)
    store.mkdir(exist_ok=True)
    members = []
    for arch in args.architectures:
        config = str(REPO / "configs" / "forecasting" / f"nbeats_{arch}_m4_{args.frequency.lower()}.yaml")
        overrides = []
        for item in args.override:
            scope, sep, option = item.partition(":")
            if sep and scope in ("generic", "interpretable") and option.startswith("--"):
                overrides += [option] if scope == arch else []
            else:
                overrides.append(item)
        for multiple in args.lookbacks:
            for loss in args.losses:
                for seed in args.seeds:
                    members.append(
                        {
                            "name": f"{arch}_L{multiple}H_{loss}_s{seed}",
                            "architecture": arch,
                            "multiple": multiple,
                            "loss": loss,
                            "seed": seed,
                            "config": config,
                            "overrides": overrides,
                            "seq_len": multiple * horizon,
                        }
                    )
    partial = out.with_suffix(".partial.jsonl")
    done: dict[str, dict[str, Any]] = {}
    if args.resume and partial.exists():
        done = {
            r["name"]: r
            for r in map(json.loads, partial.read_text().splitlines())
            if (store / f"{r['name']}.npy").exists()
        }
    partial.write_text("".join(json.dumps(r) + "\n" for r in done.values()))
    with tempfile.TemporaryDirectory(prefix="zoo_m4_") as tmp, cf.ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            m["name"]: pool.submit(_launch, m, Path(tmp), store, partial)
            for m in members
            if m["name"] not in done
        }
        results = [done[m["name"]] if m["name"] in done else futures[m["name"]].result() for m in members]
    forecasts = {r["name"]: np.load(store / f"{r['name']}.npy") for r in results}
    ensembles: dict[str, dict[str, float]] = {}
    for arch in args.architectures:
        ensembles[f"{arch} (median)"] = ensemble_scores(
            [forecasts[r["name"]] for r in results if r["architecture"] == arch], args.frequency
        )
    if len(args.architectures) > 1:
        ensembles["generic + interpretable (median)"] = ensemble_scores(
            list(forecasts.values()), args.frequency
        )
    meta = {
        **run_metadata("cuda" if torch.cuda.is_available() else "cpu"),
        "frequency": args.frequency,
        "series": len(next(iter(forecasts.values()))),
    }
    partial.unlink(missing_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "members": results, "ensembles": ensembles}, indent=1)
    )
    out.with_suffix(".md").write_text(_markdown(results, ensembles, meta))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    entry_point(main, _worker)
