"""The pretrained format: round trips for every registered model, integrity checks, refusal to unpickle,
the manifest, downloads into ZOO_HOME, and conversion of Lightning checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

import zoo
from tests.helpers import SMALL_FORECAST, PickleExploit, seeded_output, small_input, small_model
from zoo import hub
from zoo.conversion import convert_checkpoint, load_checkpoint
from zoo.data import sources
from zoo.registry import get_model_entry
from zoo.tasks import ForecastingTask, GenerativeTask
from zoo.tasks.checkpoints import CHECKPOINT_KEY, DIGEST_KEY


@pytest.mark.parametrize("name", zoo.list_models())
def test_save_load_round_trip_for_every_registered_model(name: str, tmp_path: Path) -> None:
    net = small_model(name).eval()
    directory = hub.save_pretrained(net, tmp_path / f"{name}.test", metrics={"test/x": 1.5})
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    loaded = hub.from_pretrained(directory)
    assert type(loaded) is type(net) and not loaded.training
    assert hub.jsonable(loaded.constructor_args) == hub.jsonable(
        net.constructor_args
    )  # tuples come back as lists
    assert loaded.state_dict().keys() == net.state_dict().keys()
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = small_input(name, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(seeded_output(loaded, x, 3), seeded_output(net, x, 3), rtol=0, atol=0)
    config = loaded.pretrained_config
    assert config.metrics == {"test/x": 1.5} and config.task == get_model_entry(name).task
    # the same directory through create_model: architecture from config.json, weights optional
    rebuilt = zoo.create_model(str(directory), pretrained=True)
    assert all(
        torch.equal(a, b)
        for a, b in zip(rebuilt.state_dict().values(), net.state_dict().values(), strict=True)
    )


def test_variant_names_are_recorded() -> None:
    net = zoo.create_model("nbeats", architecture="interpretable", **SMALL_FORECAST)
    assert hub.architecture_of(net) == "nbeats_interpretable"
    assert hub.architecture_of(zoo.create_model("gru", **SMALL_FORECAST)) == "gru"
    with pytest.raises(TypeError, match="not a registered model"):
        hub.architecture_of(torch.nn.Linear(2, 2))


def test_task_with_revin_saves_a_forecaster_with_revin_that_forecasts_like_the_task(tmp_path: Path) -> None:
    task = ForecastingTask(zoo.create_model("tcn", **SMALL_FORECAST, revin=True)).eval()
    with torch.no_grad():
        task.net.revin.weight.uniform_(0.5, 1.5)
    directory = hub.save_pretrained(task, tmp_path / "tcn.revin")
    loaded = hub.from_pretrained(directory)
    assert loaded.revin is not None and loaded.pretrained_config.model_args["revin"] is True
    assert loaded.pretrained_config.instance_norm is None
    x = torch.randn(4, 16, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), task(x))
    # and back into a task for fine-tuning: net and RevIN both start from the weights
    fresh = ForecastingTask(
        zoo.create_model("tcn", **SMALL_FORECAST, revin=True), init_from=str(directory)
    ).eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), task(x))
    with pytest.raises(hub.ArchitectureMismatchError, match="trained with revin=true"):
        ForecastingTask(zoo.create_model("tcn", **SMALL_FORECAST), init_from=str(directory))
    with pytest.raises(hub.ArchitectureMismatchError, match="holds a 'tcn'.*net is a RNNForecaster"):
        ForecastingTask(zoo.create_model("lstm", **SMALL_FORECAST, revin=True), init_from=str(directory))


def test_scaler_statistics_travel_with_the_weights(tmp_path: Path) -> None:
    net = zoo.create_model("lstm", **SMALL_FORECAST)
    stats = {"mean": [1.0, 2.0, 3.0], "std": [2.0, 4.0, 8.0]}
    directory = hub.save_pretrained(
        net, tmp_path / "lstm.s", preprocessing={"scaler": stats, "target_scaler": stats}
    )
    task = ForecastingTask(zoo.create_model(str(directory), pretrained=True))
    assert task.target_mean.tolist() == stats["mean"] and task.target_std.tolist() == stats["std"]
    # predict in original units without any datamodule
    batch = {"x": torch.zeros(2, 16, 3), "y": torch.zeros(2, 8, 3)}
    with torch.no_grad():
        scaled = task(batch["x"])
        original = task.predict_step(batch, 0)
    torch.testing.assert_close(
        original, scaled * torch.tensor([2.0, 4.0, 8.0]) + torch.tensor([1.0, 2.0, 3.0])
    )
    scaler = task.net.pretrained_config.scaler("input")
    assert scaler is not None and scaler.mean.tolist() == stats["mean"]


def test_float16_storage_halves_the_file_and_loads_into_float32(tmp_path: Path) -> None:
    net = zoo.create_model("gru", **SMALL_FORECAST)
    full = hub.save_pretrained(net, tmp_path / "gru.fp32")
    half = hub.save_pretrained(net, tmp_path / "gru.fp16", weights_dtype="float16")
    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    loaded = hub.from_pretrained(half)
    for key, value in net.state_dict().items():
        assert loaded.state_dict()[key].dtype == torch.float32
        assert torch.equal(loaded.state_dict()[key], value.half().float()), key


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = zoo.create_model("gru", **SMALL_FORECAST)
    directory = hub.save_pretrained(net, tmp_path / "gru.x")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    with pytest.raises(hub.OutputExistsError, match="already exists; pass --overwrite"):
        hub.save_pretrained(zoo.create_model("gru", **SMALL_FORECAST), directory)
    monkeypatch.setattr(hub.files.os, "fsync", crash)  # every file is written; the rename never happens
    with pytest.raises(OSError, match="disk full"):
        hub.save_pretrained(zoo.create_model("gru", **SMALL_FORECAST), directory, overwrite=True)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gru.x"]  # no staging directory left
    with pytest.raises(OSError):
        hub.save_pretrained(net, tmp_path / "gru.new")
    assert not (tmp_path / "gru.new").exists()


@pytest.fixture
def shipped_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private checkpoints/ with two models and a manifest, as ZOO_PRETRAINED_DIR; ZOO_HOME empty."""
    root = tmp_path / "checkpoints"
    torch.manual_seed(0)
    hub.save_pretrained(
        zoo.create_model("lstm", **SMALL_FORECAST), root / "lstm.tiny", metrics={"test/mse": 0.5}
    )
    hub.save_pretrained(
        zoo.create_model("vae", image_shape=(1, 8, 8), latent_dim=2, hidden_dims=(4,)),
        root / "vae.tiny",
        metrics={"test/neg_elbo": 40.0},
    )
    hub.write_manifest(root)
    monkeypatch.setenv("ZOO_PRETRAINED_DIR", str(root))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    return root


def test_manifest_names_and_sha256(shipped_root: Path) -> None:
    assert zoo.list_pretrained() == ["lstm.tiny", "vae.tiny"]
    assert zoo.list_pretrained("vae.*") == ["vae.tiny"]
    manifest = json.loads((shipped_root / "manifest.json").read_text())["models"]
    for name, record in manifest.items():
        for file, expected in record["files"].items():
            assert sources.sha256sum(shipped_root / name / file) == expected["sha256"]
    net = zoo.create_model("lstm.tiny", pretrained=True)
    assert net.pretrained_config.metrics == {"test/mse": 0.5}
    untrained = zoo.create_model("lstm.tiny", dropout=0.5)  # the architecture only, arguments overridable
    assert untrained.constructor_args["dropout"] == 0.5 and untrained.training


def test_a_corrupted_byte_is_a_clear_error_naming_the_file(shipped_root: Path) -> None:
    weights = shipped_root / "lstm.tiny" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(hub.IntegrityError, match=rf"sha256 mismatch for {weights}"):
        zoo.create_model("lstm.tiny", pretrained=True)
    with pytest.raises(hub.IntegrityError, match="sha256 mismatch"):
        hub.from_pretrained(shipped_root / "lstm.tiny")  # the path form checks the neighbouring manifest too


def test_a_wrong_architecture_config_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    directory = hub.save_pretrained(zoo.create_model("lstm", **SMALL_FORECAST), tmp_path / "lstm.x")
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(
        json.dumps({**config, "architecture": "tcn", "model_args": {**SMALL_FORECAST}})
    )
    with pytest.raises(
        hub.ArchitectureMismatchError,
        match=rf"{directory / 'model.safetensors'} does not fit "
        r"architecture 'tcn'",
    ):
        hub.from_pretrained(directory)
    (directory / "config.json").write_text(json.dumps({**config, "architecture": "lstmm"}))
    with pytest.raises(hub.IntegrityError, match=r"config.json: field 'architecture': unknown model 'lstmm'"):
        hub.from_pretrained(directory)
    (directory / "config.json").write_text(
        json.dumps({**config, "model_args": {**config["model_args"], "hidden": 3}})
    )
    with pytest.raises(
        hub.IntegrityError, match=r"config.json: field 'model_args' does not build 'lstm'.*hidden"
    ):
        hub.from_pretrained(directory)
    del config["task"]
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(hub.IntegrityError, match=r"config.json: missing field\(s\) \['task'\]"):
        hub.from_pretrained(directory)
    (directory / "config.json").write_text("{not json")
    with pytest.raises(hub.IntegrityError, match="config.json is not valid JSON"):
        hub.from_pretrained(directory)


def test_a_malicious_pickle_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    directory = hub.save_pretrained(zoo.create_model("lstm", **SMALL_FORECAST), tmp_path / "lstm.x")
    (directory / "model.safetensors").write_bytes(pickle.dumps({"state_dict": PickleExploit(marker)}))
    with pytest.raises(hub.IntegrityError, match=r"sha256 mismatch for .*model.safetensors"):
        hub.from_pretrained(directory)  # the recorded sha256 refuses it before it is parsed
    config = json.loads((directory / "config.json").read_text())
    del config["weights_sha256"]  # a directory written before the record: the parser refuses it
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        hub.IntegrityError, match=r"model.safetensors is not a valid safetensors file.*never unpickled"
    ):
        hub.from_pretrained(directory)
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": PickleExploit(marker)}, ckpt)
    with pytest.raises(
        hub.IntegrityError,
        match=r"refusing to load .*evil.ckpt: .*\(getattr\).*not a plain-weights checkpoint",
    ):
        load_checkpoint(ckpt)
    with pytest.raises(hub.IntegrityError, match="refusing to load"):
        convert_checkpoint(ckpt, tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_unknown_names_and_architecture_names_with_pretrained(shipped_root: Path) -> None:
    with pytest.raises(
        hub.PretrainedNotFoundError, match=r"no pretrained model named 'lstm.big'.*lstm.tiny, vae.tiny"
    ):
        zoo.create_model("lstm.big", pretrained=True)
    with pytest.raises(ValueError, match=r"'lstm' names an architecture.*lstm.tiny"):
        zoo.create_model("lstm", pretrained=True)
    with pytest.raises(hub.PretrainedNotFoundError, match="not a pretrained directory"):
        hub.from_pretrained(shipped_root / "nowhere" / "x.y")


def test_checkpoint_path_overrides_the_weights(shipped_root: Path, tmp_path: Path) -> None:
    other = zoo.create_model("lstm", **SMALL_FORECAST)
    hub.save_pretrained(other, tmp_path / "mine")
    for source in (tmp_path / "mine", tmp_path / "mine" / "model.safetensors"):
        net = zoo.create_model("lstm.tiny", checkpoint_path=source)
        assert all(
            torch.equal(a, b)
            for a, b in zip(net.state_dict().values(), other.state_dict().values(), strict=True)
        )


def test_download_to_zoo_home_checks_sha256_and_honours_offline(
    shipped_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosted = tmp_path / "hosted" / "lstm.tiny"
    shutil.move(shipped_root / "lstm.tiny", hosted)  # shipped manifest entry, files only "online"
    hub.write_manifest(shipped_root)  # vae.tiny only now
    manifest = json.loads((shipped_root / "manifest.json").read_text())
    manifest["models"]["lstm.tiny"] = {"files": hub.sha256_files(hosted), "url": hosted.as_uri()}
    (shipped_root / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(hub.PretrainedNotFoundError, match="ZOO_OFFLINE is set"):
        zoo.create_model("lstm.tiny", pretrained=True)
    monkeypatch.delenv("ZOO_OFFLINE")
    net = zoo.create_model("lstm.tiny", pretrained=True)
    cached = tmp_path / "home" / "pretrained" / "lstm.tiny"
    assert sorted(p.name for p in cached.iterdir()) == ["config.json", "model.safetensors"]
    assert net.pretrained_config.metrics == {"test/mse": 0.5}
    # a tampered upstream file is rejected and leaves nothing in the cache
    shutil.rmtree(cached)
    (hosted / "model.safetensors").write_bytes(b"\x00" + (hosted / "model.safetensors").read_bytes()[1:])
    with pytest.raises(hub.PretrainedNotFoundError, match="sha256 mismatch"):
        zoo.create_model("lstm.tiny", pretrained=True)
    assert not cached.exists() and not [p for p in cached.parent.iterdir() if p.name.startswith(".")]


def _fit_tiny_forecaster(tmp_path: Path) -> tuple[ForecastingTask, pl.Trainer, Path]:
    from zoo.cli import main

    cli = main(
        [
            "fit",
            "--config",
            str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"),
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=3",
            "--trainer.limit_val_batches=2",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--model.net.init_args.hidden_size=8",
            "--model.net.init_args.revin=true",
            "--test_after_fit=false",
        ]
    )
    return cli.model, cli.trainer, Path(cli.trainer.checkpoint_callback.best_model_path)


def test_lightning_checkpoints_describe_themselves_and_convert(tmp_path: Path) -> None:
    task, trainer, best = _fit_tiny_forecaster(tmp_path)
    checkpoint = torch.load(best, weights_only=True, map_location="cpu")  # plain types only
    record = checkpoint[CHECKPOINT_KEY]
    assert record["architecture"] == "lstm" and record["model_args"]["revin"] is True
    assert len(record["preprocessing"]["scaler"]["mean"]) == 4
    directory = convert_checkpoint(best, tmp_path / "lstm.synthetic", name="lstm.synthetic")
    loaded = hub.from_pretrained(directory)
    reference = ForecastingTask.load_from_checkpoint(
        best,
        net=zoo.create_model("lstm", **{k: v for k, v in task.net.constructor_args.items()}),
        weights_only=True,
    ).eval()
    x = torch.randn(2, 96, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), reference(x))
    assert loaded.pretrained_config.training["global_step"] == checkpoint["global_step"]
    # a checkpoint from when RevIN was a task flag (task-level revin.* keys, an instance_norm record)
    legacy = dict(checkpoint)
    del legacy[DIGEST_KEY]  # written before checkpoints carried a digest
    legacy["state_dict"] = {
        (k.removeprefix("net.") if k.startswith("net.revin.") else k): v
        for k, v in checkpoint["state_dict"].items()
    }
    legacy[CHECKPOINT_KEY] = {
        **record,
        "model_args": {k: v for k, v in record["model_args"].items() if k not in ("revin", "revin_affine")},
        "instance_norm": {"affine": True},
    }
    assert {"revin.weight", "net.head.weight"} <= set(
        legacy["state_dict"]
    ) and "net.revin.weight" not in legacy["state_dict"]
    torch.save(legacy, best.parent / "legacy.ckpt")
    upgraded = hub.from_pretrained(convert_checkpoint(best.parent / "legacy.ckpt", tmp_path / "lstm.legacy"))
    assert upgraded.pretrained_config.model_args["revin"] is True
    with torch.no_grad():
        torch.testing.assert_close(upgraded(x), loaded(x))
    # a checkpoint without the record (not written by a zoo task) is refused, and nothing is written
    del checkpoint[CHECKPOINT_KEY], checkpoint[DIGEST_KEY]
    old = best.parent / "old.ckpt"
    torch.save(checkpoint, old)
    with pytest.raises(hub.IntegrityError, match=f"old.ckpt has no '{CHECKPOINT_KEY}' record"):
        convert_checkpoint(old, tmp_path / "lstm.old")
    assert not (tmp_path / "lstm.old").exists()


def test_generative_task_starts_from_pretrained_weights(tmp_path: Path) -> None:
    net = zoo.create_model(
        "gumbel_vae", image_shape=(1, 8, 8), num_variables=2, num_classes=3, hidden_dims=(4,)
    )
    net.temperature.fill_(0.7)
    directory = hub.save_pretrained(net, tmp_path / "gumbel_vae.t")
    fresh = zoo.create_model(
        "gumbel_vae", image_shape=(1, 8, 8), num_variables=2, num_classes=3, hidden_dims=(4,)
    )
    task = GenerativeTask(fresh, init_from=str(directory))
    assert float(task.net.temperature) == pytest.approx(0.7)
    for key, value in net.state_dict().items():
        assert torch.equal(task.net.state_dict()[key], value), key


def test_saved_files_are_world_readable(tmp_path: Path) -> None:
    directory = hub.save_pretrained(zoo.create_model("gru", **SMALL_FORECAST), tmp_path / "gru.p")
    mask = os.umask(0)
    os.umask(mask)
    assert directory.stat().st_mode & 0o777 == 0o777 & ~mask
    assert (directory / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask


def test_checkpoints_of_unregistered_nets_still_save_without_the_record(tmp_path: Path) -> None:
    from zoo.models.base import Forecaster

    class Custom(Forecaster):
        def __init__(self) -> None:
            super().__init__(n_features=2, seq_len=4, pred_len=2)
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor, x_mark: object = None, y_mark: object = None) -> torch.Tensor:
            return self.linear(x.transpose(1, 2)).transpose(1, 2)

    task = ForecastingTask(Custom())
    data = torch.utils.data.DataLoader(
        [{"x": torch.randn(4, 2), "y": torch.randn(2, 2)} for _ in range(4)], batch_size=2
    )
    trainer = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(task, data)
    path = tmp_path / "custom.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = load_checkpoint(path)
    assert CHECKPOINT_KEY not in checkpoint and "net.linear.weight" in checkpoint["state_dict"]
