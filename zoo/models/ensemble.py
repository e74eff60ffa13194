"""Ensembles of forecasters: the median (or mean) of the members' forecasts, one model.

N-BEATS forecasts M4 with the median of 180 members (Oreshkin et al., ICLR 2020, section 3.4), and
averaging the forecasts of different models is the oldest reliable gain of the forecasting literature
(Bates & Granger, "The Combination of Forecasts", 1969). :class:`EnsembleForecaster` is a registered
forecaster whose ``members`` are other registered forecasters, built from their registry names and
arguments, each reading the same window x (B, L, C_in) with its own RevIN and options; their forecasts
(M, B, P, C_out) are combined per element: ``median`` (the mean of the two middle values for an even
count) or ``mean``. The ensemble's own base options (``revin``, ``distribution``, ``future_effect``) act
around the combination, as for any forecaster, so a Normal head can be put around an ensemble's median.

Because the members are arguments, ``save_pretrained`` and ``from_pretrained`` round-trip an ensemble as
any model (one ``config.json``, one weights file). :func:`zoo.ensemble` builds one from trained models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from zoo.choices import check_choice
from zoo.distributions import DistributionName
from zoo.models.base import Forecaster
from zoo.registry import build_model, get_model_entry, register_model

EnsembleCombine = Literal["median", "mean"]
#: The members of an ``ensemble`` built without ``members`` (the registry's walk builds one so): two
#: linear maps, DLinear's decomposition and NLinear's last-value shift.
DEFAULT_MEMBERS: tuple[dict[str, Any], ...] = (
    {"architecture": "dlinear", "model_args": {}},
    {"architecture": "nlinear", "model_args": {}},
)
#: The data dimensions every member shares with the ensemble.
DIMENSIONS = ("n_features", "seq_len", "pred_len", "n_targets", "label_len", "n_time_features")


def combine_forecasts(forecasts: torch.Tensor, combine: str) -> torch.Tensor:
    """(M, B, P, C) member forecasts -> (B, P, C): their mean, or their median (the mean of the two middle
    values when M is even, as ``numpy.median``)."""
    if combine == "mean":
        return forecasts.mean(dim=0)
    ordered = forecasts.sort(dim=0).values
    count = forecasts.shape[0]
    return 0.5 * (ordered[(count - 1) // 2] + ordered[count // 2])


@register_model(
    "ensemble",
    description="the median (or mean) of several forecasters' forecasts (N-BEATS' ensembling)",
)
class EnsembleForecaster(Forecaster):
    """An ensemble of registered forecasters (module docstring): x (B, L, C_in) -> (B, P, C_out).

    Args:
        members: one mapping per member, ``{"architecture": <registry name>, "model_args": {...}}``; the
            data dimensions are the ensemble's (a member's own must agree). None: :data:`DEFAULT_MEMBERS`.
        combine: "median" or "mean" of the members' forecasts, per element.
    """

    def __init__(
        self,
        n_features: int,
        seq_len: int,
        pred_len: int,
        n_targets: int | None = None,
        label_len: int = 0,
        n_time_features: int = 0,
        revin: bool = False,
        revin_affine: bool = True,
        distribution: DistributionName = "point",
        quantiles: list[float] | None = None,
        future_effect: bool = False,
        members: list[dict[str, Any]] | None = None,
        combine: EnsembleCombine = "median",
    ) -> None:
        super().__init__(
            n_features,
            seq_len,
            pred_len,
            n_targets,
            label_len,
            n_time_features,
            revin,
            revin_affine,
            distribution,
            quantiles,
            future_effect,
        )
        check_choice("combine", combine, EnsembleCombine, owner="EnsembleForecaster")
        specs = [dict(m) for m in (members if members is not None else DEFAULT_MEMBERS)]
        if not specs:
            raise ValueError("EnsembleForecaster: members is empty; give at least one forecaster")
        dims = {
            "n_features": n_features,
            "seq_len": seq_len,
            "pred_len": pred_len,
            "n_targets": self.n_targets,
            "label_len": label_len,
            "n_time_features": n_time_features,
        }
        self.combine = combine
        self.members = nn.ModuleList(_build_member(index, spec, dims) for index, spec in enumerate(specs))
        self.member_names = [str(spec["architecture"]) for spec in specs]

    @property
    def lora_target_modules(self) -> str:  # type: ignore[override]
        """LoRA's default: every member's own default layers, under ``members.<i>.``."""
        patterns = []
        for index, member in enumerate(self.members):
            targets = getattr(member, "lora_target_modules", None)
            if targets is None:
                continue
            own = (
                targets
                if isinstance(targets, str)
                else "|".join(rf"(?:.*\.)?{re.escape(t)}" for t in targets)
            )
            patterns.append(rf"members\.{index}\.(?:{own})")
        return "|".join(patterns) or r"(?!)"

    def forecast(
        self,
        x: torch.Tensor,
        x_mark: torch.Tensor | None = None,
        y_mark: torch.Tensor | None = None,
        x_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.check_input(x)
        forecasts = torch.stack(
            [member(x, x_mark, y_mark, x_mask) for member in self.members]
        )  # (M, B, P, C)
        return combine_forecasts(forecasts, self.combine)


def _build_member(index: int, spec: Mapping[str, Any], dims: Mapping[str, Any]) -> nn.Module:
    """Member ``index`` from its spec, at the ensemble's dimensions (a clear error where they disagree)."""
    unknown = sorted(set(spec) - {"architecture", "model_args"})
    if unknown or "architecture" not in spec:
        raise ValueError(
            f"EnsembleForecaster: member {index} must be {{'architecture': <registry name>, 'model_args': {{...}}}}, "
            f"got keys {sorted(spec)}"
        )
    architecture = str(spec["architecture"])
    entry = get_model_entry(architecture)
    if entry.task != "forecasting" or entry.builder is EnsembleForecaster:
        raise ValueError(
            f"EnsembleForecaster: member {index} ({architecture!r}) must be a forecaster, not an ensemble"
        )
    arguments = dict(spec.get("model_args") or {})
    for name in DIMENSIONS:
        given = arguments.get(name)
        if given is not None and given != dims[name]:
            raise ValueError(
                f"EnsembleForecaster: member {index} ({architecture}) has {name}={given}, the ensemble {dims[name]}; "
                "an ensemble's members forecast the same windows"
            )
    return build_model(architecture, **{**arguments, **dims})


def member_specs(nets: Sequence[nn.Module]) -> list[dict[str, Any]]:
    """The ``members`` argument that rebuilds ``nets`` (registered forecasters, each its recorded arguments)."""
    from zoo.hub.loading import architecture_of

    specs = []
    for net in nets:
        arguments = {k: v for k, v in net.constructor_args.items() if k not in DIMENSIONS}  # type: ignore[operator]
        specs.append({"architecture": architecture_of(net), "model_args": arguments})
    return specs
