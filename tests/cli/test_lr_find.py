"""``train.py lr_find``: the range test's suggestion, its plot and curve with digests, and its errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from zoo.cli import main

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--model.net.init_args.hidden_size", "16"]


def test_lr_find_prints_a_suggestion_and_writes_the_plot_and_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    plot = tmp_path / "out" / "lr.png"
    main(["lr_find", *QUICK, "--num_training", "20", "--max_lr", "0.1", "--plot", str(plot)])
    printed = capsys.readouterr().out
    assert "suggested learning rate:" in printed
    suggestion = float(printed.split("suggested learning rate:")[1].split()[0])
    curve = pd.read_csv(plot.with_suffix(".csv"))
    assert list(curve.columns) == ["lr", "loss"] and len(curve) == 20
    assert curve["lr"].is_monotonic_increasing and curve["lr"].iloc[0] == pytest.approx(1e-7)
    assert curve["lr"].min() <= suggestion <= curve["lr"].max()
    for path in (plot, plot.with_suffix(".csv")):
        recorded = path.with_name(path.name + ".sha256").read_text().split()[0]
        assert recorded == hashlib.sha256(path.read_bytes()).hexdigest()
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit) as refused:  # nothing existing is overwritten unless asked
        main(["lr_find", *QUICK, "--num_training", "20", "--plot", str(plot)])
    assert refused.value.code == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--min_lr", "1", "--max_lr", "0.1"], "need 0 < --min_lr < --max_lr"),
        (["--num_training", "1"], "--num_training must be at least 2"),
        (["--plot", "lr.jpg"], "must name a .png file"),
        (["--model.optimizer.name", "adagrad"], "optimizer.name"),
    ],
)
def test_lr_find_errors_are_one_line(
    options: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        main(["lr_find", *QUICK, *options])
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not list(tmp_path.glob("*.png"))


def test_help_lists_lr_find(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "lr_find" in capsys.readouterr().out
