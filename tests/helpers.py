"""Callbacks used by the subprocess tests (referenced by class path from the command line)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from safetensors.torch import save_file


class KillAtEpochStart(Callback):
    """SIGKILL this process when epoch ``epoch`` starts: no clean-up, like a node failure."""

    def __init__(self, epoch: int = 2) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


class SaveFinalWeights(Callback):
    """Write each rank's final weights to ``$ZOO_TEST_WEIGHTS_DIR/rank<r>.safetensors``."""

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        directory = Path(os.environ["ZOO_TEST_WEIGHTS_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in pl_module.state_dict().items()}
        save_file(state, str(directory / f"rank{trainer.global_rank}.safetensors"))


class RecordEvalItems(Callback):
    """Write what each rank evaluated to ``$ZOO_TEST_ITEMS_DIR/<stage>-rank<r>.json``.

    Per rank: the number of items (windows or images) in its val/test batches and the float64 sum of their
    ``"x"`` tensors (a repeated or missing item changes both); rank 0 adds the epoch's logged metrics.
    """

    def __init__(self) -> None:
        self.items: dict[str, int] = {}
        self.sums: dict[str, float] = {}

    def _record(self, stage: str, batch: dict[str, torch.Tensor]) -> None:
        self.items[stage] = self.items.get(stage, 0) + len(batch["x"])
        self.sums[stage] = self.sums.get(stage, 0.0) + float(batch["x"].double().sum())

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:  # type: ignore[no-untyped-def]
        if not trainer.sanity_checking:
            self._record("validate", batch)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # type: ignore[no-untyped-def]
        self._record("test", batch)

    def _write(self, trainer: pl.Trainer, stage: str) -> None:
        directory = Path(os.environ["ZOO_TEST_ITEMS_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()} if trainer.is_global_zero else {}
        record = {"items": self.items.get(stage, 0), "sum": self.sums.get(stage, 0.0), "metrics": metrics}
        (directory / f"{stage}-rank{trainer.global_rank}.json").write_text(json.dumps(record))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._write(trainer, "validate")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, "test")


def read_wandb_records(path: Path, timeout: float = 60.0) -> list:
    """The protobuf records of a finished offline W&B run file (``run-<id>.wandb``).

    wandb >= 0.19 writes offline runs from its Go core and ships no Python reader, so this follows the
    file format directly: a 7-byte header (":W&B", magic, version), then LevelDB-log records in 32 KiB
    blocks, each a 7-byte header (crc32, length, kind: 1 full, 2 first, 3 middle, 4 last) and its bytes.

    ``wandb.finish()`` returns before the file is complete: wandb-core keeps the current block in memory
    and writes it when it closes the run's stream, on a finish message the SDK sends without waiting for
    it. So this rereads the file until it ends with the run's ``exit`` record, the last one a finished
    run writes, and raises ``TimeoutError`` if it does not within ``timeout`` seconds.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        records = _wandb_file_records(Path(path))
        if records and records[-1].WhichOneof("record_type") == "exit":
            return records
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{path} has no exit record after {timeout:g} s ({len(records)} records): "
                "the run was not finished, or wandb-core has not closed the file"
            )
        time.sleep(0.05)


def _wandb_file_records(path: Path) -> list:
    """The records written to ``path`` so far (see :func:`read_wandb_records`); a record cut off at the
    end of the file, still being written, is left out."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if not b":W&B".startswith(data[:4]):
        raise ValueError(f"{path} is not a W&B run file")
    position, block, records, pending = 7, 32768, [], b""
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:  # a block ends in zero padding when no record header fits
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if position + 7 + length > len(data):
            break
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


class PickleExploit:
    """Unpickling this creates ``marker``: proof that a loader ran code from the file it read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


# Small instances of every registered model, shared by the pretrained-format and adapter tests.
SMALL_FORECAST = {"n_features": 3, "seq_len": 16, "pred_len": 8}


def small_model(name: str) -> torch.nn.Module:
    """Registered model ``name`` at test size: 3 channels, 16 -> 8, or 1x8x8 images."""
    import zoo
    from zoo.registry import get_model_entry

    if get_model_entry(name).task == "forecasting":
        return zoo.create_model(name, **SMALL_FORECAST)
    extra = {"conv_channels": (4, 8)} if name == "vae_conv" else {}
    return zoo.create_model(name, image_shape=(1, 8, 8), **extra)


def small_input(name: str, seed: int) -> torch.Tensor:
    """A batch for :func:`small_model`: series (2, 16, 3), or binary images (2, 1, 8, 8)."""
    from zoo.registry import get_model_entry

    generator = torch.Generator().manual_seed(seed)
    if get_model_entry(name).task == "forecasting":
        return torch.randn(2, 16, 3, generator=generator)
    return torch.rand(2, 1, 8, 8, generator=generator).round()


def seeded_output(net: torch.nn.Module, x: torch.Tensor, seed: int) -> torch.Tensor:
    """A tensor output of any model: the forecast, or a latent model's likelihood mean (z drawn with ``seed``)."""
    torch.manual_seed(seed)
    out = net(x)
    return out if isinstance(out, torch.Tensor) else out.likelihood.mean


def quiet_trainer(**options: object) -> pl.Trainer:
    """A one-CPU Trainer without logger, checkpoints, progress bar or summary; ``options`` add to it."""
    defaults: dict[str, object] = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
        "devices": 1,
    }
    return pl.Trainer(**{**defaults, **options})


def small_tcn_task(dm: object) -> object:
    """A ForecastingTask of a TCN of width 8 sized for ``dm`` (a set-up TimeSeriesDataModule), seed 0."""
    import zoo
    from zoo.tasks import ForecastingTask

    pl.seed_everything(0, verbose=False)
    dims = ("n_features", "n_targets", "seq_len", "pred_len", "n_time_features")
    net = zoo.create_model(
        "tcn", **{d: getattr(dm, d) for d in dims}, hidden_channels=8, use_time_features=True
    )
    return ForecastingTask(net)
