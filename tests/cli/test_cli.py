"""The command line: quickstart, config checking, links, loggers, list verb."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from zoo.cli import main, wandb_api_key_available

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")


def _fast(tmp_path: Path) -> list[str]:
    return [
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=3",
        "--trainer.limit_val_batches=2",
        "--trainer.limit_test_batches=2",
        "--trainer.enable_progress_bar=false",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_model_summary=false",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--model.net.init_args.hidden_size=8",
    ]


def test_quickstart_fit_then_test(tmp_path: Path) -> None:
    cli = main(["fit", "--config", QUICKSTART, *_fast(tmp_path)])
    metrics = cli.trainer.callback_metrics
    assert {"test/mse", "test/mae", "test/mse_orig", "test/mae_orig"} <= set(metrics)
    assert cli.model.net.n_features == cli.datamodule.n_features == 4  # linked, never typed
    checkpoints = list(tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert {p.name for p in checkpoints} >= {"last.ckpt"}
    header = (
        (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text().splitlines()[0].split(",")
    )
    assert {"val/mse", "val/mae", "train/loss_epoch", "lr-Adam"} <= set(header)


def test_unknown_config_key_fails_loudly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", QUICKSTART, "--model.lrr=0.1", *_fast(tmp_path)])
    assert exit_info.value.code != 0
    assert "lrr" in capsys.readouterr().err
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text(
        "model:\n  net:\n    class_path: zoo.models.RNNForecaster\n    init_args:\n      hiden_size: 4\n"
    )
    with pytest.raises(SystemExit):
        main(["fit", "--config", QUICKSTART, "--config", str(bad_yaml), *_fast(tmp_path)])
    assert "hiden_size" in capsys.readouterr().err


def test_dims_typed_twice_must_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", QUICKSTART, "--model.net.init_args.seq_len=50", *_fast(tmp_path)])
    assert exit_info.value.code == 2
    assert (
        "model.net.init_args.seq_len=50 contradicts the data, which fixes seq_len=96"
        in capsys.readouterr().err
    )
    # agreeing values are accepted
    cli = main(["validate", "--config", QUICKSTART, "--model.net.init_args.seq_len=96", *_fast(tmp_path)])
    assert cli.model.net.seq_len == 96


def test_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", QUICKSTART, "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert (
        "class_path: zoo.models.RNNForecaster" in out and "cell: lstm" in out and "dataset: synthetic" in out
    )


def test_list_verb(capsys: pytest.CaptureFixture[str]) -> None:
    main(["list"])
    out = capsys.readouterr().out
    assert "lstm" in out and "gru" in out and "naive" in out


def test_wandb_logger_goes_offline_without_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc login
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert not wandb_api_key_available()
    cli = main(
        [
            "fit",
            "--config",
            QUICKSTART,
            *_fast(tmp_path),
            "--trainer.logger=WandbLogger",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--test_after_fit=false",
        ]
    )
    assert cli.trainer.logger._offline is True
    assert list(tmp_path.glob("wandb/offline-run-*")), "no offline run directory written"


def test_family_follows_the_network(tmp_path: Path) -> None:
    from zoo.cli import detect_family

    vae_config = str(REPO / "configs" / "generative" / "vae_mnist.yaml")
    assert detect_family(["fit", "--config", QUICKSTART]) == "forecasting"
    assert detect_family(["fit", "--config", vae_config]) == "generative"
    assert detect_family(["fit", f"--config={vae_config}"]) == "generative"
    assert detect_family(["fit", "--model.net", "zoo.models.gumbel.GumbelVAE"]) == "generative"
    assert detect_family(["fit", "--model.net=VAE"]) == "generative"
    assert (
        detect_family(["fit", "--config", vae_config, "--model.net", "zoo.models.TCNForecaster"])
        == "forecasting"
    )
    assert detect_family(["fit"]) == "forecasting"


def test_generative_cli_links_the_image_shape_and_monitors_the_elbo(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vae_config = str(REPO / "configs" / "generative" / "vae_mnist.yaml")
    with pytest.raises(SystemExit):
        main(["fit", "--config", vae_config, "--print_config"])
    out = capsys.readouterr().out
    assert "monitor: val/neg_elbo" in out and "class_path: zoo.models.vae.VAE" in out
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                "--config",
                vae_config,
                "--model.net.init_args.image_shape=[1, 32, 32]",
                f"--trainer.logger.init_args.save_dir={tmp_path}",
            ]
        )
    assert exit_info.value.code == 2
    assert "model.net.init_args.image_shape=(1, 32, 32) contradicts the data" in capsys.readouterr().err
