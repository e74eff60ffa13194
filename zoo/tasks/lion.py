"""Lion: the sign-momentum optimiser of Chen et al., "Symbolic Discovery of Optimization Algorithms",
NeurIPS 2023 (Algorithm 2; reference code google/automl ``lion``).

For every parameter theta with gradient g and momentum m (zero at the start), one step is

    c = beta1 * m + (1 - beta1) * g          (the interpolation the update's sign is taken of)
    theta = theta * (1 - lr * weight_decay) - lr * sign(c)
    m = beta2 * m + (1 - beta2) * g          (the momentum kept, with a slower beta2)

Every coordinate moves by exactly ``lr`` (or 0), so Lion wants a learning rate 3-10x smaller than AdamW's
and a weight decay 3-10x larger (the paper's advice). The weight decay is decoupled, as AdamW's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class Lion(torch.optim.Optimizer):
    """Lion (module docstring).

    Args:
        params: the parameters (or parameter groups) to optimise.
        lr: the step size of every coordinate.
        betas: (beta1, beta2): the interpolation of the update's sign and the momentum's decay (0.9, 0.99).
        weight_decay: decoupled weight decay lambda.
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter] | Iterable[dict],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"Lion: lr must be > 0, got {lr}")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"Lion: betas must lie in [0, 1), got {betas}")
        if weight_decay < 0:
            raise ValueError(f"Lion: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                grad = parameter.grad
                state = self.state[parameter]
                if "exp_avg" not in state:
                    state["exp_avg"] = torch.zeros_like(parameter)
                momentum = state["exp_avg"]
                update = (momentum * beta1 + grad * (1.0 - beta1)).sign_()
                parameter.mul_(1.0 - group["lr"] * group["weight_decay"]).add_(update, alpha=-group["lr"])
                momentum.mul_(beta2).add_(grad, alpha=1.0 - beta2)
        return loss
