"""Stores on an object store (``s3://``), against a real S3 API: moto's server on 127.0.0.1.

The server is moto's standalone S3 service (``ThreadedMotoServer``), reached over HTTP by
s3fs/botocore exactly as AWS is; nothing of the client library is mocked. Every store written
to S3 is compared byte for byte with the same store written to a local folder.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import daskfractal as dfr
from daskfractal.cli import main
from daskfractal.cli.codes import EXIT_OK, EXIT_OUTPUT, EXIT_STORE, EXIT_USAGE
from daskfractal.errors import OutputError, ParameterError, StoreError
from daskfractal.expansion import _write as write_mod
from daskfractal.store import (
    MARKER,
    STORAGE_OPTIONS_ENV,
    RemotePath,
    open_export,
    set_storage_options,
    store_path,
    verify,
)

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

pytestmark = pytest.mark.network

BUCKET = "bkt"
#: a small expansion of the embedded data set: a few shards per array, seconds to write
KEEP = np.array([[0.45, 0.2]])
SEED = 5
SHARDS = {"shard_size": 2**14, "chunk_elems": 2**12}
QUIET = {"progress": False}
#: a CLI run that writes a small store
EXPAND = ["expand", "default", "--factors", "1", "2", "--quiet", "--local", "threads"]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    """moto's S3 server on a free port of 127.0.0.1 with the bucket ``bkt``; its options."""
    import s3fs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    srv = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://{host}:{port}", "region_name": "us-east-1"},
    }
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True, use_listings_cache=False)
    fs.call_s3("create_bucket", Bucket=BUCKET)
    try:
        yield {"options": options, "fs": fs}
    finally:
        srv.stop()


@pytest.fixture
def s3(server: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The server's options in force (API and CLI) and a fresh prefix for the test."""
    monkeypatch.setenv(STORAGE_OPTIONS_ENV, json.dumps(server["options"]))
    set_storage_options(None)
    yield {**server, "prefix": f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"}
    set_storage_options(None)


@pytest.fixture(scope="module")
def split() -> dfr.SplitData:
    return dfr.preprocess(dfr.load("default"))


def expansion(split: dfr.SplitData) -> dfr.Expansion:
    return dfr.expand(split, keep=KEEP, seed=SEED)


@pytest.fixture(scope="module")
def want(split: dfr.SplitData) -> dfr.ExpandedData:
    return expansion(split).compute()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, split: dfr.SplitData) -> dict[str, Path]:
    """The reference stores, written to local folders with the synchronous scheduler."""
    root = tmp_path_factory.mktemp("local")
    ex = expansion(split)
    ex.to_zarr(root / "z", scheduler="sync", **QUIET, **SHARDS)
    ex.to_parquet(root / "p", scheduler="sync", users_per_file=300, **QUIET)
    ex.to_mlperf(root / "m", shards=4, scheduler="sync", **QUIET)
    ex.to_meta_csv(root / "c", scheduler="sync", **QUIET)
    return {"zarr": root / "z", "parquet": root / "p", "mlperf": root / "m", "meta-csv": root / "c"}


def write(ex: dfr.Expansion, fmt: str, url: str, **kw: Any) -> Any:
    if fmt == "zarr":
        return ex.to_zarr(url, **QUIET, **SHARDS, **kw)
    if fmt == "parquet":
        return ex.to_parquet(url, users_per_file=300, **QUIET, **kw)
    if fmt == "meta-csv":
        return ex.to_meta_csv(url, **QUIET, **kw)
    return ex.to_mlperf(url, shards=4, **QUIET, **kw)


def remote_tree(fs: Any, url: str) -> dict[str, bytes]:
    """Every object below ``url`` (relative key -> bytes), the ownership marker left out."""
    key = url.split("://", 1)[1]
    return {
        f.lstrip("/")[len(key) + 1 :]: fs.cat_file(f)
        for f in sorted(fs.find(key))
        if not f.endswith("/" + MARKER)
    }


def local_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def assert_same_bytes(fs: Any, url: str, root: Path) -> None:
    """The objects below ``url`` are the files below ``root``, byte for byte."""
    remote, here = remote_tree(fs, url), local_tree(root)
    assert sorted(remote) == sorted(here), set(remote) ^ set(here)
    differ = [k for k in here if remote[k] != here[k]]
    assert not differ, f"{len(differ)} objects differ, e.g. {differ[:5]}"
    assert len(here) > 10


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *phrases: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("daskfractal ") and ": error: " in lines[0], err
    for phrase in phrases:
        assert phrase in lines[0], err
    return lines[0]


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", ["zarr", "parquet", "mlperf", "meta-csv"])
def test_written_to_s3_equals_local_and_compute(
    s3: dict[str, Any],
    split: dfr.SplitData,
    want: dfr.ExpandedData,
    local: dict[str, Path],
    fmt: str,
) -> None:
    url = f"{s3['prefix']}/{fmt}"
    write(expansion(split), fmt, url, scheduler="threads")
    # the same bytes as on a local disk; the work prefix and the lock are gone
    assert_same_bytes(s3["fs"], url, local[fmt])
    assert not s3["fs"].exists(url.removeprefix("s3://") + ".work")
    assert not s3["fs"].exists(url.removeprefix("s3://") + ".lock")
    assert verify(url, full=True).ok
    if fmt == "meta-csv":
        assert open_export(url).counts()["nnz_train"] == want.train.nnz
        return
    if fmt == "mlperf":
        store = open_export(url)
        rows = []
        for k in range(4):  # the shards as np.load reads them
            with s3["fs"].open(f"{url.removeprefix('s3://')}/trainx1x2_{k}.npz", "rb") as f:
                rows.append(np.load(io.BytesIO(f.read()))["arr_0"])
        coo = want.train.tocoo()
        order = np.lexsort((coo.col, coo.row))
        np.testing.assert_array_equal(np.concatenate(rows)[:, 1], coo.col[order])
        np.testing.assert_array_equal(store.indptr("train"), want.train.indptr)
        return
    store = dfr.open(url)
    assert isinstance(store.path, RemotePath) and store.format == fmt
    for name in ("train", "test"):
        got = store.user_block(0, store.n_users, name, values="ratings")
        ref = getattr(want, name)
        np.testing.assert_array_equal(got.indptr, ref.indptr)
        np.testing.assert_array_equal(got.indices, ref.indices)
        np.testing.assert_array_equal(got.data, getattr(want, f"{name}_ratings"))
    frame = store.to_dask_dataframe("test").compute()
    assert len(frame) == want.test.nnz


@pytest.mark.parametrize("fmt", ["zarr", "mlperf"])
def test_chunked_item_stats_on_s3(
    s3: dict[str, Any],
    split: dfr.SplitData,
    local: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    """Item degrees spilled by item range to the work prefix (every catalogue counts as big
    here), interrupted while the ranges are summed, resumed: the local dense store's bytes."""
    url = f"{s3['prefix']}/{fmt}"
    ex = expansion(split)
    # ranges of 2**14 items: two (an export's bytes do not depend on shard_size)
    opts: dict[str, Any] = {"dense_items_max": 0}
    if fmt == "mlperf":
        opts["shard_size"] = SHARDS["shard_size"]
    real = write_mod._sum_item_range
    calls = [0]

    def stop(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] > 1:
            raise Interrupted("stopped while summing")
        return real(*args)

    monkeypatch.setattr(write_mod, "_sum_item_range", stop)
    with pytest.raises(Interrupted):
        write(ex, fmt, url, scheduler="sync", **opts)
    monkeypatch.undo()
    monkeypatch.setenv(STORAGE_OPTIONS_ENV, json.dumps(s3["options"]))
    work = url.removeprefix("s3://") + ".work"
    assert any("/item-degrees-" in f and "/sums/" in f for f in s3["fs"].find(work))
    write(ex, fmt, url, scheduler="threads", resume=True, **opts)
    assert_same_bytes(s3["fs"], url, local[fmt])
    assert not s3["fs"].exists(work)


def is_piece(key: str) -> bool:
    """A Zarr shard, Parquet part or npz shard (not a progress marker)."""
    return "/_progress/" not in key and ("/c/" in key or "/part-" in key or key.endswith(".npz"))


class Interrupted(Exception):
    """Raised by a task to stop a run midway."""


def stop_at(name: str, n_done: int) -> Any:
    """The task ``name``, stopping the run at its call after ``n_done`` finished pieces.

    Counted in calls, not by piece index: Dask's order of the pieces depends on the keys,
    which carry a fresh token each run.
    """
    real = getattr(write_mod, name)
    calls = [0]

    def task(plan: Any, writer: Any, index: Any, k: int, *rest: Any) -> Any:
        calls[0] += 1
        if calls[0] > n_done:
            raise Interrupted(f"stopped at piece {k}")
        return real(plan, writer, index, k, *rest)

    return task


@pytest.mark.parametrize(
    ("fmt", "task"),
    [
        ("zarr", "_write_zarr_shard"),
        ("parquet", "_write_parquet_file"),
        ("mlperf", "_write_export_piece"),
    ],
)
def test_interrupted_run_resumes_to_the_same_bytes(
    s3: dict[str, Any],
    split: dfr.SplitData,
    local: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    task: str,
) -> None:
    url = f"{s3['prefix']}/{fmt}"
    ex = expansion(split)
    monkeypatch.setattr(write_mod, task, stop_at(task, 2))
    with pytest.raises(Interrupted):
        write(ex, fmt, url, scheduler="sync")
    monkeypatch.undo()
    monkeypatch.setenv(STORAGE_OPTIONS_ENV, json.dumps(s3["options"]))
    # never served while unfinished
    with pytest.raises(StoreError, match=r"incomplete|unfinished"):
        (open_export if fmt == "mlperf" else dfr.open)(url)
    fs = s3["fs"]
    key = url.removeprefix("s3://")
    assert fs.exists(f"{key}.work/plan.json") and not fs.exists(f"{key}/manifest.json")
    # a finished piece damaged while the run was stopped is written again
    finished = sorted(k for k in fs.find(key) if is_piece(k))
    assert finished
    fs.pipe_file(finished[0], b"damaged bytes")
    with pytest.raises(StoreError, match=r"already|unfinished"):
        write(ex, fmt, url, scheduler="sync")  # neither resume nor overwrite
    write(ex, fmt, url, scheduler="sync", resume=True)
    assert_same_bytes(fs, url, local[fmt])
    assert verify(url, full=True).ok


# ----------------------------------------------------------------------------- ownership
def test_overwrite_deletes_only_what_daskfractal_created(
    s3: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    fs = s3["fs"]
    user = f"{s3['prefix']}/mine"
    fs.pipe_file(f"{user.removeprefix('s3://')}/data.csv", b"1,2\n")
    for extra in ([], ["--overwrite"], ["--resume"]):
        code, _, err = cli(capsys, *EXPAND, "--out", user, *extra)
        assert code == EXIT_STORE, err
        one_line(err)
    assert fs.cat_file(f"{user.removeprefix('s3://')}/data.csv") == b"1,2\n"
    assert fs.find(user.removeprefix("s3://")) == [f"{user.removeprefix('s3://')}/data.csv"]
    # a store of ours is replaced with --overwrite; a file put into it makes it refused
    ours = f"{s3['prefix']}/ours"
    assert cli(capsys, *EXPAND, "--out", ours)[0] == EXIT_OK
    code, _, err = cli(capsys, *EXPAND, "--out", ours)
    assert code == EXIT_STORE and "--overwrite" in one_line(err, "complete store")
    assert cli(capsys, *EXPAND, "--out", ours, "--seed", "3", "--overwrite")[0] == EXIT_OK
    assert dfr.open(ours).attrs["params"]["seed"] == 3
    fs.pipe_file(f"{ours.removeprefix('s3://')}/notes.txt", b"mine")
    code, _, err = cli(capsys, *EXPAND, "--out", ours, "--overwrite")
    assert code == EXIT_STORE
    one_line(err, "notes.txt", "did not write")
    assert fs.cat_file(f"{ours.removeprefix('s3://')}/notes.txt") == b"mine"


def test_lock_object(s3: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    fs = s3["fs"]
    out = f"{s3['prefix']}/locked"
    lock = out.removeprefix("s3://") + ".lock"

    def holder(host: str, pid: int) -> bytes:
        doc = {"kind": "daskfractal", "host": host, "pid": pid, "started": "2026-01-01T00:00:00"}
        return json.dumps(doc).encode()

    fs.pipe_file(lock, holder("elsewhere.example", 4242))
    code, _, err = cli(capsys, *EXPAND, "--out", out)
    assert code == EXIT_STORE
    one_line(err, "another host", lock)
    fs.pipe_file(lock, holder(socket.gethostname(), os.getpid() + 10**6))  # dead: taken over
    assert cli(capsys, *EXPAND, "--out", out)[0] == EXIT_OK
    assert not fs.exists(lock)
    fs.pipe_file(lock, b"not ours")
    code, _, err = cli(capsys, *EXPAND, "--out", out, "--overwrite")
    assert code == EXIT_STORE
    one_line(err, "not written by daskfractal")
    # the conditional PUT: a second creation of the lock object fails
    assert not store_path(f"s3://{lock}").create_exclusive(b"x")  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("url", "code", "phrase"),
    [
        ("nosuchproto://bkt/x", EXIT_USAGE, "unknown storage protocol"),
        ("s3://", EXIT_USAGE, "not a valid URL"),
        ("s3:///x", EXIT_USAGE, "not a valid URL"),
        (f"s3://{BUCKET}", EXIT_STORE, "prefix inside the bucket"),
        ("s3://no-such-bucket/out", EXIT_OUTPUT, "bucket does not exist"),
    ],
)
def test_bad_output_urls(
    s3: dict[str, Any], capsys: pytest.CaptureFixture[str], url: str, code: int, phrase: str
) -> None:
    got, _, err = cli(capsys, *EXPAND, "--out", url)
    assert got == code, err
    one_line(err, phrase)


def test_bad_store_urls_for_readers(s3: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["validate", "s3://no-such-bucket/x", "--local", "threads", "--quiet"],
        ["verify", "s3://no-such-bucket/x"],
        ["info", "s3://no-such-bucket/x"],
        ["negatives", "s3://no-such-bucket/x", "--out", "unused", "--local", "threads"],
        ["evaluate", "s3://no-such-bucket/x", "--local", "threads", "--quiet"],
    ):
        code, _, err = cli(capsys, *argv)
        assert code == EXIT_STORE, (argv, err)
        one_line(err, "bucket does not exist")
    code, _, err = cli(capsys, "verify", f"{s3['prefix']}/nothing")
    assert code == EXIT_STORE
    one_line(err, "does not exist")
    code, _, err = cli(capsys, "verify", "nosuchproto://a/b")
    assert code == EXIT_USAGE
    one_line(err, "unknown storage protocol")
    with pytest.raises(ParameterError, match="JSON"):
        set_storage_options("{not json")
    code, _, err = cli(capsys, "verify", "s3://a/b", "--storage-options", "[1, 2]")
    assert code == EXIT_USAGE
    one_line(err, "JSON object")


@pytest.fixture
def no_credentials(s3: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """No credentials anywhere botocore looks; the storage options give the endpoint only."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return json.dumps({"client_kwargs": s3["options"]["client_kwargs"]})


def test_missing_credentials(
    s3: dict[str, Any], no_credentials: str, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = time.monotonic()
    opts = ["--storage-options", no_credentials]
    code, _, err = cli(capsys, *EXPAND, "--out", f"{s3['prefix']}/x", *opts)
    assert code == EXIT_OUTPUT
    one_line(err, "no credentials", "AWS_ACCESS_KEY_ID")
    code, _, err = cli(capsys, "validate", f"{s3['prefix']}/x", "--quiet", *opts)
    assert code == EXIT_STORE
    one_line(err, "no credentials")
    assert time.monotonic() - t0 < 30


def test_unreachable_endpoint_fails_fast(
    s3: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    opts = {**s3["options"], "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"}}
    t0 = time.monotonic()
    code, _, err = cli(
        capsys, *EXPAND, "--out", f"{s3['prefix']}/x", "--storage-options", json.dumps(opts)
    )
    assert code == EXIT_OUTPUT
    one_line(err, "cannot be reached")
    assert time.monotonic() - t0 < 60
    with pytest.raises(OutputError, match="cannot be reached"):
        set_storage_options(opts)
        expansion(dfr.preprocess(dfr.load("default"))).to_parquet(f"{s3['prefix']}/y", **QUIET)


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
@pytest.mark.distributed
def test_killed_worker_then_resume_then_validate(
    s3: dict[str, Any],
    split: dfr.SplitData,
    local: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2 worker processes write to S3; one is SIGKILLed after leaving half a shard on S3; the
    run fails, ``resume`` finishes it to the local bytes, ``validate`` reads it from S3."""
    from distributed import Client, LocalCluster
    from distributed.scheduler import KilledWorker

    from .test_distributed import kill_once

    def half_written_shard(plan: Any, writer: Any, index: Any, k: int, *rest: Any) -> None:
        (writer.path / "train" / "indices" / "c" / str(k)).write_bytes(b"\x00half" * 100)

    url = f"{s3['prefix']}/killed"
    ex = expansion(split)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        scheduler = cluster.scheduler
        monkeypatch.setattr(
            write_mod,
            "_write_zarr_shard",
            kill_once(tmp_path / "k", "_write_zarr_shard", before=half_written_shard),
        )
        scheduler.allowed_failures = 0
        with pytest.raises(KilledWorker):
            ex.to_zarr(url, scheduler=client, **QUIET, **SHARDS)
        monkeypatch.undo()
        monkeypatch.setenv(STORAGE_OPTIONS_ENV, json.dumps(s3["options"]))
        deadline = time.monotonic() + 20
        while scheduler.tasks and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(StoreError):
            dfr.open(url)
        client.wait_for_workers(2, timeout=60)
        ex.to_zarr(url, resume=True, scheduler=client, **QUIET, **SHARDS)
    assert (tmp_path / "k").exists()
    assert_same_bytes(s3["fs"], url, local["zarr"])
    opts = ["--storage-options", json.dumps(s3["options"])]
    code, out, err = cli(capsys, "verify", url, "--full", *opts)
    assert code == EXIT_OK, err
    code, out, err = cli(capsys, "validate", url, "--local", "threads", "--quiet", "--json", *opts)
    assert code == EXIT_OK, err
    report = json.loads(out)
    assert report["store"]["path"] == url


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_other_fsspec_protocols(
    split: dfr.SplitData, local: dict[str, Path], want: dfr.ExpandedData, fmt: str
) -> None:
    """Any fsspec file system: ``memory://`` (synchronous, no buckets) gives the same bytes;
    ``file://`` is a local path."""
    import fsspec

    url = f"memory://daskfractal-{uuid.uuid4().hex[:8]}/{fmt}"
    write(expansion(split), fmt, url, scheduler="sync")
    mem = fsspec.filesystem("memory")
    assert_same_bytes(mem, url, local[fmt])
    store = dfr.open(url)
    np.testing.assert_array_equal(store.indptr("train"), want.train.indptr)
    assert verify(url, full=True).ok
    assert store_path(f"file://{local[fmt]}") == local[fmt]
    assert dfr.open(f"file://{local[fmt]}").counts() == store.counts()


def test_readers_on_s3(
    s3: dict[str, Any], split: dfr.SplitData, local: dict[str, Path], tmp_path: Path
) -> None:
    """``validate``, ``evaluate`` and ``negatives`` read a store on S3 as they read the local
    one: the same numbers."""
    url = f"{s3['prefix']}/read"
    write(expansion(split), "zarr", url, scheduler="threads")
    kw: dict[str, Any] = {"progress": False, "figures": False, "scheduler": "threads"}
    remote, here = dfr.validate(url, k=8, **kw), dfr.validate(local["zarr"], k=8, **kw)
    assert remote.numbers["degrees"] == here.numbers["degrees"]
    ev = {"algorithms": ["random", "popularity"], "users": 200, "n_boot": 50, **kw}
    got, ref = dfr.evaluate(url, **ev), dfr.evaluate(local["zarr"], **ev)
    assert got.numbers["results"] == ref.numbers["results"]
    neg = {"num_negatives": 2, "seed": 1}
    a = next(iter(dfr.NegativeSampler(url, **neg).epoch(0, batch_size=4096)))
    b = next(iter(dfr.NegativeSampler(local["zarr"], **neg).epoch(0, batch_size=4096)))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    out = tmp_path / "neg.zarr"
    code = main(["negatives", url, "--out", str(out), "--num-negatives", "1", "--quiet"])
    assert code == EXIT_OK and dfr.open_negatives(out).format == "zarr"


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_bytes(
    s3: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kill -9`` of the whole run (a subprocess) while it writes shards to S3: the lock
    object it leaves is taken over (same host, holder gone) and ``--resume`` finishes the store
    to the bytes of a local run."""
    import subprocess
    import sys

    args = ["expand", "default", "--factors", "2", "2", "--quiet", "--shard-size", "4096"]
    url = f"{s3['prefix']}/killed-run"
    key = url.removeprefix("s3://")
    fs = s3["fs"]
    env = {**os.environ, STORAGE_OPTIONS_ENV: json.dumps(s3["options"])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daskfractal.cli", *args, "--local", "sync", "--out", url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(fs.find(f"{key}/_progress")) >= 3:  # a few shards written and marked
                break
            time.sleep(0.2)
        proc.kill()
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -9, "the run finished before it could be killed"
    assert fs.exists(f"{key}.lock") and not fs.exists(f"{key}/_SUCCESS")
    code, _, err = cli(capsys, *args, "--local", "sync", "--out", url)
    assert code == EXIT_STORE
    one_line(err, "--resume")
    assert cli(capsys, *args, "--local", "sync", "--out", url, "--resume")[0] == EXIT_OK
    assert cli(capsys, *args, "--local", "sync", "--out", str(tmp_path / "here"))[0] == EXIT_OK
    assert_same_bytes(fs, url, tmp_path / "here")
    assert not fs.exists(f"{key}.lock") and not fs.exists(f"{key}.work")
