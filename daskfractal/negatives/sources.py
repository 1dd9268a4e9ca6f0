"""Where the positives come from: in-memory CSR matrices or an expansion store.

A source answers four questions for :class:`~daskfractal.negatives.sampler.NegativeSampler`:
its size (``n_users``, ``n_items``, ``index_dtype``), the row pointer of a split, the rows of a
range of users, and the train degree of every item. Both sources pickle small (the store-backed
one as its path), so a sampler can be sent to Dask workers.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._checks import index_dtype
from ..errors import ParameterError, StoreError
from ..kernels import alias as A
from ..store import LOAD_ITEMS_MAX, ExpansionStore, RemotePath, open_store, store_path

__all__ = ["CsrSource", "Source", "StoreSource", "canonical_csr", "canonical_rows", "make_source"]


def canonical_csr(matrix: Any, name: str, shape: tuple[int, int] | None = None) -> sp.csr_matrix:
    """A CSR copy with sorted, duplicate-free rows and no explicit zeros."""
    if not sp.issparse(matrix):
        raise ParameterError(f"{name} must be a scipy.sparse matrix, got {type(matrix).__name__}")
    csr = sp.csr_matrix(matrix, copy=True)
    if shape is not None and csr.shape != shape:
        raise ParameterError(f"{name} has shape {csr.shape}, expected {shape}")
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.sort_indices()
    dtype = index_dtype(csr.shape[1])
    return sp.csr_matrix(
        (csr.data, csr.indices.astype(dtype), csr.indptr.astype(np.int64)), shape=csr.shape
    )


# --------------------------------------------------------------------------------------
# sources: where the positives come from


class CsrSource:
    """In-memory train (and optional test) positives."""

    def __init__(self, train: Any, test: Any | None = None) -> None:
        self.train = canonical_csr(train, "train matrix")
        self.n_users, self.n_items = self.train.shape
        self.test = None if test is None else canonical_csr(test, "test matrix", self.train.shape)
        self.index_dtype = self.train.indices.dtype

    def describe(self) -> str:
        return f"in-memory CSR {self.n_users} x {self.n_items}"

    def indptr(self, split: str) -> np.ndarray:
        if split == "test" and self.test is None:
            return np.zeros(self.n_users + 1, np.int64)
        # test is not None here (checked above)
        return (self.train if split == "train" else self.test).indptr  # type: ignore[union-attr]

    def rows(self, u0: int, u1: int, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[u0, u1)`` as ``(ptr int64 from 0, indices)``, canonical."""
        m = self.train if split == "train" else self.test
        if m is None:
            return np.zeros(u1 - u0 + 1, np.int64), np.empty(0, self.index_dtype)
        ptr = m.indptr[u0 : u1 + 1]
        return ptr - ptr[0], m.indices[ptr[0] : ptr[-1]]

    def item_train_degree(self) -> np.ndarray:
        return np.bincount(self.train.indices, minlength=self.n_items).astype(np.int64)


class StoreSource:
    """An expansion store, reopened lazily (pickles as its path)."""

    def __init__(self, store: Any) -> None:
        self.path = store_path(store.path)
        self._store = store
        self.n_users = int(store.n_users)
        self.n_items = int(store.n_items)
        self.index_dtype = np.dtype(store.layout.index_np_dtype)
        self._indptr: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # a RemotePath pickles with its storage options
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # unpickling: the instance pickle made, initialized again from its state
        self.__init__(open_store(state["path"]))  # type: ignore[misc]

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
                deg = self._store.stats(items=False)[f"user_{split}_degree"].astype(np.int64)
                ptr = np.concatenate([[0], np.cumsum(deg)]).astype(np.int64)
            if ptr.shape != (self.n_users + 1,) or ptr[-1] != self._store.nnz[split]:
                raise StoreError(f"{self.path}: {split}/indptr is inconsistent with the store")
            with self._lock:
                self._indptr[split] = ptr
        return ptr

    def rows(self, u0: int, u1: int, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[u0, u1)`` as stored: ``(ptr int64 from 0, indices)``.

        Read by :meth:`ExpansionStore.rows`, then checked against the row pointer this
        sampler planned with (a Parquet store rebuilds its rows from the parts).
        """
        expect = self.indptr(split)
        ptr, ind = self._store.rows(u0, u1, split)
        if ptr[-1] != expect[u1] - expect[u0]:
            raise StoreError(f"{self.path}: rows [{u0}, {u1}) of {split} are inconsistent")
        return ptr, ind.astype(self.index_dtype, copy=False)

    def item_train_degree(self) -> np.ndarray:
        if self.n_items > LOAD_ITEMS_MAX:
            # the alias table is per item: nothing to read by range
            raise StoreError(
                f"{self.path} has {self.n_items:,} items: distribution='popularity' builds a "
                f"table of every item (at most {LOAD_ITEMS_MAX:,}); use distribution='uniform'"
            )
        return np.asarray(self._store.stats()["item_train_degree"], dtype=np.int64)


#: Either kind of source.
Source = CsrSource | StoreSource


def make_source(store_or_csr: Any) -> Source:
    """The source for what :class:`NegativeSampler` was given (see its ``store_or_csr``)."""
    if isinstance(store_or_csr, ExpansionStore):
        return StoreSource(store_or_csr)
    if isinstance(store_or_csr, str | os.PathLike | RemotePath):
        return StoreSource(open_store(store_or_csr))
    if sp.issparse(store_or_csr):
        return CsrSource(store_or_csr)
    if isinstance(store_or_csr, tuple) and len(store_or_csr) == 2:
        return CsrSource(*store_or_csr)
    raise ParameterError(
        "store_or_csr must be an ExpansionStore, a store path, a scipy.sparse train matrix or "
        f"a (train, test) pair of them, got {type(store_or_csr).__name__}"
    )


def canonical_rows(ptr: np.ndarray, ind: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, duplicate-free version of the rows (a no-op check for canonical input)."""
    if A.rows_canonical_kernel(ptr, ind, n):
        return ptr, ind
    if ind.size and (ind.min() < 0 or ind.max() >= n):
        raise StoreError(f"item ids outside [0, {n}) in the positives")
    csr = sp.csr_matrix((np.ones(ind.shape[0], np.int8), ind, ptr), shape=(ptr.shape[0] - 1, n))
    csr.sum_duplicates()
    csr.sort_indices()
    return csr.indptr.astype(np.int64), csr.indices.astype(ind.dtype, copy=False)
