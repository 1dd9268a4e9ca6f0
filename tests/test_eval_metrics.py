"""Ranking metrics of the evaluation (daskfractal.evaluation.metrics).

Hand-computed examples, and hypothesis tests against naive per-user references: a sort-based
loop for the rank counts, and an enumeration of the target's possible positions (or of every
permutation of the tied items) for the expected HR and NDCG.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from daskfractal.evaluation.metrics import (
    METRICS,
    full_ranks,
    hit_rate,
    metric_values,
    ndcg,
    sampled_ranks,
)


def inv_log(p: int) -> float:
    """The discount of the 0-based position ``p``."""
    return 1.0 / math.log2(p + 2)


# --- hand-computed example -------------------------------------------------------------
# user 0: items 0 (scores above the target) and 2 (ties with it) are excluded; item 4 ties.
# user 1: a constant model (every candidate ties).
# user 2: a strict order, nothing excluded; the target 2 is below items 3, 4, 5.
SCORES = np.array(
    [
        [0.9, 0.5, 0.5, 0.2, 0.5, 0.1],
        [0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    ]
)
EXCLUDE = scipy.sparse.csr_matrix(
    np.array([[1, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]], dtype=np.int8)
)
TARGETS = np.array([1, 0, 2])


def test_full_ranks_by_hand() -> None:
    greater, ties = full_ranks(SCORES, EXCLUDE, TARGETS)
    # user 0: candidates 1 (target), 3, 4, 5 -> nothing above 0.5, item 4 ties
    # user 1: candidates 0 (target), 1, 2, 3, 4 (5 is excluded) -> 4 ties
    # user 2: candidates all -> items 3, 4, 5 above
    assert greater.tolist() == [0, 0, 3]
    assert ties.tolist() == [1, 4, 0]
    assert greater.dtype == np.int64 and ties.dtype == np.int64


def test_metrics_by_hand() -> None:
    greater, ties = np.array([0, 0, 3]), np.array([1, 4, 0])
    # positions: user 0 in {0, 1}, user 1 in {0, ..., 4}, user 2 exactly 3
    np.testing.assert_allclose(hit_rate(greater, ties, 1), [1 / 2, 1 / 5, 0.0])
    np.testing.assert_allclose(hit_rate(greater, ties, 2), [1.0, 2 / 5, 0.0])
    np.testing.assert_allclose(hit_rate(greater, ties, 4), [1.0, 4 / 5, 1.0])
    np.testing.assert_allclose(
        ndcg(greater, ties, 2), [(1 + inv_log(1)) / 2, (1 + inv_log(1)) / 5, 0.0]
    )
    # k larger than the number of candidates (6 items): every target is a hit
    np.testing.assert_allclose(hit_rate(greater, ties, 10), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(
        ndcg(greater, ties, 10),
        [
            (inv_log(0) + inv_log(1)) / 2,
            sum(inv_log(p) for p in range(5)) / 5,
            inv_log(3),
        ],
    )


def test_sampled_ranks_by_hand() -> None:
    negatives = np.array([[0, 3, 3, 4], [1, 1, 2, 5], [0, 1, 5, 5]])
    greater, ties = sampled_ranks(SCORES, TARGETS, negatives)
    # user 0: 0 above, 4 ties; user 1: all 4 tie (duplicates count); user 2: 5 twice above
    assert greater.tolist() == [1, 0, 2]
    assert ties.tolist() == [1, 4, 0]
    assert greater.dtype == np.int64 and ties.dtype == np.int64


def test_metric_values_keys_and_values() -> None:
    greater, ties = np.array([0, 0, 3]), np.array([1, 4, 0])
    values = metric_values(greater, ties, [10, 2])
    assert list(values) == ["hr@10", "ndcg@10", "hr@2", "ndcg@2"]
    assert METRICS == ("hr", "ndcg")
    np.testing.assert_array_equal(values["hr@2"], hit_rate(greater, ties, 2))
    np.testing.assert_array_equal(values["ndcg@10"], ndcg(greater, ties, 10))
    assert all(v.dtype == np.float64 and v.shape == (3,) for v in values.values())


def test_strictly_first_is_one_and_empty_batch() -> None:
    assert hit_rate(np.array([0]), np.array([0]), 1).tolist() == [1.0]
    assert ndcg(np.array([0]), np.array([0]), 1).tolist() == [1.0]
    empty = np.zeros(0, dtype=np.int64)
    assert hit_rate(empty, empty, 5).shape == (0,)
    g, t = full_ranks(np.zeros((0, 4)), scipy.sparse.csr_matrix((0, 4)), empty)
    assert g.shape == t.shape == (0,)


# --- naive references --------------------------------------------------------------------
def naive_full_ranks(
    scores: np.ndarray, mask: np.ndarray, targets: np.ndarray
) -> tuple[list[int], list[int]]:
    """Per-user loop: sort the candidates' scores, count above and equal to the target's."""
    greater, ties = [], []
    for r in range(scores.shape[0]):
        cand = [i for i in range(scores.shape[1]) if not mask[r, i] and i != targets[r]]
        s = np.sort(scores[r, cand])
        t = scores[r, targets[r]]
        left, right = np.searchsorted(s, t, "left"), np.searchsorted(s, t, "right")
        greater.append(int(s.size - right))
        ties.append(int(right - left))
    return greater, ties


@st.composite
def full_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = draw(st.integers(1, 6))
    n = draw(st.integers(1, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.integers(1, 4))  # few distinct values: many ties
    scores = rng.integers(0, levels, (b, n)).astype(np.float64)
    targets = rng.integers(0, n, b)
    mask = rng.random((b, n)) < draw(st.floats(0.0, 0.9))
    mask[np.arange(b), targets] = False
    return scores, mask, targets


@given(full_cases())
def test_full_ranks_equals_naive(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    scores, mask, targets = case
    greater, ties = full_ranks(scores, scipy.sparse.csr_matrix(mask), targets)
    assert (greater.tolist(), ties.tolist()) == naive_full_ranks(scores, mask, targets)


def test_full_ranks_larger_random_case() -> None:
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 20, (150, 300)).astype(np.float32)
    targets = rng.integers(0, 300, 150)
    mask = rng.random((150, 300)) < 0.3
    mask[np.arange(150), targets] = False
    greater, ties = full_ranks(scores, scipy.sparse.csr_matrix(mask), targets)
    assert (greater.tolist(), ties.tolist()) == naive_full_ranks(scores, mask, targets)


def test_full_ranks_non_canonical_exclude() -> None:
    # duplicates are merged, explicit zeros are not exclusions, csr_array and coo are accepted
    scores = np.array([[5.0, 4.0, 3.0, 2.0]])
    dup = scipy.sparse.csr_matrix(
        (np.array([1, 1, 0]), np.array([0, 0, 1]), np.array([0, 3])), shape=(1, 4)
    )
    assert not dup.has_canonical_format
    assert [x.tolist() for x in full_ranks(scores, dup, np.array([2]))] == [[1], [0]]
    arr = scipy.sparse.coo_array(np.array([[1, 0, 0, 0]]))
    assert [x.tolist() for x in full_ranks(scores, arr, np.array([2]))] == [[1], [0]]


def test_full_ranks_ignores_excluded_nan_and_inf() -> None:
    scores = np.array([[np.nan, np.inf, 1.0, -np.inf, 1.0]])
    exclude = scipy.sparse.csr_matrix(np.array([[1, 1, 0, 0, 0]]))
    greater, ties = full_ranks(scores, exclude, np.array([2]))
    assert (greater.tolist(), ties.tolist()) == ([0], [1])


@st.composite
def sampled_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = draw(st.integers(1, 6))
    n = draw(st.integers(2, 9))
    k = draw(st.integers(0, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = rng.integers(0, draw(st.integers(1, 4)), (b, n)).astype(np.float64)
    targets = rng.integers(0, n, b)
    # negatives: any item but the target, duplicates allowed
    negatives = (targets[:, None] + rng.integers(1, n, (b, k))) % n
    return scores, targets, negatives


@given(sampled_cases())
def test_sampled_ranks_equals_naive(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    scores, targets, negatives = case
    greater, ties = sampled_ranks(scores, targets, negatives)
    for r in range(scores.shape[0]):
        t = scores[r, targets[r]]
        neg = [scores[r, i] for i in negatives[r]]
        assert greater[r] == sum(s > t for s in neg)
        assert ties[r] == sum(s == t for s in neg)


@given(st.integers(0, 15), st.integers(0, 15), st.integers(1, 20))
def test_expected_metrics_equal_the_average_over_positions(g: int, t: int, k: int) -> None:
    positions = range(g, g + t + 1)
    hr = sum(p < k for p in positions) / (t + 1)
    nd = sum(inv_log(p) for p in positions if p < k) / (t + 1)
    assert hit_rate(np.array([g]), np.array([t]), k)[0] == pytest.approx(hr, abs=1e-12)
    assert ndcg(np.array([g]), np.array([t]), k)[0] == pytest.approx(nd, abs=1e-12)


@given(st.integers(0, 4), st.integers(0, 4), st.integers(1, 8))
def test_expected_metrics_equal_the_average_over_tie_permutations(g: int, t: int, k: int) -> None:
    # a ranked list: g items above, then the target and t items tied with it in every order;
    # the exact average over the (t + 1)! orders of the tied group
    hits, gains, count = 0.0, 0.0, 0
    for order in itertools.permutations(range(t + 1)):
        p = g + order.index(0)  # item 0 of the tied group is the target
        hits += p < k
        gains += inv_log(p) if p < k else 0.0
        count += 1
    assert hit_rate(np.array([g]), np.array([t]), k)[0] == pytest.approx(hits / count)
    assert ndcg(np.array([g]), np.array([t]), k)[0] == pytest.approx(gains / count)


# --- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_bad_k(k: float) -> None:
    one = np.array([0])
    for fn in (hit_rate, ndcg):
        with pytest.raises(ValueError, match="k must be"):
            fn(one, one, k)  # type: ignore[operator]
    with pytest.raises(ValueError, match="k must be"):
        metric_values(one, one, [10, k])  # type: ignore[list-item]


def test_nan_target_score() -> None:
    scores = SCORES.copy()
    scores[2, 2] = np.nan
    with pytest.raises(ValueError, match="target is NaN"):
        full_ranks(scores, EXCLUDE, TARGETS)
    with pytest.raises(ValueError, match="target is NaN"):
        sampled_ranks(scores, TARGETS, np.array([[0], [1], [0]]))


def test_nan_candidate_score() -> None:
    scores = SCORES.copy()
    scores[0, 3] = np.nan  # a candidate of user 0 (scores[0, 0] excluded may be NaN)
    scores[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN scores among the candidates of rows \\[0\\]"):
        full_ranks(scores, EXCLUDE, TARGETS)
    with pytest.raises(ValueError, match="NaN scores among the negatives"):
        sampled_ranks(scores, TARGETS, np.array([[3], [1], [0]]))


def test_target_in_exclude() -> None:
    exclude = EXCLUDE.tolil()
    exclude[2, 2] = 1
    with pytest.raises(ValueError, match="target is in the excluded items of rows \\[2\\]"):
        full_ranks(SCORES, exclude.tocsr(), TARGETS)


def test_negative_is_target() -> None:
    with pytest.raises(ValueError, match="negative is the target in rows \\[1\\]"):
        sampled_ranks(SCORES, TARGETS, np.array([[0, 3], [1, 0], [0, 1]]))


def test_bad_shapes_and_ids() -> None:
    with pytest.raises(ValueError, match="exclude has shape"):
        full_ranks(SCORES, scipy.sparse.csr_matrix((3, 5)), TARGETS)
    with pytest.raises(ValueError, match="targets must have shape"):
        full_ranks(SCORES, EXCLUDE, TARGETS[:2])
    with pytest.raises(ValueError, match="item ids"):
        full_ranks(SCORES, EXCLUDE, np.array([1, 0, 6]))
    with pytest.raises(ValueError, match="item ids"):
        sampled_ranks(SCORES, TARGETS, np.array([[0], [1], [-1]]))
    with pytest.raises(ValueError, match="sparse"):
        full_ranks(SCORES, EXCLUDE.toarray(), TARGETS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        hit_rate(np.array([-1]), np.array([0]), 3)
