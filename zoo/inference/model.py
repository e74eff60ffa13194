"""A trained forecaster and the preprocessing it was trained with, from whatever the user has at hand.

:func:`load_forecaster` accepts a pretrained name (``"tcn.etth1"``) or directory (:mod:`zoo.hub`), a
Lightning ``.ckpt`` written by a zoo task (its ``zoo_pretrained`` record, read with
``weights_only=True``), a ``ForecastingTask`` (its datamodule's preprocessing, or the pretrained record
it started from), or a net that carries ``pretrained_config``. What it returns knows the columns, the
frequency, the calendar encoding and the scaler statistics of training; nothing is refitted on new data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from zoo import hub
from zoo.data.covariates import FutureCovariates
from zoo.data.scaling import StandardScaler
from zoo.data.statics import StaticCovariates

ModelSource = str | os.PathLike[str] | nn.Module


class ForecastModelError(ValueError):
    """The model cannot forecast a user's data (not a forecaster, or no record of its preprocessing)."""


def _stats(record: Any) -> StandardScaler | None:
    if not isinstance(record, dict) or "mean" not in record:
        return None
    return StandardScaler.from_record(record)


@dataclass
class ForecastModel:
    """A forecaster in eval mode and what it was trained on.

    Attributes:
        net: the forecaster, ``net(x, x_mark, y_mark) -> (B, P, C_out)`` on scaled inputs.
        preprocessing: the ``preprocessing`` record of its ``config.json`` (columns, freq, scaler, ...).
        name: its name, for messages ("tcn.etth1", a directory or a checkpoint file).
    """

    net: nn.Module
    preprocessing: dict[str, Any]
    name: str

    @property
    def arguments(self) -> dict[str, Any]:
        """The datamodule arguments it was trained with."""
        return dict(self.preprocessing.get("datamodule") or {})

    @property
    def input_columns(self) -> list[str]:
        return [str(c) for c in self.preprocessing["input_columns"]]

    @property
    def target_columns(self) -> list[str]:
        return [str(c) for c in self.preprocessing["target_columns"]]

    @property
    def seq_len(self) -> int:
        return int(self.net.seq_len)

    @property
    def pred_len(self) -> int:
        return int(self.net.pred_len)

    @property
    def freq(self) -> str:
        return str(self.preprocessing["freq"])

    @property
    def date_column(self) -> str:
        return str(self.arguments.get("date_column") or "date")

    @property
    def id_column(self) -> str | None:
        return self.arguments.get("id_column")

    @property
    def time_encoding(self) -> str:
        return str(self.arguments.get("time_encoding") or "timeF")

    @property
    def future_covariates(self) -> FutureCovariates | None:
        """The known-future columns it was trained with and their scaler (``zoo.data.covariates``), or None."""
        record = self.preprocessing.get("future_covariates")
        return FutureCovariates.from_record(record) if record else None

    @property
    def static_covariates(self) -> StaticCovariates | None:
        """The static columns it was trained with and their encoding (``zoo.data.statics``), or None."""
        record = self.preprocessing.get("static_covariates")
        return StaticCovariates.from_record(record) if record else None

    def scaler_of(self, series_id: str) -> StandardScaler:
        """The input scaler of training: the series' own in a long-format model, else the one scaler.

        Args:
            series_id: the series' id ("" in a wide file).
        """
        per_series = self.preprocessing.get("series_scalers")
        if per_series:
            if series_id not in per_series:
                known = sorted(per_series)
                shown = known[:10] + (["..."] if len(known) > 10 else [])
                raise ForecastModelError(
                    f"{self.name} scales each series with the statistics of its own training rows, and series "
                    f"{series_id!r} was not among them ({len(known)} series: {shown}); forecast series it was "
                    "trained on, or train a model on this one"
                )
            scaler = _stats(per_series[series_id])
        else:
            scaler = _stats(self.preprocessing.get("scaler"))
        return scaler if scaler is not None else StandardScaler.identity(len(self.input_columns))


def _check_forecaster(net: nn.Module, preprocessing: dict[str, Any], name: str) -> None:
    missing = [a for a in ("n_features", "n_targets", "seq_len", "pred_len") if not hasattr(net, a)]
    if missing:
        raise ForecastModelError(
            f"{name} is a {type(net).__name__}, not a forecaster (it lacks {missing}); forecasts need one"
        )
    if preprocessing.get("kind") != "timeseries" or not preprocessing.get("input_columns"):
        raise ForecastModelError(
            f"{name} has no record of the data it was trained on (columns, frequency, scaler); train it through "
            "zoo (train.py fit, or a ForecastingTask with a TimeSeriesDataModule) or save it with "
            "zoo.hub.save_pretrained(task, DIR, preprocessing=...)"
        )
    if preprocessing.get("freq") is None:
        raise ForecastModelError(
            f"{name} was trained on the panel {preprocessing.get('dataset')!r}, which has no timestamps; "
            "forecasting a file needs a model trained on dated series"
        )


def load_forecaster(model: ModelSource | ForecastModel, map_location: str = "cpu") -> ForecastModel:
    """The forecaster ``model`` names, in eval mode, with its recorded preprocessing.

    Args:
        model: a pretrained name or directory, a ``.ckpt`` file, a directory written by ``train.py export``
            (its program runs in place of the net: :mod:`zoo.deploy`), a ``ForecastingTask``, a net with
            ``pretrained_config``, or a :class:`ForecastModel`.
        map_location: the device the net is moved to when it is loaded from a file.
    """
    if isinstance(model, ForecastModel):
        return model
    if isinstance(model, nn.Module):
        return _from_module(model)
    path = Path(model)
    from zoo.deploy.runner import is_program_dir, load_program

    if is_program_dir(path):  # what train.py export wrote
        program = load_program(path)
        if program.config.task != "forecasting":
            raise ForecastModelError(
                f"{path} is an exported {program.config.architecture} decoder, not a forecaster"
            )
        _check_forecaster(program, program.config.preprocessing, str(path))
        return ForecastModel(
            program.eval(), dict(program.config.preprocessing), program.config.name or str(path)
        )
    net, name = trained_net(path, map_location)
    config: hub.PretrainedConfig = net.pretrained_config
    if config.task != "forecasting":
        raise ForecastModelError(f"{name} is a {config.task} model ({config.architecture}), not a forecaster")
    _check_forecaster(net, config.preprocessing, name)
    return ForecastModel(net.to(map_location).eval(), dict(config.preprocessing), config.name or name)


def trained_net(model: str | os.PathLike[str], map_location: str = "cpu") -> tuple[nn.Module, str]:
    """The net of a pretrained name or directory, or of a zoo ``.ckpt`` (with its ``pretrained_config``), and
    its name for messages.

    Args:
        model: a pretrained name or directory, or a ``.ckpt`` file written by a zoo task.
        map_location: the device a pretrained net is loaded to.
    """
    path = Path(model)
    if path.suffix == ".ckpt" or path.is_file():
        from zoo.conversion import net_from_checkpoint

        net, _ = net_from_checkpoint(path)
        return net, str(path)
    return hub.from_pretrained(model, map_location=map_location), str(model)


def _from_module(module: nn.Module) -> ForecastModel:
    """A task (its datamodule's record, else its pretrained record) or a net with ``pretrained_config``."""
    from zoo.tasks.checkpoints import preprocessing_of

    net = getattr(module, "net", module)
    name = type(net).__name__
    trainer = getattr(module, "_trainer", None)
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    preprocessing = preprocessing_of(datamodule) if datamodule is not None else {}
    if not preprocessing:
        config = getattr(module, "pretrained_record", None) or getattr(net, "pretrained_config", None)
        if config is not None:
            preprocessing, name = dict(config.preprocessing), config.name or name
    _check_forecaster(net, preprocessing, name)
    return ForecastModel(net.eval(), preprocessing, name)


def check_probabilistic(model: ForecastModel, verb: str) -> None:
    """A clear error when ``verb`` asks a point forecaster for quantiles it cannot give.

    Args:
        model: the forecaster.
        verb: what was asked ("backtest", "forecast"), for the message.
    """
    if getattr(model.net, "distribution_head", None) is None:
        fix = "pass conformal=True (--conformal) to calibrate intervals on backtest residuals"
        raise ForecastModelError(
            f"{model.name} forecasts points only (distribution='point'), so a {verb} cannot give quantiles; "
            f"train it with distribution='quantile', 'normal' or 'student_t', or {fix}"
        )
