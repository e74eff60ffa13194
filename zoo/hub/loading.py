"""Loading and saving pretrained models: :func:`from_pretrained`, :func:`save_pretrained`, :func:`create_model`.

Nothing here unpickles: weights are safetensors, configs JSON. This module (and the whole hub) imports
neither Lightning, pandas nor torchmetrics, so ``zoo.create_model("tcn.etth1", pretrained=True)`` is
fast; a task (a LightningModule with ``.net``) can still be saved, recognised by duck typing.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, load_file, save
from torch import nn

from zoo import registry
from zoo.hub.config import (
    CARD_NAME,
    CONFIG_NAME,
    DTYPES,
    MANIFEST_NAME,
    WEIGHTS_NAME,
    ArchitectureMismatchError,
    IntegrityError,
    PretrainedConfig,
    PretrainedNotFoundError,
    WeightsDtype,
    jsonable,
)
from zoo.hub.digest import bytes_sha256, check_file_sha256
from zoo.hub.files import write_directory
from zoo.hub.store import load_manifest, resolve
from zoo.version import __version__

log = logging.getLogger(__name__)

# the dimensions the data fixes: weights trained for one value do not fit another
# what a pretrained directory may hold: one being replaced may have a card where the new one writes none
MODEL_FILES = frozenset({CONFIG_NAME, WEIGHTS_NAME, CARD_NAME})
DIMENSIONS = ("n_features", "n_targets", "seq_len", "label_len", "pred_len", "n_time_features", "image_shape")


def read_weights(
    path: Path, sha256: str = "", recorded_in: Path | str = CONFIG_NAME
) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; anything else (a pickle, a truncated file) is an IntegrityError.

    Args:
        path: the ``.safetensors`` file.
        sha256: the sha256 its bytes must have (checked before parsing); "" checks none.
        recorded_in: the file that records ``sha256``, for the message.
    """
    try:
        if sha256:
            return load(check_file_sha256(Path(path), sha256, recorded_in))
        return load_file(str(path), device="cpu")
    except (FileNotFoundError, IsADirectoryError):
        raise PretrainedNotFoundError(
            f"{path} not found: a pretrained directory needs {WEIGHTS_NAME}"
        ) from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        if isinstance(e, IntegrityError):
            raise
        reason = "the file is empty" if Path(path).is_file() and Path(path).stat().st_size == 0 else str(e)
        raise IntegrityError(
            f"{path} is not a valid safetensors file ({reason}); weights are read as safetensors "
            "only and never unpickled: restore the file or save the model again"
        ) from e


def read_pretrained_weights(directory: Path, config: PretrainedConfig) -> dict[str, torch.Tensor]:
    """The weights of a pretrained directory, checked against the ``weights_sha256`` its config records.

    A directory saved by a zoo older than format 2 records none: it loads with a warning, unless the
    manifest beside it (the shipped models) has already verified every file.

    Args:
        directory: the pretrained directory.
        config: its config (``config.json``).
    """
    weights = directory / WEIGHTS_NAME
    if not config.weights_sha256 and directory.name not in (
        load_manifest(directory.parent) if (directory.parent / MANIFEST_NAME).is_file() else {}
    ):
        log.warning(
            "%s records no weights_sha256 (saved by an older zoo): its weights cannot be verified; "
            "save the model again to record one",
            directory / CONFIG_NAME,
        )
    return read_weights(weights, config.weights_sha256, directory / CONFIG_NAME)


def upgrade_config(config: PretrainedConfig, where: Path | str = CONFIG_NAME) -> PretrainedConfig:
    """``config`` with a legacy ``instance_norm`` record turned into the forecaster's own RevIN options.

    Models saved before RevIN was an option of :class:`~zoo.models.base.Forecaster` record it as
    ``instance_norm: {"affine": ...}`` beside ``model_args``; their weights carry the wrapper's keys
    (``net.*``, ``revin.*``), which :func:`load_state` maps back (:func:`strip_wrapper_prefix`).
    """
    if config.instance_norm is None:
        return config
    if registry.get_model_entry(config.architecture).task != "forecasting":
        raise IntegrityError(
            f"{where}: field 'instance_norm' is set but {config.architecture!r} is not a forecaster"
        )
    affine = bool(config.instance_norm.get("affine", True))
    model_args = {**config.model_args, "revin": True, "revin_affine": affine}
    return dataclasses.replace(config, model_args=model_args, instance_norm=None)


def build_model(config: PretrainedConfig, where: Path | str = CONFIG_NAME) -> nn.Module:
    """The (randomly initialised) model ``config`` describes."""
    config = upgrade_config(config, where)
    try:
        return registry.build_model(config.architecture, **config.model_args)
    except (TypeError, ValueError) as e:
        raise IntegrityError(
            f"{where}: field 'model_args' does not build {config.architecture!r}: {e}"
        ) from e


def check_model_args(config: PretrainedConfig, where: Path | str = CONFIG_NAME) -> None:
    """``config.model_args`` must be arguments its architecture's constructor takes (checked without building).

    Args:
        config: the pretrained model's config (upgraded: RevIN as a net option).
        where: the config file, for the message.
    """
    builder = registry.get_model_entry(config.architecture).builder
    try:
        inspect.signature(builder).bind(**config.model_args)
    except TypeError as e:
        raise IntegrityError(
            f"{where}: field 'model_args' does not build {config.architecture!r}: {e}"
        ) from e


def architecture_name_error(name: str) -> ValueError:
    """The error for a registry name given where a pretrained model is wanted (``tcn`` for ``tcn.etth1``).

    Args:
        name: the architecture name that was given.
    """
    tags = list_pretrained(f"{name}.*")
    hint = (
        f"; pretrained variants: {', '.join(tags)}"
        if tags
        else "; no pretrained weights are published for it"
    )
    return ValueError(f"{name!r} names an architecture, not a pretrained model: use '<name>.<tag>'{hint}")


def strip_wrapper_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of the former RevIN wrapper (``net.*`` beside ``revin.*``) as the forecaster's own keys."""
    wrapped = any(k.startswith("net.") for k in state) and all(
        k.startswith(("net.", "revin.")) for k in state
    )
    return {k.removeprefix("net."): v for k, v in state.items()} if wrapped else dict(state)


def load_state(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: Path | str,
    strict: bool = True,
    architecture: str = "",
) -> None:
    """``model.load_state_dict(state)`` with a message naming ``source`` when the weights do not fit."""
    what = f"architecture {architecture!r}" if architecture else type(model).__name__
    if not any(name == "net" for name, _ in model.named_children()):
        state = strip_wrapper_prefix(state)
    own = model.state_dict()
    shapes = [
        f"{k} {tuple(v.shape)} in the file, {tuple(own[k].shape)} in the model"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if shapes:
        raise ArchitectureMismatchError(
            f"{source} does not fit {what}: {len(shapes)} tensor(s) differ in shape, e.g. {'; '.join(shapes[:3])}; "
            "build the model with the arguments the weights were trained with"
        )
    try:
        missing, unexpected = model.load_state_dict(dict(state), strict=False)
    except RuntimeError as e:  # anything else load_state_dict rejects
        raise ArchitectureMismatchError(f"{source} does not fit {what}: {e}") from e
    if strict and (missing or unexpected):
        raise ArchitectureMismatchError(
            f"{source} does not fit {what}: {len(missing)} missing key(s) {missing[:5]}, "
            f"{len(unexpected)} unexpected key(s) {unexpected[:5]}"
        )


def from_pretrained(
    name_or_dir: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    strict: bool = True,
    checkpoint_path: str | os.PathLike[str] | None = None,
    *,
    load_weights: bool = True,
    model_args: Mapping[str, Any] | None = None,
) -> nn.Module:
    """The pretrained model, with its :class:`PretrainedConfig` as ``.pretrained_config``.

    Forecasters trained with RevIN carry it (``revin=True``); models saved when RevIN was a wrapper load
    the same way (:func:`upgrade_config`).

    Args:
        name_or_dir: a shipped name (``"tcn.etth1"``), or a directory written by :func:`save_pretrained`.
        map_location: the device the model is moved to.
        strict: require the weights to fit the architecture exactly (no missing or unexpected keys).
        checkpoint_path: weights to load instead of the directory's own: a ``.safetensors`` file, or a
            pretrained directory whose weights fit the same architecture.
        load_weights: False returns the architecture randomly initialised (in train mode); True the
            weights, in eval mode.
        model_args: constructor arguments that override the recorded ones (e.g. ``dropout``).
    """
    directory = resolve(name_or_dir)
    config = upgrade_config(PretrainedConfig.from_file(directory / CONFIG_NAME), directory / CONFIG_NAME)
    if load_weights:
        check_overrides(config, model_args or {}, directory)
    config.model_args = {**config.model_args, **(model_args or {})}
    model = build_model(config, directory / CONFIG_NAME)
    if load_weights:
        weights = directory / WEIGHTS_NAME
        if checkpoint_path is None:
            state = read_pretrained_weights(directory, config)
        elif Path(checkpoint_path).is_dir():
            other = resolve(checkpoint_path)
            weights = other / WEIGHTS_NAME
            state = read_pretrained_weights(other, PretrainedConfig.from_file(other / CONFIG_NAME))
        else:
            weights = Path(checkpoint_path)
            state = read_weights(weights)
        load_state(model, state, weights, strict, config.architecture)
        model.eval()
    model.pretrained_config = config
    return model.to(map_location)


def differing_dimensions(trained: Mapping[str, Any], built: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dimension, trained value, built value) for each data-fixed dimension in which two nets differ.

    Args:
        trained: the constructor arguments the weights were trained with.
        built: the constructor arguments of the net they are loaded into (or the overrides asked for).
    """
    return [
        (dim, trained[dim], built[dim])
        for dim in DIMENSIONS
        if dim in trained and dim in built and _as_list(trained[dim]) != _as_list(built[dim])
    ]


def check_overrides(config: PretrainedConfig, overrides: Mapping[str, Any], where: Path | str) -> None:
    """Constructor overrides that change a dimension the weights were trained for are an error naming it.

    Args:
        config: the pretrained model's config.
        overrides: constructor arguments asked for beside the recorded ones.
        where: the pretrained directory, for the message.
    """
    differ = differing_dimensions(config.model_args, overrides)
    if differ:
        described = ", ".join(f"{dim}={trained} ({dim}={asked} was asked)" for dim, trained, asked in differ)
        raise ArchitectureMismatchError(
            f"{config.name or where} was trained with {described}; its weights fit only those: leave "
            "them out, or build the architecture without pretrained weights and fine-tune it (init_from)"
        )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def architecture_of(net: nn.Module) -> str:
    """The registry name that builds ``net``: the variant whose defaults all match its arguments, else the base."""
    args = getattr(net, "constructor_args", {})
    candidates = [n for n in registry.list_models() if registry.get_model_entry(n).builder is type(net)]
    fitting = [
        n
        for n in candidates
        if all(args.get(k) == v for k, v in registry.get_model_entry(n).defaults.items())
    ]
    if not fitting:
        raise TypeError(f"{type(net).__name__} is not a registered model; register it with @register_model")
    return max(fitting, key=lambda n: (len(registry.get_model_entry(n).defaults), -len(n)))


def _is_registered(model: nn.Module) -> bool:
    return any(registry.get_model_entry(n).builder is type(model) for n in registry.list_models())


def net_of(model: nn.Module) -> nn.Module:
    """The registered net to save: a task's ``net`` (a ForecastingTask / GenerativeTask), or the model itself."""
    net = getattr(model, "net", None)
    return net if isinstance(net, nn.Module) and not _is_registered(model) else model


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    *,
    name: str = "",
    preprocessing: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    training: Mapping[str, Any] | None = None,
    data_license: str = "",
    training_command: str = "",
    weights_dtype: WeightsDtype = "float32",
    card: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``config.json``, ``model.safetensors`` (and ``README.md`` if ``card``) to ``directory``, atomically.

    The directory is assembled beside the target and renamed into place, so a crash never leaves a
    half-written model; an existing one is replaced only with ``overwrite``. ``config.json`` records the
    sha256 of the weights file, checked on every load.

    Args:
        model: any registered net, or a ``ForecastingTask`` / ``GenerativeTask`` (its net is saved, RevIN
            included when the net has it).
        directory: the pretrained directory to write.
        name: the model's name in its config (default: the directory's name).
        preprocessing: what the model expects of its data (datamodule arguments, columns, scaler statistics);
            None: the net's ``pretrained_config.preprocessing`` when it has one (a loaded or ensembled model).
        metrics: test metrics to record.
        training: the training hyperparameters to record.
        data_license: the license of the training data.
        training_command: the command that trained the model.
        weights_dtype: the dtype the floating-point weights are stored in.
        card: the text of the model card (``README.md``); None writes none.
        overwrite: replace an existing pretrained directory at ``directory``.
    """
    net = net_of(model)
    if preprocessing is None:  # a loaded or ensembled model keeps the data record it came with
        recorded = getattr(net, "pretrained_config", None)
        preprocessing = recorded.preprocessing if recorded is not None else None
    architecture = architecture_of(net)
    model_args = jsonable(net.constructor_args, "model_args")
    if not model_args:
        raise TypeError(f"{type(net).__name__} recorded no constructor arguments; build it through its class")
    config = PretrainedConfig(
        architecture=architecture,
        model_args=model_args,
        task=registry.get_model_entry(architecture).task,
        name=name or Path(directory).name,
        preprocessing=jsonable(preprocessing or {}, "preprocessing"),
        metrics=jsonable(metrics or {}, "metrics"),
        data_license=data_license,
        training_command=training_command,
        training=jsonable(training or {}, "training"),
        num_parameters=sum(p.numel() for p in net.parameters()),
        weights_dtype=weights_dtype,
        zoo_version=__version__,
    )
    load_state(
        build_model(config), net.state_dict(), f"{type(net).__name__}.state_dict()", architecture=architecture
    )  # the config must rebuild this exact model
    dtype = DTYPES[weights_dtype]
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous().clone()
        for k, v in net.state_dict().items()
    }
    weights = save(tensors, metadata={"format": "pt", "architecture": architecture})
    config.weights_sha256 = bytes_sha256(weights)
    files: dict[str, str | bytes] = {WEIGHTS_NAME: weights, CONFIG_NAME: config.to_json()}
    if card is not None:
        files[CARD_NAME] = card
    return write_directory(directory, files, overwrite=overwrite, replaceable=MODEL_FILES)


def list_pretrained(pattern: str = "*") -> list[str]:
    """Sorted names of the shipped pretrained models matching the shell-style ``pattern``."""
    return sorted(n for n in load_manifest() if fnmatch.fnmatchcase(n, pattern))


def create_model(
    name: str,
    pretrained: bool = False,
    checkpoint_path: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build the registered model ``name`` with the variant's defaults overridden by ``kwargs``.

    ``create_model("lstm", n_features=7, seq_len=96, pred_len=96)`` returns a plain ``nn.Module``.
    A pretrained name ``"<family>.<tag>"`` (``zoo.list_pretrained()``) builds the architecture its
    ``config.json`` records; with ``pretrained=True`` the shipped weights are loaded (sha256-checked,
    see :mod:`zoo.hub.store`), with ``checkpoint_path`` a directory or ``.safetensors`` file instead.
    ``kwargs`` that change a pretrained model's shapes make loading its weights fail with a clear error.

    Args:
        name: a registered architecture (``zoo.list_models()``) or a pretrained name (``zoo.list_pretrained()``).
        pretrained: load the pretrained weights of ``name`` (a pretrained name only).
        checkpoint_path: weights to load instead of the shipped ones: a pretrained directory or a ``.safetensors`` file.
        **kwargs: constructor arguments that override the variant's (or the pretrained config's).
    """
    if "." in name and name not in registry.list_models():
        load = pretrained or checkpoint_path is not None
        return from_pretrained(name, checkpoint_path=checkpoint_path, load_weights=load, model_args=kwargs)
    if pretrained or checkpoint_path is not None:
        registry.get_model_entry(name)  # an unknown name is a KeyError with suggestions
        raise architecture_name_error(name)
    return registry.build_model(name, **kwargs)
