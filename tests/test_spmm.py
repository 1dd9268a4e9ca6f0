"""Validation kernels (:mod:`daskfractal.kernels.spmm`): Numba == NumPy reference, bit for bit.

Every floating-point comparison here is exact (``assert_array_equal``): the kernels and the
reference add in the same order (per row of ``A q`` left to right, per row of ``Aᵀ y`` top to
bottom), so no tolerance is needed.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daskfractal.kernels import reference_spmm as R
from daskfractal.kernels import spmm as S

HSET = settings(
    deadline=None,
    database=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def csr_blocks(draw, *, sorted_rows=None, max_rows=12, max_items=40):
    """A block of CSR rows of a 0/1 matrix: ``(indptr, indices, n_items)``.

    Rows are sorted (the store's contract) or, with ``sorted_rows=False`` / by chance when None,
    in any order; duplicates are allowed (the split check counts them).
    """
    n_items = draw(st.integers(1, max_items))
    rows = draw(st.integers(0, max_rows))
    sort = draw(st.booleans()) if sorted_rows is None else sorted_rows
    lens, parts = [], []
    for _ in range(rows):
        row = draw(st.lists(st.integers(0, n_items - 1), max_size=min(3 * n_items, 30)))
        if sort:
            row = sorted(row)
        lens.append(len(row))
        parts.append(np.array(row, np.int64))
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(lens, out=indptr[1:])
    indices = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    idx_dtype = draw(st.sampled_from([np.int32, np.int64]))
    return indptr, indices.astype(idx_dtype), n_items


def _dense(data, n, l, dtype):  # noqa: E741
    """An ``n × l`` float matrix with awkward values (signs, magnitudes 1e-6..1e6): the order
    of a sum changes its bits."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** rng.integers(-6, 7, size=(n, l))
    return (rng.standard_normal((n, l)) * scale).astype(dtype)


@settings(HSET)
@given(csr_blocks(), st.integers(1, 45), st.data())
def test_tile_offsets_match_reference(block, tile, data):
    indptr, indices, n_items = block
    n_tiles = max(1, -(-n_items // tile))
    seg, ok = S.tile_offsets(indptr, indices, tile, n_tiles)
    ref_seg, ref_ok = R.tile_offsets(indptr, indices, tile, n_tiles)
    assert ok == ref_ok == R.rows_sorted(indptr, indices)
    if ok:
        np.testing.assert_array_equal(seg, ref_seg)


@settings(HSET)
@given(
    csr_blocks(),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from([np.float32, np.float64]),
    st.data(),
)
def test_gather_and_scatter_match_reference(block, q_dtype, acc_dtype, data):
    """Row by row and (on sorted rows) tile by tile, any tile size: the reference's bits."""
    indptr, indices, n_items = block
    l = data.draw(st.integers(1, 5))  # noqa: E741
    q = _dense(data, n_items, l, q_dtype)
    y0 = _dense(data, indptr.size - 1, l, acc_dtype)
    z0 = _dense(data, n_items, l, acc_dtype)
    ref_y = R.gather(indptr, indices, q, y0)
    ref_z = R.scatter(indptr, indices, ref_y, z0)

    y, z = y0.copy(), z0.copy()
    S.gather_rows(indptr, indices, q, y)
    S.scatter_rows(indptr, indices, y, z)
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(z, ref_z)

    tile = data.draw(st.integers(1, n_items + 2))
    seg, ok = S.tile_offsets(indptr, indices, tile, max(1, -(-n_items // tile)))
    if ok:
        y, z = y0.copy(), z0.copy()
        S.gather_tiled(indices, seg, q, y)
        S.scatter_tiled(indices, seg, y, z)
        np.testing.assert_array_equal(y, ref_y)
        np.testing.assert_array_equal(z, ref_z)


@settings(HSET)
@given(
    csr_blocks(),
    st.sampled_from([np.float32, np.float64]),
    st.booleans(),
    st.one_of(st.none(), st.integers(1, 45)),
    st.data(),
)
def test_apply_sketch_matches_reference(block, q_dtype, gram, tile, data):
    """The driver the randomized SVD uses: float32 passes (``y`` in ``q``'s dtype) and the Gram
    pass (``y`` float64), tiled or not, sorted rows or not."""
    indptr, indices, n_items = block
    q = _dense(data, n_items, data.draw(st.integers(1, 5)), q_dtype)
    y_dtype = np.float64 if gram else q.dtype
    z = np.zeros(q.shape, q.dtype) if data.draw(st.booleans()) else None
    ref_y, ref_z = R.apply_sketch(indptr, indices, q, z, y_dtype)
    y = S.apply_sketch(indptr, indices, q, z, y_dtype, tile=tile)
    assert y.dtype == np.dtype(y_dtype)
    np.testing.assert_array_equal(y, ref_y)
    if z is not None:
        np.testing.assert_array_equal(z, ref_z)


@settings(HSET)
@given(csr_blocks(), st.data())
def test_split_counts_match_reference(block, data):
    ip_a, ix_a, n_items = block
    rows = ip_a.size - 1
    lens = data.draw(st.lists(st.integers(0, 6), min_size=rows, max_size=rows))
    ip_b = np.zeros(rows + 1, np.int64)
    np.cumsum(lens, out=ip_b[1:])
    ix_b = np.array(
        data.draw(st.lists(st.integers(0, n_items - 1), min_size=sum(lens), max_size=sum(lens))),
        ix_a.dtype,
    )
    got = S.split_counts(ip_a, ix_a, ip_b, ix_b)
    assert tuple(int(x) for x in got) == R.split_counts(ip_a, ix_a, ip_b, ix_b)


def test_split_counts_example():
    # train rows: [1 3 5], [2 2 7] (a duplicate), [9 4] (unsorted); test rows: [3 4], [], [4 8]
    ip_a = np.array([0, 3, 6, 8])
    ix_a = np.array([1, 3, 5, 2, 2, 7, 9, 4])
    ip_b = np.array([0, 2, 2, 4])
    ix_b = np.array([3, 4, 4, 8])
    assert R.split_counts(ip_a, ix_a, ip_b, ix_b) == (2, 1, 1)
    assert S.split_counts(ip_a, ix_a, ip_b, ix_b) == (2, 1, 1)


def test_default_tile_is_at_least_1024_items():
    """The default tile covers ``TILE_BYTES`` of ``q`` rows (1024 items at least): one tile on
    small inputs, so the tiled route is the row route in the same order."""
    indptr = np.array([0, 3, 5], np.int64)
    indices = np.array([0, 700, 2000, 5, 2047], np.int64)
    q = np.arange(2048 * 2, dtype=np.float32).reshape(2048, 2)
    z = np.zeros_like(q)
    y = S.apply_sketch(indptr, indices, q, z, np.float32)
    ref_y, ref_z = R.apply_sketch(indptr, indices, q, np.zeros_like(q), np.float32)
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(z, ref_z)
