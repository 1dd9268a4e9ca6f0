"""Numba kernels of negative sampling: alias tables, exclusion of positives, shuffles.

Everything here is a pure function of its arguments: every random number is
``to_unit(absorb(hash_prefix(seed, stream, a, b), c))`` (:mod:`.rng`) with the coordinates
listed below, so results do not depend on chunking, threads or call order. The pure-NumPy
specification of each kernel is :mod:`.reference_alias` (bit-identical; tests check it).

Random streams (``STREAM_NEG_BASE + k``; words ``a, b, c`` of the hash)
----------------------------------------------------------------------
* :data:`STREAM_NEG_TRAIN`: training negative ``t`` of ``user`` in ``epoch``:
  ``a = epoch, b = user, c = t * 2**32 + j`` where ``j`` counts the uniforms negative ``t``
  consumed (``j = 2 r, 2 r + 1`` for the ``r``-th alias attempt of the rejection path).
* :data:`STREAM_NEG_SHUFFLE`: Fisher-Yates shuffle of shuffle window ``w`` of ``epoch``:
  ``a = epoch, b = w, c = position``.
* :data:`STREAM_NEG_ORDER`: order of the full windows of ``epoch``: ``a = epoch, b = 0``.
* :data:`STREAM_NEG_TEST`: test negatives of ``user``: ``a = 0, b = user, c = slot``.

Per-user paths of a training negative (chosen per user, never per draw)
----------------------------------------------------------------------
``X`` is the user's sorted, duplicate-free exclusion row, ``n`` the number of items, ``u``
the uniform ``c = t * 2**32``; "in ``X``" is an O(1) test in a bitmap of the row.

* uniform, ``X`` empty (:data:`PATH_PLAIN`): ``item = min(int(u * n), n - 1)``.
* uniform, ``m = n - |X|`` with ``4 m >= n`` (:data:`PATH_UNIFORM_REJECT`): attempts
  ``r = 0, 1, ...`` draw ``min(int(uniform(c + r) * n), n - 1)`` until the item is not in
  ``X``.
* uniform, ``4 m < n`` (:data:`PATH_RANK`, the complement): ``r = min(int(u * m), m - 1)``
  and the item is the ``r``-th one not in ``X`` (binary search in ``X[k] - k``); no
  rejection, whatever ``|X|``.
* table (popularity or weights), ``X`` empty (:data:`PATH_ALIAS`): one alias draw with
  ``u0 = uniform(c)``, ``u1 = uniform(c + 1)``: ``col = min(int(u0 * n), n - 1)``, item
  ``col`` if ``u1 < prob[col]`` else ``alias[col]``.
* table, rejection (:data:`PATH_REJECT`): alias attempts ``r = 0, 1, ...`` with
  ``c = t * 2**32 + 2 r`` until the item is not in ``X``. Exact: the accepted item follows
  the target conditioned on not being excluded.
* table, complement (:data:`PATH_COMPLEMENT`): the cumulative sums ``L`` of the weights of
  the available positive-weight items (in item order, summed left to right); ``x = u * L[-1]``
  and the item is the first whose ``L > x`` (the last one if rounding gives none). The same
  conditional distribution, without rejections, for O(n) per user.

Choice for a table: with ``need = max(num_negatives * train_degree, 1)``, rejection when
``bound = total - |X| * wmax > 0`` and ``not need * total > switch * n * bound`` (cheap
sufficient test); otherwise, with ``excl = sum(w[X])`` (left to right) and
``avail = total - excl``, the complement when ``avail <= 0 or need * total > switch * n *
avail`` (expected rejection work above ``switch`` times a scan of the items), else rejection;
:data:`PATH_EMPTY` when no positive-weight item is available (no item at all, uniform).
"""

from __future__ import annotations

import numpy as np

from ._jit import IntLike, inline_jit, ngjit
from .rng import STREAM_NEG_BASE, absorb, hash_prefix, to_unit

STREAM_NEG_TRAIN = STREAM_NEG_BASE + 0  #: training negatives (epoch, user, t * 2**32 + j)
STREAM_NEG_SHUFFLE = STREAM_NEG_BASE + 1  #: shuffle inside a window (epoch, window, position)
STREAM_NEG_ORDER = STREAM_NEG_BASE + 2  #: order of the windows (epoch, 0, position)
STREAM_NEG_TEST = STREAM_NEG_BASE + 3  #: test negatives (0, user, slot)
# STREAM_NEG_BASE + 4 .. + 15 are free for further negative-sampling streams.

DRAW_STRIDE = 2**32  #: counter stride between negatives: c = t * DRAW_STRIDE + j

KIND_UNIFORM = 0  #: target distribution: uniform over the items
KIND_TABLE = 1  #: target distribution: the weights of an alias table

PATH_EMPTY = -1
PATH_PLAIN = 0
PATH_RANK = 1
PATH_ALIAS = 2
PATH_REJECT = 3
PATH_COMPLEMENT = 4
PATH_UNIFORM_REJECT = 5

#: default ``switch`` (see the module docstring): complement when the expected rejection
#: work exceeds 1/16 of a scan over the items (a scan step is ~16x cheaper than an attempt).
DEFAULT_SWITCH = 1.0 / 16.0

_MAX_ATTEMPTS = 2**31 - 1

# ``inline_jit`` (kernels/_jit.py) is ``ngjit`` plus inlining at the Numba IR level, for the
# small helpers called once per draw: a real call would increment and decrement the reference
# counts of every array argument (atomic operations) on each draw, which costs more than the
# draw itself.


# --------------------------------------------------------------------------------------
# alias table


@ngjit
def build_alias_kernel(weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Vose's alias table of ``weights`` in O(n).

    Parameters
    ----------
    weights : float64 array (n,)
        Finite, non-negative.

    Returns
    -------
    table : float64 array (n, 2)
        ``table[i, 0]`` the probability of keeping column ``i``, ``table[i, 1]`` its alias
        (an item id stored as float64, exact below 2**53). Interleaved so that one draw
        touches one cache line.
    total : float
        ``sum(weights)`` added left to right.

    Notes
    -----
    ``p = weights * (n / total)``; stacks ``small`` (``p < 1``) and ``large`` filled in item
    order; while both are non-empty pop ``l`` from small and ``g`` from large, set
    ``table[l] = (p[l], g)``, ``p[g] = (p[g] + p[l]) - 1`` and push ``g`` back on small or
    large. Leftover large columns get ``(1, g)``; leftover small columns (rounding) get
    ``(1, l)`` when ``weights[l] > 0`` else ``(0, imax)`` (first heaviest item), so a
    zero-weight item is never drawn.
    """
    n = weights.shape[0]
    total = 0.0
    for i in range(n):
        total += weights[i]
    table = np.zeros((n, 2), np.float64)
    if n == 0 or not total > 0.0:
        return table, total
    scale = np.float64(n) / total
    p = np.empty(n, np.float64)
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = 0
    nl = 0
    imax = 0
    for i in range(n):
        p[i] = weights[i] * scale
        if weights[i] > weights[imax]:
            imax = i
        if p[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        lo = small[ns]
        nl -= 1
        g = large[nl]
        table[lo, 0] = p[lo]
        table[lo, 1] = g
        p[g] = (p[g] + p[lo]) - 1.0
        if p[g] < 1.0:
            small[ns] = g
            ns += 1
        else:
            large[nl] = g
            nl += 1
    while nl > 0:
        nl -= 1
        g = large[nl]
        table[g, 0] = 1.0
        table[g, 1] = g
    while ns > 0:
        ns -= 1
        lo = small[ns]
        if weights[lo] > 0.0:
            table[lo, 0] = 1.0
            table[lo, 1] = lo
        else:
            table[lo, 0] = 0.0
            table[lo, 1] = imax
    return table, total


# --------------------------------------------------------------------------------------
# small helpers


@inline_jit
def _bit(bits: np.ndarray, item: IntLike) -> np.uint64:
    """Bit ``item`` of the uint64 bitmap ``bits`` (1 when the item is excluded)."""
    return (bits[item >> 6] >> np.uint64(item & 63)) & np.uint64(1)


@ngjit
def _mark(bits: np.ndarray, x: np.ndarray, lo: IntLike, hi: IntLike, value: bool) -> None:
    """Set (``value`` True) or clear the bits of the items ``x[lo:hi]``."""
    for q in range(lo, hi):
        item = np.int64(x[q])
        if value:
            bits[item >> 6] |= np.uint64(1) << np.uint64(item & 63)
        else:
            bits[item >> 6] = np.uint64(0)


@inline_jit
def _rank_item(x: np.ndarray, lo: IntLike, hi: IntLike, r: IntLike) -> IntLike:
    """The ``r``-th (0-based) integer not in the sorted, duplicate-free ``x[lo:hi]``."""
    a = lo
    b = hi
    while a < b:
        mid = (a + b) >> 1
        if x[mid] - (mid - lo) <= r:
            a = mid + 1
        else:
            b = mid
    return r + (a - lo)


@inline_jit
def _alias_draw(table: np.ndarray, n: IntLike, nf: float, hp: np.uint64, c: IntLike) -> IntLike:
    """One alias draw with the uniforms ``c`` and ``c + 1`` of the prefix ``hp``."""
    u0 = to_unit(absorb(hp, c))
    u1 = to_unit(absorb(hp, c + 1))
    col: IntLike = np.int64(u0 * nf)
    if col >= n:
        col = n - 1
    return _alias_pick(table, col, u1)


@ngjit
def _setup_user(
    kind: IntLike,
    x: np.ndarray,
    lo: int,
    hi: int,
    n: IntLike,
    weights: np.ndarray,
    total: float,
    n_pos: IntLike,
    wmax: float,
    need: IntLike,
    switch: float,
    cdf: np.ndarray,
    citems: np.ndarray,
) -> tuple[int, IntLike]:
    """Choose the path of one user; fill ``cdf``/``citems`` for the complement.

    Returns ``(path, size)``: ``size`` is the number of available items (uniform) or of
    complement entries (complement path), else 0.
    """
    k = hi - lo
    if kind == KIND_UNIFORM:
        if k == 0:
            return (PATH_PLAIN, n) if n > 0 else (PATH_EMPTY, 0)
        m = n - k
        if m <= 0:
            return PATH_EMPTY, 0
        if 4 * m >= n:
            return PATH_UNIFORM_REJECT, m
        return PATH_RANK, m
    if n_pos == 0:
        return PATH_EMPTY, 0
    if k == 0:
        return PATH_ALIAS, 0
    bound = total - np.float64(k) * wmax  # avail >= bound: no need to look at the row
    if bound > 0.0 and not np.float64(need) * total > switch * np.float64(n) * bound:
        return PATH_REJECT, 0
    excl = 0.0
    cpos = 0
    for q in range(lo, hi):
        w = weights[x[q]]
        excl += w
        if w > 0.0:
            cpos += 1
    if cpos >= n_pos:
        return PATH_EMPTY, 0
    avail = total - excl
    if not (avail <= 0.0 or np.float64(need) * total > switch * np.float64(n) * avail):
        return PATH_REJECT, 0
    acc = 0.0
    c = 0
    q = lo
    for i in range(n):
        if q < hi and x[q] == i:
            q += 1
            continue
        w = weights[i]
        if w > 0.0:
            acc += w
            cdf[c] = acc
            citems[c] = i
            c += 1
    return PATH_COMPLEMENT, c


@inline_jit
def _alias_pick(table: np.ndarray, col: IntLike, u1: float) -> IntLike:
    """Column ``col`` if ``u1 < prob[col]`` else its alias (branch-free select)."""
    a = np.int64(table[col, 1])
    return a + (col - a) * np.int64(u1 < table[col, 0])


@ngjit
def _fill_negatives(
    path: IntLike,
    t0: IntLike,
    t1: IntLike,
    hp: np.uint64,
    x: np.ndarray,
    lo: IntLike,
    hi: IntLike,
    n: IntLike,
    size: IntLike,
    table: np.ndarray,
    cdf: np.ndarray,
    citems: np.ndarray,
    bits: np.ndarray,
    out: np.ndarray,
    pos: IntLike,
    cols: np.ndarray,
    u1s: np.ndarray,
) -> bool:
    """Training negatives ``t0 <= t < t1`` of one set-up user into ``out[pos:]``.

    The rejection paths need the user's exclusion row marked in ``bits``. Works in blocks
    of ``cols.shape[0]`` draws: all the uniforms of a block first, then the table look-ups,
    then the exclusion tests, so that the (cache-missing) loads of independent draws
    overlap; the values are exactly those of drawing each ``t`` on its own. Returns False
    on failure (a rejection loop ran out of attempts).
    """
    nf = np.float64(n)
    sf = np.float64(size)
    block = cols.shape[0]
    t = t0
    while t < t1:
        m = min(block, t1 - t)
        if path == PATH_PLAIN or path == PATH_UNIFORM_REJECT:
            for j in range(m):
                item: IntLike = np.int64(to_unit(absorb(hp, (t + j) * DRAW_STRIDE)) * nf)
                out[pos + j] = item if item < n else n - 1
            if path == PATH_UNIFORM_REJECT:
                for j in range(m):
                    if _bit(bits, np.int64(out[pos + j])) == 0:
                        continue
                    c = (t + j) * DRAW_STRIDE
                    ok = False
                    for _ in range(_MAX_ATTEMPTS):
                        c += 1
                        item = np.int64(to_unit(absorb(hp, c)) * nf)
                        if item >= n:
                            item = n - 1
                        if _bit(bits, item) == 0:
                            ok = True
                            break
                    if not ok:
                        return False
                    out[pos + j] = item
        elif path == PATH_RANK:
            for j in range(m):
                r = np.int64(to_unit(absorb(hp, (t + j) * DRAW_STRIDE)) * sf)
                cols[j] = r if r < size else size - 1
            for j in range(m):
                out[pos + j] = _rank_item(x, lo, hi, cols[j])
        elif path == PATH_ALIAS or path == PATH_REJECT:
            for j in range(m):
                c = (t + j) * DRAW_STRIDE
                col = np.int64(to_unit(absorb(hp, c)) * nf)
                cols[j] = col if col < n else n - 1
                u1s[j] = to_unit(absorb(hp, c + 1))
            for j in range(m):
                out[pos + j] = _alias_pick(table, cols[j], u1s[j])
            if path == PATH_REJECT:
                for j in range(m):
                    if _bit(bits, np.int64(out[pos + j])) == 0:
                        continue
                    c = (t + j) * DRAW_STRIDE
                    ok = False
                    for _ in range(_MAX_ATTEMPTS):
                        c += 2
                        item = _alias_draw(table, n, nf, hp, c)
                        if _bit(bits, item) == 0:
                            ok = True
                            break
                    if not ok:
                        return False
                    out[pos + j] = item
        elif path == PATH_COMPLEMENT:
            total = cdf[size - 1]
            for j in range(m):
                xx = to_unit(absorb(hp, (t + j) * DRAW_STRIDE)) * total
                a = 0
                b = size
                while a < b:  # first index with cdf > xx
                    mid = (a + b) >> 1
                    if cdf[mid] <= xx:
                        a = mid + 1
                    else:
                        b = mid
                out[pos + j] = citems[a] if a < size else citems[size - 1]
        else:
            return False
        t += m
        pos += m
    return True


@ngjit
def _user_negatives(
    path: IntLike,
    t0: IntLike,
    t1: IntLike,
    hp: np.uint64,
    x: np.ndarray,
    lo: IntLike,
    hi: IntLike,
    n: IntLike,
    size: IntLike,
    table: np.ndarray,
    cdf: np.ndarray,
    citems: np.ndarray,
    bits: np.ndarray,
    out: np.ndarray,
    pos: IntLike,
    cols: np.ndarray,
    u1s: np.ndarray,
) -> bool:
    """:func:`_fill_negatives` with the exclusion bits set before and cleared after."""
    marked = path == PATH_REJECT or path == PATH_UNIFORM_REJECT
    if marked:
        _mark(bits, x, lo, hi, True)
    ok = _fill_negatives(
        path, t0, t1, hp, x, lo, hi, n, size, table, cdf, citems, bits, out, pos, cols, u1s
    )
    if marked:
        _mark(bits, x, lo, hi, False)
    return ok


_BLOCK = 256


# --------------------------------------------------------------------------------------
# training negatives


@ngjit
def sample_kernel(
    seed: IntLike,
    epoch: IntLike,
    users: np.ndarray,
    xptr: np.ndarray,
    xind: np.ndarray,
    need: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    out: np.ndarray,
    kind: IntLike,
    n: IntLike,
    weights: np.ndarray,
    table: np.ndarray,
    total: float,
    n_pos: IntLike,
    wmax: float,
    switch: float,
) -> int:
    """Training negatives ``t0[i] <= t < t1[i]`` of each ``users[i]``.

    Parameters
    ----------
    seed : uint64
    epoch : int
    users : int64 array (U,)
        Global user ids (the hash word ``b``).
    xptr : int64 array (U + 1,), xind : int array (xptr[-1],)
        Exclusion rows: ``xind[xptr[i]:xptr[i+1]]`` sorted, duplicate-free, in ``[0, n)``.
    need : int64 array (U,)
        ``max(num_negatives * train_degree, 1)`` of each user (chooses the path).
    t0, t1 : int64 array (U,)
        Negative numbers to draw.
    out : int array (sum(t1 - t0),)
        Filled user after user, ``t`` ascending.
    kind : int
        :data:`KIND_UNIFORM` or :data:`KIND_TABLE`.
    n : int
        Number of items.
    weights : float64 array (n,) (or (0,) when uniform)
    table : float64 array (n, 2) (or (0, 2) when uniform)
        From :func:`build_alias_kernel`.
    total : float
        Its ``total``.
    n_pos : int
        Number of items with positive weight.
    wmax : float
        The largest weight.
    switch : float
        Complement threshold (module docstring).

    Returns
    -------
    int
        -1 on success, else the index ``i`` of the first user with nothing to sample.
    """
    cdf = np.empty(0, np.float64)
    citems = np.empty(0, np.int64)
    cols = np.empty(_BLOCK, np.int64)
    u1s = np.empty(_BLOCK, np.float64)
    bits = np.zeros((n + 63) // 64, np.uint64)
    pos = 0
    for i in range(users.shape[0]):
        if t1[i] <= t0[i]:
            continue
        lo = xptr[i]
        hi = xptr[i + 1]
        if kind == KIND_TABLE and cdf.shape[0] < n and hi > lo:
            cdf = np.empty(n, np.float64)
            citems = np.empty(n, np.int64)
        path, size = _setup_user(
            kind, xind, lo, hi, n, weights, total, n_pos, wmax, need[i], switch, cdf, citems
        )
        if path == PATH_EMPTY:
            return i
        hp = hash_prefix(seed, STREAM_NEG_TRAIN, epoch, users[i])
        ok = _user_negatives(
            path,
            t0[i],
            t1[i],
            hp,
            xind,
            lo,
            hi,
            n,
            size,
            table,
            cdf,
            citems,
            bits,
            out,
            pos,
            cols,
            u1s,
        )
        if not ok:
            return i
        pos += t1[i] - t0[i]
    return -1


@ngjit
def window_rows_kernel(
    r0: IntLike,
    r1: IntLike,
    k_neg: IntLike,
    seed: IntLike,
    epoch: IntLike,
    u_first: IntLike,
    base: IntLike,
    ptr: np.ndarray,
    ind: np.ndarray,
    xptr: np.ndarray,
    xind: np.ndarray,
    kind: IntLike,
    n: IntLike,
    weights: np.ndarray,
    table: np.ndarray,
    total: float,
    n_pos: IntLike,
    wmax: float,
    switch: float,
    users_out: np.ndarray,
    items_out: np.ndarray,
    labels_out: np.ndarray,
) -> int:
    """Rows ``[r0, r1)`` of the unshuffled example stream of an epoch.

    The unshuffled stream lists the users in order; user ``u`` with sorted train row
    ``P`` contributes, for each ``p``, the row ``(u, P[p], 1)`` followed by the ``k_neg``
    rows ``(u, negative t, 0)``, ``t = p * k_neg .. p * k_neg + k_neg - 1``. Global row
    ``(indptr[u] + p) * (k_neg + 1) + s``.

    Parameters
    ----------
    r0, r1 : int
        Global row range.
    k_neg : int
        Negatives per positive.
    seed, epoch : uint64, int
    u_first : int
        Global id of the first user of ``ptr``.
    base : int
        ``indptr[u_first]``: global position of its first positive.
    ptr : int64 array (U + 1,), ind : int array
        Train rows of users ``u_first .. u_first + U - 1`` (local pointers from 0).
    xptr, xind
        Their exclusion rows (see :func:`sample_kernel`).
    kind, n, weights, table, total, n_pos, wmax, switch
        As in :func:`sample_kernel`.
    users_out : int64 array (r1 - r0,)
    items_out : int array (r1 - r0,)
    labels_out : int8 array (r1 - r0,)

    Returns
    -------
    int
        -1 on success, else the local index of the first user with nothing to sample.
    """
    kp1 = k_neg + 1
    cdf = np.empty(0, np.float64)
    citems = np.empty(0, np.int64)
    cols = np.empty(_BLOCK, np.int64)
    u1s = np.empty(_BLOCK, np.float64)
    bits = np.zeros((n + 63) // 64, np.uint64)
    negs = np.empty(((r1 - r0) // kp1 + 2) * k_neg, np.int64)
    pos = 0
    for i in range(ptr.shape[0] - 1):
        d = ptr[i + 1] - ptr[i]
        g0 = (base + ptr[i]) * kp1
        g1 = g0 + d * kp1
        o0 = max(r0, g0) - g0
        o1 = min(r1, g1) - g0
        if o1 <= o0:
            continue
        u = u_first + i
        # negatives t0 <= t < t1 of the rows o0 <= o < o1 (row o = p * kp1 + s, t = p * k + s - 1)
        t0 = o0 - (o0 + k_neg) // kp1
        t1 = o1 - (o1 + k_neg) // kp1
        if t1 > t0:
            lo = xptr[i]
            hi = xptr[i + 1]
            if kind == KIND_TABLE and cdf.shape[0] < n and hi > lo:
                cdf = np.empty(n, np.float64)
                citems = np.empty(n, np.int64)
            need = max(d * k_neg, 1)
            path, size = _setup_user(
                kind, xind, lo, hi, n, weights, total, n_pos, wmax, need, switch, cdf, citems
            )
            if path == PATH_EMPTY:
                return i
            hp = hash_prefix(seed, STREAM_NEG_TRAIN, epoch, u)
            ok = _user_negatives(
                path,
                t0,
                t1,
                hp,
                xind,
                lo,
                hi,
                n,
                size,
                table,
                cdf,
                citems,
                bits,
                negs,
                0,
                cols,
                u1s,
            )
            if not ok:
                return i
        for o in range(o0, o1):
            p = o // kp1
            s = o - p * kp1
            users_out[pos] = u
            if s == 0:
                items_out[pos] = ind[ptr[i] + p]
                labels_out[pos] = 1
            else:
                items_out[pos] = negs[p * k_neg + s - 1 - t0]
                labels_out[pos] = 0
            pos += 1
    return -1


# --------------------------------------------------------------------------------------
# shuffles


@ngjit
def fisher_yates_kernel(
    size: IntLike, seed: IntLike, stream: IntLike, a: IntLike, b: IntLike
) -> np.ndarray:
    """Permutation of ``range(size)`` (int64) by Fisher-Yates.

    ``perm = arange(size)``; for ``k = size-1 .. 1``:
    ``s = min(int(uniform(seed, stream, a, b, k) * (k + 1)), k)``, swap ``perm[k], perm[s]``.
    """
    perm = np.arange(size)
    _fisher_yates_inplace(perm, hash_prefix(seed, stream, a, b))
    return perm


@ngjit
def _fisher_yates_inplace(values: np.ndarray, hp: np.uint64) -> None:
    """Apply the Fisher-Yates swaps of :func:`fisher_yates_kernel` to ``values`` directly."""
    for k in range(values.shape[0] - 1, 0, -1):
        s: IntLike = np.int64(to_unit(absorb(hp, k)) * np.float64(k + 1))
        if s > k:
            s = k
        tmp = values[k]
        values[k] = values[s]
        values[s] = tmp


@ngjit
def shuffle_rows_kernel(
    seed: IntLike,
    epoch: IntLike,
    window: IntLike,
    users: np.ndarray,
    items: np.ndarray,
    labels: np.ndarray,
    users_out: np.ndarray,
    items_out: np.ndarray,
    labels_out: np.ndarray,
) -> None:
    """``out[i] = in[perm[i]]`` with ``perm = fisher_yates(L, seed, SHUFFLE, epoch, window)``.

    When the rows fit (user offset < 2**32, items < 2**31, labels 0/1) they are packed in
    one uint64 each and swapped in place (one random access a swap instead of three
    gathers); otherwise the permutation is built and gathered. Same result either way.
    """
    size = users.shape[0]
    hp = hash_prefix(seed, STREAM_NEG_SHUFFLE, epoch, window)
    if size == 0:
        return
    u0 = users[0]
    packable = True
    for i in range(size):
        du = users[i] - u0
        if du < 0 or du >= 2**32 or items[i] < 0 or items[i] >= 2**31 or labels[i] > 1:
            packable = False
            break
    if packable:
        codes = np.empty(size, np.uint64)
        for i in range(size):
            codes[i] = (
                (np.uint64(users[i] - u0) << np.uint64(32))
                | (np.uint64(items[i]) << np.uint64(1))
                | np.uint64(labels[i])
            )
        _fisher_yates_inplace(codes, hp)
        for i in range(size):
            c = codes[i]
            users_out[i] = u0 + np.int64(c >> np.uint64(32))
            items_out[i] = np.int64((c >> np.uint64(1)) & np.uint64(0x7FFFFFFF))
            labels_out[i] = np.int64(c & np.uint64(1))
        return
    perm = np.arange(size)
    _fisher_yates_inplace(perm, hp)
    for i in range(size):
        j = perm[i]
        users_out[i] = users[j]
        items_out[i] = items[j]
        labels_out[i] = labels[j]


# --------------------------------------------------------------------------------------
# test negatives


@inline_jit
def _set_insert(keys: np.ndarray, mask: IntLike, r: IntLike) -> bool:
    """Insert ``r`` into the linear-probing set ``keys`` (-1 = empty); False if present."""
    h = r & mask
    while True:
        v = keys[h]
        if v == r:
            return False
        if v < 0:
            keys[h] = r
            return True
        h = (h + 1) & mask


@ngjit
def eval_negatives_kernel(
    seed: IntLike,
    users: np.ndarray,
    xptr: np.ndarray,
    xind: np.ndarray,
    n: IntLike,
    k: IntLike,
    out: np.ndarray,
) -> int:
    """``k`` distinct negatives per user, uniform, never in the exclusion row.

    Robert Floyd's algorithm on the ranks of the ``m = n - |X|`` available items: for
    ``s = 0 .. k-1``, ``j = m - k + s``, ``r = min(int(uniform(seed, TEST, 0, user, s) *
    (j + 1)), j)``; add ``r`` to the set, or ``j`` if ``r`` is already in it. The ranks are
    sorted and mapped to items (the ``r``-th item not in ``X``): a uniformly random
    ``k``-subset of the available items, in increasing item order.

    Parameters
    ----------
    seed : uint64
    users : int64 array (U,)
    xptr : int64 array (U + 1,), xind : int array
        Exclusion rows (sorted, duplicate-free).
    n, k : int
    out : int array (U, k)

    Returns
    -------
    int
        -1 on success, else the index of the first user with fewer than ``k`` items left.
    """
    cap = 2
    while cap < 2 * k:
        cap *= 2
    keys = np.empty(cap, np.int64)
    mask = cap - 1
    ranks = np.empty(k, np.int64)
    for i in range(users.shape[0]):
        lo = xptr[i]
        hi = xptr[i + 1]
        m = n - (hi - lo)
        if m < k:
            return i
        if k == 0:
            continue
        keys[:] = -1
        hp = hash_prefix(seed, STREAM_NEG_TEST, 0, users[i])
        for s in range(k):
            j = m - k + s
            r = np.int64(to_unit(absorb(hp, s)) * np.float64(j + 1))
            if r > j:
                r = j
            if not _set_insert(keys, mask, r):
                _set_insert(keys, mask, j)
                r = j
            ranks[s] = r
        ranks.sort()
        q = lo
        for s in range(k):  # merge: rank r -> r + #{X[q] <= item}
            r = ranks[s]
            while q < hi and xind[q] - (q - lo) <= r:
                q += 1
            out[i, s] = r + (q - lo)
    return -1


# --------------------------------------------------------------------------------------
# row utilities


@ngjit
def rows_canonical_kernel(ptr: np.ndarray, ind: np.ndarray, n: IntLike) -> bool:
    """True when every row of the CSR ``(ptr, ind)`` is strictly increasing within [0, n)."""
    for i in range(ptr.shape[0] - 1):
        for q in range(ptr[i], ptr[i + 1]):
            v = ind[q]
            if v < 0 or v >= n:
                return False
            if q > ptr[i] and v <= ind[q - 1]:
                return False
    return True


@ngjit
def union_rows_kernel(
    aptr: np.ndarray, aind: np.ndarray, bptr: np.ndarray, bind: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise sorted union of two canonical CSR structures: ``(ptr int64, ind)``."""
    rows = aptr.shape[0] - 1
    ptr = np.zeros(rows + 1, np.int64)
    ind = np.empty((aptr[rows] - aptr[0]) + (bptr[rows] - bptr[0]), aind.dtype)
    pos = 0
    for i in range(rows):
        p = aptr[i]
        pe = aptr[i + 1]
        q = bptr[i]
        qe = bptr[i + 1]
        while p < pe or q < qe:
            if q >= qe or (p < pe and aind[p] < bind[q]):
                ind[pos] = aind[p]
                p += 1
            elif p >= pe or bind[q] < aind[p]:
                ind[pos] = bind[q]
                q += 1
            else:
                ind[pos] = aind[p]
                p += 1
                q += 1
            pos += 1
        ptr[i + 1] = pos
    return ptr, ind[:pos]


__all__ = [
    "DEFAULT_SWITCH",
    "DRAW_STRIDE",
    "KIND_TABLE",
    "KIND_UNIFORM",
    "PATH_ALIAS",
    "PATH_COMPLEMENT",
    "PATH_EMPTY",
    "PATH_PLAIN",
    "PATH_RANK",
    "PATH_REJECT",
    "STREAM_NEG_ORDER",
    "STREAM_NEG_SHUFFLE",
    "STREAM_NEG_TEST",
    "STREAM_NEG_TRAIN",
    "build_alias_kernel",
    "eval_negatives_kernel",
    "fisher_yates_kernel",
    "rows_canonical_kernel",
    "sample_kernel",
    "shuffle_rows_kernel",
    "union_rows_kernel",
    "window_rows_kernel",
]
