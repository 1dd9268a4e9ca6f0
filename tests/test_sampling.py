"""Geometric skips of the Bernoulli dropout and the block sample (kernels/sampling.py).

The kernels equal the NumPy reference bit for bit; the skips are independent Bernoulli(p)
in distribution (binomial bands, chi-square of which candidates survive and of the gaps).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from daskfractal.kernels import emit as M
from daskfractal.kernels import reference as R
from daskfractal.kernels import rng as K
from daskfractal.kernels import sampling as S

HSET = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
P_MIN = 1e-4  # every draw is deterministic: a p-value floor, never a flaky test
SKIPPED = (1e-4, 0.003, 0.02, 0.05, np.nextafter(S.SKIP_MAX_P, 0.0))


def rows_of(m: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``m`` rows of ``d`` train entries each, columns ``0..d-1`` (so ``q % d`` = offset)."""
    indptr = np.arange(m + 1, dtype=np.int64) * d
    return indptr, np.tile(np.arange(d, dtype=np.int32), m), np.ones(m * d, np.int8)


def kept_mask(m: int, d: int, keep: float, seed: int = 5, i: int = 2) -> np.ndarray:
    """Bool ``(m, d)``: which candidates the kernels keep in one block (identity perms)."""
    indptr, indices, sign = rows_of(m, d)
    ident = np.arange(m, dtype=np.int64)[None, :]
    cols = np.arange(d, dtype=np.int64)[None, :]
    out = M.expand_block_rows(indptr, indices, sign, ident, cols, np.array([keep]), seed, i, 0, m)
    mask = np.zeros((m, d), bool)
    mask.flat[out.train_src] = True
    return mask


def test_rule():
    assert S.skip_log(0.0) == 0.0 and S.skip_log(-1.0) == 0.0
    assert S.skip_log(S.SKIP_MAX_P) == 0.0 and S.skip_log(1.0) == 0.0
    assert S.skip_log(0.01) == np.log1p(-0.01) < 0.0


@settings(HSET, max_examples=120)
@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 40),
    st.integers(0, 60),
    st.one_of(st.sampled_from(SKIPPED), st.floats(0.0, 2 * S.SKIP_MAX_P)),
)
def test_kernel_equals_reference(seed, a, d, p):
    """One row ``[a, a + d)``: the emit kernel keeps exactly the reference's positions, and
    the count kernel counts them."""
    indptr = np.array([0, a, a + d], np.int64)
    nnz = a + d
    indices = np.zeros(nnz, np.int32)
    sign = np.ones(nnz, np.int8)
    rs = np.array([[1, 0]], np.int64)  # slot 0 is source row 1, the row under test
    cp = np.zeros((1, 1), np.int64)
    out = M.expand_block_rows(indptr, indices, sign, rs, cp, np.array([p]), seed, 3, 0, 1)
    want = R.bernoulli_kept(seed, 3, 0, a, a + d, p)
    np.testing.assert_array_equal(out.train_src, want)
    counts = M.count_rows(indptr, indices, sign, rs, cp, np.array([p]), seed, 3, 0, 1)
    assert counts[0][0] == want.shape[0]
    assert np.all((want >= a) & (want < a + d)) and np.all(np.diff(want) > 0)


@pytest.mark.parametrize("p", [*SKIPPED[1:], S.SKIP_MAX_P, 0.3])
def test_binomial_band(p):
    """The kept count of 20,000 candidates per seed is within 4.5 sigma of n·p, over seeds
    and block rows, and the counts over 40 (seed, i) are Binomial(n, p) (chi-square of the
    standardized counts against the normal, through their sum of squares)."""
    m, d = 1000, 20
    n = m * d
    z = []
    for seed in range(20):
        for i in range(2):
            k = kept_mask(m, d, p, seed, i).sum()
            z.append((k - n * p) / np.sqrt(n * p * (1 - p)))
    z = np.array(z)
    assert np.all(np.abs(z) < 4.5), z
    assert stats.chi2(len(z)).sf(np.sum(z**2)) > P_MIN


@pytest.mark.parametrize("p", [0.02, 0.05])
def test_which_candidates_survive(p):
    """Every offset of a row survives equally often; the per-row count is Binomial(d, p);
    neighbours are independent (2 x 2 contingency of offsets x and x + 1)."""
    m, d = 60_000, 12
    mask = kept_mask(m, d, p)
    per_offset = mask.sum(axis=0)
    assert stats.chisquare(per_offset).pvalue > P_MIN
    per_row = np.bincount(mask.sum(axis=1), minlength=d + 1)
    want = stats.binom(d, p).pmf(np.arange(d + 1)) * m
    big = want >= 5  # pool the tail so that every expected count is >= 5
    obs = np.r_[per_row[big], per_row[~big].sum()]
    exp = np.r_[want[big], want[~big].sum()]
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > P_MIN
    a, b = mask[:, :-1].ravel(), mask[:, 1:].ravel()
    table = np.array([[np.sum(~a & ~b), np.sum(~a & b)], [np.sum(a & ~b), np.sum(a & b)]])
    assert stats.chi2_contingency(table).pvalue > P_MIN


def test_gaps_are_geometric():
    """The gaps between survivors of one long row are Geometric(p) (chi-square)."""
    p, d = 0.03, 2_000_000
    mask = kept_mask(1, d, p)[0]
    pos = np.flatnonzero(mask)
    gaps = np.diff(np.r_[-1, pos]) - 1
    top = 150
    obs = np.bincount(np.minimum(gaps, top), minlength=top + 1)
    pmf = stats.geom(p, loc=-1).pmf(np.arange(top))
    exp = np.r_[pmf, 1 - pmf.sum()] * gaps.shape[0]
    assert stats.chisquare(obs, exp).pvalue > P_MIN


def test_reference_slices_are_the_rows():
    """The reference keeps a row's survivors whatever other rows are around it (the jumps
    restart at every row): a row alone equals the same row inside a larger block."""
    m, d, p = 50, 30, 0.04
    mask = kept_mask(m, d, p)
    for r in (0, 17, 49):
        got = R.bernoulli_kept(5, 2, 0, r * d, (r + 1) * d, p) - r * d
        np.testing.assert_array_equal(np.flatnonzero(mask[r]), got)


def test_block_sample_mask():
    mask = S.block_sample_mask((40, 300), 0.05, seed=3)
    np.testing.assert_array_equal(mask, R.block_sample_mask((40, 300), 0.05, 3))
    n = mask.size
    assert abs(mask.sum() - 0.05 * n) < 4.5 * np.sqrt(n * 0.05 * 0.95)
    assert stats.chisquare([mask[:, :150].sum(), mask[:, 150:].sum()]).pvalue > P_MIN
    assert not np.array_equal(mask, S.block_sample_mask((40, 300), 0.05, seed=4))
    assert S.block_sample_mask((3, 2), 1.0, 0).all()
    assert not S.block_sample_mask((3, 2), 0.0, 0).any()
    assert S.block_sample_mask((0, 4), 0.5, 0).shape == (0, 4)
    with pytest.raises(ValueError, match="rate"):
        S.block_sample_mask((2, 2), 1.5, 0)
    assert K.STREAM_BLOCK not in (K.STREAM_DROP, K.STREAM_ROW_PERM, K.STREAM_COL_PERM)


# --------------------------------------------------------------------------------------
# Meta's size controls through expand() and the CLI


def test_block_sample_rate_keeps_whole_blocks(tmp_path):
    """Kept blocks are exactly those of the full expansion, dropped ones are empty, and the
    rate is recorded; the same bytes under the threaded and sync schedulers and any chunk."""
    import daskfractal as dfr

    full = dfr.expand("default", factors=(4, 8), seed=3, carry=())
    part = dfr.expand("default", factors=(4, 8), seed=3, carry=(), block_sample_rate=0.5)
    mask = S.block_sample_mask((4, 8), 0.5, seed=3)
    assert 0 < mask.sum() < mask.size
    np.testing.assert_array_equal(part.keep, np.where(mask, full.keep, 0.0))
    assert part.params["block_sample_rate"] == 0.5 and full.params["block_sample_rate"] == 1.0
    a = full.to_zarr(tmp_path / "full.zarr", scheduler="sync", progress=False)
    b = part.to_zarr(tmp_path / "part.zarr", scheduler="threads", progress=False)
    small = dfr.expand(
        "default", factors=(4, 8), seed=3, carry=(), block_sample_rate=0.5, chunk_size=5000
    )
    c = small.to_zarr(tmp_path / "small.zarr", scheduler="sync", progress=False, shard_size=2**14)
    bt_full, bt_part = a.stats()["block_train"], b.stats()["block_train"]
    np.testing.assert_array_equal(bt_part, np.where(mask, bt_full, 0))
    assert b.attrs["params"]["block_sample_rate"] == 0.5
    for split in ("train", "test"):
        for x, y in zip(b.rows(0, b.n_users, split), c.rows(0, c.n_users, split), strict=True):
            np.testing.assert_array_equal(x, y)


def test_element_sample_rate_is_scale():
    import daskfractal as dfr
    from daskfractal.errors import ParameterError

    a = dfr.expand("default", factors=(2, 2), seed=1, element_sample_rate=0.1)
    b = dfr.expand("default", factors=(2, 2), seed=1, scale=0.1)
    np.testing.assert_array_equal(a.keep, b.keep)
    assert a.params["reduced"]["params"]["scale"] == 0.1
    with pytest.raises(ParameterError, match="not both"):
        dfr.expand("default", factors=(2, 2), scale=0.1, element_sample_rate=0.1)
    for bad in (0.0, 1.5, "x", True):
        with pytest.raises(ParameterError, match="block_sample_rate"):
            dfr.expand("default", factors=(2, 2), block_sample_rate=bad)


def test_cli_size_controls(tmp_path, capsys):
    from daskfractal.cli import EXIT_OK, EXIT_USAGE, main

    out = tmp_path / "o.zarr"
    argv = ["expand", "default", "--factors", "4", "8", "--out", str(out), "--carry", "none"]
    opts = ["--element-sample-rate", "0.2", "--block-sample-rate", "0.5", "--quiet"]
    assert main([*argv, *opts, "--local", "threads"]) == EXIT_OK
    import daskfractal as dfr

    store = dfr.open(out)
    assert store.attrs["params"]["block_sample_rate"] == 0.5
    assert store.attrs["params"]["reduced"]["params"]["scale"] == 0.2
    mask = S.block_sample_mask((4, 8), 0.5, seed=0)
    assert np.all(store.stats()["block_train"][~mask] == 0)
    # --scale is the same option
    out2 = tmp_path / "o2.zarr"
    argv2 = ["expand", "default", "--factors", "4", "8", "--out", str(out2), "--carry", "none"]
    assert main([*argv2, "--scale", "0.2", "--block-sample-rate", "0.5", "--quiet"]) == EXIT_OK
    np.testing.assert_array_equal(dfr.open(out2).rows(0, 50)[1], store.rows(0, 50)[1])
    capsys.readouterr()
    assert main([*argv, "--block-sample-rate", "0", "--overwrite", "--quiet"]) == EXIT_USAGE
    assert "--block-sample-rate" in capsys.readouterr().err
    # an error names the flag the user typed, of the two names of the element sample rate
    for flag in ("--element-sample-rate", "--scale"):
        assert main([*argv, flag, "0", "--overwrite", "--quiet"]) == EXIT_USAGE
        assert f"{flag} 0.0 must be in (0, 1]" in capsys.readouterr().err


def test_skips_same_bytes_any_chunking(tmp_path):
    """Every block below the skip threshold (scale 0.05): the same store whatever the task
    size, shard size and scheduler; in memory (``compute``) the same interactions."""
    import daskfractal as dfr

    def ex(chunk_size):
        return dfr.expand("default", factors=(3, 5), seed=9, scale=0.05, chunk_size=chunk_size)

    assert ex(2**22).keep.max() < S.SKIP_MAX_P
    a = ex(2**22).to_zarr(tmp_path / "a.zarr", scheduler="sync", progress=False)
    b = ex(1500).to_zarr(tmp_path / "b.zarr", scheduler="threads", progress=False, shard_size=2**12)
    assert a.counts() == b.counts() and a.nnz["train"] > 0
    for split in ("train", "test"):
        for x, y in zip(a.rows(0, a.n_users, split), b.rows(0, b.n_users, split), strict=True):
            np.testing.assert_array_equal(x, y)
    for name, arr in a.stats().items():
        np.testing.assert_array_equal(arr, b.stats()[name], err_msg=name)
    mem = ex(700).to_split(scheduler="threads")
    assert mem.train.nnz == a.nnz["train"]
    np.testing.assert_array_equal(mem.train.indices, a.rows(0, a.n_users, "train")[1])
