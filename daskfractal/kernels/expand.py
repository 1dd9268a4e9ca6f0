"""Block expansion kernel: one block-row ``i`` of the randomized Kronecker product.

Setting (paper, Algorithm 2 and section III-8): ``S = R_train - R_test`` is a CSR matrix of
shape ``(m, n)`` given as raw arrays ``indptr`` (int64, m+1), ``indices`` (int32/int64, the
column ids of each row in ascending order) and ``sign`` (int8: +1 train, -1 test; 0 is a
structural zero that takes part in the dropout draw but is never emitted). The expansion
has ``m' x n'`` blocks; block ``(i, j)`` keeps each non-zero of S with probability
``keep[i, j]`` and moves source entry ``(r, c)`` to output row ``i*m + pi_ij(r)`` and output
item ``j*n_items_block + sigma_ij(c)``.

The caller processes the output slots ``t in [t0, t1)`` of block-row ``i`` (output row
``i*m + t``) and passes, for every ``j``, ``row_src[j, t]`` (the source row r with
``pi_ij(r) = t``, int64 ``(n', m)``), ``col_perm[j, c] = sigma_ij(c)`` (int64 ``(n', n)``) and
``keep_row = keep[i, :]`` (float64 ``(n',)``).

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

Outputs are local CSR arrays over the rows ``t0..t1-1``; items within a row are ascending
(ties, only possible with duplicate column ids, by ``q``); ``*_src`` holds the absolute CSR
position ``q`` of each entry's source so the caller can carry ratings/timestamps.

Per-block statistics ``block_train[j]`` / ``block_test[j]`` count the kept train / test
entries of block ``j`` in the processed rows. ``block_test`` counts test entries *before*
the ``TEST_ONE`` selection (i.e. what ``TEST_ALL`` would emit).

Everything is a pure function of the inputs: results do not depend on how ``[t0, t1)`` is
split into chunks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import ngjit
from .rng import STREAM_DROP, STREAM_EXACT, STREAM_ONE, absorb, as_seed, hash_prefix
from .rng import uniform as _uniform

MODE_BERNOULLI = 0
MODE_EXACT = 1
TEST_ALL = 0
TEST_ONE = 1

_MODES = {"bernoulli": MODE_BERNOULLI, "exact": MODE_EXACT}
_POLICIES = {"all": TEST_ALL, "one": TEST_ONE}
_INSERTION_MAX = 32
_S11 = np.uint64(11)
_TWO_P53 = 2.0**53


@ngjit
def _sort_small(a, n):
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
def _sort_pairs(items, src, lo, hi):
    """Stable sort of ``items[lo:hi]`` ascending, carrying ``src`` along."""
    if hi - lo <= _INSERTION_MAX:
        for x in range(lo + 1, hi):
            key = items[x]
            val = src[x]
            y = x - 1
            while y >= lo and items[y] > key:
                items[y + 1] = items[y]
                src[y + 1] = src[y]
                y -= 1
            items[y + 1] = key
            src[y + 1] = val
    else:
        idx = np.argsort(items[lo:hi], kind="mergesort")
        it = items[lo:hi][idx]
        sr = src[lo:hi][idx]
        items[lo:hi] = it
        src[lo:hi] = sr


@ngjit
def exact_threshold(hp, a, d, k, keys, sorted_keys):
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


@ngjit
def expand_rows_kernel(
    indptr,
    indices,
    sign,
    row_src,
    col_perm,
    keep_row,
    seed,
    i,
    t0,
    t1,
    mode,
    exact_counts,
    test_policy,
    n_items_block,
    fill,
    train_indptr,
    test_indptr,
    train_items,
    train_src,
    test_items,
    test_src,
):
    """Count (``fill=False``) or fill (``fill=True``) the kept entries of rows ``[t0, t1)``.

    In fill mode the local ``train_indptr``/``test_indptr`` (from a count pass) give where
    each row goes, and ``train_items, train_src, test_items, test_src`` are written; in
    count mode those six arrays are not touched (pass empty arrays). Returns
    ``(train_counts, test_counts, block_train, block_test)``, all int64.
    """
    nb = row_src.shape[0]
    nrows = t1 - t0
    train_counts = np.zeros(nrows, np.int64)
    test_counts = np.zeros(nrows, np.int64)
    block_train = np.zeros(nb, np.int64)
    block_test = np.zeros(nb, np.int64)
    exact = mode == MODE_EXACT
    one = test_policy == TEST_ONE

    stream = STREAM_EXACT if exact else STREAM_DROP
    prefix = np.empty(nb, np.uint64)
    for j in range(nb):
        prefix[j] = hash_prefix(seed, stream, i, j)

    # scratch sizes: longest source row, most candidates of one output row
    max_deg = 0
    max_cand = 0
    for t in range(t0, t1):
        tot = 0
        for j in range(nb):
            r = row_src[j, t]
            d = indptr[r + 1] - indptr[r]
            tot += d
            if d > max_deg:
                max_deg = d
        if tot > max_cand:
            max_cand = tot
    # EXACT keys are compared as the integers x = h >> 11 (uniform = x * 2**-53 exactly,
    # so the order and the ties are those of the uniforms).
    keys = np.empty(max_deg if exact else 0, np.uint64)
    sorted_keys = np.empty(max_deg if exact else 0, np.uint64)
    one_items = np.empty(max_cand if (fill and one) else 0, np.int64)
    one_src = np.empty(max_cand if (fill and one) else 0, np.int64)

    for t in range(t0, t1):
        tl = t - t0
        start_tr = train_indptr[tl] if fill else np.int64(0)
        start_te = test_indptr[tl] if fill else np.int64(0)
        end_tr = train_indptr[tl + 1] if fill else np.int64(0)
        end_te = test_indptr[tl + 1] if fill else np.int64(0)
        p_tr = start_tr
        p_te = start_te
        n_one = np.int64(0)
        for j in range(nb):
            r = row_src[j, t]
            a = indptr[r]
            b = indptr[r + 1]
            d = b - a
            if d == 0:
                continue
            hp = prefix[j]
            keep_all = False
            # Bernoulli: uniform < p  <=>  (h >> 11) < ceil(p * 2**53)  (exact scalings)
            # EXACT: keep x < thr, and the first `ties_left` (by q) with x == thr
            thr = np.uint64(0)
            ties_left = np.int64(0)
            if exact:
                k = exact_counts[j, r]
                if k <= 0:
                    continue
                if k >= d:
                    keep_all = True
                else:
                    thr, ties_left = exact_threshold(hp, a, d, k, keys, sorted_keys)
            else:
                p = keep_row[j]
                if not p > 0.0:
                    continue
                if p >= 1.0:
                    keep_all = True
                else:
                    thr = np.uint64(np.ceil(p * _TWO_P53))
            base = np.int64(j) * n_items_block
            n_tr = np.int64(0)
            n_te = np.int64(0)
            for q in range(a, b):
                if keep_all:
                    kept = True
                elif exact:
                    key = keys[q - a]
                    kept = key < thr
                    if key == thr and ties_left > 0:
                        kept = True
                        ties_left -= 1
                else:
                    kept = (absorb(hp, q) >> _S11) < thr
                s = sign[q]
                if not fill:
                    # count pass: branch-free tally
                    n_tr += np.int64(kept & (s > 0))
                    n_te += np.int64(kept & (s < 0))
                elif kept and s != 0:
                    item = base + col_perm[j, indices[q]]
                    if s > 0:
                        if p_tr + n_tr >= end_tr:
                            raise ValueError("fill pass: train_indptr does not match the counts")
                        train_items[p_tr + n_tr] = item
                        train_src[p_tr + n_tr] = q
                        n_tr += 1
                    elif one:
                        one_items[n_one + n_te] = item
                        one_src[n_one + n_te] = q
                        n_te += 1
                    else:
                        if p_te + n_te >= end_te:
                            raise ValueError("fill pass: test_indptr does not match the counts")
                        test_items[p_te + n_te] = item
                        test_src[p_te + n_te] = q
                        n_te += 1
            block_train[j] += n_tr
            block_test[j] += n_te
            if fill:
                _sort_pairs(train_items, train_src, p_tr, p_tr + n_tr)
                if one:
                    _sort_pairs(one_items, one_src, n_one, n_one + n_te)
                else:
                    _sort_pairs(test_items, test_src, p_te, p_te + n_te)
            p_tr += n_tr
            if one:
                n_one += n_te
            else:
                p_te += n_te
        if one and n_one > 0:
            if fill:
                if p_te >= end_te:
                    raise ValueError("fill pass: test_indptr does not match the counts")
                pick = np.int64(_uniform(seed, STREAM_ONE, i, t, 0) * n_one)
                if pick >= n_one:
                    pick = n_one - 1
                test_items[p_te] = one_items[pick]
                test_src[p_te] = one_src[pick]
            p_te += 1
        if fill and (p_tr != end_tr or p_te != end_te):
            raise ValueError("fill pass: train_indptr/test_indptr do not match the counts")
        train_counts[tl] = p_tr - start_tr
        test_counts[tl] = p_te - start_te
    return train_counts, test_counts, block_train, block_test


# --------------------------------------------------------------------------------------
# Python-level API: argument normalization, validation, two-pass convenience.


class ExpandedRows(NamedTuple):
    """Local CSR of the output rows ``[t0, t1)`` of one block-row (all int64)."""

    train_indptr: np.ndarray  #: (t1-t0+1,)
    train_items: np.ndarray  #: (nnz_train,) output item ids j*n + sigma_ij(c)
    train_src: np.ndarray  #: (nnz_train,) absolute CSR position q of the source entry
    test_indptr: np.ndarray  #: (t1-t0+1,)
    test_items: np.ndarray  #: (nnz_test,)
    test_src: np.ndarray  #: (nnz_test,)
    block_train: np.ndarray  #: (n',) kept train entries per block j
    block_test: np.ndarray  #: (n',) kept test entries per block j (before TEST_ONE)


def as_mode(mode) -> int:
    """``MODE_BERNOULLI``/``MODE_EXACT`` from an int constant or "bernoulli"/"exact"."""
    if isinstance(mode, str):
        if mode not in _MODES:
            raise ValueError(f"unknown dropout mode {mode!r}; expected one of {list(_MODES)}")
        return _MODES[mode]
    if mode not in (MODE_BERNOULLI, MODE_EXACT):
        raise ValueError(f"unknown dropout mode {mode!r}")
    return int(mode)


def as_test_policy(policy) -> int:
    """``TEST_ALL``/``TEST_ONE`` from an int constant or "all"/"one"."""
    if isinstance(policy, str):
        if policy not in _POLICIES:
            raise ValueError(f"unknown test policy {policy!r}; expected one of {list(_POLICIES)}")
        return _POLICIES[policy]
    if policy not in (TEST_ALL, TEST_ONE):
        raise ValueError(f"unknown test policy {policy!r}")
    return int(policy)


_EMPTY = np.empty(0, np.int64)
_EMPTY2 = np.empty((0, 0), np.int64)


def _prepare(
    indptr,
    indices,
    sign,
    row_src,
    col_perm,
    keep_row,
    seed,
    i,
    t0,
    t1,
    mode,
    exact_counts,
    test_policy,
    n_items_block,
    validate,
):
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.asarray(indices)
    if indices.dtype not in (np.int32, np.int64):
        indices = indices.astype(np.int64)
    indices = np.ascontiguousarray(indices)
    sign = np.ascontiguousarray(sign, dtype=np.int8)
    row_src = np.ascontiguousarray(row_src, dtype=np.int64)
    col_perm = np.ascontiguousarray(col_perm, dtype=np.int64)
    keep_row = np.ascontiguousarray(keep_row, dtype=np.float64)
    mode = as_mode(mode)
    test_policy = as_test_policy(test_policy)
    m = indptr.shape[0] - 1
    t0, t1, i = int(t0), int(t1), int(i)
    if row_src.ndim != 2 or col_perm.ndim != 2:
        raise ValueError("row_src and col_perm must be 2-D (n_blocks, size)")
    nb = row_src.shape[0]
    n_items_block = col_perm.shape[1] if n_items_block is None else int(n_items_block)
    if mode == MODE_EXACT:
        if exact_counts is None:
            raise ValueError("mode EXACT needs exact_counts")
        exact_counts = np.ascontiguousarray(exact_counts, dtype=np.int64)
        if exact_counts.shape != (nb, m):
            raise ValueError(f"exact_counts has shape {exact_counts.shape}, expected {(nb, m)}")
    else:
        exact_counts = _EMPTY2
    if validate:
        if m < 0 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise ValueError("indptr must start at 0 and be non-decreasing")
        nnz = int(indptr[-1])
        if indices.shape != (nnz,) or sign.shape != (nnz,):
            raise ValueError(f"indices and sign must have length indptr[-1] = {nnz}")
        if col_perm.shape[0] != nb or keep_row.shape != (nb,):
            raise ValueError(f"col_perm and keep_row must have {nb} blocks (row_src.shape[0])")
        if row_src.shape[1] != m:
            raise ValueError(f"row_src has {row_src.shape[1]} slots, expected m = {m}")
        if not 0 <= t0 <= t1 <= m:
            raise ValueError(f"need 0 <= t0 <= t1 <= m, got t0={t0}, t1={t1}, m={m}")
        n = col_perm.shape[1]
        if nnz and (indices.min() < 0 or indices.max() >= n):
            raise ValueError(f"indices out of range [0, {n})")
        used = row_src[:, t0:t1]
        if used.size and (used.min() < 0 or used.max() >= m):
            raise ValueError(f"row_src out of range [0, {m})")
        if col_perm.size and (col_perm.min() < 0 or col_perm.max() >= n_items_block):
            raise ValueError(f"col_perm out of range [0, n_items_block={n_items_block})")
        if mode == MODE_BERNOULLI and not np.all((keep_row >= 0.0) & (keep_row <= 1.0)):
            raise ValueError("keep_row must be in [0, 1]")
    return (
        indptr,
        indices,
        sign,
        row_src,
        col_perm,
        keep_row,
        as_seed(seed),
        i,
        t0,
        t1,
        mode,
        exact_counts,
        test_policy,
        n_items_block,
    )


def count_rows(
    indptr,
    indices,
    sign,
    row_src,
    col_perm,
    keep_row,
    seed,
    i,
    t0,
    t1,
    mode=MODE_BERNOULLI,
    exact_counts=None,
    test_policy=TEST_ALL,
    n_items_block=None,
    *,
    validate=True,
):
    """Count pass: ``(train_counts, test_counts, block_train, block_test)``, all int64.

    ``*_counts`` have shape ``(t1-t0,)`` (entries emitted per output row, after the test
    policy); ``block_*`` have shape ``(n',)`` (kept entries per block, test before TEST_ONE).
    """
    args = _prepare(
        indptr, indices, sign, row_src, col_perm, keep_row, seed, i, t0, t1, mode,
        exact_counts, test_policy, n_items_block, validate,
    )  # fmt: skip
    e = _EMPTY
    return expand_rows_kernel(*args, False, e, e, e, e, e, e)


def fill_rows(
    indptr,
    indices,
    sign,
    row_src,
    col_perm,
    keep_row,
    seed,
    i,
    t0,
    t1,
    mode=MODE_BERNOULLI,
    exact_counts=None,
    test_policy=TEST_ALL,
    n_items_block=None,
    train_indptr=None,
    test_indptr=None,
    *,
    validate=True,
):
    """Fill pass: ``(train_items, train_src, test_items, test_src)``, all int64.

    ``train_indptr``/``test_indptr`` (int64, ``t1-t0+1``, starting at 0) are the local row
    pointers built from :func:`count_rows`; a mismatch raises ``ValueError``.
    """
    if train_indptr is None or test_indptr is None:
        raise ValueError("fill_rows needs train_indptr and test_indptr (from count_rows)")
    args = _prepare(
        indptr, indices, sign, row_src, col_perm, keep_row, seed, i, t0, t1, mode,
        exact_counts, test_policy, n_items_block, validate,
    )  # fmt: skip
    nrows = args[9] - args[8]
    train_indptr = np.ascontiguousarray(train_indptr, dtype=np.int64)
    test_indptr = np.ascontiguousarray(test_indptr, dtype=np.int64)
    for name, ptr in (("train_indptr", train_indptr), ("test_indptr", test_indptr)):
        if ptr.shape != (nrows + 1,) or ptr[0] != 0 or np.any(np.diff(ptr) < 0):
            raise ValueError(f"{name} must be non-decreasing, start at 0, length {nrows + 1}")
    train_items = np.empty(int(train_indptr[-1]), np.int64)
    train_src = np.empty(int(train_indptr[-1]), np.int64)
    test_items = np.empty(int(test_indptr[-1]), np.int64)
    test_src = np.empty(int(test_indptr[-1]), np.int64)
    expand_rows_kernel(
        *args, True, train_indptr, test_indptr, train_items, train_src, test_items, test_src
    )
    return train_items, train_src, test_items, test_src


def _indptr(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(counts.shape[0] + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def expand_block_rows(
    indptr,
    indices,
    sign,
    row_src,
    col_perm,
    keep_row,
    seed,
    i,
    t0,
    t1,
    mode=MODE_BERNOULLI,
    exact_counts=None,
    test_policy=TEST_ALL,
    n_items_block=None,
    *,
    validate=True,
) -> ExpandedRows:
    """Count then fill the output rows ``[t0, t1)`` of block-row ``i``; see module doc."""
    args = _prepare(
        indptr, indices, sign, row_src, col_perm, keep_row, seed, i, t0, t1, mode,
        exact_counts, test_policy, n_items_block, validate,
    )  # fmt: skip
    e = _EMPTY
    train_counts, test_counts, block_train, block_test = expand_rows_kernel(
        *args, False, e, e, e, e, e, e
    )
    train_indptr = _indptr(train_counts)
    test_indptr = _indptr(test_counts)
    train_items = np.empty(int(train_indptr[-1]), np.int64)
    train_src = np.empty(int(train_indptr[-1]), np.int64)
    test_items = np.empty(int(test_indptr[-1]), np.int64)
    test_src = np.empty(int(test_indptr[-1]), np.int64)
    expand_rows_kernel(
        *args, True, train_indptr, test_indptr, train_items, train_src, test_items, test_src
    )
    return ExpandedRows(
        train_indptr, train_items, train_src, test_indptr, test_items, test_src,
        block_train, block_test,
    )  # fmt: skip


def exact_total(keep: float, total: int) -> int:
    """Number of elements EXACT mode keeps out of ``total``: ``floor(keep * total + 0.5)``."""
    keep = float(keep)
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep must be in [0, 1], got {keep}")
    return min(int(total), int(np.floor(keep * int(total) + 0.5)))


def exact_row_counts(row_degree, keep: float, seed: int, i: int, j: int) -> np.ndarray:
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
    "ExpandedRows",
    "as_mode",
    "as_test_policy",
    "count_rows",
    "exact_row_counts",
    "exact_total",
    "expand_block_rows",
    "expand_rows_kernel",
    "fill_rows",
]
