"""``train.py tune --config CONFIG --space SPACE.yaml --trials N``: hyperparameter search on Optuna.

Optuna (Akiba et al., KDD 2019) samples each trial's values with its TPE sampler (Bergstra et al., NeurIPS
2011). ``--seed`` makes a search reproducible; a resumed study offsets it by its number of trials, so it
does not replay the values of the first ones (workers sharing a study leave it unset, or give each its
own), and the trial is ``fit`` of the config with those values, scored by the best
validation value of ``--metric`` (default ``val/mse``; validation only, the test split is never read).
The first trial of a new study is the config's own values (when every searched key is set in it and lies
in the space), the yardstick of the others. Options beside these are fit's, given to every trial
(``--trainer.max_epochs=3``). A trial whose validation value at an epoch is worse than the median of the earlier trials' at that epoch
is stopped (Optuna's ``MedianPruner``, after 5 complete trials and one epoch).

``SPACE.yaml`` maps config keys, dotted as on the command line, to ranges or choices::

    model.optimizer.lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    model.net.init_args.hidden_channels: [32, 64, 128]
    model.net.init_args.dropout: {low: 0.0, high: 0.5, step: 0.1}

A range of two integers samples integers. Every key must be an option of the config, a range must be
non-empty and a choice list must have values; each error names the key.

The study lives in a database (``--storage``: SQLite under the output directory by default, or any
SQLAlchemy URL), so a search resumes after a crash, and several processes or machines given one URL
work on one study: each takes trials until ``--trials`` of them are complete or pruned, counted over
all workers. A worker killed mid-trial leaves a trial whose heartbeat stops; after the grace period the
next worker marks it failed. A study remembers the config and space it was started with; resuming it
with others is an error, and so is a locked database.

Outputs, in ``--output`` (default ``runs/tune/<study name>``): ``trials.csv`` (every trial, its values,
state and score) and ``best.yaml``, the config with the best trial's values, which ``train.py fit
--config best.yaml`` takes; each has a ``.sha256`` beside it. ``--wandb`` logs every trial to Weights &
Biases (offline without an API key).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zoo.hub.files import write_text_atomic

PARSER = argparse.ArgumentParser(
    prog="train.py tune",
    description="Hyperparameter search on Optuna over a fit config (zoo/tuning.py documents SPACE.yaml).",
)
PARSER.add_argument("--config", required=True, help="the fit config to search around (YAML)")
PARSER.add_argument("--space", required=True, help="SPACE.yaml: config keys -> ranges or choices")
PARSER.add_argument("--trials", type=int, required=True, help="complete or pruned trials the study needs")
PARSER.add_argument(
    "--storage", default=None, help="SQLAlchemy URL of the study's database (default: SQLite)"
)
PARSER.add_argument("--study_name", default=None, help="the study's name (default: tune-<config name>)")
PARSER.add_argument("--output", default=None, help="directory for trials.csv, best.yaml and the trials' logs")
PARSER.add_argument("--metric", default="val/mse", help="the validation metric to minimise (default val/mse)")
PARSER.add_argument(
    "--seed", type=int, default=None, help="the sampler's seed (default: none; a resumed study shifts it)"
)
PARSER.add_argument("--pruner", choices=("median", "none"), default="median", help="stop bad trials early")
PARSER.add_argument("--wandb", action="store_true", help="log every trial to Weights & Biases")
PARSER.add_argument("--heartbeat", type=int, default=10, help="seconds between a trial's heartbeats")


@dataclass(frozen=True)
class Dimension:
    """One searched key: a float or integer range, or a list of choices.

    Attributes:
        key: the dotted config key.
        low: the range's lower end (ranges).
        high: the range's upper end (ranges).
        log: sample on a log scale.
        step: the grid step, or None.
        choices: the values to choose from (categorical), or None for a range.
    """

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        """The trial's value of this key."""
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        if isinstance(self.low, int) and isinstance(self.high, int) and not isinstance(self.step, float):
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step, log=self.log)  # type: ignore[arg-type]


def read_space(path: str | Path) -> list[Dimension]:
    """The dimensions of ``SPACE.yaml``; errors name the file and the key.

    Args:
        path: the space file.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"--space {source}: no such file")
    raw = yaml.safe_load(source.read_text())
    if not isinstance(raw, dict) or not raw:
        raise ValueError(
            f"{source}: a search space maps config keys to ranges or choices, e.g. 'model.optimizer.lr: {{low: 1.0e-4, high: 1.0e-2, log: true}}'"
        )
    dimensions = []
    for key, spec in raw.items():
        where = f"{source}: {key}"
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"{where}: an empty list of choices; give at least one value")
            dimensions.append(Dimension(str(key), choices=tuple(spec)))
            continue
        if not isinstance(spec, dict) or not {"low", "high"} <= set(spec):
            raise ValueError(
                f"{where}: give a range {{low: .., high: ..}} (log: true, step: ..) or a list of choices"
            )
        unknown = sorted(set(spec) - {"low", "high", "log", "step"})
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; a range takes low, high, log and step")
        low, high, log, step = spec["low"], spec["high"], bool(spec.get("log", False)), spec.get("step")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
            raise ValueError(f"{where}: low and high must be numbers, got {low!r} and {high!r}")
        if not low < high:
            raise ValueError(f"{where}: an empty range (low={low} is not below high={high})")
        if log and low <= 0:
            raise ValueError(f"{where}: a log range needs low > 0, got {low}")
        if log and step is not None:
            raise ValueError(f"{where}: give log or step, not both")
        dimensions.append(Dimension(str(key), low, high, log, step))
    return dimensions


def _fingerprint(config: Path, dimensions: list[Dimension], fit_options: list[str]) -> str:
    """What a study is bound to: the config file's bytes, the space and the fit options given beside them."""
    digest = hashlib.sha256(config.read_bytes())
    digest.update(json.dumps([vars(d) for d in dimensions], sort_keys=True, default=str).encode())
    digest.update(json.dumps(fit_options).encode())
    return digest.hexdigest()


def _argument(key: str, value: Any) -> str:
    """``--key=value`` as the fit command line takes it (YAML for lists and mappings)."""
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    return f"--{key}={text}"


def check_space_keys(
    config: Path,
    dimensions: list[Dimension],
    build_cli: Callable[..., Any],
    fit_options: list[str] | None = None,
) -> None:
    """Every key of the space is an option of the config and takes its values: the config parses with each
    key set to each choice (or each end of its range), or a clear error naming the key.

    Args:
        config: the fit config.
        dimensions: the space.
        build_cli: :func:`zoo.cli.build_cli`.
        fit_options: fit options given beside the config (``--trainer.max_epochs=3``).
    """
    import contextlib
    import io

    from zoo.cli_errors import UsageError

    checks = [
        (d, value) for d in dimensions for value in (d.choices if d.choices is not None else (d.low, d.high))
    ]
    for dimension, value in checks:
        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(io.StringIO()):
                build_cli(
                    ["--config", str(config), _argument(dimension.key, value), "--print_config"], run=False
                )
        except SystemExit as stop:  # --print_config exits 0 once the line parsed
            if stop.code in (0, None):
                continue
            detail = " ".join(captured.getvalue().split())[-300:]
            raise ValueError(
                f"--space: {dimension.key}={value!r} does not parse with {config}: {detail}"
            ) from None
        except UsageError as error:
            raise ValueError(
                f"--space: {dimension.key}={value!r} is not an option of {config} or not a value it takes: {error}"
            ) from None


def config_values(config: Path, dimensions: list[Dimension]) -> dict[str, Any] | None:
    """The config's own value of every searched key, when each is set in the file and lies in the space
    (None otherwise).

    Args:
        config: the fit config.
        dimensions: the space.
    """
    document = yaml.safe_load(config.read_text()) or {}
    values: dict[str, Any] = {}
    for dimension in dimensions:
        node: Any = document
        for part in dimension.key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if dimension.choices is not None:
            if node not in dimension.choices:
                return None
        elif not isinstance(node, (int, float)) or not dimension.low <= node <= dimension.high:  # type: ignore[operator]
            return None
        values[dimension.key] = node
    return values


def write_best(config: Path, params: Mapping[str, Any], target: Path) -> Path:
    """The config with ``params`` (dotted keys) set, as YAML that ``fit --config`` takes; a digest beside it.

    Args:
        config: the searched config.
        params: the best trial's values.
        target: the file to write.
    """
    document = yaml.safe_load(config.read_text()) or {}
    for key, value in params.items():
        node = document
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(
                    f"best.yaml: {key} runs through {part!r}, which is not a mapping in {config}"
                )
        node[leaf] = value
    text = f"# {config.name} with the best trial's values (train.py tune)\n" + yaml.safe_dump(
        document, sort_keys=False
    )
    _write_with_digest(target, text)
    return target


def _write_with_digest(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, text)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    write_text_atomic(target.with_name(target.name + ".sha256"), f"{digest}  {target.name}\n")


class _Pruning:
    """A Lightning callback that reports ``metric`` to the trial after every validation, keeps its best, and
    stops the trial when the pruner says so."""

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial, self.metric, self.best = trial, metric, math.inf

    def callback(self) -> Any:
        from lightning.pytorch import Callback

        owner = self

        class Report(Callback):
            def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
                import optuna

                if trainer.sanity_checking:
                    return
                value = trainer.callback_metrics.get(owner.metric)
                if value is None:
                    known = sorted(k for k in trainer.callback_metrics if k.startswith("val/"))
                    raise ValueError(
                        f"tune: --metric {owner.metric!r} was not logged at validation; logged: {known}"
                    )
                owner.best = min(owner.best, float(value))
                owner.trial.report(float(value), trainer.current_epoch)
                if owner.trial.should_prune():
                    raise optuna.TrialPruned(
                        f"epoch {trainer.current_epoch}: {owner.metric} {float(value):.4f}"
                    )

        return Report()


def tune(argv: list[str], build_cli: Callable[..., Any]) -> Any:
    """Run (or resume) the search of ``argv`` (:data:`PARSER`'s options); returns the Optuna study.

    Args:
        argv: the command line after ``train.py tune``.
        build_cli: :func:`zoo.cli.build_cli` (passed in, so this module does not import the CLI's).
    """
    try:
        import optuna
    except ImportError:
        raise ImportError("train.py tune needs Optuna: pip install -e '.[tune]'") from None
    from optuna.storages import RDBStorage
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    options, fit_options = PARSER.parse_known_args(argv)
    config = Path(options.config)
    if not config.is_file():
        raise FileNotFoundError(f"--config {config}: no such file")
    if options.trials < 1:
        raise ValueError(f"--trials must be a positive integer, got {options.trials}")
    dimensions = read_space(options.space)
    check_space_keys(config, dimensions, build_cli, fit_options)
    name = options.study_name or f"tune-{config.stem}"
    output = Path(options.output or Path("runs") / "tune" / name)
    output.mkdir(parents=True, exist_ok=True)
    url = options.storage or f"sqlite:///{(output / 'study.db').resolve()}"
    fingerprint = _fingerprint(config, dimensions, fit_options)
    try:
        storage = RDBStorage(
            url,
            heartbeat_interval=options.heartbeat,
            grace_period=3 * options.heartbeat,
        )
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            load_if_exists=True,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=options.seed),  # reseeded below once the trials are known
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
            if options.pruner == "median"
            else optuna.pruners.NopPruner(),
        )
    except Exception as error:  # sqlalchemy's OperationalError (a locked or unreadable database) and kin
        raise OSError(
            f"--storage {url}: cannot open the study database ({' '.join(str(error).split())[:200]})"
        ) from None
    if options.seed is not None:  # a resumed study must not replay the values of its first trials
        study.sampler = optuna.samplers.TPESampler(seed=options.seed + len(study.trials))
    recorded = study.user_attrs.get("fingerprint")
    if recorded is None:
        baseline = config_values(config, dimensions)
        if baseline is not None:  # trial 0 is the config itself, the yardstick of the others
            study.enqueue_trial(baseline)
        study.set_user_attr("fingerprint", fingerprint)
        study.set_user_attr("config", str(config))
        study.set_user_attr("metric", options.metric)
    elif recorded != fingerprint or study.user_attrs.get("metric") != options.metric:
        raise ValueError(
            f"--storage {url}: study {name!r} was started with another config, space or metric "
            f"({study.user_attrs.get('config')}, {study.user_attrs.get('metric')}); resume it with those, or "
            "give a new --study_name"
        )

    def objective(trial: Any) -> float:
        values = {d.key: d.suggest(trial) for d in dimensions}
        run_name = f"trial_{trial.number:03d}"
        logger = (
            [
                "--trainer.logger=lightning.pytorch.loggers.WandbLogger",
                f"--trainer.logger.init_args.project={name}",
                f"--trainer.logger.init_args.name={run_name}",
                f"--trainer.logger.init_args.save_dir={output}",
            ]
            if options.wandb
            else [
                f"--trainer.logger.init_args.save_dir={output / 'trials'}",
                f"--trainer.logger.init_args.name={run_name}",
            ]
        )
        cli = build_cli(
            [
                "--config",
                str(config),
                *fit_options,
                *[_argument(k, v) for k, v in values.items()],
                *logger,
                "--trainer.enable_progress_bar=false",
            ],
            run=False,
        )
        pruning = _Pruning(trial, options.metric)
        cli.trainer.callbacks.append(pruning.callback())
        try:
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        finally:
            if options.wandb:  # one W&B run per trial: close this one before the next trial starts its own
                import wandb

                wandb.finish()
        if not math.isfinite(pruning.best):
            raise ValueError(f"trial {trial.number}: {options.metric} was never finite")
        return pruning.best

    done = (TrialState.COMPLETE, TrialState.PRUNED)
    remaining = options.trials - len(study.get_trials(deepcopy=False, states=done))
    if remaining > 0:
        study.optimize(
            objective,
            callbacks=[MaxTrialsCallback(options.trials, states=done)],
            catch=(),
        )
    _write_outputs(study, config, output)
    return study


def _write_outputs(study: Any, config: Path, output: Path) -> None:
    """``trials.csv`` and ``best.yaml`` (when a trial completed), each with a digest."""
    frame = study.trials_dataframe()
    _write_with_digest(output / "trials.csv", frame.to_csv(index=False))
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    if completed:
        write_best(config, study.best_trial.params, output / "best.yaml")


def tune_command(argv: list[str], build_cli: Callable[..., Any]) -> Any:
    """``train.py tune``: the search, then its best trial and files printed.

    Args:
        argv: the command line after ``train.py tune``.
        build_cli: :func:`zoo.cli.build_cli`.
    """
    study = tune(argv, build_cli)
    options, _ = PARSER.parse_known_args(argv)
    output = Path(options.output or Path("runs") / "tune" / study.study_name)
    states = [t.state.name for t in study.trials]
    summary = ", ".join(
        f"{states.count(s)} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL") if states.count(s)
    )
    print(f"study {study.study_name}: {len(states)} trials ({summary})")
    if any(s == "COMPLETE" for s in states):
        best = study.best_trial
        print(f"best: trial {best.number}, {options.metric} {best.value:.6g}, {best.params}")
        print(
            f"wrote {output / 'trials.csv'} and {output / 'best.yaml'} (train.py fit --config {output / 'best.yaml'})"
        )
    return study
