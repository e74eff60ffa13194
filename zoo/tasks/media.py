"""Image grids and matplotlib figures, and logging them to whichever Lightning loggers are active.

Two kinds of image are logged: a tiled grid of images (``make_grid`` -> ``log_image_grid``) and a rendered
matplotlib figure (``figure_to_uint8`` -> ``log_figure``, e.g. forecast plots from
:mod:`zoo.tasks.forecast_plots`). Both go through one dispatch on the logger type:

- ``WandbLogger``: ``log_image`` (a ``wandb.Image`` in the run, offline or online);
- ``TensorBoardLogger``: ``SummaryWriter.add_image`` (CHW float in [0, 1]);
- any other logger with a ``log_dir`` (``CSVLogger``): a PNG at ``<log_dir>/images/<key>_step<step>.png``
  (``/`` in the key replaced by ``_``) beside ``metrics.csv``, written to a temporary file and renamed, so a
  crash leaves no half-written PNG;
- any other logger: skipped (debug log).

Figures are rendered with the Agg canvas directly, never through pyplot, so no GUI backend is selected and
no global figure state is touched. matplotlib, PIL and tensorboard are imported only when used.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from lightning.pytorch.loggers import Logger

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """Tile images (N, C, H, W) with values in [0, 1] into one (C, rows*(H+p)+p, nrow*(W+p)+p) image."""
    if images.ndim != 4:
        raise ValueError(f"make_grid expects images of shape (N, C, H, W), got {tuple(images.shape)}")
    n, c, h, w = images.shape
    ncol = max(1, min(nrow, n))
    nrows = -(-n // ncol)
    grid = images.new_full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def grid_to_uint8(grid: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> uint8 (H, W) for one channel, (H, W, C) otherwise."""
    array = (grid.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def save_png(array: np.ndarray, path: Path) -> Path:
    """Write a uint8 image atomically (temporary file in the same directory, then ``os.replace``)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(array).save(handle, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def figure_to_uint8(figure: Figure) -> np.ndarray:
    """Render a matplotlib figure with the Agg canvas to an RGB uint8 array (H, W, 3)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba(), dtype=np.uint8)[..., :3])


def _log_image(
    loggers: Iterable[Logger], key: str, array: np.ndarray, chw: torch.Tensor, step: int
) -> list[Path]:
    """Send one image to every logger: ``array`` uint8 (H, W) or (H, W, C) for W&B and PNG files, ``chw``
    float (C, H, W) in [0, 1] for TensorBoard. Returns the PNG files written."""
    written: list[Path] = []
    for logger in loggers:
        kind = type(logger).__name__
        if kind == "WandbLogger":
            logger.log_image(key=key, images=[array], step=step)
        elif kind == "TensorBoardLogger":
            logger.experiment.add_image(key, chw, global_step=step)
        elif getattr(logger, "log_dir", None):
            name = f"{key.replace('/', '_')}_step{step:07d}.png"
            written.append(save_png(array, Path(logger.log_dir) / "images" / name))
        else:
            log.debug("logger %s has no image support; skipped %s", kind, key)
    return written


def log_image_grid(loggers: Iterable[Logger], key: str, grid: torch.Tensor, step: int) -> list[Path]:
    """Log one grid (C, H, W) under ``key`` to every logger; returns the PNG files written."""
    return _log_image(loggers, key, grid_to_uint8(grid), grid.detach().float().clamp(0, 1).cpu(), step)


def log_figure(loggers: Iterable[Logger], key: str, figure: Figure, step: int) -> list[Path]:
    """Render a matplotlib figure and log it under ``key`` to every logger; returns the PNG files written."""
    array = figure_to_uint8(figure)
    chw = torch.from_numpy(array).permute(2, 0, 1).float().div(255.0)
    return _log_image(loggers, key, array, chw, step)
