"""Data-set readers: real files, tiny hand-made inputs of every format, and every bad input."""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from daskfractal.datasets import FORMATS, embedded_datasets, load, readers
from daskfractal.errors import InputDataError, ParameterError
from daskfractal.interactions import Interactions
from daskfractal.testing import (
    embedded_movielens_dir,
    fat_tailed_interactions,
    write_adjacency_split,
    write_movielens_udata,
)

from .conftest import has_shared, if_shared, shared_file

ML_SMALL_SHA256 = "80da8b3393dae325bbba5a31f291a6ba55d8d4f4396de3c456f2c1635b1b70e8"
ML_SMALL_README_SHA256 = "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404"


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def _orig(data: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Original ids of every interaction, in file order."""
    return data.user_ids[data.users], data.item_ids[data.items]


def _adjacency_count(path: Path) -> tuple[list[int], list[int]]:
    """Independent, plain-Python reading of an adjacency list."""
    users, items = [], []
    for line in path.read_text().splitlines():
        ids = [int(x) for x in line.split()]
        if ids:
            users += [ids[0]] * (len(ids) - 1)
            items += ids[1:]
    return users, items


# --------------------------------------------------------------------------------------------
# real data from ../shared/data; without it, the same formats written from the embedded or
# generated data (the shared variants skip)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated_udata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded data set written as MovieLens 100K ``u.data`` (tab-separated, no header)."""
    data = fat_tailed_interactions(700, 1_300, 40, seed=3, ratings=True, timestamps=True)
    folder = tmp_path_factory.mktemp("ml-generated")
    return write_movielens_udata(folder / "u.data", data)


@pytest.fixture(scope="module")
def generated_adjacency(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded given split written as NGCF/LightGCN train.txt / valid.txt / test.txt."""
    data = fat_tailed_interactions(30_000, 40_000, 34, seed=4, test_share=0.2)
    folder = tmp_path_factory.mktemp("adjacency")
    return write_adjacency_split(folder, data, valid_share=0.08, seed=5) / "train.txt"


@pytest.mark.parametrize(
    "where", ["embedded", *if_shared(["shared"], "ml-latest-small", "ratings.csv")]
)
def test_ml_latest_small_file_and_directory(where: str, tmp_path: Path) -> None:
    if where == "embedded":
        path = embedded_movielens_dir(tmp_path) / "ratings.csv"
    else:
        path = shared_file("ml-latest-small", "ratings.csv")
    for source in (path, str(path.parent)):
        data = load(source)
        assert (data.nnz, data.n_users, data.n_items) == (100_836, 610, 9_724)
        assert data.meta["format"] == "movielens"
        assert data.meta["layout"] == "ratings.csv"
    assert data.source == str(path.parent / "ratings.csv")
    df = pd.read_csv(path)
    users, items = _orig(data)
    np.testing.assert_array_equal(users, df["userId"].to_numpy())
    np.testing.assert_array_equal(items, df["movieId"].to_numpy())
    np.testing.assert_array_equal(data.ratings, df["rating"].to_numpy(np.float32))
    np.testing.assert_array_equal(data.timestamps, df["timestamp"].to_numpy())
    assert data.ratings.dtype == np.float32 and data.timestamps.dtype == np.int64
    assert data.is_test is None


@pytest.mark.parametrize("where", ["generated", *if_shared(["shared"], "ml-100k", "u.data")])
def test_ml_100k(where: str, generated_udata: Path) -> None:
    if where == "generated":
        path = generated_udata
        df = pd.read_csv(path, sep="\t", header=None)
        counts = (len(df), df[0].nunique(), df[1].nunique())
    else:
        path = shared_file("ml-100k", "u.data")
        counts = (100_000, 943, 1_682)
    for source in (path, path.parent):
        data = load(source)
        assert (data.nnz, data.n_users, data.n_items) == counts
        assert data.meta["layout"] == "u.data"
    df = pd.read_csv(path, sep="\t", header=None)
    users, items = _orig(data)
    np.testing.assert_array_equal(users, df[0].to_numpy())
    np.testing.assert_array_equal(items, df[1].to_numpy())
    np.testing.assert_array_equal(data.ratings, df[2].to_numpy(np.float32))
    np.testing.assert_array_equal(data.timestamps, df[3].to_numpy())


@pytest.mark.parametrize("where", ["generated", *if_shared(["shared"], "gowalla", "test.txt")])
def test_gowalla_given_split(where: str, generated_adjacency: Path) -> None:
    if where == "generated":
        train = generated_adjacency
        valid, test = train.with_name("valid.txt"), train.with_name("test.txt")
    else:
        train = shared_file("gowalla", "train.txt")
        valid = shared_file("gowalla", "valid.txt")
        test = shared_file("gowalla", "test.txt")
    counts = {p.name: _adjacency_count(p) for p in (train, valid, test)}
    data = load(train.parent)
    users = [u for name in ("train.txt", "valid.txt", "test.txt") for u in counts[name][0]]
    items = [i for name in ("train.txt", "valid.txt", "test.txt") for i in counts[name][1]]
    assert data.nnz == len(users)
    assert (data.n_users, data.n_items) == (len(set(users)), len(set(items)))
    if where == "shared":
        assert data.nnz == 1_027_370 and (data.n_users, data.n_items) == (29_858, 40_981)
    got_users, got_items = _orig(data)
    np.testing.assert_array_equal(got_users, users)
    np.testing.assert_array_equal(got_items, items)
    assert int(data.is_test.sum()) == len(counts["test.txt"][1])
    n_train, n_valid = len(counts["train.txt"][1]), len(counts["valid.txt"][1])
    assert not data.is_test[: n_train + n_valid].any() and data.is_test[n_train + n_valid :].all()
    assert data.meta["split_rows"] == {
        "train": [0, n_train],
        "valid": [n_train, n_train + n_valid],
        "test": [n_train + n_valid, data.nnz],
    }
    assert data.ratings is None and data.timestamps is None

    # train.txt with test= (no valid.txt)
    data = load(train, test=test)
    assert data.nnz == n_train + len(counts["test.txt"][1])
    assert int(data.is_test.sum()) == len(counts["test.txt"][1])
    assert data.meta["files"] == [str(train), str(test)]


@pytest.mark.parametrize("where", ["generated", *if_shared(["shared"], "gowalla", "test.txt")])
def test_gowalla_train_is_fast(where: str, generated_adjacency: Path) -> None:
    train = generated_adjacency if where == "generated" else shared_file("gowalla", "train.txt")
    load(train)  # warm the page cache and imports
    start = time.perf_counter()
    data = load(train)
    assert time.perf_counter() - start < 2.0
    assert data.nnz == len(_adjacency_count(train)[1])


# --------------------------------------------------------------------------------------------
# embedded default
# --------------------------------------------------------------------------------------------


def test_embedded_default() -> None:
    assert embedded_datasets() == ["ml-latest-small"]
    data = load("default")
    assert (data.nnz, data.n_users, data.n_items) == (100_836, 610, 9_724)
    assert data.meta["embedded"] == "ml-latest-small"
    same = load("ml-latest-small")
    np.testing.assert_array_equal(same.users, data.users)
    np.testing.assert_array_equal(same.timestamps, data.timestamps)


def test_embedded_files_are_the_published_ones() -> None:
    from importlib import resources

    folder = resources.files("daskfractal.datasets").joinpath("data", "ml-latest-small")
    raw = pa.input_stream(str(folder.joinpath("ratings.csv.zst")), compression="zstd").read()
    assert hashlib.sha256(raw).hexdigest() == ML_SMALL_SHA256
    readme = folder.joinpath("README.txt").read_bytes()
    assert b"may redistribute the data set" in readme
    assert hashlib.sha256(readme).hexdigest() == ML_SMALL_README_SHA256


if has_shared("ml-latest-small", "README.txt"):  # an added case where shared data exists

    def test_embedded_readme_is_the_shared_one() -> None:
        from importlib import resources

        folder = resources.files("daskfractal.datasets").joinpath("data", "ml-latest-small")
        original = shared_file("ml-latest-small", "README.txt")
        assert folder.joinpath("README.txt").read_bytes() == original.read_bytes()


def test_embedded_rejects_options() -> None:
    with pytest.raises(ParameterError, match="embedded"):
        load("default", user_col="a", item_col="b")
    with pytest.raises(ParameterError, match="MovieLens, not 'adjacency'"):
        load("default", format="adjacency")


# --------------------------------------------------------------------------------------------
# MovieLens layouts, tiny files
# --------------------------------------------------------------------------------------------

ML_ROWS = [(1, 10, 4.0, 100), (1, 30, 3.5, 101), (7, 10, 5.0, 99), (3, 20, 1.0, 50)]


def _check_ml(data: Interactions) -> None:
    users, items = _orig(data)
    assert users.tolist() == [r[0] for r in ML_ROWS]
    assert items.tolist() == [r[1] for r in ML_ROWS]
    assert data.ratings.tolist() == [r[2] for r in ML_ROWS]
    assert data.timestamps.tolist() == [r[3] for r in ML_ROWS]
    assert data.user_ids.tolist() == [1, 3, 7] and data.item_ids.tolist() == [10, 20, 30]


def _ml_text(sep: str, header: str | None) -> str:
    lines = [sep.join(str(v) for v in r) for r in ML_ROWS]
    return "\n".join(([header] if header else []) + lines) + "\n"


def test_movielens_csv(tmp_path: Path) -> None:
    path = _write(tmp_path / "ratings.csv", _ml_text(",", "userId,movieId,rating,timestamp"))
    data = load(path)
    _check_ml(data)
    assert data.source == str(path)
    assert data.meta == {
        "format": "movielens",
        "layout": "ratings.csv",
        "columns": {
            "user": "userId",
            "item": "movieId",
            "rating": "rating",
            "timestamp": "timestamp",
        },
        "sep": ",",
        "header": True,
        "files": [str(path)],
    }


def test_movielens_dat_double_colon(tmp_path: Path) -> None:
    path = _write(tmp_path / "ratings.dat", _ml_text("::", None))
    data = load(path)
    _check_ml(data)
    assert data.meta["layout"] == "ratings.dat"
    assert data.meta["columns"]["item"] == "MovieID"
    _check_ml(load(tmp_path))  # the directory


def test_movielens_u_data_tab(tmp_path: Path) -> None:
    path = _write(tmp_path / "u.data", _ml_text("\t", None))
    _check_ml(load(path))
    _check_ml(load(tmp_path, format="movielens"))


@pytest.mark.parametrize(
    ("sep", "header"), [(",", "userId,movieId,rating,timestamp"), ("::", None), ("\t", None)]
)
def test_movielens_layout_sniffed_for_other_names(tmp_path: Path, sep: str, header: str) -> None:
    path = _write(tmp_path / "my-ratings.txt", _ml_text(sep, header))
    _check_ml(load(path, format="movielens"))


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2"])
def test_movielens_compressed(tmp_path: Path, suffix: str) -> None:
    text = _ml_text(",", "userId,movieId,rating,timestamp").encode()
    path = tmp_path / f"ratings.csv{suffix}"
    codec = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2"}[suffix]
    with pa.output_stream(str(path), compression=codec) as f:
        f.write(text)
    _check_ml(load(path))
    _check_ml(load(tmp_path))


def test_movielens_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    text = "\ufeffuserId,movieId,rating,timestamp\r\n\r\n" + _ml_text(",", None).replace(
        "\n", "\r\n\r\n"
    )
    _check_ml(load(_write(tmp_path / "ratings.csv", text)))


# --------------------------------------------------------------------------------------------
# generic CSV / TSV / Parquet
# --------------------------------------------------------------------------------------------


def test_generic_csv_custom_columns(tmp_path: Path) -> None:
    text = "sku,when,uid,score\n10,2020-01-01T00:00:00,1,4\n20,2020-01-02 00:00:01,5,2.5\n"
    path = _write(tmp_path / "events.csv", text)
    data = load(path, user_col="uid", item_col="sku", rating_col="score", timestamp_col="when")
    users, items = _orig(data)
    assert users.tolist() == [1, 5] and items.tolist() == [10, 20]
    assert data.ratings.tolist() == [4.0, 2.5]
    assert data.timestamps.tolist() == [1577836800, 1577923201]
    assert data.meta["format"] == "csv"
    assert data.meta["columns"] == {
        "user": "uid",
        "item": "sku",
        "rating": "score",
        "timestamp": "when",
    }
    # only the id columns
    data = load(path, user_col="uid", item_col="sku")
    assert data.ratings is None and data.timestamps is None


def test_generic_csv_defaults_to_movielens_columns(tmp_path: Path) -> None:
    rows = "".join(f"{t},{u},{i},{r}\n" for u, i, r, t in ML_ROWS)
    # columns are matched by name, not position: they are permuted here
    path = _write(tmp_path / "mine.csv", "timestamp,userId,movieId,rating\n" + rows)
    data = load(path)
    _check_ml(data)
    assert data.meta["columns"] == {
        "user": "userId",
        "item": "movieId",
        "rating": "rating",
        "timestamp": "timestamp",
    }


def test_ratings_csv_with_columns_is_generic(tmp_path: Path) -> None:
    path = _write(tmp_path / "ratings.csv", "user,item,when\n1,2,3\n4,5,6\n")
    data = load(path, user_col="user", item_col="item", timestamp_col="when")
    assert data.meta["format"] == "csv"
    assert _orig(data)[1].tolist() == [2, 5]


def test_tsv_and_separators(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "log.tsv", "u\ti\tr\n1\t2\t3\n4\t5\t6\n")
    data = load(tsv, user_col="u", item_col="i", rating_col="r")
    assert _orig(data)[0].tolist() == [1, 4] and data.ratings.tolist() == [3.0, 6.0]
    semi = _write(tmp_path / "log.txt", "u;i\n1;2\n4;5\n")
    assert _orig(load(semi, sep=";", user_col="u", item_col="i"))[1].tolist() == [2, 5]
    double = _write(tmp_path / "log.dat", "u::i\n1::2\n4::5\n")
    assert _orig(load(double, sep="::", user_col="u", item_col="i"))[1].tolist() == [2, 5]
    arrow = _write(tmp_path / "log2.txt", "u -> i\n1 -> 2\n4 -> 5\n")
    assert _orig(load(arrow, sep=" -> ", user_col="u", item_col="i"))[1].tolist() == [2, 5]


def test_headerless_positions(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "9,1,2\n8,3,4\n")
    for cols in ((1, 2), ("1", "2")):
        data = load(path, header=False, user_col=cols[0], item_col=cols[1], timestamp_col=0)
        assert _orig(data)[0].tolist() == [1, 3] and _orig(data)[1].tolist() == [2, 4]
        assert data.timestamps.tolist() == [9, 8]
        assert data.meta["columns"] == {"user": 1, "item": 2, "timestamp": 0}


def test_lenient_numbers(tmp_path: Path) -> None:
    # integral floats and padded fields are accepted as ids
    path = _write(tmp_path / "x.csv", "u,i\n1.0, 2\n 3 ,4.00\n")
    data = load(path, user_col="u", item_col="i")
    assert _orig(data)[0].tolist() == [1, 3] and _orig(data)[1].tolist() == [2, 4]


def test_parquet_file_and_directory(tmp_path: Path) -> None:
    table = pa.table(
        {
            "uid": pa.array([5, 6, 5], pa.int32()),
            "iid": pa.array([1, 1, 2], pa.uint16()),
            "stars": pa.array([1.5, 2.0, 3.0]),
            "t": pa.array([1, 2, 3], pa.timestamp("s")),
        }
    )
    path = tmp_path / "d" / "part-0.parquet"
    path.parent.mkdir()
    pq.write_table(table.slice(0, 2), path, compression="zstd")
    pq.write_table(table.slice(2), tmp_path / "d" / "part-1.parquet")
    data = load(path, user_col="uid", item_col="iid", rating_col="stars", timestamp_col="t")
    assert _orig(data)[0].tolist() == [5, 6] and data.meta["format"] == "parquet"
    data = load(path.parent, user_col="uid", item_col=1, rating_col="stars", timestamp_col="t")
    assert _orig(data)[0].tolist() == [5, 6, 5]
    assert _orig(data)[1].tolist() == [1, 1, 2]
    assert data.ratings.tolist() == [1.5, 2.0, 3.0] and data.timestamps.tolist() == [1, 2, 3]
    assert data.meta["columns"]["item"] == "iid"


# --------------------------------------------------------------------------------------------
# in-memory sources
# --------------------------------------------------------------------------------------------


def test_dataframe() -> None:
    df = pd.DataFrame({"userId": [3, 1], "movieId": [7, 7], "rating": [1, 2], "timestamp": [5, 6]})
    data = load(df)
    assert _orig(data)[0].tolist() == [3, 1] and data.ratings.tolist() == [1.0, 2.0]
    assert data.timestamps.tolist() == [5, 6] and data.source == "<DataFrame>"
    df = pd.DataFrame(
        {
            "u": pd.array([10, 20], dtype="Int64"),
            "i": pd.Categorical([5, 9]),
            "when": pd.to_datetime(["1970-01-01 00:00:10", "1970-01-02 00:00:00"]),
        }
    )
    data = load(df, user_col="u", item_col="i", timestamp_col="when")
    assert _orig(data)[1].tolist() == [5, 9] and data.timestamps.tolist() == [10, 86400]
    assert data.ratings is None
    data = load(pd.DataFrame([[1, 2], [3, 4]]), user_col=0, item_col=1)
    assert _orig(data)[1].tolist() == [2, 4]


def test_pyarrow_table_and_batch() -> None:
    table = pa.table({"userId": [4, 2], "movieId": [1, 8], "rating": [0.5, 5.0]})
    for source in (table, table.to_batches()[0]):
        data = load(source)
        assert _orig(data)[0].tolist() == [4, 2] and data.ratings.tolist() == [0.5, 5.0]
        assert data.timestamps is None and data.meta["format"] == "arrow"
    data = load(table, user_col="movieId", item_col="userId")
    assert _orig(data)[0].tolist() == [1, 8]


def test_scipy_sparse() -> None:
    dense = np.array([[0, 4, 0, 0], [0, 0, 0, 0], [2.5, 0, 0, 1]])
    for matrix in (sp.csr_matrix(dense), sp.coo_array(dense), sp.csc_array(dense)):
        data = load(matrix)
        assert data.user_ids.tolist() == [0, 2] and data.item_ids.tolist() == [0, 1, 3]
        pairs = sorted(zip(*_orig(data), data.ratings.tolist(), strict=True))
        assert pairs == [(0, 1, 4.0), (2, 0, 2.5), (2, 3, 1.0)]
        assert data.meta == {"format": "sparse", "shape": [3, 4]}
    # duplicates are summed, explicit zeros dropped, boolean matrices have no ratings
    coo = sp.coo_array((np.array([1.0, 2.0, 0.0]), (np.array([0, 0, 1]), np.array([1, 1, 2]))))
    data = load(coo)
    assert data.nnz == 1 and data.ratings.tolist() == [3.0]
    assert load(sp.csr_array(dense > 0)).ratings is None


# --------------------------------------------------------------------------------------------
# adjacency lists
# --------------------------------------------------------------------------------------------


def test_adjacency_tiny(tmp_path: Path) -> None:
    text = "0 5 6 7\n1\n\n2\t5  9 \r\n3 6\n"
    path = _write(tmp_path / "train.txt", text)
    data = load(path)
    users, items = _orig(data)
    assert users.tolist() == [0, 0, 0, 2, 2, 3]
    assert items.tolist() == [5, 6, 7, 5, 9, 6]
    assert data.user_ids.tolist() == [0, 2, 3]  # user 1 listed without items
    assert data.is_test is None and data.meta["format"] == "adjacency"
    _write(tmp_path / "valid.txt", "4 5\n")
    _write(tmp_path / "test.txt", "0 9\n3 5 7\n")
    data = load(tmp_path)
    assert data.is_test.tolist() == [False] * 7 + [True] * 3
    assert data.meta["split_rows"] == {"train": [0, 6], "valid": [6, 7], "test": [7, 10]}
    assert data.meta["files"] == [str(tmp_path / n) for n in ("train.txt", "valid.txt", "test.txt")]
    data = load(path, test=tmp_path / "test.txt")
    assert data.is_test.tolist() == [False] * 6 + [True] * 3


def test_adjacency_explicit_format_and_no_trailing_newline(tmp_path: Path) -> None:
    path = _write(tmp_path / "graph.adj", "7 1 2\n8 3")
    data = load(path, format="adjacency")
    assert _orig(data)[0].tolist() == [7, 7, 8] and _orig(data)[1].tolist() == [1, 2, 3]


@settings(max_examples=25, deadline=None)
@given(
    lines=st.lists(
        st.tuples(st.integers(0, 10**12), st.lists(st.integers(0, 10**15), max_size=6)),
        min_size=1,
        max_size=30,
    ),
    block=st.sampled_from([8, 16, 64, 1 << 20]),
)
def test_adjacency_blocks_roundtrip(
    tmp_path_factory: pytest.TempPathFactory, lines: list, block: int
) -> None:
    path = tmp_path_factory.mktemp("adj") / "g.txt"
    path.write_text("".join(f"{u} {' '.join(map(str, its))}\n" for u, its in lines))
    expected_users = [u for u, its in lines for _ in its]
    expected_items = [i for _, its in lines for i in its]
    old = readers._ADJACENCY_BLOCK
    readers._ADJACENCY_BLOCK = block
    try:
        if not expected_items:
            with pytest.raises(InputDataError, match="no interactions"):
                load(path)
            return
        data = load(path)
    finally:
        readers._ADJACENCY_BLOCK = old
    assert _orig(data)[0].tolist() == expected_users
    assert _orig(data)[1].tolist() == expected_items


def test_adjacency_error_line_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "g.txt", "".join(f"{u} 1 2 3\n" for u in range(50)) + "50 1 y\n")
    monkeypatch.setattr(readers, "_ADJACENCY_BLOCK", 32)
    with pytest.raises(
        InputDataError, match=r"g\.txt: line 51, column 6: unexpected character 'y'"
    ):
        load(path)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

ML_HEADER = "userId,movieId,rating,timestamp\n"


@pytest.mark.parametrize(
    ("name", "text", "kwargs", "match"),
    [
        # missing / misnamed columns
        (
            "ratings.csv",
            "user,item\n1,2\n",
            {},
            r"ratings\.csv: no column 'userId' .*columns found: 'user', 'item'",
        ),
        (
            "x.csv",
            "a,b\n1,2\n",
            {"user_col": "a", "item_col": "c"},
            r"x\.csv: no column 'c' \(item_col\); columns found: 'a', 'b'",
        ),
        (
            "x.csv",
            "a,b\n1,2\n",
            {"user_col": "a", "item_col": 5},
            r"x\.csv: item_col=5 is out of range",
        ),
        # non-numeric ids, with the physical line (header and blank lines counted)
        (
            "ratings.csv",
            ML_HEADER + "1,10,4,100\n\n2,x,3,200\n",
            {},
            r"ratings\.csv: line 4, column 'movieId': item id 'x' is not a non-negative integer",
        ),
        (
            "ratings.dat",
            "1::10::5::100\n2::11::5::200\nabc::12::1::300\n",
            {},
            r"ratings\.dat: line 3, column 'UserID': user id 'abc'",
        ),
        (
            "u.data",
            "1\t2\t3\t4\n1\t2\tgood\t4\n",
            {},
            r"u\.data: line 2, column 'rating': rating 'good' is not a number",
        ),
        (
            "x.tsv",
            "u\ti\n1\t2\n3\t4\n5\t6.5\n",
            {"user_col": "u", "item_col": "i"},
            r"x\.tsv: line 4, column 'i': item id 6\.5 is not an integer",
        ),
        (
            "x.csv",
            "u,i,t\n1,2,3\n1,3,yesterday\n",
            {"user_col": "u", "item_col": "i", "timestamp_col": "t"},
            r"x\.csv: line 3, column 't': timestamp 'yesterday'",
        ),
        # negative ids
        (
            "ratings.csv",
            ML_HEADER + "1,10,4,100\n-2,11,3,5\n",
            {},
            r"ratings\.csv: line 3, column 'userId': negative user id -2",
        ),
        (
            "ratings.dat",
            "1::10::5::100\n1::-3::5::100\n",
            {},
            r"ratings\.dat: line 2, column 'MovieID': negative item id -3",
        ),
        ("train.txt", "0 1 2\n1 -3\n", {}, r"train\.txt: line 2, column 3: a negative id"),
        # other malformed content
        (
            "train.txt",
            "0 1 2\n1 3 x4\n",
            {},
            r"train\.txt: line 2, column 5: unexpected character 'x'",
        ),
        (
            "train.txt",
            "0 1 2\n1 12345678901234567890\n",
            {},
            r"train\.txt: line 2, column 3: id is too large",
        ),
        (
            "ratings.csv",
            ML_HEADER + "1,10,4,100\r\n2,11,3\r\n",
            {},
            r"ratings\.csv: line 3: expected 4 fields separated by ',' .*found 3",
        ),
        (
            "ratings.dat",
            "1::10::5::100\n3::12:4::300\n",
            {},
            r"ratings\.dat: line 2: expected 4 fields separated by '::'",
        ),
        (
            "ratings.dat",
            "1::10::5::100\n3:x:12::4::300\n",
            {},
            r"ratings\.dat: line 2, column 'UserID': unexpected ':'",
        ),
        (
            "ratings.csv",
            ML_HEADER + "1,10,4,100\n2,11,NA,5\n",
            {},
            r"ratings\.csv: line 3, column 'rating': missing rating",
        ),
        (
            "ratings.csv",
            ML_HEADER + "1,,4,100\n",
            {},
            r"ratings\.csv: line 2, column 'movieId': missing item id",
        ),
        # empty files
        ("ratings.csv", "", {}, r"ratings\.csv: the file is empty"),
        ("ratings.dat", "\n\n", {}, r"ratings\.dat: the file is empty"),
        ("train.txt", "", {}, r"train\.txt: the file is empty"),
        ("x.csv", "", {"user_col": "a", "item_col": "b"}, r"x\.csv: the file is empty"),
        ("x.parquet", "", {"user_col": "a", "item_col": "b"}, r"x\.parquet: the file is empty"),
        ("ratings.csv", ML_HEADER, {}, r"ratings\.csv: no data lines after the header"),
        ("train.txt", "0\n1\n", {}, r"train\.txt: no interactions"),
        # not what the name says
        (
            "x.parquet",
            "a,b\n1,2\n",
            {"user_col": "a", "item_col": "b"},
            r"x\.parquet: not a readable Parquet file",
        ),
    ],
)
def test_bad_files(tmp_path: Path, name: str, text: str, kwargs: dict, match: str) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(InputDataError, match=match):
        load(path, **kwargs)


def test_empty_compressed_file(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(InputDataError, match=r"ratings\.csv\.gz: the file is empty"):
        load(path)
    rows = "".join(f"{k},{k * 7},3,{k * 13}\n" for k in range(20_000))
    packed = gzip.compress((ML_HEADER + rows).encode())
    path.write_bytes(packed[: len(packed) // 2])  # truncated
    with pytest.raises(InputDataError, match=r"ratings\.csv\.gz: cannot read the file"):
        load(path)


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"nope\.csv: no such file or directory"):
        load(tmp_path / "nope.csv")
    train = _write(tmp_path / "train.txt", "0 1\n")
    with pytest.raises(InputDataError, match=r"absent\.txt: no such file or directory"):
        load(train, test=str(tmp_path / "absent.txt"))


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file"
)
def test_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "ratings.csv", ML_HEADER + "1,2,3,4\n")
    path.chmod(0)
    try:
        with pytest.raises(InputDataError, match=r"ratings\.csv: permission denied"):
            load(path)
    finally:
        path.chmod(0o600)


def test_permission_errors_are_wrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "ratings.csv", ML_HEADER + "1,2,3,4\n")
    with monkeypatch.context() as m:
        m.setattr(os, "access", lambda *args, **kwargs: False)
        with pytest.raises(InputDataError, match=r"ratings\.csv: permission denied"):
            load(path)

    def _refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(readers.pa, "input_stream", _refuse)
    with pytest.raises(InputDataError, match=r"ratings\.csv: cannot read the file"):
        load(path)


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(ML_HEADER.encode() + b"1,2,3,4\n1,\xe9,3,4\n")
    with pytest.raises(InputDataError, match=r"line 3, column 'movieId': .* not valid UTF-8"):
        load(path)


def test_directory_without_data(tmp_path: Path) -> None:
    _write(tmp_path / "movies.csv", "movieId,title\n")
    with pytest.raises(InputDataError, match=r"no recognisable data file .*found: movies\.csv"):
        load(tmp_path)
    _write(tmp_path / "train.txt", "0 1\n")
    with pytest.raises(InputDataError, match="no recognisable data file in this directory for"):
        load(tmp_path, format="movielens")


def test_test_file_must_match(tmp_path: Path) -> None:
    main = _write(tmp_path / "a.csv", "u,i,r\n1,2,3\n")
    other = _write(tmp_path / "b.csv", "u,i\n1,2\n")
    with pytest.raises(InputDataError, match=r"b\.csv: no column 'r' \(rating_col\)"):
        load(main, test=other, user_col="u", item_col="i", rating_col="r")
    # MovieLens default columns: the rating column is optional, but must be in both files
    main = _write(tmp_path / "a.csv", "userId,movieId,rating\n1,2,3\n")
    with pytest.raises(InputDataError, match=r"b\.csv: has no ratings but .*a\.csv has"):
        load(main, test=_write(tmp_path / "b.csv", "userId,movieId\n1,2\n"))
    other = _write(tmp_path / "b.csv", "movieId,userId,rating\n1,2,3\n4,5,6\n")
    data = load(main, test=other)
    assert data.is_test.tolist() == [False, True, True]
    assert _orig(data)[0].tolist() == [1, 2, 5]
    assert data.meta["split_rows"] == {"train": [0, 1], "test": [1, 3]}


def test_bad_in_memory() -> None:
    df = pd.DataFrame({"user": [1, 2, 3], "item": [4, "five", 6]})
    with pytest.raises(InputDataError, match=r"<DataFrame>: row 1, column 'item': item id 'five'"):
        load(df, user_col="user", item_col="item")
    df = pd.DataFrame({"user": [1.0, np.nan], "item": [1, 2]})
    with pytest.raises(InputDataError, match=r"row 1, column 'user': missing user id"):
        load(df, user_col="user", item_col="item")
    with pytest.raises(InputDataError, match=r"no column 'x' \(user_col\); columns found: 'user'"):
        load(df, user_col="x", item_col="item")
    with pytest.raises(ParameterError, match=r"pass user_col= and item_col=.*'user', 'item'"):
        load(df)
    table = pa.table({"u": ["1", "2", "-3"], "i": [1, 2, 3]})
    with pytest.raises(InputDataError, match=r"<pyarrow\.Table>: row 2, column 'u': negative"):
        load(table, user_col="u", item_col="i")
    table = pa.table({"u": [[1], [2]], "i": [1, 2]})
    with pytest.raises(InputDataError, match=r"column 'u' has type list<item: int64>"):
        load(table, user_col="u", item_col="i")
    with pytest.raises(InputDataError, match=r"no interactions"):
        load(sp.csr_array((2, 3)))
    with pytest.raises(InputDataError, match=r"entry \(0, 1\) is not finite"):
        load(sp.csr_array(np.array([[0, np.nan]])))


def test_bad_parquet_values(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"u": ["1", "2", "b"], "i": [1, 2, 3]}), path)
    with pytest.raises(InputDataError, match=r"x\.parquet: row 2, column 'u': user id 'b'"):
        load(path, user_col="u", item_col="i")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"format": "xml"}, r"unknown format 'xml'; expected one of auto, movielens"),
        ({"format": "movielens", "user_col": "u", "item_col": "i"}, "fixed columns"),
        ({"format": "adjacency", "sep": ","}, "adjacency list"),
        ({"user_col": "u"}, "give both user_col and item_col"),
        ({"user_col": "u", "item_col": "i", "header": False}, "without a header, user_col must be"),
        ({"user_col": 1.5, "item_col": "i"}, "user_col must be a column name"),
        ({"user_col": -1, "item_col": "i"}, "user_col must be a non-negative position"),
        ({"sep": ""}, "sep must be a non-empty string"),
        ({"header": "yes"}, "header must be True or False"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    path = _write(tmp_path / "x.csv", "u,i\n1,2\n")
    with pytest.raises(ParameterError, match=match):
        load(path, **kwargs)


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="cannot load a list"):
        load([(1, 2)])
    with pytest.raises(ParameterError, match="applies to files"):
        load(pd.DataFrame({"userId": [1], "movieId": [2]}), format="csv")
    with pytest.raises(ParameterError, match=r"x\.json: cannot tell the format"):
        load(_write(tmp_path / "x.json", "{}"))
    with pytest.raises(ParameterError, match=r"u\.data has fixed columns"):
        load(_write(tmp_path / "u.data", "1\t2\t3\t4\n"), user_col=0, item_col=1)
    _write(tmp_path / "train.txt", "0 1\n")
    _write(tmp_path / "test.txt", "0 2\n")
    with pytest.raises(ParameterError, match=r"already holds a test\.txt"):
        load(tmp_path, test=tmp_path / "test.txt")
    with pytest.raises(ParameterError, match="is a directory; pass the test file"):
        load(tmp_path / "train.txt", test=tmp_path)


def test_formats_constant() -> None:
    assert FORMATS == ("auto", "movielens", "csv", "tsv", "parquet", "adjacency")
