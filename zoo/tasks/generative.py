"""``GenerativeTask``: the one training loop for every latent-variable model (VAE family, Gumbel-Softmax).

The training loss is the negative ELBO in **nats per image** (summed over pixels, averaged over the
batch: the scale of Kingma & Welling 2014, Burda et al. 2016 and Jang et al. 2017),
``-log p(x|z) + w(t) * KL``, with the KL weight w(t) and free bits of :class:`zoo.tasks.kl_schedule.KLSchedule`
and the model's own schedules (the Gumbel temperature) both set from the global step before each step,
so a resumed run continues them exactly (Lightning restores the step; the temperature is also a buffer
in the checkpoint).

Under ``seed_everything`` every validation and test batch draws its posterior samples from an RNG
re-seeded from (seed, batch index, rank) (:class:`zoo.tasks.optim.StepSeededRNG`), so a bound measured
in one process is reproduced exactly in another with the same seed.

Validation and test report, per image and averaged over the whole split: ``neg_elbo`` (with the exact
posterior sample and weight 1, no free bits: a true bound), ``recon`` (-log p(x|z)), ``kl``,
``active_units`` (Burda et al.'s criterion) and, when ``*_iwae_samples`` > 0, ``nll_iwae``: -L_k, the
importance-weighted estimate of -log p(x) (k = 5000 at test by default, the literature's protocol).
Models trained through a relaxation (Gumbel-Softmax without straight-through) also report
``neg_elbo_relaxed``: the decoder on a relaxed sample at the current temperature, with the exact KL,
which is the training objective at weight 1 (not a bound of the discrete model).
Logged names: ``train/loss`` (the objective), ``train/neg_elbo``, ``train/recon``, ``train/kl``,
``train/kl_weight``, ``train/<schedule>`` (e.g. ``train/temperature``), ``val/*`` and ``test/*`` as above.

Image grids of reconstructions (input rows above their reconstructions) and of prior samples (the
likelihood's mean) go to every active logger at the end of each ``image_every_n_epochs``-th validation
epoch and of testing (:mod:`zoo.tasks.media`). A non-finite loss stops the run with a message naming
the step and the terms. ``predict_step`` returns reconstructions (B, C, H, W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torchmetrics import MeanMetric

from zoo.adapters.lora import LoraConfig
from zoo.models.latent import LatentVariableModel
from zoo.tasks.checkpoints import PretrainedTaskMixin
from zoo.tasks.compiling import CompileMode, compile_in_place
from zoo.tasks.kl_schedule import KLSchedule, KLScheduleKind
from zoo.tasks.latent_metrics import ActiveUnits, iwae_log_likelihood
from zoo.tasks.media import log_image_grid, make_grid
from zoo.tasks.optim import OptimizerConfig, OptimizerModes, StepSeededRNG, configure_optimization

_EVAL_TERMS = ("neg_elbo", "recon", "kl", "nll_iwae", "neg_elbo_relaxed")


@dataclass
class ELBOTerms:
    """One evaluation of the training objective: ``loss`` (scalar), ``recon`` -log p(x|z) (B,),
    ``kl_units`` KL per latent unit (B, U), and the KL weight used."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl_units: torch.Tensor
    kl_weight: float


class GenerativeTask(OptimizerModes, StepSeededRNG, PretrainedTaskMixin, pl.LightningModule):
    """Train and evaluate any :class:`zoo.models.latent.LatentVariableModel` on image batches ``{"x": (B, C, H, W)}``.

    Args:
        net: the model (``zoo.create_model("vae")``, a registry name or a ``class_path`` in a config).
        optimizer: the optimiser and learning-rate schedule (:class:`zoo.tasks.optim.OptimizerConfig`).
        kl_schedule: the KL weight over steps: "constant", "linear" warm-up or "cyclical" (Fu et al., NAACL 2019);
            see :mod:`zoo.tasks.kl_schedule`. The defaults give the plain ELBO.
        kl_beta: the KL weight once warmed up (beta-VAE, Higgins et al., ICLR 2017).
        kl_warmup_steps: steps of the "linear" warm-up from 0 to ``kl_beta``.
        kl_cycle_steps: the length of one cycle of the "cyclical" schedule, in steps.
        kl_cycle_ratio: the fraction of each cycle spent rising to ``kl_beta``.
        free_bits: nats per latent unit below which the KL is not penalised (Kingma et al., NeurIPS 2016).
        val_iwae_samples: k of the IWAE bound (Burda et al., ICLR 2016) at validation; 0 skips it.
        test_iwae_samples: k of the IWAE bound at test (5000: the literature's protocol); 0 skips it.
        iwae_max_rows: samples x images per decoder call while computing the bound (a memory cap).
        active_unit_threshold: the posterior-mean variance above which a unit is active (Burda et al.: 0.01).
        num_images: images per logged grid of reconstructions and samples; 0: no grids.
        image_every_n_epochs: log the grids every this many validation epochs.
        init_from: a pretrained name or directory (:mod:`zoo.hub`) whose weights the net starts from.
        lora: fine-tune through a LoRA adapter (``zoo.adapters.LoraConfig``) instead of all weights.
        compile: compile the encoder and decoder networks with ``torch.compile`` for training and evaluation
            (:mod:`zoo.tasks.compiling`; same weights and checkpoints as eager).
        compile_backend: the ``torch.compile`` backend ("inductor"; "aot_eager" or "eager" to debug).
        compile_mode: Inductor's mode: "default", "reduce-overhead" (CUDA graphs), "max-autotune" or
            "max-autotune-no-cudagraphs".
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerConfig = OptimizerConfig(),  # noqa: B008 (frozen: one shared default is safe)
        kl_schedule: KLScheduleKind = "constant",
        kl_beta: float = 1.0,
        kl_warmup_steps: int = 0,
        kl_cycle_steps: int = 10000,
        kl_cycle_ratio: float = 0.5,
        free_bits: float = 0.0,
        val_iwae_samples: int = 0,
        test_iwae_samples: int = 5000,
        iwae_max_rows: int = 50_000,
        active_unit_threshold: float = 0.01,
        num_images: int = 64,
        image_every_n_epochs: int = 1,
        init_from: str | None = None,
        lora: LoraConfig | None = None,
        compile: bool = False,
        compile_backend: str = "inductor",
        compile_mode: CompileMode = "default",
    ) -> None:
        super().__init__()
        if not isinstance(net, LatentVariableModel):
            raise TypeError(
                f"GenerativeTask: net {type(net).__name__} is not a zoo.models.latent.LatentVariableModel"
            )
        self.optimizer_config = OptimizerConfig.coerce(optimizer)
        if val_iwae_samples < 0 or test_iwae_samples < 0:
            raise ValueError(
                f"iwae samples must be >= 0, got val {val_iwae_samples}, test {test_iwae_samples}"
            )
        if num_images < 0 or image_every_n_epochs < 1:
            raise ValueError(
                f"need num_images >= 0 and image_every_n_epochs >= 1, got {num_images}, {image_every_n_epochs}"
            )
        self.save_hyperparameters(ignore=["net"])
        self.hparams["optimizer"] = (
            self.optimizer_config.to_dict()
        )  # plain types: loads with weights_only=True
        self.net = net
        self.kl_weighting = KLSchedule(
            kl_schedule, kl_beta, kl_warmup_steps, kl_cycle_steps, kl_cycle_ratio, free_bits
        )
        self.eval_metrics = nn.ModuleDict(
            {stage: nn.ModuleDict({term: MeanMetric() for term in _EVAL_TERMS}) for stage in ("val", "test")}
        )
        self.active_units = nn.ModuleDict(
            {stage: ActiveUnits(active_unit_threshold) for stage in ("val", "test")}
        )
        self._grid_inputs: dict[str, list[torch.Tensor]] = {}
        self.start_from_pretrained(init_from, lora)
        if compile:
            compile_in_place(net.compiled_networks(), compile_backend, compile_mode)

    # ----------------------------------------------------------------- training
    def on_train_batch_start(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        super().on_train_batch_start(batch, batch_idx)  # StepSeededRNG
        self._schedule_values = self.net.update_schedule(self.global_step)

    def objective(self, x: torch.Tensor, step: int) -> ELBOTerms:
        """The training objective at ``step`` on images x (B, C, H, W), with one training latent sample."""
        out = self.net(x)
        recon = -out.likelihood.log_prob(x)  # (B,) nats per image
        kl_units = self.net.kl(out.posterior)  # (B, U)
        weight = self.kl_weighting.weight(step)
        loss = recon.mean() + weight * self.kl_weighting.objective_kl(kl_units)
        return ELBOTerms(loss, recon, kl_units, weight)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = batch["x"]
        terms = self.objective(x, self.global_step)
        loss, recon, weight = terms.loss, terms.recon, terms.kl_weight
        kl = terms.kl_units.sum(-1).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss {loss.item()} at global step {self.global_step} (batch {batch_idx}): "
                f"reconstruction {recon.mean().item()}, KL {kl.item()}; lower the learning rate or enable "
                "gradient clipping (--trainer.gradient_clip_val)"
            )
        size = len(x)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        self.log_dict(
            {"train/neg_elbo": recon.mean() + kl, "train/recon": recon.mean(), "train/kl": kl},
            on_step=True,
            on_epoch=True,
            batch_size=size,
        )
        schedules = {"train/kl_weight": weight, **{f"train/{k}": v for k, v in self._schedule_values.items()}}
        self.log_dict(schedules, on_step=True, on_epoch=False, batch_size=size)
        return loss

    # ----------------------------------------------------------------- evaluation
    def _evaluate(
        self, batch: dict[str, torch.Tensor], batch_idx: int, stage: str, iwae_samples: int
    ) -> None:
        x = batch["x"]
        self.net.check_input(x)
        posterior = self.net.encode(x)
        z = posterior.sample()
        recon = -self.net.decode(z).log_prob(x)
        kl = self.net.kl(posterior).sum(-1)
        metrics = self.eval_metrics[stage]
        values = {"neg_elbo": recon + kl, "recon": recon, "kl": kl}
        if self.net.relaxed_latent:
            # The training objective's reconstruction (a relaxed sample at the current temperature) with the
            # exact KL: the figure Gumbel-Softmax papers report; not a bound of the discrete model.
            values["neg_elbo_relaxed"] = -self.net.decode(self.net.sample_latent(posterior)).log_prob(x) + kl
        if iwae_samples:
            values["nll_iwae"] = -iwae_log_likelihood(
                self.net, x, iwae_samples, self.hparams.iwae_max_rows, posterior
            )
        for term, value in values.items():
            metrics[term].update(value)
            self.log(f"{stage}/{term}", metrics[term], batch_size=len(x), prog_bar=term == "neg_elbo")
        self.active_units[stage].update(self.net.unit_means(posterior))
        self._collect_grid_inputs(stage, x)

    def _collect_grid_inputs(self, stage: str, x: torch.Tensor) -> None:
        """Keep a few images of every batch for the grid, so it spans the split (test files may be sorted by class)."""
        wanted = self.hparams.num_images
        kept = self._grid_inputs.setdefault(stage, [])
        have = sum(len(k) for k in kept)
        if have >= wanted:
            return
        batches = self.trainer.num_val_batches if stage == "val" else self.trainer.num_test_batches
        total = int(batches[0]) if batches and math.isfinite(batches[0]) else 1
        per_batch = max(1, math.ceil(wanted / max(total, 1)))
        kept.append(x[: min(per_batch, wanted - have)].detach())

    def _end_of_eval(self, stage: str) -> None:
        units = self.active_units[stage]
        if units.update_called:
            self.log(f"{stage}/active_units", units.compute())
            units.reset()
        kept = self._grid_inputs.pop(stage, None)
        inputs = torch.cat(kept) if kept else None
        due = stage == "test" or self.current_epoch % self.hparams.image_every_n_epochs == 0
        if inputs is None or not due or self.trainer.sanity_checking or not self.loggers:
            return
        if self.global_rank == 0:
            self._log_grids(stage, inputs)

    @torch.no_grad()
    def _log_grids(self, stage: str, inputs: torch.Tensor) -> None:
        recon = self.net.reconstruct(inputs).clamp(0, 1)
        # Rows of 8 inputs, each followed by the row of their reconstructions.
        n = (len(inputs) // 8) * 8 or len(inputs)
        per_row = min(8, n)
        pairs = torch.stack(
            [
                inputs[:n].reshape(-1, per_row, *inputs.shape[1:]),
                recon[:n].reshape(-1, per_row, *inputs.shape[1:]),
            ],
            dim=1,
        )
        log_image_grid(
            self.loggers,
            f"{stage}/reconstructions",
            make_grid(pairs.flatten(0, 2), nrow=per_row),
            self.global_step,
        )
        samples = self.net.generate(len(inputs)).clamp(0, 1)
        log_image_grid(self.loggers, f"{stage}/samples", make_grid(samples, nrow=8), self.global_step)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "val", self.hparams.val_iwae_samples)

    def on_validation_epoch_end(self) -> None:
        self._end_of_eval("val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "test", self.hparams.test_iwae_samples)

    def on_test_epoch_end(self) -> None:
        self._end_of_eval("test")

    def predict_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> torch.Tensor:
        """Reconstructions (the likelihood's mean at the posterior mode), (B, C, H, W)."""
        return self.net.reconstruct(batch["x"])

    # ----------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> dict[str, Any] | None:
        return configure_optimization(
            self.parameters(), self.optimizer_config, lambda: self.trainer.estimated_stepping_batches
        )
