"""Tests of daskfractal.reduce: the reduced matrix R̂ (Belletti et al., Algorithm 3)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daskfractal as dfr
from daskfractal.errors import InputDataError, ParameterError
from daskfractal.reduction import (
    RESIZE_MODES,
    Reduced,
    _svd,
    candidate_factors,
    expected_interactions,
    reduce,
    solve_factors,
)
from daskfractal.testing import random_binary

from .conftest import MOVIELENS, movielens_source


def top_singular_values(mat: sp.csr_array, k: int) -> np.ndarray:
    return np.linalg.svd(mat.toarray(), compute_uv=False)[:k]


def assert_orthonormal(u: np.ndarray, v: np.ndarray) -> None:
    k = u.shape[1]
    np.testing.assert_allclose(u.T @ u, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(v @ v.T, np.eye(k), atol=1e-12)


@pytest.fixture(scope="module")
def small() -> sp.csr_array:
    return random_binary(60, 90, 0.1, 1)


@pytest.fixture(scope="module", params=MOVIELENS)
def ml100k(request: pytest.FixtureRequest) -> sp.csr_array:
    """All interactions of a MovieLens set, binarized (no split): ml-latest-small, ML-100K."""
    data = dfr.load(movielens_source(request.param))
    shape = (data.n_users, data.n_items)
    mat = sp.csr_array((np.ones(data.nnz), (data.users, data.items)), shape=shape)
    mat.data[:] = 1.0  # binarize (neither set has duplicates, but be explicit)
    return mat


@pytest.fixture(scope="module")
def ml100k_spectrum(ml100k: sp.csr_array) -> np.ndarray:
    return top_singular_values(ml100k, 32)


# --------------------------------------------------------------------------------------------
# SVD helper
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "k", "method"),
    [
        ((40, 70), 5, "arpack"),
        ((70, 40), 12, "arpack"),
        ((30, 50), 29, "dense"),
        ((9, 6), 6, "dense"),
    ],
)
def test_svd_matches_dense_and_pairs_triplets(shape, k, method):
    mat = random_binary(*shape, 0.15, 7)
    u, s, vt, used = _svd(mat, k, seed=3)
    assert used == method
    assert u.shape == (shape[0], k) and s.shape == (k,) and vt.shape == (k, shape[1])
    assert np.all(np.diff(s) <= 0), "descending"
    np.testing.assert_allclose(s, top_singular_values(mat, k), rtol=1e-10)
    # pairing: R v_i = σ_i u_i and Rᵀ u_i = σ_i v_i, for every i
    np.testing.assert_allclose(mat @ vt.T, u * s, atol=1e-10 * s[0])
    np.testing.assert_allclose((mat.T @ u).T, vt * s[:, None], atol=1e-10 * s[0])
    assert_orthonormal(u, vt)


def test_svd_pairing_ml100k(ml100k, ml100k_spectrum):
    u, s, vt, used = _svd(ml100k, 16, seed=0)
    assert used == "arpack"
    assert np.all(np.diff(s) < 0)
    np.testing.assert_allclose(s, ml100k_spectrum[:16], rtol=1e-10)
    np.testing.assert_allclose(ml100k @ vt.T, u * s, atol=1e-10 * s[0])


# --------------------------------------------------------------------------------------------
# spectrum invariant
# --------------------------------------------------------------------------------------------


@st.composite
def problems(draw):
    m = draw(st.integers(2, 30))
    n = draw(st.integers(2, 30))
    density = draw(st.floats(0.02, 0.6))
    seed = draw(st.integers(0, 2**31 - 1))
    mp = draw(st.integers(1, m))
    np_ = draw(st.integers(1, n))
    resize = draw(st.sampled_from(sorted(RESIZE_MODES)))
    rescale = draw(st.sampled_from(["abs-max", "minmax"]))
    return random_binary(m, n, density, seed), (mp, np_), resize, rescale


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_spectrum_invariant_random(problem):
    mat, factors, resize, rescale = problem
    k = min(factors)
    s_all = np.linalg.svd(mat.toarray(), compute_uv=False)
    rank = np.linalg.matrix_rank(mat.toarray())
    if k > rank:
        with pytest.raises(ParameterError, match="rank"):
            reduce(mat, factors, resize=resize, rescale=rescale)
        return
    try:
        red = reduce(mat, factors, resize=resize, rescale=rescale)
    except ParameterError as exc:
        # the two documented data-dependent refusals
        msg = str(exc)
        assert "rank deficient" in msg or (rescale == "minmax" and "constant" in msg), msg
        return
    assert red.raw.shape == red.keep.shape == factors
    s_raw = np.linalg.svd(red.raw, compute_uv=False)[:k]
    np.testing.assert_allclose(s_raw, s_all[:k], rtol=1e-8, atol=1e-8 * s_all[0])
    np.testing.assert_allclose(red.singular_values, s_all[:k], rtol=1e-8, atol=1e-8 * s_all[0])
    assert_orthonormal(red.u, red.v)
    assert red.keep.min() >= 0.0 and red.keep.max() == 1.0
    if rescale == "minmax":
        assert red.keep.min() == 0.0


@pytest.mark.parametrize("resize", sorted(RESIZE_MODES))
@pytest.mark.parametrize("factors", [(16, 32), (4, 8)])
def test_spectrum_invariant_ml100k(ml100k, ml100k_spectrum, factors, resize):
    red = reduce(ml100k, factors, resize=resize)
    k = min(factors)
    np.testing.assert_allclose(red.singular_values, ml100k_spectrum[:k], rtol=1e-8)
    np.testing.assert_allclose(
        np.linalg.svd(red.raw, compute_uv=False)[:k], ml100k_spectrum[:k], rtol=1e-8
    )
    # rank exactly k: the remaining singular values of R̂_raw vanish
    assert np.linalg.matrix_rank(red.raw) == k
    assert_orthonormal(red.u, red.v)
    assert red.u.shape == (factors[0], k) and red.v.shape == (k, factors[1])
    assert red.keep.min() >= 0.0 and red.keep.max() == 1.0
    assert red.params["resize"] == resize and red.params["svd"] == "arpack"


def test_legacy_and_antialias_differ(ml100k):
    a = reduce(ml100k, (16, 32), resize="antialias")
    b = reduce(ml100k, (16, 32), resize="legacy")
    np.testing.assert_array_equal(a.singular_values, b.singular_values)
    assert np.abs(a.keep - b.keep).max() > 1e-2
    ea, eb = a.expected_interactions(), b.expected_interactions()
    assert ea["train"] != eb["train"]
    assert ea["users"] == 16 * ml100k.shape[0] and ea["items"] == 32 * ml100k.shape[1]


def test_no_resize_reproduces_train():
    """factors == shape: nothing is resized, Ũ = U, Ṽ = V, so R̂_raw = R (full rank)."""
    mat = random_binary(7, 11, 0.3, 5)
    assert np.linalg.matrix_rank(mat.toarray()) == 7
    red = reduce(mat, (7, 11))
    assert red.params["svd"] == "dense"
    np.testing.assert_allclose(red.raw, mat.toarray(), atol=1e-12)


# --------------------------------------------------------------------------------------------
# determinism, sign ambiguity, rescale, clip, scale
# --------------------------------------------------------------------------------------------


def test_deterministic(small):
    a = reduce(small, (8, 16), seed=5)
    b = reduce(small, (8, 16), seed=5)
    assert a.keep.tobytes() == b.keep.tobytes()
    assert a.raw.tobytes() == b.raw.tobytes()
    assert a.params == b.params and a.params["seed"] == 5
    # the seed only moves ARPACK's start vector: the result agrees to rounding
    c = reduce(small, (8, 16), seed=6)
    np.testing.assert_allclose(c.keep, a.keep, atol=1e-9)


@pytest.mark.parametrize("resize", sorted(RESIZE_MODES))
def test_sign_flip_invariance(small, resize):
    u, s, vt, _ = _svd(small, 10, seed=0)
    base = reduce(small, (10, 20), resize=resize, svd=(u, s, vt))
    assert base.keep.tobytes() == reduce(small, (10, 20), resize=resize).keep.tobytes()
    assert base.params["svd"] == "precomputed"
    rng = np.random.default_rng(0)
    for _ in range(3):
        d = rng.choice([-1.0, 1.0], size=10)
        flipped = reduce(small, (10, 20), resize=resize, svd=(u * d, s, vt * d[:, None]))
        np.testing.assert_allclose(flipped.raw, base.raw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(flipped.keep, base.keep, rtol=1e-12, atol=1e-12)


def test_larger_precomputed_svd_is_truncated(small):
    """Top-k of a larger truncated SVD are the top-k: same R̂."""
    big = _svd(small, 20, seed=0)[:3]
    a = reduce(small, (8, 16), svd=big)
    b = reduce(small, (8, 16))
    np.testing.assert_allclose(a.keep, b.keep, atol=1e-10)


def test_rescale_modes(small):
    a = reduce(small, (6, 12), rescale="abs-max")
    np.testing.assert_array_equal(a.keep, np.abs(a.raw) / np.abs(a.raw).max())
    assert a.keep.max() == 1.0 and a.keep.min() >= 0.0
    b = reduce(small, (6, 12), rescale="minmax")
    assert b.keep.min() == 0.0 and b.keep.max() == 1.0
    np.testing.assert_allclose(b.keep, (b.raw - b.raw.min()) / np.ptp(b.raw))
    np.testing.assert_array_equal(a.raw, b.raw)


def test_clip_and_scale(small):
    base = reduce(small, (6, 12)).keep
    clipped = reduce(small, (6, 12), clip=(0.1, 0.5)).keep
    np.testing.assert_array_equal(clipped, np.clip(base, 0.1, 0.5))
    scaled = reduce(small, (6, 12), scale=0.25)
    np.testing.assert_array_equal(scaled.keep, base * 0.25)
    assert scaled.keep.max() == 0.25
    both = reduce(small, (6, 12), clip=(0.2, 0.9), scale=0.5)
    np.testing.assert_array_equal(both.keep, np.clip(base, 0.2, 0.9) * 0.5)
    assert both.params["clip"] == [0.2, 0.9] and both.params["scale"] == 0.5


# --------------------------------------------------------------------------------------------
# expected interactions, serialization, input forms
# --------------------------------------------------------------------------------------------


def test_expected_interactions_arithmetic():
    keep = np.array([[1.0, 0.5, 0.25], [0.0, 0.125, 0.125]])
    e = expected_interactions(keep, 1000, 10)
    assert e == {"train": 2000.0, "test": 20.0, "keep_sum": 2.0, "blocks": 6}
    e = expected_interactions(keep, 1000, train_shape=(7, 9))
    assert e["test"] == 0.0 and e["users"] == 14 and e["items"] == 27
    with pytest.raises(ParameterError, match="train_nnz"):
        expected_interactions(keep, -1)
    with pytest.raises(ParameterError, match="test_nnz"):
        expected_interactions(keep, 1, 2.5)
    with pytest.raises(ParameterError, match="keep"):
        expected_interactions(keep * 2, 1)


def test_reduced_expected_and_dict(small):
    red = reduce(small, (5, 10), scale=0.5)
    e = red.expected_interactions(test_nnz=60)
    assert e["train"] == pytest.approx(red.keep.sum() * small.nnz, rel=1e-15)
    assert e["test"] == pytest.approx(red.keep.sum() * 60, rel=1e-15)
    assert e["users"] == 5 * 60 and e["items"] == 10 * 90
    assert red.expected_interactions(200)["train"] == pytest.approx(red.keep.sum() * 200)
    d = json.loads(json.dumps(red.to_dict()))
    back = Reduced.from_dict(d)
    np.testing.assert_array_equal(back.keep, red.keep)
    np.testing.assert_array_equal(back.u, red.u)
    assert back.params == red.params and back.factors == (5, 10)
    assert set(red.params) >= {"resize", "rescale", "clip", "scale", "seed", "svd", "factors"}


def test_reduced_is_frozen(small):
    red = reduce(small, (3, 4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        red.keep = None  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        red.keep[0, 0] = 0.5


def test_input_forms(small):
    ref = reduce(small, (4, 6)).keep
    for form in (sp.coo_matrix(small), sp.csc_array(small), sp.lil_matrix(small)):
        assert reduce(form, (4, 6)).keep.tobytes() == ref.tobytes()
    assert reduce(SimpleNamespace(train=small), (4, 6)).keep.tobytes() == ref.tobytes()
    ints = sp.csr_matrix(small.toarray().astype(np.int8))
    assert reduce(ints, (4, 6)).keep.tobytes() == ref.tobytes()


# --------------------------------------------------------------------------------------------
# solver
# --------------------------------------------------------------------------------------------


def test_candidate_factors():
    c = candidate_factors((943, 1682))
    assert c[:12] == [(i, 2 * i) for i in (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16)]
    assert c[-1] == (841, 1682)
    assert all(a[0] < b[0] and a[1] <= b[1] for a, b in itertools.pairwise(c))
    c = candidate_factors((943, 1682), aspect=1.5, max_factor=100)
    assert c[-1] == (66, 99)
    assert all(mp <= 100 and np_ <= 100 and np_ == math.floor(1.5 * mp + 0.5) for mp, np_ in c)
    assert candidate_factors((3, 1), aspect=2.0) == []


@pytest.mark.parametrize("target", [5e3, 4e4, 2e5])
def test_solver_hits_target_with_minimal_factors(small, target):
    red = solve_factors(small, target, test_nnz=40)
    e = red.expected_interactions()
    assert abs(e["train"] - target) <= 1e-9 * target
    assert e["test"] == pytest.approx(red.keep.sum() * 40)
    assert 0 < red.params["scale"] <= 1
    cands = candidate_factors(small.shape)
    i = red.params["candidate_index"]
    assert cands[i] == red.factors
    # same R̂ as reduce() with the solved factors and scale
    direct = reduce(small, red.factors, scale=red.params["scale"])
    np.testing.assert_allclose(red.keep, direct.keep, atol=1e-10)
    # minimal: the previous candidate does not reach the target at scale 1
    if i > 0:
        prev = reduce(small, cands[i - 1])
        assert prev.expected_interactions()["train"] < target
    else:
        assert red.factors == (1, 2)


def test_solver_ml100k(ml100k):
    red = solve_factors(ml100k, 1.0e8, max_factor=200)
    assert abs(red.expected_interactions()["train"] - 1e8) <= 1e-9 * 1e8
    i = red.params["candidate_index"]
    prev = candidate_factors(ml100k.shape, max_factor=200)[i - 1]
    assert reduce(ml100k, prev).expected_interactions()["train"] < 1e8


def test_solver_errors(small):
    with pytest.raises(ParameterError, match="target_interactions"):
        solve_factors(small, 0)
    with pytest.raises(ParameterError, match="target_interactions"):
        solve_factors(small, -5.0)
    with pytest.raises(ParameterError, match="target_interactions"):
        solve_factors(small, float("nan"))
    with pytest.raises(ParameterError, match="unreachable"):
        solve_factors(small, 1e12)
    with pytest.raises(ParameterError, match="unreachable"):
        solve_factors(small, 1e6, max_factor=4)
    with pytest.raises(ParameterError, match="aspect"):
        solve_factors(small, 1e4, aspect=0)
    with pytest.raises(ParameterError, match="max_factor"):
        solve_factors(small, 1e4, max_factor=0)
    with pytest.raises(ParameterError, match="test_nnz"):
        solve_factors(small, 1e4, test_nnz=-1)


# --------------------------------------------------------------------------------------------
# parameter validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"factors": (4,)}, "factors"),
        ({"factors": (4, 5, 6)}, "factors"),
        ({"factors": (4.0, 8)}, "factors"),
        ({"factors": (True, 8)}, "factors"),
        ({"factors": "ab"}, "factors"),
        ({"factors": 4}, "factors"),
        ({"factors": (0, 8)}, "factors"),
        ({"factors": (4, -1)}, "factors"),
        ({"resize": "bicubic"}, r"resize='bicubic' is not one of \['antialias', 'legacy'\]"),
        ({"rescale": "max"}, "rescale='max'"),
        ({"clip": (0.5, 0.2)}, "clip"),
        ({"clip": (-0.1, 0.5)}, "clip"),
        ({"clip": (0.0, 1.5)}, "clip"),
        ({"clip": "ab"}, "clip"),
        ({"clip": (0.1,)}, "clip"),
        ({"scale": 0.0}, "scale"),
        ({"scale": 1.5}, "scale"),
        ({"scale": float("nan")}, "scale"),
        ({"scale": True}, "scale"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"svd": (np.ones((60, 2)), np.ones(2), np.ones((2, 90)))}, "svd"),
        ({"svd": (np.ones((60, 4)), np.arange(4.0), np.ones((4, 90)))}, "svd"),
        ({"svd": 3}, "svd"),
    ],
)
def test_bad_parameters(small, kwargs, name):
    kwargs = {"factors": (4, 8), **kwargs}
    factors = kwargs.pop("factors")
    with pytest.raises(ParameterError, match=name):
        reduce(small, factors, **kwargs)


@pytest.mark.parametrize("resize", sorted(RESIZE_MODES))
@pytest.mark.parametrize("factors", [(4, 200), (75, 3)])
def test_factors_above_the_axis_stretch(small, factors, resize):
    # Meta's ML-18B: 36,864 item blocks of MovieLens-20M's 26,744 items — U / V stretched by
    # bilinear interpolation; the spectrum is still exactly R_train's top k
    red = reduce(small, factors, resize=resize)
    k = min(factors)
    spectrum = np.linalg.svd(small.toarray(), compute_uv=False)
    np.testing.assert_allclose(red.singular_values, spectrum[:k], rtol=1e-8)
    np.testing.assert_allclose(
        np.linalg.svd(red.raw, compute_uv=False)[:k], spectrum[:k], rtol=1e-8
    )
    assert red.keep.shape == factors and red.keep.max() == 1.0 and red.keep.min() >= 0.0
    assert_orthonormal(red.u, red.v)
    # interpolation, not repetition: a stretched axis changes smoothly between neighbours
    axis = 1 if factors[1] > small.shape[1] else 0
    stretched = red.v if axis else red.u.T
    assert np.unique(np.round(stretched, 12), axis=1).shape[1] > small.shape[axis]


def test_factors_beyond_rank():
    # rank 3 with no empty rows/columns: caught from the computed spectrum
    rng = np.random.default_rng(0)
    patterns = (rng.random((3, 12)) < 0.5).astype(float)
    patterns[:, :3] = np.eye(3)
    a = patterns[rng.permutation(np.arange(10) % 3)]
    mat = sp.csr_array(a)
    assert reduce(mat, (3, 6)).k == 3
    for factors in [(4, 6), (5, 12)]:  # arpack and dense paths
        with pytest.raises(ParameterError, match=r"factors.*numerical rank 3"):
            reduce(mat, factors)
    # empty rows/columns bound the rank before any SVD
    b = sp.csr_array(np.pad(np.eye(3), ((0, 7), (0, 9))))
    with pytest.raises(ParameterError, match=r"factors.*exceeds the rank of train \(at most 3"):
        reduce(b, (4, 4))


def test_bad_inputs():
    with pytest.raises(InputDataError, match="no non-zeros"):
        reduce(sp.csr_array((5, 6)), (2, 2))
    with pytest.raises(InputDataError, match="no non-zeros"):
        reduce(sp.csr_array(([0.0, 0.0], ([0, 1], [0, 1])), shape=(5, 6)), (2, 2))
    with pytest.raises(InputDataError, match="sparse"):
        reduce(np.ones((5, 6)), (2, 2))
    with pytest.raises(InputDataError, match="sparse"):
        reduce(SimpleNamespace(train=np.ones((5, 6))), (2, 2))
    with pytest.raises(InputDataError, match="non-finite"):
        reduce(sp.csr_array(np.array([[1.0, np.nan], [1.0, 0.0]])), (1, 1))


@pytest.mark.parametrize(
    ("n", "k", "rows"),
    [(943, 16, 16), (1682, 16, 32), (100, 4, 7), (50, 3, 49), (20, 2, 3), (5, 2, 2), (3, 1, 2)],
)
def test_fast_antialias_resize_equals_scikit_image(n, k, rows):
    """The fast path computes only the filtered rows the sampling reads: same numbers."""
    from skimage.transform import resize

    from daskfractal.reduction import RESIZE_MODES, _resize

    a = np.random.default_rng(n).standard_normal((n, k))
    ref = resize(a, (rows, k), **RESIZE_MODES["antialias"])
    np.testing.assert_allclose(_resize(a, (rows, k), "antialias"), ref, rtol=0, atol=1e-12)
    ref_t = resize(a.T, (k, rows), **RESIZE_MODES["antialias"])
    np.testing.assert_allclose(_resize(a.T, (k, rows), "antialias"), ref_t, rtol=0, atol=1e-12)
