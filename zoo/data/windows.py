"""Windows over scaled series: sliding training/evaluation windows, and the window after the last row.

- :class:`WindowDataset`: item ``i`` covers rows ``i .. i+L+P-1`` of one series' slice
  (``x = rows[i : i+L]``, ``y = rows[i+L : i+L+P]``, ``len = rows - L - P + 1``, as TSLib's datasets);
  series of a long-format panel add constant keys per series (``series``, ``target_mean``,
  ``target_std``), so a task can map each window back to its own series' units. Values kept missing
  (NaN, ``missing="keep"``) never reach a model: a window whose ``x`` or ``y`` holds one is skipped, and
  the items are the complete windows in row order (``n_skipped`` counts the others).
- :func:`future_windows`: for each series, its last ``L`` rows and the calendar features of the ``P``
  timestamps after them; what ``zoo.forecast`` and the datamodule's ``predict_dataloader`` feed a model.
  A NaN in those rows is an error naming the cell (:func:`check_no_missing`).
- :class:`EpochShuffleSampler`: a training order that depends only on ``(seed, epoch)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from zoo.data.covariates import covariate_marks
from zoo.data.frequency import future_dates
from zoo.data.scaling import StandardScaler
from zoo.data.table import DataValidationError, SeriesTable
from zoo.data.timefeatures import time_feature_names, time_features
from zoo.seeding import mix_seed


def complete_window_starts(
    inputs: torch.Tensor, targets: torch.Tensor, seq_len: int, pred_len: int
) -> np.ndarray | None:
    """The first rows of the windows whose ``x`` and ``y`` hold no NaN, or None when every window is complete.

    Args:
        inputs: the input channels (N, C_in).
        targets: the target channels (N, C_out).
        seq_len: the lookback L.
        pred_len: the horizon P.
    """
    x_bad = torch.isnan(inputs).any(dim=1).numpy()  # (N,)
    y_bad = torch.isnan(targets).any(dim=1).numpy()
    if not x_bad.any() and not y_bad.any():
        return None
    n = max(len(inputs) - seq_len - pred_len + 1, 0)
    # bad rows in [0, j) for every j, so the bad rows of [a, b) are counts[b] - counts[a]
    x_count = np.concatenate([[0], np.cumsum(x_bad)])
    y_count = np.concatenate([[0], np.cumsum(y_bad)])
    i = np.arange(n)
    e = i + seq_len
    complete = (x_count[e] == x_count[i]) & (y_count[e + pred_len] == y_count[e])
    return np.flatnonzero(complete)


class WindowDataset(Dataset[dict[str, torch.Tensor]]):
    """Sliding windows over one split of one series: item ``i`` covers rows ``i .. i+L+P-1`` of the slice
    (when some rows hold NaN, the ``i``-th of the complete windows: see ``n_skipped``).

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
        #: the windows there are, complete or not: ``rows - L - P + 1``
        self.n_candidates = max(len(inputs) - seq_len - pred_len + 1, 0)
        self.starts = complete_window_starts(inputs, targets, seq_len, pred_len)

    @property
    def n_skipped(self) -> int:
        """The windows left out because their ``x`` or ``y`` holds a NaN."""
        return self.n_candidates - len(self)

    def __len__(self) -> int:
        return self.n_candidates if self.starts is None else len(self.starts)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"window {i} out of range for {len(self)} windows")
        s = i if self.starts is None else int(self.starts[i])
        e = s + self.seq_len
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


def check_no_missing(
    table: SeriesTable, rows: np.ndarray, what: str, fix: str, channels: Sequence[int] | None = None
) -> None:
    """A NaN (a value kept missing) in ``rows`` of ``table`` is an error naming the series, column, row and date.

    Args:
        table: the series.
        rows: the rows a computation reads (positions in the table).
        what: those rows, for the message ("the last seq_len=96 rows a forecast reads").
        fix: what the user can do, for the message.
        channels: the channels it reads (None: all).
    """
    columns = list(range(len(table.columns))) if channels is None else list(channels)
    nan = np.isnan(table.values[np.ix_(rows, columns)])
    if not nan.any():
        return
    r, c = (int(k) for k in np.argwhere(nan)[0])  # the earliest row, then the first column
    row, count = int(rows[r]), int(nan.sum())
    more = f" ({count} missing cell(s) in all)" if count > 1 else ""
    raise DataValidationError(
        f"{table.where}: column {table.columns[columns[c]]!r} has a missing value (NaN) on {table.dates[row]} "
        f"(row {row} of the series), inside {what}{more}. {fix}"
    )


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
    statics: Sequence[np.ndarray | None] | None = None,
) -> FutureWindows:
    """The last ``seq_len`` rows of each series and the calendar of the ``pred_len`` steps after them
    (followed by the series' encoded static covariates, ``zoo.data.statics``, when it has them).

    Args:
        tables: the series, channels in the model's order (targets last).
        scalers: each series' input scaler (the model's, never refitted).
        seq_len: the lookback L.
        pred_len: the horizon P.
        n_targets: C_out, the last channels of each table.
        freq: the series' frequency alias.
        time_encoding: "timeF" or "none".
        statics: each series' encoded static covariates (E,), or None (none of them has any).
    """
    xs, x_marks, y_marks, means, stds, dates = [], [], [], [], [], []
    encoded = statics if statics is not None else [None] * len(tables)
    for table, scaler, static in zip(tables, scalers, encoded, strict=True):
        if len(table) < seq_len:
            raise DataValidationError(
                f"{table.where}: {len(table)} row(s), fewer than the model's lookback seq_len={seq_len}; "
                f"a forecast needs the last {seq_len} rows of each series"
            )
        check_no_missing(
            table,
            np.arange(len(table) - seq_len, len(table)),
            f"the last seq_len={seq_len} rows a forecast reads",
            "A forecast cannot skip its input: fill the value in the data, or choose missing='interpolate' "
            "to fill it linearly.",
        )
        tail = table.rows(len(table) - seq_len, len(table))
        future = future_dates(tail.dates[-1], freq, pred_len)
        xs.append(scaler.transform(tail.values).astype(np.float32))
        x_marks.append(covariate_marks(calendar_features(tail.dates, freq, time_encoding), None, static))
        y_marks.append(covariate_marks(calendar_features(future, freq, time_encoding), None, static))
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
