"""Bad-input catalogue: pretrained directories, LoRA adapters, configs, CLI options and the verbs' outputs.

Every case asserts the exact outcome: exit status 2, one ``error:`` line naming the file, option or
dimension at fault (and the fix where there is one), no traceback, and nothing written or replaced.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bad_inputs.cli_runs import QUICKSTART, assert_user_error, fast, run
from zoo import hub
from zoo.cli import main

Edit = Callable[[Path], None]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small pretrained LSTM (``lstm.mine``) and a LoRA adapter trained on it (``lstm.mine-lora``)."""
    root = tmp_path_factory.mktemp("files")
    main(["fit", "--config", QUICKSTART, *fast(root, "base"), f"--export_pretrained={root / 'lstm.mine'}"])
    lora = ["--model.init_from", str(root / "lstm.mine"), "--model.lora.r=2", "--model.lora.lora_alpha=4"]
    main(
        [
            "fit",
            "--config",
            QUICKSTART,
            *fast(root, "lora"),
            *lora,
            f"--export_pretrained={root / 'lstm.mine-lora'}",
        ]
    )
    return root


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _test_pretrained(directory: Path | str, root: Path, *extra: str) -> list[str]:
    return ["test", "--model.pretrained", str(directory), *fast(root, "eval")[:-2], *extra]


def _edit_config(**changes: object) -> Edit:
    def edit(directory: Path) -> None:
        config = json.loads((directory / "config.json").read_text())
        for key, value in changes.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        (directory / "config.json").write_text(json.dumps(config))

    return edit


def _flip_weights(directory: Path) -> None:
    data = bytearray((directory / "model.safetensors").read_bytes())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])  # the last tensor's bytes, past the JSON header
    (directory / "model.safetensors").write_bytes(bytes(data))


def _truncate_weights(directory: Path) -> None:
    data = (directory / "model.safetensors").read_bytes()
    (directory / "model.safetensors").write_bytes(data[: len(data) // 2])


PRETRAINED_FAULTS: dict[str, tuple[Edit, tuple[str, ...]]] = {
    "flipped-weight-bytes": (
        _flip_weights,
        ("sha256 mismatch for", "model.safetensors", "save the model again"),
    ),
    "truncated-weights": (_truncate_weights, ("sha256 mismatch for", "model.safetensors")),
    "no-weights": (lambda d: (d / "model.safetensors").unlink(), ("model.safetensors",)),
    "no-config": (lambda d: (d / "config.json").unlink(), ("config.json",)),
    "config-not-json": (
        lambda d: (d / "config.json").write_text("{not json"),
        ("config.json is not valid JSON",),
    ),
    "config-a-list": (lambda d: (d / "config.json").write_text("[1, 2]"), ("config.json",)),
    "unknown-architecture": (_edit_config(architecture="lstmx"), ("config.json", "lstmx")),
    "newer-format": (_edit_config(format_version=99), ("config.json", "format_version")),
    "args-of-another-model": (_edit_config(model_args={"kernel_size": 3}), ("config.json", "model_args")),
    "wrong-recorded-sha256": (
        _edit_config(weights_sha256="0" * 64),
        ("sha256 mismatch for", "config.json records"),
    ),
}


@pytest.mark.parametrize("fault", list(PRETRAINED_FAULTS))
def test_damaged_pretrained_directory(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    edit, fragments = PRETRAINED_FAULTS[fault]
    directory = _copy(shared / "lstm.mine", tmp_path / "lstm.damaged")
    edit(directory)
    assert_user_error(run(_test_pretrained(directory, shared), capsys), *fragments)
    assert_user_error(run(["forecast", str(directory), "synthetic"], capsys), *fragments)


def test_pretrained_directory_without_a_digest_loads_with_a_warning(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    directory = _copy(shared / "lstm.mine", tmp_path / "lstm.old")
    _edit_config(weights_sha256=None)(directory)
    with caplog.at_level(logging.WARNING):
        outcome = run(_test_pretrained(directory, shared), capsys)
    assert outcome.code == 0
    assert "records no weights_sha256" in caplog.text and "cannot be verified" in caplog.text


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("--data.seq_len=48", "seq_len=96"),
        ("--data.pred_len=12", "pred_len=24"),
        ("--model.net.init_args.hidden_size=32", "hidden_size"),
    ],
    ids=["seq_len", "pred_len", "width"],
)
def test_pretrained_with_other_dimensions(
    shared: Path, capsys: pytest.CaptureFixture[str], option: str, fragment: str
) -> None:
    line = assert_user_error(run(_test_pretrained(shared / "lstm.mine", shared, option), capsys), fragment)
    assert "lstm.mine" in line


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("tcn.ethh1", "did you mean"), ("tcn", "names an architecture"), ("nowhere/lstm.x", "lstm.x")],
    ids=["typo", "architecture", "missing-dir"],
)
def test_unknown_pretrained_names(
    shared: Path, capsys: pytest.CaptureFixture[str], name: str, fragment: str
) -> None:
    assert_user_error(run(_test_pretrained(name, shared), capsys), fragment)


def _merge(adapter: Path, target: Path, *extra: str) -> list[str]:
    return ["merge", str(adapter), str(target), *extra]


def _flip_adapter(directory: Path) -> None:
    data = bytearray((directory / "adapter_model.safetensors").read_bytes())
    data[-4:] = bytes(b ^ 0xFF for b in data[-4:])
    (directory / "adapter_model.safetensors").write_bytes(bytes(data))


def _edit_adapter(edit: Callable[[dict], object]) -> Edit:
    def apply(directory: Path) -> None:
        document = json.loads((directory / "adapter_config.json").read_text())
        edit(document)
        (directory / "adapter_config.json").write_text(json.dumps(document))

    return apply


ADAPTER_FAULTS: dict[str, tuple[Edit, tuple[str, ...]]] = {
    "flipped-adapter-bytes": (_flip_adapter, ("adapter_model.safetensors", "sha256")),
    "no-adapter-config": (lambda d: (d / "adapter_config.json").unlink(), ("adapter_config.json not found",)),
    "adapter-config-not-json": (
        lambda d: (d / "adapter_config.json").write_text("r: 2"),
        ("adapter_config.json is not valid JSON",),
    ),
    "adapter-config-a-list": (
        lambda d: (d / "adapter_config.json").write_text("[]"),
        ("adapter_config.json: expected a JSON object, got list",),
    ),
    "not-lora": (_edit_adapter(lambda d: d.update(peft_type="IA3")), ("'peft_type' is 'IA3'", "only LORA")),
    "no-rank": (_edit_adapter(lambda d: d.pop("r")), ("missing field(s) ['r']",)),
    "no-adapter-weights": (
        lambda d: (d / "adapter_model.safetensors").unlink(),
        ("adapter_model.safetensors",),
    ),
}


@pytest.mark.parametrize("fault", list(ADAPTER_FAULTS))
def test_damaged_adapter(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    edit, fragments = ADAPTER_FAULTS[fault]
    adapter = _copy(shared / "lstm.mine-lora", tmp_path / "adapter")
    edit(adapter)
    assert_user_error(run(_merge(adapter, tmp_path / "merged"), capsys), *fragments)
    assert not (tmp_path / "merged").exists()


def _other_base(tmp_path: Path) -> Path:
    """Another small pretrained LSTM (seed 7): same architecture as ``lstm.mine``, other weights."""
    other = tmp_path / "lstm.other"
    main(
        [
            "fit",
            "--config",
            QUICKSTART,
            *fast(tmp_path, "other"),
            "--seed_everything=7",
            f"--export_pretrained={other}",
        ]
    )
    return other


def test_adapter_merged_into_another_base(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = _other_base(tmp_path)
    line = assert_user_error(
        run(_merge(shared / "lstm.mine-lora", tmp_path / "merged", f"--base={other}"), capsys),
        "trained on base weights",
    )
    assert "adapter_config.json" in line
    assert not (tmp_path / "merged").exists()


def test_merge_and_convert_never_replace_without_overwrite(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = _copy(shared / "lstm.mine", tmp_path / "lstm.existing")
    before = _snapshot(existing)
    assert_user_error(
        run(_merge(shared / "lstm.mine-lora", existing), capsys), "already exists", "--overwrite"
    )
    checkpoint = next((shared / "base").glob("version_0/checkpoints/last.ckpt"))
    assert_user_error(
        run(["convert", str(checkpoint), str(existing)], capsys), "already exists", "--overwrite"
    )
    assert _snapshot(existing) == before
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert_user_error(
        run(["convert", str(checkpoint), str(a_file), "--overwrite"], capsys), "is not a directory"
    )
    assert a_file.read_text() == "mine"
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    assert_user_error(
        run(["convert", str(checkpoint), str(foreign), "--overwrite"], capsys),
        "thesis.tex",
        "will not be replaced",
    )
    assert (foreign / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "home",
        "lstm.existing",
        "notes.txt",
    ]  # no staging left


def test_merge_with_overwrite_replaces_a_model_directory(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = _copy(shared / "lstm.mine", tmp_path / "lstm.existing")
    outcome = run(_merge(shared / "lstm.mine-lora", existing, "--overwrite"), capsys)
    assert outcome.code == 0, outcome.err[-2000:]
    assert json.loads((existing / "config.json").read_text())["name"] == "lstm.existing"
    assert _snapshot(existing) != _snapshot(shared / "lstm.mine")


def _lora_checkpoint(shared: Path) -> Path:
    return next((shared / "lora").glob("version_0/checkpoints/last.ckpt"))


def test_lora_checkpoint_without_its_adapter_options(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an explicit path brings the run's hyperparameters (Lightning merges them); "last" finds only the file
    args = ["test", "--config", QUICKSTART, *fast(shared, "lora"), "--ckpt_path=last"]
    assert_user_error(run(args, capsys), "holds a LoRA adapter", "model.init_from and model.lora")


def test_lora_checkpoint_forecasts_exports_and_converts_as_its_merged_adapter(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A LoRA run's checkpoint holds the adapter only: forecast, export and convert fold it into the base its
    init_from names, as train.py merge does with the adapter the same run exported."""
    import zoo

    checkpoint = _lora_checkpoint(shared)
    merged = tmp_path / "merged"
    assert run(_merge(shared / "lstm.mine-lora", merged), capsys).code == 0
    expected = zoo.forecast(merged, "synthetic")
    got = zoo.forecast(checkpoint, "synthetic")
    values = [c for c in expected.columns if c != "date"]
    assert (got[values] - expected[values]).abs().max().max() < 1e-5
    assert run(["export", str(checkpoint), str(tmp_path / "program")], capsys).code == 0
    assert run(["convert", str(checkpoint), str(tmp_path / "converted")], capsys).code == 0
    exported = zoo.forecast(tmp_path / "program", "synthetic")
    assert (exported[values] - expected[values]).abs().max().max() < 1e-4


def test_lora_checkpoint_on_a_base_replaced_since(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Testing the checkpoint of a LoRA run, or forecasting with it, on a base replaced since: refused."""
    base = _copy(shared / "lstm.mine", tmp_path / "lstm.base")
    lora = [f"--model.init_from={base}", "--model.lora.r=2", "--model.lora.lora_alpha=4"]
    main(["fit", "--config", QUICKSTART, *fast(tmp_path, "lora"), *lora])
    checkpoint = next((tmp_path / "lora").glob("version_0/checkpoints/last.ckpt"))
    other = _other_base(tmp_path)
    for path in other.iterdir():  # the base directory now holds other weights (with their own sha256)
        (base / path.name).write_bytes(path.read_bytes())
    args = ["test", "--config", QUICKSTART, *fast(tmp_path, "eval"), f"--ckpt_path={checkpoint}"]
    assert_user_error(
        run(args, capsys), "its LoRA adapter was trained on base weights", "the base has changed"
    )
    outcome = run(["forecast", str(checkpoint), "synthetic"], capsys)
    assert_user_error(outcome, "LoRA adapter was trained on base weights", "restore that base")


def test_export_with_overwrite_replaces_an_earlier_export_and_its_card(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = _copy(shared / "lstm.mine", tmp_path / "lstm.earlier")
    (earlier / "README.md").write_text("# an earlier card\n")
    args = [
        "fit",
        "--config",
        QUICKSTART,
        *fast(tmp_path, "again"),
        f"--export_pretrained={earlier}",
        "--overwrite",
    ]
    outcome = run(args, capsys)
    assert outcome.code == 0, outcome.err[-2000:]
    config = json.loads((earlier / "config.json").read_text())
    assert "name=again" in config["training_command"]  # this run's export, not the earlier one
    assert not (earlier / "README.md").exists()  # the earlier directory was replaced as a whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging directory left


def test_export_target_is_refused_before_training(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = _copy(shared / "lstm.mine", tmp_path / "lstm.existing")
    before = _snapshot(existing)
    args = ["fit", "--config", QUICKSTART, *fast(tmp_path, "export"), f"--export_pretrained={existing}"]
    assert_user_error(run(args, capsys), "already exists", "--overwrite")
    assert _snapshot(existing) == before
    assert not (tmp_path / "export").exists()  # refused before training: no run directory either


def test_forecast_and_backtest_outputs_are_never_replaced(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(shared / "lstm.mine")
    target = tmp_path / "forecast.csv"
    target.write_text("mine\n")
    assert_user_error(run(["forecast", model, "synthetic", f"--output={target}"], capsys), "already exists")
    assert_user_error(
        run(["forecast", model, "synthetic", f"--output={tmp_path / 'forecast.xlsx'}"], capsys),
        "unknown output format",
    )
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.md").write_text("keep")
    args = ["backtest", model, "synthetic", "--windows=2", f"--output={folder}", "--overwrite"]
    assert_user_error(run(args, capsys), "notes.md", "will not be replaced")
    assert target.read_text() == "mine\n" and (folder / "notes.md").read_text() == "keep"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["fit", "--config", QUICKSTART, "--data.batch_size=abc"],
            ("--data.batch_size: expected int, got abc",),
        ),
        (
            ["fit", "--config", QUICKSTART, "--data.features=Q"],
            ("--data.features: expected one of 'M', 'S', 'MS'",),
        ),
        (
            ["fit", "--config", QUICKSTART, "--data.batch_sise=3"],
            ("--data.batch_sise (did you mean --data.batch_size",),
        ),
        (["fit", "--config", "no/such.yaml"], ("--config", "no/such.yaml")),
        (["fitt"], ("invalid choice: 'fitt'", "did you mean 'fit'")),
        (["forecast", "tcn.etth1", "synthetic", "--horizon=abc"], ("--horizon: expected int",)),
        (["convert"], ("required", "convert.checkpoint", "train.py convert --help")),
        (["merge", "a", "b", "--overwritee"], ("--overwritee (did you mean --overwrite",)),
        (["fit", "--config", QUICKSTART, "--data.batch_size=0"], ("batch_size",)),
        (["fit", "--config", QUICKSTART, "--data.seq_len=-4"], ("seq_len",)),
        (["fit", "--config", QUICKSTART, "--data.dataset=no_such.csv"], ("no_such.csv",)),
        (["fit", "--config", QUICKSTART, "--model.optimizer.lr=-1"], ("lr",)),
        (["fit", "--config", QUICKSTART, "--data.target=NOPE"], ("unknown target column 'NOPE'", "'x0'")),
        (
            ["fit", "--config", QUICKSTART, "--data.eval_batch_size=0"],
            ("eval_batch_size must be a positive",),
        ),
        (["fit", "--config", QUICKSTART, "--trainer.devices=abc"], ("devices",)),
        (["fit", "--config", QUICKSTART, "--model.net=vae"], ("--data.dataset", "the model is generative")),
        (
            ["fit", "--config", QUICKSTART, "--model.net=lstmm"],
            ("unknown model 'lstmm'", "did you mean 'lstm'"),
        ),
        (["list", "lstn"], ("no registered or pretrained model matches 'lstn'", "did you mean lstm")),
        (["forecast", "tcn.etth1", "ETTh1", "--horizon=1000"], ("horizon=1000", "pred_len=96", "1 to 96")),
        (["forecast", "vae.mnist", "ETTh1"], ("vae.mnist is a generative model",)),
        (["backtest", "tcn.etth1", "ETTh1", "--windows=100000"], ("ETTh1.csv", "fewer windows")),
        (["convert", "README.md", "out"], ("README.md", "not a PyTorch checkpoint")),
        (["merge", "checkpoints/tcn.etth1", "out"], ("adapter_config.json not found",)),
    ],
    ids=[
        "type",
        "choice",
        "typo",
        "missing-config",
        "verb-typo",
        "verb-type",
        "verb-missing-argument",
        "verb-typo-option",
        "zero-batch",
        "negative-window",
        "missing-data-file",
        "negative-lr",
        "target-under-M",
        "zero-eval-batch",
        "devices-type",
        "generative-model-on-series",
        "model-typo",
        "list-nothing",
        "horizon-beyond-model",
        "forecast-with-a-vae",
        "backtest-too-many-windows",
        "convert-a-text-file",
        "merge-a-model-not-an-adapter",
    ],
)
def test_bad_options_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragments: tuple[str, ...]
) -> None:
    logs = [f"--trainer.logger.init_args.save_dir={tmp_path}"] if args[0] == "fit" else []
    args = [str(tmp_path / a) if a == "out" else a for a in args]
    assert_user_error(run([*args, *logs], capsys), *fragments)
    assert not any(tmp_path.iterdir())  # no run directory left by a run that failed before training


def test_data_directory_and_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("date,x\n")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)))
    logs = f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}"
    for dataset, fragment in [
        (tmp_path / "data", "is a directory (it holds a.csv); give one .csv or .parquet file"),
        (tmp_path / "empty.csv", "the file is empty"),
        (tmp_path / "binary.csv", "binary data"),
        (tmp_path / "data" / "a.csv", "no rows"),
    ]:
        args = ["fit", "--config", QUICKSTART, f"--data.dataset={dataset}", logs]
        assert_user_error(run(args, capsys), str(dataset), fragment)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("trainer: [unclosed\n", "yaml"),
        ("model:\n  net:\n    class_path: zoo.models.NoSuchModel\n", "NoSuchModel"),
        ("data:\n  batch_sise: 4\n", "batch_sise"),
    ],
    ids=["yaml-syntax", "unknown-class", "unknown-key"],
)
def test_bad_config_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragment: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    line = assert_user_error(run(["fit", "--config", QUICKSTART, "--config", str(config)], capsys))
    assert fragment.lower() in line.lower()


def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = f"--trainer.logger.init_args.save_dir={tmp_path}"
    monkeypatch.delenv("ZOO_DEBUG", raising=False)
    with pytest.raises(ValueError, match="batch_size"):  # the exception itself, not SystemExit
        main(["fit", "--config", QUICKSTART, "--data.batch_size=0", logs, "--debug"])
    assert "ZOO_DEBUG" not in os.environ  # restored: later in-process calls report one line again
    monkeypatch.setenv("ZOO_DEBUG", "1")
    with pytest.raises(hub.PretrainedNotFoundError, match="tcn.ethh1"):
        main(["forecast", "tcn.ethh1", "synthetic"])
