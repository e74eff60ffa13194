"""The record of a pretrained model: ``config.json`` (:class:`PretrainedConfig`), file names and errors.

One directory per model, named ``<family>.<tag>`` (``tcn.etth1``, ``vae.mnist``)::

    config.json        PretrainedConfig: the registry name and every constructor argument, the RevIN
                       wrapper if any, the data preprocessing (dataset, split, window, scaler statistics),
                       the test metrics, the data license, the training command, format and zoo versions
    model.safetensors  the state dict; safetensors holds tensors only, so loading runs no code
    README.md          the model card

The layout follows the Hugging Face hub convention (``config.json`` + ``model.safetensors``) and timm's
``<arch>.<tag>`` names.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from zoo.choices import check_choice
from zoo.data.scaling import StandardScaler
from zoo.hub.errors import (  # noqa: F401 (re-exported: the hub's errors have always been importable from here)
    ArchitectureMismatchError,
    IntegrityError,
    OutputExistsError,
    PretrainedError,
    PretrainedNotFoundError,
)
from zoo.hub.files import write_text_atomic
from zoo.registry import TaskKind, get_model_entry

FORMAT_VERSION = 2  # 2: config.json records weights_sha256
CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, MANIFEST_NAME = (
    "config.json",
    "model.safetensors",
    "README.md",
    "manifest.json",
)
WeightsDtype = Literal["float32", "float16", "bfloat16"]
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON types (tuples and arrays become lists, paths strings); else a TypeError."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where} of type {type(value).__name__} cannot be written to {CONFIG_NAME}")


@dataclass
class PretrainedConfig:
    """The contents of ``config.json`` (see the module docstring)."""

    architecture: str
    model_args: dict[str, Any]
    task: TaskKind
    name: str = ""
    instance_norm: dict[str, Any] | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    data_license: str = ""
    training_command: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    num_parameters: int = 0
    weights_dtype: WeightsDtype = "float32"
    weights_sha256: str = ""
    format_version: int = FORMAT_VERSION
    zoo_version: str = ""

    @classmethod
    def from_file(cls, path: Path) -> PretrainedConfig:
        """Read and validate ``config.json``; errors name the file and the field."""
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise PretrainedNotFoundError(
                f"{path} not found: a pretrained directory needs {CONFIG_NAME}"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise IntegrityError(f"{path} is not valid JSON: {e}") from e
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: Any, path: Path | str) -> PretrainedConfig:
        """Validate a config record read from ``path`` (``config.json``, or the ``config`` of an export's
        ``export.json``); errors name the file and the field.

        Args:
            raw: the parsed JSON record.
            path: the file it was read from, for the messages.
        """
        if not isinstance(raw, dict):
            raise IntegrityError(f"{path}: expected a JSON object, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        missing = sorted({"architecture", "model_args", "task"} - set(raw))
        if missing:
            raise IntegrityError(f"{path}: missing field(s) {missing}")
        unknown = sorted(set(raw) - known)
        if unknown:
            raise IntegrityError(f"{path}: unknown field(s) {unknown}; known: {sorted(known)}")
        if not isinstance(raw["model_args"], dict):
            raise IntegrityError(f"{path}: field 'model_args' must be an object")
        if raw.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise IntegrityError(
                f"{path}: format_version {raw['format_version']} is newer than this zoo reads "
                f"({FORMAT_VERSION}); upgrade zoo"
            )
        try:
            check_choice(
                "weights_dtype", raw.get("weights_dtype", "float32"), WeightsDtype, owner=f"{path}: field"
            )
        except ValueError as e:
            raise IntegrityError(str(e)) from None
        try:
            entry = get_model_entry(raw["architecture"])
        except KeyError as e:
            raise IntegrityError(f"{path}: field 'architecture': {e.args[0]}") from None
        if raw["task"] != entry.task:
            raise IntegrityError(
                f"{path}: field 'task' is {raw['task']!r} but {raw['architecture']!r} is a {entry.task} model"
            )
        return cls(**raw)

    def to_json(self) -> str:
        return json.dumps(jsonable(dataclasses.asdict(self), CONFIG_NAME), indent=2) + "\n"

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """(Re)write ``<directory>/config.json`` atomically, e.g. after measuring the test metrics."""
        path = Path(directory) / CONFIG_NAME
        write_text_atomic(path, self.to_json())
        return path

    def scaler(self, which: Literal["input", "target"] = "target") -> StandardScaler | None:
        """The train-row scaler of the inputs or targets, or None when the model was not trained on scaled series."""
        stats = self.preprocessing.get("scaler" if which == "input" else "target_scaler")
        if not stats:
            return None
        return StandardScaler.from_record(stats)
