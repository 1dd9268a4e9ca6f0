"""Kernels of the randomized Kronecker expansion: Numba == NumPy reference, bit for bit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from daskfractal.kernels import dropout as D
from daskfractal.kernels import emit as M
from daskfractal.kernels import permute as P
from daskfractal.kernels import reference as R
from daskfractal.kernels import rng as K
from daskfractal.kernels._jit import ngjit

HSET = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
P_MIN = 1e-4  # chi-square p-value floor (all draws are deterministic: no flakiness)

#: the kernels' pattern table argument outside the joint dropout
_NO_POOL = np.zeros((0, 0), np.uint8)
_NO_OFF = np.zeros(0, np.int64)
_NO_IDX = np.zeros(0, np.int32)
#: no kept-rank and other-position tables: joint_row_keep decides entry by entry
_NO_LISTS = (_NO_OFF, _NO_IDX, _NO_OFF, _NO_OFF)
#: the item permutations read from tables (no computed permutations)
_TABLED = (np.zeros((0, 0), np.uint64), _NO_OFF, _NO_OFF, 1)


# --------------------------------------------------------------------------------------
# rng


@ngjit
def _hash_many(seed, stream, a, b, c):
    out = np.empty(c.shape[0], np.uint64)
    uni = np.empty(c.shape[0], np.float64)
    for x in range(c.shape[0]):
        out[x] = K.hash64(seed[x], stream[x], a[x], b[x], c[x])
        uni[x] = K.uniform(seed[x], stream[x], a[x], b[x], c[x])
    return out, uni


def test_hash_numba_equals_numpy():
    g = np.random.default_rng(0)
    n = 3000
    seed = g.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    words = [g.integers(-(2**62), 2**62, n) for _ in range(4)]
    words[3][:10] = np.arange(10)  # small counters too
    h_nb, u_nb = _hash_many(seed, *words)
    h_np = R.hash64(seed, *words)
    u_np = R.uniform(seed, *words)
    assert h_np.dtype == np.uint64 and u_np.dtype == np.float64
    np.testing.assert_array_equal(h_nb, h_np)
    np.testing.assert_array_equal(u_nb, u_np)
    assert np.all((u_np >= 0.0) & (u_np < 1.0))
    # scalar calls from Python, and prefix/absorb decomposition
    for x in range(5):
        args = (int(seed[x] >> np.uint64(1)), *(int(w[x]) for w in words))
        assert K.hash64(*args) == int(R.hash64(*args))
        assert K.uniform(*args) == float(R.uniform(*args))
        prefix = np.uint64(K.hash_prefix(*args[:4]))  # Python int > 2**63 needs the cast
        assert K.absorb(prefix, args[4]) == K.hash64(*args)
    assert K.as_seed(-1) == np.uint64(2**64 - 1)
    assert K.hash64(K.as_seed(2**64 - 1), 1, 2, 3, 4) == int(R.hash64(2**64 - 1, 1, 2, 3, 4))
    with pytest.raises(TypeError):
        K.as_seed(1.5)


def test_uniform_chi_square():
    n, bins = 1_000_000, 1000
    c = np.arange(n)
    for u in (
        R.uniform(12345, K.STREAM_DROP, 3, 7, c),  # consecutive counters
        R.uniform(c, K.STREAM_DROP, 0, 0, 0),  # consecutive seeds
        R.uniform(1, K.STREAM_ONE, c % 1000, c // 1000, 0),  # grid of (a, b)
    ):
        counts = np.bincount((u * bins).astype(np.int64), minlength=bins)
        assert stats.chisquare(counts).pvalue > P_MIN
        # top and bottom bits are balanced too
        h = (u * 2**53).astype(np.uint64)
        assert abs((h & np.uint64(1)).mean() - 0.5) < 5 * 0.5 / np.sqrt(n)


def test_adjacent_counters_decorrelated():
    n = 1_000_000
    bound = 5 / np.sqrt(n)
    c = np.arange(n + 1)
    u = R.uniform(7, K.STREAM_DROP, 1, 2, c)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < bound
    ua = R.uniform(7, K.STREAM_DROP, c, 2, 5)
    assert abs(np.corrcoef(ua[:-1], ua[1:])[0, 1]) < bound
    ub = R.uniform(7, K.STREAM_DROP, 1, c, 5)
    assert abs(np.corrcoef(ub[:-1], ub[1:])[0, 1]) < bound
    us = R.uniform(7, K.STREAM_EXACT, 1, 2, c)
    assert abs(np.corrcoef(u, us)[0, 1]) < bound  # streams are independent
    # avalanche: neighbouring counters differ in ~32 of 64 bits
    x = R.hash64(7, 1, 2, 3, c[:-1]) ^ R.hash64(7, 1, 2, 3, c[1:])
    bits = np.unpackbits(x.view(np.uint8)).reshape(n, 64)
    per_bit = bits.mean(axis=0)
    assert np.all(np.abs(per_bit - 0.5) < 5 * 0.5 / np.sqrt(n))


# --------------------------------------------------------------------------------------
# permutations


def _is_perm(p, size):
    return (
        p.dtype == np.int64 and p.shape == (size,) and np.array_equal(np.sort(p), np.arange(size))
    )


@pytest.mark.parametrize("size", [0, 1, 2, 7, 300])
def test_block_permutation_matches_reference(size):
    for i, j in [(0, 0), (3, 5)]:
        p = P.block_permutation(size, 99, K.STREAM_ROW_PERM, i, j)
        assert _is_perm(p, size)
        np.testing.assert_array_equal(p, R.block_permutation(size, 99, K.STREAM_ROW_PERM, i, j))
        inv = P.invert_permutation(p)
        np.testing.assert_array_equal(inv, R.invert_permutation(p))
        np.testing.assert_array_equal(inv[p], np.arange(size))
    if size > 20:  # different blocks / streams give different permutations
        a = P.block_permutation(size, 99, K.STREAM_ROW_PERM, 0, 0)
        assert not np.array_equal(a, P.block_permutation(size, 99, K.STREAM_ROW_PERM, 0, 1))
        assert not np.array_equal(a, P.block_permutation(size, 99, K.STREAM_COL_PERM, 0, 0))


def _chi_square_perms(perms: np.ndarray) -> float:
    codes = perms @ np.array([9, 3, 1])
    _, counts = np.unique(codes, return_counts=True)
    assert counts.shape == (6,)
    return stats.chisquare(counts).pvalue


def test_block_permutation_uniform():
    perms = np.array(
        [P.block_permutation(3, 5, K.STREAM_COL_PERM, i, j) for i in range(60) for j in range(100)]
    )
    assert _chi_square_perms(perms) > P_MIN


@pytest.mark.parametrize("window", [1, 2, 3, 5, 64])
@pytest.mark.parametrize("size", [0, 1, 10, 57, 124])  # 124 = 64 + 60: A of 60 is 9 > 8
def test_stratified_permutation(size, window):
    g = np.random.default_rng(size * 100 + window)
    degree = g.integers(0, 6, size)
    p = P.stratified_permutation(degree, window, 11, K.STREAM_ROW_PERM, 2, 3)
    assert _is_perm(p, size)
    ref = R.stratified_permutation(degree, window, 11, K.STREAM_ROW_PERM, 2, 3)
    np.testing.assert_array_equal(p, ref)
    # rows only exchange slots inside their window of the degree order
    rank = np.empty(size, np.int64)
    rank[np.argsort(degree, kind="stable")] = np.arange(size)
    np.testing.assert_array_equal(rank // window, rank[p] // window)
    srt = np.sort(degree)
    for r in range(size):
        w0 = rank[r] // window * window
        spread = srt[min(w0 + window, size) - 1] - srt[w0]
        assert abs(int(degree[p[r]]) - int(degree[r])) <= spread
    if window == 1:
        np.testing.assert_array_equal(p, np.arange(size))
    if window >= size:  # all-equal degrees: exactly the block permutation
        same = P.stratified_permutation(np.zeros(size), window, 11, K.STREAM_ROW_PERM, 2, 3)
        np.testing.assert_array_equal(same, P.block_permutation(size, 11, K.STREAM_ROW_PERM, 2, 3))


def test_stratified_uniform_when_window_covers_all():
    deg = np.array([4, 4, 4])
    perms = np.array(
        [P.stratified_permutation(deg, 8, 5, 1, i, j) for i in range(60) for j in range(100)]
    )
    assert _chi_square_perms(perms) > P_MIN


@pytest.mark.parametrize("kind", P.PERMUTATION_KINDS)
def test_permutation_table(kind):
    degree = np.arange(40) % 7
    kw = {"degree": degree, "window": 4} if kind == "stratified" else {}
    tab = P.permutation_table(kind, 40, 3, K.STREAM_COL_PERM, 1, 5, **kw)
    assert tab.shape == (5, 40) and tab.dtype == np.int64
    np.testing.assert_array_equal(
        tab, R.permutation_table(kind, 40, 3, K.STREAM_COL_PERM, 1, 5, **kw)
    )
    inv = P.invert_permutation(tab)
    np.testing.assert_array_equal(inv, R.invert_permutation(tab))
    np.testing.assert_array_equal(np.take_along_axis(tab, inv, 1), np.tile(np.arange(40), (5, 1)))
    if kind == "none":
        np.testing.assert_array_equal(tab, np.tile(np.arange(40), (5, 1)))
    if kind == "block":
        np.testing.assert_array_equal(tab[4], P.block_permutation(40, 3, K.STREAM_COL_PERM, 1, 4))
    with pytest.raises(ValueError):
        P.permutation_table("bogus", 4, 0, 0, 0, 1)
    # filled directly as int32: the same values
    small = P.permutation_table(kind, 40, 3, K.STREAM_COL_PERM, 1, 5, **kw, dtype=np.int32)
    assert small.dtype == np.int32
    np.testing.assert_array_equal(small, tab)
    with pytest.raises(ValueError, match="dtype"):
        P.permutation_table(kind, 40, 3, K.STREAM_COL_PERM, 1, 5, **kw, dtype=np.float64)
    # blocks that keep nothing get the identity, the others the same permutations
    active = np.array([True, False, True, False, False])
    part = P.permutation_table(kind, 40, 3, K.STREAM_COL_PERM, 1, 5, **kw, active=active)
    np.testing.assert_array_equal(part[active], tab[active])
    np.testing.assert_array_equal(part[~active], np.tile(np.arange(40), (3, 1)))
    with pytest.raises(ValueError, match="active"):
        P.permutation_table(kind, 40, 3, K.STREAM_COL_PERM, 1, 5, **kw, active=active[:2])


@settings(deadline=None, database=None, max_examples=60)
@given(
    st.sampled_from(["block", "stratified", "none"]),
    st.integers(0, 300),
    st.integers(1, 80),
    st.integers(0, 2**64 - 1),
    st.integers(0, 50),
    st.data(),
)
def test_source_rows_property(kind, size, window, seed, i, data):
    """The sources a task computes for its own slots (the inverse network, no table) are
    the inverse of the whole table, at those slots, for any slots and blocks."""
    degree = np.random.default_rng(size).integers(0, 5, size)
    kw = {"degree": degree, "window": window} if kind == "stratified" else {}
    slots = np.array(data.draw(st.lists(st.integers(0, max(size - 1, 0)), max_size=40)))
    slots = slots[slots < size].astype(np.int64)
    blocks = np.array(data.draw(st.lists(st.integers(0, 7), min_size=1, max_size=4)), np.int64)
    got = P.source_rows(kind, size, seed, K.STREAM_ROW_PERM, i, blocks, slots, **kw)
    assert got.shape == (blocks.size, slots.size) and got.dtype == np.int64
    np.testing.assert_array_equal(
        got, R.source_rows(kind, size, seed, K.STREAM_ROW_PERM, i, blocks, slots, **kw)
    )
    if kind != "none":
        tab = P.permutation_table(kind, size, seed, K.STREAM_ROW_PERM, i, 8, **kw)
        np.testing.assert_array_equal(tab[blocks[:, None], got], np.broadcast_to(slots, got.shape))
    with pytest.raises(ValueError, match="slots"):
        P.source_rows(kind, size, seed, 1, i, blocks, np.array([size]), **kw)


@settings(deadline=None, database=None, max_examples=60)
@given(
    st.integers(0, 300),
    st.integers(1, 70),
    st.integers(0, 2**64 - 1),
    st.integers(0, 50),
    st.data(),
)
def test_window_source_rows_property(size, max_window, seed, i, data):
    """Windows given by start offsets (the joint dropout's): the forward permutation and the
    sources a task computes for its slots match the NumPy reference, stay inside the
    windows, and invert each other; regular windows are the stratified kind."""
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    order = g.permutation(size).astype(np.int64)
    cuts = [0]
    while cuts[-1] < size:  # windows of 1 .. max_window positions
        cuts.append(min(size, cuts[-1] + int(g.integers(1, max_window + 1))))
    starts = np.array(cuts, np.int64)
    slots = np.array(data.draw(st.lists(st.integers(0, max(size - 1, 0)), max_size=40)))
    slots = slots[slots < size].astype(np.int64)
    blocks = np.array(data.draw(st.lists(st.integers(0, 7), min_size=1, max_size=4)), np.int64)
    got = P.window_source_rows(order, starts, seed, K.STREAM_ROW_PERM, i, blocks, slots)
    want = R.window_source_rows(order, starts, seed, K.STREAM_ROW_PERM, i, blocks, slots)
    assert got.shape == (blocks.size, slots.size) and got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    window_of = np.empty(size, np.int64)
    window_of[order] = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    for b, j in enumerate(blocks.tolist()):
        perm = P.window_permutation(order, starts, seed, K.STREAM_ROW_PERM, i, j)
        np.testing.assert_array_equal(
            perm, R.window_permutation(order, starts, seed, K.STREAM_ROW_PERM, i, j)
        )
        assert _is_perm(perm, size)
        np.testing.assert_array_equal(window_of[perm], window_of)  # inside the windows
        np.testing.assert_array_equal(perm[got[b]], slots)  # the inverse, at the slots
    regular = np.array([*range(0, size, max_window), size], np.int64)
    if size:
        degree = np.zeros(size, np.int64)  # stable order of equal degrees: the identity
        np.testing.assert_array_equal(
            P.window_source_rows(np.arange(size), regular, seed, 1, i, blocks, slots),
            P.source_rows(
                "stratified", size, seed, 1, i, blocks, slots, degree=degree, window=max_window
            ),
        )
    with pytest.raises(ValueError, match="slots"):
        P.window_source_rows(order, starts, seed, 1, i, blocks, np.array([size]))
    with pytest.raises(ValueError, match="starts"):
        P.window_source_rows(order, starts[:-1] if size else [1], seed, 1, i, blocks, slots)


@pytest.mark.parametrize("kind", ["block", "stratified"])
def test_legacy_tables_are_the_format_2_permutations(kind):
    """Stores of format 1 and 2 are audited with their own Fisher-Yates permutations."""
    degree = np.arange(45) % 6
    kw = {"degree": degree, "window": 7} if kind == "stratified" else {}
    old = P.legacy_permutation_table(kind, 45, 8, K.STREAM_ROW_PERM, 2, 4, **kw)
    np.testing.assert_array_equal(
        old, R.permutation_table(kind, 45, 8, K.STREAM_ROW_PERM, 2, 4, **kw, legacy=True)
    )
    assert all(_is_perm(p, 45) for p in old)
    assert not np.array_equal(old, P.permutation_table(kind, 45, 8, K.STREAM_ROW_PERM, 2, 4, **kw))


# --------------------------------------------------------------------------------------
# block expansion: fixtures


def make_csr(g, m, n, density, test_frac, idx_dtype=np.int32):
    """Random signed CSR (indptr, indices, sign) with sorted, distinct columns per row."""
    mask = g.random((m, n)) < density
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int64)
    indices = np.nonzero(mask)[1].astype(idx_dtype)
    sign = np.where(g.random(indices.shape[0]) < test_frac, -1, 1).astype(np.int8)
    return indptr, indices, sign


def make_perms(kind, m, n, nb, seed, i, degree, window=3):
    kw = {"degree": degree, "window": window} if kind == "stratified" else {}
    rows = P.permutation_table(kind, m, seed, K.STREAM_ROW_PERM, i, nb, **kw)
    cols = P.permutation_table(
        kind,
        n,
        seed,
        K.STREAM_COL_PERM,
        i,
        nb,
        **({"degree": np.zeros(n), "window": window} if kind == "stratified" else {}),
    )
    return P.invert_permutation(rows), cols


def exact_counts_for(indptr, keep_row, seed, i):
    deg = np.diff(indptr)
    return np.array([D.exact_row_counts(deg, k, seed, i, j) for j, k in enumerate(keep_row)])


def balanced_counts_for(indptr, keep_row, seed, i):
    deg = np.diff(indptr)
    return np.array([D.balanced_row_counts(deg, k, seed, i, j) for j, k in enumerate(keep_row)])


def targeted_counts_for(indptr, sign, keep_row, row_src, seed, i, multiple):
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    train_deg = np.bincount(rows[sign > 0], minlength=len(indptr) - 1)
    return D.targeted_row_counts(train_deg, keep_row, row_src, seed, i, multiple)


def assert_same(a: M.ExpandedRows, b: M.ExpandedRows):
    for f, x, y in zip(a._fields, a, b, strict=True):
        assert x.dtype == np.int64 and y.dtype == np.int64, f
        np.testing.assert_array_equal(x, y, err_msg=f)


def check_invariants(out, case):
    """Every output entry maps back to a source entry of the right sign, rows sorted."""
    indptr, indices, sign, row_src, col_perm, _keep, _seed, _i, t0, t1, _mode, _ec, policy = case
    n = col_perm.shape[1]
    for ptr, items, src, want in (
        (out.train_indptr, out.train_items, out.train_src, 1),
        (out.test_indptr, out.test_items, out.test_src, -1),
    ):
        assert ptr[0] == 0 and ptr[-1] == items.shape[0] == src.shape[0]
        assert np.all(sign[src] == want)
        rows = np.repeat(np.arange(t1 - t0), np.diff(ptr))
        j = items // n
        src_row = np.searchsorted(indptr, src, side="right") - 1
        np.testing.assert_array_equal(row_src[j, t0 + rows], src_row)
        np.testing.assert_array_equal(col_perm[j, indices[src]], items % n)
        same_row = rows[1:] == rows[:-1]
        assert np.all(items[1:][same_row] > items[:-1][same_row])  # ascending, distinct
    if policy == D.TEST_ONE:
        assert np.all(np.diff(out.test_indptr) <= 1)
    else:
        assert out.block_test.sum() == out.test_items.shape[0]
    assert out.block_train.sum() == out.train_items.shape[0]


@st.composite
def cases(draw, max_m=9, max_n=9):
    """(indptr, indices, sign, row_src, col_perm, keep_row, seed, i, t0, t1, mode, ec, policy)."""
    m = draw(st.integers(1, max_m))
    n = draw(st.integers(1, max_n))
    nb = draw(st.integers(1, 3))
    g = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    test_frac = draw(st.sampled_from([0.0, 0.3, 1.0]))
    idx_dtype = draw(st.sampled_from([np.int32, np.int64]))
    indptr, indices, sign = make_csr(g, m, n, density, test_frac, idx_dtype)
    keep = st.one_of(st.sampled_from([0.0, 1.0, 0.5, 0.01, 0.05]), st.floats(0.0, 1.0))
    keep_row = np.array(draw(st.lists(keep, min_size=nb, max_size=nb)), dtype=np.float64)
    seed = draw(st.integers(0, 2**64 - 1))
    i = draw(st.integers(0, 5))
    kind = draw(st.sampled_from(P.PERMUTATION_KINDS))
    row_src, col_perm = make_perms(
        kind, m, n, nb, seed, i, np.diff(indptr), draw(st.integers(1, 4))
    )
    t0 = draw(st.integers(0, m))
    t1 = draw(st.integers(t0, m))
    mode = draw(st.sampled_from([D.MODE_BERNOULLI, D.MODE_EXACT, D.MODE_TARGET]))
    ec = None
    if mode == D.MODE_EXACT:
        rule = draw(st.sampled_from([exact_counts_for, balanced_counts_for]))
        ec = rule(indptr, keep_row, seed, i)
    elif mode == D.MODE_TARGET:
        ec = targeted_counts_for(indptr, sign, keep_row, row_src, seed, i, draw(st.integers(1, 3)))
    policy = draw(st.sampled_from([D.TEST_ALL, D.TEST_ONE]))
    return indptr, indices, sign, row_src, col_perm, keep_row, seed, i, t0, t1, mode, ec, policy


# --------------------------------------------------------------------------------------
# block expansion: kernel == reference, invariants, chunking


@settings(HSET, max_examples=150)
@given(cases())
def test_expand_matches_reference(case):
    out = M.expand_block_rows(*case)
    assert_same(out, R.expand_block_rows(*case))
    check_invariants(out, case)
    # the two passes agree with the convenience function and the reference count pass
    counts = M.count_rows(*case)
    for x, y in zip(counts, R.count_rows(*case), strict=True):
        np.testing.assert_array_equal(x, y)
    filled = M.fill_rows(
        *case, n_items_block=None, train_indptr=out.train_indptr, test_indptr=out.test_indptr
    )
    for x, y in zip(
        filled, (out.train_items, out.train_src, out.test_items, out.test_src), strict=True
    ):
        np.testing.assert_array_equal(x, y)


@settings(HSET, max_examples=60)
@given(cases(max_m=14), st.lists(st.integers(0, 14), max_size=4))
def test_chunking_independent(case, cuts):
    *head, t0, t1, mode, ec, policy = case
    whole = M.expand_block_rows(*head, t0, t1, mode, ec, policy)
    bounds = sorted({t0, t1, *(min(max(c, t0), t1) for c in cuts)})
    parts = [
        M.expand_block_rows(*head, a, b, mode, ec, policy) for a, b in itertools.pairwise(bounds)
    ]
    if not parts:
        return
    for k in (0, 3):  # train, test
        ptr = np.concatenate([[0], np.cumsum(np.concatenate([np.diff(p[k]) for p in parts]))])
        np.testing.assert_array_equal(ptr, whole[k])
        np.testing.assert_array_equal(np.concatenate([p[k + 1] for p in parts]), whole[k + 1])
        np.testing.assert_array_equal(np.concatenate([p[k + 2] for p in parts]), whole[k + 2])
    np.testing.assert_array_equal(sum(p.block_train for p in parts), whole.block_train)
    np.testing.assert_array_equal(sum(p.block_test for p in parts), whole.block_test)


# --------------------------------------------------------------------------------------
# the write path's kernels: count pass and emit (survivors only, clipped windows)


def _emit(case, slots, windows, with_src, out_dtype, col_dtype, active_only=False):
    """Run the emit kernel over ``slots`` of ``case`` with CSR offsets from the reference."""
    indptr, indices, sign, row_src, col_perm, keep, seed, i, t0, t1, mode, ec, policy = case
    ref = R.expand_block_rows(*case)
    local = slots - t0
    tr_c, te_c = np.diff(ref.train_indptr)[local], np.diff(ref.test_indptr)[local]
    tr_off = np.concatenate([[0], np.cumsum(tr_c)[:-1]]).astype(np.int64)
    te_off = np.concatenate([[0], np.cumsum(te_c)[:-1]]).astype(np.int64)
    (a, b), (c, d) = windows(int(tr_c.sum())), windows(int(te_c.sum()))
    out = [np.full(b - a, -1, out_dtype), np.empty(b - a if with_src else 0, np.int64),
           np.full(d - c, -1, out_dtype), np.empty(d - c if with_src else 0, np.int64)]  # fmt: skip
    slots = slots.astype(np.int64)
    blocks, src, counts = M.slot_tables(
        row_src, ec if ec is not None else np.zeros((0, 0), np.int64), slots
    )
    if active_only:  # the blocks that keep nothing left out: the same entries
        use = keep > 0 if mode != D.MODE_TARGET else np.ones(len(keep), bool)
        blocks, src, col_perm = blocks[use], src[use], col_perm[use]
        counts = counts[use] if counts.size else counts
    n_tr, n_te = M.emit_rows_kernel(
        indptr, indices, sign, blocks, np.ascontiguousarray(src),
        np.ascontiguousarray(col_perm, dtype=col_dtype), *_TABLED, keep, K.as_seed(seed), i, mode,
        np.ascontiguousarray(counts), _NO_POOL, _NO_OFF, _NO_IDX, *_NO_LISTS, policy,
        col_perm.shape[1],
        slots, tr_off, te_off,
        tr_c.astype(np.int64), te_c.astype(np.int64), a, b, c, d, *out, with_src,
    )  # fmt: skip
    assert (n_tr, n_te) == (tr_c.sum(), te_c.sum())
    # the reference's entries of the same rows, in the same order, sliced to the windows
    rows_tr = np.repeat(np.isin(np.arange(t1 - t0), local), np.diff(ref.train_indptr))
    rows_te = np.repeat(np.isin(np.arange(t1 - t0), local), np.diff(ref.test_indptr))
    np.testing.assert_array_equal(out[0], ref.train_items[rows_tr][a:b])
    np.testing.assert_array_equal(out[2], ref.test_items[rows_te][c:d])
    if with_src:
        np.testing.assert_array_equal(out[1], ref.train_src[rows_tr][a:b])
        np.testing.assert_array_equal(out[3], ref.test_src[rows_te][c:d])


@settings(HSET, max_examples=150)
@given(cases(max_m=12), st.data())
def test_count_and_emit_kernels_match_reference(case, data):
    indptr, _, sign, row_src, _, keep, seed, i, t0, t1, mode, ec, policy = case
    blocks, src, ecs = M.slot_tables(
        row_src, ec if ec is not None else np.zeros((0, 0), np.int64), np.arange(t0, t1)
    )
    if data.draw(st.booleans()):  # only the blocks that keep something: the same counts
        use = keep > 0 if mode != D.MODE_TARGET else np.ones(len(keep), bool)
        blocks, src, ecs = blocks[use], src[use], (ecs[use] if ecs.size else ecs)
    counts = M.count_rows_kernel(
        indptr, sign, blocks, np.ascontiguousarray(src), keep, K.as_seed(seed), i, t0, t1,
        mode, np.ascontiguousarray(ecs), _NO_POOL, policy,
    )  # fmt: skip
    for x, y in zip(counts, R.count_rows(*case), strict=True):
        np.testing.assert_array_equal(x, y)
    # any ascending subset of the slots (the survivors), any window of the concatenation
    chosen = data.draw(st.lists(st.booleans(), min_size=t1 - t0, max_size=t1 - t0))
    slots = np.arange(t0, t1)[np.array(chosen, dtype=bool)] if chosen else np.arange(0)

    def window(total):
        lo = data.draw(st.integers(0, total))
        return lo, data.draw(st.integers(lo, total))

    _emit(
        case,
        slots,
        window,
        data.draw(st.booleans()),
        data.draw(st.sampled_from([np.int32, np.int64])),
        data.draw(st.sampled_from([np.int32, np.int64])),
        data.draw(st.booleans()),
    )


@pytest.mark.parametrize("n", [3_000, 70_000])  # 2 and 3 radix passes
@pytest.mark.parametrize("mode", [D.MODE_BERNOULLI, D.MODE_EXACT])
@pytest.mark.parametrize("policy", [D.TEST_ALL, D.TEST_ONE])
def test_emit_long_rows_radix_sorted(n, mode, policy):
    """Long segments go through the radix sort: same bytes as the reference, any window."""
    g = np.random.default_rng(n + mode + 2 * policy)
    indptr, indices, sign = make_csr(g, 12, n, 600 / n, 0.2)
    nb, seed, i = 3, 77, 1
    keep = np.array([0.9, 0.4, 1.0])
    row_src, col_perm = make_perms("block", 12, n, nb, seed, i, np.diff(indptr))
    ec = exact_counts_for(indptr, keep, seed, i) if mode == D.MODE_EXACT else None
    case = (indptr, indices, sign, row_src, col_perm, keep, seed, i, 2, 12, mode, ec, policy)
    for with_src, window in ((True, lambda tot: (0, tot)), (False, lambda tot: (tot // 3, tot))):
        _emit(case, np.arange(2, 12), window, with_src, np.int32, np.int32)
        _emit(case, np.array([3, 5, 11]), window, with_src, np.int64, np.int64)


def test_emit_refuses_counts_that_do_not_match(medium):
    indptr, indices, sign = medium
    row_src, col_perm = make_perms("block", 60, 30, 2, 5, 0, np.diff(indptr))
    keep = np.array([0.5, 0.9])
    ref = R.expand_block_rows(indptr, indices, sign, row_src, col_perm, keep, 5, 0, 0, 60)
    tr_c = np.diff(ref.train_indptr)
    te_c = np.diff(ref.test_indptr)
    tr_c[7] += 1  # a count pass that disagrees (e.g. other parameters): never write garbage
    off = np.concatenate([[0], np.cumsum(tr_c)[:-1]])
    toff = np.concatenate([[0], np.cumsum(te_c)[:-1]])
    out = np.empty(int(tr_c.sum()), np.int32)
    tout = np.empty(int(te_c.sum()), np.int32)
    e = np.empty(0, np.int64)
    with pytest.raises(ValueError, match="count pass"):
        M.emit_rows_kernel(
            indptr, indices, sign, np.arange(2), row_src, col_perm, *_TABLED, keep, K.as_seed(5), 0,
            D.MODE_BERNOULLI,
            np.zeros((0, 0), np.int64), _NO_POOL, _NO_OFF, _NO_IDX, *_NO_LISTS, D.TEST_ALL, 30,
            np.arange(60), off, toff,
            tr_c, te_c,
            0, len(out), 0, len(tout), out, e, tout, e, False,
        )  # fmt: skip


# --------------------------------------------------------------------------------------
# block expansion: limits and statistics


@pytest.fixture(scope="module")
def medium():
    g = np.random.default_rng(42)
    return make_csr(g, 60, 30, 0.3, 0.25)


@pytest.mark.parametrize("mode", [D.MODE_BERNOULLI, D.MODE_EXACT])
@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
def test_keep_one_identity_reproduces_s(medium, mode, idx_dtype):
    indptr, indices, sign = medium
    indices = indices.astype(idx_dtype)
    m, n, nb = indptr.shape[0] - 1, 30, 2
    rs, cp = make_perms("none", m, n, nb, 0, 0, None)
    ec = np.tile(np.diff(indptr), (nb, 1)) if mode == D.MODE_EXACT else None
    out = M.expand_block_rows(indptr, indices, sign, rs, cp, np.ones(nb), 1, 0, 0, m, mode, ec)
    for ptr, items, src, s in (
        (out.train_indptr, out.train_items, out.train_src, 1),
        (out.test_indptr, out.test_items, out.test_src, -1),
    ):
        per_row = [
            (indices[indptr[r] : indptr[r + 1]])[sign[indptr[r] : indptr[r + 1]] == s]
            for r in range(m)
        ]
        want = np.concatenate([np.concatenate([c + j * n for j in range(nb)]) for c in per_row])
        np.testing.assert_array_equal(items, want)
        np.testing.assert_array_equal(np.diff(ptr), [nb * len(c) for c in per_row])
        np.testing.assert_array_equal(indices[src], items % n)
    assert np.array_equal(out.block_train, [np.sum(sign > 0)] * nb)
    assert np.array_equal(out.block_test, [np.sum(sign < 0)] * nb)


@pytest.mark.parametrize("mode", [D.MODE_BERNOULLI, D.MODE_EXACT])
@pytest.mark.parametrize("policy", [D.TEST_ALL, D.TEST_ONE])
def test_long_rows_match_reference(mode, policy):
    """Rows longer than the insertion-sort cutoff take the argsort paths."""
    g = np.random.default_rng(5)
    indptr, indices, sign = make_csr(g, 12, 400, 0.5, 0.3, np.int64)
    keep = np.array([0.2, 0.9, 1.0])
    rs, cp = make_perms("block", 12, 400, 3, 8, 1, None)
    ec = exact_counts_for(indptr, keep, 8, 1) if mode == D.MODE_EXACT else None
    args = (indptr, indices, sign, rs, cp, keep, 8, 1, 2, 11, mode, ec, policy)
    out = M.expand_block_rows(*args)
    assert np.diff(out.train_indptr).max() > 3 * 32
    assert_same(out, R.expand_block_rows(*args))
    check_invariants(out, args)


def test_keep_zero_gives_nothing(medium):
    indptr, indices, sign = medium
    m = indptr.shape[0] - 1
    rs, cp = make_perms("block", m, 30, 3, 5, 1, None)
    for mode, ec in ((D.MODE_BERNOULLI, None), (D.MODE_EXACT, np.zeros((3, m), np.int64))):
        for policy in (D.TEST_ALL, D.TEST_ONE):
            out = M.expand_block_rows(
                indptr, indices, sign, rs, cp, np.zeros(3), 5, 1, 0, m, mode, ec, policy
            )
            assert all(a.sum() == 0 for a in out)


def test_bernoulli_threshold_is_exact(medium):
    """keep equal to an element's own draw drops it (u < keep is strict); nextafter keeps it."""
    indptr, indices, sign = medium
    m = indptr.shape[0] - 1
    rs, cp = make_perms("block", m, 30, 1, 3, 2, None)
    t = int(np.flatnonzero(np.diff(indptr)[rs[0]] > 0)[0])  # a slot with a non-empty row
    q0 = int(indptr[rs[0, t]])  # first element of the row that lands in slot t
    u0 = float(R.uniform(3, K.STREAM_DROP, 2, 0, q0))
    for keep in (u0, np.nextafter(u0, 1.0), np.nextafter(u0, 0.0)):
        args = (indptr, indices, sign, rs, cp, np.array([keep]), 3, 2, t, t + 1)
        out = M.expand_block_rows(*args)
        assert_same(out, R.expand_block_rows(*args))
        assert (q0 in out.train_src or q0 in out.test_src) == (keep > u0)


def test_exact_keeps_exact_total():
    g = np.random.default_rng(1)
    indptr, indices, sign = make_csr(g, 400, 50, 0.2, 0.2)
    m, nb, seed, i = 400, 4, 77, 3
    keep = np.array([0.0, 0.13, 0.5, 0.99])
    ec = exact_counts_for(indptr, keep, seed, i)
    deg = np.diff(indptr)
    assert np.all(ec <= deg) and np.all(ec >= 0)
    np.testing.assert_array_equal(ec, exact_counts_for(indptr, keep, seed, i))  # deterministic
    assert not np.array_equal(ec, exact_counts_for(indptr, keep, seed + 1, i))
    rs, cp = make_perms("block", m, 50, nb, seed, i, None)
    args = (indptr, indices, sign, rs, cp, keep, seed, i)
    out = M.expand_block_rows(*args, 0, m, D.MODE_EXACT, ec)
    nnz = int(indptr[-1])
    want = [D.exact_total(k, nnz) for k in keep]
    np.testing.assert_array_equal(out.block_train + out.block_test, want)
    # per source row too: row r keeps exactly ec[j, r] in block j
    src_row = np.searchsorted(indptr, np.concatenate([out.train_src, out.test_src]), "right") - 1
    items = np.concatenate([out.train_items, out.test_items])
    got = np.zeros((nb, m), np.int64)
    np.add.at(got, (items // 50, src_row), 1)
    np.testing.assert_array_equal(got, ec)
    assert_same(out, R.expand_block_rows(*args, 0, m, D.MODE_EXACT, ec))
    assert D.exact_total(0.5, 5) == 3 and D.exact_total(1.0, 7) == 7
    assert D.exact_row_counts(np.zeros(0, np.int64), 0.5, 1, 0, 0).shape == (0,)


def test_bernoulli_kept_fraction():
    g = np.random.default_rng(2)
    m, d, n, nb = 2000, 20, 500, 4
    indptr = np.arange(m + 1, dtype=np.int64) * d
    indices = np.sort(g.permuted(np.tile(np.arange(n), (m, 1)), axis=1)[:, :d], axis=1).ravel()
    sign = np.where(g.random(m * d) < 0.1, -1, 1).astype(np.int8)
    keep = np.array([0.01, 0.3, 0.5, 0.97])
    rs, cp = make_perms("block", m, n, nb, 9, 4, None)
    out = M.expand_block_rows(indptr, indices, sign, rs, cp, keep, 9, 4, 0, m)
    nnz = m * d
    kept = out.block_train + out.block_test
    assert np.all(np.abs(kept - keep * nnz) < 5 * np.sqrt(nnz * keep * (1 - keep)))
    frac_test = out.block_test / kept
    assert np.all(np.abs(frac_test - 0.1) < 0.03)


@pytest.mark.parametrize("nb", [1, 2])
def test_one_policy_uniform(nb):
    """Each output row has nb*5 kept test entries; the chosen one is uniform over them."""
    m, n, per = 3000, 12, 5
    indptr = np.arange(m + 1, dtype=np.int64) * n
    indices = np.tile(np.arange(n), m)
    sign = np.tile(np.r_[np.full(per, -1), np.ones(n - per)], m).astype(np.int8)
    rs, cp = make_perms("block", m, n, nb, 13, 0, None)
    args = (indptr, indices, sign, rs, cp, np.ones(nb), 13, 0, 0, m, "bernoulli", None)
    out = M.expand_block_rows(*args, "one")
    assert_same(out, R.expand_block_rows(*args, "one"))
    assert np.array_equal(np.diff(out.test_indptr), np.ones(m))
    assert np.array_equal(out.block_test, [m * per] * nb)  # counted before the ONE choice
    all_tests = M.expand_block_rows(*args, "all")
    rank = np.array(
        [
            np.searchsorted(all_tests.test_items[t * nb * per : (t + 1) * nb * per], it)
            for t, it in enumerate(out.test_items)
        ]
    )
    counts = np.bincount(rank, minlength=nb * per)
    assert counts.shape == (nb * per,)
    assert stats.chisquare(counts).pvalue > P_MIN


def test_structural_zeros_and_errors(medium):
    indptr, indices, sign = medium
    m = indptr.shape[0] - 1
    rs, cp = make_perms("block", m, 30, 2, 1, 0, None)
    zero = sign.copy()
    zero[::3] = 0
    args = (indptr, indices, zero, rs, cp, np.ones(2), 1, 0, 0, m)
    out = M.expand_block_rows(*args)
    assert_same(out, R.expand_block_rows(*args))
    assert out.block_train.sum() + out.block_test.sum() == 2 * np.count_nonzero(zero)
    bad = out.train_indptr.copy()
    bad[1:] += 1
    with pytest.raises(ValueError, match="indptr"):
        M.fill_rows(*args, train_indptr=bad, test_indptr=out.test_indptr)
    with pytest.raises(ValueError):
        M.expand_block_rows(*args[:-1], m + 1)
    with pytest.raises(ValueError):
        M.expand_block_rows(*args, "bogus")
    with pytest.raises(ValueError, match="exact_counts"):
        M.expand_block_rows(*args, "exact")
    with pytest.raises(ValueError, match="keep_row"):
        M.expand_block_rows(indptr, indices, sign, rs, cp, np.array([0.5, 1.5]), 1, 0, 0, m)


# --------------------------------------------------------------------------------------
# micro-benchmark (not collected: call by hand)


def benchmark_expand(m=100_000, d=20, n=20_000, nb=8, mode="bernoulli", policy="all", repeat=3):
    """Print candidates/s of count, fill and count+fill on an m x n S with d nnz per row."""
    import time

    g = np.random.default_rng(0)
    indptr = np.arange(m + 1, dtype=np.int64) * d
    indices = np.sort(g.integers(0, n, (m, d)), axis=1).astype(np.int32).ravel()
    sign = np.where(g.random(m * d) < 0.1, -1, 1).astype(np.int8)
    rs, cp = make_perms("block", m, n, nb, 1, 0, None)
    keep = np.linspace(0.2, 0.9, nb)
    ec = exact_counts_for(indptr, keep, 1, 0) if mode == "exact" else None
    args = (indptr, indices, sign, rs, cp, keep, 1, 0, 0, m, mode, ec, policy)
    out = M.expand_block_rows(*args)  # compile / load cache
    best = {"count": np.inf, "fill": np.inf, "total": np.inf}
    for _ in range(repeat):
        t = time.perf_counter()
        M.count_rows(*args, validate=False)
        best["count"] = min(best["count"], time.perf_counter() - t)
        t = time.perf_counter()
        M.fill_rows(
            *args, train_indptr=out.train_indptr, test_indptr=out.test_indptr, validate=False
        )
        best["fill"] = min(best["fill"], time.perf_counter() - t)
        t = time.perf_counter()
        M.expand_block_rows(*args, validate=False)
        best["total"] = min(best["total"], time.perf_counter() - t)
    cand = m * d * nb
    kept = out.train_items.shape[0] + out.test_items.shape[0]
    print(
        f"{mode}/{policy}: {cand / 1e6:.0f} M candidates, {kept / 1e6:.1f} M kept; "
        + ", ".join(f"{k} {cand / v / 1e6:.0f} M/s ({v:.3f} s)" for k, v in best.items())
    )


if __name__ == "__main__":
    for mode in ("bernoulli", "exact"):
        for policy in ("all", "one"):
            benchmark_expand(mode=mode, policy=policy)


# --------------------------------------------------------------------------------------
# per-slot counts: what a task reads, drawn for its own slots only


@settings(HSET, max_examples=60)
@given(
    st.integers(1, 40),
    st.integers(1, 5),
    st.integers(0, 2**64 - 1),
    st.integers(0, 7),
    st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5),
    st.data(),
)
def test_slot_counts_equal_the_whole_block_tables(m, nb, seed, i, keeps, data):
    """Balanced and targeted counts of any subset of slots, in any blocks, are the entries
    of the NumPy reference's whole-block tables (indexed by source row) at those slots'
    source rows."""
    g = np.random.default_rng(seed % 2**32)
    degree = g.integers(0, 30, m).astype(np.int64)
    keep_row = np.array(keeps[:nb])
    row_src = np.stack([g.permutation(m) for _ in range(nb)]).astype(np.int64)
    chosen = data.draw(st.lists(st.booleans(), min_size=m, max_size=m))
    slots = np.flatnonzero(np.array(chosen, dtype=bool)).astype(np.int64)
    blocks = np.flatnonzero(
        np.array(data.draw(st.lists(st.booleans(), min_size=nb, max_size=nb)), dtype=bool)
    ).astype(np.int64)
    src = np.ascontiguousarray(row_src[blocks][:, slots])
    got = D.balanced_slot_counts_kernel(degree, keep_row, blocks, src, K.as_seed(seed), i)
    for b, j in enumerate(blocks):
        whole = R.balanced_row_counts(degree, keep_row[j], seed, i, j)
        np.testing.assert_array_equal(got[b], whole[src[b]])
    multiple = data.draw(st.integers(1, 3))
    whole = R.targeted_row_counts(degree, keep_row, row_src, seed, i, multiple)
    part = D.targeted_counts_kernel(
        degree, keep_row, np.ascontiguousarray(row_src[:, slots]), slots, K.as_seed(seed), i,
        np.int64(multiple),
    )  # fmt: skip
    np.testing.assert_array_equal(part, np.take_along_axis(whole, row_src[:, slots], axis=1))


# --------------------------------------------------------------------------------------
# EXACT / balanced rows that keep few of many: Floyd's sampling, k draws


@settings(HSET, max_examples=200)
@given(st.integers(0, 2**64 - 1), st.integers(0, 10**6), st.integers(1, 3000), st.data())
def test_floyd_matches_reference(seed, a, d, data):
    """The kernel's Floyd sampling equals the NumPy reference; :func:`exact_row_keep` uses
    it exactly for the rows with few of many kept (else selection sampling)."""
    k = data.draw(st.integers(0, d))
    hp = np.uint64(K.hash_prefix(K.as_seed(seed), K.STREAM_EXACT, 3, 1))
    pos = np.empty(d + 1, np.int64)
    u = R.to_unit(R.absorb(hp, a + np.arange(d, dtype=np.int64)))
    nk = D.floyd_row_keep(hp, a, a + d, k, pos)
    want = a + R.floyd_sample(u, k)
    assert nk == k
    np.testing.assert_array_equal(pos[:nk], want)
    nk = D.exact_row_keep(hp, a, a + d, k, pos)
    kept = R._selection_sample(u, np.ones(d, bool), np.full(d, k), np.zeros(d, np.int64), True)
    np.testing.assert_array_equal(pos[:nk], a + np.flatnonzero(kept))
    assert nk == min(k, d)
    if 0 < k and k * (D.FLOYD_BASE + k) <= 2 * d:
        np.testing.assert_array_equal(pos[:nk], want)


@ngjit
def _floyd_many(n_rows, d, k):
    out = np.empty((n_rows, k), np.int64)
    pos = np.empty(k + 1, np.int64)
    for s in range(n_rows):
        hp = K.hash_prefix(np.uint64(7), K.STREAM_EXACT, s, 2)
        D.floyd_row_keep(hp, 100, 100 + d, k, pos)
        out[s] = pos[:k]
    return out


def test_floyd_uniform_subsets_and_positions():
    """Exactly k distinct ascending positions; every 2-subset of 32 equally likely (chi-square
    over the 496 subsets), every position of 64 kept with probability k/64, pairs of
    positions kept together as often as under a uniform k-subset."""
    two = _floyd_many(496 * 80, 32, 2) - 100
    assert np.all(two[:, 0] < two[:, 1])
    codes = two[:, 0] * 32 + two[:, 1]
    cells = [a * 32 + b for a, b in itertools.combinations(range(32), 2)]
    counts = np.bincount(codes, minlength=32 * 32)
    assert counts.sum() == counts[cells].sum()
    assert stats.chisquare(counts[cells]).pvalue > 1e-4
    three = _floyd_many(40_000, 64, 3) - 100
    assert np.all(np.diff(three, axis=1) > 0) and three.min() >= 0 and three.max() < 64
    assert stats.chisquare(np.bincount(three.ravel(), minlength=64)).pvalue > 1e-4
    # first and last positions together: P = k(k-1) / (d(d-1))
    both = np.mean(np.any(three == 0, axis=1) & np.any(three == 63, axis=1))
    expected = 3 * 2 / (64 * 63)
    sd = np.sqrt(expected * (1 - expected) / three.shape[0])
    assert abs(both - expected) < 5 * sd


# --------------------------------------------------------------------------------------
# small kernels of the write pass


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.integers(0, 40), max_size=200),
    extra=st.integers(0, 5),
    dtype=st.sampled_from([np.int32, np.int64]),
    start=st.lists(st.integers(0, 9), min_size=46, max_size=46),
)
def test_add_counts_adds_numpys_bincount(items, extra, dtype, start):
    """add_counts == out + np.bincount (ids of either width, counts added to what is there)."""
    ids = np.array(items, dtype)
    out = np.array(start[: 41 + extra], np.int64)
    want = out + np.bincount(ids, minlength=out.shape[0])
    M.add_counts(ids, out)
    np.testing.assert_array_equal(out, want)
