"""Dataset catalog and file resolution for the whole data layer.

The catalog (``CATALOG``) maps a dataset name such as ``"ETTh1"`` to a :class:`DataSource`: the file's
path relative to a data root, its upstream URL, its sha256 and the time-series metadata (frequency,
split protocol, target column) that :mod:`zoo.data.timeseries` needs, and the image files that
:mod:`zoo.data.images` reads. Provenance of every file is in ``../shared/data/<dir>/SOURCE.md``.

:func:`resolve` turns a name into a local, verified file, trying in order:

1. ``$ZOO_DATA_DIR/<relpath>`` -- a directory the user (or CI) provides, same layout as the catalog;
2. ``cache_dir()/<relpath>`` -- earlier downloads, ``$ZOO_HOME/data`` (default ``~/.cache/zoo/data``);
3. a download from the upstream URL into the cache, unless ``ZOO_OFFLINE`` is ``1``/``true``/``yes``.

A file found locally whose sha256 differs from the catalog raises :class:`ChecksumError`; it is never
silently re-downloaded over. Downloads are atomic: bytes stream into a ``<name>.*.part`` file next to
the destination, are hashed, fsync'ed and only then ``os.replace``'d into place, so an interrupted or
corrupt download never leaves a file at the destination. Only the standard library is used.

``content_encoding="gzip"`` marks a file kept gzip-compressed locally although upstream serves it plain
(the binarized MNIST ``.amat`` files: 110 MB plain, 3 MB gzipped). Its ``sha256`` and ``size`` are those
of the *decompressed* content, so they match upstream's file and its published checksums; local copies
are verified by hashing the decompressed stream, and a download is hashed as it arrives and written
gzip-compressed (same ``.part`` / fsync / rename discipline). A local gzip that cannot be decompressed
is a :class:`ChecksumError` naming the file.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from zoo.choices import check_choice

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TRUE = {"1", "true", "yes"}

ContentEncoding = Literal["gzip"]


class DataSourceError(Exception):
    """Base class of every error raised while locating or fetching a dataset."""


class DatasetNotFoundError(DataSourceError, FileNotFoundError):
    """No local copy of a dataset, and it could not be downloaded (e.g. ``ZOO_OFFLINE`` is set)."""


class ChecksumError(DataSourceError, ValueError):
    """A file's sha256 differs from the catalog's."""


@dataclass(frozen=True)
class DataSource:
    """One catalog entry: where a dataset file lives locally and upstream, and how to check it.

    ``sha256`` and ``size`` describe the file's content: with ``content_encoding="gzip"`` the local file
    is gzip-compressed, upstream serves it plain, and both values are of the decompressed bytes.
    """

    name: str
    relpath: str
    url: str
    sha256: str
    size: int | None = None
    archive_member: str | None = None
    description: str = ""
    freq: str | None = None
    split: str | None = None
    target: str | None = None
    content_encoding: ContentEncoding | None = None

    def __post_init__(self) -> None:
        rel = PurePosixPath(self.relpath)
        if not self.relpath or rel.is_absolute() or ".." in rel.parts:
            msg = f"relpath must be relative and free of '..', got {self.relpath!r}"
            raise ValueError(f"DataSource {self.name!r}: {msg}")
        if self.sha256 and (len(self.sha256) != 64 or set(self.sha256) - set("0123456789abcdef")):
            msg = f"sha256 must be 64 lowercase hex digits (or empty), got {self.sha256!r}"
            raise ValueError(f"DataSource {self.name!r}: {msg}")
        check_choice(
            "content_encoding",
            self.content_encoding,
            ContentEncoding | None,
            owner=f"DataSource {self.name!r}",
        )
        if self.content_encoding is not None and self.archive_member is not None:
            msg = "archive_member and content_encoding cannot be combined"
            raise ValueError(f"DataSource {self.name!r}: {msg}")


# Upstream files pinned to the commits named in SOURCE.md, so the sha256 below stays valid.
_GH = "https://raw.githubusercontent.com"
_ETT = f"{_GH}/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small"
_LTF = f"{_GH}/aspire-zero/long_term_forecast_data/e9ac8b3ea5521219ece2b5d1baa7c09d4b6fd24a"
_M4 = f"{_GH}/Mcompetitions/M4-methods/6c1067e5a57161249b17289a565178dc7a3fb3ca/Dataset"
# The MNIST mirror torchvision downloads from (not yann.lecun.com), Fashion-MNIST's own bucket,
# and Larochelle's binarized MNIST (served as plain .amat, kept gzipped: content_encoding="gzip").
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
_BMNIST = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist"

# The paths inside the aspire-zero zips could not be read from here, so archive_member is the bare file
# name; _find_member also accepts a single member with that base name (e.g. "illness/national_illness.csv").
# One entry per block, laid out like a table.
# fmt: off
_ENTRIES: tuple[DataSource, ...] = (
    DataSource("ETTh1", "ett/ETTh1.csv", f"{_ETT}/ETTh1.csv",
               "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066", 2_589_657,
               description="Electricity Transformer Temperature, station 1, hourly (Informer, AAAI 2021)",
               freq="h", split="ett_hour", target="OT"),
    DataSource("ETTh2", "ett/ETTh2.csv", f"{_ETT}/ETTh2.csv",
               "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b", 2_417_960,
               description="Electricity Transformer Temperature, station 2, hourly (Informer, AAAI 2021)",
               freq="h", split="ett_hour", target="OT"),
    DataSource("ETTm1", "ett/ETTm1.csv", f"{_ETT}/ETTm1.csv",
               "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e", 10_360_719,
               description="Electricity Transformer Temperature, station 1, 15-minute (Informer, AAAI 2021)",
               freq="15min", split="ett_minute", target="OT"),
    DataSource("ETTm2", "ett/ETTm2.csv", f"{_ETT}/ETTm2.csv",
               "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd", 9_677_236,
               description="Electricity Transformer Temperature, station 2, 15-minute (Informer, AAAI 2021)",
               freq="15min", split="ett_minute", target="OT"),
    DataSource("exchange_rate", "exchange_rate/exchange_rate.csv", f"{_LTF}/exchange_rate.zip",
               "48b4d9d3d508f5104162e85b9a6042e3557fde11aa9f2944eba8c0d0efc89842", 637_800,
               archive_member="exchange_rate.csv",
               description="Daily exchange rates of 8 countries 1990-2010 (LSTNet; Autoformer CSV)",
               freq="D", split="ratio_70_10_20", target="OT"),
    DataSource("illness", "illness/national_illness.csv", f"{_LTF}/illness.zip",
               "93601f64d2566dc796ca4305adad8b8560c2db1a1ff04543c3bd813a7263570a", 67_620,
               archive_member="national_illness.csv",
               description="US CDC ILINet weekly influenza-like illness 2002-2020 (Autoformer CSV)",
               freq="W", split="ratio_70_10_20", target="OT"),
    DataSource("weather", "weather/weather.csv", f"{_LTF}/weather.zip",
               "34ee981d07313e51da2a50bb600072c8ae4a69cb4b0651f4cb93a069d7a2ba63", 7_235_425,
               archive_member="weather.csv",
               description="Jena weather station, 21 indicators every 10 minutes in 2020 (Autoformer CSV)",
               freq="10min", split="ratio_70_10_20", target="OT"),
    # M4 competition (Makridakis et al., IJF 2020): wide, ragged CSVs read by zoo.data.m4, not tables.
    DataSource("M4-Hourly-train", "m4/Hourly-train.csv", f"{_M4}/Train/Hourly-train.csv",
               "ea59b7783573c49077a835ab6465c7d66f1474783360f310988a9a737fbca62f", 2_347_115,
               description="M4 Hourly training series H1..H414, 700-960 values each (M4, IJF 2020)"),
    DataSource("M4-Hourly-test", "m4/Hourly-test.csv", f"{_M4}/Test/Hourly-test.csv",
               "71a57fccb15e534d973626ada4fb87febf789e9317715b7cc6dd3b5f90db6f42", 132_820,
               description="M4 Hourly test values, 48 per series (M4, IJF 2020)"),
    DataSource("M4-Weekly-train", "m4/Weekly-train.csv", f"{_M4}/Train/Weekly-train.csv",
               "d478d3f6ed673e6ed3c2cb0fbed5425f72eedd51318ebebeb0b5ecfcefc37714", 4_015_067,
               description="M4 Weekly training series W1..W359, 80-2597 values each (M4, IJF 2020)"),
    DataSource("M4-Weekly-test", "m4/Weekly-test.csv", f"{_M4}/Test/Weekly-test.csv",
               "3b2bc4be8e636e802260dcd843ca3c5da40536a1fbe1ecb3229a97dae4f44688", 44_247,
               description="M4 Weekly test values, 13 per series (M4, IJF 2020)"),
    DataSource("M4-Yearly-test", "m4/Yearly-test.csv", f"{_M4}/Test/Yearly-test.csv",
               "6dc2dd45b3af320389e2d3735cb4b3cdf320b63cbcda15d1a17193ab99702306", 1_486_434,
               description="M4 Yearly test values Y1..Y23000, 6 per series (M4, IJF 2020)"),
    # A row filter (ids H*, W*, Y*) of the official submission-Naive2.rar; no upstream file to download.
    DataSource("M4-Naive2-HWY", "m4/submission-Naive2-HWY.csv", "",
               "3889d87e604c4190a3acc442f1c4add4be960fc9559e22964925e0feb2f3167e", 4_362_170,
               description="M4 official Naive2 forecasts for the Hourly, Weekly and Yearly series (M4, IJF 2020)"),
    # MNIST (LeCun et al. 1998), idx files read by zoo.data.images; sizes are of the .gz files.
    DataSource("mnist-train-images", "mnist/train-images-idx3-ubyte.gz", f"{_MNIST}/train-images-idx3-ubyte.gz",
               "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9_912_422,
               description="MNIST training images, 60000 x 28x28 uint8 (idx3, gzip)"),
    DataSource("mnist-train-labels", "mnist/train-labels-idx1-ubyte.gz", f"{_MNIST}/train-labels-idx1-ubyte.gz",
               "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28_881,
               description="MNIST training labels, 60000 digits 0-9 (idx1, gzip)"),
    DataSource("mnist-test-images", "mnist/t10k-images-idx3-ubyte.gz", f"{_MNIST}/t10k-images-idx3-ubyte.gz",
               "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1_648_877,
               description="MNIST test images, 10000 x 28x28 uint8 (idx3, gzip)"),
    DataSource("mnist-test-labels", "mnist/t10k-labels-idx1-ubyte.gz", f"{_MNIST}/t10k-labels-idx1-ubyte.gz",
               "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4_542,
               description="MNIST test labels, 10000 digits 0-9 (idx1, gzip)"),
    # Fashion-MNIST (Xiao, Rasul, Vollgraf 2017), same idx layout as MNIST.
    DataSource("fashion_mnist-train-images", "fashion-mnist/train-images-idx3-ubyte.gz",
               f"{_FASHION}/train-images-idx3-ubyte.gz",
               "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26_421_880,
               description="Fashion-MNIST training images, 60000 x 28x28 uint8 (idx3, gzip)"),
    DataSource("fashion_mnist-train-labels", "fashion-mnist/train-labels-idx1-ubyte.gz",
               f"{_FASHION}/train-labels-idx1-ubyte.gz",
               "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29_515,
               description="Fashion-MNIST training labels, 60000 classes 0-9 (idx1, gzip)"),
    DataSource("fashion_mnist-test-images", "fashion-mnist/t10k-images-idx3-ubyte.gz",
               f"{_FASHION}/t10k-images-idx3-ubyte.gz",
               "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4_422_102,
               description="Fashion-MNIST test images, 10000 x 28x28 uint8 (idx3, gzip)"),
    DataSource("fashion_mnist-test-labels", "fashion-mnist/t10k-labels-idx1-ubyte.gz",
               f"{_FASHION}/t10k-labels-idx1-ubyte.gz",
               "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5_148,
               description="Fashion-MNIST test labels, 10000 classes 0-9 (idx1, gzip)"),
    # Statically binarized MNIST (Larochelle & Murray 2011): sha256 and size of the plain .amat content.
    DataSource("binarized_mnist-train", "binarized-mnist/binarized_mnist_train.amat.gz",
               f"{_BMNIST}/binarized_mnist_train.amat",
               "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d", 78_400_000,
               description="Binarized MNIST training images, 50000 x 784 values 0/1 (amat text)",
               content_encoding="gzip"),
    DataSource("binarized_mnist-valid", "binarized-mnist/binarized_mnist_valid.amat.gz",
               f"{_BMNIST}/binarized_mnist_valid.amat",
               "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2", 15_680_000,
               description="Binarized MNIST validation images, 10000 x 784 values 0/1 (amat text)",
               content_encoding="gzip"),
    DataSource("binarized_mnist-test", "binarized-mnist/binarized_mnist_test.amat.gz",
               f"{_BMNIST}/binarized_mnist_test.amat",
               "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c", 15_680_000,
               description="Binarized MNIST test images, 10000 x 784 values 0/1 (amat text)",
               content_encoding="gzip"),
)
# fmt: on

CATALOG: dict[str, DataSource] = {s.name: s for s in _ENTRIES}


def register_source(source: DataSource, *, overwrite: bool = False) -> None:
    """Add ``source`` to :data:`CATALOG`; names are unique case-insensitively."""
    clash = [k for k in CATALOG if k.lower() == source.name.lower()]
    if clash and not overwrite:
        raise ValueError(f"dataset {clash[0]!r} is already registered; pass overwrite=True to replace it")
    for k in clash:
        del CATALOG[k]
    CATALOG[source.name] = source


def get_source(name: str) -> DataSource:
    """Catalog entry for ``name`` (case-insensitive); unknown names raise KeyError with suggestions."""
    by_lower = {k.lower(): v for k, v in CATALOG.items()}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    if Path(name).expanduser().is_dir():
        files = sorted(
            p.name for p in Path(name).expanduser().iterdir() if p.suffix.lower() in (".csv", ".parquet")
        )
        inside = f" (it holds {', '.join(files[:5])})" if files else ""
        raise ValueError(f"dataset {name!r} is a directory{inside}; give one .csv or .parquet file")
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(by_lower[c].name) for c in close)}?" if close else ""
    raise KeyError(f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(list_sources())}")


def list_sources() -> list[str]:
    """Sorted names of all catalog entries."""
    return sorted(CATALOG)


def data_dir() -> Path | None:
    """``$ZOO_DATA_DIR`` as an absolute path (relative values are taken from the cwd), or None."""
    value = os.environ.get("ZOO_DATA_DIR", "").strip()
    return Path(value).expanduser().absolute() if value else None


def zoo_home() -> Path:
    """``$ZOO_HOME``, by default ``~/.cache/zoo``: the cache of downloaded data and pretrained weights."""
    home = os.environ.get("ZOO_HOME", "").strip()
    return Path(home).expanduser() if home else Path.home() / ".cache" / "zoo"


def cache_dir() -> Path:
    """Download cache: ``$ZOO_HOME/data``, by default ``~/.cache/zoo/data``."""
    return zoo_home() / "data"


def offline() -> bool:
    """True when ``ZOO_OFFLINE`` is ``1``, ``true`` or ``yes`` (any case): never touch the network."""
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in _TRUE


def sha256sum(path: Path, chunk_size: int = _CHUNK) -> str:
    """Hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha256(path: Path, content_encoding: ContentEncoding | None = None) -> str:
    """Hex sha256 of the file's content: its bytes, or with ``"gzip"`` its decompressed stream.

    A gzip file that cannot be decompressed (truncated, corrupt, not gzip) raises :class:`ChecksumError`.
    """
    if content_encoding is None:
        return sha256sum(path)
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ChecksumError(f"{path} is not a readable gzip file (truncated or corrupt?): {e}") from e
    return digest.hexdigest()


def _copy_hashed(src: IO[bytes], dst: IO[bytes]) -> tuple[str, int]:
    """Stream ``src`` into ``dst``; return (sha256 hex, byte count)."""
    digest, n = hashlib.sha256(), 0
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        dst.write(chunk)
        n += len(chunk)
    return digest.hexdigest(), n


def _check(path: Path, expected: str | None, actual: str, note: str = "") -> None:
    if expected and actual != expected:
        raise ChecksumError(f"sha256 mismatch for {path}{note}: expected {expected}, got {actual}")


def _find_member(zf: zipfile.ZipFile, member: str, url: str) -> zipfile.ZipInfo:
    """The zip entry ``member``, or else the only entry with that base name."""
    infos = [i for i in zf.infolist() if not i.is_dir()]
    exact = [i for i in infos if i.filename == member]
    by_base = [i for i in infos if PurePosixPath(i.filename).name == PurePosixPath(member).name]
    found = exact or (by_base if len(by_base) == 1 else [])
    if not found:
        names = ", ".join(i.filename for i in infos) or "(empty archive)"
        raise DataSourceError(f"member {member!r} not found in the archive at {url}; members: {names}")
    return found[0]


def _write_atomic(
    dest: Path,
    src: IO[bytes],
    sha256: str | None,
    origin: str,
    expected_len: int | None = None,
    content_encoding: ContentEncoding | None = None,
) -> None:
    """Stream ``src`` into a ``.part`` file beside ``dest``, verify, fsync, then rename onto ``dest``.

    With ``content_encoding="gzip"`` the bytes of ``src`` are hashed and counted as they are read and
    written gzip-compressed (mtime 0, so the same content gives the same file).
    """
    part: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=dest.parent, prefix=f"{dest.name}.", suffix=".part", delete=False
        ) as tmp:
            part = Path(tmp.name)
            if content_encoding == "gzip":
                stored_name = dest.name.removesuffix(".gz")
                with gzip.GzipFile(stored_name, "wb", compresslevel=6, fileobj=tmp, mtime=0) as gz:
                    actual, n = _copy_hashed(src, gz)  # closing gz writes the trailer, not closing tmp
            else:
                actual, n = _copy_hashed(src, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        if expected_len is not None and n != expected_len:
            raise DataSourceError(f"truncated download of {origin}: got {n} of {expected_len} bytes")
        _check(dest, sha256, actual, f" (downloaded from {origin}; not saved)")
        os.replace(part, dest)
    except BaseException:
        if part is not None:
            part.unlink(missing_ok=True)
        raise


def _fetch(
    url: str, dest: Path, sha256: str | None, timeout: float, content_encoding: ContentEncoding | None = None
) -> None:
    """HTTP(S) GET ``url`` into ``dest`` atomically, as a DataSourceError on network failure."""
    request = urllib.request.Request(url, headers={"User-Agent": "zoo-data/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected_len = int(length) if length and length.isdigit() else None
            _write_atomic(dest, response, sha256, url, expected_len, content_encoding)
    except urllib.error.HTTPError as e:
        e.close()  # an HTTPError holds the open response; don't leak its socket
        raise DataSourceError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise DataSourceError(f"download of {url} failed: {reason}") from e


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    archive_member: str | None = None,
    content_encoding: ContentEncoding | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically and return ``dest``.

    With ``archive_member``, ``url`` is a zip: only that member is extracted to ``dest`` (the zip is
    removed afterwards) and ``sha256`` applies to the member. With ``content_encoding="gzip"``, the
    plain file at ``url`` is stored gzip-compressed and ``sha256`` applies to the plain bytes. On any
    failure nothing is left behind and an existing ``dest`` is untouched.
    """
    if archive_member is not None and content_encoding is not None:
        raise ValueError("download: archive_member and content_encoding cannot be combined")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if archive_member is None:
        _fetch(url, dest, sha256, timeout, content_encoding)
        return dest
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f"{dest.name}.", suffix=".zip.part")
    os.close(fd)
    archive = Path(name)
    try:
        _fetch(url, archive, None, timeout)
        try:
            zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile as e:
            raise DataSourceError(f"{url} is not a valid zip archive: {e}") from e
        with zf, zf.open(_find_member(zf, archive_member, url)) as member:
            _write_atomic(dest, member, sha256, f"{url}!{archive_member}")
    finally:
        archive.unlink(missing_ok=True)
    return dest


def resolve(source: str | DataSource, *, verify: bool = True) -> Path:
    """Local path of a catalog dataset: ``$ZOO_DATA_DIR`` -> cache -> download (see module docs)."""
    src = get_source(source) if isinstance(source, str) else source
    root = data_dir()
    candidates = [(root / src.relpath, "ZOO_DATA_DIR")] if root else []
    candidates.append((cache_dir() / src.relpath, "cache"))
    for path, origin in candidates:
        if path.is_file():
            if verify:
                note = " (sha256 of the gzip-decompressed content)" if src.content_encoding else ""
                _check(path, src.sha256, content_sha256(path, src.content_encoding), note)
            logger.info("dataset %s: using %s (%s)", src.name, path, origin)
            return path
    if offline() or not src.url:
        searched = "".join(f"\n  - {p} ({why})" for p, why in candidates)
        if root is None:
            searched += "\n  (ZOO_DATA_DIR is not set)"
        fix = f"set ZOO_DATA_DIR to a directory that holds {src.relpath}"
        if src.url:
            why = "ZOO_OFFLINE is set, so it was not downloaded"
            fix += f", or unset ZOO_OFFLINE to download it from {src.url}"
        else:
            why = "the catalog has no download URL for it"
        raise DatasetNotFoundError(
            f"dataset {src.name!r} ({src.relpath}) not found; searched:{searched}\n{why}. To fix: {fix}"
        )
    dest = candidates[-1][0]
    logger.info("dataset %s: downloading %s -> %s", src.name, src.url, dest)
    download(
        src.url,
        dest,
        sha256=src.sha256 if verify else None,
        archive_member=src.archive_member,
        content_encoding=src.content_encoding,
    )
    return dest
