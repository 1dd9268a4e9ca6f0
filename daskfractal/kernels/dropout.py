"""Dropout semantics shared by the count and emit kernels: mode and test-policy codes, and
EXACT dropout (a fixed number of kept elements per source row).

Dropout of the element at absolute CSR position ``q`` in block ``(i, j)``:

* ``MODE_BERNOULLI``: kept iff ``uniform(seed, STREAM_DROP, i, j, q) < keep_row[j]``.
* ``MODE_EXACT``: keep the ``exact_counts[j, r]`` elements of source row ``r`` with the
  smallest keys ``uniform(seed, STREAM_EXACT, i, j, q)`` (ties by ``q``); ``keep_row`` is not
  used. :func:`exact_row_counts` draws the per-row counts.

Test policy (entries with ``sign < 0``):

* ``TEST_ALL``: every kept test entry is emitted.
* ``TEST_ONE``: an output row with ``c >= 1`` kept test entries (over all ``j``) emits only
  the one at index ``min(int(uniform(seed, STREAM_ONE, i, t, 0) * c), c - 1)`` in ascending
  output-item order.
"""

from __future__ import annotations

import numpy as np

from ._jit import IntLike, ngjit
from .rng import STREAM_EXACT, absorb, as_seed

MODE_BERNOULLI = 0
MODE_EXACT = 1
TEST_ALL = 0
TEST_ONE = 1

_MODES = {"bernoulli": MODE_BERNOULLI, "exact": MODE_EXACT}
_POLICIES = {"all": TEST_ALL, "one": TEST_ONE}
_INSERTION_MAX = 32
_S11 = np.uint64(11)


def as_mode(mode: str | IntLike) -> int:
    """``MODE_BERNOULLI``/``MODE_EXACT`` from an int constant or "bernoulli"/"exact"."""
    if isinstance(mode, str):
        if mode not in _MODES:
            raise ValueError(f"unknown dropout mode {mode!r}; expected one of {list(_MODES)}")
        return _MODES[mode]
    if mode not in (MODE_BERNOULLI, MODE_EXACT):
        raise ValueError(f"unknown dropout mode {mode!r}")
    return int(mode)


def as_test_policy(policy: str | IntLike) -> int:
    """``TEST_ALL``/``TEST_ONE`` from an int constant or "all"/"one"."""
    if isinstance(policy, str):
        if policy not in _POLICIES:
            raise ValueError(f"unknown test policy {policy!r}; expected one of {list(_POLICIES)}")
        return _POLICIES[policy]
    if policy not in (TEST_ALL, TEST_ONE):
        raise ValueError(f"unknown test policy {policy!r}")
    return int(policy)


@ngjit
def _sort_small(a: np.ndarray, n: IntLike) -> None:
    """In-place ascending sort of ``a[:n]`` (insertion sort for short rows)."""
    if n <= _INSERTION_MAX:
        for x in range(1, n):
            key = a[x]
            y = x - 1
            while y >= 0 and a[y] > key:
                a[y + 1] = a[y]
                y -= 1
            a[y + 1] = key
    else:
        a[:n].sort()


@ngjit
def exact_threshold(
    hp: np.uint64, a: IntLike, d: int, k: int, keys: np.ndarray, sorted_keys: np.ndarray
) -> tuple[np.uint64, int]:
    """EXACT dropout of one source row: keys and the keep rule for its ``k`` of ``d``.

    Fills ``keys[:d]`` with the integer keys ``absorb(hp, a + x) >> 11`` and returns
    ``(thr, ties_left)``: keep ``x`` iff ``keys[x] < thr``, plus the first ``ties_left`` (by
    position) with ``keys[x] == thr``. ``0 < k < d``.
    """
    for x in range(d):
        key = absorb(hp, a + x) >> _S11
        keys[x] = key
        sorted_keys[x] = key
    _sort_small(sorted_keys, d)
    thr = sorted_keys[k - 1]
    n_less = k - 1
    while n_less > 0 and sorted_keys[n_less - 1] == thr:
        n_less -= 1
    return thr, k - n_less


def exact_total(keep: float, total: int) -> int:
    """Number of elements EXACT mode keeps out of ``total``: ``floor(keep * total + 0.5)``."""
    keep = float(keep)
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep must be in [0, 1], got {keep}")
    return min(int(total), int(np.floor(keep * int(total) + 0.5)))


def exact_row_counts(row_degree: np.ndarray, keep: float, seed: int, i: int, j: int) -> np.ndarray:
    """How the ``K = exact_total(keep, sum(row_degree))`` kept elements of block (i, j)
    split over source rows: int64 ``(m,)``, multivariate hypergeometric.

    Drawn with ``np.random.default_rng(np.random.SeedSequence([seed, STREAM_EXACT, i, j]))``
    and ``method="marginals"``: deterministic, independent of chunking. Pass the row's
    number of stored elements (``np.diff(indptr)``) as ``row_degree``.
    """
    row_degree = np.asarray(row_degree, dtype=np.int64)
    if row_degree.ndim != 1 or np.any(row_degree < 0):
        raise ValueError("row_degree must be a 1-D array of non-negative counts")
    k = exact_total(keep, int(row_degree.sum()))
    if k == 0 or row_degree.shape[0] == 0:
        return np.zeros(row_degree.shape[0], np.int64)
    seed = int(as_seed(seed))
    rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM_EXACT, int(i), int(j)]))
    out = rng.multivariate_hypergeometric(row_degree, k, method="marginals")
    return out.astype(np.int64, copy=False)


__all__ = [
    "MODE_BERNOULLI",
    "MODE_EXACT",
    "TEST_ALL",
    "TEST_ONE",
    "as_mode",
    "as_test_policy",
    "exact_row_counts",
    "exact_threshold",
    "exact_total",
]
