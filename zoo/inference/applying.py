"""Applying a forecaster to windows already scaled: points or quantiles in original units, in chunks.

Shared by :func:`zoo.forecast` and :func:`zoo.backtest`: eval mode, no gradients, and a fixed seed for the
net's own sampling (Informer's ProbSparse key samples), with the net's mode and the global RNG restored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

ID_COLUMN = "unique_id"


@contextmanager
def evaluating(net: nn.Module, seed: int) -> Iterator[None]:
    """Eval mode, no gradients and a fixed seed for the net's own sampling (Informer's key samples);
    the net's mode and the global RNG are restored afterwards."""
    was_training = net.training
    net.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            yield
    finally:
        net.train(was_training)


def apply_net(
    net: nn.Module,
    batch: dict[str, torch.Tensor],
    batch_size: int,
    seed: int = 0,
    levels: tuple[float, ...] | None = None,
) -> torch.Tensor:
    """The net's forecasts in original units of scaled windows, in chunks of ``batch_size``: the point forecast
    (B, P, C_out), or with ``levels`` (B, P, C_out, 1 + Q) from one pass of a probabilistic net: the point
    forecast, then the quantiles at ``levels`` (the layout of ``ForecastingTask.predict_step``).

    Args:
        net: the forecaster.
        batch: ``x`` (B, L, C_in), ``x_mark`` (B, L, F), ``y_mark`` (B, P, F), ``target_mean`` and
            ``target_std`` (B, C_out).
        batch_size: windows per forward pass.
        seed: the seed of the net's own sampling.
        levels: quantile levels to predict (the net needs a distribution head), or None for points.
    """
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    outputs = []
    with evaluating(net, seed):
        for start in range(0, len(batch["x"]), batch_size):
            part = {k: v[start : start + batch_size].to(device) for k, v in batch.items()}
            mean, std = part["target_mean"].unsqueeze(1), part["target_std"].unsqueeze(1)  # (B, 1, C_out)
            if levels is None:
                outputs.append((net(part["x"], part["x_mark"], part["y_mark"]).float() * std + mean).cpu())
                continue
            prediction = net.predict_distribution(part["x"], part["x_mark"], part["y_mark"]).rescaled(
                mean, std
            )
            both = torch.cat([prediction.point.unsqueeze(-1), prediction.quantiles(levels)], dim=-1)
            outputs.append(both.float().cpu())
    return torch.cat(outputs)
