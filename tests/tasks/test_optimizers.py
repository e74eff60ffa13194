"""The optimisers and schedules of ``model.optimizer``: each against its update rule on a small problem,
Schedule-Free's train / eval weights in a real fit, an EMA of the weights, and the errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint

import zoo
from tests.helpers import quiet_trainer
from zoo.data import TimeSeriesDataModule
from zoo.tasks import ForecastingTask
from zoo.tasks.optim import OptimizerConfig, build_optimizer, lr_lambda

START = torch.tensor([1.0, -2.0, 0.5])
TARGET = torch.tensor([0.3, 0.1, -0.4])


def _gradient(theta: torch.Tensor) -> torch.Tensor:
    """The gradient of f(theta) = 0.5 * |theta - TARGET|^2 + sum(theta^3) / 3 (curved, so moments matter)."""
    return theta - TARGET + theta**2


def _run(config: OptimizerConfig, steps: int = 4) -> torch.Tensor:
    """``steps`` optimiser steps on f from START; the parameter's value after them."""
    theta = torch.nn.Parameter(START.clone())
    optimizer = build_optimizer([theta], config)
    if hasattr(optimizer, "train"):
        optimizer.train()
    for _ in range(steps):
        theta.grad = _gradient(theta.detach())
        optimizer.step()
    return theta.detach()


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_with_momentum_follows_its_rule(nesterov: bool) -> None:
    lr, momentum, decay = 0.1, 0.9, 0.01
    theta, buffer = START.clone(), None
    for _ in range(4):
        grad = _gradient(theta) + decay * theta
        buffer = grad if buffer is None else momentum * buffer + grad
        theta = theta - lr * (grad + momentum * buffer if nesterov else buffer)
    config = OptimizerConfig(name="sgd", lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=decay)
    torch.testing.assert_close(_run(config), theta)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_and_adamw_follow_their_rules(name: str) -> None:
    lr, (beta1, beta2), decay, eps = 0.05, (0.8, 0.95), 0.1, 1e-8
    theta, m, v = START.clone(), torch.zeros(3), torch.zeros(3)
    for t in range(1, 5):
        grad = _gradient(theta) + (decay * theta if name == "adam" else 0.0)  # L2 in the gradient
        if name == "adamw":
            theta = theta * (1 - lr * decay)  # decoupled
        m, v = beta1 * m + (1 - beta1) * grad, beta2 * v + (1 - beta2) * grad**2
        theta = theta - lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)
    config = OptimizerConfig(name=name, lr=lr, betas=(beta1, beta2), weight_decay=decay)
    torch.testing.assert_close(_run(config), theta)


def test_lion_follows_its_rule() -> None:
    lr, (beta1, beta2), decay = 0.01, (0.9, 0.99), 0.5
    theta, m = START.clone(), torch.zeros(3)
    for _ in range(4):
        grad = _gradient(theta)
        theta = theta * (1 - lr * decay) - lr * torch.sign(beta1 * m + (1 - beta1) * grad)
        m = beta2 * m + (1 - beta2) * grad
    torch.testing.assert_close(_run(OptimizerConfig(name="lion", lr=lr, weight_decay=decay)), theta)
    assert OptimizerConfig(name="lion").to_dict()["betas"] is None  # the paper's (0.9, 0.99) by default


def test_schedule_free_adamw_follows_the_papers_rule() -> None:
    """Defazio et al. 2024, Algorithm 1 with AdamW's second moment: gradients at y = (1 - b1) z + b1 x, z the
    base sequence, x the average weighted by lr^2 (c = 1 / (t + 1) at a constant rate); eval weights are x."""
    lr, (beta1, beta2), decay, eps = 0.05, (0.9, 0.999), 0.01, 1e-8
    z, x, y, v = START.clone(), START.clone(), START.clone(), torch.zeros(3)
    for k in range(4):
        grad = _gradient(y)
        z = z - lr * decay * y
        v = beta2 * v + (1 - beta2) * grad**2
        z = z - lr * grad / ((v / (1 - beta2 ** (k + 1))).sqrt() + eps)
        c = 1.0 / (k + 1)
        x = (1 - c) * x + c * z
        y = beta1 * x + (1 - beta1) * z
    config = OptimizerConfig(name="schedule_free_adamw", lr=lr, weight_decay=decay)
    theta = torch.nn.Parameter(START.clone())
    optimizer = build_optimizer([theta], config)
    optimizer.train()
    for _ in range(4):
        theta.grad = _gradient(theta.detach())
        optimizer.step()
    torch.testing.assert_close(theta.detach(), y, rtol=1e-5, atol=1e-6)  # train mode: the gradient point
    optimizer.eval()
    torch.testing.assert_close(theta.detach(), x, rtol=1e-5, atol=1e-6)  # eval mode: the average


def _data() -> TimeSeriesDataModule:
    dm = TimeSeriesDataModule("synthetic", seq_len=48, label_len=0, pred_len=12, batch_size=64)
    dm.setup()
    return dm


def _task(dm: TimeSeriesDataModule, **optimizer: object) -> ForecastingTask:
    torch.manual_seed(0)
    net = zoo.create_model("dlinear", n_features=dm.n_features, seq_len=dm.seq_len, pred_len=dm.pred_len)
    return ForecastingTask(net, optimizer=optimizer, plot_windows=0)


def test_schedule_free_validates_and_checkpoints_its_average(tmp_path: Path) -> None:
    dm = _data()
    task = _task(dm, name="schedule_free_adamw", lr=0.01, warmup_steps=3)
    seen: list[bool] = []

    class Watch(Callback):
        def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
            seen.append(trainer.optimizers[0].param_groups[0]["train_mode"])

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            seen.append(trainer.optimizers[0].param_groups[0]["train_mode"])

    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = quiet_trainer(
        max_epochs=2,
        limit_train_batches=4,
        limit_val_batches=2,
        enable_checkpointing=True,
        callbacks=[Watch(), checkpoint],
    )
    trainer.fit(task, datamodule=dm)
    optimizer = trainer.optimizers[0]
    assert seen.count(True) == 8 and seen.count(False) == 6  # 8 training steps; 3 validations of 2 batches
    assert not optimizer.param_groups[0]["train_mode"]
    averages = [parameter.detach().clone() for parameter in task.parameters()]
    optimizer.train()  # back to the gradient point y = b1 x + (1 - b1) z: so the module held x
    for parameter, x in zip(task.parameters(), averages, strict=True):
        z = optimizer.state[parameter]["z"]
        torch.testing.assert_close(parameter.detach(), 0.9 * x + 0.1 * z, rtol=1e-5, atol=1e-6)
    optimizer.eval()
    saved = torch.load(checkpoint.last_model_path, weights_only=False)["state_dict"]
    for name, parameter in task.named_parameters():
        torch.testing.assert_close(saved[name], parameter.detach())
    assert saved and trainer.lr_scheduler_configs == []  # no schedule beside it


def test_an_ema_of_the_weights_is_validated_and_checkpointed(tmp_path: Path) -> None:
    dm = _data()
    task = _task(dm, lr=0.05)
    ema = EMAWeightAveraging(decay=0.5)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = quiet_trainer(
        max_epochs=1,
        limit_train_batches=5,
        limit_val_batches=1,
        enable_checkpointing=True,
        callbacks=[ema, checkpoint],
    )
    trainer.fit(task, datamodule=dm)
    averaged = dict(ema._average_model.module.named_parameters())
    saved = torch.load(checkpoint.last_model_path, weights_only=False)["state_dict"]
    for name, parameter in task.named_parameters():
        torch.testing.assert_close(parameter.detach(), averaged[name].detach())  # the module ends on the EMA
        torch.testing.assert_close(saved[name], averaged[name].detach())


def test_onecycle_is_torchs_one_cycle() -> None:
    config = OptimizerConfig(lr=0.1, lr_schedule="onecycle", onecycle_pct_start=0.25)
    multiplier, interval = lr_lambda("onecycle", 40, config=config)
    assert interval == "step"
    theta = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([theta], lr=0.1)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, total_steps=40, pct_start=0.25, cycle_momentum=False
    )
    for step in range(40):
        assert 0.1 * multiplier(step) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-9)
        optimizer.step()
        reference.step()


@pytest.mark.parametrize("shape", ["linear", "sqrt"])
def test_wsd_warms_up_holds_and_decays(shape: str) -> None:
    config = OptimizerConfig(
        lr_schedule="wsd", warmup_steps=4, decay_fraction=0.25, min_lr_ratio=0.1, decay_shape=shape
    )
    multiplier, _ = lr_lambda("wsd", 40, warmup_steps=4, min_lr_ratio=0.1, config=config)
    values = [multiplier(step) for step in range(40)]
    assert values[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert values[4:30] == pytest.approx([1.0] * 26)  # stable until the last 10 steps
    fall = [(k + 1) / 10 for k in range(10)]
    expected = [1 - 0.9 * (f if shape == "linear" else math.sqrt(f)) for f in fall]
    assert values[30:] == pytest.approx(expected)
    assert values[-1] == pytest.approx(0.1)


def test_every_optimizer_trains_a_forecaster() -> None:
    dm = _data()
    for name, lr in (
        ("sgd", 0.05),
        ("adam", 0.01),
        ("adamw", 0.01),
        ("lion", 0.001),
        ("schedule_free_adamw", 0.01),
    ):
        options = {"momentum": 0.9, "nesterov": True} if name == "sgd" else {}
        task = _task(dm, name=name, lr=lr, **options)
        judge = quiet_trainer(limit_val_batches=2, inference_mode=False)
        before = judge.validate(task, datamodule=dm, verbose=False)[0]["val/loss"]
        quiet_trainer(max_epochs=2, limit_train_batches=10, limit_val_batches=2).fit(task, datamodule=dm)
        after = judge.validate(task, datamodule=dm, verbose=False)[0]["val/loss"]
        assert after < before, name


def test_optimizer_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="optimizer.name"):
        OptimizerConfig(name="adagrad")
    with pytest.raises(ValueError, match="schedule_free_adamw replaces the schedule"):
        OptimizerConfig(name="schedule_free_adamw", lr_schedule="cosine")
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        OptimizerConfig(name="sgd", nesterov=True)
    with pytest.raises(ValueError, match="momentum / nesterov are SGD's"):
        OptimizerConfig(name="adam", momentum=0.9)
    with pytest.raises(ValueError, match="betas do not apply to sgd"):
        OptimizerConfig(name="sgd", betas=(0.9, 0.99))
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\)"):
        OptimizerConfig(name="adam", betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="onecycle rises over onecycle_pct_start"):
        OptimizerConfig(lr_schedule="onecycle", warmup_steps=10)
    with pytest.raises(ValueError, match=r"decay_fraction must lie in \(0, 1\]"):
        OptimizerConfig(lr_schedule="wsd", decay_fraction=0.0)
    assert OptimizerConfig.coerce({"name": "adam", "betas": [0.8, 0.9]}).betas == (0.8, 0.9)  # a YAML list
