"""Pure-NumPy specification of the negative-sampling kernels (:mod:`.alias`).

Every function computes, independently of the Numba code, exactly the same bits as its
kernel twin (the tests demand bit-identical output). Loops that are sequential by nature
(Vose's construction, Fisher-Yates swaps, Floyd's set, rejection rounds) stay Python loops;
the rest is vectorized. Slow on large inputs: for tests and for reading.

Conventions: an exclusion row ``x`` is a sorted, duplicate-free integer array of item ids in
``[0, n)``; sums of weights are taken left to right (``np.cumsum``), like the kernels.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._jit import IntLike
from .alias import (
    DRAW_STRIDE,
    KIND_UNIFORM,
    PATH_ALIAS,
    PATH_COMPLEMENT,
    PATH_EMPTY,
    PATH_PLAIN,
    PATH_RANK,
    PATH_REJECT,
    PATH_UNIFORM_REJECT,
    STREAM_NEG_ORDER,
    STREAM_NEG_SHUFFLE,
    STREAM_NEG_TEST,
    STREAM_NEG_TRAIN,
)
from .reference import uniform


def _seqsum(values: np.ndarray) -> float:
    """Left-to-right float64 sum (0.0 when empty)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.cumsum(values)[-1]) if values.size else 0.0


# --------------------------------------------------------------------------------------
# alias table


def build_alias(weights: npt.ArrayLike) -> tuple[np.ndarray, float]:
    """Vose's alias table: ``(table float64 (n, 2), total)``; see ``build_alias_kernel``."""
    w = np.asarray(weights, dtype=np.float64)
    n = w.shape[0]
    total = _seqsum(w)
    table = np.zeros((n, 2), np.float64)
    if n == 0 or not total > 0.0:
        return table, total
    scale = np.float64(n) / np.float64(total)
    p = (w * scale).tolist()
    imax = int(np.argmax(w))
    small = [i for i in range(n) if p[i] < 1.0]
    large = [i for i in range(n) if p[i] >= 1.0]
    while small and large:
        lo = small.pop()
        g = large.pop()
        table[lo] = (p[lo], g)
        p[g] = (p[g] + p[lo]) - 1.0
        (small if p[g] < 1.0 else large).append(g)
    for g in large:
        table[g] = (1.0, g)
    for lo in small:
        table[lo] = (1.0, lo) if w[lo] > 0.0 else (0.0, imax)
    return table, total


def alias_probabilities(table: np.ndarray) -> np.ndarray:
    """The distribution an alias table draws from: ``(prob + alias mass) / n`` (float64)."""
    n = table.shape[0]
    prob = table[:, 0]
    out = prob.copy()
    np.add.at(out, table[:, 1].astype(np.int64), 1.0 - prob)
    return out / n


# --------------------------------------------------------------------------------------
# training negatives


def user_path(
    kind: int,
    x: npt.ArrayLike,
    n: int,
    weights: np.ndarray,
    total: float,
    n_pos: int,
    wmax: float,
    need: int,
    switch: float,
) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Path of one user: ``(path, size, cdf, citems)`` (see :mod:`.alias`)."""
    x = np.asarray(x, dtype=np.int64)
    k = x.shape[0]
    empty_f, empty_i = np.empty(0), np.empty(0, np.int64)
    if kind == KIND_UNIFORM:
        if k == 0:
            return (PATH_PLAIN, n, empty_f, empty_i) if n > 0 else (PATH_EMPTY, 0, empty_f, empty_i)
        m = n - k
        if m <= 0:
            return PATH_EMPTY, 0, empty_f, empty_i
        return (PATH_UNIFORM_REJECT if 4 * m >= n else PATH_RANK), m, empty_f, empty_i
    if n_pos == 0:
        return PATH_EMPTY, 0, empty_f, empty_i
    if k == 0:
        return PATH_ALIAS, 0, empty_f, empty_i
    bound = np.float64(total) - np.float64(k) * np.float64(wmax)
    if bound > 0.0 and not np.float64(need) * total > switch * np.float64(n) * bound:
        return PATH_REJECT, 0, empty_f, empty_i
    wx = weights[x]
    if np.count_nonzero(wx > 0.0) >= n_pos:
        return PATH_EMPTY, 0, empty_f, empty_i
    avail = np.float64(total) - np.float64(_seqsum(wx))
    if not (avail <= 0.0 or np.float64(need) * total > switch * np.float64(n) * avail):
        return PATH_REJECT, 0, empty_f, empty_i
    items = np.setdiff1d(np.arange(n, dtype=np.int64), x)
    items = items[weights[items] > 0.0]
    return PATH_COMPLEMENT, items.shape[0], np.cumsum(weights[items]), items


def _alias_draw(
    table: np.ndarray,
    n: int,
    seed: npt.ArrayLike,
    epoch: npt.ArrayLike,
    user: IntLike,
    c: np.ndarray,
) -> np.ndarray:
    u0 = uniform(seed, STREAM_NEG_TRAIN, epoch, user, c)
    u1 = uniform(seed, STREAM_NEG_TRAIN, epoch, user, c + 1)
    col = np.minimum((u0 * np.float64(n)).astype(np.int64), n - 1)
    return np.where(u1 < table[col, 0], col, table[col, 1].astype(np.int64))


def user_negatives(
    seed: npt.ArrayLike,
    epoch: npt.ArrayLike,
    user: IntLike,
    x: npt.ArrayLike,
    t0: int,
    t1: int,
    need: int,
    kind: int,
    n: int,
    weights: np.ndarray,
    table: np.ndarray,
    total: float,
    n_pos: int,
    wmax: float,
    switch: float,
) -> np.ndarray:
    """Training negatives ``t0 <= t < t1`` of one user (int64); see ``sample_kernel``.

    Raises
    ------
    ValueError
        If the user has nothing to sample (``PATH_EMPTY``) and ``t1 > t0``.
    """
    t = np.arange(t0, t1, dtype=np.int64)
    if t.size == 0:
        return t
    x = np.asarray(x, dtype=np.int64)
    path, size, cdf, citems = user_path(kind, x, n, weights, total, n_pos, wmax, need, switch)
    c = t * DRAW_STRIDE
    if path == PATH_EMPTY:
        raise ValueError(f"user {user}: nothing to sample")
    if path in (PATH_PLAIN, PATH_RANK, PATH_COMPLEMENT):
        u = uniform(seed, STREAM_NEG_TRAIN, epoch, user, c)
    if path == PATH_PLAIN:
        return np.minimum((u * np.float64(n)).astype(np.int64), n - 1)
    if path == PATH_UNIFORM_REJECT:  # attempt r uses the uniform c + r
        out = np.empty(t.shape[0], np.int64)
        pending = np.arange(t.shape[0])
        while pending.size:
            u = uniform(seed, STREAM_NEG_TRAIN, epoch, user, c[pending])
            item = np.minimum((u * np.float64(n)).astype(np.int64), n - 1)
            ok = ~np.isin(item, x)
            out[pending[ok]] = item[ok]
            pending = pending[~ok]
            c[pending] += 1
        return out
    if path == PATH_RANK:
        r = np.minimum((u * np.float64(size)).astype(np.int64), size - 1)
        return r + np.searchsorted(x - np.arange(x.shape[0]), r, side="right")
    if path == PATH_ALIAS:
        return _alias_draw(table, n, seed, epoch, user, c)
    if path == PATH_REJECT:  # attempt r uses the uniforms c + 2r, c + 2r + 1
        out = np.empty(t.shape[0], np.int64)
        pending = np.arange(t.shape[0])
        while pending.size:
            item = _alias_draw(table, n, seed, epoch, user, c[pending])
            ok = ~np.isin(item, x)
            out[pending[ok]] = item[ok]
            pending = pending[~ok]
            c[pending] += 2
        return out
    a = np.searchsorted(cdf, u * cdf[-1], side="right")
    return citems[np.minimum(a, size - 1)]


def unshuffled_epoch(
    k_neg: int,
    seed: npt.ArrayLike,
    epoch: npt.ArrayLike,
    indptr: np.ndarray,
    indices: np.ndarray,
    xptr: np.ndarray,
    xind: np.ndarray,
    kind: int,
    n: int,
    weights: np.ndarray,
    table: np.ndarray,
    total: float,
    n_pos: int,
    wmax: float,
    switch: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole unshuffled example stream of an epoch: ``(users, items, labels)``.

    User ``u`` with train row ``P`` contributes ``(u, P[p], 1)`` then ``k_neg`` rows
    ``(u, negative t, 0)``, ``t = p * k_neg + s``, for each ``p`` in order.
    """
    users, items, labels = [], [], []
    for u in range(len(indptr) - 1):
        pos = np.asarray(indices[indptr[u] : indptr[u + 1]], dtype=np.int64)
        d = pos.shape[0]
        if d == 0:
            continue
        negs = user_negatives(
            seed,
            epoch,
            u,
            xind[xptr[u] : xptr[u + 1]],
            0,
            d * k_neg,
            max(d * k_neg, 1),
            kind,
            n,
            weights,
            table,
            total,
            n_pos,
            wmax,
            switch,
        ).reshape(d, k_neg)
        block = np.concatenate([pos[:, None], negs], axis=1).ravel()
        lab = np.zeros((d, k_neg + 1), np.int8)
        lab[:, 0] = 1
        users.append(np.full(block.shape[0], u, np.int64))
        items.append(block)
        labels.append(lab.ravel())
    if not users:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int8)
    return np.concatenate(users), np.concatenate(items), np.concatenate(labels)


# --------------------------------------------------------------------------------------
# shuffles


def fisher_yates(
    size: int, seed: npt.ArrayLike, stream: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike
) -> np.ndarray:
    """Fisher-Yates permutation of ``range(size)`` (int64); see ``fisher_yates_kernel``."""
    k = np.arange(size, dtype=np.int64)
    draws = np.minimum(
        (uniform(seed, stream, a, b, k) * (k + 1).astype(np.float64)).astype(np.int64), k
    )
    perm = np.arange(size, dtype=np.int64)
    for kk in range(size - 1, 0, -1):
        s = draws[kk]
        perm[kk], perm[s] = perm[s], perm[kk]
    return perm


def window_order(
    n_rows: int, window: int, seed: npt.ArrayLike, epoch: npt.ArrayLike
) -> list[tuple[int, int, int]]:
    """Windows of an epoch in stream order: ``(w, r0, r1)``.

    The full windows ``w < n_rows // window`` come in the order of
    ``fisher_yates(n_full, seed, ORDER, epoch, 0)``; the partial last window, if any, last.
    """
    n_full = n_rows // window
    out = [
        (int(w), int(w) * window, (int(w) + 1) * window)
        for w in fisher_yates(n_full, seed, STREAM_NEG_ORDER, epoch, 0)
    ]
    if n_rows % window:
        out.append((n_full, n_full * window, n_rows))
    return out


def epoch_stream(
    unshuffled: tuple[np.ndarray, np.ndarray, np.ndarray],
    window: int,
    seed: npt.ArrayLike,
    epoch: npt.ArrayLike,
) -> tuple[np.ndarray, ...]:
    """The shuffled epoch: for each window in stream order, its rows permuted by
    ``fisher_yates(L, seed, SHUFFLE, epoch, w)`` (row ``i`` of the output is row
    ``perm[i]`` of the window)."""
    users, items, labels = unshuffled
    parts = []
    for w, r0, r1 in window_order(users.shape[0], window, seed, epoch):
        perm = fisher_yates(r1 - r0, seed, STREAM_NEG_SHUFFLE, epoch, w)
        parts.append((users[r0:r1][perm], items[r0:r1][perm], labels[r0:r1][perm]))
    if not parts:
        return users[:0], items[:0], labels[:0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


# --------------------------------------------------------------------------------------
# test negatives


def eval_negatives(
    seed: npt.ArrayLike, user: IntLike, x: npt.ArrayLike, n: int, k: int
) -> np.ndarray:
    """``k`` distinct uniform negatives of one user, sorted (int64); Floyd on the ranks.

    Raises
    ------
    ValueError
        If fewer than ``k`` items are not in ``x``.
    """
    x = np.asarray(x, dtype=np.int64)
    m = n - x.shape[0]
    if m < k:
        raise ValueError(f"user {user}: {m} items available, {k} needed")
    s = np.arange(k, dtype=np.int64)
    u = uniform(seed, STREAM_NEG_TEST, 0, user, s)
    chosen: set[int] = set()
    for si in range(k):
        j = m - k + si
        r = min(int(u[si] * np.float64(j + 1)), j)
        chosen.add(j if r in chosen else r)
    ranks = np.array(sorted(chosen), dtype=np.int64)
    return np.setdiff1d(np.arange(n, dtype=np.int64), x)[ranks]


__all__ = [
    "alias_probabilities",
    "build_alias",
    "epoch_stream",
    "eval_negatives",
    "fisher_yates",
    "unshuffled_epoch",
    "user_negatives",
    "user_path",
    "window_order",
]
