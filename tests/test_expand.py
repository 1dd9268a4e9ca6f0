"""The expansion engine R̂ ⊗rand R: semantics, statistics, stores, determinism, resume.

Inputs are real data (the embedded ml-latest-small, and ML-100K from ../shared/data when
present), data with a given split (seeded generated data, and Gowalla from ../shared/data when
present) and small hypothesis-generated ``SplitData``. Block maps are recomputed from the
public permutation functions, so every output entry is traced back to the entry of
S = R_train − R_test it came from. Cluster runs (LocalCluster, dask-scheduler/dask-worker)
are in ``test_distributed.py``.
"""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import daskfractal as dfr
from daskfractal.errors import ParameterError, StoreError
from daskfractal.expansion import _write as write_mod
from daskfractal.expansion import targeted_keep
from daskfractal.kernels import (
    STREAM_COL_PERM,
    exact_row_counts,
    exact_total,
    invert_permutation,
    permutation_table,
)
from daskfractal.kernels import reference as ref
from daskfractal.kernels.reference_timeline import align_user
from daskfractal.store._ownership import MARKER as OWNER_MARKER
from daskfractal.testing.strategies import expand_options, keep_matrices, split_data

from .conftest import GIVEN_SPLIT, MOVIELENS, given_split_interactions, movielens_source

#: keep probabilities of the MovieLens cases (2 x 3, all strictly inside (0, 1))
ML_KEEP = np.array([[0.9, 0.35, 0.6], [0.25, 0.7, 0.45]])
ML_SEED = 7
#: small shards so that every split and carried array has several shards
SMALL_SHARDS = {"shard_size": 4096, "chunk_elems": 1024}
QUIET = {"progress": False}


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", params=MOVIELENS)
def ml_path(request: pytest.FixtureRequest) -> str:
    return movielens_source(request.param)


@pytest.fixture(scope="module")
def ml100k(ml_path: str) -> dfr.SplitData:
    """MovieLens (ml-latest-small 610 x 9724, ML-100K 943 x 1682), leave-last-out, ratings
    and timestamps kept."""
    return dfr.preprocess(dfr.load(ml_path))


@pytest.fixture(scope="module", params=GIVEN_SPLIT)
def gowalla(request: pytest.FixtureRequest) -> dfr.SplitData:
    """A given split with many test entries per user: generated (12,000 x 8,000) or Gowalla
    (29,858 x 40,981)."""
    return dfr.preprocess(given_split_interactions(request.param))


@pytest.fixture(scope="module", params=[*MOVIELENS, *GIVEN_SPLIT])
def any_split(request: pytest.FixtureRequest) -> dfr.SplitData:
    """Every real or real-like input above, one at a time."""
    name = request.param
    if name in ("generated", "gowalla"):
        return dfr.preprocess(given_split_interactions(name))
    return dfr.preprocess(dfr.load(movielens_source(name)))


def ml_expansion(split: dfr.SplitData, **kw: Any) -> dfr.Expansion:
    opts: dict[str, Any] = {"keep": ML_KEEP, "seed": ML_SEED}
    opts.update(kw)
    return dfr.expand(split, **opts)


@pytest.fixture(scope="module")
def reference_zarr(tmp_path_factory: pytest.TempPathFactory, ml100k: dfr.SplitData) -> Path:
    """The ML-100K expansion written once, sync scheduler, one task per block row."""
    out = tmp_path_factory.mktemp("reference") / "ref.zarr"
    ml_expansion(ml100k, chunk_size=10**9).to_zarr(out, scheduler="sync", **QUIET, **SMALL_SHARDS)
    return out


# ----------------------------------------------------------------------------- helpers
def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> content)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != OWNER_MARKER  # the marker holds a per-store random id
    }


def assert_same_bytes(a: Path, b: Path) -> None:
    """Both directories hold the same files with the same bytes."""
    ta, tb = tree_bytes(a), tree_bytes(b)
    assert sorted(ta) == sorted(tb), set(ta) ^ set(tb)
    differ = [k for k in ta if ta[k] != tb[k]]
    assert not differ, f"{len(differ)} files differ, e.g. {differ[:5]}"
    assert len(ta) > 10


def assert_chunk_and_scheduler_invariant(split: Any, root: Path, **opts: Any) -> None:
    """``expand(split, **opts)`` written with three chunkings on the sync, threads and
    processes schedulers (small shards): the three stores hold the same bytes."""
    small = {"shard_size": 4096, "chunk_elems": 1024, "progress": False}
    runs = [(10**9, "sync"), (2_000, "threads"), (5_000, "processes")]
    for k, (chunk, scheduler) in enumerate(runs):
        ex = dfr.expand(split, chunk_size=chunk, **opts)
        ex.to_zarr(root / str(k), scheduler=scheduler, **small)
    assert_same_bytes(root / "0", root / "1")
    assert_same_bytes(root / "0", root / "2")


def block_tables(
    split_or_s: Any, kind: str, seed: int, i: int, npr: int, window: int, rows: str = "shared"
) -> tuple[np.ndarray, np.ndarray]:
    """(pi, sigma) tables of block row i: ``pi[j, r]`` = slot of source row r, same for cols
    (``rows``: the blocks share the block row's row permutation, or each has its own)."""
    s = split_or_s.signed() if isinstance(split_or_s, dfr.SplitData) else split_or_s
    m, n = s.shape
    rows_kw: dict[str, Any] = {}
    cols_kw: dict[str, Any] = {}
    if kind == "stratified":
        rows_kw = {"degree": np.diff(s.indptr), "window": window}
        cols_kw = {"degree": np.bincount(s.indices, minlength=n), "window": window}
    pi = ref.row_permutation_table(kind, m, seed, i, npr, rows=rows, **rows_kw)
    sigma = permutation_table(kind, n, seed, STREAM_COL_PERM, i, npr, **cols_kw)
    return pi, sigma


def map_back(
    mat: sp.csr_matrix,
    user_slot: np.ndarray,
    s: dfr.SignedMatrix,
    factors: tuple[int, int],
    *,
    seed: int,
    shuffle: str,
    window: int = 64,
    rows: str = "shared",
) -> dict[str, np.ndarray]:
    """Trace every stored entry of an output matrix to its block and its source entry of S.

    Returns block row/col ``i``/``j``, source ``r``/``c``, the CSR position ``q`` in S and
    ``found`` (whether (r, c) is an entry of S at all).
    """
    m, n = s.shape
    mp, npr = factors
    users = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
    slot = user_slot[users]
    item = mat.indices.astype(np.int64)
    i, t = np.divmod(slot, m)
    j, col = np.divmod(item, n)
    assert i.max(initial=0) < mp and j.max(initial=0) < npr
    r = np.full(len(item), -1, np.int64)
    c = np.full(len(item), -1, np.int64)
    for bi in range(mp):
        pi, sigma = block_tables(s, shuffle, seed, bi, npr, window, rows)
        row_src, col_src = invert_permutation(pi), invert_permutation(sigma)
        sel = i == bi
        r[sel] = row_src[j[sel], t[sel]]
        c[sel] = col_src[j[sel], col[sel]]
    s_keys = np.repeat(np.arange(m, dtype=np.int64), np.diff(s.indptr)) * n + s.indices
    keys = r * n + c
    q = np.searchsorted(s_keys, keys)
    found = q < len(s_keys)
    found[found] = s_keys[q[found]] == keys[found]
    return {"i": i, "j": j, "r": r, "c": c, "q": q, "found": found, "users": users}


def assert_rows_strictly_sorted(mat: sp.csr_matrix) -> None:
    """No duplicate (user, item) and items ascending within each user."""
    users = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
    same = users[1:] == users[:-1]
    assert np.all(np.diff(mat.indices.astype(np.int64))[same] > 0)


def same_csr(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return a.shape == b.shape and (a != b).nnz == 0


def expected_by_reference(
    split: dfr.SplitData,
    keep: np.ndarray,
    *,
    seed: int,
    shuffle: str,
    window: int,
    dropout: str,
    test_policy: str,
    rows: str = "shared",
) -> dict[str, Any]:
    """The whole expansion from the pure-NumPy specification (kernels.reference)."""
    s = split.signed()
    m, n = s.shape
    mp, npr = keep.shape
    multiple = 1
    if dropout == "targeted":
        keep, multiple = targeted_keep(keep)
    row_deg = np.diff(s.indptr)
    col_deg = np.bincount(s.indices, minlength=n)
    acc: dict[str, list] = {k: [] for k in ("slot", "tr_c", "te_c", "tr_i", "tr_q", "te_i", "te_q")}
    block_train = np.zeros((mp, npr), np.int64)
    block_test = np.zeros((mp, npr), np.int64)
    for i in range(mp):
        pi = ref.row_permutation_table(
            shuffle, m, seed, i, npr, rows=rows, degree=row_deg, window=window
        )
        sigma = ref.permutation_table(
            shuffle, n, seed, STREAM_COL_PERM, i, npr, degree=col_deg, window=window
        )
        exact = None
        if dropout == "exact":
            exact = np.stack(
                [exact_row_counts(row_deg, keep[i, j], seed, i, j) for j in range(npr)]
            )
        elif dropout == "balanced":
            exact = np.stack(
                [ref.balanced_row_counts(row_deg, keep[i, j], seed, i, j) for j in range(npr)]
            )
        elif dropout == "targeted":
            train_deg = np.diff(split.train.indptr)
            row_src = ref.invert_permutation(pi)
            exact = ref.targeted_row_counts(train_deg, keep[i], row_src, seed, i, multiple)
        res = ref.expand_block_rows(
            s.indptr, s.indices, s.sign, ref.invert_permutation(pi), sigma, keep[i], seed, i,
            0, m, dropout, exact, test_policy, n,
        )  # fmt: skip
        tr_c, te_c = np.diff(res.train_indptr), np.diff(res.test_indptr)
        alive = tr_c > 0
        if test_policy == "one":
            alive &= te_c > 0
        acc["slot"].append(i * m + np.flatnonzero(alive))
        acc["tr_c"].append(tr_c[alive])
        acc["te_c"].append(te_c[alive])
        for key, items, src, counts in (
            ("tr", res.train_items, res.train_src, tr_c),
            ("te", res.test_items, res.test_src, te_c),
        ):
            sel = np.repeat(alive, counts)
            acc[f"{key}_i"].append(items[sel])
            acc[f"{key}_q"].append(src[sel])
        block_train[i] = res.block_train
        block_test[i] = res.block_test
    cat = {k: np.concatenate(v).astype(np.int64) for k, v in acc.items()}
    n_users = len(cat["slot"])
    out: dict[str, Any] = {"user_slot": cat["slot"], "block_train": block_train}
    out["block_test"] = block_test
    for key, name in (("tr", "train"), ("te", "test")):
        indptr = np.concatenate([[0], np.cumsum(cat[f"{key}_c"])])
        out[name] = sp.csr_matrix(
            (np.ones(len(cat[f"{key}_i"]), np.float32), cat[f"{key}_i"], indptr),
            shape=(n_users, npr * n),
        )
        out[f"{name}_src"] = cat[f"{key}_q"]
    return out


# ----------------------------------------------------------------------------- strategies
keeps = keep_matrices()
options = expand_options()


# ============================================================================ 1. Kronecker limit
def test_kronecker_limit_real_data(ml100k: dfr.SplitData) -> None:
    """keep = 1 everywhere, no shuffle: exactly ones ⊗ R_train and ones ⊗ R_test."""
    ones = np.ones((2, 3))
    for dropout in ("bernoulli", "exact", "balanced"):
        got = dfr.expand(ml100k, keep=ones, shuffle="none", dropout=dropout, seed=3).compute()
        assert same_csr(got.train, sp.kron(ones, ml100k.train, format="csr"))
        assert same_csr(got.test, sp.kron(ones, ml100k.test, format="csr"))
        np.testing.assert_array_equal(got.user_slot, np.arange(2 * ml100k.n_users))
        assert_rows_strictly_sorted(got.train)
        assert got.block_train.tolist() == [[ml100k.train.nnz] * 3] * 2
        assert got.block_test.tolist() == [[ml100k.test.nnz] * 3] * 2


patterns = hnp.arrays(
    np.int8, st.tuples(st.integers(1, 3), st.integers(1, 3)), elements=st.integers(0, 1)
)


@given(
    split=split_data(),
    pattern=patterns,
    dropout=st.sampled_from(["bernoulli", "exact", "balanced"]),
    chunk=st.integers(1, 20),
)
def test_kronecker_limit_binary_keep(
    split: dfr.SplitData, pattern: np.ndarray, dropout: str, chunk: int
) -> None:
    """keep ∈ {0, 1}: binarize(R̂ > 0) ⊗ R, users of all-zero block rows dropped."""
    got = dfr.expand(
        split, keep=pattern, shuffle="none", dropout=dropout, seed=1, chunk_size=chunk
    ).compute()
    k_train = sp.kron(pattern, split.train, format="csr")
    k_test = sp.kron(pattern, split.test, format="csr")
    slots = np.flatnonzero(np.diff(k_train.indptr) > 0)
    np.testing.assert_array_equal(got.user_slot, slots)
    assert same_csr(got.train, k_train[slots])
    assert same_csr(got.test, k_test[slots])


# ====================================================== 2./3. blocks are permuted subsets of S
@pytest.mark.parametrize("test_policy", ["all", "one"])
@pytest.mark.parametrize("dropout", ["bernoulli", "exact", "balanced", "targeted"])
@pytest.mark.parametrize("shuffle", ["block", "stratified", "none"])
def test_blocks_are_permuted_subsets_of_s(
    ml100k: dfr.SplitData, shuffle: str, dropout: str, test_policy: str
) -> None:
    window = 16
    opts = {"shuffle": shuffle, "dropout": dropout, "window": window, "chunk_size": 20_000}
    got = ml_expansion(ml100k, test_policy=test_policy, **opts).compute()
    s = ml100k.signed()
    m, n = s.shape
    assert got.train.shape == (len(got.user_slot), 3 * n)
    assert np.all(np.diff(got.user_slot) > 0) and got.user_slot[-1] < 2 * m
    for name, sign in (("train", 1), ("test", -1)):
        mat = getattr(got, name)
        assert_rows_strictly_sorted(mat)
        mb = map_back(mat, got.user_slot, s, (2, 3), seed=ML_SEED, shuffle=shuffle, window=window)
        assert mb["found"].all(), f"{name}: entries that are not in S"
        assert np.all(s.sign[mb["q"]] == sign), f"{name}: entries of the wrong sign"
        # within a block each source entry is used at most once
        per_block = (mb["i"] * 3 + mb["j"]) * s.nnz + mb["q"]
        assert len(np.unique(per_block)) == len(per_block)
    # train ∩ test = ∅ (same users, same items)
    assert got.train.multiply(got.test).nnz == 0
    assert np.all(np.diff(got.train.indptr) > 0), "a user without train interactions was kept"

    for i in range(2):
        pi, sigma = block_tables(s, shuffle, ML_SEED, i, 3, window)
        ident_r = np.arange(m)
        ident_c = np.arange(n)
        for j in range(3):
            if shuffle == "none":
                assert np.array_equal(pi[j], ident_r) and np.array_equal(sigma[j], ident_c)
            elif shuffle == "block":
                assert (pi[j] == ident_r).mean() < 0.05 and (sigma[j] == ident_c).mean() < 0.05
            else:  # stratified: moves only inside windows of the degree order
                for perm, deg in ((pi[j], np.diff(s.indptr)), (sigma[j], np.bincount(s.indices))):
                    rank = np.empty(len(deg), np.int64)
                    rank[np.argsort(deg, kind="stable")] = np.arange(len(deg))
                    assert np.array_equal(rank // window, rank[perm] // window)
                    assert (perm == np.arange(len(deg))).mean() < 0.5

    if test_policy == "one":
        # exactly one test item per user; same draws as "all" otherwise
        assert np.all(np.diff(got.test.indptr) == 1)
        full = ml_expansion(ml100k, test_policy="all", **opts).compute()
        has_test = np.diff(full.test.indptr) > 0
        np.testing.assert_array_equal(got.user_slot, full.user_slot[has_test])
        rows = np.flatnonzero(has_test)
        assert same_csr(got.train, full.train[rows])
        assert full.test[rows].multiply(got.test).nnz == len(rows)
        np.testing.assert_array_equal(got.block_train, full.block_train)
        np.testing.assert_array_equal(got.block_test, full.block_test)


def test_gowalla_train_test_disjoint_and_test_from_r_test(gowalla: dfr.SplitData) -> None:
    keep = np.array([[0.6, 0.3], [0.2, 0.5]])
    got = dfr.expand(gowalla, keep=keep, seed=11, shuffle="block").compute()
    assert got.test.nnz > 50_000
    assert got.train.multiply(got.test).nnz == 0
    s = gowalla.signed()
    for name, sign in (("train", 1), ("test", -1)):
        mb = map_back(getattr(got, name), got.user_slot, s, (2, 2), seed=11, shuffle="block")
        assert mb["found"].all()
        assert np.all(s.sign[mb["q"]] == sign)


def test_test_policy_one_picks_uniformly(gowalla: dfr.SplitData) -> None:
    """The chosen test item is uniform among a user's kept test items (not the lowest id)."""
    keep = np.full((2, 2), 0.8)
    one = dfr.expand(gowalla, keep=keep, seed=5, test_policy="one").compute()
    full = dfr.expand(gowalla, keep=keep, seed=5, test_policy="all").compute()
    rows = np.searchsorted(full.user_slot, one.user_slot)
    k = np.diff(full.test.indptr)[rows]
    chosen = one.test.indices.astype(np.int64)
    start = full.test.indptr[rows]
    rank = np.array(
        [
            np.searchsorted(full.test.indices[a : a + kk], x)
            for a, kk, x in zip(start, k, chosen, strict=True)
        ]
    )
    assert np.all(full.test.indices[start + rank] == chosen)
    several = k >= 2
    assert several.sum() > 5_000
    z = (rank[several] - (k[several] - 1) / 2).sum() / np.sqrt(((k[several] ** 2 - 1) / 12).sum())
    assert abs(z) < 5, z
    # the block of the chosen item is not biased toward j = 0 either
    assert abs((chosen // gowalla.n_items == 0).mean() - 0.5) < 0.05


@given(split=split_data(), keep=keeps, opts=options, chunk=st.integers(1, 30))
def test_matches_numpy_reference(
    split: dfr.SplitData, keep: np.ndarray, opts: dict, chunk: int
) -> None:
    """The engine (chunks, survivors, carry, stats) equals the pure-NumPy specification."""
    got = dfr.expand(split, keep=keep, chunk_size=chunk, **opts).compute()
    opts = dict(opts)
    timeline = opts.pop("timeline")
    want = expected_by_reference(split, keep, **opts)
    np.testing.assert_array_equal(got.user_slot, want["user_slot"])
    for name in ("train", "test"):
        g, w = getattr(got, name), want[name]
        assert g.shape == w.shape
        np.testing.assert_array_equal(g.indptr, w.indptr)
        np.testing.assert_array_equal(g.indices, w.indices)
        s = split.signed()
        np.testing.assert_array_equal(
            getattr(got, f"{name}_ratings"), s.ratings[want[f"{name}_src"]]
        )
        want[f"{name}_times"] = s.timestamps[want[f"{name}_src"]]
    if timeline == "aligned":  # each user's pieces shifted (kernels/reference_timeline.py)
        tr, te = want["train"], want["test"]
        for u in range(tr.shape[0]):
            a, b, c, d = tr.indptr[u], tr.indptr[u + 1], te.indptr[u], te.indptr[u + 1]
            want["train_times"][a:b], want["test_times"][c:d] = align_user(
                split.n_items,
                tr.indices[a:b],
                want["train_times"][a:b],
                te.indices[c:d],
                want["test_times"][c:d],
            )
    for name in ("train", "test"):
        np.testing.assert_array_equal(getattr(got, f"{name}_timestamps"), want[f"{name}_times"])
    np.testing.assert_array_equal(got.block_train, want["block_train"])
    np.testing.assert_array_equal(got.block_test, want["block_test"])
    assert got.train.multiply(got.test).nnz == 0
    if opts["test_policy"] == "one":
        assert np.all(np.diff(got.test.indptr) == 1)
    counts = dfr.expand(split, keep=keep, chunk_size=chunk + 7, **opts).count(scheduler="sync")
    assert counts == {"users": len(got.user_slot), "train": got.train.nnz, "test": got.test.nnz}


# ============================================================================ 4. kept fractions
def test_kept_fractions_inside_binomial_band(any_split: dfr.SplitData) -> None:
    split = any_split
    keep = np.random.default_rng(2).uniform(0.05, 0.95, (3, 4))
    got = dfr.expand(split, keep=keep, seed=21, dropout="bernoulli").compute()
    for counts, total in ((got.block_train, split.train.nnz), (got.block_test, split.test.nnz)):
        mean = total * keep
        sigma = np.sqrt(total * keep * (1 - keep))
        assert np.all(np.abs(counts - mean) <= 5 * sigma), (counts - mean) / sigma
    # the statistics are what the output holds (every train entry survives under "all")
    n = split.n_items
    users = np.repeat(np.arange(got.train.shape[0]), np.diff(got.train.indptr))
    block = (got.user_slot[users] // split.n_users) * 4 + got.train.indices // n
    np.testing.assert_array_equal(np.bincount(block, minlength=12).reshape(3, 4), got.block_train)


def test_exact_dropout_keeps_exact_counts(any_split: dfr.SplitData) -> None:
    split = any_split
    keep = np.array([[0.0, 0.31, 1.0], [0.5, 0.123, 0.77]])
    got = dfr.expand(split, keep=keep, seed=4, dropout="exact").compute()
    nnz_s = split.train.nnz + split.test.nnz
    want = np.vectorize(lambda p: exact_total(p, nnz_s))(keep)
    np.testing.assert_array_equal(got.block_train + got.block_test, want)
    assert got.block_train[0, 2] == split.train.nnz and got.block_test[0, 0] == 0
    # the train/test share of the kept entries is hypergeometric
    share = split.train.nnz / nnz_s
    var = want * share * (1 - share) * (nnz_s - want) / max(nnz_s - 1, 1)
    assert np.all(np.abs(got.block_train - want * share) <= 5 * np.sqrt(var) + 1e-9)
    users = np.repeat(np.arange(got.train.shape[0]), np.diff(got.train.indptr))
    block = (got.user_slot[users] // split.n_users) * 3 + got.train.indices // split.n_items
    np.testing.assert_array_equal(np.bincount(block, minlength=6).reshape(2, 3), got.block_train)


# ================================================================ 5. byte-identical Zarr stores
@pytest.mark.parametrize(
    ("chunk_size", "scheduler"),
    [
        (3_000, "sync"),
        (40_000, "sync"),
        (100_000, "sync"),
        (3_000, "threads"),
        (40_000, "processes"),
    ],
)
def test_zarr_bytes_identical_across_chunks_and_schedulers(
    tmp_path: Path, ml100k: dfr.SplitData, reference_zarr: Path, chunk_size: int, scheduler: str
) -> None:
    ex = ml_expansion(ml100k, chunk_size=chunk_size)
    assert len(ex.tasks()) != len(ml_expansion(ml100k, chunk_size=10**9).tasks())
    store = ex.to_zarr(tmp_path / "out.zarr", scheduler=scheduler, **QUIET, **SMALL_SHARDS)
    assert store.layout.n_shards("train") > 10 and store.layout.n_shards("test") >= 1
    assert_same_bytes(reference_zarr, tmp_path / "out.zarr")
    assert not write_mod.work_dir(tmp_path / "out.zarr").exists()


def test_gowalla_zarr_bytes_identical_default_shards(
    tmp_path: Path, gowalla: dfr.SplitData
) -> None:
    keep = np.array([[0.5, 0.2], [0.3, 0.4]])
    a = dfr.expand(gowalla, keep=keep, seed=2, shuffle="stratified", chunk_size=10**9)
    b = dfr.expand(gowalla, keep=keep, seed=2, shuffle="stratified", chunk_size=30_000)
    a.to_zarr(tmp_path / "a.zarr", scheduler="sync", **QUIET)
    sb = b.to_zarr(tmp_path / "b.zarr", scheduler="threads", **QUIET, shard_size=2**16,
                   chunk_elems=2**14)  # fmt: skip
    b.to_zarr(tmp_path / "c.zarr", scheduler="threads", **QUIET)
    assert_same_bytes(tmp_path / "a.zarr", tmp_path / "c.zarr")
    # other shard sizes: other bytes, same content
    assert same_csr(sb.to_scipy("train"), dfr.open(tmp_path / "a.zarr").to_scipy("train"))


@settings(max_examples=10)  # two full writes per example
@given(split=split_data(), keep=keeps, opts=options)
def test_small_stores_identical_and_equal_compute(
    split: dfr.SplitData, keep: np.ndarray, opts: dict
) -> None:
    """Tiny inputs with 8-entry shards: chunking does not change bytes, content is compute()."""
    want = dfr.expand(split, keep=keep, **opts).compute()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "a"), Path(tmp, "b")
        dfr.expand(split, keep=keep, chunk_size=1, **opts).to_zarr(
            a, scheduler="sync", shard_size=8, chunk_elems=4, **QUIET
        )
        store = dfr.expand(split, keep=keep, chunk_size=10**6, **opts).to_zarr(
            b, scheduler="threads", shard_size=8, chunk_elems=4, **QUIET
        )
        assert_same_bytes(a, b)
        check_store_equals(store, want)


def check_store_equals(store: dfr.ExpansionStore, want: dfr.ExpandedData) -> None:
    """A finished store holds exactly ``want`` (matrices, carried values, slots, stats)."""
    for split in ("train", "test"):
        mat = getattr(want, split)
        got = store.to_scipy(split, values="ones")
        np.testing.assert_array_equal(got.indptr, mat.indptr)
        np.testing.assert_array_equal(got.indices, mat.indices)
        for name in store.layout.carry:
            vals = store.to_scipy(split, values=name).data
            np.testing.assert_array_equal(vals, getattr(want, f"{split}_{name}"))
    np.testing.assert_array_equal(store.user_slots(), want.user_slot)
    stats = store.stats()
    np.testing.assert_array_equal(stats["block_train"], want.block_train)
    np.testing.assert_array_equal(stats["block_test"], want.block_test)
    for split in ("train", "test"):
        mat = getattr(want, split)
        np.testing.assert_array_equal(stats[f"user_{split}_degree"], np.diff(mat.indptr))
        np.testing.assert_array_equal(
            stats[f"item_{split}_degree"], np.bincount(mat.indices, minlength=mat.shape[1])
        )
    counts = store.attrs["counts"]
    assert counts["users"] == len(want.user_slot)
    assert counts["train"] == want.train.nnz and counts["test"] == want.test.nnz
    assert counts["users_dropped"] == store.attrs["expected"]["users_max"] - counts["users"]
    empty = (stats["item_train_degree"] + stats["item_test_degree"]) == 0
    assert counts["empty_items"] == int(empty.sum())
    assert {"daskfractal", "numpy", "dask", "zarr", "numba"} <= set(store.attrs["versions"])


# ==================================================================================== 6. resume
class Interrupted(Exception):
    """Stands for Ctrl-C / a crash in the middle of a pass."""


def flaky(real: Any, fail_at: int) -> Any:
    calls = {"n": 0}

    def wrapper(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > fail_at:
            raise Interrupted
        return real(*args)

    return wrapper


def test_resume_after_interrupted_count(
    tmp_path: Path, ml100k: dfr.SplitData, reference_zarr: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.zarr"
    ex = ml_expansion(ml100k, chunk_size=3_000)
    monkeypatch.setattr(write_mod, "_count_part", flaky(write_mod._count_part, 12))
    with pytest.raises(Interrupted):
        ex.to_zarr(out, scheduler="sync", **QUIET, **SMALL_SHARDS)
    monkeypatch.undo()
    parts = write_mod.work_dir(out) / write_mod.COUNTS_DIR
    done = sorted(parts.iterdir())
    assert len(done) == 12
    # a killed run leaves some parts missing and temporary files behind
    for p in done[3:6]:
        p.unlink()
    (parts / ".tmp-000000-000000000000-000000000001.npz-dead.npz").write_bytes(b"junk")
    with pytest.raises(StoreError):
        dfr.open(out)
    with pytest.raises(StoreError, match="unfinished"):
        ex.to_zarr(out, scheduler="sync", **QUIET, **SMALL_SHARDS)
    # resuming uses the saved task split whatever the chunk size given now
    ml_expansion(ml100k, chunk_size=10**9).to_zarr(
        out, resume=True, scheduler="threads", **QUIET, **SMALL_SHARDS
    )
    assert_same_bytes(reference_zarr, out)
    assert not write_mod.work_dir(out).exists()


def test_resume_after_interrupted_write(
    tmp_path: Path, ml100k: dfr.SplitData, reference_zarr: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.zarr"
    ex = ml_expansion(ml100k, chunk_size=40_000)
    monkeypatch.setattr(write_mod, "_write_zarr_shard", flaky(write_mod._write_zarr_shard, 20))
    with pytest.raises(Interrupted):
        ex.to_zarr(out, scheduler="sync", **QUIET, **SMALL_SHARDS)
    monkeypatch.undo()
    assert dfr.store_status(out) == "incomplete"
    with pytest.raises(StoreError, match="incomplete"):
        dfr.open(out)
    # shards half-written when the process died: garbage in place, a zarr temporary file
    shard_dir = out / "train" / "indices" / "c"
    marks = out / "_progress" / "train" / "indices"
    done = {int(p.name) for p in marks.iterdir()} if marks.exists() else set()
    n_shards = dfr.open(reference_zarr).layout.n_shards("train")
    todo = sorted(set(range(n_shards)) - done)
    assert 0 < len(done) and len(todo) > 2
    (shard_dir / str(todo[0])).write_bytes(b"\x00garbage" * 50)
    (shard_dir / f"{todo[1]}.0123abcd.partial").write_bytes(b"partial")
    with pytest.raises(StoreError, match="other input or parameters"):
        ml_expansion(ml100k, seed=ML_SEED + 1).to_zarr(out, resume=True, **QUIET, **SMALL_SHARDS)
    with pytest.raises(StoreError, match="other input or parameters"):
        ex.to_parquet(out, resume=True, **QUIET)
    ex.to_zarr(out, resume=True, scheduler="sync", **QUIET, **SMALL_SHARDS)
    assert_same_bytes(reference_zarr, out)


def test_resume_after_interrupted_store_creation(
    tmp_path: Path, ml100k: dfr.SplitData, reference_zarr: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while the (empty, incomplete) store was being created: resume still works."""
    from daskfractal.store import ZarrWriter

    out = tmp_path / "out.zarr"
    ex = ml_expansion(ml100k, chunk_size=40_000)
    monkeypatch.setattr(ZarrWriter, "_create_1d", flaky(ZarrWriter._create_1d, 3))
    with pytest.raises(Interrupted):
        ex.to_zarr(out, scheduler="sync", **QUIET, **SMALL_SHARDS)
    monkeypatch.undo()
    assert dfr.store_status(out) == "incomplete"
    ex.to_zarr(out, resume=True, scheduler="sync", **QUIET, **SMALL_SHARDS)
    assert_same_bytes(reference_zarr, out)


def test_resume_parquet_after_interrupted_write(
    tmp_path: Path, ml100k: dfr.SplitData, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = ml_expansion(ml100k, chunk_size=40_000)
    opts = {"users_per_file": 200, **QUIET}
    ex.to_parquet(tmp_path / "ref", scheduler="sync", **opts)
    out = tmp_path / "out"
    real = write_mod._write_parquet_file
    monkeypatch.setattr(write_mod, "_write_parquet_file", flaky(real, 4))
    with pytest.raises(Interrupted):
        ex.to_parquet(out, scheduler="sync", **opts)
    monkeypatch.undo()
    with pytest.raises(StoreError, match="incomplete"):
        dfr.open(out)
    with pytest.raises(StoreError, match="other input or parameters"):
        ex.to_parquet(out, resume=True, scheduler="sync", users_per_file=100, **QUIET)
    ex.to_parquet(out, resume=True, scheduler="threads", **opts)
    assert_same_bytes(tmp_path / "ref", out)
    n_users = dfr.open(out).counts()["n_users"]
    assert len(list((out / "train").glob("part-*.parquet"))) == -(-n_users // 200) > 4


KILL_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import numpy as np
    import daskfractal as dfr
    from daskfractal.expansion import _write as w

    data, out, stage, after, keep, seed = sys.argv[1:7]
    split = dfr.preprocess(dfr.load(data))
    ex = dfr.expand(split, keep=np.array(json.loads(keep)), seed=int(seed), chunk_size=3000)
    name = "_count_part" if stage == "count" else "_write_zarr_shard"
    real = getattr(w, name)
    calls = [0]

    def killer(*args):
        calls[0] += 1
        if calls[0] > int(after):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind
        return real(*args)

    setattr(w, name, killer)
    ex.to_zarr(out, scheduler="threads", progress=False, shard_size=4096, chunk_elems=1024)
    """
)


@pytest.mark.parametrize(("stage", "after"), [("count", 30), ("write", 25)])
def test_resume_after_sigkill(
    tmp_path: Path,
    ml_path: str,
    ml100k: dfr.SplitData,
    reference_zarr: Path,
    stage: str,
    after: int,
) -> None:
    """A writer process killed with SIGKILL mid-pass; resume gives the identical store."""
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    out = tmp_path / "out.zarr"
    args = [ml_path, str(out), stage, str(after), json.dumps(ML_KEEP.tolist()), str(ML_SEED)]
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    work = write_mod.work_dir(out)
    counted = list((work / write_mod.COUNTS_DIR).glob("0*.npz"))
    n_tasks = len(ml_expansion(ml100k, chunk_size=3000).tasks())
    assert after // 2 <= len(counted) <= (after if stage == "count" else n_tasks)
    if stage == "write":
        assert len(counted) == n_tasks
        assert 0 < len(list((work / write_mod.TEST_PARTS_DIR).glob("0*.npz"))) <= after
        with pytest.raises(StoreError, match="incomplete"):
            dfr.open(out)
    else:
        with pytest.raises(StoreError):
            dfr.open(out)
    ml_expansion(ml100k, chunk_size=3000).to_zarr(
        out, resume=True, scheduler="sync", **QUIET, **SMALL_SHARDS
    )
    assert_same_bytes(reference_zarr, out)


def test_store_refusals(tmp_path: Path, ml100k: dfr.SplitData, reference_zarr: Path) -> None:
    out = tmp_path / "out.zarr"
    shutil.copytree(reference_zarr, out)
    ex = ml_expansion(ml100k, chunk_size=10**9)
    with pytest.raises(StoreError, match="complete store"):
        ex.to_zarr(out, **QUIET, **SMALL_SHARDS)
    with pytest.raises(StoreError, match="already complete"):
        ex.to_zarr(out, resume=True, **QUIET, **SMALL_SHARDS)
    with pytest.raises(ParameterError):
        ex.to_zarr(out, resume=True, overwrite=True, **QUIET)
    with pytest.raises(StoreError, match="no unfinished run"):
        ex.to_zarr(tmp_path / "nothing.zarr", resume=True, **QUIET)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not a daskfractal store"):
        ex.to_zarr(foreign, overwrite=True, **QUIET)
    assert (foreign / "precious.txt").read_text() == "keep me"
    # overwrite replaces a complete store, with the same bytes for the same parameters
    ex.to_zarr(out, overwrite=True, scheduler="sync", **QUIET, **SMALL_SHARDS)
    assert_same_bytes(reference_zarr, out)
    # write options are checked before any work is done (no work folder left behind)
    for bad in ({"shard_size": 1000, "chunk_elems": 300}, {"shard_size": 0}):
        with pytest.raises(ParameterError):
            ex.to_zarr(tmp_path / "bad.zarr", **QUIET, **bad)
        assert not write_mod.work_dir(tmp_path / "bad.zarr").exists()
    for bad_upf in (0, -3, 2.5):
        with pytest.raises(ParameterError):
            ex.to_parquet(tmp_path / "bad.pq", users_per_file=bad_upf, **QUIET)
        assert not write_mod.work_dir(tmp_path / "bad.pq").exists()
    with pytest.raises(ParameterError):
        write_mod.write_store(ex, tmp_path / "x", format="csv", **QUIET)


# =============================================================== 7./8. outputs and carried values
def test_zarr_and_parquet_read_back_equal_compute(tmp_path: Path, ml100k: dfr.SplitData) -> None:
    ex = ml_expansion(ml100k, chunk_size=20_000, test_policy="one", shuffle="stratified")
    want = ex.compute()
    zs = ex.to_zarr(tmp_path / "z", scheduler="threads", shard_size=2**16, chunk_elems=2**13)
    ps = ex.to_parquet(tmp_path / "p", scheduler="threads", users_per_file=150, **QUIET)
    assert ex.count() == {"users": len(want.user_slot), "train": want.train.nnz,
                          "test": want.test.nnz}  # fmt: skip
    for store in (zs, ps):
        check_store_equals(store, want)
        assert store.counts()["n_items"] == 3 * ml100k.n_items
        attrs = store.attrs
        assert attrs["params"]["seed"] == ML_SEED and attrs["params"]["test_policy"] == "one"
        assert attrs["params"]["input_sha256"] == ex.params["input_sha256"]
        np.testing.assert_array_equal(attrs["params"]["reduced"]["keep"], ML_KEEP)
    for split in ("train", "test"):
        mat = getattr(want, split)
        users = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
        frame = pd.DataFrame(
            {
                "user_id": users,
                "item_id": mat.indices.astype(np.int32),
                "rating": getattr(want, f"{split}_ratings").astype(np.float32),
                "timestamp": getattr(want, f"{split}_timestamps").astype(np.int64),
            }
        )
        got = pd.read_parquet(tmp_path / "p" / split)
        got = got.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, frame, check_dtype=True)
        # files in name order are sorted by user
        files = sorted((tmp_path / "p" / split).glob("part-*.parquet"))
        assert len(files) == -(-len(want.user_slot) // 150) >= 6
        in_order = np.concatenate([pq.read_table(f).column("user_id").to_numpy() for f in files])
        assert np.all(np.diff(in_order) >= 0)
        for store in (zs, ps):
            ddf = store.to_dask_dataframe(split).compute().reset_index(drop=True)
            pd.testing.assert_frame_equal(ddf, frame)
        assert same_csr(zs.user_block(100, 400, split), ps.user_block(100, 400, split))


def test_carried_values_equal_source_entries(ml100k: dfr.SplitData) -> None:
    """Each kept interaction keeps the rating and timestamp of the entry it came from (with
    ``timeline="source"``; ``aligned`` shifts them: tests/test_timeline.py)."""
    s = ml100k.signed()
    assert s.ratings is not None and s.timestamps is not None
    for shuffle in ("block", "stratified"):
        got = ml_expansion(ml100k, shuffle=shuffle, chunk_size=10_000, timeline="source").compute()
        for split in ("train", "test"):
            mat = getattr(got, split)
            mb = map_back(mat, got.user_slot, s, (2, 3), seed=ML_SEED, shuffle=shuffle)
            assert mb["found"].all()
            np.testing.assert_array_equal(getattr(got, f"{split}_ratings"), s.ratings[mb["q"]])
            ts = getattr(got, f"{split}_timestamps")
            np.testing.assert_array_equal(ts, s.timestamps[mb["q"]])
        # the source's own CSR agrees (ratings of R_train at (r, c))
        mb = map_back(got.train, got.user_slot, s, (2, 3), seed=ML_SEED, shuffle=shuffle)
        rated = sp.csr_matrix(
            (ml100k.train_ratings, ml100k.train.indices, ml100k.train.indptr), ml100k.shape
        )
        np.testing.assert_array_equal(
            np.asarray(rated[mb["r"], mb["c"]]).ravel(), got.train_ratings
        )
    # leave-last-out: a user's test entry is its latest; the carried timestamps still say so
    got = ml_expansion(ml100k, keep=np.ones((1, 2)), shuffle="none", timeline="source").compute()
    assert np.all(np.diff(got.test.indptr) == 2)
    latest_train = np.maximum.reduceat(got.train_timestamps, got.train.indptr[:-1])
    assert np.all(latest_train <= np.minimum.reduceat(got.test_timestamps, got.test.indptr[:-1]))


def test_carry_option(ml100k: dfr.SplitData, gowalla: dfr.SplitData) -> None:
    got = ml_expansion(ml100k, carry=["timestamps"]).compute()
    assert got.train_ratings is None and got.train_timestamps is not None
    assert ml_expansion(ml100k, carry=()).compute().train_timestamps is None
    assert dfr.expand(gowalla, keep=np.full((1, 1), 0.1)).params["carry"] == []
    with pytest.raises(ParameterError, match="no ratings"):
        dfr.expand(gowalla, keep=np.ones((1, 1)), carry="ratings")
    # values not carried stay out of the plan every worker receives; the input checksum is
    # still that of the whole input
    only_ts = ml_expansion(ml100k, carry=["timestamps"])
    assert only_ts._plan.src.ratings is None and only_ts._plan.src.timestamps is not None
    bare = ml_expansion(ml100k, carry=())
    assert bare._plan.src.ratings is None and bare._plan.src.timestamps is None
    assert bare.meta["input_sha256"] == ml_expansion(ml100k).meta["input_sha256"]


# ===================================================================== 9. determinism, laziness
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, ml100k: dfr.SplitData) -> None:
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        ml_expansion(ml100k, seed=seed).to_zarr(tmp_path / name, scheduler="threads", **QUIET)
    assert_same_bytes(tmp_path / "a", tmp_path / "b")
    a, c = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "c")
    assert a["train/indices/c/0"] != c["train/indices/c/0"]
    assert json.loads(a["zarr.json"])["attributes"]["daskfractal"]["params"]["seed"] == 1
    x = ml_expansion(ml100k, seed=1).compute()
    y = ml_expansion(ml100k, seed=2).compute()
    assert x.train.shape != y.train.shape or not same_csr(x.train, y.train)


class _RaiseOnCompute:
    """A Dask scheduler that fails: anything computed under it is a laziness bug."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise AssertionError("dask computed something while building a lazy expansion")


def test_expand_is_lazy(ml100k: dfr.SplitData, monkeypatch: pytest.MonkeyPatch) -> None:
    from daskfractal.expansion import _expansion, _plan

    def no_kernel(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a kernel ran while building a lazy expansion")

    monkeypatch.setattr(_expansion, "generate", no_kernel)
    for name in ("slot_tables", "count_rows_kernel", "emit_rows_kernel"):
        monkeypatch.setattr(_plan, name, no_kernel)
    sched = _RaiseOnCompute()
    with dask.config.set(scheduler=sched):
        ex = ml_expansion(ml100k, chunk_size=5_000)
        tasks = ex.tasks()
        delayed = ex.to_delayed_counts()
        text = repr(ex)
        expected = ex.expected()
        params = ex.params
    assert sched.calls == 0
    assert len(tasks) == len(delayed) > 10 and "tasks" in text
    assert expected["train"] == pytest.approx(ML_KEEP.sum() * ml100k.train.nnz)
    assert params["factors"] == [2, 3]
    # tasks cover every slot of every block row exactly once
    for i in range(2):
        ranges = sorted((t0, t1) for (bi, t0, t1) in tasks if bi == i)
        assert ranges[0][0] == 0 and ranges[-1][1] == ml100k.n_users
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


def test_factors_and_target_paths(ml100k: dfr.SplitData) -> None:
    ex = dfr.expand(ml100k, factors=(2, 2), seed=1)
    assert ex.keep.shape == (2, 2) and ex.params["reduced"]["factors"] == [2, 2]
    red = dfr.reduce(ml100k, (2, 2), seed=1)
    same = dfr.expand(ml100k, reduced=red, seed=1)
    np.testing.assert_array_equal(ex.keep, same.keep)
    assert same.params["reduced"] == ex.params["reduced"]


@pytest.mark.slow  # solve_factors takes ~15 s on ML-100K
def test_target_interactions(ml100k: dfr.SplitData) -> None:
    tgt = dfr.expand(ml100k, target_interactions=400_000, seed=1)
    assert tgt.expected()["train"] == pytest.approx(400_000, rel=0.25)
    assert tgt.count()["train"] == pytest.approx(400_000, rel=0.25)


# ============================================================================ 10. bad parameters
@pytest.mark.parametrize(
    "kwargs",
    [
        {"keep": ML_KEEP, "shuffle": "random"},
        {"keep": ML_KEEP, "dropout": "binomial"},
        {"keep": ML_KEEP, "test_policy": "first"},
        {"keep": ML_KEEP, "window": 0},
        {"keep": ML_KEEP, "window": 2.5},
        {"keep": ML_KEEP, "window": "wide"},
        {"keep": ML_KEEP, "window": None},
        {"keep": ML_KEEP, "chunk_size": 0},
        {"keep": ML_KEEP, "chunk_size": 10.5},
        {"keep": ML_KEEP, "chunk_size": None},
        {"keep": ML_KEEP, "seed": -1},
        {"keep": ML_KEEP, "seed": 1.5},
        {"keep": ML_KEEP, "seed": "1"},
        {"keep": ML_KEEP, "seed": None},
        {"keep": ML_KEEP, "seed": True},
        {"keep": ML_KEEP, "seed": 2**64},
        {"keep": -ML_KEEP},
        {"keep": ML_KEEP + 0.5},
        {"keep": np.full((2, 2), np.nan)},
        {"keep": np.ones(3)},
        {"keep": np.ones((0, 2))},
        {"keep": [["a", "b"]]},
        {"keep": ML_KEEP, "factors": (2, 3)},
        {"keep": ML_KEEP, "target_interactions": 1e6},
        {"factors": (2, 2), "reduced": "anything"},
        {},
        {"factors": (0, 2)},
        {"factors": 3},
        {"factors": (2, 2, 2)},
        {"keep": ML_KEEP, "resize": "nearest"},
        {"keep": ML_KEEP, "carry": "ages"},
        {"target_interactions": -5},
    ],
)
def test_bad_parameters_raise_parameter_error(ml100k: dfr.SplitData, kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        dfr.expand(ml100k, **kwargs)


def test_seed_range_is_exact(ml100k: dfr.SplitData) -> None:
    """Seeds are taken whole: the largest one works and differs from seed 0."""
    top = dfr.expand(ml100k, keep=ML_KEEP, seed=2**64 - 1).compute()
    zero = dfr.expand(ml100k, keep=ML_KEEP, seed=0).compute()
    assert top.train.nnz != zero.train.nnz
    assert dfr.expand(ml100k, keep=ML_KEEP, seed=np.uint64(3)).params["seed"] == 3


def test_runner_refuses_unknown_scheduler(ml100k: dfr.SplitData) -> None:
    from daskfractal._dask import run

    with pytest.raises(ParameterError, match="scheduler"):
        ml_expansion(ml100k).count(scheduler="tcp://nowhere:1")
    assert run([dask.delayed(int)("3")], scheduler="sync", progress=True) == [3]


@pytest.mark.parametrize("shuffle", ["block", "stratified", "none"])
@pytest.mark.parametrize("dropout", ["bernoulli", "exact", "balanced", "targeted"])
def test_table_cache_bounded_same_bytes(
    shuffle: str, dropout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks read per-slot tables of the blocks that keep something; the whole-block tables
    live in a bounded per-process cache. A cache of one table (every lookup a miss) gives
    the same expansion, and never holds more than its budget."""
    from daskfractal.expansion import _plan
    from daskfractal.testing import tiny_split

    split = tiny_split(seed=5, n_users=40, n_items=30)
    keep = np.array([[0.9, 0.0, 0.4, 0.7], [0.0, 0.0, 0.0, 0.0], [0.3, 1.0, 0.0, 0.05]])
    opts = {"keep": keep, "shuffle": shuffle, "dropout": dropout, "seed": 9}
    _plan._TABLES.clear()
    want = dfr.expand(split, chunk_size=10**6, **opts).compute()
    # the tables of at most two block rows are kept (three were computed)
    rows = {k[2] for k in _plan._TABLES._tables if len(k) == 4}
    assert len(rows) <= _plan.TABLE_CACHE_ROWS == 2 and len(_plan._TABLES._rows) <= 2
    monkeypatch.setattr(_plan, "TABLE_CACHE_BYTES", 1)
    _plan._TABLES.clear()
    got = dfr.expand(split, chunk_size=3, **opts).compute(scheduler="sync")
    assert len(_plan._TABLES._tables) <= 1
    np.testing.assert_array_equal(got.user_slot, want.user_slot)
    for name in ("train", "test"):
        np.testing.assert_array_equal(getattr(got, name).indptr, getattr(want, name).indptr)
        np.testing.assert_array_equal(getattr(got, name).indices, getattr(want, name).indices)
    # a task reads only the blocks that keep something, and only its own slots
    plan = dfr.expand(split, **opts).plan
    blocks, src, _ = _plan.slot_tables(plan, 0, np.array([3, 7, 8]))
    if dropout == "targeted":
        assert blocks.tolist() == [0, 1, 2, 3]
    else:
        assert blocks.tolist() == [0, 2, 3]
    assert src.shape == (len(blocks), 3)
    for b, j in enumerate(blocks.tolist()):
        assert src[b].tolist() == _plan.row_sources(plan, 0, j)[[3, 7, 8]].tolist()
    _plan._TABLES.clear()


@pytest.mark.parametrize(
    "mode",
    ["block+bernoulli", "block+exact", "stratified+balanced", "block+targeted", "stratified+joint"],
)
def test_slot_batches_same_bytes(
    mode: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A task whose slots × blocks tables would exceed ``SLOT_TABLE_BYTES`` runs its slots in
    batches: the same counts, expansion and store bytes as one batch."""
    from daskfractal.expansion import _plan
    from daskfractal.testing import tiny_split

    shuffle, dropout = mode.split("+")
    split = tiny_split(seed=3, n_users=50, n_items=30)
    opts = {"factors": (3, 4), "shuffle": shuffle, "dropout": dropout, "seed": 4}
    want = dfr.expand(split, chunk_size=10**6, **opts)
    want_data = want.compute(scheduler="sync")
    want.to_zarr(tmp_path / "one.zarr", scheduler="sync", progress=False)
    # 2 slots a batch for 4 blocks (16 B per slot and block)
    monkeypatch.setattr(_plan, "SLOT_TABLE_BYTES", 2 * 16 * 4)
    assert _plan.slot_batches(5, 4) == [(0, 2), (2, 4), (4, 5)]
    got = dfr.expand(split, chunk_size=10**6, **opts)
    assert len(got.tasks()) == len(want.tasks())
    assert got.count() == want.count()
    got_data = got.compute(scheduler="sync")
    np.testing.assert_array_equal(got_data.user_slot, want_data.user_slot)
    for name in ("train", "test"):
        a, b = getattr(got_data, name), getattr(want_data, name)
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
    got.to_zarr(tmp_path / "batched.zarr", scheduler="sync", progress=False)
    assert_same_bytes(tmp_path / "one.zarr", tmp_path / "batched.zarr")


@pytest.mark.parametrize(
    "mode",
    ["none+bernoulli", "block+bernoulli", "stratified+balanced", "block+targeted",
     "stratified+joint"],
)  # fmt: skip
def test_computed_item_permutations_same_bytes(
    mode: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Above ``COLUMN_TABLE_BYTES`` the emit kernel computes each entry's item from the
    block's keys instead of a table of the block's items: the same expansion and store bytes
    (ratings and timestamps carried, aligned timelines re-generating cut users)."""
    from daskfractal.expansion import _plan
    from daskfractal.testing import tiny_split

    shuffle, dropout = mode.split("+")
    split = tiny_split(seed=5, n_users=60, n_items=40)
    opts = {"factors": (3, 4), "shuffle": shuffle, "dropout": dropout, "seed": 6, "window": 8}
    small = {"scheduler": "sync", "progress": False, "shard_size": 64, "chunk_elems": 32}
    want = dfr.expand(split, **opts)
    assert want.plan.carry  # ratings / timestamps go through the same kernel
    _, keys, *_ = _plan.column_lookup(want.plan, 0, np.arange(4))
    assert keys.shape[0] == 0  # tables by default
    want.to_zarr(tmp_path / "tables.zarr", **small)
    monkeypatch.setattr(_plan, "COLUMN_TABLE_BYTES", 0)
    _plan._TABLES.clear()
    got = dfr.expand(split, **opts)
    table, keys, _, _, window = _plan.column_lookup(got.plan, 1, np.arange(4))
    assert table.size == 0 and keys.shape[0] == 4 and (window == 0) == (shuffle == "none")
    got.to_zarr(tmp_path / "computed.zarr", **small)
    assert_same_bytes(tmp_path / "tables.zarr", tmp_path / "computed.zarr")
    _plan._TABLES.clear()


@pytest.mark.parametrize("shuffle", ["block", "stratified"])
def test_task_permutations_are_the_kernels_and_uniform(shuffle: str) -> None:
    """The row sources and column permutations tasks read are those of
    :mod:`daskfractal.kernels.permute` (its uniformity tests apply); checked here as used:
    where a source row lands (per position) and where two land (pairs), over 3,000 blocks."""
    from scipy import stats

    from daskfractal.expansion import _plan
    from daskfractal.kernels import STREAM_COL_PERM, STREAM_ROW_PERM, permute
    from daskfractal.testing import tiny_split

    split = tiny_split(seed=2, n_users=6, n_items=5)
    nb = 3000
    plan = dfr.expand(
        split, keep=np.full((1, nb), 0.5), shuffle=shuffle, window=64, seed=4, rows="per-block"
    ).plan
    m, n = plan.m, plan.n
    extra = {"degree": plan.row_degree, "window": 64} if shuffle == "stratified" else {}
    rows = permute.permutation_table(shuffle, m, 4, STREAM_ROW_PERM, 0, 50, **extra)
    extra = {"degree": plan.col_degree, "window": 64} if shuffle == "stratified" else {}
    cols = permute.permutation_table(shuffle, n, 4, STREAM_COL_PERM, 0, 50, **extra)
    for j in range(50):
        np.testing.assert_array_equal(_plan.row_sources(plan, 0, j), np.argsort(rows[j]))
        np.testing.assert_array_equal(_plan.column_permutation(plan, 0, j), cols[j])
    _, src, _ = _plan.slot_tables(plan, 0, np.arange(m))
    # stratified: rows only move inside their degree window (one window here: m < 64)
    slot_of = np.argsort(src, axis=1)  # slot_of[j, r]: the slot source row r lands in
    counts = np.zeros((m, m), np.int64)
    np.add.at(counts, (np.tile(np.arange(m), nb), slot_of.ravel()), 1)
    assert stats.chisquare(counts.ravel()).pvalue > 1e-4
    pairs = np.bincount(slot_of[:, 0] * m + slot_of[:, 1], minlength=m * m)
    cells = [a * m + b for a, b in itertools.permutations(range(m), 2)]
    assert pairs[[a * m + a for a in range(m)]].sum() == 0
    assert stats.chisquare(pairs[cells]).pvalue > 1e-4
    _plan._TABLES.clear()
