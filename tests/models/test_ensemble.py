"""Ensembles: the median or mean of the members' forecasts, one model for forecast, backtest, test and
save_pretrained, and clear errors for members that do not belong together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from tests.helpers import quiet_trainer
from zoo.data import TimeSeriesDataModule, synthetic_series
from zoo.hub import from_pretrained, save_pretrained
from zoo.inference import ForecastModel
from zoo.models.ensemble import EnsembleForecaster, combine_forecasts
from zoo.tasks import ForecastingTask
from zoo.tasks.checkpoints import preprocessing_of


def test_median_and_mean_of_the_members() -> None:
    forecasts = torch.tensor([[1.0, 5.0], [3.0, -1.0], [2.0, 0.0], [10.0, 4.0]]).view(4, 1, 2, 1)
    np.testing.assert_allclose(
        combine_forecasts(forecasts, "median").flatten(), [2.5, 2.0]
    )  # even: middle two
    np.testing.assert_allclose(combine_forecasts(forecasts[:3], "median").flatten(), [2.0, 0.0])
    np.testing.assert_allclose(combine_forecasts(forecasts, "mean").flatten(), [4.0, 2.0])
    torch.manual_seed(0)
    members = [
        {"architecture": "dlinear"},
        {"architecture": "nlinear"},
        {"architecture": "tcn", "model_args": {"hidden_channels": 4}},
    ]
    net = EnsembleForecaster(n_features=3, seq_len=16, pred_len=8, members=members).eval()
    x = torch.randn(2, 16, 3)
    with torch.no_grad():
        each = torch.stack([member(x) for member in net.members])
        torch.testing.assert_close(net(x), each.median(dim=0).values)  # odd count: the middle one


def _data() -> TimeSeriesDataModule:
    dm = TimeSeriesDataModule("synthetic", seq_len=48, label_len=0, pred_len=12)
    dm.setup()
    return dm


def _trained(dm: TimeSeriesDataModule, name: str, seed: int) -> ForecastModel:
    torch.manual_seed(seed)
    net = zoo.create_model(name, n_features=dm.n_features, seq_len=48, pred_len=12)
    task = ForecastingTask(net, optimizer={"lr": 0.01}, plot_windows=0)
    quiet_trainer(max_epochs=1, limit_train_batches=5, limit_val_batches=0).fit(task, datamodule=dm)
    return ForecastModel(net.eval(), preprocessing_of(dm), f"{name}.syn")


def test_an_ensemble_forecasts_backtests_tests_and_round_trips(tmp_path: Path) -> None:
    dm = _data()
    members = [_trained(dm, "dlinear", 0), _trained(dm, "nlinear", 1), _trained(dm, "linear", 2)]
    ensemble = zoo.ensemble(members)
    assert ensemble.pretrained_config.name == "ensemble(dlinear.syn, nlinear.syn, linear.syn)"
    data = synthetic_series()
    frames = [zoo.forecast(member, data) for member in members]
    combined = zoo.forecast(ensemble, data)
    values = np.stack([frame["OT"].to_numpy() for frame in frames])
    np.testing.assert_allclose(combined["OT"], np.median(values, axis=0), rtol=1e-5, atol=1e-5)
    result = zoo.backtest(ensemble, data, windows=4)
    assert len(result.metrics) == 4 * dm.n_targets
    task = ForecastingTask(ensemble, plot_windows=0)
    tested = quiet_trainer(limit_test_batches=3).test(task, datamodule=dm, verbose=False)[0]
    assert np.isfinite(tested["test/mse"])
    directory = save_pretrained(ensemble, tmp_path / "ensemble.syn")  # the preprocessing comes along
    loaded = from_pretrained(directory)
    assert loaded.member_names == ["dlinear", "nlinear", "linear"]
    np.testing.assert_allclose(zoo.forecast(loaded, data)["OT"], combined["OT"], rtol=1e-6)
    mean = zoo.ensemble(members, combine="mean")
    np.testing.assert_allclose(zoo.forecast(mean, data)["OT"], values.mean(axis=0), rtol=1e-5, atol=1e-5)


def test_members_that_do_not_belong_together_are_clear_errors() -> None:
    dm = _data()
    first = _trained(dm, "dlinear", 0)
    with pytest.raises(ValueError, match="a list of two or more trained forecasters"):
        zoo.ensemble([first])
    with pytest.raises(ValueError, match="a list of two or more"):
        zoo.ensemble("tcn.etth1")
    other_dm = TimeSeriesDataModule("synthetic", seq_len=24, label_len=0, pred_len=12)
    other_dm.setup()
    torch.manual_seed(0)
    short = zoo.create_model("dlinear", n_features=dm.n_features, seq_len=24, pred_len=12)
    with pytest.raises(
        ValueError, match=r"member 1 \(short\) and member 0 \(dlinear.syn\) differ in seq_len"
    ):
        zoo.ensemble([first, ForecastModel(short, preprocessing_of(other_dm), "short")])
    univariate = TimeSeriesDataModule("synthetic", seq_len=48, label_len=0, pred_len=12, features="S")
    univariate.setup()
    torch.manual_seed(0)
    one = zoo.create_model("dlinear", n_features=1, seq_len=48, pred_len=12)
    with pytest.raises(ValueError, match="differ in n_features"):
        zoo.ensemble([first, ForecastModel(one, preprocessing_of(univariate), "one")])
    scaled = dict(first.preprocessing)
    scaled["scaler"] = {**scaled["scaler"], "mean": [0.0] * dm.n_features}
    with pytest.raises(ValueError, match="preprocessing differs in 'scaler'"):
        zoo.ensemble([first, ForecastModel(first.net, scaled, "rescaled")])
    with pytest.raises(ValueError, match=r"member 0 \(tcn\) has seq_len=24, the ensemble 16"):
        EnsembleForecaster(
            n_features=3,
            seq_len=16,
            pred_len=8,
            members=[{"architecture": "tcn", "model_args": {"seq_len": 24}}],
        )
    with pytest.raises(ValueError, match="must be a forecaster, not an ensemble"):
        EnsembleForecaster(n_features=3, seq_len=16, pred_len=8, members=[{"architecture": "ensemble"}])
    with pytest.raises(ValueError, match="must be {'architecture'"):
        EnsembleForecaster(n_features=3, seq_len=16, pred_len=8, members=[{"name": "tcn"}])
    with pytest.raises(ValueError, match="members is empty"):
        EnsembleForecaster(n_features=3, seq_len=16, pred_len=8, members=[])
