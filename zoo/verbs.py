"""The verbs of ``train.py`` beside LightningCLI's: typed functions exposed through jsonargparse.

As litgpt's ``__main__`` does, every verb is a plain typed function; its parser is built from the
signature and the docstring (``add_function_arguments``: one argument per line under ``Args:``), so
``train.py VERB --help`` documents it and ``--config FILE`` (YAML) may give any of its arguments.
:func:`build_parser` puts them beside LightningCLI's subcommands (``fit``, ``validate``, ``test``,
``predict``, which only lend their names and help lines here: ``zoo.cli.main`` hands those to
LightningCLI), so ``train.py --help`` lists every verb. A user error in a verb (a missing file, a bad
directory, a pretrained record that does not check out) is one line ``error: <message>`` on stderr and
exit status 2; ``ZOO_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import os
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docstring_parser import parse as parse_docstring
from jsonargparse import ActionConfigFile, ActionYesNo, ArgumentParser

from zoo.cli_errors import UsageError, fail, reported_as_user_errors, usage_message
from zoo.hub.config import WeightsDtype


def list_command(pattern: str = "*") -> None:
    """Print the registered models and the shipped pretrained ones whose names match a pattern.

    Registered models are built with ``--model.net NAME`` or ``zoo.create_model(NAME, ...)``; pretrained
    ones are evaluated with ``test --model.pretrained NAME``. A pattern without a dot also selects the
    pretrained models of the matching architectures (``tcn`` lists ``tcn.etth1``).

    Args:
        pattern: shell-style pattern on the names, e.g. "nbeats*" or "tcn.*"; "*" lists every model
    """
    from rich.console import Console
    from rich.table import Table

    from zoo.hub import CONFIG_NAME, PretrainedConfig, list_pretrained, shipped_dir
    from zoo.registry import get_model_entry, list_models

    models = list_models(pattern)
    shipped = list_pretrained(pattern if "." in pattern or pattern == "*" else f"{pattern}.*")
    if not models and not shipped:
        every = [*list_models(), *list_pretrained()]
        close = difflib.get_close_matches(pattern.strip("*?"), every, n=3, cutoff=0.5)
        guess = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(
            f"no registered or pretrained model matches {pattern!r}{guess}; `train.py list` shows them all"
        )
    table = Table(title=f"registered models matching {pattern!r}")
    for column in ("name", "task", "class", "description"):
        table.add_column(column)
    for name in models:
        entry = get_model_entry(name)
        builder = f"{entry.builder.__module__}.{entry.builder.__qualname__}"
        table.add_row(name, entry.task, builder, entry.description)
    console = Console(width=max(Console().width, 120))
    console.print(table)
    table = Table(
        title="pretrained models (create_model('<name>', pretrained=True); test: --model.pretrained <name>)"
    )
    for column in ("name", "params", "data", "test metric"):
        table.add_column(column)
    for name in shipped:
        directory = shipped_dir() / name
        if not (directory / CONFIG_NAME).is_file():
            table.add_row(name, "?", "(download on first use)", "")
            continue
        config = PretrainedConfig.from_file(directory / CONFIG_NAME)
        table.add_row(
            name,
            f"{config.num_parameters / 1e6:.2f} M",
            describe_data(config.preprocessing),
            headline_metric(config.metrics),
        )
    console.print(table)


def convert_command(
    checkpoint: str,
    directory: str,
    dtype: WeightsDtype = "float32",
    data_license: str = "",
    evaluate: bool = False,
    overwrite: bool = False,
) -> Path:
    """Turn a Lightning checkpoint into a pretrained directory: config.json + model.safetensors.

    The checkpoint is read with ``weights_only=True`` (tensors and plain types, never pickled objects) and
    checked against the digest zoo recorded in it; the model it holds is the one zoo recorded while training.

    Args:
        checkpoint: the .ckpt file, e.g. runs/lightning_logs/version_0/checkpoints/last.ckpt
        directory: the pretrained directory to write, e.g. my_models/tcn.mydata (written atomically, with --evaluate after the test)
        dtype: the dtype of the stored weights
        data_license: the license of the training data, recorded in the model card
        evaluate: test the model on the test split it was trained for and record the test metrics
        overwrite: replace an existing pretrained directory there (never a file, nor a directory of other files)
    """
    import shutil
    import tempfile

    from zoo.conversion import convert_checkpoint, evaluate_pretrained
    from zoo.hub import CONFIG_NAME, MODEL_FILES, PretrainedConfig, check_directory_target
    from zoo.hub.files import replace_dir

    target = Path(directory)
    names = MODEL_FILES
    check_directory_target(target, names, overwrite)  # before the work, not after it
    if not evaluate:
        written = convert_checkpoint(
            checkpoint, target, data_license=data_license, weights_dtype=dtype, overwrite=overwrite
        )
    else:  # assembled and tested beside the target, then moved into place: a failed test leaves nothing
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
        try:
            staged = convert_checkpoint(
                checkpoint,
                staging / target.name,
                name=target.name,
                data_license=data_license,
                weights_dtype=dtype,
            )
            config = PretrainedConfig.from_file(staged / CONFIG_NAME)
            config.metrics = evaluate_pretrained(staged)
            config.save(staged)
            check_directory_target(target, names, overwrite)
            replace_dir(staged, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        written = target
    print(f"wrote {written}")
    return written


def export_command(model: str, directory: str, format: str = "torch_export", overwrite: bool = False) -> Path:
    """Export a trained model as a self-contained program, for fast single forecasts without zoo's training stack.

    A forecaster becomes its eval-mode forward pass (scaled x, x_mark, y_mark -> scaled forecast), a VAE its
    decoder (z -> mean image), with a dynamic batch dimension. zoo.forecast, train.py forecast and
    train.py backtest take the directory in place of the model. Every file's sha256 is recorded in
    export.json and checked on load; torch_export programs load without unpickling anything.

    Args:
        model: a pretrained name (tcn.etth1), a pretrained directory, or a .ckpt written by train.py fit
        directory: the directory to write (export.json and the program), atomically
        format: torch_export (torch.export graph + safetensors) or onnx (model.onnx, for ONNX Runtime)
        overwrite: replace an existing export directory there
    """
    from zoo.choices import check_choice
    from zoo.deploy import PROGRAM_FILES, ProgramFormat, export_program
    from zoo.hub import check_directory_target

    check_choice("format", format, ProgramFormat)
    check_directory_target(Path(directory), PROGRAM_FILES, overwrite)  # before loading and tracing
    from zoo.inference.model import trained_net

    net, _ = trained_net(model)
    written = export_program(net, directory, format=format, overwrite=overwrite)  # type: ignore[arg-type]
    print(f"wrote {format} program of {net.pretrained_config.name or model} to {written}")
    return written


def merge_command(adapter: str, directory: str, base: str | None = None, overwrite: bool = False) -> Path:
    """Merge a LoRA adapter into its base model: a plain pretrained directory, loadable without LoRA.

    The adapter is what ``fit --export_pretrained DIR`` writes for a run with ``model.lora`` (PEFT's
    layout); the sha256 of the adapter file and of the base it was trained on are checked before merging.

    Args:
        adapter: the adapter directory (adapter_config.json + adapter_model.safetensors)
        directory: the merged pretrained directory to write
        base: the base pretrained name or directory (default: the one the adapter records)
        overwrite: replace an existing pretrained directory there
    """
    from zoo.adapters.merging import merge_adapter_into_pretrained

    written = merge_adapter_into_pretrained(adapter, directory, base=base, overwrite=overwrite)
    print(f"wrote {written}")
    return written


def forecast_command(
    model: str,
    data: str,
    output: str | None = None,
    horizon: int | None = None,
    date_column: str | None = None,
    id_column: str | None = None,
    sep: str | None = None,
    missing: str | None = None,
    gaps: str | None = None,
    quantiles: list[float] | None = None,
    conformal: bool = False,
    calibration_windows: int = 200,
    calibration_step: int = 1,
    future: str | None = None,
    overwrite: bool = False,
) -> Path | None:
    """Forecast the future after the last row of each series in a file, with a trained model.

    The model's own preprocessing is used (its scaler statistics, its columns matched by name, its
    frequency); the output has one row per (series, future timestamp): unique_id (long format only), the
    date column, one column per target in original units.

    Args:
        model: a pretrained name (tcn.etth1), a pretrained directory, or a .ckpt written by train.py fit
        data: a .csv or .parquet file with the model's columns (any order) and at least seq_len rows per series
        output: the file to write, .csv or .parquet (with a .sha256 beside it); default: CSV on stdout
        horizon: steps to forecast, at most the model's pred_len (default: pred_len)
        date_column: the timestamp column (default: the model's)
        id_column: the series-id column of a long-format file (default: the model's)
        sep: the CSV separator (default: sniffed)
        missing: missing values: error, keep, interpolate or raw (default: the model's)
        gaps: missing timestamps: error, interpolate, ffill or ignore (default: the model's)
        quantiles: quantile levels to add as <target>_q<level> columns, e.g. [0.1,0.9]: from a probabilistic
            model, or with --conformal from backtest residuals
        conformal: calibrate the quantiles on the residuals of the data's last calibration_windows origins (any model)
        calibration_windows: conformal calibration origins per series
        calibration_step: rows between conformal calibration origins
        future: a .csv or .parquet file with the date column and the model's future_columns at the pred_len
            timestamps after the last row (models trained with data.future_columns)
        overwrite: replace an existing output file
    """
    from zoo.inference import forecast, write_table
    from zoo.inference.outputs import check_output_path

    if output is not None:
        check_output_path(output, overwrite)  # before the work, so a refusal costs nothing
    frame = forecast(
        model,
        data,
        horizon=horizon,
        date_column=date_column,
        id_column=id_column,
        sep=sep,
        missing=missing,  # type: ignore[arg-type]
        gaps=gaps,  # type: ignore[arg-type]
        quantiles=quantiles,
        conformal=conformal,
        calibration_windows=calibration_windows,
        calibration_step=calibration_step,
        future=future,
    )
    if output is None:
        frame.to_csv(sys.stdout, index=False)
        return None
    written = write_table(frame, output, overwrite=overwrite)
    print(f"wrote {len(frame)} forecast rows to {written}")
    return written


def backtest_command(
    model: str,
    data: str,
    output: str | None = None,
    windows: int = 10,
    step: int | None = None,
    seasonality: int = 1,
    format: str = "csv",
    date_column: str | None = None,
    id_column: str | None = None,
    sep: str | None = None,
    missing: str | None = None,
    gaps: str | None = None,
    quantiles: list[float] | None = None,
    conformal: bool = False,
    calibration_windows: int = 200,
    calibration_step: int = 1,
    adapt_rate: float = 0.0,
    overwrite: bool = False,
) -> Path | None:
    """Rolling-origin backtest: forecasts from the last origins of each series, scored per origin, series and channel.

    Metrics (in original units, and on the model's standardised scale): MSE, MAE, sMAPE, MASE. The summary
    (mean over origins and series, per channel) is printed; --output writes metrics, forecasts and summary.

    Args:
        model: a pretrained name (tcn.etth1), a pretrained directory, or a .ckpt written by train.py fit
        data: a .csv or .parquet file with the model's columns (any order)
        output: a directory to write metrics, forecasts and summary tables into, with SHA256SUMS
        windows: origins per series (the last ones)
        step: rows between origins (default: the model's pred_len)
        seasonality: seasonal period of MASE's naive scale (1: previous value; 24: a day of hourly rows)
        format: the tables' format: csv or parquet
        date_column: the timestamp column (default: the model's)
        id_column: the series-id column of a long-format file (default: the model's)
        sep: the CSV separator (default: sniffed)
        missing: missing values: error, keep, interpolate or raw (default: the model's)
        gaps: missing timestamps: error, interpolate, ffill or ignore (default: the model's)
        quantiles: quantile levels of a probabilistic model, e.g. [0.1,0.9]: adds pinball, CRPS, coverage and
            width (of the interval between the first and last level) and <target>_q<level> forecast columns
        conformal: the quantiles of any model from conformal intervals around its points, calibrated on each
            series' calibration_windows origins before the first backtest origin
        calibration_windows: conformal calibration origins per series
        calibration_step: rows between conformal calibration origins
        adapt_rate: with --conformal, adaptive conformal inference's step size (0.005 in Gibbs & Candès 2021):
            intervals widen after misses and narrow after covers; 0: split conformal
        overwrite: replace an existing output directory
    """
    from zoo.choices import check_choice
    from zoo.inference import backtest, write_backtest
    from zoo.inference.outputs import check_output_directory

    check_choice("format", format, ("csv", "parquet"))
    if output is not None:
        check_output_directory(output, overwrite)  # before the work, so a refusal costs nothing
    result = backtest(
        model,
        data,
        windows=windows,
        step=step,
        seasonality=seasonality,
        date_column=date_column,
        id_column=id_column,
        sep=sep,
        missing=missing,  # type: ignore[arg-type]
        gaps=gaps,  # type: ignore[arg-type]
        quantiles=quantiles,
        conformal=conformal,
        calibration_windows=calibration_windows,
        calibration_step=calibration_step,
        adapt_rate=adapt_rate,
    )
    print(result.summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if output is None:
        return None
    tables = {"metrics": result.metrics, "forecasts": result.forecasts, "summary": result.summary}
    written = write_backtest(tables, output, suffix=f".{format}", overwrite=overwrite)
    print(f"wrote {len(result.metrics)} metric rows and {len(result.forecasts)} forecast rows to {written}")
    return written


def describe_data(preprocessing: Mapping[str, Any]) -> str:
    """One line about the data of a pretrained model, e.g. ``ETTh1 M 96->96``.

    Args:
        preprocessing: the ``preprocessing`` record of a pretrained model's config.json
    """
    arguments = preprocessing.get("datamodule", {})
    if preprocessing.get("kind") == "timeseries":
        return (
            f"{preprocessing.get('dataset')} {arguments.get('features', '')} "
            f"{arguments.get('seq_len')}->{arguments.get('pred_len')}"
        )
    return f"{preprocessing.get('dataset')} ({preprocessing.get('binarize') or 'grey'})"


def headline_metric(metrics: Mapping[str, float]) -> str:
    """The test metric a card leads with: sMAPE (M4), MSE (standardised scale) or the negative ELBO.

    Args:
        metrics: the ``metrics`` record of a pretrained model's config.json
    """
    for key in ("test/smape", "test/mse", "test/neg_elbo"):
        if key in metrics:
            return f"{key.split('/')[1]} {metrics[key]:.4f}"
    return ""


@dataclass(frozen=True)
class Verb:
    """A verb: its function, and the defaulted parameters that are given by position (``list [pattern]``)."""

    function: Callable[..., Any]
    optional_positionals: tuple[str, ...] = ()


VERBS: dict[str, Verb] = {
    "list": Verb(list_command, optional_positionals=("pattern",)),
    "convert": Verb(convert_command),
    "merge": Verb(merge_command),
    "export": Verb(export_command),
    "forecast": Verb(forecast_command),
    "backtest": Verb(backtest_command),
}


def _verb_parser(verb: Verb) -> ArgumentParser:
    """One verb's parser: ``--config``, its optional positionals, its switches, then the rest of its signature."""
    docstring = parse_docstring(inspect.getdoc(verb.function) or "")
    description = "\n\n".join(filter(None, (docstring.short_description, docstring.long_description)))
    parser = ArgumentParser(description=description, exit_on_error=False)
    parser.add_argument(
        "--config", action=ActionConfigFile, help="a YAML file giving any of the arguments below"
    )
    hints = typing.get_type_hints(verb.function)
    params = inspect.signature(verb.function).parameters
    helps = {param.arg_name: param.description for param in docstring.params}
    for name in verb.optional_positionals:  # SUPPRESS: an absent positional must not undo a --config value
        default = params[name].default
        parser.add_argument(
            name,
            nargs="?",
            type=hints[name],
            default=argparse.SUPPRESS,
            help=f"{helps.get(name) or name} (default: {default})",
        )
    flags = [
        name for name, param in params.items() if hints.get(name) is bool and param.default is not param.empty
    ]
    # a switch, as argparse's store_true: --evaluate / --no_evaluate (or evaluate: true in YAML)
    for name in flags:
        parser.add_argument(
            f"--{name}", action=ActionYesNo, default=params[name].default, help=helps.get(name)
        )
    parser.add_function_arguments(
        verb.function, as_group=False, as_positional=True, skip={*verb.optional_positionals, *flags}
    )
    return parser


def build_parser(other_verbs: Mapping[str, str]) -> ArgumentParser:
    """The parser of ``train.py``: the typed verbs, and ``other_verbs`` (name -> help line) listed beside them.

    Args:
        other_verbs: verbs parsed elsewhere (LightningCLI's), shown in ``--help`` with their help line
    """
    parser = ArgumentParser(
        prog="train.py",
        exit_on_error=False,  # run_verb reports a bad command line in one line, without the usage
        description=(
            "Train, evaluate and share zoo models. `train.py VERB --help` documents a verb; every verb also "
            "takes --config FILE (YAML)."
        ),
    )
    subcommands = parser.add_subcommands(dest="verb", required=True)
    for name, line in other_verbs.items():
        subcommands.add_subcommand(name, ArgumentParser(description=line), help=line)
    for name, verb in VERBS.items():
        summary = parse_docstring(inspect.getdoc(verb.function) or "").short_description
        subcommands.add_subcommand(name, _verb_parser(verb), help=summary)
    return parser


def run_verb(argv: list[str], other_verbs: Mapping[str, str]) -> Any:
    """Parse ``argv`` (``VERB ARGS...``) and call the verb's function; returns what it returns.

    Args:
        argv: the command line after ``train.py``
        other_verbs: LightningCLI's verbs (name -> help line), for ``--help`` and the error on a bad verb
    """
    parser = build_parser(other_verbs)
    try:
        config = parser.parse_args(argv)
    except argparse.ArgumentError as error:
        verb = argv[0] if argv and argv[0] in VERBS else None
        subparsers = parser._subcommands_action._name_parser_map if parser._subcommands_action else {}
        usage = UsageError(usage_message(error, subparsers.get(verb, parser), verb))
        if os.environ.get("ZOO_DEBUG", "") not in ("", "0"):
            raise usage from error
        fail(usage)
    if config.verb not in VERBS:  # only when a caller hands a LightningCLI verb here
        raise SystemExit(f"error: {config.verb!r} is not a typed verb; run it through zoo.cli.main")
    verb = VERBS[config.verb]
    arguments = config[config.verb]
    params = inspect.signature(verb.function).parameters
    with reported_as_user_errors():
        return verb.function(**{name: arguments[name] for name in params if name in arguments})
