"""``TimeSeriesDataModule``: the long-horizon forecasting protocol of Informer / Time-Series-Library.

Follows ``Dataset_ETT_hour`` / ``Dataset_ETT_minute`` / ``Dataset_Custom`` of Informer2020 and
thuml/Time-Series-Library (see ``../shared/data/*/SOURCE.md``):

- borders: ETTh rows [0, 8640) / [8640, 11520) / [11520, 14400), ETTm the same x4, other files
  70 / 10 / 20 % by rows (``int(0.7 N)`` train, ``int(0.2 N)`` test, the rest validation);
  validation and test slices start ``seq_len`` rows before their border, so targets never overlap;
- one StandardScaler per channel fitted on the training rows only, applied to the whole file;
- windows: ``x = rows[i : i+L]``, ``y = rows[i+L : i+L+P]``; ``len = rows - L - P + 1``;
- timeF calendar features at the file's frequency (``zoo.data.timefeatures``).

Differences from TSLib, on purpose: ``y`` holds only the ``P`` future steps (a decoder's "label" part is
``x[:, -label_len:]``), evaluation keeps every window (``eval_drop_last=False``; TSLib dropped the last
partial test batch until mid-2024), and bad data is an error instead of silently used.

Batches are dicts: ``x`` (B, L, C_in), ``y`` (B, P, C_out), ``x_mark`` (B, L, F), ``y_mark`` (B, P, F).

M4 panels (``dataset="M4-Hourly"``, ``"M4-Weekly"``) follow the N-BEATS protocol instead (Oreshkin et al.,
ICLR 2020, on the M4 competition data, Makridakis et al., IJF 2020): the windows are cut by
``zoo.data.panel`` from the files read by ``zoo.data.m4``, univariate (C_in = C_out = 1, F = 0), unscaled,
and their batches add ``x_mask`` (B, L, 1), ``y_mask`` (B, P, 1), ``mase_scale`` (B,) and ``series`` (B,),
plus ``naive2`` (B, P, 1) in the test split.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo.choices import check_choice
from zoo.data import m4, sources
from zoo.data.panel import PanelWindows, SeriesPanel, panel_datasets
from zoo.data.scaling import StandardScaler
from zoo.data.synthetic import synthetic_series
from zoo.data.table import (
    STAGES,
    MissingPolicy,
    SeriesTable,
    Stage,
    TimestampPolicy,
    load_series_table,
    table_from_frame,
)
from zoo.data.timefeatures import time_feature_names, time_features
from zoo.seeding import mix_seed

log = logging.getLogger(__name__)

Features = Literal["M", "S", "MS"]
SplitKind = Literal["auto", "ett_hour", "ett_minute", "ratio_70_10_20"]
#: "timeF": calendar fields at the file's frequency scaled to [-0.5, 0.5]; "none": no time features (F = 0).
TimeEncoding = Literal["timeF", "none"]
SYNTHETIC = "synthetic"


def split_bounds(n_rows: int, seq_len: int, split: str) -> dict[Stage, tuple[int, int]]:
    """Row slices ``[start, end)`` per split; val/test start ``seq_len`` rows before their border."""
    if split in ("ett_hour", "ett_minute"):
        m = 1 if split == "ett_hour" else 4
        month = 30 * 24 * m
        borders = [0, 12 * month, 16 * month, 20 * month]
        if n_rows < borders[-1]:
            raise ValueError(f"the {split} split needs {borders[-1]} rows, the table has {n_rows}")
    elif split == "ratio_70_10_20":
        n_train, n_test = int(n_rows * 0.7), int(n_rows * 0.2)
        borders = [0, n_train, n_rows - n_test, n_rows]
    else:
        check_choice("split", split, ("ett_hour", "ett_minute", "ratio_70_10_20"))
    return {
        "train": (0, borders[1]),
        "val": (max(borders[1] - seq_len, 0), borders[2]),
        "test": (max(borders[2] - seq_len, 0), borders[3]),
    }


class WindowDataset(Dataset[dict[str, torch.Tensor]]):
    """Sliding windows over one split: item ``i`` covers rows ``i .. i+L+P-1`` of the slice."""

    def __init__(
        self, inputs: torch.Tensor, targets: torch.Tensor, marks: torch.Tensor, seq_len: int, pred_len: int
    ) -> None:
        self.inputs, self.targets, self.marks = inputs, targets, marks  # (N, C_in), (N, C_out), (N, F)
        self.seq_len, self.pred_len = seq_len, pred_len

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
        }


class EpochShuffleSampler(Sampler[int]):
    """A random order of ``range(n)`` that depends only on ``(seed, epoch)``.

    Lightning calls ``set_epoch`` before every epoch, so a run resumed from an end-of-epoch checkpoint
    visits the windows in exactly the order the uninterrupted run would have (RandomSampler draws its
    order from the global RNG, which a checkpoint does not restore).
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


class TimeSeriesDataModule(pl.LightningDataModule):
    """Windows of a multivariate series under the Informer/TSLib protocol (module docstring).

    Args:
        dataset: a catalog name (``zoo.data.sources.list_sources()``: ETTh1, weather, ...), a CSV path
            with a ``date`` column, or ``"synthetic"`` (the embedded quickstart series).
        seq_len: lookback length L.
        label_len: decoder warm-start length (<= L) for encoder-decoder models; linked to the model, the
            data itself never duplicates it.
        pred_len: horizon P.
        features: "M" all -> all, "S" target -> target, "MS" all -> target.
        target: the target column ("OT" in every catalog file).
        batch_size: training batch size.
        eval_batch_size: val/test batch size (None: ``batch_size``).
        scale: standardise with train-row statistics (the literature's scale for metrics).
        eval_drop_last: drop the last partial val/test batch, as pre-2024 tables did.
        num_workers: worker processes of the DataLoaders (0: load in the main process).
        pin_memory: the DataLoaders' ``pin_memory`` (page-locked batches for faster copies to the GPU).
        split: "auto" takes the catalog's split (ratio 70/10/20 for CSV paths and synthetic).
        freq: pandas frequency of the rows; "auto" takes the catalog's or infers it from the dates.
        time_encoding: "timeF" calendar features, or "none" (F = 0).
        missing: what to do with missing values (NaN, inf or a sentinel): "error" (a DataValidationError
            naming file, column and row), "keep" (use the raw values, with a warning) or "interpolate"
            (fill linearly); see ``zoo.data.table``.
        timestamps: "strict" (duplicate or backward timestamps are an error) or "ignore" (window by row
            order, as TSLib does, with a warning).
        sentinels: values that stand for missing data (e.g. -9999), handled as ``missing`` says.
        shuffle_seed: seed of the training order (``EpochShuffleSampler``, or the panel's
            ``PanelSampler``); None takes the seed of ``seed_everything`` (``PL_GLOBAL_SEED``), else 0.
        history_limit: panels only (M4): training cuts lie in the last ``history_limit * pred_len``
            points of each series (N-BEATS' L_H); None takes the frequency's value from the paper
            (10 for Hourly/Weekly, 1.5 for Yearly).
        train_samples: panels only: training windows drawn per epoch; None draws as many as there are
            distinct candidate windows (Hourly: 414 series x 480 cuts), so an epoch is about one pass.

    For M4 panels ``pred_len`` must be the official horizon (Hourly 48, Weekly 13); ``features`` must be
    "M" or "S" (both mean the one series); ``target``, ``scale`` (panels are never scaled: the scaler is
    the identity), ``split``, ``freq``, ``time_encoding`` (F = 0) and the validation policies do not apply.
    """

    def __init__(
        self,
        dataset: str = SYNTHETIC,
        seq_len: int = 96,
        label_len: int = 48,
        pred_len: int = 96,
        features: Features = "M",
        target: str | None = "OT",
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        scale: bool = True,
        eval_drop_last: bool = False,
        num_workers: int = 0,
        pin_memory: bool = False,
        split: SplitKind = "auto",
        freq: str = "auto",
        time_encoding: TimeEncoding = "timeF",
        missing: MissingPolicy = "error",
        timestamps: TimestampPolicy = "strict",
        sentinels: tuple[float, ...] = (-9999.0,),
        shuffle_seed: int | None = None,
        history_limit: float | None = None,
        train_samples: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("seq_len", seq_len), ("pred_len", pred_len), ("batch_size", batch_size)):
            if value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if not 0 <= label_len <= seq_len:
            raise ValueError(f"label_len must lie in [0, seq_len={seq_len}], got {label_len}")
        check_choice("features", features, Features)
        check_choice("split", split, SplitKind)
        check_choice("time_encoding", time_encoding, TimeEncoding)
        check_choice("missing", missing, MissingPolicy)
        check_choice("timestamps", timestamps, TimestampPolicy)
        if history_limit is not None and not history_limit > 0:
            raise ValueError(f"history_limit must be positive, got {history_limit}")
        if train_samples is not None and train_samples < 1:
            raise ValueError(f"train_samples must be a positive integer, got {train_samples}")
        is_path = dataset.endswith(".csv") or Path(dataset).is_file()
        self.m4_frequency = None if is_path else m4.m4_dataset(dataset)
        if self.m4_frequency is not None:
            self.m4_frequency.check_horizon(pred_len)
            if features == "MS":
                raise ValueError(
                    f"{self.m4_frequency.dataset} is univariate: features 'MS' needs covariates; "
                    "use 'S' (or 'M', the same for one series)"
                )
        elif features in ("S", "MS") and not target:
            raise ValueError(
                f"features={features!r} forecasts a single target column: set target=<column name>"
            )
        self.save_hyperparameters()
        self.dataset, self.features, self.target = dataset, features, target
        self.seq_len, self.label_len, self.pred_len = seq_len, label_len, pred_len
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.scale, self.eval_drop_last = scale, eval_drop_last
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.time_encoding, self.shuffle_seed = time_encoding, shuffle_seed
        self.history_limit, self.train_samples = history_limit, train_samples
        self._split, self._freq = split, freq
        self._policies = {"missing": missing, "timestamps": timestamps, "sentinels": tuple(sentinels)}
        self.datasets: dict[Stage, WindowDataset | PanelWindows] = {}

    # ----------------------------------------------------------------- the table and its metadata
    @property
    def is_panel(self) -> bool:
        """True for an M4 panel (``zoo.data.panel`` windows) rather than a table."""
        return self.m4_frequency is not None

    @cached_property
    def panel(self) -> SeriesPanel:
        """The M4 series (``zoo.data.m4.load_m4``), for panel datasets only."""
        if self.m4_frequency is None:
            raise ValueError(f"{self.dataset!r} is a table, not a panel")
        return m4.load_m4(self.m4_frequency.name, require_train=True)

    @cached_property
    def _catalog_entry(self) -> sources.DataSource | None:
        if (
            self.is_panel
            or self.dataset == SYNTHETIC
            or self.dataset.endswith(".csv")
            or Path(self.dataset).is_file()
        ):
            return None
        return sources.get_source(self.dataset)

    @cached_property
    def table(self) -> SeriesTable:
        """The validated table (loaded once, target column last); panels have ``panel`` instead."""
        if self.is_panel:
            raise ValueError(f"{self.dataset!r} is an M4 panel, not a table: use .panel")
        if self.dataset == SYNTHETIC:
            table = table_from_frame(
                synthetic_series(), source=SYNTHETIC, target=self.target, **self._policies
            )
        else:
            entry = self._catalog_entry
            path = sources.resolve(entry) if entry is not None else Path(self.dataset)
            table = load_series_table(path, target=self.target, source=str(path), **self._policies)
        if self.features != "M" and self.target not in table.columns:
            raise ValueError(
                f"{table.source}: unknown target column {self.target!r}; columns are {table.columns}"
            )
        return table

    @property
    def split(self) -> str:
        if self._split != "auto":
            return self._split
        entry = self._catalog_entry
        return entry.split if entry is not None and entry.split else "ratio_70_10_20"

    @property
    def freq(self) -> str:
        if self._freq != "auto":
            return self._freq
        entry = self._catalog_entry
        if entry is not None and entry.freq:
            return entry.freq
        if self.dataset == SYNTHETIC:
            return "h"
        inferred = _infer_freq(self.table)
        if inferred is None:
            raise ValueError(
                f"{self.table.source}: cannot infer the sampling frequency; pass freq='h' (or similar)"
            )
        return inferred

    @property
    def input_columns(self) -> list[str]:
        if self.m4_frequency is not None:
            return [self.m4_frequency.dataset]
        return [self.table.columns[-1]] if self.features == "S" else list(self.table.columns)

    @property
    def target_columns(self) -> list[str]:
        if self.m4_frequency is not None:
            return [self.m4_frequency.dataset]
        return list(self.table.columns) if self.features == "M" else [self.table.columns[-1]]

    @property
    def n_features(self) -> int:
        """C_in, the channels of ``x``."""
        return len(self.input_columns)

    @property
    def n_targets(self) -> int:
        """C_out, the channels of ``y``."""
        return len(self.target_columns)

    @property
    def n_time_features(self) -> int:
        """F, the channels of ``x_mark`` / ``y_mark``."""
        return 0 if self.is_panel or self.time_encoding == "none" else len(time_feature_names(self.freq))

    # ----------------------------------------------------------------- Lightning hooks
    def prepare_data(self) -> None:
        if self.m4_frequency is not None:
            for name in (self.m4_frequency.train_source, self.m4_frequency.test_source):
                if name is not None:
                    sources.resolve(name)
        elif self._catalog_entry is not None:
            sources.resolve(self._catalog_entry)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self.m4_frequency is not None:
            self._setup_panel(self.m4_frequency)
            return
        table = self.table
        bounds = split_bounds(len(table), self.seq_len, self.split)
        inputs = table.values[:, -1:] if self.features == "S" else table.values
        train_end = bounds["train"][1]
        self.scaler = (
            StandardScaler.fit(inputs[:train_end]) if self.scale else StandardScaler.identity(inputs.shape[1])
        )
        self.target_scaler = self.scaler if self.features == "M" else self.scaler.select(slice(-1, None))
        scaled = self.scaler.transform(inputs).astype(np.float32)
        x_all = torch.from_numpy(scaled)
        y_all = x_all if self.features == "M" else x_all[:, -1:]
        if self.time_encoding == "timeF":
            marks = torch.from_numpy(time_features(table.dates, self.freq))
        else:
            marks = torch.zeros(len(table), 0)
        for name in STAGES:
            start, end = bounds[name]
            ds = WindowDataset(
                x_all[start:end], y_all[start:end], marks[start:end], self.seq_len, self.pred_len
            )
            if len(ds) == 0:
                raise ValueError(
                    f"{table.source}: the {name} split has {end - start} rows (rows [{start}, {end})), too few "
                    f"for one window of seq_len + pred_len = {self.seq_len + self.pred_len}"
                )
            self.datasets[name] = ds
        log.info("%s windows: %s", table.source, self.num_windows)

    def _setup_panel(self, freq: m4.M4Frequency) -> None:
        history_limit = self.history_limit if self.history_limit is not None else freq.history_limit
        self.scaler = self.target_scaler = StandardScaler.identity(1)  # N-BEATS trains on raw values
        self.datasets = dict(panel_datasets(self.panel, self.seq_len, history_limit))
        log.info(
            "%s: %d series, windows %s, %d training draws per epoch",
            freq.dataset,
            len(self.panel),
            self.num_windows,
            self.train_samples or self.num_windows["train"],
        )

    @property
    def num_windows(self) -> dict[str, int]:
        """Windows per split (after ``setup``); for panels, ``train`` counts distinct candidate windows."""
        return {name: len(ds) for name, ds in self.datasets.items()}

    def _loader(self, name: Stage, *, train: bool) -> DataLoader:
        if name not in self.datasets:
            self.setup()
        dataset = self.datasets[name]
        sampler = None
        batch_size: int | None = self.batch_size if train else self.eval_batch_size
        if train:
            seed = (
                self.shuffle_seed
                if self.shuffle_seed is not None
                else int(os.environ.get("PL_GLOBAL_SEED", 0))
            )
            if isinstance(dataset, PanelWindows):  # the sampler yields whole batches, fetched in one gather
                sampler, batch_size = dataset.epoch_sampler(self.train_samples, seed, batch_size), None
            else:
                sampler = EpochShuffleSampler(len(dataset), seed)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=False if train else self.eval_drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)


def _infer_freq(table: SeriesTable) -> str | None:
    head = table.dates[: min(len(table), 1000)]
    if len(head) < 3:
        return None
    with warnings.catch_warnings():  # pandas 3 announces an offset return type; we only need the alias
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(head)
    return freq if isinstance(freq, str) or freq is None else freq.freqstr
