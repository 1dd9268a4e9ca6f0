"""Random permutations of the rows / columns of one block (i, j), as pure functions.

A permutation ``pi`` of ``range(size)`` is an int64 array ``perm`` with ``perm[r] = pi(r)``:
source row ``r`` goes to output slot ``perm[r]``. ``invert_permutation(perm)[t]`` is the
source row that lands in slot ``t``.

Kinds (see :func:`permutation_table`), each a pure function of ``(seed, stream, i, j)`` (and
of ``degree`` / ``window`` for the stratified kind):

* ``"none"``: identity.
* ``"block"``: the computed bijection of ``[0, size)`` of block ``(i, j)``
  (:func:`block_permutation`).
* ``"stratified"``: rows only exchange slots with rows of similar degree: inside each
  window of ``window`` consecutive positions of the degree-sorted order (the last may be
  shorter), the computed bijection of the window (:func:`stratified_permutation`).

Windows may also be given by start offsets into an order (:func:`window_permutation`, the
joint dropout's windows of equal-degree rows, :mod:`.joint`): the same bijection of each
window's own length, tweaked by the window's number; the inverse for a task's slots is
:func:`window_source_rows_kernel`.

**Computed, not stored.** The expansion never holds a whole-block table of source rows: a
task computes the source row of each of its own output slots with the inverse
(:func:`source_rows_kernel`), so its memory is its slots × its blocks, whatever the number
of users or blocks. Item permutations are materialized per block from the same bijection
(:func:`fill_block_kernel`): a table of ``n`` items costs about 14 ns an item once per
process and block, where computing ``sigma(c)`` per emitted entry costs about 100 ns (one
element at a time) for each of the entries, which outnumber the items wherever the
expansion is large. Where they do not (tens of thousands of blocks, each keeping a few
entries of a task), the tables of a task's blocks would be gigabytes, and the emit kernel
computes ``sigma(c)`` per entry instead (:func:`permutation_at`, the same values).

**The bijection.** A keyed Feistel network on a mixed-radix domain with cycle-walking. For
a domain of ``size >= 2`` elements, ``B = max(2, isqrt(size))`` and ``A = max(2, ceil(size
/ B))``, so ``A·B >= size`` and ``A·B - size < B``; ``x = L·B + R`` with ``0 <= L < A``,
``0 <= R < B``. Each of the :data:`FEISTEL_ROUNDS` rounds does ``L <- (L + h(k_2r ^ t, R,
A)) mod A`` then ``R <- (R + h(k_2r+1 ^ t, L, B)) mod B`` with ``h(k, v, M) = (F(k, v) · M)
>> 32`` and the round function ``F(k, v) = (z · M2) >> 32`` where ``z = (v ^ k) · M1``,
``z ^= z >> 32`` (two multiplications: the splitmix64 constants of :mod:`.rng`). Each step is
invertible, so the network is a bijection of ``[0, A·B)``; cycle-walking applies it again
while the value is ``>= size``: the cycle through ``x < size`` returns below ``size``, so
the result is a bijection of ``[0, size)``, after ``1 + O(1/sqrt(size))`` applications on
average (a binary domain ``2**k`` would need up to two). Sizes 0 and 1 are the identity.
The round keys ``k_r = absorb(hp, r)`` (``hp = hash_prefix(seed, stream, i, j)``,
:func:`feistel_keys`) are per block; the tweak ``t = window_tweak(keys, w) = absorb(hp,
2·FEISTEL_ROUNDS + w)`` makes window ``w`` of a stratified permutation another bijection
(the block kind is window 0 of the identity order, so a stratified permutation whose one
window holds every row with equal degrees is the block permutation).

Quality and cost (``tests/test_feistel.py``): where each element goes and where pairs of
elements go are uniform (chi-square over thousands of blocks, sizes 6 to 33), and with 6
rounds every permutation of 3, 4 or 5 elements is about equally likely (4 rounds are
visibly not, over 5 elements); of 6 elements the 720 permutations all occur but not
equally often, a known limit of small Feistel networks. The full 64-bit mixer
(``absorb``, three multiplications) as the round function cost 119 ns an evaluation one at
a time on a 138,493-element domain, 274 ns on a binary domain with its cycle-walks; the
two-multiplication round function costs 85 ns one at a time. The kernels evaluate batches
round by round (independent elements overlap in the pipeline) and, where many elements
share a tweak (a whole block, a stratified window of a table), first tabulate the round
function over its ``A + B`` possible inputs per round, so that a round is a lookup
(:func:`_round_tables`, the same values): ``benchmarks/bench_permute.py`` measures about
19 ns a slot for the block kind's source rows, 35 ns for the stratified kind's (a tweak per
element), 14 ns an item for an item table, against 4 to 7 ns an element for the
Fisher-Yates tables, which a process would have to keep per block.

Store format 1 and 2 used Fisher-Yates tables (:func:`legacy_permutation_table`, kept to
audit those stores); format 3 uses the computed bijection.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._jit import IntLike, ngjit
from .rng import M1, M2, absorb, as_seed, hash_prefix, to_unit

PERMUTATION_KINDS = ("none", "block", "stratified")
#: how the permutations are made: part of every plan's token, so that a run left unfinished
#: by a version with other permutations (store formats 1 and 2: Fisher-Yates tables) is not
#: resumed with these
CONSTRUCTION = "feistel-mixed-radix-6"
#: rounds of the Feistel network (each: one half-round on the left part, one on the right);
#: 4 rounds are visibly non-uniform over the permutations of 5 elements, 6 are not
FEISTEL_ROUNDS = 6
#: elements a kernel evaluates together, round by round (scratch of 2 × 8 × BATCH bytes)
BATCH = 256
#: the block-column index of the row permutations every block column of a block row shares
#: (``rows="shared"``: a synthetic user copies one real user in all its block columns);
#: above any block index, as the joint dropout's ``SHARED_ROW``
SHARED_COLUMN = np.int64((1 << 40) + 4)
_U32 = np.uint64(32)


@ngjit
def feistel_keys(seed: IntLike, stream: IntLike, i: IntLike, j: IntLike) -> np.ndarray:
    """The keys of block ``(i, j)``: ``2 · FEISTEL_ROUNDS`` round keys ``absorb(hp, r)``
    then ``hp = hash_prefix(seed, stream, i, j)`` itself (the windows' tweaks), uint64."""
    hp = hash_prefix(seed, stream, i, j)
    keys = np.empty(2 * FEISTEL_ROUNDS + 1, np.uint64)
    for r in range(2 * FEISTEL_ROUNDS):
        keys[r] = absorb(hp, r)
    keys[2 * FEISTEL_ROUNDS] = hp
    return keys


@ngjit
def window_tweak(keys: np.ndarray, w: IntLike) -> np.uint64:
    """The tweak of window ``w``: ``absorb(hp, 2 · FEISTEL_ROUNDS + w)`` (uint64)."""
    return absorb(keys[2 * FEISTEL_ROUNDS], np.int64(2 * FEISTEL_ROUNDS) + np.int64(w))


@ngjit
def feistel_split(size: IntLike) -> tuple[np.uint64, np.uint64]:
    """``(A, B)``: ``B = max(2, isqrt(size))``, ``A = max(2, ceil(size / B))`` (uint64)."""
    s = np.int64(size)
    b = np.int64(np.sqrt(np.float64(s)))
    while b * b > s:
        b -= 1
    while (b + 1) * (b + 1) <= s:
        b += 1
    b = max(b, np.int64(2))
    a = max((s + b - 1) // b, np.int64(2))
    return np.uint64(a), np.uint64(b)


@ngjit
def _h(k: np.uint64, v: np.uint64, mod: np.uint64) -> np.uint64:
    """``(F(k, v) · mod) >> 32``: the round function mapped onto ``[0, mod)``."""
    z = (v ^ k) * M1
    z ^= z >> _U32
    return (((z * M2) >> _U32) * mod) >> _U32


@ngjit
def _encrypt(x: np.uint64, keys: np.ndarray, t: np.uint64, a: np.uint64, b: np.uint64) -> np.uint64:
    left = x // b
    right = x - left * b
    for r in range(FEISTEL_ROUNDS):
        left += _h(keys[2 * r] ^ t, right, a)
        if left >= a:
            left -= a
        right += _h(keys[2 * r + 1] ^ t, left, b)
        if right >= b:
            right -= b
    return left * b + right


@ngjit
def _decrypt(y: np.uint64, keys: np.ndarray, t: np.uint64, a: np.uint64, b: np.uint64) -> np.uint64:
    left = y // b
    right = y - left * b
    for r in range(FEISTEL_ROUNDS - 1, -1, -1):
        right += b - _h(keys[2 * r + 1] ^ t, left, b)
        if right >= b:
            right -= b
        left += a - _h(keys[2 * r] ^ t, right, a)
        if left >= a:
            left -= a
    return left * b + right


@ngjit
def _round_tables(
    keys: np.ndarray, t: np.uint64, a: np.uint64, b: np.uint64, fa: np.ndarray, fb: np.ndarray
) -> None:
    """``fa[r, v] = h(k_2r ^ t, v, A)`` for ``v < B`` and ``fb[r, v] = h(k_2r+1 ^ t, v, B)``
    for ``v < A``: every value the rounds can use, so that evaluating many elements with
    one tweak costs lookups (``FEISTEL_ROUNDS · (A + B)`` hashes instead of
    ``2 · FEISTEL_ROUNDS`` an element)."""
    for r in range(FEISTEL_ROUNDS):
        k0 = keys[2 * r] ^ t
        k1 = keys[2 * r + 1] ^ t
        for v in range(b):
            fa[r, v] = _h(k0, np.uint64(v), a)
        for v in range(a):
            fb[r, v] = _h(k1, np.uint64(v), b)


@ngjit
def _walk_tab(
    x: np.uint64, fa: np.ndarray, fb: np.ndarray, a: np.uint64, b: np.uint64, size: np.uint64,
    inverse: bool,
) -> np.uint64:  # fmt: skip
    """The network (or its inverse) from the round tables, cycle-walked below ``size``."""
    while True:
        left = x // b
        right = x - left * b
        if inverse:
            for r in range(FEISTEL_ROUNDS - 1, -1, -1):
                right += b - fb[r, left]
                if right >= b:
                    right -= b
                left += a - fa[r, right]
                if left >= a:
                    left -= a
        else:
            for r in range(FEISTEL_ROUNDS):
                left += fa[r, right]
                if left >= a:
                    left -= a
                right += fb[r, left]
                if right >= b:
                    right -= b
        x = left * b + right
        if x < size:
            return x


@ngjit
def feistel_at(x: IntLike, keys: np.ndarray, size: IntLike, w: IntLike) -> np.int64:
    """``pi(x)`` for ``0 <= x < size``: the Feistel network of window ``w`` (tweak
    :func:`window_tweak`), cycle-walked onto ``[0, size)``.

    Examples
    --------
    >>> keys = feistel_keys(7, 2, 0, 3)
    >>> perm = [feistel_at(x, keys, 10, 0) for x in range(10)]
    >>> sorted(perm) == list(range(10)), feistel_inverse_at(perm[4], keys, 10, 0)
    (True, 4)
    """
    if size <= 1:
        return np.int64(x)
    a, b = feistel_split(size)
    t = window_tweak(keys, w)
    y = _encrypt(np.uint64(x), keys, t, a, b)
    while y >= np.uint64(size):
        y = _encrypt(y, keys, t, a, b)
    return np.int64(y)


@ngjit
def feistel_inverse_at(y: IntLike, keys: np.ndarray, size: IntLike, w: IntLike) -> np.int64:
    """``pi^-1(y)`` for ``0 <= y < size`` (see :func:`feistel_at`)."""
    if size <= 1:
        return np.int64(y)
    a, b = feistel_split(size)
    t = window_tweak(keys, w)
    x = _decrypt(np.uint64(y), keys, t, a, b)
    while x >= np.uint64(size):
        x = _decrypt(x, keys, t, a, b)
    return np.int64(x)


@ngjit
def _feistel_batch(
    vals: np.ndarray,
    tw: np.ndarray,
    n: IntLike,
    keys: np.ndarray,
    size: IntLike,
    inverse: bool,
    lb: np.ndarray,
    rb: np.ndarray,
) -> None:
    """``vals[:n] <- pi(vals[:n])`` (``pi^-1`` when ``inverse``) on a domain of ``size >= 2``,
    element ``e`` with the tweak ``tw[e]`` (uint64 arrays; ``lb`` / ``rb``: scratch).

    Round by round over the batch: the elements are independent, so their multiplications
    overlap (about 4× faster than one element at a time).
    """
    a, b = feistel_split(size)
    for e in range(n):
        left = vals[e] // b
        lb[e] = left
        rb[e] = vals[e] - left * b
    if inverse:
        for r in range(FEISTEL_ROUNDS - 1, -1, -1):
            k0 = keys[2 * r]
            k1 = keys[2 * r + 1]
            for e in range(n):
                v = rb[e] + b - _h(k1 ^ tw[e], lb[e], b)
                rb[e] = v - b if v >= b else v
            for e in range(n):
                v = lb[e] + a - _h(k0 ^ tw[e], rb[e], a)
                lb[e] = v - a if v >= a else v
    else:
        for r in range(FEISTEL_ROUNDS):
            k0 = keys[2 * r]
            k1 = keys[2 * r + 1]
            for e in range(n):
                v = lb[e] + _h(k0 ^ tw[e], rb[e], a)
                lb[e] = v - a if v >= a else v
            for e in range(n):
                v = rb[e] + _h(k1 ^ tw[e], lb[e], b)
                rb[e] = v - b if v >= b else v
    lim = np.uint64(size)
    for e in range(n):
        x = lb[e] * b + rb[e]
        while x >= lim:  # cycle-walking: rare (A·B - size < B)
            x = _decrypt(x, keys, tw[e], a, b) if inverse else _encrypt(x, keys, tw[e], a, b)
        vals[e] = x


@ngjit
def _window_into(
    perm: np.ndarray,
    order: np.ndarray,
    w0: IntLike,
    length: IntLike,
    keys: np.ndarray,
    t: np.uint64,
    fa: np.ndarray,
    fb: np.ndarray,
) -> None:
    """``perm[order[w0 + x]] = order[w0 + f(x)]`` for the bijection ``f`` of ``[0, length)``
    with tweak ``t`` (``order`` empty: the identity order); ``fa`` / ``fb``: scratch for
    the round tables."""
    ident = order.shape[0] == 0
    if length < 2:
        for x in range(length):
            if ident:
                perm[w0 + x] = w0 + x
            else:
                perm[order[w0 + x]] = order[w0 + x]
        return
    a, b = feistel_split(length)
    _round_tables(keys, t, a, b, fa, fb)
    lim = np.uint64(length)
    lb = np.empty(BATCH, np.uint64)
    rb = np.empty(BATCH, np.uint64)
    left = np.uint64(0)
    right = np.uint64(0)
    for c0 in range(0, length, BATCH):
        n = min(BATCH, length - c0)
        for e in range(n):  # x = c0 + e = left·B + right, counted without a division
            lb[e] = left
            rb[e] = right
            right += np.uint64(1)
            if right == b:
                right = np.uint64(0)
                left += np.uint64(1)
        # round by round over the batch: independent lookups overlap
        for r in range(FEISTEL_ROUNDS):
            for e in range(n):
                v = lb[e] + fa[r, rb[e]]
                lb[e] = v - a if v >= a else v
            for e in range(n):
                v = rb[e] + fb[r, lb[e]]
                rb[e] = v - b if v >= b else v
        for e in range(n):
            y = lb[e] * b + rb[e]
            if y >= lim:
                y = _walk_tab(y, fa, fb, a, b, lim, False)
            x = c0 + e
            if ident:
                perm[w0 + x] = w0 + np.int64(y)
            else:
                perm[order[w0 + x]] = order[w0 + np.int64(y)]


@ngjit
def _scratch(size: IntLike) -> tuple[np.ndarray, np.ndarray]:
    """Round tables big enough for any domain of at most ``size`` elements."""
    if size < 2:
        return np.empty((FEISTEL_ROUNDS, 2), np.uint64), np.empty((FEISTEL_ROUNDS, 2), np.uint64)
    a, b = feistel_split(size)
    # a shorter domain L <= size has B_L <= B and A_L <= B_L + 2 (L < (B_L + 1)**2)
    w = max(np.int64(a), np.int64(b)) + 3
    return np.empty((FEISTEL_ROUNDS, w), np.uint64), np.empty((FEISTEL_ROUNDS, w), np.uint64)


@ngjit
def _permutation_into(
    perm: np.ndarray, order: np.ndarray, window: IntLike, keys: np.ndarray
) -> None:
    """Fill ``perm`` with the permutation of block keys ``keys``: one window over the
    identity order when ``order`` is empty (block kind), else the windows of ``order``."""
    size = perm.shape[0]
    if order.shape[0] == 0:
        fa, fb = _scratch(size)
        _window_into(perm, order, 0, size, keys, window_tweak(keys, 0), fa, fb)
        return
    fa, fb = _scratch(min(np.int64(window), np.int64(size)))
    w = 0
    for w0 in range(0, size, window):
        length = min(window, size - w0)
        _window_into(perm, order, w0, length, keys, window_tweak(keys, w), fa, fb)
        w += 1


@ngjit
def feistel_permutation_kernel(
    size: IntLike, seed: IntLike, stream: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """``perm[x] = feistel_at(x, feistel_keys(seed, stream, i, j), size, 0)`` (int64)."""
    perm = np.empty(size, np.int64)
    order = np.empty(0, np.int64)
    _permutation_into(perm, order, max(size, 1), feistel_keys(seed, stream, i, j))
    return perm


@ngjit
def block_permutation_kernel(
    size: IntLike, seed: IntLike, stream: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """The block permutation of ``range(size)`` (int64), see :func:`block_permutation`."""
    return feistel_permutation_kernel(size, seed, stream, i, j)


@ngjit
def stratified_permutation_kernel(
    order: np.ndarray, window: IntLike, seed: IntLike, stream: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """Stratified permutation given ``order`` = stable argsort of the degrees (int64)."""
    size = order.shape[0]
    perm = np.empty(size, np.int64)
    if size == 0:
        return perm
    _permutation_into(perm, order, window, feistel_keys(seed, stream, i, j))
    return perm


@ngjit
def fill_block_kernel(
    out: np.ndarray,
    order: np.ndarray,
    window: IntLike,
    seed: IntLike,
    stream: IntLike,
    i: IntLike,
    j: IntLike,
) -> None:
    """Fill ``out`` (1-D, any integer dtype) with the permutation of block ``(i, j)``: the
    block permutation when ``order`` is empty, else the stratified permutation of
    ``order``."""
    if out.shape[0] == 0:
        return
    _permutation_into(out, order, window, feistel_keys(seed, stream, i, j))


@ngjit
def permutation_at(
    c: IntLike, keys: np.ndarray, order: np.ndarray, rank: np.ndarray, window: IntLike,
    size: IntLike,
) -> np.int64:  # fmt: skip
    """``perm[c]`` of the block whose keys are ``keys`` (:func:`fill_block_kernel`'s table),
    for one element: the block kind when ``order`` is empty, else the stratified kind of
    ``order`` (``rank`` its inverse) in windows of ``window``; ``window == 0``: the identity.

    Why: where a task emits fewer entries of a block than the block has items, computing
    ``sigma(c)`` per entry (about 100 ns) costs less than a table of every item, and needs
    no memory (:func:`block_keys_kernel`).

    Examples
    --------
    >>> keys = feistel_keys(7, 2, 0, 3)
    >>> table = np.empty(10, np.int64)
    >>> fill_block_kernel(table, np.empty(0, np.int64), 0, 7, 2, 0, 3)
    >>> none = np.empty(0, np.int64)
    >>> [int(permutation_at(c, keys, none, none, 1, 10)) for c in range(10)] == table.tolist()
    True
    """
    if window == 0:
        return np.int64(c)
    if order.shape[0] == 0:
        return feistel_at(c, keys, size, 0)
    p = rank[c]
    w = p // window
    w0 = w * window
    length = min(np.int64(window), np.int64(size) - w0)
    return np.int64(order[w0 + feistel_at(p - w0, keys, length, w)])


@ngjit
def block_keys_kernel(seed: IntLike, stream: IntLike, i: IntLike, blocks: np.ndarray) -> np.ndarray:
    """``out[b] = feistel_keys(seed, stream, i, blocks[b])``: the keys of a task's blocks for
    :func:`permutation_at` (uint64, ``(len(blocks), 2·FEISTEL_ROUNDS + 1)``)."""
    out = np.empty((blocks.shape[0], 2 * FEISTEL_ROUNDS + 1), np.uint64)
    for b in range(blocks.shape[0]):
        out[b] = feistel_keys(seed, stream, i, blocks[b])
    return out


@ngjit
def fill_table_kernel(
    out: np.ndarray,
    order: np.ndarray,
    window: IntLike,
    seed: IntLike,
    stream: IntLike,
    i: IntLike,
    active: np.ndarray,
) -> None:
    """Fill ``out[j]`` (any integer dtype) with the permutation of block ``(i, j)`` for every
    ``j`` with ``active[j]`` (the identity for the others), see :func:`fill_block_kernel`."""
    size = out.shape[1]
    for j in range(out.shape[0]):
        if active[j]:
            fill_block_kernel(out[j], order, window, seed, stream, i, j)
        else:
            for x in range(size):
                out[j, x] = x


@ngjit
def source_rows_kernel(
    slots: np.ndarray,
    order: np.ndarray,
    rank: np.ndarray,
    window: IntLike,
    size: IntLike,
    seed: IntLike,
    stream: IntLike,
    i: IntLike,
    blocks: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[b, u] = pi^-1(slots[u])`` for the permutation ``pi`` of block ``(i, blocks[b])``
    on ``[0, size)``, computed for those slots only (int64 ``out`` of shape ``(nb, ns)``).

    ``order`` empty: the block kind. Else the stratified kind: ``order`` is the stable
    degree order and ``rank`` its inverse; slot ``t`` at position ``p = rank[t]`` lies in
    window ``w = p // window`` and comes from ``order[w·window + f_w^-1(p - w·window)]``.
    """
    ns = slots.shape[0]
    if size <= 1 or ns == 0:
        for b in range(blocks.shape[0]):
            for u in range(ns):
                out[b, u] = slots[u]
        return
    strat = order.shape[0] > 0
    full = min(np.int64(window), np.int64(size)) if strat else np.int64(size)
    vals = np.empty(BATCH, np.uint64)
    tw = np.empty(BATCH, np.uint64)
    lb = np.empty(BATCH, np.uint64)
    rb = np.empty(BATCH, np.uint64)
    base = np.empty(BATCH, np.int64)  # first position of each element's window
    idx = np.empty(BATCH, np.int64)  # the slot number u of each element
    # block kind, one tweak: the round tables cost ROUNDS · (A + B) hashes a block, then a
    # slot costs lookups; worth it from about A + B slots (same values either way)
    ta, tb = feistel_split(size)
    tables = not strat and ns >= np.int64(ta + tb)
    fa, fb = _scratch(size if tables else 0)
    for bb in range(blocks.shape[0]):
        keys = feistel_keys(seed, stream, i, blocks[bb])
        t0 = window_tweak(keys, 0)
        if tables:
            _round_tables(keys, t0, ta, tb, fa, fb)
            lim = np.uint64(size)
            for c0 in range(0, ns, BATCH):
                n = min(BATCH, ns - c0)
                for e in range(n):  # round by round over the batch: lookups overlap
                    y = np.uint64(slots[c0 + e])
                    left = y // tb
                    lb[e] = left
                    rb[e] = y - left * tb
                for r in range(FEISTEL_ROUNDS - 1, -1, -1):
                    for e in range(n):
                        v = rb[e] + tb - fb[r, lb[e]]
                        rb[e] = v - tb if v >= tb else v
                    for e in range(n):
                        v = lb[e] + ta - fa[r, rb[e]]
                        lb[e] = v - ta if v >= ta else v
                for e in range(n):
                    src = lb[e] * tb + rb[e]
                    if src >= lim:
                        src = _walk_tab(src, fa, fb, ta, tb, lim, True)
                    out[bb, c0 + e] = np.int64(src)
            continue
        n = 0
        for u in range(ns):
            t = slots[u]
            if not strat:
                vals[n] = np.uint64(t)
                tw[n] = t0
                base[n] = 0
                idx[n] = u
                n += 1
            else:
                p = rank[t]
                w = p // window
                w0 = w * window
                length = min(np.int64(window), np.int64(size) - w0)
                if length < full:  # the short last window: one at a time
                    x = feistel_inverse_at(p - w0, keys, length, w)
                    out[bb, u] = order[w0 + x]
                    continue
                vals[n] = np.uint64(p - w0)
                tw[n] = window_tweak(keys, w)
                base[n] = w0
                idx[n] = u
                n += 1
            if n == BATCH or u == ns - 1:
                if full >= 2:
                    _feistel_batch(vals, tw, n, keys, full, True, lb, rb)
                for e in range(n):
                    x = base[e] + np.int64(vals[e])
                    out[bb, idx[e]] = order[x] if strat else x
                n = 0
        if n > 0:  # the last slot was in a short window
            if full >= 2:
                _feistel_batch(vals, tw, n, keys, full, True, lb, rb)
            for e in range(n):
                x = base[e] + np.int64(vals[e])
                out[bb, idx[e]] = order[x] if strat else x


# ---------------------------------------------------------------------------------------
# windows given by start offsets (the joint dropout's windows of equal-degree rows)


@ngjit
def fill_windows_kernel(
    out: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    seed: IntLike,
    stream: IntLike,
    i: IntLike,
    j: IntLike,
) -> None:
    """Fill ``out`` (int64, ``order.shape``) with the windowed permutation of block ``(i,
    j)``: window ``w`` is positions ``[starts[w], starts[w+1])`` of ``order`` and gets the
    bijection ``f_w`` of its length with the tweak :func:`window_tweak` ``(keys, w)``,
    ``out[order[s + x]] = order[s + f_w(x)]``. Regular ``starts`` (``0, window, 2·window,
    ..., size``) give exactly :func:`stratified_permutation_kernel`."""
    longest = np.int64(0)
    for w in range(starts.shape[0] - 1):
        longest = max(longest, starts[w + 1] - starts[w])
    fa, fb = _scratch(longest)  # round tables for any window
    keys = feistel_keys(seed, stream, i, j)
    for w in range(starts.shape[0] - 1):
        s = starts[w]
        _window_into(out, order, s, starts[w + 1] - s, keys, window_tweak(keys, w), fa, fb)


@ngjit
def _feistel_batch_sized(
    vals: np.ndarray,
    tw: np.ndarray,
    sizes: np.ndarray,
    n: IntLike,
    keys: np.ndarray,
    lb: np.ndarray,
    rb: np.ndarray,
    av: np.ndarray,
    bv: np.ndarray,
) -> None:
    """``vals[:n] <- pi^-1(vals[:n])``, element ``e`` on its own domain ``[0, sizes[e])``
    (``sizes[e] >= 2``) with the tweak ``tw[e]``: :func:`_feistel_batch` for windows of
    different lengths (``av`` / ``bv``: scratch for each element's split)."""
    for e in range(n):
        a, b = feistel_split(sizes[e])
        av[e] = a
        bv[e] = b
        left = vals[e] // b
        lb[e] = left
        rb[e] = vals[e] - left * b
    for r in range(FEISTEL_ROUNDS - 1, -1, -1):
        k0 = keys[2 * r]
        k1 = keys[2 * r + 1]
        for e in range(n):
            b = bv[e]
            v = rb[e] + b - _h(k1 ^ tw[e], lb[e], b)
            rb[e] = v - b if v >= b else v
        for e in range(n):
            a = av[e]
            v = lb[e] + a - _h(k0 ^ tw[e], rb[e], a)
            lb[e] = v - a if v >= a else v
    for e in range(n):
        x = lb[e] * bv[e] + rb[e]
        while x >= np.uint64(sizes[e]):  # cycle-walking: rare
            x = _decrypt(x, keys, tw[e], av[e], bv[e])
        vals[e] = x


@ngjit
def window_source_rows_kernel(
    slots: np.ndarray,
    order: np.ndarray,
    rank: np.ndarray,
    starts: np.ndarray,
    window_of: np.ndarray,
    seed: IntLike,
    stream: IntLike,
    i: IntLike,
    blocks: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[b, u] = pi^-1(slots[u])`` for the windowed permutation ``pi`` of block ``(i,
    blocks[b])`` (:func:`fill_windows_kernel`), computed for those slots only.

    ``rank`` is the inverse of ``order`` and ``window_of[t]`` the window of row ``t``: slot
    ``t`` at position ``p = rank[t]`` of window ``w = window_of[t]`` (``s = starts[w]``, ``L
    = starts[w+1] - s``) comes from ``order[s + f_w^-1(p - s)]`` (a row of a one-row window
    from itself). The elements of a batch lie in windows of different lengths, each with
    its own split (:func:`_feistel_batch_sized`).
    """
    ns = slots.shape[0]
    vals = np.empty(BATCH, np.uint64)
    tw = np.empty(BATCH, np.uint64)
    sizes = np.empty(BATCH, np.int64)
    lb = np.empty(BATCH, np.uint64)
    rb = np.empty(BATCH, np.uint64)
    av = np.empty(BATCH, np.uint64)
    bv = np.empty(BATCH, np.uint64)
    base = np.empty(BATCH, np.int64)  # first position of each element's window
    idx = np.empty(BATCH, np.int64)  # the slot number u of each element
    for bb in range(blocks.shape[0]):
        keys = feistel_keys(seed, stream, i, blocks[bb])
        n = 0
        for u in range(ns):
            t = slots[u]
            w = window_of[t]
            s = starts[w]
            length = starts[w + 1] - s
            if length <= 1:
                out[bb, u] = t
            else:
                vals[n] = np.uint64(rank[t] - s)
                tw[n] = window_tweak(keys, w)
                sizes[n] = length
                base[n] = s
                idx[n] = u
                n += 1
            if n == BATCH or (u == ns - 1 and n > 0):
                _feistel_batch_sized(vals, tw, sizes, n, keys, lb, rb, av, bv)
                for e in range(n):
                    out[bb, idx[e]] = order[base[e] + np.int64(vals[e])]
                n = 0


# ---------------------------------------------------------------------------------------
# Fisher-Yates tables: the permutations of store formats 1 and 2 (audits of those stores)


@ngjit
def _fisher_yates(out: np.ndarray, hp: np.uint64, pos0: IntLike) -> None:
    """``out[:] = arange(L)`` then Fisher-Yates with draws ``to_unit(absorb(hp, pos0 + k))``."""
    n = out.shape[0]
    for k in range(n):
        out[k] = k
    for k in range(n - 1, 0, -1):
        s: IntLike = np.int64(to_unit(absorb(hp, pos0 + k)) * (k + 1))
        if s > k:
            s = k
        tmp = out[k]
        out[k] = out[s]
        out[s] = tmp


@ngjit
def legacy_fill_table_kernel(
    out: np.ndarray,
    order: np.ndarray,
    window: IntLike,
    seed: IntLike,
    stream: IntLike,
    i: IntLike,
    active: np.ndarray,
) -> None:
    """:func:`fill_table_kernel` with the Fisher-Yates permutations of store formats 1 and
    2 (see :func:`legacy_permutation_table`)."""
    size = out.shape[1]
    if size == 0:
        return
    buf = np.empty(min(window, size), np.int64)
    for j in range(out.shape[0]):
        if not active[j]:
            for x in range(size):
                out[j, x] = x
            continue
        hp = hash_prefix(seed, stream, i, j)
        if order.shape[0] == 0:
            _fisher_yates(out[j], hp, np.int64(0))
            continue
        for w0 in range(0, size, window):
            f = buf[: min(window, size - w0)]
            _fisher_yates(f, hp, np.int64(w0))
            for a in range(f.shape[0]):
                out[j, order[w0 + a]] = order[w0 + f[a]]


@ngjit
def invert_permutation_kernel(perm: np.ndarray) -> np.ndarray:
    """``inv[perm[r]] = r`` along the last axis of a 2-D int64 array."""
    inv = np.empty_like(perm)
    for b in range(perm.shape[0]):
        for r in range(perm.shape[1]):
            inv[b, perm[b, r]] = r
    return inv


def _check_size(size: IntLike) -> int:
    size = int(size)
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return size


def _check_window(window: IntLike) -> int:
    window = int(window)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return window


def block_permutation(size: int, seed: int, stream: int, i: int, j: int) -> np.ndarray:
    """Random permutation of ``range(size)`` for block ``(i, j)``: the computed bijection.

    ``perm[x] = feistel_at(x, keys, size, 0)`` with ``keys = feistel_keys(seed, stream, i,
    j)`` (int64 ``perm`` with ``perm[r] = pi(r)``).
    """
    return block_permutation_kernel(_check_size(size), as_seed(seed), int(stream), int(i), int(j))


def feistel_permutation(size: int, seed: int, stream: int, i: int, j: int) -> np.ndarray:
    """The computed permutation of ``range(size)`` for block ``(i, j)``, as a table
    (:func:`block_permutation`: the values the kernels compute one at a time).

    Examples
    --------
    >>> sorted(feistel_permutation(8, 0, 1, 0, 0).tolist()) == list(range(8))
    True
    """
    return feistel_permutation_kernel(_check_size(size), as_seed(seed), int(stream), int(i), int(j))


def stratified_permutation(
    degree: np.ndarray, window: int, seed: int, stream: int, i: int, j: int
) -> np.ndarray:
    """Permutation that only exchanges rows of similar degree.

    ``order = argsort(degree, kind="stable")`` (ascending, ties by index). Positions
    ``0..size-1`` of ``order`` are cut into consecutive windows of ``window`` (the last may be
    shorter). Window ``w`` (starting at ``w0 = w·window``, ``L`` positions) gets the
    bijection ``f_w(x) = feistel_at(x, keys, L, w)`` of ``[0, L)``, and
    ``perm[order[w0 + x]] = order[w0 + f_w(x)]``.

    ``window=1`` gives the identity; ``window >= size`` with all-equal degrees gives exactly
    :func:`block_permutation` (the same window 0).
    """
    degree = np.asarray(degree)
    if degree.ndim != 1:
        raise ValueError(f"degree must be 1-D, got shape {degree.shape}")
    order = np.argsort(degree, kind="stable").astype(np.int64, copy=False)
    return stratified_permutation_kernel(
        order, _check_window(window), as_seed(seed), int(stream), int(i), int(j)
    )


def invert_permutation(perm: np.ndarray) -> np.ndarray:
    """Inverse permutation (int64): ``inv[perm[r]] = r``; 1-D, or row-wise for 2-D input."""
    perm = np.ascontiguousarray(perm, dtype=np.int64)
    if perm.ndim == 1:
        return invert_permutation_kernel(perm[None, :])[0]
    if perm.ndim != 2:
        raise ValueError(f"perm must be 1-D or 2-D, got shape {perm.shape}")
    return invert_permutation_kernel(perm)


def source_rows(
    kind: str,
    size: int,
    seed: int,
    stream: int,
    i: int,
    blocks: npt.ArrayLike,
    slots: npt.ArrayLike,
    *,
    degree: np.ndarray | None = None,
    window: int | None = None,
) -> np.ndarray:
    """``out[b, u]``: the source row of output slot ``slots[u]`` in block ``(i, blocks[b])``,
    i.e. ``invert_permutation(permutation_table(...))[blocks[b], slots[u]]``, computed for
    those slots only (int64 ``(len(blocks), len(slots))``)."""
    size = _check_size(size)
    blocks = np.ascontiguousarray(blocks, dtype=np.int64)
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    if slots.size and (slots.min() < 0 or slots.max() >= size):
        raise ValueError(f"slots out of range [0, {size})")
    out = np.empty((blocks.shape[0], slots.shape[0]), np.int64)
    if kind == "none":
        out[:] = slots
        return out
    order, rank, window = _order_of(kind, size, degree, window)
    source_rows_kernel(
        slots, order, rank, window, size, as_seed(seed), int(stream), int(i), blocks, out
    )
    return out


def _windows_of(
    order: npt.ArrayLike, starts: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(order, rank, starts, window_of)`` of windows given by start offsets, checked."""
    order = np.ascontiguousarray(order, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    size = order.shape[0]
    if order.ndim != 1 or not np.array_equal(np.sort(order), np.arange(size)):
        raise ValueError("order must be a permutation of range(size)")
    if (
        starts.ndim != 1
        or starts.shape[0] < 1
        or starts[0] != 0
        or starts[-1] != size
        or np.any(np.diff(starts) < 0)
    ):
        raise ValueError(f"starts must rise from 0 to {size}")
    rank = np.empty(size, np.int64)
    rank[order] = np.arange(size, dtype=np.int64)
    window_of = np.empty(size, np.int64)
    window_of[order] = np.repeat(np.arange(starts.shape[0] - 1, dtype=np.int64), np.diff(starts))
    return order, rank, starts, window_of


def window_permutation(
    order: npt.ArrayLike, starts: npt.ArrayLike, seed: int, stream: int, i: int, j: int
) -> np.ndarray:
    """Permutation inside windows given by start offsets (int64, see
    :func:`fill_windows_kernel`): window ``w`` is positions ``[starts[w], starts[w+1])`` of
    ``order``; its rows only exchange slots among themselves.

    Examples
    --------
    >>> perm = window_permutation([0, 2, 3, 1], [0, 3, 4], 5, 1, 0, 0)
    >>> int(perm[1]), sorted(perm[[0, 2, 3]].tolist())
    (1, [0, 2, 3])
    """
    order, _, starts, _ = _windows_of(order, starts)
    out = np.empty(order.shape[0], np.int64)
    fill_windows_kernel(out, order, starts, as_seed(seed), int(stream), int(i), int(j))
    return out


def window_source_rows(
    order: npt.ArrayLike,
    starts: npt.ArrayLike,
    seed: int,
    stream: int,
    i: int,
    blocks: npt.ArrayLike,
    slots: npt.ArrayLike,
) -> np.ndarray:
    """``out[b, u]``: the source row of slot ``slots[u]`` in block ``(i, blocks[b])`` of
    :func:`window_permutation`, computed for those slots only (int64)."""
    order, rank, starts, window_of = _windows_of(order, starts)
    size = order.shape[0]
    blocks = np.ascontiguousarray(blocks, dtype=np.int64)
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    if slots.size and (slots.min() < 0 or slots.max() >= size):
        raise ValueError(f"slots out of range [0, {size})")
    out = np.empty((blocks.shape[0], slots.shape[0]), np.int64)
    window_source_rows_kernel(
        slots, order, rank, starts, window_of, as_seed(seed), int(stream), int(i), blocks, out
    )
    return out


def _order_of(
    kind: str, size: int, degree: np.ndarray | None, window: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(order, rank, window)`` of a kind: empty arrays for ``block``."""
    if kind == "block":
        return np.empty(0, np.int64), np.empty(0, np.int64), 1
    if kind != "stratified":
        raise ValueError(f"unknown permutation kind {kind!r}; expected one of {PERMUTATION_KINDS}")
    if degree is None or window is None:
        raise ValueError('kind="stratified" needs degree and window')
    degree = np.asarray(degree)
    if degree.shape != (size,):
        raise ValueError(f"degree has shape {degree.shape}, expected ({size},)")
    order = np.argsort(degree, kind="stable").astype(np.int64, copy=False)
    rank = np.empty(size, np.int64)
    rank[order] = np.arange(size, dtype=np.int64)
    return order, rank, _check_window(window)


def _table(
    fill: object,
    kind: str,
    size: int,
    seed: int,
    stream: int,
    i: int,
    n_blocks: int,
    degree: np.ndarray | None,
    window: int | None,
    dtype: npt.DTypeLike,
    active: np.ndarray | None,
) -> np.ndarray:
    size = _check_size(size)
    n_blocks = int(n_blocks)
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.int32), np.dtype(np.int64)) or (
        dtype == np.int32 and size > 2**31
    ):
        raise ValueError(f"dtype must be int64, or int32 for size <= 2**31, got {dtype}")
    if active is None:
        active = np.ones(n_blocks, np.bool_)
    active = np.ascontiguousarray(active, dtype=np.bool_)
    if active.shape != (n_blocks,):
        raise ValueError(f"active has shape {active.shape}, expected ({n_blocks},)")
    if kind == "none":
        return np.broadcast_to(np.arange(size, dtype=dtype), (n_blocks, size)).copy()
    order, _, window = _order_of(kind, size, degree, window)
    out = np.empty((n_blocks, size), dtype)
    fill(out, order, window, as_seed(seed), int(stream), int(i), active)  # type: ignore[operator]
    return out


def permutation_table(
    kind: str,
    size: int,
    seed: int,
    stream: int,
    i: int,
    n_blocks: int,
    *,
    degree: np.ndarray | None = None,
    window: int | None = None,
    dtype: npt.DTypeLike = np.int64,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """Permutations of block-row ``i`` for ``j = 0..n_blocks-1``: ``(n_blocks, size)``.

    ``kind`` is ``"none"`` (identity rows), ``"block"`` or ``"stratified"`` (needs
    ``degree`` of length ``size`` and ``window``). Row ``j`` equals the corresponding
    single-block function called with ``(seed, stream, i, j)``. ``dtype`` (int64, or int32
    when ``size <= 2**31``) is filled directly: a table of int32 item ids takes half the
    memory, without an int64 copy first. ``active`` (bool ``(n_blocks,)``, default all):
    the rows of the other blocks are the identity, not drawn (blocks that keep nothing).
    """
    return _table(
        fill_table_kernel, kind, size, seed, stream, i, n_blocks, degree, window, dtype, active
    )


def legacy_permutation_table(
    kind: str,
    size: int,
    seed: int,
    stream: int,
    i: int,
    n_blocks: int,
    *,
    degree: np.ndarray | None = None,
    window: int | None = None,
    dtype: npt.DTypeLike = np.int64,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`permutation_table` as store formats 1 and 2 made it: Fisher-Yates shuffles.

    ``block``: ``perm = arange(size)``; for ``k = size-1 .. 1``: ``s = min(int(uniform(seed,
    stream, i, j, k) * (k + 1)), k)``; swap ``perm[k], perm[s]``. ``stratified``: inside the
    window starting at ``w0`` a Fisher-Yates ``f`` over offsets ``0..L-1`` with the draws
    ``uniform(seed, stream, i, j, w0 + k)``, and ``perm[order[w0 + a]] = order[w0 + f[a]]``.
    """
    return _table(
        legacy_fill_table_kernel, kind, size, seed, stream, i, n_blocks, degree, window, dtype,
        active,
    )  # fmt: skip


__all__ = [
    "BATCH",
    "CONSTRUCTION",
    "FEISTEL_ROUNDS",
    "PERMUTATION_KINDS",
    "SHARED_COLUMN",
    "block_keys_kernel",
    "block_permutation",
    "block_permutation_kernel",
    "feistel_at",
    "feistel_inverse_at",
    "feistel_keys",
    "feistel_permutation",
    "feistel_permutation_kernel",
    "feistel_split",
    "fill_block_kernel",
    "fill_table_kernel",
    "fill_windows_kernel",
    "invert_permutation",
    "invert_permutation_kernel",
    "legacy_fill_table_kernel",
    "legacy_permutation_table",
    "permutation_at",
    "permutation_table",
    "source_rows",
    "source_rows_kernel",
    "stratified_permutation",
    "stratified_permutation_kernel",
    "window_permutation",
    "window_source_rows",
    "window_source_rows_kernel",
    "window_tweak",
]
