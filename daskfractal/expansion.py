"""The randomized Kronecker product R̂ ⊗rand R as a Dask graph (papers §III-5..8, Algorithms 1-2).

This module only plans and orchestrates; the per-row work is done by the Numba kernels in
:mod:`daskfractal.kernels` and the bytes are written by :mod:`daskfractal.store`.

Pipeline of a write (``to_zarr`` / ``to_parquet``, orchestrated by :mod:`daskfractal.write`):

1. *count* (:func:`count_slots`): one task per range of output slots ``[t0, t1)`` of a block
   row ``i`` counts, per slot, the train and test entries it gets (one hash per candidate,
   nothing stored). The driver derives the surviving users and every entry's place.
2. *write* (:func:`emit_users`): one task per Zarr shard (or Parquet file) generates exactly
   the users overlapping it, straight into the shard. Every random number is a pure function
   of (seed, i, j, source position) or (seed, i, slot), so nothing depends on the chunking.

:func:`generate` (whole slot ranges with per-row CSR, used by :meth:`Expansion.compute` and
multi-level expansion) runs the same semantics through the two-pass kernel of
:mod:`daskfractal.kernels.expand`; tests check both paths give the same bytes.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import itertools
import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._checks import as_int
from ._checks import as_seed as check_seed
from .errors import DaskFractalError, OutputError, ParameterError
from .interactions import Interactions
from .preprocess import SignedMatrix, SplitData, preprocess

Shuffle = Literal["block", "stratified", "none"]
Dropout = Literal["bernoulli", "exact"]
TestPolicy = Literal["all", "one"]

SHUFFLES = ("block", "stratified", "none")
DROPOUTS = ("bernoulli", "exact")
TEST_POLICIES = ("all", "one")
CARRY_NAMES = ("ratings", "timestamps")

DEFAULT_CHUNK_SIZE = 2**22  # expected kept interactions per count (and compute) task
_EMPTY2 = np.zeros((0, 0), np.int64)  # "no exact counts" for the kernels


@dataclass(frozen=True, eq=False)
class _Plan:
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


def _block_row_tables(plan: _Plan, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Row sources, column permutations (and exact row counts) of every block (i, j).

    Pure function of (plan, i); cached per process for the last block rows because every
    task of block row i needs all n' of them.
    """
    from .kernels import permute, rng
    from .kernels.expand import exact_row_counts

    key = (plan.token, i)
    with _PERM_LOCK:
        hit = _PERM_CACHE.get(key)
    if hit is not None:
        return hit
    npr = plan.factors[1]
    opts = {"degree": None, "window": None}
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
            else {"degree": plan.row_degree, "window": plan.window}
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
            else {"degree": plan.col_degree, "window": plan.window}
        ),
    )
    exact = None
    if plan.dropout == "exact":
        exact = np.stack(
            [
                exact_row_counts(plan.row_degree, float(plan.keep[i, j]), plan.seed, i, j)
                for j in range(npr)
            ]
        )
    # int32 item permutations when they fit: half the cache footprint of the hot lookup
    if plan.n < 2**31:
        cols = cols.astype(np.int32)
    out = (permute.invert_permutation(rows), cols, exact)
    with _PERM_LOCK:
        while len(_PERM_CACHE) >= 2:
            _PERM_CACHE.pop(next(iter(_PERM_CACHE)))
        _PERM_CACHE[key] = out
    return out


def _kernel_args(plan: _Plan, i: int, t0: int, t1: int) -> tuple:
    from .kernels.expand import as_mode, as_test_policy

    row_src, col_perm, exact = _block_row_tables(plan, i)
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


def _survivors(plan: _Plan, train_counts: np.ndarray, test_counts: np.ndarray) -> np.ndarray:
    """Mask of output rows that are kept: a train interaction, and a test one under 'one'."""
    alive = train_counts > 0
    if plan.test_policy == "one":
        alive &= test_counts > 0
    return alive


def count_slots(
    plan: _Plan, i: int, t0: int, t1: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-slot counts of output slots ``[t0, t1)`` of block row ``i`` (the cheap pass).

    Returns
    -------
    train_counts, test_counts : ndarray of int64, shape (t1 - t0,)
        Entries each output row gets (test after the test policy), before the survivor rule.
    block_train, block_test : ndarray of int64, shape (n',)
        Kept entries per block (test before the ``one`` policy).
    """
    from .kernels.emit import count_rows_kernel
    from .kernels.expand import as_mode, as_test_policy
    from .kernels.rng import as_seed

    row_src, _, exact = _block_row_tables(plan, i)
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


def _count_task(plan: _Plan, i: int, t0: int, t1: int) -> dict:
    """Counts only (cheaper than generating): users, train and test entries of a slot range."""
    train_c, test_c, _, _ = count_slots(plan, i, t0, t1)
    alive = _survivors(plan, train_c, test_c)
    return {
        "users": int(alive.sum()),
        "train": int(train_c[alive].sum()),
        "test": int(test_c[alive].sum()),
    }


def emit_users(
    plan: _Plan,
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
    from .kernels.emit import emit_rows_kernel, take
    from .kernels.expand import as_mode, as_test_policy
    from .kernels.rng import as_seed

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
        row_src, col_perm, exact = _block_row_tables(plan, i)
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


def generate(plan: _Plan, i: int, t0: int, t1: int) -> dict[str, np.ndarray]:
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
    from .kernels.expand import expand_block_rows

    res = expand_block_rows(*_kernel_args(plan, i, t0, t1))
    train_c = np.diff(res.train_indptr)
    test_c = np.diff(res.test_indptr)
    alive = _survivors(plan, train_c, test_c)
    out: dict[str, np.ndarray] = {
        "slots": (np.int64(i) * plan.m + t0 + np.flatnonzero(alive)).astype(np.int64),
        "train_counts": train_c[alive].astype(np.int64),
        "test_counts": test_c[alive].astype(np.int64),
        "block_train": np.asarray(res.block_train, dtype=np.int64),
        "block_test": np.asarray(res.block_test, dtype=np.int64),
    }
    for split, indptr, items, srcpos in (
        ("train", res.train_indptr, res.train_items, res.train_src),
        ("test", res.test_indptr, res.test_items, res.test_src),
    ):
        # entries of surviving rows only
        row_of = np.repeat(alive, np.diff(indptr))
        out[f"{split}_items"] = np.asarray(items[row_of], dtype=np.int64)
        pos = srcpos[row_of]
        for name in plan.carry:
            out[f"{split}_{name}"] = getattr(plan.src, name)[pos]
    return out


# ---------------------------------------------------------------------------------------
# the public lazy object
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExpandedData:
    """An expansion computed in memory (small inputs, tests): see :meth:`Expansion.compute`.

    Attributes
    ----------
    train, test : scipy.sparse.csr_matrix of float32, shape (n_users, n_items)
    user_slot : ndarray of int64, shape (n_users,)
        Slot ``i·m + t`` of each output user before users without train data were dropped.
    train_ratings, train_timestamps, test_ratings, test_timestamps : ndarray or None
        Carried values aligned with the CSR indices.
    block_train, block_test : ndarray of int64, shape (m', n')
        Kept entries per block.
    """

    train: Any
    test: Any
    user_slot: np.ndarray
    block_train: np.ndarray
    block_test: np.ndarray
    train_ratings: np.ndarray | None = None
    train_timestamps: np.ndarray | None = None
    test_ratings: np.ndarray | None = None
    test_timestamps: np.ndarray | None = None


class Expansion:
    """A planned (lazy) randomized Kronecker expansion R̂ ⊗rand R.

    Build it with :func:`expand`; nothing heavy runs until :meth:`to_zarr`,
    :meth:`to_parquet`, :meth:`compute` or :meth:`count`.
    """

    def __init__(self, plan: _Plan, *, chunk_size: int, meta: dict) -> None:
        self._plan = plan
        self.chunk_size = int(chunk_size)
        self.meta = meta

    # -- description ----------------------------------------------------------------------
    @property
    def factors(self) -> tuple[int, int]:
        """(m', n'): users are multiplied by m', items by n'."""
        return self._plan.factors

    @property
    def keep(self) -> np.ndarray:
        """Keep probabilities R̂ (m' × n', float64 in [0, 1])."""
        return self._plan.keep

    @property
    def n_slots(self) -> int:
        """Users before dropping those without train interactions: m'·m."""
        return self.factors[0] * self._plan.m

    @property
    def n_items(self) -> int:
        """Items of the output: n'·n (some may end up with no interaction)."""
        return self.factors[1] * self._plan.n

    @property
    def params(self) -> dict:
        """Every option of the expansion, JSON-serializable."""
        p = self._plan
        return {
            "factors": list(self.factors),
            "seed": p.seed,
            "shuffle": p.shuffle,
            "window": p.window,
            "dropout": p.dropout,
            "test_policy": p.test_policy,
            "carry": list(p.carry),
            **self.meta,
        }

    def expected(self) -> dict:
        """Expected output sizes: Σ keep × nnz for train and for test (before survivor rules)."""
        src = self._plan.src
        n_train = int((src.sign > 0).sum())
        n_test = src.nnz - n_train
        s = float(self.keep.sum())
        return {
            "users_max": self.n_slots,
            "items": self.n_items,
            "train": s * n_train,
            "test": s * n_test,
        }

    def tasks(self) -> list[tuple[int, int, int]]:
        """The count (and compute) tasks ``(i, t0, t1)``: slot ranges sized by ``chunk_size``."""
        p = self._plan
        mean_deg = max(p.src.nnz / max(p.m, 1), 1e-12)
        out = []
        for i in range(p.factors[0]):
            per_row = mean_deg * float(p.keep[i].sum())  # expected kept entries per slot
            rows = p.m if per_row <= 0 else int(max(1, min(p.m, self.chunk_size // per_row)))
            out.extend((i, t0, min(t0 + rows, p.m)) for t0 in range(0, p.m, rows))
        return out

    # -- execution ------------------------------------------------------------------------
    def to_delayed_counts(self) -> list:
        """Dask delayed counts per task (users, train, test): a cheap first look at sizes."""
        import dask

        plan = dask.delayed(self._plan, pure=True)
        f = dask.delayed(_count_task, pure=True)
        return [f(plan, *t) for t in self.tasks()]

    def count(self, *, scheduler: Any = None, progress: bool = False) -> dict:
        """Exact output counts (users, train, test) without writing anything.

        Runs the dropout and test-policy logic but stores nothing, so it is cheaper than a
        write; the numbers are those a write with the same seed produces.
        """
        from ._runner import run

        parts = run(self.to_delayed_counts(), scheduler=scheduler, progress=progress)
        return {k: int(sum(c[k] for c in parts)) for k in ("users", "train", "test")}

    def compute(self, *, scheduler: Any = "sync") -> ExpandedData:
        """Compute the whole expansion in memory (for small inputs and tests).

        Returns
        -------
        ExpandedData
        """
        import dask
        import scipy.sparse as sp

        from ._runner import run

        plan = dask.delayed(self._plan, pure=True)
        g = dask.delayed(generate, pure=True)
        parts = run([g(plan, *t) for t in self.tasks()], scheduler=scheduler, progress=False)
        mp, npr = self.factors
        cat = functools.partial(_concat_key, parts)
        n_users = int(sum(len(p["slots"]) for p in parts))
        out: dict[str, Any] = {
            "user_slot": cat("slots", np.int64),
            "block_train": np.zeros((mp, npr), np.int64),
            "block_test": np.zeros((mp, npr), np.int64),
        }
        for (i, _, _), part in zip(self.tasks(), parts, strict=True):
            out["block_train"][i] += part["block_train"]
            out["block_test"][i] += part["block_test"]
        idx_dtype = np.int32 if self.n_items < 2**31 else np.int64
        for split in ("train", "test"):
            counts = cat(f"{split}_counts", np.int64)
            indptr = np.zeros(n_users + 1, np.int64)
            np.cumsum(counts, out=indptr[1:])
            items = cat(f"{split}_items", np.int64).astype(idx_dtype)
            mat = sp.csr_matrix(
                (np.ones(len(items), np.float32), items, indptr), shape=(n_users, self.n_items)
            )
            out[split] = mat
            for name in self._plan.carry:
                out[f"{split}_{name}"] = cat(f"{split}_{name}", None)
        return ExpandedData(**out)

    def to_split(self, *, scheduler: Any = None, progress: bool = False) -> SplitData:
        """Compute the expansion in memory as a data set that can be expanded again.

        The input of an outer level of a multi-level expansion R̂₁ ⊗rand (R̂₂ ⊗rand R)
        (``expand(expansion, ...)`` calls this). Lean: item ids are narrowed inside the tasks
        and moved into preallocated arrays, so the peak is close to the result's size.

        Parameters
        ----------
        scheduler : None, str or distributed.Client
            Where the tasks run (the default Client if any, else threads).
        progress : bool, default False
            Show a progress bar.

        Returns
        -------
        SplitData
            ``train`` / ``test``: canonical CSR float32 (1 per interaction; the carried
            rating when the original was pre-processed with ``binarize=False``), the same
            users and items as :meth:`compute`; carried ratings / timestamps aligned;
            ``user_ids``: the slot ``i·m + t`` of each user; ``item_ids``: ``arange(n_items)``;
            ``source`` and ``params``: the original's, plus ``params["levels"]``, the
            parameters of this expansion (and of its own inner levels), outermost first.
        """
        from .multilevel import materialize

        return materialize(self, scheduler=scheduler, progress=progress)

    def level_record(self) -> dict:
        """This expansion as one level of a chain: its options, R̂ and input checksum."""
        p = self.params
        rec = {"level": 1}
        for key in ("factors", "seed", "shuffle", "window", "dropout", "test_policy", "carry"):
            rec[key] = p[key]
        for key in ("reduced", "input_sha256", "input_shape", "input_train", "input_test"):
            rec[key] = self.meta.get(key)
        return rec

    def to_zarr(self, path: str | os.PathLike, *, force: bool = False, **kwargs: Any):
        """Write the expansion as a Zarr v3 store; see :func:`daskfractal.write.write_store`.

        Parameters
        ----------
        path : path
            Directory of the store.
        force : bool, default False
            Start even when :meth:`preflight` refuses (estimated output over the free disk,
            a task's estimated memory over the memory limit, too many tasks).
        **kwargs
            :func:`daskfractal.write.write_store` options.

        Returns
        -------
        ExpansionStore
            The finished store, opened for reading.

        Raises
        ------
        ResourceError
            The job would not fit (before anything is written).
        OutputError
            The store cannot be written (disk full, read-only file system, no permission);
            the store is left unfinished, ``resume=True`` continues it once fixed.
        """
        return self._write(path, "zarr", force, kwargs)

    def to_parquet(self, path: str | os.PathLike, *, force: bool = False, **kwargs: Any):
        """Write the expansion as Parquet data sets ``train/`` and ``test/``.

        See :meth:`to_zarr` for ``force`` and the errors, and
        :func:`daskfractal.write.write_store` for the options.
        """
        return self._write(path, "parquet", force, kwargs)

    def preflight(
        self,
        path: str | os.PathLike,
        *,
        format: str = "zarr",
        shard_size: int = 2**24,
        users_per_file: int | None = None,
        scheduler: Any = None,
        reusable: float = 0,
        force: bool = False,
    ) -> dict:
        """Estimate what a write needs and refuse (:class:`ResourceError`) what cannot fit.

        Parameters
        ----------
        path : path
            Where the store goes (the free disk is measured there).
        format : {"zarr", "parquet"}
        shard_size : int
            Entries per Zarr shard (one write task each).
        users_per_file : int, optional
            Users per Parquet file (default: about 2**24 interactions per file).
        scheduler : None, str or distributed.Client
            The memory limit is the smallest worker limit of a Client, else the available
            memory of this machine.
        reusable : float
            Bytes already on the disk that the write reuses or frees (a resumed or
            overwritten store).
        force : bool
            Return the estimates without refusing.

        Returns
        -------
        dict
            ``disk_bytes``, ``task_bytes``, ``memory_limit``, ``tasks``.
        """
        from ._preflight import (
            MAX_TASKS,
            check_disk,
            check_memory,
            check_tasks,
            store_bytes,
            task_bytes,
            worker_memory_limit,
        )

        # the estimates divide by these: refuse them here (write_store says the same)
        shard_size = as_int(shard_size, "shard_size", low=1)
        if users_per_file is not None:
            users_per_file = as_int(users_per_file, "users_per_file", low=1)
        exp = self.expected()
        carry = tuple(self._plan.carry)
        disk = store_bytes(
            train=exp["train"],
            test=exp["test"],
            n_slots=self.n_slots,
            n_items=self.n_items,
            carry=carry,
            format=format,
        )
        if format == "parquet":
            per_user = max(exp["train"] / max(self.n_slots, 1), 1.0)
            entries = (users_per_file or 2**24 / per_user) * per_user
            n_write = int(exp["train"] // max(entries, 1)) + 1
            option = "users_per_file"
            least = math.ceil(self.n_slots / MAX_TASKS)
        else:
            entries = min(float(shard_size), exp["train"])
            n_write = int(exp["train"] // shard_size) + 1
            option = "shard_size (--shard-size)"
            least = math.ceil(exp["train"] / MAX_TASKS)
        need = task_bytes(entries=entries, carry=carry)
        limit = worker_memory_limit(scheduler)
        n_count = len(self.tasks())
        out = {"disk_bytes": disk, "task_bytes": need, "memory_limit": limit, "tasks": n_write}
        check_tasks(
            n_count,
            what="the count pass",
            option="chunk_size (--chunk-size)",
            minimum=math.ceil(exp["train"] / MAX_TASKS),
            force=force,
        )
        check_tasks(
            n_write,
            what=f"writing ~{exp['train']:,.0f} interactions",
            option=option,
            minimum=least,
            force=force,
        )
        check_disk(
            path,
            disk,
            what=f"the expansion (~{exp['train'] + exp['test']:,.0f} interactions)",
            force=force,
            already=reusable,
        )
        check_memory(
            need,
            limit,
            what=f"one write task (~{entries:,.0f} interactions; see {option})",
            force=force,
        )
        return out

    def _write(self, path: str | os.PathLike, format: str, force: bool, kwargs: dict):
        """Preflight, then :func:`~daskfractal.write.write_store` with output OS errors as
        :class:`OutputError` (the write boundary: the input is in memory by now)."""
        from ._preflight import disk_usage
        from .write import work_dir, write_store

        reusable = 0
        if kwargs.get("resume") or kwargs.get("overwrite"):
            reusable = disk_usage(path, work_dir(path))
        self.preflight(
            path,
            format=format,
            shard_size=kwargs.get("shard_size", 2**24),
            users_per_file=kwargs.get("users_per_file"),
            scheduler=kwargs.get("scheduler"),
            reusable=reusable,
            force=force,
        )
        try:
            return write_store(self, path, format=format, **kwargs)
        except OSError as e:
            if isinstance(e, DaskFractalError) or e.errno not in _OUTPUT_ERRNOS:
                raise
            what = e.strerror or str(e)
            where = f" ({e.filename})" if e.filename else ""
            raise OutputError(
                f"cannot write the store {path}: {what}{where}; the store is unfinished: "
                "free space or fix the permissions, then run again with resume=True (--resume)"
            ) from e

    def __repr__(self) -> str:
        e = self.expected()
        return (
            f"<Expansion {self.factors[0]}x{self.factors[1]} of {self._plan.m}x{self._plan.n}, "
            f"shuffle={self._plan.shuffle}, ~{e['train']:,.0f} train interactions, "
            f"{len(self.tasks())} tasks>"
        )


def _concat_key(parts: Sequence[dict], key: str, dtype: Any) -> np.ndarray:
    arrs = [p[key] for p in parts]
    if not arrs:
        return np.zeros(0, dtype=dtype or np.int64)
    out = np.concatenate(arrs)
    return out if dtype is None else out.astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------
# building the plan
# ---------------------------------------------------------------------------------------


def _as_split(data: Any, seed: int, scheduler: Any = None, force: bool = False) -> SplitData:
    if isinstance(data, SplitData):
        return data
    if isinstance(data, Expansion):
        # an inner level: computed now, in memory (the outer R̂ is reduced from it)
        from .multilevel import check_level_memory

        check_level_memory(data, what="the inner expansion", force=force)
        return data.to_split(scheduler=scheduler)
    if isinstance(data, Interactions):
        return preprocess(data, seed=seed)
    from .datasets import load

    return preprocess(load(data), seed=seed)


def _checksum(src: SignedMatrix) -> str:
    h = hashlib.sha256()
    for a in (src.indptr, src.indices, src.sign, src.ratings, src.timestamps):
        if a is not None:
            h.update(np.ascontiguousarray(a).view(np.uint8))
    h.update(repr(src.shape).encode())
    return h.hexdigest()


def _int_param(name: str, value: Any, low: int, what: str, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high)``, else :class:`ParameterError` (bools refused)."""
    try:
        number = int(value)
        ok = not isinstance(value, bool | np.bool_) and number == value
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or number < low or (high is not None and number >= high):
        raise ParameterError(f"{name}={value!r} must be {what}")
    return number


def expand(
    data: Any,
    factors: tuple[int, int] | None = None,
    *,
    keep: np.ndarray | None = None,
    reduced: Any = None,
    target_interactions: float | None = None,
    seed: int = 0,
    shuffle: Shuffle = "block",
    window: int = 64,
    dropout: Dropout = "bernoulli",
    test_policy: TestPolicy = "all",
    carry: Sequence[str] | str = "auto",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    inner_factors: Sequence[tuple[int, int]] | None = None,
    scheduler: Any = None,
    force: bool = False,
    **reduce_options: Any,
) -> Expansion:
    """Plan the randomized Kronecker expansion R̂ ⊗rand R of a data set (lazy).

    Block (i, j) of the output is S = R_train − R_test with each non-zero kept with
    probability ``keep[i, j]``, its rows and columns permuted by permutations drawn for that
    block alone, placed at users ``i·m + π_ij(r)`` and items ``j·n + σ_ij(c)``. Kept +1 entries
    are train, kept −1 entries test: both go through the same randomness and the test set never
    leaks into training. Users left with no train interaction (and, under
    ``test_policy="one"``, none of test) are dropped and the others renumbered contiguously.

    Parameters
    ----------
    data : SplitData, Interactions, Expansion, path or "default"
        The input; raw interactions and paths are loaded and pre-processed with the defaults
        (and ``seed``). An :class:`Expansion` is an inner level: it is computed now, in memory
        (:meth:`Expansion.to_split`), and expanded again (multi-level expansion
        R̂₁ ⊗rand (R̂₂ ⊗rand R)); R̂ is then reduced from that intermediate.
    factors : (int, int), optional
        (m', n'): R̂ is computed with :func:`daskfractal.reduce` and these options.
    keep : ndarray of float, shape (m', n'), optional
        Explicit keep probabilities instead of R̂ (e.g. all ones for the plain Kronecker
        product).
    reduced : Reduced, optional
        A precomputed :class:`daskfractal.Reduced`.
    target_interactions : float, optional
        Choose factors and a keep-probability scale so that the expected number of train
        interactions is this (:func:`daskfractal.solve_factors`).
    seed : int in [0, 2**64), default 0
        Every random stream is derived from (seed, block, row, element): the same seed gives
        the same output whatever the chunking, workers or scheduler.
    shuffle : {"block", "stratified", "none"}, default "block"
        ``block``: independent uniform row and column permutations per block (the papers).
        ``stratified``: per-block permutations that only exchange users (items) of similar
        degree, inside windows of ``window`` after sorting by degree: keeps the degree
        distributions' shape. ``none``: no permutation (plain stochastic Kronecker product).
    window : int, default 64
        Window of the ``stratified`` shuffle.
    dropout : {"bernoulli", "exact"}, default "bernoulli"
        ``bernoulli``: every entry kept independently; ``exact``: exactly round(p·nnz(S))
        entries per block, chosen uniformly (as the MLPerf reference).
    test_policy : {"all", "one"}, default "all"
        ``all``: every kept test entry; ``one``: exactly one test item per user, chosen
        uniformly among its kept test entries (users with none are dropped).
    carry : "auto", sequence of {"ratings", "timestamps"}
        Original values carried to each kept interaction; ``auto`` carries what the input has.
    chunk_size : int, default 2**22
        Expected kept interactions per count task (and per task of :meth:`Expansion.compute`);
        the write tasks are sized by the store's shard size (``shard_size`` of
        :func:`daskfractal.write.write_store`), which bounds their memory.
    inner_factors : list of (int, int), optional
        Multi-level expansion: the factors of the inner levels, innermost **last**
        (``factors=(16, 32), inner_factors=[(2, 2), (3, 3)]`` is
        R̂₁ ⊗rand (R̂₂ ⊗rand (R̂₃ ⊗rand R)) with R̂₁ 16 × 32, R̂₂ 2 × 2, R̂₃ 3 × 3). Each inner
        level's R̂ is reduced from its own input with the same ``resize``, ``rescale`` and
        ``clip`` and expanded with the same ``shuffle``, ``window``, ``dropout``,
        ``test_policy``, ``carry`` and ``chunk_size``; ``factors`` / ``keep`` /
        ``target_interactions`` and the size controls ``scale`` / ``aspect`` /
        ``max_factor`` apply to the outermost level only (``reduced`` cannot: its input does
        not exist yet). Level ℓ (1 = outermost) uses the seed
        :func:`daskfractal.multilevel.level_seed` ``(seed, ℓ)``; the pre-processing of a
        path uses ``seed`` itself. The inner levels are computed now, in memory.
    scheduler : None, str or distributed.Client
        Where inner levels are computed (multi-level only; the default Client if any, else
        threads). The outer level runs where ``to_zarr`` / ``to_parquet`` say.
    force : bool, default False
        Compute an inner level (``inner_factors``, or ``data`` an :class:`Expansion`) even when
        its estimated memory exceeds the available memory (:class:`ResourceError`).
    **reduce_options
        Passed to :func:`daskfractal.reduce` (``resize``, ``rescale``, ``clip``, ``scale``).

    Returns
    -------
    Expansion
        Lazy: call ``to_zarr``, ``to_parquet``, ``compute`` or ``count`` (only the inner
        levels of a multi-level expansion are computed by ``expand`` itself). A multi-level
        expansion records every level, outermost first, in ``meta["levels"]`` (store
        attributes ``params.levels``); ``source`` and ``preprocess`` are the original's and
        ``input_sha256`` the checksum of the intermediate the outermost level expands.

    Examples
    --------
    >>> import daskfractal as dfr
    >>> ex = dfr.expand("default", factors=(2, 4), seed=1)
    >>> ex.factors
    (2, 4)
    >>> two = dfr.expand("default", factors=(2, 4), inner_factors=[(2, 2)], seed=1)
    >>> two.n_items  # 4 · 2 · 9724
    77792
    """
    if shuffle not in SHUFFLES:
        raise ParameterError(f"shuffle={shuffle!r} is not one of {', '.join(SHUFFLES)}")
    if dropout not in DROPOUTS:
        raise ParameterError(f"dropout={dropout!r} is not one of {', '.join(DROPOUTS)}")
    if test_policy not in TEST_POLICIES:
        raise ParameterError(
            f"test_policy={test_policy!r} is not one of {', '.join(TEST_POLICIES)}"
        )
    window = _int_param("window", window, 1, "an integer ≥ 1")
    chunk_size = _int_param("chunk_size", chunk_size, 1, "an integer ≥ 1")
    # every random stream takes the seed modulo 2**64: larger seeds would alias smaller ones
    seed = check_seed(seed)
    given = sum(x is not None for x in (factors, keep, reduced, target_interactions))
    if given != 1:
        raise ParameterError(
            f"give exactly one of factors, keep, reduced or target_interactions (got {given})"
        )
    if factors is not None:
        try:
            factors = tuple(factors)
        except TypeError:
            raise ParameterError(f"factors={factors!r} must be a pair (m', n')") from None
    if inner_factors is not None:
        return _expand_chain(
            data,
            inner_factors,
            factors=factors,
            keep=keep,
            reduced=reduced,
            target_interactions=target_interactions,
            seed=seed,
            scheduler=scheduler,
            force=force,
            options={
                "shuffle": shuffle,
                "window": window,
                "dropout": dropout,
                "test_policy": test_policy,
                "carry": carry,
                "chunk_size": chunk_size,
            },
            reduce_options=reduce_options,
        )
    split = _as_split(data, int(seed), scheduler, force)
    pre = dict(split.params)
    inner_levels = pre.pop("levels", None)  # the input is itself an expansion
    meta: dict[str, Any] = {"source": split.source, "preprocess": pre}
    if keep is not None:
        if reduce_options:
            raise ParameterError(
                f"options {sorted(reduce_options)} apply to R̂ and cannot go with keep="
            )
        try:
            keep = np.array(keep, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as e:
            raise ParameterError(f"keep must be an array of probabilities: {e}") from None
        if keep.ndim != 2 or keep.size == 0:
            raise ParameterError(f"keep must be a non-empty 2-D array, got shape {keep.shape}")
        if not np.all(np.isfinite(keep)) or keep.min() < 0 or keep.max() > 1:
            raise ParameterError("keep probabilities must be finite and inside [0, 1]")
        meta["reduced"] = {"explicit_keep": True, "keep": keep.tolist()}
    else:
        from .reduction import reduce as _reduce
        from .reduction import solve_factors

        if reduced is None and target_interactions is not None:
            reduced = solve_factors(
                split.train,
                target_interactions,
                seed=int(seed),
                test_nnz=split.test.nnz,
                **reduce_options,
            )
        elif reduced is None:
            reduced = _reduce(split.train, factors, seed=int(seed), **reduce_options)
        elif reduce_options:
            raise ParameterError(f"options {sorted(reduce_options)} cannot go with reduced=")
        keep = np.array(reduced.keep, dtype=np.float64, copy=True)
        meta["reduced"] = reduced.to_dict()
    src = split.signed()
    if carry == "auto":
        carry_t = tuple(c for c in CARRY_NAMES if getattr(src, c) is not None)
    else:
        carry_t = tuple([carry] if isinstance(carry, str) else carry)
        for c in carry_t:
            if c not in CARRY_NAMES:
                raise ParameterError(f"carry={c!r} is not one of {', '.join(CARRY_NAMES)}")
            if getattr(src, c) is None:
                raise ParameterError(f"carry={c!r}: the input {split.source} has no {c}")
    m, n = src.shape
    checksum = _checksum(src)
    # values that are not carried never reach a task: keep them out of the plan (and of the
    # graph every worker receives: 240 MB for ML-20M's ratings and timestamps)
    src = dataclasses.replace(src, **{name: None for name in CARRY_NAMES if name not in carry_t})
    meta["input_sha256"] = checksum
    meta["input_shape"] = [m, n]
    meta["input_train"] = int(split.train.nnz)
    meta["input_test"] = int(split.test.nnz)
    token_src = json.dumps(
        [checksum, keep.tolist(), int(seed), shuffle, int(window), dropout, test_policy],
    )
    plan = _Plan(
        src=src,
        keep=keep,
        seed=int(seed),
        shuffle=shuffle,
        window=int(window),
        dropout=dropout,
        test_policy=test_policy,
        carry=carry_t,
        token=hashlib.sha256(token_src.encode()).hexdigest()[:16],
        row_degree=np.diff(src.indptr).astype(np.int64),
        col_degree=np.bincount(src.indices, minlength=n).astype(np.int64),
    )
    ex = Expansion(plan, chunk_size=int(chunk_size), meta=meta)
    if inner_levels:
        # the whole chain, outermost first, so that the store describes (and can rebuild) it
        meta["levels"] = [
            ex.level_record(),
            *({**rec, "level": int(rec["level"]) + 1} for rec in inner_levels),
        ]
    return ex


def _expand_chain(
    data: Any,
    inner_factors: Any,
    *,
    factors: tuple[int, int] | None,
    keep: np.ndarray | None,
    reduced: Any,
    target_interactions: float | None,
    seed: int,
    scheduler: Any,
    force: bool,
    options: dict[str, Any],
    reduce_options: dict[str, Any],
) -> Expansion:
    """``expand(..., inner_factors=...)``: the inner levels now, the outermost one lazily."""
    from .multilevel import R_HAT_OPTIONS, build_intermediate, check_inner_factors, level_seed

    if reduced is not None:
        raise ParameterError(
            "reduced= cannot go with inner_factors: R̂₁ is reduced from the intermediate, "
            "which does not exist yet (give factors=, keep= or target_interactions=)"
        )
    pairs = check_inner_factors(inner_factors)
    split = _as_split(data, int(seed), scheduler)
    inner_opts = {k: v for k, v in reduce_options.items() if k in R_HAT_OPTIONS}
    inter = build_intermediate(
        split, pairs, seed=seed, scheduler=scheduler, force=force, **options, **inner_opts
    )
    del split
    ex = expand(
        inter,
        factors,
        keep=keep,
        target_interactions=target_interactions,
        seed=level_seed(seed, 1),
        **options,
        **({} if keep is not None else reduce_options),
    )
    ex.meta["chain_seed"] = int(seed)
    return ex


#: errno of an OSError that means "the output cannot be written" (not bad input data)
_OUTPUT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
)

__all__ = ["ExpandedData", "Expansion", "expand", "generate"]
