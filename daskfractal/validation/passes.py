"""Out-of-core passes over a store: task plans, row reads, the fused SVD / split pass, degrees.

A pass is a set of Dask tasks over user-row ranges that read the Zarr (or Parquet) store
directly; the tasks of a pass form ``LANES`` chains (each task adds into its predecessor's
partial result) whose results a tree reduction sums. The plan depends on the store's size only,
so every floating-point sum has the same order on any scheduler.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np

from .._dask import default_client, is_client, run, tree_reduce
from ..errors import ParameterError, StoreError
from ..kernels.spmm import apply_sketch, split_counts
from ..store import (
    LOAD_ITEMS_MAX,
    ExpansionStore,
    RemotePath,
    StorePath,
    open_store,
    store_path,
)

__all__ = [
    "LANES",
    "MAX_TASKS",
    "READ_NNZ",
    "TASK_NNZ",
    "Passes",
    "SingleThreadedBlas",
    "as_store",
    "check_item_count",
    "csr_rows",
    "lanes_graph",
    "pass_task",
    "row_plan",
    "store_degrees",
    "tasks_per_pass",
]

#: Interactions read at once by a task (bounds a task's memory besides its k-column blocks).
READ_NNZ = 2**22
#: Interactions per task of a pass on big stores, and the most tasks a pass is cut into.
TASK_NNZ = 2**23
MAX_TASKS = 512
#: Chains of tasks per pass (parallelism), each holding one partial sum (items × columns).
LANES = 4


_OPEN: dict[tuple[str, int | str], ExpansionStore] = {}
_OPEN_LOCK = threading.Lock()


def store_at(path: str | StorePath) -> ExpansionStore:
    """The store at ``path``, opened once per process (keyed by its metadata's mtime, or on
    an object store by its manifest's ETag).

    Tasks get the store's path object (a ``RemotePath`` carries its storage options)."""
    p = store_path(path)
    key: tuple[str, int | str]
    if isinstance(p, RemotePath):
        try:
            key = (str(p), str(p.fs.info((p / "manifest.json").key).get("ETag")))
        except OSError:
            key = (str(p), 0)
    else:
        meta = p / "zarr.json" if (p / "zarr.json").exists() else p / "_daskfractal.json"
        try:
            key = (str(p.resolve()), meta.stat().st_mtime_ns)
        except OSError:
            key = (str(p.resolve()), 0)
    with _OPEN_LOCK:
        st = _OPEN.get(key)
        if st is None:
            st = open_store(p)
            if len(_OPEN) > 8:
                _OPEN.clear()
            _OPEN[key] = st
    return st


def csr_rows(
    path: str | StorePath, u0: int, u1: int, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[u0, u1)`` of ``split``: local row pointer (int64) and item ids.

    :meth:`ExpansionStore.rows` of the store opened once per process (:func:`store_at`), so a
    worker's tasks share its open arrays.
    """
    return store_at(path).rows(u0, u1, split)


def indptr_of(st: ExpansionStore, split: str) -> np.ndarray | None:
    """CSR row pointer of ``split``: stored, else (Parquet stores that did not keep it) from
    the user degree statistics; ``None`` when neither exists.

    A Zarr store always holds its row pointer: reading it fails only when the store is
    damaged, and that :class:`StoreError` is raised, never hidden behind the statistics.
    """
    try:
        return np.asarray(st.indptr(split), dtype=np.int64)
    except StoreError:
        if st.format == "zarr":
            raise
    try:
        deg = np.asarray(st.stats(items=False)[f"user_{split}_degree"], dtype=np.int64)
    except StoreError:
        return None
    out = np.zeros(deg.size + 1, np.int64)
    np.cumsum(deg, out=out[1:])
    return out


def row_plan(
    indptr: np.ndarray | None, n_users: int, nnz: int, n_tasks: int, read_nnz: int = READ_NNZ
) -> list[list[tuple[int, int]]]:
    """User ranges: ``n_tasks`` tasks of about equal nnz, each a list of reads ≤ ``read_nnz``."""
    if n_users == 0:
        return []
    if indptr is None:  # no row pointer: equal user ranges
        step = max(1, math.ceil(n_users / max(1, math.ceil(nnz / read_nnz))))
        cuts = np.arange(0, n_users, step, dtype=np.int64)
    else:
        targets = np.arange(0, max(nnz, 1), read_nnz, dtype=np.int64)
        cuts = np.searchsorted(indptr, targets, side="left")
    cuts = np.unique(np.concatenate([[0], np.clip(cuts, 0, n_users), [n_users]]))
    reads = [(int(a), int(b)) for a, b in itertools.pairwise(cuts) if b > a]
    n_tasks = max(1, min(n_tasks, len(reads)))
    if indptr is not None:
        weight = np.array([indptr[b] - indptr[a] for a, b in reads], dtype=np.float64)
    else:
        weight = np.ones(len(reads))
    cum = np.cumsum(weight)
    total = cum[-1] if cum.size else 0.0
    owner = (
        np.minimum((cum - weight / 2) * n_tasks / total, n_tasks - 1).astype(int)
        if total > 0
        else np.zeros(len(reads), int)
    )
    tasks: list[list[tuple[int, int]]] = [[] for _ in range(n_tasks)]
    for r, o in zip(reads, owner, strict=True):
        tasks[o].append(r)
    return [t for t in tasks if t]


def tasks_per_pass(nnz: int) -> int:
    """Tasks per pass: a function of the store's size only, so that the reduction tree (and the
    floating-point sums) do not depend on the cluster. At least 8 tasks from 8 Mi
    interactions on (parallelism), about ``TASK_NNZ`` per task for big stores (fewer partial
    sums to add), at most ``MAX_TASKS``."""
    return int(min(MAX_TASKS, max(math.ceil(nnz / TASK_NNZ), min(8, math.ceil(nnz / 2**20)), 1)))


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b``, in place into ``a`` when it is writable (each partial has one consumer)."""
    if a.flags.writeable:
        a += b
        return a
    return a + b


_BLAS_SETTERS = (
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
)


def _openblas_libs() -> list[tuple[Any, Callable, Callable]]:
    """(lib, set, get) of every OpenBLAS loaded in this process (Linux; empty elsewhere)."""
    import ctypes

    found = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            setter = getattr(lib, name, None)
            getter = getattr(lib, name.replace("set_", "get_"), None)
            if setter is not None and getter is not None:
                found.append((lib, setter, getter))
                break
    return found


class SingleThreadedBlas:
    """Run BLAS single-threaded inside the block (restored after).

    The passes run one task per Dask thread; a multi-threaded BLAS inside each task only
    oversubscribes the cores (on a busy 2-core machine OpenBLAS' spinning threads made small
    products 10-40x slower). Uses threadpoolctl when installed, else OpenBLAS' own setter.
    """

    def __init__(self) -> None:
        self._ctl: Any = None
        self._saved: list[tuple[Callable, int]] = []

    def __enter__(self) -> SingleThreadedBlas:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            for _, setter, getter in _openblas_libs():
                try:
                    self._saved.append((setter, int(getter())))
                    setter(1)
                except Exception:
                    continue
        else:
            self._ctl = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ctl is not None:
            self._ctl.restore_original_limits()
        for setter, n in self._saved:
            setter(n)


class Passes:
    """Announces the out-of-core passes (stderr) and runs each with a progress bar."""

    def __init__(self, scheduler: Any, progress: bool) -> None:
        self.scheduler = scheduler
        self.progress = progress
        self.count = 0
        self.client = scheduler if is_client(scheduler) else None
        if scheduler is None:
            self.client = default_client()

    def share(self, array: np.ndarray) -> Any:
        """``array`` as an argument of many tasks: broadcast once to the workers of a
        distributed Client (not embedded in the graph), a single graph node otherwise."""
        import dask

        if self.client is not None:
            return self.client.scatter(array, broadcast=True, hash=False)
        return dask.delayed(array, pure=True)

    def run(self, what: str, node: Any) -> Any:
        self.count += 1
        if self.progress:
            print(f"validate: pass {self.count}: {what}", file=sys.stderr, flush=True)
        return run([node], scheduler=self.scheduler, progress=self.progress)[0]


def as_store(store: Any) -> ExpansionStore:
    """``store`` opened (a path) or as is (an :class:`ExpansionStore`), else ParameterError."""
    if isinstance(store, ExpansionStore):
        return store
    if isinstance(store, str | os.PathLike | RemotePath):
        return open_store(store)
    raise ParameterError(f"store must be a path or an ExpansionStore, got {type(store).__name__}")


def pass_task(
    path: str | StorePath,
    reads: list[tuple[int, int]],
    q: np.ndarray | None,
    gram: bool,
    empty_items: np.ndarray | None,
    check_split: bool,
    acc: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One task of a pass over user rows ``reads`` of the train split.

    Returns ``z = Aᵀ(A q)`` (dtype of ``q``) when ``q`` is given, ``c = (A q)ᵀ(A q)`` (float64)
    when ``gram``, and the split counts (overlap, duplicate train entries, unsorted train rows,
    test entries on items without train) when ``check_split`` — added to ``acc``, the result
    of the previous task of the same lane, when given (in place: it has no other consumer).
    """
    out: dict[str, Any] = {"z": None, "c": None, "counts": None}
    if acc is not None:  # arrays received from another worker may be read-only
        out = {k: v if v is None or v.flags.writeable else v.copy() for k, v in acc.items()}
    if q is not None and out["z"] is None:
        out["z"] = np.zeros(q.shape, dtype=q.dtype)
    if q is not None and gram and out["c"] is None:
        out["c"] = np.zeros((q.shape[1], q.shape[1]), np.float64)
    if check_split and out["counts"] is None:
        out["counts"] = np.zeros(4, np.int64)
    has_test = check_split and store_at(path).nnz.get("test", 0) > 0
    for u0, u1 in reads:
        ip, ix = csr_rows(path, u0, u1)
        if q is not None:
            y = apply_sketch(ip, ix, q, out["z"], np.float64 if gram else q.dtype)
            if gram:
                out["c"] += y.T @ y
        if check_split:
            if has_test:
                tip, tix = csr_rows(path, u0, u1, "test")
            else:
                tip, tix = np.zeros(u1 - u0 + 1, np.int64), np.zeros(0, np.int64)
            ov, dup, uns = split_counts(ip, ix, tip, tix)
            cold = int(empty_items[tix].sum()) if empty_items is not None and tix.size else 0
            out["counts"] += np.array([ov, dup, uns, cold], np.int64)
    return out


def lanes_graph(task: Any, plan: list, args: tuple) -> Any:
    """The tasks of a pass as ``LANES`` chains (each task adds into its predecessor's result),
    the chains' results summed by a tree: at most ``LANES`` partial sums exist at once, and
    the order of every floating-point sum is fixed by the store alone."""
    path, *rest = args
    lanes = min(LANES, len(plan))
    heads: list = []
    for lane in range(lanes):
        node = None
        for reads in plan[lane::lanes]:
            node = task(path, reads, *rest, node)
        heads.append(node)
    return tree_reduce(heads, _pass_combine)


def _pass_combine(x: dict[str, Any], y: dict[str, Any]) -> dict[str, Any]:
    return {key: None if x[key] is None else add(x[key], y[key]) for key in x}


def _item_degree_task(
    path: str | StorePath, reads: list[tuple[int, int]], n_items: int
) -> np.ndarray:
    out = np.zeros(n_items, np.int64)
    for u0, u1 in reads:
        out += np.bincount(csr_rows(path, u0, u1)[1], minlength=n_items)
    return out


def _item_degree_pass(st: ExpansionStore, passes: Passes) -> np.ndarray:
    import dask

    nnz = st.nnz["train"]
    plan = row_plan(indptr_of(st, "train"), st.n_users, nnz, tasks_per_pass(nnz))
    task = dask.delayed(_item_degree_task, pure=True)
    parts = [task(st.path, reads, st.n_items) for reads in plan]
    if not parts:
        return np.zeros(st.n_items, np.int64)
    return passes.run("item degrees (no stats/ in the store)", tree_reduce(parts, add))


def check_item_count(st: ExpansionStore) -> None:
    """Refuse a catalogue of more than :data:`~daskfractal.store.LOAD_ITEMS_MAX` items:
    validate holds several arrays of one value per item (degrees, the spectrum's sketch).

    Raises
    ------
    StoreError
        One line: the size, the limit, and where the item degree distribution is.
    """
    if st.n_items > LOAD_ITEMS_MAX:
        raise StoreError(
            f"{st.path} has {st.n_items:,} items: validate holds arrays of one value per item "
            f"(at most {LOAD_ITEMS_MAX:,} items); the item degree distribution of a bigger "
            "store is ExpansionStore.item_degree_histogram()"
        )


class StoreDegrees(TypedDict):
    """What :func:`store_degrees` returns (int64; ``block_train`` only from stats/)."""

    user_train: np.ndarray
    user_test: np.ndarray
    item_train: np.ndarray
    block_train: np.ndarray | None


def store_degrees(st: ExpansionStore, passes: Passes, notes: list[str]) -> tuple[StoreDegrees, str]:
    """Train/test user degrees and train item degrees of the expansion (see
    :func:`check_item_count`)."""
    check_item_count(st)
    try:
        stats = st.stats()
        return {
            "user_train": stats["user_train_degree"].astype(np.int64),
            "user_test": stats["user_test_degree"].astype(np.int64),
            "item_train": stats["item_train_degree"].astype(np.int64),
            # a public store has no block counts
            "block_train": (
                stats["block_train"].astype(np.int64) if "block_train" in stats else None
            ),
        }, "stats"
    except Exception as e:
        notes.append(f"stats/ unreadable ({type(e).__name__}): degrees recomputed by a Dask pass")
    ip_tr = indptr_of(st, "train")
    ip_te = indptr_of(st, "test")
    if ip_tr is None or ip_te is None:
        raise StoreError(f"{st.path}: neither stats/ nor indptr are readable")
    return {
        "user_train": np.diff(ip_tr),
        "user_test": np.diff(ip_te),
        "item_train": _item_degree_pass(st, passes),
        "block_train": None,
    }, "pass"
