"""``--trainer.precision bf16-mixed`` on CPU: every registered model trains and evaluates, in bf16 inside the
net and float32 where numbers are accumulated (loss, metrics, inverse scaling, latent distributions).

Parity here is per forward pass: the bf16-autocast output of each net is within bf16's resolution of its
fp32 output on the same weights. Accuracy parity of full training runs is a benchmark, not a test.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

import zoo
from tests.bad_inputs.cli_runs import QUICKSTART, fast, run
from tests.helpers import quiet_trainer, small_input, small_model
from zoo.data import TimeSeriesDataModule
from zoo.registry import get_model_entry
from zoo.tasks import ForecastingTask, GenerativeTask

FORECASTERS = [n for n in zoo.list_models() if get_model_entry(n).task == "forecasting"]
GENERATIVE = [n for n in zoo.list_models() if get_model_entry(n).task == "generative"]


@pytest.fixture(scope="module")
def series() -> TimeSeriesDataModule:
    dm = TimeSeriesDataModule("synthetic", seq_len=32, label_len=16, pred_len=8, batch_size=16)
    dm.setup()
    return dm


@pytest.mark.parametrize("name", FORECASTERS)
def test_forecaster_trains_and_tests_in_bf16_mixed(name: str, series: TimeSeriesDataModule) -> None:
    pl.seed_everything(0, verbose=False)
    dims = ("n_features", "n_targets", "seq_len", "label_len", "pred_len", "n_time_features")
    args = {d: getattr(series, d) for d in dims}
    try:
        net = zoo.create_model(name, **args)
    except TypeError:  # nets without a decoder take no label_len
        net = zoo.create_model(name, **{k: v for k, v in args.items() if k != "label_len"})
    task = ForecastingTask(net)
    trainer = quiet_trainer(precision="bf16-mixed", max_steps=3, limit_val_batches=2, limit_test_batches=2)
    trainer.fit(task, datamodule=series)
    (metrics,) = trainer.test(task, datamodule=series, verbose=False)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values()), metrics
    assert {"test/mse", "test/mae", "test/mse_orig"} <= set(metrics)
    batch = next(iter(series.test_dataloader()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = task._forecast(batch)
    assert pred.dtype == torch.float32  # what the loss and the metrics see


def _rel_error(low: torch.Tensor, full: torch.Tensor) -> float:
    return float((low.float() - full).norm() / full.norm().clamp_min(1e-12))


@pytest.mark.parametrize("name", [n for n in FORECASTERS if n != "naive"])
def test_forecaster_bf16_forward_is_within_bf16_resolution(name: str) -> None:
    net = small_model(name).eval()
    x = small_input(name, seed=1)
    with torch.no_grad():
        full = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x)
    assert low.dtype in (torch.bfloat16, torch.float32)
    assert _rel_error(low, full) < 0.05, name  # bf16 keeps 8 bits of mantissa: about 0.4 % per op


@pytest.mark.parametrize("name", GENERATIVE)
def test_latent_model_trains_in_bf16_autocast_with_fp32_terms(name: str) -> None:
    pl.seed_everything(0, verbose=False)
    task = GenerativeTask(small_model(name))
    x = small_input(name, seed=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        posterior = task.net.encode(x)
        likelihood = task.net.decode(task.net.sample_latent(posterior))
        terms = task.objective(x, 0)
    assert posterior.mean.dtype == torch.float32 and likelihood.mean.dtype == torch.float32
    assert terms.loss.dtype == terms.recon.dtype == terms.kl_units.dtype == torch.float32
    assert torch.isfinite(terms.loss)
    terms.loss.backward()
    grads = [p.grad for p in task.parameters() if p.requires_grad]
    assert grads and all(
        g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads
    )
    with torch.no_grad():
        full = task.objective(x, 0).recon
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = task.objective(x, 0).recon
    if not task.net.relaxed_latent and name != "concrete_vae":  # stochastic samples differ otherwise
        assert _rel_error(low, full) < 0.05


def test_cli_trains_the_quickstart_in_bf16_mixed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "fit",
        "--config",
        QUICKSTART,
        *fast(tmp_path),
        "--trainer.precision=bf16-mixed",
        "--test_after_fit=true",
    ]
    outcome = run(args, capsys)
    assert outcome.code == 0, outcome.err[-2000:]
    metrics = outcome.cli.trainer.callback_metrics
    assert outcome.cli.trainer.precision == "bf16-mixed"
    assert metrics["test/mse"].dtype == torch.float32 and torch.isfinite(metrics["test/mse"])
