"""What :class:`zoo.tasks.ForecastingTask` needs for probabilistic forecasters, kept out of the loop itself.

- :func:`resolve_loss`: the loss a task trains with, given its ``loss`` option and the net's
  ``distribution`` (a quantile net trains on the pinball loss, a Normal / Student-t net on the negative
  log-likelihood; a mismatch is an error naming both options);
- :func:`interval_bounds` and :func:`scored_levels`: the central interval whose coverage and width are
  logged (``interval``, e.g. 0.8 -> the 0.1 and 0.9 quantiles), and the levels of the logged pinball loss;
- :func:`batch_scores`: pinball loss, CRPS and the interval of one batch, for
  :class:`ProbabilisticScores`, which accumulates them per channel over an epoch (window-weighted sums,
  exact across DDP processes).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn
from torchmetrics import Metric

from zoo.distributions import DISTRIBUTIONS, Prediction, central_levels
from zoo.precision import at_least_float32
from zoo.scoring import interval_coverage, pinball_loss


def net_distribution(net: nn.Module) -> str:
    """The net's ``distribution`` ("point" for nets that predate it or are not zoo forecasters)."""
    return str(getattr(net, "distribution", "point"))


def resolve_loss(loss: str | None, net: nn.Module) -> str:
    """The task's training loss: ``loss``, or for None the net's distribution ("mse" for point nets).

    Args:
        loss: the task's ``loss`` option.
        net: the forecaster.
    """
    distribution = net_distribution(net)
    if distribution == "point":
        if loss in DISTRIBUTIONS:
            raise ValueError(
                f"loss={loss!r} trains a {loss} forecast, but {type(net).__name__} was built with "
                f"distribution='point'; build the net with distribution={loss!r} "
                f"(model.net.init_args.distribution={loss}"
                + (", quantiles=[...])" if loss == "quantile" else ")")
            )
        return "mse" if loss is None else loss
    if loss not in (None, distribution):
        raise ValueError(
            f"{type(net).__name__} was built with distribution={distribution!r} and trains on its "
            f"{'pinball loss' if distribution == 'quantile' else 'negative log-likelihood'}; leave loss unset "
            f"(or loss={distribution!r}) instead of loss={loss!r}, or build the net with distribution='point'"
        )
    return distribution


def interval_bounds(net: nn.Module, interval: float) -> tuple[float, float]:
    """The quantile levels of the central ``interval`` logged as coverage and width; for a quantile net they
    must be among its levels.

    Args:
        net: the forecaster.
        interval: the nominal coverage, in (0, 1).
    """
    lower, upper = central_levels(interval)
    head = getattr(net, "distribution_head", None)
    levels = getattr(head, "levels", None)
    if levels is not None:
        missing = [q for q in (lower, upper) if not any(math.isclose(q, own) for own in levels)]
        if missing:
            raise ValueError(
                f"interval={interval} needs the quantiles {lower:g} and {upper:g}, but the net predicts "
                f"{list(levels)} (missing {missing}); add them to the net's quantiles or set the task's "
                f"interval to one the levels bound, e.g. {round(levels[-1] - levels[0], 10):g}"
            )
    return lower, upper


def scored_levels(net: nn.Module, interval: float) -> tuple[float, ...]:
    """The levels of the logged pinball loss: a quantile net's own; else the interval's bounds and 0.5.

    Args:
        net: the forecaster.
        interval: the nominal coverage of the logged interval.
    """
    levels = getattr(getattr(net, "distribution_head", None), "levels", None)
    if levels is not None:
        return tuple(levels)
    lower, upper = central_levels(interval)
    return (lower, 0.5, upper)


def as_float32(prediction: Prediction) -> Prediction:
    """``prediction`` with every tensor at least float32 (a bf16-mixed forward gives bf16 heads)."""
    fields = {
        f.name: at_least_float32(v) if isinstance(v := getattr(prediction, f.name), torch.Tensor) else v
        for f in dataclasses.fields(prediction)
    }
    return type(prediction)(**fields)


@dataclass(frozen=True)
class BatchScores:
    """The scores of one batch, each (B, P, C): pinball loss (mean over the scored levels), CRPS, and the
    interval's bounds."""

    pinball: torch.Tensor
    crps: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor


def batch_scores(
    prediction: Prediction, target: torch.Tensor, levels: tuple[float, ...], bounds: tuple[float, float]
) -> BatchScores:
    """Score ``prediction`` against ``target`` (B, P, C).

    Args:
        prediction: the probabilistic forecast.
        target: the observations, in the prediction's units.
        levels: the levels of the pinball loss.
        bounds: the levels of the interval's lower and upper bounds.
    """
    quantiles = prediction.quantiles(levels)
    pinball = pinball_loss(quantiles, target, levels, reduction="none").mean(dim=-1)
    interval = prediction.quantiles(bounds)
    crps = prediction.crps(target)
    return BatchScores(pinball, crps, interval[..., 0], interval[..., 1])


class ProbabilisticScores(Metric):
    """Per-channel sums of pinball loss, CRPS, coverage and width over an epoch; :meth:`compute` gives the
    means per channel (C,) and over channels.

    Args:
        n_channels: C, the target channels.
    """

    full_state_update = False

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        for name in ("pinball", "crps", "coverage", "width"):
            self.add_state(name, default=torch.zeros(n_channels, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(  # type: ignore[override]
        self,
        pinball: torch.Tensor,
        crps: torch.Tensor,
        lower: torch.Tensor,
        upper: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> None:
        """Add one batch: ``pinball`` and ``crps`` per element (B, P, C), the interval and the targets (B, P, C),
        counting only the valid steps of ``mask``.

        Args:
            pinball: pinball loss averaged over the levels.
            crps: CRPS.
            lower: the interval's lower bounds.
            upper: the interval's upper bounds.
            target: observations.
            mask: (B, P, 1) 1 for steps that exist, 0 for padding past a series' end (M4 panels), or None.
        """
        weights = (
            torch.ones_like(target, dtype=torch.float64) if mask is None else mask.double().expand_as(target)
        )
        steps = weights[..., 0].sum()

        def total(values: torch.Tensor) -> torch.Tensor:
            return (values.double() * weights).reshape(-1, target.shape[-1]).sum(dim=0)

        self.pinball += total(pinball)
        self.crps += total(crps)
        self.coverage += total(interval_coverage(lower, upper, target, reduction="none"))
        self.width += total(upper - lower)
        self.count += steps

    def compute(self) -> dict[str, torch.Tensor]:
        """``{name: (C,) per-channel mean}`` for pinball, crps, coverage and width."""
        count = self.count.clamp_min(1.0)
        return {name: getattr(self, name) / count for name in ("pinball", "crps", "coverage", "width")}
