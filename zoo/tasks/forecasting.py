"""``ForecastingTask``: the one training loop for every forecaster.

Owns the loss (MSE / MAE / Huber, or the scale-free sMAPE / MASE / MAPE of N-BEATS), optimiser and
learning-rate schedule, and the metrics of the long-horizon literature: MSE and MAE on the standardised scale (the scale Informer / TSLib tables report) and on the
original scale (``*_orig``, via the train-row scaler copied from the datamodule into buffers, so a
checkpoint can predict in original units on its own).

Logged names: ``train/loss``, ``val/loss``, ``val/mse``, ``val/mae``, ``test/mse``, ``test/mae``,
``test/mse_orig``, ``test/mae_orig``, ``test/windows``, per target channel ``test/mse_orig/<column>`` and
``test/mae_orig/<column>`` (one number averaged over channels in different units misleads), and a
``test/forecasts`` figure of a few test windows (``plot_windows``). Batches of a long-format panel carry
each window's own ``target_mean`` / ``target_std`` (B, C_out), which then take the place of the buffers. A model from ``zoo.create_model("<name>.<tag>", pretrained=True)`` brings its
scaler statistics, and ``init_from`` loads them with the weights. ``predict_step`` returns forecasts in original
units, (B, P, C_out).

A probabilistic net (built with ``distribution="quantile" | "normal" | "student_t"``,
:mod:`zoo.layers.distribution_heads`) trains on its pinball loss or negative log-likelihood; its point
forecast (the median) gives the MSE / MAE above, and it adds ``val/pinball``, ``val/crps``,
``val/coverage`` and ``val/width`` (of the central ``interval``), the same under ``test/`` on the
standardised scale, ``test/pinball_orig``, ``test/crps_orig``, ``test/width_orig`` in original units, and
per target channel ``test/<score>_orig/<column>`` and ``test/coverage/<column>`` (:mod:`zoo.scoring`).
The test plot shades the interval.

Panels of univariate series (M4, ``zoo.data.m4``) add keys to the batch, and the task uses them when
present: ``x_mask`` / ``y_mask`` (B, L, 1) / (B, P, 1) mark left padding of short histories and targets
past a series' end (losses and metrics skip them; ``x_mask`` is passed to nets whose ``forward`` takes
it), ``mase_scale`` (B,) is the MASE denominator (needed by ``loss="mase"``; with it ``val/smape``,
``val/mase``, ``test/smape`` and ``test/mase`` are logged, in original units: panels are not scaled),
and ``naive2`` (B, P, 1), the official Naive2 forecasts, adds ``test/owa`` (``zoo.metrics``).

The optimiser and learning-rate schedule (``constant``, ``cosine``, ``step``, ``type1``) are one
:class:`zoo.tasks.optim.OptimizerConfig` (``model.optimizer.*`` in configs), shared with ``GenerativeTask``.

Exact resumption: under ``seed_everything`` the global torch RNG is re-seeded before every training
step from (seed, global step, rank), so dropout masks depend on the step, not on the process history
(Lightning does not checkpoint RNG states, and data-loader set-up draws from them differently after a
restart); with the data layer's ``EpochShuffleSampler`` a run resumed from a checkpoint ends with the
same weights as an uninterrupted one. Evaluation batches are re-seeded from (seed, batch index, rank)
the same way (:class:`zoo.tasks.optim.StepSeededRNG`), so Informer's random key samples give the same
test metrics in every process with the same seed.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, MetricCollection

from zoo.adapters.lora import LoraConfig
from zoo.choices import check_choice
from zoo.distributions import Prediction, central_levels
from zoo.hub import ArchitectureMismatchError
from zoo.metrics import M4Scores, mape, mase, smape
from zoo.precision import at_least_float32
from zoo.tasks.checkpoints import PretrainedTaskMixin
from zoo.tasks.compiling import CompileMode, compile_in_place
from zoo.tasks.forecast_plots import plot_forecast_windows
from zoo.tasks.media import log_figure
from zoo.tasks.optim import OptimizerConfig, OptimizerModes, StepSeededRNG, configure_optimization
from zoo.tasks.probabilistic import (
    ProbabilisticScores,
    as_float32,
    batch_scores,
    interval_bounds,
    net_distribution,
    resolve_loss,
    scored_levels,
)

LossName = Literal["mse", "mae", "huber", "smape", "mase", "mape", "quantile", "normal", "student_t"]


def _metric_pair(prefix: str, suffix: str = "") -> MetricCollection:
    return MetricCollection(
        {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}, prefix=prefix, postfix=suffix
    )


class ForecastingTask(OptimizerModes, StepSeededRNG, PretrainedTaskMixin, pl.LightningModule):
    """Train, evaluate and predict with any forecaster ``net(x, x_mark, y_mark) -> (B, P, C_out)``.

    Args:
        net: a forecaster (``zoo.create_model(...)``, a registry name or a ``class_path`` in a config); it
            must expose ``n_features``, ``n_targets``, ``seq_len`` and ``pred_len`` (every ``zoo.models.Forecaster`` does).
        loss: the training loss: "mse", "mae", "huber" (on the standardised scale) or the scale-free
            "smape", "mase" (needs ``mase_scale`` in the batch) and "mape" of N-BEATS; for a net built with
            ``distribution="quantile"`` / "normal" / "student_t" its own pinball loss or negative
            log-likelihood, named by the same word (None: that, or "mse" for point forecasters).
        huber_delta: the threshold of the Huber loss.
        interval: the nominal coverage of the central prediction interval whose coverage and width a
            probabilistic net logs (0.8: the 0.1 and 0.9 quantiles, which a quantile net must predict).
        optimizer: the optimiser and learning-rate schedule (:class:`zoo.tasks.optim.OptimizerConfig`).
        init_from: a pretrained name or directory (:mod:`zoo.hub`) whose weights (RevIN's included) and
            target scaler statistics the task starts from; for fine-tuning.
        lora: fine-tune through a LoRA adapter (``zoo.adapters.LoraConfig``) instead of all weights.
        plot_windows: test windows (history, truth, forecast) plotted to the loggers at the end of testing
            as ``test/forecasts`` (W&B image, TensorBoard image, or a PNG beside the CSV logs); 0: none.
        compile: compile the net with ``torch.compile`` for training and evaluation
            (:mod:`zoo.tasks.compiling`; same weights and checkpoints as eager).
        compile_backend: the ``torch.compile`` backend ("inductor"; "aot_eager" or "eager" to debug).
        compile_mode: Inductor's mode: "default", "reduce-overhead" (CUDA graphs), "max-autotune" or
            "max-autotune-no-cudagraphs".
    """

    def __init__(
        self,
        net: nn.Module,
        loss: LossName | None = None,
        huber_delta: float = 1.0,
        interval: float = 0.8,
        optimizer: OptimizerConfig = OptimizerConfig(),  # noqa: B008 (frozen: one shared default is safe)
        init_from: str | None = None,
        lora: LoraConfig | None = None,
        plot_windows: int = 4,
        compile: bool = False,
        compile_backend: str = "inductor",
        compile_mode: CompileMode = "default",
    ) -> None:
        super().__init__()
        missing = [a for a in ("n_features", "n_targets", "seq_len", "pred_len") if not hasattr(net, a)]
        if missing:
            raise TypeError(
                f"ForecastingTask: net {type(net).__name__} lacks attribute(s) {missing}; "
                "subclass zoo.models.Forecaster"
            )
        if loss is not None:
            check_choice("loss", loss, LossName)
        self.loss_name = resolve_loss(loss, net)
        central_levels(interval)  # a clear error for an interval outside (0, 1), whatever the net
        self.probabilistic = net_distribution(net) != "point"
        self.optimizer_config = OptimizerConfig.coerce(optimizer)
        self.save_hyperparameters(ignore=["net"])
        self.hparams["optimizer"] = (
            self.optimizer_config.to_dict()
        )  # plain types: loads with weights_only=True
        self.net = net
        # Train-row statistics of the target channels (original = scaled * std + mean); set in setup().
        self.register_buffer("target_mean", torch.zeros(net.n_targets))
        self.register_buffer("target_std", torch.ones(net.n_targets))
        pretrained = self.start_from_pretrained(init_from, lora) or getattr(net, "pretrained_config", None)
        self.pretrained_record = pretrained  # what the model was trained on (columns, scaler), or None
        scaler = pretrained.scaler("target") if pretrained is not None else None
        if scaler is not None and scaler.n_channels == net.n_targets:  # so predict needs no training data
            self.target_mean.copy_(torch.as_tensor(scaler.mean, dtype=self.target_mean.dtype))
            self.target_std.copy_(torch.as_tensor(scaler.std, dtype=self.target_std.dtype))
        self.val_metrics = _metric_pair("val/")
        # the window-weighted mean over every process: unequal DDP shards (zoo.data.sampling) stay exact,
        # where Lightning's sync_dist would average the processes' means unweighted
        self.val_loss = MeanMetric(nan_strategy="disable")  # a diverged model's NaN loss must show
        self.test_metrics = _metric_pair("test/")
        self.test_metrics_orig = _metric_pair("test/", "_orig")
        self.test_channel_metrics = MetricCollection(
            {
                "mse": MeanSquaredError(num_outputs=net.n_targets),
                "mae": MeanAbsoluteError(num_outputs=net.n_targets),
            }
        )
        recorded = (pretrained.preprocessing if pretrained is not None else {}).get("target_columns")
        self.channel_names: list[str] = (
            [str(c) for c in recorded]
            if isinstance(recorded, list) and len(recorded) == net.n_targets
            else [f"c{i}" for i in range(net.n_targets)]
        )
        self.val_scores, self.test_scores = M4Scores(), M4Scores()
        if self.probabilistic:
            self.interval_bounds = interval_bounds(net, interval)
            self.scored_levels = scored_levels(net, interval)
            self.val_probabilistic = ProbabilisticScores(net.n_targets)
            self.test_probabilistic = ProbabilisticScores(net.n_targets)
            self.test_probabilistic_orig = ProbabilisticScores(net.n_targets)
        self._net_takes_mask = "x_mask" in inspect.signature(net.forward).parameters
        if plot_windows < 0:
            raise ValueError(f"plot_windows must be >= 0, got {plot_windows}")
        self._plot_windows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        if compile:
            compile_in_place(net.compiled_networks(), compile_backend, compile_mode)

    # ----------------------------------------------------------------- data coupling
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None or not hasattr(datamodule, "target_scaler"):
            return
        net = self.net
        self._check_columns(datamodule)
        for name in ("n_features", "n_targets", "seq_len", "pred_len"):
            if getattr(datamodule, name) != getattr(net, name):
                raise ValueError(
                    f"ForecastingTask: data.{name}={getattr(datamodule, name)} but "
                    f"net.{name}={getattr(net, name)}; build the net from the datamodule's values"
                )
        if len(datamodule.target_columns) == net.n_targets:
            self.channel_names = [str(c) for c in datamodule.target_columns]
        scaler = datamodule.target_scaler
        if scaler is None:  # a long-format panel: every batch carries its series' statistics
            return
        self.target_mean.copy_(torch.as_tensor(scaler.mean, dtype=self.target_mean.dtype))
        self.target_std.copy_(torch.as_tensor(scaler.std, dtype=self.target_std.dtype))

    def _check_columns(self, datamodule: Any) -> None:
        """A model started from a pretrained one must see the channels it was trained on, by name."""
        config = self.pretrained_record
        trained = config.preprocessing if config is not None else {}
        if not trained.get("input_columns") or not hasattr(datamodule, "input_columns"):
            return
        inputs = [str(c) for c in trained["input_columns"]]
        if sorted(inputs) == sorted(map(str, datamodule.input_columns)) and hasattr(
            datamodule, "align_columns"
        ):
            datamodule.align_columns(inputs)  # the same channels in another order: take the model's order
        for what in ("input", "target"):
            expected = [str(c) for c in trained.get(f"{what}_columns") or []]
            actual = [str(c) for c in getattr(datamodule, f"{what}_columns")]
            if not expected or expected == actual:
                continue
            missing = [c for c in expected if c not in actual]
            extra = [c for c in actual if c not in expected]
            detail = (
                f"missing {missing}, extra {extra}"
                if missing or extra
                else f"the same columns in another order: pass data.columns={expected}"
            )
            raise ArchitectureMismatchError(
                f"{config.name or 'the pretrained model'} was trained on {what} columns {expected}, the data "
                f"({datamodule.dataset}) has {actual}: {detail}. Give data.columns / data.target so that the "
                "data has the model's columns, or train a new model"
            )

    def to_original_scale(
        self, values: torch.Tensor, batch: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Map standardised targets (B, P, C_out) back to original units, with the batch's own per-series
        statistics when it carries them (long-format panels), else the train-row scaler's."""
        mean, std = self.target_statistics(values, batch)
        return values * std + mean

    def target_statistics(
        self, values: torch.Tensor, batch: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The (mean, std) that map standardised ``values`` (B, P, C_out) to original units, each broadcastable
        to them: the batch's per-series statistics (B, 1, C_out) when it has them, else the scaler's (C_out,)."""
        if batch is not None and "target_std" in batch:
            std = batch["target_std"][: len(values)].to(values.dtype).unsqueeze(-2)
            mean = batch["target_mean"][: len(values)].to(values.dtype).unsqueeze(-2)
            return mean, std
        return self.target_mean.to(values.dtype), self.target_std.to(values.dtype)

    # ----------------------------------------------------------------- forward and loss
    def forward(
        self,
        x: torch.Tensor,
        x_mark: torch.Tensor | None = None,
        y_mark: torch.Tensor | None = None,
        x_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Standardised forecast (B, P, C_out) of standardised x (B, L, C_in); ``x_mask`` see module docs."""
        extra = {"x_mask": x_mask} if x_mask is not None and self._net_takes_mask else {}
        return self.net(x, x_mark, y_mark, **extra)

    def _forecast(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The net's forecast in float32: under bf16/fp16 autocast (``--trainer.precision bf16-mixed``) the net
        computes in low precision, while the loss, the metrics and the inverse scaling stay fp32."""
        pred = self(batch["x"], batch.get("x_mark"), batch.get("y_mark"), batch.get("x_mask"))
        return at_least_float32(pred)

    def _predict(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Prediction | None]:
        """The point forecast (B, P, C_out) and, for a probabilistic net, its whole prediction (float32)."""
        if not self.probabilistic:
            return self._forecast(batch), None
        extra = {"x_mask": batch["x_mask"]} if "x_mask" in batch and self._net_takes_mask else {}
        prediction = self.net.predict_distribution(
            batch["x"], batch.get("x_mark"), batch.get("y_mark"), **extra
        )
        prediction = as_float32(prediction)
        return prediction.point, prediction

    def _loss(
        self, pred: torch.Tensor, batch: dict[str, torch.Tensor], prediction: Prediction | None = None
    ) -> torch.Tensor:
        """The training loss of ``pred`` (or of the probabilistic ``prediction``) against ``batch["y"]``, over
        the valid steps of ``y_mask``."""
        target, mask = batch["y"], batch.get("y_mask")
        if prediction is not None:
            return prediction.loss(target, mask)
        name = self.loss_name
        if name in ("smape", "mape", "mase"):
            # Per series over the horizon (B, C_out series), then the mean: the N-BEATS losses.
            f, y = pred.transpose(1, 2), target.transpose(1, 2)
            m = None if mask is None else mask.to(pred.dtype).expand_as(pred).transpose(1, 2)
            if name == "smape":
                return smape(f, y, m, detach_denominator=True)
            if name == "mape":
                return mape(f, y, m)
            if "mase_scale" not in batch:
                raise KeyError(
                    "loss='mase' needs 'mase_scale' in the batch (panel datasets such as M4 provide it)"
                )
            scale = batch["mase_scale"].to(pred.dtype).reshape(-1, 1).expand(-1, f.shape[1])
            return mase(f, y, scale, m)
        if name == "mse":
            errors = F.mse_loss(pred, target, reduction="none")
        elif name == "mae":
            errors = F.l1_loss(pred, target, reduction="none")
        else:
            errors = F.huber_loss(pred, target, delta=self.hparams.huber_delta, reduction="none")
        if mask is None:
            return errors.mean()
        mask = mask.to(errors.dtype).expand_as(errors)
        return (errors * mask).sum() / mask.sum().clamp_min(1.0)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        pred, prediction = self._predict(batch)
        loss = self._loss(pred, batch, prediction)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss {loss.item()} at global step {self.global_step} (batch {batch_idx}); "
                "lower the learning rate, enable gradient clipping, or check the data for extreme values"
            )
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(pred))
        return loss if pred.requires_grad else None  # parameter-free nets (naive) have nothing to optimise

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        pred, prediction = self._predict(batch)
        self.val_loss.update(self._loss(pred, batch, prediction).detach(), weight=len(pred))
        if prediction is not None:
            self.val_probabilistic.update(**self._scores(prediction, batch["y"], batch.get("y_mask")))
        self.log("val/loss", self.val_loss, prog_bar=True, batch_size=len(pred))
        self.val_metrics.update(pred.reshape(-1), batch["y"].reshape(-1))
        self.log_dict(self.val_metrics, batch_size=len(pred))
        if "mase_scale" in batch:
            self.val_scores.update(pred, batch["y"], batch["mase_scale"])

    def on_validation_epoch_end(self) -> None:
        self._log_scores(self.val_scores, "val/")
        if self.probabilistic:
            self._log_probabilistic(self.val_probabilistic, "val/")

    def _scores(
        self, prediction: Prediction, target: torch.Tensor, mask: torch.Tensor | None
    ) -> dict[str, torch.Tensor | None]:
        """What :class:`zoo.tasks.probabilistic.ProbabilisticScores` takes for one batch (``mask``: the
        batch's ``y_mask``, or None)."""
        scores = batch_scores(prediction, target, self.scored_levels, self.interval_bounds)
        return {**vars(scores), "target": target, "mask": mask}

    def _log_probabilistic(self, scores: ProbabilisticScores, prefix: str, suffix: str = "") -> None:
        """Log pinball, CRPS, coverage and width averaged over channels; with ``suffix`` (the original scale)
        the means of the unit-bearing scores and every score per channel (coverage, scale-free, unsuffixed),
        then reset."""
        if not scores.count:
            return
        for name, values in scores.compute().items():
            if not suffix:
                self.log(f"{prefix}{name}", values.mean().float())
                continue
            unit = "" if name == "coverage" else suffix
            if unit:
                self.log(f"{prefix}{name}{unit}", values.mean().float())
            for channel, value in zip(self.channel_names, values.reshape(-1), strict=True):
                self.log(f"{prefix}{name}{unit}/{channel}", value.float())
        scores.reset()

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        pred, prediction = self._predict(batch)
        self.test_metrics.update(pred.reshape(-1), batch["y"].reshape(-1))
        pred_orig, y_orig = self.to_original_scale(pred, batch), self.to_original_scale(batch["y"], batch)
        self.test_metrics_orig.update(pred_orig.reshape(-1), y_orig.reshape(-1))
        self.test_channel_metrics.update(
            pred_orig.reshape(-1, pred.shape[-1]).float(), y_orig.reshape(-1, pred.shape[-1]).float()
        )
        self.log_dict(self.test_metrics, batch_size=len(pred))
        self.log_dict(self.test_metrics_orig, batch_size=len(pred))
        self.log("test/windows", float(len(pred)), reduce_fx="sum", batch_size=1, sync_dist=True)
        if "mase_scale" in batch:
            self.test_scores.update(pred, batch["y"], batch["mase_scale"], batch.get("naive2"))
        if prediction is not None:
            self.test_probabilistic.update(**self._scores(prediction, batch["y"], batch.get("y_mask")))
            in_units = prediction.rescaled(*self.target_statistics(pred, batch))
            self.test_probabilistic_orig.update(**self._scores(in_units, y_orig, batch.get("y_mask")))
        self._collect_plot_window(batch, pred, batch_idx, prediction)

    def on_test_epoch_end(self) -> None:
        self._log_scores(self.test_scores, "test/")
        if self.probabilistic:
            self._log_probabilistic(self.test_probabilistic, "test/")
            self._log_probabilistic(self.test_probabilistic_orig, "test/", "_orig")
        if self.test_channel_metrics["mse"].update_count:
            for metric, values in self.test_channel_metrics.compute().items():
                for name, value in zip(self.channel_names, values.reshape(-1), strict=True):
                    self.log(f"test/{metric}_orig/{name}", value.float())
        self.test_channel_metrics.reset()
        if self._plot_windows and self.trainer.is_global_zero and self.loggers:
            history, truth, forecast, *band = (
                torch.cat(parts) for parts in zip(*self._plot_windows, strict=True)
            )
            coverage = (
                f"{round(100 * (self.interval_bounds[1] - self.interval_bounds[0]), 6):g}% interval"
                if band
                else ""
            )
            figure = plot_forecast_windows(
                history,
                truth,
                forecast,
                max_windows=self.hparams.plot_windows,
                band=(band[0], band[1]) if band else None,
                band_label=coverage,
            )
            log_figure(self.loggers, "test/forecasts", figure, self.global_step)
        self._plot_windows = []

    def _collect_plot_window(
        self,
        batch: dict[str, torch.Tensor],
        pred: torch.Tensor,
        batch_idx: int,
        prediction: Prediction | None = None,
    ) -> None:
        """Keep the first window of batches spread over the test split, in original units, for the plot."""
        wanted = self.hparams.plot_windows
        if wanted == 0 or len(self._plot_windows) >= wanted:
            return
        batches = self.trainer.num_test_batches[0]
        stride = max(1, int(batches) // wanted) if math.isfinite(batches) else 1
        if batch_idx % stride:
            return
        targets = pred.shape[-1]
        parts = [batch["x"][..., -targets:], batch["y"], pred]
        if prediction is not None:
            bounds = prediction.quantiles(self.interval_bounds)
            parts += [bounds[..., 0], bounds[..., 1]]
        self._plot_windows.append(
            tuple(self.to_original_scale(t[:1].detach().float(), batch).cpu() for t in parts)
        )

    def _log_scores(self, scores: M4Scores, prefix: str) -> None:
        """Log sMAPE / MASE (/ OWA) of the panel windows seen this epoch, then reset."""
        if scores.update_count == 0:
            return
        for name, value in scores.compute().items():
            self.log(f"{prefix}{name}", value.float())
        scores.reset()

    def predict_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> torch.Tensor:
        """Forecast in original units, (B, P, C_out); for a probabilistic net (B, P, C_out, 1 + Q): the point
        forecast, then its quantiles at the logged levels (``scored_levels``: a quantile net's own, else the
        interval's bounds and the median), which ``train.py predict`` writes as ``<target>_q<level>`` columns."""
        point, prediction = self._predict(batch)
        if prediction is None:
            return self.to_original_scale(point, batch)
        in_units = prediction.rescaled(*self.target_statistics(point, batch))
        return torch.cat([in_units.point.unsqueeze(-1), in_units.quantiles(self.scored_levels)], dim=-1)

    # ----------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> dict[str, Any] | None:
        return configure_optimization(
            self.parameters(), self.optimizer_config, lambda: self.trainer.estimated_stepping_batches
        )
