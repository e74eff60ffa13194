"""``train.py lr_find --config ...``: the learning-rate range test (Smith, "Cyclical Learning Rates for
Training Neural Networks", WACV 2017; the fastai / Lightning ``Tuner.lr_find`` form).

The run is built from the same command line as ``fit`` (config files, ``--model.*``, ``--data.*``,
``--trainer.*``), then Lightning's tuner trains for ``--num_training`` steps while the learning rate rises
from ``--min_lr`` to ``--max_lr`` (exponentially by default), records the smoothed training loss, stops
early when the loss diverges, puts the weights back and suggests the rate at the steepest descent of the
loss. The suggestion is printed; the loss-vs-rate plot (PNG) and the curve (CSV, columns ``lr`` and
``loss``) are written atomically with a ``.sha256`` beside each, never over an existing file unless
``--overwrite``. The model's own optimiser (``model.optimizer.name``) is the one tested; its schedule is
replaced by the test's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.hub.errors import OutputExistsError
from zoo.hub.files import write_text_atomic

#: What ``lr_find`` takes besides ``fit``'s options.
PARSER = argparse.ArgumentParser(
    prog="train.py lr_find",
    description=(__doc__ or "").split("\n\n")[0]
    + " Every other option is fit's (--config FILE, --model.*, ...).",
    add_help=True,
)
PARSER.add_argument("--min_lr", type=float, default=1e-7, help="the first learning rate (default 1e-7)")
PARSER.add_argument("--max_lr", type=float, default=1.0, help="the last learning rate (default 1)")
PARSER.add_argument("--num_training", type=int, default=100, help="steps of the test (default 100)")
PARSER.add_argument(
    "--mode",
    choices=("exponential", "linear"),
    default="exponential",
    help="how the rate rises (default exponential)",
)
PARSER.add_argument(
    "--plot", default="lr_find.png", help="the plot to write, .png (the curve goes to .csv beside it)"
)
PARSER.add_argument("--overwrite", action="store_true", help="replace an existing plot and curve")


@dataclass(frozen=True)
class LRFindResult:
    """What the range test found.

    Attributes:
        suggestion: the suggested learning rate.
        curve: the tested rates and their smoothed losses (columns ``lr``, ``loss``).
        plot: the plot written.
    """

    suggestion: float
    curve: pd.DataFrame
    plot: Path


def _check_options(options: argparse.Namespace) -> tuple[Path, Path]:
    """The plot and curve paths, or a clear error for bad options (before any work)."""
    if not 0 < options.min_lr < options.max_lr:
        raise ValueError(
            f"lr_find: need 0 < --min_lr < --max_lr, got --min_lr {options.min_lr} and --max_lr {options.max_lr}"
        )
    if options.num_training < 2:
        raise ValueError(f"lr_find: --num_training must be at least 2 steps, got {options.num_training}")
    plot = Path(options.plot)
    if plot.suffix.lower() != ".png":
        raise ValueError(
            f"lr_find: --plot {plot} must name a .png file (the curve is written beside it as .csv)"
        )
    curve = plot.with_suffix(".csv")
    for path in (plot, curve):
        if path.exists() and not options.overwrite:
            raise OutputExistsError(
                f"{path} already exists; pass --overwrite to replace it, or choose another --plot"
            )
    return plot, curve


def _write_with_digest(path: Path, write: Any) -> None:
    """``write(staging_path)``, fsync, rename onto ``path``, then ``<path>.sha256``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.part{path.suffix}")
    try:
        write(staging)
        with open(staging, "rb") as handle:
            os.fsync(handle.fileno())
            digest = hashlib.sha256(staging.read_bytes()).hexdigest()
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    write_text_atomic(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")


def lr_find(argv: list[str], build_cli: Callable[..., Any]) -> LRFindResult:
    """Run the range test for the ``fit`` command line ``argv`` plus :data:`PARSER`'s options.

    Args:
        argv: the command line after ``train.py lr_find``.
        build_cli: :func:`zoo.cli.build_cli` (passed in, so this module does not import the CLI's).
    """
    from lightning.pytorch.tuner import Tuner

    options, fit_argv = PARSER.parse_known_args(argv)
    plot_path, curve_path = _check_options(options)
    cli = build_cli(fit_argv, run=False)  # run=False: no subcommand, the fit options alone
    finder = Tuner(cli.trainer).lr_find(
        cli.model,
        datamodule=cli.datamodule,
        min_lr=options.min_lr,
        max_lr=options.max_lr,
        num_training=options.num_training,
        mode=options.mode,
        update_attr=False,
    )
    suggestion = None if finder is None else finder.suggestion()
    if finder is None or suggestion is None:
        raise ValueError(
            "lr_find: the loss curve gave no suggestion (too few steps before the loss diverged); raise "
            "--num_training, lower --max_lr, or check the data"
        )
    curve = pd.DataFrame({"lr": finder.results["lr"], "loss": finder.results["loss"]})
    figure = finder.plot(suggest=True, show=False)
    _write_with_digest(plot_path, lambda path: figure.savefig(path, format="png", dpi=100))
    _write_with_digest(curve_path, lambda path: curve.to_csv(path, index=False))
    return LRFindResult(float(suggestion), curve, plot_path)


def lr_find_command(argv: list[str], build_cli: Callable[..., Any]) -> LRFindResult:
    """``train.py lr_find``: the test, its suggestion printed and its files named.

    Args:
        argv: the command line after ``train.py lr_find``.
        build_cli: :func:`zoo.cli.build_cli`.
    """
    result = lr_find(argv, build_cli)
    print(
        f"suggested learning rate: {result.suggestion:.3g} (steepest descent of the loss over {len(result.curve)} "
        f"rates); plot {result.plot}, curve {result.plot.with_suffix('.csv')}"
    )
    return result
