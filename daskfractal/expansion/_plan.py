"""The plan of one expansion level and the work its tasks do (papers §III-5..8, Algorithms 1-2).

A :class:`Plan` is everything a task needs (the signed input S = R_train − R_test, R̂'s keep
probabilities and the options); it is picklable and shipped once to every worker. The
functions here are the package's internal API between the planner (:mod:`._level`), the
writer (:mod:`._write`) and the in-memory paths (:mod:`._expansion`, :mod:`._materialize`):

1. *count* (:func:`count_slots`): one task per range of output slots ``[t0, t1)`` of a block
   row ``i`` counts, per slot, the train and test entries it gets (one hash per candidate,
   nothing stored). The driver derives the surviving users (:func:`survivors`) and every
   entry's place.
2. *emit* (:func:`emit_users`): generate exactly the listed users, straight into a window of
   the global CSR (one Zarr shard, one Parquet file). Every random number is a pure function
   of (seed, i, j, source position) or (seed, i, slot), so nothing depends on the chunking.

:func:`generate` (the surviving users of a whole slot range, used by
:meth:`Expansion.compute` and multi-level expansion) runs the same two kernels, so there is
one expansion kernel whatever the output.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

from .. import _names
from ..kernels import joint, permute, rng
from ..kernels.dropout import (
    as_mode,
    as_test_policy,
    balanced_slot_counts_kernel,
    exact_row_counts,
    targeted_counts_kernel,
)
from ..kernels.emit import count_rows_kernel, emit_rows_kernel, take
from ..kernels.rng import as_seed
from ..kernels.timeline import align_timelines
from ..preprocess import SignedMatrix

Shuffle = Literal["block", "stratified", "none"]
Dropout = Literal["auto", "bernoulli", "exact", "balanced", "targeted", "joint"]
TestPolicy = Literal["all", "one"]
Timeline = Literal["aligned", "source"]
Rows = Literal["shared", "per-block"]

SHUFFLES = ("block", "stratified", "none")
DROPOUTS = ("bernoulli", "exact", "balanced", "targeted", "joint")
TEST_POLICIES = ("all", "one")
TIMELINES: tuple[str, ...] = _names.TIMELINES
#: ``aligned``: the pieces of a synthetic user end together before its test interaction
#: (:mod:`..kernels.timeline`), so its latest train interaction is its test row's
DEFAULT_TIMELINE: Timeline = _names.DEFAULT_TIMELINE
ROWS: tuple[str, ...] = _names.ROWS
#: ``shared``: a synthetic user copies one real user in all its block columns, so that a
#: benchmark on the expansion sees one person's history (docs/fidelity.md#rows)
DEFAULT_ROWS: Rows = _names.DEFAULT_ROWS
#: The defaults of :func:`daskfractal.expand` and ``daskfractal expand``: the modes that keep
#: the degree distributions and the spectrum best over the measured data sets (docs/fidelity.md);
#: ``block`` + ``bernoulli`` reproduce the papers and the MLPerf reference.
DEFAULT_SHUFFLE: Shuffle = _names.DEFAULT_SHUFFLE
#: ``auto``: ``joint`` where it keeps R̂'s size (stratified shuffle, R̂ balanceable to integer
#: row / column sums within :data:`AUTO_JOINT_SIZE` of its own), else ``balanced``
DEFAULT_DROPOUT: Dropout = "auto"
#: the dropouts ``dropout=`` accepts: a mode of :data:`DROPOUTS` or ``auto``
DROPOUT_CHOICES = ("auto", *DROPOUTS)
#: ``auto`` takes ``joint`` when its balanced R̂'s sum is within this factor of R̂'s sum
AUTO_JOINT_SIZE = 1.5
CARRY_NAMES = ("ratings", "timestamps")


DEFAULT_CHUNK_SIZE = 2**22  # expected kept interactions per count (and compute) task
_EMPTY2 = np.zeros((0, 0), np.int64)  # "no exact counts" for the kernels
_NO_PAT_OFF = np.zeros(0, np.int64)  # no pattern-index table (not the joint dropout)
_NO_PAT_IDX = np.zeros(0, np.int32)
_NO_POOL = np.zeros((0, 0), np.uint8)  # "no pattern table" for the kernels
_EMPTY1 = np.zeros(0, np.int64)  # "no degree order": the block kind
_NO_KEYS = np.zeros((0, 0), np.uint64)  # item permutations from tables, not computed


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything a task needs: the signed input, keep probabilities and options (picklable)."""

    src: SignedMatrix
    keep: np.ndarray
    seed: int
    shuffle: str
    window: int
    dropout: str
    test_policy: str
    carry: tuple[str, ...]
    token: str
    row_degree: np.ndarray = field(repr=False)
    col_degree: np.ndarray = field(repr=False)
    #: train entries of each source row (the targeted dropout's unit)
    train_degree: np.ndarray | None = field(default=None, repr=False)
    #: the targeted dropout's multiple: every user gets this many times its anchor's degree
    multiple: int = 1
    #: the joint dropout's tables (:mod:`..kernels.joint`): block patterns ``(m', P, n')``,
    #: the rows sorted into windows, the window boundaries and each row's window
    joint_pool: np.ndarray | None = field(default=None, repr=False)
    joint_order: np.ndarray | None = field(default=None, repr=False)
    joint_starts: np.ndarray | None = field(default=None, repr=False)
    joint_window: np.ndarray | None = field(default=None, repr=False)
    #: ``aligned``: each synthetic user's pieces end together before its test entry
    #: (:mod:`..kernels.timeline`); ``source``: the real users' timestamps as they are
    timeline: str = "source"
    #: ``shared``: one row permutation per block row, the same in its block columns (a
    #: synthetic user copies one real user everywhere); ``per-block``: one per block
    rows: str = "per-block"
    #: shared rows with the joint dropout: the block columns of a block row fall into this
    #: many groups (``a`` or a divisor, :func:`..kernels.joint.row_groups`), each with its own row
    #: permutation at the key ``SHARED_COLUMN + g``; 1 everywhere else
    row_groups: int = 1

    @property
    def m(self) -> int:
        return self.src.shape[0]

    @property
    def n(self) -> int:
        return self.src.shape[1]

    @property
    def factors(self) -> tuple[int, int]:
        return self.keep.shape


# ---------------------------------------------------------------------------------------
# kernels glue (runs inside tasks)
# ---------------------------------------------------------------------------------------

#: bytes of whole-block tables (column permutations, exact counts) each process keeps
#: between tasks; row sources are computed for a task's own slots, never tabled
TABLE_CACHE_BYTES = 2**30
#: block rows whose tables a process keeps (the tasks of one block row run together; the
#: next one's start while the last finish): a small expansion keeps no more than before
TABLE_CACHE_ROWS = 2
#: bytes of per-slot tables (source rows, kept counts: slots × blocks read × 8 B each) a
#: task builds at once; a task whose slots × blocks exceed it runs its slots in batches
#: (same bytes: every slot's entries depend only on the slot). At Meta's 16 × 16384 one
#: task reads ~800 blocks: unbatched, 138,493 slots × 800 × 8 B were 0.9 GB a table.
SLOT_TABLE_BYTES = 2**26
#: the joint dropout's kept-rank table of a block row (:func:`kept_ranks`) is built only up
#: to this size (16 × 32 of ML-20M: 30 MB); above it the write pass tests every candidate
KEPT_TABLE_BYTES = 2**28
#: a task looks its blocks' item permutations up in tables (:func:`column_tables`) up to this
#: size; above it (ML-18B's 20 × 36864: 36,864 blocks × 26,744 items, 3.9 GB a block row)
#: the emit kernel computes each entry's item from the block's keys (:func:`column_lookup`)
COLUMN_TABLE_BYTES = 2**28


def slot_batches(n_slots: int, n_blocks: int) -> list[tuple[int, int]]:
    """Cut ``n_slots`` slots into ``[a, b)`` batches whose slot tables (``n_blocks`` int64
    per slot, two tables) stay within :data:`SLOT_TABLE_BYTES`.

    >>> slot_batches(10, 4)
    [(0, 10)]
    >>> len(slot_batches(138_493, 800)) > 1
    True
    """
    per = max(1, SLOT_TABLE_BYTES // (16 * max(1, n_blocks)))
    return [(a, min(a + per, n_slots)) for a in range(0, n_slots, per)] or [(0, 0)]


_Table = TypeVar("_Table", np.ndarray, tuple[np.ndarray, np.ndarray])


def _nbytes(table: np.ndarray | tuple[np.ndarray, ...]) -> int:
    return table.nbytes if isinstance(table, np.ndarray) else sum(t.nbytes for t in table)


class _TableCache:
    """Least recently used whole-block tables (thread-safe): at most ``TABLE_CACHE_BYTES``
    and the tables of at most ``TABLE_CACHE_ROWS`` block rows (the ``i`` of a key
    ``(token, what, i, j)``; shorter keys are per plan and count only in bytes).

    Tables are pure functions of their key, so a miss only costs time: two threads may
    build the same table, and either copy is the same.
    """

    def __init__(self) -> None:
        self._tables: OrderedDict[tuple, Any] = OrderedDict()
        self._rows: OrderedDict[tuple, None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, build: Callable[[], _Table]) -> _Table:
        row = (key[0], key[2]) if len(key) == 4 else None
        with self._lock:
            hit = self._tables.get(key)
            if hit is not None:
                self._tables.move_to_end(key)
                if row is not None:
                    self._rows.move_to_end(row)
                return hit
        table = build()
        with self._lock:
            if row is not None and row not in self._rows:
                while len(self._rows) >= TABLE_CACHE_ROWS:
                    old_row, _ = self._rows.popitem(last=False)
                    for k in [k for k in self._tables if len(k) == 4 and (k[0], k[2]) == old_row]:
                        self._bytes -= _nbytes(self._tables.pop(k))
            if row is not None:
                self._rows[row] = None
                self._rows.move_to_end(row)
            if key not in self._tables:
                self._tables[key] = table
                self._bytes += _nbytes(table)
            while self._bytes > TABLE_CACHE_BYTES and len(self._tables) > 1:
                _, old = self._tables.popitem(last=False)
                self._bytes -= _nbytes(old)
        return table

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()
            self._rows.clear()
            self._bytes = 0


_TABLES = _TableCache()


def _index_dtype(size: int) -> type[np.signedinteger]:
    """int32 tables when the values fit: half the bytes of the cache and of the hot lookup."""
    return np.int32 if size < 2**31 else np.int64


def _orders(plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(row_order, row_rank, col_order, col_rank)``: the stable degree orders of rows and
    columns and their inverses (the stratified kind's windows; empty for the other kinds)."""
    if plan.shuffle != "stratified":
        return _EMPTY1, _EMPTY1, _EMPTY1, _EMPTY1

    def build() -> np.ndarray:
        parts = []
        for degree in (plan.row_degree, plan.col_degree):
            order = np.argsort(degree, kind="stable").astype(np.int64)
            rank = np.empty_like(order)
            rank[order] = np.arange(order.shape[0], dtype=np.int64)
            parts += [order, rank]
        return np.concatenate(parts)

    both = _TABLES.get((plan.token, "order"), build)
    m, n = plan.m, plan.n
    return both[:m], both[m : 2 * m], both[2 * m : 2 * m + n], both[2 * m + n :]


def _joint_rank(plan: Plan) -> np.ndarray:
    """The position of each row in the joint dropout's window order (inverse of
    ``plan.joint_order``, int64, cached per plan)."""

    def build() -> np.ndarray:
        assert plan.joint_order is not None
        rank = np.empty(plan.m, np.int64)
        rank[plan.joint_order] = np.arange(plan.m, dtype=np.int64)
        return rank

    return _TABLES.get((plan.token, "joint_rank"), build)


def source_rows(plan: Plan, i: int, blocks: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """``out[b, u]``: the source row of output slot ``slots[u]`` in block ``(i, blocks[b])``
    (int64), computed by the inverse permutation for those slots only: no whole-block table,
    so the memory is the slots × the blocks."""
    blocks = np.ascontiguousarray(blocks, dtype=np.int64)
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    out = np.empty((blocks.shape[0], slots.shape[0]), np.int64)
    if plan.shuffle == "none":
        out[:] = slots
        return out
    if plan.rows == "shared" and blocks.shape[0] > 0:
        # one permutation per group of block columns (one group but for the joint dropout
        # at a > 1): computed once per group, the same in the group's blocks
        group = joint.column_groups(i, blocks, plan.factors[1], plan.row_groups)
        keys, at = np.unique(group, return_inverse=True)
        out[:] = _source_rows(plan, i, permute.SHARED_COLUMN + keys, slots)[at.reshape(-1)]
        return out
    return _source_rows(plan, i, blocks, slots)


def _source_rows(plan: Plan, i: int, blocks: np.ndarray, slots: np.ndarray) -> np.ndarray:
    out = np.empty((blocks.shape[0], slots.shape[0]), np.int64)
    if plan.dropout == "joint":
        # rows only exchange slots inside their window of equal train degree
        assert plan.joint_order is not None and plan.joint_starts is not None
        assert plan.joint_window is not None  # set by expand_level for this dropout
        permute.window_source_rows_kernel(
            slots, plan.joint_order, _joint_rank(plan), plan.joint_starts, plan.joint_window,
            as_seed(plan.seed), rng.STREAM_ROW_PERM, int(i), blocks, out,
        )  # fmt: skip
        return out
    order, rank, _, _ = _orders(plan)
    permute.source_rows_kernel(
        slots, order, rank, plan.window, plan.m, as_seed(plan.seed), rng.STREAM_ROW_PERM,
        int(i), blocks, out,
    )  # fmt: skip
    return out


def row_sources(plan: Plan, i: int, j: int) -> np.ndarray:
    """``out[t]``: the source row of output slot ``t`` of block (i, j), for every slot (int64;
    the tasks compute only their own slots, :func:`source_rows`)."""
    return source_rows(plan, i, np.array([j]), np.arange(plan.m, dtype=np.int64))[0]


def column_permutation(plan: Plan, i: int, j: int) -> np.ndarray:
    """``out[c] = sigma_ij(c)``: the item offset of source item ``c`` in block (i, j).

    A table per block, from the bijection, in the per-process cache: the entries of a
    block outnumber its items, and one lookup costs less than one evaluation (module
    docstring of :mod:`daskfractal.kernels.permute`)."""

    if plan.dropout == "joint":
        # uniform, one per block column shared by every block row (keyed by SHARED_ROW for
        # the block row, cached once): a synthetic item copies one real item
        i, order = int(joint.SHARED_ROW), _EMPTY1
    else:
        order = _orders(plan)[2]

    def build() -> np.ndarray:
        if plan.shuffle == "none":
            return np.arange(plan.n, dtype=_index_dtype(plan.n))
        out = np.empty(plan.n, _index_dtype(plan.n))
        permute.fill_block_kernel(
            out, order, plan.window, as_seed(plan.seed), rng.STREAM_COL_PERM, int(i), int(j)
        )
        return out

    return _TABLES.get((plan.token, "cols", int(i), int(j)), build)


def _exact_counts(plan: Plan, i: int, j: int) -> np.ndarray:
    def build() -> np.ndarray:
        return exact_row_counts(plan.row_degree, float(plan.keep[i, j]), plan.seed, i, j)

    return _TABLES.get((plan.token, "exact", i, j), build)


def active_blocks(plan: Plan, i: int) -> np.ndarray:
    """The block columns a task of block row ``i`` reads (int64, ascending): those that keep
    something, or all of them for the targeted dropout (its anchor may keep nothing)."""
    if plan.dropout == "targeted":
        return np.arange(plan.factors[1], dtype=np.int64)
    return np.flatnonzero(plan.keep[i] > 0).astype(np.int64)


def slot_tables(plan: Plan, i: int, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the kernels read for the output slots ``slots`` of block row ``i``.

    Returns ``(blocks, src, counts)``: the block columns read (:func:`active_blocks`),
    ``src[b, u]`` the source row of slot ``slots[u]`` in block ``(i, blocks[b])`` and, for
    the exact / balanced / targeted dropouts, ``counts[b, u]`` the entries that row keeps
    (else an empty array). Memory: the task's slots × the blocks it reads, whatever the
    number of users or blocks of the expansion (the sources are computed for these slots
    only; the exact dropout's whole-block counts come from a per-process cache of bounded
    size).
    """
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    blocks = active_blocks(plan, i)
    src = source_rows(plan, i, blocks, slots)
    keep_row = np.ascontiguousarray(plan.keep[i], dtype=np.float64)
    counts = _EMPTY2
    if plan.dropout == "exact":
        counts = np.empty_like(src)
        for b, j in enumerate(blocks.tolist()):
            counts[b] = _exact_counts(plan, i, j)[src[b]]
    elif plan.dropout == "balanced":
        counts = balanced_slot_counts_kernel(
            plan.row_degree, keep_row, blocks, src, as_seed(plan.seed), int(i)
        )
    elif plan.dropout == "joint":
        assert plan.joint_window is not None  # set by expand_level for this dropout
        counts = joint.joint_slot_keys(
            plan.joint_window, keep_row, blocks, src, slots, as_seed(plan.seed), int(i)
        )
    elif plan.dropout == "targeted":
        assert plan.train_degree is not None  # set by expand_level for this dropout
        counts = targeted_counts_kernel(
            plan.train_degree, keep_row, src, slots, as_seed(plan.seed), int(i),
            np.int64(plan.multiple),
        )  # fmt: skip
    return blocks, src, counts


def _joint_window_degree(plan: Plan) -> np.ndarray:
    """The train degree of each joint window's rows (one per window, int64, cached)."""

    def build() -> np.ndarray:
        assert plan.joint_order is not None and plan.joint_starts is not None
        cs = np.zeros(plan.src.sign.shape[0] + 1, np.int64)
        np.cumsum(plan.src.sign > 0, out=cs[1:])
        indptr = plan.src.indptr
        first = plan.joint_order[plan.joint_starts[:-1]]
        return (cs[indptr[first + 1]] - cs[indptr[first]]).astype(np.int64)

    return _TABLES.get((plan.token, "joint_degree"), build)


def _joint_counts(
    plan: Plan, i: int, slots: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The joint dropout's count pass (:func:`count_slots`): a row's train count in a block
    depends only on its window, so the windows of the task's slots get one count table of
    this block row (:func:`joint.window_count_table`) and the slots read it."""
    assert plan.joint_window is not None and plan.joint_pool is not None
    blocks, src, keys = slot_tables(plan, i, slots)
    windows, slot_window = np.unique(plan.joint_window[slots], return_inverse=True)
    table = joint.window_count_table(
        plan.joint_pool[i], windows, _joint_window_degree(plan)[windows], blocks,
        as_seed(plan.seed),
    )  # fmt: skip
    return joint.joint_count_rows_kernel(
        plan.src.indptr, plan.src.sign, blocks, src, keys, table,
        slot_window.astype(np.int64).reshape(-1),
        np.ascontiguousarray(plan.keep[i], dtype=np.float64),
        plan.test_policy == "one",
    )  # fmt: skip


def pattern_table(plan: Plan, i: int) -> np.ndarray:
    """The joint dropout's ``(P, n')`` patterns of block row ``i`` (empty otherwise)."""
    if plan.joint_pool is None:
        return _NO_POOL
    return plan.joint_pool[i]


def pattern_indices(plan: Plan, i: int) -> tuple[np.ndarray, np.ndarray]:
    """The joint dropout's pattern index of every (window, train rank) for block row ``i``'s
    pattern table (:func:`joint.pattern_index_table`; cached per number of patterns), or
    empty tables: the write pass looks them up instead of hashing each entry per block."""
    if plan.joint_pool is None:
        return _NO_PAT_OFF, _NO_PAT_IDX
    off = joint.pattern_offsets(_joint_window_degree(plan), plan.joint_pool[i].shape[0])
    idx = _TABLES.get(
        (plan.token, "pattern-indices", int(off[-1])),
        lambda: joint.pattern_index_table(as_seed(plan.seed), off),
    )
    return off, idx


def kept_ranks(
    plan: Plan, i: int, off: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The joint dropout's kept ranks of block row ``i`` (:func:`joint.kept_rank_table` of
    its pool and its :func:`pattern_indices` ``off`` / ``idx``, cached per block row), or
    empty tables (not the joint dropout, or a table above ``KEPT_TABLE_BYTES``): with them
    the write pass's work follows the kept entries, not the candidates."""
    if plan.joint_pool is None:
        return _NO_PAT_OFF, _NO_PAT_IDX
    pool = plan.joint_pool[i]

    def build() -> tuple[np.ndarray, np.ndarray]:
        uses = np.bincount(idx, minlength=pool.shape[0]).astype(np.int64)
        n_ranks = int(uses @ np.count_nonzero(pool, axis=1))
        if (pool.shape[1] * (off.shape[0] - 2) + 1) * 8 + n_ranks * 4 > KEPT_TABLE_BYTES:
            return _NO_PAT_OFF, _NO_PAT_IDX  # remembered too: the size is checked once
        return joint.kept_rank_table(pool, off, idx)

    return _TABLES.get((plan.token, "kept-ranks", int(i), -1), build)


def other_positions(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """Where the source rows' non-train entries sit (:func:`joint.other_positions`; cached
    per plan, one entry per test interaction), or empty tables outside the joint dropout."""
    if plan.joint_pool is None:
        return _NO_PAT_OFF, _NO_PAT_OFF
    return _TABLES.get(
        (plan.token, "other-positions"),
        lambda: joint.other_positions(plan.src.indptr, plan.src.sign),
    )


def column_lookup(
    plan: Plan, i: int, blocks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The item permutations of a task's blocks as the emit kernel reads them: ``(col_perm,
    col_keys, col_order, col_rank, col_window)``.

    Tables (:func:`column_tables`, no keys) while they take at most ``COLUMN_TABLE_BYTES``;
    above, no tables but each block's Feistel keys, the stratified order and its inverse
    and the window (``0``: the identity of ``--shuffle none``), from which the kernel
    computes ``sigma(c)`` per entry (:func:`.permute.permutation_at`, the same values):
    about 100 ns an entry instead of a table of every item of every block.
    """
    blocks = np.ascontiguousarray(blocks, dtype=np.int64)
    dtype = _index_dtype(plan.n)
    if blocks.shape[0] * plan.n * np.dtype(dtype).itemsize <= COLUMN_TABLE_BYTES:
        return column_tables(plan, i, blocks), _NO_KEYS, _EMPTY1, _EMPTY1, 1
    row, order, rank, window = int(i), _EMPTY1, _EMPTY1, 1
    if plan.shuffle == "none":
        window = 0
    elif plan.dropout == "joint":
        row = int(joint.SHARED_ROW)  # one permutation per block column (column_permutation)
    elif plan.shuffle == "stratified":
        _, _, order, rank = _orders(plan)
        window = int(plan.window)
    keys = permute.block_keys_kernel(as_seed(plan.seed), rng.STREAM_COL_PERM, row, blocks)
    return np.zeros((0, 0), dtype), keys, order, rank, window


def column_tables(plan: Plan, i: int, blocks: np.ndarray) -> np.ndarray:
    """``out[b, c] = sigma_{i, blocks[b]}(c)``: the column permutations a task reads."""
    out: np.ndarray = np.empty((blocks.shape[0], plan.n), _index_dtype(plan.n))
    for b, j in enumerate(blocks.tolist()):
        out[b] = column_permutation(plan, i, j)
    return out


def survivors(plan: Plan, train_counts: np.ndarray, test_counts: np.ndarray) -> np.ndarray:
    """Mask of output rows that are kept: a train interaction, and a test one under 'one'."""
    alive = train_counts > 0
    if plan.test_policy == "one":
        alive &= test_counts > 0
    return alive


def count_slots(
    plan: Plan, i: int, t0: int, t1: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-slot counts of output slots ``[t0, t1)`` of block row ``i`` (the cheap pass).

    Returns
    -------
    train_counts, test_counts : ndarray of int64, shape (t1 - t0,)
        Entries each output row gets (test after the test policy), before the survivor rule.
    block_train, block_test : ndarray of int64, shape (n',)
        Kept entries per block (test before the ``one`` policy).
    """

    parts = []
    for a, b in slot_batches(t1 - t0, len(active_blocks(plan, i))):
        parts.append(_count_batch(plan, i, t0 + a, t0 + b))
    if len(parts) == 1:
        return parts[0]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.stack([p[2] for p in parts]).sum(axis=0),
        np.stack([p[3] for p in parts]).sum(axis=0),
    )


def _count_batch(
    plan: Plan, i: int, t0: int, t1: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`count_slots` of one batch of slots (:func:`slot_batches`)."""
    if plan.dropout == "joint":
        return _joint_counts(plan, i, np.arange(t0, t1, dtype=np.int64))
    blocks, src, counts = slot_tables(plan, i, np.arange(t0, t1, dtype=np.int64))
    return count_rows_kernel(
        plan.src.indptr,
        plan.src.sign,
        blocks,
        src,
        np.ascontiguousarray(plan.keep[i], dtype=np.float64),
        as_seed(plan.seed),
        int(i),
        int(t0),
        int(t1),
        as_mode(plan.dropout),
        counts,
        pattern_table(plan, i),
        as_test_policy(plan.test_policy),
    )


def count_task(plan: Plan, i: int, t0: int, t1: int) -> dict:
    """Counts only (cheaper than generating): users, train and test entries of a slot range."""
    train_c, test_c, _, _ = count_slots(plan, i, t0, t1)
    alive = survivors(plan, train_c, test_c)
    return {
        "users": int(alive.sum()),
        "train": int(train_c[alive].sum()),
        "test": int(test_c[alive].sum()),
    }


def emit_users(
    plan: Plan,
    slots: np.ndarray,
    train_off: np.ndarray,
    test_off: np.ndarray,
    train_count: np.ndarray,
    test_count: np.ndarray,
    train_window: tuple[int, int],
    test_window: tuple[int, int],
    index_dtype: Any = np.int64,
) -> dict[str, np.ndarray]:
    """Generate the rows of the given output slots straight into two windows of the CSR.

    Parameters
    ----------
    slots : ndarray of int64
        Global slots ``i·m + t`` (ascending) of the users to generate.
    train_off, test_off : ndarray of int64
        Global CSR offset of each user's first train / test entry.
    train_count, test_count : ndarray
        Entries of each user (from :func:`count_slots`; a mismatch raises ``ValueError``).
    train_window, test_window : (int, int)
        The global entry ranges ``[lo, hi)`` to fill; entries outside are dropped.
    index_dtype : dtype
        Dtype of the item ids returned.

    Returns
    -------
    dict of ndarray
        ``train_items`` / ``test_items`` (``hi - lo`` each) and carried ``train_ratings``
        ... aligned with them.
    """

    with_src = bool(plan.carry)
    windows = {"train": train_window, "test": test_window}
    out: dict[str, np.ndarray] = {}
    src_pos: dict[str, np.ndarray] = {}
    for split, (lo, hi) in windows.items():
        out[f"{split}_items"] = np.empty(hi - lo, dtype=index_dtype)
        src_pos[split] = np.empty(hi - lo if with_src else 0, dtype=np.int64)
    slots = np.asarray(slots, dtype=np.int64)
    block = slots // plan.m
    cuts = [0, *(np.flatnonzero(np.diff(block)) + 1).tolist(), len(slots)]
    mode = as_mode(plan.dropout)
    policy = as_test_policy(plan.test_policy)
    pieces = []
    for a, b in itertools.pairwise(cuts):
        n_blocks = len(active_blocks(plan, int(block[a]))) if a < b else 0
        pieces += [(a + c, a + d) for c, d in slot_batches(b - a, n_blocks) if c < d]
    # the block row's item permutations, shared by its batches
    tables: tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] | None = None
    for a, b in pieces:
        i = int(block[a])
        local = slots[a:b] - i * plan.m
        blocks, src, counts = slot_tables(plan, i, local)
        if tables is None or tables[0] != i:
            tables = (i, column_lookup(plan, i, blocks))
        pat = pattern_indices(plan, i)
        emit_rows_kernel(
            plan.src.indptr,
            plan.src.indices,
            plan.src.sign,
            blocks,
            src,
            *tables[1],
            np.ascontiguousarray(plan.keep[i], dtype=np.float64),
            as_seed(plan.seed),
            i,
            mode,
            counts,
            pattern_table(plan, i),
            *pat,
            *kept_ranks(plan, i, *pat),
            *other_positions(plan),
            policy,
            plan.n,
            local,
            np.ascontiguousarray(train_off[a:b], dtype=np.int64),
            np.ascontiguousarray(test_off[a:b], dtype=np.int64),
            np.ascontiguousarray(train_count[a:b], dtype=np.int64),
            np.ascontiguousarray(test_count[a:b], dtype=np.int64),
            int(train_window[0]),
            int(train_window[1]),
            int(test_window[0]),
            int(test_window[1]),
            out["train_items"],
            src_pos["train"],
            out["test_items"],
            src_pos["test"],
            with_src,
        )
    for split in windows:
        for name in plan.carry:
            out[f"{split}_{name}"] = take(getattr(plan.src, name), src_pos[split])
    if plan.timeline == "aligned" and "timestamps" in plan.carry:
        _align(plan, slots, train_off, test_off, train_count, test_count, windows, out)
    return out


def _align(
    plan: Plan,
    slots: np.ndarray,
    train_off: np.ndarray,
    test_off: np.ndarray,
    train_count: np.ndarray,
    test_count: np.ndarray,
    windows: dict[str, tuple[int, int]],
    out: dict[str, np.ndarray],
) -> None:
    """Align the timelines of the users in ``out`` (:mod:`..kernels.timeline`), in place.

    A user's shifts need all its entries; a window cuts at most its first and last users, and
    those are generated again whole (one user each) for their timestamps.
    """
    offsets = {"train": np.asarray(train_off, np.int64), "test": np.asarray(test_off, np.int64)}
    counts = {"train": np.asarray(train_count, np.int64), "test": np.asarray(test_count, np.int64)}
    local = {s: offsets[s] - windows[s][0] for s in windows}
    whole = np.ones(len(slots), dtype=bool)
    for s, (lo, hi) in windows.items():
        whole &= (local[s] >= 0) & (local[s] + counts[s] <= hi - lo)
    align_timelines(
        plan.n,
        plan.keep.shape[1],
        local["train"][whole],
        (local["train"] + counts["train"])[whole],
        local["test"][whole],
        (local["test"] + counts["test"])[whole],
        out["train_items"],
        out["train_timestamps"],
        out["test_items"],
        out["test_timestamps"],
    )
    for x in np.flatnonzero(~whole):
        own = {s: (int(offsets[s][x]), int(offsets[s][x] + counts[s][x])) for s in windows}
        full = emit_users(
            plan,
            slots[x : x + 1],
            offsets["train"][x : x + 1],
            offsets["test"][x : x + 1],
            counts["train"][x : x + 1],
            counts["test"][x : x + 1],
            own["train"],
            own["test"],
        )
        for s, (lo, hi) in windows.items():
            a, b = max(own[s][0], lo), min(own[s][1], hi)
            if a < b:
                dst = out[f"{s}_timestamps"]
                dst[a - lo : b - lo] = full[f"{s}_timestamps"][a - own[s][0] : b - own[s][0]]


def generate(plan: Plan, i: int, t0: int, t1: int) -> dict[str, np.ndarray]:
    """Kept entries of output slots ``[t0, t1)`` of block row ``i``, surviving users only.

    Returns
    -------
    dict of ndarray
        ``slots`` (int64 global slot ``i·m + t`` of each surviving user), ``train_counts`` /
        ``test_counts`` (int64 per surviving user), ``train_items`` / ``test_items`` (int64,
        sorted within each user), carried ``train_ratings`` ... aligned with the items, and
        ``block_train`` / ``block_test`` (int64, n': kept entries per block before the
        survivor rule).
    """
    train_c, test_c, block_train, block_test = count_slots(plan, i, t0, t1)
    alive = survivors(plan, train_c, test_c)
    slots = (np.int64(i) * plan.m + t0 + np.flatnonzero(alive)).astype(np.int64)
    counts = {"train": train_c[alive].astype(np.int64), "test": test_c[alive].astype(np.int64)}
    offsets = {}
    for split, c in counts.items():
        offsets[split] = np.zeros(len(c), np.int64)
        np.cumsum(c[:-1], out=offsets[split][1:])
    n_train, n_test = int(counts["train"].sum()), int(counts["test"].sum())
    out: dict[str, np.ndarray] = {
        "slots": slots,
        "train_counts": counts["train"],
        "test_counts": counts["test"],
        "block_train": np.asarray(block_train, dtype=np.int64),
        "block_test": np.asarray(block_test, dtype=np.int64),
    }
    out.update(
        emit_users(
            plan,
            slots,
            offsets["train"],
            offsets["test"],
            counts["train"],
            counts["test"],
            (0, n_train),
            (0, n_test),
            np.int64,
        )
    )
    return out


def input_checksum(src: SignedMatrix) -> str:
    """SHA-256 of the signed input (indptr, indices, signs, carried values and shape).

    Recorded in the store (``input_sha256``) so that a chain can be rebuilt and checked.
    """
    h = hashlib.sha256()
    for a in (src.indptr, src.indices, src.sign, src.ratings, src.timestamps):
        if a is not None:
            h.update(np.ascontiguousarray(a).view(np.uint8).data)
    h.update(repr(src.shape).encode())
    return h.hexdigest()


__all__ = [
    "AUTO_JOINT_SIZE",
    "CARRY_NAMES",
    "DEFAULT_CHUNK_SIZE",
    "DROPOUTS",
    "DROPOUT_CHOICES",
    "SHUFFLES",
    "TABLE_CACHE_BYTES",
    "TABLE_CACHE_ROWS",
    "TEST_POLICIES",
    "Plan",
    "active_blocks",
    "column_permutation",
    "column_tables",
    "count_slots",
    "count_task",
    "emit_users",
    "generate",
    "input_checksum",
    "row_sources",
    "slot_tables",
    "source_rows",
    "survivors",
]
