"""Randomized response on a sparse binary matrix, without densifying it.

Every cell ``(r, c)`` of an ``m × n`` binary matrix ``X`` is reported with randomized
response: a present cell (``X[r, c] = 1``) stays present with probability ``p``, an absent
cell becomes present with probability ``q``. With ``p = e^ε / (1 + e^ε)`` and ``q = 1 - p``
(:func:`response_rates`) the report of each cell is ε-locally differentially private for that
cell's presence: ``p / q = (1 - q) / (1 - p) = e^ε``.

The draws are counter-based (:mod:`.rng`), a pure function of ``(seed, row, item)``:

* present cell ``(r, c)`` kept iff ``uniform(seed, STREAM_RESPONSE, r, 0, c) < p``;
* absent cells of row ``r``, in increasing item order, are walked with geometric skips
  (:func:`daskfractal.kernels.sampling.geometric_gap` on the prefix
  ``hash_prefix(seed, STREAM_RESPONSE, r, 1)``, the ``k``-th jump drawing counter ``k``): each
  absent cell is added independently with probability ``q``, so the number added to a row
  with ``N`` absent cells is Binomial(``N``, ``q``) and the added cells are uniform among
  them, for one hash and one logarithm per added cell (nothing is allocated per absent cell).

Cells listed in ``exclude`` (the test entries) are neither kept nor added: they are neither
present nor absent for the mechanism. The NumPy specification is
:func:`daskfractal.kernels.reference_response.randomized_response`.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import IntLike, ngjit
from .rng import STREAM_RESPONSE, hash_prefix, uniform
from .sampling import geometric_gap

__all__ = ["STREAM_RESPONSE", "randomized_response_csr", "response_rates"]


def response_rates(epsilon: float) -> tuple[float, float]:
    """``(p, q)``: keep and add probabilities of ε-LDP randomized response on one bit.

    ``p = e^ε / (1 + e^ε)`` (computed as ``1 / (1 + e^-ε)``), ``q = 1 / (1 + e^ε)``.

    Examples
    --------
    >>> p, q = response_rates(math.log(3))
    >>> round(p, 12), round(q, 12)
    (0.75, 0.25)
    """
    e = float(epsilon)
    return 1.0 / (1.0 + math.exp(-e)), 1.0 / (1.0 + math.exp(e))


@ngjit
def _row(
    r: IntLike,
    present: np.ndarray,
    skip: np.ndarray,
    n: IntLike,
    p: float,
    lq: float,
    seed: IntLike,
    out: np.ndarray,
    write: bool,
) -> int:
    """Row ``r``: kept cells of ``present``, then added cells among those not in ``skip``
    (sorted, disjoint from ``present``), merged in increasing order into ``out`` when
    ``write``; returns the count."""
    kept = 0
    for a in range(present.size):
        if uniform(seed, STREAM_RESPONSE, r, 0, present[a]) < p:
            if write:
                out[kept] = present[a]
            kept += 1
    n_abs = n - skip.size
    added = 0
    if lq < 0.0 and n_abs > 0:
        hp = hash_prefix(seed, STREAM_RESPONSE, r, 1)
        x = 0  # position among the absent cells
        ptr = 0  # cells of ``skip`` below the current item
        k = 0
        while True:
            g = geometric_gap(hp, k, lq)
            if g >= n_abs - x:
                break
            x += int(g)
            # the x-th absent item: x + (cells of skip at or below it)
            while ptr < skip.size and skip[ptr] <= x + ptr:
                ptr += 1
            if write:
                out[kept + added] = x + ptr
            added += 1
            x += 1
            k += 1
    if write and kept and added:
        out[: kept + added].sort()
    return kept + added


@ngjit
def _response(
    indptr: np.ndarray,
    indices: np.ndarray,
    ex_indptr: np.ndarray,
    ex_indices: np.ndarray,
    n: IntLike,
    p: float,
    lq: float,
    seed: IntLike,
) -> tuple[np.ndarray, np.ndarray]:
    m = indptr.size - 1
    counts = np.zeros(m + 1, np.int64)
    widest = 0
    for r in range(m):
        w = indptr[r + 1] - indptr[r] + ex_indptr[r + 1] - ex_indptr[r]
        widest = max(widest, w)
    buf = np.empty(0, np.int64)
    skip = np.empty(widest, np.int64)
    for r in range(m):
        a, b = indptr[r], indptr[r + 1]
        s = _merge(indices[a:b], ex_indices[ex_indptr[r] : ex_indptr[r + 1]], skip)
        counts[r + 1] = _row(r, indices[a:b], skip[:s], n, p, lq, seed, buf, False)
    ptr = np.cumsum(counts)
    out = np.empty(ptr[-1], np.int64)
    for r in range(m):
        a, b = indptr[r], indptr[r + 1]
        s = _merge(indices[a:b], ex_indices[ex_indptr[r] : ex_indptr[r + 1]], skip)
        _row(r, indices[a:b], skip[:s], n, p, lq, seed, out[ptr[r] : ptr[r + 1]], True)
    return ptr, out


@ngjit
def _merge(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> int:
    """Sorted union of two sorted arrays into ``out``; returns its length."""
    i = j = s = 0
    while i < x.size or j < y.size:
        if j >= y.size or (i < x.size and x[i] < y[j]):
            v = x[i]
            i += 1
        elif i >= x.size or y[j] < x[i]:
            v = y[j]
            j += 1
        else:
            v = x[i]
            i += 1
            j += 1
        out[s] = v
        s += 1
    return s


def randomized_response_csr(
    indptr: np.ndarray,
    indices: np.ndarray,
    n: int,
    epsilon: float,
    seed: int,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ε-LDP randomized response on the binary CSR matrix ``(indptr, indices)`` with ``n``
    columns (sorted, unique indices per row).

    Parameters
    ----------
    indptr, indices : numpy.ndarray
        The matrix ``X``: row pointer (``m + 1``) and column indices.
    n : int
        Number of columns.
    epsilon : float
        Privacy parameter, ``> 0`` (``math.inf`` returns ``X`` unchanged).
    seed : int
        In ``[0, 2**64)``.
    exclude : (indptr, indices), optional
        Cells neither kept nor added (the test entries of the same rows), sorted per row.

    Returns
    -------
    indptr, indices : numpy.ndarray of int64
        The reported matrix: sorted, unique indices per row, disjoint from ``exclude``.

    Examples
    --------
    >>> ptr, idx = randomized_response_csr(np.array([0, 2]), np.array([1, 3]), 1000, 2.0, 7)
    >>> int(ptr[-1]) > 2  # about 12 % of the 998 absent cells are added
    True
    """
    indptr = np.asarray(indptr, np.int64)
    indices = np.asarray(indices, np.int64)
    if exclude is None:
        exclude = (np.zeros(indptr.size, np.int64), np.zeros(0, np.int64))
    ex_ptr = np.asarray(exclude[0], np.int64)
    ex_idx = np.asarray(exclude[1], np.int64)
    if math.isinf(epsilon) and epsilon > 0:
        return indptr.copy(), indices.copy()
    p, q = response_rates(epsilon)
    lq = math.log1p(-q) if q > 0.0 else 0.0
    return _response(indptr, indices, ex_ptr, ex_idx, int(n), p, lq, np.uint64(seed))
