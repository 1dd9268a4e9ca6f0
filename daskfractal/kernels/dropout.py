"""Dropout semantics shared by the count and emit kernels: mode and test-policy codes, and
EXACT dropout (a fixed number of kept elements per source row).

Dropout of the element at absolute CSR position ``q`` in block ``(i, j)``:

* ``MODE_BERNOULLI``: kept iff ``uniform(seed, STREAM_DROP, i, j, q) < keep_row[j]``.
* ``MODE_EXACT``: keep ``k = exact_counts[j, r]`` elements of source row ``r``, a uniform
  ``k``-subset by selection sampling (:func:`select_next`: going through the row in order,
  element ``q`` is kept iff ``uniform(seed, STREAM_EXACT, i, j, q) · left < need``, so exactly
  ``k`` are kept with one hash each and no sort); ``keep_row`` is not used. Three rules give
  the per-row counts (the dropout names of the expansion):

  - ``"exact"`` (:func:`exact_row_counts`): a fixed total per block, split over the rows
    multivariate-hypergeometrically (the MLPerf reference's semantics);
  - ``"balanced"`` (:func:`balanced_row_counts`): each (row, block) keeps ``p·d`` rounded
    stochastically (``⌊p·d + u⌋``, ``u`` from ``(seed, i, j, r)``), so a row's count varies by
    at most one around its expectation instead of binomially;
  - ``"targeted"`` (:func:`targeted_row_counts`): each output user's train total
    ``T = c·d*`` is fixed first (``c`` the integer row sum of R̂, ``d*`` the degree of the real
    user it is anchored on), then split over the blocks in proportion to ``p_ij·d_j`` by
    systematic rounding (each block gets its share rounded down or up, the parts sum to
    ``T``). The output degrees are exactly the input's times ``c``, so the point masses of a
    k-core input survive (any other scale moves every atom a little, and the KS distance of
    ``log(d / mean d)`` then counts each atom's whole mass).

Test policy (entries with ``sign < 0``):

* ``TEST_ALL``: every kept test entry is emitted.
* ``TEST_ONE``: an output row with ``c >= 1`` kept test entries (over all ``j``) emits only
  the one at index ``min(int(uniform(seed, STREAM_ONE, i, t, 0) * c), c - 1)`` in ascending
  output-item order.
"""

from __future__ import annotations

import numpy as np

from ._jit import IntLike, ngjit
from .rng import STREAM_BALANCE, STREAM_EXACT, STREAM_TARGET, absorb, as_seed, to_unit, uniform

MODE_BERNOULLI = 0
MODE_EXACT = 1
MODE_TARGET = 2
#: user and item degrees both targeted (:mod:`.joint`)
MODE_JOINT = 3
#: Flag of a ``MODE_TARGET`` count: this (block, row) holds the output user's test entries.
TARGET_TEST_FLAG = np.int64(1 << 40)
_COUNT_MASK = np.int64((1 << 40) - 1)
TEST_ALL = 0
TEST_ONE = 1
#: EXACT rows keeping ``k`` of ``d`` use Floyd's sampling (``k`` draws and a sorted insertion
#: each) when ``k·(FLOYD_BASE + k) <= 2·d``: measured, a Floyd row costs about
#: ``k·(15 + 0.8·k)`` ns and a selection-sampling row ``2.2·d`` ns
FLOYD_BASE = 16

_MODES = {
    "bernoulli": MODE_BERNOULLI,
    "exact": MODE_EXACT,
    "balanced": MODE_EXACT,
    "targeted": MODE_TARGET,
    "joint": MODE_JOINT,
}
_POLICIES = {"all": TEST_ALL, "one": TEST_ONE}


def as_mode(mode: str | IntLike) -> int:
    """``MODE_BERNOULLI``/``MODE_EXACT`` from an int constant or "bernoulli"/"exact"."""
    if isinstance(mode, str):
        if mode not in _MODES:
            raise ValueError(f"unknown dropout mode {mode!r}; expected one of {list(_MODES)}")
        return _MODES[mode]
    if mode not in (MODE_BERNOULLI, MODE_EXACT, MODE_TARGET, MODE_JOINT):
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
def select_next(hp: np.uint64, q: IntLike, need: IntLike, left: IntLike) -> bool:
    """Selection sampling (Knuth's Algorithm S): keep candidate ``q`` when ``need`` of the
    ``left`` candidates not yet seen (``q`` included) are still to be kept.

    Kept with probability ``need / left`` from ``u = to_unit(absorb(hp, q))``: going through a
    row's ``d`` candidates in order with ``need = k`` and ``left = d`` at the start keeps
    exactly ``k``, every ``k``-subset equally likely, one hash per candidate and no sort.
    """
    return bool(to_unit(absorb(hp, q)) * np.float64(left) < np.float64(need))


@ngjit
def floyd_row_keep(hp: np.uint64, a: IntLike, b: IntLike, k: IntLike, pos: np.ndarray) -> int:
    """Floyd's sampling of a uniform ``k``-subset of ``[a, b)`` (``0 <= k <= b - a``) with
    ``k`` draws: for ``t = d-k .. d-1`` (``d = b - a``), ``r = min(⌊u_t·(t+1)⌋, t)`` with
    ``u_t = to_unit(absorb(hp, a + t))``; offset ``r`` is taken, or ``t`` when ``r`` already
    is. ``pos[:k]`` receives ``a`` + the offsets, ascending (kept sorted by insertion: O(k²)
    moves, so only for small ``k``, :func:`exact_row_keep`). Returns ``k``."""
    d = b - a
    nk: IntLike = 0
    for t in range(d - k, d):
        r: IntLike = np.int64(to_unit(absorb(hp, a + t)) * (t + 1))
        if r > t:
            r = t
        v = a + r
        lo: IntLike = 0
        hi: IntLike = nk
        while lo < hi:
            mid = (lo + hi) // 2
            if pos[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        if lo < nk and pos[lo] == v:
            # taken: t instead, above every offset taken so far (each step takes <= its t)
            v = a + t
            lo = nk
        for x in range(nk, lo, -1):
            pos[x] = pos[x - 1]
        pos[lo] = v
        nk += 1
    return int(nk)


@ngjit
def exact_row_keep(hp: np.uint64, a: IntLike, b: IntLike, k: IntLike, pos: np.ndarray) -> int:
    """EXACT dropout of source row ``[a, b)``: fill ``pos`` with the ``k`` kept CSR positions
    (ascending, a uniform ``k``-subset; all when ``k >= b - a``) and return how many.

    Few of many (``0 < k`` and ``k·(FLOYD_BASE + k) <= 2·d``, ``d = b - a``): Floyd's
    sampling (:func:`floyd_row_keep`, ``k`` draws: the cost follows what is kept); else
    selection sampling (:func:`select_next`, one draw per candidate)."""
    d = b - a
    if 0 < k and k * (FLOYD_BASE + k) <= 2 * d:
        return floyd_row_keep(hp, a, b, k, pos)
    nk: IntLike = 0
    need = min(k, d)
    for x in range(d):
        if need <= 0:
            break
        q = a + x
        if select_next(hp, q, need, d - x):
            pos[nk] = q
            nk += 1
            need -= 1
    return int(nk)


@ngjit
def target_row_keep(
    hp: np.uint64, a: IntLike, b: IntLike, count: IntLike, sign: np.ndarray, pos: np.ndarray
) -> int:
    """``MODE_TARGET`` on source row ``[a, b)``: fill ``pos`` with the kept CSR positions
    (ascending) and return how many.

    ``count`` is ``k | TARGET_TEST_FLAG·f``: the row keeps ``k`` of its train entries
    (``sign > 0``; a uniform subset by :func:`select_next` over the train entries in order,
    all of them when ``k`` reaches the row's train degree) and, when ``f``, all its test
    entries.
    """
    k = count & _COUNT_MASK
    with_test = (count & TARGET_TEST_FLAG) != 0
    n_train: IntLike = 0
    for q in range(a, b):
        n_train += np.int64(sign[q] > 0)
    need = min(k, n_train)
    left = n_train
    nk: IntLike = 0
    for q in range(a, b):
        s = sign[q]
        if s > 0:
            kept = need > 0 and select_next(hp, q, need, left)
            left -= 1
            if not kept:
                continue
            need -= 1
        elif not (s < 0 and with_test):
            continue
        pos[nk] = q
        nk += 1
    return int(nk)


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


@ngjit
def balanced_counts_kernel(
    row_degree: np.ndarray, keep: float, seed: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """``min(⌊keep·d_r + u_r⌋, d_r)`` per row ``r``; ``u_r`` from ``(seed, STREAM_BALANCE,
    i, j, r)``."""
    m = row_degree.shape[0]
    out = np.empty(m, np.int64)
    for r in range(m):
        d = row_degree[r]
        k = np.int64(np.floor(keep * d + uniform(seed, STREAM_BALANCE, i, j, r)))
        out[r] = min(max(k, 0), d)
    return out


def balanced_row_counts(
    row_degree: np.ndarray, keep: float, seed: int, i: int, j: int
) -> np.ndarray:
    """Balanced dropout of block (i, j): int64 ``(m,)``, row ``r`` keeps ``p·d_r`` rounded
    stochastically (unbiased: ``E[count] = p·d_r``; ``⌊p·d_r⌋`` or ``⌈p·d_r⌉``).

    Examples
    --------
    >>> import numpy as np
    >>> balanced_row_counts(np.array([0, 4, 10]), 0.5, seed=1, i=0, j=0).tolist()
    [0, 2, 5]
    """
    row_degree = _check_degrees(row_degree)
    keep = _check_keep(keep)
    return balanced_counts_kernel(row_degree, keep, as_seed(seed), int(i), int(j))


@ngjit
def targeted_counts_kernel(
    train_degree: np.ndarray,
    keep_row: np.ndarray,
    row_src: np.ndarray,
    slots: np.ndarray,
    seed: IntLike,
    i: IntLike,
    multiple: IntLike,
) -> np.ndarray:
    """``MODE_TARGET`` counts of the output slots ``slots`` of block row ``i``: int64
    ``(n', len(slots))`` indexed ``[j, u]`` (slot ``t = slots[u]``, whose source row in block
    ``j`` is ``row_src[j, u]``); a pure function of each slot, whatever the others listed.

    One *anchor* block ``j*`` is drawn for the block row with probability
    ``keep_row[j] / Σ keep_row`` (``u = uniform(seed, STREAM_TARGET, i, -1, 0)``). Output
    slot ``t`` copies source row ``r_j = row_src[j, t]`` (train degree ``d_j``) in block
    column ``j``; its train total is ``T = multiple · d_{j*}``, split over the blocks in
    proportion to ``keep_row[j]·d_j`` by systematic rounding (``u1 = uniform(seed,
    STREAM_TARGET, i, t, 1)``: each part is its share rounded down or up, the parts sum to
    ``T``). A part above ``d_j`` passes its excess on to the next blocks with room (the total
    falls short of ``T`` only when ``Σ_j d_j < T`` over the blocks with ``keep_row[j] > 0``;
    the others stay empty). Since ``row_src[j*]`` is a permutation, every real user anchors
    exactly one output user of the block row: the block row's train degrees are ``multiple``
    times the input's. The user's test entries are those of the row it copies in one block
    ``j_t``, drawn with probability proportional to the train entries block ``j_t`` gives it
    (``u2 = uniform(seed, STREAM_TARGET, i, t, 2)``; ``j*`` for a user with none): that count
    carries :data:`TARGET_TEST_FLAG`. Held-out items thus spread over the column blocks as
    the train entries do.
    """
    nb = row_src.shape[0]
    ns = slots.shape[0]
    out = np.zeros((nb, ns), np.int64)
    e = np.empty(nb, np.float64)
    d = np.empty(nb, np.int64)
    wsum = 0.0
    for j in range(nb):
        wsum += keep_row[j]
    if wsum <= 0.0:
        return out
    # one anchor block for the whole block row: its rows are a permutation of all m source
    # rows, so the block row's degrees are exactly `multiple` times the input's multiset
    u0 = uniform(seed, STREAM_TARGET, i, -1, 0) * wsum
    anchor = nb - 1
    acc = 0.0
    for j in range(nb):
        acc += keep_row[j]
        if u0 < acc and keep_row[j] > 0.0:
            anchor = j
            break
    for u in range(ns):
        t = slots[u]
        s = 0.0
        for j in range(nb):
            d[j] = train_degree[row_src[j, u]]
            e[j] = keep_row[j] * d[j]
            s += e[j]
        total = np.int64(multiple) * d[anchor]
        if s > 0.0 and total > 0:
            u1 = uniform(seed, STREAM_TARGET, i, t, 1)
            cum = 0.0
            prev = np.int64(np.floor(u1))
            carry: IntLike = np.int64(0)
            for j in range(nb):
                cum += (e[j] / s) * total  # share first: no overflow for tiny keeps
                cur = np.int64(np.floor(cum + u1))
                k: IntLike = cur - prev + carry
                prev = cur
                carry = 0
                room: IntLike = d[j] if keep_row[j] > 0.0 else 0  # p = 0: the block stays empty
                if k > room:
                    carry = k - room
                    k = room
                out[j, u] = k
            j = 0
            while carry > 0 and j < nb:
                room = d[j] - out[j, u] if keep_row[j] > 0.0 else 0
                if room > 0:
                    add = min(room, carry)
                    out[j, u] += add
                    carry -= add
                j += 1
        # the test block: drawn in proportion to the train entries each block gives the
        # user, so that held-out items spread over the column blocks as the train does
        ktot: IntLike = 0
        for j in range(nb):
            ktot += out[j, u]
        test_j = anchor
        if ktot > 0:
            u2 = uniform(seed, STREAM_TARGET, i, t, 2) * ktot
            acc = 0.0
            for j in range(nb):
                acc += out[j, u]
                if u2 < acc:
                    test_j = j
                    break
        out[test_j, u] |= TARGET_TEST_FLAG
    return out


@ngjit
def balanced_slot_counts_kernel(
    row_degree: np.ndarray,
    keep_row: np.ndarray,
    blocks: np.ndarray,
    row_src: np.ndarray,
    seed: IntLike,
    i: IntLike,
) -> np.ndarray:
    """Balanced counts of the source rows ``row_src[b, u]`` of blocks ``(i, blocks[b])``:
    int64, shape of ``row_src``; entry ``[b, u]`` equals :func:`balanced_counts_kernel` of
    block ``blocks[b]`` at row ``row_src[b, u]`` (only the rows a task reads are drawn)."""
    out = np.empty(row_src.shape, np.int64)
    for b in range(blocks.shape[0]):
        j = blocks[b]
        keep = keep_row[j]
        for u in range(row_src.shape[1]):
            r = row_src[b, u]
            d = row_degree[r]
            k = np.int64(np.floor(keep * d + uniform(seed, STREAM_BALANCE, i, j, r)))
            out[b, u] = min(max(k, 0), d)
    return out


def targeted_row_counts(
    train_degree: np.ndarray,
    keep_row: np.ndarray,
    row_src: np.ndarray,
    seed: int,
    i: int,
    multiple: int,
) -> np.ndarray:
    """Targeted dropout of block row ``i``: int64 ``(n', m)`` counts indexed ``[j, r]``.

    Every output user gets exactly ``multiple`` times the train degree of the real user it is
    anchored on, spread over its blocks (see :func:`targeted_counts_kernel`), and that user's
    test entries. ``row_src[j]`` must be a permutation of ``0..m-1`` for every ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> src = np.array([[0, 1, 2], [2, 0, 1]])
    >>> c = targeted_row_counts(np.array([4, 6, 5]), np.array([0.5, 0.5]), src, 0, 0, 1)
    >>> k = c & (TARGET_TEST_FLAG - 1)
    >>> [int(k[0, src[0, t]] + k[1, src[1, t]]) for t in range(3)]  # 1 x an anchor's degree
    [4, 6, 5]
    """
    train_degree = _check_degrees(train_degree)
    keep_row = np.asarray(keep_row, dtype=np.float64)
    if (
        keep_row.ndim != 1
        or np.any(~np.isfinite(keep_row))
        or np.any(keep_row < 0)
        or np.any(keep_row > 1)
    ):
        raise ValueError("keep_row must be a 1-D array of probabilities in [0, 1]")
    row_src = np.asarray(row_src, dtype=np.int64)
    if row_src.ndim != 2 or row_src.shape != (keep_row.shape[0], train_degree.shape[0]):
        raise ValueError(
            f"row_src must have shape (n', m) = ({keep_row.shape[0]}, {train_degree.shape[0]})"
        )
    multiple = int(multiple)
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    m = train_degree.shape[0]
    by_slot = targeted_counts_kernel(
        train_degree,
        keep_row,
        np.ascontiguousarray(row_src),
        np.arange(m, dtype=np.int64),
        as_seed(seed),
        int(i),
        np.int64(multiple),
    )
    out = np.zeros_like(by_slot)
    np.put_along_axis(out, row_src, by_slot, axis=1)
    return out


def _check_degrees(row_degree: np.ndarray) -> np.ndarray:
    row_degree = np.asarray(row_degree, dtype=np.int64)
    if row_degree.ndim != 1 or np.any(row_degree < 0):
        raise ValueError("row_degree must be a 1-D array of non-negative counts")
    return row_degree


def _check_keep(keep: float) -> float:
    keep = float(keep)
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep must be in [0, 1], got {keep}")
    return keep


__all__ = [
    "FLOYD_BASE",
    "MODE_BERNOULLI",
    "MODE_EXACT",
    "MODE_JOINT",
    "MODE_TARGET",
    "TARGET_TEST_FLAG",
    "TEST_ALL",
    "TEST_ONE",
    "as_mode",
    "as_test_policy",
    "balanced_counts_kernel",
    "balanced_row_counts",
    "balanced_slot_counts_kernel",
    "exact_row_counts",
    "exact_row_keep",
    "exact_total",
    "floyd_row_keep",
    "select_next",
    "target_row_keep",
    "targeted_counts_kernel",
    "targeted_row_counts",
]
