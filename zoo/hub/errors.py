"""The errors of the hub; every message names the file or field at fault and, where there is one, the fix."""

from __future__ import annotations


class PretrainedError(Exception):
    """Base class of every error raised here; the message names the file or field at fault."""


class PretrainedNotFoundError(PretrainedError, FileNotFoundError):
    """No pretrained model of that name or path, and none can be downloaded."""


class IntegrityError(PretrainedError, ValueError):
    """A file's sha256 or size differs from the manifest, or a file cannot be parsed."""


class ArchitectureMismatchError(PretrainedError, ValueError):
    """The weights do not fit the architecture that ``config.json`` names."""


class OutputExistsError(PretrainedError, FileExistsError):
    """The file or directory to write exists, and replacing it was not asked for (``overwrite``)."""
