"""The JOINT dropout: user and item train degrees both exact multiples of the input's.

Why: a synthetic user's degree is a sum over the n' block columns and a synthetic item's a
sum over the m' block rows; a dropout that targets one side (``targeted``) leaves the other
a sum of thinned pieces, which smears the point masses of sparse data (items with one or two
ratings, users of a 5-core). JOINT fixes both sums at once:

* R̂ is balanced (:func:`joint_keep`) to integer row sums ``a`` and column sums ``b``
  (``m'·a = n'·b``), and a pool of 0/1 *patterns* is drawn from it
  (:func:`pattern_pool`): ``m' × n'`` matrices with exactly those row and column sums whose
  mean is the balanced R̂ (dependent rounding, each entry is 1 with probability
  ``keep[i, j]``).
* Every train entry of R follows one pattern: it is kept in block ``(i, j)`` iff its
  pattern has a 1 there. The pattern of the entry of train rank ``q`` (column order,
  cyclically shifted by a hash of the row) in a row of *window* ``w`` is
  ``hash(seed, w, q) mod P``: the same for every row of the window.
* The column permutation of block ``(i, j)`` is the same for every ``i`` (uniform): a
  synthetic item copies one real item ``c`` in every block row, so its degree is
  ``Σ_u Σ_i pattern[i, j] = b · e_c``.
* Row permutations stay inside windows of users with the *same* train degree (and a close
  component of the top singular vector, which keeps σ₁ at Theorem 1): the n' rows a
  synthetic user copies share one window, so its degree is ``Σ_q Σ_j pattern_q[i, j] =
  a · d``. Windows (:func:`joint_windows`) hold at most ``--window`` rows.
* Both permutations are computed, never tabled per block row: a window's rows get the
  keyed Feistel bijection of the window (:func:`.permute.window_source_rows_kernel` gives a
  task's slots their sources), and the column permutation of block column ``j`` is the
  block bijection keyed by ``(seed, STREAM_COL_PERM, SHARED_ROW, j)``.

The test entries of a synthetic user are those of the row it copies in one block,
drawn in proportion to ``keep[i, j]``. The count pass needs no per-entry work: a row's kept
train entries in a block depend only on its window (:func:`window_count_table`). Every
decision is a pure function of (seed, block, row, rank) and of the small per-plan tables
(pool, windows).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._jit import IntLike, inline_jit, ngjit
from .dropout import TARGET_TEST_FLAG
from .permute import fill_windows_kernel
from .rng import STREAM_JOINT, absorb, as_seed, hash64, hash_prefix, to_unit, uniform

#: patterns in the pool (``m'·P·n'`` bytes per plan)
JOINT_PATTERNS = 1024
#: a window of equal-degree rows closes when the affinity range exceeds this × its RMS
JOINT_TOLERANCE = 1.0
#: power iterations of ``R Rᵀ`` for the users' affinity (top left singular vector)
JOINT_ITERATIONS = 10
#: stream coordinate ``a`` of each use (above any block index)
COORD_POOL = np.int64(1 << 40)
COORD_PATTERN = np.int64((1 << 40) + 1)
COORD_SHIFT = np.int64((1 << 40) + 2)
#: the block-row index of the column permutations every block row shares
SHARED_ROW = np.int64((1 << 40) + 3)
_MASK = np.int64((1 << 40) - 1)


#: cells of the grouped rows (``m'·groups × n'``) the pattern pool is drawn on, at most: the
#: dependent rounding's time grows faster than the cells (1,024 patterns: 0.2 s at 2,048
#: cells, 1.6 s at 32,768, 15 s at 49,152)
JOINT_GROUP_CELLS = 1 << 15


def row_groups(a: int, mp: int, npr: int) -> int:
    """The groups of block columns of a block row for shared rows under the joint dropout:
    ``a`` (one real user per group, each entry kept once per group), or where the grouped
    rows would exceed :data:`JOINT_GROUP_CELLS`, the largest divisor ``k`` of ``a`` that fits
    (each entry kept ``a / k`` times per group).

    Examples
    --------
    >>> row_groups(4, 16, 32), row_groups(3, 8, 8), row_groups(400, 200, 400)
    (4, 3, 1)
    """
    for k in range(int(a), 0, -1):
        if a % k == 0 and mp * k * npr <= JOINT_GROUP_CELLS:
            return k
    return 1


def column_groups(i: int, blocks: np.ndarray, npr: int, groups: int) -> np.ndarray:
    """The group of each block column ``blocks`` in block row ``i`` (int64): ``groups``
    runs of consecutive block columns, of ``n' / groups`` each when that divides, else of
    ``⌊n' / groups⌋`` or ``⌈n' / groups⌉`` rotated by one column per block row (so that
    every block column is in a short group as often as any other).

    With shared rows and the joint dropout there are ``a`` groups (the row multiple;
    :func:`row_groups`): a synthetic user copies one real user per group, and a pattern keeps
    each entry once per group, so no history holds two renamed copies of one real item
    ("twins", which co-occur in every history that has the item).

    Examples
    --------
    >>> column_groups(0, np.arange(8), 8, 4).tolist()
    [0, 0, 1, 1, 2, 2, 3, 3]
    >>> column_groups(0, np.arange(8), 8, 3).tolist()
    [0, 0, 0, 1, 1, 1, 2, 2]
    >>> column_groups(1, np.arange(8), 8, 3).tolist()
    [0, 0, 1, 1, 1, 2, 2, 0]
    """
    shift = 0 if npr % groups == 0 else int(i)
    return ((np.asarray(blocks, dtype=np.int64) + shift) % npr) * groups // npr


def group_rows(x: np.ndarray, groups: int) -> np.ndarray:
    """``(m'·groups, n')``: row ``i·groups + g`` holds row ``i`` of ``x`` on the block columns
    of group ``g`` (:func:`column_groups`) and zeros elsewhere; summing the rows of each
    ``i`` gives ``x`` back."""
    mp, npr = x.shape
    out = np.zeros((mp * groups, npr), dtype=x.dtype)
    cols = np.arange(npr, dtype=np.int64)
    for i in range(mp):
        out[i * groups + column_groups(i, cols, npr, groups), cols] = x[i]
    return out


def joint_keep(
    keep: np.ndarray, iterations: int = 10_000, *, grouped: bool = False
) -> tuple[np.ndarray, int, int]:
    """R̂ balanced to integer row sums ``a`` and column sums ``b`` (entries in [0, 1]).

    ``a`` is the multiple of ``n' / gcd(m', n')`` nearest the mean row sum (at least that
    step), ``b = m'·a / n'``; then alternate row and column scaling with clipping at 1
    (iterative proportional fitting). Zero entries stay zero. ``grouped`` (shared rows):
    each row also sums to ``a / k`` on each of its ``k =`` :func:`row_groups` groups of block
    columns (:func:`column_groups`), so that a pattern keeps an entry once per group
    (``k = a``).

    Examples
    --------
    >>> k, a, b = joint_keep(np.array([[0.5, 0.9], [0.2, 0.6]]))
    >>> a, b, k.sum(axis=1).round(6).tolist(), k.sum(axis=0).round(6).tolist()
    (1, 1, [1.0, 1.0], [1.0, 1.0])
    >>> k, a, b = joint_keep(np.full((2, 4), 0.5), grouped=True)
    >>> a, b, k[:, :2].sum(axis=1).round(6).tolist()
    (2, 1, [1.0, 1.0])
    >>> k, a, b = joint_keep(np.full((8, 8), 0.375), grouped=True)  # groups of 3, 3 and 2
    >>> a, k[0, 6:].round(6).tolist(), float(k.sum(axis=0).round(6).min())
    (3, [0.5, 0.5], 3.0)
    """
    x = np.array(keep, dtype=np.float64)
    mp, npr = x.shape
    step = npr // int(np.gcd(mp, npr))
    a = max(step, int(np.floor(x.sum() / mp / step + 0.5)) * step)
    b = a * mp // npr
    if (
        a > npr
        or b > mp
        or np.count_nonzero(x > 0, axis=1).min() < a
        or (np.count_nonzero(x > 0, axis=0).min() < b)
    ):
        raise ValueError(
            f"the joint dropout needs R̂ with at least {a} non-zero entries in every row and "
            f"{b} in every column"
        )
    x[x < 0] = 0.0
    k = row_groups(a, mp, npr) if grouped else 1
    if k > 1:
        x = group_rows(x, k)
        if np.count_nonzero(x > 0, axis=1).min() < a // k:
            raise ValueError(
                f"the joint dropout with shared rows needs R̂ with {a // k} non-zero entries "
                f"in every row on each of its {k} groups of block columns"
            )
    x = _balance(x, a // k, b, iterations)
    return (x.reshape(mp, k, npr).sum(axis=1) if k > 1 else x), a, b


def _balance(x: np.ndarray, a: int, b: int, iterations: int) -> np.ndarray:
    """``x`` scaled to row sums ``a`` and column sums ``b`` with clipping at 1 (in place)."""

    def balanced() -> bool:
        return max(np.abs(x.sum(axis=1) - a).max(), np.abs(x.sum(axis=0) - b).max()) < 1e-12

    if balanced():  # e.g. a store's recorded R̂ given back: the same bits, the same patterns
        return x
    for _ in range(iterations):
        x *= (a / x.sum(axis=1))[:, None]
        np.minimum(x, 1.0, out=x)
        x *= (b / x.sum(axis=0))[None, :]
        np.minimum(x, 1.0, out=x)
        if balanced():
            return x
    raise ValueError("the joint dropout could not balance R̂ (a row or column saturates)")


@ngjit
def dependent_round_kernel(x0: np.ndarray, hp: np.uint64) -> np.ndarray:
    """A 0/1 matrix with the (integer) row and column sums of ``x0`` and ``E[out] = x0``.

    Dependent rounding on the bipartite graph of rows and columns (Gandhi et al. 2006): while
    an entry is fractional, walk from it along fractional entries (alternating row and
    column; every vertex with a fractional entry has two, its sum being an integer) until a
    vertex repeats, then move the cycle's alternate entries by ``+δ``/``−δ`` (``δ`` the
    largest step keeping them in [0, 1]; the sign drawn so the expectation is unchanged).
    Each step makes at least one entry integral. Draws: ``to_unit(absorb(hp, s))``.
    """
    x = x0.copy()
    mp, npr = x.shape
    eps = 1e-9
    vis_r = np.empty(mp, np.int64)
    vis_c = np.empty(npr, np.int64)
    pr = np.empty(2 * (mp + npr) + 2, np.int64)
    pc = np.empty(2 * (mp + npr) + 2, np.int64)
    s: IntLike = 0
    # an entry made integral never leaves a cycle again: the first fractional one only moves on
    first: IntLike = 0
    for _ in range(mp * npr + 1):
        r = -1
        for kk in range(first, mp * npr):
            v = x[kk // npr, kk % npr]
            if eps < v < 1.0 - eps:
                r = kk // npr
                first = kk
                break
        if r < 0:
            break
        vis_r[:] = -1
        vis_c[:] = -1
        n_edges: IntLike = 0
        start: IntLike = 0
        prev_c: IntLike = -1
        while True:
            vis_r[r] = n_edges
            c0: IntLike = np.int64(to_unit(absorb(hp, s)) * npr)
            s += 1
            c = -1
            for k in range(npr):
                cc = (c0 + k) % npr
                if cc != prev_c and eps < x[r, cc] < 1.0 - eps:
                    c = cc
                    break
            pr[n_edges] = r
            pc[n_edges] = c
            n_edges += 1
            if vis_c[c] >= 0:
                start = vis_c[c]
                break
            vis_c[c] = n_edges
            r0: IntLike = np.int64(to_unit(absorb(hp, s)) * mp)
            s += 1
            rr = -1
            for k in range(mp):
                r2 = (r0 + k) % mp
                if r2 != r and eps < x[r2, c] < 1.0 - eps:
                    rr = r2
                    break
            pr[n_edges] = rr
            pc[n_edges] = c
            n_edges += 1
            if vis_r[rr] >= 0:
                start = vis_r[rr]
                break
            r = rr
            prev_c = c
        up = 1e300  # largest step +δ on the even edges of the cycle, −δ on the odd ones
        down = 1e300
        for k in range(start, n_edges):
            v = x[pr[k], pc[k]]
            if (k - start) % 2 == 0:
                up = min(up, 1.0 - v)
                down = min(down, v)
            else:
                up = min(up, v)
                down = min(down, 1.0 - v)
        delta = up if to_unit(absorb(hp, s)) * (up + down) < down else -down
        s += 1
        for k in range(start, n_edges):
            if (k - start) % 2 == 0:
                x[pr[k], pc[k]] += delta
            else:
                x[pr[k], pc[k]] -= delta
    out = np.zeros((mp, npr), np.uint8)
    for r in range(mp):
        for c in range(npr):
            out[r, c] = 1 if x[r, c] > 0.5 else 0
    return out


@ngjit
def pattern_pool_kernel(keep: np.ndarray, seed: IntLike, n_patterns: IntLike) -> np.ndarray:
    """``out[i, p, j]``: pattern ``p`` (:func:`dependent_round_kernel` of the balanced
    ``keep`` with the stream ``(seed, STREAM_JOINT, COORD_POOL, p)``), block rows first so
    that a task's block row is one contiguous ``(P, n')`` table."""
    mp, npr = keep.shape
    out = np.empty((mp, n_patterns, npr), np.uint8)
    for p in range(n_patterns):
        pat = dependent_round_kernel(keep, hash_prefix(seed, STREAM_JOINT, COORD_POOL, p))
        for i in range(mp):
            for j in range(npr):
                out[i, p, j] = pat[i, j]
    return out


def pattern_pool(
    keep: np.ndarray, seed: int, n_patterns: int = JOINT_PATTERNS, groups: int = 1
) -> np.ndarray:
    """The pool of block patterns of a balanced ``keep`` (:func:`joint_keep`): uint8
    ``(m', P, n')``, each ``[:, p, :]`` with the row / column sums of ``keep``; with
    ``groups`` > 1 (``keep`` balanced ``grouped``), also one 1 a row on each group of block
    columns (the patterns of :func:`group_rows` of ``keep``, rows summed back)."""
    keep = np.ascontiguousarray(keep, dtype=np.float64)
    if groups == 1:
        return pattern_pool_kernel(keep, as_seed(seed), np.int64(n_patterns))
    mp, npr = keep.shape
    pool = pattern_pool_kernel(group_rows(keep, groups), as_seed(seed), np.int64(n_patterns))
    return pool.reshape(mp, groups, n_patterns, npr).sum(axis=1, dtype=np.uint8)


def user_affinity(
    indptr: np.ndarray, indices: np.ndarray, train: np.ndarray, n: int,
    iterations: int = JOINT_ITERATIONS,
) -> np.ndarray:  # fmt: skip
    """The users' components of the top left singular vector of the 0/1 train matrix
    (``iterations`` power iterations of ``R Rᵀ`` from the all-ones vector, float64)."""
    import scipy.sparse as sp

    m = indptr.shape[0] - 1
    r = sp.csr_matrix((train.astype(np.float64), indices, indptr), shape=(m, n))
    x = np.ones(m)
    for _ in range(iterations):
        x = r @ (r.T @ x)
        norm = float(np.linalg.norm(x))
        if norm == 0:
            return np.zeros(m)
        x /= norm
    return x


def row_windows(train: Any, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The joint dropout's row windows of a train matrix (scipy CSR): :func:`joint_windows` of
    its row degrees and :func:`user_affinity` (what the planner and a privacy audit's ground
    truth both compute, so they agree bit for bit).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> r = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]], dtype=np.float32))
    >>> [a.tolist() for a in row_windows(r, 4)]
    [[1, 2, 0], [0, 1, 3], [1, 0, 1]]
    """
    train = train.tocsr()
    degree = np.diff(train.indptr).astype(np.int64)
    affinity = user_affinity(
        train.indptr.astype(np.int64), train.indices, np.ones(train.nnz), train.shape[1]
    )
    return joint_windows(degree, affinity, window)


def joint_windows(
    degree: np.ndarray, affinity: np.ndarray, window: int, tolerance: float = JOINT_TOLERANCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of rows with equal ``degree`` and close ``affinity``.

    Rows sorted by (degree, affinity, index); a window closes when the degree changes, when
    it holds ``window`` rows, or when the next affinity exceeds its first by more than
    ``tolerance`` times the RMS affinity. Returns ``(order, starts, window_of)``: the sorted
    rows (int64), the window boundaries in ``order`` (int64, ``starts[-1] = m``) and each
    row's window (int64).

    Examples
    --------
    >>> o, s, w = joint_windows(np.array([4, 5, 4, 4]), np.zeros(4), 2)
    >>> o.tolist(), s.tolist(), w.tolist()
    ([0, 2, 3, 1], [0, 2, 3, 4], [0, 2, 0, 1])
    """
    degree = np.asarray(degree, dtype=np.int64)
    affinity = np.asarray(affinity, dtype=np.float64)
    m = degree.shape[0]
    order = np.lexsort((np.arange(m), affinity, degree)).astype(np.int64)
    ds, xs = degree[order], affinity[order]
    rms = float(np.sqrt(np.mean(affinity**2))) if m else 0.0
    st = _window_starts(ds, xs, np.int64(window), tolerance * rms)
    window_of = np.empty(m, np.int64)
    window_of[order] = np.repeat(np.arange(st.shape[0] - 1, dtype=np.int64), np.diff(st))
    return order, st, window_of


@ngjit
def _window_starts(ds: np.ndarray, xs: np.ndarray, window: IntLike, spread: float) -> np.ndarray:
    """Window boundaries of the sorted degrees ``ds`` and affinities ``xs`` (with ``m``)."""
    m = ds.shape[0]
    out = np.empty(m + 1, np.int64)
    out[0] = 0
    if m == 0:
        return out
    n_out = 1
    for k in range(1, m):
        s0 = out[n_out - 1]
        if ds[k] != ds[k - 1] or k - s0 >= window or xs[k] - xs[s0] > spread:
            out[n_out] = k
            n_out += 1
    out[n_out] = m
    return out[: n_out + 1]


@ngjit
def window_permutation_kernel(
    order: np.ndarray, starts: np.ndarray, seed: IntLike, stream: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """``perm[order[s + x]] = order[s + f_w(x)]`` with ``f_w`` the computed bijection of
    window ``w = [s, e)`` (:func:`.permute.fill_windows_kernel`, keys from ``(seed, stream,
    i, j)``): a permutation inside every window. The expansion never builds it: its tasks
    compute their slots' sources by the inverse (:func:`.permute.window_source_rows_kernel`)."""
    perm = np.empty(order.shape[0], np.int64)
    fill_windows_kernel(perm, order, starts, seed, stream, i, j)
    return perm


@ngjit
def window_count_table(
    pool: np.ndarray,
    windows: np.ndarray,
    degrees: np.ndarray,
    blocks: np.ndarray,
    seed: IntLike,
) -> np.ndarray:
    """``out[k, b]``: the train entries a row of window ``windows[k]`` (train degree
    ``degrees[k]``) keeps in block ``(i, blocks[b])`` of the block row whose ``(P, n')``
    pattern table is ``pool`` (int64).

    Why a table: :func:`joint_row_keep` keeps the train entry of rank ``q`` iff
    ``pool[pattern_index(seed, w, q), j]``, and a row's ranks are a rotation of ``0..d-1``
    (:func:`rank_shift`), so the count is ``#{q < d : pool[pattern_index(seed, w, q), j]}``:
    the same for every row of a window (one degree), computed once per window and block
    instead of once per entry of every row.
    """
    nw = windows.shape[0]
    nb = blocks.shape[0]
    out = np.zeros((nw, nb), np.int64)
    n_pat = np.uint64(pool.shape[0])
    for k in range(nw):
        hp = hash_prefix(seed, STREAM_JOINT, COORD_PATTERN, windows[k])
        for q in range(degrees[k]):
            p = np.int64(absorb(hp, q) % n_pat)
            for b in range(nb):
                out[k, b] += np.int64(pool[p, blocks[b]])
    return out


@ngjit
def joint_count_rows_kernel(
    indptr: np.ndarray,
    sign: np.ndarray,
    blocks: np.ndarray,
    row_src: np.ndarray,
    keys: np.ndarray,
    table: np.ndarray,
    slot_window: np.ndarray,
    keep_row: np.ndarray,
    test_one: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The count pass of the JOINT dropout: :func:`.emit.count_rows_kernel`'s results from
    the window count table (:func:`window_count_table`).

    Slot ``u``'s train count in block ``blocks[b]`` is ``table[slot_window[u], b]`` (its
    source row shares its window); its test entries are those of its source row in the one
    block whose key carries :data:`TARGET_TEST_FLAG` (``keys``, :func:`joint_slot_keys`).
    Returns ``(train_counts, test_counts, block_train, block_test)`` (int64; test counts
    after the ``one`` rule, block counts before it and of shape ``keep_row.shape``).
    """
    ns = row_src.shape[1]
    nb = blocks.shape[0]
    train_counts = np.zeros(ns, np.int64)
    test_counts = np.zeros(ns, np.int64)
    block_train = np.zeros(keep_row.shape[0], np.int64)
    block_test = np.zeros(keep_row.shape[0], np.int64)
    for u in range(ns):
        k = slot_window[u]
        n_tr: IntLike = 0
        n_te: IntLike = 0
        for b in range(nb):
            j = blocks[b]
            if not keep_row[j] > 0.0:  # a dropped block, as the per-entry pass
                continue
            c = table[k, b]
            block_train[j] += c
            n_tr += c
            if (keys[b, u] & TARGET_TEST_FLAG) != 0:
                r = row_src[b, u]
                c_te: IntLike = 0
                for q in range(indptr[r], indptr[r + 1]):
                    c_te += np.int64(sign[q] < 0)
                block_test[j] += c_te
                n_te += c_te
        train_counts[u] = n_tr
        test_counts[u] = 1 if (test_one and n_te > 0) else n_te
    return train_counts, test_counts, block_train, block_test


@ngjit
def joint_slot_keys(
    window_of: np.ndarray,
    keep_row: np.ndarray,
    blocks: np.ndarray,
    src: np.ndarray,
    slots: np.ndarray,
    seed: IntLike,
    i: IntLike,
) -> np.ndarray:
    """The JOINT kernels' key of each (block, slot): ``window_of[src[b, u]]``, with
    :data:`TARGET_TEST_FLAG` in the block that gives the slot its test entries (drawn in
    proportion to ``keep_row`` over ``blocks``, ``uniform(seed, STREAM_JOINT, i, t, 0)``)."""
    nb = blocks.shape[0]
    out = np.empty(src.shape, np.int64)
    total = 0.0
    for b in range(nb):
        total += keep_row[blocks[b]]
    for u in range(slots.shape[0]):
        for b in range(nb):
            out[b, u] = window_of[src[b, u]]
        if total > 0.0:
            x = uniform(seed, STREAM_JOINT, i, slots[u], 0) * total
            acc = 0.0
            pick = nb - 1
            for b in range(nb):
                acc += keep_row[blocks[b]]
                if x < acc:
                    pick = b
                    break
            out[pick, u] |= TARGET_TEST_FLAG
    return out


@ngjit
def pattern_index(seed: IntLike, window: IntLike, rank: IntLike, n_patterns: IntLike) -> int:
    """The pattern of train rank ``rank`` in the rows of window ``window``."""
    return int(hash64(seed, STREAM_JOINT, COORD_PATTERN, window, rank) % np.uint64(n_patterns))


@ngjit
def rank_shift(seed: IntLike, row: IntLike, n_train: IntLike) -> int:
    """The cyclic shift of source row ``row``'s train ranks (``0`` for an empty row)."""
    if n_train <= 0:
        return 0
    return int(hash64(seed, STREAM_JOINT, COORD_SHIFT, row, 0) % np.uint64(n_train))


def pattern_offsets(degrees: np.ndarray, n_patterns: int) -> np.ndarray:
    """Where each window's ranks start in a :func:`pattern_index_table` (int64, ``nw + 2``
    long: ``off[w]`` for window ``w``, ``off[nw]`` the total, ``off[nw + 1] = n_patterns``,
    so that a table is never read with another pool).

    >>> pattern_offsets(np.array([2, 0, 1]), 5).tolist()
    [0, 2, 2, 3, 5]
    """
    degrees = np.asarray(degrees, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(degrees), [n_patterns]]).astype(np.int64)


@ngjit
def pattern_index_table(seed: IntLike, off: np.ndarray) -> np.ndarray:
    """Every window's pattern indices: ``idx[off[w] + q] = pattern_index(seed, w, q, P)``
    for the ranks ``q`` of window ``w`` (``off`` from :func:`pattern_offsets`, ``P`` its last
    element; int32).

    Why: the pattern of a train rank depends on the window and the rank, not on the block,
    so the write pass looks it up instead of hashing every entry again in every block.

    Examples
    --------
    >>> idx = pattern_index_table(np.uint64(3), pattern_offsets(np.array([2, 0, 1]), 5))
    >>> idx.tolist() == [pattern_index(3, 0, 0, 5), pattern_index(3, 0, 1, 5),
    ...                  pattern_index(3, 2, 0, 5)]
    True
    """
    nw = off.shape[0] - 2
    idx = np.empty(off[nw], np.int32)
    n_pat = np.uint64(off[nw + 1])
    for w in range(nw):
        hp = hash_prefix(seed, STREAM_JOINT, COORD_PATTERN, w)
        for q in range(off[w + 1] - off[w]):
            idx[off[w] + q] = np.int32(absorb(hp, q) % n_pat)
    return idx


@inline_jit
def _holds(pat_off: np.ndarray, n_pat: IntLike, w: IntLike, d: IntLike) -> bool:
    """Whether a :func:`pattern_index_table` with offsets ``pat_off`` was built for a pool of
    ``n_pat`` patterns and holds window ``w`` with ``d`` train ranks."""
    nt = pat_off.shape[0]
    return w + 2 < nt and pat_off[nt - 1] == n_pat and pat_off[w + 1] - pat_off[w] == d


@ngjit
def joint_row_keep(
    pool: np.ndarray,
    j: IntLike,
    seed: IntLike,
    key: IntLike,
    row: IntLike,
    a: IntLike,
    b: IntLike,
    sign: np.ndarray,
    pos: np.ndarray,
    pat_off: np.ndarray,
    pat_idx: np.ndarray,
) -> int:
    """JOINT dropout of source row ``row`` (CSR ``[a, b)``) in block ``(i, j)``: fill ``pos``
    with the kept positions (ascending) and return how many.

    ``pool`` is the block row's ``(P, n')`` pattern table, ``key`` the row's window
    ``w | TARGET_TEST_FLAG·f``. The train entry of rank ``x`` (its place among the row's
    train entries) has rank ``q = (x + shift) mod d`` (:func:`rank_shift`) and is kept iff
    ``pool[pattern_index(seed, w, q), j]``; test entries are kept iff ``f``. The pattern
    indices come from ``pat_off`` / ``pat_idx`` (:func:`pattern_index_table`) when they
    were built for ``P`` and hold window ``w`` with ``d`` ranks, else they are hashed (the
    same values; empty tables: always hashed).
    """
    w = key & _MASK
    with_test = (key & TARGET_TEST_FLAG) != 0
    n_train: IntLike = 0
    for q in range(a, b):
        n_train += np.int64(sign[q] > 0)
    shift = rank_shift(seed, row, n_train)
    tabled = _holds(pat_off, pool.shape[0], w, n_train)
    base = pat_off[w] if tabled else 0
    hp = hash_prefix(seed, STREAM_JOINT, COORD_PATTERN, w)
    n_pat = np.uint64(pool.shape[0])
    x: IntLike = shift
    nk: IntLike = 0
    for q in range(a, b):
        s = sign[q]
        if s > 0:
            p = pat_idx[base + np.int64(x)] if tabled else np.int64(absorb(hp, x) % n_pat)
            if pool[p, j] != 0:
                pos[nk] = q
                nk += 1
            x += 1
            if x == n_train:
                x = 0
        elif s < 0 and with_test:
            pos[nk] = q
            nk += 1
    return int(nk)


@ngjit
def kept_rank_table(
    pool: np.ndarray, off: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The train ranks each block column keeps, window by window: ``(start, ranks)``.

    ``ranks[start[j·nw + w] : start[j·nw + w + 1]]`` are the ranks ``q`` of window ``w``
    (ascending) whose pattern ``pool[idx[off[w] + q]]`` has a 1 in block column ``j``
    (``off`` / ``idx`` from :func:`pattern_offsets` / :func:`pattern_index_table` for this
    ``pool``; ``nw = off.shape[0] - 2``). ``start`` is int64 (``n'·nw + 1``), ``ranks``
    int32: about ``off[nw]`` times a pattern's row sum entries.

    Why: :func:`joint_row_keep_listed` walks a row's kept ranks instead of testing every
    train entry of the row in every block (at a keep of 1/8 that is 8 tests per kept entry).

    Examples
    --------
    >>> pool = np.array([[1, 0], [0, 1], [1, 1]], np.uint8)
    >>> off = pattern_offsets(np.array([2, 1]), 3)
    >>> start, ranks = kept_rank_table(pool, off, np.array([2, 1, 0], np.int32))
    >>> start.tolist(), ranks.tolist()
    ([0, 1, 2, 4, 4], [0, 0, 0, 1])
    """
    n_pat, npr = pool.shape
    nw = off.shape[0] - 2
    # the block columns of each pattern (a pattern's row sum of them)
    p_start = np.zeros(n_pat + 1, np.int64)
    for p in range(n_pat):
        c: IntLike = 0
        for j in range(npr):
            c += np.int64(pool[p, j] != 0)
        p_start[p + 1] = p_start[p] + c
    p_cols = np.empty(p_start[n_pat], np.int64)
    for p in range(n_pat):
        c = p_start[p]
        for j in range(npr):
            if pool[p, j] != 0:
                p_cols[c] = j * nw
                c += 1
    start = np.zeros(npr * nw + 1, np.int64)
    for w in range(nw):
        for x in range(off[w], off[w + 1]):
            p = idx[x]
            for c in range(p_start[p], p_start[p + 1]):
                start[p_cols[c] + w + 1] += 1
    for k in range(npr * nw):
        start[k + 1] += start[k]
    ranks = np.empty(start[npr * nw], np.int32)
    cursor = start[: npr * nw].copy()
    for w in range(nw):
        for x in range(off[w], off[w + 1]):
            p = idx[x]
            for c in range(p_start[p], p_start[p + 1]):
                k = p_cols[c] + w
                ranks[cursor[k]] = np.int32(x - off[w])
                cursor[k] += 1
    return start, ranks


@ngjit
def joint_row_keep_listed(
    start: np.ndarray,
    ranks: np.ndarray,
    pool: np.ndarray,
    pat_off: np.ndarray,
    j: IntLike,
    seed: IntLike,
    key: IntLike,
    row: IntLike,
    a: IntLike,
    b: IntLike,
    sign: np.ndarray,
    other_start: np.ndarray,
    other_pos: np.ndarray,
    pos: np.ndarray,
) -> int:
    """:func:`joint_row_keep` in time proportional to the kept entries, or ``-1``.

    ``start`` / ``ranks`` are the block row's :func:`kept_rank_table` of ``pool`` and
    ``pat_off``; ``other_pos[other_start[row] : other_start[row + 1]]`` the positions in the
    row (from ``a``, ascending) of its entries that are not train (``sign <= 0``). The kept
    ranks ``q`` of the row's window in block column ``j`` give its kept train entries
    ``x = (q - shift) mod d`` (ascending after one rotation), placed among the other entries;
    test entries are kept iff ``key`` has the test flag. Fills ``pos`` with the same
    positions as :func:`joint_row_keep` (ascending) and returns how many; returns ``-1``
    when the tables do not hold the row's window at its train degree (the caller then calls
    :func:`joint_row_keep`).
    """
    nw = pat_off.shape[0] - 2
    w = key & _MASK
    if row + 1 >= other_start.shape[0]:
        return -1
    o0 = other_start[row]
    o1 = other_start[row + 1]
    d = (b - a) - (o1 - o0)
    if not (_holds(pat_off, pool.shape[0], w, d) and start.shape[0] == pool.shape[1] * nw + 1):
        return -1
    with_test = (key & TARGET_TEST_FLAG) != 0
    s0 = start[j * nw + w]
    s1 = start[j * nw + w + 1]
    shift = rank_shift(seed, row, d)
    # the first listed rank at or after the shift: train entry 0's rank
    lo = s0 + np.searchsorted(ranks[s0:s1], shift)
    n_list = s1 - s0
    k = o0
    nk: IntLike = 0
    for z in range(n_list):
        y = lo + z
        if y >= s1:
            x = np.int64(ranks[y - n_list]) - shift + d
        else:
            x = np.int64(ranks[y]) - shift
        # train entry x sits after the other entries before it
        while k < o1 and other_pos[k] <= x + (k - o0):
            if with_test and sign[a + other_pos[k]] < 0:
                pos[nk] = a + other_pos[k]
                nk += 1
            k += 1
        pos[nk] = a + x + (k - o0)
        nk += 1
    while k < o1:
        if with_test and sign[a + other_pos[k]] < 0:
            pos[nk] = a + other_pos[k]
            nk += 1
        k += 1
    return int(nk)


def other_positions(indptr: np.ndarray, sign: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(other_start, other_pos)`` of :func:`joint_row_keep_listed`: per row, the positions
    (from the row's start, ascending, int64) of its entries with ``sign <= 0``.

    >>> s, p = other_positions(np.array([0, 3, 5]), np.array([1, -1, 1, 1, -1], np.int8))
    >>> s.tolist(), p.tolist()
    ([0, 1, 2], [1, 1])
    """
    indptr = np.asarray(indptr, np.int64)
    q = np.flatnonzero(np.asarray(sign) <= 0).astype(np.int64)
    rows = np.searchsorted(indptr, q, side="right") - 1
    m = indptr.shape[0] - 1
    start = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=start[1:])
    return start, q - indptr[rows]


__all__ = [
    "JOINT_GROUP_CELLS",
    "JOINT_ITERATIONS",
    "JOINT_PATTERNS",
    "JOINT_TOLERANCE",
    "SHARED_ROW",
    "column_groups",
    "dependent_round_kernel",
    "group_rows",
    "joint_count_rows_kernel",
    "joint_keep",
    "joint_row_keep",
    "joint_row_keep_listed",
    "joint_slot_keys",
    "joint_windows",
    "kept_rank_table",
    "other_positions",
    "pattern_index",
    "pattern_index_table",
    "pattern_offsets",
    "pattern_pool",
    "pattern_pool_kernel",
    "rank_shift",
    "row_groups",
    "row_windows",
    "user_affinity",
    "window_count_table",
    "window_permutation_kernel",
]
