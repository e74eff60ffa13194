"""Optimiser, learning-rate schedule and per-step re-seeding shared by every task.

:class:`OptimizerConfig` is the one definition of the optimiser and schedule options of both tasks
(``model.optimizer.*`` in configs). Optimisers: SGD with (Nesterov) momentum, Adam, AdamW, Lion
(:mod:`zoo.tasks.lion`) and Schedule-Free AdamW (the ``schedulefree`` package; :class:`OptimizerModes`
switches its train / eval weights). Schedules are functions of the step (``cosine``: linear warm-up then
cosine decay to ``min_lr_ratio``; ``onecycle``; ``wsd``: warm-up, stable, decay) or of the epoch
(``step``: ``gamma ** (epoch // step_epochs)``; ``type1``: TSLib's ``adjust_learning_rate`` halving,
``0.5 ** epoch``); ``constant`` honours the warm-up only. They live in ``LambdaLR`` schedulers, so
Lightning restores them from checkpoints and ``LearningRateMonitor`` logs them. Gradient clipping is the
trainer's (``trainer.gradient_clip_val``, ``trainer.gradient_clip_algorithm``) and an exponential moving
average of the weights Lightning's ``EMAWeightAveraging`` callback (``trainer.callbacks``): it validates
and checkpoints the average.
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
from zoo.tasks.lion import Lion

LRSchedule = Literal["constant", "cosine", "step", "type1", "onecycle", "wsd"]
OptimizerName = Literal["sgd", "adam", "adamw", "lion", "schedule_free_adamw"]
DecayShape = Literal["linear", "sqrt"]

#: The default (beta1, beta2) of each optimiser that has them (the papers' and torch's).
DEFAULT_BETAS: dict[str, tuple[float, float]] = {
    "adam": (0.9, 0.999),
    "adamw": (0.9, 0.999),
    "lion": (0.9, 0.99),
    "schedule_free_adamw": (0.9, 0.999),
}


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimiser and its learning-rate schedule (``model.optimizer`` of either task).

    Args:
        name: "sgd" (Robbins & Monro 1951; heavy-ball momentum, Polyak 1964; Nesterov momentum as in
            Sutskever et al., ICML 2013), "adam" (Kingma & Ba, ICLR 2015), "adamw" (decoupled weight
            decay, Loshchilov & Hutter, ICLR 2019), "lion" (Chen et al., NeurIPS 2023, :mod:`zoo.tasks.lion`)
            or "schedule_free_adamw" (Defazio et al., "The Road Less Scheduled", NeurIPS 2024; the authors'
            ``schedulefree`` package).
        lr: the base learning rate.
        weight_decay: L2 penalty for "sgd" and "adam"; decoupled weight decay for "adamw", "lion" and
            "schedule_free_adamw".
        momentum: "sgd" only: the momentum factor (0: plain SGD).
        nesterov: "sgd" only: Nesterov's momentum (needs ``momentum`` > 0).
        betas: (beta1, beta2) of "adam", "adamw", "lion", "schedule_free_adamw"; None: :data:`DEFAULT_BETAS`.
        lr_schedule: "constant", "cosine" (warm-up then cosine decay), "step" (``step_gamma`` every
            ``step_epochs`` epochs), "type1" (TSLib's halving every epoch), "onecycle" (Smith & Topin 2019,
            as ``torch.optim.lr_scheduler.OneCycleLR`` with cosine annealing, without momentum cycling) or
            "wsd" (warm-up, stable, decay: Hu et al., "MiniCPM", 2024; Hägele et al., NeurIPS 2024).
            "schedule_free_adamw" takes "constant" only (its warm-up is ``warmup_steps``).
        warmup_steps: optimiser steps of linear warm-up ("constant", "cosine", "wsd", and Schedule-Free's own).
        min_lr_ratio: where "cosine" and "wsd" end, as a fraction of ``lr``.
        step_epochs: epochs between two decays of "step".
        step_gamma: the factor of each decay of "step".
        onecycle_pct_start: "onecycle": the fraction of the steps spent rising to ``lr``.
        onecycle_div_factor: "onecycle": it starts at ``lr / onecycle_div_factor``.
        onecycle_final_div_factor: "onecycle": it ends at the start's value over this.
        decay_fraction: "wsd": the last fraction of the steps over which the rate decays.
        decay_shape: "wsd": "linear", or "sqrt" (``1 - sqrt(progress)``, Hägele et al.'s cool-down).
    """

    name: OptimizerName = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] | None = None
    lr_schedule: LRSchedule = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    step_epochs: int = 1
    step_gamma: float = 0.5
    onecycle_pct_start: float = 0.3
    onecycle_div_factor: float = 25.0
    onecycle_final_div_factor: float = 1e4
    decay_fraction: float = 0.2
    decay_shape: DecayShape = "linear"

    def __post_init__(self) -> None:
        check_choice("optimizer.name", self.name, OptimizerName)
        check_choice("optimizer.lr_schedule", self.lr_schedule, LRSchedule)
        check_choice("optimizer.decay_shape", self.decay_shape, DecayShape)
        if not self.lr > 0:
            raise ValueError(f"optimizer.lr must be > 0, got {self.lr}")
        for field in ("weight_decay", "warmup_steps", "min_lr_ratio"):
            if getattr(self, field) < 0:
                raise ValueError(f"optimizer.{field} must be >= 0, got {getattr(self, field)}")
        if self.step_epochs < 1:
            raise ValueError(f"optimizer.step_epochs must be >= 1, got {self.step_epochs}")
        self._check_optimizer()
        self._check_schedule()

    def _check_optimizer(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"optimizer.momentum must lie in [0, 1), got {self.momentum}")
        if self.name != "sgd" and (self.momentum or self.nesterov):
            raise ValueError(
                f"optimizer.momentum / nesterov are SGD's; {self.name!r} keeps its own moments (betas)"
            )
        if self.nesterov and self.momentum == 0:
            raise ValueError("optimizer.nesterov=True needs momentum > 0 (e.g. 0.9)")
        if self.betas is not None:
            betas = tuple(float(b) for b in self.betas)
            if self.name == "sgd":
                raise ValueError("optimizer.betas do not apply to sgd; use momentum")
            if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
                raise ValueError(f"optimizer.betas must be two numbers in [0, 1), got {list(self.betas)}")
            object.__setattr__(self, "betas", betas)  # a YAML or checkpoint list, as the tuple it stands for

    def _check_schedule(self) -> None:
        if self.name == "schedule_free_adamw" and self.lr_schedule != "constant":
            raise ValueError(
                f"optimizer.lr_schedule={self.lr_schedule!r}: schedule_free_adamw replaces the schedule (that is "
                "its point); use lr_schedule 'constant' and warmup_steps for its warm-up"
            )
        if self.lr_schedule == "onecycle":
            if self.warmup_steps:
                raise ValueError(
                    "optimizer.warmup_steps: onecycle rises over onecycle_pct_start of the steps; leave warmup_steps 0"
                )
            if not 0.0 < self.onecycle_pct_start < 1.0:
                raise ValueError(
                    f"optimizer.onecycle_pct_start must lie in (0, 1), got {self.onecycle_pct_start}"
                )
            if self.onecycle_div_factor < 1 or self.onecycle_final_div_factor < 1:
                raise ValueError("optimizer.onecycle_div_factor and onecycle_final_div_factor must be >= 1")
        if self.lr_schedule == "wsd" and not 0.0 < self.decay_fraction <= 1.0:
            raise ValueError(f"optimizer.decay_fraction must lie in (0, 1], got {self.decay_fraction}")

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
        record = dataclasses.asdict(self)
        record["betas"] = None if self.betas is None else list(self.betas)
        return record


def _onecycle(
    total: int, pct_start: float, div_factor: float, final_div_factor: float
) -> Callable[[int], float]:
    """OneCycleLR's multiplier (cosine annealing, two phases) at each step, as torch computes it."""
    initial = 1.0 / div_factor
    final = initial / final_div_factor
    rise_end = float(pct_start * total) - 1
    fall_end = float(total - 1)

    def anneal(start: float, end: float, fraction: float) -> float:
        return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)

    def multiplier(step: int) -> float:
        if step <= rise_end:
            return anneal(initial, 1.0, step / rise_end if rise_end > 0 else 1.0)
        fraction = (step - rise_end) / (fall_end - rise_end) if fall_end > rise_end else 1.0
        return anneal(1.0, final, min(fraction, 1.0))

    return multiplier


def lr_lambda(
    schedule: LRSchedule,
    total_steps: int,
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.0,
    step_epochs: int = 1,
    step_gamma: float = 0.5,
    config: OptimizerConfig | None = None,
) -> tuple[Callable[[int], float], Literal["step", "epoch"]]:
    """The multiplier of the base learning rate and whether it is stepped per optimiser step or per epoch.

    Args:
        schedule: the schedule's name.
        total_steps: the run's optimiser steps ("cosine", "onecycle", "wsd").
        warmup_steps: steps of linear warm-up.
        min_lr_ratio: the end of "cosine" and "wsd", as a fraction of the base rate.
        step_epochs: epochs between two decays of "step".
        step_gamma: the factor of each decay of "step".
        config: the rest of the options ("onecycle", "wsd"); None: their defaults.
    """
    check_choice("lr_schedule", schedule, LRSchedule)
    options = config or OptimizerConfig()
    warmup = max(int(warmup_steps), 0)
    total = max(int(total_steps), 1)

    def warm(step: int) -> float:
        return min(1.0, (step + 1) / warmup) if warmup else 1.0

    if schedule == "constant":
        return warm, "step"
    if schedule == "cosine":

        def cosine(step: int) -> float:
            if step < warmup:
                return warm(step)
            progress = min((step - warmup) / max(total - warmup, 1), 1.0)
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        return cosine, "step"
    if schedule == "onecycle":
        return _onecycle(
            total, options.onecycle_pct_start, options.onecycle_div_factor, options.onecycle_final_div_factor
        ), "step"
    if schedule == "wsd":
        decay_steps = max(math.ceil(options.decay_fraction * total), 1)
        decay_start = max(total - decay_steps, warmup)

        def wsd(step: int) -> float:
            if step < warmup:
                return warm(step)
            if step < decay_start:
                return 1.0
            progress = min((step - decay_start + 1) / decay_steps, 1.0)
            fall = progress if options.decay_shape == "linear" else math.sqrt(progress)
            return 1.0 - (1.0 - min_lr_ratio) * fall

        return wsd, "step"
    if schedule == "step":
        return (lambda epoch: step_gamma ** (epoch // max(step_epochs, 1))), "epoch"
    return (lambda epoch: 0.5**epoch), "epoch"


def build_optimizer(params: list[torch.nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    """The optimiser ``config`` names, over ``params``.

    Args:
        params: the trainable parameters.
        config: the optimiser's options.
    """
    betas = config.betas or DEFAULT_BETAS.get(config.name)
    if config.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    if config.name == "lion":
        assert betas is not None
        return Lion(params, lr=config.lr, betas=betas, weight_decay=config.weight_decay)
    if config.name == "schedule_free_adamw":
        from schedulefree import AdamWScheduleFree

        return AdamWScheduleFree(
            params,
            lr=config.lr,
            betas=betas,
            weight_decay=config.weight_decay,
            warmup_steps=config.warmup_steps,
        )
    optimizer = torch.optim.AdamW if config.name == "adamw" else torch.optim.Adam
    return optimizer(params, lr=config.lr, betas=betas, weight_decay=config.weight_decay)


def configure_optimization(
    parameters: Iterable[torch.nn.Parameter], config: OptimizerConfig, total_steps: Callable[[], float]
) -> dict[str, Any] | None:
    """Lightning's ``configure_optimizers`` answer for ``config`` over the trainable ``parameters``.

    Args:
        parameters: the module's parameters; frozen ones (``requires_grad=False``, e.g. under LoRA) are left out.
        config: the optimiser and schedule.
        total_steps: the run's optimiser steps (``trainer.estimated_stepping_batches``), asked only by the
            schedules that need it ("cosine", "onecycle", "wsd").
    """
    params = [p for p in parameters if p.requires_grad]
    if not params:
        return None
    opt = build_optimizer(params, config)
    if config.name == "schedule_free_adamw":
        return {"optimizer": opt}  # no schedule: the optimiser averages its iterates instead
    total = total_steps() if config.lr_schedule in ("cosine", "onecycle", "wsd") else 1
    fn, interval = lr_lambda(
        config.lr_schedule,
        int(total),
        config.warmup_steps,
        config.min_lr_ratio,
        config.step_epochs,
        config.step_gamma,
        config,
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


class OptimizerModes:
    """LightningModule mixin: an optimiser with train and eval weights (Schedule-Free AdamW trains at an
    interpolation y of its iterates and evaluates at their average x) is put in eval mode before every
    validation, test and predict loop, at the end of every training epoch and of the fit (so checkpoints
    written then and the weights exported after ``fit`` are x), and back in train mode before every
    training step. Other optimisers are left alone.
    """

    def _set_optimizer_mode(self, mode: Literal["train", "eval"]) -> None:
        trainer = getattr(self, "_trainer", None)
        for optimizer in getattr(trainer, "optimizers", None) or []:
            switch = getattr(optimizer, mode, None)
            if callable(switch) and callable(getattr(optimizer, "train" if mode == "eval" else "eval", None)):
                switch()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._set_optimizer_mode("train")
        super().on_train_batch_start(batch, batch_idx)  # type: ignore[misc]

    def on_validation_epoch_start(self) -> None:
        self._set_optimizer_mode("eval")
        super().on_validation_epoch_start()  # type: ignore[misc]

    def on_test_epoch_start(self) -> None:
        self._set_optimizer_mode("eval")
        super().on_test_epoch_start()  # type: ignore[misc]

    def on_predict_epoch_start(self) -> None:
        self._set_optimizer_mode("eval")
        super().on_predict_epoch_start()  # type: ignore[misc]

    def on_train_epoch_end(self) -> None:
        self._set_optimizer_mode("eval")
        super().on_train_epoch_end()  # type: ignore[misc]

    def on_fit_end(self) -> None:
        self._set_optimizer_mode("eval")
        super().on_fit_end()  # type: ignore[misc]
