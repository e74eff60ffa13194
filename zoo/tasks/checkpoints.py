"""What the tasks share about pretrained models: ``init_from``, LoRA, and self-describing checkpoints.

- Both tasks take ``init_from`` (a pretrained name or directory): the net (RevIN included) starts from its
  weights, and a forecaster's scaler statistics come with them (:class:`PretrainedTaskMixin`).
- Every Lightning checkpoint a task writes carries ``checkpoint["zoo_pretrained"]``: the registry name
  and constructor arguments of the net (RevIN among them), the data preprocessing (scaler statistics
  included) and the task's hyperparameters, all plain JSON types, so the checkpoint still loads with
  ``torch.load(weights_only=True)`` and converts without the run's config or data
  (:func:`zoo.conversion.convert_checkpoint`).
- It also carries ``checkpoint["zoo_digest"]``, the sha256 of every tensor in it and of that record
  (:func:`checkpoint_digest`), written last. Before a checkpoint is used (resumed, tested, converted)
  the digest is checked (:func:`verify_checkpoint`), and the model it holds must be the one the run
  builds: same architecture, task and dimensions (:func:`check_checkpoint_fits`), else an error naming both.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from zoo import hub
from zoo.adapters.adapter_io import base_fingerprint
from zoo.adapters.lora import LoraConfig, get_lora_model, lora_configs, trainable_state_keys
from zoo.registry import get_model_entry

CHECKPOINT_KEY = "zoo_pretrained"
LORA_KEY = "zoo_lora"
DIGEST_KEY = "zoo_digest"
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
    covariates = getattr(datamodule, "future_covariates", None)
    if covariates is not None:
        record["future_covariates"] = covariates.record()
    statics = getattr(datamodule, "static_covariates", None)
    if statics is not None:
        record["static_covariates"] = statics.record()
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


def check_dimensions(config: hub.PretrainedConfig, net: Any, where: Any) -> None:
    """A net built for other data than the pretrained model's is an error naming each dimension that differs.

    Args:
        config: the pretrained model's config.
        net: the task's net, built from the data.
        where: the config file, for the message.
    """
    differ = hub.differing_dimensions(config.model_args, getattr(net, "constructor_args", {}))
    if not differ:
        return
    columns = config.preprocessing.get("input_columns")
    trained_on = f" on columns {columns}" if columns else ""
    described = ", ".join(f"{dim}={trained} (the data gives {built})" for dim, trained, built in differ)
    raise hub.ArchitectureMismatchError(
        f"{config.name or where} was trained with {described}{trained_on}; give data with the model's "
        "columns (data.columns, data.target) and window (data.seq_len, data.pred_len, ...), or train a new model "
        "without init_from"
    )


def changed_arguments(trained: Mapping[str, Any], net: Any) -> list[str]:
    """``name=trained (this run: built)`` for each constructor argument ``net`` was built with otherwise.

    Args:
        trained: the constructor arguments the weights were trained with.
        net: the net about to receive them.
    """
    built = getattr(net, "constructor_args", {})
    return [
        f"{k}={trained[k]} (this run: {built[k]})"
        for k in trained
        if k in built and _as_json(trained[k]) != _as_json(built[k])  # (8, 8) as recorded: [8, 8]
    ]


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def checkpoint_digest(checkpoint: Mapping[str, Any]) -> str:
    """sha256 of every tensor of a Lightning checkpoint (weights, optimiser and callback states) and of its
    ``zoo_pretrained`` and ``zoo_lora`` records; the ``zoo_digest`` entry itself is left out.

    Args:
        checkpoint: the checkpoint dict, as saved or as loaded.
    """
    tensors = hub.tensors_digest({k: v for k, v in checkpoint.items() if k != DIGEST_KEY})
    records = {key: checkpoint.get(key) for key in (CHECKPOINT_KEY, LORA_KEY)}  # LORA_KEY: the adapter's base
    record = json.dumps(records, sort_keys=True, default=str)
    return hashlib.sha256(f"{tensors}|{record}".encode()).hexdigest()


def verify_checkpoint(checkpoint: Mapping[str, Any], source: str | Path) -> None:
    """Check a loaded checkpoint against the digest it carries; one without a digest loads with a warning.

    Args:
        checkpoint: the loaded checkpoint dict.
        source: its file, for the message.
    """
    recorded = checkpoint.get(DIGEST_KEY)
    if not recorded:
        log.warning(
            "%s carries no %s (not written by a zoo task, or by a zoo before 0.2): its tensors cannot be verified",
            source,
            DIGEST_KEY,
        )
        return
    if checkpoint_digest(checkpoint) != recorded:
        raise hub.IntegrityError(
            f"{source}: its tensors do not match the digest recorded when it was written (the file is corrupted "
            "or was modified): use another checkpoint (e.g. the best one beside it) or train again"
        )


def check_checkpoint_fits(checkpoint: Mapping[str, Any], task: Any, source: str | Path) -> None:
    """The model a checkpoint holds must be the task's: same task kind, architecture, dimensions and shapes.

    Args:
        checkpoint: the loaded checkpoint dict.
        task: the ForecastingTask / GenerativeTask about to load it.
        source: the checkpoint file, for the message.
    """
    net = hub.net_of(task)
    record = checkpoint.get(CHECKPOINT_KEY)
    mine_class = type(net).__name__
    if isinstance(record, Mapping) and record.get("architecture"):
        try:
            mine = hub.architecture_of(net)
        except TypeError:  # a net outside the registry: nothing recorded to compare with
            mine = None
        theirs = str(record["architecture"])
        try:
            theirs_entry = get_model_entry(theirs)
        except KeyError:
            theirs_entry = None
        if mine is not None and (theirs_entry is None or theirs_entry.builder is not type(net)):
            kind = theirs_entry.task if theirs_entry else record.get("task", "?")
            raise hub.ArchitectureMismatchError(
                f"{source} holds a {kind} model {theirs!r}, but this run builds a "
                f"{get_model_entry(mine).task} model {mine!r} ({mine_class}): give the model.net (or --config) "
                "it was trained with, or another checkpoint"
            )
        differ = hub.differing_dimensions(
            record.get("model_args") or {}, getattr(net, "constructor_args", {})
        )
        if differ:
            described = ", ".join(
                f"{dim}={trained} (this run asks for {built})" for dim, trained, built in differ
            )
            raise hub.ArchitectureMismatchError(
                f"{source} was trained with {described}: give data with that window and those columns "
                "(data.seq_len, data.pred_len, data.columns, ...), or start from scratch without --ckpt_path"
            )
    _check_adapter(checkpoint, task, source)
    own = task.state_dict()
    if LORA_KEY not in checkpoint and "state_dict" in checkpoint:
        theirs_keys = set(checkpoint["state_dict"])
        missing, unexpected = sorted(set(own) - theirs_keys), sorted(theirs_keys - set(own))
        if missing or unexpected:
            changed = changed_arguments((record or {}).get("model_args") or {}, net)
            shown = ", ".join([*(f"{k} (not in the checkpoint)" for k in missing[:2]), *unexpected[:2]])
            because = (
                f"it was trained with {', '.join(changed)}"
                if changed
                else f"{len(missing)} weight(s) missing and {len(unexpected)} unexpected, e.g. {shown}"
            )
            raise hub.ArchitectureMismatchError(
                f"{source} does not fit this run's {mine_class}: {because}; build the net with the arguments "
                "the checkpoint was trained with"
            )
    shapes = [
        f"{k} {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in this run"
        for k, v in (checkpoint.get("state_dict") or {}).items()
        if k in own and isinstance(v, torch.Tensor) and tuple(v.shape) != tuple(own[k].shape)
    ]
    if shapes:
        changed = changed_arguments((record or {}).get("model_args") or {}, net)
        because = f"it was trained with {', '.join(changed)}" if changed else "; ".join(shapes[:3])
        raise hub.ArchitectureMismatchError(
            f"{source} does not fit this run's {mine_class}: {because}; build the net with the arguments the "
            "checkpoint was trained with"
        )


def _check_adapter(checkpoint: Mapping[str, Any], task: Any, source: str | Path) -> None:
    """A LoRA checkpoint needs a LoRA run on the very base weights its adapter was trained on."""
    record = checkpoint.get(LORA_KEY)
    ours = getattr(task, "lora_base_sha256", None) if lora_configs(hub.net_of(task)) else None
    if record is None and ours is None:
        return
    if record is None:
        raise hub.ArchitectureMismatchError(
            f"{source} holds no LoRA adapter, but this run builds one (model.lora): leave model.lora out, or "
            "give the checkpoint of a LoRA run"
        )
    if ours is None:
        raise hub.ArchitectureMismatchError(
            f"{source} holds a LoRA adapter and only the weights it trains: give the run's model.init_from and "
            "model.lora (the --config it was trained with) to evaluate or resume it"
        )
    if isinstance(record, Mapping) and record.get("base_sha256") not in (None, ours):
        raise hub.IntegrityError(
            f"{source}: its LoRA adapter was trained on base weights {str(record['base_sha256'])[:12]}..., but "
            f"this run's model.init_from {task.hparams.get('init_from')!r} gives {ours[:12]}...: the base has "
            "changed since; start from the base the adapter was trained on"
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
        state = hub.read_pretrained_weights(directory, config)
        try:
            hub.load_state(net, state, weights, architecture=config.architecture)
        except hub.ArchitectureMismatchError as error:
            changed = changed_arguments(config.model_args, net)
            if not changed:
                raise
            raise hub.ArchitectureMismatchError(
                f"{config.name or directory} was trained with {', '.join(changed)}; its weights fit only those: "
                "leave the option(s) out, or train the architecture without init_from / pretrained"
            ) from error
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
        checkpoint[DIGEST_KEY] = checkpoint_digest(checkpoint)  # last: it covers everything above

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Before Lightning loads a checkpoint into this task: its digest, then that it holds this task's model."""
        trainer = self._trainer  # type: ignore[attr-defined]
        source = (getattr(trainer, "ckpt_path", None) if trainer is not None else None) or "the checkpoint"
        verify_checkpoint(checkpoint, source)
        check_checkpoint_fits(checkpoint, self, source)
