"""ImageDataModule and the idx / amat readers: splits, binarisation, and clear errors on bad files.

Real files come from ``$ZOO_DATA_DIR`` (CI: ../shared/data; tests needing them skip when it is unset);
reference numbers (md5 of the first 10 binarized MNIST images, mean pixel values) are from
``../shared/data/binarized-mnist/SOURCE.md``. Bad input is made by hand in ``tmp_path``. No network:
every test runs with ``ZOO_OFFLINE=1``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import jsonargparse
import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from zoo.data import DataValidationError, ImageDataModule, read_amat, read_idx, sources
from zoo.data.images import BatchOrder, read_labelled_images

_ENV_DATA_DIR = os.environ.get("ZOO_DATA_DIR")
_NO_DATA = "ZOO_DATA_DIR is not set (CI sets it to ../shared/data)"
_MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")


def _loaded(**kwargs: object) -> ImageDataModule:
    if not _ENV_DATA_DIR:
        pytest.skip(_NO_DATA)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_OFFLINE", "1")
        dm = ImageDataModule(**kwargs)  # type: ignore[arg-type]
        dm.prepare_data()
        dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def dynamic() -> ImageDataModule:
    return _loaded(dataset="mnist", binarize="dynamic", seed=0)


@pytest.fixture(scope="module")
def grey() -> ImageDataModule:
    return _loaded(dataset="mnist", binarize=None)


@pytest.fixture(scope="module")
def mnist_raw() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not _ENV_DATA_DIR:
        pytest.skip(_NO_DATA)
    root = Path(_ENV_DATA_DIR) / "mnist"
    train = read_labelled_images(root / _MNIST_FILES[0], root / _MNIST_FILES[1])
    test = read_labelled_images(root / _MNIST_FILES[2], root / _MNIST_FILES[3])
    return (*train, *test)


def _first_batch(loader: object) -> dict[str, torch.Tensor]:
    return next(iter(loader))  # type: ignore[call-overload]


# -- real files ------------------------------------------------------------------------------------


def test_mnist_default_splits_are_the_tail_of_the_train_file(
    grey: ImageDataModule, mnist_raw: tuple[np.ndarray, ...]
) -> None:
    train_x, train_y, test_x, test_y = mnist_raw
    assert train_x.shape == (60000, 28, 28) and train_x.dtype == np.uint8 and test_x.shape == (10000, 28, 28)
    assert (grey.n_train, grey.n_val, grey.n_test) == (50000, 10000, 10000)
    np.testing.assert_array_equal(grey.datasets["train"].images.numpy(), train_x[:50000])
    np.testing.assert_array_equal(grey.datasets["val"].images.numpy(), train_x[50000:])  # never the test set
    np.testing.assert_array_equal(grey.datasets["val"].labels.numpy(), train_y[50000:])
    np.testing.assert_array_equal(grey.datasets["test"].images.numpy(), test_x)
    np.testing.assert_array_equal(grey.datasets["test"].labels.numpy(), test_y)
    assert grey.datasets["train"].images.dtype == torch.uint8  # stored as bytes, float per batch
    assert np.bincount(train_y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_batches_shapes_and_grey_levels(grey: ImageDataModule, mnist_raw: tuple[np.ndarray, ...]) -> None:
    batch = _first_batch(grey.test_dataloader())
    assert set(batch) == {"x", "label"}
    assert batch["x"].shape == (100, 1, 28, 28) and batch["x"].dtype == torch.float32
    assert batch["label"].shape == (100,) and batch["label"].dtype == torch.int64
    assert 0.0 <= batch["x"].min() and batch["x"].max() <= 1.0
    assert len(torch.unique(batch["x"])) > 2  # binarize=None keeps grey levels
    np.testing.assert_allclose(batch["x"][:, 0].numpy(), mnist_raw[2][:100] / np.float32(255), rtol=0, atol=0)
    assert grey.on_after_batch_transfer(batch, 0) is batch  # no sampling without dynamic binarisation


def test_eval_loaders_keep_every_example_in_order(mnist_raw: tuple[np.ndarray, ...]) -> None:
    dm = _loaded(dataset="mnist", binarize=None, eval_batch_size=3000)
    batches = list(dm.test_dataloader())
    assert [len(b["x"]) for b in batches] == [3000, 3000, 3000, 1000]  # the short last batch is kept
    np.testing.assert_array_equal(torch.cat([b["label"] for b in batches]).numpy(), mnist_raw[3])
    assert sum(len(b["x"]) for b in dm.val_dataloader()) == 10000
    assert len(_first_batch(dm.train_dataloader())["x"]) == 100  # eval_batch_size does not touch training


def test_train_order_is_seeded_and_changes_per_epoch() -> None:
    a, b = BatchOrder(1000, 64, shuffle=True, seed=5), BatchOrder(1000, 64, shuffle=True, seed=5)
    first = [i for batch in a for i in batch]
    assert sorted(first) == list(range(1000)) and first != list(range(1000)) and len(a) == 16
    assert [i for batch in b for i in batch] == first  # same seed, same order
    a.set_epoch(1)
    assert [i for batch in a for i in batch] != first
    assert [i for batch in BatchOrder(10, 4, shuffle=False) for i in batch] == list(range(10))


def test_val_size_zero_trains_on_the_whole_file() -> None:
    dm = _loaded(dataset="mnist", binarize="static", val_size=0)
    assert (dm.n_train, dm.n_val, dm.n_test) == (60000, 0, 10000)
    assert dm.val_dataloader() == []  # Lightning skips validation for an empty list
    assert "val" not in dm.datasets


def test_dynamic_train_batches_are_fresh_binary_samples(dynamic: ImageDataModule) -> None:
    batch = dynamic.datasets["train"].batch(list(range(100)))  # what the loader yields: pixel / 255
    p = batch["x"]
    first = dynamic.on_after_batch_transfer(batch, 0)["x"]
    second = dynamic.on_after_batch_transfer(batch, 0)["x"]  # the same images seen again
    assert set(torch.unique(first).tolist()) == {0.0, 1.0} and first.dtype == torch.float32
    assert not torch.equal(first, second)
    assert torch.all(first[p == 0] == 0) and torch.all(first[p == 1] == 1)
    assert torch.equal(batch["label"], dynamic.on_after_batch_transfer(batch, 0)["label"])

    again = ImageDataModule("mnist", binarize="dynamic", seed=0)  # same seed: the same sequence of samples
    assert torch.equal(again.on_after_batch_transfer(batch, 0)["x"], first)
    assert torch.equal(again.on_after_batch_transfer(batch, 0)["x"], second)
    other = ImageDataModule("mnist", binarize="dynamic", seed=1)
    assert not torch.equal(other.on_after_batch_transfer(batch, 0)["x"], first)

    draws = torch.stack([again.on_after_batch_transfer(batch, 0)["x"] for _ in range(400)])
    error = (draws.mean(0) - p).abs()
    assert error.mean() < 0.01 and error.max() < 0.15  # the sample mean approaches pixel / 255


def test_dynamic_eval_sets_are_binarised_once(dynamic: ImageDataModule, grey: ImageDataModule) -> None:
    for loader in (dynamic.val_dataloader, dynamic.test_dataloader):
        x1, x2 = _first_batch(loader())["x"], _first_batch(loader())["x"]
        assert torch.equal(x1, x2) and set(torch.unique(x1).tolist()) == {0.0, 1.0}
    val = dynamic.datasets["val"].images.float()
    assert abs(val.mean().item() - grey.datasets["val"].images.float().mean().item() / 255) < 0.002
    static = _loaded(dataset="mnist", binarize="static", seed=0)
    for name in ("val", "test"):  # the same fixed evaluation sets under "dynamic" and "static"
        assert torch.equal(static.datasets[name].images, dynamic.datasets[name].images)


def test_static_binarisation_is_reproducible_from_the_seed(grey: ImageDataModule) -> None:
    a, b = (
        _loaded(dataset="mnist", binarize="static", seed=3),
        _loaded(dataset="mnist", binarize="static", seed=3),
    )
    assert torch.equal(a.datasets["train"].images, b.datasets["train"].images)
    assert set(torch.unique(a.datasets["train"].images).tolist()) == {0, 1}
    c = _loaded(dataset="mnist", binarize="static", seed=4)
    assert not torch.equal(a.datasets["train"].images, c.datasets["train"].images)
    assert torch.equal(a.datasets["train"].labels, c.datasets["train"].labels)
    expected = grey.datasets["train"].images.float().mean().item() / 255
    assert abs(a.datasets["train"].images.float().mean().item() - expected) < 0.001
    x = _first_batch(a.train_dataloader())["x"]
    assert set(torch.unique(x).tolist()) == {0.0, 1.0} and a.on_after_batch_transfer({"x": x}, 0)["x"] is x


def test_fashion_mnist() -> None:
    dm = _loaded(dataset="fashion_mnist", binarize=None, val_size=0)
    assert (dm.n_train, dm.n_val, dm.n_test) == (60000, 0, 10000)
    assert np.bincount(dm.datasets["train"].labels.numpy()).tolist() == [6000] * 10
    assert np.bincount(dm.datasets["test"].labels.numpy()).tolist() == [1000] * 10
    assert dm.image_shape == (1, 28, 28) and dm.dataset == "fashion_mnist"


_BINARIZED_MD5 = {
    "train": "0922fefc9a9d097e3b086b89107fafce",
    "val": "65e8099613162b3110a7618037011617",
    "test": "0fa539ed8cb008880a61be77f744f06a",
}
_BINARIZED_MEAN = {"train": 0.1306, "val": 0.1311, "test": 0.1325}


def test_binarized_mnist_matches_its_published_checks() -> None:
    dm = _loaded(dataset="binarized_mnist", binarize="static")
    assert (dm.n_train, dm.n_val, dm.n_test) == (50000, 10000, 10000)
    for name in ("train", "val", "test"):
        images = dm.datasets[name].images.numpy()
        assert hashlib.md5(images[:10].reshape(10, 1, 28, 28).tobytes()).hexdigest() == _BINARIZED_MD5[name]
        assert abs(images.mean() - _BINARIZED_MEAN[name]) < 5e-5
    batch = _first_batch(dm.train_dataloader())
    assert set(batch) == {"x"} and batch["x"].shape == (100, 1, 28, 28)  # no labels
    assert set(torch.unique(batch["x"]).tolist()) == {0.0, 1.0}
    assert not dm.has_labels


def test_binarized_mnist_without_validation() -> None:
    dm = _loaded(dataset="binarized_mnist", binarize=None, val_size=0)
    assert (dm.n_train, dm.n_val, dm.n_test) == (50000, 0, 10000) and dm.val_dataloader() == []


class _Recorder(pl.LightningModule):
    """Records what reaches training_step / validation_step."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.train_x: list[tuple[int, torch.Tensor]] = []
        self.val_x: list[torch.Tensor] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.train_x.append((self.current_epoch, batch["x"].clone()))
        return self.weight * batch["x"].mean()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.val_x.append(batch["x"].clone())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _fit(dm: ImageDataModule) -> _Recorder:
    model = _Recorder()
    trainer = pl.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(model, datamodule=dm)
    return model


def test_dynamic_binarisation_inside_a_trainer() -> None:
    dynamic = _loaded(dataset="mnist", binarize="dynamic", seed=0)  # its own: fit attaches a Trainer
    model = _fit(dynamic)
    assert [epoch for epoch, _ in model.train_x] == [0, 0, 1, 1]
    order = BatchOrder(dynamic.n_train, 100, shuffle=True, seed=0)
    for epoch, x in model.train_x[::2]:  # each epoch's first batch, against its grey levels
        order.set_epoch(epoch)
        p = dynamic.datasets["train"].batch(next(iter(order)))["x"]
        assert set(torch.unique(x).tolist()) == {0.0, 1.0}
        assert torch.all(x[p == 0] == 0) and torch.all(x[p == 1] == 1) and not torch.equal(x, p)
    # validation batches pass unchanged: the fixed binarised set
    assert torch.equal(model.val_x[0], dynamic.datasets["val"].batch(list(range(100)))["x"])
    # a fresh run with the same seed draws the same samples (seeded per epoch, so resumable)
    again = _fit(_loaded(dataset="mnist", binarize="dynamic", seed=0))
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(model.train_x, again.train_x, strict=True))


# -- arguments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val_size": 60000}, r"val_size must lie in \[0, 59999\] for mnist.*got 60000"),
        ({"val_size": -1}, "val_size must lie in"),
        ({"dataset": "fashion_mnist", "val_size": 70000}, "val_size .* fashion_mnist"),
        (
            {"dataset": "binarized_mnist", "binarize": "static", "val_size": 5000},
            "val_size must be 10000 or 0.*fixed",
        ),
        ({"dataset": "binarized_mnist"}, "binarize='dynamic'.*already binary"),
        ({"dataset": "cifar10"}, "dataset must be one of"),
        ({"binarize": "otsu"}, "binarize must be"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"eval_batch_size": 0}, "eval_batch_size must be a positive integer"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ImageDataModule(**kwargs)  # type: ignore[arg-type]


def test_properties_before_setup() -> None:
    dm = ImageDataModule("binarized_mnist", binarize=None)
    assert dm.image_shape == (1, 28, 28) and dm.dataset == "binarized_mnist"
    assert dm.eval_batch_size == dm.batch_size == 100
    assert dm.source_names == ("binarized_mnist-train", "binarized_mnist-valid", "binarized_mnist-test")
    with pytest.raises(RuntimeError, match="after setup"):
        _ = dm.n_train


def test_signature_builds_from_yaml() -> None:
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(ImageDataModule, "data")
    cfg = parser.parse_string("data:\n  dataset: binarized_mnist\n  binarize: null\n  val_size: 0\n")
    dm = ImageDataModule(**cfg.data.as_dict())
    assert (dm.dataset, dm.binarize, dm.val_size) == ("binarized_mnist", None, 0)
    for bad in ("data:\n  binarize: Dynamic\n", "data:\n  batchsize: 5\n"):
        with pytest.raises(jsonargparse.ArgumentError):
            parser.parse_string(bad)


# -- bad files -------------------------------------------------------------------------------------


def _write_gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


def _idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


def test_read_idx_round_trip(tmp_path: Path) -> None:
    pixels = np.arange(2 * 28 * 28, dtype=np.int64).astype(np.uint8).reshape(2, 28, 28)
    images = read_idx(_write_gz(tmp_path / "i.gz", _idx(2051, (2, 28, 28), pixels.tobytes())))
    np.testing.assert_array_equal(images, pixels)
    labels = read_idx(_write_gz(tmp_path / "l.gz", _idx(2049, (2,), bytes([7, 3]))))
    assert labels.dtype == np.uint8 and labels.tolist() == [7, 3]
    x, y = read_labelled_images(tmp_path / "i.gz", tmp_path / "l.gz")
    assert x.shape == (2, 28, 28) and y.tolist() == [7, 3]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_idx(2052, (1, 28, 28), bytes(784)), "bad idx magic number: expected 2051 .* or 2049 .*, got 2052"),
        (
            _idx(2051, (2, 28, 28), bytes(1500)),
            r"truncated idx payload: dims \(2, 28, 28\) need 1568 bytes, got 1500",
        ),
        (_idx(2049, (3,), bytes(6)), r"3 trailing bytes: dims \(3,\) need 3 payload bytes, got 6"),
        (_idx(2051, (), b"")[:4] + b"\x00\x00", "truncated idx header: magic 2051 needs 16 bytes, got 6"),
        (b"\x00\x00", "too short for an idx header"),
    ],
)
def test_read_idx_rejects_bad_headers_and_payloads(tmp_path: Path, data: bytes, match: str) -> None:
    path = _write_gz(tmp_path / "bad-idx3-ubyte.gz", data)
    with pytest.raises(DataValidationError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "not_gzip"])
def test_read_idx_rejects_a_corrupt_gzip(tmp_path: Path, damage: str) -> None:
    good = gzip.compress(_idx(2051, (3, 28, 28), np.random.default_rng(0).bytes(3 * 784)), mtime=0)
    path = tmp_path / "corrupt-idx3-ubyte.gz"
    path.write_bytes(good[:-20] if damage == "truncated" else b"plain bytes, not gzip")
    with pytest.raises(DataValidationError, match="not a readable gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_image_and_label_counts_must_match(tmp_path: Path) -> None:
    images = _write_gz(tmp_path / "images.gz", _idx(2051, (3, 28, 28), bytes(3 * 784)))
    labels = _write_gz(tmp_path / "labels.gz", _idx(2049, (2,), bytes(2)))
    with pytest.raises(DataValidationError, match=f"{images} has 3 images but {labels} has 2 labels"):
        read_labelled_images(images, labels)
    with pytest.raises(DataValidationError, match=rf"{labels}: expected images of shape \(N, 28, 28\)"):
        read_labelled_images(labels, labels)
    wrong = _write_gz(tmp_path / "big.gz", _idx(2049, (3,), bytes([1, 12, 0])))
    with pytest.raises(DataValidationError, match=f"{wrong}: label 12 at index 1"):
        read_labelled_images(images, wrong)


def _amat_line(values: list[int]) -> str:
    return " ".join(map(str, values)) + "\n"


def test_read_amat_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 2, size=(3, 784))
    text = "".join(_amat_line(r.tolist()) for r in rows)
    np.testing.assert_array_equal(
        read_amat(_write_gz(tmp_path / "a.amat.gz", text.encode())), rows.reshape(3, 28, 28)
    )
    crlf_no_final_newline = text.replace("\n", "\r\n").rstrip()
    np.testing.assert_array_equal(
        read_amat(_write_gz(tmp_path / "b.amat.gz", crlf_no_final_newline.encode())), rows.reshape(3, 28, 28)
    )


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([[0] * 784, [1] * 783, [0] * 784], "line 2 has 783 values, expected 784"),
        ([[0] * 784, [0] * 785], "line 2 has 785 values, expected 784"),
        ([[0] * 4 + [2] + [0] * 779], "line 1, value 5: expected 0 or 1, got '2'"),
        ([[0] * 784, [0] * 9 + ["0.5"] + [0] * 774], "line 2, value 10: expected 0 or 1, got '0.5'"),
        ([[0] * 784, [], [0] * 784], "line 2 has 0 values"),
    ],
)
def test_read_amat_rejects_bad_rows(tmp_path: Path, rows: list[list[object]], match: str) -> None:
    path = _write_gz(tmp_path / "bad.amat.gz", "".join(_amat_line(r) for r in rows).encode())  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match=match) as info:
        read_amat(path)
    assert str(path) in str(info.value)


def test_read_amat_rejects_a_corrupt_gzip_and_an_empty_file(tmp_path: Path) -> None:
    good = gzip.compress(_amat_line([1] * 784).encode() * 50, mtime=0)
    path = tmp_path / "cut.amat.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataValidationError, match=f"{path}: not a readable gzip file"):
        read_amat(path)
    with pytest.raises(DataValidationError, match="no image rows"):
        read_amat(_write_gz(tmp_path / "empty.amat.gz", b"\n"))


@pytest.fixture
def scratch_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "data"
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    yield root


def test_tampered_binarized_file_is_a_checksum_error(scratch_data_dir: Path) -> None:
    path = scratch_data_dir / "binarized-mnist" / "binarized_mnist_test.amat.gz"
    path.parent.mkdir(parents=True)
    _write_gz(path, _amat_line([0] * 784).encode() * 3)
    with pytest.raises(sources.ChecksumError, match=f"sha256 mismatch for {path}.*decompressed"):
        sources.resolve("binarized_mnist-test")


def test_tampered_mnist_file_is_a_checksum_error_naming_it(scratch_data_dir: Path) -> None:
    if not _ENV_DATA_DIR:
        pytest.skip(_NO_DATA)
    real = Path(_ENV_DATA_DIR).resolve() / "mnist"
    (scratch_data_dir / "mnist").mkdir(parents=True)
    for name in _MNIST_FILES[:3]:
        (scratch_data_dir / "mnist" / name).symlink_to(real / name)
    tampered = scratch_data_dir / "mnist" / _MNIST_FILES[3]
    tampered.write_bytes(gzip.compress(_idx(2049, (10000,), bytes(10000)), mtime=0))
    with pytest.raises(sources.ChecksumError, match=f"sha256 mismatch for {tampered}"):
        ImageDataModule("mnist").prepare_data()
    tampered.unlink()
    with pytest.raises(sources.DatasetNotFoundError, match="mnist-test-labels"):  # offline: never downloads
        ImageDataModule("mnist").setup()
