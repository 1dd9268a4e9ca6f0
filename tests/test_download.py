"""Tests of daskfractal.datasets.download against a loopback HTTP server (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import logging
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from daskfractal.datasets.download import (
    DATASETS,
    DEFAULT_BASE_URL,
    MARKER,
    MIRROR_ENV,
    DatasetInfo,
    download,
    list_datasets,
)
from daskfractal.errors import DownloadError, ParameterError, StoreError

pytestmark = pytest.mark.network

U_DATA = b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
RATINGS_CSV = b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n"


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


ML100K_ZIP = make_zip(
    {"ml-100k/u.data": U_DATA, "ml-100k/README": b"test\n", "ml-100k/u.item": b"1|Toy\n" * 500}
)
SMALL_ZIP = make_zip({"ml-latest-small/ratings.csv": RATINGS_CSV})


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def entry(
    name: str,
    data: bytes,
    *,
    folder: str | None = None,
    ratings_file: str = "u.data",
    checksum: str | None = "auto",
    ratings_sha256: str | None = None,
) -> DatasetInfo:
    digest = md5(data) if checksum == "auto" else checksum
    return DatasetInfo(
        name=name,
        url=f"{DEFAULT_BASE_URL}/{name}.zip",
        archive=f"{name}.zip",
        checksum_algorithm="md5" if digest is not None else None,
        checksum=digest,
        size=len(data),
        folder=folder or name,
        ratings_file=ratings_file,
        description="test entry",
        ratings_sha256=ratings_sha256,
    )


@dataclass
class Server:
    url: str
    files: dict[str, bytes]
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)
    ignore_range: bool = False
    truncate_once: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """GET with single-range ``Range: bytes=N-`` support (206 / 416), or 404."""

    def log_message(self, format: str, *args: object) -> None:  # silence stderr
        pass

    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        path = self.path.lstrip("/")
        rng = self.headers.get("Range")
        data = state.files.get(path)
        status = 404
        body = b"not found\n"
        headers: dict[str, str] = {}
        if data is not None:
            status, body = 200, data
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if m and not state.ignore_range:
                start = int(m.group(1))
                if start >= len(data):
                    status, body = 416, b""
                    headers["Content-Range"] = f"bytes */{len(data)}"
                else:
                    status, body = 206, data[start:]
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        with state.lock:
            state.requests.append((path, rng, status))
        self.send_response(status)
        headers.setdefault("Content-Type", "application/zip")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.truncate_once and status == 200:
            state.truncate_once = False
            body = body[: len(body) // 2]  # then the connection closes early
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    state = Server(
        url=f"http://{host}:{port}/movielens",
        files={"movielens/ml-100k.zip": ML100K_ZIP, "movielens/ml-latest-small.zip": SMALL_ZIP},
    )
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def registry() -> dict[str, DatasetInfo]:
    return {"ml-100k": entry("ml-100k", ML100K_ZIP)}


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Any test that should not touch the network points here (nothing listens on port 9 here).
DEAD_URL = "http://127.0.0.1:9/movielens"


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir())


# --------------------------------------------------------------------------- registry


def test_registry_has_official_entries() -> None:
    names = [info.name for info in list_datasets()]
    for name in ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-latest-small"):
        assert name in names
        info = DATASETS[name]
        assert info.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert info.archive == f"{name}.zip"
        assert info.verifiable
        if info.checksum is not None:
            assert info.checksum_algorithm == "md5"
            assert re.fullmatch(r"[0-9a-f]{32}", info.checksum)
    assert DATASETS["ml-10m"].folder == "ml-10M100K"
    assert DATASETS["ml-latest-small"].ratings_sha256 == (
        "80da8b3393dae325bbba5a31f291a6ba55d8d4f4396de3c456f2c1635b1b70e8"
    )
    with pytest.raises(AttributeError):
        DATASETS["ml-100k"].name = "x"  # type: ignore[misc]


def test_unknown_name_lists_known(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"ml-nope.*ml-100k.*ml-25m"):
        download("ml-nope", tmp_path, base_url=DEAD_URL, progress=False)
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- happy paths


def test_download_extracts_and_marks(tmp_path: Path, server: Server, registry) -> None:
    dest = tmp_path / "data"
    out = download("ml-100k", dest, base_url=server.url, progress=False, registry=registry)
    assert out == dest / "ml-100k"
    assert (out / "u.data").read_bytes() == U_DATA
    assert (out / "u.item").is_file()
    marker = json.loads((out / MARKER).read_text())
    assert marker["verified"] is True
    assert marker["checksum"] == md5(ML100K_ZIP)
    assert (dest / "ml-100k.zip").read_bytes() == ML100K_ZIP
    assert leftovers(dest) == ["ml-100k", "ml-100k.zip"]
    assert server.requests == [("movielens/ml-100k.zip", None, 200)]


def test_second_call_uses_no_network(tmp_path: Path, server: Server, registry) -> None:
    first = download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    n = len(server.requests)
    # Even an unreachable mirror is fine: the complete folder is returned as is.
    again = download(
        "ml-100k",
        tmp_path,
        base_url=f"http://127.0.0.1:{closed_port()}",
        progress=False,
        registry=registry,
    )
    assert again == first
    assert len(server.requests) == n


def test_force_downloads_again(tmp_path: Path, server: Server, registry) -> None:
    out = download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    (out / "u.data").write_text("edited")  # a file of the release: restored by --force
    out2 = download(
        "ml-100k", tmp_path, base_url=server.url, progress=False, force=True, registry=registry
    )
    assert out2 == out
    assert len(server.requests) == 2
    assert (out / "u.data").read_bytes() == U_DATA
    assert (out / MARKER).is_file()
    assert leftovers(tmp_path) == ["ml-100k", "ml-100k.zip"]
    # a file the user added is never deleted by --force: refused, folder left as it was
    (out / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match=r"notes\.txt.*--force does not delete"):
        download(
            "ml-100k", tmp_path, base_url=server.url, progress=False, force=True, registry=registry
        )
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / MARKER).is_file()
    assert leftovers(tmp_path) == ["ml-100k", "ml-100k.zip"]


def test_unmarked_folder_is_never_replaced(tmp_path: Path, server: Server, registry) -> None:
    # extraction is atomic, so a dest/NAME without the marker was not made by download
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_bytes(b"mine")
    stale = tmp_path / ".ml-100k.extract-killed"
    stale.mkdir()
    for force in (False, True):
        with pytest.raises(StoreError, match="not created by daskfractal download"):
            download(
                "ml-100k",
                tmp_path,
                base_url=server.url,
                progress=False,
                force=force,
                registry=registry,
            )
    assert (tmp_path / "ml-100k" / "u.data").read_bytes() == b"mine"
    assert server.requests == []  # refused before any network access
    # an empty folder is not the user's data: it is filled (and killed extractions swept)
    (tmp_path / "ml-100k" / "u.data").unlink()
    out = download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    assert (out / "u.data").read_bytes() == U_DATA
    assert leftovers(tmp_path) == ["ml-100k", "ml-100k.zip"]


def test_mirror_env_var(tmp_path: Path, server: Server, registry, monkeypatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, server.url + "/")
    out = download("ml-100k", tmp_path, progress=False, registry=registry)
    assert (out / MARKER).is_file()
    assert server.requests[0][0] == "movielens/ml-100k.zip"


def test_manually_placed_zip_needs_no_network(tmp_path: Path, registry) -> None:
    (tmp_path / "ml-100k.zip").write_bytes(ML100K_ZIP)
    out = download(
        "ml-100k",
        tmp_path,
        base_url=f"http://127.0.0.1:{closed_port()}",
        progress=False,
        registry=registry,
    )
    assert (out / "u.data").read_bytes() == U_DATA


def test_manually_placed_corrupt_zip_is_reported(tmp_path: Path, registry) -> None:
    (tmp_path / "ml-100k.zip").write_bytes(b"garbage")
    with pytest.raises(
        DownloadError, match=rf"expected md5 {md5(ML100K_ZIP)}, got {md5(b'garbage')}"
    ):
        download("ml-100k", tmp_path, base_url=DEAD_URL, progress=False, registry=registry)
    assert leftovers(tmp_path) == ["ml-100k.zip"]


def test_folder_renamed_to_name(tmp_path: Path, server: Server) -> None:
    data = make_zip({"ml-10M100K/ratings.dat": b"1::122::5::838985046\n"})
    server.files["movielens/ml-10m.zip"] = data
    reg = {"ml-10m": entry("ml-10m", data, folder="ml-10M100K", ratings_file="ratings.dat")}
    out = download("ml-10m", tmp_path, base_url=server.url, progress=False, registry=reg)
    assert out == tmp_path / "ml-10m"
    assert (out / "ratings.dat").is_file()
    assert not (tmp_path / "ml-10M100K").exists()


def test_ratings_sha256_verifies_without_archive_checksum(
    tmp_path: Path, server: Server, caplog
) -> None:
    reg = {
        "ml-latest-small": replace(
            DATASETS["ml-latest-small"], ratings_sha256=hashlib.sha256(RATINGS_CSV).hexdigest()
        )
    }
    with caplog.at_level(logging.INFO, logger="daskfractal.datasets.download"):
        out = download(
            "ml-latest-small", tmp_path, base_url=server.url, progress=False, registry=reg
        )
    assert json.loads((out / MARKER).read_text())["verified"] is True
    assert "UNVERIFIED" not in caplog.text
    assert "verified" in caplog.text


def test_ratings_sha256_mismatch(tmp_path: Path, server: Server) -> None:
    # The real registry entry pins the 2018 ratings.csv, which the test zip is not.
    with pytest.raises(DownloadError, match=r"expected sha256 80da8b33.*got "):
        download("ml-latest-small", tmp_path, base_url=server.url, progress=False)
    assert leftovers(tmp_path) == []


def test_unverifiable_entry_warns(tmp_path: Path, server: Server, caplog) -> None:
    reg = {"ml-100k": entry("ml-100k", ML100K_ZIP, checksum=None)}
    with caplog.at_level(logging.WARNING, logger="daskfractal.datasets.download"):
        out = download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=reg)
    assert "downloaded but UNVERIFIED" in caplog.text
    assert json.loads((out / MARKER).read_text())["verified"] is False


# --------------------------------------------------------------------------- resume


def test_resume_with_range(tmp_path: Path, server: Server, registry) -> None:
    half = len(ML100K_ZIP) // 2
    (tmp_path / "ml-100k.zip.part").write_bytes(ML100K_ZIP[:half])
    out = download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    assert server.requests == [("movielens/ml-100k.zip", f"bytes={half}-", 206)]
    assert (tmp_path / "ml-100k.zip").read_bytes() == ML100K_ZIP
    assert (out / "u.data").read_bytes() == U_DATA
    assert not (tmp_path / "ml-100k.zip.part").exists()


def test_interrupted_download_keeps_part_and_resumes(
    tmp_path: Path, server: Server, registry
) -> None:
    server.truncate_once = True
    with pytest.raises(DownloadError, match=r"run again to resume"):
        download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    half = len(ML100K_ZIP) // 2
    assert (tmp_path / "ml-100k.zip.part").stat().st_size == half
    assert not (tmp_path / "ml-100k").exists()
    out = download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    assert server.requests[-1] == ("movielens/ml-100k.zip", f"bytes={half}-", 206)
    assert (out / "u.data").read_bytes() == U_DATA


def test_server_ignoring_range_restarts(tmp_path: Path, server: Server, registry) -> None:
    server.ignore_range = True
    half = len(ML100K_ZIP) // 2
    (tmp_path / "ml-100k.zip.part").write_bytes(b"\xff" * half)  # would corrupt if appended to
    out = download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    assert server.requests == [("movielens/ml-100k.zip", f"bytes={half}-", 200)]
    assert (tmp_path / "ml-100k.zip").read_bytes() == ML100K_ZIP
    assert (out / MARKER).is_file()


def test_416_complete_part_is_verified(tmp_path: Path, server: Server, registry) -> None:
    (tmp_path / "ml-100k.zip.part").write_bytes(ML100K_ZIP)
    out = download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    assert server.requests[0][2] == 416
    assert (out / "u.data").read_bytes() == U_DATA


def test_416_with_corrupt_part_deletes_it(tmp_path: Path, server: Server, registry) -> None:
    (tmp_path / "ml-100k.zip.part").write_bytes(b"\x00" * (len(ML100K_ZIP) + 10))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- failures


def test_checksum_mismatch(tmp_path: Path, server: Server) -> None:
    wrong = "0" * 32
    reg = {"ml-100k": entry("ml-100k", ML100K_ZIP, checksum=wrong)}
    with pytest.raises(DownloadError) as excinfo:
        download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=reg)
    msg = str(excinfo.value)
    assert wrong in msg and md5(ML100K_ZIP) in msg and "ml-100k" in msg
    assert isinstance(excinfo.value, OSError)
    assert leftovers(tmp_path) == []  # no .part, no .zip, no folder, no temp dir


def test_connection_refused_says_offline(tmp_path: Path, registry) -> None:
    url = f"http://127.0.0.1:{closed_port()}/movielens"
    with pytest.raises(DownloadError) as excinfo:
        download("ml-100k", tmp_path, base_url=url, progress=False, timeout=5, registry=registry)
    msg = str(excinfo.value)
    assert "could not reach 127.0.0.1: are you offline?" in msg
    assert "--base-url" in msg
    assert str(tmp_path / "ml-100k.zip") in msg
    assert leftovers(tmp_path) == []


def test_http_404(tmp_path: Path, server: Server) -> None:
    reg = {"ml-1m": entry("ml-1m", b"whatever")}
    with pytest.raises(DownloadError, match=r"HTTP error 404.*ml-1m.*ml-1m\.zip"):
        download("ml-1m", tmp_path, base_url=server.url, progress=False, registry=reg)
    assert leftovers(tmp_path) == []


def test_not_a_zip(tmp_path: Path, server: Server) -> None:
    page = b"<html>captive portal</html>"
    server.files["movielens/ml-100k.zip"] = page
    reg = {"ml-100k": entry("ml-100k", page)}
    with pytest.raises(DownloadError, match="not a valid zip"):
        download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=reg)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("evil", ["../evil.txt", "ml-100k/../../evil.txt", "/tmp/evil.txt"])
def test_zip_slip_rejected(tmp_path: Path, server: Server, evil: str) -> None:
    data = make_zip({"ml-100k/u.data": U_DATA, evil: b"pwned"})
    server.files["movielens/ml-100k.zip"] = data
    dest = tmp_path / "dest"
    reg = {"ml-100k": entry("ml-100k", data)}
    with pytest.raises(DownloadError, match="unsafe member"):
        download("ml-100k", dest, base_url=server.url, progress=False, registry=reg)
    assert not (tmp_path / "evil.txt").exists()
    assert not (dest / "ml-100k").exists()
    assert leftovers(dest) == ["ml-100k.zip"]


def test_missing_ratings_file(tmp_path: Path, server: Server) -> None:
    data = make_zip({"other/u.data": U_DATA})
    server.files["movielens/ml-100k.zip"] = data
    reg = {"ml-100k": entry("ml-100k", data)}
    with pytest.raises(DownloadError, match=r"does not contain ml-100k/u\.data"):
        download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=reg)
    assert not (tmp_path / "ml-100k").exists()


def test_unwritable_dest(tmp_path: Path, registry) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DownloadError, match=r"cannot write to .*ml-100k"):
        download("ml-100k", blocker / "sub", base_url=DEAD_URL, progress=False, registry=registry)


# --------------------------------------------------------------------------- output


def test_progress_false_prints_nothing(tmp_path: Path, server: Server, registry, capfd) -> None:
    download("ml-100k", tmp_path, base_url=server.url, progress=False, registry=registry)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_progress_bar_goes_to_stderr(tmp_path: Path, server: Server, registry, capfd) -> None:
    download("ml-100k", tmp_path, base_url=server.url, progress=True, registry=registry)
    out, err = capfd.readouterr()
    assert out == ""
    assert "ml-100k" in err
