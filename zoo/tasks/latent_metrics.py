"""Evaluation of latent-variable models: the importance-weighted bound and active units.

- IWAE (Burda, Grosse & Salakhutdinov, ICLR 2016, eq. 8): log p(x) >= L_k = E[log 1/k sum_i w_i],
  w_i = p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x) i.i.d. L_1 is the ELBO; L_k is non-decreasing in k and
  tends to log p(x), so -L_5000 is the literature's test-NLL estimate. The k samples are drawn in chunks
  (at most ``max_rows`` samples x images per decoder call) and combined with a running log-sum-exp,
  so k = 5000 fits in memory.
- Active units (Burda et al., section 5.2): unit u is active when A_u = Cov_x(E_{q(u|x)}[u]) > 0.01.
  For a categorical unit the variance is summed over its K class probabilities.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Distribution
from torchmetrics import Metric

from zoo.models.latent import LatentVariableModel


@torch.no_grad()
def iwae_log_likelihood(
    net: LatentVariableModel,
    x: torch.Tensor,
    num_samples: int,
    max_rows: int = 50_000,
    posterior: Distribution | None = None,
) -> torch.Tensor:
    """The k-sample importance-weighted bound L_k of log p(x) per image, (B,), in nats.

    Samples are exact draws ``q.sample()`` (for discrete latents: from the categorical, not the relaxation).
    """
    if num_samples < 1:
        raise ValueError(f"iwae_log_likelihood: num_samples must be >= 1, got {num_samples}")
    if max_rows < 1:
        raise ValueError(f"iwae_log_likelihood: max_rows must be >= 1, got {max_rows}")
    q = net.encode(x) if posterior is None else posterior
    chunk = max(1, min(num_samples, max_rows // max(len(x), 1)))
    total: torch.Tensor | None = None
    remaining = num_samples
    while remaining > 0:
        size = min(chunk, remaining)
        z = q.sample((size,))  # (S, B, *latent)
        log_w = net.decode(z).log_prob(x) + net.log_prior_ratio(z, q)  # (S, B)
        lse = torch.logsumexp(log_w.double(), dim=0)
        total = lse if total is None else torch.logaddexp(total, lse)
        remaining -= size
    assert total is not None
    return (total - math.log(num_samples)).to(x.dtype)


class ActiveUnits(Metric):
    """Number of latent units whose posterior mean varies across the data by more than ``threshold``.

    ``update(means)`` with per-unit posterior means (B, U, d) (``LatentVariableModel.unit_means``);
    sums, sums of squares and counts reduce across processes, so DDP gives the single-process count.
    """

    full_state_update = False

    def __init__(self, threshold: float = 0.01) -> None:
        super().__init__()
        self.threshold = threshold
        self.add_state("total", default=torch.zeros(0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total_sq", default=torch.zeros(0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, means: torch.Tensor) -> None:
        if means.ndim != 3:
            raise ValueError(
                f"ActiveUnits.update expects posterior means (B, U, d), got {tuple(means.shape)}"
            )
        m = means.detach().double()
        if self.total.numel() == 0:
            self.total = torch.zeros(m.shape[1:], dtype=torch.float64, device=m.device)
            self.total_sq = torch.zeros_like(self.total)
        self.total += m.sum(0)
        self.total_sq += (m * m).sum(0)
        self.count += len(m)

    def variances(self) -> torch.Tensor:
        """A_u per unit, (U,): the data variance of E_q[u], summed over a categorical's classes."""
        n = self.count.clamp_min(1)
        mean = self.total / n
        return (self.total_sq / n - mean * mean).clamp_min(0).sum(-1)

    def compute(self) -> torch.Tensor:
        return (self.variances() > self.threshold).sum().to(torch.float32)
