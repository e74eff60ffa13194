"""Adapter files in PEFT's layout: ``adapter_config.json`` + ``adapter_model.safetensors``.

Tensor names are PEFT's: ``base_model.model.<module>.lora_A.weight`` / ``lora_B.weight`` (the adapter name
left out), and the trained copies of ``modules_to_save`` under the module's own keys
(``base_model.model.<module>.weight``), so ``peft.PeftModel.from_pretrained`` loads our Linear and Conv1d
adapters. Recurrent targets, which PEFT cannot adapt, use the same scheme with the matrix name in place
of ``weight`` (``...encoder.lora_A.weight_hh_l0``).

``adapter_config.json`` holds PEFT's ``LoraConfig`` fields (``target_modules`` resolved to the exact module
names) and a ``zoo`` section: the base model's registry name, the sha256 of its weights (every base
tensor's name, dtype, shape and bytes, in key order), the sha256 of ``adapter_model.safetensors``
(``adapter_sha256``, checked on every load) and, from a fine-tuning run, the target data's preprocessing and
test metrics. Loading onto a base with another architecture or other weights, or from a file whose bytes
changed, is a clear error, never a silent mismatch.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetensors.torch import save
from torch import nn

from zoo import hub
from zoo.adapters.lora import (
    LoraConfig,
    LoraLayer,
    ModulesToSave,
    active_adapter,
    adapter_state_dict,
    base_state_dict,
    get_lora_model,
    is_merged,
    lora_configs,
)
from zoo.hub.digest import bytes_sha256

ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."
FORMAT_VERSION = 1
log = logging.getLogger(__name__)


def base_fingerprint(net: nn.Module) -> str:
    """sha256 of the base model's weights (adapters excluded): what an adapter was trained on."""
    return hub.tensors_digest(base_state_dict(net))


def architecture(net: nn.Module) -> str:
    """The registry name of ``net``, or its class path for a model outside the registry."""
    try:
        return hub.architecture_of(net)
    except TypeError:
        return f"{type(net).__module__}.{type(net).__qualname__}"


def base_name(net: nn.Module) -> str:
    """The pretrained name the net was loaded as, else its architecture."""
    config = getattr(net, "pretrained_config", None)
    return config.name if config is not None and config.name else architecture(net)


def save_adapter(
    net: nn.Module,
    directory: str | os.PathLike[str],
    adapter_name: str | None = None,
    *,
    base_sha256: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write adapter ``adapter_name`` (default: the active one) of ``net`` to ``directory``, atomically.

    ``base_sha256``: the fingerprint of the base it was trained on, when the base in ``net`` has changed
    since (it is computed from ``net`` otherwise; merged adapters make that the merged weights).
    ``metadata``: extra entries for the ``zoo`` section (preprocessing, metrics, command).
    ``overwrite``: replace an existing adapter directory at ``directory``.
    """
    name = adapter_name or active_adapter(net)
    configs = lora_configs(net)
    if name not in configs:
        raise KeyError(f"no adapter {name!r} on {type(net).__name__}; adapters: {sorted(configs)}")
    if is_merged(net):
        raise RuntimeError("save_adapter: the adapter is merged into the weights; unmerge(net) first")
    config = configs[name]
    targets = [n for n, m in net.named_modules() if isinstance(m, LoraLayer) and name in m.lora_A]
    recurrent = [
        n
        for n, m in net.named_modules()
        if isinstance(m, LoraLayer) and isinstance(m.base_layer, (nn.LSTM, nn.GRU))
    ]
    saved = sorted(
        {n for n, m in net.named_modules() if isinstance(m, ModulesToSave) and name in m.modules_to_save}
    )
    document = {
        "peft_type": "LORA",
        "task_type": None,
        "r": config.r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": targets,
        "modules_to_save": saved or None,
        "use_rslora": config.use_rslora,
        "init_lora_weights": config.init_lora_weights,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "base_model_name_or_path": base_name(net),
        "zoo": hub.jsonable(
            {
                "format_version": FORMAT_VERSION,
                "architecture": architecture(net),
                "base_model_sha256": base_sha256 or base_fingerprint(net),
                "adapter_name": name,
                "recurrent_targets": recurrent,
                "requested_target_modules": config.target_modules,
                **(metadata or {}),
            },
            "zoo",
        ),
    }
    tensors = {
        PEFT_PREFIX + k: v.cpu().contiguous().clone() for k, v in adapter_state_dict(net, name).items()
    }
    weights = save(tensors, metadata={"format": "pt"})
    document["zoo"]["adapter_sha256"] = bytes_sha256(weights)
    return hub.write_directory(
        directory,
        {ADAPTER_WEIGHTS: weights, ADAPTER_CONFIG: json.dumps(document, indent=2) + "\n"},
        overwrite=overwrite,
        replaceable=ADAPTER_REPLACEABLE,
    )


ADAPTER_REPLACEABLE = (
    hub.CARD_NAME,
)  # what an earlier adapter there may hold beside its two files (PEFT's card)


def read_adapter_config(directory: Path) -> dict[str, Any]:
    path = Path(directory) / ADAPTER_CONFIG
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise hub.PretrainedNotFoundError(
            f"{path} not found: an adapter directory needs {ADAPTER_CONFIG}"
        ) from None
    except IsADirectoryError:
        raise hub.IntegrityError(
            f"{path} is a directory; an adapter directory holds {ADAPTER_CONFIG}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise hub.IntegrityError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(document, dict):
        raise hub.IntegrityError(f"{path}: expected a JSON object, got {type(document).__name__}")
    if document.get("peft_type") != "LORA":
        raise hub.IntegrityError(
            f"{path}: field 'peft_type' is {document.get('peft_type')!r}; only LORA adapters load"
        )
    missing = [k for k in ("r", "lora_alpha", "target_modules") if k not in document]
    if missing:
        raise hub.IntegrityError(f"{path}: missing field(s) {missing}")
    return document


def load_adapter(
    net: nn.Module,
    directory: str | os.PathLike[str],
    adapter_name: str = "default",
    is_trainable: bool = False,
    check_base: bool = True,
) -> nn.Module:
    """Attach the adapter saved in ``directory`` to ``net`` as ``adapter_name`` (active) and return ``net``.

    The base must be the one the adapter was trained on: same architecture and same weights (sha256);
    ``check_base=False`` skips the weight check (e.g. for adapters written by PEFT, which records none).
    With ``is_trainable=False`` nothing is left trainable (inference), as in PEFT.
    """
    directory = Path(directory)
    document = read_adapter_config(directory)
    path = directory / ADAPTER_CONFIG
    zoo_section = document.get("zoo") or {}
    if check_base:
        if not zoo_section.get("base_model_sha256"):
            raise hub.IntegrityError(
                f"{path} records no base sha256 (not written by zoo); pass check_base=False to load it anyway"
            )
        expected = architecture(net)
        if zoo_section.get("architecture") != expected:
            raise hub.ArchitectureMismatchError(
                f"{path}: the adapter is for {zoo_section.get('architecture')!r}, the model is {expected!r}"
            )
        actual = base_fingerprint(net)
        if actual != zoo_section["base_model_sha256"]:
            raise hub.ArchitectureMismatchError(
                f"{path}: the adapter was trained on base weights {zoo_section['base_model_sha256']} "
                f"({document.get('base_model_name_or_path')}), these are {actual}; load the right base first"
            )
    config = LoraConfig(
        r=document["r"],
        lora_alpha=document["lora_alpha"],
        lora_dropout=document.get("lora_dropout", 0.0),
        target_modules=document["target_modules"],
        modules_to_save=document.get("modules_to_save"),
        use_rslora=document.get("use_rslora", False),
    )
    get_lora_model(net, config, adapter_name)
    weights = directory / ADAPTER_WEIGHTS
    if not zoo_section.get("adapter_sha256"):
        log.warning("%s records no adapter_sha256: the bytes of %s cannot be verified", path, weights.name)
    stored = hub.read_weights(weights, zoo_section.get("adapter_sha256", ""), path)
    state = {_internal_key(net, k, adapter_name, weights): v for k, v in stored.items()}
    expected = {
        k
        for k in net.state_dict()
        if f".{adapter_name}." in k and (".lora_A." in k or ".lora_B." in k or ".modules_to_save." in k)
    }
    if set(state) != expected:
        raise hub.ArchitectureMismatchError(
            f"{weights} does not fit the adapter layout its config describes: missing {sorted(expected - set(state))[:5]}, "
            f"unexpected {sorted(set(state) - expected)[:5]}"
        )
    hub.load_state(net, state, weights, strict=False)
    if not is_trainable:
        for parameter in net.parameters():
            parameter.requires_grad_(False)
    return net


def _internal_key(net: nn.Module, key: str, adapter: str, source: Path) -> str:
    """PEFT's file key -> this net's state-dict key (the adapter name put back in)."""
    if not key.startswith(PEFT_PREFIX):
        raise hub.IntegrityError(f"{source}: key {key!r} lacks PEFT's prefix {PEFT_PREFIX!r}")
    key = key[len(PEFT_PREFIX) :]
    for factor in (".lora_A.", ".lora_B."):
        if factor in key:
            module, param = key.split(factor, 1)
            return f"{module}{factor}{adapter}.{param}"
    for name, module in net.named_modules():
        if isinstance(module, ModulesToSave) and key.startswith(f"{name}."):
            return f"{name}.modules_to_save.{adapter}.{key[len(name) + 1 :]}"
    raise hub.IntegrityError(f"{source}: key {key!r} is neither a LoRA factor nor in a saved module")
