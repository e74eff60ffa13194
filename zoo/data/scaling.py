"""Per-channel standardisation fitted on the training rows only (Informer / TSLib protocol).

Matches ``sklearn.preprocessing.StandardScaler``: population standard deviation (ddof=0), and a
channel with zero variance keeps scale 1 instead of dividing by zero. Like sklearn's, the statistics
ignore NaN (values kept missing by ``missing="keep"``), and ``transform`` leaves a NaN a NaN; a channel
with no value at all is an error, since it has no statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class StandardScaler:
    """``transform(v) = (v - mean) / std`` per channel; ``mean``/``std`` have shape (C,)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> StandardScaler:
        """Fit on ``values`` (N, C), ignoring NaN; a channel that is all NaN is a ValueError naming its index.

        Args:
            values: the training rows (N, C).
        """
        if values.ndim != 2 or len(values) == 0:
            raise ValueError(f"StandardScaler.fit needs a non-empty (N, C) array, got shape {values.shape}")
        empty = np.flatnonzero(np.isnan(values).all(axis=0))
        if len(empty):
            raise ValueError(
                f"StandardScaler.fit: channel {int(empty[0])} has no value (all {len(values)} rows are NaN)"
            )
        if np.isnan(values).any():
            mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        else:  # the plain reductions, bit for bit what the shipped scalers were fitted with
            mean, std = values.mean(axis=0), values.std(axis=0)
        return cls(mean=mean, std=np.where(std > 0, std, 1.0))

    @classmethod
    def from_record(cls, record: dict[str, list[float]]) -> StandardScaler:
        """The scaler of a ``{"mean": [...], "std": [...]}`` record (a pretrained config's)."""
        return cls(
            mean=np.asarray(record["mean"], dtype=np.float64), std=np.asarray(record["std"], dtype=np.float64)
        )

    @classmethod
    def identity(cls, n_channels: int) -> StandardScaler:
        """The no-op scaler (``scale=False``)."""
        return cls(mean=np.zeros(n_channels), std=np.ones(n_channels))

    @property
    def n_channels(self) -> int:
        return len(self.mean)

    def select(self, channels: list[int] | slice) -> StandardScaler:
        """The scaler restricted to some channels (e.g. the target of features 'MS')."""
        return StandardScaler(mean=self.mean[channels], std=self.std[channels])

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale ``values`` (..., C)."""
        return (values - self.mean) / self.std

    def inverse_transform(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Map scaled ``values`` (..., C) back to original units; a tensor stays a tensor on its device."""
        if isinstance(values, torch.Tensor):
            mean = torch.as_tensor(self.mean, dtype=values.dtype, device=values.device)
            std = torch.as_tensor(self.std, dtype=values.dtype, device=values.device)
            return values * std + mean
        return values * self.std + self.mean
