"""Atomic writes: a file or a whole directory appears complete or not at all, with the umask's permissions.

Nothing existing is replaced unless asked (``overwrite``), as git refuses to overwrite untracked files:
a directory is replaced only by one of the same kind (it holds no file the new one would not), and a file
is never replaced by a directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from zoo.hub.errors import OutputExistsError


def check_directory_target(target: Path, names: Collection[str], overwrite: bool) -> None:
    """Refuse to write a directory at ``target`` when something is there that must not be replaced.

    Args:
        target: the directory about to be written.
        names: the file names a directory of this kind may hold (the new one's, and any an earlier
            version of it may have left, e.g. ``metrics.csv`` where the new one writes ``metrics.parquet``).
        overwrite: whether an existing directory of the same kind may be replaced.
    """
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir():
        raise OutputExistsError(f"{target} exists and is not a directory; remove it or choose another path")
    if not overwrite:
        raise OutputExistsError(
            f"{target} already exists; pass --overwrite (overwrite=True) to replace it, or choose another path"
        )
    foreign = sorted(p.name for p in target.iterdir() if p.name not in names)
    if foreign:
        raise OutputExistsError(
            f"{target} holds files a zoo output directory of this kind does not ({', '.join(foreign[:5])}); "
            "it will not be replaced even with --overwrite: choose another path"
        )


def write_directory(
    directory: str | os.PathLike[str],
    files: Mapping[str, str | bytes | Callable[[Path], None]],
    overwrite: bool = False,
    replaceable: Collection[str] = (),
) -> Path:
    """Write a directory of files atomically: each file is text, bytes or a writer of a path; all are
    assembled (and fsynced) in a staging directory beside the target, which is then renamed onto it.

    Args:
        directory: the directory to write.
        files: file name -> its content.
        overwrite: replace an existing directory of the same kind (:func:`check_directory_target`).
        replaceable: file names, besides those of ``files``, that an existing directory of the same kind
            may hold.
    """
    target = Path(directory)
    check_directory_target(target, frozenset(files) | frozenset(replaceable), overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        for name, content in files.items():
            if isinstance(content, str):
                (staging / name).write_text(content)
            elif isinstance(content, bytes):
                (staging / name).write_bytes(content)
            else:
                content(staging / name)
        for path in staging.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            path.chmod(0o666 & ~_umask())
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a model directory is not
        replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def replace_dir(staging: Path, target: Path) -> None:
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


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it, then rename it onto ``path``."""
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
