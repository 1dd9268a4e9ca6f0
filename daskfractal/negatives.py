"""Negative sampling for training and evaluation: :class:`NegativeSampler`.

Training examples of an epoch are every train positive ``(user, item, 1)`` followed by
``num_negatives`` negatives ``(user, item, 0)`` drawn from a target distribution (uniform,
item popularity ** alpha, or given weights) conditioned on not being one of the user's
positives. Every draw is a pure function of ``(seed, epoch, user, draw index)``, so the
result is the same whatever the chunking, threads or Dask scheduler. Evaluation negatives
(:meth:`NegativeSampler.test_negatives`) are ``k`` distinct uniform items per test user that
are neither train nor test positives (the NCF protocol).

The exact semantics (streams, shuffle windows, per-user paths) are in ``docs/negatives.md``;
the kernels are :mod:`daskfractal.kernels.alias`, their specification
:mod:`daskfractal.kernels.reference_alias`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._runner import add_cluster_options
from .errors import ParameterError, StoreError
from .kernels import alias as A
from .kernels.rng import as_seed

DISTRIBUTIONS = ("uniform", "popularity", "weights")
EXCLUDES = ("train", "train+test", "none")
OUTPUT_FORMAT_VERSION = 1
#: Root attribute (Zarr) / metadata file (Parquet) that marks a negatives output.
META_KEY = "daskfractal_negatives"
META_FILE = "_negatives.json"
SUCCESS_FILE = "_SUCCESS"

_DEFAULT_WINDOW = 2**20
_DEFAULT_TASK_ROWS = 2**22
_DEFAULT_TASK_ITEMS = 2**22
_INT32_LIMIT = 2**31


# --------------------------------------------------------------------------------------
# validation helpers


def _as_int(value: Any, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name} must be >= {minimum}, got {value}")
    return value


def _canonical_csr(matrix: Any, name: str, shape: tuple[int, int] | None = None) -> sp.csr_matrix:
    """A CSR copy with sorted, duplicate-free rows and no explicit zeros."""
    if not sp.issparse(matrix):
        raise ParameterError(f"{name} must be a scipy.sparse matrix, got {type(matrix).__name__}")
    csr = sp.csr_matrix(matrix, copy=True)
    if shape is not None and csr.shape != shape:
        raise ParameterError(f"{name} has shape {csr.shape}, expected {shape}")
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.sort_indices()
    dtype = np.int32 if csr.shape[1] < _INT32_LIMIT else np.int64
    return sp.csr_matrix(
        (csr.data, csr.indices.astype(dtype), csr.indptr.astype(np.int64)), shape=csr.shape
    )


# --------------------------------------------------------------------------------------
# sources: where the positives come from


class _CsrSource:
    """In-memory train (and optional test) positives."""

    def __init__(self, train: Any, test: Any | None = None) -> None:
        self.train = _canonical_csr(train, "train matrix")
        self.n_users, self.n_items = self.train.shape
        self.test = None if test is None else _canonical_csr(test, "test matrix", self.train.shape)
        self.index_dtype = self.train.indices.dtype

    def describe(self) -> str:
        return f"in-memory CSR {self.n_users} x {self.n_items}"

    def indptr(self, split: str) -> np.ndarray:
        if split == "test" and self.test is None:
            return np.zeros(self.n_users + 1, np.int64)
        return (self.train if split == "train" else self.test).indptr

    def rows(self, u0: int, u1: int, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[u0, u1)`` as ``(ptr int64 from 0, indices)``, canonical."""
        m = self.train if split == "train" else self.test
        if m is None:
            return np.zeros(u1 - u0 + 1, np.int64), np.empty(0, self.index_dtype)
        ptr = m.indptr[u0 : u1 + 1]
        return ptr - ptr[0], m.indices[ptr[0] : ptr[-1]]

    def item_train_degree(self) -> np.ndarray:
        return np.bincount(self.train.indices, minlength=self.n_items).astype(np.int64)


class _StoreSource:
    """An expansion store, reopened lazily (pickles as its path)."""

    def __init__(self, store: Any) -> None:
        self.path = Path(store.path)
        self._store = store
        self.n_users = int(store.n_users)
        self.n_items = int(store.n_items)
        self.index_dtype = np.dtype(store.layout.index_np_dtype)
        self._indptr: dict[str, np.ndarray] = {}
        self._indices: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from .store import open_store

        self.__init__(open_store(state["path"]))

    def describe(self) -> str:
        return str(self.path)

    def indptr(self, split: str) -> np.ndarray:
        ptr = self._indptr.get(split)
        if ptr is None:
            try:
                ptr = np.asarray(self._store.indptr(split), dtype=np.int64)
            except StoreError:  # Parquet stores may not keep indptr: rebuild from degrees
                if self._store.format == "zarr":
                    raise  # a Zarr store always has it: it is damaged
                deg = self._store.stats()[f"user_{split}_degree"].astype(np.int64)
                ptr = np.concatenate([[0], np.cumsum(deg)]).astype(np.int64)
            if ptr.shape != (self.n_users + 1,) or ptr[-1] != self._store.nnz[split]:
                raise StoreError(f"{self.path}: {split}/indptr is inconsistent with the store")
            with self._lock:
                self._indptr[split] = ptr
        return ptr

    def rows(self, u0: int, u1: int, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[u0, u1)`` as stored: ``(ptr int64 from 0, indices)``.

        Zarr stores: one read of the element range of ``{split}/indices`` (the row pointer
        is cached); Parquet stores: :meth:`ExpansionStore.user_block`.
        """
        expect = self.indptr(split)
        a, b = int(expect[u0]), int(expect[u1])
        if self._store.format == "zarr":
            ptr = expect[u0 : u1 + 1] - a
            if b == a:
                return ptr, np.empty(0, self.index_dtype)
            arr = self._indices.get(split)
            if arr is None:
                from .store._reader import open_checked_array  # damaged chunks: StoreError

                arr = open_checked_array(self.path, f"{split}/indices")
                self._indices[split] = arr
            ind = np.asarray(arr[a:b]).astype(self.index_dtype, copy=False)
            return ptr, ind
        csr = self._store.user_block(u0, u1, split, values="ones")
        ptr = np.asarray(csr.indptr, dtype=np.int64)
        ind = np.asarray(csr.indices).astype(self.index_dtype, copy=False)
        if ptr[-1] != b - a:
            raise StoreError(f"{self.path}: rows [{u0}, {u1}) of {split} are inconsistent")
        return ptr, ind

    def item_train_degree(self) -> np.ndarray:
        return np.asarray(self._store.stats()["item_train_degree"], dtype=np.int64)


def _make_source(store_or_csr: Any) -> _CsrSource | _StoreSource:
    from .store import ExpansionStore, open_store

    if isinstance(store_or_csr, ExpansionStore):
        return _StoreSource(store_or_csr)
    if isinstance(store_or_csr, str | os.PathLike):
        return _StoreSource(open_store(store_or_csr))
    if sp.issparse(store_or_csr):
        return _CsrSource(store_or_csr)
    if isinstance(store_or_csr, tuple) and len(store_or_csr) == 2:
        return _CsrSource(*store_or_csr)
    raise ParameterError(
        "store_or_csr must be an ExpansionStore, a store path, a scipy.sparse train matrix or "
        f"a (train, test) pair of them, got {type(store_or_csr).__name__}"
    )


def _canonical_rows(ptr: np.ndarray, ind: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, duplicate-free version of the rows (a no-op check for canonical input)."""
    if A.rows_canonical_kernel(ptr, ind, n):
        return ptr, ind
    if ind.size and (ind.min() < 0 or ind.max() >= n):
        raise StoreError(f"item ids outside [0, {n}) in the positives")
    csr = sp.csr_matrix((np.ones(ind.shape[0], np.int8), ind, ptr), shape=(ptr.shape[0] - 1, n))
    csr.sum_duplicates()
    csr.sort_indices()
    return csr.indptr.astype(np.int64), csr.indices.astype(ind.dtype, copy=False)


# --------------------------------------------------------------------------------------
# the sampler


class NegativeSampler:
    """Deterministic negative sampling with alias tables, excluding each user's positives.

    Parameters
    ----------
    store_or_csr : ExpansionStore, str, path-like, scipy.sparse matrix or (train, test) pair
        Where the positives come from: an expansion store (or its path), or in-memory
        ``(n_users, n_items)`` sparse matrices. The stored entries of a row are the user's
        positives (explicit zeros are dropped, duplicates merged for exclusion).
    num_negatives : int, default 4
        Negatives per train positive in an epoch (>= 0).
    distribution : {"uniform", "popularity", "weights"}, default "uniform"
        Target distribution of the negatives. "popularity": ``item_train_degree ** alpha``
        for items with a train interaction, 0 for the others. Passing ``weights`` selects
        "weights".
    alpha : float, default 0.75
        Exponent of the popularity distribution (must be finite; ignored otherwise).
    weights : array-like of float, shape (n_items,), optional
        Non-negative, finite item weights with a positive sum: the target is
        ``weights / weights.sum()``.
    exclude : {"train", "train+test", "none"}, default "train"
        Which positives a training negative can never be ("none": plain draws, positives
        included).
    seed : int, default 0
        Any integer (taken modulo 2**64).
    shuffle_window : int, keyword-only, default 2**20
        Rows of the shuffle unit of :meth:`epoch` (memory of the shuffle: about 34 bytes a
        row). Part of the definition of an epoch's order.

    Attributes
    ----------
    n_users, n_items : int
    num_negatives : int
    distribution : str
    alpha : float
    exclude : str
    seed : int
    shuffle_window : int
    item_dtype : numpy.dtype
        int32 when ``n_items < 2**31``, else int64.

    Raises
    ------
    ParameterError
        For any invalid parameter (the message names it).

    Notes
    -----
    Negative number ``t`` of user ``u`` in epoch ``e`` is a pure function of
    ``(seed, e, u, t)``; in an epoch the negatives of the ``p``-th positive of a user (in
    item order) are ``t = p * num_negatives ... p * num_negatives + num_negatives - 1``.
    Sampling is exact: the target conditioned on not being excluded (rejection of alias
    draws for typical users, an explicit complement for users that exclude most of the
    mass, the ``r``-th available item for the uniform distribution).

    Examples
    --------
    >>> sampler = NegativeSampler(daskfractal.open("out.zarr"), num_negatives=4,
    ...                           distribution="popularity", seed=1)      # doctest: +SKIP
    >>> for users, items, labels in sampler.epoch(0, batch_size=65536):  # doctest: +SKIP
    ...     train_step(users, items, labels)
    """

    def __init__(
        self,
        store_or_csr: Any,
        num_negatives: int = 4,
        distribution: str = "uniform",
        alpha: float = 0.75,
        weights: Any = None,
        exclude: str = "train",
        seed: int = 0,
        *,
        shuffle_window: int = _DEFAULT_WINDOW,
    ) -> None:
        self.num_negatives = _as_int(num_negatives, "num_negatives", minimum=0)
        if distribution not in DISTRIBUTIONS:
            raise ParameterError(
                f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}"
            )
        if weights is not None and distribution == "popularity":
            raise ParameterError("give distribution='popularity' or weights, not both")
        if weights is None and distribution == "weights":
            raise ParameterError("distribution='weights' needs the weights argument")
        self.distribution = "weights" if weights is not None else distribution
        try:
            self.alpha = float(alpha)
        except (TypeError, ValueError) as e:
            raise ParameterError(f"alpha must be a finite number, got {alpha!r}") from e
        if not math.isfinite(self.alpha):
            raise ParameterError(f"alpha must be a finite number, got {alpha!r}")
        if exclude not in EXCLUDES:
            raise ParameterError(f"exclude must be one of {EXCLUDES}, got {exclude!r}")
        self.exclude = exclude
        try:
            self._seed = as_seed(seed)
        except TypeError as e:
            raise ParameterError(f"seed must be an integer, got {seed!r}") from e
        self.seed = int(seed)
        self.shuffle_window = _as_int(shuffle_window, "shuffle_window", minimum=1)
        self._src = _make_source(store_or_csr)
        self.n_users = self._src.n_users
        self.n_items = self._src.n_items
        self.item_dtype = np.dtype(np.int32 if self.n_items < _INT32_LIMIT else np.int64)
        self._user_weights = None if weights is None else self._check_weights(weights)
        self._switch = A.DEFAULT_SWITCH
        self._tables: tuple[np.ndarray, np.ndarray, float, int, float] | None = None
        self._tables_lock = threading.Lock()
        if self.distribution != "uniform":
            self._get_tables()  # validate now (popularity of an empty train, ...)

    # ----------------------------------------------------------------------- internals
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_tables_lock")
        if self._user_weights is None:
            state["_tables"] = None  # rebuilt from the store on the worker, O(n_items)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tables_lock = threading.Lock()

    def __dask_tokenize__(self) -> str:
        return f"NegativeSampler-{id(self)}-{self.seed}"

    def __repr__(self) -> str:
        return (
            f"NegativeSampler({self._src.describe()!r}, num_negatives={self.num_negatives}, "
            f"distribution={self.distribution!r}, alpha={self.alpha}, exclude={self.exclude!r}, "
            f"seed={self.seed}, shuffle_window={self.shuffle_window})"
        )

    def _check_weights(self, weights: Any) -> np.ndarray:
        try:
            w = np.array(weights, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ParameterError(f"weights must be an array of numbers: {e}") from e
        if w.shape != (self.n_items,):
            raise ParameterError(
                f"weights must have shape ({self.n_items},) (one per item), got {w.shape}"
            )
        if not np.all(np.isfinite(w)):
            raise ParameterError("weights must be finite (found NaN or inf)")
        if np.any(w < 0):
            raise ParameterError(f"weights must be >= 0, got a minimum of {w.min()}")
        if not w.sum() > 0:
            raise ParameterError("weights must not be all zero")
        return w

    def _target_weights(self) -> np.ndarray:
        if self._user_weights is not None:
            return self._user_weights
        deg = self._src.item_train_degree()
        if deg.shape != (self.n_items,):
            raise StoreError("item_train_degree does not have one entry per item")
        w = np.zeros(self.n_items, np.float64)
        seen = deg > 0
        if not seen.any():
            raise ParameterError(
                "distribution='popularity' needs train interactions: every item has degree 0"
            )
        with np.errstate(over="ignore"):
            w[seen] = deg[seen].astype(np.float64) ** self.alpha
        if not np.all(np.isfinite(w)) or not np.isfinite(w.sum()) or not w.sum() > 0:
            raise ParameterError(
                f"alpha={self.alpha} makes degree ** alpha overflow or vanish"
                "; use a smaller |alpha|"
            )
        return w

    def _get_tables(self) -> tuple[np.ndarray, np.ndarray, float, int, float]:
        """``(weights, alias table, total, n_pos, wmax)``; empty arrays for uniform."""
        tables = self._tables
        if tables is None:
            with self._tables_lock:
                tables = self._tables
                if tables is None:
                    if self.distribution == "uniform":
                        tables = (np.empty(0), np.empty((0, 2)), 0.0, self.n_items, 0.0)
                    else:
                        w = self._target_weights()
                        table, total = A.build_alias_kernel(w)
                        if not math.isfinite(total):
                            raise ParameterError("the weights' sum overflows float64")
                        tables = (
                            w,
                            table,
                            float(total),
                            int(np.count_nonzero(w > 0)),
                            float(w.max()),
                        )
                    self._tables = tables
        return tables

    @property
    def _kind(self) -> int:
        return A.KIND_UNIFORM if self.distribution == "uniform" else A.KIND_TABLE

    def _indptr(self) -> np.ndarray:
        return self._src.indptr("train")

    def _exclusion_rows(
        self, u0: int, u1: int, train: tuple[np.ndarray, np.ndarray] | None, mode: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Canonical exclusion rows of users ``[u0, u1)`` for ``mode`` (an ``exclude`` value)."""
        if mode == "none":
            return np.zeros(u1 - u0 + 1, np.int64), np.empty(0, self._src.index_dtype)
        if train is None:
            train = self._src.rows(u0, u1, "train")
        xptr, xind = _canonical_rows(*train, self.n_items)
        if mode == "train+test":
            tptr, tind = _canonical_rows(*self._src.rows(u0, u1, "test"), self.n_items)
            xptr, xind = A.union_rows_kernel(xptr, xind, tptr, tind.astype(xind.dtype))
        return xptr, xind

    def _empty_user_error(self, user: int, what: str) -> ParameterError:
        if self.distribution == "uniform":
            why = "every item is one of its positives"
        else:
            why = "every item with positive weight is one of its positives"
        return ParameterError(
            f"exclude={self.exclude!r}: user {user} needs {what} but has no item left to "
            f"sample ({why}); use exclude='none', other weights, or drop the user"
        )

    def _check_users(self, users: Any) -> np.ndarray:
        arr = np.asarray(users)
        if arr.ndim == 0:
            arr = arr[None]
        if arr.ndim != 1:
            raise ParameterError(f"users must be 1-D, got shape {arr.shape}")
        if arr.size == 0:
            return arr.astype(np.int64)
        if arr.dtype.kind not in "iu":
            raise ParameterError(f"users must be integer ids, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if arr.min() < 0 or arr.max() >= self.n_users:
            raise ParameterError(
                f"users must lie in [0, {self.n_users}), got {arr.min()}..{arr.max()}"
            )
        return arr

    def _rows_for(self, users: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the sorted unique ``users`` (reads runs of close users together)."""
        ptrs, inds = [np.zeros(1, np.int64)], []
        offset = 0
        cuts = np.flatnonzero(np.diff(users) > 4096) + 1
        for run in np.split(users, cuts):
            if run.size == 0:
                continue
            ptr, ind = self._src.rows(int(run[0]), int(run[-1]) + 1, split)
            local = run - run[0]
            starts, stops = ptr[local], ptr[local + 1]
            lens = stops - starts
            take = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
            take += np.arange(take.shape[0])
            inds.append(ind[take])
            ptrs.append(offset + np.cumsum(lens))
            offset += int(lens.sum())
        ind = np.concatenate(inds) if inds else np.empty(0, self._src.index_dtype)
        return np.concatenate(ptrs).astype(np.int64), ind

    # ----------------------------------------------------------------------- public
    @property
    def n_examples(self) -> int:
        """Rows of an epoch: ``nnz_train * (1 + num_negatives)``."""
        return int(self._indptr()[-1]) * (self.num_negatives + 1)

    def n_batches(self, batch_size: int, drop_last: bool = False) -> int:
        """Number of batches :meth:`epoch` yields for ``batch_size``."""
        batch_size = _as_int(batch_size, "batch_size", minimum=1)
        n = self.n_examples
        return n // batch_size if drop_last else -(-n // batch_size)

    def probabilities(self) -> np.ndarray:
        """The target distribution before exclusion: float64 array (n_items,), sums to 1."""
        if self.distribution == "uniform":
            return np.full(self.n_items, 1.0 / self.n_items) if self.n_items else np.empty(0)
        w = self._get_tables()[0]
        return w / w.sum()

    def sample(self, users: Any, n: int | None = None, epoch: int = 0) -> np.ndarray:
        """``n`` training negatives for each entry of ``users``.

        The ``q``-th occurrence of a user in ``users`` gets its epoch negatives
        ``t = q * n ... q * n + n - 1``: so ``sample(np.repeat(np.arange(U), degrees),
        num_negatives, e)`` are exactly the negatives of epoch ``e`` (row ``p`` of a user:
        the negatives of its ``p``-th positive), and two occurrences never share draws.

        Parameters
        ----------
        users : array-like of int, shape (B,)
            User ids in ``[0, n_users)``, any order, repeats allowed.
        n : int, optional
            Negatives per entry (default ``num_negatives``).
        epoch : int, default 0

        Returns
        -------
        numpy.ndarray, shape (B, n), dtype ``item_dtype``

        Raises
        ------
        ParameterError
            Bad ``users``/``n``/``epoch``, or a user with no item left to sample.
        """
        n = self.num_negatives if n is None else _as_int(n, "n", minimum=0)
        epoch = _as_int(epoch, "epoch")
        users = self._check_users(users)
        out = np.empty((users.shape[0], n), self.item_dtype)
        if users.size == 0 or n == 0:
            return out
        order = np.argsort(users, kind="stable")
        sorted_users = users[order]
        uniq, counts = np.unique(sorted_users, return_counts=True)
        indptr = self._indptr()
        deg = indptr[uniq + 1] - indptr[uniq]
        need = np.maximum(deg * self.num_negatives, 1).astype(np.int64)
        if self.exclude == "none":
            xptr, xind = np.zeros(uniq.shape[0] + 1, np.int64), np.empty(0, self.item_dtype)
        else:
            xptr, xind = _canonical_rows(*self._rows_for(uniq, "train"), self.n_items)
            if self.exclude == "train+test":
                tptr, tind = _canonical_rows(*self._rows_for(uniq, "test"), self.n_items)
                xptr, xind = A.union_rows_kernel(xptr, xind, tptr, tind.astype(xind.dtype))
        flat = np.empty(users.shape[0] * n, self.item_dtype)
        t1 = (counts * n).astype(np.int64)
        w, table, total, n_pos, wmax = self._get_tables()
        status = A.sample_kernel(
            self._seed,
            epoch,
            uniq,
            xptr,
            xind,
            need,
            np.zeros_like(t1),
            t1,
            flat,
            self._kind,
            self.n_items,
            w,
            table,
            total,
            n_pos,
            wmax,
            self._switch,
        )
        if status >= 0:
            raise self._empty_user_error(int(uniq[status]), "negatives")
        # flat holds user after user, occurrence after occurrence: row j <-> sorted entry j
        out[order] = flat.reshape(-1, n)
        return out

    def epoch_negatives(self, u0: int, u1: int, epoch: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The negatives of users ``[u0, u1)`` in ``epoch``, as CSR rows.

        Row ``i`` (user ``u0 + i``) holds ``num_negatives * degree`` items: the negatives of
        its ``p``-th positive are ``items[indptr[i] + p * num_negatives + s]``. Memory is
        O(rows read + negatives returned); different user ranges can run in parallel
        threads (the kernel releases the GIL).

        Returns
        -------
        indptr : numpy.ndarray of int64, shape (u1 - u0 + 1,)
        items : numpy.ndarray of ``item_dtype``, shape (indptr[-1],)
        """
        u0, u1 = _as_int(u0, "u0", 0), _as_int(u1, "u1", 0)
        if not u0 <= u1 <= self.n_users:
            raise ParameterError(f"user range [{u0}, {u1}) is not within [0, {self.n_users}]")
        epoch = _as_int(epoch, "epoch")
        k = self.num_negatives
        ip = self._indptr()
        deg = np.diff(ip[u0 : u1 + 1])
        t1 = deg * k
        ptr = np.concatenate([[0], np.cumsum(t1)]).astype(np.int64)
        out = np.empty(int(ptr[-1]), self.item_dtype)
        if out.size == 0:
            return ptr, out
        xptr, xind = self._exclusion_rows(u0, u1, None, self.exclude)
        w, table, total, n_pos, wmax = self._get_tables()
        users = np.arange(u0, u1, dtype=np.int64)
        status = A.sample_kernel(
            self._seed,
            epoch,
            users,
            xptr,
            xind,
            np.maximum(t1, 1),
            np.zeros_like(t1),
            t1,
            out,
            self._kind,
            self.n_items,
            w,
            table,
            total,
            n_pos,
            wmax,
            self._switch,
        )
        if status >= 0:
            raise self._empty_user_error(u0 + int(status), "negatives")
        return ptr, out

    def examples(self, u0: int, u1: int, epoch: int = 0) -> tuple[np.ndarray, ...]:
        """The unshuffled examples of users ``[u0, u1)`` in ``epoch``.

        User after user; for each positive (stored order) the row ``(user, item, 1)``
        then its ``num_negatives`` rows ``(user, negative, 0)``.

        Returns
        -------
        users : numpy.ndarray of int64, shape (R,)
        items : numpy.ndarray of ``item_dtype``, shape (R,)
        labels : numpy.ndarray of int8, shape (R,)
            ``R = (indptr[u1] - indptr[u0]) * (1 + num_negatives)``.
        """
        u0, u1 = _as_int(u0, "u0", 0), _as_int(u1, "u1", 0)
        if not u0 <= u1 <= self.n_users:
            raise ParameterError(f"user range [{u0}, {u1}) is not within [0, {self.n_users}]")
        kp1 = self.num_negatives + 1
        indptr = self._indptr()
        return self._rows(int(indptr[u0]) * kp1, int(indptr[u1]) * kp1, _as_int(epoch, "epoch"))

    def _rows(self, r0: int, r1: int, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unshuffled epoch rows ``[r0, r1)``."""
        size = r1 - r0
        users = np.empty(size, np.int64)
        items = np.empty(size, self.item_dtype)
        labels = np.empty(size, np.int8)
        if size <= 0:
            return users, items, labels
        kp1 = self.num_negatives + 1
        indptr = self._indptr()
        ua = int(np.searchsorted(indptr, r0 // kp1, side="right")) - 1
        ub = int(np.searchsorted(indptr, (r1 - 1) // kp1, side="right"))
        train = self._src.rows(ua, ub, "train")
        mode = self.exclude if self.num_negatives > 0 else "none"
        xptr, xind = self._exclusion_rows(ua, ub, train, mode)
        w, table, total, n_pos, wmax = self._get_tables()
        status = A.window_rows_kernel(
            r0,
            r1,
            self.num_negatives,
            self._seed,
            epoch,
            ua,
            int(indptr[ua]),
            train[0],
            train[1],
            xptr,
            xind,
            self._kind,
            self.n_items,
            w,
            table,
            total,
            n_pos,
            wmax,
            self._switch,
            users,
            items,
            labels,
        )
        if status >= 0:
            raise self._empty_user_error(ua + status, "negatives")
        return users, items, labels

    def windows(self, epoch: int = 0) -> list[tuple[int, int, int]]:
        """The shuffle windows of ``epoch`` in stream order: ``(window, r0, r1)``.

        Window ``w`` is rows ``[w * shuffle_window, ...)`` of the unshuffled stream (all
        users in order, see :meth:`examples`). The full windows come in the order of a
        Fisher-Yates permutation drawn from ``(seed, epoch)``; the partial last window, if
        any, comes last.
        """
        epoch = _as_int(epoch, "epoch")
        n_rows, size = self.n_examples, self.shuffle_window
        n_full = n_rows // size
        order = A.fisher_yates_kernel(n_full, self._seed, A.STREAM_NEG_ORDER, epoch, 0)
        out = [(int(w), int(w) * size, (int(w) + 1) * size) for w in order]
        if n_rows % size:
            out.append((n_full, n_full * size, n_rows))
        return out

    def window(self, epoch: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shuffle window ``w`` of ``epoch``: ``(users int64, items, labels int8)``.

        Rows ``[w * shuffle_window, ...)`` of the unshuffled stream, permuted by a
        Fisher-Yates permutation drawn from ``(seed, epoch, w)``.
        """
        epoch, w = _as_int(epoch, "epoch"), _as_int(w, "window", 0)
        r0 = w * self.shuffle_window
        r1 = min(r0 + self.shuffle_window, self.n_examples)
        if r0 >= r1:
            raise ParameterError(f"window {w} is out of range for {self.n_examples} rows")
        users, items, labels = self._rows(r0, r1, epoch)
        out = (np.empty_like(users), np.empty_like(items), np.empty_like(labels))
        A.shuffle_rows_kernel(self._seed, epoch, w, users, items, labels, *out)
        return out

    def epoch(
        self, e: int = 0, batch_size: int = 65536, *, drop_last: bool = False, prefetch: int = 1
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Shuffled batches of epoch ``e``: ``(users, items, labels)``.

        The epoch stream is the concatenation of the shuffle windows in the order of
        :meth:`windows`, each shuffled by :meth:`window`; it is cut into consecutive
        batches (batches cross window boundaries). Memory: about ``(2 + prefetch)`` windows
        plus one batch. Deterministic in ``(seed, e)`` and the parameters.

        Parameters
        ----------
        e : int, default 0
            Epoch number (any integer).
        batch_size : int, default 65536
        drop_last : bool, default False
            Drop the last, incomplete batch.
        prefetch : int, default 1
            Windows computed ahead in background threads (0: compute inline).

        Yields
        ------
        users : numpy.ndarray of int64, shape (B,)
        items : numpy.ndarray of ``item_dtype``, shape (B,)
        labels : numpy.ndarray of int8, shape (B,)
            1 for a positive, 0 for a negative. ``B = batch_size`` except for the last batch.
        """
        e = _as_int(e, "e")
        batch_size = _as_int(batch_size, "batch_size", minimum=1)
        prefetch = _as_int(prefetch, "prefetch", minimum=0)
        windows = self.windows(e)
        return self._batches(e, windows, batch_size, drop_last, prefetch)

    def _batches(
        self,
        e: int,
        windows: list[tuple[int, int, int]],
        batch_size: int,
        drop_last: bool,
        prefetch: int,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        carry: list[tuple[np.ndarray, ...]] = []
        n_carry = 0
        for arrays in self._window_iter(e, windows, prefetch):
            size = arrays[0].shape[0]
            start = 0
            if n_carry:
                take = min(batch_size - n_carry, size)
                carry.append(tuple(a[:take] for a in arrays))
                n_carry += take
                start = take
                if n_carry < batch_size:
                    continue
                yield tuple(np.concatenate([c[i] for c in carry]) for i in range(3))
                carry, n_carry = [], 0
            while size - start >= batch_size:
                yield tuple(a[start : start + batch_size] for a in arrays)
                start += batch_size
            if start < size:
                carry = [tuple(a[start:] for a in arrays)]
                n_carry = size - start
        if n_carry and not drop_last:
            yield tuple(np.concatenate([c[i] for c in carry]) for i in range(3))

    def _window_iter(
        self, e: int, windows: list[tuple[int, int, int]], prefetch: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if prefetch == 0:
            for w, _, _ in windows:
                yield self.window(e, w)
            return
        pool = concurrent.futures.ThreadPoolExecutor(prefetch, thread_name_prefix="negatives")
        try:
            pending: list[concurrent.futures.Future] = []
            it = iter(windows)
            for w, _, _ in it:
                pending.append(pool.submit(self.window, e, w))
                if len(pending) > prefetch:
                    break
            while pending:
                result = pending.pop(0).result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(self.window, e, nxt[0]))
                yield result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def user_negatives(self, user: int, epoch: int = 0) -> np.ndarray:
        """The negatives of ``user`` in ``epoch``, shape (degree, num_negatives).

        Row ``p`` holds the negatives paired with the user's ``p``-th train positive.
        """
        user = _as_int(user, "user", 0)
        if user >= self.n_users:
            raise ParameterError(f"user must lie in [0, {self.n_users}), got {user}")
        indptr = self._indptr()
        deg = int(indptr[user + 1] - indptr[user])
        return self.sample(np.full(deg, user, np.int64), self.num_negatives, epoch)

    def test_users(self) -> np.ndarray:
        """Users with at least one test interaction (int64, ascending)."""
        return np.flatnonzero(np.diff(self._src.indptr("test")) > 0).astype(np.int64)

    def test_negatives(self, k: int = 999, users: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``k`` evaluation negatives per test user: distinct, uniform, never a positive.

        For each user: a uniformly random ``k``-subset of the items that are neither train
        nor test positives of the user (whatever ``exclude`` and ``distribution`` say; the
        NCF protocol), drawn by Floyd's algorithm from ``(seed, user)`` only (not the
        epoch), returned in increasing item order.

        Parameters
        ----------
        k : int, default 999
        users : array-like of int, optional
            Users to draw for (default: :meth:`test_users`). The result is the same whatever
            users are asked together; for stores too big for ``T x k`` items in memory, ask
            in groups or use ``to_zarr(..., test_negatives=k)``.

        Returns
        -------
        users : numpy.ndarray of int64, shape (T,)
        items : numpy.ndarray of ``item_dtype``, shape (T, k)

        Raises
        ------
        ParameterError
            If ``k`` is negative or a user has fewer than ``k`` items that are not positives
            (the message names the user and how many are left).
        """
        k = _as_int(k, "k", minimum=0)
        users = self.test_users() if users is None else self._check_users(users)
        out = np.empty((users.shape[0], k), self.item_dtype)
        if users.size == 0:
            return users, out
        if k > self.n_items:
            raise ParameterError(f"k={k} exceeds the number of items ({self.n_items})")
        uniq, inverse = np.unique(users, return_inverse=True)
        xptr, xind = _canonical_rows(*self._rows_for(uniq, "train"), self.n_items)
        tptr, tind = _canonical_rows(*self._rows_for(uniq, "test"), self.n_items)
        xptr, xind = A.union_rows_kernel(xptr, xind, tptr, tind.astype(xind.dtype))
        res = np.empty((uniq.shape[0], k), self.item_dtype)
        status = A.eval_negatives_kernel(self._seed, uniq, xptr, xind, self.n_items, k, res)
        if status >= 0:
            u = int(uniq[status])
            left = self.n_items - int(xptr[status + 1] - xptr[status])
            raise ParameterError(
                f"k={k}: user {u} has only {left} items that are neither train nor test "
                "positives; lower k or drop the user"
            )
        out[:] = res[inverse.reshape(-1)]
        return users, out

    # ----------------------------------------------------------------------- writers
    def to_zarr(
        self,
        path: str | os.PathLike[str],
        epochs: int | Iterable[int] = 0,
        *,
        test_negatives: int | None = None,
        rows_per_task: int | None = None,
        chunk_rows: int | None = None,
        overwrite: bool = False,
        scheduler: Any = None,
        progress: bool = True,
    ) -> NegativesStore:
        """Write epochs (and test negatives) to a Zarr v3 group, one Dask task per shard.

        Layout: ``epoch-<e>/users`` (int64), ``epoch-<e>/items`` (``item_dtype``),
        ``epoch-<e>/labels`` (int8), all of length ``n_examples`` in the order
        :meth:`epoch` yields; ``test/users`` (int64, (T,)), ``test/items`` ((T, k)); root
        attribute ``daskfractal_negatives`` (parameters, ``complete``); ``_SUCCESS`` last.
        Each task computes whole shuffle windows and writes one whole Zarr shard.

        Parameters
        ----------
        path : str or path-like
            Output directory (missing, empty, or a negatives output with ``overwrite``).
        epochs : int or iterable of int, default 0
            An epoch number, or several.
        test_negatives : int, optional
            Also write ``k = test_negatives`` evaluation negatives per test user.
        rows_per_task : int, optional
            Rows per task and Zarr shard: a multiple of ``shuffle_window`` (default: about
            2**22 rows).
        chunk_rows : int, optional
            Rows per Zarr chunk (the read unit); must divide ``rows_per_task``.
        overwrite : bool, default False
        scheduler : None, str or distributed.Client
            See :func:`daskfractal._runner.run`.
        progress : bool, default True

        Returns
        -------
        NegativesStore
        """
        return self._write(
            "zarr",
            path,
            epochs,
            test_negatives,
            rows_per_task,
            chunk_rows,
            overwrite,
            scheduler,
            progress,
        )

    def to_parquet(
        self,
        path: str | os.PathLike[str],
        epochs: int | Iterable[int] = 0,
        *,
        test_negatives: int | None = None,
        rows_per_task: int | None = None,
        chunk_rows: int | None = None,
        overwrite: bool = False,
        scheduler: Any = None,
        progress: bool = True,
    ) -> NegativesStore:
        """Write epochs (and test negatives) as Parquet part files, one Dask task per part.

        Layout: ``epoch-<e>/part-<k>.parquet`` with columns ``user_id`` (int64),
        ``item_id``, ``label`` (int8); concatenating the parts in order gives the rows of
        :meth:`epoch`. ``test/part-<k>.parquet``: ``user_id``, ``item_id`` with ``k`` rows per
        test user (users ascending, items ascending). ``_negatives.json`` holds the
        parameters, ``_SUCCESS`` is written last. Parameters as in :meth:`to_zarr`
        (``chunk_rows``: rows per row group).

        Returns
        -------
        NegativesStore
        """
        return self._write(
            "parquet",
            path,
            epochs,
            test_negatives,
            rows_per_task,
            chunk_rows,
            overwrite,
            scheduler,
            progress,
        )

    def _write(
        self,
        fmt: str,
        path: str | os.PathLike[str],
        epochs: int | Iterable[int],
        test_k: int | None,
        rows_per_task: int | None,
        chunk_rows: int | None,
        overwrite: bool,
        scheduler: Any,
        progress: bool,
    ) -> NegativesStore:
        import dask

        from ._runner import run

        epoch_list = _epoch_list(epochs)
        if test_k is not None:
            test_k = _as_int(test_k, "test_negatives", minimum=0)
            if test_k > self.n_items:
                raise ParameterError(f"test_negatives={test_k} exceeds n_items={self.n_items}")
        window = self.shuffle_window
        if rows_per_task is None:
            rows_per_task = window * max(1, _DEFAULT_TASK_ROWS // window)
        rows_per_task = _as_int(rows_per_task, "rows_per_task", minimum=1)
        if rows_per_task % window:
            raise ParameterError(
                f"rows_per_task={rows_per_task} must be a multiple of shuffle_window={window}"
            )
        if chunk_rows is None:
            chunk_rows = math.gcd(rows_per_task, 2**16)
            if chunk_rows < 4096:
                chunk_rows = rows_per_task
        chunk_rows = _as_int(chunk_rows, "chunk_rows", minimum=1)
        if rows_per_task % chunk_rows:
            raise ParameterError(
                f"chunk_rows (batch size) {chunk_rows} must divide rows_per_task={rows_per_task}"
                f" (a multiple of shuffle_window={window})"
            )
        out = Path(path)
        _prepare_output(out, overwrite)
        n_rows = self.n_examples
        test_users = self.test_users() if test_k is not None else None
        users_per_task = max(1, _DEFAULT_TASK_ITEMS // max(test_k or 1, 1))
        meta = {
            "format_version": OUTPUT_FORMAT_VERSION,
            "format": fmt,
            "source": self._src.describe(),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "num_negatives": self.num_negatives,
            "distribution": self.distribution,
            "alpha": self.alpha,
            "exclude": self.exclude,
            "seed": self.seed,
            "shuffle_window": window,
            "epochs": epoch_list,
            "n_examples": n_rows,
            "rows_per_task": rows_per_task,
            "chunk_rows": chunk_rows,
            "item_dtype": self.item_dtype.name,
            "test_negatives": test_k,
            "n_test_users": None if test_users is None else int(test_users.shape[0]),
            "complete": False,
        }
        if fmt == "zarr":
            _zarr_create(
                out,
                meta,
                epoch_list,
                n_rows,
                rows_per_task,
                chunk_rows,
                self.item_dtype,
                test_users,
                test_k,
                users_per_task,
            )
        else:
            (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            for e in epoch_list:
                (out / f"epoch-{e}").mkdir()
            if test_users is not None:
                (out / "test").mkdir()
        me = dask.delayed(self, name=f"negative-sampler-{uuid.uuid4().hex}")
        tasks = []
        for e in epoch_list:
            windows = self.windows(e)
            per_task = rows_per_task // window
            for k, q in enumerate(range(0, len(windows), per_task)):
                group = [w for w, _, _ in windows[q : q + per_task]]
                start = q * window
                tasks.append(
                    dask.delayed(_epoch_task, pure=False)(
                        me, fmt, str(out), e, k, group, start, chunk_rows
                    )
                )
        if test_users is not None and test_users.size:
            for k, q in enumerate(range(0, test_users.shape[0], users_per_task)):
                part = test_users[q : q + users_per_task]
                tasks.append(
                    dask.delayed(_test_task, pure=False)(me, fmt, str(out), k, part, q, test_k)
                )
        written = run(tasks, scheduler=scheduler, progress=progress)
        expected = len(epoch_list) * n_rows + (
            0 if test_users is None else int(test_users.shape[0]) * (test_k or 0)
        )
        got = int(sum(written))
        if got != expected:
            raise StoreError(f"{out}: wrote {got} values, expected {expected}")
        meta["complete"] = True
        if fmt == "zarr":
            import zarr

            root = zarr.open_group(str(out), mode="r+")
            root.attrs[META_KEY] = meta
        else:
            (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        (out / SUCCESS_FILE).touch()
        return open_negatives(out)


def _epoch_list(epochs: int | Iterable[int]) -> list[int]:
    if isinstance(epochs, int | np.integer) and not isinstance(epochs, bool):
        return [int(epochs)]
    try:
        values = list(epochs)  # type: ignore[arg-type]
    except TypeError as e:
        raise ParameterError(f"epochs must be an int or an iterable of ints, got {epochs!r}") from e
    out = [_as_int(v, "epochs") for v in values]
    if len(set(out)) != len(out):
        raise ParameterError(f"epochs must not repeat, got {out}")
    return out


# --------------------------------------------------------------------------------------
# output files


def _is_negatives_output(path: Path) -> bool:
    if (path / META_FILE).is_file():
        return True
    zjson = path / "zarr.json"
    if zjson.is_file():
        try:
            doc = json.loads(zjson.read_text())
        except (OSError, ValueError):
            return False
        return META_KEY in doc.get("attributes", {})
    return False


def _prepare_output(path: Path, overwrite: bool) -> None:
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not _is_negatives_output(path):
            raise StoreError(
                f"{path} exists and is not a negatives output; refusing to write into or delete it"
            )
        if not overwrite:
            raise StoreError(f"{path} already holds negatives; pass overwrite=True (--overwrite)")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def _zarr_create(
    out: Path,
    meta: dict,
    epochs: list[int],
    n_rows: int,
    rows_per_task: int,
    chunk_rows: int,
    item_dtype: np.dtype,
    test_users: np.ndarray | None,
    test_k: int | None,
    users_per_task: int,
) -> None:
    import zarr
    from zarr.codecs import BloscCodec

    def comp(dtype: Any) -> list[BloscCodec]:
        size = np.dtype(dtype).itemsize
        return [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=size)]

    root = zarr.open_group(str(out), mode="w", zarr_format=3)
    root.attrs[META_KEY] = meta
    chunk = max(1, min(chunk_rows, n_rows))
    shard = max(chunk, min(rows_per_task, -(-n_rows // chunk) * chunk))
    for e in epochs:
        g = root.create_group(f"epoch-{e}")
        for name, dtype in (("users", np.int64), ("items", item_dtype), ("labels", np.int8)):
            g.create_array(
                name,
                shape=(n_rows,),
                dtype=dtype,
                chunks=(chunk,),
                shards=(shard,),
                compressors=comp(dtype),
                fill_value=0,
            )
    if test_users is not None:
        g = root.create_group("test")
        t = int(test_users.shape[0])
        rows = max(1, min(users_per_task, t))
        g.create_array(
            "users",
            shape=(t,),
            dtype=np.int64,
            chunks=(rows,),
            compressors=comp(np.int64),
            fill_value=0,
        )
        g.create_array(
            "items",
            shape=(t, test_k),
            dtype=item_dtype,
            chunks=(rows, max(1, test_k or 1)),
            compressors=comp(item_dtype),
            fill_value=0,
        )


def _write_table(file: Path, columns: dict[str, np.ndarray], row_group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: pa.array(v) for k, v in columns.items()})
    tmp = file.with_name(f".{file.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, row_group_size=max(1, row_group), compression="zstd")
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)


def _epoch_task(
    sampler: NegativeSampler,
    fmt: str,
    out: str,
    epoch: int,
    part: int,
    windows: list[int],
    start: int,
    chunk_rows: int,
) -> int:
    """Compute whole shuffle windows (consecutive in stream order) and write them."""
    pieces = [sampler.window(epoch, w) for w in windows]
    users, items, labels = (np.concatenate([p[i] for p in pieces]) for i in range(3))
    if fmt == "zarr":
        import zarr

        store = zarr.storage.LocalStore(out)
        for name, values in (("users", users), ("items", items), ("labels", labels)):
            arr = zarr.open_array(store=store, path=f"epoch-{epoch}/{name}", mode="r+")
            arr[start : start + values.shape[0]] = values
    else:
        file = Path(out) / f"epoch-{epoch}" / f"part-{part:06d}.parquet"
        _write_table(file, {"user_id": users, "item_id": items, "label": labels}, chunk_rows)
    return int(users.shape[0])


def _test_task(
    sampler: NegativeSampler, fmt: str, out: str, part: int, users: np.ndarray, start: int, k: int
) -> int:
    """Test negatives of a run of test users, written as one chunk / part."""
    users, items = sampler.test_negatives(k, users)
    if fmt == "zarr":
        import zarr

        store = zarr.storage.LocalStore(out)
        zarr.open_array(store=store, path="test/users", mode="r+")[start : start + users.size] = (
            users
        )
        zarr.open_array(store=store, path="test/items", mode="r+")[start : start + users.size] = (
            items
        )
    else:
        file = Path(out) / "test" / f"part-{part:06d}.parquet"
        _write_table(
            file,
            {"user_id": np.repeat(users, k), "item_id": items.reshape(-1)},
            max(1, 2**20),
        )
    return int(items.size)


class NegativesStore:
    """A finished negatives output (Zarr or Parquet), read back whole per epoch.

    Attributes
    ----------
    path : pathlib.Path
    format : {"zarr", "parquet"}
    meta : dict
        The parameters it was written with (``epochs``, ``num_negatives``, ``seed``, ...).
    """

    def __init__(self, path: Path, fmt: str, meta: dict) -> None:
        self.path = path
        self.format = fmt
        self.meta = meta

    def __repr__(self) -> str:
        return (
            f"NegativesStore({str(self.path)!r}, format={self.format!r}, "
            f"epochs={self.epochs}, test_negatives={self.meta.get('test_negatives')})"
        )

    @property
    def epochs(self) -> list[int]:
        """Epoch numbers stored."""
        return list(self.meta["epochs"])

    def epoch(self, e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All rows of epoch ``e``: ``(users int64, items, labels int8)``, in stream order."""
        if e not in self.epochs:
            raise ParameterError(f"{self.path} holds epochs {self.epochs}, not {e}")
        if self.format == "zarr":
            import zarr

            g = zarr.open_group(str(self.path), mode="r")
            return tuple(np.asarray(g[f"epoch-{e}/{n}"][...]) for n in ("users", "items", "labels"))
        table = _read_parts(self.path / f"epoch-{e}")
        if table is None:
            dtype = np.dtype(self.meta["item_dtype"])
            return np.empty(0, np.int64), np.empty(0, dtype), np.empty(0, np.int8)
        return tuple(table.column(c).to_numpy() for c in ("user_id", "item_id", "label"))

    def test_negatives(self) -> tuple[np.ndarray, np.ndarray]:
        """``(users int64 (T,), items (T, k))``."""
        k = self.meta.get("test_negatives")
        if k is None:
            raise ParameterError(f"{self.path} holds no test negatives")
        if self.format == "zarr":
            import zarr

            g = zarr.open_group(str(self.path), mode="r")
            return np.asarray(g["test/users"][...]), np.asarray(g["test/items"][...])
        table = _read_parts(self.path / "test")
        dtype = np.dtype(self.meta["item_dtype"])
        if table is None:
            return np.empty(0, np.int64), np.empty((0, k), dtype)
        users = table.column("user_id").to_numpy()
        items = table.column("item_id").to_numpy().astype(dtype, copy=False)
        return users[::k] if k else np.empty(0, np.int64), items.reshape(-1, k)


def _read_parts(folder: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return None
    return pa.concat_tables([pq.read_table(p) for p in parts])


def open_negatives(path: str | os.PathLike[str]) -> NegativesStore:
    """Open a finished output of :meth:`NegativeSampler.to_zarr` / ``to_parquet``.

    Raises
    ------
    StoreError
        If ``path`` is missing, not a negatives output, or incomplete.
    """
    path = Path(path)
    if not path.is_dir():
        raise StoreError(f"{path} does not exist")
    if (path / META_FILE).is_file():
        fmt, meta = "parquet", json.loads((path / META_FILE).read_text())
    elif _is_negatives_output(path):
        fmt = "zarr"
        meta = json.loads((path / "zarr.json").read_text())["attributes"][META_KEY]
    else:
        raise StoreError(f"{path} is not a negatives output")
    if meta.get("format_version") != OUTPUT_FORMAT_VERSION:
        raise StoreError(f"{path} has format_version {meta.get('format_version')}")
    if not meta.get("complete") or not (path / SUCCESS_FILE).is_file():
        raise StoreError(f"{path} is incomplete (its writer did not finish); write it again")
    return NegativesStore(path, fmt, meta)


# --------------------------------------------------------------------------------------
# CLI


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``negatives`` sub-command to the ``daskfractal`` parser."""
    p = subparsers.add_parser(
        "negatives",
        help="sample training negatives (and evaluation negatives) for an expansion store",
        description="Write shuffled training epochs (positives + negatives, with labels) and "
        "optionally k evaluation negatives per test user, from an expansion store.",
    )
    p.add_argument("store", metavar="STORE", help="an expansion store (Zarr or Parquet)")
    g = p.add_argument_group("sampling")
    g.add_argument("--epochs", type=int, default=1, metavar="E", help="epochs 0..E-1 (1)")
    g.add_argument(
        "--num-negatives", type=int, default=4, metavar="K", help="negatives per positive (4)"
    )
    g.add_argument(
        "--test-negatives",
        type=int,
        metavar="K",
        help="also write K distinct uniform negatives per test user (e.g. 999)",
    )
    g.add_argument(
        "--distribution",
        default="uniform",
        choices=["uniform", "popularity"],
        help="target distribution of training negatives (default: uniform)",
    )
    g.add_argument("--alpha", type=float, default=0.75, help="popularity exponent (default: 0.75)")
    g.add_argument(
        "--exclude",
        default="train",
        choices=list(EXCLUDES),
        help="positives a training negative never is (default: train)",
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    g.add_argument(
        "--shuffle-window",
        type=int,
        default=_DEFAULT_WINDOW,
        metavar="N",
        help=f"rows shuffled together; defines the epoch order ({_DEFAULT_WINDOW})",
    )
    g = p.add_argument_group("output")
    g.add_argument("--out", required=True, metavar="PATH", help="output directory")
    g.add_argument(
        "--format",
        dest="format_out",
        default="zarr",
        choices=["zarr", "parquet"],
        help="output format (default: zarr)",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="rows per Zarr chunk / Parquet row group; must divide the rows of a task "
        "(default: 65536)",
    )
    g.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_cluster_options(p, local_default="threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_negatives)


def cmd_negatives(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal negatives``; returns the exit code (0)."""
    from ._runner import client_from_args
    from .store import open_store

    epochs = _as_int(args.epochs, "--epochs", minimum=0)
    store = open_store(args.store)
    sampler = NegativeSampler(
        store,
        num_negatives=args.num_negatives,
        distribution=args.distribution,
        alpha=args.alpha,
        exclude=args.exclude,
        seed=args.seed,
        shuffle_window=args.shuffle_window,
    )
    if not args.quiet:
        print(
            f"sampling {epochs} epoch(s) of {sampler.n_examples:,} rows from {store.path} "
            f"({sampler.n_users:,} users, {sampler.n_items:,} items)",
            file=sys.stderr,
        )
    with client_from_args(args) as sched:
        write = sampler.to_zarr if args.format_out == "zarr" else sampler.to_parquet
        out = write(
            args.out,
            list(range(epochs)),
            test_negatives=args.test_negatives,
            chunk_rows=args.batch_size,
            overwrite=args.overwrite,
            scheduler=sched,
            progress=not args.quiet,
        )
    summary = {
        "out": str(out.path),
        "format": out.format,
        "epochs": out.epochs,
        "rows_per_epoch": out.meta["n_examples"],
        "test_negatives": out.meta["test_negatives"],
        "test_users": out.meta["n_test_users"],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        test = (
            ""
            if summary["test_negatives"] is None
            else f", {summary['test_users']:,} test users x {summary['test_negatives']} negatives"
        )
        print(
            f"{out.path} ({out.format}): {len(out.epochs)} epoch(s) x "
            f"{summary['rows_per_epoch']:,} rows{test}"
        )
    return 0


__all__ = [
    "DISTRIBUTIONS",
    "EXCLUDES",
    "NegativeSampler",
    "NegativesStore",
    "cmd_negatives",
    "open_negatives",
    "register_cli",
]
