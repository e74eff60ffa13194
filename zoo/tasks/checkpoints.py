"""What the tasks share about pretrained models: ``init_from``, LoRA, and self-describing checkpoints.

- Both tasks take ``init_from`` (a pretrained name or directory): the net (RevIN included) starts from its
  weights, and a forecaster's scaler statistics come with them (:class:`PretrainedTaskMixin`).
- Every Lightning checkpoint a task writes carries ``checkpoint["zoo_pretrained"]``: the registry name
  and constructor arguments of the net (RevIN among them), the data preprocessing (scaler statistics
  included) and the task's hyperparameters, all plain JSON types, so the checkpoint still loads with
  ``torch.load(weights_only=True)`` and converts without the run's config or data
  (:func:`zoo.conversion.convert_checkpoint`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import numpy as np

from zoo import hub
from zoo.adapters.adapter_io import base_fingerprint
from zoo.adapters.lora import LoraConfig, get_lora_model, lora_configs, trainable_state_keys
from zoo.registry import get_model_entry

CHECKPOINT_KEY = "zoo_pretrained"
LORA_KEY = "zoo_lora"
log = logging.getLogger(__name__)


def preprocessing_of(datamodule: Any) -> dict[str, Any]:
    """What a pretrained config records about the data: the datamodule's arguments, and for time series
    the columns, frequency, split and the train-row scaler statistics, per series for a long-format panel
    (the datamodule must be set up)."""
    from zoo.data.images import ImageDataModule
    from zoo.data.timeseries import TimeSeriesDataModule

    if not isinstance(datamodule, (ImageDataModule, TimeSeriesDataModule)):
        return {}  # no datamodule, or one of the user's own: nothing zoo knows how to rebuild
    arguments = {k: v for k, v in dict(datamodule.hparams).items() if not k.startswith("_")}
    record: dict[str, Any] = {"dataset": str(datamodule.dataset), "datamodule": arguments}
    if isinstance(datamodule, ImageDataModule):
        record.update(kind="images", image_shape=list(datamodule.image_shape), binarize=datamodule.binarize)
        return hub.jsonable(record, "preprocessing")
    record.update(
        kind="timeseries",
        input_columns=datamodule.input_columns,
        target_columns=datamodule.target_columns,
        split=datamodule.split,
        freq=datamodule.freq if not datamodule.is_panel else None,
    )
    if datamodule.is_long:  # a panel of series, each scaled with its own training rows' statistics
        record["series_scalers"] = {
            series_id: {"mean": scaler.mean.tolist(), "std": scaler.std.tolist()}
            for series_id, scaler in datamodule.series_scalers.items()
        }
    scaler = getattr(datamodule, "scaler", None)
    if scaler is not None:
        record["scaler"] = {"mean": scaler.mean.tolist(), "std": scaler.std.tolist()}
        record["target_scaler"] = {
            "mean": datamodule.target_scaler.mean.tolist(),
            "std": datamodule.target_scaler.std.tolist(),
        }
    return hub.jsonable(record, "preprocessing")


def describe_run(task: pl.LightningModule, datamodule: Any = None) -> dict[str, Any]:
    """The ``config.json`` fields a task and its data fix (all but metrics, license and command)."""
    net = hub.net_of(task)
    architecture = hub.architecture_of(net)
    return {
        "architecture": architecture,
        "model_args": hub.jsonable(net.constructor_args, "model_args"),
        "task": get_model_entry(architecture).task,
        "instance_norm": None,  # RevIN is an option of the net, in model_args
        "preprocessing": preprocessing_of(datamodule),
        "training": hub.jsonable(
            {k: v for k, v in dict(task.hparams).items() if not k.startswith("_")}, "training"
        ),
    }


_DIMENSIONS = (
    "n_features",
    "n_targets",
    "seq_len",
    "label_len",
    "pred_len",
    "n_time_features",
    "image_shape",
)


def check_dimensions(config: hub.PretrainedConfig, net: Any, where: Any) -> None:
    """A net built for other data than the pretrained model's is an error naming each dimension that differs.

    Args:
        config: the pretrained model's config.
        net: the task's net, built from the data.
        where: the config file, for the message.
    """
    built = getattr(net, "constructor_args", {})
    differ = [
        f"{dim}={config.model_args[dim]} (the data gives {built[dim]})"
        for dim in _DIMENSIONS
        if dim in config.model_args
        and dim in built
        and list(np.atleast_1d(config.model_args[dim])) != list(np.atleast_1d(built[dim]))
    ]
    if not differ:
        return
    columns = config.preprocessing.get("input_columns")
    trained_on = f" on columns {columns}" if columns else ""
    raise hub.ArchitectureMismatchError(
        f"{config.name or where} was trained with {', '.join(differ)}{trained_on}; give data with the model's "
        "columns (data.columns, data.target) and window (data.seq_len, data.pred_len, ...), or train a new model "
        "without init_from"
    )


class PretrainedTaskMixin:
    """``init_from``, LoRA and self-describing checkpoints for ``ForecastingTask`` and ``GenerativeTask``."""

    def init_from_pretrained(self, name_or_dir: str) -> hub.PretrainedConfig:
        """Load a pretrained model's weights into this task's net (RevIN included); returns its config."""
        directory = hub.resolve(name_or_dir)
        where = directory / hub.CONFIG_NAME
        config = hub.upgrade_config(hub.PretrainedConfig.from_file(where), where)
        net = hub.net_of(self)
        expected = get_model_entry(config.architecture).builder
        if type(net) is not expected:
            raise hub.ArchitectureMismatchError(
                f"{where} holds a {config.architecture!r} ({expected.__name__}) but the task's "
                f"net is a {type(net).__name__}; give a matching model.net or leave it out"
            )
        trained, built = (
            bool(config.model_args.get("revin", False)),
            bool(net.constructor_args.get("revin", False)),
        )
        if trained != built:
            need = str(trained).lower()
            raise hub.ArchitectureMismatchError(
                f"{where}: the model was trained with revin={need}; build the net with revin={need} "
                f"(model.net.init_args.revin)"
            )
        check_dimensions(config, net, where)
        weights = directory / hub.WEIGHTS_NAME
        hub.load_state(net, hub.read_weights(weights), weights, architecture=config.architecture)
        return config

    def start_from_pretrained(
        self, init_from: str | None, lora: LoraConfig | Mapping[str, Any] | None
    ) -> hub.PretrainedConfig | None:
        """The tail of both tasks' ``__init__``: load ``init_from``, then attach a LoRA adapter if asked.

        With ``lora`` only the adapter (and its ``modules_to_save``) trains: the net's other weights (RevIN's
        included) are frozen, and checkpoints hold just the trainable tensors and the buffers (the frozen base
        comes back from ``init_from`` when a run resumes).
        """
        config = self.init_from_pretrained(init_from) if init_from else None
        if isinstance(lora, Mapping):  # as stored in hparams (load_from_checkpoint)
            lora = LoraConfig(**lora)
        if lora is not None:
            self.lora_base_sha256 = base_fingerprint(self.net)  # the weights the adapter is trained on
            get_lora_model(self.net, lora)
            self.strict_loading = False
            self.hparams["lora"] = lora.to_dict()  # plain types: checkpoints load with weights_only=True
        return config

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        trainer = self._trainer  # type: ignore[attr-defined]
        try:
            checkpoint[CHECKPOINT_KEY] = describe_run(
                self, getattr(trainer, "datamodule", None) if trainer else None
            )
        except TypeError as e:  # a net outside the registry: the checkpoint still resumes, it cannot convert
            log.debug("checkpoint without a %s record: %s", CHECKPOINT_KEY, e)
        if lora_configs(self.net):
            keep = set(trainable_state_keys(self.net, "net.")) | {name for name, _ in self.named_buffers()}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
            checkpoint[LORA_KEY] = {"base_sha256": self.lora_base_sha256}
