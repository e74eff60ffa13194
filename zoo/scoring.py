"""Scores of probabilistic forecasts: pinball loss, CRPS, interval coverage and width.

- Pinball loss of a quantile q at level tau: ``max(tau * (y - q), (tau - 1) * (y - q))`` (Koenker &
  Bassett 1978).
- CRPS from quantiles: ``2 / Q * sum_k pinball_k``, the quantile-loss approximation of the integral
  ``CRPS = 2 * int_0^1 pinball_tau d tau`` (Gneiting & Raftery, JASA 2007, section 4.2; GluonTS's
  ``mean_wQuantileLoss`` without the weighting); exact in the limit of a fine, even grid of levels.
- CRPS from samples: the energy form ``E|X - y| - 1/2 E|X - X'|`` over the S samples (Gneiting &
  Raftery eq. 20), the unbiased ("fair") estimator with ``S * (S - 1)`` pairs.
- Coverage of an interval [lower, upper]: the fraction of observations inside it; width: ``upper - lower``.

Shapes: quantiles (..., Q) with the levels on the last axis, samples (S, ...) with the samples first,
targets (...). With ``reduction="none"`` the score of every element comes back, ``"mean"`` averages.
:class:`zoo.tasks.probabilistic.ProbabilisticScores` accumulates them per channel over an epoch. This
module imports neither torchmetrics nor Lightning: the models' distribution heads use it, and loading a
model stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from zoo.choices import check_choice

Reduction = Literal["mean", "none"]


def _reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "none":
        return values
    check_choice("reduction", reduction, Reduction)
    return values.mean()


def _levels_tensor(levels: Sequence[float] | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(levels, dtype=like.dtype, device=like.device)


def _check_quantiles(quantiles: torch.Tensor, target: torch.Tensor, levels: torch.Tensor) -> None:
    if quantiles.shape[:-1] != target.shape or quantiles.shape[-1] != len(levels):
        raise ValueError(
            f"quantiles of shape {tuple(quantiles.shape)} do not match targets {tuple(target.shape)} "
            f"and {len(levels)} levels: expected {(*target.shape, len(levels))}"
        )


def pinball_loss(
    quantiles: torch.Tensor,
    target: torch.Tensor,
    levels: Sequence[float] | torch.Tensor,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The pinball loss of ``quantiles`` (..., Q) at ``levels`` (Q) against ``target`` (...).

    Args:
        quantiles: predicted quantiles, the levels on the last axis.
        target: observations.
        levels: the Q quantile levels in (0, 1).
        reduction: "mean" over everything, or "none" for the (..., Q) losses.
    """
    tau = _levels_tensor(levels, quantiles)
    _check_quantiles(quantiles, target, tau)
    error = target.unsqueeze(-1) - quantiles
    return _reduce(torch.maximum(tau * error, (tau - 1.0) * error), reduction)


def crps_from_quantiles(
    quantiles: torch.Tensor,
    target: torch.Tensor,
    levels: Sequence[float] | torch.Tensor,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """CRPS approximated by ``2 / Q * sum_k pinball_k`` (module docstring): (...) or its mean.

    Args:
        quantiles: predicted quantiles (..., Q).
        target: observations (...).
        levels: the Q levels.
        reduction: "mean" or "none".
    """
    losses = pinball_loss(quantiles, target, levels, reduction="none")
    return _reduce(2.0 * losses.mean(dim=-1), reduction)


def crps_from_samples(
    samples: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """The fair energy-form CRPS of ``samples`` (S, ...) against ``target`` (...), S >= 2.

    Args:
        samples: draws from the predictive distribution, samples first.
        target: observations.
        reduction: "mean" or "none".
    """
    if samples.ndim < 1 or samples.shape[1:] != target.shape or samples.shape[0] < 2:
        raise ValueError(
            f"samples of shape {tuple(samples.shape)} need at least 2 draws of the target's shape "
            f"{tuple(target.shape)}: expected (S, {', '.join(map(str, target.shape))})"
        )
    count = samples.shape[0]
    spread_to_target = (samples - target).abs().mean(dim=0)
    # E|X - X'| from the sorted samples in O(S log S): sum_i (2i - S - 1) x_(i) * 2 / (S (S - 1))
    ordered = samples.sort(dim=0).values
    rank = torch.arange(1, count + 1, dtype=samples.dtype, device=samples.device)
    rank = rank.reshape(-1, *([1] * target.ndim))
    pair_mean = 2.0 * ((2.0 * rank - count - 1.0) * ordered).sum(dim=0) / (count * (count - 1))
    return _reduce(spread_to_target - 0.5 * pair_mean, reduction)


def interval_coverage(
    lower: torch.Tensor, upper: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """1 where ``lower <= target <= upper``, else 0; or the fraction (all of shape (...)).

    Args:
        lower: the interval's lower bounds.
        upper: the interval's upper bounds.
        target: observations.
        reduction: "mean" or "none".
    """
    inside = ((target >= lower) & (target <= upper)).to(target.dtype)
    return _reduce(inside, reduction)


def interval_width(lower: torch.Tensor, upper: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """``upper - lower``, or its mean.

    Args:
        lower: the interval's lower bounds.
        upper: the interval's upper bounds.
        reduction: "mean" or "none".
    """
    return _reduce(upper - lower, reduction)
