"""Negative sampling: exact distributions, exclusion, determinism, outputs, errors.

Kernels are checked bit for bit against the NumPy reference (``reference_alias``), sampled
distributions against their targets with chi-square tests on fixed seeds (deterministic: a
test either always passes or always fails).
"""

from __future__ import annotations

import argparse
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import daskfractal as dfr
from daskfractal.cli.negatives import register
from daskfractal.errors import OutputError, ParameterError, ResourceError, StoreError
from daskfractal.kernels import alias as A
from daskfractal.kernels import reference_alias as RA
from daskfractal.kernels.rng import as_seed
from daskfractal.negatives import NegativeSampler, open_negatives
from daskfractal.negatives.sources import canonical_rows as _canonical_rows
from daskfractal.testing import random_csr

P_MIN = 1e-3
HSET = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
QUIET = {"progress": False}


# --------------------------------------------------------------------------------------
# helpers


def exclusion_rows(sampler: NegativeSampler, mode: str | None = None):
    """Canonical exclusion CSR of a CSR-backed sampler for ``mode`` (default: its own)."""
    mode = sampler.exclude if mode is None else mode
    src = sampler._src
    if mode == "none":
        return np.zeros(sampler.n_users + 1, np.int64), np.empty(0, np.int64)
    xptr, xind = src.train.indptr, src.train.indices
    if mode == "train+test" and src.test is not None:
        xptr, xind = A.union_rows_kernel(xptr, xind, src.test.indptr, src.test.indices)
    return xptr, xind


def reference_epoch(sampler: NegativeSampler, epoch: int):
    """(unshuffled, shuffled) epoch of a CSR-backed sampler computed by the reference."""
    w, table, total, n_pos, wmax = sampler._get_tables()
    mode = sampler.exclude if sampler.num_negatives else "none"
    xptr, xind = exclusion_rows(sampler, mode)
    src = sampler._src
    unshuffled = RA.unshuffled_epoch(
        sampler.num_negatives,
        as_seed(sampler.seed),
        epoch,
        src.train.indptr,
        src.train.indices,
        xptr,
        xind,
        sampler._kind,
        sampler.n_items,
        w,
        table,
        total,
        n_pos,
        wmax,
        sampler._switch,
    )
    shuffled = RA.epoch_stream(unshuffled, sampler.shuffle_window, as_seed(sampler.seed), epoch)
    return unshuffled, shuffled


def concat(batches):
    batches = list(batches)
    if not batches:
        return None
    return tuple(np.concatenate([b[i] for b in batches]) for i in range(3))


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def chi2_ok(samples: np.ndarray, target: np.ndarray) -> None:
    """Counts of ``samples`` follow ``target`` (zero-target items never appear)."""
    counts = np.bincount(samples, minlength=target.shape[0])
    assert counts[target == 0].sum() == 0, "an impossible item was drawn"
    m = target > 0
    expected = target[m] / target[m].sum() * counts.sum()
    assert stats.chisquare(counts[m], expected).pvalue > P_MIN


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> dfr.ExpansionStore:
    """The embedded MovieLens set expanded 1 x 1 (610 users, 9,724 items), Zarr."""
    out = tmp_path_factory.mktemp("neg") / "small.zarr"
    return dfr.expand("default", (1, 1), seed=0).to_zarr(out, scheduler="sync", **QUIET)


@pytest.fixture(scope="module")
def small_parquet(tmp_path_factory: pytest.TempPathFactory) -> dfr.ExpansionStore:
    out = tmp_path_factory.mktemp("neg") / "small.parquet"
    return dfr.expand("default", (1, 1), seed=0).to_parquet(out, scheduler="sync", **QUIET)


@pytest.fixture(scope="module")
def toy():
    """A small train/test pair with an empty user (3), a heavy user (0) and a test-only user."""
    rng = np.random.default_rng(3)
    train = random_csr(rng, 40, 30, 0.2).tolil()
    train[0, :] = 0
    train[0, :27] = 1  # heavy: 27 of 30 items
    train[3, :] = 0  # no train positive
    test = random_csr(rng, 40, 30, 0.03).tolil()
    test[3, 5] = 1
    test[0, :] = 0
    test[0, 28] = 1
    train, test = train.tocsr(), test.tocsr()
    train.eliminate_zeros()
    return train, test


# --------------------------------------------------------------------------------------
# kernels == reference


@pytest.mark.parametrize("n", [1, 2, 7, 100, 5000])
def test_alias_table_matches_reference_and_target(n):
    rng = np.random.default_rng(n)
    w = rng.pareto(1.2, n)
    w[rng.random(n) < 0.3] = 0.0
    if not w.sum() > 0:
        w[0] = 1.0
    table, total = A.build_alias_kernel(w)
    ref, ref_total = RA.build_alias(w)
    np.testing.assert_array_equal(table, ref)
    assert total == ref_total
    np.testing.assert_allclose(RA.alias_probabilities(table), w / w.sum(), rtol=0, atol=1e-12)
    assert np.all(table[w == 0, 0] == 0)  # a zero-weight column always goes to its alias
    assert np.all(w[table[:, 1].astype(int)] > 0)


@pytest.mark.parametrize("kind", [A.KIND_UNIFORM, A.KIND_TABLE])
@pytest.mark.parametrize("switch", [0.0, A.DEFAULT_SWITCH, np.inf])
def test_sample_kernel_matches_reference_on_every_path(kind, switch):
    rng = np.random.default_rng(11)
    n, n_users = 40, 60
    w = rng.random(n) ** 2
    w[[3, 17]] = 0.0
    table, total = A.build_alias_kernel(w)
    rows = [np.sort(rng.choice(n, rng.integers(0, 37), replace=False)) for _ in range(n_users)]
    xptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    xind = np.concatenate(rows).astype(np.int32)
    users = rng.integers(0, 2**40, n_users)
    need = rng.integers(1, 200, n_users)
    t0 = rng.integers(0, 20, n_users)
    t1 = t0 + rng.integers(0, 60, n_users)
    if kind == A.KIND_UNIFORM:
        w, table, total, n_pos = np.empty(0), np.empty((0, 2)), 0.0, n
    else:
        n_pos = int((w > 0).sum())
    args = (kind, n, w, table, total, n_pos, float(w.max()) if w.size else 0.0, switch)
    out = np.empty(int((t1 - t0).sum()), np.int32)
    seed = as_seed(-5)
    paths = set()
    status = A.sample_kernel(seed, 7, users, xptr, xind, need, t0, t1, out, *args)
    expected = []
    for i in range(n_users):
        path = RA.user_path(kind, rows[i], n, args[2], args[4], args[5], args[6], need[i], switch)
        paths.add(path[0])
        if path[0] == A.PATH_EMPTY:
            assert status <= i
            break
        expected.append(RA.user_negatives(seed, 7, users[i], rows[i], t0[i], t1[i], need[i], *args))
    else:
        assert status == -1
        np.testing.assert_array_equal(out, np.concatenate(expected))
    if kind == A.KIND_UNIFORM:
        assert {A.PATH_RANK, A.PATH_UNIFORM_REJECT} <= paths
    elif switch == 0.0:
        assert A.PATH_COMPLEMENT in paths
    elif switch == np.inf:
        assert A.PATH_REJECT in paths


def test_fisher_yates_and_shuffle_paths_match_reference():
    seed = as_seed(9)
    for size in (0, 1, 2, 5, 1000):
        np.testing.assert_array_equal(
            A.fisher_yates_kernel(size, seed, 17, 3, 4), RA.fisher_yates(size, seed, 17, 3, 4)
        )
    rng = np.random.default_rng(0)
    size = 500
    users = np.sort(rng.integers(10, 40, size))
    perm = RA.fisher_yates(size, seed, A.STREAM_NEG_SHUFFLE, 2, 6)
    for items in (rng.integers(0, 2**31, size), rng.integers(0, 2**40, size)):  # packed, not
        labels = rng.integers(0, 2, size).astype(np.int8)
        out = (np.empty_like(users), np.empty_like(items), np.empty_like(labels))
        A.shuffle_rows_kernel(seed, 2, 6, users, items, labels, *out)
        assert_same(out, (users[perm], items[perm], labels[perm]))


def test_eval_kernel_matches_reference():
    rng = np.random.default_rng(5)
    n, k = 50, 20
    rows = [np.sort(rng.choice(n, rng.integers(0, 31), replace=False)) for _ in range(80)]
    xptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    xind = np.concatenate(rows).astype(np.int64)
    users = np.arange(80, dtype=np.int64) * 1000
    out = np.empty((80, k), np.int64)
    assert A.eval_negatives_kernel(as_seed(1), users, xptr, xind, n, k, out) == -1
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(out[i], RA.eval_negatives(as_seed(1), users[i], row, n, k))


def test_rows_helpers():
    ptr = np.array([0, 3, 3, 5], np.int64)
    ind = np.array([4, 1, 4, 2, 0], np.int32)  # unsorted, a duplicate
    assert not A.rows_canonical_kernel(ptr, ind, 5)
    cptr, cind = _canonical_rows(ptr, ind, 5)
    np.testing.assert_array_equal(cptr, [0, 2, 2, 4])
    np.testing.assert_array_equal(cind, [1, 4, 0, 2])
    assert A.rows_canonical_kernel(cptr, cind, 5)
    uptr, uind = A.union_rows_kernel(cptr, cind, np.array([0, 1, 2, 2]), np.array([4, 3], np.int32))
    np.testing.assert_array_equal(uptr, [0, 2, 3, 5])
    np.testing.assert_array_equal(uind, [1, 4, 3, 0, 2])


# --------------------------------------------------------------------------------------
# sampler == reference, never a positive (hypothesis)


@st.composite
def sampler_cases(draw):
    n_users = draw(st.integers(1, 12))
    n_items = draw(st.integers(1, 25))
    seed = draw(st.integers(0, 2**32))
    rng = np.random.default_rng(seed)
    train = random_csr(rng, n_users, n_items, draw(st.sampled_from([0.0, 0.1, 0.5, 0.95])))
    test = random_csr(rng, n_users, n_items, draw(st.sampled_from([0.0, 0.1])))
    dist = draw(st.sampled_from(["uniform", "popularity", "weights"]))
    kw = {
        "num_negatives": draw(st.integers(0, 4)),
        "exclude": draw(st.sampled_from(["train", "train+test", "none"])),
        "seed": seed,
        "shuffle_window": draw(st.integers(1, 30)),
    }
    if dist == "weights":
        w = rng.random(n_items) * (rng.random(n_items) < 0.8)
        w[rng.integers(n_items)] = 1.0
        kw["weights"] = w
    else:
        kw["distribution"] = dist
        kw["alpha"] = draw(st.sampled_from([0.75, 0.0, -0.5, 1.0]))
    switch = draw(st.sampled_from([0.0, A.DEFAULT_SWITCH, np.inf]))
    return (train, test), kw, switch, draw(st.integers(0, 3))


@HSET
@given(sampler_cases())
def test_sampler_equals_reference_and_never_returns_a_positive(case):
    data, kw, switch, epoch = case
    if kw.get("distribution") == "popularity" and data[0].nnz == 0:
        with pytest.raises(ParameterError, match="popularity"):
            NegativeSampler(data, **kw)
        return
    s = NegativeSampler(data, **kw)
    s._switch = switch
    try:
        unshuffled, shuffled = reference_epoch(s, epoch)
    except ValueError:  # some user has nothing to sample
        with pytest.raises(ParameterError, match="exclude="):
            s.examples(0, s.n_users, epoch)
        return
    assert_same(s.examples(0, s.n_users, epoch), unshuffled)
    got = concat(s.epoch(epoch, batch_size=7, prefetch=0))
    if got is not None:
        assert_same(got, shuffled)
    users, items, labels = unshuffled
    assert users.shape[0] == s.n_examples
    assert (labels == 1).sum() == data[0].nnz
    if s.exclude != "none":
        xptr, xind = exclusion_rows(s)
        neg = labels == 0
        for u, item in zip(users[neg], items[neg], strict=True):
            assert item not in xind[xptr[u] : xptr[u + 1]]
    if s.distribution != "uniform":
        assert np.all(s.probabilities()[items[labels == 0]] > 0)


# --------------------------------------------------------------------------------------
# exact distributions (chi-square)


def _chi_data(n_items=20, positives=(2, 5, 6, 11)):
    """200 users over ``n_items`` (skewed popularity); user 0 has exactly ``positives``."""
    rng = np.random.default_rng(1)
    p = np.arange(1, n_items + 1, dtype=float) ** -0.8
    dense = rng.random((200, n_items)) < 0.5 * p / p.max()
    dense[0] = False
    dense[0, list(positives)] = True
    dense[1:, n_items - 1] = False  # an item nobody saw (popularity weight 0)
    return sp.csr_matrix(dense.astype(np.float32))


CHI_CASES = [
    # (sampler kwargs, switch, positives of user 0)
    ({"distribution": "uniform", "exclude": "none"}, None, (2, 5)),
    ({"distribution": "uniform"}, None, (2, 5, 6, 11)),  # uniform rejection
    ({"distribution": "uniform"}, None, tuple(range(17))),  # rank (complement): 3 left
    ({"distribution": "popularity"}, np.inf, (0, 2, 5)),  # alias + rejection
    ({"distribution": "popularity"}, 0.0, (0, 2, 5)),  # complement
    ({"distribution": "popularity", "alpha": 0.0}, None, (1, 3)),
    ({"distribution": "popularity", "alpha": -0.5}, 0.0, (1, 3)),
    ({"distribution": "popularity", "exclude": "none"}, None, (1, 3)),
    ({"weights": "w"}, np.inf, (0, 4, 9)),
    ({"weights": "w"}, 0.0, (0, 4, 9)),
    ({"weights": "w"}, None, tuple(range(2, 19))),  # most of the mass: default complement
]


@pytest.mark.parametrize(("kw", "switch", "positives"), CHI_CASES)
def test_negatives_follow_the_conditional_target(kw, switch, positives):
    n_items = 20
    train = _chi_data(n_items, positives)
    kw = dict(kw)
    if kw.get("weights") == "w":
        w = np.linspace(0.2, 3.0, n_items)
        w[[7, 13]] = 0.0
        kw["weights"] = w
    s = NegativeSampler(train, num_negatives=2, seed=7, **kw)
    if switch is not None:
        s._switch = switch
    draws = s.sample(np.array([0]), n=60_000, epoch=3)[0]
    target = s.probabilities().copy()
    if s.exclude != "none":
        target[list(positives)] = 0.0
    chi2_ok(draws, target)
    if kw.get("distribution") == "popularity":
        deg = np.bincount(train.indices, minlength=n_items).astype(float)
        alpha = kw.get("alpha", 0.75)
        expect = np.where(deg > 0, np.where(deg > 0, deg, 1.0) ** alpha, 0.0)
        np.testing.assert_allclose(s.probabilities(), expect / expect.sum())


def test_test_negatives_are_uniform_subsets():
    """3,000 users with identical rows: each available item is chosen with prob. k/m."""
    n_items, k = 12, 4
    train = sp.csr_matrix(np.tile((np.arange(n_items) < 3).astype(np.float32), (3000, 1)))
    test = sp.csr_matrix(np.tile((np.arange(n_items) == 5).astype(np.float32), (3000, 1)))
    s = NegativeSampler((train, test), seed=2)
    users, items = s.test_negatives(k)
    assert users.shape == (3000,) and items.shape == (3000, k)
    counts = np.bincount(items.ravel(), minlength=n_items)
    assert counts[[0, 1, 2, 5]].sum() == 0
    avail = np.setdiff1d(np.arange(n_items), [0, 1, 2, 5])
    assert stats.chisquare(counts[avail]).pvalue > P_MIN
    # pairs are uniform too (a k-subset, not k independent items)
    pair = (items[:, :, None] == avail[0]).any(1) & (items[:, :, None] == avail[1]).any(1)
    m = avail.shape[0]
    expected = 3000 * k * (k - 1) / (m * (m - 1))
    assert abs(pair.sum() - expected) < 4 * np.sqrt(expected)


# --------------------------------------------------------------------------------------
# behaviour


def test_heavy_and_empty_users(toy):
    train, test = toy
    for kw in ({}, {"distribution": "popularity"}, {"exclude": "train+test"}):
        s = NegativeSampler((train, test), num_negatives=3, seed=1, shuffle_window=17, **kw)
        ptr, negs = s.epoch_negatives(0, s.n_users, 2)
        assert ptr[4] - ptr[3] == 0  # user 3: no train positive, no negatives
        heavy = negs[ptr[0] : ptr[1]]
        assert heavy.shape == (27 * 3,)
        assert set(heavy) <= {27, 28, 29} - set(test[0].indices if s.exclude != "train" else [])
        assert (s.examples(3, 4)[0]).size == 0
        # an empty user can still be asked for negatives: nothing is excluded
        assert s.sample([3], n=5).shape == (1, 5)
        users, items = s.test_negatives(k=2)
        assert 3 in users and 0 in users
        assert set(items[list(users).index(0)]) <= {27, 28, 29} - set(test[0].indices)


def test_determinism_across_chunkings_and_calls(toy):
    s = NegativeSampler(toy, num_negatives=3, distribution="popularity", seed=4, shuffle_window=9)
    full = s.epoch_negatives(0, s.n_users, 1)
    parts = [s.epoch_negatives(a, b, 1) for a, b in [(0, 7), (7, 8), (8, 31), (31, 40)]]
    np.testing.assert_array_equal(full[1], np.concatenate([p[1] for p in parts]))
    assert_same(
        s.examples(0, s.n_users, 1),
        tuple(
            np.concatenate(x)
            for x in zip(*(s.examples(a, b, 1) for a, b in [(0, 13), (13, 40)]), strict=True)
        ),
    )
    streams = [
        concat(s.epoch(1, batch_size=b, prefetch=p)) for b, p in [(1, 0), (10, 1), (10**6, 2)]
    ]
    assert_same(streams[0], streams[1])
    assert_same(streams[0], streams[2])
    assert not np.array_equal(streams[0][1], concat(s.epoch(2, 10))[1])  # epochs differ
    # sample(): occurrence q of a user gets draws q*n..; any batching gives the same
    deg = np.diff(s._src.train.indptr)
    users = np.repeat(np.arange(s.n_users), deg)
    negs = s.sample(users, epoch=1)
    np.testing.assert_array_equal(negs.ravel(), full[1])
    order = np.random.default_rng(0).permutation(users.shape[0])
    shuffled = s.sample(users[order], epoch=1)
    np.testing.assert_array_equal(shuffled[np.argsort(users[order], kind="stable")], negs)
    np.testing.assert_array_equal(s.user_negatives(5, 1).ravel(), full[1][full[0][5] : full[0][6]])
    # test negatives do not depend on which users are asked together
    users_t, items_t = s.test_negatives(2)
    sub = users_t[::3]
    np.testing.assert_array_equal(s.test_negatives(2, sub)[1], items_t[::3])
    # pickling keeps everything
    s2 = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(s2.epoch_negatives(0, s.n_users, 1)[1], full[1])


def test_batches_have_the_requested_size(toy):
    s = NegativeSampler(toy, num_negatives=2, seed=0, shuffle_window=16)
    n = s.n_examples
    sizes = [b[0].shape[0] for b in s.epoch(0, batch_size=25)]
    assert sum(sizes) == n and set(sizes[:-1]) == {25} and len(sizes) == s.n_batches(25)
    sizes = [b[0].shape[0] for b in s.epoch(0, batch_size=25, drop_last=True)]
    assert set(sizes) == {25} and len(sizes) == s.n_batches(25, drop_last=True)
    users, items, labels = next(s.epoch(0, batch_size=25))
    assert users.dtype == np.int64 and items.dtype == np.int32 and labels.dtype == np.int8
    windows = s.windows(0)
    assert sorted(r0 for _, r0, _ in windows) == list(range(0, n, 16))
    assert windows[-1][2] == n  # the partial window comes last


def test_store_backed_sampler_equals_in_memory(small_store, small_parquet):
    train, test = small_store.to_scipy("train"), small_store.to_scipy("test")
    for kw in ({"exclude": "train+test"}, {"distribution": "popularity"}):
        mem = NegativeSampler((train, test), num_negatives=2, seed=3, shuffle_window=5000, **kw)
        for store in (small_store, small_parquet, str(small_store.path)):
            s = NegativeSampler(store, num_negatives=2, seed=3, shuffle_window=5000, **kw)
            np.testing.assert_array_equal(s.probabilities(), mem.probabilities())
            assert_same(s.window(0, 3), mem.window(0, 3))
            assert_same(s.examples(100, 140, 2), mem.examples(100, 140, 2))
            assert_same(s.test_negatives(50, [0, 7, 600]), mem.test_negatives(50, [0, 7, 600]))
        s = pickle.loads(pickle.dumps(NegativeSampler(small_store, seed=3, **kw)))
        np.testing.assert_array_equal(
            s.epoch_negatives(0, 50)[1],
            NegativeSampler((train, test), seed=3, **kw).epoch_negatives(0, 50)[1],
        )


# --------------------------------------------------------------------------------------
# outputs


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_outputs_read_back_equal_to_memory(toy, tmp_path, fmt):
    s = NegativeSampler(toy, num_negatives=3, distribution="popularity", seed=8, shuffle_window=10)
    write = s.to_zarr if fmt == "zarr" else s.to_parquet
    out = write(
        tmp_path / "a", [0, 5], test_negatives=2, rows_per_task=30, scheduler="sync", **QUIET
    )
    assert out.format == fmt and out.epochs == [0, 5]
    for e in (0, 5):
        assert_same(out.epoch(e), concat(s.epoch(e, batch_size=64)))
    assert_same(out.test_negatives(), s.test_negatives(2))
    # other task sizes and schedulers: identical content
    out2 = write(
        tmp_path / "b",
        [5],
        test_negatives=2,
        rows_per_task=10,
        chunk_rows=5,
        scheduler="threads",
        **QUIET,
    )
    assert_same(out2.epoch(5), out.epoch(5))
    assert_same(out2.test_negatives(), out.test_negatives())
    assert open_negatives(tmp_path / "a").meta["num_negatives"] == 3
    with pytest.raises(StoreError, match="overwrite"):
        write(tmp_path / "a", 0, scheduler="sync", **QUIET)
    again = write(tmp_path / "a", 1, overwrite=True, scheduler="sync", **QUIET)
    assert again.epochs == [1]
    with pytest.raises(ParameterError, match="test negatives"):
        again.test_negatives()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not a negatives output"):
        write(foreign, 0, overwrite=True, scheduler="sync", **QUIET)
    assert (foreign / "data.txt").exists()


def test_outputs_of_an_empty_epoch(tmp_path):
    s = NegativeSampler(sp.csr_matrix((3, 4)), num_negatives=2)
    for write in (s.to_zarr, s.to_parquet):
        out = write(tmp_path / write.__name__, 0, test_negatives=1, scheduler="sync", **QUIET)
        assert all(a.size == 0 for a in out.epoch(0))
        assert out.test_negatives()[1].shape == (0, 1)


def test_incomplete_output_is_refused(toy, tmp_path):
    s = NegativeSampler(toy, shuffle_window=10)
    out = s.to_zarr(tmp_path / "o", 0, scheduler="sync", **QUIET)
    (out.path / "_SUCCESS").unlink()
    with pytest.raises(StoreError, match="incomplete"):
        open_negatives(out.path)
    with pytest.raises(StoreError, match="not a negatives output"):
        open_negatives(tmp_path)


# --------------------------------------------------------------------------------------
# bad parameters


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"num_negatives": -1}, "num_negatives"),
        ({"num_negatives": 2.5}, "num_negatives"),
        ({"num_negatives": True}, "num_negatives"),
        ({"alpha": float("nan")}, "alpha"),
        ({"alpha": float("inf")}, "alpha"),
        ({"alpha": "x"}, "alpha"),
        ({"distribution": "zipf"}, "distribution"),
        ({"exclude": "test"}, "exclude"),
        ({"weights": np.ones(3)}, "weights"),
        ({"weights": -np.ones(10)}, "weights"),
        ({"weights": np.zeros(10)}, "weights"),
        ({"weights": np.full(10, np.nan)}, "weights"),
        ({"weights": np.ones(10), "distribution": "popularity"}, "weights"),
        ({"distribution": "weights"}, "weights"),
        ({"seed": 1.5}, "seed"),
        ({"shuffle_window": 0}, "shuffle_window"),
        ({"distribution": "popularity", "alpha": 1e6}, "alpha"),
    ],
)
def test_bad_parameters(kw, match):
    train = random_csr(np.random.default_rng(0), 5, 10, 0.3)
    with pytest.raises(ParameterError, match=match):
        NegativeSampler(train, **kw)


def test_bad_calls_and_exhausted_users(toy):
    train = toy[0]
    with pytest.raises(ParameterError, match="store_or_csr"):
        NegativeSampler([[1, 0]])
    with pytest.raises(StoreError):
        NegativeSampler("/nonexistent/store.zarr")
    s = NegativeSampler(toy, shuffle_window=10)
    for call, match in [
        (lambda: s.sample([40]), "users"),
        (lambda: s.sample([-1]), "users"),
        (lambda: s.sample([0], n=-2), "n must"),
        (lambda: list(s.epoch(0, batch_size=0)), "batch_size"),
        (lambda: s.examples(5, 2), "user range"),
        (lambda: s.test_negatives(-1), "k must"),
        (lambda: s.test_negatives(31), "k=31"),
        (lambda: s.to_zarr("/tmp/never", 0, rows_per_task=15), "rows_per_task"),
        (lambda: s.to_zarr("/tmp/never", 0, rows_per_task=20, chunk_rows=3), "chunk_rows"),
        (lambda: s.to_zarr("/tmp/never", [1, 1]), "epochs"),
    ]:
        with pytest.raises(ParameterError, match=match):
            call()
    # user 0 has 27 train positives and 1 test: 2 items left, fewer than k=4 test negatives
    with pytest.raises(ParameterError, match="user 0 has only 2 items"):
        s.test_negatives(4)
    # a user who interacted with every item cannot get negatives
    full = train.tolil()
    full[1, :] = 1
    s = NegativeSampler(full.tocsr(), num_negatives=1)
    with pytest.raises(ParameterError, match="exclude='train': user 1"):
        s.epoch_negatives(0, 5)
    with pytest.raises(ParameterError, match="user 1"):
        list(s.epoch(0, 10))
    with pytest.raises(ParameterError, match="user 1"):
        s.sample([1])
    assert NegativeSampler(full.tocsr(), num_negatives=1, exclude="none").sample([1]).shape == (
        1,
        1,
    )
    w = np.zeros(30)
    w[:27] = 1.0  # all the mass on user 0's positives
    s = NegativeSampler(train, weights=w)
    with pytest.raises(ParameterError, match="positive weight"):
        s.sample([0])


# --------------------------------------------------------------------------------------
# CLI and schedulers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daskfractal")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    return parser


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_cli_writes_what_the_api_computes(small_store, tmp_path, capsys, fmt):
    out = tmp_path / "neg"
    argv = [
        "negatives",
        str(small_store.path),
        "--epochs",
        "2",
        "--num-negatives",
        "2",
        "--out",
        str(out),
        "--test-negatives",
        "99",
        "--distribution",
        "popularity",
        "--seed",
        "5",
        "--shuffle-window",
        "40000",
        "--batch-size",
        "10000",
        "--format",
        fmt,
        "--local",
        "sync",
        "--quiet",
    ]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    assert "2 epoch(s)" in capsys.readouterr().out
    got = open_negatives(out)
    s = NegativeSampler(small_store, 2, "popularity", seed=5, shuffle_window=40000)
    assert_same(got.epoch(1), concat(s.epoch(1, 10**6)))
    assert_same(got.test_negatives(), s.test_negatives(99))
    args = _parser().parse_args([*argv[:2], "--num-negatives", "-1", "--out", str(out)])
    with pytest.raises(ParameterError, match="num_negatives"):
        args.func(args)
    args = _parser().parse_args(["negatives", str(tmp_path / "missing"), "--out", str(out)])
    with pytest.raises(StoreError):
        args.func(args)


@pytest.mark.distributed
def test_distributed_cluster_gives_identical_outputs(small_store, tmp_path):
    from distributed import Client, LocalCluster

    s = NegativeSampler(small_store, 3, "popularity", seed=2, shuffle_window=30000)
    ref = s.to_zarr(
        tmp_path / "sync", [0, 1], test_negatives=20, rows_per_task=60000, scheduler="sync", **QUIET
    )
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        got = s.to_zarr(
            tmp_path / "dist",
            [0, 1],
            test_negatives=20,
            rows_per_task=30000,
            scheduler=client,
            **QUIET,
        )
        mem = NegativeSampler(
            (small_store.to_scipy("train"), small_store.to_scipy("test")),
            3,
            "popularity",
            seed=2,
            shuffle_window=30000,
        )
        par = mem.to_parquet(tmp_path / "par", 1, scheduler=client, **QUIET)
    for e in (0, 1):
        assert_same(got.epoch(e), ref.epoch(e))
    assert_same(par.epoch(1), ref.epoch(1))
    assert_same(got.test_negatives(), ref.test_negatives())


# --------------------------------------------------------------------------------------
# reliability: bad counts, the seed rule, preflight, disk full, foreign files (issue 9)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"seed": -(2**63)}, "seed"),
        ({"seed": "1"}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": None}, "seed"),
        ({"num_negatives": 2**32}, "num_negatives"),
        ({"num_negatives": 10**30}, "num_negatives"),
        ({"num_negatives": "4"}, "num_negatives"),
        ({"shuffle_window": 2**63}, "shuffle_window"),
        ({"shuffle_window": -5}, "shuffle_window"),
        ({"shuffle_window": 1.5}, "shuffle_window"),
        ({"distribution": None}, "distribution"),
        ({"exclude": 1}, "exclude"),
    ],
)
def test_seed_rule_and_impossible_counts_are_refused(kw, match):
    train = random_csr(np.random.default_rng(0), 5, 10, 0.3)
    with pytest.raises(ParameterError, match=match):
        NegativeSampler(train, **kw)


def test_one_seed_rule_keeps_the_streams_of_valid_seeds(toy):
    top = 2**64 - 1
    assert NegativeSampler(toy, seed=top).seed == top
    assert NegativeSampler(toy, seed=np.uint64(top)).seed == top
    assert NegativeSampler(toy, seed=1e3).seed == 1000  # an integral float is an integer
    a = NegativeSampler(toy, seed=5, shuffle_window=7).epoch_negatives(0, 40, 2)
    b = NegativeSampler(toy, seed=np.int64(5), shuffle_window=7).epoch_negatives(0, 40, 2)
    assert_same(a, b)


def test_user_given_counts_are_checked_before_allocating(toy, tmp_path, monkeypatch):
    s = NegativeSampler(toy, shuffle_window=10)
    never = tmp_path / "never"
    for call, error, match in [
        (lambda: s.sample(np.arange(40), n=2**31), ResourceError, "memory"),
        (lambda: s.sample([0], n=2**40), ParameterError, "n must"),
        (lambda: s.sample([0] * 70000, n=2**16), ParameterError, "draws"),
        (lambda: s.test_negatives(10**12), ParameterError, "k=1000000000000"),
        (lambda: s.epoch(0, prefetch=10**12), ResourceError, "prefetch"),
        (lambda: s.epoch(2**63), ParameterError, "e must"),
        (lambda: s.window(-(2**63) - 1, 0), ParameterError, "epoch"),
        (lambda: s.windows(2**64), ParameterError, "epoch"),
        (lambda: s.to_zarr(never, range(10**12)), ParameterError, "epochs"),
        (lambda: s.to_zarr(never, iter(range(10**12))), ParameterError, "epochs"),
        (lambda: s.to_zarr(never, [2**63]), ParameterError, "epochs"),
        (lambda: s.to_zarr(never, "0"), ParameterError, "epochs"),
        (lambda: s.to_zarr(never, 0, test_negatives=-1), ParameterError, "test_negatives"),
        (lambda: s.to_zarr(never, 0, rows_per_task=0), ParameterError, "rows_per_task"),
        (lambda: s.to_zarr(never, 0, rows_per_task=2**63), ParameterError, "rows_per_task"),
        (lambda: s.to_zarr(never, 0, chunk_rows=0), ParameterError, "chunk_rows"),
        (lambda: s.to_zarr(never, 0, chunk_rows=2.5), ParameterError, "chunk_rows"),
    ]:
        with pytest.raises(error, match=match):
            call()
    assert not never.exists()
    # a heavy user times num_negatives past the 2**32 draws of its stream
    heavy = NegativeSampler(toy, num_negatives=2**32 // 20)  # user 0 has 27 positives
    with pytest.raises(ParameterError, match="draws"):
        heavy.windows(0)
    # a shuffle window of one row on a sampler with many rows: the window order is refused
    monkeypatch.setattr("daskfractal._preflight.available_memory", lambda: 2**20)
    with pytest.raises(ResourceError, match="shuffle windows"):
        NegativeSampler(toy, num_negatives=10**5, shuffle_window=1).windows(0)


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_preflight_refuses_what_cannot_fit_with_the_numbers(toy, tmp_path, monkeypatch, fmt):
    from daskfractal.negatives import io as nio

    s = NegativeSampler(toy, num_negatives=3, shuffle_window=10)
    write = s.to_zarr if fmt == "zarr" else s.to_parquet
    # the issue-9 case: num_negatives=1e9 plans about 1.6e11 rows, far beyond any disk
    big = NegativeSampler(toy, num_negatives=10**9, shuffle_window=2**20)
    with pytest.raises(ResourceError, match=r"rows\).*on disk.*--force"):
        (big.to_zarr if fmt == "zarr" else big.to_parquet)(tmp_path / "big", 0, **QUIET)
    assert not (tmp_path / "big").exists()
    # a disk with 1 KiB free
    monkeypatch.setattr("daskfractal._preflight.free_disk", lambda path: 1024)
    with pytest.raises(ResourceError, match=r"needs about .* on disk but only 1.0 KiB"):
        write(tmp_path / "d", [0, 1], scheduler="sync", **QUIET)
    assert not (tmp_path / "d").exists()
    out = write(tmp_path / "d", [0, 1], scheduler="sync", force=True, **QUIET)
    assert out.epochs == [0, 1]
    monkeypatch.undo()
    # a worker memory limit of 1 KiB
    monkeypatch.setattr(nio, "memory_budget", lambda scheduler: (1024, 1))
    with pytest.raises(ResourceError, match=r"memory but the limit is 1.0 KiB"):
        write(tmp_path / "m", 0, scheduler="sync", **QUIET)
    assert not (tmp_path / "m").exists()
    assert write(tmp_path / "m", 0, scheduler="sync", force=True, **QUIET).epochs == [0]


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_estimates_bound_the_real_output(small_store, tmp_path, fmt):
    from daskfractal.negatives import io as nio

    s = NegativeSampler(small_store, num_negatives=4, seed=1)
    est = nio.estimate_write(s, fmt, 2, 2**22, len(s.test_users()), 99)
    assert est.rows == 2 * s.n_examples
    assert est.test_values == len(s.test_users()) * 99
    write = s.to_zarr if fmt == "zarr" else s.to_parquet
    out = write(tmp_path / "o", [0, 1], test_negatives=99, scheduler="sync", **QUIET)
    real = sum(f.stat().st_size for f in out.path.rglob("*") if f.is_file())
    # an upper bound (uncompressed), but not an absurd one
    assert real <= est.disk_bytes <= 10 * real


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_disk_full_leaves_an_unfinished_output_that_does_not_open(toy, tmp_path, fmt, monkeypatch):
    import errno

    from daskfractal.negatives import io as nio

    s = NegativeSampler(toy, num_negatives=2, shuffle_window=10)
    write = s.to_zarr if fmt == "zarr" else s.to_parquet
    out = tmp_path / "o"
    real_task = nio._epoch_task
    calls = []

    def task_then_disk_full(*args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(out / "epoch-0" / "x"))
        return real_task(*args)

    monkeypatch.setattr(nio, "_epoch_task", task_then_disk_full)
    with pytest.raises(OutputError, match=r"No space left on device.*unfinished"):
        write(out, 0, rows_per_task=20, scheduler="sync", **QUIET)
    assert not (out / "_SUCCESS").exists()
    with pytest.raises(StoreError, match="incomplete"):
        open_negatives(out)
    # without overwrite the message says the output is unfinished; with it, it is replaced
    monkeypatch.undo()
    with pytest.raises(StoreError, match=r"unfinished negatives output.*overwrite"):
        write(out, 0, scheduler="sync", **QUIET)
    assert write(out, 0, overwrite=True, scheduler="sync", **QUIET).epochs == [0]


def test_failed_final_metadata_write_is_not_complete(toy, tmp_path, monkeypatch):
    import errno

    from daskfractal.negatives import io as nio

    s = NegativeSampler(toy, num_negatives=2, shuffle_window=10)
    real = nio.atomic_write_bytes

    def fail_when_complete(path, data):
        if path.name == nio.META_FILE and b'"complete": true' in bytes(data):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(nio, "atomic_write_bytes", fail_when_complete)
    with pytest.raises(OutputError, match="unfinished"):
        s.to_parquet(tmp_path / "o", 0, scheduler="sync", **QUIET)
    with pytest.raises(StoreError, match="incomplete"):
        open_negatives(tmp_path / "o")
    # a part that cannot be written: the same, and no temporary file is left behind
    monkeypatch.setattr(
        nio,
        "atomic_write_bytes",
        lambda path, data: (_ for _ in ()).throw(PermissionError(errno.EACCES, "denied", path)),
    )
    with pytest.raises(OutputError, match="denied"):
        s.to_parquet(tmp_path / "p", 0, scheduler="sync", **QUIET)
    assert not list((tmp_path / "p").rglob("*.tmp"))


def test_overwrite_deletes_only_a_negatives_writers_files(toy, tmp_path):
    s = NegativeSampler(toy, shuffle_window=10)
    for write in (s.to_zarr, s.to_parquet):
        out = write(tmp_path / write.__name__, 0, scheduler="sync", **QUIET).path
        (out / "notes.txt").write_text("mine")
        with pytest.raises(StoreError, match=r"never creates \(notes.txt\)"):
            write(out, 1, overwrite=True, scheduler="sync", **QUIET)
        assert (out / "notes.txt").read_text() == "mine"
        # a file the manifest does not list: the output is refused, not read past
        with pytest.raises(StoreError, match=r"notes.txt: not listed in manifest.json"):
            open_negatives(out)
    # a deleted or damaged Parquet part is an error, never fewer rows
    out = s.to_parquet(tmp_path / "parts", 0, test_negatives=1, rows_per_task=20, **QUIET)
    assert len(list((out.path / "epoch-0").glob("part-*"))) > 2
    (out.path / "epoch-0" / "part-000001.parquet").unlink()
    with pytest.raises(StoreError, match=r"damaged: epoch-0/part-000001.parquet: missing"):
        open_negatives(out.path)
    (out.path / "test" / "part-000000.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(StoreError, match="damaged"):
        open_negatives(out.path).test_negatives()
    # damaged metadata is an unreadable output, not a traceback
    out = tmp_path / "to_parquet"
    (out / "notes.txt").unlink()
    (out / "_negatives.json").write_text('{"format_version": 1, "compl')
    with pytest.raises(StoreError, match="unreadable"):
        open_negatives(out)


def test_cli_refuses_impossible_jobs_with_one_line(small_store, tmp_path, capsys):
    from daskfractal.cli import main

    out = tmp_path / "neg"
    base = ["negatives", str(small_store.path), "--out", str(out), "--local", "sync", "--quiet"]
    cases = [
        ["--num-negatives", "1000000000"],  # issue 9: 4e17 rows there, 1.1e14 here
        ["--num-negatives", "5000000000"],
        ["--epochs", "-1"],
        ["--epochs", "1000000"],
        ["--seed", "-1"],
        ["--seed", str(2**64)],
        ["--test-negatives", "-3"],
        ["--test-negatives", "100000000"],
        ["--shuffle-window", "0"],
        ["--batch-size", "0"],
        ["--batch-size", "3"],
    ]
    for extra in cases:
        rc = main([*base, *extra])
        err = capsys.readouterr().err.strip()
        assert rc != 0, extra
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (extra, err)
        assert err.startswith("daskfractal negatives: error: "), err
        assert not out.exists(), extra
    rc = main([*base, "--num-negatives", "1000000000"])
    assert "on disk" in capsys.readouterr().err and rc != 0
    assert main([*base, "--num-negatives", "1", "--force"]) == 0


def test_negatives_modules_depend_one_way():
    """store/ and kernels/ never import negatives/; negatives/ never imports the CLI (it lives
    in daskfractal.cli); no private name (or private module of another package) is imported."""
    import ast
    from pathlib import Path

    pkg = Path(dfr.__file__).parent

    def imports(path):
        out = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                out.append((node.level, node.module or "", [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                out += [(0, a.name, []) for a in node.names]
        return out

    for sub in ("store", "kernels"):
        for f in (pkg / sub).glob("*.py"):
            assert not any("negatives" in m for _, m, _ in imports(f)), f
    for f in (pkg / "negatives").glob("*.py"):
        for level, module, names in imports(f):
            assert "cli" not in module.split("."), (f.name, module)
            if level >= 2 or module.startswith("daskfractal"):  # outside negatives/
                parts = module.split(".")[1 if module.startswith("daskfractal") else 0 :]
                assert not any(p.startswith("_") for p in parts[1:]), (f.name, module)
                assert not any(n.startswith("_") for n in names), (f.name, module, names)
