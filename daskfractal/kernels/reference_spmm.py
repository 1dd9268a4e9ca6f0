"""Pure-NumPy specification of the validation kernels (:mod:`.spmm`).

Every function computes, independently of the Numba code, the same bits as its kernel twin
(the tests demand bit-identical output). Floating-point sums are taken in the kernels' order:
``np.add.at`` adds its operands one at a time in index order, so each row of ``A q`` sums its
entries left to right and each row of ``Aᵀ y`` sums the rows of ``A`` top to bottom — the order
of both the tiled and the row-by-row kernels — and, like the kernels' ``y[r] += q[c]``, adds in
the wider of the two dtypes and rounds to the accumulator's. Slow on large inputs: for tests and
for reading.

Conventions: ``indptr`` is a local CSR row pointer (``indptr[0] == 0``), ``indices`` the item
ids of the rows (0/1 matrix: no values); ``q`` is ``items × l``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "apply_sketch",
    "gather",
    "row_ids",
    "rows_sorted",
    "scatter",
    "split_counts",
    "tile_offsets",
]


def row_ids(indptr: np.ndarray) -> np.ndarray:
    """The row of each entry: ``r`` repeated ``indptr[r + 1] − indptr[r]`` times."""
    indptr = np.asarray(indptr, np.int64)
    return np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))


def rows_sorted(indptr: np.ndarray, indices: np.ndarray) -> bool:
    """Every row's item ids are non-decreasing (duplicates allowed)."""
    idx = np.asarray(indices, np.int64)
    if idx.size < 2:
        return True
    same_row = row_ids(indptr)[1:] == row_ids(indptr)[:-1]
    return bool(np.all(np.diff(idx)[same_row] >= 0))


def tile_offsets(
    indptr: np.ndarray, indices: np.ndarray, tile: int, n_tiles: int
) -> tuple[np.ndarray, bool]:
    """``(seg, ok)``: ``seg[r, t]`` the first entry of row ``r`` with item ``≥ t·tile``
    (``seg[r, n_tiles] = indptr[r + 1]``), ``ok`` whether every row is sorted.

    When ``ok`` is False the kernel's ``seg`` is unspecified; this returns ``seg`` of zeros.
    """
    indptr = np.asarray(indptr, np.int64)
    idx = np.asarray(indices, np.int64)
    rows = indptr.size - 1
    seg = np.zeros((rows, n_tiles + 1), np.int64)
    if not rows_sorted(indptr, idx):
        return seg, False
    bounds = np.arange(n_tiles, dtype=np.int64) * tile
    for r in range(rows):
        a, b = indptr[r], indptr[r + 1]
        seg[r, :n_tiles] = a + np.searchsorted(idx[a:b], bounds, side="left")
        seg[r, n_tiles] = b
    return seg, True


def gather(indptr: np.ndarray, indices: np.ndarray, q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y + A q`` (a new array, ``y``'s dtype), each row summed left to right."""
    out = np.array(y, copy=True)
    np.add.at(out, row_ids(indptr), q[np.asarray(indices, np.int64)])
    return out


def scatter(indptr: np.ndarray, indices: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``z + Aᵀ y`` (a new array, ``z``'s dtype), each row summed over the rows of A in order."""
    out = np.array(z, copy=True)
    np.add.at(out, np.asarray(indices, np.int64), y[row_ids(indptr)])
    return out


def apply_sketch(
    indptr: np.ndarray, indices: np.ndarray, q: np.ndarray, z: np.ndarray | None, y_dtype: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(y, z')`` with ``y = A q`` (``y_dtype``) and ``z' = z + Aᵀ y`` (None without ``z``);
    the kernel returns ``y`` and updates ``z`` in place."""
    rows = np.asarray(indptr).size - 1
    y = gather(indptr, indices, q, np.zeros((rows, q.shape[1]), y_dtype))
    return y, (None if z is None else scatter(indptr, indices, y, z))


def split_counts(
    ip_a: np.ndarray, ix_a: np.ndarray, ip_b: np.ndarray, ix_b: np.ndarray
) -> tuple[int, int, int]:
    """``(overlap, duplicates, unsorted)`` of train rows ``a`` and test rows ``b``.

    ``overlap``: entries of ``b`` (duplicates counted) whose item is in the same row of ``a``;
    ``duplicates``: entries of ``a`` equal to the previous one of their row once sorted;
    ``unsorted``: rows of ``a`` that are not non-decreasing.
    """
    ip_a, ip_b = np.asarray(ip_a, np.int64), np.asarray(ip_b, np.int64)
    ix_a, ix_b = np.asarray(ix_a, np.int64), np.asarray(ix_b, np.int64)
    overlap = dups = unsorted = 0
    for r in range(ip_a.size - 1):
        row = ix_a[ip_a[r] : ip_a[r + 1]]
        unsorted += int(np.any(np.diff(row) < 0))
        dups += int(np.count_nonzero(np.diff(np.sort(row)) == 0))
        overlap += int(np.count_nonzero(np.isin(ix_b[ip_b[r] : ip_b[r + 1]], row)))
    return overlap, dups, unsorted
