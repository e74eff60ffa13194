"""ForecastingTask: logged metric names and values, original-unit predictions, RevIN, schedules, errors."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback

import zoo
from tests.helpers import quiet_trainer
from zoo.data import TimeSeriesDataModule
from zoo.layers.revin import RevIN
from zoo.models.base import Forecaster
from zoo.tasks import ForecastingTask, OptimizerConfig


def _data(**kwargs) -> TimeSeriesDataModule:
    dm = TimeSeriesDataModule(
        **{"dataset": "synthetic", "seq_len": 48, "label_len": 24, "pred_len": 12, "batch_size": 64, **kwargs}
    )
    dm.setup()
    return dm


def _task(dm: TimeSeriesDataModule, name: str = "gru", **kwargs) -> ForecastingTask:
    net_kwargs = {"hidden_size": 16, "num_layers": 1} if name != "naive" else {}
    net = zoo.create_model(
        name,
        n_features=dm.n_features,
        n_targets=dm.n_targets,
        seq_len=dm.seq_len,
        pred_len=dm.pred_len,
        label_len=dm.label_len,
        n_time_features=dm.n_time_features,
        **net_kwargs,
    )
    return ForecastingTask(net, **kwargs)


def _trainer(**kwargs) -> pl.Trainer:
    return quiet_trainer(**{"max_epochs": 1, **kwargs})


def test_logged_metrics_match_an_independent_computation() -> None:
    pl.seed_everything(0)
    dm = _data(features="MS")
    task = _task(dm)
    trainer = _trainer(limit_train_batches=5)
    trainer.fit(task, datamodule=dm)
    assert {"train/loss_epoch", "val/loss", "val/mse", "val/mae"} <= set(trainer.callback_metrics)
    results = trainer.test(task, datamodule=dm, verbose=False)[0]
    assert set(results) == {
        "test/mse",
        "test/mae",
        "test/mse_orig",
        "test/mae_orig",
        "test/windows",
        "test/mse_orig/OT",
        "test/mae_orig/OT",
    }
    assert results["test/windows"] == dm.num_windows["test"]
    task.eval()
    preds, targets = [], []
    with torch.no_grad():
        for batch in dm.test_dataloader():
            preds.append(task(batch["x"], batch["x_mark"], batch["y_mark"]))
            targets.append(batch["y"])
    pred, target = torch.cat(preds), torch.cat(targets)
    assert results["test/mse"] == pytest.approx(F.mse_loss(pred, target).item(), rel=1e-5)
    assert results["test/mae"] == pytest.approx(F.l1_loss(pred, target).item(), rel=1e-5)
    inv = dm.target_scaler.inverse_transform
    assert results["test/mse_orig"] == pytest.approx(F.mse_loss(inv(pred), inv(target)).item(), rel=1e-5)
    assert results["test/mae_orig"] == pytest.approx(F.l1_loss(inv(pred), inv(target)).item(), rel=1e-5)
    assert results["test/mse_orig/OT"] == pytest.approx(results["test/mse_orig"], rel=1e-5)  # one target

    # predict: the future after the last row, in original units; no training data needed after fit
    predicted = torch.cat(trainer.predict(task, datamodule=dm))
    future = dm.future_windows().batch
    with torch.no_grad():
        by_hand = inv(task(future["x"], future["x_mark"], future["y_mark"]))
    assert predicted.shape == (1, dm.pred_len, 1)
    torch.testing.assert_close(predicted, by_hand, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(task.target_mean, torch.as_tensor(dm.target_scaler.mean, dtype=torch.float32))


def test_per_channel_test_metrics_are_in_each_channels_units() -> None:
    pl.seed_everything(0)
    dm = _data(features="M")
    task = _task(dm)
    results = _trainer(limit_train_batches=2).test(task, datamodule=dm, verbose=False)[0]
    task.eval()
    preds, targets = [], []
    with torch.no_grad():
        for batch in dm.test_dataloader():
            preds.append(
                dm.target_scaler.inverse_transform(task(batch["x"], batch["x_mark"], batch["y_mark"]))
            )
            targets.append(dm.target_scaler.inverse_transform(batch["y"]))
    pred, target = torch.cat(preds), torch.cat(targets)
    for c, name in enumerate(dm.target_columns):
        assert results[f"test/mse_orig/{name}"] == pytest.approx(
            F.mse_loss(pred[..., c], target[..., c]).item(), rel=1e-4
        )
        assert results[f"test/mae_orig/{name}"] == pytest.approx(
            F.l1_loss(pred[..., c], target[..., c]).item(), rel=1e-4
        )


def test_naive_task_runs_without_an_optimizer() -> None:
    dm = _data()
    task = _task(dm, "naive")
    trainer = _trainer(limit_train_batches=2)
    trainer.fit(task, datamodule=dm)
    results = trainer.test(task, datamodule=dm, verbose=False)[0]
    assert results["test/mse"] > 0


def test_revin_round_trip_and_scale_invariance() -> None:
    revin = RevIN(3)
    x = torch.randn(4, 20, 3) * 5 + 2
    normed, stats = revin.normalize(x)
    torch.testing.assert_close(normed.mean(1), torch.zeros(4, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(revin.denormalize(normed, stats), x, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(revin.denormalize(normed[..., -1:], stats), x[..., -1:], atol=1e-4, rtol=1e-4)
    task = ForecastingTask(
        zoo.create_model("gru", n_features=3, seq_len=20, pred_len=5, hidden_size=8, revin=True)
    ).eval()
    # with RevIN, shifting and scaling the input window shifts and scales the forecast the same way
    torch.testing.assert_close(task(x * 3 + 7), task(x) * 3 + 7, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "loss, fn",
    [("mse", F.mse_loss), ("mae", F.l1_loss), ("huber", lambda a, b: F.huber_loss(a, b, delta=0.5))],
)
def test_losses(loss: str, fn) -> None:
    task = ForecastingTask(
        zoo.create_model("naive", n_features=2, seq_len=4, pred_len=3), loss=loss, huber_delta=0.5
    )
    a, b = torch.randn(2, 3, 2), torch.randn(2, 3, 2)
    torch.testing.assert_close(task._loss(a, {"y": b}), fn(a, b))
    # A y_mask drops the masked steps: the loss equals the one over the valid steps alone.
    mask = torch.ones(2, 3, 1)
    mask[1, 2:] = 0
    valid = mask.expand_as(a).bool()
    torch.testing.assert_close(task._loss(a, {"y": b, "y_mask": mask}), fn(a[valid], b[valid]))


def _per_series_float64(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str, scale: torch.Tensor
) -> float:
    """Hand computation: mean over (sample, channel) series of the mean over valid steps."""
    values = []
    for i in range(pred.shape[0]):
        for c in range(pred.shape[2]):
            keep = mask[i, :, 0].bool()
            f, y = pred[i, keep, c].double(), target[i, keep, c].double()
            if kind == "smape":
                values.append((200 * (f - y).abs() / (f.abs() + y.abs())).mean())
            elif kind == "mape":
                values.append((100 * (f - y).abs() / y.abs()).mean())
            else:
                values.append((f - y).abs().mean() / scale[i].double())
    return torch.stack(values).mean().item()


@pytest.mark.parametrize("loss", ["smape", "mape", "mase"])
def test_scale_free_losses_match_a_hand_computation(loss: str) -> None:
    task = ForecastingTask(zoo.create_model("naive", n_features=2, seq_len=4, pred_len=3), loss=loss)
    torch.manual_seed(0)
    pred, target = torch.rand(3, 3, 2) + 0.5, torch.rand(3, 3, 2) + 0.5
    mask = torch.ones(3, 3, 1)
    mask[2, 1:] = 0
    scale = torch.tensor([0.5, 2.0, 1.5])
    batch = {"y": target, "y_mask": mask, "mase_scale": scale}
    expected = _per_series_float64(pred, target, mask, loss, scale)
    assert task._loss(pred, batch).item() == pytest.approx(expected, rel=1e-5)


def test_mase_loss_without_a_scale_is_a_clear_error() -> None:
    task = ForecastingTask(zoo.create_model("naive", n_features=1, seq_len=4, pred_len=3), loss="mase")
    with pytest.raises(KeyError, match="mase_scale"):
        task._loss(torch.rand(2, 3, 1), {"y": torch.rand(2, 3, 1)})


class _RecordLR(Callback):
    def __init__(self) -> None:
        self.epoch_lrs: list[float] = []
        self.step_lrs: list[float] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.step_lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize(
    "schedule, kwargs, expected",
    [
        ("type1", {}, [1e-2, 5e-3, 2.5e-3, 1.25e-3]),
        ("step", {"step_epochs": 2, "step_gamma": 0.1}, [1e-2, 1e-2, 1e-3, 1e-3]),
        ("constant", {}, [1e-2] * 4),
    ],
)
def test_epoch_schedules(schedule: str, kwargs: dict, expected: list[float]) -> None:
    dm = _data()
    recorder = _RecordLR()
    task = _task(dm, optimizer=OptimizerConfig(lr=1e-2, lr_schedule=schedule, **kwargs))
    _trainer(max_epochs=4, limit_train_batches=2, limit_val_batches=1, callbacks=[recorder]).fit(
        task, datamodule=dm
    )
    assert recorder.epoch_lrs == pytest.approx(expected)


def test_cosine_with_warmup() -> None:
    dm = _data()
    recorder = _RecordLR()
    task = _task(
        dm, optimizer=OptimizerConfig(lr=1e-2, lr_schedule="cosine", warmup_steps=4, min_lr_ratio=0.1)
    )
    _trainer(max_epochs=2, limit_train_batches=6, limit_val_batches=1, callbacks=[recorder]).fit(
        task, datamodule=dm
    )
    lrs = recorder.step_lrs  # 12 steps: 4 warm-up steps, then cosine from 1e-2 down towards 1e-3
    assert lrs[:4] == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2])
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False)) and lrs[-1] > 1e-3
    assert lrs[-1] == pytest.approx(
        1e-3 + 0.9e-2 * 0.5 * (1 + torch.cos(torch.tensor(7 / 8 * torch.pi)).item())
    )


class _NaNForecaster(Forecaster):
    def __init__(
        self,
        n_features: int,
        seq_len: int,
        pred_len: int,
        n_targets: int | None = None,
        label_len: int = 0,
        n_time_features: int = 0,
    ) -> None:
        super().__init__(n_features, seq_len, pred_len, n_targets, label_len, n_time_features)
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x, x_mark=None, y_mark=None):
        return x[:, -1:, :].expand(-1, self.pred_len, -1) * self.scale * float("nan")


def test_non_finite_loss_stops_with_a_clear_message() -> None:
    dm = _data()
    net = _NaNForecaster(dm.n_features, dm.seq_len, dm.pred_len)
    with pytest.raises(FloatingPointError, match="non-finite training loss nan at global step 0"):
        _trainer(limit_train_batches=2).fit(ForecastingTask(net), datamodule=dm)


def test_net_data_mismatch_is_a_clear_error() -> None:
    dm = _data()
    net = zoo.create_model("naive", n_features=dm.n_features, seq_len=dm.seq_len + 1, pred_len=dm.pred_len)
    with pytest.raises(ValueError, match=r"data.seq_len=48 but net.seq_len=49"):
        _trainer().fit(ForecastingTask(net), datamodule=dm)


def test_net_without_dims_is_rejected() -> None:
    with pytest.raises(TypeError, match="subclass zoo.models.Forecaster"):
        ForecastingTask(torch.nn.Linear(2, 2))


def test_panel_test_metrics_through_the_task(data_dir) -> None:
    """Naive (repeat the last value) on M4 Weekly is the official Naive2 (Weekly has no seasonal
    adjustment, m = 1), so the task must log the published Naive2 scores and an OWA of exactly 1."""
    dm = TimeSeriesDataModule(
        dataset="M4-Weekly", seq_len=13, label_len=0, pred_len=13, batch_size=64, eval_batch_size=100
    )
    task = ForecastingTask(zoo.create_model("naive", n_features=1, seq_len=13, pred_len=13), loss="smape")
    results = _trainer().test(task, datamodule=dm, verbose=False)[0]
    assert results["test/windows"] == 359
    assert round(results["test/smape"], 3) == 9.161
    assert round(results["test/mase"], 3) == 2.777
    assert results["test/owa"] == pytest.approx(1.0, abs=1e-6)
    validation = _trainer().validate(task, datamodule=dm, verbose=False)[0]
    assert {"val/smape", "val/mase", "val/loss"} <= set(validation)
