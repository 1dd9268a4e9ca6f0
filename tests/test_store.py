"""Storage layer: Zarr and Parquet writers, the reader, resume and refusal paths.

Every write is read back and compared exactly; stores are small but use odd shard/chunk sizes
(shard 12, chunk 4, nnz not a multiple of either) so that edge shards are exercised.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import random
import shutil
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from daskfractal.errors import ParameterError, StoreError
from daskfractal.store import (
    FORMAT_VERSION,
    SMALL_KEYS,
    SPLITS,
    ExpansionStore,
    ParquetWriter,
    StoreLayout,
    ZarrWriter,
    open_store,
    store_status,
    write_manifest,
)
from daskfractal.store import open as open_any
from daskfractal.store._ownership import MARKER as OWNER_MARKER

ATTRS = {
    "params": {"m": 3, "n": 2, "k": 0.5},
    "seed": 42,
    "r_hat": [[0.5, 0.25], [1.0, 0.0]],
    "input_sha256": "ab" * 32,
    "versions": {"numpy": np.__version__},
}
COLUMN = {"indices": "item_id", "ratings": "rating", "timestamps": "timestamp"}


# ----------------------------------------------------------------------------- helpers
def make_data(
    seed: int,
    n_users: int,
    n_items: int,
    nnz: dict[str, int],
    carry: tuple[str, ...],
    blocks: tuple[int, int] = (2, 3),
) -> dict[str, Any]:
    """Random CSR train/test (rows in user order) plus matching small arrays."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for split in SPLITS:
        n = nnz[split]
        users = np.sort(rng.integers(0, n_users, n)) if n else np.empty(0, np.int64)
        counts = np.bincount(users, minlength=n_users)
        part = {
            "indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "indices": rng.integers(0, n_items, n),  # int64 input: cast checked
            "users": users.astype(np.int64),
        }
        if "ratings" in carry:
            part["ratings"] = (rng.integers(1, 11, n) / 2).astype(np.float64)
        if "timestamps" in carry:
            part["timestamps"] = rng.integers(0, 2**40, n)
        data[split] = part
    small = {f"{s}/indptr": data[s]["indptr"] for s in SPLITS}
    for s in SPLITS:
        small[f"stats/user_{s}_degree"] = np.diff(data[s]["indptr"])
        small[f"stats/item_{s}_degree"] = np.bincount(data[s]["indices"], minlength=n_items)
        small[f"stats/block_{s}"] = rng.integers(0, 100, blocks)
    small["users/slot"] = np.sort(rng.choice(max(3 * n_users, 1), n_users, replace=False))
    data["small"] = small
    return data


def layout_for(data: dict[str, Any], n_users: int, n_items: int, **kw: Any) -> StoreLayout:
    nnz = {s: len(data[s]["indices"]) for s in SPLITS}
    kw.setdefault("blocks", data["small"]["stats/block_train"].shape)
    return StoreLayout(n_users, n_items, nnz, **kw)


def _write_one(writer: ZarrWriter, split: str, name: str, k: int, values: np.ndarray) -> int:
    writer.write_shard(split, name, k, values)
    return k


def shard_jobs(layout: StoreLayout) -> list[tuple[str, str, int]]:
    return [
        (split, name, k)
        for split in SPLITS
        for name in layout.shard_names()
        for k in range(layout.n_shards(split))
    ]


def write_zarr(
    path: Path,
    layout: StoreLayout,
    data: dict[str, Any],
    mode: str = "serial",
    *,
    attrs: dict | None = None,
    finalize: bool = True,
    overwrite: bool = False,
) -> ZarrWriter:
    """Write ``data`` shard by shard (serially, from a thread pool, or as Dask tasks)."""
    writer = ZarrWriter.create(path, layout, ATTRS if attrs is None else attrs, overwrite=overwrite)
    jobs = shard_jobs(layout)

    def values(split: str, name: str, k: int) -> np.ndarray:
        a, b = layout.shard_bounds(split, k)
        return data[split][name][a:b]

    if mode == "serial":
        for job in jobs:
            _write_one(writer, *job, values(*job))
    elif mode == "threads":
        random.Random(1).shuffle(jobs)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda j: _write_one(writer, *j, values(*j)), jobs))
    elif mode == "dask":
        tasks = [dask.delayed(_write_one)(writer, *j, values(*j)) for j in reversed(jobs)]
        dask.compute(*tasks, scheduler="threads", num_workers=4)
    else:  # pragma: no cover
        raise AssertionError(mode)
    for key in SMALL_KEYS:
        writer.write_small(key, data["small"][key])
    if finalize:
        writer.finalize({"nnz": layout.to_dict()["nnz"]})
    return writer


def write_parquet(
    path: Path, layout: StoreLayout, data: dict[str, Any], n_parts: int = 3, seed: int = 0
) -> ParquetWriter:
    """Write ``data`` as parts over contiguous user ranges (some possibly empty)."""
    writer = ParquetWriter.create(path, layout, ATTRS)
    rng = np.random.default_rng(seed)
    for split in SPLITS:
        d = data[split]
        cuts = np.sort(rng.integers(0, layout.n_users + 1, n_parts - 1))
        bounds = [0, *cuts.tolist(), layout.n_users]
        for p, (u0, u1) in enumerate(itertools.pairwise(bounds)):
            a, b = d["indptr"][u0], d["indptr"][u1]
            extra = {c: d[c][a:b] for c in layout.carry}
            writer.write_part(split, p, d["users"][a:b], d["indices"][a:b], **extra)
    for key in SMALL_KEYS:
        if not key.endswith("/indptr"):
            writer.write_small(key, data["small"][key])
    writer.finalize({"nnz": layout.to_dict()["nnz"]})
    return writer


def expected_frame(layout: StoreLayout, data: dict[str, Any], split: str) -> pd.DataFrame:
    d = data[split]
    cols: dict[str, np.ndarray] = {
        "user_id": d["users"].astype(np.int64),
        "item_id": d["indices"].astype(layout.index_dtype),
    }
    if "ratings" in layout.carry:
        cols["rating"] = d["ratings"].astype(np.float32)
    if "timestamps" in layout.carry:
        cols["timestamp"] = d["timestamps"].astype(np.int64)
    return pd.DataFrame(cols)


def expected_csr(layout: StoreLayout, data: dict[str, Any], split: str) -> sp.csr_matrix:
    d = data[split]
    values = d["ratings"] if "ratings" in layout.carry else np.ones(len(d["indices"]))
    shape = (layout.n_users, layout.n_items)
    return sp.csr_matrix((values.astype(np.float32), d["indices"], d["indptr"]), shape=shape)


def assert_csr_equal(got: sp.csr_matrix, want: sp.csr_matrix) -> None:
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


def check_store(store: ExpansionStore, layout: StoreLayout, data: dict[str, Any]) -> None:
    """Everything the reader exposes equals what was written."""
    assert store.layout == layout
    assert store.n_users == layout.n_users and store.n_items == layout.n_items
    assert store.nnz == layout.nnz
    assert store.counts() == {
        "n_users": layout.n_users,
        "n_items": layout.n_items,
        "nnz_train": layout.nnz["train"],
        "nnz_test": layout.nnz["test"],
    }
    assert store.attrs == {**json.loads(json.dumps(ATTRS)), "nnz": layout.nnz}
    stats = store.stats()
    for name, got in stats.items():
        want = data["small"][f"stats/{name}"]
        np.testing.assert_array_equal(got, want)
        assert got.dtype == layout.small_spec(f"stats/{name}")[1]
    np.testing.assert_array_equal(store.user_slots(), data["small"]["users/slot"])
    for split in SPLITS:
        want = expected_csr(layout, data, split)
        assert_csr_equal(store.to_scipy(split), want)
        n = layout.n_users
        for u0, u1 in ((0, n // 2), (n // 3, n), (n // 2, n // 2), (n // 4, 3 * n // 4 + 1)):
            u1 = min(u1, n)
            assert_csr_equal(store.user_block(u0, u1, split), want[u0:u1])
        frame = store.to_dask_dataframe(split).compute().reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, expected_frame(layout, data, split))
    if store.format == "zarr":
        root = zarr.open_group(str(store.path), mode="r")
        for split in SPLITS:
            np.testing.assert_array_equal(root[f"{split}/indptr"][:], data[split]["indptr"])
            for name in layout.shard_names():
                arr = root[f"{split}/{name}"]
                assert arr.dtype == layout.shard_dtype(name)
                np.testing.assert_array_equal(
                    arr[:], data[split][name].astype(layout.shard_dtype(name))
                )


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != OWNER_MARKER  # the marker holds a per-store random id
    }


@pytest.fixture
def small_case() -> tuple[StoreLayout, dict[str, Any]]:
    """31 users, 30 train / 7 test interactions, shard 12 / chunk 4, both carried columns."""
    data = make_data(7, 11, 9, {"train": 30, "test": 7}, ("ratings", "timestamps"))
    layout = layout_for(
        data, 11, 9, carry=("timestamps", "ratings"), shard_elems=12, chunk_elems=4, blocks=(2, 3)
    )
    return layout, data


# ----------------------------------------------------------------------------- layout
def test_layout_shards_and_dtypes() -> None:
    layout = StoreLayout(5, 100, {"train": 30, "test": 0}, shard_elems=12, chunk_elems=4)
    assert layout.index_dtype == "int32"
    assert layout.carry == ()
    assert layout.n_shards("train") == 3 and layout.n_shards("test") == 0
    assert [layout.shard_bounds("train", k) for k in range(3)] == [(0, 12), (12, 24), (24, 30)]
    assert layout.n_chunks("train") == 8
    with pytest.raises(ParameterError):
        layout.shard_bounds("train", 3)
    with pytest.raises(ParameterError):
        layout.shard_bounds("test", 0)
    with pytest.raises(ParameterError):
        layout.n_shards("valid")
    assert StoreLayout.from_dict(layout.to_dict()) == layout
    assert hash(StoreLayout.from_dict(layout.to_dict())) == hash(layout)
    default = StoreLayout(1, 1, {"train": 1, "test": 1})
    assert (default.shard_elems, default.chunk_elems) == (2**24, 2**20)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_users": -1},
        {"nnz": {"train": 1}},
        {"nnz": {"train": 1, "test": -2}},
        {"carry": ("ratings", "weights")},
        {"shard_elems": 10, "chunk_elems": 4},
        {"chunk_elems": 0},
        {"index_dtype": "int16"},
        {"n_items": 2**31, "index_dtype": "int32"},
        {"blocks": (0, 2)},
        {"n_users": 2.5},
    ],
)
def test_layout_rejects_bad_parameters(kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = {"n_users": 3, "n_items": 4, "nnz": {"train": 1, "test": 1}}
    with pytest.raises(ParameterError):
        StoreLayout(**{**base, **kwargs})


def test_int64_indices_when_items_exceed_int32(tmp_path: Path) -> None:
    """n_items >= 2**31 selects int64 item ids (layout and array metadata only, no big data)."""
    big = 2**31
    layout = StoreLayout(3, big, {"train": 5, "test": 0}, shard_elems=4, chunk_elems=2)
    assert layout.index_dtype == "int64"
    assert StoreLayout(3, big - 1, {"train": 0, "test": 0}).index_dtype == "int32"
    assert ParquetWriter.create(tmp_path / "p", layout).schema.field("item_id").type == pa.int64()
    writer = ZarrWriter.create(tmp_path / "z", layout)
    ids = np.array([0, big - 1, 5, big - 7, 12], dtype=np.int64)
    writer.write_shard("train", "indices", 0, ids[:4])
    writer.write_shard("train", "indices", 1, ids[4:])
    with pytest.raises(StoreError, match="must lie in"):
        writer.write_shard("train", "indices", 1, np.array([big]))
    arr = zarr.open_array(str(tmp_path / "z"), path="train/indices", mode="r")
    assert arr.dtype == np.int64 and arr.shape == (5,)
    np.testing.assert_array_equal(arr[:], ids)
    assert zarr.open_array(str(tmp_path / "z"), path="stats/item_train_degree").shape == (big,)


# ----------------------------------------------------------------------------- zarr
@pytest.mark.parametrize(
    ("n_users", "n_items", "nnz", "carry", "shard", "chunk"),
    [
        (11, 9, {"train": 30, "test": 7}, ("ratings", "timestamps"), 12, 4),
        (11, 9, {"train": 30, "test": 7}, (), 12, 4),
        (20, 50, {"train": 100, "test": 20}, ("timestamps",), 8, 8),
        (6, 4, {"train": 24, "test": 0}, ("ratings",), 12, 3),  # exact multiple, empty test
        (5, 3, {"train": 2, "test": 1}, ("ratings",), 2**24, 2**20),  # default sizes
        (0, 3, {"train": 0, "test": 0}, (), 12, 4),  # no users at all
    ],
)
def test_zarr_roundtrip(
    tmp_path: Path,
    n_users: int,
    n_items: int,
    nnz: dict[str, int],
    carry: tuple[str, ...],
    shard: int,
    chunk: int,
) -> None:
    data = make_data(1, n_users, n_items, nnz, carry)
    layout = layout_for(data, n_users, n_items, carry=carry, shard_elems=shard, chunk_elems=chunk)
    write_zarr(tmp_path / "s.zarr", layout, data)
    assert store_status(tmp_path / "s.zarr") == "complete"
    assert not (tmp_path / "s.zarr" / "_progress").exists()
    assert (tmp_path / "s.zarr" / "_SUCCESS").is_file()
    store = open_any(tmp_path / "s.zarr")
    assert store.format == "zarr"
    check_store(store, layout, data)


def test_zarr_concurrent_writes_are_byte_identical(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    """Serial, thread-pool and Dask-task writes of the same input give the same bytes."""
    layout, data = small_case
    for mode in ("serial", "threads", "dask"):
        write_zarr(tmp_path / mode, layout, data, mode)
        check_store(open_store(tmp_path / mode), layout, data)
    serial = tree_bytes(tmp_path / "serial")
    assert any(name.endswith("train/indices/c/2") for name in serial)
    assert tree_bytes(tmp_path / "threads") == serial
    assert tree_bytes(tmp_path / "dask") == serial


def test_zarr_metadata_and_codecs(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    write_zarr(tmp_path / "s", layout, data)
    root = zarr.open_group(str(tmp_path / "s"), mode="r")
    attrs = dict(root.attrs)
    assert attrs["complete"] is True and attrs["format_version"] == FORMAT_VERSION == 3
    assert attrs["format"] == "zarr" and attrs["layout"] == layout.to_dict()
    assert attrs["daskfractal"]["r_hat"] == ATTRS["r_hat"]
    doc = json.loads((tmp_path / "s" / "train" / "indices" / "zarr.json").read_text())
    (sharding,) = doc["codecs"]
    assert sharding["name"] == "sharding_indexed"
    assert doc["chunk_grid"]["configuration"]["chunk_shape"] == [12]
    assert sharding["configuration"]["chunk_shape"] == [4]
    blosc = sharding["configuration"]["codecs"][1]
    assert blosc["name"] == "blosc"
    assert blosc["configuration"]["cname"] == "zstd"
    assert blosc["configuration"]["shuffle"] == "shuffle"
    assert root["train/indices"].dtype == np.int32
    assert root["train/ratings"].dtype == np.float32
    assert root["stats/user_train_degree"].dtype == np.int32
    assert root["stats/item_train_degree"].dtype == np.int64
    assert root["stats/block_test"].shape == (2, 3)
    assert root["train/chunk_user"].shape == (layout.n_chunks("train") + 1,)


def test_to_dask_dataframe_is_lazy_and_user_aligned(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    write_zarr(tmp_path / "s", layout, data)
    store = open_store(tmp_path / "s")
    for rows, parts in ((None, 3), (1, 8), (4, 8), (8, 4), (10**9, 1)):
        df = store.to_dask_dataframe("train", rows_per_partition=rows)
        assert df.npartitions <= parts
        pieces = [df.get_partition(i).compute() for i in range(df.npartitions)]
        users = [set(p["user_id"]) for p in pieces]
        for i in range(len(users)):
            for j in range(i + 1, len(users)):
                assert not users[i] & users[j], "a user is split over partitions"
        frame = pd.concat(pieces, ignore_index=True)
        pd.testing.assert_frame_equal(frame, expected_frame(layout, data, "train"))
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    with pytest.raises(ParameterError):
        store.to_dask_dataframe("train", rows_per_partition=0)
    # Building must not read the per-interaction arrays: remove them, build, then fail on compute
    # (opened first: opening a store with missing files is refused, see test_reliability_integrity)
    opened = open_store(tmp_path / "s")
    for name in ("indices", "ratings", "timestamps"):
        shutil.rmtree(tmp_path / "s" / "train" / name / "c")
        (tmp_path / "s" / "train" / name / "zarr.json").unlink()
    df = opened.to_dask_dataframe("train")
    assert df.npartitions >= 1
    with pytest.raises(Exception, match=r"indices|not found|FileNotFound"):
        df.compute()


def test_user_block_values_and_bounds(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    write_zarr(tmp_path / "z", layout, data)
    write_parquet(tmp_path / "p", layout, data)
    for store in (open_store(tmp_path / "z"), open_store(tmp_path / "p")):
        ts = store.user_block(2, 9, "train", values="timestamps")
        assert ts.dtype == np.int64
        d = data["train"]
        a, b = d["indptr"][2], d["indptr"][9]
        np.testing.assert_array_equal(ts.data, d["timestamps"][a:b])
        ones = store.user_block(0, 11, "test", values="ones")
        np.testing.assert_array_equal(ones.data, np.ones(layout.nnz["test"], np.float32))
        assert store.user_block(4, 4).shape == (0, layout.n_items)
        for bad in ((-1, 3), (5, 4), (0, 12)):
            with pytest.raises(ParameterError):
                store.user_block(*bad)
        with pytest.raises(ParameterError):
            store.user_block(0, 1, values="weights")
        with pytest.raises(ParameterError):
            store.user_block(0, 1, split="valid")


# ----------------------------------------------------------------------------- refusals
def test_open_refuses_incomplete_missing_and_foreign(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    write_zarr(tmp_path / "z", layout, data, finalize=False)
    assert store_status(tmp_path / "z") == "incomplete"
    with pytest.raises(StoreError, match=r"is incomplete: the run that wrote it did not finish.*"):
        open_store(tmp_path / "z")
    with pytest.raises(StoreError, match="--resume"):
        open_store(tmp_path / "z")
    ParquetWriter.create(tmp_path / "p", layout, ATTRS)
    with pytest.raises(StoreError, match="is incomplete"):
        open_store(tmp_path / "p")
    # complete flag without the marker (or the reverse) is still incomplete
    writer = ZarrWriter.reopen(tmp_path / "z", layout)
    writer.finalize()
    (tmp_path / "z" / "_SUCCESS").unlink()
    with pytest.raises(StoreError, match="is incomplete"):
        open_store(tmp_path / "z")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a daskfractal store"):
        open_store(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(StoreError, match="not a daskfractal store"):
        open_store(tmp_path / "file.txt")
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w-")
    with pytest.raises(StoreError, match="not a daskfractal store"):
        open_store(tmp_path / "other.zarr")


def test_write_shard_refuses_bad_values(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, _ = small_case
    writer = ZarrWriter.create(tmp_path / "z", layout, ATTRS)
    with pytest.raises(StoreError, match="expected 12 values"):
        writer.write_shard("train", "indices", 0, np.zeros(11, np.int32))
    with pytest.raises(StoreError, match="expected 6 values"):
        writer.write_shard("train", "indices", 2, np.zeros(12, np.int32))  # last shard: 6
    with pytest.raises(StoreError, match="expected integers"):
        writer.write_shard("train", "indices", 0, np.zeros(12, np.float64))
    with pytest.raises(StoreError, match="must lie in"):
        writer.write_shard("train", "indices", 0, np.full(12, layout.n_items))
    with pytest.raises(StoreError, match="must lie in"):
        writer.write_shard("train", "indices", 0, np.full(12, -1))
    with pytest.raises(StoreError, match="expected numbers"):
        writer.write_shard("train", "ratings", 0, np.array(["a"] * 12))
    with pytest.raises(StoreError, match="expected integers"):
        writer.write_shard("train", "timestamps", 0, np.zeros(12, np.float32))
    with pytest.raises(StoreError, match="must lie in"):
        writer.write_shard("train", "timestamps", 0, np.full(12, 2**63, np.uint64))
    with pytest.raises(ParameterError):
        writer.write_shard("train", "indices", 3, np.zeros(12, np.int32))
    with pytest.raises(ParameterError):
        writer.write_shard("valid", "indices", 0, np.zeros(12, np.int32))
    plain = ZarrWriter.create(tmp_path / "plain", StoreLayout(3, 3, {"train": 2, "test": 0}), ATTRS)
    with pytest.raises(StoreError, match="not 'ratings'"):
        plain.write_shard("train", "ratings", 0, np.ones(2))
    assert not writer.shard_done("train", "indices", 0)
    with pytest.raises(StoreError, match="indptr must start at 0"):
        writer.write_small("train/indptr", np.zeros(layout.n_users + 1, np.int64))
    with pytest.raises(StoreError, match="expected shape"):
        writer.write_small("users/slot", np.zeros(3, np.int64))
    with pytest.raises(StoreError, match="degrees sum"):
        writer.write_small("stats/item_test_degree", np.zeros(layout.n_items, np.int64))
    with pytest.raises(ParameterError):
        writer.write_small("stats/whatever", np.zeros(3))


def test_finalize_refuses_missing_pieces(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    writer = write_zarr(tmp_path / "z", layout, data, finalize=False)
    (tmp_path / "z" / "_progress" / "train" / "ratings" / "00000001").unlink()
    with pytest.raises(StoreError, match=r"1 piece\(s\) not written: train/ratings shard 1"):
        writer.finalize()
    assert writer.pending_shards() == [("train", "ratings", 1)]
    writer.mark_shard_done("train", "ratings", 1)
    writer.finalize()
    with pytest.raises(StoreError, match="cannot finalize"):
        writer.finalize()


def test_create_refuses_to_clobber(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    path = tmp_path / "z"
    write_zarr(path, layout, data)
    with pytest.raises(StoreError, match=f"{path}.*already holds a complete store"):
        ZarrWriter.create(path, layout, ATTRS)
    with pytest.raises(StoreError, match="already holds a complete store"):
        ParquetWriter.create(path, layout, ATTRS)
    assert store_status(path) == "complete"
    # an incomplete one is only resumed via reopen, or replaced with overwrite=True
    ZarrWriter.create(path, layout, ATTRS, overwrite=True)
    assert store_status(path) == "incomplete"
    with pytest.raises(StoreError, match="incomplete store"):
        ZarrWriter.create(path, layout, ATTRS)
    write_zarr(path, layout, data, overwrite=True)
    check_store(open_store(path), layout, data)
    # never delete something that is not a daskfractal store, even with overwrite=True
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    for cls in (ZarrWriter, ParquetWriter):
        with pytest.raises(StoreError, match="not a daskfractal store"):
            cls.create(foreign, layout, ATTRS, overwrite=True)
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_reopen_resumes_and_validates(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    write_zarr(tmp_path / "ref", layout, data)
    path = tmp_path / "z"
    first = ZarrWriter.create(path, layout, ATTRS)
    jobs = shard_jobs(layout)
    for split, name, k in jobs[::2]:
        a, b = layout.shard_bounds(split, k)
        first.write_shard(split, name, k, data[split][name][a:b])
    # a crash mid-write: shard file damaged, a zarr temporary left behind, no marker
    split, name, k = jobs[1]
    shard_file = path / split / name / "c" / str(k)
    shard_file.parent.mkdir(parents=True, exist_ok=True)
    shard_file.write_bytes(b"half a shard")
    (shard_file.parent / f"{k}.0123abcd.partial").write_bytes(b"junk")

    other = StoreLayout.from_dict({**layout.to_dict(), "n_items": layout.n_items + 1})
    with pytest.raises(StoreError, match="different layout"):
        ZarrWriter.reopen(path, other)
    with pytest.raises(StoreError, match="different parameters"):
        ZarrWriter.reopen(path, layout, {**ATTRS, "seed": 43})
    with pytest.raises(StoreError, match="not parquet"):
        ParquetWriter.reopen(path, layout)
    with pytest.raises(StoreError, match="no store"):
        ZarrWriter.reopen(tmp_path / "nowhere", layout)

    writer = ZarrWriter.reopen(path, layout, ATTRS)
    pending = writer.pending_shards()
    assert pending == jobs[1::2]
    for split, name, k in pending:
        a, b = layout.shard_bounds(split, k)
        writer.write_shard(split, name, k, data[split][name][a:b])
    for key in SMALL_KEYS:
        writer.write_small(key, data["small"][key])
    writer.finalize({"nnz": layout.to_dict()["nnz"]})
    check_store(open_store(path), layout, data)
    assert tree_bytes(path) == tree_bytes(tmp_path / "ref")
    with pytest.raises(StoreError, match="already complete"):
        ZarrWriter.reopen(path, layout)


def test_writers_pickle(tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]) -> None:
    layout, data = small_case
    zw = ZarrWriter.create(tmp_path / "z", layout, ATTRS)
    zw.write_shard("train", "indices", 0, data["train"]["indices"][:12])  # fills a cache
    clone = pickle.loads(pickle.dumps(zw))
    assert clone.path == zw.path and clone.layout == layout
    assert clone.shard_done("train", "indices", 0)
    assert len(pickle.dumps(zw)) < 2000
    pw = pickle.loads(pickle.dumps(ParquetWriter.create(tmp_path / "p", layout, ATTRS)))
    assert pw.layout == layout


def test_attrs_must_be_json(tmp_path: Path) -> None:
    layout = StoreLayout(2, 2, {"train": 0, "test": 0})
    attrs = {"b": np.int64(3), "a": np.array([[1.5, 2.0]]), "c": (np.float32(0.5), True)}
    ZarrWriter.create(tmp_path / "z", layout, attrs)
    meta = json.loads((tmp_path / "z" / "zarr.json").read_text())["attributes"]
    assert meta["daskfractal"] == {"a": [[1.5, 2.0]], "b": 3, "c": [0.5, True]}
    assert list(meta["daskfractal"]) == ["a", "b", "c"]
    for bad in ({"x": float("nan")}, {"x": object()}, {1: 2}):
        with pytest.raises(ParameterError):
            ZarrWriter.create(tmp_path / "bad", layout, bad)
        assert not (tmp_path / "bad").exists()


# ----------------------------------------------------------------------------- parquet
def test_parquet_roundtrip_and_engines(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    path = tmp_path / "p"
    write_parquet(path, layout, data, n_parts=4)
    store = open_any(path)
    assert store.format == "parquet"
    check_store(store, layout, data)
    assert (path / "_SUCCESS").is_file()
    assert json.loads((path / "_daskfractal.json").read_text())["complete"] is True
    for split in SPLITS:
        want = expected_frame(layout, data, split)
        got = pd.read_parquet(path / split)
        pd.testing.assert_frame_equal(got, want)
        table = pads.dataset(path / split, format="parquet").to_table()
        assert table.schema.names == ["user_id", "item_id", "rating", "timestamp"]
        assert table.schema.field("user_id").type == pa.int64()
        assert table.schema.field("item_id").type == pa.int32()
        assert table.schema.metadata is None or b"pandas" not in table.schema.metadata
        pd.testing.assert_frame_equal(table.to_pandas(), want)
        with warnings.catch_warnings():
            # dask 2026.8's parquet reader calls reset_index(inplace=True), deprecated in pandas
            # 3.1 (not our files' fault); ExpansionStore.to_dask_dataframe avoids that reader.
            # (pandas.errors.Pandas4Warning, which older pandas do not have: match the text)
            warnings.filterwarnings("ignore", "The inplace keyword")
            got = dd.read_parquet(str(path / split)).compute().reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)
        for part in sorted((path / split).iterdir()):
            assert part.name.startswith("part-") and part.suffix == ".parquet"
            meta = pq.read_metadata(part)
            if meta.num_row_groups:
                assert meta.row_group(0).column(0).compression == "ZSTD"
    stats = pq.read_table(path / "stats" / "block_train.parquet").to_pandas()
    assert list(stats.columns) == ["block_row", "block_col", "value"]
    assert pq.read_table(path / "users" / "slot.parquet").column_names == ["slot"]
    with pytest.raises(StoreError, match="was not written"):
        store.indptr("train")


def test_parquet_refusals(tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]) -> None:
    layout, data = small_case
    writer = ParquetWriter.create(tmp_path / "p", layout, ATTRS)
    d = data["train"]
    full = {c: d[c] for c in layout.carry}
    with pytest.raises(StoreError, match="must be sorted"):
        writer.write_part("train", 0, d["users"][::-1], d["indices"], **full)
    with pytest.raises(StoreError, match="carries ratings"):
        writer.write_part("train", 0, d["users"], d["indices"], timestamps=d["timestamps"])
    with pytest.raises(StoreError, match="equal length"):
        writer.write_part("train", 0, d["users"], d["indices"][:-1], **full)
    with pytest.raises(StoreError, match="must lie in"):
        writer.write_part("train", 0, d["users"] + layout.n_users, d["indices"], **full)
    with pytest.raises(ParameterError):
        writer.write_part("train", -1, d["users"], d["indices"], **full)
    assert not writer.part_done("train", 0)
    half = len(d["users"]) // 2
    writer.write_part("train", 0, d["users"][:half], d["indices"][:half],
                      **{c: v[:half] for c, v in full.items()})  # fmt: skip
    assert writer.part_done("train", 0)
    assert not any(p.name.startswith(".") for p in (tmp_path / "p" / "train").iterdir())
    with pytest.raises(StoreError, match="not written"):
        writer.finalize()
    for key in SMALL_KEYS:
        if not key.endswith("/indptr"):
            writer.write_small(key, data["small"][key])
    with pytest.raises(StoreError, match=f"train parts hold {half} rows, expected nnz=30"):
        writer.finalize()
    with pytest.raises(StoreError, match="is incomplete"):
        open_store(tmp_path / "p")
    resumed = ParquetWriter.reopen(tmp_path / "p", layout, ATTRS)
    assert resumed.part_done("train", 0)
    resumed.write_part("train", 1, d["users"][half:], d["indices"][half:],
                       **{c: v[half:] for c, v in full.items()})  # fmt: skip
    t = data["test"]
    resumed.write_part("test", 0, t["users"], t["indices"], **{c: t[c] for c in layout.carry})
    resumed.write_small("train/indptr", d["indptr"])
    resumed.finalize({"nnz": layout.to_dict()["nnz"]})
    store = open_store(tmp_path / "p")
    check_store(store, layout, data)
    np.testing.assert_array_equal(store.indptr("train"), d["indptr"])


def test_parquet_is_byte_identical(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]]
) -> None:
    layout, data = small_case
    write_parquet(tmp_path / "a", layout, data, n_parts=3, seed=5)
    write_parquet(tmp_path / "b", layout, data, n_parts=3, seed=5)
    a = tree_bytes(tmp_path / "a")
    assert a == tree_bytes(tmp_path / "b")
    assert "train/part-00002.parquet" in a


# ----------------------------------------------------------------------------- property
# Each example writes and fully re-reads two stores (~0.8 s): a third of the profile's examples.
@settings(max_examples=max(5, settings.default.max_examples // 3))
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 15),
    n_items=st.integers(1, 20),
    nnz_train=st.integers(0, 70),
    nnz_test=st.integers(0, 20),
    carry=st.sampled_from([(), ("ratings",), ("timestamps",), ("ratings", "timestamps")]),
    chunk=st.integers(1, 6),
    chunks_per_shard=st.integers(1, 4),
    n_parts=st.integers(1, 4),
)
def test_roundtrip_property(
    seed: int,
    n_users: int,
    n_items: int,
    nnz_train: int,
    nnz_test: int,
    carry: tuple[str, ...],
    chunk: int,
    chunks_per_shard: int,
    n_parts: int,
) -> None:
    data = make_data(seed, n_users, n_items, {"train": nnz_train, "test": nnz_test}, carry)
    layout = layout_for(
        data, n_users, n_items, carry=carry, shard_elems=chunk * chunks_per_shard,
        chunk_elems=chunk,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_zarr(root / "z", layout, data, "threads")
        check_store(open_store(root / "z"), layout, data)
        write_parquet(root / "p", layout, data, n_parts=n_parts, seed=seed)
        check_store(open_store(root / "p"), layout, data)
        assert os.listdir(root / "z" / "train")  # the group directories exist


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_reads_format_1_stores(
    tmp_path: Path, small_case: tuple[StoreLayout, dict[str, Any]], fmt: str
) -> None:
    """Stores of format 1 (before the exact / balanced dropouts used Floyd's sampling: the
    same layout) are read as before; an unknown version is refused with one line."""
    layout, data = small_case
    root = tmp_path / "s"
    if fmt == "zarr":
        write_zarr(root, layout, data)
        meta_file = root / "zarr.json"
    else:
        write_parquet(root, layout, data)
        meta_file = root / "_daskfractal.json"
    text = meta_file.read_text()
    current = f'"format_version": {FORMAT_VERSION}'
    assert text.count(current) == 1  # the same bytes but the version: the manifest holds
    for version, readable in ((1, True), (2, True), (9, False)):
        meta_file.write_text(text.replace(current, f'"format_version": {version}'))
        # as the library of that version wrote it: its manifest holds that metadata
        meta = json.loads(meta_file.read_text())
        write_manifest(root, {}, meta["attributes"] if fmt == "zarr" else meta)
        if readable:
            check_store(open_store(root), layout, data)
        else:
            with pytest.raises(StoreError, match=r"format_version 9; .* reads 1, 2, 3"):
                open_store(root)
