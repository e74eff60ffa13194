"""What ``train.py fit --export_pretrained DIR`` writes after training: a pretrained directory, or a LoRA adapter.

A plain run exports its best checkpoint (else its final weights) as a pretrained directory
(:mod:`zoo.hub`); a run with LoRA adapters (Hu et al., ICLR 2022) exports the best epoch's adapter in PEFT's
layout (:mod:`zoo.adapters`), which ``train.py merge`` folds into its base. Either is also logged as a W&B
model artifact when a ``WandbLogger`` is attached. The target is checked before training
(:func:`check_export_target`), so a refusal costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zoo.adapters.adapter_io import ADAPTER_CONFIG, ADAPTER_REPLACEABLE, ADAPTER_WEIGHTS
from zoo.adapters.lora import lora_configs
from zoo.hub import MODEL_FILES, check_directory_target

log = logging.getLogger(__name__)

ADAPTER_NAMES = frozenset({ADAPTER_CONFIG, ADAPTER_WEIGHTS, *ADAPTER_REPLACEABLE})


def check_export_target(directory: Path, overwrite: bool, adapter: bool) -> None:
    """Refuse ``directory`` now if the export would have to replace something, with the same rule the write
    applies after training (``check_directory_target``), so a refusal costs nothing.

    Args:
        directory: the ``--export_pretrained`` target.
        overwrite: whether an existing directory of the same kind may be replaced.
        adapter: whether the run exports a LoRA adapter (else a pretrained directory).
    """
    check_directory_target(directory, ADAPTER_NAMES if adapter else MODEL_FILES, overwrite)


def export_run(
    task: Any,
    datamodule: Any,
    loggers: Iterable[Any],
    directory: Path,
    *,
    best: str,
    metrics: dict[str, float],
    command: str,
    overwrite: bool,
) -> None:
    """Write the trained model (or its adapter) to ``directory`` and log it as a W&B artifact.

    Args:
        task: the trained ``ForecastingTask`` or ``GenerativeTask``.
        datamodule: its datamodule (for the preprocessing record).
        loggers: the trainer's loggers; a ``WandbLogger`` among them receives the artifact.
        directory: the target directory.
        best: the best checkpoint's path, or "" to export the final weights.
        metrics: test metrics to record in the config.
        command: the training command to record.
        overwrite: replace an existing directory of the same kind.
    """
    from zoo.conversion import convert_checkpoint
    from zoo.hub import save_pretrained
    from zoo.tasks.checkpoints import preprocessing_of

    if lora_configs(task.net):
        _export_adapter(
            task, datamodule, directory, best=best, metrics=metrics, command=command, overwrite=overwrite
        )
    elif best:
        convert_checkpoint(
            best,
            directory,
            name=directory.name,
            metrics=metrics,
            training_command=command,
            overwrite=overwrite,
        )
    else:
        save_pretrained(
            task,
            directory,
            name=directory.name,
            metrics=metrics,
            training_command=command,
            preprocessing=preprocessing_of(datamodule),
            training=dict(task.hparams),
            overwrite=overwrite,
        )
    log.info("pretrained directory written to %s", directory)
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            _log_artifact(logger, directory, metrics)


def _log_artifact(logger: Any, directory: Path, metrics: dict[str, float]) -> None:
    import wandb

    from zoo.hub import sha256_files

    files = sha256_files(directory)
    artifact = wandb.Artifact(
        directory.name,
        type="model",
        metadata={"metrics": metrics, "sha256": {k: v["sha256"] for k, v in files.items()}},
    )
    artifact.add_dir(str(directory))
    logger.experiment.log_artifact(artifact)


def _export_adapter(
    task: Any,
    datamodule: Any,
    directory: Path,
    *,
    best: str,
    metrics: dict[str, float],
    command: str,
    overwrite: bool,
) -> None:
    """The best epoch's adapter (PEFT layout), with what ``merge`` needs to make a pretrained model."""
    from zoo.adapters import save_adapter
    from zoo.conversion import load_checkpoint
    from zoo.tasks.checkpoints import preprocessing_of

    if best:  # the adapter and saved modules of the best epoch (the frozen base is unchanged)
        task.load_state_dict(load_checkpoint(best)["state_dict"], strict=False)
    save_adapter(
        task.net,
        directory,
        base_sha256=task.lora_base_sha256,
        metadata={
            "init_from": task.hparams.get("init_from"),
            "preprocessing": preprocessing_of(datamodule),
            "metrics": metrics,
            "training_command": command,
        },
        overwrite=overwrite,
    )
