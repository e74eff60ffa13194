"""Gumbel-Softmax / Concrete relaxations of discrete latents and their temperature schedule.

Jang, Gu & Poole, "Categorical Reparameterization with Gumbel-Softmax" (ICLR 2017) and Maddison, Mnih &
Teh, "The Concrete Distribution" (ICLR 2017). The samples come from ``torch.distributions``
(``RelaxedOneHotCategorical``, ``RelaxedBernoulli``), which draw the Gumbel / logistic noise from clamped
uniforms and, for the categorical, normalise in log space (a log-softmax of (logits + g) / tau), so no
log(0) or overflow occurs. What torch lacks and is written here: the straight-through ("hard") estimator
and the annealed temperature. Both samplers run in float32 with autocast disabled: under fp16/bf16
mixed precision the Gumbel noise -log(-log u) of u near 1 loses its tail, and 1/tau amplifies the error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.distributions import RelaxedBernoulli, RelaxedOneHotCategorical


def _relaxed_sample(
    family: type[RelaxedOneHotCategorical] | type[RelaxedBernoulli],
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    sample_shape: torch.Size | tuple[int, ...],
) -> torch.Tensor:
    """``family(temperature, logits).rsample(sample_shape)`` in float32 with autocast off."""
    with torch.autocast(device_type=logits.device.type, enabled=False):
        temp = torch.as_tensor(temperature, dtype=torch.float32, device=logits.device)
        return family(temp, logits=logits.float(), validate_args=False).rsample(torch.Size(sample_shape))


def _straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    # hard + (soft - soft.detach()): exactly ``hard`` forward (parenthesised, so no rounding), soft's gradient.
    return hard.to(soft.dtype) + (soft - soft.detach())


def gumbel_softmax_sample(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    hard: bool = False,
    sample_shape: torch.Size | tuple[int, ...] = (),
) -> torch.Tensor:
    """A relaxed one-hot sample (*sample_shape, ..., K) on the simplex from unnormalised ``logits`` (..., K).

    ``hard=True`` returns the one-hot arg-max in the forward pass with the gradient of the soft sample
    (straight-through Gumbel-Softmax, Jang et al. section 2.2).
    """
    soft = _relaxed_sample(RelaxedOneHotCategorical, logits, temperature, sample_shape)
    return _straight_through(F.one_hot(soft.argmax(-1), soft.shape[-1]), soft) if hard else soft


def binary_concrete_sample(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    hard: bool = False,
    sample_shape: torch.Size | tuple[int, ...] = (),
) -> torch.Tensor:
    """A relaxed Bernoulli sample in (0, 1) of the shape of ``logits`` (the binary Concrete of Maddison et al.).

    ``hard=True`` rounds to {0, 1} in the forward pass with the soft sample's gradient (straight-through).
    """
    soft = _relaxed_sample(RelaxedBernoulli, logits, temperature, sample_shape)
    return _straight_through(soft > 0.5, soft) if hard else soft


@dataclass(frozen=True)
class TemperatureSchedule:
    """tau(step) = max(tau_min, tau0 * exp(-rate * n)), n = every * floor(step / every) (Jang et al. section 4.1).

    The temperature changes once every ``every`` steps; the paper anneals with rate in {1e-5, 1e-4},
    every N in {500, 1000}, from tau0 = 1 to tau_min = 0.5.
    """

    tau0: float = 1.0
    tau_min: float = 0.5
    rate: float = 1e-4
    every: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.tau_min <= self.tau0:
            raise ValueError(
                f"TemperatureSchedule: need 0 < tau_min <= tau0, got tau_min={self.tau_min}, tau0={self.tau0}"
            )
        if self.rate < 0:
            raise ValueError(f"TemperatureSchedule: rate must be >= 0, got {self.rate}")
        if self.every <= 0:
            raise ValueError(f"TemperatureSchedule: every must be positive, got {self.every}")

    def __call__(self, step: int) -> float:
        held = (max(int(step), 0) // self.every) * self.every
        return max(self.tau_min, self.tau0 * math.exp(-self.rate * held))
