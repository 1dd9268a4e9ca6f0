"""Damaged stores are refused, never served: fault injection on finished Zarr and Parquet stores.

Each fault is applied to a copy of a finished store expanded from the embedded data set
(``default``, factors 2 x 3, small shards so that every array has several): deleted, truncated,
swapped or renamed files, ten flipped bytes, edited counts. For every fault ``verify`` reports
it (exit 5), and opening or reading the store (API, ``validate``, ``negatives``) raises a
one-line :class:`StoreError` (exit 5, no traceback) instead of returning data. A run killed
(interrupted) mid-write whose finished shards are then damaged resumes to the same bytes as an
undamaged run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import daskfractal as dfr
from daskfractal.cli import main
from daskfractal.errors import StoreError
from daskfractal.expansion import _write as write_mod
from daskfractal.store import MANIFEST_FILE
from daskfractal.store._ownership import MARKER

SEED = 3
FACTORS = (2, 3)
ZARR_OPTS = {"shard_size": 32768, "chunk_elems": 8192}
PARQUET_OPTS = {"users_per_file": 200}
QUIET = {"progress": False}
EXIT_STORE = 5


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def expansion() -> dfr.Expansion:
    split = dfr.preprocess(dfr.load("default"))
    return dfr.expand(split, reduced=dfr.reduce(split, FACTORS), seed=SEED)


@pytest.fixture(scope="module")
def zarr_ref(tmp_path_factory: pytest.TempPathFactory, expansion: dfr.Expansion) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    expansion.to_zarr(out, scheduler="sync", **QUIET, **ZARR_OPTS)
    assert dfr.open(out).layout.n_shards("train") >= 6
    return out


@pytest.fixture(scope="module")
def parquet_ref(tmp_path_factory: pytest.TempPathFactory, expansion: dfr.Expansion) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ref.pq"
    expansion.to_parquet(out, scheduler="sync", **QUIET, **PARQUET_OPTS)
    assert len(list((out / "train").glob("part-*.parquet"))) >= 5
    return out


def copy_of(ref: Path, tmp_path: Path) -> Path:
    out = tmp_path / ref.name
    shutil.copytree(ref, out)
    return out


def tree_bytes(root: Path) -> dict[str, bytes]:
    # the ownership marker holds the store id, host and time: the one file that differs
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def assert_same_bytes(a: Path, b: Path) -> None:
    ta, tb = tree_bytes(a), tree_bytes(b)
    assert sorted(ta) == sorted(tb), set(ta) ^ set(tb)
    differ = [k for k in ta if ta[k] != tb[k]]
    assert not differ, f"{len(differ)} files differ, e.g. {differ[:5]}"


# ----------------------------------------------------------------------------- faults
def flip(path: Path, n: int = 10) -> None:
    """Flip ``n`` bytes in the middle of ``path`` (its size does not change)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + n):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def swap(a: Path, b: Path) -> None:
    assert a.stat().st_size != b.stat().st_size  # else only --full can tell (see below)
    tmp = a.with_name(a.name + ".swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def edit_meta(root: Path, edit: Callable[[dict], None]) -> None:
    """Apply ``edit`` to the root attributes (Zarr) or metadata document (Parquet)."""
    if (root / "zarr.json").is_file():
        doc = json.loads((root / "zarr.json").read_text())
        edit(doc["attributes"])
        (root / "zarr.json").write_text(json.dumps(doc))
    else:
        doc = json.loads((root / "_daskfractal.json").read_text())
        edit(doc)
        (root / "_daskfractal.json").write_text(json.dumps(doc))


def more_train(meta: dict) -> None:
    meta["layout"]["nnz"]["train"] += 1000
    meta["daskfractal"]["counts"]["train"] += 1000


#: name -> (damage, detected by the fast check); flips keep sizes: --full and reads catch them
ZARR_FAULTS: dict[str, tuple[Callable[[Path], None], bool]] = {
    "delete shard": (lambda s: (s / "train/indices/c/2").unlink(), True),
    "delete carried shard": (lambda s: (s / "train/ratings/c/0").unlink(), True),
    "delete chunk": (lambda s: (s / "stats/block_train/c/0/0").unlink(), True),
    "delete indptr chunk": (lambda s: (s / "train/indptr/c/0").unlink(), True),
    "flip 10 bytes in a shard": (lambda s: flip(s / "train/indices/c/2"), False),
    "flip 10 bytes in indptr": (lambda s: flip(s / "train/indptr/c/0"), False),
    "truncate shard": (lambda s: truncate(s / "train/indices/c/4"), True),
    "edit counts": (lambda s: edit_meta(s, more_train), True),
    "swap two shards": (lambda s: swap(s / "train/indices/c/0", s / "train/indices/c/5"), True),
    "rename shard": (lambda s: (s / "train/indices/c/3").rename(s / "train/indices/c/3x"), True),
    "delete manifest": (lambda s: (s / MANIFEST_FILE).unlink(), True),
}
PARQUET_FAULTS: dict[str, tuple[Callable[[Path], None], bool]] = {
    "delete part": (lambda s: (s / "train/part-00003.parquet").unlink(), True),
    "delete stats file": (lambda s: (s / "stats/item_train_degree.parquet").unlink(), True),
    "flip 10 bytes in a part": (lambda s: flip(s / "train/part-00002.parquet"), False),
    "truncate part": (lambda s: truncate(s / "train/part-00001.parquet"), True),
    "edit counts": (lambda s: edit_meta(s, more_train), True),
    "swap two parts": (
        lambda s: swap(s / "train/part-00000.parquet", s / "train/part-00006.parquet"),
        True,
    ),
    "extra part": (
        lambda s: shutil.copy(s / "train/part-00000.parquet", s / "train/part-00099.parquet"),
        True,
    ),
}
CASES = [("zarr", name) for name in ZARR_FAULTS] + [("parquet", name) for name in PARQUET_FAULTS]


@pytest.fixture
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, bool]:
    fmt, name = request.param
    ref = request.getfixturevalue("zarr_ref" if fmt == "zarr" else "parquet_ref")
    store = copy_of(ref, tmp_path)
    damage, fast = (ZARR_FAULTS if fmt == "zarr" else PARQUET_FAULTS)[name]
    damage(store)
    return store, fast


def one_line_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"daskfractal {command}: error: ")
    return lines[0]


def read_everything(store: Path) -> None:
    """Open the store and read every array the way users do."""
    st = dfr.open(store)
    for split in ("train", "test"):
        st.to_scipy(split)
        st.to_dask_dataframe(split).compute(scheduler="sync")
    st.stats()
    st.user_slots()


# ----------------------------------------------------------------------------- damage tests
@pytest.mark.parametrize("damaged", CASES, indirect=True, ids=[f"{f}-{n}" for f, n in CASES])
def test_damage_is_reported_and_refused(
    damaged: tuple[Path, bool], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, fast_detects = damaged
    # verify: the fast check finds what changes sizes or metadata, --full finds everything
    fast = dfr.verify(store)
    assert fast.ok is (not fast_detects), fast
    full = dfr.verify(store, full=True)
    assert not full.ok and full.problems and full.full
    assert main(["verify", str(store), "--full"]) == EXIT_STORE
    out = capsys.readouterr()
    assert "DAMAGED" in out.out and "Traceback" not in out.err
    assert main(["verify", str(store), "--full", "--json"]) == EXIT_STORE
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["problems"] == full.problems
    assert main(["verify", str(store)]) == (EXIT_STORE if fast_detects else 0)
    capsys.readouterr()
    # API: refused on open (fast) or on the first read of a damaged chunk/page, never data
    with pytest.raises(StoreError, match=r"is damaged: .*daskfractal verify") as info:
        read_everything(store)
    assert "\n" not in str(info.value)
    # CLI readers: exit 5, one line
    validate = ["validate", str(store), "--local", "sync", "--no-original", "--k", "0"]
    validate += ["--no-figures", "--quiet", "--report", str(tmp_path / "report")]
    assert main(validate) == EXIT_STORE
    assert "is damaged" in one_line_error(capsys, "validate")
    negatives = ["negatives", str(store), "--local", "sync", "--quiet"]
    assert main([*negatives, "--out", str(tmp_path / "neg")]) == EXIT_STORE
    assert "is damaged" in one_line_error(capsys, "negatives")


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_intact_store_verifies(
    fmt: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = request.getfixturevalue(f"{fmt}_ref")
    manifest = json.loads((ref / MANIFEST_FILE).read_text())
    on_disk = {
        str(p.relative_to(ref))
        for p in ref.rglob("*")
        if p.is_file() and p.name not in (MANIFEST_FILE, "_SUCCESS", MARKER)
    }
    assert set(manifest["files"]) == on_disk
    for full in (False, True):
        report = dfr.verify(ref, full=full)
        assert report.ok and not report.problems and report.files_checked == len(on_disk)
    assert report.bytes_checked == sum((ref / f).stat().st_size for f in on_disk)
    assert main(["verify", str(ref), "--full"]) == 0
    assert " ok; full" in capsys.readouterr().out


def test_zarr_chunks_carry_crc32c(zarr_ref: Path) -> None:
    meta = json.loads((zarr_ref / "train" / "indices" / "zarr.json").read_text())
    sharding = meta["codecs"][0]["configuration"]
    assert [c["name"] for c in sharding["codecs"]] == ["bytes", "blosc", "crc32c"]
    assert [c["name"] for c in sharding["index_codecs"]] == ["bytes", "crc32c"]


def test_store_without_manifest_still_opens(zarr_ref: Path, tmp_path: Path) -> None:
    """A store written before manifests existed: opens (no warning), verify says so."""
    store = copy_of(zarr_ref, tmp_path)
    (store / MANIFEST_FILE).unlink()
    edit_meta(store, lambda meta: meta.pop("manifest"))
    want = dfr.open(zarr_ref).to_scipy()
    got = dfr.open(store).to_scipy()
    assert (got != want).nnz == 0
    report = dfr.verify(store, full=True)
    assert report.ok and report.notes == ["no manifest: written by an older daskfractal"]


def test_old_parquet_store_missing_a_part_is_refused_on_read(
    parquet_ref: Path, tmp_path: Path
) -> None:
    """Without a manifest nothing lists the parts, but the row count still tells."""
    store = copy_of(parquet_ref, tmp_path)
    (store / MANIFEST_FILE).unlink()
    edit_meta(store, lambda meta: meta.pop("manifest"))
    (store / "train" / "part-00004.parquet").unlink()
    st = dfr.open(store)
    with pytest.raises(StoreError, match=r"train parts hold \d+ rows, expected"):
        st.to_scipy("train")


def test_verify_refuses_what_is_not_a_finished_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        dfr.verify(tmp_path / "nowhere")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a daskfractal store"):
        dfr.verify(tmp_path / "folder")
    assert main(["verify", str(tmp_path / "folder")]) == EXIT_STORE


def test_verify_cli_process_has_no_traceback(zarr_ref: Path, tmp_path: Path) -> None:
    store = copy_of(zarr_ref, tmp_path)
    (store / "train/indptr/c/0").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "daskfractal.cli", "verify", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_STORE
    assert proc.stderr.strip().splitlines() == [
        f"daskfractal verify: error: {store} is damaged: train/indptr/c/0: missing"
    ]


# ----------------------------------------------------------------------------- resume
class Interrupted(Exception):
    """Stands for a kill in the middle of the write pass."""


def stop_after(real: Callable[..., Any], calls: int) -> Callable[..., Any]:
    count = {"n": 0}

    def wrapper(*args: Any) -> Any:
        count["n"] += 1
        if count["n"] > calls:
            raise Interrupted
        return real(*args)

    return wrapper


def test_resume_rewrites_zarr_shards_damaged_after_the_kill(
    tmp_path: Path,
    expansion: dfr.Expansion,
    zarr_ref: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.zarr"
    monkeypatch.setattr(write_mod, "_write_zarr_shard", stop_after(write_mod._write_zarr_shard, 5))
    with pytest.raises(Interrupted):
        expansion.to_zarr(out, scheduler="sync", **QUIET, **ZARR_OPTS)
    monkeypatch.undo()
    marks = out / "_progress" / "train"
    done = sorted(int(p.name) for p in (marks / "indices").iterdir())
    assert len(done) == 5
    # damaged between the kill and --resume: flipped, truncated, deleted finished shards
    flip(out / f"train/indices/c/{done[0]}")
    truncate(out / f"train/ratings/c/{done[1]}")
    (out / f"train/timestamps/c/{done[2]}").unlink()
    damaged = [(out / f"train/indices/c/{done[0]}").stat().st_mtime_ns]
    expansion.to_zarr(out, resume=True, scheduler="sync", **QUIET, **ZARR_OPTS)
    assert (out / f"train/indices/c/{done[0]}").stat().st_mtime_ns != damaged[0]
    assert_same_bytes(zarr_ref, out)
    assert dfr.verify(out, full=True).ok


def test_resume_rewrites_parquet_parts_damaged_after_the_kill(
    tmp_path: Path,
    expansion: dfr.Expansion,
    parquet_ref: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.pq"
    real = write_mod._write_parquet_file
    monkeypatch.setattr(write_mod, "_write_parquet_file", stop_after(real, 4))
    with pytest.raises(Interrupted):
        expansion.to_parquet(out, scheduler="sync", **QUIET, **PARQUET_OPTS)
    monkeypatch.undo()
    parts = sorted((out / "train").glob("part-*.parquet"))
    assert len(parts) == 4
    flip(parts[0])
    truncate(out / "test" / parts[1].name)
    # a part whose marker was never written (killed between the rename and the marker)
    (out / "_progress" / "train" / parts[2].name).unlink()
    expansion.to_parquet(out, resume=True, scheduler="sync", **QUIET, **PARQUET_OPTS)
    assert_same_bytes(parquet_ref, out)
    assert dfr.verify(out, full=True).ok


def test_open_reads_the_same_data_as_before(zarr_ref: Path, parquet_ref: Path) -> None:
    """The checks change nothing for intact stores: both formats give the same matrix."""
    a = dfr.open(zarr_ref).to_scipy("train", values="ones")
    b = dfr.open(parquet_ref).to_scipy("train", values="ones")
    assert a.shape == b.shape and a.nnz == b.nnz > 300_000
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)


# ----------------------------------------------------------------------------- the one row read
def test_rows_same_for_both_formats_threads_and_pickles(zarr_ref: Path, parquet_ref: Path) -> None:
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    zs, ps = dfr.open(zarr_ref), dfr.open(parquet_ref)
    want = zs.to_scipy("train", values="ones")
    bounds = [(0, 0), (0, 7), (5, 300), (zs.n_users - 3, zs.n_users), (0, zs.n_users)]
    for store in (zs, ps, pickle.loads(pickle.dumps(zs))):
        for u0, u1 in bounds:
            ptr, ind = store.rows(u0, u1)
            assert ptr.dtype == np.int64 and ptr[0] == 0 and ptr.shape == (u1 - u0 + 1,)
            assert ind.dtype == zs.layout.index_np_dtype
            np.testing.assert_array_equal(ptr, want[u0:u1].indptr)
            np.testing.assert_array_equal(ind, want[u0:u1].indices)
    # threads share the store's open arrays
    ranges = [(u, min(u + 40, zs.n_users)) for u in range(0, zs.n_users, 40)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda r: zs.rows(*r, "test"), ranges))
    tptr = np.concatenate([[0], np.cumsum([p[-1] for p, _ in got])])
    assert tptr[-1] == zs.nnz["test"]
    np.testing.assert_array_equal(np.concatenate([i for _, i in got]), zs.to_scipy("test").indices)


def test_damaged_zarr_indptr_is_not_replaced_by_the_degrees(zarr_ref: Path, tmp_path: Path) -> None:
    from daskfractal.validation.passes import indptr_of

    store = copy_of(zarr_ref, tmp_path)
    flip(next((store / "train" / "indptr" / "c").rglob("*")))
    with pytest.raises(StoreError, match="damaged"):
        indptr_of(dfr.open(store), "train")
    with pytest.raises(StoreError, match="damaged"):
        dfr.open(store).rows(0, 10)
