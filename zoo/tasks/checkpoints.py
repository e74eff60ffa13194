"""Between training runs and pretrained directories: self-describing checkpoints, conversion, evaluation.

- Both tasks take ``init_from`` (a pretrained name or directory): the net (and RevIN) start from its
  weights, and a forecaster's scaler statistics come with them (:class:`PretrainedTaskMixin`).
- Every Lightning checkpoint a task writes carries ``checkpoint["zoo_pretrained"]``: the registry name
  and constructor arguments of the net, the RevIN wrapper, the data preprocessing (scaler statistics
  included) and the task's hyperparameters, all plain JSON types, so the checkpoint still loads with
  ``torch.load(weights_only=True)`` and converts without the run's config or data
  (:func:`convert_checkpoint`; older checkpoints fall back to the ``config.yaml`` LightningCLI wrote
  beside them, and then need the data to recompute the scaler).
- :func:`evaluate_pretrained` tests a pretrained model on the split its config names, through the
  public API (``from_pretrained`` + a task + ``Trainer.test``), with a fixed seed.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml

from zoo import pretrained as hub
from zoo.adapters.adapter_io import base_fingerprint
from zoo.adapters.lora import LoraConfig, get_lora_model, lora_configs, trainable_state_keys
from zoo.models.normalized import InstanceNormalized
from zoo.registry import get_model_entry

CHECKPOINT_KEY = "zoo_pretrained"
LORA_KEY = "zoo_lora"
log = logging.getLogger(__name__)


def preprocessing_of(datamodule: Any) -> dict[str, Any]:
    """What a pretrained config records about the data: the datamodule's arguments, and for time series
    the columns, frequency, split and the train-row scaler statistics (the datamodule must be set up)."""
    from zoo.data.images import ImageDataModule
    from zoo.data.timeseries import TimeSeriesDataModule

    if not isinstance(datamodule, (ImageDataModule, TimeSeriesDataModule)):
        return {}  # no datamodule, or one of the user's own: nothing zoo knows how to rebuild
    arguments = {k: v for k, v in dict(datamodule.hparams).items() if not k.startswith("_")}
    record: dict[str, Any] = {"dataset": str(datamodule.dataset), "datamodule": arguments}
    if isinstance(datamodule, ImageDataModule):
        record.update(kind="images", image_shape=list(datamodule.image_shape), binarize=datamodule.binarize)
        return hub.jsonable(record, "preprocessing")
    record.update(kind="timeseries", input_columns=datamodule.input_columns,
                  target_columns=datamodule.target_columns, split=datamodule.split,
                  freq=datamodule.freq if not datamodule.is_panel else None)
    scaler = getattr(datamodule, "scaler", None)
    if scaler is not None:
        record["scaler"] = {"mean": scaler.mean.tolist(), "std": scaler.std.tolist()}
        record["target_scaler"] = {"mean": datamodule.target_scaler.mean.tolist(),
                                   "std": datamodule.target_scaler.std.tolist()}
    return hub.jsonable(record, "preprocessing")


def describe_run(task: pl.LightningModule, datamodule: Any = None) -> dict[str, Any]:
    """The ``config.json`` fields a task and its data fix (all but metrics, license and command)."""
    predictor, net = hub.split_predictor(task)
    architecture = hub.architecture_of(net)
    return {
        "architecture": architecture,
        "model_args": hub.jsonable(net.constructor_args, "model_args"),
        "task": get_model_entry(architecture).task,
        "instance_norm": {"affine": predictor.revin.affine} if isinstance(predictor, InstanceNormalized) else None,
        "preprocessing": preprocessing_of(datamodule),
        "training": hub.jsonable({k: v for k, v in dict(task.hparams).items() if not k.startswith("_")}, "training"),
    }


class PretrainedTaskMixin:
    """``init_from``, LoRA and self-describing checkpoints for ``ForecastingTask`` and ``GenerativeTask``."""

    def init_from_pretrained(self, name_or_dir: str) -> hub.PretrainedConfig:
        """Load a pretrained model's weights into this task's net (and RevIN); returns its config."""
        directory = hub.resolve(name_or_dir)
        config = hub.PretrainedConfig.from_file(directory / hub.CONFIG_NAME)
        predictor, net = hub.split_predictor(self)
        expected = get_model_entry(config.architecture).builder
        if type(net) is not expected:
            raise hub.ArchitectureMismatchError(
                f"{directory / hub.CONFIG_NAME} holds a {config.architecture!r} ({expected.__name__}) but the task's "
                f"net is a {type(net).__name__}; give a matching model.net or leave it out"
            )
        wrapped = isinstance(predictor, InstanceNormalized)
        if (config.instance_norm is not None) != wrapped:
            need = "true" if config.instance_norm is not None else "false"
            raise hub.ArchitectureMismatchError(
                f"{directory / hub.CONFIG_NAME}: the model was trained with revin={need}; build the task with revin={need}"
            )
        weights = directory / hub.WEIGHTS_NAME
        hub.load_state(predictor, hub.read_weights(weights), weights, architecture=config.architecture)
        return config

    def start_from_pretrained(
        self, init_from: str | None, lora: LoraConfig | Mapping[str, Any] | None
    ) -> hub.PretrainedConfig | None:
        """The tail of both tasks' ``__init__``: load ``init_from``, then attach a LoRA adapter if asked.

        With ``lora`` only the adapter (and its ``modules_to_save``) trains: the net's other weights and
        RevIN are frozen, and checkpoints hold just the trainable tensors and the buffers (the frozen base
        comes back from ``init_from`` when a run resumes).
        """
        config = self.init_from_pretrained(init_from) if init_from else None
        if isinstance(lora, Mapping):  # as stored in hparams (load_from_checkpoint)
            lora = LoraConfig(**lora)
        if lora is not None:
            self.lora_base_sha256 = base_fingerprint(self.net)  # the weights the adapter is trained on
            get_lora_model(self.net, lora)
            revin = getattr(self, "revin", None)
            if revin is not None:
                revin.requires_grad_(False)
            self.strict_loading = False
            self.hparams["lora"] = lora.to_dict()  # plain types: checkpoints load with weights_only=True
        return config

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        trainer = self._trainer  # type: ignore[attr-defined]
        try:
            checkpoint[CHECKPOINT_KEY] = describe_run(self, getattr(trainer, "datamodule", None) if trainer else None)
        except TypeError as e:  # a net outside the registry: the checkpoint still resumes, it cannot convert
            log.debug("checkpoint without a %s record: %s", CHECKPOINT_KEY, e)
        if lora_configs(self.net):
            keep = set(trainable_state_keys(self.net, "net.")) | {name for name, _ in self.named_buffers()}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
            checkpoint[LORA_KEY] = {"base_sha256": self.lora_base_sha256}


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A Lightning checkpoint read with ``weights_only=True``: tensors and plain types, never objects."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise hub.PretrainedNotFoundError(f"checkpoint {path} not found") from None
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, AttributeError) as e:
        raise hub.IntegrityError(
            f"refusing to load {path}: it is not a plain-weights checkpoint ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); zoo never unpickles arbitrary objects"
        ) from e
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise hub.IntegrityError(f"{path} is not a Lightning checkpoint (no 'state_dict')")
    return checkpoint


def _describe_from_run_config(config_path: Path) -> dict[str, Any]:
    """Rebuild task and data from the ``config.yaml`` of a run (older checkpoints) and describe them."""
    from zoo.cli import build_cli

    if not config_path.is_file():
        raise hub.PretrainedNotFoundError(
            f"the checkpoint has no '{CHECKPOINT_KEY}' record and {config_path} (the run's config) is missing; "
            "pass the run's config.yaml"
        )
    raw = yaml.safe_load(config_path.read_text())
    kept = {k: raw[k] for k in ("model", "data") if k in raw}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(kept, handle)
    try:
        cli = build_cli(["--config", handle.name, "--trainer.logger=false"], run=False)
    finally:
        os.unlink(handle.name)
    cli.datamodule.setup("fit")
    return describe_run(cli.model, cli.datamodule)


def convert_checkpoint(
    checkpoint_path: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    run_config: str | os.PathLike[str] | None = None,
    name: str = "",
    metrics: Mapping[str, float] | None = None,
    data_license: str = "",
    training_command: str = "",
    weights_dtype: hub.WeightsDtype = "float32",
    card: str | None = None,
) -> Path:
    """Write the pretrained directory of a Lightning checkpoint (the net, and RevIN if the task had it).

    ``run_config``: for checkpoints without the ``zoo_pretrained`` record, the run's ``config.yaml``
    (default: ``<checkpoint dir>/../config.yaml``, where LightningCLI writes it).
    """
    path = Path(checkpoint_path)
    checkpoint = load_checkpoint(path)
    spec = checkpoint.get(CHECKPOINT_KEY)
    if spec is None:
        spec = _describe_from_run_config(Path(run_config) if run_config else path.parent.parent / "config.yaml")
    config = hub.PretrainedConfig(architecture=spec["architecture"], model_args=spec["model_args"], task=spec["task"],
                                  instance_norm=spec["instance_norm"])
    model = hub.build_model(config, f"{path} ({CHECKPOINT_KEY})")
    weights = checkpoint["state_dict"]
    if config.instance_norm is not None:  # InstanceNormalized has the task's own net.* and revin.* keys
        state = {k: v for k, v in weights.items() if k.split(".", 1)[0] in ("net", "revin")}
    else:
        state = {k.removeprefix("net."): v for k, v in weights.items() if k.startswith("net.")}
    hub.load_state(model, state, path, architecture=config.architecture)
    training = {**spec.get("training", {}), "epoch": checkpoint.get("epoch"), "global_step": checkpoint.get("global_step"),
                "checkpoint": path.name}
    return hub.save_pretrained(model, directory, name=name, preprocessing=spec["preprocessing"], metrics=metrics,
                               training=training, data_license=data_license, training_command=training_command,
                               weights_dtype=weights_dtype, card=card)


def evaluate_pretrained(
    name_or_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    data_overrides: Mapping[str, Any] | None = None,
    task_overrides: Mapping[str, Any] | None = None,
    accelerator: str = "cpu",
) -> dict[str, float]:
    """Test metrics of a pretrained model on the test split its config names, with a fixed seed.

    The datamodule is rebuilt from the recorded arguments (``data_overrides`` on top, e.g. a batch size);
    generative models skip the IWAE bound unless ``task_overrides`` asks for it (``test_iwae_samples``).
    """
    from zoo.data.images import ImageDataModule
    from zoo.data.timeseries import TimeSeriesDataModule
    from zoo.tasks.forecasting import ForecastingTask
    from zoo.tasks.generative import GenerativeTask

    model = hub.from_pretrained(name_or_dir)
    config: hub.PretrainedConfig = model.pretrained_config
    arguments = {**config.preprocessing.get("datamodule", {}), "num_workers": 0, **(data_overrides or {})}
    if config.task == "forecasting":
        task: pl.LightningModule = ForecastingTask(model, **(task_overrides or {}))
        datamodule: pl.LightningDataModule = TimeSeriesDataModule(**arguments)
    else:
        task = GenerativeTask(model, **{"test_iwae_samples": 0, "num_images": 0, **(task_overrides or {})})
        datamodule = ImageDataModule(**arguments)
    pl.seed_everything(seed, verbose=False)
    trainer = pl.Trainer(accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    results = trainer.test(task, datamodule=datamodule, verbose=False)[0]
    return {key: float(value) for key, value in results.items()}
