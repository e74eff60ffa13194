"""zoo.forecast: future timestamps, original units, the recorded scaler, columns by name, long format, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import zoo
from tests.helpers import quiet_trainer, small_tcn_task
from zoo.data import DataValidationError, TimeSeriesDataModule, synthetic_series
from zoo.data.timefeatures import time_features
from zoo.hub import from_pretrained, save_pretrained
from zoo.inference.model import ForecastModelError
from zoo.tasks.checkpoints import preprocessing_of

SEQ, PRED = 24, 6


def _fitted(dm: TimeSeriesDataModule, tmp_path: Path, name: str = "model") -> Path:
    """A small TCN fitted for 2 steps on ``dm`` and saved as a pretrained directory."""
    dm.setup()
    task = small_tcn_task(dm)
    trainer = quiet_trainer(max_steps=2, limit_val_batches=0)
    trainer.fit(task, datamodule=dm)
    return save_pretrained(task, tmp_path / name, preprocessing=preprocessing_of(dm))


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A pretrained directory fitted on a wide hourly CSV, and the frame it was fitted on."""
    tmp = tmp_path_factory.mktemp("wide")
    frame = synthetic_series(600, 3)
    frame.to_csv(tmp / "train.csv", index=False)
    dm = TimeSeriesDataModule(str(tmp / "train.csv"), seq_len=SEQ, label_len=0, pred_len=PRED, batch_size=16)
    return _fitted(dm, tmp), frame


def test_forecast_is_the_net_applied_by_hand_with_the_recorded_scaler(wide) -> None:
    directory, frame = wide
    result = zoo.forecast(directory, frame)
    net = from_pretrained(directory)
    scaler = net.pretrained_config.scaler("input")
    tail = frame.iloc[-SEQ:]
    future = pd.date_range(tail["date"].iloc[-1] + pd.Timedelta(hours=1), periods=PRED, freq="h")
    x = torch.tensor(scaler.transform(tail[["x0", "x1", "OT"]].to_numpy()), dtype=torch.float32)[None]
    x_mark = torch.from_numpy(time_features(pd.DatetimeIndex(tail["date"]), "h"))[None]
    y_mark = torch.from_numpy(time_features(future, "h"))[None]
    with torch.no_grad():
        by_hand = scaler.inverse_transform(net(x, x_mark, y_mark)[0].numpy())
    assert list(result.columns) == ["date", "x0", "x1", "OT"]
    assert list(result["date"]) == list(future)
    np.testing.assert_allclose(result[["x0", "x1", "OT"]].to_numpy(), by_hand, rtol=1e-5, atol=1e-5)


def test_a_file_of_exactly_seq_len_rows_reordered_gives_the_same_forecast(wide, tmp_path: Path) -> None:
    directory, frame = wide
    full = zoo.forecast(directory, frame)
    path = tmp_path / "tail.csv"
    frame.iloc[-SEQ:][["OT", "date", "x1", "x0"]].to_csv(path, index=False)  # columns in another order
    tail = zoo.forecast(directory, path)
    pd.testing.assert_frame_equal(tail, full)
    parquet = tmp_path / "tail.parquet"
    frame.iloc[-SEQ:].to_parquet(parquet)
    pd.testing.assert_frame_equal(zoo.forecast(str(directory), parquet), full)
    assert len(zoo.forecast(directory, frame, horizon=2)) == 2


def test_the_recorded_scaler_is_used_never_a_refitted_one(wide) -> None:
    directory, frame = wide
    shifted = frame.copy()
    shifted.iloc[: len(frame) - SEQ, 1:] += 1000.0  # rows the forecast does not read: no effect
    pd.testing.assert_frame_equal(zoo.forecast(directory, shifted), zoo.forecast(directory, frame))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: f.drop(columns="x1"), r"column\(s\) \['x1'\] missing"),
        (lambda f: f.rename(columns={"OT": "ot"}), r"Did you mean 'ot'\?"),
        (lambda f: f.assign(extra=1.0), r"\['extra'\] are not among the columns"),
        (lambda f: f.iloc[-SEQ + 1 :], "fewer than the model's lookback seq_len=24"),
        (
            lambda f: f.assign(date=pd.date_range("2020-01-01", periods=len(f), freq="15min")),
            "at frequency '15min'.*was trained at frequency 'h'",
        ),
        (lambda f: f.drop(index=[590, 591]), r"1 gap\(s\) at frequency 'h'.*2 missing"),
        (lambda f: f.rename(columns={"date": "when"}), "no date column 'date'.*date_column='when'"),
    ],
)
def test_bad_input_is_one_clear_error(wide, edit, message: str) -> None:
    directory, frame = wide
    with pytest.raises(DataValidationError, match=message):
        zoo.forecast(directory, edit(frame))


def test_gaps_can_be_filled_and_horizon_is_bounded(wide) -> None:
    directory, frame = wide
    holey = frame.drop(index=[590])
    filled = zoo.forecast(directory, holey, gaps="interpolate")
    assert filled["date"].iloc[0] == frame["date"].iloc[-1] + pd.Timedelta(hours=1)
    with pytest.raises(ValueError, match="forecasts pred_len=6 steps; ask for 1 to 6"):
        zoo.forecast(directory, frame, horizon=7)


def test_a_generative_model_or_a_recordless_net_is_refused() -> None:
    with pytest.raises(ForecastModelError, match="vae.mnist is a generative model"):
        zoo.forecast("vae.mnist", synthetic_series(100, 2))
    net = zoo.create_model("tcn", n_features=4, seq_len=SEQ, pred_len=PRED)
    with pytest.raises(ForecastModelError, match="no record of the data it was trained on"):
        zoo.forecast(net, synthetic_series(100, 4))


def _long_frame() -> pd.DataFrame:
    parts = []
    for i, n in enumerate((300, 220, 160)):  # series of different lengths and start dates
        base = synthetic_series(n, 1, seed=i, start=f"2021-0{i + 1}-01")
        parts.append(
            pd.DataFrame({"unique_id": f"s{i}", "ds": base["date"], "y": base["OT"] * (i + 1) + 10 * i})
        )
    return pd.concat(parts).sample(frac=1.0, random_state=0).reset_index(drop=True)  # rows in any order


def test_long_format_forecasts_every_series_with_its_own_scaler(tmp_path: Path) -> None:
    frame = _long_frame()
    frame.to_csv(tmp_path / "long.csv", index=False)
    dm = TimeSeriesDataModule(
        str(tmp_path / "long.csv"),
        date_column="ds",
        id_column="unique_id",
        target="y",
        seq_len=SEQ,
        label_len=0,
        pred_len=PRED,
        batch_size=16,
    )
    directory = _fitted(dm, tmp_path)
    result = zoo.forecast(directory, tmp_path / "long.csv")
    assert list(result.columns) == ["unique_id", "ds", "y"]
    assert result.groupby("unique_id").size().to_dict() == {"s0": PRED, "s1": PRED, "s2": PRED}
    net = from_pretrained(directory)
    stats = net.pretrained_config.preprocessing["series_scalers"]
    for series_id, rows in frame.groupby("unique_id"):
        rows = rows.sort_values("ds")
        n_train = int(0.7 * len(rows))
        np.testing.assert_allclose(stats[series_id]["mean"], [rows["y"].iloc[:n_train].mean()], rtol=1e-10)
        tail = rows.iloc[-SEQ:]
        mean, std = stats[series_id]["mean"][0], stats[series_id]["std"][0]
        x = torch.tensor(((tail["y"].to_numpy() - mean) / std)[None, :, None], dtype=torch.float32)
        dates = pd.DatetimeIndex(tail["ds"])
        future = pd.date_range(dates[-1] + pd.Timedelta(hours=1), periods=PRED, freq="h")
        with torch.no_grad():
            out = net(
                x,
                torch.from_numpy(time_features(dates, "h"))[None],
                torch.from_numpy(time_features(future, "h"))[None],
            )
        got = result[result["unique_id"] == series_id]
        assert list(got["ds"]) == list(future)
        np.testing.assert_allclose(
            got["y"].to_numpy(), out[0, :, 0].numpy() * std + mean, rtol=1e-5, atol=1e-5
        )
    unknown = frame.assign(unique_id=frame["unique_id"].replace({"s2": "new"}))
    with pytest.raises(ForecastModelError, match="series 'new' was not among them"):
        zoo.forecast(directory, unknown)
    with pytest.raises(DataValidationError, match=r"Each \(series, timestamp\) pair must appear once"):
        zoo.forecast(directory, pd.concat([frame, frame.iloc[:1]]))


def test_tcn_etth1_from_its_last_96_rows_equals_the_same_window_in_the_full_file(etth1_csv: Path) -> None:
    full = pd.read_csv(etth1_csv).iloc[:14400]
    from_full = zoo.forecast("tcn.etth1", full)
    from_tail = zoo.forecast("tcn.etth1", full.iloc[-96:])
    pd.testing.assert_frame_equal(from_full, from_tail)
    # and both equal the shipped model's forecast of the last test window inside the datamodule
    net = zoo.create_model("tcn.etth1", pretrained=True)
    dm = TimeSeriesDataModule("ETTh1", seq_len=96, label_len=48, pred_len=96)
    dm.setup()
    window = dm.datasets["test"][len(dm.datasets["test"]) - 1]
    assert np.allclose(
        window["x"].numpy(), dm.scaler.transform(full.iloc[-96 - 96 : -96, 1:].to_numpy()), atol=1e-5
    )
    previous = zoo.forecast("tcn.etth1", full.iloc[:-96])
    with torch.no_grad():
        inside = net(window["x"][None], window["x_mark"][None], window["y_mark"][None])[0].numpy()
    np.testing.assert_allclose(
        previous.iloc[:, 1:].to_numpy(), dm.scaler.inverse_transform(inside), rtol=1e-5, atol=1e-4
    )
