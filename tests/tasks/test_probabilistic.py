"""ForecastingTask with probabilistic forecasters: coverage on a known distribution, logged names, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import zoo
from tests.helpers import quiet_trainer
from zoo.data import TimeSeriesDataModule
from zoo.tasks import ForecastingTask
from zoo.tasks.forecast_plots import plot_forecast_windows
from zoo.tasks.prediction_writer import ForecastFileWriter


def _noise_data(tmp_path, rows: int = 3000) -> TimeSeriesDataModule:
    """White noise of standard deviation 2 around 5: the 80 % interval is 5 -/+ 2 * 1.2816."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=rows, freq="h"),
            "OT": 5.0 + 2.0 * rng.standard_normal(rows),
        }
    )
    path = tmp_path / "noise.csv"
    frame.to_csv(path, index=False)
    dm = TimeSeriesDataModule(
        dataset=str(path), seq_len=24, label_len=0, pred_len=8, features="S", batch_size=64
    )
    dm.setup()
    return dm


def _net(dm: TimeSeriesDataModule, name: str = "linear", **kwargs):
    return zoo.create_model(
        name,
        n_features=dm.n_features,
        n_targets=dm.n_targets,
        seq_len=dm.seq_len,
        pred_len=dm.pred_len,
        n_time_features=dm.n_time_features,
        **kwargs,
    )


@pytest.mark.parametrize("distribution", ["quantile", "normal", "student_t"])
def test_intervals_fitted_on_a_known_distribution_cover_as_promised(tmp_path, distribution: str) -> None:
    torch.manual_seed(0)
    dm = _noise_data(tmp_path)
    task = ForecastingTask(_net(dm, distribution=distribution), optimizer={"lr": 0.01})
    trainer = quiet_trainer(max_epochs=4)
    trainer.fit(task, datamodule=dm)
    results = trainer.test(task, datamodule=dm, verbose=False)[0]
    assert 0.76 <= results["test/coverage"] <= 0.84
    assert results["test/coverage/OT"] == pytest.approx(results["test/coverage"])
    # the width of the true 80 % interval is 2 * 1.2816 * 2 = 5.13 in original units
    assert results["test/width_orig"] == pytest.approx(5.13, rel=0.1)
    # the CRPS a perfect forecast scores in expectation: sigma / sqrt(pi) for the whole distribution; from the
    # three quantiles 0.1 / 0.5 / 0.9, 2 / 3 * sigma * (phi(z_0.1) + phi(0) + phi(z_0.9)) (pinball at optimum)
    sigma, phi = 2.0, lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    expected = (
        sigma / np.sqrt(np.pi) if distribution != "quantile" else 2 / 3 * sigma * (2 * phi(1.2816) + phi(0))
    )
    assert results["test/crps_orig"] == pytest.approx(expected, rel=0.1)
    assert results["test/crps"] == pytest.approx(
        results["test/crps_orig"] / dm.target_scaler.std[0], rel=1e-3
    )


def test_logged_names_of_a_probabilistic_model(tmp_path) -> None:
    torch.manual_seed(0)
    dm = _noise_data(tmp_path, rows=800)
    task = ForecastingTask(_net(dm, name="naive", distribution="normal"), optimizer={"lr": 0.01})
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(task, datamodule=dm)
    assert {"val/pinball", "val/crps", "val/coverage", "val/width"} <= set(trainer.callback_metrics)
    results = trainer.test(task, datamodule=dm, verbose=False)[0]
    probabilistic = {
        name for name in results if not name.startswith(("test/mse", "test/mae", "test/windows"))
    }
    assert probabilistic == {
        "test/pinball",
        "test/crps",
        "test/coverage",
        "test/width",
        "test/pinball_orig",
        "test/crps_orig",
        "test/width_orig",
        "test/pinball_orig/OT",
        "test/crps_orig/OT",
        "test/coverage/OT",
        "test/width_orig/OT",
    }


def test_loss_and_interval_mismatches_are_clear_errors(tmp_path) -> None:
    dm = _noise_data(tmp_path, rows=800)
    with pytest.raises(ValueError, match="build the net with distribution='quantile'"):
        ForecastingTask(_net(dm), loss="quantile")
    with pytest.raises(ValueError, match="distribution='normal' and trains on its negative log-likelihood"):
        ForecastingTask(_net(dm, distribution="normal"), loss="mse")
    with pytest.raises(ValueError, match=r"interval=0.9 needs the quantiles 0.05 and 0.95"):
        ForecastingTask(_net(dm, distribution="quantile"), interval=0.9)
    with pytest.raises(ValueError, match=r"coverage must lie in \(0, 1\)"):
        ForecastingTask(_net(dm), interval=80)
    assert ForecastingTask(_net(dm, distribution="quantile"), loss="quantile").loss_name == "quantile"
    assert ForecastingTask(_net(dm)).loss_name == "mse"


def test_the_forecast_plot_shades_the_interval() -> None:
    history, truth = torch.zeros(2, 6, 1), torch.ones(2, 3, 1)
    figure = plot_forecast_windows(
        history, truth, truth, band=(truth - 1, truth + 1), band_label="80% interval", max_windows=1
    )
    axis = figure.axes[0]
    assert len(axis.collections) == 1
    assert "80% interval" in [text.get_text() for text in axis.get_legend().get_texts()]
    with pytest.raises(ValueError, match="band upper has shape"):
        plot_forecast_windows(history, truth, truth, band=(truth, torch.ones(2, 4, 1)))


def test_predict_writes_quantile_columns_beside_the_point(tmp_path) -> None:
    torch.manual_seed(0)
    dm = _noise_data(tmp_path, rows=800)
    task = ForecastingTask(_net(dm, name="naive", distribution="normal"))
    out = tmp_path / "forecasts.csv"
    trainer = quiet_trainer(callbacks=[ForecastFileWriter(str(out))])
    trainer.predict(task, datamodule=dm)
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["date", "OT", "OT_q0.1", "OT_q0.5", "OT_q0.9"]
    np.testing.assert_allclose(frame["OT_q0.5"], frame["OT"], rtol=1e-6)  # a Normal's median is its location
    assert (frame["OT_q0.1"] < frame["OT"]).all() and (frame["OT"] < frame["OT_q0.9"]).all()
    # the untrained head: the window's std times z_0.9 = 1.2816, in original units
    last = pd.read_csv(tmp_path / "noise.csv")["OT"].to_numpy()[-24:]
    np.testing.assert_allclose(frame["OT_q0.9"] - frame["OT"], 1.2816 * last.std(), rtol=1e-3)


def test_padded_steps_of_a_panel_are_left_out_of_the_scores() -> None:
    from zoo.tasks.probabilistic import ProbabilisticScores

    target = torch.zeros(2, 4, 1)
    lower, upper = -torch.ones(2, 4, 1), torch.ones(2, 4, 1)
    lower[:, 2:] = 5.0  # the last two steps miss, and are padding
    pinball, crps = torch.ones(2, 4, 1), torch.ones(2, 4, 1)
    pinball[:, 2:], crps[:, 2:] = 100.0, 100.0
    mask = torch.ones(2, 4, 1)
    mask[:, 2:] = 0.0
    scores = ProbabilisticScores(1)
    scores.update(pinball, crps, lower, upper, target, mask)
    result = scores.compute()
    assert (
        result["coverage"].item() == 1.0 and result["pinball"].item() == 1.0 and result["crps"].item() == 1.0
    )
    assert result["width"].item() == 2.0 and scores.count.item() == 4
    unmasked = ProbabilisticScores(1)
    unmasked.update(pinball, crps, lower, upper, target)
    assert unmasked.compute()["coverage"].item() == 0.5
