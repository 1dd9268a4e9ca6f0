"""Statistics of the original-vs-expansion comparison (daskfractal.evaluation.agreement)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from daskfractal.evaluation.agreement import (
    STREAM_EXPANSION,
    STREAM_MEANS,
    STREAM_ORIGINAL,
    _rank_correlations_rows,
    bootstrap_means,
    correlation_intervals,
    mean_interval,
    pairwise_agreement,
    popularity_ratios,
    rank_correlations,
    significant_pairs,
)


def users(n: int, seed: int = 0) -> np.ndarray:
    """Per-user values of a base algorithm: uniform on [0, 1)."""
    return np.random.default_rng(seed).random(n)


def jsonable(out: dict[str, Any]) -> str:
    return json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in out.items()})


# --- bootstrap ---------------------------------------------------------------------------
def test_stream_ids_are_distinct() -> None:
    assert len({STREAM_MEANS, STREAM_ORIGINAL, STREAM_EXPANSION}) == 3


def test_bootstrap_means_is_a_resample_of_users() -> None:
    values = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    boot = bootstrap_means(values, n_boot=300, seed=3)
    assert boot.shape == (300, 2) and boot.dtype == np.float64
    # paired: the same resample for both columns (column 1 = 10 × column 0)
    np.testing.assert_allclose(boot[:, 1], 10 * boot[:, 0])
    # every replicate is a mean of 3 draws of {1, 2, 4}: a multiple of 1/3 in [1, 4]
    assert np.all((boot[:, 0] >= 1) & (boot[:, 0] <= 4))
    np.testing.assert_allclose(boot[:, 0] * 3, np.round(boot[:, 0] * 3))


def test_bootstrap_means_replicates_do_not_depend_on_n_boot() -> None:
    values = np.column_stack([users(50), users(50, 1)])
    long = bootstrap_means(values, n_boot=200, seed=5)
    np.testing.assert_array_equal(bootstrap_means(values, n_boot=100, seed=5), long[:100])
    # a batch of one replicate at a time (large n_users) too
    big = users(300_000)[:, None]
    np.testing.assert_array_equal(
        bootstrap_means(big, n_boot=2, seed=1), bootstrap_means(big, n_boot=30, seed=1)[:2]
    )


def test_bootstrap_means_seed_and_stream() -> None:
    values = users(100)[:, None]
    a = bootstrap_means(values, 50, seed=1)
    np.testing.assert_array_equal(a, bootstrap_means(values, 50, seed=1))
    assert not np.array_equal(a, bootstrap_means(values, 50, seed=2))
    assert not np.array_equal(a, bootstrap_means(values, 50, seed=1, stream=STREAM_ORIGINAL))


def test_bootstrap_means_is_unbiased_on_average() -> None:
    values = users(1000)[:, None]
    boot = bootstrap_means(values, 2000, seed=0)
    # the replicate means centre on the sample mean, with spread sd / sqrt(n)
    assert boot.mean() == pytest.approx(
        values.mean(), abs=4 * values.std() / math.sqrt(1000 * 2000)
    )
    assert boot.std() == pytest.approx(values.std() / math.sqrt(1000), rel=0.1)


def test_mean_interval_contains_the_mean_and_shrinks() -> None:
    small = mean_interval(np.column_stack([users(100), users(100, 1) + 0.5]), n_boot=300)
    large = mean_interval(np.column_stack([users(10_000), users(10_000, 1) + 0.5]), n_boot=300)
    for ci in (small, large):
        assert set(ci) == {"mean", "lo", "hi"}
        assert all(v.shape == (2,) and v.dtype == np.float64 for v in ci.values())
        assert np.all(ci["lo"] < ci["mean"]) and np.all(ci["mean"] < ci["hi"])
    # width ∝ 1/sqrt(n): 100× the users, about a tenth of the width
    ratio = (large["hi"] - large["lo"]) / (small["hi"] - small["lo"])
    assert np.all((ratio > 0.05) & (ratio < 0.2))


def test_mean_interval_level() -> None:
    values = users(500)[:, None]
    wide = mean_interval(values, n_boot=400, level=0.99)
    narrow = mean_interval(values, n_boot=400, level=0.5)
    assert wide["lo"][0] < narrow["lo"][0] < narrow["hi"][0] < wide["hi"][0]


# --- rank correlations ---------------------------------------------------------------------
def tie_heavy_vectors() -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    return st.integers(2, 8).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
        ).map(lambda ab: (np.array(ab[0], float) / 4, np.array(ab[1], float) / 4))
    )


@given(tie_heavy_vectors())
def test_rank_correlations_equal_scipy(ab: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = ab
    tau, rho = rank_correlations(a, b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        assert math.isnan(tau) and math.isnan(rho)
        return
    assert tau == pytest.approx(scipy.stats.kendalltau(a, b).statistic, abs=1e-12)
    assert rho == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)
    # the vectorized twin used on bootstrap replicates agrees
    taus, rhos = _rank_correlations_rows(np.stack([a, b]), np.stack([b, a]))
    np.testing.assert_allclose(taus, [tau, tau], atol=1e-12)
    np.testing.assert_allclose(rhos, [rho, rho], atol=1e-12)


def test_rank_correlations_undefined_is_nan_without_warnings() -> None:
    # filterwarnings = error: a leaking ConstantInputWarning would fail these
    for a, b in [
        ([0.1, 0.1, 0.1], [0.1, 0.2, 0.3]),
        ([0.5], [0.2]),
        ([], []),
        ([0.1, np.nan], [1.0, 2.0]),
    ]:
        tau, rho = rank_correlations(np.array(a), np.array(b))
        assert math.isnan(tau) and math.isnan(rho)
    taus, rhos = _rank_correlations_rows(np.zeros((3, 4)), np.ones((3, 4)))
    assert np.isnan(taus).all() and np.isnan(rhos).all()
    taus, rhos = _rank_correlations_rows(np.zeros((3, 1)), np.ones((3, 1)))
    assert np.isnan(taus).all() and np.isnan(rhos).all()
    assert rank_correlations(np.array([0.1, 0.2]), np.array([0.4, 0.3])) == pytest.approx(
        (-1.0, -1.0)
    )


def three_algorithms(
    shift_orig: list[float], shift_exp: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user values of 3 algorithms: a base + per-algorithm shifts (1,000 and 1,500 users)."""
    orig = users(1000, 1)[:, None] + np.array(shift_orig)
    exp = users(1500, 2)[:, None] + np.array(shift_exp)
    return orig, exp


def test_correlation_intervals_perfect_agreement() -> None:
    orig, exp = three_algorithms([0.0, 0.3, 0.6], [0.0, 0.2, 0.4])
    out = correlation_intervals(orig, exp, n_boot=200)
    assert out == {
        "kendall_tau": {"value": 1.0, "lo": 1.0, "hi": 1.0},
        "spearman_rho": {"value": 1.0, "lo": 1.0, "hi": 1.0},
    }
    json.dumps(out)


def test_correlation_intervals_uncertain_order() -> None:
    # algorithms 1 and 2 are nearly tied on the expansion (independent noise): the replicates
    # disagree on their order, so the interval of tau spans 1/3 (swapped) to 1 (same order)
    rng = np.random.default_rng(0)
    orig = rng.random((1000, 3)) + np.array([0.0, 0.3, 0.6])
    exp = rng.random((1500, 3)) + np.array([0.0, 0.4, 0.4])
    exp[:, 2] += exp[:, 1].mean() - exp[:, 2].mean() + 1e-4  # 2 above 1 by a hair
    out = correlation_intervals(orig, exp, n_boot=300)
    tau, rho = out["kendall_tau"], out["spearman_rho"]
    assert tau["value"] == pytest.approx(1.0) and rho["value"] == pytest.approx(1.0)
    assert tau["lo"] == pytest.approx(1 / 3) and tau["hi"] == pytest.approx(1.0)
    assert rho["lo"] == pytest.approx(0.5) and rho["hi"] == pytest.approx(1.0)


def test_correlation_intervals_undefined() -> None:
    one = correlation_intervals(users(50)[:, None], users(60)[:, None], n_boot=50)
    assert all(math.isnan(x) for d in one.values() for x in d.values())
    # a side whose algorithms are identical: every replicate ties, so everything is NaN
    same = np.column_stack([users(50)] * 3)
    out = correlation_intervals(same, users(60)[:, None] + [0.0, 0.1, 0.2], n_boot=50)
    assert all(math.isnan(x) for d in out.values() for x in d.values())


def test_correlation_intervals_determinism() -> None:
    rng = np.random.default_rng(3)
    orig = rng.random((200, 4)) + np.array([0.0, 0.02, 0.04, 0.06])
    exp = rng.random((300, 4)) + np.array([0.0, 0.03, 0.01, 0.05])
    a = correlation_intervals(orig, exp, n_boot=200, seed=4)
    assert a == correlation_intervals(orig, exp, n_boot=200, seed=4)
    b = correlation_intervals(orig, exp, n_boot=200, seed=5)
    for name in ("kendall_tau", "spearman_rho"):
        assert a[name]["value"] == b[name]["value"]
        assert a[name]["lo"] < a[name]["value"] < a[name]["hi"]
    assert [(d["lo"], d["hi"]) for d in a.values()] != [(d["lo"], d["hi"]) for d in b.values()]


# --- significance and pairwise agreement ----------------------------------------------------
def test_significant_pairs_clear_and_null() -> None:
    a = users(1000)
    sig = significant_pairs(np.column_stack([a, a + 0.1]), n_boot=300)
    assert sig.dtype == np.int8
    assert sig.tolist() == [[0, -1], [1, 0]]
    # identical columns: every replicate difference is exactly 0
    assert not significant_pairs(np.column_stack([a, a, a]), n_boot=300).any()


def test_significant_pairs_a_small_difference_in_noise_is_not_significant() -> None:
    rng = np.random.default_rng(0)
    values = rng.random((200, 2))
    values[:, 1] = values[:, 0] + rng.normal(0, 0.5, 200) * 1e-3  # mean shift ≈ 0, noisy
    values[:, 1] -= values[:, 1].mean() - values[:, 0].mean()  # exactly equal means
    assert not significant_pairs(values, n_boot=500).any()


@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_significant_pairs_antisymmetric(seed: int, a: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.random((40, a)) + rng.random(a) * 0.3
    sig = significant_pairs(values, n_boot=100, seed=seed)
    assert sig.shape == (a, a)
    np.testing.assert_array_equal(sig, -sig.T)
    assert not np.diag(sig).any()
    assert set(np.unique(sig).tolist()) <= {-1, 0, 1}


def test_pairwise_agreement_by_hand() -> None:
    # original: A < B < C; expansion: A < C < B -> (A,B), (A,C) agree, (B,C) does not
    orig, exp = three_algorithms([0.0, 0.1, 0.2], [0.0, 0.3, 0.2])
    out = pairwise_agreement(orig, exp, n_boot=300)
    assert out["order_original"].tolist() == [[0, -1, -1], [1, 0, -1], [1, 1, 0]]
    assert out["order_expansion"].tolist() == [[0, -1, -1], [1, 0, 1], [1, -1, 0]]
    assert out["agree"].tolist() == [[True, True, True], [True, True, False], [True, False, True]]
    assert out["significant"].tolist() == out["order_original"].tolist()
    assert out["significant_expansion"].tolist() == out["order_expansion"].tolist()
    # significant on both sides with the same sign: (A,B) and (A,C); never the diagonal
    assert out["significant_both"].tolist() == [
        [False, True, True],
        [True, False, False],
        [True, False, False],
    ]
    counts = {k: out[k] for k in ("n_pairs", "n_agree", "n_significant", "n_significant_agree")}
    assert counts == {"n_pairs": 3, "n_agree": 2, "n_significant": 3, "n_significant_agree": 2}
    assert out["n_significant_both"] == 2
    assert out["significant_agreement"] == pytest.approx(2 / 3)
    assert out["all_agreement"] == pytest.approx(2 / 3)
    json.loads(jsonable(out))


def test_pairwise_agreement_ties() -> None:
    # original: A and B identical (a tie, not significant), C above both;
    # expansion: A < B < C. The tie disagrees with the strict order, but it is not significant.
    a = users(1000, 1)
    orig = np.column_stack([a, a, a + 0.1])
    exp = users(1500, 2)[:, None] + np.array([0.0, 0.05, 0.1])
    out = pairwise_agreement(orig, exp, n_boot=300)
    assert out["order_original"][0, 1] == 0 and out["significant"][0, 1] == 0
    assert not out["agree"][0, 1]
    assert (out["n_pairs"], out["n_agree"], out["n_significant"], out["n_significant_agree"]) == (
        3,
        2,
        2,
        2,
    )
    assert out["significant_agreement"] == 1.0
    assert out["all_agreement"] == pytest.approx(2 / 3)
    # a tie on both sides agrees
    both = pairwise_agreement(orig, np.column_stack([a, a, a + 0.1]), n_boot=100)
    assert both["agree"].all() and both["n_agree"] == 3


def test_pairwise_agreement_nothing_significant_and_one_algorithm() -> None:
    a = users(100)
    out = pairwise_agreement(np.column_stack([a, a]), np.column_stack([a, a + 1]), n_boot=100)
    assert out["n_significant"] == 0 and math.isnan(out["significant_agreement"])
    assert out["n_agree"] == 0 and out["all_agreement"] == 0.0
    one = pairwise_agreement(a[:, None], a[:, None], n_boot=50)
    assert one["n_pairs"] == 0 and math.isnan(one["all_agreement"])
    assert one["agree"].shape == (1, 1)


def test_pairwise_agreement_determinism() -> None:
    orig, exp = three_algorithms([0.0, 0.01, 0.02], [0.0, 0.02, 0.01])
    assert jsonable(pairwise_agreement(orig, exp, n_boot=200, seed=1)) == jsonable(
        pairwise_agreement(orig, exp, n_boot=200, seed=1)
    )


def test_different_seeds_give_different_intervals() -> None:
    values = np.column_stack([users(300), users(300, 1)])
    a, b = mean_interval(values, n_boot=200, seed=0), mean_interval(values, n_boot=200, seed=1)
    np.testing.assert_array_equal(a["mean"], b["mean"])
    assert not np.array_equal(a["lo"], b["lo"]) and not np.array_equal(a["hi"], b["hi"])
    np.testing.assert_array_equal(a["lo"], mean_interval(values, n_boot=200, seed=0)["lo"])


# --- popularity ratios ----------------------------------------------------------------------
def test_popularity_ratios() -> None:
    assert popularity_ratios({"popularity": 0.2, "als": 0.5, "knn": 0.1}) == pytest.approx(
        {"popularity": 1.0, "als": 2.5, "knn": 0.5}
    )
    assert popularity_ratios({"pop": 0.4, "als": 0.2}, baseline="pop") == {"pop": 1.0, "als": 0.5}
    for means in ({"popularity": 0.0, "als": 0.5}, {"als": 0.5}, {"popularity": math.nan}):
        assert all(math.isnan(v) for v in popularity_ratios(means).values())


# --- errors ---------------------------------------------------------------------------------
def test_errors() -> None:
    empty = np.zeros((0, 3))
    for call in (
        lambda: bootstrap_means(empty, 10, 0),
        lambda: mean_interval(empty),
        lambda: significant_pairs(empty),
        lambda: correlation_intervals(empty, np.ones((5, 3))),
        lambda: pairwise_agreement(np.ones((5, 3)), empty),
    ):
        with pytest.raises(ValueError, match="no users"):
            call()
    with pytest.raises(ValueError, match="NaN"):
        mean_interval(np.array([[0.1], [np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        mean_interval(np.ones(4))
    with pytest.raises(ValueError, match="same"):
        correlation_intervals(np.ones((5, 3)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="same"):
        pairwise_agreement(np.ones((5, 3)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="level"):
        mean_interval(np.ones((5, 2)), level=1.0)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_means(np.ones((5, 2)), 0, 0)
    with pytest.raises(ValueError, match="seed"):
        bootstrap_means(np.ones((5, 2)), 10, -1)
