"""Optimiser, learning-rate schedule and per-step re-seeding shared by every task.

:class:`OptimizerConfig` is the one definition of the optimiser and schedule options of both tasks
(``model.optimizer.*`` in configs). Schedules are functions of the step (``cosine``: linear warm-up then cosine decay to ``min_lr_ratio``)
or of the epoch (``step``: ``gamma ** (epoch // step_epochs)``; ``type1``: TSLib's
``adjust_learning_rate`` halving, ``0.5 ** epoch``); ``constant`` honours the warm-up only. They live in
``LambdaLR`` schedulers, so Lightning restores them from checkpoints and ``LearningRateMonitor`` logs them.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from zoo.choices import check_choice
from zoo.seeding import mix_seed

LRSchedule = Literal["constant", "cosine", "step", "type1"]
OptimizerName = Literal["adam", "adamw"]


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimiser and its learning-rate schedule (``model.optimizer`` of either task).

    Args:
        name: "adam" (Kingma & Ba, ICLR 2015) or "adamw" (decoupled weight decay, Loshchilov & Hutter, ICLR 2019).
        lr: the base learning rate.
        weight_decay: L2 penalty for "adam", decoupled weight decay for "adamw".
        lr_schedule: "constant", "cosine" (warm-up then cosine decay), "step" (``step_gamma`` every
            ``step_epochs`` epochs) or "type1" (TSLib's halving every epoch).
        warmup_steps: optimiser steps of linear warm-up ("constant" and "cosine").
        min_lr_ratio: where "cosine" ends, as a fraction of ``lr``.
        step_epochs: epochs between two decays of "step".
        step_gamma: the factor of each decay of "step".
    """

    name: OptimizerName = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: LRSchedule = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    step_epochs: int = 1
    step_gamma: float = 0.5

    def __post_init__(self) -> None:
        check_choice("optimizer.name", self.name, OptimizerName)
        check_choice("optimizer.lr_schedule", self.lr_schedule, LRSchedule)
        if not self.lr > 0:
            raise ValueError(f"optimizer.lr must be > 0, got {self.lr}")
        for field in ("weight_decay", "warmup_steps", "min_lr_ratio"):
            if getattr(self, field) < 0:
                raise ValueError(f"optimizer.{field} must be >= 0, got {getattr(self, field)}")
        if self.step_epochs < 1:
            raise ValueError(f"optimizer.step_epochs must be >= 1, got {self.step_epochs}")

    @classmethod
    def coerce(cls, value: OptimizerConfig | Mapping[str, Any] | None) -> OptimizerConfig:
        """``value`` as a config: a mapping (as stored in a checkpoint's hyperparameters) or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {f.name for f in dataclasses.fields(cls)})
            if unknown:
                raise TypeError(
                    f"optimizer: unknown option(s) {unknown}; known: "
                    f"{[f.name for f in dataclasses.fields(cls)]}"
                )
            return cls(**value)
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for hyperparameters that checkpoints load with ``weights_only=True``."""
        return dataclasses.asdict(self)


def lr_lambda(
    schedule: LRSchedule,
    total_steps: int,
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.0,
    step_epochs: int = 1,
    step_gamma: float = 0.5,
) -> tuple[Callable[[int], float], Literal["step", "epoch"]]:
    """The multiplier of the base learning rate and whether it is stepped per optimiser step or per epoch."""
    check_choice("lr_schedule", schedule, LRSchedule)
    warmup = max(int(warmup_steps), 0)

    def warm(step: int) -> float:
        return min(1.0, (step + 1) / warmup) if warmup else 1.0

    if schedule == "constant":
        return warm, "step"
    if schedule == "cosine":
        total = max(int(total_steps), 1)

        def cosine(step: int) -> float:
            if step < warmup:
                return warm(step)
            progress = min((step - warmup) / max(total - warmup, 1), 1.0)
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        return cosine, "step"
    if schedule == "step":
        return (lambda epoch: step_gamma ** (epoch // max(step_epochs, 1))), "epoch"
    return (lambda epoch: 0.5**epoch), "epoch"


def configure_optimization(
    parameters: Iterable[torch.nn.Parameter], config: OptimizerConfig, total_steps: Callable[[], float]
) -> dict[str, Any] | None:
    """Lightning's ``configure_optimizers`` answer for ``config`` over the trainable ``parameters``.

    Args:
        parameters: the module's parameters; frozen ones (``requires_grad=False``, e.g. under LoRA) are left out.
        config: the optimiser and schedule.
        total_steps: the run's optimiser steps (``trainer.estimated_stepping_batches``), asked only by "cosine".
    """
    params = [p for p in parameters if p.requires_grad]
    if not params:
        return None
    opt_cls = torch.optim.AdamW if config.name == "adamw" else torch.optim.Adam
    opt = opt_cls(params, lr=config.lr, weight_decay=config.weight_decay)
    total = total_steps() if config.lr_schedule == "cosine" else 1
    fn, interval = lr_lambda(
        config.lr_schedule,
        int(total),
        config.warmup_steps,
        config.min_lr_ratio,
        config.step_epochs,
        config.step_gamma,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, fn)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}


def reseed_global_rng(global_step: int, global_rank: int) -> None:
    """Under ``seed_everything``, re-seed the global torch RNG from (seed, step, rank) before a training step.

    Lightning does not checkpoint RNG states, and data-loader set-up draws from them differently after a
    restart; re-seeding per step makes dropout masks and reparameterisation noise depend on the step
    only, so a resumed run continues exactly as an uninterrupted one.
    """
    seed = os.environ.get("PL_GLOBAL_SEED")
    if seed is not None:
        torch.manual_seed(mix_seed(int(seed), global_step, global_rank))


class StepSeededRNG:
    """LightningModule mixin: the global torch RNG depends on (seed, step or batch, rank) only.

    Before every training step it is re-seeded from the global step (:func:`reseed_global_rng`); before
    every validation, test and predict batch from the batch index, on a stream of its own (negative
    steps), so sampled evaluation (a posterior sample, ProbSparse's key sample) gives the same numbers
    in any process that sets the same seed, whatever it drew before (model construction, training).
    """

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        reseed_global_rng(self.global_step, self.global_rank)  # type: ignore[attr-defined]

    def _reseed_for_evaluation(self, batch_idx: int) -> None:
        reseed_global_rng(-1 - batch_idx, self.global_rank)  # type: ignore[attr-defined]

    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._reseed_for_evaluation(batch_idx)

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._reseed_for_evaluation(batch_idx)

    def on_predict_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._reseed_for_evaluation(batch_idx)
