"""Where pretrained models live: the shipped directory and its manifest, the download cache, sha256 checks.

``checkpoints/manifest.json`` lists every shipped model with the sha256 and size of each file and, for
weights hosted elsewhere, a base URL. A name resolves to the shipped directory, else to the download
cache ``$ZOO_HOME/pretrained/<name>`` (filled from the URL, sha256-checked, atomically; never with
``ZOO_OFFLINE=1``); every file is checked against the manifest on every load.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.data import sources
from zoo.hub.config import (
    CONFIG_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    WEIGHTS_NAME,
    IntegrityError,
    PretrainedNotFoundError,
)
from zoo.hub.files import replace_dir, write_text_atomic

log = logging.getLogger(__name__)


def shipped_dir() -> Path:
    """The shipped checkpoints: ``$ZOO_PRETRAINED_DIR``, else ``checkpoints/`` of this source tree."""
    value = os.environ.get("ZOO_PRETRAINED_DIR", "").strip()
    return (
        Path(value).expanduser().absolute() if value else Path(__file__).resolve().parents[2] / "checkpoints"
    )


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


def sha256_files(directory: Path) -> dict[str, dict[str, Any]]:
    """The manifest record of a pretrained directory: sha256 and size of every file in it."""
    return {
        p.name: {"sha256": sources.sha256sum(p), "bytes": p.stat().st_size}
        for p in sorted(Path(directory).iterdir())
        if p.is_file()
    }


def write_manifest(root: Path, urls: Mapping[str, str] | None = None) -> Path:
    """Write ``<root>/manifest.json`` for every sub-directory holding a ``config.json`` (atomically)."""
    models = {}
    for directory in sorted(p for p in Path(root).iterdir() if (p / CONFIG_NAME).is_file()):
        models[directory.name] = {"files": sha256_files(directory)}
        if urls and directory.name in urls:
            models[directory.name]["url"] = urls[directory.name]
    path = Path(root) / MANIFEST_NAME
    write_text_atomic(path, json.dumps({"format_version": FORMAT_VERSION, "models": models}, indent=2) + "\n")
    return path


def verify(directory: Path, record: Mapping[str, Any]) -> None:
    """Check every file of a manifest ``record`` in ``directory``; an IntegrityError names the first bad file."""
    for name, expected in record["files"].items():
        path = Path(directory) / name
        if not path.is_file():
            raise IntegrityError(f"{path} is missing (listed in the manifest)")
        actual = sources.sha256sum(path)
        if actual != expected["sha256"]:
            raise IntegrityError(
                f"sha256 mismatch for {path}: manifest {expected['sha256']}, file {actual} "
                "(corrupted or modified; restore or re-download it)"
            )


def resolve(name_or_dir: str | os.PathLike[str]) -> Path:
    """The verified directory of a pretrained model: a shipped or cached name, or a directory path."""
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        record = (
            load_manifest(path.parent).get(path.name) if (path.parent / MANIFEST_NAME).is_file() else None
        )
        if record is not None:
            verify(path, record)
        return path
    name = str(name_or_dir)
    manifest = load_manifest()
    if name not in manifest:
        if os.sep in name or name.startswith((".", "~")):
            raise PretrainedNotFoundError(
                f"{path} is not a pretrained directory (with {CONFIG_NAME} and {WEIGHTS_NAME})"
            )
        known = ", ".join(sorted(manifest)) or "(none)"
        close = difflib.get_close_matches(name, list(manifest), n=1, cutoff=0.75)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise PretrainedNotFoundError(
            f"no pretrained model named {name!r}{guess} in {shipped_dir() / MANIFEST_NAME}; available: {known}"
        )
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
        raise PretrainedNotFoundError(
            f"pretrained {name!r} is listed in the manifest but its files are neither in "
            f"{shipped_dir() / name} nor in {target}, and it has no download URL"
        )
    if sources.offline():
        raise PretrainedNotFoundError(
            f"pretrained {name!r} is not in {target} and ZOO_OFFLINE is set; "
            f"download it from {url} or unset ZOO_OFFLINE"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}.", suffix=".part"))
    try:
        for file, expected in record["files"].items():
            try:
                sources.download(f"{url.rstrip('/')}/{file}", staging / file, sha256=expected["sha256"])
            except sources.DataSourceError as e:
                raise PretrainedNotFoundError(f"download of pretrained {name!r} failed: {e}") from e
        replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("downloaded pretrained %s to %s", name, target)
    return target
