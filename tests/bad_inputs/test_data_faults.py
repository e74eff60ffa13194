"""Data faults are never silent: every bad input below is refused with a message naming the cell and the fix,
or (``missing="keep"``) handled: statistics ignore the missing values and the windows that hold one are
skipped, counted by hand.

Every module has 100 hourly rows from 2020-01-01 00:00, L = 8, P = 4 and the 70/10/20 split: train rows
[0, 70) (59 windows), val rows [62, 80) (7 windows), test rows [72, 100) (17 windows). A missing value at
row r of a split with targets on every channel (features "M") is in the ``x`` or ``y`` of the L + P = 12
windows that start at r - 11 .. r.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch

import zoo
from tests.helpers import quiet_trainer, small_tcn_task
from zoo.data import DataValidationError, TimeSeriesDataModule, synthetic_series
from zoo.hub import save_pretrained
from zoo.tasks import ForecastingTask
from zoo.tasks.checkpoints import preprocessing_of

L, P, N = 8, 4, 100
TRAIN, VAL, TEST = 59, 7, 17  # windows per split of a clean file


def _frame() -> pd.DataFrame:
    return synthetic_series(N, 3)  # date, x0, x1, OT


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _dm(path: Path, **kwargs) -> TimeSeriesDataModule:
    options = {"seq_len": L, "label_len": 4, "pred_len": P, "batch_size": 4, **kwargs}
    dm = TimeSeriesDataModule(dataset=str(path), **options)
    dm.setup()
    return dm


def _items(dm: TimeSeriesDataModule, stage: str) -> list[dict[str, torch.Tensor]]:
    ds = dm.datasets[stage]
    return [ds[i] for i in range(len(ds))]


def _fit(dm: TimeSeriesDataModule) -> tuple[ForecastingTask, pl.Trainer]:
    task = small_tcn_task(dm)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=2)
    trainer.fit(task, datamodule=dm)
    return task, trainer


# ------------------------------------------------------------------ missing="keep": handled, never spread
@pytest.fixture(scope="module")
def two_nans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The reported bug: a CSV with two NaN cells, x0 at row 20 (train) and OT at row 85 (test)."""
    frame = _frame()
    frame.loc[20, "x0"] = np.nan
    frame.loc[85, "OT"] = np.nan
    return _csv(tmp_path_factory.mktemp("two_nans"), frame), frame


def test_keep_two_nans_scaler_ignores_them_and_windows_are_skipped(two_nans, caplog) -> None:
    path, frame = two_nans
    with caplog.at_level(logging.WARNING, logger="zoo.data"):
        dm = _dm(path, missing="keep")
    values = frame[["x0", "x1", "OT"]].to_numpy(np.float64)
    assert dm.scaler is not None
    assert np.isfinite(dm.scaler.mean).all() and np.isfinite(dm.scaler.std).all()
    np.testing.assert_allclose(dm.scaler.mean, np.nanmean(values[:70], axis=0), rtol=1e-12)
    np.testing.assert_allclose(dm.scaler.std, np.nanstd(values[:70], axis=0), rtol=1e-12)
    # windows 9..20 of train and 2..13 of test (row 85 = test row 13) are skipped, val has no NaN
    assert dm.num_windows == {"train": TRAIN - 12, "val": VAL, "test": TEST - 12}
    # the NaN cells stay NaN after scaling (nothing is filled), and no served window holds one
    train = dm.datasets["train"]
    assert torch.isnan(train.inputs[20, 0]) and torch.isfinite(train.inputs[19]).all()
    assert train.starts is not None and list(train.starts[8:10]) == [8, 21]
    for stage in ("train", "val", "test"):
        for item in _items(dm, stage):
            assert torch.isfinite(item["x"]).all() and torch.isfinite(item["y"]).all()
    messages = [r.getMessage() for r in caplog.records]
    assert any("2 missing/sentinel value(s) kept as missing" in m for m in messages)
    assert any("train split: skipped 12 of 59 window(s)" in m and "47 kept" in m for m in messages)
    assert any("test split: skipped 12 of 17 window(s)" in m and "5 kept" in m for m in messages)
    assert not any("val split" in m for m in messages)


def test_keep_two_nans_trains_with_a_finite_loss(two_nans) -> None:
    path, _ = two_nans
    dm = _dm(path, missing="keep")
    _, trainer = _fit(dm)
    metrics = trainer.callback_metrics
    assert "train/loss_epoch" in metrics and "val/loss" in metrics
    assert all(math.isfinite(float(v)) for v in metrics.values())


def test_keep_forecast_and_backtest_refuse_a_nan_in_their_input(two_nans, tmp_path: Path) -> None:
    path, frame = two_nans
    dm = _dm(path, missing="keep")
    task, _ = _fit(dm)
    directory = save_pretrained(task, tmp_path / "model", preprocessing=preprocessing_of(dm))
    # the last L rows (92..99) are complete: a finite forecast
    forecast = zoo.forecast(directory, frame)
    assert len(forecast) == P and np.isfinite(forecast[["x0", "x1", "OT"]].to_numpy()).all()
    late = frame.copy()
    late.loc[95, "x1"] = np.nan
    with pytest.raises(
        DataValidationError,
        match=r"^the DataFrame: column 'x1' has a missing value \(NaN\) on 2020-01-04 23:00:00 \(row 95 of "
        r"the series\), inside the last seq_len=8 rows a forecast reads\. .*missing='interpolate'",
    ):
        zoo.forecast(directory, late)
    with pytest.raises(DataValidationError, match=r"row 95 of the series.*missing='interpolate'"):
        dm_late = _dm(_csv(tmp_path, late, "late.csv"), missing="keep")
        dm_late.future_windows()
    # two origins (rows 92 and 96) read rows 84..95 as input: row 85's NaN OT is named
    with pytest.raises(
        DataValidationError,
        match=r"column 'OT' has a missing value \(NaN\) on 2020-01-04 13:00:00 \(row 85 of the series\), "
        r"inside the rows the 2 backtest window\(s\) read as input\. .*windows/step",
    ):
        zoo.backtest(directory, frame, windows=2)
    # one origin does not reach it; MASE's in-sample scale leaves the NaN differences out
    result = zoo.backtest(directory, frame, windows=1)
    assert np.isfinite(result.summary[["mse", "mae", "smape", "mase"]].to_numpy()).all()


def test_keep_sentinels_count_as_missing(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[30, "x1"] = -9999
    dm = _dm(_csv(tmp_path, frame), missing="keep")
    assert np.isnan(dm.table.values[30, 1])
    x1 = frame["x1"].to_numpy()[:70]
    np.testing.assert_allclose(dm.scaler.mean[1], np.mean(np.delete(x1, 30)), rtol=1e-12)
    np.testing.assert_allclose(dm.scaler.std[1], np.std(np.delete(x1, 30)), rtol=1e-12)
    assert dm.num_windows == {"train": TRAIN - 12, "val": VAL, "test": TEST}


def test_raw_uses_sentinels_as_numbers_as_tslib_does(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[30, "x1"] = -9999
    dm = _dm(_csv(tmp_path, frame), missing="raw")
    x1 = frame["x1"].to_numpy()[:70]
    assert dm.table.values[30, 1] == -9999
    np.testing.assert_allclose(dm.scaler.mean[1], x1.mean(), rtol=1e-12)
    np.testing.assert_allclose(dm.scaler.std[1], x1.std(), rtol=1e-12)
    assert dm.num_windows == {"train": TRAIN, "val": VAL, "test": TEST}


def test_raw_refuses_a_nan(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[40, "OT"] = np.nan
    with pytest.raises(
        DataValidationError,
        match=r"data.csv: column 'OT' has a missing value \(NaN\) at row 40 \(file line 42\)\. "
        r"missing='raw' uses sentinel values as numbers, but a NaN has no value: choose missing='keep'",
    ):
        _dm(_csv(tmp_path, frame), missing="raw")


def test_empty_cells_are_an_error_by_default_that_names_the_policies(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    text = _frame().to_csv(index=False).splitlines()
    text[1 + 7] = ",".join(text[1 + 7].split(",")[:2] + ["", ""])  # row 7: x1 and OT empty
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(
        DataValidationError,
        match=r"data.csv: column 'x1' has a missing value \(NaN\) at row 7 \(file line 9\)\. Cleaning is "
        r"opt-in: missing='interpolate' .* missing='keep' .* missing='raw'",
    ):
        _dm(path)
    assert _dm(path, missing="keep").num_windows["train"] == TRAIN - 8  # windows 0..7 hold row 7


def test_keep_nan_in_an_input_only_channel_skips_by_x_only(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[20, "x0"] = np.nan
    path = _csv(tmp_path, frame)
    # features "MS": x0 is an input, not a target, so only the 8 windows whose x holds row 20 (13..20) go
    assert _dm(path, missing="keep", features="MS").num_windows == {
        "train": TRAIN - 8,
        "val": VAL,
        "test": TEST,
    }
    # features "S" reads only the target: x0's NaN is not read at all
    assert _dm(path, missing="keep", features="S").num_windows == {"train": TRAIN, "val": VAL, "test": TEST}


def test_keep_channel_without_a_training_value_is_an_error(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[:69, "x1"] = np.nan  # x1 only has values in val/test
    with pytest.raises(
        DataValidationError,
        match=r"data.csv: column 'x1' has no value in the 70 training rows \[0, 70\) .* Drop the column "
        r"\(columns=\[\.\.\.\]\)",
    ):
        _dm(_csv(tmp_path, frame), missing="keep")


def test_keep_split_left_without_a_window_is_an_error(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[73, "x0"] = np.nan  # val row 11: in the x or y of each of its 7 windows
    with pytest.raises(
        DataValidationError,
        match=r"data.csv: every one of the 7 val window\(s\) \(rows \[62, 80\)\) holds a missing value "
        r"kept by missing='keep', so the split has no window\. Choose missing='interpolate'",
    ):
        _dm(_csv(tmp_path, frame), missing="keep")


def test_keep_kept_values_are_not_filled_by_a_gap_policy(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[10, "x0"] = np.nan
    gappy = frame.drop(index=[40, 41])
    dm = _dm(_csv(tmp_path, gappy), missing="keep", gaps="interpolate")
    values = dm.table.values
    assert len(values) == N and np.isnan(values[10, 0]) and np.isnan(values).sum() == 1
    expected = np.interp([40, 41], [39, 42], frame.loc[[39, 42], "x1"].to_numpy())
    np.testing.assert_allclose(values[40:42, 1], expected)


def test_long_format_keep_skips_per_series(tmp_path: Path) -> None:
    parts = []
    for sid, seed in (("a", 0), ("b", 1)):
        part = synthetic_series(N, 2, seed=seed).rename(columns={"date": "ds", "OT": "y"})
        part.insert(0, "unique_id", sid)
        parts.append(part)
    parts[1].loc[20, "y"] = np.nan
    frame = pd.concat(parts, ignore_index=True)
    dm = _dm(_csv(tmp_path, frame), id_column="unique_id", date_column="ds", target="y", missing="keep")
    assert dm.num_windows == {"train": 2 * TRAIN - 12, "val": 2 * VAL, "test": 2 * TEST}
    b = parts[1][["x0", "y"]].to_numpy(np.float64)[:70]
    np.testing.assert_allclose(dm.scaler_of("b").mean, np.nanmean(b, axis=0), rtol=1e-12)
    np.testing.assert_allclose(dm.scaler_of("b").std, np.nanstd(b, axis=0), rtol=1e-12)
    a = parts[0][["x0", "y"]].to_numpy(np.float64)[:70]
    np.testing.assert_allclose(dm.scaler_of("a").mean, a.mean(axis=0), rtol=1e-12)


# ------------------------------------------------------------------ inf / overflow: always an error
@pytest.mark.parametrize("missing", ["error", "keep", "interpolate", "raw"])
def test_inf_is_an_error_under_every_policy(tmp_path: Path, missing: str) -> None:
    frame = _frame()
    frame.loc[12, "x1"] = np.inf
    with pytest.raises(
        DataValidationError,
        match=r"data.csv: column 'x1' has the non-finite value inf at row 12 \(file line 14\), dated "
        r"2020-01-01 12:00:00\. No missing policy uses such a value",
    ):
        _dm(_csv(tmp_path, frame), missing=missing)


def test_minus_inf_names_the_first_row_and_counts_the_others(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[[50, 60], "OT"] = -np.inf
    with pytest.raises(
        DataValidationError,
        match=r"column 'OT' has the non-finite value -inf at row 50 \(file line 52\), dated "
        r"2020-01-03 02:00:00, and 1 more row\(s\)\. No missing policy",
    ):
        _dm(_csv(tmp_path, frame), missing="keep")


@pytest.mark.parametrize(
    "cell, what",
    [
        ("1e400", r"the non-finite value inf"),  # beyond float64: parsed as inf
        ("1e39", r"the value 1e\+39, beyond float32's range \(\|v\| > 3\.403e\+38\)"),
        ("-5e38", r"the value -5e\+38, beyond float32's range \(\|v\| > 3\.403e\+38\)"),
    ],
)
def test_overflowing_values_are_an_error(tmp_path: Path, cell: str, what: str) -> None:
    frame = _frame()
    frame["x0"] = frame["x0"].astype(object)
    frame.loc[3, "x0"] = cell
    with pytest.raises(
        DataValidationError,
        match=rf"column 'x0' has {what} at row 3 \(file line 5\), dated 2020-01-01 03:00:00",
    ):
        _dm(_csv(tmp_path, frame), missing="interpolate")


def test_long_format_inf_names_the_series_and_the_file_row(tmp_path: Path) -> None:
    parts = []
    for sid in ("a", "b"):
        part = synthetic_series(N, 1).rename(columns={"date": "ds", "OT": "y"})
        part.insert(0, "unique_id", sid)
        parts.append(part)
    parts[1].loc[30, "y"] = np.inf
    frame = pd.concat(parts, ignore_index=True)
    with pytest.raises(
        DataValidationError,
        match=r"data.csv \(series 'b'\): column 'y' has the non-finite value inf at row 130 "
        r"\(file line 132\), dated 2020-01-02 06:00:00",
    ):
        _dm(_csv(tmp_path, frame), id_column="unique_id", date_column="ds", target="y", missing="keep")


def test_forecast_of_a_dataframe_with_inf(two_nans, tmp_path: Path) -> None:
    path, frame = two_nans
    dm = _dm(path, missing="keep")
    task, _ = _fit(dm)
    directory = save_pretrained(task, tmp_path / "model", preprocessing=preprocessing_of(dm))
    bad = frame.copy()
    bad.loc[98, "x0"] = np.inf
    with pytest.raises(
        DataValidationError,
        match=r"the DataFrame: column 'x0' has the non-finite value inf at row 98 \(file line 100\), dated "
        r"2020-01-05 02:00:00",
    ):
        zoo.forecast(directory, bad)


@pytest.mark.parametrize("cell", ["?", "1.2.3"])
def test_non_numeric_cell_names_the_cell(tmp_path: Path, cell: str) -> None:
    frame = _frame()
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[5, "x1"] = cell
    with pytest.raises(
        DataValidationError,
        match=rf"data.csv: column 'x1' has a non-numeric value '{re.escape(cell)}' at row 5 "
        r"\(file line 7\)\. Only numeric channels",
    ):
        _dm(_csv(tmp_path, frame), missing="keep")


# ------------------------------------------------------------------ timestamps: gaps and irregular rows
def test_gaps_are_an_error_naming_the_first_ones(tmp_path: Path) -> None:
    frame = _frame().drop(index=[40, 41, 42, 60])
    with pytest.raises(
        DataValidationError,
        match=r"data.csv: column 'date' has 2 gap\(s\) at frequency 'h': 2020-01-02 15:00:00 -> "
        r"2020-01-02 19:00:00 \(3 missing, after row 39\), 2020-01-03 11:00:00 -> 2020-01-03 13:00:00 "
        r"\(1 missing, after row 56\)\. .*gaps='interpolate' or gaps='ffill'",
    ):
        _dm(_csv(tmp_path, frame))


def test_user_frequency_on_irregular_timestamps(tmp_path: Path) -> None:
    frame = _frame()
    extra = frame.iloc[[10]].assign(date=frame["date"].iloc[10] + pd.Timedelta(minutes=30))
    irregular = pd.concat([frame, extra]).sort_values("date", kind="stable").reset_index(drop=True)
    with pytest.raises(
        DataValidationError,
        match=r"data.csv: irregular timestamps: row 11 \(2020-01-01 10:30:00\) is less than one 'h' step "
        r"after row 10 \(2020-01-01 10:00:00\).*Resample the data onto the 'h' grid",
    ):
        _dm(_csv(tmp_path, irregular), freq="h")


def test_user_frequency_finer_than_the_rows(tmp_path: Path) -> None:
    daily = synthetic_series(N, 3, freq="D")
    with pytest.raises(
        DataValidationError,
        match=r"data.csv: column 'date' has 99 gap\(s\) at frequency 'h': 2020-01-01 00:00:00 -> "
        r"2020-01-02 00:00:00 \(23 missing, after row 0\), .* and 96 more\. .*The rows look like "
        r"frequency 'D': if that is their frequency, pass freq='D'\.",
    ):
        _dm(_csv(tmp_path, daily), freq="h")
