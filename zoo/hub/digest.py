"""Digests of what zoo writes: the tensors of a state dict or a whole checkpoint, and files' bytes.

- :func:`tensors_digest` is the sha256 of every tensor in a nested structure (dicts, lists, tuples), taken in
  the order of their paths: path, dtype, shape, then the raw bytes. For a flat state dict it is the
  fingerprint LoRA adapters record of their base (:func:`zoo.adapters.adapter_io.base_fingerprint`).
  Lightning checkpoints written by a zoo task carry it under ``zoo_digest``; it is checked before a
  checkpoint is used, because ``torch.load`` itself does not verify the bytes of tensor records.
- :func:`bytes_sha256` / :func:`check_file_sha256`: the sha256 of a file's bytes, recorded in
  ``config.json`` (``weights_sha256``) and ``adapter_config.json`` (``zoo.adapter_sha256``) and checked on
  every load, wherever the directory lives (the manifest covers only the shipped ones).

Like safetensors' own header checks, a mismatch is an :class:`~zoo.hub.config.IntegrityError` naming the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from zoo.hub.errors import IntegrityError


def _tensors(tree: Any, path: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(tree, torch.Tensor):
        yield path, tree
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from _tensors(value, f"{path}/{key}" if path else str(key))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from _tensors(value, f"{path}/{index}")


def tensors_digest(tree: Any) -> str:
    """sha256 of every tensor in ``tree`` (name, dtype, shape, bytes), in the sorted order of their paths.

    Args:
        tree: a tensor, or dicts / lists / tuples holding tensors (other leaves are not part of the digest).
    """
    digest = hashlib.sha256()
    for key, tensor in sorted(_tensors(tree, ""), key=lambda item: item[0]):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Args:
        data: the bytes of a file about to be written.
    """
    return hashlib.sha256(data).hexdigest()


def check_file_sha256(path: Path, expected: str, recorded_in: Path | str) -> bytes:
    """The bytes of ``path``, after checking their sha256 against the one ``recorded_in`` holds.

    Args:
        path: the file to read.
        expected: the hex sha256 recorded when the file was written.
        recorded_in: the file that records it, for the message.
    """
    data = Path(path).read_bytes()
    actual = bytes_sha256(data)
    if actual != expected:
        raise IntegrityError(
            f"sha256 mismatch for {path}: {recorded_in} records {expected}, the file's is {actual} "
            f"({len(data)} bytes; corrupted, truncated or replaced): restore the file or save the model again"
        )
    return data
