"""Forecast plots: the lines carry the given values on the right time axis, bad shapes fail clearly, and the
rendered figure reaches the CSV (PNG), W&B (offline) and TensorBoard loggers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from zoo.tasks.forecast_plots import plot_forecast_windows
from zoo.tasks.media import figure_to_uint8, log_figure

N, L, P = 5, 12, 6


def _windows(c_in: int = 3, c_out: int = 3, n: int = N, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    history = torch.randn(n, L, c_in, generator=generator, dtype=torch.float64)
    truth = torch.randn(n, P, c_out, generator=generator, dtype=torch.float64)
    forecast = torch.randn(n, P, c_out, generator=generator, dtype=torch.float64)
    return history, truth, forecast


def _lines(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_one_subplot_per_window_with_the_given_values():
    history, truth, forecast = _windows()
    figure = plot_forecast_windows(history, truth, forecast, channel=1, max_windows=3)
    assert len(figure.axes) == 3
    for i, ax in enumerate(figure.axes):
        lines = _lines(ax)
        assert sorted(lines) == ["forecast", "history", "truth"]
        np.testing.assert_array_equal(lines["history"].get_xdata(), np.arange(-L, 0))
        np.testing.assert_array_equal(lines["truth"].get_xdata(), np.arange(P))
        np.testing.assert_array_equal(lines["forecast"].get_xdata(), np.arange(P))
        np.testing.assert_array_equal(lines["history"].get_ydata(), history[i, :, 1].numpy())
        np.testing.assert_array_equal(lines["truth"].get_ydata(), truth[i, :, 1].numpy())
        np.testing.assert_array_equal(lines["forecast"].get_ydata(), forecast[i, :, 1].numpy())
        assert ax.get_title() == f"window {i}"
    assert figure.axes[0].get_legend() is not None
    assert all(ax.get_legend() is None for ax in figure.axes[1:])


def test_fewer_windows_than_max_and_numpy_inputs():
    history, truth, forecast = (t.numpy() for t in _windows(n=2))
    figure = plot_forecast_windows(history, truth, forecast, max_windows=4)
    assert len(figure.axes) == 2
    np.testing.assert_array_equal(_lines(figure.axes[1])["truth"].get_ydata(), truth[1, :, -1])
    np.testing.assert_array_equal(_lines(figure.axes[1])["history"].get_ydata(), history[1, :, -1])


def test_features_ms_plots_the_last_input_channel():
    history, truth, forecast = _windows(c_in=4, c_out=1)
    figure = plot_forecast_windows(history, truth, forecast, channel=0, channel_name="OT", window_ids=[3, 1])
    assert [ax.get_title() for ax in figure.axes] == ["window 3: OT", "window 1: OT"]
    for ax, i in zip(figure.axes, [3, 1], strict=True):
        lines = _lines(ax)
        np.testing.assert_array_equal(lines["history"].get_ydata(), history[i, :, 3].numpy())
        np.testing.assert_array_equal(lines["truth"].get_ydata(), truth[i, :, 0].numpy())
        np.testing.assert_array_equal(lines["forecast"].get_ydata(), forecast[i, :, 0].numpy())


@pytest.mark.parametrize(
    ("shapes", "kwargs", "match"),
    [
        (((N, L), (N, P, 3), (N, P, 3)), {}, r"history must have 3 dimensions.*\(5, 12\)"),
        (((N, L, 3), (N, P), (N, P, 3)), {}, r"truth must have 3 dimensions.*\(5, 6\)"),
        (((N, L, 3), (N, P, 3), (N, P, 3, 1)), {}, r"forecast must have 3 dimensions.*\(5, 6, 3, 1\)"),
        (((N, L, 3), (N - 1, P, 3), (N - 1, P, 3)), {}, r"truth has 4 windows \(shape \(4, 6, 3\)\)"),
        (((N, L, 3), (N, P, 3), (N + 1, P, 3)), {}, r"forecast has 6 windows \(shape \(6, 6, 3\)\)"),
        (((N, L, 3), (N, P, 3), (N, P + 1, 3)), {}, r"forecast has horizon P=7 \(shape \(5, 7, 3\)\).*truth"),
        (((N, L, 3), (N, P, 3), (N, P, 2)), {}, r"forecast has 2 channels \(shape \(5, 6, 2\)\)"),
        (((N, L, 3), (N, P, 3), (N, P, 3)), {"channel": 3}, r"channel=3 is out of range.*\(5, 6, 3\)"),
        (((N, L, 3), (N, P, 3), (N, P, 3)), {"channel": -4}, r"channel=-4 is out of range"),
        (((N, L, 3), (N, P, 3), (N, P, 3)), {"window_ids": [5]}, r"window_ids contains 5"),
        (((N, L, 3), (N, P, 3), (N, P, 3)), {"max_windows": 0}, r"max_windows must be at least 1"),
    ],
)
def test_bad_shapes_raise_a_value_error_naming_the_argument(shapes, kwargs, match):
    history, truth, forecast = (torch.zeros(shape) for shape in shapes)
    with pytest.raises(ValueError, match=match):
        plot_forecast_windows(history, truth, forecast, **kwargs)


def test_figure_to_uint8_renders_rgb():
    figure = plot_forecast_windows(*_windows(), max_windows=2)
    array = figure_to_uint8(figure)
    width, height = figure.canvas.get_width_height()
    assert array.dtype == np.uint8 and array.shape == (height, width, 3)
    assert array.min() < array.max()
    assert len(np.unique(array.reshape(-1, 3), axis=0)) > 3


def test_log_figure_writes_a_png_beside_the_csv_logs(tmp_path):
    from PIL import Image

    figure = plot_forecast_windows(*_windows(), max_windows=2)
    logger = CSVLogger(tmp_path, name="plots")
    written = log_figure([logger], "val/forecasts", figure, step=12)
    expected = Path(logger.log_dir) / "images" / "val_forecasts_step0000012.png"
    assert written == [expected]
    rendered = figure_to_uint8(figure)
    with Image.open(expected) as png:
        assert png.size == (rendered.shape[1], rendered.shape[0])
        np.testing.assert_array_equal(np.asarray(png.convert("RGB")), rendered)
    assert not list(expected.parent.glob("*.part"))


class TensorBoardLogger:  # named like Lightning's: media dispatches on the logger's class name
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.experiment = self

    def add_image(self, key, image, global_step) -> None:
        self.calls.append((key, image, global_step))


class _NoImages:
    log_dir = None


def test_log_figure_gives_tensorboard_a_chw_float_image():
    figure = plot_forecast_windows(*_windows(), max_windows=1)
    logger = TensorBoardLogger()
    assert log_figure([logger, _NoImages()], "val/forecasts", figure, step=3) == []
    ((key, image, step),) = logger.calls
    rendered = figure_to_uint8(figure)
    assert key == "val/forecasts" and step == 3
    assert image.dtype == torch.float32 and tuple(image.shape) == (3, *rendered.shape[:2])
    assert 0.0 <= image.min() and image.max() <= 1.0
    torch.testing.assert_close(
        image.permute(1, 2, 0).mul(255).round().to(torch.uint8), torch.from_numpy(rendered)
    )


def test_log_figure_goes_to_wandb_offline(tmp_path, wandb_offline):
    from lightning.pytorch.loggers import WandbLogger

    figure = plot_forecast_windows(*_windows(), max_windows=2)
    logger = WandbLogger(project="zoo-tests", save_dir=str(tmp_path), offline=True)
    assert log_figure([logger], "test/forecasts", figure, step=0) == []
    run_dir = Path(logger.experiment.dir).parent
    wandb_offline.finish()
    media = sorted(p.name for p in (run_dir / "files" / "media" / "images").rglob("*.png"))
    assert any("forecasts" in name for name in media), media
