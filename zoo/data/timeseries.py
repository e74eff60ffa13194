"""``TimeSeriesDataModule``: the long-horizon forecasting protocol of Informer / Time-Series-Library.

Follows ``Dataset_ETT_hour`` / ``Dataset_ETT_minute`` / ``Dataset_Custom`` of Informer2020 and
thuml/Time-Series-Library (see ``../shared/data/*/SOURCE.md``):

- borders: ETTh rows [0, 8640) / [8640, 11520) / [11520, 14400), ETTm the same x4, other files
  70 / 10 / 20 % by rows (``int(0.7 N)`` train, ``int(0.2 N)`` test, the rest validation);
  validation and test slices start ``seq_len`` rows before their border, so targets never overlap;
- one StandardScaler per channel fitted on the training rows only, applied to the whole file (values kept
  missing by ``missing="keep"`` are ignored by it, stay NaN, and the windows that hold one are skipped);
- windows: ``x = rows[i : i+L]``, ``y = rows[i+L : i+L+P]``; ``len = rows - L - P + 1``;
- timeF calendar features at the file's frequency (``zoo.data.timefeatures``).

User files (CSV or parquet, ``zoo.data.reading``) choose their layout: ``date_column``, ``sep``, ``columns``
(the channels to use), ``target`` (one column or a list), and ``id_column`` for a long-format panel
(NeuralForecast's ``unique_id, ds, y``): every series is cut into its own train/val/test slices, scaled
with the statistics of its own training rows, and the windows of all series are drawn together; such
batches add ``series`` (B,), ``target_mean`` and ``target_std`` (B, C_out), so the task reports every
window in its own series' units. Splits (``zoo.data.splits``): the catalog's borders by default,
``val_size`` / ``test_size`` (fractions or counts), cut dates (``val_start`` / ``test_start``) or
``split="none"`` (train on everything). Gaps in the timestamps are an error that says where they are,
unless ``gaps`` chooses a fill (``zoo.data.frequency``). ``predict_dataloader`` serves the window after
the last row of each series (:func:`zoo.data.windows.future_windows`): the future, not the test split.

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
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from zoo.choices import check_choice
from zoo.data import m4, sources
from zoo.data.covariates import (
    FutureCovariates,
    check_aligned,
    check_future_columns,
    covariate_columns,
    covariate_marks,
    future_values_at,
    read_future_tables,
)
from zoo.data.frequency import GapPolicy, infer_frequency, regularize
from zoo.data.panel import PanelWindows, SeriesPanel, panel_datasets
from zoo.data.reading import PARQUET_SUFFIXES, read_frame
from zoo.data.sampling import EvalSampler
from zoo.data.scaling import StandardScaler
from zoo.data.splits import SplitKind, SplitSpec, split_bounds
from zoo.data.statics import StaticCovariates, StaticValues, check_static_columns, read_static_values
from zoo.data.synthetic import synthetic_series
from zoo.data.table import (
    DataValidationError,
    MissingPolicy,
    SeriesTable,
    Stage,
    TimestampPolicy,
    as_target_list,
    resolve_columns,
    tables_from_frame,
)
from zoo.data.window_checks import check_skipped, fit_pooled_scaler, fit_train_scaler
from zoo.data.windows import (
    EpochShuffleSampler,
    FutureWindowDataset,
    FutureWindows,
    WindowDataset,
    calendar_features,
    future_windows,
    n_calendar_features,
    series_constants,
)

__all__ = ["EpochShuffleSampler", "TimeSeriesDataModule", "WindowDataset", "split_bounds"]

log = logging.getLogger(__name__)

Features = Literal["M", "S", "MS"]
#: "timeF": calendar fields at the file's frequency scaled to [-0.5, 0.5]; "none": no time features (F = 0).
TimeEncoding = Literal["timeF", "none"]
SYNTHETIC = "synthetic"
DEFAULT_TARGET = "OT"  # the ETT files' target; under features "M" only a target typed otherwise is checked
_FILE_SUFFIXES = (".csv", ".tsv", ".txt", *PARQUET_SUFFIXES)


def is_data_file(dataset: str) -> bool:
    """True when ``dataset`` names a file (an existing path, or a CSV/parquet name) rather than the catalog.

    Args:
        dataset: the ``dataset`` option.
    """
    return dataset.lower().endswith(_FILE_SUFFIXES) or Path(dataset).is_file()


class TimeSeriesDataModule(pl.LightningDataModule):
    """Windows of a multivariate series, or a panel of them, under the Informer/TSLib protocol (module docstring).

    Args:
        dataset: a catalog name (``zoo.data.sources.list_sources()``: ETTh1, weather, ...), a CSV or parquet
            path, or ``"synthetic"`` (the embedded quickstart series).
        seq_len: lookback length L.
        label_len: decoder warm-start length (<= L) for encoder-decoder models; linked to the model, the
            data itself never duplicates it.
        pred_len: horizon P.
        features: "M" all -> all, "S" target -> target, "MS" all -> target.
        target: the target column, or a list of them ("OT" in every catalog file); targets are the last
            channels, in the order given.
        date_column: the column with the timestamps.
        id_column: the series-id column of a long-format file (e.g. "unique_id"); None: one wide series.
        columns: the input channels to use (the targets among them); other columns are ignored. None: all.
        past_columns: observed covariates: input channels read in x but not forecast (features "MS"); the
            inputs are then ``past_columns`` and the target(s). Give this or ``columns``.
        future_columns: known-future covariates (``zoo.data.covariates``): not inputs of x, but scaled and
            appended to the time features x_mark / y_mark of every window (F grows by their count); a
            forecast needs their values over the horizon. In a long file they share one scaler over the
            training rows of every series.
        static_columns: long files only: one value per series (``zoo.data.statics``), encoded (numbers
            standardised over the series, other values one indicator per category) and appended, constant,
            to the time features after the future covariates.
        sep: the CSV separator; None sniffs it.
        batch_size: training batch size.
        eval_batch_size: val/test batch size (None: ``batch_size``).
        scale: standardise with train-row statistics (the literature's scale for metrics).
        eval_drop_last: drop the last partial val/test batch of the split, as pre-2024 tables did; on
            several devices the same windows as on one (their whole batches are shared out, unpadded).
        num_workers: worker processes of the DataLoaders (0: load in the main process).
        pin_memory: the DataLoaders' ``pin_memory`` (page-locked batches for faster copies to the GPU).
        split: "auto" takes the catalog's split (ratio 70/10/20 for user files and synthetic), or
            "ett_hour", "ett_minute", "ratio_70_10_20", "none" (train on every row; no val or test).
        val_size: validation rows of each series: a fraction (0.1) or a count (240); 0 leaves it out.
        test_size: test rows of each series: a fraction (0.2) or a count (480); 0 leaves it out.
        val_start: first timestamp of the validation split (instead of ``val_size``).
        test_start: first timestamp of the test split (instead of ``test_size``).
        freq: pandas frequency of the rows; "auto" takes the catalog's or infers it from the dates.
        time_encoding: "timeF" calendar features, or "none" (F = 0).
        missing: what to do with missing values (NaN or a sentinel): "error" (a DataValidationError
            naming file, column and row), "keep" (keep them missing: the scaler ignores them, windows that
            hold one are skipped, with a warning per split), "interpolate" (fill linearly) or "raw" (use
            sentinels as numbers, as TSLib does with weather.csv; a NaN is then an error); inf and values
            beyond float32 are an error under every policy; see ``zoo.data.table``.
        timestamps: "strict" (duplicate or backward timestamps are an error) or "ignore" (window by row
            order, as TSLib does, with a warning).
        gaps: missing timestamps at ``freq``: "error" (naming where), "interpolate" or "ffill" (insert them
            and fill their values), or "ignore" (window by row order).
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
        target: str | list[str] | None = DEFAULT_TARGET,
        date_column: str = "date",
        id_column: str | None = None,
        columns: list[str] | None = None,
        past_columns: list[str] | None = None,
        future_columns: list[str] | None = None,
        static_columns: list[str] | None = None,
        sep: str | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        scale: bool = True,
        eval_drop_last: bool = False,
        num_workers: int = 0,
        pin_memory: bool = False,
        split: SplitKind = "auto",
        val_size: int | float | None = None,
        test_size: int | float | None = None,
        val_start: str | None = None,
        test_start: str | None = None,
        freq: str = "auto",
        time_encoding: TimeEncoding = "timeF",
        missing: MissingPolicy = "error",
        timestamps: TimestampPolicy = "strict",
        gaps: GapPolicy = "error",
        sentinels: tuple[float, ...] = (-9999.0,),
        shuffle_seed: int | None = None,
        history_limit: float | None = None,
        train_samples: int | None = None,
    ) -> None:
        super().__init__()
        sizes = {
            "seq_len": seq_len,
            "pred_len": pred_len,
            "batch_size": batch_size,
            "eval_batch_size": eval_batch_size,
        }
        for name, value in sizes.items():
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if not 0 <= label_len <= seq_len:
            raise ValueError(f"label_len must lie in [0, seq_len={seq_len}], got {label_len}")
        check_choice("features", features, Features)
        check_choice("time_encoding", time_encoding, TimeEncoding)
        check_choice("missing", missing, MissingPolicy)
        check_choice("timestamps", timestamps, TimestampPolicy)
        check_choice("gaps", gaps, GapPolicy)
        if history_limit is not None and not history_limit > 0:
            raise ValueError(f"history_limit must be positive, got {history_limit}")
        if train_samples is not None and train_samples < 1:
            raise ValueError(f"train_samples must be a positive integer, got {train_samples}")
        if columns is not None and not columns:
            raise ValueError("columns must name at least one column (or be None for all of them)")
        self.m4_frequency = None if is_data_file(dataset) else m4.m4_dataset(dataset)
        targets = as_target_list(target)
        if static_columns is not None:
            others = {"target": targets, "past_columns": past_columns, "future_columns": future_columns}
            check_static_columns(
                static_columns,
                id_column,
                {"columns": columns or [], **{k: v or [] for k, v in others.items()}},
            )
        columns = covariate_columns(columns, past_columns, future_columns, features, targets)
        if (future_columns or static_columns) and self.m4_frequency is not None:
            raise ValueError(
                f"{dataset} is an M4 panel without covariates: future_columns / static_columns do not apply"
            )
        if self.m4_frequency is not None:
            self.m4_frequency.check_horizon(pred_len)
            if features == "MS":
                raise ValueError(
                    f"{self.m4_frequency.dataset} is univariate: features 'MS' needs covariates; "
                    "use 'S' (or 'M', the same for one series)"
                )
        elif features in ("S", "MS") and not targets:
            raise ValueError(
                f"features={features!r} forecasts the target column(s): set target=<column name or list>"
            )
        self.save_hyperparameters()
        self.dataset, self.features, self.target = dataset, features, target
        self.targets = targets
        self.date_column, self.id_column, self.columns, self.sep = date_column, id_column, columns, sep
        self.future_columns = list(future_columns or [])
        self.future_covariates: FutureCovariates | None = None
        self.static_columns = list(static_columns or [])
        self.static_covariates: StaticCovariates | None = None
        self.seq_len, self.label_len, self.pred_len = seq_len, label_len, pred_len
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.scale, self.eval_drop_last = scale, eval_drop_last
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.time_encoding, self.shuffle_seed = time_encoding, shuffle_seed
        self.history_limit, self.train_samples = history_limit, train_samples
        self.gaps = gaps
        self._freq = freq
        self._policies = {"missing": missing, "timestamps": timestamps, "sentinels": tuple(sentinels)}
        entry = self._catalog_entry
        self.split_spec = SplitSpec.build(
            split,
            val_size=val_size,
            test_size=test_size,
            val_start=val_start,
            test_start=test_start,
            catalog_split=entry.split if entry is not None else None,
        )
        self.datasets: dict[Stage, Dataset] = {}
        self.scaler: StandardScaler | None = None
        self.target_scaler: StandardScaler | None = None
        self.series_scalers: dict[str, StandardScaler] = {}

    # ----------------------------------------------------------------- the table and its metadata
    @property
    def is_panel(self) -> bool:
        """True for an M4 panel (``zoo.data.panel`` windows) rather than a table."""
        return self.m4_frequency is not None

    @property
    def is_long(self) -> bool:
        """True for a long-format file of many series (``id_column``)."""
        return self.id_column is not None and not self.is_panel

    @cached_property
    def panel(self) -> SeriesPanel:
        """The M4 series (``zoo.data.m4.load_m4``), for panel datasets only."""
        if self.m4_frequency is None:
            raise ValueError(f"{self.dataset!r} is a table, not a panel")
        return m4.load_m4(self.m4_frequency.name, require_train=True)

    @cached_property
    def _catalog_entry(self) -> sources.DataSource | None:
        if self.is_panel or self.dataset == SYNTHETIC or is_data_file(self.dataset):
            return None
        return sources.get_source(self.dataset)

    @property
    def read_columns(self) -> list[str] | None:
        """The channels read from the file: ``columns``, or only the targets for features "S"."""
        if self.columns is not None:
            return list(self.columns)
        return list(self.targets) if self.features == "S" else None

    @cached_property
    def tables(self) -> list[SeriesTable]:
        """The validated series (loaded once; one for a wide file), channels in model order, targets last."""
        if self.is_panel:
            raise ValueError(f"{self.dataset!r} is an M4 panel, not a table: use .panel")
        source, frame = self._source_frame
        if self.features != "M" or self.targets != [
            DEFAULT_TARGET
        ]:  # a target typed under "M" must exist too
            resolve_columns(self.targets, [str(c) for c in frame.columns], source, "target")
            outside = [t for t in self.targets if self.columns is not None and t not in self.columns]
            if outside:
                raise DataValidationError(
                    f"{source}: target {outside[0]!r} is not one of columns {list(self.columns or [])}; "
                    "add it to columns (the targets are input channels too)"
                )
        past = self.hparams.get("past_columns")
        if past:  # named as the option the user gave, before they become the input columns
            resolve_columns(list(past), [str(c) for c in frame.columns], source, "past_columns")
        columns = self.read_columns
        covariates = [*self.future_columns, *self.static_columns]
        if columns is None and covariates:  # every column but the covariates
            reserved = {self.date_column, *self.future_columns, *self.static_columns}
            columns = [str(c) for c in frame.columns if str(c) not in reserved]
        tables = tables_from_frame(
            frame,
            source=source,
            date_column=self.date_column,
            id_column=self.id_column,
            columns=columns,
            target=self.targets,
            **self._policies,
        )
        check_future_columns(self.future_columns, tables[0].columns, source)
        if self._policies["timestamps"] == "ignore":
            return tables
        freq = self.freq_of(tables)
        return [regularize(t, freq, self.gaps, self.date_column) for t in tables]

    @cached_property
    def _source_frame(self) -> tuple[str, pd.DataFrame]:
        """The raw frame of ``dataset`` and its name for messages (read once)."""
        if self.dataset == SYNTHETIC:
            return SYNTHETIC, synthetic_series()
        entry = self._catalog_entry
        path = sources.resolve(entry) if entry is not None else Path(self.dataset)
        return str(path), read_frame(path, sep=self.sep)

    @cached_property
    def future_tables(self) -> list[SeriesTable]:
        """The ``future_columns`` of each series, row for row with :attr:`tables` (empty without them)."""
        if not self.future_columns:
            return []
        source, frame = self._source_frame
        tables = read_future_tables(
            frame,
            source=source,
            date_column=self.date_column,
            id_column=self.id_column,
            columns=self.future_columns,
            freq=self.freq,
            gaps=self.gaps,
            **self._policies,
        )
        for inputs, future in zip(self.tables, tables, strict=True):
            check_aligned(inputs, future)
            future_values_at(future, future.dates, "in the file")  # no value kept missing
        return tables

    @cached_property
    def static_values(self) -> dict[str, StaticValues]:
        """Each series' value of every ``static_columns`` covariate (empty without them)."""
        if not self.static_columns:
            return {}
        assert self.id_column is not None
        source, frame = self._source_frame
        return read_static_values(frame, source=source, id_column=self.id_column, columns=self.static_columns)

    @property
    def table(self) -> SeriesTable:
        """The one series of a wide file (``tables`` holds the series of a long one)."""
        tables = self.tables
        if len(tables) != 1:
            raise ValueError(f"{self.dataset!r} holds {len(tables)} series (long format): use .tables")
        return tables[0]

    @property
    def split(self) -> str:
        """The split's kind: a fixed split's name, "custom" (sizes or dates) or "none"."""
        return self.split_spec.kind

    def freq_of(self, tables: Sequence[SeriesTable]) -> str:
        """The frequency alias: the ``freq`` option, the catalog's, or inferred from the longest series."""
        if self._freq != "auto":
            return self._freq
        entry = self._catalog_entry
        if entry is not None and entry.freq:
            return entry.freq
        if self.dataset == SYNTHETIC:
            return "h"
        longest = max(tables, key=len)
        inferred = infer_frequency(longest.dates)
        if inferred is None:
            raise ValueError(
                f"{longest.where}: cannot infer the sampling frequency from {len(longest)} row(s); "
                "pass freq='h' (or similar)"
            )
        return inferred

    @property
    def freq(self) -> str:
        return self.freq_of(self.tables)

    @property
    def input_columns(self) -> list[str]:
        if self.m4_frequency is not None:
            return [self.m4_frequency.dataset]
        return list(self.tables[0].columns)

    @property
    def target_columns(self) -> list[str]:
        if self.m4_frequency is not None:
            return [self.m4_frequency.dataset]
        columns = self.tables[0].columns
        return list(columns) if self.features == "M" else list(columns[-len(self.targets) :])

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
        if self.is_panel:
            return 0
        statics = (
            StaticCovariates.fit(self.static_columns, self.static_values).width if self.static_columns else 0
        )
        return n_calendar_features(self.freq, self.time_encoding) + len(self.future_columns) + statics

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
        parts: dict[Stage, list[Dataset]] = {}
        n_targets = self.n_targets
        all_bounds = [self._bounds(table) for table in self.tables]
        self._fit_covariates([bounds["train"][1] for bounds in all_bounds])
        for index, (table, bounds) in enumerate(zip(self.tables, all_bounds, strict=True)):
            scaler = fit_train_scaler(table, bounds["train"][1], self.scale)
            target_scaler = scaler.select(slice(scaler.n_channels - n_targets, None))
            if self.is_long:
                self.series_scalers[table.series_id] = scaler
            else:
                self.scaler, self.target_scaler = scaler, target_scaler
            constants = series_constants(index, target_scaler) if self.is_long else None
            x_all = torch.from_numpy(scaler.transform(table.values).astype(np.float32))
            y_all = x_all[:, x_all.shape[1] - n_targets :]
            marks = torch.from_numpy(self._marks(index, table))
            for name, (start, end) in bounds.items():
                windows = WindowDataset(
                    x_all[start:end],
                    y_all[start:end],
                    marks[start:end],
                    self.seq_len,
                    self.pred_len,
                    constants,
                )
                if windows.n_candidates == 0:
                    raise ValueError(
                        f"{table.where}: the {name} split has {end - start} rows (rows [{start}, {end})), too "
                        f"few for one window of seq_len + pred_len = {self.seq_len + self.pred_len}; "
                        "give a shorter seq_len/pred_len, other split sizes, or more rows"
                    )
                check_skipped(table, name, (start, end), windows)
                parts.setdefault(name, []).append(windows)
        self.datasets = {name: ds[0] if len(ds) == 1 else ConcatDataset(ds) for name, ds in parts.items()}
        log.info("%s windows: %s (%d series)", self.dataset, self.num_windows, len(self.tables))

    def _bounds(self, table: SeriesTable) -> dict[Stage, tuple[int, int]]:
        """The split rows of one series; an error when it leaves no training rows."""
        bounds = split_bounds(len(table), self.seq_len, self.split_spec, dates=table.dates, where=table.where)
        if bounds["train"][1] == 0:
            raise DataValidationError(
                f"{table.where}: {len(table)} row(s) leave no training rows under the {self.split} split; "
                f"a series needs at least seq_len + pred_len = {self.seq_len + self.pred_len} training rows"
            )
        return bounds

    def _fit_covariates(self, train_ends: list[int]) -> None:
        """The future covariates' scaler (the training rows of every series) and the statics' encoding."""
        if self.future_columns:
            scaler = fit_pooled_scaler(self.future_tables, train_ends, self.scale)
            self.future_covariates = FutureCovariates(tuple(self.future_columns), scaler)
        if self.static_columns:
            self.static_covariates = StaticCovariates.fit(self.static_columns, self.static_values)

    def _marks(self, index: int, table: SeriesTable) -> np.ndarray:
        """The time features (N, F + K + E) of series ``index``: its calendar, its scaled future covariates,
        then its encoded statics."""
        calendar = calendar_features(table.dates, self.freq, self.time_encoding)
        future = None
        if self.future_covariates is not None:
            future = self.future_covariates.scaled(self.future_tables[index].values)
        return covariate_marks(calendar, future, self._static_features(table))

    def _static_features(self, table: SeriesTable) -> np.ndarray | None:
        """The encoded statics (E,) of one series, or None without static_columns."""
        if self.static_covariates is None:
            return None
        return self.static_covariates.encode(self.static_values[table.series_id], table.where)

    def align_columns(self, columns: Sequence[str]) -> None:
        """Read the channels in the order ``columns`` (a pretrained model's), rebuilding the windows.

        Args:
            columns: every input channel, targets last, as the model was trained on them.
        """
        if self.input_columns == list(columns):
            return
        self.columns = list(columns)
        self.hparams["columns"] = list(columns)
        self.__dict__.pop("tables", None)
        self.__dict__.pop("future_tables", None)
        self.__dict__.pop("static_values", None)
        self.datasets, self.series_scalers = {}, {}
        self.setup()

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

    def scaler_of(self, series_id: str = "") -> StandardScaler:
        """The input scaler of one series (the only one for a wide file), after ``setup``."""
        self.setup()
        if self.is_long:
            return self.series_scalers[series_id]
        assert self.scaler is not None
        return self.scaler

    def future_windows(self) -> FutureWindows:
        """The window after the last row of each series (its future), scaled with its training statistics."""
        self.setup()
        if self.future_columns:
            raise DataValidationError(
                f"{self.dataset}: the future after the last row needs the future_columns {self.future_columns} "
                "over the horizon, which the file does not have; forecast with train.py forecast MODEL DATA "
                "--future FUTURE_FILE (zoo.forecast(..., future=...)) instead of predict"
            )
        return future_windows(
            self.tables,
            [self.scaler_of(t.series_id) for t in self.tables],
            seq_len=self.seq_len,
            pred_len=self.pred_len,
            n_targets=self.n_targets,
            freq=self.freq,
            time_encoding=self.time_encoding,
            statics=[self._static_features(t) for t in self.tables],
        )

    def _loader(self, dataset: Dataset, *, train: bool) -> DataLoader:
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
                sampler = EpochShuffleSampler(len(dataset), seed)  # type: ignore[arg-type]
        else:
            # Every window on exactly one process, unpadded (zoo.data.sampling); eval_drop_last keeps the
            # whole batches of the split, as on one device, before they are shared out.
            num_items = len(dataset)  # type: ignore[arg-type]
            if self.eval_drop_last:
                num_items -= num_items % self.eval_batch_size
            sampler = EvalSampler(num_items, name=f"{self.dataset} windows")
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=False,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def _stage_loader(self, name: Stage, *, train: bool) -> DataLoader | list:
        self.setup()
        if name not in self.datasets:  # split="none", or a size of 0: Lightning skips the loop
            return []
        return self._loader(self.datasets[name], train=train)

    def train_dataloader(self) -> DataLoader:
        loader = self._stage_loader("train", train=True)
        assert isinstance(loader, DataLoader)
        return loader

    def val_dataloader(self) -> DataLoader | list:
        return self._stage_loader("val", train=False)

    def test_dataloader(self) -> DataLoader | list:
        self.setup()
        if "test" not in self.datasets:  # split="none" or test_size=0 (panels always have one)
            raise ValueError(
                f"{self.dataset}: there is no test split (split={self.split_spec.kind!r}, "
                f"test_size={self.split_spec.test_size}); give a test_size or test_start to test"
            )
        return self._stage_loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        """The future of each series: one window per series, its last ``seq_len`` rows (panels: the test split)."""
        if self.is_panel:
            loader = self._stage_loader("test", train=False)
            assert isinstance(loader, DataLoader)
            return loader
        return self._loader(FutureWindowDataset(self.future_windows()), train=False)
