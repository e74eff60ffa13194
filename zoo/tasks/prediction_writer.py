"""``ForecastFileWriter``: ``train.py predict`` writes its forecasts to a file, never only to memory.

A Lightning ``BasePredictionWriter`` (``write_interval="epoch"``): after the predict loop, the forecasts
of every process are gathered by their dataset index (de-duplicated, so a distributed sampler's padding
is not written twice), put in the order of the datamodule's series and written once, by rank zero, as
``zoo.forecast`` would: one row per (series, future timestamp), the date column under its input name,
one column per target in original units (:func:`zoo.inference.forecast.forecast_frame`), each followed by
``<target>_q<level>`` columns when the model is probabilistic (its task's ``scored_levels``). M4 panels,
which have no timestamps, get ``unique_id``, ``step`` and one value column.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import BasePredictionWriter

from zoo.distributions import level_name

log = logging.getLogger(__name__)


def _flatten(predictions: Sequence[Any], batch_indices: Sequence[Any]) -> dict[int, np.ndarray]:
    """Dataset index -> forecast (P, C_out) (or (P, C_out, 1 + Q) with quantiles), from Lightning's
    per-dataloader lists of batches."""
    if predictions and isinstance(predictions[0], list):  # one list per dataloader; predict has one
        predictions = predictions[0]
    if batch_indices and batch_indices[0] and isinstance(batch_indices[0][0], list):
        batch_indices = batch_indices[0]
    out: dict[int, np.ndarray] = {}
    for batch, indices in zip(predictions, batch_indices, strict=True):
        for row, index in zip(torch.as_tensor(batch).float().cpu().numpy(), indices, strict=True):
            out[int(index)] = row
    return out


class ForecastFileWriter(BasePredictionWriter):
    """Write the predict loop's forecasts to ``path`` (CSV or parquet by extension).

    Args:
        path: the output file; None writes ``forecasts.csv`` in the trainer's log directory.
        overwrite: replace an existing file.
    """

    def __init__(self, path: str | None = None, overwrite: bool = False) -> None:
        super().__init__(write_interval="epoch")
        self.path, self.overwrite = path, overwrite
        self.written: Path | None = None

    def output_path(self, trainer: pl.Trainer) -> Path:
        """Where the forecasts go: ``path``, or ``<log dir>/forecasts.csv``."""
        if self.path is not None:
            return Path(self.path)
        return Path(trainer.log_dir or trainer.default_root_dir) / "forecasts.csv"

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from zoo.inference.outputs import check_output_path

        if trainer.is_global_zero:  # refuse before predicting, not after
            check_output_path(self.output_path(trainer), self.overwrite)

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        rows = _flatten(predictions, batch_indices)
        if dist.is_available() and dist.is_initialized() and trainer.world_size > 1:
            gathered: list[dict[int, np.ndarray] | None] = [None] * trainer.world_size
            dist.all_gather_object(gathered, rows)
            rows = {k: v for part in gathered if part for k, v in part.items()}
        if not trainer.is_global_zero:
            return
        values = np.stack([rows[i] for i in sorted(rows)])  # (S, P, C_out[, 1 + Q]), dataset order
        levels = tuple(getattr(pl_module, "scored_levels", ())) if values.ndim == 4 else ()
        frame = self.frame(trainer.datamodule, values, levels)
        from zoo.inference.outputs import write_table

        self.written = write_table(frame, self.output_path(trainer), overwrite=self.overwrite)
        log.info("wrote %d forecast rows to %s", len(frame), self.written)

    @staticmethod
    def frame(datamodule: Any, values: np.ndarray, levels: tuple[float, ...] = ()) -> pd.DataFrame:
        """The forecasts (S, P, C_out) of ``datamodule``'s predict split as a table; with ``levels``, values
        (S, P, C_out, 1 + Q) hold the point forecast then the quantiles at those levels."""
        quantiles = values[..., 1:] if levels else None
        values = values[..., 0] if levels else values
        from zoo.inference.forecast import ID_COLUMN, forecast_frame

        if getattr(datamodule, "is_panel", False):
            ids = np.asarray(datamodule.panel.ids, dtype=object)
            steps = values.shape[1]
            return pd.DataFrame(
                {
                    ID_COLUMN: np.repeat(ids[: len(values)], steps),
                    "step": np.tile(np.arange(1, steps + 1), len(values)),
                    datamodule.target_columns[0]: values[..., 0].reshape(-1),
                    **{
                        f"{datamodule.target_columns[0]}_{level_name(level)}": quantiles[..., 0, q].reshape(
                            -1
                        )
                        for q, level in enumerate(levels if quantiles is not None else ())
                    },
                }
            )
        windows = datamodule.future_windows()
        return forecast_frame(
            values,
            windows,
            datamodule.target_columns,
            datamodule.date_column,
            datamodule.is_long,
            quantiles,
            levels,
        )
