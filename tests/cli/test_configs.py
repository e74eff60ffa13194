"""Every committed forecasting and generative config parses, builds its model against the real data and trains one step."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from zoo.cli import main

FORECASTING = REPO / "configs" / "forecasting"
# The per-position Transformer files are overrides on top of transformer_etth1.yaml.
OVERLAYS = sorted(FORECASTING.glob("transformer_*_etth1.yaml"))
STANDALONE = sorted(set(FORECASTING.glob("*.yaml")) - set(OVERLAYS))
CASES = [pytest.param([p], id=p.stem) for p in STANDALONE] + [
    pytest.param([FORECASTING / "transformer_etth1.yaml", p], id=p.stem) for p in OVERLAYS
]


@pytest.mark.parametrize("configs", CASES)
def test_config_trains_one_step(configs: list[Path], tmp_path: Path, data_dir: Path) -> None:
    args = (
        ["fit"]
        + [arg for path in configs for arg in ("--config", str(path))]
        + [
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=1",
            "--trainer.limit_val_batches=1",
            "--trainer.limit_test_batches=1",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--data.batch_size=4",
        ]
    )
    cli = main(args)
    assert {"val/mse", "test/mse"} & set(cli.trainer.callback_metrics)  # test/* only after test_after_fit
    if len(configs) == 2:
        assert cli.model.net.position == configs[1].stem.split("_")[1]


GENERATIVE = sorted((REPO / "configs" / "generative").glob("*.yaml"))


@pytest.mark.parametrize("config", GENERATIVE, ids=[p.stem for p in GENERATIVE])
def test_generative_config_trains_one_step(config: Path, tmp_path: Path, data_dir: Path) -> None:
    args = [
        "fit",
        "--config",
        str(config),
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=1",
        "--trainer.limit_val_batches=1",
        "--trainer.limit_test_batches=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.check_val_every_n_epoch=1",
        "--trainer.enable_model_summary=false",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--data.batch_size=8",
        "--model.test_iwae_samples=4",
    ]
    cli = main(args)
    from zoo.tasks import GenerativeTask

    assert isinstance(cli.model, GenerativeTask)
    assert cli.model.net.image_shape == cli.datamodule.image_shape == (1, 28, 28)  # linked
    assert {"test/neg_elbo", "test/nll_iwae", "test/active_units"} <= set(cli.trainer.callback_metrics)
