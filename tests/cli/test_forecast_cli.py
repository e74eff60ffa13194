"""The user's-file workflow from the command line: fit on a CSV, predict to a file, forecast, backtest,
fine-tune from a pretrained model on one's own file; every failure one line, nothing written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO
from zoo.cli import main
from zoo.data import synthetic_series
from zoo.inference.outputs import verify_table

TCN = str(REPO / "configs" / "forecasting" / "tcn_etth1.yaml")


def _fast(tmp_path: Path) -> list[str]:
    return [
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=3",
        "--trainer.limit_val_batches=2",
        "--trainer.limit_test_batches=2",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
    ]


def _fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's CSV: ';'-separated, a 'timestamp' column, an extra text column."""
    path = tmp_path_factory.mktemp("user") / "sales.csv"
    frame = synthetic_series(500, 3).rename(columns={"date": "timestamp"})
    frame["note"] = "text"
    frame.to_csv(path, sep=";", index=False)
    return path


def test_fit_predict_forecast_backtest_on_a_users_file(
    user_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = [
        f"--data.dataset={user_file}",
        "--data.date_column=timestamp",
        "--data.columns=[x0, x1, OT]",
        "--data.seq_len=24",
        "--data.label_len=0",
        "--data.pred_len=8",
        "--data.val_size=0.15",
        "--data.test_size=48",
        "--model.net=tcn",
        "--model.net.init_args.hidden_channels=8",
    ]
    cli = main(["fit", *data, *_fast(tmp_path), f"--export_pretrained={tmp_path / 'mine'}"])
    checkpoint = cli.trainer.checkpoint_callback.best_model_path
    out = tmp_path / "predicted.csv"
    main(["predict", *data, *_fast(tmp_path), f"--ckpt_path={checkpoint}", f"--predict_output={out}"])
    predicted = pd.read_csv(out, parse_dates=["timestamp"])
    verify_table(out)
    assert list(predicted.columns) == ["timestamp", "x0", "x1", "OT"] and len(predicted) == 8
    assert predicted["timestamp"].iloc[0] == pd.Timestamp("2020-01-21 20:00")  # one hour after the last row
    # the verb gives the same numbers from the pretrained directory and from the checkpoint
    for model in (str(tmp_path / "mine"), checkpoint):
        target = tmp_path / f"forecast-{Path(model).stem}.parquet"
        main(["forecast", model, str(user_file), f"--output={target}"])
        pd.testing.assert_frame_equal(pd.read_parquet(target), predicted, check_dtype=False, atol=1e-5)
    capsys.readouterr()
    err = _fails(["forecast", str(tmp_path / "mine"), str(user_file), f"--output={target}"], capsys)
    assert "already exists; pass --overwrite" in err
    main(
        [
            "backtest",
            str(tmp_path / "mine"),
            str(user_file),
            "--windows=3",
            "--step=8",
            f"--output={tmp_path / 'bt'}",
        ]
    )
    metrics = pd.read_csv(tmp_path / "bt" / "metrics.csv")
    assert len(metrics) == 3 * 3 and set(metrics["channel"]) == {"x0", "x1", "OT"}
    assert "mase" in capsys.readouterr().out  # the summary table


def test_forecast_to_stdout_and_errors_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = synthetic_series(200, 7)
    frame.columns = ["date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    good = tmp_path / "ett_like.csv"
    frame.to_csv(good, index=False)
    main(["forecast", "tcn.etth1", str(good), "--horizon=4"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT" and len(lines) == 5
    bad = tmp_path / "bad.csv"
    frame.drop(columns="LULL").to_csv(bad, index=False)
    target = tmp_path / "out.csv"
    err = _fails(["forecast", "tcn.etth1", str(bad), f"--output={target}"], capsys)
    assert "column(s) ['LULL'] missing" in err
    err = _fails(["forecast", "tcn.etth1", str(good), f"--output={target}", "--horizon=200"], capsys)
    assert "pred_len=96" in err
    err = _fails(["forecast", "tcn.etth1", str(good), f"--output={tmp_path / 'out.xlsx'}"], capsys)
    assert "name the file .csv or .parquet" in err
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


def test_fine_tuning_on_ones_own_file(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(data_dir / "ett" / "ETTh2.csv").iloc[:3000]
    reordered = tmp_path / "h2.csv"
    frame[["date", "OT", "LULL", "HUFL", "HULL", "MUFL", "MULL", "LUFL"]].to_csv(reordered, index=False)
    cli = main(
        [
            "fit",
            "--config",
            TCN,
            "--model.init_from=tcn.etth1",
            f"--data.dataset={reordered}",
            *_fast(tmp_path),
        ]
    )
    assert cli.datamodule.input_columns == [
        "HUFL",
        "HULL",
        "MUFL",
        "MULL",
        "LUFL",
        "LULL",
        "OT",
    ]  # the model's order
    fewer = tmp_path / "h2_fewer.csv"
    frame.drop(columns=["LULL"]).to_csv(fewer, index=False)
    err = _fails(
        ["fit", "--config", TCN, "--model.init_from=tcn.etth1", f"--data.dataset={fewer}", *_fast(tmp_path)],
        capsys,
    )
    assert "tcn.etth1 was trained with n_features=7 (the data gives 6)" in err
    renamed = tmp_path / "h2_renamed.csv"
    frame.rename(columns={"OT": "oil_temp"}).to_csv(renamed, index=False)
    err = _fails(
        [
            "fit",
            "--config",
            TCN,
            "--model.init_from=tcn.etth1",
            f"--data.dataset={renamed}",
            *_fast(tmp_path),
        ],
        capsys,
    )
    assert "missing ['OT'], extra ['oil_temp']" in err
