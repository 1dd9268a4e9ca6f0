"""The two sides of an evaluation: train rows, one held-out item per user, the evaluated users.

Both sides go through :func:`build_side`, so the protocol is identical by construction: the
train matrix is binarized, at most ``max_items`` items are kept (a seeded uniform subset when
there are more), each user with a test entry among the kept items gets one held-out target
(chosen uniformly among its test entries by a counter-based draw of ``(seed, user key)``) and at
most ``max_users`` of those users are evaluated (the ones with the smallest hash of
``(seed, user key)``, so the choice does not depend on how the rows were read).

The expansion's side is first cut down to a *block-aligned sub-expansion*
(:func:`choose_blocks`, :func:`read_sub_expansion`): the users of the fewest block rows ``I``
of R̂ that hold the evaluated users, over every block column. That is itself the expansion of
``R`` by ``R̂[I, :]``, smaller but built the same way (a synthetic user still stitches n'
pieces of different real users with per-block rows, or of one with shared rows); the item
cap then keeps a uniform subset of its items, applied while reading.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._checks import as_int
from ..errors import StoreError
from ..kernels.reference import hash64, to_unit
from ..store import ExpansionStore, StorePath

__all__ = [
    "STREAM_EVAL_BLOCKS",
    "STREAM_EVAL_ITEMS",
    "STREAM_EVAL_TARGET",
    "STREAM_EVAL_USERS",
    "EvalSide",
    "block_users",
    "build_side",
    "choose_blocks",
    "item_subset",
    "read_sub_expansion",
]

# stream ids of the evaluation's draws (the expansion uses 1..15, negative sampling 16..31)
STREAM_EVAL_TARGET = 32  #: the held-out item of a user (coordinates: user key)
STREAM_EVAL_USERS = 33  #: which users are evaluated (coordinates: user key)
STREAM_EVAL_ITEMS = 34  #: which items are kept above max_items
STREAM_EVAL_BLOCKS = 35  #: which block rows / columns form the sub-expansion

#: Interactions read by one task of the sub-expansion read (users, without a row pointer).
READ_NNZ = 2**23
READ_USERS = 2**16


@dataclass(eq=False)
class EvalSide:
    """One side of the comparison (the original or the expansion sample).

    Attributes
    ----------
    train : scipy.sparse.csr_matrix of float32, shape (n_users, n_items)
        Binary, canonical (sorted indices, no duplicates): what the algorithms are fitted on.
    timestamps : scipy.sparse.csr_matrix of int64 or None
        Same pattern as ``train``: the time of each train interaction, when known.
    users : numpy.ndarray of int64, shape (n_eval,)
        Rows of ``train`` that are evaluated (ascending).
    targets : numpy.ndarray of int64, shape (n_eval,)
        The held-out item of each evaluated user (never in its train row).
    user_keys : numpy.ndarray of int64, shape (n_eval,)
        The evaluated users' ids in their source (store user id, or row of the original).
    info : dict
        How the side was built (JSON-friendly): sizes, sampling, notes.
    """

    train: sp.csr_matrix
    timestamps: sp.csr_matrix | None
    users: np.ndarray
    targets: np.ndarray
    user_keys: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        """Number of items (columns) of the side."""
        return int(self.train.shape[1])

    def test_matrix(self) -> sp.csr_matrix:
        """The held-out items as a CSR matrix of the train's shape (one entry per evaluated
        user), for :class:`~daskfractal.NegativeSampler`."""
        m = self.train.shape[0]
        return sp.csr_matrix(
            (np.ones(self.users.size, np.float32), (self.users, self.targets)),
            shape=(m, self.n_items),
        )


def _unit(seed: int, stream: int, keys: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) draws, a pure function of ``(seed, stream, key)``."""
    keys = np.asarray(keys, dtype=np.int64)
    return to_unit(hash64(np.uint64(seed), stream, keys, 0, 0))


def _canonical(
    n_rows: int, n_cols: int, ptr: np.ndarray, idx: np.ndarray, ts: np.ndarray | None
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """Binary canonical CSR (and the timestamps on the same pattern; the latest of duplicates)."""
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(ptr))
    cols = np.asarray(idx, dtype=np.int64)
    order = np.lexsort((cols, rows)) if ts is None else np.lexsort((ts, cols, rows))
    rows, cols = rows[order], cols[order]
    # keep the last of each (row, col) run: with timestamps sorted last, the latest time
    last = np.ones(rows.size, dtype=bool)
    if rows.size > 1:
        last[:-1] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols = rows[last], cols[last]
    new_ptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=new_ptr[1:])
    idx_dtype = np.int32 if n_cols < 2**31 else np.int64
    train = sp.csr_matrix(
        (np.ones(cols.size, np.float32), cols.astype(idx_dtype), new_ptr), shape=(n_rows, n_cols)
    )
    times = None
    if ts is not None:
        t = np.asarray(ts, dtype=np.int64)[order][last]
        times = sp.csr_matrix((t, cols.astype(idx_dtype), new_ptr.copy()), shape=(n_rows, n_cols))
    return train, times


def build_side(
    train_ptr: np.ndarray,
    train_idx: np.ndarray,
    test_ptr: np.ndarray,
    test_idx: np.ndarray,
    n_items: int,
    *,
    user_keys: np.ndarray,
    train_ts: np.ndarray | None = None,
    max_users: int,
    max_items: int,
    seed: int,
    name: str,
) -> EvalSide:
    """One side of the comparison from its train / test CSR arrays (the protocol, both sides).

    Parameters
    ----------
    train_ptr, train_idx, test_ptr, test_idx : numpy.ndarray
        CSR row pointers (int64, ``n_users + 1``) and item ids of the train and test entries.
    n_items : int
        Number of items (columns).
    user_keys : numpy.ndarray of int64, shape (n_users,)
        A stable id of each row in its source (store user id or row of the original): the
        held-out item and the evaluated users are drawn from ``(seed, key)``.
    train_ts : numpy.ndarray of int64, optional
        Timestamp of each train entry (aligned with ``train_idx``).
    max_users, max_items : int
        At most this many evaluated users / kept items (seeded uniform subsets above).
    seed : int
    name : str
        "original" or "expansion", for messages.

    Returns
    -------
    EvalSide

    Examples
    --------
    >>> import numpy as np
    >>> side = build_side(np.array([0, 2, 3]), np.array([0, 1, 2]), np.array([0, 1, 1]),
    ...                   np.array([2]), 3, user_keys=np.arange(2), max_users=10,
    ...                   max_items=10, seed=0, name="demo")
    >>> side.users.tolist(), side.targets.tolist()
    ([0], [2])
    """
    max_users = as_int(max_users, "max_users", low=1)
    max_items = as_int(max_items, "max_items", low=1)
    n_users = int(train_ptr.shape[0] - 1)
    user_keys = np.asarray(user_keys, dtype=np.int64)
    info: dict[str, Any] = {"n_users": n_users, "n_items_before": int(n_items)}
    notes: list[str] = []
    train_idx = np.asarray(train_idx, dtype=np.int64)
    test_idx = np.asarray(test_idx, dtype=np.int64)
    keep_items = item_subset(n_items, max_items, seed)  # the same rule on both sides
    if keep_items is not None:
        new_id = np.full(n_items, -1, np.int64)
        new_id[keep_items] = np.arange(max_items)
        train_ptr, train_idx, train_ts = _remap(train_ptr, train_idx, new_id, train_ts)
        test_ptr, test_idx, _ = _remap(test_ptr, test_idx, new_id, None)
        notes.append(
            f"{name}: {max_items:,} of its {n_items:,} items kept (a seeded uniform subset; "
            "raise max_items to keep all)"
        )
        n_items = max_items
    info["n_items"] = int(n_items)
    train, times = _canonical(n_users, n_items, train_ptr, train_idx, train_ts)
    # one held-out item per user: uniform among its test entries, from (seed, key)
    test_n = np.diff(test_ptr).astype(np.int64)
    has = np.flatnonzero(test_n > 0)
    pick = np.floor(_unit(seed, STREAM_EVAL_TARGET, user_keys[has]) * test_n[has]).astype(np.int64)
    targets = test_idx[test_ptr[has] + np.minimum(pick, test_n[has] - 1)]
    # a target in the user's train row cannot be held out (a store whose split overlaps)
    in_train = _in_rows(train, has, targets)
    if in_train.any():
        notes.append(
            f"{name}: {int(in_train.sum())} users whose held-out item is also in their train "
            "row were skipped (train and test overlap)"
        )
        has, targets = has[~in_train], targets[~in_train]
    info["users_with_target"] = int(has.size)
    if has.size > max_users:
        prio = hash64(np.uint64(seed), STREAM_EVAL_USERS, user_keys[has], 0, 0)
        chosen = np.sort(np.argsort(prio, kind="stable")[:max_users])
        has, targets = has[chosen], targets[chosen]
    info["users_evaluated"] = int(has.size)
    info["nnz_train"] = int(train.nnz)
    info["density"] = float(train.nnz) / max(1, n_users * n_items)
    info["notes"] = notes
    return EvalSide(
        train=train,
        timestamps=times,
        users=has.astype(np.int64),
        targets=targets.astype(np.int64),
        user_keys=user_keys[has],
        info=info,
    )


def _remap(
    ptr: np.ndarray, idx: np.ndarray, new_id: np.ndarray, ts: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Keep the entries whose item has a new id (``new_id >= 0``) and renumber them."""
    mapped = new_id[idx]
    keep = mapped >= 0
    rows = np.repeat(np.arange(ptr.shape[0] - 1), np.diff(ptr))[keep]
    out = np.zeros(ptr.shape[0], np.int64)
    np.cumsum(np.bincount(rows, minlength=ptr.shape[0] - 1), out=out[1:])
    return out, mapped[keep], None if ts is None else np.asarray(ts)[keep]


def _in_rows(train: sp.csr_matrix, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """For each (row, item) pair: is ``item`` stored in ``train``'s row ``row``?"""
    if rows.size == 0:
        return np.zeros(0, dtype=bool)
    sub = train[rows]
    pos = np.repeat(np.arange(rows.size), np.diff(sub.indptr))
    hit = np.zeros(rows.size, dtype=bool)
    hit[pos[sub.indices == items[pos]]] = True
    return hit


# ----------------------------------------------------------------------- the expansion side
def choose_blocks(
    blocks: tuple[int, int],
    users_per_block_row: np.ndarray,
    *,
    max_users: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Block rows ``I`` and block columns ``J`` of the sub-expansion that is evaluated.

    ``J``: every block column, so that what the shuffles do across block columns (a user's
    row stitched from n' real users with per-block rows) is in the sample; the item cap is a
    uniform subset of their items (:func:`item_subset`), which keeps the density and the
    per-user share of the items alike on both sides. ``I``: the fewest block rows (a seeded
    uniform order) that hold ``max_users`` users, so that only that share of the store is
    read.

    Parameters
    ----------
    blocks : (int, int)
        ``(m', n')``, the shape of R̂.
    users_per_block_row : numpy.ndarray of int64, shape (m',)
        Output users of each block row.
    max_users : int
    seed : int

    Returns
    -------
    rows, cols : numpy.ndarray of int64
        Ascending.

    Examples
    --------
    >>> import numpy as np
    >>> rows, cols = choose_blocks((4, 8), np.full(4, 100), max_users=150, seed=0)
    >>> len(rows), len(cols)
    (2, 8)
    """
    mp, npr = int(blocks[0]), int(blocks[1])
    rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM_EVAL_BLOCKS]))
    row_order = rng.permutation(mp)
    counts = np.asarray(users_per_block_row, dtype=np.int64)[row_order]
    # block rows until the sample holds max_users users (or all rows are taken)
    n_rows = 1
    while n_rows < mp and int(counts[:n_rows].sum()) < max_users:
        n_rows += 1
    return np.sort(row_order[:n_rows]), np.arange(npr, dtype=np.int64)


def item_subset(n_items: int, max_items: int, seed: int) -> np.ndarray | None:
    """The kept items (ascending) when ``n_items > max_items``: a seeded uniform subset,
    the same rule on both sides; None when every item is kept.

    Examples
    --------
    >>> item_subset(5, 10, 0) is None
    True
    >>> item_subset(100, 3, 0).shape
    (3,)
    """
    if n_items <= max_items:
        return None
    rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM_EVAL_ITEMS]))
    return np.sort(rng.choice(n_items, size=max_items, replace=False)).astype(np.int64)


def block_users(st: ExpansionStore, m: int) -> np.ndarray:
    """``(m' + 1,)`` int64: output users of block row ``i`` are ``[b[i], b[i + 1])``.

    Users are stored in increasing slot order ``i·m + t``, so each block row is a contiguous
    range of user ids.
    """
    mp = int(st.layout.blocks[0])
    slots = np.asarray(st.user_slots(), dtype=np.int64)
    bounds = np.searchsorted(slots, np.arange(mp + 1, dtype=np.int64) * m, side="left")
    return bounds.astype(np.int64)


def _read_task(
    path: str | StorePath,
    u0: int,
    u1: int,
    cols: np.ndarray,
    n: int,
    timestamps: bool,
    new_id: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Rows ``[u0, u1)`` of both splits, keeping the items of block columns ``cols`` renumbered
    ``rank(j in cols)·n + item % n`` (then ``new_id[...]`` when given; -1 drops). The store
    is opened once per process (:func:`~daskfractal.validation.passes.store_at`)."""
    from ..validation.passes import store_at

    st = store_at(path)
    npr = int(st.layout.blocks[1])
    rank = np.full(npr, -1, np.int64)
    rank[cols] = np.arange(cols.size)
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        names: tuple[str, ...] = ("indices",)
        if timestamps and split == "train":
            names = ("indices", "timestamps")
        ptr, got = st.row_columns(u0, u1, split, names)
        items = got["indices"].astype(np.int64, copy=False)
        r = rank[items // n]
        sample_id = np.where(r >= 0, r * n + items % n, -1)
        if new_id is not None:
            sample_id = np.where(sample_id >= 0, new_id[np.maximum(sample_id, 0)], -1)
        keep = sample_id >= 0
        rows = np.repeat(np.arange(u1 - u0, dtype=np.int64), np.diff(ptr))[keep]
        out[f"{split}_counts"] = np.bincount(rows, minlength=u1 - u0).astype(np.int64)
        out[f"{split}_idx"] = sample_id[keep]
        if "timestamps" in names:
            out["train_ts"] = got["timestamps"].astype(np.int64, copy=False)[keep]
    return out


def read_sub_expansion(
    st: ExpansionStore,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    timestamps: bool,
    keep_items: np.ndarray | None = None,
    scheduler: Any = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train / test CSR arrays of the users of block rows ``rows`` and the items of block
    columns ``cols``, read out-of-core (Dask tasks over user ranges of ~``READ_NNZ``
    interactions; only the kept entries come back). ``keep_items``: ascending ids in the
    sample's item space (``rank(j in cols)·n + c``) to keep, renumbered ``0..len - 1``
    (default: all).

    Returns
    -------
    dict
        ``train_ptr``, ``train_idx``, ``test_ptr``, ``test_idx`` (int64), ``train_ts`` (or
        None), ``user_ids`` (int64, the store's user ids of the rows), ``n_items``
        (``len(cols)·n``).
    """
    import dask

    from .._dask import run
    from ..validation.blocks import input_shape
    from ..validation.passes import indptr_of

    shape = input_shape(st)
    if shape is None:
        raise StoreError(f"{st.path}: params.input_shape is missing; cannot locate the blocks")
    m, n = shape
    npr = st.layout.blocks[1]
    if n * npr != st.n_items:
        raise StoreError(f"{st.path}: {st.n_items} items is not n'·n = {npr}·{n}")
    bounds = block_users(st, m)
    indptr = indptr_of(st, "train")
    ranges: list[tuple[int, int]] = []
    for i in rows:
        a, b = int(bounds[i]), int(bounds[i + 1])
        if b <= a:
            continue
        if indptr is None:  # a Parquet store without row pointer or degrees: fixed user ranges
            cuts = np.arange(a, b, READ_USERS)
        else:
            cuts = np.searchsorted(indptr, np.arange(indptr[a], indptr[b], READ_NNZ), side="left")
        cuts = np.unique(np.concatenate([[a], np.clip(cuts, a, b), [b]]))
        ranges += [(int(x), int(y)) for x, y in itertools.pairwise(cuts) if y > x]
    new_id = None
    n_items = int(cols.size * n)
    if keep_items is not None:
        new_id = np.full(n_items, -1, np.int64)
        new_id[keep_items] = np.arange(keep_items.size)
        n_items = int(keep_items.size)
    task = dask.delayed(_read_task, pure=True)
    parts = run(
        [task(st.path, a, b, cols, n, timestamps, new_id) for a, b in ranges],
        scheduler=scheduler,
        progress=progress,
    )
    user_ids = (
        np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in ranges])
        if ranges
        else np.zeros(0, np.int64)
    )
    out: dict[str, Any] = {"user_ids": user_ids, "n_items": n_items, "train_ts": None}
    for split in ("train", "test"):
        counts = (
            np.concatenate([p[f"{split}_counts"] for p in parts])
            if parts
            else np.zeros(0, np.int64)
        )
        ptr = np.zeros(counts.size + 1, np.int64)
        np.cumsum(counts, out=ptr[1:])
        out[f"{split}_ptr"] = ptr
        out[f"{split}_idx"] = (
            np.concatenate([p[f"{split}_idx"] for p in parts]) if parts else np.zeros(0, np.int64)
        )
    if timestamps:
        out["train_ts"] = (
            np.concatenate([p["train_ts"] for p in parts]) if parts else np.zeros(0, np.int64)
        )
    return out
