"""KL-term schedules of the ELBO, as functions of the global step.

- ``constant``: weight beta everywhere (beta = 1 is the plain ELBO; beta > 1 the beta-VAE of Higgins
  et al., ICLR 2017).
- ``linear``: warm-up (Bowman et al., CoNLL 2016; Sonderby et al., NeurIPS 2016): beta * min(1, t / W).
- ``cyclical``: cyclical annealing (Fu et al., NAACL 2019, eq. 6 with a linear ramp): within each cycle
  of C steps, tau = (t mod C) / C; the weight is beta * tau / R while tau <= R, then beta.
- free bits (Kingma et al., NeurIPS 2016, "Improved Variational Inference with Inverse Autoregressive
  Flow", eq. 15): each latent unit's KL, averaged over the minibatch, counts as at least lambda nats,
  so units below lambda get no gradient pushing them further to the prior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from zoo.choices import check_choice

KLScheduleKind = Literal["constant", "linear", "cyclical"]


@dataclass(frozen=True)
class KLSchedule:
    """The KL weight at a step and the free-bits objective; see the module docstring."""

    kind: KLScheduleKind = "constant"
    beta: float = 1.0
    warmup_steps: int = 0
    cycle_steps: int = 10000
    cycle_ratio: float = 0.5
    free_bits: float = 0.0

    def __post_init__(self) -> None:
        check_choice("kl_schedule", self.kind, KLScheduleKind)
        if self.beta < 0:
            raise ValueError(f"kl_beta must be >= 0, got {self.beta}")
        if self.kind == "linear" and self.warmup_steps <= 0:
            raise ValueError(f"kl_schedule='linear' needs kl_warmup_steps > 0, got {self.warmup_steps}")
        if self.kind == "cyclical" and (self.cycle_steps <= 0 or not 0 < self.cycle_ratio <= 1):
            raise ValueError(
                "kl_schedule='cyclical' needs kl_cycle_steps > 0 and 0 < kl_cycle_ratio <= 1, "
                f"got {self.cycle_steps} and {self.cycle_ratio}"
            )
        if self.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0 nats, got {self.free_bits}")

    def weight(self, step: int) -> float:
        """The KL weight at global step ``step``."""
        step = max(int(step), 0)
        if self.kind == "linear":
            return self.beta * min(1.0, step / self.warmup_steps)
        if self.kind == "cyclical":
            tau = (step % self.cycle_steps) / self.cycle_steps
            return self.beta * min(1.0, tau / self.cycle_ratio)
        return self.beta

    def objective_kl(self, kl_per_unit: torch.Tensor) -> torch.Tensor:
        """The KL term to minimise from per-unit KLs (B, U): the batch-mean total, with free bits applied."""
        if self.free_bits <= 0:
            return kl_per_unit.sum(-1).mean()
        return kl_per_unit.mean(0).clamp_min(self.free_bits).sum()
