"""Pretrained weights: ``save_pretrained`` / ``from_pretrained``, the manifest, sha256 checks, downloads.

One directory per model, named ``<family>.<tag>`` (``tcn.etth1``, ``vae.mnist``)::

    config.json        PretrainedConfig: the registry name and every constructor argument, the RevIN
                       wrapper if any, the data preprocessing (dataset, split, window, scaler statistics),
                       the test metrics, the data license, the training command, format and zoo versions
    model.safetensors  the state dict; safetensors holds tensors only, so loading runs no code
    README.md          the model card

``checkpoints/manifest.json`` lists every shipped model with the sha256 and size of each file and, for
weights hosted elsewhere, a base URL. A name resolves to the shipped directory, else to the download
cache ``$ZOO_HOME/pretrained/<name>`` (filled from the URL, sha256-checked, atomically; never with
``ZOO_OFFLINE=1``); every file is checked against the manifest on every load. The layout follows the
Hugging Face hub convention (``config.json`` + ``model.safetensors``) and timm's ``<arch>.<tag>`` names.

Nothing here unpickles: Lightning ``.ckpt`` files (for resuming runs) are read with
``torch.load(weights_only=True)``, which refuses arbitrary objects; :func:`convert_checkpoint` turns one
into the directory format.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from lightning.pytorch import LightningModule
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.data import sources
from zoo.data.scaling import StandardScaler
from zoo.models.base import Forecaster
from zoo.models.normalized import InstanceNormalized
from zoo.registry import TaskKind, create_model, get_model_entry, list_models

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, MANIFEST_NAME = "config.json", "model.safetensors", "README.md", "manifest.json"
WeightsDtype = Literal["float32", "float16", "bfloat16"]
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class PretrainedError(Exception):
    """Base class of every error raised here; the message names the file or field at fault."""


class PretrainedNotFoundError(PretrainedError, FileNotFoundError):
    """No pretrained model of that name or path, and none can be downloaded."""


class IntegrityError(PretrainedError, ValueError):
    """A file's sha256 or size differs from the manifest, or a file cannot be parsed."""


class ArchitectureMismatchError(PretrainedError, ValueError):
    """The weights do not fit the architecture that ``config.json`` names."""


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
    format_version: int = FORMAT_VERSION
    zoo_version: str = ""

    @classmethod
    def from_file(cls, path: Path) -> PretrainedConfig:
        """Read and validate ``config.json``; errors name the file and the field."""
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise PretrainedNotFoundError(f"{path} not found: a pretrained directory needs {CONFIG_NAME}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise IntegrityError(f"{path} is not valid JSON: {e}") from e
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
            raise IntegrityError(f"{path}: format_version {raw['format_version']} is newer than this zoo reads "
                                 f"({FORMAT_VERSION}); upgrade zoo")
        if raw.get("weights_dtype", "float32") not in _DTYPES:
            raise IntegrityError(f"{path}: field 'weights_dtype' must be one of {sorted(_DTYPES)}")
        try:
            entry = get_model_entry(raw["architecture"])
        except KeyError as e:
            raise IntegrityError(f"{path}: field 'architecture': {e.args[0]}") from None
        if raw["task"] != entry.task:
            raise IntegrityError(f"{path}: field 'task' is {raw['task']!r} but {raw['architecture']!r} is a "
                                 f"{entry.task} model")
        return cls(**raw)

    def to_json(self) -> str:
        return json.dumps(jsonable(dataclasses.asdict(self), CONFIG_NAME), indent=2) + "\n"

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """(Re)write ``<directory>/config.json`` atomically, e.g. after measuring the test metrics."""
        path = Path(directory) / CONFIG_NAME
        _write_text_atomic(path, self.to_json())
        return path

    def scaler(self, which: Literal["input", "target"] = "target") -> StandardScaler | None:
        """The train-row scaler of the inputs or targets, or None when the model was not trained on scaled series."""
        stats = self.preprocessing.get("scaler" if which == "input" else "target_scaler")
        if not stats:
            return None
        return StandardScaler(mean=np.asarray(stats["mean"], dtype=np.float64),
                              std=np.asarray(stats["std"], dtype=np.float64))


# ----------------------------------------------------------------------------------- where models live
def shipped_dir() -> Path:
    """The shipped checkpoints: ``$ZOO_PRETRAINED_DIR``, else ``checkpoints/`` of this source tree."""
    value = os.environ.get("ZOO_PRETRAINED_DIR", "").strip()
    return Path(value).expanduser().absolute() if value else Path(__file__).resolve().parent.parent / "checkpoints"


def cache_dir() -> Path:
    """Downloaded pretrained models: ``$ZOO_HOME/pretrained`` (default ``~/.cache/zoo/pretrained``)."""
    return sources.zoo_home() / "pretrained"


def load_manifest(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"files": {file: {"sha256", "bytes"}}, "url"?: base}}`` from ``<root>/manifest.json``."""
    path = (root or shipped_dir()) / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        models = json.loads(path.read_text())["models"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise IntegrityError(f"{path} is not a valid manifest (a JSON object with 'models'): {e}") from e
    return models


def list_pretrained(pattern: str = "*") -> list[str]:
    """Sorted names of the shipped pretrained models matching the shell-style ``pattern``."""
    return sorted(n for n in load_manifest() if fnmatch.fnmatchcase(n, pattern))


def sha256_files(directory: Path) -> dict[str, dict[str, Any]]:
    """The manifest record of a pretrained directory: sha256 and size of every file in it."""
    return {p.name: {"sha256": sources.sha256sum(p), "bytes": p.stat().st_size}
            for p in sorted(Path(directory).iterdir()) if p.is_file()}


def write_manifest(root: Path, urls: Mapping[str, str] | None = None) -> Path:
    """Write ``<root>/manifest.json`` for every sub-directory holding a ``config.json`` (atomically)."""
    models = {}
    for directory in sorted(p for p in Path(root).iterdir() if (p / CONFIG_NAME).is_file()):
        models[directory.name] = {"files": sha256_files(directory)}
        if urls and directory.name in urls:
            models[directory.name]["url"] = urls[directory.name]
    path = Path(root) / MANIFEST_NAME
    _write_text_atomic(path, json.dumps({"format_version": FORMAT_VERSION, "models": models}, indent=2) + "\n")
    return path


def verify(directory: Path, record: Mapping[str, Any]) -> None:
    """Check every file of a manifest ``record`` in ``directory``; an IntegrityError names the first bad file."""
    for name, expected in record["files"].items():
        path = Path(directory) / name
        if not path.is_file():
            raise IntegrityError(f"{path} is missing (listed in the manifest)")
        actual = sources.sha256sum(path)
        if actual != expected["sha256"]:
            raise IntegrityError(f"sha256 mismatch for {path}: manifest {expected['sha256']}, file {actual} "
                                 "(corrupted or modified; restore or re-download it)")


def resolve(name_or_dir: str | os.PathLike[str]) -> Path:
    """The verified directory of a pretrained model: a shipped or cached name, or a directory path."""
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        record = load_manifest(path.parent).get(path.name) if (path.parent / MANIFEST_NAME).is_file() else None
        if record is not None:
            verify(path, record)
        return path
    name = str(name_or_dir)
    manifest = load_manifest()
    if name not in manifest:
        if os.sep in name or name.startswith((".", "~")):
            raise PretrainedNotFoundError(f"{path} is not a pretrained directory (with {CONFIG_NAME} and {WEIGHTS_NAME})")
        known = ", ".join(sorted(manifest)) or "(none)"
        raise PretrainedNotFoundError(f"no pretrained model named {name!r} in {shipped_dir() / MANIFEST_NAME}; "
                                      f"available: {known}")
    record = manifest[name]
    for candidate in (shipped_dir() / name, cache_dir() / name):
        if (candidate / CONFIG_NAME).is_file():
            verify(candidate, record)
            return candidate
    return _download(name, record)


def _download(name: str, record: Mapping[str, Any]) -> Path:
    url = record.get("url")
    target = cache_dir() / name
    if not url:
        raise PretrainedNotFoundError(f"pretrained {name!r} is listed in the manifest but its files are neither in "
                                      f"{shipped_dir() / name} nor in {target}, and it has no download URL")
    if sources.offline():
        raise PretrainedNotFoundError(f"pretrained {name!r} is not in {target} and ZOO_OFFLINE is set; "
                                      f"download it from {url} or unset ZOO_OFFLINE")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}.", suffix=".part"))
    try:
        for file, expected in record["files"].items():
            try:
                sources.download(f"{url.rstrip('/')}/{file}", staging / file, sha256=expected["sha256"])
            except sources.DataSourceError as e:
                raise PretrainedNotFoundError(f"download of pretrained {name!r} failed: {e}") from e
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("downloaded pretrained %s to %s", name, target)
    return target


# ----------------------------------------------------------------------------------- reading
def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; anything else (a pickle, a truncated file) is an IntegrityError."""
    try:
        return load_file(str(path), device="cpu")
    except FileNotFoundError:
        raise PretrainedNotFoundError(f"{path} not found: a pretrained directory needs {WEIGHTS_NAME}") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise IntegrityError(f"{path} is not a valid safetensors file ({e}); weights are read as safetensors "
                             "only and never unpickled") from e


def build_model(config: PretrainedConfig, where: Path | str = CONFIG_NAME) -> nn.Module:
    """The (randomly initialised) model ``config`` describes, with its RevIN wrapper if any."""
    try:
        net = create_model(config.architecture, **config.model_args)
    except (TypeError, ValueError) as e:
        raise IntegrityError(f"{where}: field 'model_args' does not build {config.architecture!r}: {e}") from e
    if config.instance_norm is not None:
        if not isinstance(net, Forecaster):
            raise IntegrityError(f"{where}: field 'instance_norm' is set but {config.architecture!r} is not a forecaster")
        net = InstanceNormalized(net, affine=bool(config.instance_norm.get("affine", True)))
    return net


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: Path | str, strict: bool = True,
               architecture: str = "") -> None:
    """``model.load_state_dict(state)`` with a message naming ``source`` when the weights do not fit."""
    what = f"architecture {architecture!r}" if architecture else type(model).__name__
    try:
        missing, unexpected = model.load_state_dict(dict(state), strict=False)
    except RuntimeError as e:  # shape mismatches raise even with strict=False
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

    ``name_or_dir``: a shipped name (``"tcn.etth1"``), or a directory written by :func:`save_pretrained`.
    ``checkpoint_path``: weights to load instead of the directory's own (a ``.safetensors`` file, or a
    pretrained directory whose weights fit the same architecture). ``model_args`` override constructor
    arguments (e.g. ``dropout``). With ``load_weights=False`` the architecture comes back randomly
    initialised; otherwise in eval mode. Forecasters trained with RevIN come back wrapped in
    :class:`~zoo.models.normalized.InstanceNormalized`.
    """
    directory = resolve(name_or_dir)
    config = PretrainedConfig.from_file(directory / CONFIG_NAME)
    config.model_args = {**config.model_args, **(model_args or {})}
    model = build_model(config, directory / CONFIG_NAME)
    if load_weights:
        weights = directory / WEIGHTS_NAME
        if checkpoint_path is not None:
            override = Path(checkpoint_path)
            weights = resolve(override) / WEIGHTS_NAME if override.is_dir() else override
        load_state(model, read_weights(weights), weights, strict, config.architecture)
        model.eval()
    model.pretrained_config = config
    return model.to(map_location)


# ----------------------------------------------------------------------------------- writing
def architecture_of(net: nn.Module) -> str:
    """The registry name that builds ``net``: the variant whose defaults all match its arguments, else the base."""
    args = getattr(net, "constructor_args", {})
    candidates = [n for n in list_models() if get_model_entry(n).builder is type(net)]
    fitting = [n for n in candidates
               if all(args.get(k) == v for k, v in get_model_entry(n).defaults.items())]
    if not fitting:
        raise TypeError(f"{type(net).__name__} is not a registered model; register it with @register_model")
    return max(fitting, key=lambda n: (len(get_model_entry(n).defaults), -len(n)))


def split_predictor(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(what to save, the registered net inside): a task's net (wrapped with its RevIN), or the model itself."""
    net = getattr(model, "net", None)
    if isinstance(model, InstanceNormalized):
        return model, model.net
    if net is not None and isinstance(model, LightningModule):  # a ForecastingTask / GenerativeTask
        revin = getattr(model, "revin", None)
        return (InstanceNormalized.from_modules(net, revin) if revin is not None else net), net
    return model, model


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
) -> Path:
    """Write ``config.json``, ``model.safetensors`` (and ``README.md`` if ``card``) to ``directory``, atomically.

    ``model``: any registered net, an :class:`InstanceNormalized` one, or a ``ForecastingTask`` /
    ``GenerativeTask`` (its net and RevIN are saved). The directory is assembled beside the target and
    renamed into place, so a crash never leaves a half-written model; an existing one is replaced.
    """
    from zoo import __version__

    predictor, net = split_predictor(model)
    architecture = architecture_of(net)
    model_args = jsonable(net.constructor_args, "model_args")
    if not model_args:
        raise TypeError(f"{type(net).__name__} recorded no constructor arguments; build it through its class")
    instance_norm = {"affine": predictor.revin.affine} if isinstance(predictor, InstanceNormalized) else None
    config = PretrainedConfig(
        architecture=architecture, model_args=model_args, task=get_model_entry(architecture).task,
        name=name or Path(directory).name, instance_norm=instance_norm,
        preprocessing=jsonable(preprocessing or {}, "preprocessing"), metrics=jsonable(metrics or {}, "metrics"),
        data_license=data_license, training_command=training_command,
        training=jsonable(training or {}, "training"),
        num_parameters=sum(p.numel() for p in predictor.parameters()),
        weights_dtype=weights_dtype, zoo_version=__version__,
    )
    load_state(build_model(config), predictor.state_dict(), f"{type(predictor).__name__}.state_dict()",
               architecture=architecture)  # the config must rebuild this exact model
    dtype = _DTYPES[weights_dtype]
    tensors = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous().clone()
               for k, v in predictor.state_dict().items()}
    files = {WEIGHTS_NAME: lambda path: save_file(tensors, str(path), metadata={"format": "pt",
                                                                               "architecture": architecture}),
             CONFIG_NAME: config.to_json()}
    if card is not None:
        files[CARD_NAME] = card
    return write_directory(directory, files)


def write_directory(directory: str | os.PathLike[str], files: Mapping[str, str | Callable[[Path], None]]) -> Path:
    """Write a directory of files atomically: each file is text or a writer of a path; all are assembled
    (and fsynced) in a staging directory beside the target, which is then renamed onto it."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        for name, content in files.items():
            if isinstance(content, str):
                (staging / name).write_text(content)
            else:
                content(staging / name)
        for path in staging.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            path.chmod(0o666 & ~_umask())
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a model directory is not
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _replace_dir(staging: Path, target: Path) -> None:
    """Rename ``staging`` onto ``target``; an existing ``target`` is moved aside first and removed after."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
        os.replace(target, old / target.name)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
