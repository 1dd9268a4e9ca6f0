"""Pure-NumPy reference implementations: the specification of every kernel.

Each function here computes, independently and vectorized where possible, exactly the
same bits as its Numba twin (tests demand bit-identical output). They are slow on large
inputs and meant for tests and for reading.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ._jit import IntLike
from .dropout import (
    FLOYD_BASE,
    MODE_BERNOULLI,
    MODE_EXACT,
    MODE_TARGET,
    TARGET_TEST_FLAG,
    TEST_ONE,
    as_mode,
    as_test_policy,
)
from .emit import ExpandedRows
from .permute import FEISTEL_ROUNDS, SHARED_COLUMN
from .rng import (
    GAMMA,
    INIT,
    M1,
    M2,
    STREAM_BALANCE,
    STREAM_BLOCK,
    STREAM_DROP,
    STREAM_EXACT,
    STREAM_ONE,
    STREAM_ROW_PERM,
    STREAM_TARGET,
    TWO_M53,
)
from .sampling import SKIP_MAX_P

# --------------------------------------------------------------------------------------
# rng


def _u64(x: npt.ArrayLike) -> np.ndarray:
    """Integer array-like -> uint64 array (negative values wrap modulo 2**64)."""
    if isinstance(x, int) and not isinstance(x, bool):
        return np.array(x & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"hash words must be integers, got dtype {a.dtype}")
    return a.astype(np.uint64)


def mix64(z: npt.ArrayLike) -> np.ndarray:
    """Splitmix64 finalizer on uint64 arrays (wrapping)."""
    v = np.atleast_1d(_u64(z))
    with np.errstate(over="ignore"):
        v = (v ^ (v >> np.uint64(30))) * M1
        v = (v ^ (v >> np.uint64(27))) * M2
        return v ^ (v >> np.uint64(31))


def absorb(h: npt.ArrayLike, w: npt.ArrayLike) -> np.ndarray:
    """``mix64(h + w * GAMMA)`` on broadcast uint64 arrays."""
    h, w = np.broadcast_arrays(np.atleast_1d(_u64(h)), np.atleast_1d(_u64(w)))
    with np.errstate(over="ignore"):
        return mix64(h + w * GAMMA)


def hash_prefix(
    seed: npt.ArrayLike, stream: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike
) -> np.ndarray:
    """State after absorbing ``seed, stream, a, b``."""
    h = absorb(INIT, seed)
    h = absorb(h, stream)
    h = absorb(h, a)
    return absorb(h, b)


def hash64(
    seed: npt.ArrayLike, stream: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> np.ndarray:
    """Vectorized ``hash64``: uint64 array of the broadcast shape of the five words."""
    shape = np.broadcast_shapes(*(np.shape(x) for x in (seed, stream, a, b, c)))
    return absorb(hash_prefix(seed, stream, a, b), c).reshape(shape)


def to_unit(h: npt.ArrayLike) -> np.ndarray:
    """``(h >> 11) * 2**-53`` as float64."""
    return (_u64(h) >> np.uint64(11)).astype(np.float64) * TWO_M53


def uniform(
    seed: npt.ArrayLike, stream: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> np.ndarray:
    """Vectorized ``uniform``: float64 in [0, 1) of the broadcast shape."""
    return to_unit(hash64(seed, stream, a, b, c))


# --------------------------------------------------------------------------------------
# permutations


def _fisher_yates(
    size: int,
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    i: npt.ArrayLike,
    j: npt.ArrayLike,
    pos0: int = 0,
) -> np.ndarray:
    k = np.arange(size, dtype=np.int64)
    draws = (uniform(seed, stream, i, j, pos0 + k) * (k + 1).astype(np.float64)).astype(np.int64)
    draws = np.minimum(draws, k)
    perm = np.arange(size, dtype=np.int64)
    for kk in range(size - 1, 0, -1):
        s = draws[kk]
        perm[kk], perm[s] = perm[s], perm[kk]
    return perm


def _legacy_block(
    size: int, seed: npt.ArrayLike, stream: npt.ArrayLike, i: npt.ArrayLike, j: npt.ArrayLike
) -> np.ndarray:
    """Store formats 1 and 2: the Fisher-Yates permutation (int64)."""
    return _fisher_yates(int(size), seed, stream, i, j)


def _legacy_stratified(
    degree: npt.ArrayLike,
    window: int,
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    i: npt.ArrayLike,
    j: npt.ArrayLike,
) -> np.ndarray:
    """Store formats 1 and 2: Fisher-Yates inside each window of the degree order (int64)."""
    degree = np.asarray(degree)
    size = degree.shape[0]
    order = np.argsort(degree, kind="stable")
    perm = np.empty(size, np.int64)
    for w0 in range(0, size, int(window)):
        f = _fisher_yates(min(int(window), size - w0), seed, stream, i, j, pos0=w0)
        perm[order[w0 : w0 + f.shape[0]]] = order[w0 + f]
    return perm


def _feistel_keys(
    seed: npt.ArrayLike, stream: npt.ArrayLike, i: npt.ArrayLike, j: npt.ArrayLike
) -> tuple[list[np.uint64], np.uint64]:
    """The round keys ``absorb(hp, r)`` and ``hp = hash_prefix(seed, stream, i, j)``."""
    hp = np.asarray(hash_prefix(seed, stream, i, j)).reshape(-1)[0]
    return [np.asarray(absorb(hp, r)).reshape(-1)[0] for r in range(2 * FEISTEL_ROUNDS)], hp


def _feistel_window(size: int, keys: list[np.uint64], hp: np.uint64, w: int) -> np.ndarray:
    """``f[x]`` for ``x`` in ``[0, size)``: the mixed-radix Feistel network of window ``w``
    (tweak ``absorb(hp, 2·FEISTEL_ROUNDS + w)``), vectorized, cycle-walked (int64)."""
    if size <= 1:
        return np.arange(size, dtype=np.int64)
    bb = max(math.isqrt(size), 2)
    aa = max(-(-size // bb), 2)
    a, b = np.uint64(aa), np.uint64(bb)
    t = np.asarray(absorb(hp, 2 * FEISTEL_ROUNDS + w)).reshape(-1)[0]
    s32 = np.uint64(32)

    def h(k: np.uint64, v: np.ndarray, mod: np.uint64) -> np.ndarray:
        z = (v ^ (k ^ t)) * M1
        z ^= z >> s32
        return (((z * M2) >> s32) * mod) >> s32

    def encrypt(x: np.ndarray) -> np.ndarray:
        left, right = x // b, x % b
        with np.errstate(over="ignore"):
            for r in range(FEISTEL_ROUNDS):
                left = (left + h(keys[2 * r], right, a)) % a
                right = (right + h(keys[2 * r + 1], left, b)) % b
        return left * b + right

    y = encrypt(np.arange(size, dtype=np.uint64))
    while np.any(out := y >= size):
        y[out] = encrypt(y[out])
    return y.astype(np.int64)


def feistel_permutation(
    size: int, seed: npt.ArrayLike, stream: npt.ArrayLike, i: npt.ArrayLike, j: npt.ArrayLike
) -> np.ndarray:
    """Computed permutation (int64): window 0 of the Feistel network of :mod:`.permute`."""
    keys, hp = _feistel_keys(seed, stream, i, j)
    return _feistel_window(int(size), keys, hp, 0)


def block_permutation(
    size: int, seed: npt.ArrayLike, stream: npt.ArrayLike, i: npt.ArrayLike, j: npt.ArrayLike
) -> np.ndarray:
    """The block permutation ``perm[r] = pi(r)``: the computed bijection (int64)."""
    return feistel_permutation(size, seed, stream, i, j)


def stratified_permutation(
    degree: npt.ArrayLike,
    window: int,
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    i: npt.ArrayLike,
    j: npt.ArrayLike,
) -> np.ndarray:
    """Degree-stratified permutation (int64): window ``w`` of the stable degree order gets
    the Feistel bijection with the window's tweak."""
    degree = np.asarray(degree)
    size = degree.shape[0]
    order = np.argsort(degree, kind="stable")
    keys, hp = _feistel_keys(seed, stream, i, j)
    perm = np.empty(size, np.int64)
    for w, w0 in enumerate(range(0, size, int(window))):
        f = _feistel_window(min(int(window), size - w0), keys, hp, w)
        perm[order[w0 : w0 + f.shape[0]]] = order[w0 + f]
    return perm


def window_permutation(
    order: npt.ArrayLike,
    starts: npt.ArrayLike,
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    i: npt.ArrayLike,
    j: npt.ArrayLike,
) -> np.ndarray:
    """Permutation inside windows given by start offsets (int64): window ``w``, positions
    ``[starts[w], starts[w+1])`` of ``order``, gets the Feistel bijection of its length with
    the window's tweak."""
    order = np.asarray(order, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    keys, hp = _feistel_keys(seed, stream, i, j)
    perm = np.empty(order.shape[0], np.int64)
    for w in range(starts.shape[0] - 1):
        s0, s1 = int(starts[w]), int(starts[w + 1])
        f = _feistel_window(s1 - s0, keys, hp, w)
        perm[order[s0:s1]] = order[s0 + f]
    return perm


def window_source_rows(
    order: npt.ArrayLike,
    starts: npt.ArrayLike,
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    i: npt.ArrayLike,
    blocks: npt.ArrayLike,
    slots: npt.ArrayLike,
) -> np.ndarray:
    """``out[b, u] = pi_{i, blocks[b]}^-1(slots[u])`` of :func:`window_permutation` (int64):
    the inverse of each whole permutation, read at the slots."""
    blocks = np.asarray(blocks, dtype=np.int64)
    slots = np.asarray(slots, dtype=np.int64)
    rows = [
        invert_permutation(window_permutation(order, starts, seed, stream, i, j))[slots]
        for j in blocks.tolist()
    ]
    return np.array(rows, dtype=np.int64).reshape(blocks.shape[0], slots.shape[0])


def invert_permutation(perm: npt.ArrayLike) -> np.ndarray:
    """``inv[perm[r]] = r`` along the last axis (int64)."""
    perm = np.asarray(perm, dtype=np.int64)
    inv = np.empty_like(perm)
    np.put_along_axis(
        inv, perm, np.broadcast_to(np.arange(perm.shape[-1], dtype=np.int64), perm.shape), -1
    )
    return inv


def permutation_table(
    kind: str,
    size: int,
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    i: npt.ArrayLike,
    n_blocks: int,
    *,
    degree: npt.ArrayLike | None = None,
    window: int | None = None,
    legacy: bool = False,
) -> np.ndarray:
    """``(n_blocks, size)`` int64 table of permutations of block-row ``i`` (``legacy``: the
    Fisher-Yates permutations of store formats 1 and 2)."""
    block = _legacy_block if legacy else block_permutation
    strat = _legacy_stratified if legacy else stratified_permutation
    if kind == "none":
        return np.tile(np.arange(size, dtype=np.int64), (n_blocks, 1))
    if kind == "block":
        rows = [block(size, seed, stream, i, j) for j in range(n_blocks)]
    elif kind == "stratified":
        if degree is None or window is None:
            raise ValueError("a stratified permutation needs degree and window")
        rows = [strat(degree, window, seed, stream, i, j) for j in range(n_blocks)]
    else:
        raise ValueError(f"unknown permutation kind {kind!r}")
    return np.array(rows, dtype=np.int64).reshape(n_blocks, size)


def row_permutation_table(
    kind: str,
    size: int,
    seed: npt.ArrayLike,
    i: npt.ArrayLike,
    n_blocks: int,
    *,
    rows: str = "shared",
    degree: npt.ArrayLike | None = None,
    window: int | None = None,
) -> np.ndarray:
    """``(n_blocks, size)`` int64: the row permutations of block row ``i``. ``rows="shared"``:
    every block has the one at the shared block-column key :data:`.permute.SHARED_COLUMN`
    (a synthetic user copies one real user in all its block columns); ``"per-block"``:
    block ``j`` its own, :func:`permutation_table` on the row stream."""
    if rows == "per-block" or kind == "none":
        return permutation_table(
            kind, size, seed, STREAM_ROW_PERM, i, n_blocks, degree=degree, window=window
        )
    if rows != "shared":
        raise ValueError(f"unknown rows {rows!r}")
    j = int(SHARED_COLUMN)
    if kind == "block":
        one = block_permutation(size, seed, STREAM_ROW_PERM, i, j)
    elif kind == "stratified":
        if degree is None or window is None:
            raise ValueError("a stratified permutation needs degree and window")
        one = stratified_permutation(degree, window, seed, STREAM_ROW_PERM, i, j)
    else:
        raise ValueError(f"unknown permutation kind {kind!r}")
    return np.tile(one, (n_blocks, 1))


def source_rows(
    kind: str,
    size: int,
    seed: npt.ArrayLike,
    stream: npt.ArrayLike,
    i: npt.ArrayLike,
    blocks: npt.ArrayLike,
    slots: npt.ArrayLike,
    *,
    degree: npt.ArrayLike | None = None,
    window: int | None = None,
) -> np.ndarray:
    """``out[b, u] = pi_{i, blocks[b]}^-1(slots[u])`` (int64): the inverse of the whole
    table, read at the slots."""
    blocks = np.asarray(blocks, dtype=np.int64)
    slots = np.asarray(slots, dtype=np.int64)
    n_blocks = int(blocks.max()) + 1 if blocks.size else 0
    tab = permutation_table(kind, size, seed, stream, i, n_blocks, degree=degree, window=window)
    return invert_permutation(tab)[blocks][:, slots].reshape(blocks.shape[0], slots.shape[0])


# --------------------------------------------------------------------------------------
# block expansion


# --------------------------------------------------------------------------------------
# Bernoulli dropout (direct test or geometric skips) and the block sample


def bernoulli_kept(
    seed: npt.ArrayLike, i: IntLike, j: IntLike, a: IntLike, b: IntLike, p: float
) -> np.ndarray:
    """Kept CSR positions (int64, ascending) of the source row ``[a, b)`` in block ``(i, j)``.

    ``p <= 0``: none. ``p >= SKIP_MAX_P``: ``q`` kept iff ``uniform(seed, STREAM_DROP, i, j,
    q) < p``. Otherwise geometric skips: the ``k``-th survivor is ``x_k = x_{k-1} + 1 +
    G_k`` (``x_{-1} = a - 1``), ``G_k = floor(log(U_k) / log1p(-p))``, ``U_k = ((hash64(seed,
    STREAM_DROP, i, j, a + k) >> 11) + 1) · 2**-53``, while ``x_k < b``.
    """
    a, b, p = int(a), int(b), float(p)
    if not p > 0.0 or b <= a:
        return np.empty(0, np.int64)
    if p >= SKIP_MAX_P:
        q = np.arange(a, b, dtype=np.int64)
        return q[uniform(seed, STREAM_DROP, i, j, q) < p]
    lq = math.log1p(-p)
    out: list[int] = []
    x = a
    while True:
        h = int(hash64(seed, STREAM_DROP, i, j, a + len(out))[()])
        g = math.log(((h >> 11) + 1) * TWO_M53) / lq
        if g >= b - x:
            break
        x += int(g)
        out.append(x)
        x += 1
    return np.array(out, dtype=np.int64)


def block_sample_mask(shape: tuple[int, int], rate: float, seed: npt.ArrayLike) -> np.ndarray:
    """Bool ``(m', n')``: block ``(i, j)`` kept iff ``uniform(seed, STREAM_BLOCK, i, j, 0) <
    rate``."""
    i, j = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return uniform(seed, STREAM_BLOCK, i, j, 0) < rate


def _ptr(rows: np.ndarray, nrows: int) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=nrows))]).astype(np.int64)


def expand_block_rows(
    indptr: npt.ArrayLike,
    indices: npt.ArrayLike,
    sign: npt.ArrayLike,
    row_src: npt.ArrayLike,
    col_perm: npt.ArrayLike,
    keep_row: npt.ArrayLike,
    seed: npt.ArrayLike,
    i: IntLike,
    t0: IntLike,
    t1: IntLike,
    mode: str | IntLike = MODE_BERNOULLI,
    exact_counts: npt.ArrayLike | None = None,
    test_policy: str | IntLike = 0,
    n_items_block: IntLike | None = None,
) -> ExpandedRows:
    """Reference of :func:`daskfractal.kernels.emit.expand_block_rows` (COO + lexsort)."""
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices).astype(np.int64)
    sign = np.asarray(sign, dtype=np.int8)
    row_src = np.asarray(row_src, dtype=np.int64)
    col_perm = np.asarray(col_perm, dtype=np.int64)
    keep_row = np.asarray(keep_row, dtype=np.float64)
    mode, test_policy = as_mode(mode), as_test_policy(test_policy)
    nb = row_src.shape[0]
    n = col_perm.shape[1] if n_items_block is None else int(n_items_block)
    nrows = t1 - t0

    rows_l, items_l, q_l, sign_l, j_l = [], [], [], [], []
    for j in range(nb):
        r = row_src[j, t0:t1]
        starts = indptr[r]
        deg = indptr[r + 1] - starts
        tl = np.repeat(np.arange(nrows, dtype=np.int64), deg)
        offs = np.arange(deg.sum(), dtype=np.int64) - np.repeat(np.cumsum(deg) - deg, deg)
        q = np.repeat(starts, deg) + offs
        if mode in (MODE_TARGET, MODE_EXACT):
            count = np.asarray(exact_counts, dtype=np.int64)[j, r][tl]
            k = count & (TARGET_TEST_FLAG - 1) if mode == MODE_TARGET else count
            # selection sampling: the candidates are the row's train entries (targeted) or
            # all its entries (exact); kept iff u · (candidates left) < (still to keep)
            cand = sign[q] > 0 if mode == MODE_TARGET else np.ones(q.shape[0], bool)
            u = uniform(seed, STREAM_EXACT, i, j, q)
            kept = _selection_sample(u, cand, k, tl, floyd=mode == MODE_EXACT)
            if mode == MODE_TARGET:
                kept |= (sign[q] < 0) & ((count & TARGET_TEST_FLAG) != 0)
        else:
            kept = np.zeros(int(indptr[-1]), bool)
            for src_row in np.unique(r):
                a, b = indptr[src_row], indptr[src_row + 1]
                kept[bernoulli_kept(seed, i, j, a, b, keep_row[j])] = True
            kept = kept[q]
        kept &= sign[q] != 0
        q = q[kept]
        rows_l.append(tl[kept])
        q_l.append(q)
        sign_l.append(sign[q])
        items_l.append(j * n + col_perm[j, indices[q]])
        j_l.append(np.full(q.shape[0], j, np.int64))

    rows = np.concatenate(rows_l) if nb else np.empty(0, np.int64)
    items = np.concatenate(items_l) if nb else np.empty(0, np.int64)
    qs = np.concatenate(q_l) if nb else np.empty(0, np.int64)
    sg = np.concatenate(sign_l) if nb else np.empty(0, np.int8)
    js = np.concatenate(j_l) if nb else np.empty(0, np.int64)

    def part(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        o = np.lexsort((qs[mask], items[mask], rows[mask]))
        return rows[mask][o], items[mask][o], qs[mask][o]

    tr_rows, tr_items, tr_src = part(sg > 0)
    te_rows, te_items, te_src = part(sg < 0)
    block_train = np.bincount(js[sg > 0], minlength=nb).astype(np.int64)
    block_test = np.bincount(js[sg < 0], minlength=nb).astype(np.int64)

    if test_policy == TEST_ONE:
        ptr = _ptr(te_rows, nrows)
        cnt = np.diff(ptr)
        has = np.flatnonzero(cnt > 0)
        u = uniform(seed, STREAM_ONE, i, t0 + has, 0)
        pick = np.minimum((u * cnt[has].astype(np.float64)).astype(np.int64), cnt[has] - 1)
        sel = ptr[has] + pick
        te_rows, te_items, te_src = te_rows[sel], te_items[sel], te_src[sel]

    return ExpandedRows(
        _ptr(tr_rows, nrows),
        tr_items.astype(np.int64),
        tr_src.astype(np.int64),
        _ptr(te_rows, nrows),
        te_items.astype(np.int64),
        te_src.astype(np.int64),
        block_train,
        block_test,
    )


def floyd_sample(u: np.ndarray, k: int) -> np.ndarray:
    """Floyd's sampling of ``k`` of ``d = len(u)`` offsets (int64, ascending): for ``t = d-k
    .. d-1``, ``r = min(int(u[t]·(t+1)), t)``, taken unless already taken, then ``t``."""
    d = u.shape[0]
    taken: set[int] = set()
    for t in range(d - k, d):
        r = min(int(u[t] * np.float64(t + 1)), t)
        taken.add(t if r in taken else r)
    return np.array(sorted(taken), dtype=np.int64)


def _selection_sample(
    u: np.ndarray, cand: np.ndarray, k: np.ndarray, row: np.ndarray, floyd: bool = False
) -> np.ndarray:
    """Knuth's Algorithm S per row (``row`` sorted, each row's entries in CSR order): among the
    candidates of a row, keep the next one iff ``u · left < need`` (``need`` starts at the
    row's ``k``, ``left`` at its number of candidates). With ``floyd`` (the EXACT mode, every
    entry a candidate), rows with ``0 < k`` and ``k·(FLOYD_BASE + k) <= 2·d`` keep
    :func:`floyd_sample` of their ``u`` instead."""
    kept = np.zeros(u.shape[0], bool)
    if u.shape[0] == 0:
        return kept
    bounds = np.flatnonzero(np.r_[True, row[1:] != row[:-1], True])
    for s0, s1 in itertools.pairwise(bounds):
        idx = np.arange(s0, s1)[cand[s0:s1]]
        need, left = int(k[s0]), idx.shape[0]
        if floyd and 0 < need and need * (FLOYD_BASE + need) <= 2 * left:
            kept[idx[floyd_sample(u[idx], need)]] = True
            continue
        for x in idx:
            if need <= 0:
                break
            if u[x] * np.float64(left) < np.float64(need):
                kept[x] = True
                need -= 1
            left -= 1
    return kept


def count_rows(*args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reference count pass: ``(train_counts, test_counts, block_train, block_test)``."""
    out = expand_block_rows(*args, **kwargs)
    return (np.diff(out.train_indptr), np.diff(out.test_indptr), out.block_train, out.block_test)


# --------------------------------------------------------------------------------------
# per-row counts of the balanced and targeted dropouts


def balanced_row_counts(
    row_degree: np.ndarray, keep: float, seed: int, i: int, j: int
) -> np.ndarray:
    """Specification of :func:`daskfractal.kernels.dropout.balanced_row_counts`."""
    d = np.asarray(row_degree, dtype=np.int64)
    u = uniform(int(seed), STREAM_BALANCE, int(i), int(j), np.arange(d.shape[0], dtype=np.int64))
    k = np.floor(float(keep) * d + u).astype(np.int64)
    return np.minimum(np.maximum(k, 0), d)


def targeted_row_counts(
    train_degree: np.ndarray,
    keep_row: np.ndarray,
    row_src: np.ndarray,
    seed: int,
    i: int,
    multiple: int,
) -> np.ndarray:
    """Specification of :func:`daskfractal.kernels.dropout.targeted_row_counts` (vectorized
    over the output slots; the same floating-point operations in the same order)."""
    row_src = np.asarray(row_src, dtype=np.int64)
    keep_row = np.asarray(keep_row, dtype=np.float64)
    nb, m = row_src.shape
    out = np.zeros((nb, m), np.int64)
    wsum = 0.0
    for j in range(nb):
        wsum += keep_row[j]
    if wsum <= 0.0:
        return out
    t = np.arange(m, dtype=np.int64)
    u0 = float(uniform(int(seed), STREAM_TARGET, int(i), -1, 0)) * wsum
    cum_w = np.cumsum(keep_row)  # sequential, as the kernel adds
    ok = np.flatnonzero((u0 < cum_w) & (keep_row > 0.0))
    anchor = np.full(m, ok[0] if ok.size else nb - 1, np.int64)
    d = np.asarray(train_degree, dtype=np.int64)[row_src]  # (n', m)
    e = keep_row[:, None] * d
    s = np.zeros(m)
    for j in range(nb):  # sequential, as the kernel adds
        s += e[j]
    total = int(multiple) * d[anchor, t]
    go = (s > 0) & (total > 0)
    safe_s = np.where(go, s, 1.0)
    u1 = uniform(int(seed), STREAM_TARGET, int(i), t, 1)
    k = np.zeros((nb, m), np.int64)
    cum = np.zeros(m)
    prev = np.floor(u1).astype(np.int64)
    carry = np.zeros(m, np.int64)
    for j in range(nb):
        cum = cum + (e[j] / safe_s) * np.where(go, total, 0)
        cur = np.floor(cum + u1).astype(np.int64)
        kj = cur - prev + carry
        prev = cur
        room = d[j] if keep_row[j] > 0.0 else np.zeros(m, np.int64)
        carry = np.maximum(kj - room, 0)
        k[j] = np.minimum(kj, room)
    for j in range(nb):  # an excess left goes back to the first blocks with room
        room = d[j] - k[j] if keep_row[j] > 0.0 else np.zeros(m, np.int64)
        add = np.minimum(room, carry)
        k[j] += add
        carry -= add
    k[:, ~go] = 0
    # test block: proportional to the user's train parts (sequential sums, as the kernel)
    ktot = k.sum(axis=0)
    u2 = uniform(int(seed), STREAM_TARGET, int(i), t, 2) * ktot
    acc = np.zeros(m)
    test_j = anchor.copy()
    found = ktot <= 0
    for j in range(nb):
        acc = acc + k[j]
        hit = ~found & (u2 < acc)
        test_j[hit] = j
        found |= hit
    k[test_j, t] |= TARGET_TEST_FLAG
    out[np.arange(nb)[:, None], row_src] = k
    return out


__all__ = [
    "absorb",
    "balanced_row_counts",
    "block_permutation",
    "count_rows",
    "expand_block_rows",
    "feistel_permutation",
    "floyd_sample",
    "hash64",
    "hash_prefix",
    "invert_permutation",
    "mix64",
    "permutation_table",
    "row_permutation_table",
    "source_rows",
    "stratified_permutation",
    "targeted_row_counts",
    "to_unit",
    "uniform",
    "window_permutation",
    "window_source_rows",
]
