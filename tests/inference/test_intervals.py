"""Quantile columns of zoo.forecast / zoo.backtest: from distribution heads, and conformal around point models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import zoo
from zoo.data import DataValidationError, TimeSeriesDataModule, synthetic_series
from zoo.inference import ForecastModel
from zoo.inference.conformal import calibrate, lookback_scale, rank_for
from zoo.inference.model import ForecastModelError
from zoo.tasks.checkpoints import preprocessing_of

REPO = Path(__file__).resolve().parents[2]


def _model(name: str = "dlinear", **kwargs) -> ForecastModel:
    dm = TimeSeriesDataModule("synthetic", seq_len=48, label_len=0, pred_len=12)
    dm.setup()
    torch.manual_seed(0)
    net = zoo.create_model(name, n_features=dm.n_features, seq_len=dm.seq_len, pred_len=dm.pred_len, **kwargs)
    head = getattr(net, "distribution_head", None)
    if head is not None:
        with torch.no_grad():
            for parameter in head.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
    return ForecastModel(net, preprocessing_of(dm), name)


def test_conformal_offsets_are_the_finite_sample_ranks() -> None:
    residuals = np.arange(1.0, 20.0).reshape(19, 1, 1)[::-1]  # 19 windows, any order
    calibration = calibrate(residuals, [0.1, 0.5, 0.9])
    # ranks floor(20 * 0.1) = 2, ceil(20 * 0.5) = 10, ceil(20 * 0.9) = 18
    assert [rank_for(q, 19) for q in (0.1, 0.5, 0.9)] == [2, 10, 18]
    assert calibration.offsets.reshape(-1).tolist() == [2.0, 10.0, 18.0]
    bands = calibration.quantiles(np.zeros((1, 1, 1)), np.full((1, 1), 3.0))
    assert bands.reshape(-1).tolist() == [6.0, 30.0, 54.0]  # offsets times the forecast's scale
    with pytest.raises(ValueError, match="needs at least 19 calibration windows, the data gives 5"):
        calibrate(residuals[:5], [0.05, 0.95])
    windows = np.stack([np.zeros((4, 1)), np.array([[0.0], [2.0], [0.0], [2.0]])])
    np.testing.assert_allclose(lookback_scale(windows), [[np.sqrt(1e-5)], [np.sqrt(1.0 + 1e-5)]])


def test_conformal_intervals_cover_exchangeable_residuals() -> None:
    rng = np.random.default_rng(0)
    calibration = calibrate(rng.standard_t(4, size=(400, 3, 2)), [0.1, 0.9])
    fresh = rng.standard_t(4, size=(20000, 3, 2))
    inside = (fresh >= calibration.offsets[0]) & (fresh <= calibration.offsets[1])
    assert 0.77 <= inside.mean() <= 0.83


def test_forecast_gives_the_heads_quantiles_in_original_units() -> None:
    model = _model(distribution="quantile", quantiles=[0.1, 0.5, 0.9])
    data = synthetic_series()
    frame = zoo.forecast(model, data, quantiles=[0.1, 0.9])
    assert list(frame.columns) == ["date"] + [
        f"{c}{suffix}" for c in ("x0", "x1", "x2", "OT") for suffix in ("", "_q0.1", "_q0.9")
    ]
    assert (frame["OT_q0.1"] < frame["OT"]).all() and (frame["OT"] < frame["OT_q0.9"]).all()
    # the same numbers by hand: the scaled last window through the head, mapped back with the scaler
    scaler = model.scaler_of("")
    x = torch.as_tensor(scaler.transform(data.drop(columns="date").to_numpy()[-48:]), dtype=torch.float32)[
        None
    ]
    with torch.no_grad():
        model.net.eval()
        quantiles = model.net.predict_distribution(x).quantiles([0.1, 0.9])[0, :, -1].numpy()
    expected = quantiles * scaler.std[-1] + scaler.mean[-1]
    np.testing.assert_allclose(frame[["OT_q0.1", "OT_q0.9"]].to_numpy(), expected, rtol=1e-5, atol=1e-5)


def test_conformal_forecast_equals_backtest_residual_quantiles() -> None:
    model = _model()
    data = synthetic_series()
    frame = zoo.forecast(model, data, quantiles=[0.1, 0.9], conformal=True, calibration_windows=99)
    # independently: the backtest's forecasts of the same 99 origins; each residual divided by the series'
    # std and by its lookback's std (on the scaled data); ranks floor / ceil(100 q) of the 99
    result = zoo.backtest(model, data, windows=99, step=1)
    scaler = model.scaler_of("")
    scaled_ot = scaler.transform(data.drop(columns="date").to_numpy())[:, -1]
    n, horizon, lookback = len(data), 12, 48
    origins = n - horizon - np.arange(99)[::-1]

    def window_std(origin: int) -> float:
        return float(np.sqrt(scaled_ot[origin - lookback : origin].var() + 1e-5))

    residual = (result.forecasts["OT_actual"] - result.forecasts["OT"]).to_numpy().reshape(99, horizon)
    normalised = residual / scaler.std[-1] / np.array([window_std(t) for t in origins])[:, None]
    ordered = np.sort(normalised, axis=0)
    scale = window_std(n) * scaler.std[-1]
    np.testing.assert_allclose(frame["OT_q0.1"] - frame["OT"], ordered[10 - 1] * scale, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(frame["OT_q0.9"] - frame["OT"], ordered[90 - 1] * scale, rtol=1e-4, atol=1e-4)


def test_backtest_scores_a_probabilistic_model() -> None:
    model = _model(distribution="normal")
    result = zoo.backtest(model, synthetic_series(), windows=20, step=12, quantiles=[0.1, 0.5, 0.9])
    assert {"pinball", "crps", "crps_scaled", "coverage", "width"} <= set(result.summary.columns)
    assert {"OT_q0.1", "OT_q0.5", "OT_q0.9"} <= set(result.forecasts.columns)
    forecasts = result.forecasts
    inside = (forecasts["OT_actual"] >= forecasts["OT_q0.1"]) & (
        forecasts["OT_actual"] <= forecasts["OT_q0.9"]
    )
    assert result.summary.set_index("channel").loc["OT", "coverage"] == pytest.approx(inside.mean())
    np.testing.assert_allclose(
        forecasts["OT_q0.5"], forecasts["OT"], rtol=1e-5
    )  # a Normal's median is its loc


def test_quantiles_of_a_point_model_are_clear_errors() -> None:
    model = _model()
    with pytest.raises(ForecastModelError, match="forecasts points only.*--conformal"):
        zoo.forecast(model, synthetic_series(), quantiles=[0.1, 0.9])
    with pytest.raises(ForecastModelError, match="forecasts points only.*pass conformal=True"):
        zoo.backtest(model, synthetic_series(), quantiles=[0.1, 0.9])
    with pytest.raises(ValueError, match="give the levels too"):
        zoo.forecast(model, synthetic_series(), conformal=True)
    with pytest.raises(ValueError, match=r"outside \(0, 1\)"):
        zoo.forecast(model, synthetic_series(), quantiles=[10, 90], conformal=True)
    with pytest.raises(ValueError, match="calibration"):
        zoo.forecast(model, synthetic_series().iloc[-70:], quantiles=[0.1, 0.9], conformal=True)


def test_cli_writes_conformal_quantile_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _model()
    zoo.hub.save_pretrained(model.net, tmp_path / "dlinear.syn", preprocessing=model.preprocessing)
    data = tmp_path / "syn.csv"
    synthetic_series().to_csv(data, index=False)
    out = tmp_path / "forecast.csv"
    command = [sys.executable, str(REPO / "train.py"), "forecast", str(tmp_path / "dlinear.syn"), str(data)]
    run = subprocess.run(
        [*command, "--quantiles", "[0.1,0.9]", "--conformal", "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert {"OT_q0.1", "OT_q0.9"} <= set(pd.read_csv(out).columns)
    refused = subprocess.run(
        [*command, "--quantiles", "[0.1,0.9]"], capture_output=True, text=True, cwd=tmp_path
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--conformal" in refused.stderr
    from zoo.cli import main

    capsys.readouterr()
    options = [
        "--windows",
        "30",
        "--step",
        "1",
        "--quantiles",
        "[0.1,0.9]",
        "--conformal",
        "--adapt_rate",
        "0.005",
    ]
    main(["backtest", str(tmp_path / "dlinear.syn"), str(data), *options])  # in-process: the verb as typed
    assert "coverage" in capsys.readouterr().out


def test_backtest_conformal_intervals_of_a_point_model() -> None:
    """Split conformal calibrated before the backtest covers a stationary series near its level; when the
    noise triples after the calibration stretch the lookback-normalised intervals over-cover, and adapting
    the level (over only 300 windows, so a larger rate than the paper's 0.005) brings them back."""
    model = _model()
    data = synthetic_series()
    split = zoo.backtest(model, data, windows=300, step=1, quantiles=[0.1, 0.5, 0.9], conformal=True)
    coverage = split.summary.set_index("channel")["coverage"]
    assert ((coverage > 0.7) & (coverage < 0.9)).all()
    bands = split.forecasts[["OT_q0.1", "OT_q0.5", "OT_q0.9"]].to_numpy()
    assert (np.diff(bands, axis=1) >= 0).all()  # the residuals' median corrects the point's bias
    shifted = data.copy()
    channels = [c for c in data.columns if c != "date"]
    rng = np.random.default_rng(0)
    noise = 3 * data[channels].std().to_numpy() * rng.standard_normal((400, len(channels)))
    shifted.loc[shifted.index[-400:], channels] += noise
    options = {
        "windows": 300,
        "step": 1,
        "quantiles": [0.1, 0.9],
        "conformal": True,
        "calibration_windows": 300,
    }
    static = zoo.backtest(model, shifted, **options).summary["coverage"].mean()
    adapted = zoo.backtest(model, shifted, adapt_rate=0.02, **options).summary["coverage"].mean()
    assert static > 0.84 and abs(adapted - 0.8) < abs(static - 0.8) / 2


def test_backtest_conformal_options_are_clear_errors() -> None:
    model = _model()
    data = synthetic_series()
    with pytest.raises(ValueError, match="give the levels too"):
        zoo.backtest(model, data, conformal=True)
    with pytest.raises(ValueError, match="adapt_rate=0.005: .* conformal=True"):
        zoo.backtest(model, data, quantiles=[0.1, 0.9], adapt_rate=0.005)
    with pytest.raises(ValueError, match="must pair up around 0.5"):
        zoo.backtest(model, data, quantiles=[0.1, 0.8], conformal=True, adapt_rate=0.005)
    with pytest.raises(ValueError, match="calibration_windows must be a positive integer"):
        zoo.backtest(model, data, quantiles=[0.1, 0.9], conformal=True, calibration_windows=0)
    with pytest.raises(DataValidationError, match="conformal calibration needs 5000 origin"):
        zoo.backtest(model, data, quantiles=[0.1, 0.9], conformal=True, calibration_windows=5000)
