"""NumPy specification of :mod:`daskfractal.kernels.response` (one row at a time)."""

from __future__ import annotations

import math

import numpy as np

from .reference import hash64, uniform
from .response import response_rates
from .rng import STREAM_RESPONSE, TWO_M53

__all__ = ["randomized_response"]


def randomized_response(
    indptr: np.ndarray,
    indices: np.ndarray,
    n: int,
    epsilon: float,
    seed: int,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`~daskfractal.kernels.response.randomized_response_csr` returns.

    Row ``r``: present cell ``c`` kept iff ``uniform(seed, STREAM_RESPONSE, r, 0, c) < p``;
    the absent cells (not in the row nor in ``exclude``'s row), in increasing order, are
    walked by jumps ``G_k = floor(log(U_k) / log1p(-q))``, ``U_k = ((hash64(seed,
    STREAM_RESPONSE, r, 1, k) >> 11) + 1) · 2**-53``: the ``k``-th added cell is the absent
    cell at position ``x_k = x_{k-1} + 1 + G_k`` (``x_{-1} = -1``) while it exists.
    """
    indptr = np.asarray(indptr, np.int64)
    indices = np.asarray(indices, np.int64)
    m = indptr.size - 1
    if exclude is None:
        exclude = (np.zeros(m + 1, np.int64), np.zeros(0, np.int64))
    if math.isinf(epsilon) and epsilon > 0:
        return indptr.copy(), indices.copy()
    p, q = response_rates(epsilon)
    lq = math.log1p(-q)
    rows = []
    for r in range(m):
        row = indices[indptr[r] : indptr[r + 1]]
        ex = np.asarray(exclude[1][exclude[0][r] : exclude[0][r + 1]], np.int64)
        kept = row[uniform(seed, STREAM_RESPONSE, r, 0, row) < p]
        absent = np.setdiff1d(np.arange(n, dtype=np.int64), np.union1d(row, ex))
        added: list[int] = []
        x = 0
        while True:
            h = int(hash64(seed, STREAM_RESPONSE, r, 1, len(added))[()])
            g = math.log(((h >> 11) + 1) * TWO_M53) / lq
            if g >= absent.size - x:
                break
            x += int(g)
            added.append(int(absent[x]))
            x += 1
        rows.append(np.sort(np.concatenate([kept, np.array(added, np.int64)])))
    ptr = np.zeros(m + 1, np.int64)
    np.cumsum([len(x) for x in rows], out=ptr[1:])
    out = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return ptr, out.astype(np.int64)
