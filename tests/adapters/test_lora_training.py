"""LoRA through Lightning and the CLI: only the adapter trains, the base stays bit-identical, checkpoints
hold the adapter, resuming is exact, the exported adapter merges into a pretrained model that reproduces
the run, and every fine-tuning config trains a step on the real data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from tests.conftest import REPO
from zoo import hub
from zoo.adapters.lora import base_state_dict, lora_layers
from zoo.cli import main
from zoo.conversion import load_checkpoint
from zoo.tasks import ForecastingTask
from zoo.tasks.checkpoints import LORA_KEY

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")
FINETUNE = sorted((REPO / "configs" / "finetune").glob("*.yaml"))


def _fast(tmp_path: Path, epochs: int = 1) -> list[str]:
    return [
        f"--trainer.max_epochs={epochs}",
        "--trainer.limit_train_batches=4",
        "--trainer.limit_val_batches=2",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
    ]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small pretrained LSTM (RevIN on) on the embedded synthetic series."""
    tmp_path = tmp_path_factory.mktemp("base")
    target = tmp_path / "lstm.synthetic"
    main(
        [
            "fit",
            "--config",
            QUICKSTART,
            *_fast(tmp_path),
            "--model.net.init_args.hidden_size=8",
            "--model.net.init_args.revin=true",
            f"--export_pretrained={target}",
        ]
    )
    return target


def _lora_args(base: Path, tmp_path: Path, epochs: int = 1, name: str = "lora") -> list[str]:
    return [
        "--config",
        QUICKSTART,
        "--model.init_from",
        str(base),
        "--model.lora.r=2",
        "--model.lora.lora_alpha=4",
        "--model.optimizer.lr=0.01",
        *_fast(tmp_path, epochs),
        f"--trainer.logger.init_args.name={name}",
    ]


def test_only_the_adapter_trains_and_the_base_stays_bit_identical(base: Path, tmp_path: Path) -> None:
    cli = main(["fit", *_lora_args(base, tmp_path), "--test_after_fit=false"])
    task = cli.model
    trainable = [n for n, p in task.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    pretrained = hub.from_pretrained(base)
    for key, value in base_state_dict(task.net).items():
        assert torch.equal(value, pretrained.state_dict()[key]), key
    for key, value in task.net.revin.state_dict().items():
        assert torch.equal(value, pretrained.revin.state_dict()[key]), key
    assert any(
        layer.lora_B["default"]["weight"].abs().sum() > 0
        for _, layer in lora_layers(task.net)
        if "weight" in layer.lora_B["default"]
    ), "the adapter did not move"
    checkpoint = load_checkpoint(cli.trainer.checkpoint_callback.last_model_path)
    stored = set(checkpoint["state_dict"])
    assert stored and all(".lora_" in k or k in ("target_mean", "target_std") for k in stored), stored
    assert checkpoint[LORA_KEY]["base_sha256"] == task.lora_base_sha256
    # the plain Lightning way back: the base from init_from, the adapter from the checkpoint
    net = zoo.create_model("lstm", **{k: v for k, v in task.net.constructor_args.items()})
    restored = ForecastingTask.load_from_checkpoint(
        cli.trainer.checkpoint_callback.last_model_path, net=net, weights_only=True
    )
    for key, value in task.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key


def test_resumed_lora_run_ends_like_an_uninterrupted_one(base: Path, tmp_path: Path) -> None:
    whole = main(["fit", *_lora_args(base, tmp_path / "whole", epochs=2), "--test_after_fit=false"]).model
    main(["fit", *_lora_args(base, tmp_path / "parts", epochs=1), "--test_after_fit=false"])
    resumed = main(
        ["fit", *_lora_args(base, tmp_path / "parts", epochs=2), "--ckpt_path=last", "--test_after_fit=false"]
    ).model
    assert resumed.trainer.global_step == whole.trainer.global_step == 8
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_exported_adapter_merges_into_a_pretrained_model_that_reproduces_the_run(
    base: Path, tmp_path: Path
) -> None:
    adapter = tmp_path / "lstm.lora"
    cli = main(
        ["fit", *_lora_args(base, tmp_path), "--test_after_fit=true", f"--export_pretrained={adapter}"]
    )
    tested = float(cli.trainer.callback_metrics["test/mse"])
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    merged = tmp_path / "lstm.merged"
    main(["merge", str(adapter), str(merged)])
    config = hub.PretrainedConfig.from_file(merged / "config.json")
    assert config.metrics["test/mse"] == pytest.approx(tested, abs=1e-7)
    evaluated = main(
        [
            "test",
            "--model.pretrained",
            str(merged),
            "--trainer.enable_progress_bar=false",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
        ]
    )
    assert float(evaluated.trainer.callback_metrics["test/mse"]) == pytest.approx(tested, abs=1e-6)


@pytest.mark.parametrize("config", FINETUNE, ids=[p.stem for p in FINETUNE])
def test_finetune_config_trains_one_step(config: Path, tmp_path: Path, data_dir: Path) -> None:
    cli = main(
        [
            "fit",
            "--config",
            str(config),
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
    task = cli.model
    assert lora_layers(task.net), "no adapter attached"
    assert all(".lora_" in n for n, p in task.named_parameters() if p.requires_grad)
    base_name = task.hparams.init_from
    assert base_name in hub.list_pretrained()
