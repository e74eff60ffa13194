"""The standard long-horizon benchmark: the ETTh1 configs run on every dataset of the TSLib leaderboard,
and one table of every result beside the published rows.

    # train and test: one forecast_accuracy sweep per dataset (results/standard_<dataset>.{md,json})
    python benchmarks/standard_benchmark.py run --datasets ETTh2 ETTm1 ETTm2 weather exchange_rate illness \\
        --config dlinear=configs/forecasting/dlinear_etth1.yaml --config rlinear=configs/forecasting/rlinear_etth1.yaml \\
        --seeds 2021
    # the leaderboard from every results file that has these datasets (results/leaderboard.md)
    python benchmarks/standard_benchmark.py table --out benchmarks/results/leaderboard

Protocol (Time-Series-Library's long-term forecasting scripts): features M, lookback 96 (start token 48)
and horizons 96/192/336/720, except illness: lookback 36 (start token 18), horizons 24/36/48/60. ETT
files use the Informer borders, the others 70/10/20 % by rows; weather keeps its duplicate timestamp
and its -9999 cells as TSLib reads them (``timestamps="ignore"``, ``missing="raw"``). The configs'
hyperparameters are the ones chosen on ETTh1's validation split; nothing is tuned per dataset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))

from benchmarks.published import PUBLISHED  # noqa: E402


@dataclass(frozen=True)
class Protocol:
    """How one dataset is read and forecast: its data overrides and horizons."""

    overrides: tuple[str, ...]
    horizons: tuple[int, ...]


LONG = (96, 192, 336, 720)
PROTOCOLS: dict[str, Protocol] = {
    "ETTh1": Protocol((), LONG),
    "ETTh2": Protocol(("--data.dataset=ETTh2",), LONG),
    "ETTm1": Protocol(("--data.dataset=ETTm1",), LONG),
    "ETTm2": Protocol(("--data.dataset=ETTm2",), LONG),
    "weather": Protocol(("--data.dataset=weather", "--data.timestamps=ignore", "--data.missing=raw"), LONG),
    "exchange_rate": Protocol(("--data.dataset=exchange_rate",), LONG),
    "illness": Protocol(
        ("--data.dataset=illness", "--data.seq_len=36", "--data.label_len=18"), (24, 36, 48, 60)
    ),
}


def run(args: argparse.Namespace) -> None:
    """One ``forecast_accuracy.py`` sweep per dataset, the dataset's overrides after each config's own."""
    for dataset in args.datasets:
        protocol = PROTOCOLS[dataset]
        configs = []
        for item in args.config:
            configs += ["--config", "::".join([item, *protocol.overrides])]
        command = [
            sys.executable,
            str(REPO / "benchmarks" / "forecast_accuracy.py"),
            *configs,
            "--dataset",
            dataset,
            "--seeds",
            *map(str, args.seeds),
            "--horizons",
            *map(str, args.horizons or protocol.horizons),
            "--jobs",
            str(args.jobs),
            "--out",
            str(RESULTS / f"{args.prefix}{dataset.lower()}"),
        ]
        if args.resume:
            command.append("--resume")
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True)


def _dataset_of(meta: dict, stem: str) -> str | None:
    """The dataset a results file measured: from its recorded command (``--dataset X``), else ETTh1."""
    words = meta.get("command", "").split()
    if "--dataset" in words:
        return words[words.index("--dataset") + 1]
    return "ETTh1" if stem.startswith("etth1") else None


def collect(stems: list[str], root: Path = RESULTS) -> dict[tuple[str, str, int], list[dict]]:
    """(dataset, model name, horizon) -> the runs of that cell, from ``<root>/<stem>.json``."""
    cells: dict[tuple[str, str, int], list[dict]] = {}
    for stem in stems:
        record = json.loads((root / f"{stem}.json").read_text())
        dataset = _dataset_of(record["meta"], stem)
        if dataset is None:
            continue
        for result in record["results"]:
            cells.setdefault((dataset, result["name"], result["horizon"]), []).append(result)
    return cells


def _cell(runs: list[dict]) -> str:
    mse = statistics.mean(r["metrics"]["test/mse"] for r in runs)
    mae = statistics.mean(r["metrics"]["test/mae"] for r in runs)
    return f"{mse:.3f} / {mae:.3f}" + ("" if len(runs) > 1 else " (1 seed)")


def leaderboard(
    stems: list[str], published_models: list[str], root: Path = RESULTS, notes: tuple[str, ...] = ()
) -> str:
    """The leaderboard markdown: per dataset and horizon, every model's mean MSE / MAE over its runs, and
    the published rows of ``published_models`` (``benchmarks/published.py``) beside them."""
    cells = collect(stems, root)
    models = list(dict.fromkeys(name for _, name, _ in cells))
    published = [model for model in published_models if any(key[0] == model for key in PUBLISHED)]
    lines = [
        "# Standard long-horizon benchmark (features M, test MSE / MAE on the standardised scale)",
        "",
        "Lookback 96 (illness: 36). zoo columns: mean over the seeds run (3 on ETTh1; '(1 seed)' marks",
        "one), every test window, best-validation checkpoint, the ETTh1 configs' hyperparameters unless",
        "noted. Published columns: `benchmarks/published.py`, sources below. Results files: "
        + ", ".join(f"`{s}.json`" for s in stems)
        + ".",
        *notes,
        "",
        "| dataset | horizon | " + " | ".join(models + [f"published {m}" for m in published]) + " |",
        "|---|---|" + "---|" * (len(models) + len(published)),
    ]
    sources: list[str] = []
    for dataset, protocol in PROTOCOLS.items():
        for horizon in protocol.horizons:
            row = [
                _cell(cells[(dataset, m, horizon)]) if (dataset, m, horizon) in cells else "" for m in models
            ]
            if not any(row):
                continue
            for model in published:
                entry = PUBLISHED.get((model, dataset, horizon))
                if entry is not None and entry.source not in sources:
                    sources.append(entry.source)
                row.append(
                    f"{entry.mse:.3f} / {entry.mae:.3f} [{sources.index(entry.source) + 1}]" if entry else ""
                )
            lines.append(f"| {dataset} | {horizon} | " + " | ".join(row) + " |")
    lines += ["", "Sources:", *[f"[{i + 1}] {text}" for i, text in enumerate(sources)]]
    return "\n".join(lines) + "\n"


def table(args: argparse.Namespace) -> None:
    """Write and print the leaderboard (``<out>.md``)."""
    out = Path(args.out).with_suffix(".md")
    out.write_text(leaderboard(args.stems, args.published, notes=tuple(args.note)))
    print(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    run_parser = verbs.add_parser("run", help="train and test the configs on the datasets")
    run_parser.add_argument("--config", action="append", required=True, help="name=path[::override ...]")
    run_parser.add_argument("--datasets", nargs="+", choices=list(PROTOCOLS), required=True)
    run_parser.add_argument("--seeds", type=int, nargs="+", default=[2021])
    run_parser.add_argument("--horizons", type=int, nargs="+", help="default: the dataset's four")
    run_parser.add_argument("--jobs", type=int, default=1)
    run_parser.add_argument("--prefix", default="standard_", help="results file stem before the dataset")
    run_parser.add_argument("--resume", action="store_true", help="passed to forecast_accuracy.py")
    table_parser = verbs.add_parser("table", help="write the leaderboard from results files")
    table_parser.add_argument("--stems", nargs="+", required=True, help="results/<stem>.json files to read")
    table_parser.add_argument("--published", nargs="*", default=[], help="published models to add as columns")
    table_parser.add_argument("--note", action="append", default=[], help="a line added under the header")
    table_parser.add_argument("--out", default=str(RESULTS / "leaderboard"))
    args = parser.parse_args()
    run(args) if args.verb == "run" else table(args)


if __name__ == "__main__":
    main()
