"""The privacy defence: randomized response on R_train before the expansion.

The kernel equals its NumPy specification bit for bit; the kept and added counts fall in the
binomial bands of ``p = e^ε / (1 + e^ε)`` and ``q = 1 / (1 + e^ε)``; the same seed gives the
same bytes whatever the chunking; the store records ε; and the privacy audit's linkage drops
as ε tightens.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import daskfractal as dfr
from daskfractal.cli import main
from daskfractal.errors import ParameterError
from daskfractal.expansion import respond_split
from daskfractal.kernels import randomized_response_csr, response_rates
from daskfractal.kernels.reference_response import randomized_response
from daskfractal.testing import fat_tailed_interactions, write_movielens_udata


def _sparse(m: int, n: int, density: float, seed: int) -> sp.csr_matrix:
    x = sp.random(m, n, density=density, format="csr", random_state=seed)
    x.data[:] = 1.0
    x.sort_indices()
    return x


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 12),
    n=st.integers(1, 60),
    density=st.floats(0.0, 0.6),
    eps=st.floats(0.05, 12.0),
    seed=st.integers(0, 2**64 - 1),
)
def test_kernel_matches_reference(m: int, n: int, density: float, eps: float, seed: int) -> None:
    x = _sparse(m, n, density, seed % 1000)
    t = _sparse(m, n, density / 4, seed % 997 + 1)
    t = (t - t.multiply(x)).tocsr()
    t.eliminate_zeros()
    t.sort_indices()
    a = randomized_response_csr(x.indptr, x.indices, n, eps, seed, (t.indptr, t.indices))
    b = randomized_response(x.indptr, x.indices, n, eps, seed, (t.indptr, t.indices))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    out = sp.csr_matrix((np.ones(a[1].size), a[1], a[0]), shape=(m, n))
    assert out.multiply(t).nnz == 0  # test cells are never reported
    assert all(np.all(np.diff(a[1][a[0][r] : a[0][r + 1]]) > 0) for r in range(m))


@pytest.mark.parametrize("eps", [0.5, 2.0, 5.0, 9.0])
def test_flip_rates_match_the_formula(eps: float) -> None:
    m, n = 3000, 400
    x = _sparse(m, n, 0.05, 1)
    ptr, idx = randomized_response_csr(x.indptr, x.indices, n, eps, 42)
    out = sp.csr_matrix((np.ones(idx.size), idx, ptr), shape=(m, n))
    p, q = response_rates(eps)
    assert p == pytest.approx(math.exp(eps) / (1 + math.exp(eps)))
    assert p / q == pytest.approx(math.exp(eps))
    kept = int(out.multiply(x).nnz)
    added = int(out.nnz - kept)
    absent = m * n - x.nnz
    # binomial bands, 5 standard deviations
    assert abs(kept - x.nnz * p) <= 5 * math.sqrt(x.nnz * p * (1 - p)) + 1
    assert abs(added - absent * q) <= 5 * math.sqrt(absent * q * (1 - q)) + 1
    # added cells are uniform over the items: no column far from its binomial mean
    col = np.asarray((out - out.multiply(x)).sum(axis=0)).ravel()
    free = m - np.asarray(x.sum(axis=0)).ravel()
    assert np.all(np.abs(col - free * q) <= 6 * np.sqrt(free * q * (1 - q)) + 2)


def test_same_seed_same_bytes_whatever_the_chunking(tmp_path: Path) -> None:
    split = dfr.preprocess(fat_tailed_interactions(300, 200, 20, seed=5))
    a = respond_split(split, 2.0, 9)
    assert (a.train != respond_split(split, 2.0, 9).train).nnz == 0
    assert (a.train != respond_split(split, 2.0, 10).train).nnz > 0
    assert (a.test != split.test).nnz == 0
    stores = []
    for chunk in (500, 2**22):
        ex = dfr.expand(split, factors=(2, 2), seed=9, privacy_epsilon=2.0, chunk_size=chunk)
        stores.append(ex.to_zarr(tmp_path / f"c{chunk}.zarr", progress=False))
    for s in ("train", "test"):
        pa, ia = stores[0].rows(0, stores[0].n_users, s)
        pb, ib = stores[1].rows(0, stores[1].n_users, s)
        assert np.array_equal(pa, pb) and np.array_equal(ia, ib)
    rec = stores[0].attrs["params"]["privacy"]
    assert rec["epsilon"] == 2.0 and rec["keep"] == pytest.approx(response_rates(2.0)[0])
    assert rec["mechanism"] == "randomized_response"
    assert rec["input_sha256"] == dfr.expansion.input_checksum(split.signed())


def test_linkage_drops_as_epsilon_tightens(tmp_path: Path) -> None:
    # where nothing else hides the users (shuffle none, keep 1) the attack links every
    # segment; randomized response takes it towards chance as ε falls
    split = dfr.preprocess(fat_tailed_interactions(400, 300, 25, seed=3))
    top1 = {}
    for eps in (None, 8.0, 4.0, 1.0):
        ex = dfr.expand(split, keep=np.ones((2, 2)), shuffle="none", seed=7, privacy_epsilon=eps)
        path = tmp_path / f"e{eps}.zarr"
        rep = dfr.privacy_audit(ex.to_zarr(path, progress=False), split, users=150, seed=0)
        lk = rep.numbers["linkage"]
        assert lk["ground_truth_check"] == 1.0  # the truth is rebuilt through the defence
        top1[eps] = lk["top1"]
    assert top1[None] >= 0.9 and top1[8.0] >= 0.9  # e^-8: almost nothing flips
    assert top1[4.0] < 0.5 * top1[8.0]
    assert top1[1.0] <= top1[4.0] and top1[1.0] < 10 / 400


def test_validate_compares_with_the_real_input(tmp_path: Path) -> None:
    data = fat_tailed_interactions(300, 200, 20, seed=2, ratings=True, timestamps=True)
    udata = write_movielens_udata(tmp_path / "u.data", data)
    argv = ["expand", str(udata), "--factors", "2", "2", "--out", str(tmp_path / "e.zarr")]
    assert main([*argv, "--privacy-epsilon", "3", "--quiet", "--local", "sync"]) == 0
    st_ = dfr.open(tmp_path / "e.zarr")
    assert st_.layout.carry == () and st_.attrs["params"]["privacy"]["epsilon"] == 3.0
    rep = dfr.validate(st_, udata, k=4, progress=False, figures=False)
    assert rep.numbers["original"]["sha256_matches"] is True
    assert any("randomized response" in n for n in rep.notes)


@pytest.mark.parametrize(
    "extra",
    [
        ["--privacy-epsilon", "0"],
        ["--privacy-epsilon", "nan"],
        ["--privacy-epsilon", "2", "--carry", "ratings"],
    ],
)
def test_cli_bad_epsilon(
    tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["expand", "default", "--factors", "2", "2", "--out", str(tmp_path / "x.zarr")]
    assert main([*argv, *extra, "--quiet"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and ("privacy_epsilon" in err[0] or "--privacy-epsilon" in err[0])


def test_api_refuses_epsilon_with_inner_levels() -> None:
    with pytest.raises(ParameterError, match="one-level"):
        dfr.expand("default", factors=(2, 2), inner_factors=[(2, 2)], privacy_epsilon=2.0)
