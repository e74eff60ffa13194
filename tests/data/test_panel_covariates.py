"""Covariates of a long-format panel: each series' known-future values and its static columns reach its own
windows, forecasts and backtests; their errors name the series, the column and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import zoo
from zoo.data import DataValidationError, TimeSeriesDataModule
from zoo.data.statics import StaticCovariates
from zoo.inference import ForecastModel
from zoo.tasks.checkpoints import preprocessing_of

ROWS = 400
SERIES = {"a": (1.0, "north"), "b": (2.5, "south"), "c": (4.0, "north")}  # id: (size, region)


def _panel(seed: int = 0) -> pd.DataFrame:
    """Three hourly series of demand, price (observed), promo (known ahead), size and region (static)."""
    rng = np.random.default_rng(seed)
    parts = []
    for offset, (series_id, (size, region)) in enumerate(SERIES.items()):
        promo = (rng.random(ROWS) < 0.2).astype(float)
        parts.append(
            pd.DataFrame(
                {
                    "unique_id": series_id,
                    "date": pd.date_range("2021-01-01", periods=ROWS, freq="h"),
                    "price": rng.random(ROWS),
                    "promo": promo + 10 * offset,  # each series its own values, so a mix-up shows
                    "size": size,
                    "region": region,
                    "demand": 10 + size + 3 * promo + rng.standard_normal(ROWS),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _data(path: Path, **kwargs: object) -> TimeSeriesDataModule:
    options = {
        "seq_len": 48,
        "label_len": 0,
        "pred_len": 24,
        "features": "MS",
        "target": "demand",
        "id_column": "unique_id",
        "past_columns": ["price"],
        "future_columns": ["promo"],
        "static_columns": ["size", "region"],
        "time_encoding": "none",
        **kwargs,
    }
    dm = TimeSeriesDataModule(str(path), **options)
    dm.setup()
    return dm


@pytest.fixture
def panel_csv(tmp_path: Path) -> Path:
    path = tmp_path / "panel.csv"
    _panel().to_csv(path, index=False)
    return path


def test_each_window_holds_its_own_series_covariates(panel_csv: Path) -> None:
    dm = _data(panel_csv)
    frame = pd.read_csv(panel_csv)
    assert dm.input_columns == ["price", "demand"]
    assert dm.n_time_features == 1 + 1 + 2  # promo, size, region=north / region=south
    statics = dm.static_covariates
    assert statics.feature_names == ["size", "region=north", "region=south"]
    sizes = np.array([size for size, _ in SERIES.values()])
    assert statics.numeric["size"] == pytest.approx((sizes.mean(), sizes.std()))
    scaler = dm.future_covariates.scaler
    train_rows = int(ROWS * 0.7)
    pooled = np.concatenate(
        [frame.loc[frame.unique_id == s, "promo"].to_numpy()[:train_rows] for s in SERIES]
    )
    assert scaler.mean[0] == pytest.approx(pooled.mean())  # one scale shared by the series' training rows
    for position, (series_id, (size, region)) in enumerate(SERIES.items()):
        item = dm.datasets["train"].datasets[position][3]  # the window whose lookback starts at row 3
        promo = frame.loc[frame.unique_id == series_id, "promo"].to_numpy()
        np.testing.assert_allclose(
            item["x_mark"][:, 0] * scaler.std[0] + scaler.mean[0], promo[3:51], atol=1e-4
        )
        np.testing.assert_allclose(
            item["y_mark"][:, 0] * scaler.std[0] + scaler.mean[0], promo[51:75], atol=1e-4
        )
        expected = [(size - sizes.mean()) / sizes.std(), region == "north", region == "south"]
        for marks in (item["x_mark"], item["y_mark"]):
            np.testing.assert_allclose(marks[:, 1:].numpy(), np.tile(expected, (len(marks), 1)), atol=1e-6)


def test_a_static_only_panel_predicts_its_future_with_the_statics(panel_csv: Path) -> None:
    dm = _data(panel_csv, future_columns=None)
    windows = dm.future_windows()
    assert windows.series_ids == list(SERIES)
    assert windows.batch["y_mark"].shape == (3, 24, 3)
    assert windows.batch["y_mark"][1, :, 2].eq(1.0).all()  # series b: region=south
    record = preprocessing_of(dm)["static_covariates"]
    assert StaticCovariates.from_record(record) == dm.static_covariates


def _model(dm: TimeSeriesDataModule) -> ForecastModel:
    torch.manual_seed(0)
    net = zoo.create_model(
        "dlinear",
        n_features=dm.n_features,
        n_targets=1,
        seq_len=48,
        pred_len=24,
        n_time_features=dm.n_time_features,
        future_effect=True,
    )
    with torch.no_grad():
        net.future_effect.weight.fill_(0.5)
        net.future_effect.weight[-1] = -0.5  # region=south lowers the forecast, region=north lifts it
    return ForecastModel(net, preprocessing_of(dm), "dlinear.panel")


def _future(frame: pd.DataFrame, promo: float, series: list[str] | None = None) -> pd.DataFrame:
    ids = series if series is not None else list(SERIES)
    start = pd.Timestamp(frame["date"].max()) + pd.Timedelta(hours=1)
    dates = pd.date_range(start, periods=24, freq="h")
    return pd.DataFrame({"unique_id": np.repeat(ids, 24), "date": np.tile(dates, len(ids)), "promo": promo})


def test_a_panel_model_forecasts_each_series_with_its_covariates(panel_csv: Path) -> None:
    dm = _data(panel_csv)
    model = _model(dm)
    history = pd.read_csv(panel_csv)
    plain = zoo.forecast(model, history, future=_future(history, 0.0))
    assert list(plain["unique_id"].unique()) == list(SERIES) and len(plain) == 72
    promoted = _future(history, 0.0)
    promoted.loc[promoted.unique_id == "b", "promo"] = 1.0
    lifted = zoo.forecast(model, history, future=promoted)
    change = (lifted["demand"] - plain["demand"]).to_numpy().reshape(3, 24)
    target_std = model.scaler_of("b").std[-1]
    np.testing.assert_allclose(change[1], 0.5 / dm.future_covariates.scaler.std[0] * target_std, rtol=1e-4)
    np.testing.assert_allclose(change[[0, 2]], 0.0, atol=1e-5)  # only series b's promotion moved
    moved = history.copy()
    moved.loc[moved.unique_id == "a", "region"] = "south"
    relabelled = zoo.forecast(model, moved, future=_future(history, 0.0))
    shift = (relabelled["demand"] - plain["demand"]).to_numpy().reshape(3, 24)
    assert np.abs(shift[0]).min() > 1e-3 and np.abs(shift[1:]).max() < 1e-5  # a's statics reach a alone
    result = zoo.backtest(model, history, windows=3, step=24)
    assert sorted(result.metrics["unique_id"].unique()) == list(SERIES) and len(result.metrics) == 9
    intervals = zoo.forecast(
        model,
        history,
        future=_future(history, 0.0),
        quantiles=[0.1, 0.9],
        conformal=True,
        calibration_windows=20,
    )
    assert (intervals["demand_q0.1"] <= intervals["demand_q0.9"]).all()


def test_panel_covariate_errors_name_the_series(panel_csv: Path) -> None:
    dm = _data(panel_csv)
    model = _model(dm)
    history = pd.read_csv(panel_csv)
    with pytest.raises(DataValidationError, match="future: no rows for series 'c'"):
        zoo.forecast(model, history, future=_future(history, 0.0, ["a", "b"]))
    with pytest.raises(DataValidationError, match=r"no series-id column 'unique_id'.*names its series"):
        zoo.forecast(model, history, future=_future(history, 0.0).drop(columns="unique_id"))
    unseen = history.copy()
    unseen.loc[unseen.unique_id == "c", "region"] = "east"
    with pytest.raises(
        DataValidationError, match=r"series 'c'.*'region' is 'east', a category the model never saw"
    ):
        zoo.forecast(model, unseen, future=_future(history, 0.0))
    wobbly = history.copy()
    wobbly.loc[5, "size"] = 9.0
    with pytest.raises(DataValidationError, match=r"series 'a'.*'size' takes 2 values.*one value per series"):
        zoo.forecast(model, wobbly, future=_future(history, 0.0))
    with pytest.raises(
        DataValidationError, match=r"static column\(s\) \['size'\] missing; dlinear.panel reads"
    ):
        zoo.forecast(model, history.rename(columns={"size": "sizes"}), future=_future(history, 0.0))
    holed = history.copy()
    holed.loc[holed.unique_id == "b", "region"] = np.nan
    path = panel_csv.with_name("holed.csv")
    holed.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"series 'b'.*static column 'region' is missing"):
        _data(path)


def test_static_options_are_clear_errors(panel_csv: Path) -> None:
    with pytest.raises(ValueError, match="static_columns hold one value per series of a long-format file"):
        _data(panel_csv, id_column=None, future_columns=None, past_columns=None, features="S")
    with pytest.raises(ValueError, match=r"\['size'\] are both static_columns and future_columns"):
        _data(panel_csv, future_columns=["size"])
    with pytest.raises(ValueError, match=r"\['price'\] are both static_columns and past_columns"):
        _data(panel_csv, static_columns=["price"])
    with pytest.raises(ValueError, match=r"\['price'\] are both static_columns and columns"):
        _data(panel_csv, past_columns=None, columns=["price", "demand"], static_columns=["price"])
    with pytest.raises(ValueError, match=r"\['demand'\] are both static_columns and target"):
        _data(panel_csv, static_columns=["demand"])
    with pytest.raises(ValueError, match="names the id_column 'unique_id'"):
        _data(panel_csv, static_columns=["unique_id"])
    with pytest.raises(ValueError, match=r"names \['size'\] more than once"):
        _data(panel_csv, static_columns=["size", "size"])
    with pytest.raises(ValueError, match="static_columns must name at least one column"):
        _data(panel_csv, static_columns=[])
    with pytest.raises(DataValidationError, match=r"'regions' \(option static_columns\)"):
        _data(panel_csv, static_columns=["regions"])
