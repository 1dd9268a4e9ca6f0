"""Multi-level expansion R̂₁ ⊗rand (R̂₂ ⊗rand R): semantics, determinism, records, CLI.

Inputs: a tiny hand-made split (ratings and timestamps), the embedded ml-latest-small
("default", always present) and ML-100K from ../shared/data (skipped when absent). Output
entries are traced back through both levels to the entry of R they came from.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import daskfractal as dfr
from daskfractal.cli import main
from daskfractal.errors import InputDataError, ParameterError
from daskfractal.expansion import level_seed
from daskfractal.preprocess import SplitData
from daskfractal.store._ownership import MARKER as OWNER_MARKER
from daskfractal.testing import tiny_split

from .conftest import MOVIELENS, movielens_source

preprocess_mod = importlib.import_module("daskfractal.preprocess")  # the function shadows it

QUIET = {"progress": False}


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny() -> SplitData:
    """7 users x 5 items, one test entry per user, ratings and timestamps carried."""
    return tiny_split()


@pytest.fixture(scope="module")
def small() -> SplitData:
    """ml-latest-small (embedded), leave-last-out: 610 x 9724."""
    return dfr.preprocess(dfr.load("default"))


@pytest.fixture(scope="module", params=MOVIELENS)
def ml100k(request: pytest.FixtureRequest) -> SplitData:
    return dfr.preprocess(dfr.load(movielens_source(request.param)))


# ----------------------------------------------------------------------------- helpers
def same_csr(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return a.shape == b.shape and (a != b).nnz == 0


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != OWNER_MARKER  # the marker holds a per-store random id
    }


def valued(split: SplitData, part: str, name: str) -> sp.csr_matrix:
    """R_train / R_test with a carried value (ratings, timestamps) as the stored values."""
    mat = getattr(split, part)
    vals = getattr(split, f"{part}_{name}").astype(np.float64)
    return sp.csr_matrix((vals, mat.indices, mat.indptr), shape=mat.shape)


def kron2(p1: np.ndarray, p2: np.ndarray, mat: sp.csr_matrix) -> sp.csr_matrix:
    return sp.kron(p1, sp.kron(p2, mat, format="csr"), format="csr")


# ============================================================ 1. Kronecker limit, two levels
PATTERNS = [
    (np.ones((2, 3)), np.ones((2, 2))),
    (np.array([[1, 0, 1], [0, 1, 1]]), np.array([[0, 0], [1, 1], [1, 0]])),
    (np.array([[0, 1], [0, 0], [1, 1]]), np.array([[1, 1, 0]])),
]


@pytest.mark.parametrize("dropout", ["bernoulli", "exact"])
@pytest.mark.parametrize(("p1", "p2"), PATTERNS)
def test_kronecker_limit_two_levels(tiny: SplitData, p1: Any, p2: Any, dropout: str) -> None:
    """keep ∈ {0, 1}, no shuffle: binarize(K1) ⊗ (binarize(K2) ⊗ R), empty users dropped."""
    opts = {"shuffle": "none", "dropout": dropout, "timeline": "source"}  # the real times
    inner = dfr.expand(tiny, keep=p2, seed=5, chunk_size=3, **opts)
    outer = dfr.expand(inner, keep=p1, seed=6, chunk_size=4, **opts)
    got = outer.compute()
    # the intermediate: binarize(K2) ⊗ R without its empty users, which keep their slots
    y = inner.to_split(scheduler="sync")
    y_train = sp.kron(p2, tiny.train, format="csr")
    slots = np.flatnonzero(np.diff(y_train.indptr) > 0)
    np.testing.assert_array_equal(y.user_ids, slots)
    assert same_csr(y.train, y_train[slots])
    assert same_csr(y.test, sp.kron(p2, tiny.test, format="csr")[slots])
    k_train = kron2(p1, p2, tiny.train)
    k_test = kron2(p1, p2, tiny.test)
    rows = np.flatnonzero(np.diff(k_train.indptr) > 0)
    assert same_csr(got.train, k_train[rows])
    assert same_csr(got.test, k_test[rows])
    # carried values follow their entries through both levels
    for part in ("train", "test"):
        for name in ("ratings", "timestamps"):
            want = kron2(p1, p2, valued(tiny, part, name))[rows]
            want.sort_indices()
            np.testing.assert_array_equal(getattr(got, f"{part}_{name}"), want.data)


def test_kronecker_limit_real_data(ml100k: SplitData) -> None:
    """All ones, no shuffle, on MovieLens: exactly ones ⊗ (ones ⊗ R), train and test."""
    ones1, ones2 = np.ones((2, 2)), np.ones((1, 2))
    inner = dfr.expand(ml100k, keep=ones2, shuffle="none", seed=3)
    got = dfr.expand(inner, keep=ones1, shuffle="none", seed=4, scheduler="threads").compute(
        scheduler="threads"
    )
    assert same_csr(got.train, kron2(ones1, ones2, ml100k.train))
    assert same_csr(got.test, kron2(ones1, ones2, ml100k.test))
    np.testing.assert_array_equal(got.user_slot, np.arange(2 * ml100k.n_users))


# ================================================================ 2. the lean materialization
def test_to_split_equals_compute_and_chunked_signed(
    small: SplitData, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = dfr.expand(small, factors=(2, 3), seed=9, chunk_size=30_000)
    assert len(ex.tasks()) > 4
    y = ex.to_split(scheduler="threads")
    c = ex.compute()
    assert isinstance(y, SplitData)
    for part in ("train", "test"):
        a, b = getattr(y, part), getattr(c, part)
        assert same_csr(a, b)
        np.testing.assert_array_equal(a.indices, b.indices)
        assert a.data.dtype == np.float32 and a.indices.dtype == np.int32
        assert a.has_canonical_format
        for name in ("ratings", "timestamps"):
            np.testing.assert_array_equal(
                getattr(y, f"{part}_{name}"), getattr(c, f"{part}_{name}")
            )
    np.testing.assert_array_equal(y.user_ids, c.user_slot)
    np.testing.assert_array_equal(y.item_ids, np.arange(ex.n_items))
    assert y.source == small.source
    assert y.params["levels"][0]["output"] == {
        "users": y.n_users,
        "items": y.n_items,
        "train": y.train.nnz,
        "test": y.test.nnz,
    }
    # the signed matrix, merged a chunk of rows at a time, is the whole-matrix merge whatever
    # the chunk: S = train - test, train / test values aligned with it
    s = (y.train - y.test).tocsr()
    s.sort_indices()
    key = np.concatenate(
        [
            np.repeat(np.arange(y.n_users), np.diff(y.train.indptr)) * np.int64(y.n_items)
            + y.train.indices,
            np.repeat(np.arange(y.n_users), np.diff(y.test.indptr)) * np.int64(y.n_items)
            + y.test.indices,
        ]
    )
    order = np.argsort(key, kind="stable")
    for chunk in (2**22, 997):
        monkeypatch.setattr(preprocess_mod, "SIGNED_MERGE_CHUNK", chunk)
        got = y.signed()
        np.testing.assert_array_equal(got.indptr, s.indptr)
        np.testing.assert_array_equal(got.indices, s.indices)
        np.testing.assert_array_equal(got.sign, s.data.astype(np.int8))
        assert got.indices.dtype == np.int32 and got.sign.dtype == np.int8
        for name in ("ratings", "timestamps"):
            both = np.concatenate([getattr(y, f"train_{name}"), getattr(y, f"test_{name}")])
            np.testing.assert_array_equal(getattr(got, name), both[order])


def test_composable_form_equals_convenience(small: SplitData) -> None:
    """expand(expand(R, seed=s2), seed=s1) with the level seeds is the inner_factors chain."""
    seed = 21
    chain = dfr.expand(small, factors=(2, 3), inner_factors=[(2, 2)], seed=seed, chunk_size=50_000)
    inner = dfr.expand(small, factors=(2, 2), seed=level_seed(seed, 2))
    comp = dfr.expand(inner, factors=(2, 3), seed=level_seed(seed, 1), chunk_size=50_000)
    a, b = chain.compute(), comp.compute()
    assert same_csr(a.train, b.train) and same_csr(a.test, b.test)
    np.testing.assert_array_equal(a.user_slot, b.user_slot)
    assert chain.meta["levels"] == comp.meta["levels"]
    assert chain.meta["input_sha256"] == comp.meta["input_sha256"]
    assert chain.meta["chain_seed"] == seed and "chain_seed" not in comp.meta
    # the record: outermost first, the original's source and pre-processing
    lv = chain.params["levels"]
    assert [r["level"] for r in lv] == [1, 2]
    assert [r["factors"] for r in lv] == [[2, 3], [2, 2]]
    assert [r["seed"] for r in lv] == [level_seed(seed, 1), level_seed(seed, 2)]
    assert chain.params["seed"] == level_seed(seed, 1)
    assert chain.params["source"] == small.source
    assert chain.params["preprocess"] == small.params
    assert lv[1]["input_shape"] == list(small.shape)
    assert lv[0]["input_shape"] == [lv[1]["output"]["users"], lv[1]["output"]["items"]]
    assert lv[0]["input_sha256"] == chain.params["input_sha256"]
    # levels are independent streams
    assert len({level_seed(seed, k) for k in range(1, 6)} | {seed}) == 6


# ================================================== 3. semantics: disjoint, traced, sized
def test_entries_trace_back_through_both_levels(small: SplitData) -> None:
    """shuffle none: every output entry is an entry of R of the same kind, values carried."""
    m, n = small.shape
    inner = dfr.expand(small, factors=(2, 2), shuffle="none", seed=2)
    y = inner.to_split()
    outer = dfr.expand(y, factors=(3, 2), shuffle="none", seed=3)
    got = outer.compute()
    my, ny = y.shape
    keys = {
        part: np.repeat(np.arange(m), np.diff(getattr(small, part).indptr)) * np.int64(n)
        + getattr(small, part).indices
        for part in ("train", "test")
    }
    out_keys = {}
    for part in ("train", "test"):
        mat = getattr(got, part)
        users = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
        slot1 = got.user_slot[users]
        t, c = slot1 % my, mat.indices.astype(np.int64) % ny
        slot2 = y.user_ids[t]
        r, c0 = slot2 % m, c % n
        k = r * np.int64(n) + c0
        pos = np.searchsorted(keys[part], k)
        assert np.all(pos < len(keys[part])) and np.array_equal(keys[part][pos], k), part
        np.testing.assert_array_equal(
            getattr(got, f"{part}_ratings"), getattr(small, f"{part}_ratings")[pos]
        )
        out_keys[part] = users * np.int64(got.train.shape[1]) + mat.indices
    assert np.intersect1d(out_keys["train"], out_keys["test"]).size == 0
    assert got.test.nnz > 0


def _band(keep: np.ndarray, nnz: int) -> tuple[float, float]:
    """Mean and standard deviation of the kept count of ``nnz`` entries in every block."""
    return float(keep.sum()) * nnz, float(np.sqrt((keep * (1 - keep)).sum() * nnz))


def test_sizes_inside_binomial_bands(small: SplitData) -> None:
    ex = dfr.expand(small, factors=(3, 4), inner_factors=[(2, 3)], seed=8)
    lv = ex.meta["levels"]
    keep1 = np.asarray(lv[0]["reduced"]["keep"])
    keep2 = np.asarray(lv[1]["reduced"]["keep"])
    inter = lv[1]["output"]
    # inner level: every train entry survives (its user has train), test may lose a few
    mean, sd = _band(keep2, small.train.nnz)
    assert abs(inter["train"] - mean) <= 6 * sd
    mean_t, sd_t = _band(keep2, small.test.nnz)
    assert 0.8 * mean_t <= inter["test"] <= mean_t + 6 * sd_t
    assert ex.meta["input_train"] == inter["train"]
    c = ex.count(scheduler="threads")
    mean, sd = _band(keep1, inter["train"])
    assert abs(c["train"] - mean) <= 6 * sd
    mean_t, sd_t = _band(keep1, inter["test"])
    assert 0.8 * mean_t <= c["test"] <= mean_t + 6 * sd_t
    # sizes compose: about Σkeep₁ · Σkeep₂ · nnz(R_train)
    assert c["train"] == pytest.approx(keep1.sum() * keep2.sum() * small.train.nnz, rel=0.03)
    assert ex.n_items == 4 * 3 * small.n_items
    assert c["users"] <= 3 * 2 * small.n_users


def test_test_policy_one_and_target_through_levels(small: SplitData) -> None:
    ex = dfr.expand(small, factors=(2, 2), inner_factors=[(2, 1)], test_policy="one", seed=4)
    got = ex.compute()
    assert np.all(np.diff(got.test.indptr) == 1)
    target = 1.5e6
    # max_factor bounds the SVD of the search (the outer R̂ only: not an inner-level option)
    ex = dfr.expand(small, target_interactions=target, inner_factors=[(2, 2)], seed=4, max_factor=8)
    assert ex.expected()["train"] == pytest.approx(target, rel=1e-9)
    assert len(ex.meta["levels"]) == 2


# ============================================================ 4. determinism, stores, validate
def test_same_seed_same_store_other_seed_other_store(tmp_path: Path) -> None:
    opts = {"factors": (2, 3), "inner_factors": [(2, 2)]}
    dfr.expand("default", seed=1, **opts).to_zarr(tmp_path / "a", scheduler="sync", **QUIET)
    dfr.expand("default", seed=1, chunk_size=20_000, scheduler="threads", **opts).to_zarr(
        tmp_path / "b", scheduler="threads", **QUIET
    )
    dfr.expand("default", seed=2, **opts).to_zarr(tmp_path / "c", scheduler="sync", **QUIET)
    a, b, c = (tree_bytes(tmp_path / x) for x in "abc")
    # the chunk size is not recorded: identical bytes
    assert sorted(a) == sorted(b) and len(a) > 10
    assert [k for k in a if a[k] != b[k]] == []
    assert a["train/indices/c/0"] != c["train/indices/c/0"]
    params = json.loads(a["zarr.json"])["attributes"]["daskfractal"]["params"]
    assert params["chain_seed"] == 1 and params["seed"] == level_seed(1, 1)
    assert [lv["factors"] for lv in params["levels"]] == [[2, 3], [2, 2]]
    assert params["source"].endswith("ratings.csv.zst")


def test_validate_rebuilds_the_intermediate(tmp_path: Path, small: SplitData) -> None:
    inner = dfr.expand(small, factors=(2, 2), seed=1)
    y = inner.to_split()
    store = dfr.expand(inner, factors=(2, 2), seed=2).to_zarr(tmp_path / "s", **QUIET)
    opts = {"k": 4, "progress": False, "figures": False, "scheduler": "threads"}
    rep = dfr.validate(store, **opts)  # reloads the recorded source "default"
    orig = rep.numbers["original"]
    assert orig["available"] and orig["sha256_matches"] and orig["rebuilt_levels"] == 1
    assert (orig["n_users"], orig["n_items"], orig["nnz_train"]) == (
        y.n_users,
        y.n_items,
        y.train.nnz,
    )
    # the intermediate itself, or the original pre-processed data, are both accepted
    rep = dfr.validate(store, original=y, **opts)
    assert rep.numbers["original"]["sha256_matches"]
    assert "rebuilt_levels" not in rep.numbers["original"]
    rep = dfr.validate(store, original=small, **opts)
    assert rep.numbers["original"]["rebuilt_levels"] == 1
    with pytest.raises(InputDataError, match="neither the input"):
        dfr.validate(store, original=tiny_split(), **opts)


# ======================================================================== 5. CLI, errors
def test_cli_inner_factors_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "cli.zarr"
    argv = ["expand", "default", "--factors", "2", "3", "--inner-factors", "2", "1"]
    argv += ["--inner-factors", "1", "2", "--seed", "5", "--out", str(out)]
    assert main([*argv, "--local", "sync", "--quiet"]) == 0
    store = dfr.open(out)
    ex = dfr.expand("default", factors=(2, 3), inner_factors=[(2, 1), (1, 2)], seed=5)
    want = ex.compute()
    assert same_csr(store.to_scipy("train", values="ones"), want.train)
    assert same_csr(store.to_scipy("test", values="ones"), want.test)
    np.testing.assert_array_equal(store.user_slots(), want.user_slot)
    params = store.attrs["params"]
    assert params["levels"] == json.loads(json.dumps(ex.params["levels"]))
    assert [lv["factors"] for lv in params["levels"]] == [[2, 3], [2, 1], [1, 2]]
    assert params["chain_seed"] == 5


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["--inner-factors", "0", "2"], "--inner-factors 0 2: m' must be an integer >= 1, got 0"),
        (
            ["--inner-factors", "5000", "5000"],
            "inner level 2 (factors (5000, 5000), input 610 x 9724)",
        ),
        (["--inner-factors", "2", "2", "--reduced", "x"], None),
        (["--inner-factors", "2"], None),
        (["--inner-factors", "2", "two"], None),
    ],
)
def test_cli_bad_inner_factors(
    tmp_path: Path, capsys: pytest.CaptureFixture, bad: list[str], message: str | None
) -> None:
    argv = ["expand", "default", "--factors", "2", "2", "--out", str(tmp_path / "x")]
    if message is None:  # argparse: exit code 2 as well
        with pytest.raises(SystemExit) as e:
            main([*argv, "--local", "sync", *bad])
        assert e.value.code == 2
    else:
        assert main([*argv, *bad, "--local", "sync", "--quiet"]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"inner_factors": []},
        {"inner_factors": (2, 2)},
        {"inner_factors": "2x2"},
        {"inner_factors": [(2,)]},
        {"inner_factors": [(2, 2, 2)]},
        {"inner_factors": [(0, 1)]},
        {"inner_factors": [(2.5, 2)]},
        {"inner_factors": [(True, 2)]},
        {"inner_factors": [(2, 2)], "shuffle": "nope"},
        {"inner_factors": [(700, 700)]},
    ],
)
def test_bad_parameters_raise_parameter_error(small: SplitData, kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        dfr.expand(small, factors=(2, 2), **kwargs)


def test_reduced_cannot_go_with_inner_factors(small: SplitData) -> None:
    red = dfr.reduce(small, (2, 2))
    with pytest.raises(ParameterError, match="reduced= cannot go with inner_factors"):
        dfr.expand(small, reduced=red, inner_factors=[(2, 2)])


def test_size_controls_apply_to_the_outermost_level_only(small: SplitData) -> None:
    """scale sizes the whole output once; the R̂ shape options reach every level."""
    opts = {"factors": (2, 2), "inner_factors": [(2, 2)], "resize": "legacy", "seed": 3}
    ex = dfr.expand(small, scale=0.5, dropout="balanced", **opts)
    outer, inner = (lv["reduced"]["params"] for lv in ex.meta["levels"])
    assert (outer["scale"], inner["scale"]) == (0.5, 1.0)
    assert outer["resize"] == inner["resize"] == "legacy"
    full = dfr.expand(small, dropout="balanced", **opts)
    np.testing.assert_allclose(ex.keep, 0.5 * full.keep)
    # the default (auto) keeps the size asked for at the outer level (balanced there) and
    # takes joint for the inner one
    auto = dfr.expand(small, scale=0.5, **opts)
    assert [lv["dropout"] for lv in auto.meta["levels"]] == ["balanced", "joint"]


@pytest.mark.distributed
def test_chain_on_a_local_cluster_equals_sync(tmp_path: Path) -> None:
    """Inner levels computed on worker processes, outer level written there: same bytes."""
    from daskfractal._dask import cluster_client

    opts = {"factors": (2, 3), "inner_factors": [(2, 2)], "seed": 6}
    dfr.expand("default", scheduler="sync", **opts).to_zarr(
        tmp_path / "sync", scheduler="sync", **QUIET
    )
    with cluster_client(workers=2, threads=1) as client:
        ex = dfr.expand("default", scheduler=client, chunk_size=40_000, **opts)
        ex.to_zarr(tmp_path / "cluster", scheduler=client, **QUIET)
    a, b = tree_bytes(tmp_path / "sync"), tree_bytes(tmp_path / "cluster")
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
