"""Windows over scaled series: sliding training/evaluation windows, and the window after the last row.

- :class:`WindowDataset`: item ``i`` covers rows ``i .. i+L+P-1`` of one series' slice
  (``x = rows[i : i+L]``, ``y = rows[i+L : i+L+P]``, ``len = rows - L - P + 1``, as TSLib's datasets);
  series of a long-format panel add constant keys per series (``series``, ``target_mean``,
  ``target_std``), so a task can map each window back to its own series' units.
- :func:`future_windows`: for each series, its last ``L`` rows and the calendar features of the ``P``
  timestamps after them; what ``zoo.forecast`` and the datamodule's ``predict_dataloader`` feed a model.
- :class:`EpochShuffleSampler`: a training order that depends only on ``(seed, epoch)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from zoo.data.frequency import future_dates
from zoo.data.scaling import StandardScaler
from zoo.data.table import DataValidationError, SeriesTable
from zoo.data.timefeatures import time_feature_names, time_features
from zoo.seeding import mix_seed


class WindowDataset(Dataset[dict[str, torch.Tensor]]):
    """Sliding windows over one split of one series: item ``i`` covers rows ``i .. i+L+P-1`` of the slice.

    Args:
        inputs: the scaled input channels (N, C_in).
        targets: the scaled target channels (N, C_out).
        marks: the calendar features (N, F).
        seq_len: the lookback L.
        pred_len: the horizon P.
        constants: tensors added unchanged to every item (a panel's ``series``, ``target_mean`` (C_out,)...).
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        marks: torch.Tensor,
        seq_len: int,
        pred_len: int,
        constants: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.inputs, self.targets, self.marks = inputs, targets, marks
        self.seq_len, self.pred_len = seq_len, pred_len
        self.constants = constants or {}

    def __len__(self) -> int:
        return max(len(self.inputs) - self.seq_len - self.pred_len + 1, 0)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"window {i} out of range for {len(self)} windows")
        s, e = i, i + self.seq_len
        return {
            "x": self.inputs[s:e],
            "y": self.targets[e : e + self.pred_len],
            "x_mark": self.marks[s:e],
            "y_mark": self.marks[e : e + self.pred_len],
            **self.constants,
        }


class EpochShuffleSampler(Sampler[int]):
    """A random order of ``range(n)`` that depends only on ``(seed, epoch)``.

    Lightning calls ``set_epoch`` before every epoch, so a run resumed from an end-of-epoch checkpoint
    visits the windows in exactly the order the uninterrupted run would have (RandomSampler draws its
    order from the global RNG, which a checkpoint does not restore).

    Args:
        n: the number of windows.
        seed: the seed of the order.
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.n, generator=generator).tolist())


def calendar_features(dates: pd.DatetimeIndex, freq: str, time_encoding: str) -> np.ndarray:
    """The (N, F) calendar features of ``dates``: timeF at ``freq``, or (N, 0) for ``"none"``.

    Args:
        dates: the timestamps.
        freq: the series' frequency alias.
        time_encoding: "timeF" or "none".
    """
    if time_encoding == "none":
        return np.zeros((len(dates), 0), dtype=np.float32)
    return time_features(dates, freq)


def n_calendar_features(freq: str, time_encoding: str) -> int:
    """F for ``freq`` and ``time_encoding``.

    Args:
        freq: the series' frequency alias.
        time_encoding: "timeF" or "none".
    """
    return 0 if time_encoding == "none" else len(time_feature_names(freq))


def series_constants(index: int, target_scaler: StandardScaler) -> dict[str, torch.Tensor]:
    """The per-series keys of a panel's windows: ``series`` (), ``target_mean`` and ``target_std`` (C_out,).

    Args:
        index: the series' position in the panel.
        target_scaler: the series' scaler of the target channels.
    """
    return {
        "series": torch.tensor(index, dtype=torch.long),
        "target_mean": torch.as_tensor(target_scaler.mean, dtype=torch.float32),
        "target_std": torch.as_tensor(target_scaler.std, dtype=torch.float32),
    }


@dataclass(frozen=True)
class FutureWindows:
    """The inputs of a forecast of the future of each series, and where its output goes.

    Attributes:
        batch: ``x`` (S, L, C_in) scaled, ``x_mark`` (S, L, F), ``y_mark`` (S, P, F), ``target_mean`` and
            ``target_std`` (S, C_out): one window per series.
        series_ids: the series' ids (S,), "" for a wide file.
        dates: the P future timestamps of each series.
    """

    batch: dict[str, torch.Tensor]
    series_ids: list[str]
    dates: list[pd.DatetimeIndex]


def future_windows(
    tables: Sequence[SeriesTable],
    scalers: Sequence[StandardScaler],
    *,
    seq_len: int,
    pred_len: int,
    n_targets: int,
    freq: str,
    time_encoding: str,
) -> FutureWindows:
    """The last ``seq_len`` rows of each series and the calendar of the ``pred_len`` steps after them.

    Args:
        tables: the series, channels in the model's order (targets last).
        scalers: each series' input scaler (the model's, never refitted).
        seq_len: the lookback L.
        pred_len: the horizon P.
        n_targets: C_out, the last channels of each table.
        freq: the series' frequency alias.
        time_encoding: "timeF" or "none".
    """
    xs, x_marks, y_marks, means, stds, dates = [], [], [], [], [], []
    for table, scaler in zip(tables, scalers, strict=True):
        if len(table) < seq_len:
            raise DataValidationError(
                f"{table.where}: {len(table)} row(s), fewer than the model's lookback seq_len={seq_len}; "
                f"a forecast needs the last {seq_len} rows of each series"
            )
        tail = table.rows(len(table) - seq_len, len(table))
        future = future_dates(tail.dates[-1], freq, pred_len)
        xs.append(scaler.transform(tail.values).astype(np.float32))
        x_marks.append(calendar_features(tail.dates, freq, time_encoding))
        y_marks.append(calendar_features(future, freq, time_encoding))
        target_scaler = scaler.select(slice(scaler.n_channels - n_targets, None))
        means.append(target_scaler.mean)
        stds.append(target_scaler.std)
        dates.append(future)
    batch = {
        "x": torch.from_numpy(np.stack(xs)),
        "x_mark": torch.from_numpy(np.stack(x_marks)),
        "y_mark": torch.from_numpy(np.stack(y_marks)),
        "target_mean": torch.as_tensor(np.stack(means), dtype=torch.float32),
        "target_std": torch.as_tensor(np.stack(stds), dtype=torch.float32),
    }
    return FutureWindows(batch, [t.series_id for t in tables], dates)


class FutureWindowDataset(Dataset[dict[str, torch.Tensor]]):
    """:class:`FutureWindows` as a dataset of one item per series (the datamodule's predict split).

    Args:
        windows: the windows.
    """

    def __init__(self, windows: FutureWindows) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows.series_ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {key: value[i] for key, value in self.windows.batch.items()}
