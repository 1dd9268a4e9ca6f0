"""The lazy expansion object: :class:`Expansion` (what :func:`daskfractal.expand` returns)
and :class:`ExpandedData` (an expansion computed in memory)."""

from __future__ import annotations

import errno
import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dask
import numpy as np
import scipy.sparse as sp

from .._checks import as_int
from .._dask import run, worker_memory_limit
from .._preflight import (
    MAX_TASKS,
    check_disk,
    check_memory,
    check_tasks,
    disk_usage,
    store_bytes,
    task_bytes,
)
from ..errors import DaskFractalError, OutputError
from ..kernels.dropout import FLOYD_BASE
from ..kernels.sampling import SKIP_MAX_P
from ..preprocess import SplitData
from ._materialize import materialize
from ._plan import Plan, count_task, generate
from ._write import work_dir, write_store

if TYPE_CHECKING:
    from ..store import ExpansionStore, ExportStore


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

    def __init__(self, plan: Plan, *, chunk_size: int, meta: dict) -> None:
        self._plan = plan
        self.chunk_size = int(chunk_size)
        self.meta = meta

    @property
    def plan(self) -> Plan:
        """What every task receives (input, R̂, options): the writer's view of the expansion."""
        return self._plan

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
            # how carried timestamps are laid out (no effect without timestamps)
            "timeline": p.timeline,
            # shared: one row permutation per block row (stores of 0.4 and earlier: per-block)
            "rows": p.rows,
            # shared rows, joint dropout: groups of block columns with one real user each
            "row_groups": p.row_groups,
            # the Bernoulli dropout's algorithm (geometric skips below this keep
            # probability, kernels/sampling.py): stores of earlier versions have no such key
            "bernoulli_skip_below": SKIP_MAX_P,
            # the exact / balanced rows keeping k of d use Floyd's sampling when
            # k·(base + k) <= 2·d (kernels/dropout.py); stores of format 1 have no such key
            "exact_floyd_base": FLOYD_BASE,
            **self.meta,
        }

    def expected(self) -> dict:
        """Expected output sizes: Σ keep × nnz for train and for test (before survivor rules)."""
        src = self._plan.src
        n_train = int((src.sign > 0).sum())
        n_test = src.nnz - n_train
        s = float(self.keep.sum())
        test = s * n_test
        if self._plan.dropout == "joint":
            # a synthetic user copies the test entries of its row in one block of its row
            test = float(n_test * np.count_nonzero(self.keep.sum(axis=1) > 0))
        return {
            "users_max": self.n_slots,
            "items": self.n_items,
            "train": s * n_train,
            "test": test,
        }

    def tasks(self) -> list[tuple[int, int, int]]:
        """The count (and compute) tasks ``(i, t0, t1)``: slot ranges sized by ``chunk_size``."""
        p = self._plan
        mean_deg = max(p.src.nnz / max(p.m, 1), 1e-12)
        out: list[tuple[int, int, int]] = []
        for i in range(p.factors[0]):
            per_row = mean_deg * float(p.keep[i].sum())  # expected kept entries per slot
            rows = p.m if per_row <= 0 else int(max(1, min(p.m, self.chunk_size // per_row)))
            out.extend((i, t0, min(t0 + rows, p.m)) for t0 in range(0, p.m, rows))
        return out

    # -- execution ------------------------------------------------------------------------
    def to_delayed_counts(self) -> list:
        """Dask delayed counts per task (users, train, test): a cheap first look at sizes."""
        plan = dask.delayed(self._plan, pure=True)
        f = dask.delayed(count_task, pure=True)
        return [f(plan, *t) for t in self.tasks()]

    def count(self, *, scheduler: Any = None, progress: bool = False) -> dict:
        """Exact output counts (users, train, test) without writing anything.

        Runs the dropout and test-policy logic but stores nothing, so it is cheaper than a
        write; the numbers are those a write with the same seed produces.
        """

        parts = run(self.to_delayed_counts(), scheduler=scheduler, progress=progress)
        return {k: int(sum(c[k] for c in parts)) for k in ("users", "train", "test")}

    def compute(self, *, scheduler: Any = "sync") -> ExpandedData:
        """Compute the whole expansion in memory (for small inputs and tests).

        Returns
        -------
        ExpandedData
        """

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
        return materialize(self, scheduler=scheduler, progress=progress)

    def level_record(self) -> dict[str, Any]:
        """This expansion as one level of a chain: its options, R̂ and input checksum."""
        p = self.params
        rec: dict[str, Any] = {"level": 1}
        keys = ("factors", "seed", "shuffle", "window", "dropout", "test_policy", "carry")
        for key in (*keys, "timeline", "rows", "row_groups"):
            rec[key] = p[key]
        for key in ("reduced", "input_sha256", "input_shape", "input_train", "input_test"):
            rec[key] = self.meta.get(key)
        return rec

    def to_zarr(
        self, path: str | os.PathLike, *, force: bool = False, **kwargs: Any
    ) -> ExpansionStore:
        """Write the expansion as a Zarr v3 store; see :func:`daskfractal.write_store`.

        Parameters
        ----------
        path : path
            Directory of the store.
        force : bool, default False
            Start even when :meth:`preflight` refuses (estimated output over the free disk,
            a task's estimated memory over the memory limit, too many tasks).
        **kwargs
            :func:`daskfractal.write_store` options.

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
        return self._as_store(self._write(path, "zarr", force, kwargs))

    def to_parquet(
        self, path: str | os.PathLike, *, force: bool = False, **kwargs: Any
    ) -> ExpansionStore:
        """Write the expansion as Parquet data sets ``train/`` and ``test/``.

        See :meth:`to_zarr` for ``force`` and the errors, and
        :func:`daskfractal.write_store` for the options.
        """
        return self._as_store(self._write(path, "parquet", force, kwargs))

    def to_mlperf(
        self,
        path: str | os.PathLike,
        *,
        shards: int | None = None,
        force: bool = False,
        **kwargs: Any,
    ) -> ExportStore:
        """Write the MovieLens-1B (MLPerf ``ml-20mx16x32``) layout: ``.npz`` shards.

        ``trainx{m'}x{n'}_{k}.npz`` and ``testx{m'}x{n'}_{k}.npz`` for ``k < shards``, each
        holding ``arr_0``, an (N, 2) int64 array of (user, item) rows sorted by user then item
        (what ``np.load(f)["arr_0"]`` in the MLPerf NCF ``convert.py`` and PyTorch
        Geometric's ``MovieLens1B`` read); shards by contiguous user range, user ids
        contiguous. Carried ratings and timestamps are not written. See :meth:`to_zarr` for
        ``force`` and the errors, and :func:`daskfractal.write_store` for the options.

        Parameters
        ----------
        path : path
            Directory of the export.
        shards : int, optional
            Number of shards (default 16, like the reference; never more than the users).

        Returns
        -------
        ExportStore

        Examples
        --------
        >>> import tempfile, numpy as np, daskfractal as dfr
        >>> from daskfractal.testing import fat_tailed_interactions
        >>> split = dfr.preprocess(fat_tailed_interactions(60, 40, 6, seed=0))
        >>> ex = dfr.expand(split, keep=np.array([[0.9, 0.5]]), seed=0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     out = ex.to_mlperf(f"{tmp}/ml", shards=4, progress=False)
        ...     rows = np.load(f"{tmp}/ml/trainx1x2_0.npz")["arr_0"]
        >>> rows.dtype, rows.shape[1], len(out.files("train"))
        (dtype('int64'), 2, 4)
        """
        return self._as_export(self._write(path, "mlperf", force, {**kwargs, "shards": shards}))

    def to_meta_csv(
        self, path: str | os.PathLike, *, force: bool = False, **kwargs: Any
    ) -> ExportStore:
        """Write Meta generative-recommenders' fractal-expansion layout: CSV per block row.

        ``train/{m'}x{n'}_{i}.csv`` and ``test/…`` for each block row ``i`` of R̂, one line
        ``user,"item,item,…","rating,rating,…"`` per user with interactions in the split
        (ratings 1.0 when they are not carried; items in the user's chronological order when
        timestamps are carried, else ascending), plus ``{m'}x{n'}_users.csv`` (``i,lines``).
        See :meth:`to_zarr` for ``force`` and the errors, and
        :func:`daskfractal.write_store` for the options.

        Returns
        -------
        ExportStore

        Examples
        --------
        >>> import tempfile, numpy as np, daskfractal as dfr
        >>> from daskfractal.testing import fat_tailed_interactions
        >>> split = dfr.preprocess(fat_tailed_interactions(60, 40, 6, seed=0))
        >>> ex = dfr.expand(split, keep=np.array([[0.9, 0.5]]), seed=0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     out = ex.to_meta_csv(f"{tmp}/meta", progress=False)
        ...     first = open(f"{tmp}/meta/train/1x2_0.csv").readline()
        >>> first.split(",")[0], out.attrs["export"]["ratings"]
        ('0', 'ones')
        """
        return self._as_export(self._write(path, "meta-csv", force, kwargs))

    @staticmethod
    def _as_store(store: ExpansionStore | ExportStore) -> ExpansionStore:
        from ..store import ExpansionStore

        if not isinstance(store, ExpansionStore):  # pragma: no cover - zarr/parquet open so
            raise TypeError(f"expected an ExpansionStore, got {type(store).__name__}")
        return store

    @staticmethod
    def _as_export(store: ExpansionStore | ExportStore) -> ExportStore:
        from ..store import ExportStore

        if not isinstance(store, ExportStore):  # pragma: no cover - exports open so
            raise TypeError(f"expected an ExportStore, got {type(store).__name__}")
        return store

    def preflight(
        self,
        path: str | os.PathLike,
        *,
        format: str = "zarr",
        shard_size: int = 2**24,
        users_per_file: int | None = None,
        shards: int | None = None,
        scheduler: Any = None,
        reusable: float = 0,
        force: bool = False,
    ) -> dict:
        """Estimate what a write needs and refuse (:class:`ResourceError`) what cannot fit.

        Parameters
        ----------
        path : path
            Where the store goes (the free disk is measured there).
        format : {"zarr", "parquet", "mlperf", "meta-csv"}
        shard_size : int
            Entries per Zarr shard (one write task each); for the exports, the entries a
            task generates at a time.
        users_per_file : int, optional
            Users per Parquet file (default: about 2**24 interactions per file).
        shards : int, optional
            Shards of the ``mlperf`` export (default 16).
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
        # the estimates divide by these: refuse them here (write_store says the same)
        shard_size = as_int(shard_size, "shard_size", low=1)
        if users_per_file is not None:
            users_per_file = as_int(users_per_file, "users_per_file", low=1)
        exp = self.expected()
        carry = tuple(self.plan.carry)
        disk = store_bytes(
            train=exp["train"],
            test=exp["test"],
            n_slots=self.n_slots,
            n_items=self.n_items,
            carry=carry,
            format=format,
        )
        if format in ("mlperf", "meta-csv"):
            # one task per shard or block row, generating shard_size entries at a time
            entries = min(float(shard_size), exp["train"])
            n_write = self.factors[0] if format == "meta-csv" else (shards or 16)
            option = "shard_size (--shard-size)"
            least = math.ceil(exp["train"] / MAX_TASKS)
        elif format == "parquet":
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

    def _write(
        self,
        path: str | os.PathLike,
        format: Literal["zarr", "parquet", "mlperf", "meta-csv"],
        force: bool,
        kwargs: dict[str, Any],
    ) -> ExpansionStore | ExportStore:
        """Preflight, then :func:`~daskfractal.write_store` with output OS errors as
        :class:`OutputError` (the write boundary: the input is in memory by now)."""

        reusable = 0
        if kwargs.get("resume") or kwargs.get("overwrite"):
            reusable = disk_usage(path, work_dir(path))
        self.preflight(
            path,
            format=format,
            shard_size=kwargs.get("shard_size", 2**24),
            users_per_file=kwargs.get("users_per_file"),
            shards=kwargs.get("shards") if format == "mlperf" else None,
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


#: errno of an OSError that means "the output cannot be written" (not bad input data)
_OUTPUT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
)

__all__ = ["ExpandedData", "Expansion"]
