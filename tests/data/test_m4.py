"""M4 panels: the wide-CSV reader on the real files, N-BEATS windows on a hand-made panel, bad input.

The real files come from ``$ZOO_DATA_DIR/m4`` (``../shared/data/m4/SOURCE.md``); those tests skip without it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data import (
    M4_FREQUENCIES,
    DataValidationError,
    SeriesPanel,
    TimeSeriesDataModule,
    load_m4,
    seasonal_mae,
    sources,
)
from zoo.data.m4 import m4_frequency, read_m4_panel, read_naive2, read_test_block, read_wide_csv
from zoo.data.panel import (
    PanelSampler,
    panel_datasets,
    panel_test_windows,
    panel_train_windows,
    panel_val_windows,
)

# A tiny panel, P = 3, m = 2. Series "a" has 10 values, "b" only 5 (the minimum P + 2).
A = [1.0, 4.0, 2.0, 8.0, 5.0, 7.0, 3.0, 9.0, 6.0, 10.0]
B = [5.0, 7.0, 6.0, 9.0, 8.0]
TEST = [[11.0, 12.0, 13.0], [10.0, 11.0, 12.0]]
NAIVE2 = [[10.0, 10.0, 10.0], [8.0, 8.0, 8.0]]


def _panel(**kwargs) -> SeriesPanel:
    fields = {"ids": ("H1", "H2"), "train": (A, B), "test": TEST, "naive2": NAIVE2, "horizon": 3, "period": 2}
    return SeriesPanel(**{**fields, **kwargs})


def _wide(path: Path, rows: list[list[str]], width: int | None = None) -> Path:
    """Write ``rows`` (id, values...) in the M4 layout: quoted cells, header V1..Vk, empty trailing cells."""
    width = width or max(len(r) for r in rows)
    lines = [",".join(f'"V{i + 1}"' for i in range(width))]
    lines += [",".join(f'"{c}"' for c in r + [""] * (width - len(r))) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _naive2_file(path: Path, rows: dict[str, list[float]], width: int = 5) -> Path:
    lines = ["id," + ",".join(f"F{i + 1}" for i in range(width))]
    lines += [
        ",".join([sid, *(f"{v:g}" for v in vals), *["NA"] * (width - len(vals))])
        for sid, vals in rows.items()
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    train = _wide(tmp_path / "Hourly-train.csv", [["H1", *map(str, A)], ["H2", *map(str, B)]])
    test = _wide(tmp_path / "Hourly-test.csv", [["H1", *map(str, TEST[0])], ["H2", *map(str, TEST[1])]])
    naive2 = _naive2_file(tmp_path / "naive2.csv", {"Y1": [1.0] * 2, "H1": NAIVE2[0], "H2": NAIVE2[1]})
    return train, test, naive2


def _x(item: dict[str, torch.Tensor], key: str) -> list[float]:
    return item[key][:, 0].tolist()


# ------------------------------------------------------------------ the real files
def test_reader_on_real_files(data_dir: Path) -> None:
    hourly = read_wide_csv(data_dir / "m4" / "Hourly-train.csv")
    assert len(hourly) == 414 and hourly.ids[0] == "H1" and hourly.ids[-1] == "H414"
    assert hourly.lengths().min() == 700 and hourly.lengths().max() == 960
    assert hourly.values[0][:3].tolist() == [605.0, 586.0, 586.0] and hourly.values[-1][:2].tolist() == [
        15.0,
        13.0,
    ]
    assert read_wide_csv(data_dir / "m4" / "Hourly-train.csv") is hourly  # cached per path
    weekly = read_wide_csv(data_dir / "m4" / "Weekly-train.csv")
    assert len(weekly) == 359 and (weekly.lengths().min(), weekly.lengths().max()) == (80, 2597)
    for freq, n in (("Hourly", 414), ("Weekly", 359), ("Yearly", 23000)):
        horizon = M4_FREQUENCIES[freq].horizon
        ids, test = read_test_block(data_dir / "m4" / f"{freq}-test.csv", horizon)
        assert test.shape == (n, horizon) and ids[0] == f"{freq[0]}1"
        naive2 = read_naive2(data_dir / "m4" / "submission-Naive2-HWY.csv", freq)
        assert list(naive2) == list(ids)
    assert test[-1].tolist() == [9010, 9320, 9560, 9720, 10000, 10090]  # Y23000
    assert naive2["Y23000"].tolist() == [8760.0] * 6
    hourly_naive2 = read_naive2(data_dir / "m4" / "submission-Naive2-HWY.csv", "H")
    assert hourly_naive2["H1"][0] == pytest.approx(620.173495)


@pytest.mark.parametrize(
    "name",
    [
        "M4-Hourly-train",
        "M4-Hourly-test",
        "M4-Weekly-train",
        "M4-Weekly-test",
        "M4-Yearly-test",
        "M4-Naive2-HWY",
    ],
)
def test_catalog_entries_resolve_and_verify(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    entry = sources.get_source(name)
    path = sources.resolve(entry)  # checks the sha256
    assert path.resolve() == data_dir / entry.relpath and path.stat().st_size == entry.size
    assert (
        entry.url == ""
        if name == "M4-Naive2-HWY"
        else "6c1067e5a57161249b17289a565178dc7a3fb3ca" in entry.url
    )


def test_naive2_has_no_download_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    with pytest.raises(sources.DatasetNotFoundError, match="the catalog has no download URL"):
        sources.resolve("M4-Naive2-HWY")


def test_load_m4(data_dir: Path) -> None:
    weekly = load_m4("Weekly")
    assert len(weekly) == 359 and weekly.test.shape == weekly.naive2.shape == (359, 13)
    assert (weekly.horizon, weekly.period) == (13, 1)
    # Naive2 without seasonality is the last training value repeated: train, test and Naive2 align
    np.testing.assert_array_equal(
        weekly.naive2, np.array([t[-1] for t in weekly.train])[:, None].repeat(13, 1)
    )
    yearly = load_m4("m4-yearly")
    assert yearly.train is None and yearly.test.shape == (23000, 6) and yearly.naive2.shape == (23000, 6)
    hourly = load_m4("H")
    assert (hourly.horizon, hourly.period) == (48, 24) and len(hourly.train) == 414


def test_missing_naive2_is_a_warning(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "data" / "m4").mkdir(parents=True)
    for name in ("Hourly-train.csv", "Hourly-test.csv"):
        (tmp_path / "data" / "m4" / name).symlink_to(data_dir / "m4" / name)
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    with caplog.at_level(logging.WARNING, logger="zoo.data.m4"):
        dm = TimeSeriesDataModule(dataset="M4-Hourly", seq_len=96, pred_len=48, batch_size=64)
        dm.setup()
    assert "Naive2 forecasts not found" in caplog.text
    batch = next(iter(dm.test_dataloader()))
    assert "naive2" not in batch and batch["y"].shape == (64, 48, 1)


# ------------------------------------------------------------------ windows on a hand-made panel
def test_panel_from_files_equals_panel_in_memory(tmp_path: Path) -> None:
    train, test, naive2 = _files(tmp_path)
    wide = read_wide_csv(train)
    assert wide.ids == ("H1", "H2") and [v.tolist() for v in wide.values] == [A, B]
    ids, block = read_test_block(test, 3)
    forecasts = read_wide_csv(naive2)  # CRLF line ends, "NA" beyond the horizon
    assert forecasts.ids == ("Y1", "H1", "H2") and [v.tolist() for v in forecasts.values[1:]] == NAIVE2
    panel = SeriesPanel(
        ids=ids,
        train=wide.values,
        test=block,
        naive2=np.stack(forecasts.values[1:]),
        horizon=3,
        period=2,
        source=str(train),
    )
    expected = _panel()
    for name in ("train", "val", "test"):
        got, want = panel_datasets(panel, 4, 2.0)[name], panel_datasets(expected, 4, 2.0)[name]
        assert len(got) == len(want)
        for key, value in got[list(range(len(got)))].items():
            torch.testing.assert_close(value, want[list(range(len(want)))][key])


def test_train_windows_exact() -> None:
    ds = panel_train_windows(_panel(), seq_len=4, history_limit=2.0)
    # a: n' = 10 - 3 = 7 values [1, 4, 2, 8, 5, 7, 3], cuts [max(1, 7 - 6), 7) = 1..6; b: n' = 2, cut 1 only
    assert len(ds) == 7 and ds.locate(np.arange(7))[1].tolist() == [1, 2, 3, 4, 5, 6, 1]
    first = ds[0]  # a, cut 1: one real lookback value, left zero padding
    assert _x(first, "x") == [0, 0, 0, 1] and _x(first, "x_mask") == [0, 0, 0, 1]
    assert _x(first, "y") == [4, 2, 8] and _x(first, "y_mask") == [1, 1, 1]
    last = ds[5]  # a, cut 6: the target runs past the shortened series, never into validation values
    assert _x(last, "x") == [2, 8, 5, 7] and _x(last, "x_mask") == [1, 1, 1, 1]
    assert _x(last, "y") == [3, 0, 0] and _x(last, "y_mask") == [1, 0, 0]
    b = ds[6]
    assert _x(b, "x") == [0, 0, 0, 5] and _x(b, "y") == [7, 0, 0] and _x(b, "y_mask") == [1, 0, 0]
    assert b["series"].item() == 1 and b["x"].shape == (4, 1) and b["x_mark"].shape == (4, 0)
    assert b["y_mark"].shape == (3, 0) and b["mase_scale"].shape == () and "naive2" not in b
    # mase_scale over the valid lookback values: cut 6 |5-2|, |7-8| -> 2; cut 3 [1, 4, 2] -> |2-1| = 1;
    # cut 2 has 2 values < m + 1 -> 0
    assert [ds[i]["mase_scale"].item() for i in (5, 2, 1)] == [2.0, 1.0, 0.0]
    for i in range(len(ds)):  # the vectorised scale equals the definition on every window
        item = ds[i]
        valid = item["x"][:, 0][item["x_mask"][:, 0] > 0].double().numpy()
        assert item["mase_scale"].item() == pytest.approx(seasonal_mae(valid, 2))


def test_val_and_test_windows_exact() -> None:
    panel = _panel()
    val = panel_val_windows(panel, seq_len=4)
    a, b = val[0], val[1]  # cut at n - P: y = the last P training values, never the test values
    assert _x(a, "x") == [8, 5, 7, 3] and _x(a, "y") == [9, 6, 10] and _x(a, "y_mask") == [1, 1, 1]
    assert a["mase_scale"].item() == pytest.approx(11 / 5)  # |2-1| + |8-4| + |5-2| + |7-8| + |3-5| over 5
    assert _x(b, "x") == [0, 0, 5, 7] and _x(b, "x_mask") == [0, 0, 1, 1] and _x(b, "y") == [6, 9, 8]
    assert b["mase_scale"].item() == 0.0  # 2 values before the cut < m + 1
    test = panel_test_windows(panel, seq_len=6)
    a, b = test[0], test[1]  # the last L training values, then the official test values
    assert _x(a, "x") == A[-6:] and _x(a, "y") == TEST[0] and _x(a, "naive2") == NAIVE2[0]
    assert a["mase_scale"].item() == pytest.approx(seasonal_mae(np.array(A), 2)) == pytest.approx(17 / 8)
    assert _x(b, "x") == [0, *B] and _x(b, "x_mask") == [0, 1, 1, 1, 1, 1] and _x(b, "y") == TEST[1]
    assert b["mase_scale"].item() == pytest.approx(5 / 3) and b["series"].item() == 1
    batch = test[[1, 0]]  # a list of indices is a stacked batch
    assert (
        batch["x"].shape == (2, 6, 1)
        and batch["naive2"].shape == (2, 3, 1)
        and batch["series"].tolist() == [1, 0]
    )


def test_epoch_draws_depend_only_on_seed_and_epoch() -> None:
    ds = panel_train_windows(_panel(), seq_len=4, history_limit=2.0)
    s1, s2 = ds.epoch_sampler(200, seed=7), ds.epoch_sampler(200, seed=7)
    np.random.seed(1)
    torch.manual_seed(1)
    first = list(s1)
    np.random.seed(2)
    torch.manual_seed(2)
    assert list(s2) == first and len(first) == 200 and set(first) == set(range(7))
    series = ds.locate(np.array(first))[0]
    assert 60 < (series == 1).sum() < 140  # a series is drawn uniformly, not in proportion to its windows
    s2.set_epoch(1)
    assert list(s2) != first
    resumed = ds.epoch_sampler(200, seed=7)
    resumed.set_epoch(1)
    assert list(resumed) == list(s2) and list(ds.epoch_sampler(200, seed=8)) != first
    batched = ds.epoch_sampler(200, seed=7, batch_size=64)
    chunks = list(batched)
    assert len(batched) == 4 and [len(c) for c in chunks] == [64, 64, 64, 8] and sum(chunks, []) == first


def test_datamodule_train_epochs_are_reproducible(data_dir: Path) -> None:
    def epoch(e: int) -> torch.Tensor:
        dm = TimeSeriesDataModule(
            dataset="M4-Weekly",
            seq_len=26,
            label_len=0,
            pred_len=13,
            batch_size=256,
            train_samples=600,
            shuffle_seed=3,
        )
        loader = dm.train_dataloader()
        assert isinstance(loader.sampler, PanelSampler) and len(loader) == 3
        loader.sampler.set_epoch(e)  # what Lightning does before each epoch
        return torch.cat([b["x"] for b in loader])

    assert torch.equal(epoch(2), epoch(2)) and not torch.equal(epoch(2), epoch(3))


# ------------------------------------------------------------------ the data module on the real files
def test_datamodule_end_to_end(data_dir: Path) -> None:
    dm = TimeSeriesDataModule(
        dataset="m4_hourly", seq_len=96, label_len=48, pred_len=48, batch_size=128, eval_batch_size=100
    )
    dm.setup()
    panel = load_m4("Hourly")
    assert (dm.n_features, dm.n_targets, dm.n_time_features) == (1, 1, 0) and dm.is_panel
    assert (dm.seq_len, dm.label_len, dm.pred_len) == (96, 48, 48)
    assert dm.scaler.mean.tolist() == [0.0] and dm.target_scaler.std.tolist() == [1.0]  # the identity
    assert dm.num_windows == {"train": 414 * 480, "val": 414, "test": 414}  # L_H = 10 horizons of cuts
    keys = {"x", "y", "x_mark", "y_mark", "x_mask", "y_mask", "mase_scale", "series"}
    shapes = {
        "x": (96, 1),
        "y": (48, 1),
        "x_mark": (96, 0),
        "y_mark": (48, 0),
        "x_mask": (96, 1),
        "y_mask": (48, 1),
        "mase_scale": (),
        "series": (),
        "naive2": (48, 1),
    }
    for name, n, extra in (
        ("train", 128, set()),
        ("val", 100, set()),
        ("test", 100, {"naive2"}),
        ("predict", 100, {"naive2"}),
    ):
        batch = next(iter(getattr(dm, f"{name}_dataloader")()))
        assert set(batch) == keys | extra, name
        for key, value in batch.items():
            assert value.shape == (n, *shapes[key]), (name, key)
            assert value.dtype == (torch.long if key == "series" else torch.float32)
    assert len(dm.train_dataloader()) == -(-414 * 480 // 128)
    val, test = dm.datasets["val"][[0, 413]], dm.datasets["test"][[0, 413]]
    for row, s in enumerate((0, 413)):
        history = panel.train[s]
        np.testing.assert_allclose(val["y"][row, :, 0].numpy(), history[-48:], rtol=1e-6)
        np.testing.assert_allclose(val["x"][row, :, 0].numpy(), history[-144:-48], rtol=1e-6)
        np.testing.assert_allclose(test["x"][row, :, 0].numpy(), history[-96:], rtol=1e-6)
        np.testing.assert_allclose(test["y"][row, :, 0].numpy(), panel.test[s], rtol=1e-6)
        np.testing.assert_allclose(test["naive2"][row, :, 0].numpy(), panel.naive2[s], rtol=1e-6)
        assert test["mase_scale"][row].item() == pytest.approx(seasonal_mae(history, 24), rel=1e-6)
        assert val["mase_scale"][row].item() == pytest.approx(seasonal_mae(history[:-48], 24), rel=1e-6)


# ------------------------------------------------------------------ bad input: clear errors
@pytest.mark.parametrize(
    "row, message",
    [
        (["H2", "1", "", "3"], r"series 'H2' has a gap: column 'V3' is empty but later columns hold values"),
        (["H2", "1", "NA", "3"], r"series 'H2' has a gap: column 'V3' is 'NA'"),
        (["H2", "1", "NaN", "3"], r"series 'H2' has a non-finite value 'NaN' in column 'V3'"),
        (["H2", "1", "abc"], r"series 'H2' has a non-numeric value 'abc' in column 'V3'"),
        (["H2"], r"series 'H2' is empty \(no values after the id\)"),
        (["H1", "1", "2"], r"series 'H1' appears twice"),
    ],
)
def test_reader_errors_name_file_series_and_column(tmp_path: Path, row: list[str], message: str) -> None:
    path = _wide(tmp_path / "bad-train.csv", [["H1", "1", "2", "3"], row], width=5)
    with pytest.raises(DataValidationError, match=f"bad-train.csv: {message}"):
        read_wide_csv(path)


def test_negative_and_zero_values_are_fine(tmp_path: Path) -> None:
    wide = read_wide_csv(_wide(tmp_path / "t.csv", [["H1", "-1.5", "0", "2e3"]]))
    assert wide.values[0].tolist() == [-1.5, 0.0, 2000.0] and not wide.values[0].flags.writeable


def test_file_errors(tmp_path: Path) -> None:
    train, test, naive2 = _files(tmp_path)
    with pytest.raises(
        DataValidationError,
        match=r"Hourly-test.csv: test row 'H1' has 3 values, the official "
        r"horizon is 48 \(1 more rows too\)",
    ):
        read_m4_panel("Hourly", test, train=train)
    ragged = _wide(tmp_path / "ragged-test.csv", [["H1", "1", "2", "3"], ["H2", "1", "2"]])
    with pytest.raises(
        DataValidationError,
        match=r"ragged-test.csv: test row 'H2' has 2 values, the official "
        r"horizon is 3",
    ):
        read_test_block(ragged, 3)
    swapped = _wide(tmp_path / "swapped.csv", [["H2", *map(str, B)], ["H1", *map(str, A)]])
    other = _wide(tmp_path / "other.csv", [["H1", *map(str, A)], ["H3", *map(str, B)]])
    ok_test = _wide(tmp_path / "ok-test.csv", [["H1", *["1"] * 48], ["H2", *["2"] * 48]])
    with pytest.raises(
        DataValidationError,
        match=r"swapped.csv and .*ok-test.csv list different series \(same "
        r"ids in a different order, first at row 0: 'H2' vs 'H1'\)",
    ):
        read_m4_panel("Hourly", ok_test, train=swapped)
    with pytest.raises(DataValidationError, match=r"only in train: \['H3'\], only in test: \['H2'\]"):
        read_m4_panel("Hourly", ok_test, train=other)
    with pytest.raises(
        DataValidationError,
        match=r"naive2.csv: Hourly Naive2 row 'H1' has 3 values, the official "
        r"horizon is 48",
    ):
        read_m4_panel("Hourly", ok_test, train=train, naive2=naive2)
    short = _naive2_file(tmp_path / "short.csv", {"H1": [1.0] * 48}, width=48)
    with pytest.raises(DataValidationError, match=r"short.csv: no Naive2 forecast for series 'H2'"):
        read_m4_panel("Hourly", ok_test, train=train, naive2=short)
    panel = read_m4_panel("Hourly", ok_test, train=train)
    assert panel.source.endswith("Hourly-train.csv") and panel.train[1].tolist() == B


def test_panel_errors() -> None:
    with pytest.raises(DataValidationError, match=r"series 'H2' is empty"):
        _panel(train=(A, []))
    with pytest.raises(DataValidationError, match=r"series 'H1' has a non-finite value nan at position 2"):
        _panel(train=(A[:2] + [np.nan] + A[3:], B))
    with pytest.raises(DataValidationError, match=r"test must have shape \(N, P\) = \(2, 3\), got \(2, 2\)"):
        _panel(test=[[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(DataValidationError, match=r"series id 'H1' appears more than once"):
        _panel(ids=("H1", "H1"))
    short = _panel(train=(A, B[:4]), source="tiny.csv")
    for build in (lambda: panel_train_windows(short, 4, 2.0), lambda: panel_val_windows(short, 4)):
        with pytest.raises(
            DataValidationError,
            match=r"tiny.csv: series 'H2' has 4 values; the (train|val) split "
            r"needs at least P \+ 2 = 5",
        ):
            build()
    panel_test_windows(short, 4)  # the test window only needs some history
    with pytest.raises(ValueError, match="history_limit \\* pred_len must be >= 1"):
        panel_train_windows(_panel(), 4, 0.1)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"pred_len": 24},
            ValueError,
            r"M4-Hourly is scored at its official horizon of 48 steps; got pred_len=24",
        ),
        ({"features": "MS"}, ValueError, r"M4-Hourly is univariate"),
        (
            {"dataset": "M4-Yearly", "seq_len": 12, "label_len": 0, "pred_len": 6},
            ValueError,
            r"M4-Yearly cannot be trained on: Yearly-train.csv is not in the stored M4-methods snapshot",
        ),
        (
            {"dataset": "M4-Daily", "seq_len": 28, "label_len": 0, "pred_len": 14},
            ValueError,
            r"M4-Daily: its files are not in this project's data",
        ),
        ({"dataset": "M4-Hourli"}, KeyError, r"Did you mean 'M4-Hourly'"),
        ({"dataset": "M4-Weekly-train"}, KeyError, r"Did you mean 'M4-Weekly'"),
        ({"train_samples": 0}, ValueError, r"train_samples must be a positive integer"),
        ({"history_limit": 0.0}, ValueError, r"history_limit must be positive"),
    ],
)
def test_datamodule_errors(kwargs: dict, error: type[Exception], message: str) -> None:
    args = {"dataset": "M4-Hourly", "seq_len": 96, "label_len": 48, "pred_len": 48, **kwargs}
    with pytest.raises(error, match=message):
        TimeSeriesDataModule(**args).setup()


def test_names_are_case_and_separator_insensitive() -> None:
    for name in ("M4-Hourly", "m4_hourly", "M4 HOURLY", "m4hourly", "H", "hourly"):
        assert m4_frequency(name) is M4_FREQUENCIES["Hourly"]
    assert [(f.horizon, f.period) for f in (M4_FREQUENCIES[k] for k in ("Hourly", "Weekly", "Yearly"))] == [
        (48, 24),
        (13, 1),
        (6, 1),
    ]
    assert M4_FREQUENCIES["Hourly"].dataset == "M4-Hourly" and M4_FREQUENCIES["Yearly"].history_limit == 1.5
