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
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..kernels import permute, rng
from ..kernels.dropout import (
    as_mode,
    as_test_policy,
    balanced_row_counts,
    exact_row_counts,
    targeted_row_counts,
)
from ..kernels.emit import count_rows_kernel, emit_rows_kernel, take
from ..kernels.rng import as_seed
from ..preprocess import SignedMatrix

Shuffle = Literal["block", "stratified", "none"]
Dropout = Literal["bernoulli", "exact", "balanced", "targeted"]
TestPolicy = Literal["all", "one"]

SHUFFLES = ("block", "stratified", "none")
DROPOUTS = ("bernoulli", "exact", "balanced", "targeted")
TEST_POLICIES = ("all", "one")
#: The defaults of :func:`daskfractal.expand` and ``daskfractal expand``: the modes that keep
#: the degree distributions and the spectrum best over the measured data sets (docs/fidelity.md);
#: ``block`` + ``bernoulli`` reproduce the papers and the MLPerf reference.
DEFAULT_SHUFFLE: Shuffle = "stratified"
DEFAULT_DROPOUT: Dropout = "balanced"
CARRY_NAMES = ("ratings", "timestamps")

DEFAULT_CHUNK_SIZE = 2**22  # expected kept interactions per count (and compute) task
_EMPTY2 = np.zeros((0, 0), np.int64)  # "no exact counts" for the kernels


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

_PERM_CACHE: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
_PERM_LOCK = threading.Lock()


def block_row_tables(plan: Plan, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Row sources, column permutations (and exact row counts) of every block (i, j).

    Pure function of (plan, i); cached per process for the last block rows because every
    task of block row i needs all n' of them.
    """

    key = (plan.token, i)
    with _PERM_LOCK:
        hit = _PERM_CACHE.get(key)
    if hit is not None:
        return hit
    npr = plan.factors[1]
    # blocks that keep nothing (a block sample drops most) need no permutation; the targeted
    # dropout reads every block's rows (its anchor block may keep nothing)
    active = plan.keep[i] > 0 if plan.dropout != "targeted" else np.ones(npr, bool)
    opts: dict[str, Any] = {"degree": None, "window": None, "active": active}
    rows = permute.permutation_table(
        plan.shuffle,
        plan.m,
        plan.seed,
        rng.STREAM_ROW_PERM,
        i,
        npr,
        **(
            opts
            if plan.shuffle != "stratified"
            else {"degree": plan.row_degree, "window": plan.window, "active": active}
        ),
    )
    cols = permute.permutation_table(
        plan.shuffle,
        plan.n,
        plan.seed,
        rng.STREAM_COL_PERM,
        i,
        npr,
        **(
            opts
            if plan.shuffle != "stratified"
            else {"degree": plan.col_degree, "window": plan.window, "active": active}
        ),
        # int32 item permutations when they fit: half the cache footprint of the hot lookup
        dtype=np.int32 if plan.n < 2**31 else np.int64,
    )
    row_src = permute.invert_permutation(rows)
    exact = None
    if plan.dropout == "exact":
        exact = np.stack(
            [
                exact_row_counts(plan.row_degree, float(plan.keep[i, j]), plan.seed, i, j)
                for j in range(npr)
            ]
        )
    elif plan.dropout == "balanced":
        exact = np.stack(
            [
                balanced_row_counts(plan.row_degree, float(plan.keep[i, j]), plan.seed, i, j)
                for j in range(npr)
            ]
        )
    elif plan.dropout == "targeted":
        assert plan.train_degree is not None  # set by expand_level for this dropout
        exact = targeted_row_counts(
            plan.train_degree, plan.keep[i], row_src, plan.seed, i, plan.multiple
        )
    out = (row_src, cols, exact)
    with _PERM_LOCK:
        while len(_PERM_CACHE) >= 2:
            _PERM_CACHE.pop(next(iter(_PERM_CACHE)))
        _PERM_CACHE[key] = out
    return out


def kernel_args(plan: Plan, i: int, t0: int, t1: int) -> tuple:

    row_src, col_perm, exact = block_row_tables(plan, i)
    return (
        plan.src.indptr,
        plan.src.indices,
        plan.src.sign,
        row_src,
        col_perm,
        np.ascontiguousarray(plan.keep[i], dtype=np.float64),
        plan.seed,
        i,
        t0,
        t1,
        as_mode(plan.dropout),
        exact,
        as_test_policy(plan.test_policy),
        plan.n,
    )


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

    row_src, _, exact = block_row_tables(plan, i)
    return count_rows_kernel(
        plan.src.indptr,
        plan.src.sign,
        row_src,
        np.ascontiguousarray(plan.keep[i], dtype=np.float64),
        as_seed(plan.seed),
        int(i),
        int(t0),
        int(t1),
        as_mode(plan.dropout),
        exact if exact is not None else _EMPTY2,
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
    for a, b in itertools.pairwise(cuts):
        if a == b:
            continue
        i = int(block[a])
        row_src, col_perm, exact = block_row_tables(plan, i)
        emit_rows_kernel(
            plan.src.indptr,
            plan.src.indices,
            plan.src.sign,
            row_src,
            col_perm,
            np.ascontiguousarray(plan.keep[i], dtype=np.float64),
            as_seed(plan.seed),
            i,
            mode,
            exact if exact is not None else _EMPTY2,
            policy,
            plan.n,
            slots[a:b] - i * plan.m,
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
    return out


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
    "CARRY_NAMES",
    "DEFAULT_CHUNK_SIZE",
    "DROPOUTS",
    "SHUFFLES",
    "TEST_POLICIES",
    "Plan",
    "block_row_tables",
    "count_slots",
    "count_task",
    "emit_users",
    "generate",
    "input_checksum",
    "kernel_args",
    "survivors",
]
