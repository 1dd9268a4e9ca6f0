"""Random permutations of the rows / columns of one block (i, j), as pure functions.

A permutation ``pi`` of ``range(size)`` is an int64 array ``perm`` with ``perm[r] = pi(r)``:
source row ``r`` goes to output slot ``perm[r]``. ``invert_permutation(perm)[t]`` is the
source row that lands in slot ``t``.

Every random number comes from ``uniform(seed, stream, i, j, position)``, so a permutation
depends only on ``(seed, stream, i, j)`` (and ``degree``/``window`` for the stratified kind).

Kinds (see :func:`permutation_table`):

* ``"none"``: identity.
* ``"block"``: uniform Fisher-Yates shuffle (:func:`block_permutation`).
* ``"stratified"``: rows only exchange slots with rows of similar degree
  (:func:`stratified_permutation`).

**Computed permutations.** A table of ``size`` int64 per block is what makes the memory of
an expansion grow with the number of blocks × users (items). :func:`feistel_at` /
:func:`feistel_inverse_at` compute ``pi(x)`` and ``pi^-1(y)`` for one element instead, in
O(1) memory: a keyed Feistel network on ``[0, 2**k)`` (``2**k`` the power of two at or
above ``size``) with cycle-walking onto ``[0, size)``. ``x`` is split into a left part of
``a = ceil(k/2)`` bits and a right part of ``b = floor(k/2)`` bits; each of the
:data:`FEISTEL_ROUNDS` rounds adds, modulo ``2**a``, the top ``a`` bits of ``absorb(key_2r,
right)`` to the left part, then, modulo ``2**b``, the top ``b`` bits of ``absorb(key_2r+1,
left)`` to the right part (each step is invertible, so the network is a bijection of
``[0, 2**k)``). Cycle-walking applies the network again while the value is ``>= size``:
the cycle through ``x < size`` returns below ``size``, so the result is a bijection of
``[0, size)``, after fewer than two applications on average (``2**k < 2·size``). The round
keys are ``absorb(hash_prefix(seed, stream, i, j), r)`` (:func:`feistel_keys`): a pure
function of ``(seed, stream, i, j)``, like the tables. :func:`feistel_permutation` is the
whole table (for tests and small sizes).

Quality and cost (``tests/test_feistel.py``): where each element goes and where pairs of
elements go are uniform (chi-square over thousands of blocks, sizes 6 to 33), and with 6
rounds every permutation of 3, 4 or 5 elements is about equally likely; of 6 elements (a
domain of 8) the 720 permutations all occur but not equally often (chi-square p ≈ 1e-30
over 216,000 blocks), a known limit of small Feistel networks. One evaluation costs
about 100 ns (12 hashes, times the cycle-walks) where building a Fisher-Yates table costs
3 to 7 ns an element: the computed permutations are not yet used by the expansion.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._jit import IntLike, ngjit
from .rng import absorb, as_seed, hash_prefix, to_unit

PERMUTATION_KINDS = ("none", "block", "stratified")
#: rounds of the Feistel network (each: one half-round on the left part, one on the right);
#: 4 rounds are visibly non-uniform over the permutations of 5 elements, 6 are not
FEISTEL_ROUNDS = 6
_U1 = np.uint64(1)
_U64 = np.uint64(64)


@ngjit
def feistel_keys(seed: IntLike, stream: IntLike, i: IntLike, j: IntLike) -> np.ndarray:
    """The ``2 · FEISTEL_ROUNDS`` round keys of block ``(i, j)``: uint64, ``absorb(hp, r)``
    with ``hp = hash_prefix(seed, stream, i, j)``."""
    hp = hash_prefix(seed, stream, i, j)
    keys = np.empty(2 * FEISTEL_ROUNDS, np.uint64)
    for r in range(2 * FEISTEL_ROUNDS):
        keys[r] = absorb(hp, r)
    return keys


@ngjit
def _bits(size: IntLike) -> tuple[np.uint64, np.uint64]:
    """``(a, b)``: the widths of the left and right parts for ``[0, size)``."""
    k = 0
    while (np.int64(1) << k) < size:
        k += 1
    return np.uint64((k + 1) // 2), np.uint64(k // 2)


@ngjit
def _f(key: np.uint64, v: np.uint64, width: np.uint64) -> np.uint64:
    """Round function: the top ``width`` bits of ``absorb(key, v)`` (0 when ``width`` is 0)."""
    if width == 0:
        return np.uint64(0)
    return absorb(key, v) >> (_U64 - width)


@ngjit
def _encrypt(x: np.uint64, keys: np.ndarray, a: np.uint64, b: np.uint64) -> np.uint64:
    mask_a = (_U1 << a) - _U1
    mask_b = (_U1 << b) - _U1
    left = x >> b
    right = x & mask_b
    for r in range(keys.shape[0] // 2):
        left = (left + _f(keys[2 * r], right, a)) & mask_a
        right = (right + _f(keys[2 * r + 1], left, b)) & mask_b
    return (left << b) | right


@ngjit
def _decrypt(y: np.uint64, keys: np.ndarray, a: np.uint64, b: np.uint64) -> np.uint64:
    mask_a = (_U1 << a) - _U1
    mask_b = (_U1 << b) - _U1
    left = y >> b
    right = y & mask_b
    for r in range(keys.shape[0] // 2 - 1, -1, -1):
        right = (right - _f(keys[2 * r + 1], left, b)) & mask_b
        left = (left - _f(keys[2 * r], right, a)) & mask_a
    return (left << b) | right


@ngjit
def feistel_at(x: IntLike, keys: np.ndarray, size: IntLike) -> int:
    """``pi(x)`` for ``0 <= x < size``: the Feistel network, cycle-walked onto ``[0, size)``.

    Examples
    --------
    >>> keys = feistel_keys(7, 2, 0, 3)
    >>> perm = [feistel_at(x, keys, 10) for x in range(10)]
    >>> sorted(perm) == list(range(10)), feistel_inverse_at(perm[4], keys, 10)
    (True, 4)
    """
    a, b = _bits(size)
    y = _encrypt(np.uint64(x), keys, a, b)
    while y >= np.uint64(size):
        y = _encrypt(y, keys, a, b)
    return int(y)


@ngjit
def feistel_inverse_at(y: IntLike, keys: np.ndarray, size: IntLike) -> int:
    """``pi^-1(y)`` for ``0 <= y < size`` (see :func:`feistel_at`)."""
    a, b = _bits(size)
    x = _decrypt(np.uint64(y), keys, a, b)
    while x >= np.uint64(size):
        x = _decrypt(x, keys, a, b)
    return int(x)


@ngjit
def feistel_permutation_kernel(
    size: IntLike, seed: IntLike, stream: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """``perm[x] = feistel_at(x, feistel_keys(seed, stream, i, j), size)`` (int64)."""
    keys = feistel_keys(seed, stream, i, j)
    perm = np.empty(size, np.int64)
    for x in range(size):
        perm[x] = feistel_at(x, keys, size)
    return perm


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
def block_permutation_kernel(
    size: IntLike, seed: IntLike, stream: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """Uniform permutation of ``range(size)`` (int64), see :func:`block_permutation`."""
    perm = np.empty(size, np.int64)
    _fisher_yates(perm, hash_prefix(seed, stream, i, j), np.int64(0))
    return perm


@ngjit
def _stratified_into(
    perm: np.ndarray, order: np.ndarray, window: IntLike, hp: np.uint64, buf: np.ndarray
) -> None:
    """Fill ``perm`` with the stratified permutation of the stream ``hp`` (``buf``: scratch
    of ``min(window, size)`` int64)."""
    size = order.shape[0]
    for w0 in range(0, size, window):
        f = buf[: min(window, size - w0)]
        _fisher_yates(f, hp, np.int64(w0))
        for a in range(f.shape[0]):
            perm[order[w0 + a]] = order[w0 + f[a]]


@ngjit
def stratified_permutation_kernel(
    order: np.ndarray, window: IntLike, seed: IntLike, stream: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """Stratified permutation given ``order`` = stable argsort of the degrees (int64)."""
    size = order.shape[0]
    perm = np.empty(size, np.int64)
    if size == 0:
        return perm
    buf = np.empty(min(window, size), np.int64)
    _stratified_into(perm, order, window, hash_prefix(seed, stream, i, j), buf)
    return perm


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
    ``j`` with ``active[j]`` (the identity for the others): Fisher-Yates
    (:func:`block_permutation`) when ``order`` is empty, else the stratified permutation of
    ``order`` (:func:`stratified_permutation`)."""
    size = out.shape[1]
    if size == 0:
        return
    buf = np.empty(min(window, size), np.int64)
    for j in range(out.shape[0]):
        if not active[j]:
            for x in range(size):
                out[j, x] = x
        elif order.shape[0] == 0:
            _fisher_yates(out[j], hash_prefix(seed, stream, i, j), np.int64(0))
        else:
            _stratified_into(out[j], order, window, hash_prefix(seed, stream, i, j), buf)


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
    """Uniform random permutation of ``range(size)`` for block ``(i, j)``.

    Fisher-Yates: ``perm = arange(size)``; for ``k = size-1 .. 1``:
    ``s = min(int(uniform(seed, stream, i, j, k) * (k + 1)), k)``; swap ``perm[k], perm[s]``.

    Returns int64 ``perm`` with ``perm[r] = pi(r)``.
    """
    return block_permutation_kernel(_check_size(size), as_seed(seed), int(stream), int(i), int(j))


def feistel_permutation(size: int, seed: int, stream: int, i: int, j: int) -> np.ndarray:
    """The computed permutation of ``range(size)`` for block ``(i, j)``, as a table.

    ``perm[x] = feistel_at(x, feistel_keys(seed, stream, i, j), size)``: the same values the
    kernels can compute one at a time without the table (int64).

    Examples
    --------
    >>> feistel_permutation(8, 0, 1, 0, 0).tolist()
    [6, 5, 7, 0, 2, 1, 4, 3]
    """
    return feistel_permutation_kernel(_check_size(size), as_seed(seed), int(stream), int(i), int(j))


def stratified_permutation(
    degree: np.ndarray, window: int, seed: int, stream: int, i: int, j: int
) -> np.ndarray:
    """Permutation that only exchanges rows of similar degree.

    ``order = argsort(degree, kind="stable")`` (ascending, ties by index). Positions
    ``0..size-1`` of ``order`` are cut into consecutive windows of ``window`` (the last may be
    shorter). Inside the window starting at ``w0`` a Fisher-Yates ``f`` over offsets
    ``0..L-1`` uses the draws ``uniform(seed, stream, i, j, w0 + k)``, and
    ``perm[order[w0 + a]] = order[w0 + f[a]]``.

    ``window=1`` gives the identity; ``window >= size`` with all-equal degrees gives exactly
    :func:`block_permutation` (same draws).
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
    out = np.empty((n_blocks, size), dtype)
    if kind == "block":
        order = np.empty(0, np.int64)
        window = 1
    elif kind == "stratified":
        if degree is None or window is None:
            raise ValueError('kind="stratified" needs degree and window')
        degree = np.asarray(degree)
        if degree.shape != (size,):
            raise ValueError(f"degree has shape {degree.shape}, expected ({size},)")
        order = np.argsort(degree, kind="stable").astype(np.int64, copy=False)
        window = _check_window(window)
    else:
        raise ValueError(f"unknown permutation kind {kind!r}; expected one of {PERMUTATION_KINDS}")
    fill_table_kernel(out, order, window, as_seed(seed), int(stream), int(i), active)
    return out


__all__ = [
    "FEISTEL_ROUNDS",
    "PERMUTATION_KINDS",
    "block_permutation",
    "block_permutation_kernel",
    "feistel_at",
    "feistel_inverse_at",
    "feistel_keys",
    "feistel_permutation",
    "feistel_permutation_kernel",
    "fill_table_kernel",
    "invert_permutation",
    "invert_permutation_kernel",
    "permutation_table",
    "stratified_permutation",
    "stratified_permutation_kernel",
]
