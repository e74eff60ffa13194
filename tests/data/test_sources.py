"""Tests for zoo.data.sources: catalog lookup, resolution order, atomic downloads.

Downloads go to a real HTTP server on 127.0.0.1 serving a temporary directory, or to ``file://`` URLs;
nothing else is reached. The real catalog is checked against ``$ZOO_DATA_DIR`` when the environment sets it (CI does).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import pytest

from zoo.data import sources
from zoo.data.sources import (
    CATALOG,
    ChecksumError,
    DatasetNotFoundError,
    DataSource,
    DataSourceError,
    cache_dir,
    content_sha256,
    data_dir,
    download,
    get_source,
    list_sources,
    offline,
    register_source,
    resolve,
    sha256sum,
)

# Read before the autouse fixture below clears it for every test.
_ENV_DATA_DIR = os.environ.get("ZOO_DATA_DIR")
_TIME_SERIES = ["ETTh1", "ETTh2", "ETTm1", "ETTm2", "exchange_rate", "illness", "weather"]
_IMAGE_PREFIXES = ("mnist-", "fashion_mnist-", "binarized_mnist-")
_IDX_PARTS = ["train-images", "train-labels", "test-images", "test-labels"]
_IMAGES = [f"{d}-{p}" for d in ("mnist", "fashion_mnist") for p in _IDX_PARTS] + [
    f"binarized_mnist-{split}" for split in ("train", "valid", "test")
]
PAYLOAD = b"date,a,OT\n2020-01-01 00:00:00,1.0,2.0\n2020-01-01 01:00:00,3.0,4.0\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Served:
    root: Path
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))
    saved = dict(CATALOG)
    yield
    CATALOG.clear()
    CATALOG.update(saved)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    root = tmp_path / "served"
    root.mkdir()
    release = threading.Event()
    served = Served(root, "")

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            served.hits.append(self.path)
            if self.path.startswith(("/stall", "/short")):
                # Promise 1000 bytes, send 10, then stall (past the client's timeout) or hang up.
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(PAYLOAD[:10])
                self.wfile.flush()
                if self.path.startswith("/stall"):
                    release.wait(5)  # released at teardown
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval keeps shutdown() (which waits for the next poll) fast.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield served
    release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()) if path.exists() else []


def _serve_file(server: Served, name: str = "data.csv", data: bytes = PAYLOAD) -> str:
    (server.root / name).write_bytes(data)
    return f"{server.url}/{name}"


def _register(url: str, sha256: str = _sha(PAYLOAD), **kwargs: object) -> DataSource:
    source = DataSource("tiny", "tiny/data.csv", url, sha256, **kwargs)  # type: ignore[arg-type]
    register_source(source, overwrite=True)
    return source


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# -- downloads ------------------------------------------------------------------------------------


def test_download_lands_in_cache_and_is_reused(server: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    _register(_serve_file(server))
    path = resolve("tiny")
    assert path == cache_dir() / "tiny" / "data.csv"
    assert path.read_bytes() == PAYLOAD
    assert server.hits == ["/data.csv"]
    assert _files(cache_dir()) == ["tiny/data.csv"]  # no *.part left over

    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert resolve("TINY") == path
    assert server.hits == ["/data.csv"]  # served from the cache, no second request


def test_checksum_mismatch_on_download_leaves_nothing(server: Served) -> None:
    wrong = "0" * 64
    _register(_serve_file(server), sha256=wrong)
    with pytest.raises(ChecksumError) as info:
        resolve("tiny")
    message = str(info.value)
    assert wrong in message and _sha(PAYLOAD) in message
    assert str(cache_dir() / "tiny" / "data.csv") in message
    assert _files(cache_dir()) == []


def test_http_404_names_url_and_leaves_nothing(server: Served) -> None:
    url = f"{server.url}/missing.csv"
    _register(url)
    with pytest.raises(DataSourceError, match="404") as info:
        resolve("tiny")
    assert url in str(info.value)
    assert _files(cache_dir()) == []


def test_failed_download_never_touches_existing_dest(server: Served, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "data.csv"
    dest.parent.mkdir()
    dest.write_bytes(b"precious")
    with pytest.raises(ChecksumError):
        download(_serve_file(server), dest, sha256="f" * 64)
    assert dest.read_bytes() == b"precious"
    assert _files(dest.parent) == ["data.csv"]


@pytest.mark.parametrize("path", ["/stall.csv", "/short.csv"])
def test_stalled_or_truncated_transfer_leaves_nothing(server: Served, tmp_path: Path, path: str) -> None:
    dest = tmp_path / "out" / "data.csv"
    with pytest.raises(DataSourceError, match=path):
        download(f"{server.url}{path}", dest, timeout=0.2)
    assert _files(dest.parent) == []


def test_interrupt_before_rename_leaves_nothing(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sources.os, "replace", interrupted)
    dest = tmp_path / "out" / "data.csv"
    with pytest.raises(KeyboardInterrupt):
        download(_serve_file(server), dest, sha256=_sha(PAYLOAD))
    assert _files(dest.parent) == []


def test_download_without_sha256_and_to_a_fresh_directory(server: Served, tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "data.csv"
    assert download(_serve_file(server), dest) == dest
    assert dest.read_bytes() == PAYLOAD


# -- zip archives ---------------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["tiny/data.csv", "data.csv"])
def test_zip_member_is_extracted_and_zip_removed(server: Served, member: str) -> None:
    archive = _zip_bytes({"tiny/data.csv": PAYLOAD, "tiny/other.csv": b"x", "__MACOSX/._data.csv": b"junk"})
    _register(_serve_file(server, "bundle.zip", archive), archive_member=member)
    path = resolve("tiny")
    assert path.read_bytes() == PAYLOAD
    assert _files(cache_dir()) == ["tiny/data.csv"]  # neither the zip nor any *.part remains


def test_zip_missing_member_lists_members(server: Served) -> None:
    archive = _zip_bytes({"a/one.csv": b"1", "b/two.csv": b"2"})
    _register(_serve_file(server, "bundle.zip", archive), archive_member="data.csv")
    with pytest.raises(DataSourceError, match="'data.csv' not found") as info:
        resolve("tiny")
    assert "a/one.csv" in str(info.value) and "b/two.csv" in str(info.value)
    assert _files(cache_dir()) == []


def test_zip_ambiguous_base_name_is_an_error(server: Served) -> None:
    archive = _zip_bytes({"a/data.csv": PAYLOAD, "b/data.csv": PAYLOAD})
    _register(_serve_file(server, "bundle.zip", archive), archive_member="data.csv")
    with pytest.raises(DataSourceError, match="not found"):
        resolve("tiny")
    assert _files(cache_dir()) == []


def test_zip_member_checksum_mismatch(server: Served) -> None:
    archive = _zip_bytes({"data.csv": b"tampered"})
    _register(_serve_file(server, "bundle.zip", archive), archive_member="data.csv")
    with pytest.raises(ChecksumError, match=_sha(b"tampered")):
        resolve("tiny")
    assert _files(cache_dir()) == []


def test_not_a_zip(server: Served) -> None:
    _register(_serve_file(server, "bundle.zip", b"<html>not a zip</html>"), archive_member="data.csv")
    with pytest.raises(DataSourceError, match="not a valid zip"):
        resolve("tiny")
    assert _files(cache_dir()) == []


# -- resolution order -----------------------------------------------------------------------------


def test_data_dir_wins_over_cache_and_corruption_is_reported(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _register(_serve_file(server))
    root = tmp_path / "shared"
    local = root / "tiny" / "data.csv"
    local.parent.mkdir(parents=True)
    local.write_bytes(PAYLOAD)
    cached = cache_dir() / "tiny" / "data.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stale cache, never looked at")
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))

    with caplog.at_level(logging.INFO, logger="zoo.data.sources"):
        assert resolve("tiny") == local
    assert "ZOO_DATA_DIR" in caplog.text

    local.write_bytes(PAYLOAD + b"garbage")
    with pytest.raises(ChecksumError) as info:
        resolve("tiny")
    assert str(local) in str(info.value)
    assert _sha(PAYLOAD) in str(info.value) and sha256sum(local) in str(info.value)
    assert resolve("tiny", verify=False) == local
    assert local.read_bytes() == PAYLOAD + b"garbage"  # the user's file is not replaced
    assert server.hits == []


def test_corrupt_cache_is_not_redownloaded(server: Served) -> None:
    _register(_serve_file(server))
    cached = cache_dir() / "tiny" / "data.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    with pytest.raises(ChecksumError, match=str(cached)):
        resolve("tiny")
    assert cached.read_bytes() == b"truncated"
    assert server.hits == []


def test_relative_data_dir_is_taken_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rel" / "tiny").mkdir(parents=True)
    (tmp_path / "rel" / "tiny" / "data.csv").write_bytes(PAYLOAD)
    _register("http://127.0.0.1:9/unused.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_DATA_DIR", "rel")
    assert data_dir() == tmp_path / "rel"
    assert resolve("tiny") == tmp_path / "rel" / "tiny" / "data.csv"


@pytest.mark.parametrize("with_data_dir", [False, True])
def test_offline_without_local_copy(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_data_dir: bool
) -> None:
    url = _serve_file(server)
    _register(url)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    if with_data_dir:
        monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DatasetNotFoundError) as info:
        resolve("tiny")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "'tiny'" in message and str(cache_dir() / "tiny" / "data.csv") in message
    if with_data_dir:
        assert str(tmp_path / "empty" / "tiny" / "data.csv") in message
    else:
        assert "ZOO_DATA_DIR is not set" in message
    assert "ZOO_DATA_DIR" in message and "unset ZOO_OFFLINE" in message and url in message
    assert server.hits == []


def test_no_url_and_no_local_copy() -> None:
    _register("")
    with pytest.raises(DatasetNotFoundError, match="no download URL"):
        resolve("tiny")


# -- catalog and environment ----------------------------------------------------------------------


def test_lookup_is_case_insensitive_and_unknown_names_suggest() -> None:
    assert get_source("etth1") is CATALOG["ETTh1"]
    assert get_source("WEATHER").name == "weather"
    with pytest.raises(KeyError) as info:
        get_source("ETTh3")
    message = str(info.value)
    assert "Did you mean" in message and "'ETTh1'" in message and "'ETTh2'" in message
    assert "exchange_rate" in message  # the full list of known names
    with pytest.raises(KeyError, match="Known datasets"):
        get_source("zzzzzz")


def test_register_source_rejects_duplicates() -> None:
    entry = DataSource("etth1", "x/etth1.csv", "", "")
    with pytest.raises(ValueError, match="already registered"):
        register_source(entry)
    register_source(entry, overwrite=True)
    assert get_source("ETTh1") is entry
    assert "ETTh1" not in CATALOG and "etth1" in list_sources()


@pytest.mark.parametrize(
    "kwargs",
    [{"relpath": "/abs/data.csv"}, {"relpath": "../up.csv"}, {"relpath": ""}, {"sha256": "abc"}],
)
def test_datasource_validation(kwargs: dict[str, str]) -> None:
    fields = {"name": "bad", "relpath": "ok/data.csv", "url": "", "sha256": _sha(b"")} | kwargs
    with pytest.raises(ValueError, match="bad"):
        DataSource(**fields)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("no", False), ("", False)],
)
def test_offline_flag(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", value)
    assert offline() is expected


def test_cache_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "h"))
    assert cache_dir() == tmp_path / "h" / "data"
    monkeypatch.delenv("ZOO_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "zoo" / "data"
    assert data_dir() is None


def test_catalog_time_series_metadata() -> None:
    assert [n for n in list_sources() if not n.startswith(("M4-", *_IMAGE_PREFIXES))] == sorted(_TIME_SERIES)
    for name in _TIME_SERIES:
        entry = CATALOG[name]
        assert entry.target == "OT" and entry.url.startswith("https://")
        assert entry.freq in {"h", "15min", "10min", "D", "W"}
        assert entry.split in {"ett_hour", "ett_minute", "ratio_70_10_20"}
        assert (entry.archive_member is not None) == entry.url.endswith(".zip")
    assert CATALOG["ETTm1"].split == "ett_minute" and CATALOG["illness"].freq == "W"


@pytest.mark.parametrize("name", _TIME_SERIES)
def test_real_catalog_resolves_from_data_dir(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _ENV_DATA_DIR:
        pytest.skip("ZOO_DATA_DIR is not set (CI sets it to ../shared/data)")
    monkeypatch.setenv("ZOO_DATA_DIR", _ENV_DATA_DIR)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    entry = get_source(name)
    path = resolve(name)  # verifies the sha256
    assert path == data_dir() / entry.relpath
    assert path.stat().st_size == entry.size


# -- content_encoding="gzip": kept gzipped locally, plain upstream, sha256 of the content ----------------


def _register_gz(url: str, sha256: str = _sha(PAYLOAD)) -> DataSource:
    source = DataSource("tiny_gz", "tiny/data.csv.gz", url, sha256, len(PAYLOAD), content_encoding="gzip")
    register_source(source, overwrite=True)
    return source


def _local_gz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> Path:
    root = tmp_path / "shared"
    local = root / "tiny" / "data.csv.gz"
    local.parent.mkdir(parents=True)
    local.write_bytes(data)
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    return local


def test_gzip_local_copy_is_verified_by_content_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_CHUNK", 7)  # hash the decompressed stream in many pieces
    _register_gz("http://127.0.0.1:9/unused.csv")
    local = _local_gz(tmp_path, monkeypatch, gzip.compress(PAYLOAD, mtime=0))
    assert sha256sum(local) != _sha(PAYLOAD)  # the catalog hash is not the file's own
    assert content_sha256(local, "gzip") == _sha(PAYLOAD)
    assert resolve("tiny_gz") == local

    local.write_bytes(gzip.compress(PAYLOAD + b"x"))  # a valid gzip of other content
    with pytest.raises(ChecksumError, match="decompressed") as info:
        resolve("tiny_gz")
    assert str(local) in str(info.value) and _sha(PAYLOAD + b"x") in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "not_gzip"])
def test_corrupt_local_gzip_is_a_checksum_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    good = gzip.compress(PAYLOAD * 50, mtime=0)
    data = {
        "truncated": good[: len(good) // 2],
        "flipped": good[:20] + bytes(b ^ 0xFF for b in good[20:40]) + good[40:],
        "not_gzip": PAYLOAD,
    }[damage]
    _register_gz("http://127.0.0.1:9/unused.csv", sha256=_sha(PAYLOAD * 50))
    local = _local_gz(tmp_path, monkeypatch, data)
    with pytest.raises(ChecksumError, match="not a readable gzip file") as info:
        resolve("tiny_gz")
    assert str(local) in str(info.value)
    assert local.read_bytes() == data  # never replaced


@pytest.mark.parametrize("via", ["http", "file"])
def test_gzip_download_fetches_plain_and_stores_gzip(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    monkeypatch.setattr(sources, "_CHUNK", 7)
    url = _serve_file(server)
    if via == "file":
        url = (server.root / "data.csv").as_uri()
    _register_gz(url)
    path = resolve("tiny_gz")
    assert path == cache_dir() / "tiny" / "data.csv.gz"
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip magic
    assert gzip.decompress(path.read_bytes()) == PAYLOAD
    assert _files(cache_dir()) == ["tiny/data.csv.gz"]  # no *.part left over
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert resolve("tiny_gz") == path  # the cached copy verifies by its content hash
    assert server.hits == ([] if via == "file" else ["/data.csv"])


def test_gzip_download_checksum_mismatch_leaves_nothing(server: Served) -> None:
    _register_gz(_serve_file(server), sha256="0" * 64)
    with pytest.raises(ChecksumError, match=_sha(PAYLOAD)):
        resolve("tiny_gz")
    assert _files(cache_dir()) == []


def test_gzip_download_interrupted_leaves_nothing(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sources.os, "replace", interrupted)
    dest = tmp_path / "out" / "data.csv.gz"
    with pytest.raises(KeyboardInterrupt):
        download(_serve_file(server), dest, sha256=_sha(PAYLOAD), content_encoding="gzip")
    assert _files(dest.parent) == []


def test_gzip_download_via_monkeypatched_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(PAYLOAD))}

    def fake_urlopen(request: object, timeout: float) -> Response:
        return Response(PAYLOAD)

    monkeypatch.setattr(sources.urllib.request, "urlopen", fake_urlopen)
    dest = tmp_path / "out" / "data.csv.gz"
    download("https://example.invalid/data.csv", dest, sha256=_sha(PAYLOAD), content_encoding="gzip")
    with gzip.open(dest) as f:
        assert f.read() == PAYLOAD
    assert _files(dest.parent) == ["data.csv.gz"]


def test_content_encoding_validation() -> None:
    with pytest.raises(ValueError, match="content_encoding"):
        DataSource("bad", "ok/data.csv", "", "", content_encoding="zstd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot be combined"):
        DataSource("bad", "ok/data.csv", "", "", archive_member="a.csv", content_encoding="gzip")
    with pytest.raises(ValueError, match="cannot be combined"):
        download("http://127.0.0.1:9/x.zip", Path("unused"), archive_member="a.csv", content_encoding="gzip")


def test_catalog_image_entries() -> None:
    assert [n for n in list_sources() if n.startswith(_IMAGE_PREFIXES)] == sorted(_IMAGES)
    for name in _IMAGES:
        entry = CATALOG[name]
        binarized = name.startswith("binarized_mnist-")
        assert entry.content_encoding == ("gzip" if binarized else None)
        assert entry.relpath.endswith(".gz") and entry.size and len(entry.sha256) == 64
        upstream = PurePosixPath(entry.url).name
        assert PurePosixPath(entry.relpath).name == (f"{upstream}.gz" if binarized else upstream)
    assert (
        CATALOG["mnist-train-images"].url
        == "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    )
    assert CATALOG["binarized_mnist-valid"].url.endswith("/binarized_mnist/binarized_mnist_valid.amat")


@pytest.mark.parametrize("name", _IMAGES)
def test_real_image_catalog_resolves_from_data_dir(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _ENV_DATA_DIR:
        pytest.skip("ZOO_DATA_DIR is not set (CI sets it to ../shared/data)")
    monkeypatch.setenv("ZOO_DATA_DIR", _ENV_DATA_DIR)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    entry = get_source(name)
    path = resolve(name)  # verifies the sha256 (of the decompressed content for binarized_mnist)
    assert path == data_dir() / entry.relpath
    if entry.content_encoding == "gzip":
        with gzip.open(path) as f:
            assert sum(len(chunk) for chunk in iter(lambda: f.read(1 << 22), b"")) == entry.size
    else:
        assert path.stat().st_size == entry.size
