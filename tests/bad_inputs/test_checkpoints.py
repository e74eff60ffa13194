"""Bad-input catalogue: Lightning checkpoints given to ``--ckpt_path``, ``convert`` and ``zoo.forecast``.

Every case asserts the exact outcome: exit status 2 and one line naming the file and what is wrong with it,
or, for ``last``/``best``, which file was used. Nothing here may test random weights and exit 0.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from tests.bad_inputs.cli_runs import QUICKSTART, assert_user_error, fast, run
from tests.conftest import REPO
from tests.helpers import PickleExploit
from zoo import hub
from zoo.cli import main
from zoo.conversion import load_checkpoint
from zoo.tasks.checkpoints import CHECKPOINT_KEY, DIGEST_KEY, checkpoint_digest


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of one short quickstart fit (logger name "exp_a"): last.ckpt and the best one."""
    root = tmp_path_factory.mktemp("runs")
    main(["fit", "--config", QUICKSTART, *fast(root, "exp_a"), "--trainer.max_epochs=2"])
    return root


def _last(root: Path) -> Path:
    return root / "exp_a" / "version_0" / "checkpoints" / "last.ckpt"


def _rewritten(source: Path, target: Path, edit: object, redigest: bool = True) -> Path:
    checkpoint = torch.load(source, weights_only=True)
    edit(checkpoint)  # type: ignore[operator]
    if redigest:
        checkpoint[DIGEST_KEY] = checkpoint_digest(checkpoint)
    torch.save(checkpoint, target)
    return target


def _largest_record(path: Path) -> zipfile.ZipInfo:
    with zipfile.ZipFile(path) as archive:
        return max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)


def _test(ckpt: Path | str, root: Path, *extra: str) -> list[str]:
    return ["test", "--config", QUICKSTART, *fast(root, "exp_a"), f"--ckpt_path={ckpt}", *extra]


def test_checkpoints_carry_a_digest_that_matches(trained: Path) -> None:
    checkpoint = load_checkpoint(_last(trained))
    assert checkpoint[DIGEST_KEY] == checkpoint_digest(checkpoint)
    assert len(checkpoint[DIGEST_KEY]) == 64


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"model weights, honest\n", "it is not a PyTorch checkpoint"),
        (
            b"\x80\x04K\x01.",
            "it is a legacy (non-zip) torch file that cannot be read safely",
        ),  # pickle.dumps(1)
    ],
    ids=["empty", "text", "plain-pickle"],
)
def test_unreadable_checkpoint_is_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, fragment: str
) -> None:
    bad = tmp_path / "model.ckpt"
    bad.write_bytes(content)
    assert_user_error(run(_test(bad, trained), capsys), str(bad), fragment)


@pytest.mark.parametrize("content", [1, [1.0, 2.0], {"weights": torch.zeros(2)}], ids=["int", "list", "dict"])
def test_torch_file_that_is_not_a_checkpoint(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: object
) -> None:
    bad = tmp_path / "other.pt"
    torch.save(content, bad)
    assert_user_error(run(_test(bad, trained), capsys), str(bad), "not a Lightning checkpoint")


def test_truncated_checkpoint(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _last(trained).read_bytes()
    bad = tmp_path / "truncated.ckpt"
    bad.write_bytes(data[: len(data) // 2])
    assert_user_error(run(_test(bad, trained), capsys), str(bad), "truncated or corrupt")


def test_flipped_tensor_bytes_fail_the_digest(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(_last(trained).read_bytes())
    record = _largest_record(_last(trained))
    header = data[record.header_offset : record.header_offset + 30]  # the local header: its own extra field
    name_length, extra_length = (
        int.from_bytes(header[26:28], "little"),
        int.from_bytes(header[28:30], "little"),
    )
    offset = record.header_offset + 30 + name_length + extra_length + 8
    for i in range(offset, offset + 16):
        data[i] ^= 0xFF
    bad = tmp_path / "flipped.ckpt"
    bad.write_bytes(bytes(data))
    line = assert_user_error(run(_test(bad, trained), capsys), str(bad))
    assert "digest" in line or "corrupt" in line
    with pytest.raises(hub.IntegrityError, match="flipped.ckpt"):
        load_checkpoint(bad)


def test_edited_weights_fail_the_digest(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def scale_first(checkpoint: dict) -> None:
        key = next(iter(checkpoint["state_dict"]))
        checkpoint["state_dict"][key] = checkpoint["state_dict"][key] * 2

    bad = _rewritten(_last(trained), tmp_path / "edited.ckpt", scale_first, redigest=False)
    assert_user_error(run(_test(bad, trained), capsys), str(bad), "do not match the digest")
    out = tmp_path / "converted"
    assert_user_error(run(["convert", str(bad), str(out)], capsys), "do not match the digest")
    assert not out.exists()


def test_pickled_objects_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "exploit.ckpt"
    torch.save({"state_dict": {}, "payload": PickleExploit(tmp_path / "pwned")}, bad)
    assert_user_error(
        run(["convert", str(bad), str(tmp_path / "out")], capsys), "refusing to load", "never unpickles"
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "pwned").exists()


def test_plain_pickle_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "plain.ckpt"
    bad.write_bytes(pickle.dumps({"state_dict": {}}))
    with pytest.raises(hub.IntegrityError, match="plain.ckpt"):
        load_checkpoint(bad)


def test_missing_and_directory_checkpoints(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_user_error(run(_test(tmp_path / "nope.ckpt", trained), capsys), "nope.ckpt")
    assert_user_error(run(["convert", str(tmp_path), str(tmp_path / "o")], capsys), "is a directory")


def test_checkpoint_of_another_architecture(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def as_tcn(checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY]["architecture"] = "tcn"

    bad = _rewritten(_last(trained), tmp_path / "tcn.ckpt", as_tcn)
    assert_user_error(
        run(_test(bad, trained), capsys), "holds a forecasting model 'tcn'", "builds a forecasting model"
    )


def test_checkpoint_of_another_task(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def as_vae(checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY]["architecture"] = "vae"
        checkpoint[CHECKPOINT_KEY]["task"] = "generative"

    bad = _rewritten(_last(trained), tmp_path / "vae.ckpt", as_vae)
    assert_user_error(
        run(_test(bad, trained), capsys), "holds a generative model 'vae'", "builds a forecasting model"
    )


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """last.ckpt of a two-step VAE run on MNIST with one hidden layer of 16 units."""
    root = tmp_path_factory.mktemp("vae")
    options = [
        "--config",
        str(REPO / "configs" / "generative" / "vae_mnist.yaml"),
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        "--trainer.check_val_every_n_epoch=1",
        "--trainer.enable_progress_bar=false",
        "--model.net.init_args.hidden_dims=[16]",
        f"--trainer.logger.init_args.save_dir={root}",
        "--test_after_fit=false",
    ]
    main(["fit", *options])
    return root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"


def test_real_checkpoint_of_the_other_task_family(
    trained: Path, vae_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_user_error(
        run(_test(vae_checkpoint, trained), capsys),
        "holds a generative model 'vae'",
        "builds a forecasting model",
    )


def test_checkpoint_of_another_width_named_by_its_argument(
    trained: Path, vae_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(REPO / "configs" / "generative" / "vae_mnist.yaml")
    args = ["test", "--config", config, *fast(trained, "vae")[:-2], f"--ckpt_path={vae_checkpoint}"]
    assert_user_error(run(args, capsys), "hidden_dims=[16] (this run: [200, 200])")


def test_checkpoint_with_another_window(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(_test(_last(trained), trained, "--data.seq_len=48"), capsys)
    assert_user_error(outcome, "was trained with seq_len=96 (this run asks for 48)")


def test_checkpoint_with_another_width(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(_test(_last(trained), trained, "--model.net.init_args.hidden_size=16"), capsys)
    assert_user_error(outcome, "hidden_size=8 (this run: 16)")


def test_checkpoint_without_digest_loads_with_a_warning(
    trained: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = _rewritten(_last(trained), tmp_path / "legacy.ckpt", lambda c: c.pop(DIGEST_KEY), redigest=False)
    with caplog.at_level(logging.WARNING):
        checkpoint = load_checkpoint(legacy)
    assert "carries no zoo_digest" in caplog.text
    assert checkpoint["state_dict"].keys() == load_checkpoint(_last(trained))["state_dict"].keys()


def test_test_last_under_a_new_name_is_an_error(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["test", "--config", QUICKSTART, *fast(trained, "brand_new"), "--ckpt_path=last"]
    assert_user_error(run(args, capsys), "--ckpt_path last: no last.ckpt under", "brand_new")
    assert not (trained / "brand_new").exists()  # and no empty version_0 left behind


@pytest.mark.parametrize("verb", ["validate", "predict"])
def test_evaluate_best_with_nothing_recorded_is_an_error(
    trained: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    args = [verb, "--config", QUICKSTART, *fast(trained, "nothing_here"), "--ckpt_path=best"]
    assert_user_error(run(args, capsys), "--ckpt_path best: no best checkpoint recorded")


def test_fit_last_under_a_new_name_starts_fresh_and_says_so(
    trained: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        outcome = run(["fit", "--config", QUICKSTART, *fast(trained, "fresh"), "--ckpt_path=last"], capsys)
    assert outcome.code == 0
    assert "no last.ckpt under" in caplog.text and "training from scratch" in caplog.text
    assert outcome.cli.trainer.ckpt_path is None  # not exp_a's last.ckpt


def test_test_last_and_best_load_this_experiments_files(
    trained: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        last = run(_test("last", trained), capsys)
        best = run(_test("best", trained), capsys)
    assert last.code == 0 and best.code == 0
    assert Path(last.cli.trainer.ckpt_path) == _last(trained)
    best_path = Path(best.cli.trainer.ckpt_path)
    assert best_path.parent == _last(trained).parent and best_path.name.startswith("epoch")
    assert f"loading {_last(trained)}" in caplog.text


def test_test_without_weights_warns(
    trained: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        outcome = run(["test", "--config", QUICKSTART, *fast(trained, "untrained")], capsys)
    assert outcome.code == 0
    assert "randomly initialised" in caplog.text


def test_forecast_from_a_corrupt_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "model.ckpt"
    bad.write_bytes(b"\x00" * 64)
    assert_user_error(run(["forecast", str(bad), "synthetic"], capsys), str(bad), "not a PyTorch checkpoint")
