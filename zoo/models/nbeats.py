"""N-BEATS: fully connected blocks with backcast/forecast heads and double residual stacking.

Oreshkin, Carpov, Chapados & Bengio, "N-BEATS: Neural basis expansion analysis for interpretable time
series forecasting", ICLR 2020; reference implementation ElementAI/N-BEATS (``models/nbeats.py``).

Each block maps its input (the residual of the lookback, B x L) through ``num_layers`` ReLU layers to
expansion coefficients, and a basis turns them into a backcast (L) and a forecast (P). Blocks run in
sequence: block l sees x_l = x_{l-1} - backcast_{l-1} (masked where the lookback is padding) and the
model's forecast is the sum of every block's forecast. Blocks are grouped in stacks:

- generic: the basis is learned (a linear layer from the last hidden to L + P values, as the reference
  implementation; the paper's V^b theta^b and V^f theta^f with theta of that size);
- trend: a polynomial basis t^0..t^degree, t = i / L over the backcast and i / P over the forecast;
- seasonality: a Fourier basis, cos(2 pi f t) for f = 0, 1/h, 2/h, ... and sin for f > 0, with
  h = ``harmonics`` (frequency resolution), floor(h * P / 2) frequencies and t = i / P in horizon units
  over both the backcast and the forecast (as the reference), so both see the same periods;
  the backcast and forecast have their own coefficients (the paper's theta^b, theta^f).

Weight sharing within a stack (the interpretable configuration's default) applies the same block
``num_blocks`` times. Differences from the reference: no input flip (it only reverses the axis the
coefficients are read from), and the Fourier basis sets its frequencies directly rather than through
the reference's ``harmonics`` grid over the horizon, giving the same function family.

N-BEATS is univariate. On multivariate data it runs channel-independently: each target channel
(the last C_out channels of x, the data layer's convention) is its own series through shared weights.
``forward`` accepts ``x_mask`` (B, L, C_in) of {0, 1} for left-padded histories (M4 panels).

``scale_inputs`` (off by default, not in the paper) divides each series by the mean absolute value of
its observed lookback and multiplies the forecast back: the raw M4 series span five orders of
magnitude, and without it the network spends thousands of steps learning the scale (the reference
trains 5000 steps of 1024 windows); the scale-free losses are unchanged by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from einops import rearrange
from torch import nn

from zoo.choices import check_choice
from zoo.distributions import DistributionName
from zoo.models.base import Forecaster
from zoo.registry import register_model

#: The paper's two configurations: N-BEATS-G (generic stacks) and N-BEATS-I (a trend and a seasonality stack).
NBeatsArchitecture = Literal["generic", "interpretable"]
BasisKind = Literal["generic", "trend", "seasonality", "exogenous"]


def polynomial_basis(length: int, degree: int) -> torch.Tensor:
    """Rows t^0 .. t^degree on t = i / length, i = 0..length-1: (degree + 1, length)."""
    t = torch.arange(length, dtype=torch.float64) / length
    return torch.stack([t**p for p in range(degree + 1)]).float()


def fourier_basis(length: int, horizon: int, harmonics: int) -> torch.Tensor:
    """cos(2 pi f t) for f = k / harmonics, k = 0..K-1, then sin for k = 1..K-1, t = i / horizon.

    K = max(floor(harmonics * horizon / 2), 1), so the forecast and backcast share one frequency set
    (periods down to two steps). Time runs in horizon units, so a backcast of ``length`` L steps and
    the forecast share the same periods. Returns (2K - 1, length).
    """
    count = max(harmonics * horizon // 2, 1)
    freq = torch.arange(count, dtype=torch.float64) / harmonics
    angle = 2 * math.pi * freq[:, None] * (torch.arange(length, dtype=torch.float64) / horizon)[None, :]
    return torch.cat([torch.cos(angle), torch.sin(angle[1:])]).float()


class NBeatsBlock(nn.Module):
    """``num_layers`` ReLU layers, then coefficients and a basis: x (N, L) -> (backcast (N, L), forecast (N, P))."""

    def __init__(
        self,
        kind: BasisKind,
        seq_len: int,
        pred_len: int,
        num_layers: int,
        width: int,
        degree: int = 2,
        harmonics: int = 1,
        exogenous_size: int = 0,
        basis_size: int = 0,
    ) -> None:
        super().__init__()
        check_choice("basis", kind, BasisKind, owner="NBeatsBlock")
        if kind == "exogenous" and basis_size < 1:
            raise ValueError("NBeatsBlock: the exogenous basis needs basis_size >= 1 covariate series")
        if num_layers < 1 or width < 1:
            raise ValueError(f"NBeatsBlock: num_layers and width must be >= 1, got {num_layers} and {width}")
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [nn.Linear(seq_len + exogenous_size if i == 0 else width, width), nn.ReLU()]
        self.fc = nn.Sequential(*layers)
        self.kind, self.seq_len, self.pred_len = kind, seq_len, pred_len
        if kind == "generic":
            self.theta = nn.Linear(width, seq_len + pred_len)
            return
        if kind == "exogenous":  # the basis is the covariates themselves, one coefficient per series and half
            self.theta = nn.Linear(width, 2 * basis_size, bias=False)
            return
        if kind == "trend":
            back, fore = polynomial_basis(seq_len, degree), polynomial_basis(pred_len, degree)
        else:  # seasonality
            back, fore = (
                fourier_basis(seq_len, pred_len, harmonics),
                fourier_basis(pred_len, pred_len, harmonics),
            )
        # Fixed bases are recomputed from the constructor arguments, so they stay out of the state dict.
        self.register_buffer("backcast_basis", back, persistent=False)  # (n_theta, L)
        self.register_buffer("forecast_basis", fore, persistent=False)  # (n_theta, P)
        self.theta = nn.Linear(width, 2 * len(back), bias=False)

    def forward(
        self,
        x: torch.Tensor,
        exogenous: torch.Tensor | None = None,
        marks: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(backcast (N, L), forecast (N, P)) of the residual x (N, L), the MLP's covariates (N, E), if any,
        and, for the exogenous basis, the covariate series of the lookback (N, L, K) and the horizon (N, P, K)."""
        theta = self.theta(self.fc(x if exogenous is None else torch.cat([x, exogenous], dim=-1)))
        if self.kind == "generic":
            return theta[:, : self.seq_len], theta[:, self.seq_len :]
        theta_b, theta_f = theta.chunk(2, dim=-1)  # (N, n_theta) each
        if self.kind == "exogenous":
            assert marks is not None
            lookback, horizon = marks
            backcast = torch.einsum("nk,nlk->nl", theta_b, lookback.to(theta.dtype))
            return backcast, torch.einsum("nk,npk->np", theta_f, horizon.to(theta.dtype))
        return theta_b @ self.backcast_basis, theta_f @ self.forecast_basis


@dataclass(frozen=True)
class StackSpec:
    """One stack: ``num_blocks`` blocks of one basis (``shared``: one block applied num_blocks times)."""

    name: str
    kind: BasisKind
    num_blocks: int
    num_layers: int
    width: int
    shared: bool
    degree: int = 2
    harmonics: int = 1
    basis_size: int = 0


class NBeatsStack(nn.Module):
    """A named sequence of blocks with the double residual: returns (residual, stack forecast)."""

    def __init__(self, spec: StackSpec, seq_len: int, pred_len: int, exogenous_size: int = 0) -> None:
        super().__init__()
        if spec.num_blocks < 1:
            raise ValueError(f"N-BEATS stack {spec.name!r}: num_blocks must be >= 1, got {spec.num_blocks}")
        self.spec = spec
        unique = 1 if spec.shared else spec.num_blocks
        self.blocks = nn.ModuleList(
            NBeatsBlock(
                spec.kind,
                seq_len,
                pred_len,
                spec.num_layers,
                spec.width,
                spec.degree,
                spec.harmonics,
                exogenous_size,
                spec.basis_size,
            )
            for _ in range(unique)
        )

    def forward(
        self,
        residual: torch.Tensor,
        mask: torch.Tensor,
        exogenous: torch.Tensor | None = None,
        marks: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        forecast = residual.new_zeros(residual.shape[0], self.blocks[0].pred_len)
        for i in range(self.spec.num_blocks):
            backcast, block_forecast = self.blocks[i % len(self.blocks)](residual, exogenous, marks)
            residual = (residual - backcast) * mask
            forecast = forecast + block_forecast
        return residual, forecast


@dataclass
class NBeatsOutput:
    """The forecast (B, P, C_out) and each stack's part of it (same shape; they sum to the forecast)."""

    forecast: torch.Tensor
    stack_forecasts: dict[str, torch.Tensor]


@register_model("nbeats_generic", defaults={"architecture": "generic"})
@register_model("nbeats_interpretable", defaults={"architecture": "interpretable"})
@register_model("nbeats")
class NBeatsForecaster(Forecaster):
    """N-BEATS (module docstring): x (B, L, C_in) -> (B, P, C_out), channel-independent over targets.

    Defaults are the paper's M4 settings (section 3 and appendix D). Generic: ``num_stacks`` = 30 stacks
    of ``num_blocks`` = 1 block, 4 layers of 512, no sharing. Interpretable: a trend stack (3 blocks,
    4 layers of 256, polynomial ``degree`` 2: the paper's Table 18) then a seasonality stack (3 blocks,
    4 layers of 2048, ``harmonics`` 1), weights shared within each stack. ``scale_inputs``: see the
    module docstring. The model reads no time features (x_mark and y_mark are ignored).

    Args:
        architecture: "generic" (N-BEATS-G: ``num_stacks`` learned-basis stacks) or "interpretable"
            (N-BEATS-I: a trend stack, then a seasonality stack).
        num_stacks: generic stacks (generic only).
        num_blocks: blocks per generic stack.
        num_layers: fully connected ReLU layers per generic block.
        layer_width: width of those layers.
        share_weights: one block applied ``num_blocks`` times in each generic stack.
        trend_blocks: blocks of the trend stack (interpretable only).
        trend_layers: fully connected layers per trend block.
        trend_width: width of those layers.
        degree: degree of the trend's polynomial basis t^0..t^degree.
        seasonality_blocks: blocks of the seasonality stack (interpretable only).
        seasonality_layers: fully connected layers per seasonality block.
        seasonality_width: width of those layers.
        harmonics: frequency resolution h of the seasonality's Fourier basis (frequencies 0, 1/h, 2/h, ...).
        share_interpretable_weights: one block applied ``trend_blocks`` / ``seasonality_blocks`` times in
            each interpretable stack (the paper's choice).
        scale_inputs: divide each series by the mean absolute value of its observed lookback and multiply
            the forecast back (not in the paper; module docstring).
        exogenous: NBEATSx (Olivares, Challu, Marcjasz, Weron & Dubrawski, "Neural basis expansion analysis
            with exogenous variables", IJF 2023): every block's MLP also reads the lookback of the non-target
            input channels (past covariates) and the time features of the lookback and the horizon
            (calendar and known-future covariates), flattened.
        exogenous_basis: add NBEATSx's exogenous stack (Olivares et al. 2023, its section 3.2): blocks whose
            basis is the time-feature series themselves (calendar and known-future covariates), so their
            forecast is sum_k theta_k * y_mark[:, t, k], each coefficient from the block's MLP, and their
            backcast the same over x_mark; the stack is named "exogenous" in :meth:`decompose`.
        exogenous_blocks: blocks of that stack, each with ``num_layers`` layers of ``layer_width``.
    """

    #: LoRA default: the fully connected layers of every block (not the basis projections ``theta``).
    lora_target_modules: ClassVar[str] = r".*\.fc\.\d+"

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
        architecture: NBeatsArchitecture = "generic",
        num_stacks: int = 30,
        num_blocks: int = 1,
        num_layers: int = 4,
        layer_width: int = 512,
        share_weights: bool = False,
        trend_blocks: int = 3,
        trend_layers: int = 4,
        trend_width: int = 256,
        degree: int = 2,
        seasonality_blocks: int = 3,
        seasonality_layers: int = 4,
        seasonality_width: int = 2048,
        harmonics: int = 1,
        share_interpretable_weights: bool = True,
        scale_inputs: bool = False,
        exogenous: bool = False,
        exogenous_basis: bool = False,
        exogenous_blocks: int = 1,
    ) -> None:
        super().__init__(
            n_features,
            seq_len,
            pred_len,
            n_targets,
            label_len,
            n_time_features,
            revin,
            revin_affine,
            distribution,
            quantiles,
            future_effect,
        )
        check_choice("architecture", architecture, NBeatsArchitecture, owner="NBeatsForecaster")
        if architecture == "generic":
            if num_stacks < 1:
                raise ValueError(f"NBeatsForecaster: num_stacks must be >= 1, got {num_stacks}")
            specs = [
                StackSpec(f"generic{i}", "generic", num_blocks, num_layers, layer_width, share_weights)
                for i in range(num_stacks)
            ]
        else:
            if degree < 0 or harmonics < 1:
                raise ValueError(
                    f"NBeatsForecaster: need degree >= 0 and harmonics >= 1, got {degree}, {harmonics}"
                )
            specs = [
                StackSpec(
                    "trend",
                    "trend",
                    trend_blocks,
                    trend_layers,
                    trend_width,
                    share_interpretable_weights,
                    degree=degree,
                ),
                StackSpec(
                    "seasonality",
                    "seasonality",
                    seasonality_blocks,
                    seasonality_layers,
                    seasonality_width,
                    share_interpretable_weights,
                    harmonics=harmonics,
                ),
            ]
        if exogenous_basis:
            if n_time_features == 0:
                raise ValueError(
                    "NBeatsForecaster: exogenous_basis=True builds its basis from the time features (calendar, "
                    "future_columns) over the horizon; this model has none (n_time_features=0)"
                )
            specs.append(
                StackSpec(
                    "exogenous",
                    "exogenous",
                    exogenous_blocks,
                    num_layers,
                    layer_width,
                    False,
                    basis_size=n_time_features,
                )
            )
        self.exogenous_basis = exogenous_basis
        self.architecture, self.scale_inputs, self.exogenous = architecture, scale_inputs, exogenous
        past_channels = n_features - self.n_targets
        exogenous_size = past_channels * seq_len + n_time_features * (seq_len + pred_len) if exogenous else 0
        if exogenous and exogenous_size == 0:
            raise ValueError(
                "NBeatsForecaster: exogenous=True needs covariates: past ones (features 'MS' with past_columns) "
                "or time features (time_encoding='timeF', future_columns)"
            )
        self.stacks = nn.ModuleList(NBeatsStack(spec, seq_len, pred_len, exogenous_size) for spec in specs)

    def _exogenous(
        self, x: torch.Tensor, x_mark: torch.Tensor | None, y_mark: torch.Tensor | None
    ) -> torch.Tensor | None:
        """NBEATSx's covariates of each target series, (B * C_out, E): the lookback of the non-target
        channels and the time features of the lookback and the horizon, flattened; None without ``exogenous``."""
        if not self.exogenous:
            return None
        parts = [x[..., : self.n_features - self.n_targets].flatten(1)]  # (B, L * C_past)
        if self.n_time_features:
            x_mark, y_mark = self.checked_window_marks(x_mark, y_mark, self.seq_len)
            parts += [x_mark.flatten(1), y_mark.flatten(1)]  # (B, L * F), (B, P * F)
        return torch.cat(parts, dim=-1).repeat_interleave(self.n_targets, dim=0)  # channel-major, as series()

    def decompose(
        self,
        x: torch.Tensor,
        x_mask: torch.Tensor | None = None,
        x_mark: torch.Tensor | None = None,
        y_mark: torch.Tensor | None = None,
    ) -> NBeatsOutput:
        """The forecast and its per-stack parts (``trend``/``seasonality`` for the interpretable model)."""
        self.check_input(x)
        if x_mask is not None and x_mask.shape != x.shape:
            raise ValueError(
                f"NBeatsForecaster: x_mask must have x's shape {tuple(x.shape)}, got {tuple(x_mask.shape)}"
            )
        batch = x.shape[0]
        targets = slice(self.n_features - self.n_targets, self.n_features)

        def series(t: torch.Tensor) -> torch.Tensor:  # channel-major per sample
            return rearrange(t[..., targets], "b l c -> (b c) l")

        residual = series(x)
        mask = torch.ones_like(residual) if x_mask is None else series(x_mask.to(x.dtype))
        residual = residual * mask
        scale = residual.new_ones(residual.shape[0], 1)
        if self.scale_inputs:  # mean |x| over the observed steps, (B * C_out, 1)
            scale = (
                residual.abs().sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp_min(1.0)
            ).clamp_min(1e-8)
            residual = residual / scale
        exogenous = self._exogenous(x, x_mark, y_mark)
        marks = None
        if self.exogenous_basis:  # each target series reads the same covariate series, channel-major
            x_mark, y_mark = self.checked_window_marks(x_mark, y_mark, self.seq_len)
            marks = (
                x_mark.repeat_interleave(self.n_targets, dim=0),
                y_mark.repeat_interleave(self.n_targets, dim=0),
            )
        parts: dict[str, torch.Tensor] = {}
        for stack in self.stacks:
            residual, forecast = stack(residual, mask, exogenous, marks)
            forecast = forecast * scale
            parts[stack.spec.name] = rearrange(forecast, "(b c) p -> b p c", b=batch)
        total = torch.stack(list(parts.values())).sum(dim=0)
        return NBeatsOutput(forecast=total, stack_forecasts=parts)

    def forecast(
        self,
        x: torch.Tensor,
        x_mark: torch.Tensor | None = None,
        y_mark: torch.Tensor | None = None,
        x_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.decompose(x, x_mask, x_mark, y_mark).forecast
