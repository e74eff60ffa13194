"""The standard benchmark's leaderboard: cells from results files, published columns, the protocol."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.published import PUBLISHED
from benchmarks.standard_benchmark import PROTOCOLS, leaderboard


def _record(path: Path, dataset: str, rows: list[tuple[str, int, int, float, float]]) -> None:
    command = f"python benchmarks/forecast_accuracy.py --config x=y --dataset {dataset} --out z"
    results = [
        {"name": name, "horizon": horizon, "seed": seed, "metrics": {"test/mse": mse, "test/mae": mae}}
        for name, horizon, seed, mse, mae in rows
    ]
    path.write_text(json.dumps({"meta": {"command": command}, "results": results}))


def test_cells_are_seed_means_beside_the_published_rows(tmp_path: Path) -> None:
    _record(
        tmp_path / "a.json",
        "ETTh2",
        [
            ("dlinear", 96, 2021, 0.30, 0.36),
            ("dlinear", 96, 2022, 0.32, 0.38),
            ("rlinear", 192, 2021, 0.4, 0.41),
        ],
    )
    _record(tmp_path / "b.json", "illness", [("dlinear", 24, 2021, 2.5, 1.1)])
    text = leaderboard(["a", "b"], ["dlinear"], root=tmp_path)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| dataset |"))
    assert header == "| dataset | horizon | dlinear | rlinear | published dlinear |"
    published = PUBLISHED[("dlinear", "ETTh2", 96)]
    assert f"| ETTh2 | 96 | 0.310 / 0.370 |  | {published.mse:.3f} / {published.mae:.3f} [1] |" in lines
    assert any(line.startswith("| ETTh2 | 192 |  | 0.400 / 0.410 (1 seed) |") for line in lines)
    assert any(line.startswith("| illness | 24 | 2.500 / 1.100 (1 seed) |") for line in lines)
    assert not any(line.startswith("| ETTh1 |") for line in lines)  # no zoo run there: no row
    assert (
        "[1] " + published.source in lines and "[2] " + PUBLISHED[("dlinear", "illness", 24)].source in lines
    )


def test_protocols_are_tslibs() -> None:
    assert set(PROTOCOLS) == {"ETTh1", "ETTh2", "ETTm1", "ETTm2", "weather", "exchange_rate", "illness"}
    assert PROTOCOLS["illness"].horizons == (24, 36, 48, 60)
    assert "--data.seq_len=36" in PROTOCOLS["illness"].overrides
    assert {"--data.timestamps=ignore", "--data.missing=raw"} <= set(PROTOCOLS["weather"].overrides)
    assert all(p.horizons == (96, 192, 336, 720) for name, p in PROTOCOLS.items() if name != "illness")
