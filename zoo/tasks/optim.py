"""Optimiser, learning-rate schedule and per-step re-seeding shared by every task.

Schedules are functions of the step (``cosine``: linear warm-up then cosine decay to ``min_lr_ratio``)
or of the epoch (``step``: ``gamma ** (epoch // step_epochs)``; ``type1``: TSLib's
``adjust_learning_rate`` halving, ``0.5 ** epoch``); ``constant`` honours the warm-up only. They live in
``LambdaLR`` schedulers, so Lightning restores them from checkpoints and ``LearningRateMonitor`` logs them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from typing import Any, Literal, get_args

import torch

LRSchedule = Literal["constant", "cosine", "step", "type1"]
LR_SCHEDULES: tuple[str, ...] = get_args(LRSchedule)


def lr_lambda(
    schedule: LRSchedule,
    total_steps: int,
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.0,
    step_epochs: int = 1,
    step_gamma: float = 0.5,
) -> tuple[Callable[[int], float], Literal["step", "epoch"]]:
    """The multiplier of the base learning rate and whether it is stepped per optimiser step or per epoch."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {schedule!r}")
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


def configure_adam(
    parameters: Iterable[torch.nn.Parameter],
    optimizer: Literal["adam", "adamw"],
    lr: float,
    weight_decay: float,
    schedule: tuple[Callable[[int], float], Literal["step", "epoch"]],
) -> dict[str, Any] | None:
    """Lightning's ``configure_optimizers`` answer for Adam/AdamW over the trainable ``parameters``."""
    params = [p for p in parameters if p.requires_grad]
    if not params:
        return None
    opt_cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
    opt = opt_cls(params, lr=lr, weight_decay=weight_decay)
    fn, interval = schedule
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, fn)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}


def configure_from_hparams(module: Any) -> dict[str, Any] | None:
    """``configure_optimizers`` of a task whose hyperparameters hold ``optimizer``, ``lr``, ``weight_decay``,
    ``lr_schedule``, ``warmup_steps``, ``min_lr_ratio``, ``step_epochs`` and ``step_gamma``."""
    hp = module.hparams
    total = module.trainer.estimated_stepping_batches if hp.lr_schedule == "cosine" else 1
    schedule = lr_lambda(hp.lr_schedule, total, hp.warmup_steps, hp.min_lr_ratio, hp.step_epochs, hp.step_gamma)
    return configure_adam(module.parameters(), hp.optimizer, hp.lr, hp.weight_decay, schedule)


def reseed_global_rng(global_step: int, global_rank: int) -> None:
    """Under ``seed_everything``, re-seed the global torch RNG from (seed, step, rank) before a training step.

    Lightning does not checkpoint RNG states, and data-loader set-up draws from them differently after a
    restart; re-seeding per step makes dropout masks and reparameterisation noise depend on the step
    only, so a resumed run continues exactly as an uninterrupted one.
    """
    seed = os.environ.get("PL_GLOBAL_SEED")
    if seed is not None:
        torch.manual_seed((int(seed) * 1_000_003 + global_step) * 1_009 + global_rank)


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
