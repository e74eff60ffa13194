"""A LoRA adapter merged into its pretrained base: a plain pretrained directory (``train.py merge``).

The adapter directory written by a fine-tuning run (``fit --export_pretrained`` with ``model.lora``)
records its base (``zoo.init_from``), the sha256 of the base weights, and the preprocessing and test
metrics of the data it was tuned on; the merged directory carries those, so it evaluates and predicts on
the new data like any shipped model.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo import hub
from zoo.adapters.adapter_io import load_adapter, read_adapter_config
from zoo.adapters.lora import merge_and_unload


def merge_adapter_into_pretrained(
    adapter: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    base: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Load the base, attach the adapter (its file's and the base's sha256 checked), merge, ``save_pretrained``.

    Args:
        adapter: the adapter directory.
        directory: the merged pretrained directory to write.
        base: the base pretrained name or directory (default: the one the adapter records).
        overwrite: replace an existing pretrained directory at ``directory``.
    """
    hub.check_directory_target(Path(directory), hub.MODEL_FILES, overwrite)
    document = read_adapter_config(Path(adapter))
    record = document.get("zoo") or {}
    source = base or record.get("init_from") or document.get("base_model_name_or_path")
    if not source:
        raise hub.IntegrityError(f"{Path(adapter) / 'adapter_config.json'} names no base model; pass base=")
    model = hub.from_pretrained(source)
    load_adapter(model, adapter)
    merge_and_unload(model)  # in place
    config = model.pretrained_config
    preprocessing = record.get("preprocessing") or config.preprocessing
    return hub.save_pretrained(
        model,
        directory,
        name=Path(directory).name,
        preprocessing=preprocessing,
        metrics=record.get("metrics", {}),
        data_license=config.data_license,
        training_command=record.get("training_command", ""),
        training={
            "base": str(source),
            "adapter": str(adapter),
            "lora": {k: document[k] for k in ("r", "lora_alpha")},
        },
        overwrite=overwrite,
    )
