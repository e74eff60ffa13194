"""zoo.backtest: origins, metrics against hand computations, the Repeat figures on ETTh1, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import zoo
from zoo.data import DataValidationError, TimeSeriesDataModule, synthetic_series
from zoo.inference import ForecastModel, write_backtest, write_table
from zoo.inference.backtest import in_sample_scales
from zoo.inference.outputs import verify_table
from zoo.metrics import seasonal_naive_scale
from zoo.tasks.checkpoints import preprocessing_of


def _naive(dm: TimeSeriesDataModule) -> ForecastModel:
    dm.setup()
    net = zoo.create_model("naive", n_features=dm.n_features, seq_len=dm.seq_len, pred_len=dm.pred_len)
    return ForecastModel(net, preprocessing_of(dm), "naive")


def test_naive_backtest_on_etth1_test_part_equals_repeat_by_hand(etth1_csv: Path) -> None:
    dm = TimeSeriesDataModule("ETTh1", seq_len=96, label_len=48, pred_len=96)
    model = _naive(dm)
    frame = pd.read_csv(etth1_csv).iloc[:14400]  # the protocol's rows; the test part is [11520, 14400)
    result = zoo.backtest(model, frame, windows=2785, step=1)
    values = frame.drop(columns="date").to_numpy()
    scaled = dm.scaler.transform(values)
    origins = np.arange(11520, 14400 - 96 + 1)
    truth = np.stack([scaled[t : t + 96] for t in origins])  # (2785, 96, 7)
    repeat = scaled[origins - 1][:, None, :]  # the last lookback value, repeated
    assert result.metrics["cutoff"].nunique() == 2785
    assert result.metrics["mse_scaled"].mean() == pytest.approx(((repeat - truth) ** 2).mean(), rel=1e-6)
    assert result.metrics["mae_scaled"].mean() == pytest.approx(np.abs(repeat - truth).mean(), rel=1e-6)
    raw_truth = np.stack([values[t : t + 96] for t in origins])
    ot = result.summary.set_index("channel").loc["OT"]
    assert ot["mse"] == pytest.approx(
        ((values[origins - 1, -1][:, None] - raw_truth[..., -1]) ** 2).mean(), rel=1e-6
    )
    # the Repeat row of benchmarks/results/etth1_naive.md (ForecastingTask.test on the same windows)
    assert result.metrics["mse_scaled"].mean() == pytest.approx(1.2944, abs=5e-5)
    assert result.metrics["mae_scaled"].mean() == pytest.approx(0.7132, abs=5e-5)


def test_metrics_and_origins_against_hand_computation() -> None:
    model = _naive(TimeSeriesDataModule("synthetic", seq_len=24, label_len=0, pred_len=6))
    frame = synthetic_series()  # the datamodule's own series, 4 channels
    result = zoo.backtest(model, frame, windows=3, step=5, seasonality=24)
    values = frame.drop(columns="date").to_numpy()
    n = len(values)
    origins = [n - 6 - 10, n - 6 - 5, n - 6]
    assert list(result.metrics["cutoff"].unique()) == list(frame["date"].iloc[[t - 1 for t in origins]])
    row = result.metrics.iloc[0]  # first origin, first channel
    t, c = origins[0], 0
    forecast, truth = np.repeat(values[t - 1, c], 6), values[t : t + 6, c]
    assert row["channel"] == "x0"
    assert row["mse"] == pytest.approx(((forecast - truth) ** 2).mean())
    assert row["smape"] == pytest.approx(
        (200 * np.abs(forecast - truth) / (np.abs(forecast) + np.abs(truth))).mean()
    )
    scale = float(seasonal_naive_scale(values[:t, c], 24))
    assert row["mase"] == pytest.approx(np.abs(forecast - truth).mean() / scale)
    assert len(result.forecasts) == 3 * 6
    assert list(result.forecasts.columns[:2]) == ["cutoff", "date"] and "OT_actual" in result.forecasts


def test_in_sample_scales_equal_the_metric_per_origin() -> None:
    history = np.random.default_rng(0).normal(size=(200, 3))
    origins = np.array([1, 2, 25, 100, 194])
    fast = in_sample_scales(history, origins, 24)
    slow = np.stack([np.asarray(seasonal_naive_scale(history[:t].T, 24)) for t in origins])
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_too_short_a_series_and_bad_arguments_are_clear_errors() -> None:
    model = _naive(TimeSeriesDataModule("synthetic", seq_len=24, label_len=0, pred_len=6))
    frame = synthetic_series(60, 4)
    with pytest.raises(
        DataValidationError, match=r"60 rows, but 10 origin\(s\) 6 row\(s\) apart need .* = 84"
    ):
        zoo.backtest(model, frame, windows=10)
    with pytest.raises(ValueError, match="step must be a positive integer"):
        zoo.backtest(model, frame, windows=1, step=0)


def test_backtest_directory_is_atomic_checked_and_never_overwritten(tmp_path: Path) -> None:
    model = _naive(TimeSeriesDataModule("synthetic", seq_len=24, label_len=0, pred_len=6))
    result = zoo.backtest(model, synthetic_series(), windows=2)
    tables = {"metrics": result.metrics, "forecasts": result.forecasts, "summary": result.summary}
    out = write_backtest(tables, tmp_path / "bt")
    sums = dict(reversed(line.split()) for line in (out / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {"metrics.csv", "forecasts.csv", "summary.csv"}
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), result.summary, check_dtype=False)
    with pytest.raises(FileExistsError, match="already exists; pass --overwrite"):
        write_backtest(tables, tmp_path / "bt")
    write_backtest(tables, tmp_path / "bt", overwrite=True, suffix=".parquet")
    assert (tmp_path / "bt" / "metrics.parquet").is_file() and not (tmp_path / "bt" / "metrics.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_forecast_table_digest_is_checked(tmp_path: Path) -> None:
    path = write_table(pd.DataFrame({"a": [1.0, 2.0]}), tmp_path / "f.csv")
    verify_table(path)
    with pytest.raises(FileExistsError, match="already exists; pass --overwrite"):
        write_table(pd.DataFrame({"a": [3.0]}), path)
    path.write_text("a\n9.0\n")
    with pytest.raises(ValueError, match="f.csv: sha256 .* differs"):
        verify_table(path)
    with pytest.raises(ValueError, match="unknown output format '.xlsx'"):
        write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "f.xlsx")
