"""``ImageDataModule``: MNIST, Fashion-MNIST and statically binarized MNIST for latent-variable models.

Datasets (files, checksums and provenance in ``../shared/data/*/SOURCE.md``):

- ``mnist``: LeCun, Bottou, Bengio & Haffner (1998), the four idx files; ``fashion_mnist``: Xiao, Rasul &
  Vollgraf (2017, arXiv:1708.07747), same layout. Read by :func:`read_idx`, the format torchvision's
  ``MNIST`` reads (``read_sn3_pascalvincent_tensor``); here every header field and the payload length are
  checked, and a bad file is a :class:`~zoo.data.table.DataValidationError` naming it.
- ``binarized_mnist``: the fixed binarisation of Larochelle & Murray (2011, "The Neural Autoregressive
  Distribution Estimator", AISTATS), split 50000 / 10000 / 10000 as in Salakhutdinov & Murray (2008),
  ``.amat`` text files read by :func:`read_amat` (the format Fuel's and mlpython's loaders read). No labels.

Splits. mnist / fashion_mnist: train = the first ``60000 - val_size`` images of the official training
file, val = its last ``val_size`` images (never the test set), test = the official ``t10k`` file;
``val_size=0`` trains on all 60000 with no validation (the protocol of Burda et al. 2016, who report on
the test set). binarized_mnist: the official files, ``val_size`` 10000 or 0 (then the valid file is unused).

Images stay uint8 in memory (47 MB for MNIST's training file, 0/1 bytes once binarised) and become
float32 per batch. Batches are dicts: ``x`` (B, 1, 28, 28) float32 in [0, 1] or {0, 1}, and ``label``
(B,) int64 except for binarized_mnist. Loaders fetch a whole batch in one gather (:class:`BatchOrder`
yields index lists, ``DataLoader(batch_size=None)``), as ``zoo.data.panel`` does.
"""

from __future__ import annotations

import gzip
import logging
import math
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo.choices import check_choice
from zoo.data import sources
from zoo.data.sampling import EvalBatchSampler
from zoo.data.table import DataValidationError, Stage
from zoo.seeding import mix_seed

log = logging.getLogger(__name__)

ImageDataset = Literal["mnist", "fashion_mnist", "binarized_mnist"]
Binarize = Literal["dynamic", "static"]
DATASETS: tuple[ImageDataset, ...] = get_args(ImageDataset)
IMAGE_SHAPE: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of every dataset here
_PIXELS = IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
_IDX_TRAIN = 60_000  # images in the official MNIST / Fashion-MNIST training files
_BINARIZED_VAL = 10_000  # images in binarized_mnist_valid.amat
_IDX_NDIM = {2049: 1, 2051: 3}  # idx magic: 0x08 (unsigned byte) << 8 | number of dimensions
_READ_CHUNK = 1 << 22
_AMAT_BLOCK = 2048  # .amat lines parsed per vectorised step (~3 MB of text)
_WHITESPACE = (ord(" "), ord("\t"), ord("\r"), ord("\n"))
# byte -> is it part of a value / is it a character no value may contain (table lookups beat np.isin)
_IS_VALUE = np.ones(256, dtype=bool)
_IS_VALUE[list(_WHITESPACE)] = False
_IS_BAD = _IS_VALUE.copy()
_IS_BAD[[ord("0"), ord("1")]] = False
# Independent numpy streams under one seed: the training order and the samples fixed once per split, so
# changing one use never shifts another (the per-batch dynamic samples use a torch generator seeded with
# zoo.seeding.mix_seed; stream 1 was theirs).
_ORDER, _FIXED = 0, 2
_SPLIT_STREAM: dict[Stage, int] = {"train": 0, "val": 1, "test": 2}


# ----------------------------------------------------------------------------------------- readers
def _gunzip(path: Path) -> bytearray:
    """All decompressed bytes of ``path``; a corrupt or truncated gzip is a DataValidationError."""
    out = bytearray()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_READ_CHUNK):
                out += chunk
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise DataValidationError(f"{path}: not a readable gzip file (truncated or corrupt?): {e}") from e
    return out


def read_idx(path: str | Path) -> np.ndarray:
    """Read a gzipped idx file (LeCun's MNIST format) as a uint8 array.

    Magic 2051 gives images (N, rows, cols), 2049 labels (N,). The header (big-endian int32 magic, then
    one int32 per dimension) and the payload length (the product of the dimensions, no trailing bytes)
    are checked; any mismatch, and a corrupt gzip stream, raise :class:`DataValidationError` naming
    ``path`` with the expected and actual values.
    """
    path = Path(path)
    data = _gunzip(path)
    if len(data) < 4:
        raise DataValidationError(
            f"{path}: too short for an idx header: expected >= 4 bytes, got {len(data)}"
        )
    magic = int.from_bytes(data[:4], "big")
    if magic not in _IDX_NDIM:
        raise DataValidationError(
            f"{path}: bad idx magic number: expected 2051 (uint8 images) or 2049 (uint8 labels), got {magic}"
        )
    ndim = _IDX_NDIM[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataValidationError(
            f"{path}: truncated idx header: magic {magic} needs {header} bytes, got {len(data)}"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected, got = math.prod(dims), len(data) - header
    if got < expected:
        raise DataValidationError(
            f"{path}: truncated idx payload: dims {dims} need {expected} bytes, got {got}"
        )
    if got > expected:
        raise DataValidationError(
            f"{path}: {got - expected} trailing bytes: dims {dims} need {expected} payload bytes, got {got}"
        )
    # a view of the bytearray (writable, no copy); the header bytes stay allocated in front of it
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_labelled_images(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """An idx image file and its label file: images uint8 (N, 28, 28) and labels uint8 (N,) in 0..9."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.shape[1:] != IMAGE_SHAPE[1:] or images.ndim != 3:
        raise DataValidationError(
            f"{images_path}: expected images of shape (N, 28, 28) (idx magic 2051), got {images.shape}"
        )
    if labels.ndim != 1:
        raise DataValidationError(
            f"{labels_path}: expected labels of shape (N,) (idx magic 2049), got {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataValidationError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    if len(labels) and labels.max() > 9:
        row = int(np.argmax(labels > 9))
        raise DataValidationError(f"{labels_path}: label {labels[row]} at index {row}; expected classes 0..9")
    return images, labels


def read_amat(path: str | Path) -> np.ndarray:
    """Read a gzipped ``.amat`` of binary images (one per line, 784 values ``0``/``1``) as uint8 (N, 28, 28).

    Parsed with numpy a block of lines at a time (50000 lines in well under a second): values are the
    non-blank characters of a line, which must be exactly 784 single ``0``/``1`` characters. A line with
    another count, or any other value, raises :class:`DataValidationError` naming ``path`` and the
    1-based line number.
    """
    path = Path(path)
    raw = _gunzip(path)
    end = len(raw)
    while end and raw[end - 1] in _WHITESPACE:  # trailing newline(s)
        end -= 1
    if end == 0:
        raise DataValidationError(f"{path}: no image rows (empty file)")
    text = np.frombuffer(raw, dtype=np.uint8, count=end)
    line_end = np.append(np.flatnonzero(text == ord("\n")), end)  # exclusive end of each line (N,)
    line_start = np.concatenate([[0], line_end[:-1] + 1])  # (N,)
    out = np.empty((len(line_end), _PIXELS), dtype=np.uint8)
    for first in range(0, len(line_end), _AMAT_BLOCK):
        last = min(first + _AMAT_BLOCK, len(line_end))
        offset = int(line_start[first])
        block = text[offset : int(line_end[last - 1])]
        out[first:last] = _parse_amat_block(
            block, line_start[first:last] - offset, line_end[first:last] - offset, path, first
        )
    return out.reshape(-1, *IMAGE_SHAPE[1:])


def _parse_amat_block(
    block: np.ndarray, starts: np.ndarray, ends: np.ndarray, path: Path, first_line: int
) -> np.ndarray:
    """Lines ``starts[i]:ends[i]`` of ``block`` (offsets) as a uint8 (n_lines, 784) array, validated."""
    filled = _IS_VALUE[block]  # value characters
    # a bad value: a character other than 0/1, or a value character right after another ("10", "0.5")
    bad = _IS_BAD[block]
    bad[1:] |= filled[1:] & filled[:-1]
    token_start = np.flatnonzero(filled & ~np.concatenate([[False], filled[:-1]]))
    if bad.any():
        at = int(np.argmax(bad))
        line = int(np.searchsorted(ends, at))  # the line whose end is at or after the bad character
        value_start = int(token_start[np.searchsorted(token_start, at, side="right") - 1])
        rest = filled[value_start:]
        value_end = value_start + (int(np.argmin(rest)) if not rest.all() else len(rest))
        value = bytes(block[value_start:value_end]).decode("latin-1")
        column = (
            int(np.searchsorted(token_start, value_start) - np.searchsorted(token_start, starts[line])) + 1
        )
        raise DataValidationError(
            f"{path}: line {first_line + line + 1}, value {column}: expected 0 or 1, got {value!r}"
        )
    counts = np.searchsorted(token_start, ends) - np.searchsorted(token_start, starts)  # values per line
    wrong = np.flatnonzero(counts != _PIXELS)
    if len(wrong):
        line = int(wrong[0])
        raise DataValidationError(
            f"{path}: line {first_line + line + 1} has {counts[line]} values, expected {_PIXELS} (28 x 28)"
        )
    return (block[token_start] - ord("0")).reshape(len(starts), _PIXELS)


def bernoulli_images(images: np.ndarray, rng: np.random.Generator, chunk: int = 10_000) -> np.ndarray:
    """One Bernoulli(pixel / 255) sample per pixel of uint8 ``images`` (N, ...), as uint8 0/1."""
    out = np.empty_like(images)
    for s in range(0, len(images), chunk):
        grey = images[s : s + chunk]
        out[s : s + chunk] = rng.random(grey.shape, dtype=np.float32) < grey / np.float32(255)
    return out


# ----------------------------------------------------------------------------------------- datasets
class ImageArrayDataset(Dataset[dict[str, torch.Tensor]]):
    """Images kept as uint8 (N, H, W), read as float32 ``x`` (1, H, W) per item or (B, 1, H, W) per batch.

    ``grey=True`` scales pixels to ``pixel / 255``; ``grey=False`` means they already are 0/1.
    Indexing with an int gives one example, with a sequence of ints one stacked batch (one gather),
    which is how the loaders read it.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, *, grey: bool) -> None:
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"ImageArrayDataset: {len(images)} images but {len(labels)} labels")
        self.images = torch.from_numpy(images)  # (N, H, W) uint8, shared with the numpy array
        self.labels = None if labels is None else torch.from_numpy(labels.astype(np.int64))  # (N,)
        self.grey = grey

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """Items ``indices`` stacked: ``x`` (B, 1, H, W) float32, ``label`` (B,) int64 when labelled."""
        index = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        x = self.images[index].unsqueeze(1).to(torch.float32)  # (B, 1, H, W)
        out = {"x": x.div_(255) if self.grey else x}
        if self.labels is not None:
            out["label"] = self.labels[index]
        return out

    def __getitem__(self, index: int | Sequence[int] | np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"image {index} out of range for {len(self)} images")
            return {k: v[0] for k, v in self.batch([int(index)]).items()}
        return self.batch(index)


class BatchOrder(Sampler[list[int]]):
    """Batches of indices into a dataset of ``n`` items, for ``DataLoader(sampler=..., batch_size=None)``.

    With ``shuffle`` the order is a permutation drawn from ``numpy.random.default_rng([seed, 0, epoch])``,
    a function of ``(seed, epoch)`` only: Lightning calls ``set_epoch`` before each epoch, so a run resumed
    from an end-of-epoch checkpoint sees the same order. Without it, ``0 .. n-1`` in order. The last
    batch may be short (nothing is dropped).
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, seed: int = 0) -> None:
        self.n, self.batch_size, self.shuffle, self.seed, self.epoch = n, batch_size, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, _ORDER, self.epoch]).permutation(self.n)
        else:
            order = np.arange(self.n)
        return (order[i : i + self.batch_size].tolist() for i in range(0, self.n, self.batch_size))


# ----------------------------------------------------------------------------------------- module
class ImageDataModule(pl.LightningDataModule):
    """28 x 28 grey-level or binary images for latent-variable models (the module docstring has the splits).

    Binarisation (``binarize``), for mnist and fashion_mnist:

    - ``"dynamic"``: every training batch is a fresh sample ``x ~ Bernoulli(pixel / 255)``, the stochastic
      binarisation of Salakhutdinov & Murray (2008) redrawn each time an image is seen, as in Burda,
      Grosse & Salakhutdinov (2016, IWAE). It is drawn in :meth:`on_after_batch_transfer`, so on the
      training device (the GPU when training there), from a ``torch.Generator`` per device, created
      lazily and seeded from ``(seed, epoch, global_rank)`` at the start of each epoch of each fit: the
      same seed gives the same samples, and a run resumed at an epoch boundary draws what the
      uninterrupted run would have (samples on CUDA differ from those on CPU). The loaders themselves
      yield ``pixel / 255``; outside a Trainer, every batch passed to the hook is treated as a training
      batch. Validation and test images are binarised **once** at setup with a generator seeded from
      ``seed``: a fixed evaluation set, so numbers are comparable across epochs and runs (the same
      sets as under ``"static"``).
    - ``"static"``: every split binarised once at setup from generators seeded by ``seed``.
    - ``None``: grey levels ``pixel / 255`` in [0, 1].

    binarized_mnist is already binary, one fixed sample (Larochelle & Murray 2011): ``binarize`` must be
    ``"static"`` or ``None``, which both use it as is; ``"dynamic"`` is an error.

    Lightning calls a datamodule's ``on_after_batch_transfer`` only when the LightningModule does not
    override that hook itself; a task that does must call this one. With ``val_size=0``,
    ``val_dataloader`` returns ``[]``: Lightning 2.6 then runs no validation (it warns once that the
    total length is zero).

    Args:
        dataset: "mnist", "fashion_mnist" or "binarized_mnist" (files from ``zoo.data.sources``).
        binarize: "dynamic", "static" or None (above).
        batch_size: training batch size.
        eval_batch_size: val/test batch size (None: ``batch_size``).
        val_size: images held out from the end of the training file (mnist, fashion_mnist: 0 .. 59999);
            for binarized_mnist 10000 (the official valid file) or 0 (no validation).
        seed: seeds the training order and every binarisation sample.
        num_workers: worker processes of the DataLoaders (0: load in the main process).
        pin_memory: the DataLoaders' ``pin_memory`` (page-locked batches for faster copies to the GPU).
    """

    def __init__(
        self,
        dataset: ImageDataset = "mnist",
        binarize: Binarize | None = "dynamic",
        batch_size: int = 100,
        eval_batch_size: int | None = None,
        val_size: int = 10_000,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        check_choice("dataset", dataset, ImageDataset)
        check_choice("binarize", binarize, Binarize | None)
        if dataset == "binarized_mnist":
            if binarize == "dynamic":
                raise ValueError(
                    "binarize='dynamic' draws fresh Bernoulli samples from grey levels, but binarized_mnist is "
                    "already binary (one fixed sample, Larochelle & Murray 2011): use binarize='static' or None "
                    "(both use the files as they are), or dataset='mnist' for dynamic binarisation"
                )
            if val_size not in (0, _BINARIZED_VAL):
                raise ValueError(
                    f"val_size must be {_BINARIZED_VAL} or 0 for binarized_mnist, got {val_size}: its split is "
                    "fixed by the official files (50000 train / 10000 valid / 10000 test); 0 trains on the "
                    "train file with no validation"
                )
        elif not 0 <= val_size < _IDX_TRAIN:
            raise ValueError(
                f"val_size must lie in [0, {_IDX_TRAIN - 1}] for {dataset} (validation is the tail of the "
                f"{_IDX_TRAIN}-image training file), got {val_size}"
            )
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.save_hyperparameters()
        self.dataset, self.binarize, self.val_size, self.seed = dataset, binarize, val_size, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.datasets: dict[Stage, ImageArrayDataset] = {}
        self._paths: dict[str, Path] = {}
        # per device: (trainer, epoch, rank) the generator was seeded for, and the generator
        self._generators: dict[torch.device, tuple[pl.Trainer | None, int, int, torch.Generator]] = {}

    # ----------------------------------------------------------------- what the CLI links into models
    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) = (1, 28, 28), known before ``setup``."""
        return IMAGE_SHAPE

    @property
    def has_labels(self) -> bool:
        """Whether batches carry ``label`` (binarized_mnist has none)."""
        return self.dataset != "binarized_mnist"

    @property
    def source_names(self) -> tuple[str, ...]:
        """The catalog entries (``zoo.data.sources``) this dataset reads."""
        if self.dataset == "binarized_mnist":
            return tuple(f"binarized_mnist-{split}" for split in ("train", "valid", "test"))
        return tuple(
            f"{self.dataset}-{part}"
            for part in ("train-images", "train-labels", "test-images", "test-labels")
        )

    @property
    def n_train(self) -> int:
        return self._count("train")

    @property
    def n_val(self) -> int:
        return self._count("val")

    @property
    def n_test(self) -> int:
        return self._count("test")

    def _count(self, name: Stage) -> int:
        if not self.datasets:
            raise RuntimeError(f"ImageDataModule.n_{name} is known after setup(); call setup() first")
        return len(self.datasets[name]) if name in self.datasets else 0

    # ----------------------------------------------------------------- Lightning hooks
    def prepare_data(self) -> None:
        """Resolve (download if needed, and verify) every file of the dataset."""
        self._resolve()

    def _resolve(self) -> dict[str, Path]:
        for name in self.source_names:
            if name not in self._paths:
                self._paths[name] = sources.resolve(name)
        return self._paths

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        paths = [self._resolve()[name] for name in self.source_names]
        if self.dataset == "binarized_mnist":
            train, valid, test = (read_amat(p) for p in paths)
            self.datasets = {
                "train": ImageArrayDataset(train, None, grey=False),
                "test": ImageArrayDataset(test, None, grey=False),
            }
            if self.val_size:
                self.datasets["val"] = ImageArrayDataset(valid, None, grey=False)
        else:
            self._setup_idx(*paths)
        log.info(
            "%s (binarize=%s): %d train, %d val, %d test images",
            self.dataset,
            self.binarize,
            self.n_train,
            self.n_val,
            self.n_test,
        )

    def _setup_idx(
        self, train_images: Path, train_labels: Path, test_images: Path, test_labels: Path
    ) -> None:
        images, labels = read_labelled_images(train_images, train_labels)
        n_fit = len(images) - self.val_size
        if n_fit < 1:
            raise ValueError(
                f"val_size={self.val_size} leaves no training images: {train_images} has {len(images)}"
            )
        test_x, test_y = read_labelled_images(test_images, test_labels)
        splits: dict[Stage, tuple[np.ndarray, np.ndarray]] = {
            "train": (images[:n_fit], labels[:n_fit]),
            "val": (images[n_fit:], labels[n_fit:]),
            "test": (test_x, test_y),
        }
        for name, (x, y) in splits.items():
            if name == "val" and not self.val_size:
                continue
            fixed = self.binarize == "static" or (self.binarize == "dynamic" and name != "train")
            if fixed:
                x = bernoulli_images(x, np.random.default_rng([self.seed, _FIXED, _SPLIT_STREAM[name]]))
            self.datasets[name] = ImageArrayDataset(x, y, grey=not fixed)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Dynamic binarisation of training batches, on the device they were moved to."""
        if self.binarize != "dynamic":
            return batch
        trainer = self.trainer
        if trainer is not None and not trainer.training:
            return batch
        x = batch["x"]
        return {**batch, "x": torch.bernoulli(x, generator=self._generator(x.device, trainer))}

    def _generator(self, device: torch.device, trainer: pl.Trainer | None) -> torch.Generator:
        """This device's generator, reseeded when the epoch, the rank or the Trainer changes."""
        epoch, rank = (trainer.current_epoch, trainer.global_rank) if trainer is not None else (0, 0)
        held = self._generators.get(device)
        if held is None or held[0] is not trainer or held[1:3] != (epoch, rank):
            generator = torch.Generator(device=device)
            generator.manual_seed(mix_seed(self.seed, epoch, rank))
            held = self._generators[device] = (trainer, epoch, rank, generator)
        return held[3]

    def _loader(self, name: Stage, *, train: bool) -> DataLoader:
        if not self.datasets:
            self.setup()
        dataset = self.datasets[name]
        batch_size = self.batch_size if train else self.eval_batch_size
        sampler: Sampler[list[int]] = (
            BatchOrder(len(dataset), batch_size, shuffle=True, seed=self.seed)
            if train  # Lightning shards it under DDP (DistributedSamplerWrapper)
            else EvalBatchSampler(len(dataset), batch_size, name=f"{self.dataset} {name} images")
        )  # eval: every image on exactly one process, unpadded (zoo.data.sampling)
        return DataLoader(
            dataset,
            sampler=sampler,
            batch_size=None,  # the sampler yields whole batches, fetched in one gather
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        """The validation loader, or ``[]`` when ``val_size=0`` (Lightning then skips validation)."""
        return self._loader("val", train=False) if self.val_size else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)
