"""Computed permutations (kernels/permute.py, Feistel network with cycle-walking): bijections
equal to the NumPy reference, inverse, and uniform enough (positions, pairs, small n)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from daskfractal.kernels import permute as P
from daskfractal.kernels import reference as R
from daskfractal.kernels import rng as K
from daskfractal.kernels._jit import ngjit

P_MIN = 1e-4  # every draw is deterministic: a p-value floor, never a flaky test


@ngjit
def _many(size, seed, n_keys, x_list):
    """``out[key, t] = pi_key(x_list[t])`` for blocks ``(0, key)`` (int64)."""
    out = np.empty((n_keys, x_list.shape[0]), np.int64)
    for key in range(n_keys):
        keys = P.feistel_keys(seed, K.STREAM_COL_PERM, 0, key)
        for t in range(x_list.shape[0]):
            out[key, t] = P.feistel_at(x_list[t], keys, size, 0)
    return out


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 9, 64, 65, 1000, 4097])
def test_bijection_inverse_reference(size):
    for i, j in ((0, 0), (3, 7)):
        p = P.feistel_permutation(size, 11, K.STREAM_ROW_PERM, i, j)
        assert p.dtype == np.int64 and np.array_equal(np.sort(p), np.arange(size))
        np.testing.assert_array_equal(p, R.feistel_permutation(size, 11, K.STREAM_ROW_PERM, i, j))
        keys = P.feistel_keys(11, K.STREAM_ROW_PERM, i, j)
        for x in range(0, size, max(1, size // 50)):
            assert P.feistel_at(x, keys, size, 0) == p[x]
            assert P.feistel_inverse_at(p[x], keys, size, 0) == x
    if size > 20:  # other blocks, streams and seeds give other permutations
        a = P.feistel_permutation(size, 11, K.STREAM_ROW_PERM, 0, 0)
        assert not np.array_equal(a, P.feistel_permutation(size, 11, K.STREAM_ROW_PERM, 0, 1))
        assert not np.array_equal(a, P.feistel_permutation(size, 11, K.STREAM_COL_PERM, 0, 0))
        assert not np.array_equal(a, P.feistel_permutation(size, 12, K.STREAM_ROW_PERM, 0, 0))


@settings(deadline=None, database=None, max_examples=60)
@given(st.integers(0, 3000), st.integers(0, 2**64 - 1), st.integers(0, 99))
def test_reference_property(size, seed, j):
    p = P.feistel_permutation(size, seed, K.STREAM_COL_PERM, 1, j)
    np.testing.assert_array_equal(p, R.feistel_permutation(size, seed, K.STREAM_COL_PERM, 1, j))
    inv = np.empty_like(p)
    inv[p] = np.arange(size)
    keys = P.feistel_keys(K.as_seed(seed), K.STREAM_COL_PERM, 1, j)
    for y in range(0, size, max(1, size // 20)):
        assert P.feistel_inverse_at(y, keys, size, 0) == inv[y]


@pytest.mark.parametrize("size", [7, 10, 33])
def test_positions_uniform(size):
    """Where each x goes, over 6,000 blocks: chi-square of the size x size count matrix."""
    n_keys = 200 * size
    out = _many(size, 5, n_keys, np.arange(size, dtype=np.int64))
    counts = np.zeros((size, size), np.int64)
    np.add.at(counts, (np.tile(np.arange(size), n_keys), out.ravel()), 1)
    assert stats.chisquare(counts.ravel()).pvalue > P_MIN
    for x in range(size):
        assert stats.chisquare(counts[x]).pvalue > P_MIN / size


@pytest.mark.parametrize(("size", "pair"), [(6, (0, 1)), (6, (2, 5)), (12, (0, 11)), (12, (3, 4))])
def test_pairs_uniform(size, pair):
    """Pairwise independence: (pi(x1), pi(x2)) is uniform over the ordered pairs of
    distinct values."""
    n_keys = 60 * size * (size - 1)
    out = _many(size, 9, n_keys, np.array(pair, np.int64))
    codes = out[:, 0] * size + out[:, 1]
    assert np.all(out[:, 0] != out[:, 1])
    counts = np.bincount(codes, minlength=size * size)
    cells = [a * size + b for a, b in itertools.permutations(range(size), 2)]
    assert stats.chisquare(counts[cells]).pvalue > P_MIN


@pytest.mark.parametrize("size", [3, 4, 5])
def test_whole_permutations_small_n(size):
    """Every permutation of a tiny domain appears, about equally often."""
    n_perms = int(np.prod(np.arange(1, size + 1)))
    n_keys = 300 * n_perms
    out = _many(size, 3, n_keys, np.arange(size, dtype=np.int64))
    codes = out @ (size ** np.arange(size))
    _, counts = np.unique(codes, return_counts=True)
    assert counts.shape == (n_perms,)
    assert stats.chisquare(counts).pvalue > P_MIN


@settings(deadline=None, database=None, max_examples=80)
@given(
    size=st.integers(0, 400),
    window=st.integers(1, 70),
    seed=st.integers(0, 2**64 - 1),
    i=st.integers(0, 5),
    j=st.integers(0, 9),
    data=st.data(),
)
def test_permutation_at_is_the_block_table(size, window, seed, i, j, data):
    """One element of a block's item permutation, computed (what the emit kernel does above
    its table budget), equals the table of every item: block kind, stratified kind (windows
    of a degree order) and the identity (window 0)."""
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    keys = P.feistel_keys(K.as_seed(seed), K.STREAM_COL_PERM, i, j)
    order = np.argsort(g.integers(0, 6, size), kind="stable").astype(np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(size)
    none = np.zeros(0, np.int64)
    for o, r, w in ((none, none, 1), (order, rank, window)):
        table = np.empty(size, np.int64)
        P.fill_block_kernel(table, o, w, K.as_seed(seed), K.STREAM_COL_PERM, i, j)
        got = [int(P.permutation_at(c, keys, o, r, w, size)) for c in range(size)]
        assert got == table.tolist()
    assert [int(P.permutation_at(c, keys, none, none, 0, size)) for c in range(size)] == list(
        range(size)
    )
    blocks = np.array([j, j + 1], np.int64)
    many = P.block_keys_kernel(K.as_seed(seed), K.STREAM_COL_PERM, i, blocks)
    np.testing.assert_array_equal(many[0], keys)
    np.testing.assert_array_equal(
        many[1], P.feistel_keys(K.as_seed(seed), K.STREAM_COL_PERM, i, j + 1)
    )
