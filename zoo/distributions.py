"""Probabilistic forecasts: what a distribution head predicts for every (window, step, target channel).

Three kinds, each a frozen dataclass of tensors shaped (B, P, C) (B windows, P horizon steps, C targets):

- :class:`QuantilePrediction`: the values (B, P, C, Q) of Q sorted quantile levels, trained with the
  pinball loss (Koenker & Bassett, "Regression Quantiles", Econometrica 1978; the multi-quantile loss of
  Wen et al., "A Multi-Horizon Quantile Recurrent Forecaster", 2017, and NeuralForecast's ``MQLoss``);
- :class:`NormalPrediction`: location and scale, trained with the negative log-likelihood;
- :class:`StudentTPrediction`: location, scale and degrees of freedom, trained likewise (the heavy-tailed
  likelihood of DeepAR, Salinas et al., International Journal of Forecasting 2020).

Each gives its ``point`` forecast (the median), its quantiles at any levels it can (a quantile prediction
only at its own levels), samples (parametric kinds), its training loss over the valid steps, and the same
prediction in other units (:meth:`rescaled`, value * std + mean): the task trains on the standardised scale
and reports in original units.

Student-t quantiles use the Cornish-Fisher expansion of the t quantile in powers of 1/df (Abramowitz &
Stegun, "Handbook of Mathematical Functions", 26.7.5; four terms), since torch has no t quantile function:
with df >= 3 (what :class:`zoo.layers.distribution_heads.StudentTHead` guarantees) its relative error is
below 1e-3 at the 0.05 and 0.95 levels and below 2.5e-2 at 0.005 / 0.995 (``tests/test_distributions.py``
checks it against tabulated values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from zoo.scoring import crps_from_quantiles, pinball_loss

DistributionName = Literal["point", "quantile", "normal", "student_t"]
#: The distributions besides "point": the task trains each on its own loss.
DISTRIBUTIONS: tuple[str, ...] = ("quantile", "normal", "student_t")

#: The levels at which a parametric prediction's CRPS is computed from quantiles (0.01, ..., 0.99).
CRPS_LEVELS: tuple[float, ...] = tuple(round(k / 100, 2) for k in range(1, 100))


def check_levels(levels: list[float] | tuple[float, ...], what: str = "quantiles") -> tuple[float, ...]:
    """``levels`` as a tuple if they are strictly increasing and inside (0, 1); else a clear ValueError.

    Args:
        levels: quantile levels.
        what: the option's name, for the message.
    """
    values = tuple(float(level) for level in levels)
    if not values:
        raise ValueError(f"{what}: give at least one quantile level in (0, 1), e.g. [0.1, 0.5, 0.9]")
    outside = [level for level in values if not 0.0 < level < 1.0]
    if outside:
        raise ValueError(
            f"{what}={list(values)}: levels {outside} lie outside (0, 1); use e.g. [0.1, 0.5, 0.9]"
        )
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError(
            f"{what}={list(values)}: levels must be strictly increasing and distinct; "
            f"use {sorted(set(values))}"
        )
    return values


def level_name(level: float) -> str:
    """The column suffix of a quantile level: 0.1 -> "q0.1", 0.025 -> "q0.025"."""
    return f"q{float(level):g}"


def central_levels(coverage: float) -> tuple[float, float]:
    """The quantile levels bounding the central interval of nominal ``coverage``: 0.8 -> (0.1, 0.9)."""
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"interval coverage must lie in (0, 1), e.g. 0.8; got {coverage}")
    tail = (1.0 - coverage) / 2.0
    return round(tail, 10), round(1.0 - tail, 10)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` (B, P, C[, ...]) over the steps where ``mask`` (B, P, 1) is 1 (all when None)."""
    if mask is None:
        return values.mean()
    weights = mask.to(values.dtype)
    while weights.ndim < values.ndim:
        weights = weights.unsqueeze(-1)
    weights = weights.expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


@dataclass(frozen=True)
class QuantilePrediction:
    """Quantiles ``values`` (B, P, C, Q) at the sorted ``levels`` (Q), and the ``location`` (B, P, C) a head
    built them around (the forecaster's point forecast), or None."""

    values: torch.Tensor
    levels: tuple[float, ...]
    location: torch.Tensor | None = None

    kind = "quantile"

    @property
    def point(self) -> torch.Tensor:
        """The median (B, P, C): the ``location`` when there is one, else the level 0.5, else the mean of the
        two levels around it."""
        if self.location is not None:
            return self.location
        levels = self.levels
        if 0.5 in levels:
            return self.values[..., levels.index(0.5)]
        above = next((i for i, level in enumerate(levels) if level > 0.5), len(levels) - 1)
        below = max(above - 1, 0)
        return 0.5 * (self.values[..., below] + self.values[..., above])

    def quantiles(self, levels: tuple[float, ...] | list[float]) -> torch.Tensor:
        """The quantiles (B, P, C, len(levels)) at ``levels``, which must be among the predicted ones."""
        wanted = check_levels(levels)
        missing = [level for level in wanted if not any(math.isclose(level, own) for own in self.levels)]
        if missing:
            raise ValueError(
                f"levels {missing} were not predicted: this quantile model predicts {list(self.levels)}; "
                "ask for those, or train with them in quantiles=[...]"
            )
        index = [next(i for i, own in enumerate(self.levels) if math.isclose(level, own)) for level in wanted]
        return self.values[..., index]

    def loss(self, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pinball loss averaged over levels and valid steps (``mask`` (B, P, 1) or None)."""
        return _masked_mean(pinball_loss(self.values, target, self.levels, reduction="none"), mask)

    def crps(self, target: torch.Tensor) -> torch.Tensor:
        """CRPS (B, P, C) approximated from the predicted quantiles (:func:`zoo.scoring.crps_from_quantiles`)."""
        return crps_from_quantiles(self.values, target, self.levels, reduction="none")

    def sample(self, count: int) -> torch.Tensor:
        """``count`` samples (count, B, P, C) of the piecewise-linear quantile function through the predicted
        quantiles (Gasthaus et al., "Probabilistic Forecasting with Spline Quantile Function RNNs",
        AISTATS 2019): u ~ U(0, 1) from the global RNG, mapped linearly between the two levels around it;
        below the lowest and above the highest level the outer segments' slopes continue. Needs at least two
        levels.
        """
        if len(self.levels) < 2:
            raise ValueError(
                f"sampling a quantile prediction needs at least two levels (it predicts {list(self.levels)}); "
                "train with quantiles=[0.1, 0.5, 0.9] or more"
            )
        levels = torch.tensor(self.levels, dtype=self.values.dtype, device=self.values.device)
        u = torch.rand((count, *self.values.shape[:-1]), dtype=self.values.dtype, device=self.values.device)
        segment = (torch.searchsorted(levels, u.contiguous()) - 1).clamp(
            0, len(self.levels) - 2
        )  # (S, B, P, C)
        values = self.values.unsqueeze(0).expand(count, *self.values.shape)
        low = values.gather(-1, segment.unsqueeze(-1)).squeeze(-1)
        high = values.gather(-1, (segment + 1).unsqueeze(-1)).squeeze(-1)
        start, end = levels[segment], levels[segment + 1]
        return low + (high - low) * (u - start) / (end - start)

    def rescaled(self, mean: torch.Tensor, std: torch.Tensor) -> QuantilePrediction:
        """The same prediction in units ``value * std + mean`` (``mean`` / ``std`` broadcast to (B, P, C))."""
        location = None if self.location is None else self.location * std + mean
        return QuantilePrediction(self.values * std.unsqueeze(-1) + mean.unsqueeze(-1), self.levels, location)


def _standard_normal_quantiles(levels: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
    probabilities = torch.tensor(levels, dtype=torch.float64)
    return torch.special.ndtri(probabilities).to(dtype=like.dtype, device=like.device)


@dataclass(frozen=True)
class NormalPrediction:
    """A Normal distribution per step: ``loc`` and ``scale`` (B, P, C)."""

    loc: torch.Tensor
    scale: torch.Tensor

    kind = "normal"

    @property
    def point(self) -> torch.Tensor:
        return self.loc

    def quantiles(self, levels: tuple[float, ...] | list[float]) -> torch.Tensor:
        z = _standard_normal_quantiles(check_levels(levels), self.loc)  # (Q,)
        return self.loc.unsqueeze(-1) + self.scale.unsqueeze(-1) * z

    def loss(self, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The negative log-likelihood per step, averaged over the valid steps."""
        nll = -torch.distributions.Normal(self.loc, self.scale).log_prob(target)
        return _masked_mean(nll, mask)

    def crps(self, target: torch.Tensor) -> torch.Tensor:
        """The closed-form CRPS of a Normal (Gneiting & Raftery, JASA 2007, eq. 5), (B, P, C)."""
        z = (target - self.loc) / self.scale
        standard = torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z))
        pdf, cdf = standard.log_prob(z).exp(), standard.cdf(z)
        return self.scale * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))

    def sample(self, count: int) -> torch.Tensor:
        """``count`` samples (count, B, P, C), drawn from the global RNG (seed it with ``torch.manual_seed``)."""
        return torch.distributions.Normal(self.loc, self.scale).sample((count,))

    def rescaled(self, mean: torch.Tensor, std: torch.Tensor) -> NormalPrediction:
        return NormalPrediction(self.loc * std + mean, self.scale * std)


def student_t_quantile(probabilities: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    """Quantiles of the standard Student-t with ``df`` degrees of freedom (broadcast), by the four-term
    Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5); accurate for df >= 3 (module docstring).

    Args:
        probabilities: levels in (0, 1).
        df: degrees of freedom.
    """
    z = torch.special.ndtri(probabilities.to(torch.float64)).to(df.dtype)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    inverse = 1.0 / df
    return z + inverse * (g1 + inverse * (g2 + inverse * (g3 + inverse * g4)))


@dataclass(frozen=True)
class StudentTPrediction:
    """A Student-t distribution per step: ``loc``, ``scale`` and degrees of freedom ``df`` (B, P, C)."""

    loc: torch.Tensor
    scale: torch.Tensor
    df: torch.Tensor

    kind = "student_t"

    @property
    def point(self) -> torch.Tensor:
        return self.loc

    def quantiles(self, levels: tuple[float, ...] | list[float]) -> torch.Tensor:
        probabilities = torch.tensor(check_levels(levels), dtype=torch.float64, device=self.loc.device)
        t = student_t_quantile(probabilities, self.df.unsqueeze(-1))  # (B, P, C, Q)
        return self.loc.unsqueeze(-1) + self.scale.unsqueeze(-1) * t

    def loss(self, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        nll = -torch.distributions.StudentT(self.df, self.loc, self.scale).log_prob(target)
        return _masked_mean(nll, mask)

    def crps(self, target: torch.Tensor) -> torch.Tensor:
        """CRPS (B, P, C) from the quantiles at :data:`CRPS_LEVELS` (:func:`zoo.scoring.crps_from_quantiles`)."""
        return crps_from_quantiles(self.quantiles(CRPS_LEVELS), target, CRPS_LEVELS, reduction="none")

    def sample(self, count: int) -> torch.Tensor:
        """``count`` samples (count, B, P, C), drawn from the global RNG (seed it with ``torch.manual_seed``)."""
        return torch.distributions.StudentT(self.df, self.loc, self.scale).sample((count,))

    def rescaled(self, mean: torch.Tensor, std: torch.Tensor) -> StudentTPrediction:
        return StudentTPrediction(self.loc * std + mean, self.scale * std, self.df)


Prediction = QuantilePrediction | NormalPrediction | StudentTPrediction
