"""What ``--ckpt_path last`` and ``--ckpt_path best`` mean on the command line, across processes.

Lightning resolves ``"last"`` and ``"best"`` from the ``ModelCheckpoint`` of the running process, which in a
new process (``train.py test --ckpt_path best`` after ``train.py fit``) knows no checkpoint at all: Lightning
then tests the freshly initialised weights with only a warning. Here both are looked up in the run's own
logger directory (``<save_dir>/<name>/version_*/checkpoints``), or in ``--checkpoint.dirpath`` when one is
given, never in other experiments' directories:

- ``last``: the newest ``last*.ckpt`` there;
- ``best``: the best checkpoint the newest ``last*.ckpt`` records (its ``ModelCheckpoint`` state), if the
  file still exists.

``fit --ckpt_path last`` with nothing to resume starts from scratch with a warning (Lightning's rule, so one
command both starts and resumes a preemptible job); ``validate``, ``test`` and ``predict`` with nothing to
load are an error (:class:`CheckpointNotFoundError`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from zoo.hub.errors import PretrainedNotFoundError

log = logging.getLogger(__name__)

Verb = Literal["fit", "validate", "test", "predict"]


class CheckpointNotFoundError(PretrainedNotFoundError):
    """``--ckpt_path last|best`` named no checkpoint of this run's logger."""


def checkpoint_globs(trainer: Any, dirpath: str | None) -> list[tuple[Path, str]]:
    """Where this run's ``last*.ckpt`` files live, as (directory, pattern) pairs.

    ``--checkpoint.dirpath`` when given (``ModelCheckpoint`` writes there directly); else the versions of the
    logger's experiment, ``<save_dir>/<name>/<version>/checkpoints`` (one level of versions only, so an
    empty ``name`` does not reach into other experiments below ``save_dir``); without a logger, Lightning's
    ``<default_root_dir>/checkpoints``.

    Args:
        trainer: the Lightning Trainer (its logger and ``default_root_dir``).
        dirpath: ``--checkpoint.dirpath``, if the user gave one.
    """
    if dirpath:
        return [(Path(dirpath), "last*.ckpt")]
    logger = trainer.logger
    if logger is not None:
        root = Path(logger.save_dir if logger.save_dir is not None else trainer.default_root_dir)
        return [(root / (logger.name or ""), "*/checkpoints/last*.ckpt")]
    return [(Path(trainer.default_root_dir) / "checkpoints", "last*.ckpt")]


def newest_last(places: list[tuple[Path, str]]) -> Path | None:
    """The newest ``last*.ckpt`` of ``places``, or None.

    Args:
        places: (directory, glob pattern) pairs (:func:`checkpoint_globs`).
    """
    found = [p for root, pattern in places if root.is_dir() for p in root.glob(pattern) if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def best_recorded_in(last: Path) -> str | None:
    """The best checkpoint the ``ModelCheckpoint`` state of ``last`` records (it may since have been deleted).

    Args:
        last: a ``last.ckpt`` written by a run with a ``ModelCheckpoint`` that monitors a metric; read with
            :func:`zoo.conversion.load_checkpoint`, so a damaged one is an error naming it.
    """
    from zoo.conversion import load_checkpoint

    states = load_checkpoint(last).get("callbacks") or {}
    for key, state in states.items():
        if (
            str(key).startswith("ModelCheckpoint")
            and isinstance(state, dict)
            and state.get("best_model_path")
        ):
            return str(state["best_model_path"])
    return None


def resolve_ckpt_path(verb: Verb, value: str | None, trainer: Any, dirpath: str | None) -> str | None:
    """The file ``--ckpt_path value`` names for ``verb``; None when fit has nothing to resume.

    Args:
        verb: the subcommand.
        value: ``--ckpt_path`` as given: None, "last", "best", or a path (returned unchanged).
        trainer: the Lightning Trainer of the run.
        dirpath: ``--checkpoint.dirpath``, if the user gave one.
    """
    if value not in ("last", "best"):
        return value
    places = checkpoint_globs(trainer, dirpath)
    where = ", ".join(str(root) for root, _ in places)
    last = newest_last(places)
    if value == "last" and last is not None:
        log.info("--ckpt_path last: %s %s", "resuming from" if verb == "fit" else "loading", last)
        return str(last)
    if value == "best":
        best = best_recorded_in(last) if last is not None else None
        if best is not None and Path(best).is_file():
            log.info("--ckpt_path best: loading %s (recorded in %s)", best, last)
            return best
        recorded = (
            f" (the newest, {last}, records {best}, which no longer exists)"
            if best is not None
            else (f" (the newest, {last}, records none)" if last is not None else "")
        )
        raise CheckpointNotFoundError(
            f"--ckpt_path best: no best checkpoint recorded under {where}{recorded}; give the file "
            "(--ckpt_path PATH), or the logger name and --checkpoint.dirpath of the run"
        )
    if verb == "fit" and value == "last":
        log.warning("--ckpt_path last: no last.ckpt under %s yet; training from scratch", where)
        return None
    raise CheckpointNotFoundError(
        f"--ckpt_path {value}: no {value}.ckpt under {where}; train first (fit), give the file "
        "(--ckpt_path PATH), or the logger name (--trainer.logger.init_args.name) or --checkpoint.dirpath of the run"
    )
