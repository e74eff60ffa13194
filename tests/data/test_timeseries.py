"""The Informer/TSLib protocol of TimeSeriesDataModule, checked against the real files and pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from zoo.data import DataValidationError, TimeSeriesDataModule, synthetic_series
from zoo.data.timefeatures import time_features
from zoo.data.timeseries import EpochShuffleSampler, split_bounds


def _dm(dataset: str | Path, **kwargs) -> TimeSeriesDataModule:
    defaults = {"seq_len": 96, "label_len": 48, "pred_len": 96, "batch_size": 32}
    dm = TimeSeriesDataModule(dataset=str(dataset), **{**defaults, **kwargs})
    dm.setup()
    return dm


@pytest.mark.parametrize("pred_len, test_windows", [(96, 2785), (192, 2689), (336, 2545), (720, 2161)])
def test_etth1_window_counts(data_dir: Path, pred_len: int, test_windows: int) -> None:
    dm = _dm("ETTh1", pred_len=pred_len)
    assert dm.num_windows == {"train": 8640 - 96 - pred_len + 1, "val": test_windows, "test": test_windows}
    assert len(dm.test_dataloader().dataset) == test_windows
    # every test window is evaluated by default; drop_last reproduces the old tables
    assert sum(len(b["x"]) for b in dm.test_dataloader()) == test_windows
    dropped = _dm("ETTh1", pred_len=pred_len, eval_drop_last=True)
    assert sum(len(b["x"]) for b in dropped.test_dataloader()) == test_windows // 32 * 32


def test_etth1_scaler_uses_train_rows_only(etth1_csv: Path) -> None:
    dm = _dm("ETTh1")
    raw = pd.read_csv(etth1_csv)
    train = raw.iloc[:8640].drop(columns="date")
    np.testing.assert_allclose(dm.scaler.mean, train.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(dm.scaler.std, train.std(ddof=0).to_numpy(), rtol=1e-12)
    assert not np.allclose(dm.scaler.mean, raw.iloc[:14400].drop(columns="date").mean().to_numpy())


def test_etth1_borders_and_window_contents(etth1_csv: Path) -> None:
    dm = _dm("ETTh1")
    raw = pd.read_csv(etth1_csv)
    values = raw.drop(columns="date").to_numpy()
    scaled = (values - dm.scaler.mean) / dm.scaler.std
    first_test = dm.datasets["test"][0]
    # the first test target is row 11520 exactly; its lookback is rows [11424, 11520)
    np.testing.assert_allclose(first_test["y"].numpy(), scaled[11520:11616], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(first_test["x"].numpy(), scaled[11424:11520], rtol=1e-5, atol=1e-5)
    last_test = dm.datasets["test"][len(dm.datasets["test"]) - 1]
    np.testing.assert_allclose(last_test["y"][-1].numpy(), scaled[14399], rtol=1e-5, atol=1e-5)
    first_val = dm.datasets["val"][0]
    np.testing.assert_allclose(first_val["y"][0].numpy(), scaled[8640], rtol=1e-5, atol=1e-5)
    dates = pd.DatetimeIndex(pd.to_datetime(raw["date"]))
    np.testing.assert_allclose(first_test["y_mark"].numpy(), time_features(dates[11520:11616], "h"))
    batch = next(iter(dm.test_dataloader()))
    assert batch["x"].shape == (32, 96, 7) and batch["y"].shape == (32, 96, 7)
    assert batch["x_mark"].shape == (32, 96, 4) and batch["y_mark"].shape == (32, 96, 4)


def test_timef_hourly_values() -> None:
    dates = pd.DatetimeIndex(["2016-07-01 00:00", "2016-12-31 23:00"])
    feats = time_features(dates, "h")  # hour/23, weekday/6, (day-1)/30, (yday-1)/365, each - 0.5
    np.testing.assert_allclose(feats[0], [-0.5, 4 / 6 - 0.5, -0.5, 182 / 365 - 0.5], rtol=1e-6)
    np.testing.assert_allclose(feats[1], [0.5, 5 / 6 - 0.5, 0.5, 365 / 365 - 0.5], rtol=1e-6)
    assert time_features(pd.date_range("2020-01-01", periods=3, freq="15min"), "15min").shape == (3, 5)
    assert time_features(pd.date_range("2020-01-01", periods=3, freq="W"), "W").shape == (3, 2)


def test_ratio_split_matches_tslib(data_dir: Path) -> None:
    dm = _dm("exchange_rate")  # N = 7588: train 5311, val 760, test 1517 rows of targets
    assert split_bounds(7588, 96, "ratio_70_10_20") == {
        "train": (0, 5311),
        "val": (5215, 6071),
        "test": (5975, 7588),
    }
    assert dm.num_windows == {"train": 5311 - 191, "val": 760 - 95, "test": 1517 - 95}
    assert dm.n_time_features == 3  # daily: weekday, day of month, day of year


@pytest.mark.parametrize("features, c_in, c_out", [("M", 7, 7), ("S", 1, 1), ("MS", 7, 1)])
def test_feature_modes(data_dir: Path, features: str, c_in: int, c_out: int) -> None:
    dm = _dm("ETTh1", features=features)
    assert (dm.n_features, dm.n_targets) == (c_in, c_out)
    item = dm.datasets["train"][0]
    assert item["x"].shape == (96, c_in) and item["y"].shape == (96, c_out)
    # the target is the last input channel, scaled with the target's own train statistics
    torch.testing.assert_close(item["y"][:, -1], dm.datasets["train"][96]["x"][:, -1])
    assert dm.target_columns[-1] == "OT"


def test_target_column_moved_last(tmp_path: Path) -> None:
    frame = synthetic_series(400, 3)
    frame = frame[["date", "OT", "x0", "x1"]]
    frame.to_csv(tmp_path / "s.csv", index=False)
    dm = _dm(tmp_path / "s.csv", seq_len=24, label_len=12, pred_len=12, features="MS")
    assert dm.input_columns == ["x0", "x1", "OT"] and dm.target_columns == ["OT"]


def test_inverse_transform_round_trip(data_dir: Path) -> None:
    dm = _dm("ETTh1", features="MS")
    y = dm.datasets["test"][0]["y"]
    original = dm.target_scaler.inverse_transform(y)
    raw = pd.read_csv(data_dir / "ett" / "ETTh1.csv")["OT"].to_numpy()[11520:11616]
    np.testing.assert_allclose(original[:, 0].numpy(), raw, rtol=1e-5, atol=1e-4)


def test_synthetic_is_deterministic_and_coupled() -> None:
    a, b = synthetic_series(500, 4, seed=3), synthetic_series(500, 4, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not synthetic_series(500, 4, seed=4).equals(a)
    assert list(a.columns) == ["date", "x0", "x1", "x2", "OT"]
    lagged = np.corrcoef(a["x0"].to_numpy()[:-6], a["x1"].to_numpy()[6:])[0, 1]
    assert lagged > 0.3


def test_epoch_shuffle_sampler_depends_only_on_seed_and_epoch() -> None:
    s1, s2 = EpochShuffleSampler(50, seed=7), EpochShuffleSampler(50, seed=7)
    torch.manual_seed(123)
    first = list(s1)
    torch.manual_seed(999)
    assert list(s2) == first and sorted(first) == list(range(50))
    s2.set_epoch(1)
    assert list(s2) != first


# ------------------------------------------------------------------ bad input: clear errors
def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        _dm(tmp_path / "nope.csv")


def test_nan_names_column_and_row(tmp_path: Path) -> None:
    frame = synthetic_series(400, 3)
    frame.loc[123, "x1"] = np.nan
    with pytest.raises(
        DataValidationError, match=r"bad.csv: column 'x1' has a missing value \(NaN\) at row 123"
    ):
        _dm(_write(tmp_path, frame), seq_len=24, pred_len=12, label_len=0)


def test_sentinel_names_column_and_row_and_cleaning_is_opt_in(tmp_path: Path) -> None:
    frame = synthetic_series(400, 3)
    frame.loc[200, "OT"] = -9999
    frame.loc[201, "OT"] = -9999
    path = _write(tmp_path, frame)
    with pytest.raises(
        DataValidationError,
        match=r"column 'OT' has the sentinel value -9999 at row 200 "
        r"\(file line 202\) and 1 more",
    ):
        _dm(path, seq_len=24, pred_len=12, label_len=0)
    clean = _dm(path, seq_len=24, pred_len=12, label_len=0, missing="interpolate")
    ot = clean.table.values[:, -1]
    expected = np.interp([200, 201], [199, 202], [frame.loc[199, "OT"], frame.loc[202, "OT"]])
    np.testing.assert_allclose(ot[200:202], expected)
    raw = _dm(path, seq_len=24, pred_len=12, label_len=0, missing="raw")
    assert raw.table.values[200, -1] == -9999
    kept = _dm(path, seq_len=24, pred_len=12, label_len=0, missing="keep")
    assert np.isnan(kept.table.values[200:202, -1]).all()


def test_weather_needs_explicit_policies(data_dir: Path) -> None:
    with pytest.raises(DataValidationError, match=r"weather.csv: column 'date' has a duplicate timestamp"):
        _dm("weather")
    dm = _dm("weather", missing="raw", timestamps="ignore")  # what TSLib does
    assert dm.n_features == 21 and dm.n_time_features == 5


@pytest.mark.parametrize(
    "swap, message", [("backwards", "goes backwards"), ("duplicate", "duplicate timestamp")]
)
def test_bad_timestamps(tmp_path: Path, swap: str, message: str) -> None:
    frame = synthetic_series(400, 2)
    if swap == "backwards":
        frame.loc[[50, 51], "date"] = frame.loc[[51, 50], "date"].to_numpy()
    else:
        frame.loc[51, "date"] = frame.loc[50, "date"]
    with pytest.raises(DataValidationError, match=f"{message}.*row 51"):
        _dm(_write(tmp_path, frame), seq_len=24, pred_len=12, label_len=0)


def test_unknown_target(tmp_path: Path) -> None:
    path = _write(tmp_path, synthetic_series(400, 2))
    with pytest.raises(ValueError, match="unknown target column 'price'"):
        _dm(path, features="S", target="price", seq_len=24, pred_len=12, label_len=0)


def test_too_short_for_a_window_names_split(tmp_path: Path) -> None:
    path = _write(tmp_path, synthetic_series(300, 2))  # val split: 30 target rows + 96 lookback
    with pytest.raises(ValueError, match=r"the val split has 126 rows .* seq_len \+ pred_len = 192"):
        _dm(path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seq_len": 0}, "seq_len must be a positive integer"),
        ({"pred_len": -1}, "pred_len must be a positive integer"),
        ({"label_len": 200}, "label_len must lie in"),
        ({"features": "MS", "target": None}, "set target"),
        ({"features": "X"}, "features must be"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TimeSeriesDataModule(**{"dataset": "synthetic", **kwargs})


def test_unknown_dataset_name_suggests() -> None:
    with pytest.raises(KeyError, match="ETTh1"):
        _dm("ETTh3").table  # noqa: B018
