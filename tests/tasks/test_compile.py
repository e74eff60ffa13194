"""``model.compile``: compiled nets give the eager outputs and gradients, keep their state-dict keys, and the
last partial batch of an epoch does not recompile every epoch.

Most cases compile with AOTAutograd's "aot_eager" backend: dynamo's capture of forward and backward, which
Inductor builds on, at a fraction of Inductor's compile time on 2 CPU cores; two cases use Inductor itself.
``nbeats`` and ``nbeats_generic`` are left out of the every-model case for time: ``nbeats_interpretable``
runs the same ``NBeatsBlock`` code.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

import zoo
from tests.bad_inputs.cli_runs import QUICKSTART, assert_user_error, fast, run
from tests.helpers import quiet_trainer, seeded_output, small_input, small_model
from zoo.data import TimeSeriesDataModule
from zoo.registry import get_model_entry
from zoo.tasks import ForecastingTask, GenerativeTask
from zoo.tasks.compiling import compile_in_place

EVERY_MODEL = [n for n in zoo.list_models() if n not in ("nbeats", "nbeats_generic")]


@pytest.fixture(autouse=True)
def fresh_dynamo() -> None:
    """Every case starts with dynamo's caches empty (forecasters share ``Forecaster.forward``'s code object,
    whose cache holds at most ``recompile_limit`` graphs in one process)."""
    torch._dynamo.reset()


def _output_and_gradients(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A train-mode output (random draws seeded) and the gradients of its mean square."""
    net.zero_grad(set_to_none=True)
    out = seeded_output(net, x, seed=3)
    if out.requires_grad:
        out.float().square().mean().backward()
    return out.detach(), [p.grad.clone() for p in net.parameters() if p.grad is not None]


def _assert_compiled_matches_eager(name: str, backend: str, atol: float) -> None:
    torch.manual_seed(0)
    net = small_model(name).train()
    x = small_input(name, seed=1)
    eager, eager_grads = _output_and_gradients(net, x)
    keys = list(net.state_dict())
    compile_in_place(net.compiled_networks(), backend, "default")
    compiled, compiled_grads = _output_and_gradients(net, x)
    torch.testing.assert_close(compiled, eager, atol=atol, rtol=atol)
    assert len(compiled_grads) == len(eager_grads)
    for got, want in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(got, want, atol=atol, rtol=atol)
    assert list(net.state_dict()) == keys  # no "_orig_mod." prefix: checkpoints are the eager net's


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_compiled_net_gives_the_eager_output_and_gradients(name: str) -> None:
    _assert_compiled_matches_eager(name, "aot_eager", atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vae"])
def test_inductor_compiled_training_step_matches_eager(name: str) -> None:
    with torch._inductor.config.patch(fallback_random=True):  # the eager random draws
        _assert_compiled_matches_eager(name, "inductor", atol=1e-5)


@pytest.mark.slow
def test_inductor_compiled_tcn_forecast_matches_eager() -> None:
    """The flagship TCN through Inductor, its causal convolutions (``kernels.causal_conv1d``) included."""
    torch.manual_seed(0)
    net = small_model("tcn").eval()
    x = small_input("tcn", seed=1)
    with torch.no_grad():
        eager = net(x)
        compile_in_place(net.compiled_networks(), "inductor", "default")
        compiled = net(x)
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-5)


class _GraphCount(pl.Callback):
    """The number of graphs dynamo has compiled, at the end of every training epoch."""

    def __init__(self) -> None:
        self.per_epoch: list[int] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.per_epoch.append(int(torch._dynamo.utils.counters["stats"]["unique_graphs"]))


def test_partial_last_batch_recompiles_only_in_the_first_epoch() -> None:
    dm = TimeSeriesDataModule("synthetic", seq_len=24, label_len=0, pred_len=8, batch_size=48)
    dm.setup()
    train_windows = len(dm.train_dataloader().dataset)
    assert train_windows % 48, "the case needs a partial last batch"
    pl.seed_everything(0, verbose=False)
    net = zoo.create_model("tcn", n_features=dm.n_features, seq_len=24, pred_len=8, hidden_channels=8)
    task = ForecastingTask(net, compile=True, compile_backend="aot_eager")
    counter = _GraphCount()
    torch._dynamo.utils.counters.clear()
    trainer = quiet_trainer(max_epochs=3, limit_val_batches=3, callbacks=[counter])
    trainer.fit(task, datamodule=dm)
    first, *later = counter.per_epoch
    assert first >= 2  # the full batches and the partial one (plus validation's eval-mode graph)
    assert later == [first, first], counter.per_epoch


def test_compiled_task_trains_to_the_eager_weights() -> None:
    """Two training steps through the Trainer: the compiled task's weights are the eager task's."""
    dm = TimeSeriesDataModule("synthetic", seq_len=24, label_len=0, pred_len=8, batch_size=32)
    dm.setup()
    weights = []
    for compiled in (False, True):
        pl.seed_everything(0, verbose=False)
        net = zoo.create_model("tcn", n_features=dm.n_features, seq_len=24, pred_len=8, hidden_channels=8)
        task = ForecastingTask(net, compile=compiled, compile_backend="aot_eager")
        quiet_trainer(max_steps=2, limit_val_batches=0).fit(task, datamodule=dm)
        weights.append(task.net.state_dict())
    assert list(weights[0]) == list(weights[1])
    for key in weights[0]:
        torch.testing.assert_close(weights[1][key], weights[0][key], atol=1e-6, rtol=1e-6)


def test_generative_task_compiles_encoder_and_decoder_only() -> None:
    net = small_model("vae")
    task = GenerativeTask(net, compile=True, compile_backend="aot_eager")
    compiled = {name for name, module in task.net.named_modules() if module._compiled_call_impl is not None}
    assert compiled == {"encoder", "decoder"}
    x = small_input("vae", seed=2)
    terms = task.objective(x, 0)
    assert torch.isfinite(terms.loss)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"compile_backend": "no_such_backend"}, "compile_backend must be one of"),
        ({"compile_mode": "fastest"}, "compile_mode must be one of"),
    ],
)
def test_unknown_compile_options_are_refused_when_the_task_is_built(
    options: dict[str, str], fragment: str
) -> None:
    name = "tcn"
    assert get_model_entry(name).task == "forecasting"
    with pytest.raises(ValueError, match=fragment):
        ForecastingTask(small_model(name), compile=True, **options)


def test_cli_trains_a_compiled_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(
        [
            "fit",
            "--config",
            QUICKSTART,
            *fast(tmp_path),
            "--model.compile=true",
            "--model.compile_backend=aot_eager",
        ],
        capsys,
    )
    assert outcome.code == 0, outcome.err[-3000:]
    assert outcome.cli.model.net._compiled_call_impl is not None


def test_cli_refuses_an_unknown_compile_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(
        ["fit", "--config", QUICKSTART, *fast(tmp_path), "--model.compile=true", "--model.compile_mode=fast"],
        capsys,
    )
    assert_user_error(outcome, "compile_mode")
