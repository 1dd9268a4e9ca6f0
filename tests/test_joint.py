"""The joint dropout: balanced R̂, block patterns, per-row keeps against the NumPy
specification, exact user AND item degrees, chunking, the sign trick, fidelity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

import daskfractal as dfr
from daskfractal.errors import ParameterError
from daskfractal.kernels import emit as E
from daskfractal.kernels import joint as J
from daskfractal.kernels import reference_joint as RJ
from daskfractal.kernels.rng import hash_prefix
from daskfractal.testing import fat_tailed_interactions
from daskfractal.validation.stats import ks_scaled_degrees

from .conftest import SHARED_DATA
from .test_expand import assert_chunk_and_scheduler_invariant, assert_same_bytes

FLAG = int(J.TARGET_TEST_FLAG)
#: no pattern-index table: joint_row_keep hashes every pattern index
NO_TABLE = (np.zeros(0, np.int64), np.zeros(0, np.int32))


# ------------------------------------------------------------------------ R̂ and patterns
@settings(max_examples=60, deadline=None)
@given(mp=st.integers(1, 6), npr=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_joint_keep_has_integer_row_and_column_sums(mp, npr, seed):
    keep = np.random.default_rng(seed).uniform(0.05, 1.0, (mp, npr))
    out, a, b = J.joint_keep(keep)
    assert a * mp == b * npr and a >= 1 and b >= 1
    np.testing.assert_allclose(out.sum(axis=1), a, atol=1e-9)
    np.testing.assert_allclose(out.sum(axis=0), b, atol=1e-9)
    assert out.min() >= 0 and out.max() <= 1.0


def test_joint_keep_refuses_a_matrix_it_cannot_balance():
    with pytest.raises(ValueError, match="non-zero entries"):
        J.joint_keep(np.array([[0.9, 0.0], [0.0, 0.0]]))


@settings(max_examples=40, deadline=None)
@given(mp=st.integers(1, 7), npr=st.integers(1, 7), seed=st.integers(0, 2**64 - 1))
def test_every_pattern_has_the_row_and_column_sums(mp, npr, seed):
    keep, a, b = J.joint_keep(np.random.default_rng(seed % 2**32).uniform(0.05, 1, (mp, npr)))
    pool = J.pattern_pool(keep, seed, 16)
    assert pool.shape == (mp, 16, npr) and set(np.unique(pool)) <= {0, 1}
    np.testing.assert_array_equal(pool.sum(axis=2), a)  # every (row i, pattern p)
    np.testing.assert_array_equal(pool.sum(axis=0), b)  # every (pattern p, column j)


def test_patterns_are_unbiased():
    """E[pattern] = the balanced R̂ (dependent rounding): chi-square per block over 4000."""
    keep, _, _ = J.joint_keep(np.random.default_rng(3).uniform(0.1, 1, (4, 6)))
    pool = J.pattern_pool(keep, 11, 4000)
    ones = pool.sum(axis=1).astype(float)  # (m', n') kept counts
    expected = 4000 * keep
    z = (ones - expected) / np.sqrt(expected * (1 - keep) + 1e-12)
    assert np.abs(z).max() < 4.5


def test_dependent_rounding_is_deterministic():
    keep, _, _ = J.joint_keep(np.full((3, 3), 0.4))
    hp = hash_prefix(1, 10, 5, 6)
    np.testing.assert_array_equal(
        J.dependent_round_kernel(keep, hp), J.dependent_round_kernel(keep, hp)
    )


# ------------------------------------------------------------------------ per-row keeps
@settings(max_examples=150, deadline=None)
@given(
    d=st.integers(0, 40),
    npr=st.integers(1, 5),
    seed=st.integers(0, 2**64 - 1),
    w=st.integers(0, 10**6),
    row=st.integers(0, 10**6),
    flag=st.booleans(),
    data=st.data(),
)
def test_joint_row_keep_matches_the_reference(d, npr, seed, w, row, flag, data):
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    sign = g.choice(np.array([1, 1, 1, -1, 0], np.int8), d)
    pool = g.integers(0, 2, (data.draw(st.integers(1, 40)), npr)).astype(np.uint8)
    j = data.draw(st.integers(0, npr - 1))
    key = w | (FLAG if flag else 0)
    pos = np.empty(d + 1, np.int64)
    nk = J.joint_row_keep(pool, j, np.uint64(seed), key, row, 0, d, sign, pos, *NO_TABLE)
    want = np.flatnonzero(RJ.joint_row_keep(pool, j, seed, key, row, sign))
    np.testing.assert_array_equal(pos[:nk], want)


@settings(max_examples=60, deadline=None)
@given(
    d=st.integers(0, 60),
    npr=st.integers(1, 5),
    seed=st.integers(0, 2**64 - 1),
    w=st.integers(0, 300),
    flag=st.booleans(),
    data=st.data(),
)
def test_joint_row_keep_pattern_table(d, npr, seed, w, flag, data):
    """The write pass's pattern-index table gives the reference's entries; a table of another
    degree for the window or built for another pool size is not used (hashed instead)."""
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    sign = g.choice(np.array([1, 1, 1, -1, 0], np.int8), d)
    n_pat = data.draw(st.integers(1, 40))
    pool = g.integers(0, 2, (n_pat, npr)).astype(np.uint8)
    j = data.draw(st.integers(0, npr - 1))
    row = data.draw(st.integers(0, 10**6))
    key = w | (FLAG if flag else 0)
    want = np.flatnonzero(RJ.joint_row_keep(pool, j, seed, key, row, sign))
    degrees = g.integers(0, 50, w + 3)
    degrees[w] = int((sign > 0).sum())
    for deg, p in [(degrees, n_pat), (degrees + (np.arange(w + 3) == w), n_pat),
                   (degrees, n_pat + 1)]:  # fmt: skip
        off = J.pattern_offsets(deg, p)
        idx = J.pattern_index_table(np.uint64(seed), off)
        assert idx.tolist() == [
            J.pattern_index(np.uint64(seed), v, q, p) for v in range(w + 3) for q in range(deg[v])
        ]
        pos = np.empty(d + 1, np.int64)
        nk = J.joint_row_keep(pool, j, np.uint64(seed), key, row, 0, d, sign, pos, off, idx)
        np.testing.assert_array_equal(pos[:nk], want)


@settings(max_examples=80, deadline=None)
@given(
    degrees=st.lists(st.integers(0, 30), max_size=12),
    npr=st.integers(1, 6),
    n_pat=st.integers(1, 30),
    seed=st.integers(0, 2**64 - 1),
    data=st.data(),
)
def test_kept_rank_table_matches_the_reference(degrees, npr, n_pat, seed, data):
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    pool = g.integers(0, 2, (n_pat, npr)).astype(np.uint8)
    off = J.pattern_offsets(np.array(degrees, np.int64), n_pat)
    idx = J.pattern_index_table(np.uint64(seed), off)
    start, ranks = J.kept_rank_table(pool, off, idx)
    want_start, want_ranks = RJ.kept_rank_table(pool, off, idx)
    np.testing.assert_array_equal(start, want_start)
    np.testing.assert_array_equal(ranks, want_ranks)
    assert start.dtype == np.int64 and ranks.dtype == np.int32
    # every rank is listed once per block column its pattern keeps it in
    assert ranks.shape[0] == int(pool[idx.astype(np.int64)].astype(np.int64).sum())


@settings(max_examples=200, deadline=None)
@given(
    d=st.integers(0, 60),
    npr=st.integers(1, 5),
    seed=st.integers(0, 2**64 - 1),
    w=st.integers(0, 30),
    flag=st.booleans(),
    data=st.data(),
)
def test_joint_row_keep_listed_keeps_what_the_reference_keeps(d, npr, seed, w, flag, data):
    """The kept-rank path gives the reference's positions for rows with train, test and
    other (sign 0) entries anywhere, read from the middle of a CSR; it declines (-1) when the
    tables do not describe the row (another train degree for its window, another pool)."""
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    sign = g.choice(np.array([1, 1, 1, 1, -1, 0], np.int8), d)
    n_pat = data.draw(st.integers(1, 40))
    pool = g.integers(0, 2, (n_pat, npr)).astype(np.uint8)
    j = data.draw(st.integers(0, npr - 1))
    row = data.draw(st.integers(0, 2))
    key = w | (FLAG if flag else 0)
    # three rows of one CSR, the row under test is `row`
    rows = [g.choice(np.array([1, -1], np.int8), g.integers(0, 6)) for _ in range(3)]
    rows[row] = sign
    indptr = np.concatenate([[0], np.cumsum([len(x) for x in rows])]).astype(np.int64)
    full = np.concatenate(rows).astype(np.int8)
    a, b = int(indptr[row]), int(indptr[row + 1])
    other_start, other_pos = J.other_positions(indptr, full)
    want = a + np.flatnonzero(RJ.joint_row_keep(pool, j, seed, key, row, sign))
    degrees = g.integers(0, 20, w + 3)
    degrees[w] = int((sign > 0).sum())
    off = J.pattern_offsets(degrees, n_pat)
    idx = J.pattern_index_table(np.uint64(seed), off)
    start, ranks = J.kept_rank_table(pool, off, idx)
    pos = np.full(d + 1, -1, np.int64)
    args = (j, np.uint64(seed), key, row, a, b, full, other_start, other_pos, pos)
    nk = J.joint_row_keep_listed(start, ranks, pool, off, *args)
    np.testing.assert_array_equal(pos[:nk], want)
    # tables for another degree of the window or another pool size: declined
    off2 = J.pattern_offsets(degrees + (np.arange(w + 3) == w), n_pat)
    idx2 = J.pattern_index_table(np.uint64(seed), off2)
    assert J.joint_row_keep_listed(*J.kept_rank_table(pool, off2, idx2), pool, off2, *args) == -1
    bigger = np.concatenate([pool, pool[:1]])
    assert J.joint_row_keep_listed(start, ranks, bigger, off, *args) == -1
    no_table = np.zeros(0, np.int64)
    assert J.joint_row_keep_listed(no_table, ranks, pool, no_table, *args) == -1
    no_rows = (j, np.uint64(seed), key, row, a, b, full, no_table, no_table, pos)
    assert J.joint_row_keep_listed(start, ranks, pool, off, *no_rows) == -1


@settings(max_examples=50, deadline=None)
@given(signs=st.lists(st.lists(st.sampled_from([1, -1, 0]), max_size=8), min_size=1, max_size=8))
def test_other_positions_lists_the_non_train_entries_of_each_row(signs):
    indptr = np.concatenate([[0], np.cumsum([len(x) for x in signs])]).astype(np.int64)
    flat = np.array([v for row in signs for v in row], np.int8)
    start, pos = J.other_positions(indptr, flat)
    assert start.tolist() == np.cumsum([0] + [sum(v <= 0 for v in r) for r in signs]).tolist()
    for r, row in enumerate(signs):
        assert pos[start[r] : start[r + 1]].tolist() == [x for x, v in enumerate(row) if v <= 0]


@settings(max_examples=50, deadline=None)
@given(nb=st.integers(1, 6), ns=st.integers(1, 30), seed=st.integers(0, 2**64 - 1), data=st.data())
def test_joint_slot_keys_match_the_reference(nb, ns, seed, data):
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    window_of = g.integers(0, 50, 40)
    keep_row = g.uniform(0, 1, 8)
    blocks = np.sort(g.choice(8, nb, replace=False)).astype(np.int64)
    src = g.integers(0, 40, (nb, ns))
    slots = np.sort(g.choice(1000, ns, replace=False)).astype(np.int64)
    got = J.joint_slot_keys(window_of, keep_row, blocks, src, slots, np.uint64(seed), 3)
    want = RJ.joint_slot_keys(window_of, keep_row, blocks, src, slots, seed, 3)
    np.testing.assert_array_equal(got, want)
    assert np.all(((got & FLAG) != 0).sum(axis=0) == 1)  # one test block per slot


def test_the_kept_train_entries_are_a_uniform_choice_of_positions():
    """Over seeds, every position of a row is kept equally often (chi-square)."""
    keep, _, _ = J.joint_keep(np.full((2, 4), 0.5))
    sign = np.ones(7, np.int8)
    hits = np.zeros(7)
    for seed in range(3000):
        pool = J.pattern_pool(keep, seed, 8)[0]  # block row 0
        pos = np.empty(8, np.int64)
        nk = J.joint_row_keep(pool, 1, seed, 5, 9, 0, 7, sign, pos, *NO_TABLE)
        hits[pos[:nk]] += 1
    assert chisquare(hits).pvalue > 1e-3


def test_window_permutations_stay_inside_windows():
    from daskfractal.kernels import reference as R

    deg = np.array([5, 4, 5, 4, 4, 9, 5])
    order, starts, window_of = J.joint_windows(deg, np.zeros(7), 64)
    for i, j in [(0, 0), (1, 2), (3, 1)]:
        perm = J.window_permutation_kernel(order, starts, 7, 1, i, j)
        assert sorted(perm.tolist()) == list(range(7))
        np.testing.assert_array_equal(window_of[perm], window_of)
        np.testing.assert_array_equal(deg[perm], deg)
        np.testing.assert_array_equal(perm, R.window_permutation(order, starts, 7, 1, i, j))


def test_the_numba_emit_matches_the_reference_decisions():
    """expand_block_rows in JOINT mode keeps exactly the entries the reference decides."""
    g = np.random.default_rng(5)
    m, n, nb = 12, 9, 3
    x = (g.random((m, n)) < 0.4).astype(np.int8)
    x[g.random((m, n)) < 0.1] *= -1
    indptr = np.concatenate([[0], np.cumsum((x != 0).sum(axis=1))]).astype(np.int64)
    indices = np.concatenate([np.flatnonzero(r) for r in x]).astype(np.int64)
    sign = x[x != 0].astype(np.int8)
    keep, _, _ = J.joint_keep(g.uniform(0.2, 1, (2, nb)))
    pool = J.pattern_pool(keep, 3, 32)
    row_src = np.stack([g.permutation(m) for _ in range(nb)])
    col_perm = np.stack([g.permutation(n)] * nb)
    window_of = g.integers(0, 4, m)
    keys = np.zeros((nb, m), np.int64)
    keys[:] = window_of[None, :]
    keys[1, :] |= FLAG
    got = E.expand_block_rows(
        indptr, indices, sign, row_src, col_perm, keep[1], 3, 1, 0, m, "joint", keys,
        pool=pool[1],
    )  # fmt: skip
    for t in range(m):
        want_tr, want_te = [], []
        for j in range(nb):
            r = row_src[j, t]
            a, b = indptr[r], indptr[r + 1]
            kept = RJ.joint_row_keep(pool[1], j, 3, int(keys[j, r]), int(r), sign[a:b])
            for q in np.flatnonzero(kept) + a:
                (want_tr if sign[q] > 0 else want_te).append(j * n + col_perm[j, indices[q]])
        seg = got.train_items[got.train_indptr[t] : got.train_indptr[t + 1]]
        np.testing.assert_array_equal(seg, np.sort(want_tr))
        seg = got.test_items[got.test_indptr[t] : got.test_indptr[t + 1]]
        np.testing.assert_array_equal(seg, np.sort(want_te))


# ------------------------------------------------------------------------ expansions
@pytest.fixture(scope="module")
def kcore():
    """A sparse, k-core-like input (every user ≥ 5 interactions), leave-last-out."""
    data = fat_tailed_interactions(3000, 2000, 7, seed=4, min_degree=5, timestamps=True)
    return dfr.preprocess(data)


@pytest.mark.parametrize("factors", [(3, 4), (4, 2)])
def test_user_and_item_degrees_are_exact_multiples(kcore, factors):
    ex = dfr.expand(kcore, factors=factors, shuffle="stratified", dropout="joint", seed=2)
    got = ex.compute()
    a, b = ex.meta["reduced"]["joint_multiples"]
    keep = np.asarray(ex.meta["reduced"]["keep"])
    np.testing.assert_allclose(keep.sum(axis=1), a)
    np.testing.assert_allclose(keep.sum(axis=0), b)
    m, n = kcore.n_users, kcore.n_items
    tr = got.train.tocsr()
    deg_in = np.diff(kcore.train.indptr)
    deg_out = np.diff(tr.indptr)
    block = got.user_slot // m
    for i in range(factors[0]):
        # users without train data are dropped: compare the non-zero degrees
        np.testing.assert_array_equal(np.sort(deg_out[block == i]), a * np.sort(deg_in[deg_in > 0]))
    item_in = np.bincount(kcore.train.indices, minlength=n)
    item_out = np.bincount(tr.indices, minlength=n * factors[1])
    for j in range(factors[1]):
        np.testing.assert_array_equal(np.sort(item_out[j * n : (j + 1) * n]), b * np.sort(item_in))
    assert ks_scaled_degrees(deg_in, deg_out) == 0.0
    assert ks_scaled_degrees(item_in, item_out) == 0.0
    # the sign trick: one held-out item per user (the input has one), never a train item
    np.testing.assert_array_equal(np.diff(got.test.indptr), 1)
    assert got.train.multiply(got.test).nnz == 0
    assert got.train_timestamps is not None and got.train_timestamps.shape == (tr.nnz,)


def test_joint_tasks_compute_the_reference_permutations(kcore):
    """The row sources tasks compute (the inverse Feistel bijection of each window, for
    their own slots) and the shared column permutations are the NumPy specification's;
    no whole-block row table is cached."""
    from daskfractal.expansion import _plan
    from daskfractal.kernels import reference as R
    from daskfractal.kernels.rng import STREAM_ROW_PERM

    _plan._TABLES.clear()
    plan = dfr.expand(
        kcore, factors=(3, 4), shuffle="stratified", dropout="joint", seed=6, rows="per-block"
    ).plan
    slots = np.array([0, 5, 17, plan.m - 1], np.int64)
    for i in range(3):
        blocks, src, _ = _plan.slot_tables(plan, i, slots)
        want = R.window_source_rows(
            plan.joint_order, plan.joint_starts, 6, STREAM_ROW_PERM, i, blocks, slots
        )
        np.testing.assert_array_equal(src, want)
        np.testing.assert_array_equal(
            plan.joint_window[src], np.broadcast_to(plan.joint_window[slots], src.shape)
        )
        for j in range(4):
            np.testing.assert_array_equal(
                _plan.column_permutation(plan, i, j), RJ.shared_column_permutation(plan.n, 6, j)
            )
    assert not [k for k in _plan._TABLES._tables if k[1] == "rows"]
    assert {k[2] for k in _plan._TABLES._tables if k[1] == "cols"} == {int(J.SHARED_ROW)}
    _plan._TABLES.clear()


@settings(max_examples=60, deadline=None)
@given(nw=st.integers(0, 12), npr=st.integers(1, 6), seed=st.integers(0, 2**64 - 1), data=st.data())
def test_window_count_table_matches_the_reference(nw, npr, seed, data):
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    pool = g.integers(0, 2, (data.draw(st.integers(1, 40)), npr)).astype(np.uint8)
    windows = g.integers(0, 10**6, nw).astype(np.int64)
    degrees = g.integers(0, 60, nw).astype(np.int64)
    blocks = np.sort(g.choice(npr, data.draw(st.integers(1, npr)), replace=False)).astype(np.int64)
    got = J.window_count_table(pool, windows, degrees, blocks, np.uint64(seed))
    np.testing.assert_array_equal(got, RJ.window_count_table(pool, windows, degrees, blocks, seed))
    # what a row of the window keeps, whatever the row (its ranks are only rotated)
    for k in range(nw):
        sign = np.ones(degrees[k], np.int8)
        for row in (3, 77):
            for b, j in enumerate(blocks.tolist()):
                kept = RJ.joint_row_keep(pool, j, seed, int(windows[k]), row, sign)
                assert kept.sum() == got[k, b]


@pytest.mark.parametrize("policy", ["all", "one"])
def test_joint_count_table_gives_the_per_entry_counts(kcore, policy):
    """The count pass from the window table equals the per-entry count kernel (the emit
    pass's decisions), slot by slot and block by block."""
    from daskfractal.expansion import _plan
    from daskfractal.kernels.dropout import as_mode, as_test_policy

    ex = dfr.expand(
        kcore, factors=(3, 4), shuffle="stratified", dropout="joint", seed=8, test_policy=policy
    )
    plan = ex.plan
    for i, (t0, t1) in [(0, (0, plan.m)), (2, (17, 911))]:
        got = _plan.count_slots(plan, i, t0, t1)
        blocks, src, keys = _plan.slot_tables(plan, i, np.arange(t0, t1, dtype=np.int64))
        want = E.count_rows_kernel(
            plan.src.indptr, plan.src.sign, blocks, src,
            np.ascontiguousarray(plan.keep[i], dtype=np.float64), np.uint64(8), i, t0, t1,
            as_mode("joint"), keys, plan.joint_pool[i], as_test_policy(policy),
        )  # fmt: skip
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        assert got[0].sum() > 0 and got[3].sum() > 0


def test_joint_needs_the_stratified_shuffle(kcore):
    with pytest.raises(ParameterError, match="shuffle='stratified'"):
        dfr.expand(kcore, factors=(2, 2), shuffle="block", dropout="joint", seed=1)


def test_joint_stores_are_byte_identical_across_chunks_and_schedulers(kcore, tmp_path: Path):
    red = dfr.reduce(kcore, (3, 4))
    opts = {"reduced": red, "shuffle": "stratified", "dropout": "joint", "seed": 5}
    assert_chunk_and_scheduler_invariant(kcore, tmp_path, **opts)


def test_joint_stores_are_the_same_without_the_kept_rank_tables(kcore, tmp_path, monkeypatch):
    """Above the size cap of the kept-rank tables the write pass tests every train entry: the
    same bytes as the default path (which walks the listed ranks), carried timestamps and
    test entries included."""
    from daskfractal.expansion import _plan

    red = dfr.reduce(kcore, (3, 4))
    opts = {"reduced": red, "shuffle": "stratified", "dropout": "joint", "seed": 7}
    small = {"shard_size": 4096, "chunk_elems": 1024, "progress": False, "scheduler": "sync"}
    plan = dfr.expand(kcore, **opts).plan
    pat = _plan.pattern_indices(plan, 0)
    assert _plan.kept_ranks(plan, 0, *pat)[0].size > 0  # the default path lists the ranks
    dfr.expand(kcore, **opts).to_zarr(tmp_path / "listed", **small)
    monkeypatch.setattr(_plan, "KEPT_TABLE_BYTES", 0)
    _plan._TABLES.clear()
    assert _plan.kept_ranks(plan, 0, *pat)[0].size == 0
    dfr.expand(kcore, **opts).to_zarr(tmp_path / "tested", **small)
    _plan._TABLES.clear()
    assert_same_bytes(tmp_path / "listed", tmp_path / "tested")


#: the sparse 5-core case of the issue: a test added where ../shared/data has it
AMAZON_TOYS = SHARED_DATA / "amazon-toys" / "sequences.txt"

if AMAZON_TOYS.exists():

    @pytest.mark.slow
    def test_joint_keeps_amazon_toys_degrees_and_spectrum():
        """Amazon Toys 8 × 8: KS of log(d / mean d) ≤ 0.10 for users and items (exact: 0),
        the top singular value within 5 % of Theorem 1."""
        from scipy.sparse.linalg import svds

        x = dfr.load(AMAZON_TOYS)
        x = dfr.Interactions(
            users=x.users,
            items=x.items,
            user_ids=x.user_ids,
            item_ids=x.item_ids,
            timestamps=np.arange(x.nnz, dtype=np.int64),  # the position is the time
            source=x.source,
        )
        split = dfr.preprocess(x)
        ex = dfr.expand(split, factors=(8, 8), shuffle="stratified", dropout="joint", seed=1)
        tr = ex.compute(scheduler="threads").train.tocsr()
        r = split.train.tocsr()
        assert ks_scaled_degrees(np.diff(r.indptr), np.diff(tr.indptr)) <= 0.10
        items_in = np.bincount(r.indices, minlength=r.shape[1])
        assert ks_scaled_degrees(items_in, np.bincount(tr.indices, minlength=tr.shape[1])) <= 0.10
        r.data[:] = 1
        tr.data[:] = 1
        s_r = svds(r.astype(np.float64), k=1, return_singular_vectors=False)[0]
        s_k = np.linalg.svd(np.asarray(ex.meta["reduced"]["keep"]), compute_uv=False)[0]
        s_out = svds(tr.astype(np.float64), k=1, return_singular_vectors=False)[0]
        assert abs(s_out / (s_r * s_k) - 1) <= 0.05


def test_joint_keep_returns_a_balanced_matrix_unchanged():
    """A store's recorded (balanced) R̂ given back gives the same bits, so the same patterns."""
    once, a, b = J.joint_keep(np.random.default_rng(2).uniform(0.1, 1, (4, 8)))
    twice, a2, b2 = J.joint_keep(once)
    assert (a, b) == (a2, b2)
    np.testing.assert_array_equal(once, twice)


@settings(max_examples=80, deadline=None)
@given(m=st.integers(0, 60), window=st.integers(1, 10), seed=st.integers(0, 2**32 - 1))
def test_windows_hold_one_degree_and_at_most_window_rows(m, window, seed):
    g = np.random.default_rng(seed)
    deg = g.integers(1, 6, m)
    order, starts, window_of = J.joint_windows(deg, g.random(m), window)
    assert starts[0] == 0 and starts[-1] == m and np.all(np.diff(starts) >= 1)
    assert np.diff(starts).max(initial=0) <= window
    np.testing.assert_array_equal(np.sort(order), np.arange(m))
    for w in range(len(starts) - 1):
        rows = order[starts[w] : starts[w + 1]]
        assert len(set(deg[rows].tolist())) == 1 and np.all(window_of[rows] == w)


# ------------------------------------------------------------------ dropout="auto" (default)
def test_auto_takes_joint_where_it_keeps_the_size(kcore):
    ex = dfr.expand(kcore, factors=(4, 4), seed=2)
    assert ex.params["dropout"] == "joint"
    assert ex.params["dropout_auto"]["chosen"] == "joint"
    assert "keeps its size" in ex.params["dropout_auto"]["reason"]
    red = dfr.reduce(kcore, (4, 4))
    ratio = ex.keep.sum() / red.keep.sum()
    assert 1 / 1.5 <= ratio <= 1.5
    # the same bytes as asking for joint
    want = dfr.expand(kcore, factors=(4, 4), seed=2, dropout="joint").compute()
    got = ex.compute()
    assert (got.train != want.train).nnz == 0 and (got.test != want.test).nnz == 0


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        # a size asked for is kept (joint would round R̂ to integer row sums)
        ({"element_sample_rate": 0.2}, "a size was asked for"),
        ({"element_sample_rate": 0.9}, "a size was asked for"),
        ({"shuffle": "block"}, "joint needs stratified"),
        ({"shuffle": "none"}, "joint needs stratified"),
    ],
)
def test_auto_takes_balanced_where_joint_cannot_keep_the_size(kcore, kwargs, reason):
    ex = dfr.expand(kcore, factors=(4, 4), seed=2, **kwargs)
    assert ex.params["dropout"] == "balanced"
    assert reason in ex.params["dropout_auto"]["reason"]
    red = dfr.reduce(kcore, (4, 4), scale=kwargs.get("element_sample_rate", 1.0))
    np.testing.assert_allclose(ex.keep, red.keep, rtol=1e-6)  # R̂'s size, as asked
    want = dfr.expand(kcore, factors=(4, 4), seed=2, dropout="balanced", **kwargs).compute()
    assert (ex.compute().train != want.train).nnz == 0


def test_auto_takes_balanced_where_joint_would_change_the_size(kcore):
    keep = np.full((2, 2), 0.1)  # joint's row sums of 1: 5 x R̂'s size
    ex = dfr.expand(kcore, keep=keep, seed=2)
    assert ex.params["dropout"] == "balanced"
    assert "would change its size 5.00 x" in ex.params["dropout_auto"]["reason"]


def test_auto_keeps_a_size_target(kcore):
    ex = dfr.expand(kcore, target_interactions=50_000, seed=2)
    assert ex.params["dropout"] == "balanced"
    assert ex.expected()["train"] == pytest.approx(50_000, rel=1e-6)


def test_auto_takes_balanced_where_joint_is_impossible(kcore):
    keep = np.array([[0.9, 0.0], [0.0, 0.0]])  # a row and a column with nothing to balance
    ex = dfr.expand(kcore, keep=keep, seed=2)
    assert ex.params["dropout"] == "balanced"
    assert ex.params["dropout_auto"]["reason"].startswith("joint not possible")
    with pytest.raises(ParameterError, match="non-zero entries"):
        dfr.expand(kcore, keep=keep, seed=2, dropout="joint")


def test_explicit_dropouts_record_no_auto_choice(kcore):
    ex = dfr.expand(kcore, factors=(4, 4), seed=2, dropout="balanced")
    assert "dropout_auto" not in ex.params
    with pytest.raises(ParameterError, match="dropout"):
        dfr.expand(kcore, factors=(4, 4), seed=2, dropout="automatic")


@pytest.mark.parametrize("rate", [0.5, 0.2])
def test_joint_with_a_block_sample_rate(kcore, rate):
    """Blocks dropped whole after the balancing: chunk-invariant, counts = compute, no test
    entry in train, one test entry per user whose block row survives."""
    opts = {"factors": (4, 4), "seed": 5, "block_sample_rate": rate, "dropout": "joint"}
    a = dfr.expand(kcore, chunk_size=3000, **opts)
    assert 0 < np.count_nonzero(a.keep) < a.keep.size
    got = a.compute()
    want = dfr.expand(kcore, chunk_size=10**7, **opts).compute()
    assert (got.train != want.train).nnz == 0 and (got.test != want.test).nnz == 0
    assert got.train.multiply(got.test).nnz == 0
    np.testing.assert_array_equal(np.diff(got.test.indptr), 1)
    counts = a.count(scheduler="sync")
    assert counts == {"users": len(got.user_slot), "train": got.train.nnz, "test": got.test.nnz}
    # a user whose block row keeps only blocks none of its entries' patterns reach has no
    # train entry there and is not emitted (nor its test entry)
    assert got.test.nnz == len(got.user_slot)
    assert 0.95 * a.expected()["test"] <= got.test.nnz <= a.expected()["test"]


@pytest.mark.parametrize(("cells", "groups"), [(1 << 15, 4), (4 * 8 * 2, 2), (1, 1)])
def test_grouped_patterns_keep_each_entry_a_over_k_times_per_group(monkeypatch, cells, groups):
    """Shared rows: R̂ balanced and every pattern drawn with ``a / k`` ones a row on each of
    the ``k`` groups of block columns; ``k`` is ``a`` while the grouped rows fit the cell
    budget, else the largest divisor of ``a`` that does."""
    monkeypatch.setattr(J, "JOINT_GROUP_CELLS", cells)
    keep = np.random.default_rng(4).uniform(0.3, 0.7, (4, 8))
    balanced, a, b = J.joint_keep(keep, grouped=True)
    assert (a, b) == (4, 2)
    k = J.row_groups(a, 4, 8)
    assert k == groups
    pool = J.pattern_pool(balanced, 9, 64, groups=k)
    np.testing.assert_array_equal(pool.sum(axis=2), a)
    np.testing.assert_array_equal(pool.sum(axis=0), b)
    for i in range(4):
        g = J.column_groups(i, np.arange(8), 8, k)
        for gg in range(k):
            np.testing.assert_allclose(balanced[i, g == gg].sum(), a // k)
            np.testing.assert_array_equal(pool[i][:, g == gg].sum(axis=1), a // k)
