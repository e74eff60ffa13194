"""``zoo.ensemble``: trained forecasters combined into one model (:mod:`zoo.models.ensemble`).

The members are loaded as :func:`zoo.forecast` loads a model (pretrained names, directories, ``.ckpt``
files, tasks, nets with a ``pretrained_config``), must forecast the same windows (L, P, channels, time
features) and read the same data the same way (columns, frequency, scaler statistics, covariates), and
keep their trained weights. The result is a registered ``ensemble`` net carrying the members' common
preprocessing as its ``pretrained_config``, so :func:`zoo.forecast`, :func:`zoo.backtest`, a
``ForecastingTask`` under ``trainer.test`` and :func:`zoo.hub.save_pretrained` take it like any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoo.hub.config import PretrainedConfig
from zoo.inference.model import ForecastModel, ModelSource, load_forecaster
from zoo.models.ensemble import DIMENSIONS, EnsembleCombine, EnsembleForecaster, member_specs

#: What members must share: the preprocessing fields that decide how a file becomes windows.
SHARED_PREPROCESSING = (
    "input_columns",
    "target_columns",
    "freq",
    "scaler",
    "target_scaler",
    "series_scalers",
    "future_covariates",
    "static_covariates",
)
_SHARED_ARGUMENTS = ("date_column", "id_column", "time_encoding", "features")


def _check_members(members: Sequence[ForecastModel]) -> None:
    """Every member forecasts the first one's windows from the same data, or an error naming both."""
    first = members[0]
    first_args = first.net.constructor_args
    for index, member in enumerate(members[1:], start=1):
        where = f"ensemble: member {index} ({member.name}) and member 0 ({first.name})"
        args = member.net.constructor_args
        for name in DIMENSIONS:
            if args.get(name) != first_args.get(name):
                raise ValueError(
                    f"{where} differ in {name} ({args.get(name)} vs {first_args.get(name)}); the members of an "
                    "ensemble forecast the same windows"
                )
        for name in SHARED_PREPROCESSING:
            if member.preprocessing.get(name) != first.preprocessing.get(name):
                raise ValueError(
                    f"{where} read their data differently: their preprocessing differs in {name!r}; ensemble "
                    "models trained on the same data, split and columns (a model's config.json records them)"
                )
        for name in _SHARED_ARGUMENTS:
            mine, theirs = _data_option(member, name), _data_option(first, name)
            if mine != theirs:
                raise ValueError(
                    f"{where} differ in the data option {name!r} ({mine!r} vs {theirs!r}); ensemble models "
                    "trained on the same data layout"
                )


def _data_option(model: ForecastModel, name: str) -> Any:
    """A data option as the model reads files: its value, or the default it stands for."""
    if name == "features":
        return model.arguments.get("features") or "M"
    return getattr(model, name)


def ensemble(
    models: Sequence[ModelSource | ForecastModel],
    combine: EnsembleCombine = "median",
    name: str | None = None,
) -> EnsembleForecaster:
    """The median (or mean) of ``models``' forecasts as one model (module docstring).

    Args:
        models: two or more trained forecasters (pretrained names, directories, checkpoints, tasks, nets).
        combine: "median" (N-BEATS' choice) or "mean".
        name: the ensemble's name (default ``ensemble(<member names>)``).
    """
    if isinstance(models, (str, bytes)) or len(models) < 2:
        raise ValueError(
            "zoo.ensemble takes a list of two or more trained forecasters, e.g. ['tcn.etth1', 'nbeats.etth1']"
        )
    loaded = [load_forecaster(model) for model in models]
    _check_members(loaded)
    nets = [member.net for member in loaded]
    dims: dict[str, Any] = {
        k: nets[0].constructor_args[k] for k in DIMENSIONS if k in nets[0].constructor_args
    }
    specs = member_specs(nets)  # each a registered forecaster, or a clear error
    ensemble_net = EnsembleForecaster(**dims, members=specs, combine=combine)
    for target, source in zip(ensemble_net.members, nets, strict=True):
        target.load_state_dict(source.state_dict())
    label = name or f"ensemble({', '.join(member.name for member in loaded)})"
    ensemble_net.pretrained_config = PretrainedConfig(  # type: ignore[assignment]
        architecture="ensemble",
        model_args={},
        task="forecasting",
        name=label,
        preprocessing=dict(loaded[0].preprocessing),
    )
    return ensemble_net.eval()
