"""The contract shared by every forecaster.

A forecaster is a plain ``nn.Module`` built from the dimensions the data fixes, always these six
keyword arguments (the CLI links them from the datamodule, so they are never typed twice):

``n_features`` C_in, ``seq_len`` L, ``pred_len`` P, ``n_targets`` C_out (default C_in),
``label_len`` (decoder warm-start, <= L) and ``n_time_features`` F.

``forward(x, x_mark=None, y_mark=None)`` maps x (B, L, C_in) to (B, P, C_out). The targets are the last
C_out channels of ``x`` (the data layer puts the target column last), which is what RevIN and the
naive forecaster rely on.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch
from torch import nn


class RecordsConstructorArgs:
    """Mixin that remembers the arguments a model was built with, defaults filled in.

    ``zoo.hub.save_pretrained`` writes them to ``config.json`` for any net, however it was built:
    ``zoo.create_model``, a ``class_path`` in a YAML config, or a direct call. They are recorded in
    ``__new__``, before ``__init__`` runs, so subclasses need no code of their own.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        obj = super().__new__(cls)
        try:
            bound = inspect.signature(cls.__init__).bind(obj, *args, **kwargs)
        except TypeError:
            return obj  # copy/deepcopy call __new__ bare and restore __dict__; __init__ reports bad calls
        bound.apply_defaults()
        recorded = dict(bound.arguments)
        recorded.pop(next(iter(recorded)))  # self
        obj.__dict__["_constructor_args"] = recorded
        return obj

    @property
    def constructor_args(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this model (a copy); empty if it was built unusually."""
        return dict(self.__dict__.get("_constructor_args", {}))


class Forecaster(RecordsConstructorArgs, nn.Module):
    """Base class holding and validating the data dimensions (see the module docstring)."""

    #: The layers LoRA adapts by default (``zoo.adapters``): module-name suffixes, or a full-match regex.
    lora_target_modules: ClassVar[list[str] | str | None] = None

    def __init__(
        self,
        n_features: int,
        seq_len: int,
        pred_len: int,
        n_targets: int | None = None,
        label_len: int = 0,
        n_time_features: int = 0,
    ) -> None:
        super().__init__()
        n_targets = n_features if n_targets is None else n_targets
        for name, value in (("n_features", n_features), ("seq_len", seq_len), ("pred_len", pred_len),
                            ("n_targets", n_targets)):
            if value <= 0:
                raise ValueError(f"{type(self).__name__}: {name} must be positive, got {value}")
        if n_targets > n_features:
            raise ValueError(f"{type(self).__name__}: n_targets={n_targets} exceeds n_features={n_features}")
        if not 0 <= label_len <= seq_len:
            raise ValueError(f"{type(self).__name__}: label_len must lie in [0, {seq_len}], got {label_len}")
        if n_time_features < 0:
            raise ValueError(f"{type(self).__name__}: n_time_features must be >= 0, got {n_time_features}")
        self.n_features, self.seq_len, self.pred_len = n_features, seq_len, pred_len
        self.n_targets, self.label_len, self.n_time_features = n_targets, label_len, n_time_features

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error when ``x`` is not (B, L, C_in)."""
        if x.ndim != 3 or x.shape[-1] != self.n_features:
            raise ValueError(
                f"{type(self).__name__}: expected x of shape (B, L, {self.n_features}), got {tuple(x.shape)}"
            )

    def check_marks(self, mark: torch.Tensor, name: str, length: int) -> None:
        """Raise a clear error when a time-feature tensor is not (B, length, F)."""
        if mark.ndim != 3 or mark.shape[1:] != (length, self.n_time_features):
            raise ValueError(
                f"{type(self).__name__}: expected {name} of shape (B, {length}, {self.n_time_features}), "
                f"got {tuple(mark.shape)}"
            )

    def series_marks(self, mark: torch.Tensor | None, name: str, length: int, series: int) -> torch.Tensor:
        """Time features (B, length, F) repeated for ``series`` rows (B * channels when channel-independent,
        channel-major within each sample), as (series, length, F); a clear error when missing or misshapen."""
        if mark is None:
            raise ValueError(f"{type(self).__name__} was built with use_time_features=True: pass {name}")
        self.check_marks(mark, name, length)
        return mark.repeat_interleave(series // mark.shape[0], dim=0)
