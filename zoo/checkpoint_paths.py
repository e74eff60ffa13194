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

import torch

from zoo.hub.errors import PretrainedNotFoundError

log = logging.getLogger(__name__)

Verb = Literal["fit", "validate", "test", "predict"]


class CheckpointNotFoundError(PretrainedNotFoundError):
    """``--ckpt_path last|best`` named no checkpoint of this run's logger."""


def checkpoint_roots(trainer: Any, dirpath: str | None) -> list[Path]:
    """Where this run's checkpoints live: ``dirpath`` when given, else the logger's experiment directory.

    Args:
        trainer: the Lightning Trainer (its logger and ``default_root_dir``).
        dirpath: ``--checkpoint.dirpath``, if the user gave one.
    """
    if dirpath:
        return [Path(dirpath)]
    logger = trainer.logger
    if logger is not None and logger.save_dir is not None:
        return [Path(logger.save_dir) / (logger.name or "")]
    return [Path(trainer.default_root_dir) / "checkpoints"]  # Lightning's place without a logger


def newest_last(roots: list[Path]) -> Path | None:
    """The newest ``last*.ckpt`` under ``roots``, or None.

    Args:
        roots: the directories to search (recursively).
    """
    found = [p for root in roots if root.is_dir() for p in root.glob("**/last*.ckpt") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def best_recorded_in(last: Path) -> Path | None:
    """The best checkpoint the ``ModelCheckpoint`` state of ``last`` records, if that file exists.

    Args:
        last: a ``last.ckpt`` written by a run with a ``ModelCheckpoint`` that monitors a metric.
    """
    try:
        states = torch.load(last, map_location="cpu", weights_only=True).get("callbacks") or {}
    except Exception:
        return None
    for key, state in states.items():
        if (
            str(key).startswith("ModelCheckpoint")
            and isinstance(state, dict)
            and state.get("best_model_path")
        ):
            best = Path(state["best_model_path"])
            return best if best.is_file() else None
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
    roots = checkpoint_roots(trainer, dirpath)
    where = ", ".join(str(r) for r in roots)
    last = newest_last(roots)
    if value == "last" and last is not None:
        log.info("--ckpt_path last: %s %s", "resuming from" if verb == "fit" else "loading", last)
        return str(last)
    if value == "best":
        best = best_recorded_in(last) if last is not None else None
        if best is not None:
            log.info("--ckpt_path best: loading %s (recorded in %s)", best, last)
            return str(best)
        raise CheckpointNotFoundError(
            f"--ckpt_path best: no best checkpoint recorded under {where}"
            + (f" (the newest, {last}, records none that still exists)" if last is not None else "")
            + "; give the file (--ckpt_path PATH), or the logger name and --checkpoint.dirpath of the run"
        )
    if verb == "fit" and value == "last":
        log.warning("--ckpt_path last: no last.ckpt under %s yet; training from scratch", where)
        return None
    raise CheckpointNotFoundError(
        f"--ckpt_path {value}: no {value}.ckpt under {where}; train first (fit), give the file "
        "(--ckpt_path PATH), or the logger name (--trainer.logger.init_args.name) or --checkpoint.dirpath of the run"
    )
