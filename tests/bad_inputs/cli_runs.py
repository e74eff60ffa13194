"""Running ``train.py`` in-process for the bad-input catalogue: exit status and stderr of one command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from zoo.cli import main

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")


def fast(save_dir: Path, name: str = "lightning_logs", hidden: int = 8) -> list[str]:
    """Options that make a quickstart run take about a second, logging under ``save_dir/name``."""
    return [
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=3",
        "--trainer.limit_val_batches=2",
        "--trainer.limit_test_batches=2",
        "--trainer.limit_predict_batches=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.logger.init_args.save_dir={save_dir}",
        f"--trainer.logger.init_args.name={name}",
        f"--model.net.init_args.hidden_size={hidden}",
        "--test_after_fit=false",
    ]


@dataclass
class Outcome:
    """What one command did: its exit status (0 when it returned) and its stderr."""

    code: int
    err: str
    cli: Any = None

    @property
    def error_line(self) -> str:
        lines = [line for line in self.err.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, f"expected one 'error:' line, got:\n{self.err[-3000:]}"
        return lines[0]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    """Run ``train.py args`` in this process; a failure must be a SystemExit, never another exception."""
    capsys.readouterr()
    try:
        cli = main(args)
    except SystemExit as exit_info:
        code = exit_info.code if isinstance(exit_info.code, int) else 1
        return Outcome(code, capsys.readouterr().err)
    return Outcome(0, capsys.readouterr().err, cli)


def assert_user_error(outcome: Outcome, *fragments: str) -> str:
    """Exit status 2, one ``error:`` line holding every fragment, and no traceback."""
    assert outcome.code == 2, outcome.err[-3000:]
    assert "Traceback" not in outcome.err
    line = outcome.error_line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line
