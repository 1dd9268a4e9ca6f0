"""Other tools read the Parquet output as it is: DuckDB (SQL), Polars (lazy), pyarrow datasets.

The counts each tool computes equal the store's own (rows, distinct users, per-user degrees);
the hidden and ``_``-prefixed files daskfractal keeps beside the parts (``_daskfractal.json``,
``_SUCCESS``, the ownership marker, ``manifest.json`` one level up) do not disturb them.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow.dataset as pads
import pytest

import daskfractal as dfr

KEEP = np.array([[0.7, 0.4], [0.3, 0.6]])


@pytest.fixture(scope="module")
def parquet_store(tmp_path_factory: pytest.TempPathFactory) -> dfr.ExpansionStore:
    """ml-latest-small x (2, 2), ratings and timestamps carried, several part files."""
    split = dfr.preprocess(dfr.load("default"))
    ex = dfr.expand(split, keep=KEEP, seed=4)
    out = tmp_path_factory.mktemp("readers") / "out.pq"
    return ex.to_parquet(out, users_per_file=300, scheduler="threads", progress=False)


def users_with_entries(store: dfr.ExpansionStore, split: str) -> int:
    return int(np.count_nonzero(np.diff(store.indptr(split))))


@pytest.mark.parametrize("split", ["train", "test"])
def test_duckdb_counts_rows_and_users(parquet_store: dfr.ExpansionStore, split: str) -> None:
    glob = str(parquet_store.path / split / "*.parquet")
    with duckdb.connect() as con:
        rows, users, lo, hi = con.execute(
            "SELECT count(*), count(DISTINCT user_id), min(user_id), max(user_id) "
            "FROM read_parquet(?)",
            [glob],
        ).fetchone()
        degree = con.execute(
            "SELECT user_id, count(*) AS n FROM read_parquet(?) GROUP BY user_id ORDER BY user_id",
            [glob],
        ).fetchall()
    assert rows == parquet_store.nnz[split]
    assert users == users_with_entries(parquet_store, split)
    assert 0 <= lo <= hi < parquet_store.n_users
    want = np.diff(parquet_store.indptr(split))
    assert [n for _, n in degree] == want[want > 0].tolist()


def test_polars_scans_lazily(parquet_store: dfr.ExpansionStore) -> None:
    lazy = pl.scan_parquet(str(parquet_store.path / "train" / "*.parquet"))
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema().names() == ["user_id", "item_id", "rating", "timestamp"]
    summary = lazy.select(
        pl.len().alias("rows"), pl.col("user_id").n_unique().alias("users")
    ).collect()
    assert summary.row(0) == (parquet_store.nnz["train"], parquet_store.n_users)
    top = (
        lazy.group_by("item_id")
        .agg(pl.len().alias("n"))
        .sort(["n", "item_id"], descending=[True, False])
        .head(5)
        .collect()
    )
    degree = parquet_store.stats()["item_train_degree"]
    assert top["n"].to_list() == sorted(degree.tolist(), reverse=True)[:5]


def test_pyarrow_dataset_reads_the_folder(parquet_store: dfr.ExpansionStore) -> None:
    for split in ("train", "test"):
        ds = pads.dataset(parquet_store.path / split, format="parquet")
        assert ds.count_rows() == parquet_store.nnz[split]
        assert len(ds.files) == len(list((parquet_store.path / split).glob("part-*.parquet")))
        table = ds.to_table(filter=pads.field("user_id") < 10, columns=["user_id", "item_id"])
        assert table.num_rows == int(parquet_store.indptr(split)[10])
