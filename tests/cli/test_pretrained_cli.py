"""The CLI around pretrained models: export after fit, test --model.pretrained, fit --model.init_from,
the list and convert verbs, weights_only checkpoints, and W&B (offline, real library)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO
from tests.helpers import PickleExploit, read_wandb_records
from zoo import hub
from zoo.cli import build_cli, main

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")


def _fast(tmp_path: Path) -> list[str]:
    return [
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=3",
        "--trainer.limit_val_batches=2",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
    ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quickstart LSTM (with RevIN) fitted, tested and exported by ``fit --export_pretrained``."""
    tmp_path = tmp_path_factory.mktemp("exported")
    target = tmp_path / "lstm.synthetic"
    main(
        [
            "fit",
            "--config",
            QUICKSTART,
            *_fast(tmp_path),
            "--model.net.init_args.hidden_size=8",
            "--model.net.init_args.revin=true",
            "--test_after_fit=true",
            f"--export_pretrained={target}",
        ]
    )
    return target


def test_fit_exports_a_pretrained_directory_with_its_test_metrics(exported: Path) -> None:
    config = hub.PretrainedConfig.from_file(exported / "config.json")
    assert (
        config.architecture == "lstm" and config.model_args["revin"] is True and config.instance_norm is None
    )
    assert {"test/mse", "test/mae", "test/mse_orig"} <= set(config.metrics)
    assert (
        config.preprocessing["dataset"] == "synthetic"
        and len(config.preprocessing["target_scaler"]["std"]) == 4
    )
    assert "--export_pretrained" in config.training_command and config.training["global_step"] > 0


def test_test_with_model_pretrained_reproduces_the_exported_metrics(exported: Path, tmp_path: Path) -> None:
    cli = main(
        [
            "test",
            "--model.pretrained",
            str(exported),
            "--trainer.enable_progress_bar=false",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
        ]
    )
    config = hub.PretrainedConfig.from_file(exported / "config.json")
    measured = {k: float(v) for k, v in cli.trainer.callback_metrics.items()}
    for key in ("test/mse", "test/mae", "test/mse_orig", "test/mae_orig"):
        assert measured[key] == pytest.approx(config.metrics[key], abs=1e-6), key
    # the forecast figure of a few test windows sits beside the CSV metrics
    assert list(Path(cli.trainer.logger.log_dir).glob("images/test_forecasts_step*.png"))


def test_fit_with_init_from_starts_from_the_pretrained_weights(exported: Path, tmp_path: Path) -> None:
    cli = build_cli(["--config", QUICKSTART, "--model.init_from", str(exported), *_fast(tmp_path)], run=False)
    pretrained = hub.from_pretrained(exported)
    assert cli.model.net.revin is not None  # filled in from config.json
    for key, value in pretrained.state_dict().items():
        assert torch.equal(cli.model.net.state_dict()[key], value), key
    # user options still win over the pretrained config: a different architecture is a clear error
    with pytest.raises(hub.ArchitectureMismatchError, match="holds a 'lstm'.*net is a TCNForecaster"):
        build_cli(
            [
                "--config",
                QUICKSTART,
                "--model.init_from",
                str(exported),
                "--model.net=zoo.models.TCNForecaster",
                *_fast(tmp_path),
            ],
            run=False,
        )


def test_convert_verb_and_list_verb(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    best = next((exported.parent / "lightning_logs").glob("version_0/checkpoints/epoch*.ckpt"))
    root = tmp_path / "shipped"
    main(["convert", str(best), str(root / "lstm.converted"), "--dtype", "float16", "--evaluate"])
    converted = hub.PretrainedConfig.from_file(root / "lstm.converted" / "config.json")
    original = hub.PretrainedConfig.from_file(exported / "config.json")
    assert converted.weights_dtype == "float16"
    assert converted.metrics["test/mse"] == pytest.approx(original.metrics["test/mse"], rel=1e-2)
    hub.write_manifest(root)
    monkeypatch.setenv("ZOO_PRETRAINED_DIR", str(root))
    capsys.readouterr()
    main(["list"])
    out = capsys.readouterr().out
    assert "pretrained models" in out and "lstm.converted" in out and "synthetic" in out and "mse" in out


def test_cli_reads_checkpoints_with_weights_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "payload": PickleExploit(marker)}, evil)
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--config", QUICKSTART, *_fast(tmp_path), f"--ckpt_path={evil}"])
    assert exit_info.value.code == 2
    assert "never unpickles" in capsys.readouterr().err
    assert not marker.exists()


def test_wandb_offline_run_records_config_metrics_forecasts_and_the_artifact(
    tmp_path: Path, wandb_offline
) -> None:
    target = tmp_path / "lstm.wandb"
    cli = main(
        [
            "fit",
            "--config",
            QUICKSTART,
            *_fast(tmp_path)[:-1],
            "--model.net.init_args.hidden_size=8",
            "--trainer.logger=WandbLogger",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--trainer.logger.init_args.project=zoo-tests",
            "--test_after_fit=true",
            f"--export_pretrained={target}",
        ]
    )
    run_dir = Path(cli.trainer.logger.experiment.dir).parent
    wandb_offline.finish()
    records = read_wandb_records(next(run_dir.glob("run-*.wandb")))
    by_kind: dict[str, list] = {}
    for record in records:
        by_kind.setdefault(record.WhichOneof("record_type"), []).append(record)
    configs = {
        item.key: json.loads(item.value_json) for record in by_kind["config"] for item in record.config.update
    }
    net = configs["cli"]["model"]["net"]  # the whole CLI config, not only the task's hyperparameters
    assert net["class_path"] == "zoo.models.RNNForecaster" and net["init_args"]["hidden_size"] == 8
    logged = {
        "/".join(item.nested_key) or item.key for record in by_kind["history"] for item in record.history.item
    }
    assert {
        "val/mse",
        "test/mse",
        "test/mse_orig",
        "test/forecasts/filenames",
    } <= logged  # metrics and the plot
    assert list((run_dir / "files" / "media" / "images" / "test").glob("forecasts_*.png"))
    (artifact,) = (record.artifact for record in by_kind["artifact"])
    assert artifact.name == "lstm.wandb" and artifact.type == "model"
    assert {entry.path for entry in artifact.manifest.contents} == {"config.json", "model.safetensors"}
    assert (target / "model.safetensors").is_file()
