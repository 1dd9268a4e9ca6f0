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
"""

from __future__ import annotations

import numpy as np

from ._jit import IntLike, ngjit
from .rng import absorb, as_seed, hash_prefix, to_unit

PERMUTATION_KINDS = ("none", "block", "stratified")


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
def stratified_permutation_kernel(
    order: np.ndarray, window: IntLike, seed: IntLike, stream: IntLike, i: IntLike, j: IntLike
) -> np.ndarray:
    """Stratified permutation given ``order`` = stable argsort of the degrees (int64)."""
    size = order.shape[0]
    perm = np.empty(size, np.int64)
    if size == 0:
        return perm
    hp = hash_prefix(seed, stream, i, j)
    buf = np.empty(min(window, size), np.int64)
    for w0 in range(0, size, window):
        f = buf[: min(window, size - w0)]
        _fisher_yates(f, hp, np.int64(w0))
        for a in range(f.shape[0]):
            perm[order[w0 + a]] = order[w0 + f[a]]
    return perm


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
) -> np.ndarray:
    """Permutations of block-row ``i`` for ``j = 0..n_blocks-1``: int64 ``(n_blocks, size)``.

    ``kind`` is ``"none"`` (identity rows), ``"block"`` or ``"stratified"`` (needs
    ``degree`` of length ``size`` and ``window``). Row ``j`` equals the corresponding
    single-block function called with ``(seed, stream, i, j)``.
    """
    size = _check_size(size)
    n_blocks = int(n_blocks)
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
    if kind == "none":
        return np.broadcast_to(np.arange(size, dtype=np.int64), (n_blocks, size)).copy()
    out = np.empty((n_blocks, size), np.int64)
    if kind == "block":
        for j in range(n_blocks):
            out[j] = block_permutation(size, seed, stream, i, j)
        return out
    if kind == "stratified":
        if degree is None or window is None:
            raise ValueError('kind="stratified" needs degree and window')
        degree = np.asarray(degree)
        if degree.shape != (size,):
            raise ValueError(f"degree has shape {degree.shape}, expected ({size},)")
        order = np.argsort(degree, kind="stable").astype(np.int64, copy=False)
        window = _check_window(window)
        seed_u = as_seed(seed)
        for j in range(n_blocks):
            out[j] = stratified_permutation_kernel(order, window, seed_u, int(stream), int(i), j)
        return out
    raise ValueError(f"unknown permutation kind {kind!r}; expected one of {PERMUTATION_KINDS}")


__all__ = [
    "PERMUTATION_KINDS",
    "block_permutation",
    "block_permutation_kernel",
    "invert_permutation",
    "invert_permutation_kernel",
    "permutation_table",
    "stratified_permutation",
    "stratified_permutation_kernel",
]
