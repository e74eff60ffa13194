"""Between training runs and pretrained directories: reading, converting and evaluating Lightning checkpoints.

Sits above the tasks (it builds them to evaluate), beside the CLI:

- :func:`load_checkpoint` reads a ``.ckpt`` with ``torch.load(weights_only=True)``: tensors and plain
  types only, never arbitrary objects; an empty, truncated, corrupt or foreign file is an error naming it
  and what is wrong, and the digest zoo records in its checkpoints is checked;
- :func:`convert_checkpoint` writes the pretrained directory (:mod:`zoo.hub`) of a checkpoint from the
  ``zoo_pretrained`` record every task writes into its checkpoints (:mod:`zoo.tasks.checkpoints`); a
  checkpoint without one (written before zoo recorded the model) is refused with a clear message;
- :func:`evaluate_pretrained` tests a pretrained model on the split its config names, through the
  public API (``from_pretrained`` + a task + ``Trainer.test``), with a fixed seed.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from zoo import hub
from zoo.data.images import ImageDataModule
from zoo.data.timeseries import TimeSeriesDataModule
from zoo.tasks.checkpoints import CHECKPOINT_KEY, LORA_KEY, verify_checkpoint
from zoo.tasks.forecasting import ForecastingTask
from zoo.tasks.generative import GenerativeTask


def _what_is_wrong(path: Path) -> str:
    """Why ``torch.load`` could not read ``path``, in words: empty, not a zip/pickle, truncated, corrupt."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty (0 bytes)"
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            return f"the archive's record {bad} is corrupt" if bad else "its pickled records are corrupt"
        except zipfile.BadZipFile:
            return f"it is a truncated or corrupt checkpoint archive ({size} bytes)"
    if head[:1] == b"\x80":
        return "it is a legacy (non-zip) torch file that cannot be read safely"
    return f"it is not a PyTorch checkpoint ({size} bytes starting {head!r})"


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A Lightning checkpoint read with ``weights_only=True`` (tensors and plain types, never objects),
    checked against the digest a zoo task records in it.

    Args:
        path: the ``.ckpt`` file.
    """
    path = Path(path)
    if path.is_dir():
        raise hub.IntegrityError(f"checkpoint {path} is a directory; give the .ckpt file inside it")
    if not path.is_file():
        raise hub.PretrainedNotFoundError(f"checkpoint {path} not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e):  # bad bytes, not a refused object
            raise hub.IntegrityError(
                f"cannot read checkpoint {path}: {_what_is_wrong(path)}; use another checkpoint or train again"
            ) from e
        refused = re.search(r"GLOBAL ([\w.]+)", str(e))  # torch names the first class it would not build
        raise hub.IntegrityError(
            f"refusing to load {path}: it holds objects other than tensors and plain types "
            f"({refused.group(1) if refused else 'an unsupported global'}); zoo never unpickles arbitrary "
            "objects: it is not a plain-weights checkpoint (torch.load(weights_only=True))"
        ) from e
    except Exception as e:
        raise hub.IntegrityError(
            f"cannot read checkpoint {path}: {_what_is_wrong(path)} ({type(e).__name__}); "
            "use another checkpoint or train again"
        ) from e
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise hub.IntegrityError(
            f"{path} is not a Lightning checkpoint (it holds a {type(checkpoint).__name__} without 'state_dict')"
        )
    verify_checkpoint(checkpoint, path)
    return checkpoint


def net_from_checkpoint(path: str | os.PathLike[str]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The net a zoo checkpoint holds, with its weights, and the checkpoint (its ``zoo_pretrained`` record).

    The net carries ``pretrained_config`` (architecture, arguments, preprocessing; no metrics), as a
    pretrained model does, so ``zoo.forecast`` can apply it; it is returned in eval mode.

    Args:
        path: the ``.ckpt`` file, written by a zoo task.
    """
    path = Path(path)
    checkpoint = load_checkpoint(path)
    spec = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(spec, dict):
        raise hub.IntegrityError(
            f"{path} has no '{CHECKPOINT_KEY}' record of its model (it was not written by a zoo task, or by a zoo "
            "older than 0.1.0); load it into its task and save it with zoo.hub.save_pretrained instead"
        )
    config = hub.PretrainedConfig(
        architecture=spec["architecture"],
        model_args=spec["model_args"],
        task=spec["task"],
        name=path.name,
        instance_norm=spec.get("instance_norm"),
        preprocessing=spec.get("preprocessing") or {},
    )
    model = hub.build_model(config, f"{path} ({CHECKPOINT_KEY})")
    # the task's keys: net.* (RevIN inside the net), or net.* and revin.* from zoo before RevIN moved into nets
    state = {k: v for k, v in checkpoint["state_dict"].items() if k.split(".", 1)[0] in ("net", "revin")}
    if LORA_KEY in checkpoint:
        model = _merged_adapter(model, checkpoint, state, path)
    else:
        hub.load_state(model, state, path, architecture=config.architecture)  # drops the task's net. prefix
    model.pretrained_config = hub.upgrade_config(config, path)
    return model.eval(), checkpoint


def _merged_adapter(
    model: torch.nn.Module, checkpoint: Mapping[str, Any], state: Mapping[str, torch.Tensor], path: Path
) -> torch.nn.Module:
    """A LoRA run's checkpoint (the adapter only) folded into its base: the base's weights from the run's
    ``init_from`` (checked against the sha256 the checkpoint records), the adapter's from the checkpoint,
    merged (Hu et al., ICLR 2022: W + B A scaled), so the net is a plain model of its architecture.

    Args:
        model: the net built from the checkpoint's record, with fresh weights.
        checkpoint: the loaded checkpoint (its hyperparameters name ``init_from`` and ``lora``).
        state: its ``net.*`` tensors.
        path: the checkpoint file, for messages.
    """
    from zoo.adapters.adapter_io import base_fingerprint
    from zoo.adapters.lora import LoraConfig, get_lora_model, merge_and_unload

    hparams = checkpoint.get("hyper_parameters") or {}
    init_from, lora = hparams.get("init_from"), hparams.get("lora")
    if not init_from or not isinstance(lora, Mapping):
        raise hub.ArchitectureMismatchError(
            f"{path} is the checkpoint of a LoRA run without model.init_from: it holds the adapter only, and "
            "its base (randomly initialised) was not saved; train the adapter on a pretrained base"
        )
    base = hub.from_pretrained(init_from)
    hub.load_state(
        model, base.state_dict(), f"{path}: its base {init_from}", architecture=hub.architecture_of(model)
    )
    recorded = (checkpoint.get(LORA_KEY) or {}).get("base_sha256")
    if recorded not in (None, base_fingerprint(model)):
        raise hub.IntegrityError(
            f"{path}: its LoRA adapter was trained on base weights {str(recorded)[:12]}..., but its model.init_from "
            f"{init_from!r} now holds others: restore that base"
        )
    get_lora_model(model, LoraConfig(**lora))
    adapter = {k.removeprefix("net."): v for k, v in state.items()}
    result = model.load_state_dict(adapter, strict=False)
    trained = [k for k in result.missing_keys if ".lora_" in k or "modules_to_save" in k]
    if trained or result.unexpected_keys:
        raise hub.IntegrityError(
            f"{path}: the adapter does not fit its record: missing {trained[:3]}, unexpected "
            f"{result.unexpected_keys[:3]}"
        )
    return merge_and_unload(model)


def convert_checkpoint(
    checkpoint_path: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    name: str = "",
    metrics: Mapping[str, float] | None = None,
    data_license: str = "",
    training_command: str = "",
    weights_dtype: hub.WeightsDtype = "float32",
    card: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the pretrained directory of a Lightning checkpoint (the net, and RevIN if the task had it).

    Args:
        checkpoint_path: the ``.ckpt`` file, written by a zoo task (it carries the ``zoo_pretrained`` record).
        directory: the pretrained directory to write (atomically).
        name: the model's name in its config (default: the directory's name).
        metrics: test metrics to record.
        data_license: the license of the training data, for the card.
        training_command: the command that trained it, for the card.
        weights_dtype: the dtype the floating-point weights are stored in.
        card: the text of the model card (``README.md``), if any.
        overwrite: replace an existing pretrained directory at ``directory``.
    """
    path = Path(checkpoint_path)
    model, checkpoint = net_from_checkpoint(path)
    spec = checkpoint[CHECKPOINT_KEY]
    training = {
        **spec.get("training", {}),
        "epoch": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "checkpoint": path.name,
    }
    return hub.save_pretrained(
        model,
        directory,
        name=name,
        preprocessing=spec["preprocessing"],
        metrics=metrics,
        training=training,
        data_license=data_license,
        training_command=training_command,
        weights_dtype=weights_dtype,
        card=card,
        overwrite=overwrite,
    )


def evaluate_pretrained(
    name_or_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    data_overrides: Mapping[str, Any] | None = None,
    task_overrides: Mapping[str, Any] | None = None,
    accelerator: str = "cpu",
) -> dict[str, float]:
    """Test metrics of a pretrained model on the test split its config names, with a fixed seed.

    Args:
        name_or_dir: a pretrained name or directory.
        seed: the seed of ``seed_everything`` (the cards are measured with 0).
        data_overrides: datamodule arguments over the recorded ones, e.g. a batch size.
        task_overrides: task arguments; generative models skip the IWAE bound unless these ask for it
            (``test_iwae_samples``).
        accelerator: the Lightning accelerator to test on.
    """
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
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    results = trainer.test(task, datamodule=datamodule, verbose=False)[0]
    return {key: float(value) for key, value in results.items()}
