"""Past and known-future covariates: alignment in the windows, the linear future effect, forecasts with a
future file, and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import zoo
from tests.helpers import quiet_trainer
from zoo.data import DataValidationError, TimeSeriesDataModule
from zoo.inference import ForecastModel
from zoo.tasks import ForecastingTask
from zoo.tasks.checkpoints import preprocessing_of


def _promotions(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Hourly demand lifted by 5 whenever a promotion runs (known in advance), plus a price nobody plans."""
    rng = np.random.default_rng(seed)
    promo = (rng.random(rows) < 0.15).astype(float)
    hours = np.arange(rows)
    demand = 10 + np.sin(2 * np.pi * hours / 24) + 5 * promo + 0.3 * rng.standard_normal(rows)
    return pd.DataFrame(
        {
            "date": pd.date_range("2021-01-01", periods=rows, freq="h"),
            "price": rng.random(rows),
            "promo": promo,
            "row": hours.astype(float),
            "demand": demand,
        }
    )


def _data(path: Path, **kwargs) -> TimeSeriesDataModule:
    options = {
        "seq_len": 48,
        "label_len": 0,
        "pred_len": 24,
        "features": "MS",
        "target": "demand",
        "past_columns": ["price"],
        "future_columns": ["promo"],
        "time_encoding": "none",
        **kwargs,
    }
    dm = TimeSeriesDataModule(str(path), **options)
    dm.setup()
    return dm


def _test_mse(dm: TimeSeriesDataModule, name: str, lr: float, epochs: int, **options: object) -> float:
    """Fit ``name`` (built from ``dm``'s dimensions, seed 0) and return its test MSE."""
    torch.manual_seed(0)
    net = zoo.create_model(
        name,
        n_features=dm.n_features,
        n_targets=dm.n_targets,
        seq_len=dm.seq_len,
        pred_len=dm.pred_len,
        n_time_features=dm.n_time_features,
        **options,
    )
    task = ForecastingTask(net, optimizer={"lr": lr}, plot_windows=0)
    trainer = quiet_trainer(max_epochs=epochs)
    trainer.fit(task, datamodule=dm)
    return trainer.test(task, datamodule=dm, verbose=False)[0]["test/mse"]


@pytest.fixture
def promo_csv(tmp_path: Path) -> Path:
    path = tmp_path / "promo.csv"
    _promotions().drop(columns="row").to_csv(path, index=False)
    return path


def test_a_future_value_sits_at_its_own_step(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    _promotions().to_csv(path, index=False)
    dm = _data(path, future_columns=["row"], time_encoding="timeF")
    assert dm.input_columns == ["price", "demand"] and dm.target_columns == ["demand"]
    assert dm.n_time_features == 4 + 1  # hourly timeF, then the covariate
    scaler = dm.future_covariates.scaler
    dataset = dm.datasets["val"]
    first_row = 1500 * 7 // 10 - 48  # the val split's windows start seq_len rows before its border
    for index in (0, 5):
        item = dataset[index]
        past = item["x_mark"][:, -1].numpy() * scaler.std[0] + scaler.mean[0]
        ahead = item["y_mark"][:, -1].numpy() * scaler.std[0] + scaler.mean[0]
        origin = first_row + index + 48
        np.testing.assert_allclose(past, np.arange(origin - 48, origin), atol=1e-3)
        np.testing.assert_allclose(ahead, np.arange(origin, origin + 24), atol=1e-3)  # step t holds row t


def test_the_future_effect_moves_only_its_own_step() -> None:
    torch.manual_seed(0)
    net = zoo.create_model(
        "dlinear", n_features=2, n_targets=1, seq_len=48, pred_len=24, n_time_features=3, future_effect=True
    )
    with torch.no_grad():
        net.future_effect.weight.normal_()
    x, x_mark, y_mark = (
        torch.randn(1, 48, 2),
        torch.randn(1, 48, 3),
        torch.randn(1, 24, 3, requires_grad=True),
    )
    out = net(x, x_mark, y_mark)
    for step in (0, 7, 23):
        (grad,) = torch.autograd.grad(out[0, step, 0], y_mark, retain_graph=True)
        moved = grad.abs().sum(dim=-1)[0].nonzero().flatten().tolist()
        assert moved == [step]
    with pytest.raises(ValueError, match="future_effect=True needs time features"):
        zoo.create_model("naive", n_features=2, seq_len=48, pred_len=24, future_effect=True)
    with pytest.raises(ValueError, match="pass x_mark and y_mark"):
        net(x)


def test_a_known_promotion_calendar_cuts_the_error(promo_csv: Path) -> None:
    results = {
        covariates: _test_mse(
            _data(promo_csv, future_columns=["promo"] if covariates else None),
            "dlinear",
            lr=0.01,
            epochs=5,
            future_effect=covariates,
        )
        for covariates in (False, True)
    }
    assert results[True] < 0.2 * results[False]


def test_forecast_reads_the_future_file_and_uses_it(promo_csv: Path, tmp_path: Path) -> None:
    dm = _data(promo_csv)
    torch.manual_seed(0)
    net = zoo.create_model(
        "dlinear", n_features=2, n_targets=1, seq_len=48, pred_len=24, n_time_features=1, future_effect=True
    )
    with torch.no_grad():
        net.future_effect.weight.fill_(0.5)
    model = ForecastModel(net, preprocessing_of(dm), "dlinear.promo")
    history = pd.read_csv(promo_csv)
    dates = pd.date_range(
        pd.Timestamp(history["date"].iloc[-1]) + pd.Timedelta(hours=1), periods=24, freq="h"
    )
    with_promo = pd.DataFrame({"date": dates, "promo": 1.0})
    without = pd.DataFrame({"date": dates, "promo": 0.0})
    lifted = zoo.forecast(model, history, future=with_promo)["demand"].to_numpy()
    plain = zoo.forecast(model, history, future=without)["demand"].to_numpy()
    covariate, target = dm.future_covariates.scaler, dm.target_scaler
    # the linear effect of a promotion: 0.5 per scaled unit, (1 - 0) / std scaled units, in target units
    np.testing.assert_allclose(lifted - plain, 0.5 / covariate.std[0] * target.std[0], rtol=1e-4)
    with pytest.raises(ValueError, match=r"reads the known-future covariates \['promo'\]: pass future="):
        zoo.forecast(model, history)
    with pytest.raises(DataValidationError, match="no row for 14 of the 24 timestamps"):
        zoo.forecast(model, history, future=with_promo.iloc[:10])
    gap = with_promo.copy()
    gap.loc[3, "promo"] = np.nan
    with pytest.raises(DataValidationError, match="column 'promo' has a missing value"):
        zoo.forecast(model, history, future=gap)
    with pytest.raises(DataValidationError, match=r"future column\(s\) \['promo'\] missing"):
        zoo.forecast(model, history.drop(columns="promo"), future=with_promo)
    result = zoo.backtest(model, history, windows=5, step=24)
    assert len(result.metrics) == 5
    # a model trained on past_columns ignores the file's other columns, as in training
    extra = history.assign(weather=1.0)
    np.testing.assert_allclose(zoo.forecast(model, extra, future=with_promo)["demand"], lifted, rtol=1e-6)
    point = zoo.create_model("dlinear", n_features=2, n_targets=1, seq_len=48, pred_len=24)
    plain_dm = _data(promo_csv, future_columns=None)
    with pytest.raises(ValueError, match="trained without future_columns"):
        zoo.forecast(
            ForecastModel(point, preprocessing_of(plain_dm), "p"),
            history.drop(columns="promo"),
            future=with_promo,
        )


def test_covariate_options_are_clear_errors(promo_csv: Path) -> None:
    with pytest.raises(ValueError, match="past_columns are inputs that are not forecast: use features='MS'"):
        _data(promo_csv, features="M")
    with pytest.raises(ValueError, match="give past_columns .* or columns"):
        _data(promo_csv, columns=["price", "demand"])
    with pytest.raises(ValueError, match=r"past_columns \['demand'\] are targets"):
        _data(promo_csv, past_columns=["price", "demand"])
    with pytest.raises(DataValidationError, match="both input channels and future_columns"):
        _data(promo_csv, past_columns=["price", "promo"])
    with pytest.raises(
        DataValidationError,
        match=r"unknown future covariate column 'promos' \(option future_columns\).*'promo'",
    ):
        _data(promo_csv, future_columns=["promos"])
    with pytest.raises(
        DataValidationError, match=r"unknown past covariate column 'prices' \(option past_columns\)"
    ):
        _data(promo_csv, past_columns=["prices"])
    frame = pd.read_csv(promo_csv)
    frame.loc[100, "promo"] = np.nan
    holed = promo_csv.with_name("holed.csv")
    frame.to_csv(holed, index=False)
    with pytest.raises(DataValidationError, match="missing value"):
        _data(holed)
    dm = _data(promo_csv)
    with pytest.raises(DataValidationError, match="--future FUTURE_FILE"):
        dm.future_windows()


def test_nbeatsx_reads_the_promotions_through_its_blocks_and_its_exogenous_basis(promo_csv: Path) -> None:
    options = {"lr": 0.003, "epochs": 6, "num_stacks": 2, "layer_width": 64}
    plain = _test_mse(_data(promo_csv, future_columns=None), "nbeats", **options)
    blocks = _test_mse(_data(promo_csv), "nbeats", exogenous=True, **options)
    basis = _test_mse(_data(promo_csv), "nbeats", exogenous_basis=True, **options)
    assert blocks < 0.5 * plain and basis < 0.5 * plain
    with pytest.raises(ValueError, match="exogenous=True needs covariates"):
        zoo.create_model("nbeats", n_features=1, seq_len=48, pred_len=24, exogenous=True)


def test_linear_models_read_past_covariates_when_asked(tmp_path: Path) -> None:
    """Demand follows the price of 30 hours before: the lookback's prices tell the next 24 hours."""
    rng = np.random.default_rng(1)
    rows = 1500
    price = rng.standard_normal(rows)
    demand = 3.0 * np.roll(price, 30) + 0.1 * rng.standard_normal(rows)
    frame = pd.DataFrame(
        {"date": pd.date_range("2021-01-01", periods=rows, freq="h"), "price": price, "demand": demand}
    )
    path = tmp_path / "lagged.csv"
    frame.to_csv(path, index=False)
    dm = _data(path, future_columns=None)
    results = {
        covariates: _test_mse(dm, "linear", lr=0.01, epochs=5, past_covariates=covariates)
        for covariates in (False, True)
    }
    assert results[True] < 0.2 * results[False]
    with pytest.raises(ValueError, match="past_covariates=True needs input channels that are not targets"):
        zoo.create_model("linear", n_features=2, seq_len=48, pred_len=24, past_covariates=True)


def test_the_nbeatsx_exogenous_basis_is_the_covariate_series() -> None:
    torch.manual_seed(0)
    net = zoo.create_model(
        "nbeats_interpretable",
        n_features=2,
        n_targets=1,
        seq_len=48,
        pred_len=24,
        n_time_features=2,
        trend_width=16,
        seasonality_width=16,
        layer_width=16,
        exogenous_basis=True,
    ).eval()
    x, x_mark, y_mark = torch.randn(3, 48, 2), torch.randn(3, 48, 2), torch.randn(3, 24, 2)
    y_mark[:, 5:9] = 0.0
    parts = net.decompose(x, x_mark=x_mark, y_mark=y_mark).stack_forecasts
    assert list(parts) == ["trend", "seasonality", "exogenous"]
    exogenous = parts["exogenous"][..., 0]
    assert (
        exogenous[:, 5:9].abs().max() == 0 and exogenous[:, :5].abs().min() > 0
    )  # sum_k theta_k y_mark[t, k]
    with pytest.raises(ValueError, match="exogenous_basis=True builds its basis from the time features"):
        zoo.create_model("nbeats", n_features=1, seq_len=48, pred_len=24, exogenous_basis=True)


@pytest.mark.parametrize("name", ["patchtst", "itransformer"])
def test_patch_and_variate_transformers_attend_to_covariate_tokens(name: str, promo_csv: Path) -> None:
    small = {"d_model": 16, "n_heads": 2, "d_ff": 32, "e_layers": 1}
    torch.manual_seed(0)
    net = zoo.create_model(
        name,
        n_features=2,
        n_targets=1,
        seq_len=48,
        pred_len=24,
        n_time_features=3,
        covariate_tokens=True,
        **small,
    )
    x = torch.randn(2, 48, 2, requires_grad=True)
    y_mark = torch.randn(2, 24, 3, requires_grad=True)
    grad_x, grad_future = torch.autograd.grad(net(x, torch.randn(2, 48, 3), y_mark).sum(), [x, y_mark])
    assert grad_future.abs().sum() > 0  # the horizon's covariates reach the forecast
    assert grad_x[..., 0].abs().sum() > 0  # and so does the past covariate channel
    # a token carries its 72 steps in d_model numbers: wide enough for the 24 promotions of the horizon
    options = {"lr": 0.003, "epochs": 6, "d_model": 64, "n_heads": 4, "d_ff": 128, "e_layers": 1}
    if name == "patchtst":
        options.update(patch_len=8, patch_stride=4)
    with_tokens = _test_mse(_data(promo_csv), name, covariate_tokens=True, **options)
    without = _test_mse(_data(promo_csv), name, **options)
    assert with_tokens < 0.5 * without


def test_covariate_tokens_errors() -> None:
    with pytest.raises(ValueError, match="covariate_tokens=True applies to patch and variate tokens"):
        zoo.create_model(
            "transformer", n_features=2, n_targets=1, seq_len=48, pred_len=24, covariate_tokens=True
        )
    with pytest.raises(ValueError, match="covariate_tokens=True needs covariates"):
        zoo.create_model("patchtst", n_features=1, seq_len=48, pred_len=24, covariate_tokens=True)
