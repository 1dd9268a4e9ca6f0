"""The export layouts ``mlperf`` (MovieLens-1B ``.npz`` shards) and ``meta-csv`` (Meta's CSV).

Each is read back the way the other project reads it (``np.load(f)["arr_0"]``, ``csv``) and
compared with :meth:`Expansion.compute`; the bytes do not depend on the chunking or the
scheduler; an interrupted run resumes into the same bytes, damaged pieces are rewritten; bad
parameters and readers that need a Zarr/Parquet store get one-line errors.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import daskfractal as dfr
from daskfractal.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from daskfractal.errors import ParameterError, StoreError
from daskfractal.expansion import _write as write_mod
from daskfractal.store import ExportStore, csv_lines, open_export, verify
from daskfractal.store._ownership import MARKER as OWNER_MARKER
from daskfractal.testing import fat_tailed_interactions

#: keep probabilities (2 x 3, inside (0, 1)): 2 block rows, so meta-csv writes 2 files
KEEP = np.array([[0.8, 0.3, 0.55], [0.4, 0.65, 0.25]])
SEED = 11
QUIET = {"progress": False}
FORMATS = ("mlperf", "meta-csv")


class Interrupted(Exception):
    """Raised by a task to stop a run midway."""


@pytest.fixture(scope="module")
def split() -> dfr.SplitData:
    """The embedded ml-latest-small, leave-last-out (ratings and timestamps carried)."""
    return dfr.preprocess(dfr.load("default"))


def expansion(split: dfr.SplitData, **kw: Any) -> dfr.Expansion:
    return dfr.expand(split, keep=KEEP, seed=SEED, **kw)


@pytest.fixture(scope="module")
def want(split: dfr.SplitData) -> dfr.ExpandedData:
    return expansion(split).compute()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, split: dfr.SplitData) -> dict[str, Path]:
    """Both exports written once: sync scheduler, one count task per block row."""
    root = tmp_path_factory.mktemp("exports")
    ex = expansion(split, chunk_size=10**9)
    ex.to_mlperf(root / "ml", shards=5, scheduler="sync", **QUIET)
    ex.to_meta_csv(root / "meta", scheduler="sync", **QUIET)
    return {"mlperf": root / "ml", "meta-csv": root / "meta"}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != OWNER_MARKER
    }


def assert_same_bytes(a: Path, b: Path) -> None:
    ta, tb = tree_bytes(a), tree_bytes(b)
    assert sorted(ta) == sorted(tb)
    assert [k for k in ta if ta[k] != tb[k]] == []


def sorted_rows(mat: sp.csr_matrix) -> np.ndarray:
    """(user, item) rows of ``mat`` sorted by user then item, int64."""
    coo = mat.tocoo()
    order = np.lexsort((coo.col, coo.row))
    return np.column_stack((coo.row[order], coo.col[order])).astype(np.int64)


def read_mlperf(root: Path, split: str, shards: int, blocks: tuple[int, int]) -> list[np.ndarray]:
    """The shards as MLPerf's convert.py and PyG's MovieLens1B read them."""
    mp, npr = blocks
    out = []
    for k in range(shards):
        with np.load(root / f"{split}x{mp}x{npr}_{k}.npz") as z:
            assert z.files == ["arr_0"]
            out.append(z["arr_0"])
    return out


def read_meta(root: Path, split: str, blocks: tuple[int, int]) -> list[list[list[str]]]:
    """Every file ``i`` of ``split`` parsed with ``csv.reader`` (Meta's reader), by file."""
    mp, npr = blocks
    files = []
    for i in range(mp):
        with open(root / split / f"{mp}x{npr}_{i}.csv", newline="") as f:
            files.append(list(csv.reader(f)))
    return files


# ----------------------------------------------------------------------------- mlperf
def test_mlperf_round_trip(want: dfr.ExpandedData, reference: dict[str, Path]) -> None:
    root = reference["mlperf"]
    store = open_export(root)
    assert store.format == "mlperf" and store.attrs["export"]["pieces"] == 5
    bounds = store.attrs["export"]["user_bounds"]
    assert bounds[0] == 0 and bounds[-1] == len(want.user_slot) and len(bounds) == 6
    for split in ("train", "test"):
        shards = read_mlperf(root, split, 5, (2, 3))
        got = np.concatenate(shards)
        assert got.dtype == np.int64 and got.shape[1] == 2
        np.testing.assert_array_equal(got, sorted_rows(getattr(want, split)))
        for k, arr in enumerate(shards):  # contiguous user ranges, equal user counts
            assert np.all((arr[:, 0] >= bounds[k]) & (arr[:, 0] < bounds[k + 1]))
            # byte for byte what np.savez writes
            buf = io.BytesIO()
            np.savez(buf, arr)
            assert (root / f"{split}x2x3_{k}.npz").read_bytes() == buf.getvalue()
    assert np.diff(bounds).max() - np.diff(bounds).min() <= 1
    doc = json.loads((root / "_daskfractal.json").read_text())
    assert doc["format"] == "mlperf" and doc["complete"] is True
    assert doc["daskfractal"]["params"]["seed"] == SEED
    assert doc["daskfractal"]["counts"]["train"] == want.train.nnz
    assert doc["layout"]["carry"] == []  # (user, item) only
    assert store.counts() == {
        "n_users": want.train.shape[0],
        "n_items": want.train.shape[1],
        "nnz_train": want.train.nnz,
        "nnz_test": want.test.nnz,
    }
    np.testing.assert_array_equal(store.user_slots(), want.user_slot)
    np.testing.assert_array_equal(store.indptr("test"), want.test.indptr)
    stats = store.stats()
    np.testing.assert_array_equal(stats["block_train"], want.block_train)
    np.testing.assert_array_equal(
        stats["item_train_degree"], np.bincount(want.train.indices, minlength=want.train.shape[1])
    )
    report = verify(root, full=True)
    assert report.ok and report.files_checked >= 20


def test_mlperf_never_more_shards_than_users(tmp_path: Path) -> None:
    small = dfr.preprocess(fat_tailed_interactions(12, 30, 5, seed=3))
    ex = dfr.expand(small, keep=np.array([[0.9]]), seed=1)
    store = ex.to_mlperf(tmp_path / "ml", shards=1000, **QUIET)
    n = store.n_users
    assert 0 < n < 1000 and len(store.files("train")) == n
    rows = [np.load(f)["arr_0"] for f in store.files("train")]
    assert [np.unique(r[:, 0]).tolist() for r in rows] == [[u] for u in range(n)]
    default = ex.to_mlperf(tmp_path / "d", **QUIET)  # 16 by default, capped the same way
    assert len(default.files("test")) == min(16, n)


# ----------------------------------------------------------------------------- meta-csv
def check_meta(
    root: Path, want: dfr.ExpandedData, m: int, *, ratings: bool, timestamps: bool
) -> None:
    """The CSV files hold ``want``: items in time order (or item order), ratings aligned;
    file ``i`` holds the users of block row ``i`` (slots ``[i·m, (i+1)·m)``)."""
    n_users = want.train.shape[0]
    for split in ("train", "test"):
        mat = getattr(want, split)
        files = read_meta(root, split, (2, 3))
        summary = (root / split / "2x3_users.csv").read_text().splitlines()
        counts = [int(r[1]) for r in csv.reader(summary)]
        assert [int(r[0]) for r in csv.reader(summary)] == list(range(2))
        assert counts == [len(f) for f in files]
        users = [int(row[0]) for f in files for row in f]
        assert users == sorted(set(users))  # one line per user, in user order, ids contiguous
        with_entries = np.flatnonzero(np.diff(mat.indptr) > 0).tolist()
        assert users == with_entries and (split == "test" or users == list(range(n_users)))
        vals = getattr(want, f"{split}_ratings")
        ts = getattr(want, f"{split}_timestamps")
        for row in (row for f in files for row in f):
            assert len(row) == 3
            u = int(row[0])
            a, b = mat.indptr[u], mat.indptr[u + 1]
            items = mat.indices[a:b]
            order = np.lexsort((items, ts[a:b])) if timestamps else np.argsort(items)
            assert [int(x) for x in row[1].split(",")] == items[order].tolist()
            got = np.array([float(x) for x in row[2].split(",")], np.float32)
            expected = np.asarray(vals[a:b], np.float32)[order] if ratings else np.ones(b - a)
            np.testing.assert_array_equal(got, expected.astype(np.float32))
        for i, f in enumerate(files):
            slots = want.user_slot[[int(row[0]) for row in f]]
            assert np.all(slots // m == i)
    raw = (root / "train" / "2x3_0.csv").read_bytes()
    assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")


def test_meta_csv_round_trip(
    want: dfr.ExpandedData, reference: dict[str, Path], split: dfr.SplitData
) -> None:
    root = reference["meta-csv"]
    store = open_export(root)
    assert store.attrs["export"] == {
        "item_order": "timestamp",
        "pieces": 2,
        "ratings": "carried",
        "user_bounds": store.attrs["export"]["user_bounds"],
    }
    m = split.n_users
    np.testing.assert_array_equal(
        store.attrs["export"]["user_bounds"], np.searchsorted(want.user_slot, [0, m, 2 * m])
    )
    assert store.layout.carry == ("ratings",)
    check_meta(root, want, m, ratings=True, timestamps=True)
    assert verify(root, full=True).ok


def test_meta_csv_without_ratings_writes_ones_in_item_order(
    tmp_path: Path, split: dfr.SplitData
) -> None:
    ex = expansion(split, carry=())
    store = ex.to_meta_csv(tmp_path / "meta", scheduler="threads", **QUIET)
    assert store.attrs["export"]["ratings"] == "ones"
    assert store.attrs["export"]["item_order"] == "item_id"
    check_meta(tmp_path / "meta", ex.compute(), split.n_users, ratings=False, timestamps=False)


def test_csv_lines_quote_like_csv_writer() -> None:
    users = np.array([0, 0, 0, 2, 5, 5])
    items = np.array([9, 1, 4, 7, 3, 2])
    ratings = np.array([4.5, 3.0, 0.5, 2.0, 1.0, 5.0], np.float32)
    ts = np.array([30, 10, 10, 1, 7, 8])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerows([[0, "1,4,9", "3.0,0.5,4.5"], [2, "7", "2.0"], [5, "3,2", "1.0,5.0"]])
    assert csv_lines(users, items, ratings, ts) == buf.getvalue()
    assert csv_lines(users[:0], items[:0]) == ""


@settings(max_examples=50)
@given(
    degrees=st.lists(st.integers(0, 5), min_size=1, max_size=12),
    data=st.data(),
    with_ratings=st.booleans(),
    with_times=st.booleans(),
)
def test_csv_lines_parse_back(
    degrees: list[int], data: st.DataObject, with_ratings: bool, with_times: bool
) -> None:
    """Whatever the rows, ``csv.reader`` gives back each user's items in the promised order
    and its ratings beside them."""
    n = sum(degrees)
    users = np.repeat(np.arange(len(degrees)), degrees)
    items = np.array(data.draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n)), int)
    ratings = np.array(
        data.draw(st.lists(st.sampled_from([0.5, 1.0, 3.5, 5.0]), min_size=n, max_size=n)), "f4"
    )
    times = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), int)
    text = csv_lines(users, items, ratings if with_ratings else None, times if with_times else None)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [int(r[0]) for r in rows] == [u for u, d in enumerate(degrees) if d]
    ptr = np.r_[0, np.cumsum(degrees)]
    for row in rows:
        a, b = ptr[int(row[0])], ptr[int(row[0]) + 1]
        order = np.lexsort((items[a:b], times[a:b])) if with_times else np.lexsort((items[a:b],))
        assert [int(x) for x in row[1].split(",")] == items[a:b][order].tolist()
        want = ratings[a:b][order] if with_ratings else np.ones(b - a, "f4")
        assert [float(x) for x in row[2].split(",")] == want.tolist()


# ----------------------------------------------------------------------------- bytes
@pytest.mark.parametrize("fmt", FORMATS)
def test_bytes_identical_across_chunks_and_schedulers(
    tmp_path: Path, split: dfr.SplitData, reference: dict[str, Path], fmt: str
) -> None:
    ex = expansion(split, chunk_size=5_000)
    assert len(ex.tasks()) > 2 * len(expansion(split, chunk_size=10**9).tasks())
    opts = {"shards": 5} if fmt == "mlperf" else {}
    # 1,000-entry slices: every piece is generated and streamed in many chunks
    write_mod.write_store(
        ex, tmp_path / "out", format=fmt, scheduler="threads", shard_size=1_000, **opts, **QUIET
    )
    assert_same_bytes(reference[fmt], tmp_path / "out")
    assert not write_mod.work_dir(tmp_path / "out").exists()


@pytest.mark.distributed
def test_bytes_identical_on_a_local_cluster(
    tmp_path: Path, split: dfr.SplitData, reference: dict[str, Path]
) -> None:
    from distributed import Client, LocalCluster

    ex = expansion(split, chunk_size=20_000)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        ex.to_mlperf(tmp_path / "ml", shards=5, scheduler=client, shard_size=4_096, **QUIET)
        ex.to_meta_csv(tmp_path / "meta", scheduler=client, **QUIET)
    assert_same_bytes(reference["mlperf"], tmp_path / "ml")
    assert_same_bytes(reference["meta-csv"], tmp_path / "meta")


# ----------------------------------------------------------------------------- resume
def flaky(real: Any, fail_at: int) -> Any:
    calls = {"n": 0}

    def wrapper(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > fail_at:
            raise Interrupted
        return real(*args)

    return wrapper


@pytest.mark.parametrize("fmt", FORMATS)
def test_resume_rewrites_deleted_and_damaged_pieces(
    tmp_path: Path,
    split: dfr.SplitData,
    reference: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    ex = expansion(split, chunk_size=10**9)
    out = tmp_path / "out"
    opts: dict[str, Any] = {"shards": 5} if fmt == "mlperf" else {}
    real = write_mod._write_export_piece
    monkeypatch.setattr(write_mod, "_write_export_piece", flaky(real, 1))
    with pytest.raises(Interrupted):
        write_mod.write_store(ex, out, format=fmt, scheduler="sync", **opts, **QUIET)
    monkeypatch.setattr(write_mod, "_write_export_piece", real)
    assert not (out / "_SUCCESS").exists()
    with pytest.raises(StoreError, match="incomplete"):
        open_export(out)
    done = sorted(p for p in out.rglob("*") if p.suffix in (".npz", ".csv"))
    assert len(done) == 2  # the train and the test file of the finished piece
    # damage: one file changed since it was written, one deleted
    raw = bytearray(done[0].read_bytes())
    raw[-3] ^= 0x01
    done[0].write_bytes(bytes(raw))
    done[1].unlink()
    write_mod.write_store(ex, out, format=fmt, resume=True, scheduler="threads", **opts, **QUIET)
    assert_same_bytes(reference[fmt], out)
    with pytest.raises(StoreError, match="already complete"):
        write_mod.write_store(ex, out, format=fmt, resume=True, **opts, **QUIET)


@pytest.mark.parametrize("fmt", FORMATS)
def test_overwrite_and_damage(tmp_path: Path, split: dfr.SplitData, fmt: str) -> None:
    ex = expansion(split)
    out = tmp_path / "out"
    write_mod.write_store(ex, out, format=fmt, **QUIET)
    with pytest.raises(StoreError, match="overwrite"):
        write_mod.write_store(ex, out, format=fmt, **QUIET)
    store = write_mod.write_store(ex, out, format=fmt, overwrite=True, **QUIET)
    assert isinstance(store, ExportStore)
    # a data file deleted, or a user's file added: open and verify refuse
    victim = store.files("train")[-1]
    victim.unlink()
    with pytest.raises(StoreError, match="missing"):
        open_export(out)
    assert not verify(out).ok
    # overwrite deletes only what daskfractal wrote: a user file in the way is refused
    (out / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match=r"notes\.txt"):
        write_mod.write_store(ex, out, format=fmt, overwrite=True, **QUIET)
    assert (out / "notes.txt").read_text() == "mine"


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"format": "mlperf", "shards": 0}, "shards"),
        ({"format": "mlperf", "shards": 2.5}, "shards"),
        ({"format": "mlperf", "shards": True}, "shards"),
        ({"format": "zarr", "shards": 4}, "applies to format=.mlperf. only"),
        ({"format": "meta-csv", "shards": 4}, "applies to format=.mlperf. only"),
        ({"format": "csv"}, "not one of zarr, parquet, mlperf, meta-csv"),
    ],
)
def test_bad_parameters(tmp_path: Path, split: dfr.SplitData, kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        write_mod.write_store(expansion(split), tmp_path / "x", **kwargs, **QUIET)
    assert not (tmp_path / "x" / "_SUCCESS").exists()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_round_trip_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = ["expand", "default", "--factors", "2", "2", "--seed", "5", "--quiet", "--json"]
    base += ["--local", "threads"]
    code, _, _ = run(capsys, *base, "--out", str(tmp_path / "z"))
    assert code == EXIT_OK
    zs = dfr.open(tmp_path / "z")
    code, out, _ = run(capsys, *base, "--out", str(tmp_path / "ml"), "--format", "mlperf",
                       "--shards", "3")  # fmt: skip
    assert code == EXIT_OK and json.loads(out)["format"] == "mlperf"
    code, out, _ = run(capsys, *base, "--out", str(tmp_path / "meta"), "--format", "meta-csv")
    assert code == EXIT_OK and json.loads(out)["nnz_train"] == zs.nnz["train"]
    for split in ("train", "test"):
        mat = zs.to_scipy(split)
        got = np.concatenate(read_mlperf(tmp_path / "ml", split, 3, (2, 2)))
        np.testing.assert_array_equal(got, sorted_rows(mat))
        lines = [row for f in read_meta(tmp_path / "meta", split, (2, 2)) for row in f]
        assert sum(len(row[1].split(",")) for row in lines) == mat.nnz
        for row in lines[:50]:
            u = int(row[0])
            assert sorted(int(x) for x in row[1].split(",")) == sorted(mat[u].indices.tolist())
    code, out, err = run(capsys, "verify", str(tmp_path / "ml"), "--full")
    assert code == EXIT_OK and "ok" in out and err == ""
    # info describes an output from its metadata
    code, out, _ = run(capsys, "info", str(tmp_path / "meta"), "--json")
    assert code == EXIT_OK and json.loads(out)["format"] == "meta-csv"
    assert json.loads(out)["nnz_test"] == zs.nnz["test"]
    code, out, _ = run(capsys, "info", str(tmp_path / "ml"))
    assert code == EXIT_OK and "(mlperf, complete)" in out
    # readers that need a Zarr or Parquet store: one line, exit 5, no traceback
    for argv in (
        ["validate", str(tmp_path / "meta")],
        ["negatives", str(tmp_path / "ml"), "--out", str(tmp_path / "n.zarr")],
        ["evaluate", str(tmp_path / "ml")],
    ):
        code, _, err = run(capsys, *argv)
        assert code == EXIT_STORE, argv
        assert len(err.strip().splitlines()) == 1 and "export" in err and "Traceback" not in err
    with pytest.raises(StoreError, match="export"):
        dfr.open(tmp_path / "ml")
    (tmp_path / "ml" / "trainx2x2_1.npz").unlink()
    for argv in (["info", str(tmp_path / "ml")], ["verify", str(tmp_path / "ml")]):
        code, _, err = run(capsys, *argv)
        assert code == EXIT_STORE and "trainx2x2_1.npz" in err and "Traceback" not in err
    # bad parameters: exit 2, one line naming the flag
    for extra, word in (
        (["--format", "mlperf", "--shards", "0"], "--shards"),
        (["--format", "zarr", "--shards", "2"], "--shards"),
    ):
        code, _, err = run(capsys, *base, "--out", str(tmp_path / "bad"), *extra)
        assert code == EXIT_USAGE and word in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()
