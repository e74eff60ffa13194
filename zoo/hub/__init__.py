"""Pretrained models: the config record, the store (manifest, cache, download, sha256), load and save.

The hub imports neither Lightning, pandas, torchmetrics nor ``torch._dynamo``: loading a shipped model
(``zoo.create_model("tcn.etth1", pretrained=True)``) costs little beyond ``import torch``. Converting a
Lightning checkpoint and evaluating a model need the training stack and live above it, in
:mod:`zoo.conversion`.

- :mod:`zoo.hub.config`: ``config.json`` (:class:`PretrainedConfig`), file names, errors;
- :mod:`zoo.hub.store`: the shipped directory, the manifest, the download cache, sha256 checks;
- :mod:`zoo.hub.loading`: :func:`from_pretrained`, :func:`save_pretrained`, :func:`create_model`;
- :mod:`zoo.hub.files`: atomic writes of files and directories, never over an existing one unless asked;
- :mod:`zoo.hub.digest`: sha256 of tensors (checkpoints, LoRA bases) and of written files;
- :mod:`zoo.hub.errors`: the errors, each naming the file or field at fault.
"""

from zoo.hub.config import (
    CARD_NAME,
    CONFIG_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    WEIGHTS_NAME,
    ArchitectureMismatchError,
    IntegrityError,
    OutputExistsError,
    PretrainedConfig,
    PretrainedError,
    PretrainedNotFoundError,
    WeightsDtype,
    jsonable,
)
from zoo.hub.digest import tensors_digest
from zoo.hub.files import check_directory_target, write_directory
from zoo.hub.loading import (
    DIMENSIONS,
    MODEL_FILES,
    architecture_name_error,
    architecture_of,
    build_model,
    check_model_args,
    create_model,
    differing_dimensions,
    from_pretrained,
    list_pretrained,
    load_state,
    net_of,
    read_pretrained_weights,
    read_weights,
    save_pretrained,
    strip_wrapper_prefix,
    upgrade_config,
)
from zoo.hub.store import cache_dir, load_manifest, resolve, sha256_files, shipped_dir, verify, write_manifest

__all__ = [
    "CARD_NAME",
    "CONFIG_NAME",
    "DIMENSIONS",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MODEL_FILES",
    "WEIGHTS_NAME",
    "ArchitectureMismatchError",
    "IntegrityError",
    "OutputExistsError",
    "PretrainedConfig",
    "PretrainedError",
    "PretrainedNotFoundError",
    "WeightsDtype",
    "architecture_name_error",
    "architecture_of",
    "build_model",
    "check_model_args",
    "cache_dir",
    "check_directory_target",
    "create_model",
    "differing_dimensions",
    "from_pretrained",
    "jsonable",
    "list_pretrained",
    "load_manifest",
    "load_state",
    "net_of",
    "read_pretrained_weights",
    "read_weights",
    "resolve",
    "save_pretrained",
    "sha256_files",
    "shipped_dir",
    "strip_wrapper_prefix",
    "tensors_digest",
    "upgrade_config",
    "verify",
    "write_directory",
    "write_manifest",
]
