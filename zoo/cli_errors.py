"""How the command line fails: one short message, no traceback, nothing left behind.

- :class:`UsageError`: a command line the parser rejects (a bad value, an unknown option, a missing
  config file), reported as ``error: <key>: <what is wrong>`` with the closest option names and the
  verb's ``--help`` instead of jsonargparse's full usage (about 100 lines for ``fit``).
- :func:`run_errors`: what a LightningCLI run reports as one line: zoo's data and pretrained-model
  errors, a missing file, and a bad value or option raised while the run is built or before its first
  training step (constructors, data setup, Lightning's own ``MisconfigurationException``). Later
  errors keep their traceback: they are bugs or numerical failures, not input errors.
- ``--debug`` anywhere on the command line (or ``ZOO_DEBUG=1``) shows the traceback instead.
- :class:`RunDirectories`: the logger directories a run creates are removed again when it fails before
  its first training step and wrote no checkpoint, so a failed run leaves no empty ``version_N``.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from lightning.pytorch.callbacks import Callback

DEBUG_FLAG = "--debug"


class UsageError(ValueError):
    """The command line does not parse: the message names the option at fault and the fix."""


@contextlib.contextmanager
def debug_flag(argv: Sequence[str]) -> Iterator[list[str]]:
    """``argv`` without ``--debug``; while it runs, ``ZOO_DEBUG=1`` is set when the flag was there, so
    tracebacks are shown, and the variable is restored afterwards (``main`` may be called in-process).

    Args:
        argv: the command line after ``train.py``.
    """
    rest = [arg for arg in argv if arg != DEBUG_FLAG]
    before = os.environ.get("ZOO_DEBUG")
    if len(rest) != len(argv):
        os.environ["ZOO_DEBUG"] = "1"
    try:
        yield rest
    finally:
        if before is None:
            os.environ.pop("ZOO_DEBUG", None)
        else:
            os.environ["ZOO_DEBUG"] = before


def check_config_files(argv: Sequence[str]) -> None:
    """Each ``--config FILE`` must be YAML: an error names the file, line and column (jsonargparse names none).

    Args:
        argv: the command line after ``train.py``.
    """
    import yaml

    for i, arg in enumerate(argv):
        key, eq, value = arg.partition("=")
        if key not in ("--config", "-c"):
            continue
        value = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
        path = Path(value)
        if not path.is_file():
            continue
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(e, "problem", None) or type(e).__name__
            raise UsageError(f"--config {path}: not valid YAML ({problem}{where}); fix the file") from e
        except UnicodeDecodeError as e:
            raise UsageError(f"--config {path}: not a text file ({e.reason}); give a YAML file") from e


def _options(parser: Any) -> list[str]:
    return [
        s for action in getattr(parser, "_actions", []) for s in action.option_strings if s.startswith("--")
    ]


def usage_message(error: Exception, parser: Any, verb: str | None) -> str:
    """jsonargparse's error as one readable line: the key, what was expected, what was given, and the fix.

    Args:
        error: the ``argparse.ArgumentError`` raised by the parser.
        parser: the verb's parser (for the option names to suggest).
        verb: the subcommand (``fit``, ``test``, ...), for the ``--help`` hint.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 3:  # a union or class-path failure: its first line, what was given, the first reason
        given = [line for line in lines if line.startswith("Given value:")]
        reasons = [
            line.lstrip("- ") for line in lines[1:] if line.startswith(("- ", "Expected", "Parser key"))
        ]
        lines = [lines[0], *reasons[:2], *given[-1:]]
    message = _readable(" ".join(lines))
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        choices = re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), choices, n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    unknown = re.search(r"unrecognized arguments: (.*)", message)
    if unknown:
        typed = [arg.split("=", 1)[0] for arg in unknown.group(1).split() if arg.startswith("--")]
        hints = [
            f"{key} (did you mean {', '.join(close)}?)" if close else key
            for key in typed
            for close in [difflib.get_close_matches(key, _options(parser), n=2, cutoff=0.75)]
        ]
        message = f"unknown option(s) {', '.join(hints) or unknown.group(1)}"
    where = f"train.py {verb} --help" if verb else "train.py --help"
    return f"{message}; `{where}` lists the options"


def _readable(message: str) -> str:
    """jsonargparse's phrasing in the user's terms: ``--data.batch_size``, ``int``, ``one of 'M', 'S'``."""
    message = re.sub(r'Parser key "([^"]+)":', r"--\1:", message)
    message = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", message)
    message = re.sub(r"typing\.Literal\[([^\]]*)\]", r"one of \1", message)
    message = re.sub(r"(?:typing\.)?Optional\[([^\]]*)\]", r"\1 or None", message)
    message = message.replace("NoneType", "None").replace("Expected a ", "expected ")
    message = re.sub(r"\.? Got value: ", ", got ", message)
    message = re.sub(r"\.? Given value: ", ", got ", message)
    return re.sub(r"expected (\S+) expected (\S+)", r"expected \1 or \2", message)


def user_errors() -> tuple[type[BaseException], ...]:
    """What a verb reports as one line: zoo's pretrained-model errors, missing files, bad values or names,
    and a missing optional dependency (``export --format onnx`` without the onnx extra)."""
    from zoo.hub.errors import PretrainedError

    return (PretrainedError, OSError, ValueError, KeyError, ImportError)


def fail(error: BaseException) -> NoReturn:
    """Print ``error: <message>`` (one line) on stderr and exit with status 2.

    Args:
        error: the exception whose message to print
    """
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(2) from None


def data_errors() -> tuple[type[BaseException], ...]:
    """What a training run reports as one line: a bad data file or option, a model that does not fit it."""
    from zoo.data.sources import DataSourceError
    from zoo.data.table import DataValidationError
    from zoo.hub.errors import PretrainedError

    return (PretrainedError, DataValidationError, DataSourceError, FileNotFoundError)


@contextlib.contextmanager
def reported_as_user_errors(errors: tuple[type[BaseException], ...] | None = None) -> Iterator[None]:
    """Turn :func:`user_errors` (or ``errors``) raised inside into :func:`fail`; ``ZOO_DEBUG=1`` lets them through.

    Args:
        errors: the exception types reported as one line (default: :func:`user_errors`)
    """
    caught = errors if errors is not None else user_errors()
    try:
        yield
    except caught as error:
        if os.environ.get("ZOO_DEBUG", "") not in ("", "0"):
            raise
        fail(error)


def run_errors() -> tuple[type[BaseException], ...]:
    """The exception types a run reports as one line when they are raised before training starts."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    # TypeError: Lightning's own checks of Trainer arguments (``devices`` of the wrong kind) raise it;
    # OSError: an unwritable runs/ directory, an output path that is a directory, a missing file
    return (*data_errors(), UsageError, ValueError, KeyError, TypeError, OSError, MisconfigurationException)


class RunDirectories:
    """The logger directories of a run, removed when the run fails before training and saved nothing.

    Args:
        loggers: the trainer's loggers; those with a ``log_dir`` that does not exist yet are watched.
    """

    def __init__(self, loggers: Iterable[Any]) -> None:
        self.fresh: list[Path] = []
        for logger in loggers:
            try:
                log_dir = getattr(logger, "log_dir", None)
            except (OSError, ValueError, AttributeError):
                continue
            if log_dir and not Path(log_dir).exists():
                self.fresh.append(Path(log_dir))

    def remove_if_unused(self, loops_started: bool) -> None:
        """Remove the watched directories that the failed run created, unless it ran a batch or checkpointed.

        Args:
            loops_started: whether a train/val/test/predict batch had started (:class:`LoopStarted`).
        """
        if loops_started:
            return
        for directory in self.fresh:
            if directory.is_dir() and not any(directory.glob("**/*.ckpt")):
                shutil.rmtree(directory, ignore_errors=True)


class LoopStarted(Callback):
    """Records whether any batch of any loop started: errors after that are not input errors, and keep
    their traceback; before it (parsing, building, data setup, loading a checkpoint) they are one line.

    ``global_step`` cannot tell: it stays 0 in validate/test/predict and starts above 0 on a resumed fit.
    """

    def __init__(self) -> None:
        self.started = False

    def _start(self, *args: Any, **kwargs: Any) -> None:
        self.started = True

    on_train_batch_start = on_validation_batch_start = on_test_batch_start = on_predict_batch_start = _start


def is_usage_error(error: BaseException) -> bool:
    """True for the parser's errors (``argparse.ArgumentError`` and jsonargparse's subclasses)."""
    return isinstance(error, argparse.ArgumentError)
