"""The recommender baselines of ``daskfractal evaluate`` against dense NumPy references.

Each built-in is checked against a direct implementation of its formula on small matrices,
then all of them against the contract the evaluator relies on: shape, dtype, batching
invariance (bit-identical), empty rows and columns. The spec parser and the adapters of user
models come last.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from daskfractal.errors import AlgorithmError, DaskFractalError, ParameterError
from daskfractal.evaluation import algorithms as A
from daskfractal.evaluation.algorithms import (
    ALGORITHMS,
    DEFAULT_ALGORITHMS,
    EASE,
    SEQUENTIAL_ALGORITHMS,
    CallableRecommender,
    InfiniteAE,
    ItemKNN,
    Popularity,
    PureSVD,
    RandomScores,
    Recommender,
    RP3beta,
    Transitions,
    as_recommender,
    checked_fit,
    checked_scores,
    make_algorithm,
    relu_ntk,
)

# --------------------------------------------------------------------------------------
# inputs


def binary(
    m: int,
    n: int,
    density: float,
    seed: int,
    empty_rows: tuple[int, ...] = (),
    empty_cols: tuple[int, ...] = (),
) -> sp.csr_matrix:
    """A random 0/1 ``m × n`` CSR matrix (float32) with the given empty rows and columns."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((m, n)) < density).astype(np.float32)
    dense[list(empty_rows), :] = 0
    dense[:, list(empty_cols)] = 0
    out = sp.csr_matrix(dense)
    out.sort_indices()
    return out


def timestamps_of(x: sp.csr_matrix, seed: int) -> sp.csr_matrix:
    """Random int64 timestamps on the entries of ``x`` (same indptr and indices)."""
    t = sp.csr_matrix(
        (np.random.default_rng(seed).integers(0, 50, x.nnz), x.indices.copy(), x.indptr.copy()),
        shape=x.shape,
        dtype=np.int64,
    )
    return t


small_matrices = st.builds(
    binary,
    m=st.integers(2, 14),
    n=st.integers(2, 9),
    density=st.sampled_from([0.2, 0.4, 0.7]),
    seed=st.integers(0, 2**32 - 1),
)


# --------------------------------------------------------------------------------------
# EASE


def ease_reference(x: np.ndarray, l2: float) -> np.ndarray:
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


@given(x=small_matrices, l2=st.sampled_from([0.5, 1.0, 10.0, 200.0]))
def test_ease_matches_the_explicit_inverse(x: sp.csr_matrix, l2: float) -> None:
    rec = EASE(l2=l2)
    rec.fit(x)
    b = ease_reference(x.toarray().astype(np.float64), l2)
    assert_allclose(rec.weights_, b, rtol=1e-9, atol=1e-12)
    users = np.arange(x.shape[0])
    assert_allclose(rec.score(users), x.toarray() @ b, rtol=1e-9, atol=1e-12)


def test_ease_in_blocks_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # the Gram matrix and the symmetrization run by blocks of rows: force 3-row blocks
    x = binary(40, 17, 0.3, seed=5, empty_cols=(4,))
    whole = EASE(l2=3.0)
    whole.fit(x)
    monkeypatch.setattr(A, "_BLOCK_BYTES", 8 * 17 * 3)
    blocked = EASE(l2=3.0)
    blocked.fit(x)
    assert_allclose(blocked.weights_, whole.weights_, rtol=1e-12, atol=1e-15)
    assert_allclose(whole.weights_, ease_reference(x.toarray().astype(float), 3.0), atol=1e-12)


def test_ease_refuses_a_singular_gram_matrix() -> None:
    x = binary(10, 5, 0.5, seed=1, empty_cols=(2,))  # column 2 empty: G[2, 2] = 0
    with pytest.raises(AlgorithmError, match=r"'ease' failed to fit: Cholesky .* increase l2"):
        EASE(l2=0.0).fit(x)


# --------------------------------------------------------------------------------------
# ItemKNN


def cosine_reference(x: np.ndarray, shrink: float) -> np.ndarray:
    dots = x.T @ x
    norms = np.sqrt(np.diag(dots))
    denom = np.outer(norms, norms) + shrink
    sim = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
    np.fill_diagonal(sim, 0.0)
    return sim


@given(x=small_matrices, shrink=st.sampled_from([0.0, 0.5, 10.0]))
def test_itemknn_with_every_neighbour_is_the_dense_cosine(x: sp.csr_matrix, shrink: float) -> None:
    n = x.shape[1]
    rec = ItemKNN(k=n - 1, shrink=shrink)
    rec.fit(x)
    sim = cosine_reference(x.toarray().astype(np.float64), shrink)
    assert_allclose(rec.similarity_.toarray(), sim, rtol=1e-12, atol=1e-15)
    assert_allclose(rec.score(np.arange(x.shape[0])), x.toarray() @ sim, rtol=1e-12, atol=1e-15)


@given(x=small_matrices, k=st.integers(1, 4))
def test_itemknn_keeps_the_k_most_similar_items_per_target(x: sp.csr_matrix, k: int) -> None:
    rec = ItemKNN(k=k)
    rec.fit(x)
    s = rec.similarity_.toarray()
    sim = cosine_reference(x.toarray().astype(np.float64), 0.0)
    for j in range(x.shape[1]):
        kept = np.nonzero(s[:, j])[0]
        # every kept value is the true similarity, and the kept values are the k largest
        # non-zero similarities of j (whichever of tied items was kept)
        assert_allclose(s[kept, j], sim[kept, j], rtol=1e-12)
        expected = np.sort(sim[:, j][sim[:, j] != 0])[::-1][:k]
        assert_allclose(np.sort(s[kept, j])[::-1], expected, rtol=1e-12)


def test_itemknn_in_blocks_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    x = binary(50, 23, 0.25, seed=9, empty_rows=(3,), empty_cols=(7,))
    whole = ItemKNN(k=5, shrink=2.0)
    whole.fit(x)
    monkeypatch.setattr(A, "_BLOCK_BYTES", 8 * 23 * 4)
    blocked = ItemKNN(k=5, shrink=2.0)
    blocked.fit(x)
    assert_array_equal(blocked.similarity_.toarray(), whole.similarity_.toarray())


# --------------------------------------------------------------------------------------
# RP3beta


def rp3beta_reference(
    x: np.ndarray, alpha: float, beta: float, k: int, normalize: bool
) -> np.ndarray:
    """The formula of Dacrema et al.'s RP3betaRecommender, dense."""
    row_sums = x.sum(axis=1, keepdims=True)
    p_ui = np.divide(x, row_sums, out=np.zeros_like(x), where=row_sums > 0) ** alpha
    xb = (x.T > 0).astype(np.float64)
    deg = xb.sum(axis=1)
    p_iu = np.divide(xb, deg[:, None], out=np.zeros_like(xb), where=deg[:, None] > 0) ** alpha
    penalty = np.zeros_like(deg)
    penalty[deg > 0] = deg[deg > 0] ** -beta
    w = (p_iu @ p_ui) * penalty[None, :]
    np.fill_diagonal(w, 0.0)
    for i in range(w.shape[0]):  # top-k per row (the tests use data where ties do not matter)
        if k < w.shape[1]:
            cut = np.sort(w[i])[::-1][k - 1]
            w[i, w[i] < cut] = 0.0
    if normalize:
        sums = w.sum(axis=1, keepdims=True)
        w = np.divide(w, sums, out=np.zeros_like(w), where=sums > 0)
    return w


@given(
    x=small_matrices,
    alpha=st.sampled_from([0.5, 1.0, 1.7]),
    beta=st.sampled_from([0.0, 0.5, 1.0]),
    normalize=st.booleans(),
)
def test_rp3beta_matches_the_dense_formula(
    x: sp.csr_matrix, alpha: float, beta: float, normalize: bool
) -> None:
    n = x.shape[1]
    rec = RP3beta(alpha=alpha, beta=beta, k=n, normalize=normalize)
    rec.fit(x)
    w = rp3beta_reference(x.toarray().astype(np.float64), alpha, beta, n, normalize)
    assert_allclose(rec.weights_.toarray(), w, rtol=1e-12, atol=1e-15)
    assert_allclose(rec.score(np.arange(x.shape[0])), x.toarray() @ w, rtol=1e-12, atol=1e-15)


@given(x=small_matrices, k=st.integers(1, 4))
def test_rp3beta_keeps_the_k_largest_weights_per_row(x: sp.csr_matrix, k: int) -> None:
    rec = RP3beta(alpha=0.8, beta=0.3, k=k)
    rec.fit(x)
    w = rec.weights_.toarray()
    full = rp3beta_reference(x.toarray().astype(np.float64), 0.8, 0.3, x.shape[1], False)
    for i in range(x.shape[1]):
        kept = np.nonzero(w[i])[0]
        assert_allclose(w[i, kept], full[i, kept], rtol=1e-12)
        expected = np.sort(full[i][full[i] != 0])[::-1][:k]
        assert_allclose(np.sort(w[i, kept])[::-1], expected, rtol=1e-12)


def test_rp3beta_in_blocks_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    x = binary(50, 23, 0.25, seed=19, empty_rows=(0,), empty_cols=(22,))
    whole = RP3beta(k=6)
    whole.fit(x)
    monkeypatch.setattr(A, "_BLOCK_BYTES", 8 * 23 * 5)
    blocked = RP3beta(k=6)
    blocked.fit(x)
    assert_array_equal(blocked.weights_.toarray(), whole.weights_.toarray())


# --------------------------------------------------------------------------------------
# ∞-AE


def ntk_reference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The two-layer ReLU NTK (σw² = 2, σb² = 0.01), one pair at a time."""
    w2, b2, d = 2.0, 0.01, x.shape[1]
    out = np.empty((len(x), len(y)))
    for a, u in enumerate(x):
        for b, v in enumerate(y):
            kxy = w2 * (u @ v) / d + b2
            kxx = w2 * (u @ u) / d + b2
            kyy = w2 * (v @ v) / d + b2
            theta = math.acos(max(-1.0, min(1.0, kxy / math.sqrt(kxx * kyy))))
            k1 = math.sqrt(kxx * kyy) * (math.sin(theta) + (math.pi - theta) * math.cos(theta))
            k1 /= 2 * math.pi
            out[a, b] = w2 * k1 + b2 + w2 * kxy * (math.pi - theta) / (2 * math.pi)
    return out


def infae_reference(x: np.ndarray, support: np.ndarray, l2: float) -> np.ndarray:
    xs = x[support]
    k = ntk_reference(xs, xs)
    ridge = l2 * np.trace(k) / len(xs)
    alpha = np.linalg.solve(k + ridge * np.eye(len(xs)), xs)
    return ntk_reference(x, xs) @ alpha


def test_relu_ntk_is_the_tangent_kernel_of_a_wide_network() -> None:
    # Monte-Carlo: the empirical NTK of a width-h Dense-ReLU-Dense network in NTK
    # parameterization (σw = √2, σb = 0.1) converges to relu_ntk at rate 1/√h
    x = np.array([[1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    h, d = 300_000, x.shape[1]
    sw, sb = math.sqrt(2.0), 0.1
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((h, d))
    b1 = rng.standard_normal(h)
    w2 = rng.standard_normal(h)
    z = sw / math.sqrt(d) * x @ w1.T + sb * b1
    act = np.maximum(z, 0.0)
    gate = (z > 0) * w2
    empirical = (
        sb**2
        + sw**2 / h * act @ act.T
        + sw**2 / h * (gate @ gate.T) * (sw**2 * (x @ x.T) / d + sb**2)
    )
    sq = (x * x).sum(axis=1)
    assert_allclose(relu_ntk(x @ x.T, sq, sq, d), empirical, rtol=0.02)
    assert_allclose(relu_ntk(x @ x.T, sq, sq, d), ntk_reference(x, x), rtol=1e-12)


@given(x=small_matrices)
def test_the_ntk_gram_matrix_is_symmetric_positive_semidefinite(x: sp.csr_matrix) -> None:
    d = x.toarray().astype(np.float64)
    sq = (d * d).sum(axis=1)
    k = relu_ntk(d @ d.T, sq, sq, d.shape[1])
    assert_allclose(k, k.T, rtol=0, atol=0)
    assert np.linalg.eigvalsh(k).min() > -1e-10 * np.abs(k).max()
    assert_allclose(k, ntk_reference(d, d), rtol=1e-12)


@given(x=small_matrices, l2=st.sampled_from([0.01, 0.1, 1.0, 5.0]))
def test_infae_is_the_kernel_ridge_closed_form(x: sp.csr_matrix, l2: float) -> None:
    rec = InfiniteAE(l2=l2)
    rec.fit(x)
    users = np.arange(x.shape[0])
    expected = infae_reference(x.toarray().astype(np.float64), users, l2)
    assert_allclose(rec.score(users), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("max_users", [4, 30])  # n_items >= m (inverse) and < m (α)
def test_infae_on_a_subset_of_users_scores_every_user(max_users: int) -> None:
    x = binary(40, 12, 0.3, seed=4, empty_rows=(5,), empty_cols=(3,))
    rec = InfiniteAE(l2=0.5, max_users=max_users, seed=7)
    rec.fit(x)
    assert len(rec.support_) == max_users
    assert np.all(np.diff(rec.support_) > 0)
    users = np.arange(40)
    expected = infae_reference(x.toarray().astype(np.float64), rec.support_, 0.5)
    assert_allclose(rec.score(users), expected, rtol=1e-8, atol=1e-10)
    other = InfiniteAE(l2=0.5, max_users=max_users, seed=8)
    other.fit(x)
    assert not np.array_equal(other.support_, rec.support_)


# --------------------------------------------------------------------------------------
# PureSVD


def test_puresvd_projects_on_the_top_singular_vectors() -> None:
    x = binary(30, 12, 0.35, seed=3, empty_rows=(2,))
    dense = x.toarray().astype(np.float64)
    _, s, vt = np.linalg.svd(dense)
    assert np.all(np.diff(s[:6]) < -1e-6)  # distinct: V Vᵀ is unique
    for factors in (1, 3, 5):
        rec = PureSVD(factors=factors, seed=1)
        rec.fit(x)
        v = vt[:factors].T
        assert_allclose(rec.singular_values_, s[:factors], rtol=1e-9)
        assert_allclose(rec.score(np.arange(30)), dense @ v @ v.T, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    ("shape", "factors", "rank"), [((5, 3), 64, 2), ((1, 6), 4, 0), ((4, 1), 4, 0)]
)
def test_puresvd_on_tiny_matrices(shape: tuple[int, int], factors: int, rank: int) -> None:
    x = binary(*shape, 0.6, seed=2)
    x[0, 0] = 1.0
    rec = PureSVD(factors=factors)
    rec.fit(x)
    assert rec.item_factors_.shape == (shape[1], rank)
    scores = rec.score(np.arange(shape[0]))
    assert scores.shape == shape
    if rank == 0:
        assert not scores.any()


def test_puresvd_of_an_empty_matrix_scores_zero() -> None:
    rec = PureSVD(factors=3)
    rec.fit(sp.csr_matrix((6, 5), dtype=np.float32))
    assert_array_equal(rec.score(np.arange(6)), np.zeros((6, 5)))


# --------------------------------------------------------------------------------------
# random, popularity, transitions


def test_popularity_is_the_column_sums() -> None:
    x = binary(20, 9, 0.3, seed=1, empty_cols=(4,))
    rec = Popularity()
    rec.fit(x)
    expected = np.asarray(x.sum(axis=0)).ravel()
    scores = rec.score(np.array([0, 5, 19]))
    assert_array_equal(scores, np.tile(expected, (3, 1)))
    assert scores[0, 4] == 0


def test_random_scores_are_a_function_of_seed_and_user() -> None:
    x = binary(20, 9, 0.3, seed=1)
    a, b, c = RandomScores(seed=5), RandomScores(seed=5), RandomScores(seed=6)
    for rec in (a, b, c):
        rec.fit(x)
    users = np.arange(20)
    sa = a.score(users)
    assert_array_equal(sa, b.score(users))
    assert_array_equal(sa[[7, 3]], a.score(np.array([7, 3])))
    assert_array_equal(sa[4], np.random.default_rng([5, 4]).random(9))
    assert not np.array_equal(sa, c.score(users))
    assert ((sa >= 0) & (sa < 1)).all()
    assert len(np.unique(sa)) == sa.size


def test_transitions_by_hand() -> None:
    # user 0: items by time 3, 1, 0, 2; user 1: {0, 1} at the same time; user 2: 2;
    # user 4: 4, then {0, 3} at the same time, then 1
    rows = [0, 0, 0, 0, 1, 1, 2, 4, 4, 4, 4]
    cols = [0, 1, 2, 3, 0, 1, 2, 0, 1, 3, 4]
    times = [30, 20, 40, 10, 7, 7, 1, 5, 9, 5, 2]
    x = sp.csr_matrix((np.ones(11, np.float32), (rows, cols)), shape=(5, 5))
    t = sp.csr_matrix((np.array(times, np.int64), (rows, cols)), shape=(5, 5))
    assert_array_equal(t.indices, x.indices)
    rec = Transitions(history=2, decay=0.5)
    rec.fit(x, t)
    # user 0: 3→1, 1→0, 0→2; user 1: one group, no transition; user 4: 4→{0, 3} (½ each),
    # {0, 3}→1 (½ each)
    counts = np.zeros((5, 5))
    counts[3, 1] += 1.0
    counts[1, 0] += 1.0
    counts[0, 2] += 1.0
    counts[4, 0] += 0.5
    counts[4, 3] += 0.5
    counts[0, 1] += 0.5
    counts[3, 1] += 0.5
    expected_t = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-300)
    assert_allclose(rec.transitions_.toarray(), expected_t, rtol=1e-15)
    scores = rec.score(np.array([0, 1, 2, 3, 4]))
    pop = np.array([3.0, 3.0, 2.0, 2.0, 1.0])
    # 1e-6 · decay^(history-1) · smallest transition probability / widest group
    eps = 1e-6 * 0.5 * (1 / 3) / 2
    tie = eps * pop / pop.max()
    # user 0: last 2 (row 2 of T is empty), then 0 (weight 0.5)
    assert_allclose(scores[0], 0.5 * expected_t[0] + tie, rtol=1e-15)
    # user 1: one group {0, 1}: half of each row
    assert_allclose(scores[1], 0.5 * expected_t[0] + 0.5 * expected_t[1] + tie, rtol=1e-15)
    # user 2: only item 2, no transition from it; user 3: no items: popularity order
    assert_allclose(scores[2], tie, rtol=1e-15)
    assert_allclose(scores[3], tie, rtol=1e-15)
    assert list(np.argsort(-scores[3], kind="stable")) == [0, 1, 2, 3, 4]
    # user 4: last 1, then {0, 3} with 0.5 / 2 each
    expected_4 = expected_t[1] + 0.25 * (expected_t[0] + expected_t[3]) + tie
    assert_allclose(scores[4], expected_4, rtol=1e-15)
    # the tie-break never lifts an item above one with a transition score
    assert scores[0, 1] > scores[0, 0] > scores[0, 3]


def _transitions_reference(x: sp.csr_matrix, times: np.ndarray, history: int, decay: float):
    """Loops over users and timestamp groups: T before normalization, and each user's
    history weights (the specification of :class:`Transitions` without the tie-break)."""
    n_users, n_items = x.shape
    counts = np.zeros((n_items, n_items))
    recent = np.zeros((n_users, n_items))
    for u in range(n_users):
        lo, hi = x.indptr[u], x.indptr[u + 1]
        by_time: dict[int, list[int]] = {}
        for item, when in zip(x.indices[lo:hi], times[lo:hi], strict=True):
            by_time.setdefault(int(when), []).append(int(item))
        groups = [by_time[k] for k in sorted(by_time)]
        for a, b in itertools.pairwise(groups):
            for i in a:
                for j in b:
                    counts[i, j] += 1.0 / (len(a) * len(b))
        for h, group in enumerate(reversed(groups[-history:])):
            for i in group:
                recent[u, i] += decay**h / len(group)
    return counts, recent


@given(
    seed=st.integers(0, 2**31 - 1),
    n_times=st.integers(1, 6),
    history=st.integers(1, 3),
    decay=st.sampled_from([0.5, 1.0]),
)
def test_transitions_match_the_reference_and_ignore_item_ids(
    seed: int, n_times: int, history: int, decay: float
) -> None:
    # few distinct times: many items share a timestamp
    x = binary(12, 9, 0.4, seed=seed)
    rng = np.random.default_rng(seed)
    times = sp.csr_matrix(x, dtype=np.int64, copy=True)
    times.data = rng.integers(0, n_times, size=x.nnz)
    rec = Transitions(history=history, decay=decay)
    rec.fit(x, times)
    counts, recent = _transitions_reference(x, times.data, history, decay)
    sums = counts.sum(axis=1, keepdims=True)
    expected_t = np.divide(counts, sums, out=np.zeros_like(counts), where=sums > 0)
    assert_allclose(rec.transitions_.toarray(), expected_t, rtol=1e-9, atol=1e-12)
    users = np.arange(12)
    scores = rec.score(users)
    assert_allclose(scores - rec._tie_break, recent @ expected_t, rtol=1e-9, atol=1e-12)
    # renaming items (and reordering users) renames the scores (up to the order of sums)
    item_perm = rng.permutation(9)
    user_perm = rng.permutation(12)
    moved = sp.csr_matrix(x[user_perm][:, item_perm])
    moved_times = sp.csr_matrix(times[user_perm][:, item_perm])
    moved.sort_indices()
    moved_times.sort_indices()
    other = Transitions(history=history, decay=decay)
    other.fit(moved, moved_times)
    assert_allclose(other.score(users), scores[user_perm][:, item_perm], rtol=1e-12, atol=0)


def test_transitions_needs_matching_timestamps() -> None:
    x = binary(6, 4, 0.5, seed=0)
    with pytest.raises(AlgorithmError, match="'transitions' needs timestamps"):
        Transitions().fit(x)
    shifted = timestamps_of(binary(6, 4, 0.5, seed=1), 0)
    with pytest.raises(AlgorithmError, match="same indptr and indices"):
        Transitions().fit(x, shifted)
    with pytest.raises(AlgorithmError, match="shape"):
        Transitions().fit(x, np.zeros((6, 4)))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# the contract, for every built-in

CONTRACT_SPECS = [
    "random",
    "popularity",
    "itemknn:k=5",
    "itemknn:k=100,shrink=3",
    "rp3beta:k=7",
    "rp3beta:alpha=0.7,beta=0.2,normalize=true",
    "ease:l2=10",
    "puresvd:factors=8",
    "infae:max_users=50",  # 50 support users > 40 items: α = K⁻¹X_s precomputed
    "infae:max_users=30",  # 30 support users < 40 items: K⁻¹ kept
    "transitions",
    "transitions:history=3,decay=0.7",
]
N_USERS, N_ITEMS = 80, 40
EMPTY_ROWS, EMPTY_COLS = (0, 3, 77), (5, 11, 39)


@pytest.fixture(scope="module")
def contract_data() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    x = binary(N_USERS, N_ITEMS, 0.15, seed=21, empty_rows=EMPTY_ROWS, empty_cols=EMPTY_COLS)
    return x, timestamps_of(x, 3)


def fitted(spec: str, data: tuple[sp.csr_matrix, sp.csr_matrix]) -> Recommender:
    rec = make_algorithm(spec, seed=11)
    checked_fit(rec, data[0], data[1])
    return rec


@pytest.mark.parametrize("spec", CONTRACT_SPECS)
def test_scores_do_not_depend_on_the_batches(
    spec: str, contract_data: tuple[sp.csr_matrix, sp.csr_matrix]
) -> None:
    rec = fitted(spec, contract_data)
    users = np.arange(10, dtype=np.int64)
    whole = rec.score(users)
    in_threes = np.vstack([rec.score(users[i : i + 3]) for i in range(0, 10, 3)])
    assert_array_equal(in_threes, whole)
    everyone = rec.score(np.arange(N_USERS, dtype=np.int64))
    assert_array_equal(everyone[:10], whole)
    shuffled = np.random.default_rng(0).permutation(N_USERS)
    assert_array_equal(rec.score(shuffled), everyone[shuffled])
    # refitting gives the same scores (same train, same seed)
    assert_array_equal(fitted(spec, contract_data).score(users), whole)


@pytest.mark.parametrize("spec", CONTRACT_SPECS)
def test_scores_have_the_contract_shape_and_dtype(
    spec: str, contract_data: tuple[sp.csr_matrix, sp.csr_matrix]
) -> None:
    rec = fitted(spec, contract_data)
    users = np.array((*EMPTY_ROWS, 1, 2), dtype=np.int64)
    scores = checked_scores(rec, users, N_ITEMS)
    assert scores.shape == (len(users), N_ITEMS)
    assert scores.dtype in (np.float32, np.float64)
    assert np.isfinite(scores).all()
    assert rec.score(np.zeros(0, np.int64)).shape == (0, N_ITEMS)
    if spec.startswith(("itemknn", "rp3beta", "ease", "puresvd")):
        # empty items and users: nothing to go on, so nothing but zeros (up to ARPACK's
        # rounding for puresvd)
        assert_allclose(scores[:, list(EMPTY_COLS)], 0.0, rtol=0, atol=1e-12)
        assert_allclose(scores[: len(EMPTY_ROWS)], 0.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_builtin_describes_itself(name: str) -> None:
    cls = ALGORITHMS[name]
    rec = cls()
    assert rec.name == name == cls.name
    assert isinstance(rec, Recommender)
    assert json.loads(json.dumps(rec.params)) == rec.params
    assert set(rec.params) == set(A._hyper_parameters(cls))
    assert rec.needs_timestamps is (name in SEQUENTIAL_ALGORITHMS)
    assert rec.quadratic_in_items is (name in ("itemknn", "rp3beta", "ease"))
    summary = (cls.__doc__ or "").strip().splitlines()[0]
    assert summary.endswith(".") and len(summary) <= 100


def test_the_registry() -> None:
    assert DEFAULT_ALGORITHMS == (
        "random",
        "popularity",
        "itemknn",
        "rp3beta",
        "ease",
        "puresvd",
        "infae",
    )
    assert SEQUENTIAL_ALGORITHMS == ("transitions",)
    assert set(ALGORITHMS) == set(DEFAULT_ALGORITHMS) | set(SEQUENTIAL_ALGORITHMS)


def test_score_before_fit_and_bad_users() -> None:
    rec = EASE()
    with pytest.raises(AlgorithmError, match="not fitted"):
        rec.score(np.array([0]))
    rec.fit(binary(5, 4, 0.5, seed=0))
    with pytest.raises(ParameterError, match=r"row indices in \[0, 5\)"):
        rec.score(np.array([5]))
    with pytest.raises(ParameterError, match="1-D integer"):
        rec.score(np.array([0.5]))
    with pytest.raises(ParameterError, match=r"scipy\.sparse"):
        EASE().fit(np.ones((3, 3)))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# make_algorithm


@pytest.mark.parametrize(
    ("spec", "cls", "params"),
    [
        ("ease", EASE, {"l2": 200.0}),
        ("ease:l2=200", EASE, {"l2": 200.0}),
        (" ease : l2 = 1e3 ", EASE, {"l2": 1000.0}),
        ("itemknn:k=50,shrink=10", ItemKNN, {"k": 50, "shrink": 10.0}),
        ("itemknn:shrink=0.5", ItemKNN, {"k": 100, "shrink": 0.5}),
        ("rp3beta", RP3beta, {"alpha": 1.0, "beta": 0.5, "k": 100, "normalize": False}),
        (
            "rp3beta:normalize=true,k=20",
            RP3beta,
            {"alpha": 1.0, "beta": 0.5, "k": 20, "normalize": True},
        ),
        ("puresvd:factors=16", PureSVD, {"factors": 16, "seed": 4}),
        ("puresvd:seed=9", PureSVD, {"factors": 64, "seed": 9}),
        ("infae", InfiniteAE, {"l2": 1.0, "max_users": 5000, "seed": 4}),
        ("infae:l2=0.1,max_users=100", InfiniteAE, {"l2": 0.1, "max_users": 100, "seed": 4}),
        ("random", RandomScores, {"seed": 4}),
        ("popularity", Popularity, {}),
        ("transitions:history=2", Transitions, {"history": 2, "decay": 0.5}),
    ],
)
def test_make_algorithm_applies_the_spec(spec: str, cls: type, params: dict) -> None:
    rec = make_algorithm(spec, seed=4)
    assert type(rec) is cls
    assert rec.params == params  # type: ignore[attr-defined]
    assert all(type(v) is type(params[k]) for k, v in rec.params.items())  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            "eas",
            r"unknown algorithm 'eas' .*valid names: random, popularity, itemknn, "
            r"rp3beta, ease, puresvd, infae, transitions",
        ),
        ("", "unknown algorithm ''"),
        ("ease:lambda=5", r"'ease' has no hyper-parameter 'lambda' \(hyper-parameters: l2=200.0\)"),
        ("popularity:k=1", r"'popularity' has no hyper-parameter 'k' \(no hyper-parameters\)"),
        ("itemknn:k=abc", r"'itemknn': k must be an integer >= 1, got 'abc' \(hyper-param"),
        ("itemknn:k=0", r"'itemknn': k must be an integer >= 1, got 0"),
        ("itemknn:k=2.5", r"k must be an integer >= 1, got 2.5"),
        ("itemknn:shrink=-1", r"shrink must be a finite number >= 0, got -1"),
        ("ease:l2=nan", r"l2 must be a finite number >= 0, got nan"),
        ("infae:l2=0", r"'infae': l2 must be a finite number > 0, got 0"),
        ("transitions:decay=1.5", r"decay must be a finite number > 0 and <= 1"),
        ("rp3beta:normalize=maybe", r"normalize must be a flag"),
        ("puresvd:seed=-1", r"seed must be an integer in \[0, 2\*\*64\)"),
        ("ease:l2", r"malformed hyper-parameter 'l2'.*expected key=value"),
        ("ease:l2=1,l2=2", r"'l2' given twice"),
        ("itemknn:k=5,", r"malformed hyper-parameter ''"),
    ],
)
def test_make_algorithm_refuses_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match) as info:
        make_algorithm(spec)
    assert "\n" not in str(info.value)


def test_make_algorithm_checks_its_arguments() -> None:
    with pytest.raises(ParameterError, match="seed"):
        make_algorithm("random", seed=2**64)
    with pytest.raises(ParameterError, match="string"):
        make_algorithm(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# user models


def popular(train: sp.csr_matrix):  # type: ignore[no-untyped-def]
    counts = np.asarray(train.sum(axis=0)).ravel()
    return lambda users: np.tile(counts, (len(users), 1))


class UserModel:
    def __init__(self) -> None:
        self.seen_timestamps: object = "never called"

    def fit(self, train: sp.csr_matrix, timestamps: sp.csr_matrix | None = None) -> None:
        self.n_items = train.shape[1]
        self.seen_timestamps = timestamps

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.ones((len(users), self.n_items), dtype=np.float32)


def test_as_recommender_takes_an_object() -> None:
    model = UserModel()
    rec = as_recommender(model)
    assert rec is model and rec.name == "UserModel"
    named = as_recommender(UserModel(), name="mine")
    assert named.name == "mine"
    builtin = EASE()
    assert as_recommender(builtin, name="other") is builtin and builtin.name == "ease"
    x = binary(5, 4, 0.5, seed=0)
    checked_fit(rec, x, timestamps_of(x, 1))
    assert model.seen_timestamps is None  # timestamps only go to sequential models
    assert_array_equal(checked_scores(rec, np.array([1, 2]), 4), np.ones((2, 4)))


def test_as_recommender_wraps_a_callable() -> None:
    rec = as_recommender(popular)
    assert isinstance(rec, CallableRecommender) and isinstance(rec, Recommender)
    assert rec.name == "popular"
    assert as_recommender(popular, name="pop").name == "pop"
    assert as_recommender(lambda train: popular(train)).name == "<lambda>"
    x = binary(6, 5, 0.5, seed=2)
    checked_fit(rec, x)
    assert_array_equal(rec.score(np.array([0, 1])), np.tile(x.sum(axis=0).A1, (2, 1)))


@pytest.mark.parametrize("garbage", [42, "ease", None, [popular], EASE, UserModel])
def test_as_recommender_refuses_garbage(garbage: object) -> None:
    with pytest.raises(ParameterError, match="cannot use"):
        as_recommender(garbage)


def test_errors_of_user_code_become_algorithm_errors() -> None:
    x = binary(6, 5, 0.5, seed=2)

    def broken_fit(train: sp.csr_matrix):  # type: ignore[no-untyped-def]
        raise ValueError("bad\ninput")

    with pytest.raises(AlgorithmError) as info:
        checked_fit(as_recommender(broken_fit), x)
    assert str(info.value) == "algorithm 'broken_fit' failed to fit: ValueError: bad input"
    assert isinstance(info.value.__cause__, ValueError)
    assert isinstance(info.value, DaskFractalError) and isinstance(info.value, RuntimeError)

    def broken_score(train: sp.csr_matrix):  # type: ignore[no-untyped-def]
        def score(users: np.ndarray) -> np.ndarray:
            raise KeyError(3)

        return score

    rec = as_recommender(broken_score)
    checked_fit(rec, x)
    with pytest.raises(AlgorithmError, match=r"^algorithm 'broken_score' failed to score: KeyE"):
        rec.score(np.array([0]))
    with pytest.raises(AlgorithmError, match="failed to score: KeyError: 3"):
        checked_scores(rec, np.array([0]), 5)

    with pytest.raises(AlgorithmError, match="fit_fn returned int, not a score function"):
        checked_fit(as_recommender(lambda train: 3, name="three"), x)

    class Crashing(UserModel):
        def fit(self, train: sp.csr_matrix, timestamps: sp.csr_matrix | None = None) -> None:
            raise ZeroDivisionError("division by zero")

    with pytest.raises(AlgorithmError, match="'Crashing' failed to fit: ZeroDivisionError"):
        checked_fit(as_recommender(Crashing()), x)


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        (np.full((2, 5), np.nan), r"returned NaN scores \(10 of 10\)"),
        (np.ones((2, 4)), r"shape \(2, 4\), expected \(2, 5\)"),
        (np.ones(10), r"shape \(10,\), expected \(2, 5\)"),
        (np.full((2, 5), "a"), "dtype <U1, expected a numeric"),
        (np.ones((2, 5), dtype=complex), "dtype complex128"),
        (sp.csr_matrix(np.ones((2, 5))), "sparse matrix"),
    ],
)
def test_impossible_scores_become_algorithm_errors(scores: object, match: str) -> None:
    x = binary(6, 5, 0.5, seed=2)
    rec = as_recommender(lambda train: lambda users: scores, name="odd")
    checked_fit(rec, x)
    with pytest.raises(AlgorithmError, match=match):
        rec.score(np.array([0, 1]))

    class Odd(UserModel):
        def score(self, users: np.ndarray) -> np.ndarray:
            return scores  # type: ignore[return-value]

    obj = as_recommender(Odd())
    checked_fit(obj, x)
    with pytest.raises(AlgorithmError, match=f"^algorithm 'Odd' .*{match}"):
        checked_scores(obj, np.array([0, 1]), 5)


def test_checked_fit_passes_timestamps_to_sequential_models() -> None:
    x = binary(8, 6, 0.5, seed=2)
    rec = make_algorithm("transitions")
    checked_fit(rec, x, timestamps_of(x, 0))
    assert rec.score(np.array([0])).shape == (1, 6)
    with pytest.raises(AlgorithmError, match="needs timestamps"):
        checked_fit(make_algorithm("transitions"), x)
