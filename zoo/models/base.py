"""The contract shared by every forecaster.

A forecaster is a plain ``nn.Module`` built from the dimensions the data fixes, always these six
keyword arguments (the CLI links them from the datamodule, so they are never typed twice):

``n_features`` C_in, ``seq_len`` L, ``pred_len`` P, ``n_targets`` C_out (default C_in),
``label_len`` (decoder warm-start, <= L) and ``n_time_features`` F.

They are described once, in the ``Args:`` section of :class:`Forecaster`; every subclass that takes them
gets those lines appended to its own ``Args:`` section when the class is created
(:meth:`Forecaster.__init_subclass__`), which is where the CLI's ``--help`` (jsonargparse, through
docstring-parser) reads a class's parameters.

``forward(x, x_mark=None, y_mark=None)`` maps x (B, L, C_in) to (B, P, C_out): it runs the subclass's
``forecast``, inside reversible instance normalisation when the model is built with ``revin=True``
(RevIN is an option of every forecaster, so a pretrained one carries it). The targets are the last
C_out channels of ``x`` (the data layer puts the target column last), which is what RevIN and the
naive forecaster rely on.

Options every forecaster takes besides RevIN: ``distribution`` / ``quantiles`` (a probabilistic head around
the point forecast, :meth:`Forecaster.predict_distribution`, :mod:`zoo.layers.distribution_heads`) and
``future_effect`` (a linear effect of the known-future time features, :mod:`zoo.layers.future_effect`).

Time features: a forecaster that can read x_mark / y_mark takes ``use_time_features: bool | None``
with one meaning everywhere (:meth:`Forecaster.time_features_used`): True reads them (and needs
``n_time_features > 0``), False ignores them, None reads them when the data has them. A model that reads
them and is called without them raises the same error (:meth:`Forecaster.required_marks`).
"""

from __future__ import annotations

import inspect
import re
from typing import Any, ClassVar

import torch
from torch import nn

from zoo.choices import check_choice
from zoo.distributions import DistributionName, Prediction
from zoo.layers.distribution_heads import build_head
from zoo.layers.future_effect import FutureEffect
from zoo.layers.revin import RevIN


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
    """Base class holding and validating the data dimensions (see the module docstring).

    Args:
        n_features: C_in, the channels of the lookback window x (B, L, C_in); the targets are the last
            C_out of them (the data layer puts the target column last).
        seq_len: L, the lookback length.
        pred_len: P, the horizon: the forecast is (B, P, C_out).
        n_targets: C_out, the channels forecast (None: all C_in channels).
        label_len: decoder warm-start length (<= L): encoder-decoder models feed their decoder the last
            ``label_len`` steps of x before the P steps to forecast; 0 for the others.
        n_time_features: F, the time features per step in x_mark (B, L, F) and y_mark (B, P, F);
            0 when the data has none.
        revin: normalise each input window by its own per-channel mean and standard deviation and map the
            forecast back (RevIN, Kim et al., ICLR 2022; :class:`zoo.layers.RevIN`).
        revin_affine: give RevIN its learnable per-channel affine map.
        distribution: what the model predicts besides its point forecast: "point" (nothing), "quantile"
            (non-crossing quantiles at ``quantiles``, trained with the pinball loss), "normal" or "student_t"
            (trained with the negative log-likelihood); the head is
            :mod:`zoo.layers.distribution_heads`, the same for every forecaster.
        quantiles: the levels of ``distribution="quantile"``, strictly increasing in (0, 1)
            (None: 0.1, 0.5, 0.9).
        future_effect: add a linear effect of each step's time features (calendar and the data's
            ``future_columns``) to every target: removed from the lookback, added to the forecast at the
            same step (:mod:`zoo.layers.future_effect`); needs ``n_time_features > 0`` and the marks.
    """

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
        revin: bool = False,
        revin_affine: bool = True,
        distribution: DistributionName = "point",
        quantiles: list[float] | None = None,
        future_effect: bool = False,
    ) -> None:
        super().__init__()
        n_targets = n_features if n_targets is None else n_targets
        for name, value in (
            ("n_features", n_features),
            ("seq_len", seq_len),
            ("pred_len", pred_len),
            ("n_targets", n_targets),
        ):
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
        self.revin = RevIN(n_features, affine=revin_affine) if revin else None
        check_choice("distribution", distribution, DistributionName)
        self.distribution = distribution
        self.distribution_head = build_head(distribution, quantiles, seq_len, pred_len)
        if future_effect and n_time_features == 0:
            raise ValueError(
                f"{type(self).__name__}: future_effect=True needs time features (n_time_features > 0): "
                "time_encoding='timeF' or future_columns in the data"
            )
        self.future_effect = FutureEffect(n_time_features, n_targets) if future_effect else None
        self._forecast_takes_mask = "x_mask" in inspect.signature(self.forecast).parameters

    def forward(
        self,
        x: torch.Tensor,
        x_mark: torch.Tensor | None = None,
        y_mark: torch.Tensor | None = None,
        x_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The forecast (B, P, C_out) of x (B, L, C_in): :meth:`forecast`, inside RevIN when ``revin``.

        ``x_mask`` (B, L, 1) marks the left padding of short panel histories; it reaches only the models
        whose ``forecast`` takes it.
        """
        extra = {"x_mask": x_mask} if x_mask is not None and self._forecast_takes_mask else {}
        if self.future_effect is None:
            return self._forecast_normalised(x, x_mark, y_mark, extra)
        self.check_input(x)
        x_mark, y_mark = self.checked_window_marks(x_mark, y_mark, self.seq_len)
        split = self.n_features - self.n_targets
        adjusted = torch.cat([x[..., :split], x[..., split:] - self.future_effect(x_mark)], dim=-1)
        return self._forecast_normalised(adjusted, x_mark, y_mark, extra) + self.future_effect(y_mark)

    def _forecast_normalised(
        self,
        x: torch.Tensor,
        x_mark: torch.Tensor | None,
        y_mark: torch.Tensor | None,
        extra: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """:meth:`forecast`, inside RevIN when the model has it."""
        if self.revin is None:
            return self.forecast(x, x_mark, y_mark, **extra)
        self.check_input(x)  # before RevIN, so a wrong width gets the same message with RevIN as without
        return self.revin.around(lambda normed: self.forecast(normed, x_mark, y_mark, **extra), x)

    def predict_distribution(
        self,
        x: torch.Tensor,
        x_mark: torch.Tensor | None = None,
        y_mark: torch.Tensor | None = None,
        x_mask: torch.Tensor | None = None,
    ) -> Prediction:
        """The probabilistic forecast of x (B, L, C_in): the head's prediction around :meth:`forward`'s point
        forecast (B, P, C_out), in the units of x; an error for a model built with ``distribution="point"``."""
        if self.distribution_head is None:
            raise ValueError(
                f"{type(self).__name__} was built with distribution='point' and forecasts points only; build it "
                "with distribution='quantile' (and quantiles=[...]), 'normal' or 'student_t' for intervals, or use "
                "conformal intervals (zoo.forecast(..., quantiles=[0.1, 0.9], conformal=True))"
            )
        point = self(x, x_mark, y_mark, x_mask)
        return self.distribution_head(x[..., self.n_features - self.n_targets :], point)

    def forecast(
        self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The model itself, x (B, L, C_in) -> (B, P, C_out); every forecaster implements it."""
        raise NotImplementedError(f"{type(self).__name__} must implement forecast(x, x_mark, y_mark)")

    def compiled_networks(self) -> list[nn.Module]:
        """What ``model.compile`` compiles (:mod:`zoo.tasks.compiling`): the whole forecaster, RevIN included."""
        return [self]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Append the data dimensions' ``Args:`` lines to the docstring of a subclass that takes them."""
        super().__init_subclass__(**kwargs)
        taken = [name for name in inspect.signature(cls.__init__).parameters if name in SHARED_ARGUMENT_DOCS]
        cls.__doc__ = with_args_documented(cls.__doc__, {name: SHARED_ARGUMENT_DOCS[name] for name in taken})

    def time_features_used(self, use_time_features: bool | None) -> bool:
        """Resolve a model's ``use_time_features`` against ``n_time_features`` F (the same rule everywhere).

        True: the model reads x_mark / y_mark, which needs F > 0 (a clear error otherwise). False: they are
        ignored. None: read them when the data has them (F > 0).
        """
        if use_time_features is None:
            return self.n_time_features > 0
        if use_time_features and self.n_time_features == 0:
            raise ValueError(
                f"{type(self).__name__}: use_time_features=True needs n_time_features > 0 "
                "(time_encoding='timeF' in the data); use use_time_features=False or None"
            )
        return bool(use_time_features)

    def required_marks(self, **marks: torch.Tensor | None) -> None:
        """Raise the error every forecaster gives when it reads time features and some were not passed."""
        missing = [name for name, mark in marks.items() if mark is None]
        if missing:
            raise ValueError(
                f"{type(self).__name__} reads time features (use_time_features, "
                f"n_time_features={self.n_time_features}): pass {' and '.join(missing)}"
            )

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error when ``x`` is not (B, L, C_in)."""
        if x.ndim != 3 or x.shape[-1] != self.n_features:
            raise ValueError(
                f"{type(self).__name__}: expected x of shape (B, L, {self.n_features}), got {tuple(x.shape)}"
            )

    def checked_window_marks(
        self, x_mark: torch.Tensor | None, y_mark: torch.Tensor | None, lookback: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x_mark`` (B, lookback, F) and ``y_mark`` (B, P, F), or the shared errors when one is missing or
        misshapen.

        Args:
            x_mark: the lookback's time features.
            y_mark: the horizon's time features.
            lookback: the lookback length the model reads.
        """
        self.required_marks(x_mark=x_mark, y_mark=y_mark)
        assert x_mark is not None and y_mark is not None
        self.check_marks(x_mark, "x_mark", lookback)
        self.check_marks(y_mark, "y_mark", self.pred_len)
        return x_mark, y_mark

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
        self.required_marks(**{name: mark})
        self.check_marks(mark, name, length)
        return mark.repeat_interleave(series // mark.shape[0], dim=0)


_ARG_ITEM = re.compile(r"(?P<name>\*{0,2}\w+)(?: \([^)]*\))?:(?:\s|$)")


def _args_section(lines: list[str]) -> tuple[int, int, dict[str, list[str]]] | None:
    """Locate a google-style ``Args:`` section: (header line, item indent, item lines by name), or None."""
    header = next((i for i, line in enumerate(lines) if line.strip() == "Args:"), None)
    if header is None:
        return None
    base = len(lines[header]) - len(lines[header].lstrip())
    items: dict[str, list[str]] = {}
    indent, current = base + 4, None
    for line in lines[header + 1 :]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth <= base:  # the next section or paragraph
            break
        if current is None:
            indent = depth
        match = _ARG_ITEM.match(line.strip())
        if depth == indent and match:
            current = match["name"]
            items[current] = []
        if current is not None:
            items[current].append(line[indent:])
    return header, indent, items


def docstring_args(doc: str | None) -> dict[str, list[str]]:
    """The ``Args:`` entries of a google-style docstring, by name: each entry's lines, dedented to the item."""
    section = _args_section((doc or "").expandtabs().splitlines())
    return {} if section is None else section[2]


def with_args_documented(doc: str | None, entries: dict[str, list[str]]) -> str | None:
    """``doc`` with the ``Args:`` entries it lacks (of ``entries``) inserted first in its ``Args:`` section,
    which is created at the end when there is none."""
    lines = (doc or "").expandtabs().splitlines()
    section = _args_section(lines)
    documented = {} if section is None else section[2]
    missing = [line for name, entry in entries.items() if name not in documented for line in entry]
    if not missing:
        return doc
    if section is None:
        body = [line for line in lines[1:] if line.strip()]
        base = min((len(line) - len(line.lstrip()) for line in body), default=4)
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", " " * base + "Args:"]
        header, indent = len(lines) - 1, base + 4
    else:
        header, indent, _ = section
    lines[header + 1 : header + 1] = [" " * indent + line if line.strip() else "" for line in missing]
    return "\n".join(lines) + "\n"


#: The ``Args:`` entries every forecaster shares (the six data dimensions and RevIN), written once in :class:`Forecaster`.
SHARED_ARGUMENT_DOCS: dict[str, list[str]] = docstring_args(Forecaster.__doc__)
