"""Item statistics of big catalogues: spilled by item range, never one dense array.

Above ``dense_items_max`` output items every write task saves its item counts by item range
in the work folder and one task per range adds them up (``expansion/_write.py``,
``_ItemSpill``). Lowering the limit makes a small expansion take that path: its store must
be byte for byte the store of the dense path, on every format, chunking and scheduler, and
after an interruption and a resume.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import daskfractal as dfr
from daskfractal.errors import StoreError
from daskfractal.expansion import _write as write_mod
from daskfractal.expansion import write_store
from daskfractal.store import StoreLayout, open_export, writer_class
from daskfractal.store._fs import store_path

from .test_expand import ML_KEEP, ML_SEED, Interrupted, assert_same_bytes, flaky

FORMATS = ("zarr", "parquet", "mlperf", "meta-csv")
#: two chunkings of the stores (and so of the item ranges: ranges of ``shard_size`` items)
CHUNKINGS = ({"shard_size": 4096, "chunk_elems": 1024}, {"shard_size": 1024, "chunk_elems": 256})


@pytest.fixture(scope="module")
def small_ml() -> dfr.SplitData:
    """ml-latest-small (610 x 9,724), leave-last-out, ratings and timestamps kept."""
    return dfr.preprocess(dfr.load("ml-latest-small"))


def ml_expansion(split: dfr.SplitData, **kw: Any) -> dfr.Expansion:
    """The 2 x 3 MovieLens expansion of test_expand at a fifth of its keep probabilities
    (about 60,000 interactions: tens of shards, 29,172 items)."""
    return dfr.expand(split, keep=ML_KEEP / 5, seed=ML_SEED, **kw)


def options(fmt: str, chunking: dict[str, int]) -> dict[str, Any]:
    opts: dict[str, Any] = {"format": fmt, "progress": False, **chunking}
    if fmt in ("mlperf", "meta-csv"):
        opts.pop("chunk_elems")  # exports: shard_size is a task's slice only
    if fmt == "parquet":
        opts["users_per_file"] = 150
    return opts


@pytest.fixture(scope="module")
def dense_refs(tmp_path_factory: pytest.TempPathFactory, small_ml: dfr.SplitData) -> dict:
    """Every (format, chunking) written by the dense path, sync scheduler."""
    root = tmp_path_factory.mktemp("dense")
    ex = ml_expansion(small_ml)
    refs = {}
    for fmt in FORMATS:
        for c, chunking in enumerate(CHUNKINGS):
            out = root / f"{fmt}-{c}"
            write_store(ex, out, scheduler="sync", **options(fmt, chunking))
            refs[fmt, c] = out
    return refs


class CountCalls:
    """Counts the calls of ``_sum_item_range`` (threads: the patched module attribute)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = write_mod._sum_item_range

        def wrapper(*args: Any) -> Any:
            self.n += 1
            return real(*args)

        monkeypatch.setattr(write_mod, "_sum_item_range", wrapper)


def spill_of(out: Path, n_items: int, size: int) -> Any:
    return write_mod._ItemSpill(
        store_path(write_mod.work_dir(out)) / f"{write_mod.ITEM_DEGREES_DIR}-{size}",
        n_items,
        size,
    )


# ------------------------------------------------------------------------- same bytes
@pytest.mark.parametrize("c", range(len(CHUNKINGS)))
@pytest.mark.parametrize("fmt", FORMATS)
def test_chunked_item_stats_same_bytes(
    tmp_path: Path,
    small_ml: dfr.SplitData,
    dense_refs: dict,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    c: int,
) -> None:
    ex = ml_expansion(small_ml)
    chunking = CHUNKINGS[c]
    calls = CountCalls(monkeypatch)
    out = tmp_path / "out"
    store = write_store(
        ex, out, scheduler="threads", dense_items_max=ex.n_items - 1, **options(fmt, chunking)
    )
    n_ranges = -(-ex.n_items // chunking["shard_size"])
    assert calls.n == n_ranges > 1  # the chunked path ran, one sum task per item range
    assert_same_bytes(dense_refs[fmt, c], out)
    assert not write_mod.work_dir(out).exists()
    if fmt in ("zarr", "parquet"):
        stats = store.stats()
        want = dfr.open(dense_refs[fmt, c]).stats()
        for name in ("item_train_degree", "item_test_degree"):
            np.testing.assert_array_equal(stats[name], want[name])
            assert stats[name].sum() > 0


def test_dense_path_below_the_limit(
    tmp_path: Path, small_ml: dfr.SplitData, dense_refs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the limit (not above it) the dense path runs: no sum task, the same store."""
    ex = ml_expansion(small_ml)
    calls = CountCalls(monkeypatch)
    out = tmp_path / "out"
    opts = options("zarr", CHUNKINGS[0])
    write_store(ex, out, scheduler="threads", dense_items_max=ex.n_items, **opts)
    assert calls.n == 0
    assert_same_bytes(dense_refs["zarr", 0], out)
    assert write_mod.DENSE_ITEMS_MAX == 2**24


@pytest.mark.distributed
def test_chunked_item_stats_local_cluster(
    tmp_path: Path, small_ml: dfr.SplitData, dense_refs: dict
) -> None:
    from distributed import Client, LocalCluster

    ex = ml_expansion(small_ml, chunk_size=20_000)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        for fmt in ("zarr", "parquet"):
            out = tmp_path / fmt
            write_store(ex, out, scheduler=client, dense_items_max=0, **options(fmt, CHUNKINGS[1]))
            assert_same_bytes(dense_refs[fmt, 1], out)


# ---------------------------------------------------------------------------- resume
@pytest.mark.parametrize("stage", ["pieces", "sums"])
def test_chunked_item_stats_resume(
    tmp_path: Path,
    small_ml: dfr.SplitData,
    dense_refs: dict,
    monkeypatch: pytest.MonkeyPatch,
    stage: str,
) -> None:
    """Interrupted while the pieces spill (or while the ranges are summed), with what a
    killed task leaves behind; resumed: the dense path's bytes, the work folder gone."""
    ex = ml_expansion(small_ml)
    out = tmp_path / "out.zarr"
    chunking = CHUNKINGS[1]
    opts = {**options("zarr", chunking), "dense_items_max": 0}
    name = "_write_zarr_shard" if stage == "pieces" else "_sum_item_range"
    monkeypatch.setattr(write_mod, name, flaky(getattr(write_mod, name), 6))
    with pytest.raises(Interrupted):
        write_store(ex, out, scheduler="sync", **opts)
    monkeypatch.undo()
    spill = spill_of(out, ex.n_items, chunking["shard_size"])
    done = sorted(p.name for p in (spill.root / "done").iterdir())
    if stage == "pieces":
        assert done and all(p.startswith("train-") for p in done)
        # a killed attempt of an unfinished shard left a spill file and no marker: never
        # added (Dask's order of the shards follows the keys' tokens: not always 0, 1, ...)
        finished = {int(p.split("-")[1]) for p in done}
        k = min(set(range(len(finished) + 1)) - finished)
        assert spill.done("train", k) is None
        ghost = spill.root / f"train-{k:08d}" / "000000-000000.npz"
        ghost.parent.mkdir(parents=True, exist_ok=True)
        np.savez(ghost, offsets=np.arange(5, dtype=np.int32), counts=np.full(5, 99, np.int32))
    else:
        sums = sorted((spill.root / "sums").iterdir())
        assert len(sums) == 6 < spill.n_ranges
    write_store(ex, out, scheduler="threads", resume=True, **opts)
    assert_same_bytes(dense_refs["zarr", 1], out)
    assert not write_mod.work_dir(out).exists()


def test_chunked_item_stats_resume_parquet(
    tmp_path: Path, small_ml: dfr.SplitData, dense_refs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = ml_expansion(small_ml)
    out = tmp_path / "out"
    opts = {**options("parquet", CHUNKINGS[0]), "dense_items_max": 0}
    real = write_mod._write_parquet_file
    monkeypatch.setattr(write_mod, "_write_parquet_file", flaky(real, 2))
    with pytest.raises(Interrupted):
        write_store(ex, out, scheduler="sync", **opts)
    monkeypatch.undo()
    # finished pieces whose spill marker was lost (an older run): counted again from disk
    spill = spill_of(out, ex.n_items, CHUNKINGS[0]["shard_size"])
    done = sorted((spill.root / "done").glob("train-*"))
    assert len(done) == 2
    done[0].unlink()
    write_store(ex, out, scheduler="sync", resume=True, **opts)
    assert_same_bytes(dense_refs["parquet", 0], out)


# ------------------------------------------------------------------------- the pieces
@settings(max_examples=40, deadline=None)
@given(
    n_items=st.integers(1, 300),
    size=st.integers(1, 64),
    data=st.data(),
)
def test_spill_then_sum_is_bincount(n_items: int, size: int, data: st.DataObject) -> None:
    """Spilled slices of pieces, summed range by range, give the bincount of all items."""
    import tempfile

    pieces = data.draw(
        st.lists(st.lists(st.integers(0, n_items - 1), max_size=50), min_size=1, max_size=4)
    )
    with tempfile.TemporaryDirectory() as tmp:
        spill = write_mod._ItemSpill(store_path(tmp) / "deg", n_items, size)
        for k, items in enumerate(pieces):
            spill.start("train", k)
            half = len(items) // 2
            n = spill.spill("train", k, 0, np.array(items[:half], np.int32))
            n += spill.spill("train", k, 1, np.array(items[half:], np.int32))
            spill.finish("train", k, n)
            assert spill.done("train", k) == len(items)
        files = spill.files_by_range()
        assert set(files) <= set(range(spill.n_ranges))
        empty = 0
        for r in range(spill.n_ranges):
            got = write_mod._sum_item_range(spill, r, files.get(r, []))
            empty += got["empty"]
        dense = np.concatenate([spill.dense(r, "train") for r in range(spill.n_ranges)])
        want = np.bincount(np.concatenate([np.array(p, np.int64) for p in pieces]),
                           minlength=n_items)  # fmt: skip
        np.testing.assert_array_equal(dense, want)
        assert empty == int((want == 0).sum())
        assert np.concatenate([spill.dense(r, "test") for r in range(spill.n_ranges)]).sum() == 0


def parts_of(values: np.ndarray, size: int) -> Iterator[np.ndarray]:
    return (values[a : a + size] for a in range(0, len(values), size))


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_small_parts_same_bytes_and_checks(tmp_path: Path, fmt: str) -> None:
    """Parts give the bytes of one whole write (parts of any length, row groups of Parquet
    across parts), and bad parts are refused with the whole write's errors."""
    import daskfractal.store._parquet as pq_mod

    rng = np.random.default_rng(3)
    deg = rng.integers(0, 4, 3000) * (rng.random(3000) < 0.4)
    layout = StoreLayout(
        n_users=0,
        n_items=3000,
        nnz={"train": int(deg.sum()), "test": 0},
        shard_elems=1024,
        chunk_elems=256,
    )
    key = "stats/item_train_degree"
    files = {}
    for how, step in (("whole", None), ("shards", 1024), ("odd", 777)):
        w = writer_class(fmt).create(tmp_path / how, layout, {})
        if step is None:
            w.write_small(key, deg)
        else:
            w.write_small_parts(key, parts_of(deg, step))
        files[how] = {
            str(p.relative_to(tmp_path / how)): p.read_bytes()
            for p in sorted((tmp_path / how).rglob("*"))
            if p.is_file() and "item_train" in str(p) and "_progress" not in str(p)
        }
        assert files[how]
    assert files["whole"] == files["shards"] == files["odd"]
    if fmt == "parquet":
        assert pq_mod.ROW_GROUP_SIZE > 3000  # one row group; several: test below
    w = writer_class(fmt).create(tmp_path / "bad", layout, {})
    with pytest.raises(StoreError, match="sum to"):
        w.write_small_parts(key, parts_of(deg + 1, 1000))
    with pytest.raises(StoreError, match="more than"):
        w.write_small_parts(key, parts_of(np.concatenate([deg, [0]]), 1000))
    with pytest.raises(StoreError, match="expected shape"):
        w.write_small_parts(key, parts_of(deg[:2000], 1000))
    with pytest.raises(StoreError, match=r"\[0, "):
        w.write_small_parts(key, parts_of(deg - 5, 1000))


def test_parquet_parts_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row groups of ROW_GROUP_SIZE rows whatever the parts: the bytes of write_table."""
    import daskfractal.store._parquet as pq_mod

    monkeypatch.setattr(pq_mod, "ROW_GROUP_SIZE", 100)
    deg = np.arange(1050) % 3
    layout = StoreLayout(
        n_users=0, n_items=1050, nnz={"train": int(deg.sum()), "test": 0}, shard_elems=64,
        chunk_elems=64,
    )  # fmt: skip
    key = "stats/item_train_degree"
    a = pq_mod.ParquetWriter.create(tmp_path / "a", layout, {})
    a.write_small(key, deg)
    b = pq_mod.ParquetWriter.create(tmp_path / "b", layout, {})
    b.write_small_parts(key, parts_of(deg, 64))
    rel = pq_mod.small_file(key)
    assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "b" / rel).num_row_groups == 11


# ---------------------------------------------------------------------------- readers
@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_item_degree_readers(dense_refs: dict, fmt: str) -> None:
    """By range, range by range and as a histogram: the dense arrays' values."""
    store = dfr.open(dense_refs[fmt, 1])
    stats = store.stats()
    for split in ("train", "test"):
        want = stats[f"item_{split}_degree"]
        chunks = list(store.iter_item_degrees(split))
        assert len(chunks) == -(-store.n_items // 1024) > 1
        assert [a for a, _ in chunks] == list(range(0, store.n_items, 1024))
        np.testing.assert_array_equal(np.concatenate([v for _, v in chunks]), want)
        np.testing.assert_array_equal(store.item_degrees(split, 1000, 5000), want[1000:5000])
        np.testing.assert_array_equal(store.item_degrees(split), want)
        assert store.item_degrees(split, 7, 7).size == 0
        np.testing.assert_array_equal(store.item_degree_histogram(split), np.bincount(want))
    with pytest.raises(dfr.ParameterError):
        store.item_degrees("train", 5, store.n_items + 1)
    light = store.stats(items=False)
    assert set(light) == set(stats) - {"item_train_degree", "item_test_degree"}


def test_catalogue_above_the_load_limit_refused(
    dense_refs: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Readers that would hold every item's value refuse in one line; the others work."""
    import daskfractal.negatives.sources as sources
    import daskfractal.store._layout as layout_mod
    import daskfractal.validation.passes as passes

    store = dfr.open(dense_refs["zarr", 0])
    export = open_export(dense_refs["mlperf", 0])
    for mod in (layout_mod, sources, passes):
        monkeypatch.setattr(mod, "LOAD_ITEMS_MAX", store.n_items - 1)
    for st_ in (store, export):
        with pytest.raises(StoreError, match=r"items: stats\(\) would hold") as err:
            st_.stats()
        assert "\n" not in str(err.value)
        assert "user_train_degree" in st_.stats(items=False)
    hist = store.item_degree_histogram()
    assert hist.sum() == store.n_items
    with pytest.raises(StoreError, match="validate holds arrays"):
        dfr.validate(store, None, k=0, progress=False)
    from daskfractal.cli import main
    from daskfractal.cli.codes import EXIT_STORE

    capsys.readouterr()
    assert main(["validate", str(dense_refs["zarr", 0]), "--k", "0"]) == EXIT_STORE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "validate holds arrays" in err[0], err
    with pytest.raises(StoreError, match="distribution='uniform'"):
        dfr.NegativeSampler(store, distribution="popularity").sample(np.arange(3))
    uniform = dfr.NegativeSampler(store, distribution="uniform")
    assert uniform.sample(np.arange(3)).shape[0] == 3
