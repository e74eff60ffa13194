"""Image grids, and logging them to whichever Lightning loggers are active.

- ``WandbLogger``: ``log_image`` (a ``wandb.Image`` in the run, offline or online);
- ``TensorBoardLogger``: ``SummaryWriter.add_image`` (CHW);
- any other logger with a ``log_dir`` (``CSVLogger``): a PNG at ``<log_dir>/images/<key>_step<step>.png``
  beside ``metrics.csv``, written to a temporary file and renamed, so a crash leaves no half-written PNG.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.loggers import Logger

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
        grid[:, top:top + h, left:left + w] = images[i]
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


def log_image_grid(loggers: Iterable[Logger], key: str, grid: torch.Tensor, step: int) -> list[Path]:
    """Log one grid (C, H, W) under ``key`` to every logger; returns the PNG files written."""
    array = grid_to_uint8(grid)
    written: list[Path] = []
    for logger in loggers:
        kind = type(logger).__name__
        if kind == "WandbLogger":
            logger.log_image(key=key, images=[array], step=step)
        elif kind == "TensorBoardLogger":
            logger.experiment.add_image(key, grid.detach().float().clamp(0, 1).cpu(), global_step=step)
        elif getattr(logger, "log_dir", None):
            name = f"{key.replace('/', '_')}_step{step:07d}.png"
            written.append(save_png(array, Path(logger.log_dir) / "images" / name))
        else:
            log.debug("logger %s has no image support; skipped %s", kind, key)
    return written
