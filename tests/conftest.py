"""Shared fixtures. Real datasets come from ZOO_DATA_DIR (CI: ../shared/data); tests that need them skip
with a clear reason when it is unset.

Without a CUDA device the Triton kernels run in Triton's interpreter, which must be switched on before
``triton`` is first imported: this conftest is loaded before any test module, so it sets
TRITON_INTERPRET=1 here (importing torch does not import triton).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)


def _data_dir() -> Path | None:
    value = os.environ.get("ZOO_DATA_DIR")
    return Path(value).resolve() if value else None


@pytest.fixture
def data_dir() -> Path:
    """The real-data directory; skips the test when ZOO_DATA_DIR is unset."""
    path = _data_dir()
    if path is None or not path.is_dir():
        pytest.skip("ZOO_DATA_DIR is not set to the shared data directory")
    return path


@pytest.fixture
def etth1_csv(data_dir: Path) -> Path:
    return data_dir / "ett" / "ETTh1.csv"


@pytest.fixture
def wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The real ``wandb`` library in offline mode, writing runs (and staged artifacts) under ``tmp_path``;
    skips when wandb is not installed. Any run an earlier test left open is finished first, since
    ``WandbLogger`` would otherwise reuse it."""
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    wandb.finish()
    yield wandb
    wandb.finish()
