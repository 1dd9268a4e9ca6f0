"""Pure-NumPy specification of the JOINT dropout's per-row decisions (:mod:`.joint`).

Computed independently of the Numba code, bit for bit the same (the tests demand it):
vectorized over a row's entries. Slow on large inputs: for tests and for reading.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .dropout import TARGET_TEST_FLAG
from .joint import COORD_PATTERN, COORD_SHIFT, SHARED_ROW
from .reference import hash64, uniform
from .rng import STREAM_JOINT


def joint_row_keep(
    pool: np.ndarray, j: int, seed: int, key: int, row: int, sign: npt.ArrayLike
) -> np.ndarray:
    """Mask of the kept entries of one source row (``sign``: its entries in CSR order).

    Train entry number ``x`` (among the row's ``d`` train entries) has rank
    ``q = (x + shift) mod d`` with ``shift = hash64(seed, STREAM_JOINT, COORD_SHIFT, row, 0)
    mod d``; it is kept iff ``pool[hash64(seed, STREAM_JOINT, COORD_PATTERN, w, q) mod P,
    j]`` with ``w = key & (FLAG - 1)``. Test entries are kept iff ``key`` has the flag.
    """
    sign = np.asarray(sign, dtype=np.int8)
    train = sign > 0
    d = int(train.sum())
    w = int(key) & (int(TARGET_TEST_FLAG) - 1)
    kept = (sign < 0) & ((int(key) & int(TARGET_TEST_FLAG)) != 0)
    if d == 0:
        return kept
    shift = int(hash64(seed, STREAM_JOINT, int(COORD_SHIFT), row, 0)) % d
    q = (np.arange(d) + shift) % d
    pid = hash64(seed, STREAM_JOINT, int(COORD_PATTERN), w, q) % np.uint64(pool.shape[0])
    kept[np.flatnonzero(train)] = np.asarray(pool)[pid.astype(np.int64), j] != 0
    return kept


def joint_slot_keys(
    window_of: np.ndarray,
    keep_row: np.ndarray,
    blocks: np.ndarray,
    src: np.ndarray,
    slots: np.ndarray,
    seed: int,
    i: int,
) -> np.ndarray:
    """Specification of :func:`daskfractal.kernels.joint.joint_slot_keys`."""
    keys = np.asarray(window_of, np.int64)[np.asarray(src, np.int64)]
    w = np.asarray(keep_row, np.float64)[np.asarray(blocks, np.int64)]
    total = float(sum(w.tolist()))  # left to right, as the kernel
    if total > 0:
        x = uniform(seed, STREAM_JOINT, i, np.asarray(slots, np.int64), 0) * total
        acc = np.cumsum(w)
        pick = np.minimum(np.searchsorted(acc, x, side="right"), len(w) - 1)
        keys[pick, np.arange(len(slots))] |= TARGET_TEST_FLAG
    return keys


def window_count_table(
    pool: np.ndarray, windows: npt.ArrayLike, degrees: npt.ArrayLike, blocks: npt.ArrayLike,
    seed: int,
) -> np.ndarray:  # fmt: skip
    """Specification of :func:`daskfractal.kernels.joint.window_count_table`: the train
    entries of ranks ``0..d-1`` whose pattern keeps them, per window and block."""
    pool = np.asarray(pool)
    blocks = np.asarray(blocks, np.int64)
    rows = []
    for w, d in zip(np.asarray(windows).tolist(), np.asarray(degrees).tolist(), strict=True):
        pid = hash64(seed, STREAM_JOINT, int(COORD_PATTERN), w, np.arange(d)) % np.uint64(
            pool.shape[0]
        )
        rows.append(pool[pid.astype(np.int64)][:, blocks].astype(np.int64).sum(axis=0))
    return np.array(rows, np.int64).reshape(len(rows), blocks.shape[0])


def kept_rank_table(
    pool: np.ndarray, off: npt.ArrayLike, idx: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Specification of :func:`daskfractal.kernels.joint.kept_rank_table`: block column by
    block column, window by window, the ranks ``q`` whose pattern ``idx[off[w] + q]`` has a 1
    in that column."""
    pool = np.asarray(pool)
    off = np.asarray(off, np.int64)
    idx = np.asarray(idx, np.int64)
    lists = [
        np.flatnonzero(pool[idx[off[w] : off[w + 1]], j])
        for j in range(pool.shape[1])
        for w in range(len(off) - 2)
    ]
    start = np.concatenate([[0], np.cumsum([len(x) for x in lists], dtype=np.int64)])
    return start.astype(np.int64), np.concatenate([np.zeros(0), *lists]).astype(np.int32)


def shared_column_permutation(n: int, seed: int, j: int) -> np.ndarray:
    """The JOINT column permutation of block column ``j`` (every block row's)."""
    from .reference import block_permutation

    return block_permutation(n, seed, 2, int(SHARED_ROW), j)


__all__ = [
    "joint_row_keep",
    "joint_slot_keys",
    "kept_rank_table",
    "shared_column_permutation",
    "window_count_table",
]
