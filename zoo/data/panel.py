"""Univariate panels (many short series of different lengths) windowed the way N-BEATS trains on M4.

Follows the training methodology of N-BEATS (Oreshkin, Carpov, Chapados, Bengio, "N-BEATS: Neural basis
expansion analysis for interpretable time series forecasting", ICLR 2020, "Training methodology" and the
appendix on the M4 set-up) and the split of the M4 competition (Makridakis, Spiliotis, Assimakopoulos,
"The M4 Competition: 100,000 time series and 61 forecasting methods", IJF 2020). ``P`` is the horizon,
``L`` the lookback, ``n`` a series' length, ``m`` the seasonal period.

- **train**: every series minus its last ``P`` values (those are the validation targets). A window is a
  (series, cut) pair: the cut lies in ``[max(1, n' - K), n')`` with ``n' = n - P`` and
  ``K = int(history_limit * P)`` (the paper's ``L_H``, as the reference implementation rounds it);
  ``x`` = the ``L`` values before the cut, left zero-padded where the series has none (``x_mask`` 0),
  ``y`` = the next ``P`` values, zero-padded past the shortened series' end (``y_mask`` 0), so a
  training target never reaches a validation value. :class:`PanelSampler` draws an epoch the
  reference's way: a series uniformly at random, then a cut uniformly among its candidates.
- **val**: one window per series, cut at ``n - P``: ``y`` = the last ``P`` training values (the paper's
  validation protocol; never the test set, unlike TSLib's M4 loader).
- **test**: one window per series, cut at ``n``: ``x`` = the last ``L`` training values, ``y`` = the
  official test values.

``mase_scale`` is the in-sample seasonal-naive MAE ``mean |h_t - h_{t-m}|``: for training windows over
the valid (unpadded) lookback values, for validation windows over the whole history before the cut,
for test windows over the whole training series (the official M4 MASE denominator). With fewer than
``m + 1`` values it is 0, meaning "undefined": losses and metrics divide by it with a 0/0 -> 0 rule.
Differences from the reference sampler (ElementAI's, now ServiceNow's, N-BEATS ``common/sampler.py``): draws depend only on
``(seed, epoch)`` (resumable), and the training ``mase_scale`` skips the zero padding, which the
reference's MASE loss includes in its denominator.

Series shorter than ``L`` are left zero-padded (``x_mask`` says which values are real) rather than
rejected; a series needs at least ``P + 2`` values for the train/val split (``P`` validation targets,
then one lookback value and one target for the single possible training cut).

Items are dicts (shapes for one window; the loader adds the batch axis B):
``x`` (L, 1), ``y`` (P, 1), ``x_mark`` (L, 0), ``y_mark`` (P, 0), ``x_mask`` (L, 1), ``y_mask`` (P, 1),
``mase_scale`` () float32, ``series`` () long, and for the test split ``naive2`` (P, 1) when the panel
has the Naive2 benchmark forecasts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from zoo.data.table import DataValidationError, Stage


@dataclass(frozen=True)
class SeriesPanel:
    """A univariate panel: ``N`` training histories of any length, and optionally their future.

    Attributes:
        ids: series names, e.g. ``("H1", ..., "H414")`` (N,), unique.
        train: the training histories, float64 arrays of shapes (n_i,), or None when only the test
            set exists (M4 Yearly here).
        test: the official future values, (N, P) float64, or None.
        naive2: a benchmark forecast of ``test`` (M4's Naive2), (N, P) float64, or None.
        horizon: P. period: the seasonal period m of MASE (M4: Hourly 24, Weekly 1, Yearly 1).
        source: where the series came from, for error messages (a file path or a name).

    The constructor validates (unique ids, non-empty finite histories, (N, P) blocks) and copies its
    inputs into float64 arrays the panel owns; sequences of floats are accepted too.
    """

    ids: tuple[str, ...]
    train: tuple[np.ndarray, ...] | None
    test: np.ndarray | None
    naive2: np.ndarray | None
    horizon: int
    period: int
    source: str = "panel"

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.period < 1:
            raise ValueError(
                f"{self.source}: horizon and period must be >= 1, got {self.horizon}, {self.period}"
            )
        ids = tuple(str(i) for i in self.ids)
        object.__setattr__(self, "ids", ids)
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                raise DataValidationError(f"{self.source}: series id {i!r} appears more than once")
            seen.add(i)
        if self.train is not None:
            if len(self.train) != len(ids):
                raise DataValidationError(
                    f"{self.source}: {len(ids)} ids but {len(self.train)} training series"
                )
            histories = tuple(self._check_history(i, s) for i, s in zip(ids, self.train, strict=True))
            object.__setattr__(self, "train", histories)
        for name in ("test", "naive2"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, self._check_block(name, value))

    def _check_history(self, series_id: str, values: np.ndarray | Sequence[float]) -> np.ndarray:
        arr = np.array(
            values, dtype=np.float64
        )  # a copy: the panel owns writable arrays, not the reader's cache
        if arr.ndim != 1:
            raise DataValidationError(
                f"{self.source}: series {series_id!r} must be 1-D, got shape {arr.shape}"
            )
        if arr.size == 0:
            raise DataValidationError(f"{self.source}: series {series_id!r} is empty")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise DataValidationError(
                f"{self.source}: series {series_id!r} has a non-finite value {arr[bad[0]]} at position {bad[0]}"
            )
        return arr

    def _check_block(self, name: str, values: np.ndarray) -> np.ndarray:
        arr = np.array(values, dtype=np.float64)
        if arr.shape != (len(self.ids), self.horizon):
            raise DataValidationError(
                f"{self.source}: {name} must have shape (N, P) = ({len(self.ids)}, {self.horizon}), got {arr.shape}"
            )
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            row, col = bad[0]
            raise DataValidationError(
                f"{self.source}: {name} of series {self.ids[row]!r} has a non-finite value at step {col}"
            )
        return arr

    def __len__(self) -> int:
        return len(self.ids)

    def histories(self) -> tuple[np.ndarray, ...]:
        """The training series; a clear error when the panel has none."""
        if self.train is None:
            raise ValueError(f"{self.source}: this panel has no training series")
        return self.train


def seasonal_mae(values: np.ndarray, period: int) -> float:
    """In-sample seasonal-naive MAE ``mean_t |v_t - v_{t-m}|`` of ``values`` (n,) (M4's MASE denominator).

    0.0 when ``n < m + 1`` (undefined: a scale-free loss then ignores the window).
    """
    if len(values) <= period:
        return 0.0
    return float(np.mean(np.abs(values[period:] - values[:-period])))


class PanelWindows(Dataset[dict[str, torch.Tensor]]):
    """Windows at given cut points of a list of series (the module docstring has the protocol).

    Item ``i`` is the ``o``-th candidate cut of series ``s``, where ``offsets[s] <= i < offsets[s + 1]``
    and ``o = i - offsets[s]``; the cut is ``first_cut[s] + o``. All series live in one flat buffer,
    each padded with ``L`` zeros on the left and ``P`` on the right, so a batch of windows is one
    gather: indexing with a sequence of indices returns the stacked batch (0.7 ms for B = 1024 on 2 CPU cores,
    where item-by-item loading plus the default collate takes ~35 ms), which is how the training loader
    reads it (a :class:`PanelSampler` that yields whole batches, ``DataLoader(batch_size=None)``).

    Args:
        series: the values windows are cut from, float64 arrays (n_i,).
        first_cut, n_cuts: per series, the first cut and the number of consecutive cuts (N,).
        seq_len: L. pred_len: P. period: m, for ``mase_scale``.
        scale_over: "lookback" = ``mase_scale`` over the valid lookback values; "history" = over every
            value before the cut.
        naive2: optional per-series benchmark forecasts (N, P), returned as ``naive2`` (P, 1).
    """

    def __init__(
        self,
        series: Sequence[np.ndarray],
        first_cut: np.ndarray,
        n_cuts: np.ndarray,
        *,
        seq_len: int,
        pred_len: int,
        period: int,
        scale_over: Literal["lookback", "history"],
        naive2: np.ndarray | None = None,
    ) -> None:
        self.seq_len, self.pred_len, self.period, self.scale_over = seq_len, pred_len, period, scale_over
        self.first_cut = np.asarray(first_cut, dtype=np.int64)
        self.n_cuts = np.asarray(n_cuts, dtype=np.int64)
        lengths = np.array([len(v) for v in series], dtype=np.int64)
        if not len(lengths) == len(self.first_cut) == len(self.n_cuts):
            raise ValueError("PanelWindows: series, first_cut and n_cuts must have one entry per series")
        if (
            (self.n_cuts < 1).any()
            or (self.first_cut < 0).any()
            or (self.first_cut + self.n_cuts > lengths + 1).any()
        ):
            raise ValueError("PanelWindows: every series needs at least one cut inside [0, n]")
        self.offsets = np.concatenate([[0], np.cumsum(self.n_cuts)])
        padded = lengths + seq_len + pred_len
        self._base = np.concatenate([[0], np.cumsum(padded)[:-1]])  # series s starts at _base[s] (N,)
        self._values = np.zeros(int(padded.sum()), dtype=np.float32)
        self._mask = np.zeros(int(padded.sum()), dtype=np.float32)
        # _cum[_cum_base[s] + k] = sum of |v_t - v_{t-m}| over t in [m, m + k) for series s: a window's
        # scale is one difference of two entries
        diffs = [np.abs(v[period:] - v[:-period]) for v in (np.asarray(v, dtype=np.float64) for v in series)]
        self._cum_base = np.concatenate([[0], np.cumsum([len(d) + 1 for d in diffs])[:-1]])
        self._cum = np.concatenate([np.concatenate([[0.0], np.cumsum(d)]) for d in diffs])
        for b, v in zip(self._base, series, strict=True):
            self._values[b + seq_len : b + seq_len + len(v)] = v
            self._mask[b + seq_len : b + seq_len + len(v)] = 1.0
        self._naive2 = None if naive2 is None else np.asarray(naive2, dtype=np.float32)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_series(self) -> int:
        return len(self.n_cuts)

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(series, cut)`` of items ``indices``, two int64 arrays of the same shape."""
        i = np.asarray(indices, dtype=np.int64)
        if i.size and (i.min() < 0 or i.max() >= len(self)):
            bad = int(i[(i < 0) | (i >= len(self))][0])
            raise IndexError(f"window {bad} out of range for {len(self)} windows")
        s = np.searchsorted(self.offsets, i, side="right") - 1
        return s, self.first_cut[s] + i - self.offsets[s]

    def mase_scale(self, series: np.ndarray, cut: np.ndarray) -> np.ndarray:
        """Seasonal-naive MAE of ``series`` over the values before ``cut`` (see ``scale_over``), float64."""
        start = np.maximum(cut - self.seq_len, 0) if self.scale_over == "lookback" else np.zeros_like(cut)
        count = cut - start - self.period  # differences v_t - v_{t-m} with start + m <= t < cut
        ok = count > 0
        hi = self._cum[self._cum_base[series] + np.where(ok, cut - self.period, 0)]
        lo = self._cum[self._cum_base[series] + np.where(ok, start, 0)]
        return np.where(ok, (hi - lo) / np.maximum(count, 1), 0.0)

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """Items ``indices`` stacked (B = len(indices)): ``x`` (B, L, 1), ``mase_scale`` (B,), ..."""
        s, cut = self.locate(np.asarray(indices, dtype=np.int64).reshape(-1))
        L, P = self.seq_len, self.pred_len
        start = (self._base[s] + cut)[:, None]  # padded index = original + L: x = [cut - L, cut) (B, 1)
        x_at, y_at = start + np.arange(L), start + L + np.arange(P)  # (B, L), (B, P)
        out = {
            "x": torch.from_numpy(self._values[x_at][..., None]),  # (B, L, 1)
            "y": torch.from_numpy(self._values[y_at][..., None]),  # (B, P, 1)
            "x_mark": torch.zeros(len(s), L, 0),
            "y_mark": torch.zeros(len(s), P, 0),
            "x_mask": torch.from_numpy(self._mask[x_at][..., None]),
            "y_mask": torch.from_numpy(self._mask[y_at][..., None]),
            "mase_scale": torch.from_numpy(self.mase_scale(s, cut).astype(np.float32)),  # (B,)
            "series": torch.from_numpy(s),  # (B,) long
        }
        if self._naive2 is not None:
            out["naive2"] = torch.from_numpy(self._naive2[s][..., None])  # (B, P, 1)
        return out

    def __getitem__(self, index: int | Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """One window (an int: ``x`` (L, 1), ``mase_scale`` ()) or a stacked batch (a sequence of ints)."""
        if isinstance(index, (int, np.integer)):
            return {k: v[0] for k, v in self.batch([int(index)]).items()}
        return self.batch(index)

    def epoch_sampler(self, samples: int | None, seed: int, batch_size: int | None = None) -> PanelSampler:
        """The training order: ``samples`` draws per epoch (None: ``len(self)``), see :class:`PanelSampler`."""
        return PanelSampler(self.n_cuts, samples if samples is not None else len(self), seed, batch_size)


class PanelSampler(Sampler[int]):
    """N-BEATS batch sampling as indices into :class:`PanelWindows`, a function of ``(seed, epoch)`` only.

    Each of the ``samples`` draws of an epoch picks a series uniformly at random, then one of its
    candidate cuts uniformly (the reference's scheme, so short series are not under-sampled). The
    generator is ``numpy.random.default_rng([seed, epoch])``; Lightning calls ``set_epoch`` before
    each epoch, so a resumed run draws exactly the windows the uninterrupted run would have.

    With ``batch_size`` it yields lists of that many indices (the last one shorter) instead of ints,
    for ``DataLoader(dataset, sampler=..., batch_size=None)``: the dataset then fetches a whole batch
    at once, and the sampler is still ``loader.sampler``, where Lightning's ``set_epoch`` finds it.
    """

    def __init__(
        self, n_cuts: np.ndarray, samples: int, seed: int = 0, batch_size: int | None = None
    ) -> None:
        if samples < 1:
            raise ValueError(f"train_samples must be a positive integer, got {samples}")
        if seed < 0:
            raise ValueError(f"the sampling seed must be >= 0, got {seed}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.n_cuts = np.asarray(n_cuts, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_cuts)[:-1]])
        self.samples, self.seed, self.batch_size, self.epoch = samples, seed, batch_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples if self.batch_size is None else -(-self.samples // self.batch_size)

    def draws(self) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's ``(series, cut offset)`` pairs, two (samples,) int64 arrays."""
        rng = np.random.default_rng([self.seed, self.epoch])
        series = rng.integers(0, len(self.n_cuts), size=self.samples)
        return series, rng.integers(0, self.n_cuts[series])

    def __iter__(self) -> Iterator[int] | Iterator[list[int]]:
        series, offset = self.draws()
        indices = (self.offsets[series] + offset).tolist()
        if self.batch_size is None:
            return iter(indices)
        return (indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size))


def _min_train_length(panel: SeriesPanel, stage: str) -> None:
    P = panel.horizon
    for sid, values in zip(panel.ids, panel.histories(), strict=True):
        if len(values) < P + 2:
            raise DataValidationError(
                f"{panel.source}: series {sid!r} has {len(values)} values; the {stage} split needs at least "
                f"P + 2 = {P + 2} (the last P = {P} are validation targets, and one training window needs "
                f"one lookback value and one target before them)"
            )


def panel_train_windows(panel: SeriesPanel, seq_len: int, history_limit: float) -> PanelWindows:
    """Every candidate training window: cuts in ``[max(1, n' - int(history_limit * P)), n')``, ``n' = n - P``."""
    P = panel.horizon
    limit = int(history_limit * P)
    if limit < 1:
        raise ValueError(
            f"history_limit * pred_len must be >= 1 (one candidate cut), got {history_limit} * {P}"
        )
    _min_train_length(panel, "train")
    shortened = [v[:-P] for v in panel.histories()]
    first = np.array([max(1, len(v) - limit) for v in shortened], dtype=np.int64)
    n_cuts = np.array([len(v) for v in shortened], dtype=np.int64) - first
    return PanelWindows(
        shortened, first, n_cuts, seq_len=seq_len, pred_len=P, period=panel.period, scale_over="lookback"
    )


def panel_val_windows(panel: SeriesPanel, seq_len: int) -> PanelWindows:
    """One window per series, cut ``P`` values before the end of its training history."""
    _min_train_length(panel, "val")
    histories = panel.histories()
    first = np.array([len(v) - panel.horizon for v in histories], dtype=np.int64)
    return PanelWindows(
        histories,
        first,
        np.ones(len(panel), dtype=np.int64),
        seq_len=seq_len,
        pred_len=panel.horizon,
        period=panel.period,
        scale_over="history",
    )


def panel_test_windows(panel: SeriesPanel, seq_len: int) -> PanelWindows:
    """One window per series: the end of its training history, then its official test values."""
    if panel.test is None:
        raise ValueError(f"{panel.source}: this panel has no test values")
    joined = [np.concatenate([h, t]) for h, t in zip(panel.histories(), panel.test, strict=True)]
    first = np.array([len(h) for h in panel.histories()], dtype=np.int64)
    return PanelWindows(
        joined,
        first,
        np.ones(len(panel), dtype=np.int64),
        seq_len=seq_len,
        pred_len=panel.horizon,
        period=panel.period,
        scale_over="history",
        naive2=panel.naive2,
    )


def panel_datasets(panel: SeriesPanel, seq_len: int, history_limit: float) -> dict[Stage, PanelWindows]:
    """The three splits of ``panel`` (module docstring); ``seq_len`` is the lookback L."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be a positive integer, got {seq_len}")
    return {
        "train": panel_train_windows(panel, seq_len, history_limit),
        "val": panel_val_windows(panel, seq_len),
        "test": panel_test_windows(panel, seq_len),
    }
