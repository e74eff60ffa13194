"""The typed verbs (list, convert, merge: help from signatures and docstrings, --config, one-line errors)
and registry names wherever the command line names a network (``--model.net lstm``, ``net: tcn``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import REPO
from zoo.cli import build_cli, detect_family, main
from zoo.model_names import UnknownModelError
from zoo.registry import ModelEntry

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
        "--test_after_fit=false",
    ]


def _exit_output(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


# ----------------------------------------------------------------------------- verbs and their help
def test_top_level_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _exit_output(["--help"], capsys)
    assert code == 0
    for verb in ("fit", "validate", "test", "predict", "list", "convert", "merge"):
        assert f"    {verb} " in out, verb
    assert "Merge a LoRA adapter into its base model" in out  # the verb docstring's summary
    assert "Turn a Lightning checkpoint into a pretrained" in out


@pytest.mark.parametrize(
    ("verb", "expected"),
    [
        ("list", ["pattern", "shell-style pattern on the names", "--config"]),
        (
            "convert",
            [
                "checkpoint",
                "directory",
                "--dtype",
                "bfloat16",
                "--data_license",
                "--evaluate",
                "the license of the training data",
                "--config",
            ],
        ),
        ("merge", ["adapter", "directory", "--base", "the base pretrained name or directory", "--config"]),
    ],
)
def test_verb_help_comes_from_the_signature_and_docstring(
    verb: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _exit_output([verb, "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    for text in expected:
        assert text in flat, text
    assert "Args:" not in out  # the argument lines went to the options, not into the description
    assert "run_config" not in out


def test_list_takes_a_pattern_by_position_or_from_a_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["list", "nbeats*"])
    out = capsys.readouterr().out
    assert "nbeats_interpretable" in out and "lstm" not in out
    config = tmp_path / "list.yaml"
    config.write_text("pattern: 'gr*'\n")
    main(["list", "--config", str(config)])
    out = capsys.readouterr().out
    assert "gru" in out and "lstm" not in out and "nbeats" not in out


def test_verb_errors_are_one_line_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZOO_DEBUG", raising=False)
    missing = tmp_path / "missing.ckpt"
    code, out, err = _exit_output(["convert", str(missing), str(tmp_path / "out")], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and str(missing) in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    code, _, err = _exit_output(["merge", str(tmp_path / "no_adapter"), str(tmp_path / "merged")], capsys)
    assert code == 2 and err.startswith("error: ") and "adapter_config.json" in err
    monkeypatch.setenv("ZOO_DEBUG", "1")  # the debug switch lets the exception through
    with pytest.raises(FileNotFoundError):
        main(["convert", str(missing), str(tmp_path / "out")])


def test_bad_verb_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _exit_output(["convert", "only_one.ckpt"], capsys)
    assert code == 2 and "directory" in err
    code, _, err = _exit_output(["convert", "a.ckpt", "out", "--dtype", "float64"], capsys)
    assert code == 2 and "float64" in err
    code, _, err = _exit_output(["lisst"], capsys)
    assert code == 2 and "lisst" in err


# ----------------------------------------------------------------------------- registry names for model.net
def test_fit_with_a_registry_name_and_an_init_args_override(tmp_path: Path) -> None:
    cli = main(
        [
            "fit",
            "--config",
            QUICKSTART,
            *_fast(tmp_path),
            "--model.net",
            "gru",
            "--model.net.init_args.hidden_size=8",
        ]
    )
    net = cli.model.net
    assert (
        type(net).__name__ == "RNNForecaster" and net.cell == "gru" and isinstance(net.encoder, torch.nn.GRU)
    )
    assert (
        net.encoder.hidden_size == 8 and net.n_features == cli.datamodule.n_features == 4
    )  # linked from the data
    assert cli.trainer.current_epoch == 1 and "val/mse" in cli.trainer.callback_metrics


def test_a_variant_name_applies_its_registry_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _exit_output(
        ["fit", "--config", QUICKSTART, "--model.net=nbeats_interpretable", "--print_config"], capsys
    )
    assert code == 0
    assert "class_path: zoo.models.nbeats.NBeatsForecaster" in out and "architecture: interpretable" in out
    cli = build_cli(
        [
            "--config",
            QUICKSTART,
            *_fast(tmp_path),
            "--model.net",
            "nbeats_interpretable",
            "--model.net.init_args.trend_width=8",
            "--model.net.init_args.seasonality_width=8",
        ],
        run=False,
    )
    assert cli.model.net.architecture == "interpretable" and cli.model.net.seq_len == 96


def test_registry_names_in_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nested = tmp_path / "tcn.yaml"
    nested.write_text("model:\n  net:\n    class_path: tcn\n    init_args:\n      hidden_channels: 8\n")
    cli = build_cli(["--config", QUICKSTART, "--config", str(nested), *_fast(tmp_path)], run=False)
    assert type(cli.model.net).__name__ == "TCNForecaster" and cli.model.net.n_features == 4
    assert cli.model.net.head.in_features == 8  # hidden_channels from the file's init_args
    bare = tmp_path / "gru.yaml"
    bare.write_text("model:\n  net: gru\n")
    code, out, _ = _exit_output(
        ["fit", "--config", QUICKSTART, "--config", str(bare), "--print_config"], capsys
    )
    assert code == 0 and "class_path: zoo.models.rnn.RNNForecaster" in out and "cell: gru" in out
    assert "hidden_size: 64" in out  # the rest of the quickstart's net is kept, as with a class path


def test_a_registry_name_selects_the_generative_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert detect_family(["fit", "--model.net", "vae"]) == "generative"
    assert detect_family(["fit", "--model.net={class_path: gumbel_vae_st}"]) == "generative"
    assert detect_family(["fit", "--model.net", "tcn"]) == "forecasting"
    code, out, _ = _exit_output(["fit", "--model.net", "vae_conv", "--print_config"], capsys)
    assert code == 0
    assert "class_path: zoo.models.vae.VAE" in out and "architecture: conv" in out and "latent_dim: 32" in out
    assert "binarize:" in out and "monitor: val/neg_elbo" in out  # ImageDataModule and the ELBO monitor


def test_an_unknown_name_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZOO_DEBUG", raising=False)
    code, _, err = _exit_output(["fit", "--config", QUICKSTART, "--model.net", "lstmm"], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--model.net: unknown model 'lstmm'; did you mean 'lstm'" in err
    with pytest.raises(
        UnknownModelError,
        match=r"model\.net\).*unknown model 'nbeats_interpretible'; did you mean "
        r"'nbeats_interpretable'",
    ):
        build_cli(["--config", "model:\n  net: nbeats_interpretible\n"], run=False)


def test_variant_defaults_on_linked_dims_leave_the_links_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from zoo import registry
    from zoo.models.tcn import TCNForecaster
    from zoo.models.vae import VAE

    entry = ModelEntry(
        "tcn_long",
        TCNForecaster,
        "forecasting",
        {"seq_len": 336, "pred_len": 96, "n_features": 7, "hidden_channels": 12},
    )
    vae_entry = ModelEntry(
        "vae_wide", VAE, "generative", {"image_shape": (1, 32, 32), "hidden_dims": (64, 32)}
    )
    monkeypatch.setitem(registry._REGISTRY, "tcn_long", entry)
    monkeypatch.setitem(registry._REGISTRY, "vae_wide", vae_entry)
    code, out, _ = _exit_output(
        ["fit", "--config", QUICKSTART, "--model.net", "tcn_long", "--print_config"], capsys
    )
    assert code == 0 and "hidden_channels: 12" in out and "seq_len: 336" not in out
    cli = build_cli(["--config", QUICKSTART, "--model.net", "tcn_long", *_fast(tmp_path)], run=False)
    net = cli.model.net
    assert (net.seq_len, net.pred_len, net.n_features) == (96, 24, 4)  # the data's, linked
    assert net.head.in_features == 12
    code, out, _ = _exit_output(
        ["fit", "--model.net", "vae_wide", "--print_config"], capsys
    )  # tuples, image_shape
    assert code == 0 and "image_shape" not in out and "- 64\n      - 32" in out
