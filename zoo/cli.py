"""The command line: ``python train.py {fit,validate,test,predict,list,convert,merge,forecast,backtest} ...``.

- ``fit``, ``validate``, ``test`` and ``predict`` are LightningCLI's (:class:`ZooCLI`, :func:`build_cli`);
  the other verbs are typed functions in :mod:`zoo.verbs`, parsed by jsonargparse from their signatures
  and docstrings. ``train.py --help`` lists them all; :func:`main` dispatches on the verb.
- ``model.net`` takes a registry name (``--model.net nbeats_interpretable``, ``net: tcn`` in YAML) beside
  a class path: :mod:`zoo.model_names` turns it into the class path and the variant's defaults.
- Two task families share the CLI. The family follows from the network: a ``model.net`` that is a
  latent-variable model (``zoo.models.latent.LatentVariableModel``, e.g. ``configs/generative/*.yaml``)
  selects ``GenerativeTask`` + ``ImageDataModule``; anything else ``ForecastingTask`` +
  ``TimeSeriesDataModule`` (:func:`detect_family` reads ``--config`` files and ``--model.net``).
- ``--config configs/....yaml`` (repeatable), ``--print_config``; every key is checked against the typed
  constructor signatures, so a misspelt key is an error naming it.
- Values the data fixes are linked from ``data`` to ``model.net``: ``n_features``, ``n_targets``,
  ``seq_len``, ``label_len``, ``pred_len``, ``n_time_features`` for forecasters, ``image_shape`` for
  generative models; never typed twice. Giving one of them under ``model.net.init_args`` anyway is
  allowed only when it agrees with the data; otherwise a clear error.
- Default callbacks: ``ModelCheckpoint`` (configurable under ``checkpoint.*``; monitors ``val/mse`` or
  ``val/neg_elbo``, keeps ``last.ckpt``; Lightning writes checkpoints atomically), ``LearningRateMonitor``
  when a logger is active, and a rich progress bar when the progress bar is enabled.
- Loggers by class path, ``CSVLogger`` in ``runs/`` by default. ``--trainer.logger WandbLogger`` runs
  offline when no W&B API key is configured, so it never prompts or waits on the network.
- ``--ckpt_path last|best`` names a checkpoint of the same logger name (or ``--checkpoint.dirpath``), never
  another experiment's (:mod:`zoo.checkpoint_paths`): ``fit`` resumes the newest ``last.ckpt`` and says
  which, ``validate``/``test``/``predict`` with nothing to load are an error. Every checkpoint given is read
  first: an unreadable, corrupt (digest) or foreign file, or one of another architecture, task or window, is
  an error naming the file and both models.
- Errors (:mod:`zoo.cli_errors`): a bad option, value, file or dimension is one line ``error: ...`` and exit
  status 2, with no traceback (``--debug`` or ``ZOO_DEBUG=1`` shows it); a run that fails before training
  leaves no empty ``runs/.../version_N`` behind.
- ``fit --test_after_fit true`` tests the best checkpoint when fitting ends (the quickstart uses it).
- ``predict`` forecasts the future after the last row of each series and writes it to a file
  (``--predict_output``, default ``forecasts.csv`` in the log directory; :mod:`zoo.tasks.prediction_writer`);
  ``forecast MODEL DATA --output F`` and ``backtest MODEL DATA --output DIR`` apply a trained model to a
  user's file (:mod:`zoo.inference`).
- ``list [pattern]`` prints the registered models and the shipped pretrained ones (name, parameters,
  data, test metric); ``convert CKPT DIR`` turns a Lightning checkpoint into a pretrained directory.
- Pretrained models (:mod:`zoo.hub`): ``test --model.pretrained tcn.etth1`` evaluates one as its
  card measured it; ``fit --model.init_from tcn.etth1`` fine-tunes from one (:func:`expand_pretrained`);
  ``fit --export_pretrained DIR`` writes the best checkpoint as one (a LoRA run, ``model.lora``, writes its
  adapter in PEFT's layout instead), and logs it to W&B as an artifact; ``merge ADAPTER DIR`` folds such an
  adapter into its base as a plain pretrained directory. A ``--config`` that sets ``model.init_from``
  without ``model.net`` gets the net and RevIN from the pretrained model (``configs/finetune/*.yaml``).
- Checkpoints given by ``--ckpt_path`` are read with ``weights_only=True`` (never unpickled objects).
- With ``WandbLogger`` the whole resolved config goes to the run config under ``cli``
  (:class:`ZooSaveConfig`).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import netrc
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from zoo.adapters.lora import lora_configs
from zoo.checkpoint_paths import resolve_ckpt_path
from zoo.cli_argv import detect_family, expand_pretrained
from zoo.cli_errors import (
    LoopStarted,
    RunDirectories,
    UsageError,
    check_config_files,
    data_errors,
    debug_flag,
    is_usage_error,
    reported_as_user_errors,
    run_errors,
    usage_message,
)
from zoo.data.images import ImageDataModule
from zoo.data.timeseries import TimeSeriesDataModule
from zoo.export import check_export_target, export_run
from zoo.hub import net_of as hub_net
from zoo.model_names import expand_model_names
from zoo.tasks.forecasting import ForecastingTask
from zoo.tasks.generative import GenerativeTask
from zoo.verbs import (  # noqa: F401 (describe_data, headline_metric re-exported)
    describe_data,
    headline_metric,
    run_verb,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskFamily:
    """What the CLI builds for one kind of model: the task, the data module, the linked dims, the monitor."""

    task_class: type
    data_class: type
    linked_dims: tuple[str, ...]
    monitor: str


FAMILIES: dict[str, TaskFamily] = {
    "forecasting": TaskFamily(
        ForecastingTask,
        TimeSeriesDataModule,
        ("n_features", "n_targets", "seq_len", "label_len", "pred_len", "n_time_features"),
        "val/mse",
    ),
    "generative": TaskFamily(GenerativeTask, ImageDataModule, ("image_shape",), "val/neg_elbo"),
}


def wandb_api_key_available() -> bool:
    """True when W&B could log online: ``WANDB_API_KEY`` or a ``wandb login`` entry in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators(os.environ.get("WANDB_BASE_URL", "api.wandb.ai").split("//")[-1])
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return bool(auth and auth[2])


def _as_list(value: Any) -> list[Any]:
    if value is None or isinstance(value, bool):
        return []
    return list(value) if isinstance(value, list) else [value]


def _typed_dims(net_spec: Any, linked_dims: Sequence[str]) -> dict[str, Any]:
    """Linked dims given under ``model.net.init_args`` with a value other than the signature default.

    The parsed config holds defaults too, so a value equal to the constructor default cannot be told
    apart from one typed by the user; dims without a default (n_features, seq_len, pred_len) always can.
    """
    if net_spec is None or getattr(net_spec, "init_args", None) is None:
        return {}
    module_name, _, class_name = str(net_spec.class_path).rpartition(".")
    params = inspect.signature(getattr(importlib.import_module(module_name), class_name)).parameters
    typed = {}
    for dim in linked_dims:
        value = _normalise(net_spec.init_args.get(dim))
        default = _normalise(params[dim].default) if dim in params else inspect.Parameter.empty
        if value is not None and value != default:
            typed[dim] = value
    return typed


def _normalise(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class ZooSaveConfig(SaveConfigCallback):
    """Write ``config.yaml`` to the log dir (Lightning's default) and send the full resolved config to
    W&B, whose run config otherwise holds only the task's hyperparameters."""

    def save_config(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                logger.experiment.config.update({"cli": config}, allow_val_change=True)


class ZooCLI(LightningCLI):
    """LightningCLI for one :class:`TaskFamily` (see the module docstring)."""

    def __init__(
        self,
        *args: Any,
        family: TaskFamily = FAMILIES["forecasting"],
        command: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        self.family = family  # read by add_arguments_to_parser, which LightningCLI.__init__ calls
        self.command = "python train.py " + " ".join(command)  # as typed, recorded in exported models
        super().__init__(*args, **kwargs)

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        kwargs.setdefault("exit_on_error", False)  # parse_arguments reports errors in one line, without usage
        return super().init_parser(**kwargs)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        try:
            super().parse_arguments(parser, args)
        except Exception as e:
            if not is_usage_error(e):
                raise
            given = list(args) if isinstance(args, (list, tuple)) else sys.argv[1:]
            verb = next((a for a in given if a in LIGHTNING_VERBS), None)
            subparser = getattr(self, "_subcommand_parsers", {}).get(verb, parser)
            message = usage_message(e, subparser, verb)
            if message.startswith("--data.dataset:") and self.family.task_class is GenerativeTask:
                message = message.replace(
                    ";",
                    "; the model is generative: it trains on image datasets, while series need a forecaster "
                    "(`train.py list` shows each model's task);",
                    1,
                )
            raise UsageError(message) from e

    def _parse_ckpt_path(self) -> None:
        """Read ``--ckpt_path`` safely before Lightning does (it merges the checkpoint's hyperparameters)."""
        subcommand = self.config.get("subcommand")
        path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if path and path not in ("last", "best", "hpc") and not str(path).startswith("registry"):
            self._check_checkpoint_task(str(path), self._read_checkpoint(str(path)))
        try:
            super()._parse_ckpt_path()  # merges the checkpoint's hyperparameters into the config
        except Exception as e:
            if not is_usage_error(e):
                raise
            raise UsageError(
                f"--ckpt_path {path}: its hyperparameters do not fit this run's model "
                f"({usage_message(e, self.parser, None).split('; `')[0]}); give the --config it was trained with"
            ) from e

    def _check_checkpoint_task(self, path: str, checkpoint: dict[str, Any]) -> None:
        """A checkpoint of the other task family (a VAE's for a forecaster) is an error naming both."""
        from zoo.hub import ArchitectureMismatchError
        from zoo.tasks.checkpoints import CHECKPOINT_KEY

        record = checkpoint.get(CHECKPOINT_KEY)
        theirs = record.get("task") if isinstance(record, dict) else None
        ours = next(kind for kind, family in FAMILIES.items() if family is self.family)
        if theirs in FAMILIES and theirs != ours:
            raise ArchitectureMismatchError(
                f"{path} holds a {theirs} model {record.get('architecture')!r}, but this run builds a {ours} "
                f"model: give the model.net (or --config) it was trained with, or another checkpoint"
            )

    def _read_checkpoint(self, path: str) -> dict[str, Any]:
        """The checkpoint at ``path``, read once (weights only, digest checked: :func:`zoo.conversion.load_checkpoint`)."""
        from zoo.conversion import load_checkpoint

        cached = getattr(self, "_checkpoint_read", None)
        if cached is None or cached[0] != path:
            cached = (path, load_checkpoint(path))
            self._checkpoint_read = cached
        return cached[1]

    def _run_subcommand(self, subcommand: str) -> None:
        directories = RunDirectories(self.trainer.loggers)
        try:
            super()._run_subcommand(subcommand)
        except BaseException as error:
            started = any(isinstance(c, LoopStarted) and c.started for c in self.trainer.callbacks)
            directories.remove_if_unused(started)
            error.zoo_after_training_started = started  # type: ignore[attr-defined]
            raise

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=False,
            help="after fit, test the best checkpoint (the last weights without a val set)",
        )
        parser.add_argument(
            "--export_pretrained",
            type=str | None,
            default=None,
            help="after fit, write the best checkpoint as a pretrained directory here "
            "(with the test metrics when --test_after_fit) and log it to W&B as an artifact",
        )
        parser.add_argument(
            "--predict_output",
            type=str | None,
            default=None,
            help="predict: the file the forecasts are written to, .csv or .parquet (one row per series and "
            "future timestamp, original units); default: forecasts.csv in the run's log directory",
        )
        parser.add_argument(
            "--overwrite",
            type=bool,
            nargs="?",
            const=True,  # a bare --overwrite, as the verbs take it
            default=False,
            help="replace an existing --predict_output file (predict) or --export_pretrained directory (fit)",
        )
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": self.family.monitor,
                "checkpoint.mode": "min",
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 1,
                "checkpoint.filename": "epoch{epoch:03d}-step{step}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        for dim in self.family.linked_dims:
            parser.link_arguments(f"data.{dim}", f"model.net.init_args.{dim}", apply_on="instantiate")

    # ----------------------------------------------------------------- config checks before building
    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        self._typed_dims = _typed_dims(config.model.net, self.family.linked_dims)
        loggers = _as_list(config.trainer.logger)
        for spec in loggers:
            class_path = str(getattr(spec, "class_path", ""))
            if class_path.endswith("WandbLogger") and not wandb_api_key_available():
                spec.init_args.offline = True
                os.environ.setdefault("WANDB_MODE", "offline")
                log.warning(
                    "no W&B API key found (WANDB_API_KEY or `wandb login`): logging to W&B offline; "
                    "sync later with `wandb sync`"
                )

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        data = self.datamodule
        for dim, typed in self._typed_dims.items():
            actual = _normalise(getattr(data, dim))
            if typed != actual:
                raise ValueError(
                    f"model.net.init_args.{dim}={typed} contradicts the data, which fixes {dim}={actual} "
                    f"(dataset {data.dataset!r}); drop the key: the CLI links it from the data"
                )

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer_cfg = config["trainer"]
        # Added here, not as fixed trainer_defaults: Lightning rejects a progress-bar callback when
        # enable_progress_bar=False and a LearningRateMonitor without a logger.
        extra: list[Callback] = [LoopStarted()]
        if trainer_cfg.get("logger") is not False:
            extra.append(LearningRateMonitor(logging_interval="step"))
        if trainer_cfg.get("enable_progress_bar") is not False:
            extra.append(RichProgressBar())
        if self.subcommand == "predict" and self.family.task_class is ForecastingTask:
            from zoo.tasks.prediction_writer import ForecastFileWriter

            extra.append(ForecastFileWriter(config.get("predict_output"), bool(config.get("overwrite"))))
        self.trainer_defaults = {**self.trainer_defaults, "callbacks": extra}
        return super().instantiate_trainer(**kwargs)

    # ----------------------------------------------------------------- subcommand hooks
    def _checkpoint_to_load(self) -> str | None:
        """``--ckpt_path`` resolved (last/best in this run's own directories) and checked before Lightning reads it.

        The file is read with ``weights_only=True`` and its digest checked (:func:`zoo.conversion.load_checkpoint`),
        then it must hold this run's model (:func:`zoo.tasks.checkpoints.check_checkpoint_fits`): each is an error
        naming the file, not a traceback from inside ``torch.load`` or ``load_state_dict``.
        """
        kwargs = self.config_init[self.subcommand]
        if "weights_only" in kwargs and kwargs["weights_only"] is None:
            kwargs["weights_only"] = True  # tensors and plain types only, never pickled objects
        dirpath = self.config[self.subcommand].get("checkpoint", {}).get("dirpath")
        path = resolve_ckpt_path(self.subcommand, kwargs.get("ckpt_path"), self.trainer, dirpath)
        kwargs["ckpt_path"] = path
        if path is not None and path not in ("hpc", "registry") and not path.startswith("registry:"):
            self._read_checkpoint(path)  # its fit to this run is checked by the task's on_load_checkpoint
        return path

    def _evaluate_checked(self) -> None:
        """validate / test / predict: load the checkpoint asked for; warn when no trained weights are used."""
        path = self._checkpoint_to_load()
        trainable = sum(p.numel() for p in self.model.parameters())
        if path is None and not self.model.hparams.get("init_from") and trainable:
            log.warning(
                "%s without --ckpt_path, --model.pretrained or --model.init_from: the %s's %d parameters are "
                "randomly initialised, so these results say nothing about a trained model",
                self.subcommand,
                type(hub_net(self.model)).__name__,
                trainable,
            )

    def before_validate(self) -> None:
        self._evaluate_checked()

    def before_test(self) -> None:
        self._evaluate_checked()

    def before_predict(self) -> None:
        self._evaluate_checked()

    def before_fit(self) -> None:
        self._checkpoint_to_load()
        export = self.config["fit"].get("export_pretrained")
        if export:  # refused now, not after hours of training
            adapter = bool(lora_configs(self.model.net))
            check_export_target(Path(export), bool(self.config["fit"].get("overwrite")), adapter)

    def after_fit(self) -> None:
        best = self.trainer.checkpoint_callback.best_model_path if self.trainer.checkpoint_callback else ""
        metrics: dict[str, float] = {}
        if self.config["fit"].get("test_after_fit"):
            results = self.trainer.test(
                self.model, datamodule=self.datamodule, ckpt_path=best or None, weights_only=True
            )
            metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
        export = self.config["fit"].get("export_pretrained")
        if export and self.trainer.is_global_zero:
            export_run(
                self.model,
                self.datamodule,
                self.trainer.loggers,
                Path(export),
                best=best,
                metrics=metrics,
                command=self.command,
                overwrite=bool(self.config["fit"].get("overwrite")),
            )


LIGHTNING_VERBS: tuple[str, ...] = tuple(LightningCLI.subcommands())


def _lr_find() -> Any:
    from zoo.lr_find import lr_find_command

    return lr_find_command


def _tune() -> Any:
    from zoo.tuning import tune_command

    return tune_command


#: The verbs that build fit runs of their own (:mod:`zoo.lr_find`, :mod:`zoo.tuning`), loaded on use.
SEARCH_VERBS = {"lr_find": _lr_find, "tune": _tune}
#: Their lines in ``train.py --help``.
SEARCH_HELP = {
    "lr_find": "Learning-rate range test for a fit command line: prints the suggestion, writes the loss-vs-LR plot.",
    "tune": "Hyperparameter search on Optuna over a fit config: --config, --space SPACE.yaml, --trials N.",
}


def _lightning_verb_help() -> dict[str, str]:
    """LightningCLI's verbs and the first sentence of the Trainer method each runs, for ``train.py --help``."""
    helps = {}
    for name in LIGHTNING_VERBS:
        paragraph = " ".join((inspect.getdoc(getattr(Trainer, name)) or "").split("\n\n")[0].split())
        helps[name] = paragraph.split(". ")[0].rstrip(".") + "."
    return helps


def main(args: list[str] | None = None) -> ZooCLI | None:
    """Entry point of ``train.py`` and the ``zoo-train`` console script.

    ``fit``, ``validate``, ``test`` and ``predict`` (and options before them) go to LightningCLI
    (:func:`build_cli`); every other verb, ``--help`` and a missing verb to :func:`zoo.verbs.run_verb`.

    Args:
        args: the command line after ``train.py`` (default: ``sys.argv[1:]``)
    """
    with debug_flag(sys.argv[1:] if args is None else list(args)) as argv:
        if argv and argv[0] in SEARCH_VERBS:
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
            with reported_as_user_errors(run_errors()):
                SEARCH_VERBS[argv[0]]()(argv[1:], build_cli)
            return None
        if (
            not argv
            or argv[0] in ("-h", "--help")
            or (argv[0] not in LIGHTNING_VERBS and not argv[0].startswith("-"))
        ):
            run_verb(argv, {**_lightning_verb_help(), **SEARCH_HELP})
            return None
        return _run_lightning_verb(argv, from_sys_argv=args is None)


def _run_lightning_verb(argv: list[str], from_sys_argv: bool) -> ZooCLI:
    with reported_as_user_errors():  # a bad model name or pretrained source: one line, no traceback
        check_config_files(argv)
        expanded, family = prepare_argv(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with reported_as_user_errors(run_errors()):  # bad input of any kind, found before training starts
            try:
                return _zoo_cli(argv, expanded, family, from_sys_argv=from_sys_argv, run=True)
            except run_errors() as error:
                if getattr(error, "zoo_after_training_started", False) and not isinstance(
                    error, data_errors()
                ):
                    raise _TrainingFailure(error) from error  # a failure mid-training keeps its traceback
                raise
    except _TrainingFailure as failure:
        raise failure.error from failure.error.__cause__


class _TrainingFailure(Exception):
    """Carries an error raised after training started past the one-line reporting of input errors."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def prepare_argv(typed: Sequence[str]) -> tuple[list[str], TaskFamily]:
    """The command line LightningCLI parses, and the task family it builds.

    Registry names given for ``model.net`` become class paths with their variant's defaults
    (:func:`zoo.model_names.expand_model_names`), then ``--model.pretrained`` / ``--model.init_from``
    become a generated config (:func:`expand_pretrained`).

    Args:
        typed: the command line after ``train.py``, as typed
    """
    linked_dims = {name: family.linked_dims for name, family in FAMILIES.items()}
    argv, pretrained_family = expand_pretrained(expand_model_names(typed, linked_dims), linked_dims)
    return argv, FAMILIES[pretrained_family or detect_family(argv)]


def build_cli(args: list[str] | None = None, run: bool = True) -> ZooCLI:
    """The configured ZooCLI; ``run=False`` only parses and instantiates (for scripts and benchmarks).

    Args:
        args: the command line after ``train.py`` (default: ``sys.argv[1:]``)
        run: run the subcommand (else only parse and instantiate)
    """
    typed = sys.argv[1:] if args is None else list(args)
    argv, family = prepare_argv(typed)
    return _zoo_cli(typed, argv, family, from_sys_argv=args is None, run=run)


def _zoo_cli(
    typed: Sequence[str], argv: list[str], family: TaskFamily, from_sys_argv: bool, run: bool
) -> ZooCLI:
    if from_sys_argv:
        sys.argv[1:] = argv  # LightningCLI reads sys.argv itself (and warns when given both)
    return ZooCLI(
        family.task_class,
        family.data_class,
        family=family,
        command=typed,
        args=None if from_sys_argv else argv,
        save_config_callback=ZooSaveConfig,
        run=run,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "logger": {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": "runs"},
            },
        },
    )
