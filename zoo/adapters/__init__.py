"""Parameter-efficient fine-tuning: LoRA for every model in the zoo (:mod:`zoo.adapters.lora`), with
PEFT's names and file layout (:mod:`zoo.adapters.adapter_io`)."""

from zoo.adapters.adapter_io import load_adapter, save_adapter
from zoo.adapters.lora import (
    LoraConfig,
    disable_adapter,
    get_lora_model,
    merge,
    merge_and_unload,
    print_trainable_parameters,
    set_adapter,
    unmerge,
)

__all__ = [
    "LoraConfig",
    "disable_adapter",
    "get_lora_model",
    "load_adapter",
    "merge",
    "merge_and_unload",
    "print_trainable_parameters",
    "save_adapter",
    "set_adapter",
    "unmerge",
]
