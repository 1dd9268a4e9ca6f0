"""Fidelity report of an expansion: degrees, spectrum, block structure and split sanity.

The papers validate an expansion ``R̃ = R̂ ⊗rand R`` by three distributions — row sums (user
engagement), column sums (item popularity) and the singular values — of ``R``, ``R̂`` and ``R̃``
(Belletti et al., Figures 1, 3, 4), anchored by Proposition 1 (row / column sums of a Kronecker
product are the Minkowski products of the factors' sums) and Theorem 1 (its singular values are
the Minkowski product of the factors' singular values). :func:`validate` computes all of them
out-of-core from a store, plus how much block structure the shuffles left and whether the
train / test split is sane, and :meth:`ValidationReport.write` saves ``report.json``,
``report.md`` and PNG figures.

Everything is computed on the *binarized* train split (stored ratings are ignored): degrees
count interactions, the spectrum is that of the 0/1 matrix.

Out-of-core passes are Dask tasks over user-row ranges that read the Zarr (or Parquet) store
directly and combine their partial results with tree reductions:

* degrees: the store's ``stats/`` arrays (a pass over the item ids only when they are absent);
* spectrum: randomized subspace iteration (Halko, Martinsson & Tropp 2011, Algorithms 4.4 /
  5.1, with the sketch on the item side) — ``n_iter`` passes ``Z = Aᵀ(A Q)``, each followed
  by a QR re-orthonormalization ``Q = qr(Z)``, then one pass accumulating the Gram matrix
  ``(A Q)ᵀ(A Q)`` whose eigenvalues are the squared Ritz values; the same pass checks
  train ∩ test = ∅;
* block structure: the Gram matrix of the blocks over all rows (small stores) or over a seeded
  sample of row windows (large ones).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._runner import release_memory, tree_reduce
from .errors import InputDataError, ParameterError, StoreError
from .kernels._jit import ngjit

if TYPE_CHECKING:
    from .preprocess import SplitData
    from .store import ExpansionStore

__all__ = [
    "ValidationReport",
    "block_gram",
    "gini",
    "ks_distance",
    "loglog_slopes",
    "minkowski_product",
    "normalized_log_degrees",
    "randomized_svd",
    "rank1_energy_share",
    "register_cli",
    "theorem1_prediction",
    "validate",
]

#: Interactions read at once by a task (bounds a task's memory besides its k-column blocks).
READ_NNZ = 2**22
#: Interactions per task of a pass on big stores, and the most tasks a pass is cut into.
TASK_NNZ = 2**23
MAX_TASKS = 512
#: Chains of tasks per pass (parallelism), each holding one partial sum (items × columns).
LANES = 4
#: Default number of sampled interactions for the block-structure Gram matrix.
BLOCK_SAMPLE = 2**23
#: Share of the ranked curve that is the "head" of the log-log slope fits.
HEAD_SHARE = 0.1
#: Points kept per ranked curve in report.json (log-spaced ranks).
CURVE_POINTS = 400


# ======================================================================================
# small statistics (pure NumPy; public so that users and tests can reuse them)
# ======================================================================================


def normalized_log_degrees(degrees: np.ndarray, how: str = "standard") -> np.ndarray:
    """Log of the non-zero degrees, centered (and scaled to unit variance).

    Parameters
    ----------
    degrees : array_like
        Degrees (or any non-negative sums); zeros are dropped.
    how : {"standard", "center"}
        ``standard``: ``(x − mean) / std`` of ``x = log d`` (shape only: invariant to a
        multiplicative scale of the degrees and to a power of them); ``center``: ``x − mean``
        (invariant to a multiplicative scale only). A constant ``x`` is only centered.

    Returns
    -------
    ndarray of float64
    """
    d = np.asarray(degrees, dtype=np.float64).ravel()
    x = np.log(d[d > 0])
    if x.size == 0:
        return x
    x = x - x.mean()
    if how == "standard":
        sd = x.std()
        if sd > 0:
            x = x / sd
    elif how != "center":
        raise ParameterError(f"how={how!r} must be 'standard' or 'center'")
    return x


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov distance ``sup_x |F_a(x) − F_b(x)|``.

    Exact for samples with ties (the supremum is taken over every sample point).

    Parameters
    ----------
    a, b : array_like
        Non-empty 1-D samples.

    Returns
    -------
    float
        In ``[0, 1]``; NaN when a sample is empty.
    """
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        return math.nan
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.abs(fa - fb).max())


def _ls_slope(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return math.nan
    xc = x - x.mean()
    den = float(xc @ xc)
    return math.nan if den == 0 else float(xc @ (y - y.mean())) / den


def loglog_slopes(values: np.ndarray, head: float = HEAD_SHARE) -> tuple[float, float]:
    """Least-squares slopes of the ranked curve ``log v_(r)`` against ``log r``.

    The non-zero values are sorted in decreasing order and given ranks ``r = 1, 2, ...``; the
    head is the first ``max(2, ceil(head · N))`` ranks, the tail the remaining ones.

    Parameters
    ----------
    values : array_like
        Degrees, sums or singular values; zeros are dropped.
    head : float, default 0.1
        Share of the ranks in the head.

    Returns
    -------
    head_slope, tail_slope : float
        NaN when a part has fewer than 2 points. A power law ``v ∝ r^−a`` has slope ``−a``.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = np.sort(v[v > 0])[::-1]
    n = v.size
    if n < 2:
        return math.nan, math.nan
    h = min(n, max(2, math.ceil(head * n)))
    lr = np.log(np.arange(1, n + 1, dtype=np.float64))
    lv = np.log(v)
    return _ls_slope(lr[:h], lv[:h]), _ls_slope(lr[h:], lv[h:])


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (zeros included: empty items count).

    ``G = Σ_i Σ_j |x_i − x_j| / (2 n² mean(x))``, computed as
    ``(2 Σ_i i·x_(i)) / (n Σ x) − (n + 1) / n`` on the ascending order statistics.

    Returns
    -------
    float
        0 for equal values, → 1 when one value holds everything; NaN for an empty or all-zero
        input.
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    s = float(x.sum())
    if n == 0 or s <= 0:
        return math.nan
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * (i @ x) / (n * s) - (n + 1) / n)


def minkowski_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``{x·y : x ∈ a, y ∈ b}`` as a flat array of ``len(a)·len(b)`` values (Proposition 1)."""
    return np.multiply.outer(np.asarray(a, np.float64), np.asarray(b, np.float64)).ravel()


def theorem1_prediction(
    sv_keep: np.ndarray, sv_r: np.ndarray, k: int, *, complete: bool = False
) -> tuple[np.ndarray, int]:
    """Top singular values of ``keep ⊗ R`` predicted by Theorem 1.

    ``S(A ⊗ B) = S(A) × S(B)``: the singular values of the Kronecker product are all products
    ``σ_i(A)·σ_j(B)``. When only the top ``K`` singular values of ``R`` are known, the unknown
    ones are ``≤ σ_K(R)``, so every product involving them is ``≤ σ_1(keep)·σ_K(R)``; the
    sorted known products ``≥`` that bound are exactly the top of the true list.

    Parameters
    ----------
    sv_keep : array_like
        Singular values of the keep-probability matrix ``R̂`` (all of them; numerically zero
        ones, ``≤ σ₁·len·eps``, are dropped).
    sv_r : array_like
        The top singular values of ``R``, descending.
    k : int
        How many to return (at most).
    complete : bool
        ``sv_r`` holds every non-zero singular value of ``R``: all products are valid.

    Returns
    -------
    prediction : ndarray of float64, shape (≤ k,)
        Descending.
    n_valid : int
        How many leading entries of ``prediction`` are guaranteed (all when ``complete``).
    """
    a = _nonzero_sv(sv_keep)
    b = np.sort(np.asarray(sv_r, np.float64).ravel())[::-1]
    if a.size == 0 or b.size == 0:
        return np.zeros(0), 0
    prod = np.sort(minkowski_product(a, b))[::-1]
    if complete:
        valid = prod.size
    else:
        bound = a[0] * b[-1]
        valid = int(np.count_nonzero(prod >= bound * (1 - 1e-12)))
    out = prod[:k]
    return out, min(valid, out.size)


def _nonzero_sv(values: Any) -> np.ndarray:
    """Descending singular values without the numerically zero ones (``≤ σ₁·n·eps``)."""
    v = np.sort(np.asarray(values, np.float64).ravel())[::-1]
    if v.size == 0 or v[0] <= 0:
        return v[:0]
    return v[v > v[0] * v.size * np.finfo(np.float64).eps]


def rank1_energy_share(gram: np.ndarray) -> float:
    """Share of the energy in the best rank-1 fit of the Van Loan–Pitsianis rearrangement.

    The rearrangement ``ℛ(X)`` of a block matrix has one row per block, the block vectorized;
    its best rank-1 approximation is the best Kronecker-product fit ``A ⊗ B`` of ``X``. With
    ``G = ℛ ℛᵀ`` (the Gram matrix of the blocks), the share is ``λ_max(G) / trace(G)``:
    1 for an exact Kronecker product, ``1 / #blocks`` for orthogonal blocks of equal energy.

    Parameters
    ----------
    gram : ndarray, shape (B, B)
        Symmetric positive semi-definite.

    Returns
    -------
    float
    """
    g = np.asarray(gram, dtype=np.float64)
    tr = float(np.trace(g))
    if tr <= 0:
        return math.nan
    return float(np.linalg.eigvalsh((g + g.T) / 2)[-1] / tr)


def _expected_shares(keep: np.ndarray, density: float) -> tuple[float, float]:
    """Expected rank-1 share under ``shuffle="none"`` and under full per-block shuffles.

    Every interaction of ``R`` is kept in block ``b`` with probability ``p_b``; per sampled
    interaction of ``R``, ``E[G] = p pᵀ + diag(p − p²)`` without shuffles (blocks overlap on the
    same positions), and ``E[G] ≈ diag(p) + ρ (p pᵀ − diag(p²))`` when every block is an
    independently row- and column-permuted copy (overlaps by chance only, ``ρ`` the density
    of ``R``).
    """
    p = np.asarray(keep, np.float64).ravel()
    if p.sum() <= 0:
        return math.nan, math.nan
    pp = np.outer(p, p)
    none = pp + np.diag(p - p * p)
    shuffled = np.diag(p) + density * (pp - np.diag(p * p))
    return rank1_energy_share(none), rank1_energy_share(shuffled)


def _spectrum_slope(values: Any) -> float | None:
    """Least-squares slope of ``log σ_i`` against ``log i`` over the positive values given."""
    if values is None:
        return None
    v = np.asarray(values, np.float64)
    v = v[v > 0]
    return _ls_slope(np.log(np.arange(1, v.size + 1)), np.log(v)) if v.size > 1 else None


def _ranked(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return np.sort(v[v > 0])[::-1]


def _curve(values: np.ndarray, points: int = CURVE_POINTS) -> dict[str, list]:
    """A ranked curve on log-spaced ranks: ``{"rank": [...], "value": [...]}`` (1-based)."""
    v = _ranked(values)
    if v.size == 0:
        return {"rank": [], "value": [], "n": 0}
    idx = np.unique(np.round(np.logspace(0, math.log10(v.size), points)).astype(np.int64)) - 1
    idx = np.unique(np.concatenate([idx, [v.size - 1]]))
    return {"rank": (idx + 1).tolist(), "value": v[idx].tolist(), "n": int(v.size)}


def _summary(values: np.ndarray, *, integer: bool = True) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64).ravel()
    pos = v[v > 0]
    head, tail = loglog_slopes(v)
    out: dict[str, Any] = {
        "count": int(v.size),
        "nonzero": int(pos.size),
        "empty_share": float(1 - pos.size / v.size) if v.size else math.nan,
        "sum": float(v.sum()),
        "min": float(v.min()) if v.size else math.nan,
        "median": float(np.median(v)) if v.size else math.nan,
        "mean": float(v.mean()) if v.size else math.nan,
        "max": float(v.max()) if v.size else math.nan,
        "gini": gini(v),
        "head_slope": head,
        "tail_slope": tail,
    }
    if integer:
        for key in ("sum", "min", "max"):
            if not math.isnan(out[key]):
                out[key] = int(out[key])
    return out


# ======================================================================================
# kernels
# ======================================================================================


@ngjit
def _tile_offsets(indptr, indices, tile, n_tiles):  # pragma: no cover - compiled
    """Start of each item tile in each CSR row: ``seg[r, t]`` (rows sorted by item).

    Returns ``(seg, ok)``; ``ok`` is False when a row is not sorted (``seg`` is then invalid).
    """
    rows = indptr.shape[0] - 1
    seg = np.empty((rows, n_tiles + 1), np.int64)
    for r in range(rows):
        a = indptr[r]
        b = indptr[r + 1]
        for p in range(a + 1, b):
            if indices[p] < indices[p - 1]:
                return seg, False
        p = a
        for t in range(n_tiles):
            seg[r, t] = p
            lim = (t + 1) * tile
            while p < b and indices[p] < lim:
                p += 1
        seg[r, n_tiles] = b
    return seg, True


@ngjit
def _gather_tiled(indices, seg, q, y):  # pragma: no cover - compiled
    """``y += A q`` tile by tile: the rows of ``q`` one tile touches stay in cache."""
    l = q.shape[1]  # noqa: E741
    for t in range(seg.shape[1] - 1):
        for r in range(seg.shape[0]):
            for p in range(seg[r, t], seg[r, t + 1]):
                c = indices[p]
                for j in range(l):
                    y[r, j] += q[c, j]


@ngjit
def _scatter_tiled(indices, seg, y, z):  # pragma: no cover - compiled
    """``z += Aᵀ y`` tile by tile."""
    l = y.shape[1]  # noqa: E741
    for t in range(seg.shape[1] - 1):
        for r in range(seg.shape[0]):
            for p in range(seg[r, t], seg[r, t + 1]):
                c = indices[p]
                for j in range(l):
                    z[c, j] += y[r, j]


@ngjit
def _gather_rows(indptr, indices, q, y):  # pragma: no cover - compiled
    """``y += A q`` row by row (any order of the items within a row)."""
    l = q.shape[1]  # noqa: E741
    for r in range(indptr.shape[0] - 1):
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            for j in range(l):
                y[r, j] += q[c, j]


@ngjit
def _scatter_rows(indptr, indices, y, z):  # pragma: no cover - compiled
    """``z += Aᵀ y`` row by row."""
    l = y.shape[1]  # noqa: E741
    for r in range(indptr.shape[0] - 1):
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            for j in range(l):
                z[c, j] += y[r, j]


#: Bytes of the sketch one item tile covers (a tile of Q and of Z stay in the shared L3).
TILE_BYTES = 4 * 2**20


def _apply(
    indptr: np.ndarray, indices: np.ndarray, q: np.ndarray, z: np.ndarray | None, y_dtype: Any
) -> np.ndarray:
    """``y = A q`` (returned, ``y_dtype``) and ``z += Aᵀ y`` when ``z`` is given.

    The rows' items are sorted (the store's contract), so the entries of each row that fall in
    an item tile are contiguous: both products run tile by tile, which keeps the randomly
    accessed rows of ``q`` / ``z`` in cache (2-2.5x faster than row by row on 10⁵-10⁶ items).
    """
    rows = indptr.shape[0] - 1
    y = np.zeros((rows, q.shape[1]), y_dtype)
    tile = max(1024, TILE_BYTES // max(1, q.shape[1] * q.itemsize))
    n_tiles = max(1, -(-q.shape[0] // tile))
    seg, ok = _tile_offsets(indptr, indices, tile, n_tiles)
    if ok:
        _gather_tiled(indices, seg, q, y)
        if z is not None:
            _scatter_tiled(indices, seg, y, z)
    else:
        _gather_rows(indptr, indices, q, y)
        if z is not None:
            _scatter_rows(indptr, indices, y, z)
    return y


@ngjit
def _split_counts(ip_a, ix_a, ip_b, ix_b):  # pragma: no cover - compiled
    """Per row: entries of b also in a (overlap), duplicate entries within a, unsorted rows of a.

    Rows of ``a`` are normally sorted (the store's contract); an unsorted row is sorted in a
    copy before the search so the count stays right.
    """
    overlap = 0
    dups = 0
    unsorted = 0
    for r in range(ip_a.shape[0] - 1):
        a0 = ip_a[r]
        a1 = ip_a[r + 1]
        row = ix_a[a0:a1]
        ok = True
        for p in range(1, row.shape[0]):
            if row[p] < row[p - 1]:
                ok = False
                break
        if not ok:
            unsorted += 1
            row = np.sort(row)
        for p in range(1, row.shape[0]):
            if row[p] == row[p - 1]:
                dups += 1
        for p in range(ip_b[r], ip_b[r + 1]):
            if row.shape[0] == 0:
                break
            pos = np.searchsorted(row, ix_b[p])
            if pos < row.shape[0] and row[pos] == ix_b[p]:
                overlap += 1
    return overlap, dups, unsorted


# ======================================================================================
# store access inside tasks
# ======================================================================================

_OPEN: dict[tuple[str, int], ExpansionStore] = {}
_OPEN_LOCK = threading.Lock()


def _store_at(path: str) -> ExpansionStore:
    """The store at ``path``, opened once per process (keyed by its metadata's mtime)."""
    from .store import open_store

    p = Path(path)
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


_ZARRAYS: dict[tuple[str, str], Any] = {}


def _csr_rows(path: str, u0: int, u1: int, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[u0, u1)`` of ``split``: local row pointer (int64) and item ids.

    Zarr stores are read directly (``{split}/indptr`` then the element range of
    ``{split}/indices``, the layout of docs/store-format.md): no values array, no CSR
    validation. Parquet stores go through :meth:`ExpansionStore.user_block`.
    """
    st = _store_at(path)
    if st.format != "zarr":
        a = st.user_block(u0, u1, split, values="ones")
        return a.indptr.astype(np.int64), _as_int_index(a.indices)
    import zarr

    arrays = []
    for name in ("indptr", "indices"):
        key = (str(st.path), f"{split}/{name}")
        with _OPEN_LOCK:
            arr = _ZARRAYS.get(key)
            if arr is None:
                if len(_ZARRAYS) > 32:
                    _ZARRAYS.clear()
                zs = zarr.storage.LocalStore(str(st.path), read_only=True)
                arr = _ZARRAYS[key] = zarr.open_array(store=zs, path=key[1], mode="r")
        arrays.append(arr)
    ptr = np.asarray(arrays[0][u0 : u1 + 1], dtype=np.int64)
    a, b = int(ptr[0]), int(ptr[-1])
    idx = np.asarray(arrays[1][a:b]) if b > a else np.zeros(0, np.int32)
    return ptr - a, _as_int_index(idx)


def _as_int_index(a: np.ndarray) -> np.ndarray:
    return a if a.dtype in (np.int32, np.int64) else a.astype(np.int64)


def _indptr_of(st: ExpansionStore, split: str) -> np.ndarray | None:
    """CSR row pointer of ``split``: stored, else from the user degree statistics."""
    try:
        return np.asarray(st.indptr(split), dtype=np.int64)
    except Exception:
        pass
    try:
        deg = np.asarray(st.stats()[f"user_{split}_degree"], dtype=np.int64)
    except Exception:
        return None
    out = np.zeros(deg.size + 1, np.int64)
    np.cumsum(deg, out=out[1:])
    return out


def _row_plan(
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


def _n_tasks(nnz: int) -> int:
    """Tasks per pass: a function of the store's size only, so that the reduction tree (and the
    floating-point sums) do not depend on the cluster. At least 8 tasks from 8 Mi
    interactions on (parallelism), about ``TASK_NNZ`` per task for big stores (fewer partial
    sums to add), at most ``MAX_TASKS``."""
    return int(min(MAX_TASKS, max(math.ceil(nnz / TASK_NNZ), min(8, math.ceil(nnz / 2**20)), 1)))


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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


class _SingleThreadedBlas:
    """Run BLAS single-threaded inside the block (restored after).

    The passes run one task per Dask thread; a multi-threaded BLAS inside each task only
    oversubscribes the cores (on a busy 2-core machine OpenBLAS' spinning threads made small
    products 10-40x slower). Uses threadpoolctl when installed, else OpenBLAS' own setter.
    """

    def __init__(self) -> None:
        self._ctl: Any = None
        self._saved: list[tuple[Callable, int]] = []

    def __enter__(self) -> _SingleThreadedBlas:
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


class _Passes:
    """Announces the out-of-core passes (stderr) and runs each with a progress bar."""

    def __init__(self, scheduler: Any, progress: bool) -> None:
        from ._runner import _default_client, _is_client

        self.scheduler = scheduler
        self.progress = progress
        self.count = 0
        self.client = scheduler if _is_client(scheduler) else None
        if scheduler is None:
            self.client = _default_client()

    def share(self, array: np.ndarray) -> Any:
        """``array`` as an argument of many tasks: broadcast once to the workers of a
        distributed Client (not embedded in the graph), a single graph node otherwise."""
        import dask

        if self.client is not None:
            return self.client.scatter(array, broadcast=True, hash=False)
        return dask.delayed(array, pure=True)

    def run(self, what: str, node: Any) -> Any:
        from ._runner import run

        self.count += 1
        if self.progress:
            print(f"validate: pass {self.count}: {what}", file=sys.stderr, flush=True)
        return run([node], scheduler=self.scheduler, progress=self.progress)[0]


# ======================================================================================
# randomized SVD over the store
# ======================================================================================


def _pass_task(
    path: str,
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
    has_test = check_split and _store_at(path).nnz.get("test", 0) > 0
    for u0, u1 in reads:
        ip, ix = _csr_rows(path, u0, u1)
        if q is not None:
            y = _apply(ip, ix, q, out["z"], np.float64 if gram else q.dtype)
            if gram:
                out["c"] += y.T @ y
        if check_split:
            if has_test:
                tip, tix = _csr_rows(path, u0, u1, "test")
            else:
                tip, tix = np.zeros(u1 - u0 + 1, np.int64), np.zeros(0, np.int64)
            ov, dup, uns = _split_counts(ip, ix, tip, tix)
            cold = int(empty_items[tix].sum()) if empty_items is not None and tix.size else 0
            out["counts"] += np.array([ov, dup, uns, cold], np.int64)
    return out


def _lanes(task: Any, plan: list, args: tuple) -> Any:
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
    return {key: None if x[key] is None else _add(x[key], y[key]) for key in x}


_CHUNK_ROWS = 2**16


def _gram64(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``aᵀ b`` (``aᵀ a``) of tall float32 matrices, accumulated in float64 over row chunks."""
    other = a if b is None else b
    g = np.zeros((a.shape[1], other.shape[1]), np.float64)
    for i in range(0, a.shape[0], _CHUNK_ROWS):
        x = a[i : i + _CHUNK_ROWS].astype(np.float64)
        y = x if b is None else other[i : i + _CHUNK_ROWS].astype(np.float64)
        g += x.T @ y
    return g


def _orthonormal(z: np.ndarray) -> np.ndarray:
    """Orthonormal basis (float32) of the columns of a tall ``z``, overwriting ``z``.

    CholeskyQR2 — two rounds of ``Z ← Z R⁻¹`` with ``RᵀR = ZᵀZ`` — with the Gram matrices
    accumulated in float64 over row chunks and ``Z`` updated chunk by chunk in place, so the
    only ``items × l`` array is ``z`` itself (an order of magnitude faster than Householder QR
    on tall-skinny matrices). Falls back to Householder when ``z`` is too ill-conditioned or
    rank deficient (Cholesky fails or the result is not orthonormal to float32 precision).
    """
    from scipy.linalg import LinAlgError, cholesky, solve_triangular

    q = z if z.dtype == np.float32 and z.flags.writeable else np.array(z, dtype=np.float32)
    q = np.ascontiguousarray(q)
    eye = np.eye(q.shape[1])
    try:
        for _ in range(2):
            r = cholesky(_gram64(q), lower=False, check_finite=True)
            rinv = solve_triangular(r, eye, lower=False)
            for i in range(0, q.shape[0], _CHUNK_ROWS):
                q[i : i + _CHUNK_ROWS] = q[i : i + _CHUNK_ROWS].astype(np.float64) @ rinv
        err = np.abs(_gram64(q) - eye).max()
        if np.isfinite(err) and err < 1e-4:
            return q
    except (LinAlgError, ValueError):
        pass
    if not np.all(np.isfinite(q)):  # a failed round: start again from the input
        q = np.array(z, dtype=np.float32)
    h, _ = np.linalg.qr(q.astype(np.float64))
    return np.ascontiguousarray(h, dtype=np.float32)


@dataclass
class _Spectrum:
    values: np.ndarray  # top-k Ritz values, descending
    residual: np.ndarray  # ‖AᵀA v − σ² v‖ / σ² of each Ritz pair (v unit)
    columns: int


def _svd_and_split(
    st: ExpansionStore,
    k: int,
    *,
    n_iter: int,
    oversample: int,
    seed: int,
    passes: _Passes,
    check_split: bool,
    empty_items: np.ndarray | None,
) -> tuple[_Spectrum | None, np.ndarray | None]:
    """Top-k singular values of the train matrix and the split counts (fused last pass)."""
    import dask

    n_users, n_items, nnz = st.n_users, st.n_items, st.nnz["train"]
    plan = _row_plan(_indptr_of(st, "train"), n_users, nnz, _n_tasks(nnz))
    path = str(st.path)
    do_svd = bool(k > 0 and nnz > 0 and plan)
    if not plan or not (do_svd or check_split):
        return None, None
    task = dask.delayed(_pass_task, pure=True)
    q = None
    l = 0  # noqa: E741
    if do_svd:
        l = min(k + oversample, n_users, n_items)  # noqa: E741
        rng = np.random.default_rng(seed)
        q = _orthonormal(rng.standard_normal((n_items, l), dtype=np.float32))
        for it in range(n_iter):
            qd = passes.share(q)
            root = _lanes(task, plan, (path, qd, False, None, False))
            what = f"power iteration {it + 1}/{n_iter}: Z = Aᵀ(A Q), {l} columns"
            q = _orthonormal(passes.run(what, root)["z"])
    qd = passes.share(q) if q is not None else None
    ed = passes.share(empty_items) if empty_items is not None else None
    root = _lanes(task, plan, (path, qd, True, ed, check_split))
    what = "Ritz values (A Q)ᵀ(A Q) and residuals" if do_svd else ""
    if check_split:
        what += (" + " if what else "") + "train ∩ test check"
    res = passes.run(what, root)
    spec = None
    if do_svd:
        assert q is not None
        from scipy.linalg import eigh

        # Ritz pairs of AᵀA on span Q (Q float32: G = QᵀQ is I to float32 precision only,
        # so solve C w = λ G w exactly instead of assuming G = I)
        lam, w = eigh(res["c"], _gram64(q))
        lam, w = lam[::-1], w[:, ::-1]
        lam = np.clip(lam, 0.0, None)
        # residual of each Ritz pair (v = Q w, ‖v‖ = 1): ‖AᵀA v − λ v‖ = ‖Z w − λ Q w‖
        sq = np.zeros(l)
        z = res["z"]
        for i in range(0, n_items, _CHUNK_ROWS):
            zw = z[i : i + _CHUNK_ROWS].astype(np.float64) @ w
            qw = q[i : i + _CHUNK_ROWS].astype(np.float64) @ w
            sq += ((zw - qw * lam) ** 2).sum(axis=0)
        norms = np.sqrt(sq)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(lam > 0, norms / lam, np.inf)
        spec = _Spectrum(values=np.sqrt(lam)[:k], residual=rel[:k], columns=l)
    return spec, (res["counts"] if check_split else None)


def randomized_svd(
    store: str | os.PathLike | ExpansionStore,
    k: int = 64,
    *,
    n_iter: int = 4,
    oversample: int = 10,
    seed: int = 0,
    scheduler: Any = None,
    progress: bool = False,
) -> np.ndarray:
    """Top-k singular values of a store's (binarized) train matrix, out-of-core.

    Randomized subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4 with the sketch on
    the item side): a seeded Gaussian ``Ω`` (items × ``l``, ``l = k + oversample``) is
    orthonormalized, then each of the ``n_iter`` passes computes ``Z = Aᵀ(A Q)`` — one Dask
    task per user-row range reading the store, accumulating in float32 into one of ``LANES``
    chained partial sums, combined by a tree — and re-orthonormalizes ``Q = qr(Z)``
    (CholeskyQR2, float32) on the client. A last pass accumulates ``C = (A Q)ᵀ(A Q)`` in
    float64 (and ``AᵀA Q`` for the residuals that :func:`validate` reports); the square roots
    of the generalized eigenvalues of ``(C, QᵀQ)`` (the Ritz values of ``A`` on ``span Q``,
    ``Q`` spanning ``(AᵀA)^n_iter Ω``) are returned.
    ``n_iter + 1`` passes apply ``A`` ``2·n_iter + 1`` times, as many as Halko et al.'s ``q =
    n_iter`` less one. The result depends only on the store, ``k``, ``n_iter``,
    ``oversample`` and ``seed`` — not on the scheduler or the number of workers (the
    reduction tree is fixed by the store's size).

    Parameters
    ----------
    store : path or ExpansionStore
    k : int, default 64
        Number of singular values (``1 ≤ k ≤ min(n_users, n_items)``).
    n_iter : int, default 4
        Power iterations (passes over the data before the last one).
    oversample : int, default 10
        Extra columns of the sketch.
    seed : int, default 0
        Seed of ``Ω``.
    scheduler : None, str or distributed.Client
        See :func:`daskfractal._runner.run`; threads by default.
    progress : bool, default False
        Progress bars for the passes.

    Returns
    -------
    ndarray of float64, shape (k,)
        Descending.

    Notes
    -----
    Memory: about ``(n_items + rows per read) · (k + oversample)`` numbers per running task and
    per partial sum, independent of the number of interactions.
    """
    st = _as_store(store)
    k = _check_k(k, st)
    n_iter, oversample = _check_nonneg("n_iter", n_iter), _check_nonneg("oversample", oversample)
    with _SingleThreadedBlas():
        spec, _ = _svd_and_split(
            st,
            k,
            n_iter=n_iter,
            oversample=oversample,
            seed=seed,
            passes=_Passes(scheduler, progress),
            check_split=False,
            empty_items=None,
        )
    return np.zeros(0) if spec is None else spec.values


# ======================================================================================
# block structure
# ======================================================================================


def _block_task(
    path: str,
    pieces: list[tuple[int, int, int, np.ndarray]],
    m: int,
    n: int,
    npr: int,
    n_blocks: int,
) -> np.ndarray:
    """Gram matrix of the blocks over one window of rows ``t`` of ``R``.

    ``pieces``: ``(i, u0, u1, t)``: output users ``[u0, u1)`` lie in block row ``i`` and copy
    the rows ``t`` (window-local, one per user) of ``R``.
    """
    keys, blocks = [], []
    for i, u0, u1, t in pieces:
        if u1 <= u0:
            continue
        ip, ix = _csr_rows(path, u0, u1)
        rows = np.repeat(np.asarray(t, np.int64), np.diff(ip))
        items = ix.astype(np.int64)
        keys.append(rows * n + items % n)
        blocks.append(np.int64(i) * npr + items // n)
    g = np.zeros((n_blocks, n_blocks), np.float64)
    if not keys:
        return g
    key = np.concatenate(keys)
    blk = np.concatenate(blocks)
    order = np.argsort(key, kind="stable")
    key, blk = key[order], blk[order]
    _, count = np.unique(key, return_counts=True)
    single = np.repeat(count == 1, count)
    # a position held by one block only adds to that block's energy (the diagonal)
    g[np.diag_indices(n_blocks)] += np.bincount(blk[single], minlength=n_blocks)
    # positions held by several blocks: G += Sᵀ S over dense chunks of those positions
    group = np.repeat(np.cumsum(count > 1) - 1, count)[~single]
    mblk = blk[~single]
    n_multi = int((count > 1).sum())
    step = max(1, 2**24 // max(n_blocks, 1))
    bounds = np.searchsorted(group, np.arange(0, n_multi + step, step))
    for c, (a, b) in enumerate(itertools.pairwise(bounds)):
        if b <= a:
            continue
        dense = np.zeros((min(step, n_multi - c * step), n_blocks), np.float32)
        dense[group[a:b] - c * step, mblk[a:b]] = 1.0
        g += (dense.T @ dense).astype(np.float64)
    return g


def block_gram(
    store: str | os.PathLike | ExpansionStore,
    *,
    sample: int = BLOCK_SAMPLE,
    seed: int = 0,
    scheduler: Any = None,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Gram matrix of the ``m' × n'`` blocks of the expansion (Van Loan–Pitsianis).

    Block ``(i, j)`` of the output is the ``m × n`` matrix of the users whose slot is
    ``i·m + t`` and the items ``j·n + c``; ``G[b, b']`` counts the positions ``(t, c)`` where both
    blocks hold an interaction. With at most ``sample`` train interactions the whole store is
    used (exact); otherwise a seeded sample of row windows of ``R`` (8 windows, one in each
    eighth of ``[0, m)``, together about ``sample`` interactions), each read for every block row.

    Parameters
    ----------
    store : path or ExpansionStore
    sample : int, default 2**23
        Interactions to use at most (approximately).
    seed : int, default 0
    scheduler, progress
        As in :func:`randomized_svd`.

    Returns
    -------
    gram : ndarray of float64, shape (m'·n', m'·n')
        Blocks in row-major order ``b = i·n' + j``.
    info : dict
        ``exact``, ``rows`` (sampled rows of R), ``of_rows`` (m), ``interactions`` (trace),
        ``windows``.
    """
    st = _as_store(store)
    with _SingleThreadedBlas():
        return _block_gram(st, sample=sample, seed=seed, passes=_Passes(scheduler, progress))


def _input_shape(st: ExpansionStore) -> tuple[int, int] | None:
    shape = st.attrs.get("params", {}).get("input_shape")
    if shape is None:
        return None
    return int(shape[0]), int(shape[1])


def _block_gram(
    st: ExpansionStore, *, sample: int, seed: int, passes: _Passes
) -> tuple[np.ndarray, dict[str, Any]]:
    import dask

    shape = _input_shape(st)
    mp, npr = st.layout.blocks
    if shape is None:
        raise StoreError(f"{st.path}: params.input_shape is missing; cannot locate the blocks")
    m, n = shape
    if n * npr != st.n_items:
        raise StoreError(f"{st.path}: {st.n_items} items is not n'·n = {npr}·{n}")
    sample = int(sample)
    if sample < 1:
        raise ParameterError(f"block sample={sample} must be ≥ 1")
    nnz = st.nnz["train"]
    slots = st.user_slots()
    per_row = nnz / max(m, 1)  # interactions per row t of R, over all block rows
    exact = nnz <= sample
    rng = np.random.default_rng([seed, 0xB10C])
    if exact:
        rows_per_task = max(1, int(READ_NNZ // max(per_row, 1e-9)))
        windows = [(t0, min(m, t0 + rows_per_task)) for t0 in range(0, m, rows_per_task)]
    else:
        total = max(1, min(m, int(sample // max(per_row, 1e-9))))
        n_win = min(8, total)
        width = max(1, total // n_win)
        edges = np.linspace(0, m, n_win + 1).astype(np.int64)
        windows = []
        for a, b in itertools.pairwise(edges):
            span = max(0, int(b - a) - width)
            t0 = int(a) + int(rng.integers(0, span + 1))
            windows.append((t0, min(int(b), t0 + width)))
    tasks = []
    n_rows = 0
    for t0, t1 in windows:
        pieces = []
        for i in range(mp):
            lo, hi = np.int64(i) * m + t0, np.int64(i) * m + t1
            u0, u1 = (int(x) for x in np.searchsorted(slots, [lo, hi], side="left"))
            pieces.append((i, u0, u1, slots[u0:u1] - lo))
        n_rows += t1 - t0
        tasks.append(
            dask.delayed(_block_task, pure=True)(str(st.path), pieces, m, n, npr, mp * npr)
        )
    g = passes.run(
        "block Gram matrix" + (" (all rows)" if exact else f" ({n_rows} sampled rows of R)"),
        tree_reduce(tasks, _add),
    )
    info = {
        "exact": bool(exact),
        "rows": int(n_rows),
        "of_rows": int(m),
        "interactions": round(float(np.trace(g))),
        "windows": [list(w) for w in windows] if not exact else len(windows),
    }
    return g, info


# ======================================================================================
# the original R
# ======================================================================================


_PREPROCESS_KEYS = (
    "binarize",
    "positive_threshold",
    "min_distinct_timestamps",
    "split",
    "tie_policy",
    "seed",
)


def _keep_of(params: dict) -> np.ndarray | None:
    red = params.get("reduced") or {}
    keep = red.get("keep")
    return None if keep is None else np.asarray(keep, dtype=np.float64)


def _load_original(
    original: Any, params: dict, notes: list[str], scheduler: Any = None
) -> tuple[SplitData | None, dict[str, Any]]:
    """R_train / R_test of the expansion's input, checked against the store's checksum.

    For a multi-level store the input is the intermediate R̂₂ ⊗rand R: it is rebuilt from the
    original and the recorded inner levels (unless ``original`` is that intermediate).
    """
    from .datasets import load
    from .expansion import _checksum
    from .interactions import Interactions
    from .preprocess import SplitData, preprocess

    info: dict[str, Any] = {"available": False, "how": None, "source": None}
    if original is False:
        notes.append(
            "the original was not loaded (original=False / --no-original): R's degrees are "
            "missing and its spectrum is the top min(m', n') singular values stored with R̂"
        )
        return None, info
    explicit = original is not None
    pre = {k: v for k, v in (params.get("preprocess") or {}).items() if k in _PREPROCESS_KEYS}
    if original is None:
        src = params.get("source")
        if not src or str(src).startswith("<"):
            notes.append(
                "the original data is not available (in-memory input): R's degrees are missing "
                "and its spectrum is the top min(m', n') singular values stored with R̂; pass "
                "--original INPUT"
            )
            return None, info
        original = src
        info["how"] = "source"
    else:
        info["how"] = "argument"
    try:
        if isinstance(original, SplitData):
            split = original
        elif isinstance(original, Interactions):
            split = preprocess(original, **pre)
        elif isinstance(original, str | os.PathLike):
            info["source"] = str(original)
            split = preprocess(load(original), **pre)
        else:
            raise ParameterError(
                f"original must be a path, Interactions or SplitData, got {type(original).__name__}"
            )
    except (OSError, InputDataError, ParameterError) as e:
        if explicit:
            raise
        notes.append(f"the store's source {original} could not be reloaded ({e}); pass --original")
        return None, {"available": False, "how": None, "source": str(original)}
    want = params.get("input_sha256")
    got = _checksum(split.signed())
    levels = params.get("levels") or []
    if want is not None and got != want and len(levels) > 1:
        from .multilevel import rebuild_input

        if got != levels[-1].get("input_sha256"):
            msg = (
                f"the original {info['source'] or '(given data)'} is neither the input of this "
                f"{len(levels)}-level store's innermost level (SHA-256 "
                f"{str(levels[-1].get('input_sha256'))[:12]}…) nor its intermediate "
                f"({want[:12]}…): its pre-processed matrices have {got[:12]}…; pass "
                "original= the data set pre-processed as params.preprocess records, or the "
                "intermediate SplitData (the inner Expansion's to_split())"
            )
            if explicit:
                raise InputDataError(msg)
            notes.append(msg + "; the original is ignored")
            return None, {"available": False, "how": None, "source": info["source"]}
        try:
            split = rebuild_input(split, levels, scheduler=scheduler)
        except InputDataError as e:
            if explicit:
                raise
            notes.append(f"the intermediate could not be rebuilt ({e}); pass --original")
            return None, {"available": False, "how": None, "source": info["source"]}
        got = _checksum(split.signed())
        info["rebuilt_levels"] = len(levels) - 1
        notes.append(
            f"multi-level store ({len(levels)} levels): R is the input of the outermost "
            f"level, rebuilt from the original and the {len(levels) - 1} recorded inner "
            "level(s) (params.levels)"
        )
    info["sha256_matches"] = None if want is None else bool(got == want)
    if want is not None and got != want:
        msg = (
            f"the original {info['source'] or '(given data)'} is not the store's input: its "
            f"pre-processed matrices ({split.shape[0]} x {split.shape[1]}, {split.train.nnz} "
            f"train) have SHA-256 {got[:12]}…, the store was expanded from {want[:12]}… "
            f"(shape {params.get('input_shape')}, {params.get('input_train')} train)"
        )
        if explicit:
            raise InputDataError(msg + "; pre-process it as the store records in params.preprocess")
        notes.append(msg + "; the original is ignored")
        return None, {"available": False, "how": None, "source": info["source"]}
    info.update(
        available=True,
        n_users=int(split.shape[0]),
        n_items=int(split.shape[1]),
        nnz_train=int(split.train.nnz),
        nnz_test=int(split.test.nnz),
    )
    return split, info


def _top_singular_values(mat: Any, k: int, seed: int) -> tuple[np.ndarray, bool, str]:
    """Top-k singular values of an in-memory sparse matrix; (values, complete, method)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    a = sp.csr_matrix(mat, dtype=np.float64)
    a.data[:] = 1.0
    m, n = a.shape
    if min(m, n) <= 2 * k + 2 or m * n <= 2**22:
        s = np.linalg.svd(a.toarray(), compute_uv=False)
        return s, True, "dense"
    v0 = np.random.default_rng(seed).standard_normal(min(m, n))
    s = svds(a, k=min(k, min(m, n) - 1), v0=v0, tol=0, return_singular_vectors=False)
    return np.sort(s)[::-1], False, "svds"


# ======================================================================================
# the report
# ======================================================================================


@dataclass(eq=False)
class ValidationReport:
    """What :func:`validate` measured.

    Attributes
    ----------
    numbers : dict
        Every number as plain Python values (lists, floats; None where undefined):
        ``store``, ``original``, ``R_hat``, ``degrees`` (``users`` / ``items``: per matrix
        ``R``, ``R_hat``, ``expansion`` and ``prediction`` a summary — count, empty share,
        min/median/mean/max, Gini, head and tail log-log slopes — and the KS distances),
        ``density``, ``spectrum``, ``blocks``, ``split``, ``checks``, ``timings``.
    degrees : dict
        Full arrays: ``degrees["users"]["expansion"]`` etc. (float64; R̂'s are its row / column
        sums; ``prediction`` the Proposition-1 Minkowski products).
    gram : ndarray or None
        The block Gram matrix (m'·n' × m'·n').
    keep : ndarray or None
        R̂, the keep probabilities (m' × n') recorded in the store.
    notes : list of str
        What could not be computed and why.
    files : dict of str to pathlib.Path
        Files written by :meth:`write`.
    """

    numbers: dict[str, Any]
    degrees: dict[str, dict[str, np.ndarray]] = field(repr=False)
    gram: np.ndarray | None = field(default=None, repr=False)
    keep: np.ndarray | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.numbers[key]

    def curves(self) -> dict[str, dict[str, dict[str, list]]]:
        """Ranked degree curves on log-spaced ranks (what report.json stores)."""
        return {
            axis: {name: _curve(v) for name, v in mats.items() if v is not None}
            for axis, mats in self.degrees.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything in report.json: the numbers, the curves and the notes."""
        return _jsonable({**self.numbers, "curves": self.curves(), "notes": list(self.notes)})

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (strict: no NaN)."""
        import json

        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def write(self, report_dir: str | os.PathLike, *, figures: bool = True) -> dict[str, Path]:
        """Write ``report.json``, the PNG figures (when matplotlib is installed) and ``report.md``.

        Parameters
        ----------
        report_dir : path
            Created if needed; existing report files are replaced.
        figures : bool, default True
            Draw the figures (skipped with a note in report.md without matplotlib).

        Returns
        -------
        dict of str to pathlib.Path
            ``json``, ``markdown`` and one entry per figure.
        """
        from ._report import write_report

        self.files = write_report(self, Path(report_dir), figures=figures)
        return self.files

    def summary(self) -> str:
        """A few lines for the terminal."""
        return _summary_text(self)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _fmt(x: Any, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, int):
        return f"{x:,}"
    return format(x, spec)


def _summary_text(rep: ValidationReport) -> str:
    n = rep.numbers
    s = n["store"]
    lines = [
        f"{s['path']}: {s['n_users']:,} users x {s['n_items']:,} items, "
        f"{s['nnz_train']:,} train / {s['nnz_test']:,} test (factors {s['factors']}, "
        f"shuffle {s['shuffle']})"
    ]
    for axis in ("items", "users"):
        d = n["degrees"][axis]
        e = d["expansion"]
        lines.append(
            f"{axis:5s}: KS(R, expansion) {_fmt(d['ks']['standardized'], '.3f')}, "
            f"Gini {_fmt(d.get('R', {}).get('gini'), '.3f')} -> {_fmt(e['gini'], '.3f')}, "
            f"head slope {_fmt(d.get('R', {}).get('head_slope'), '.3f')} -> "
            f"{_fmt(e['head_slope'], '.3f')}, empty {_fmt(e['empty_share'], '.2%')}"
        )
    sp_ = n.get("spectrum") or {}
    if sp_.get("expansion"):
        top = sp_["expansion"][:3]
        pred = (sp_.get("prediction") or [])[:3]
        lines.append(
            "spectrum: top σ "
            + ", ".join(_fmt(v, ".5g") for v in top)
            + (" vs Theorem 1 " + ", ".join(_fmt(v, ".5g") for v in pred) if pred else "")
            + (
                f" (max |σ/prediction − 1| over {sp_['compared']}: "
                f"{_fmt(sp_['max_relative_deviation'], '.3g')})"
                if sp_.get("compared")
                else ""
            )
        )
    b = n.get("blocks") or {}
    if b.get("rank1_energy_share") is not None:
        lines.append(
            f"blocks: rank-1 energy share {_fmt(b['rank1_energy_share'], '.3f')} (no shuffle "
            f"{_fmt(b.get('expected_share_none'), '.3f')}, full shuffle "
            f"{_fmt(b.get('expected_share_shuffled'), '.3f')}; structure left "
            f"{_fmt(b.get('structure_left'), '.2f')})"
        )
    sp2 = n.get("split") or {}
    if sp2:
        share = _fmt(sp2.get("users_without_test_share"), ".2%")
        mean = _fmt(sp2.get("test_per_user", {}).get("mean"), ".3g")
        lines.append(
            f"split: train ∩ test {_fmt(sp2.get('overlap'))}, users without test "
            f"{_fmt(sp2.get('users_without_test'))} ({share}), test items per user mean {mean}"
        )
    lines.extend(f"note: {x}" for x in rep.notes)
    return "\n".join(lines)


# ======================================================================================
# validate
# ======================================================================================


def _as_store(store: Any) -> ExpansionStore:
    from .store import ExpansionStore, open_store

    if isinstance(store, ExpansionStore):
        return store
    if isinstance(store, str | os.PathLike):
        return open_store(store)
    raise ParameterError(f"store must be a path or an ExpansionStore, got {type(store).__name__}")


def _check_k(k: Any, st: ExpansionStore) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ParameterError(f"k={k!r} must be an integer ≥ 0")
    return int(min(k, st.n_users, st.n_items))


def _check_nonneg(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
        raise ParameterError(f"{name}={v!r} must be an integer ≥ 0")
    return int(v)


def _item_degree_task(path: str, reads: list[tuple[int, int]], n_items: int) -> np.ndarray:
    out = np.zeros(n_items, np.int64)
    for u0, u1 in reads:
        out += np.bincount(_csr_rows(path, u0, u1)[1], minlength=n_items)
    return out


def _item_degree_pass(st: ExpansionStore, passes: _Passes) -> np.ndarray:
    import dask

    nnz = st.nnz["train"]
    plan = _row_plan(_indptr_of(st, "train"), st.n_users, nnz, _n_tasks(nnz))
    task = dask.delayed(_item_degree_task, pure=True)
    parts = [task(str(st.path), reads, st.n_items) for reads in plan]
    if not parts:
        return np.zeros(st.n_items, np.int64)
    return passes.run("item degrees (no stats/ in the store)", tree_reduce(parts, _add))


def _store_degrees(
    st: ExpansionStore, passes: _Passes, notes: list[str]
) -> tuple[dict[str, np.ndarray], str]:
    """Train/test user degrees and train item degrees of the expansion."""
    try:
        stats = st.stats()
        return {
            "user_train": stats["user_train_degree"].astype(np.int64),
            "user_test": stats["user_test_degree"].astype(np.int64),
            "item_train": stats["item_train_degree"].astype(np.int64),
            "block_train": stats["block_train"].astype(np.int64),
        }, "stats"
    except Exception as e:
        notes.append(f"stats/ unreadable ({type(e).__name__}): degrees recomputed by a Dask pass")
    ip_tr = _indptr_of(st, "train")
    ip_te = _indptr_of(st, "test")
    if ip_tr is None or ip_te is None:
        raise StoreError(f"{st.path}: neither stats/ nor indptr are readable")
    return {
        "user_train": np.diff(ip_tr),
        "user_test": np.diff(ip_te),
        "item_train": _item_degree_pass(st, passes),
        "block_train": None,
    }, "pass"


def validate(
    store: str | os.PathLike | ExpansionStore,
    original: Any = None,
    *,
    k: int = 64,
    report_dir: str | os.PathLike | None = None,
    seed: int = 0,
    scheduler: Any = None,
    progress: bool = True,
    n_iter: int = 4,
    oversample: int = 10,
    block_sample: int = BLOCK_SAMPLE,
    figures: bool = True,
) -> ValidationReport:
    """Measure how faithful an expansion is to its input (papers' Figures 1, 3, 4).

    Parameters
    ----------
    store : path or ExpansionStore
        A finished expansion store (Zarr or Parquet).
    original : path, Interactions, SplitData or False, optional
        The input the store was expanded from (False: do not load it). Paths and raw
        interactions are pre-processed with the options recorded in the store
        (``params.preprocess``); the result must have the store's ``input_sha256``. Default:
        reload the store's recorded ``source`` when it still exists (skipped with a note when
        it does not match); without it, R's degrees are missing and its spectrum is the top
        ``min(m', n')`` singular values stored with R̂.
    k : int, default 64
        Singular values of the expansion to compute (0 skips the spectrum).
    report_dir : path, optional
        Write ``report.json``, ``report.md`` and the figures there (see
        :meth:`ValidationReport.write`).
    seed : int, default 0
        Seeds the randomized SVD sketch and the block-structure row sample.
    scheduler : None, str or distributed.Client
        Where the passes run (the default Client if any, else threads).
    progress : bool, default True
        Progress bars and a line per out-of-core pass on stderr.
    n_iter : int, default 4
        Power iterations of the randomized SVD.
    oversample : int, default 10
        Extra sketch columns of the randomized SVD.
    block_sample : int, default 2**23
        Train interactions used for the block Gram matrix (all of them below this).
    figures : bool, default True
        Draw the PNG figures when writing the report.

    Returns
    -------
    ValidationReport

    Raises
    ------
    StoreError
        The store is missing, incomplete or unreadable.
    InputDataError
        ``original`` is not the store's input (checksum mismatch).
    ParameterError
        A bad option.

    Notes
    -----
    *Degrees.* Users / items of ``R`` (= ``R_train``), row / column sums of ``R̂`` (the keep
    probabilities) and train degrees of the expansion; ``prediction`` is the Proposition-1
    Minkowski product ``R(R̂) × R(R)`` (``C(R̂) × C(R)`` for items): the exact degrees of the
    plain Kronecker product ``R̂ ⊗ R`` and the expected ones of ``R̂ ⊗rand R``. KS distances
    compare the standardized log-degree distributions (``standardized``: shape only) and the
    centered ones (``centered``: invariant to a common factor only) of ``R`` and the expansion,
    over non-zero degrees; ``prediction`` is the KS distance of the raw log-degrees of the
    expansion and of the prediction.

    *Spectrum.* The Theorem-1 prediction uses the singular values of the keep-probability
    matrix itself: Bernoulli dropout gives ``E[R̂ ⊗rand R] = keep ⊗ R`` under
    ``shuffle="none"``, whose singular values are the sorted products ``σ_i(keep)·σ_j(R)``.
    These are *not* the ``singular_values`` stored with R̂ (those are R's top ``min(m', n')``,
    shared by ``R̂_raw``; ``keep = scale · clip(|R̂_raw| / max|R̂_raw|)`` does not preserve
    them). Under block or stratified shuffles ``E`` is a block-permuted ``keep ⊗ R`` and the
    prediction is the papers' idealization; the realized matrix adds zero-mean dropout noise.

    *Blocks.* See :func:`block_gram` and :func:`rank1_energy_share`; ``expected_share_none`` /
    ``expected_share_shuffled`` are the shares expected for the same keep probabilities without
    shuffles / with independent full shuffles, and ``structure_left`` maps the measured share
    to 1 / 0 on that scale.
    """
    with _SingleThreadedBlas():
        return _validate(
            store,
            original,
            k=k,
            report_dir=report_dir,
            seed=seed,
            scheduler=scheduler,
            progress=progress,
            n_iter=n_iter,
            oversample=oversample,
            block_sample=block_sample,
            figures=figures,
        )


def _validate(
    store: Any,
    original: Any,
    *,
    k: int,
    report_dir: Any,
    seed: int,
    scheduler: Any,
    progress: bool,
    n_iter: int,
    oversample: int,
    block_sample: int,
    figures: bool,
) -> ValidationReport:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 3)
        clock[0] = now

    st = _as_store(store)
    k = _check_k(k, st)
    n_iter = _check_nonneg("n_iter", n_iter)
    oversample = _check_nonneg("oversample", oversample)
    seed = _check_nonneg("seed", seed)
    if isinstance(block_sample, bool) or not isinstance(block_sample, int | np.integer):
        raise ParameterError(f"block_sample={block_sample!r} must be an integer ≥ 0")
    passes = _Passes(scheduler, progress)
    notes: list[str] = []
    params = st.attrs.get("params", {})
    keep = _keep_of(params)
    mp, npr = st.layout.blocks
    shape_in = _input_shape(st)
    numbers: dict[str, Any] = {
        "store": {
            "path": str(st.path),
            "format": st.format,
            "n_users": st.n_users,
            "n_items": st.n_items,
            "nnz_train": st.nnz["train"],
            "nnz_test": st.nnz["test"],
            "factors": [int(mp), int(npr)],
            "shuffle": params.get("shuffle"),
            "dropout": params.get("dropout"),
            "test_policy": params.get("test_policy"),
            "seed": params.get("seed"),
            "source": params.get("source"),
            "input_shape": list(shape_in) if shape_in else None,
            "input_sha256": params.get("input_sha256"),
        },
        "settings": {
            "k": k,
            "n_iter": n_iter,
            "oversample": oversample,
            "seed": seed,
            "block_sample": int(block_sample),
            "head_share": HEAD_SHARE,
            "values": "binarized train split (1 per interaction)",
        },
    }
    numbers["R_hat"] = (
        {"shape": list(keep.shape), "mean": float(keep.mean()), "keep": keep}
        if keep is not None
        else None
    )
    lap("open")

    split, orig_info = _load_original(original, params, notes, scheduler)
    numbers["original"] = orig_info
    # what the report needs from R, then R itself is released (it can be GBs)
    r_users = r_items = sv_r = None
    complete, r_method, nnz_r = False, None, None
    if split is not None:
        tr = split.train
        r_users = np.diff(tr.indptr).astype(np.float64)
        r_items = np.bincount(tr.indices, minlength=tr.shape[1]).astype(np.float64)
        nnz_r = int(tr.nnz)
        if k > 0:
            sv_r, complete, r_method = _top_singular_values(tr, k, seed)
            if complete:  # only the numerically non-zero ones make predictions
                sv_r = _nonzero_sv(sv_r)
        del tr, split
        release_memory()
    lap("original")

    # ---- degrees --------------------------------------------------------------------
    deg, deg_from = _store_degrees(st, passes, notes)
    hat_users = keep.sum(axis=1) if keep is not None else None
    hat_items = keep.sum(axis=0) if keep is not None else None
    pred_users = pred_items = None
    if keep is not None and r_users is not None and r_items is not None:
        pred_users = minkowski_product(hat_users, r_users)
        pred_items = minkowski_product(hat_items, r_items)
    x_users = deg["user_train"].astype(np.float64)
    x_items = deg["item_train"].astype(np.float64)
    degrees = {
        "users": {"R": r_users, "R_hat": hat_users, "expansion": x_users, "prediction": pred_users},
        "items": {"R": r_items, "R_hat": hat_items, "expansion": x_items, "prediction": pred_items},
    }
    numbers["degrees"] = {"source": deg_from}
    for axis, mats in degrees.items():
        out: dict[str, Any] = {}
        for name, v in mats.items():
            if v is not None:
                out[name] = _summary(v, integer=name in ("R", "expansion"))
        ks: dict[str, Any] = {"standardized": None, "centered": None, "prediction": None}
        if mats["R"] is not None:
            for how, label in (("standard", "standardized"), ("center", "centered")):
                ks[label] = ks_distance(
                    normalized_log_degrees(mats["R"], how),
                    normalized_log_degrees(mats["expansion"], how),
                )
        if mats["prediction"] is not None:
            xp, pp = _ranked(mats["expansion"]), _ranked(mats["prediction"])
            # KS is invariant under log (monotone): compare the degrees themselves, as
            # np.log's SIMD paths may round equal values differently (NumPy 1.26, AVX-512)
            ks["prediction"] = ks_distance(xp, pp)
            out["prediction_exact"] = bool(xp.size == pp.size and np.array_equal(xp, pp))
            out["prediction_max_abs_diff"] = (
                float(np.abs(xp - pp).max()) if xp.size == pp.size and xp.size else None
            )
        out["ks"] = ks
        numbers["degrees"][axis] = out

    # density
    n_in = (shape_in[0] * shape_in[1]) if shape_in else None
    nnz_in = params.get("input_train") if nnz_r is None else nnz_r
    dens_r = nnz_in / n_in if n_in and nnz_in is not None else None
    dens_x = st.nnz["train"] / (st.n_users * st.n_items) if st.n_users and st.n_items else None
    ratio_expected = None
    if keep is not None and shape_in and st.n_users:
        ratio_expected = float(keep.mean() * mp * shape_in[0] / st.n_users)
    numbers["density"] = {
        "R": dens_r,
        "expansion": dens_x,
        "ratio": dens_x / dens_r if dens_r and dens_x is not None else None,
        "ratio_expected": ratio_expected,
    }
    lap("degrees")

    # ---- split sanity + spectrum ------------------------------------------------------
    empty_items = deg["item_train"] == 0
    spectrum, counts = _svd_and_split(
        st,
        k,
        n_iter=n_iter,
        oversample=oversample,
        seed=seed,
        passes=passes,
        check_split=True,
        empty_items=empty_items,
    )
    sv = None if spectrum is None else spectrum.values
    lap("spectrum_and_split")
    test_deg = deg["user_test"]
    hist = np.bincount(test_deg) if test_deg.size else np.zeros(1, np.int64)
    hist_d = {str(i): int(c) for i, c in enumerate(hist[:10])}
    if hist.size > 10:
        hist_d["10+"] = int(hist[10:].sum())
    overlap = int(counts[0]) if counts is not None else 0
    numbers["split"] = {
        "overlap": overlap,
        "disjoint": overlap == 0,
        "train_duplicates": int(counts[1]) if counts is not None else 0,
        "unsorted_train_rows": int(counts[2]) if counts is not None else 0,
        "users_without_test": int((test_deg == 0).sum()),
        "users_without_test_share": float((test_deg == 0).mean()) if test_deg.size else None,
        "test_on_items_without_train": int(counts[3]) if counts is not None else 0,
        "test_per_user": {
            "mean": float(test_deg.mean()) if test_deg.size else None,
            "median": float(np.median(test_deg)) if test_deg.size else None,
            "max": int(test_deg.max()) if test_deg.size else 0,
            "histogram": hist_d,
        },
    }

    spec: dict[str, Any] = {
        "k": k,
        "method": "randomized subspace iteration on AᵀA over the store (float32 passes, "
        "float64 Ritz values from (AQ)ᵀ(AQ))",
        "n_iter": n_iter,
        "oversample": oversample,
    }
    sv_keep = _nonzero_sv(np.linalg.svd(keep, compute_uv=False)) if keep is not None else None
    raw_sv = (params.get("reduced") or {}).get("singular_values")
    if sv_r is None and raw_sv is not None:
        sv_r, complete = np.asarray(raw_sv, np.float64), False
        r_method = "attrs (R̂ singular_values)"
    spec.update(
        sketch_columns=None if spectrum is None else spectrum.columns,
        expansion=sv,
        residual=None if spectrum is None else spectrum.residual,
        R=None if sv_r is None else sv_r[: max(k, len(raw_sv or []))],
        R_method=r_method,
        R_hat=sv_keep,
        R_hat_raw=raw_sv,
    )
    if sv is not None and sv_keep is not None and sv_r is not None:
        pred, valid = theorem1_prediction(sv_keep, sv_r, k, complete=complete)
        n_cmp = min(valid, sv.size)
        rel = (sv[:n_cmp] - pred[:n_cmp]) / pred[:n_cmp] if n_cmp else np.zeros(0)
        spec.update(
            prediction=pred[:valid],
            prediction_valid=int(valid),
            compared=int(n_cmp),
            relative_deviation=rel,
            max_relative_deviation=float(np.abs(rel).max()) if n_cmp else None,
            top1_ratio=float(sv[0] / pred[0]) if pred.size and pred[0] > 0 else None,
        )
    if sv is not None:
        shapes = {"expansion": sv, "R": sv_r, "R_hat": sv_keep}
        shapes["prediction"] = spec.get("prediction")
        spec["loglog_slope"] = {name: _spectrum_slope(v) for name, v in shapes.items()}
        if sv_r is not None and sv[0] > 0:
            n_sh = min(sv.size, sv_r.size)
            spec["normalized_max_abs_diff_vs_R"] = float(
                np.abs(sv[:n_sh] / sv[0] - sv_r[:n_sh] / sv_r[0]).max()
            )
    numbers["spectrum"] = spec

    # ---- block structure --------------------------------------------------------------
    gram = None
    blocks: dict[str, Any] = {}
    if block_sample > 0 and shape_in is not None and st.nnz["train"] > 0:
        try:
            gram, binfo = _block_gram(st, sample=int(block_sample), seed=seed, passes=passes)
        except StoreError as e:
            notes.append(f"block structure skipped: {e}")
        else:
            share = rank1_energy_share(gram)
            blocks.update(rank1_energy_share=share, **binfo)
            if keep is not None:
                dens_in = nnz_in / n_in if n_in and nnz_in else 0.0
                e_none, e_shuf = _expected_shares(keep, dens_in)
                blocks.update(expected_share_none=e_none, expected_share_shuffled=e_shuf)
                if e_none - e_shuf > 1e-12:
                    blocks["structure_left"] = (share - e_shuf) / (e_none - e_shuf)
            d = np.sqrt(np.clip(np.diag(gram), 1e-300, None))
            cos = gram / np.outer(d, d)
            off = cos[~np.eye(cos.shape[0], dtype=bool)]
            blocks["mean_offdiagonal_cosine"] = float(off.mean()) if off.size else None
    numbers["blocks"] = blocks
    lap("blocks")

    # ---- checks ----------------------------------------------------------------------
    checks: dict[str, Any] = {
        "train_test_disjoint": numbers["split"]["disjoint"],
        "train_rows_sorted_unique": numbers["split"]["train_duplicates"] == 0
        and numbers["split"]["unsorted_train_rows"] == 0,
        "user_degrees_sum_to_nnz": int(deg["user_train"].sum()) == st.nnz["train"],
        "item_degrees_sum_to_nnz": int(deg["item_train"].sum()) == st.nnz["train"],
        "input_sha256_matches": orig_info.get("sha256_matches"),
    }
    if deg["block_train"] is not None:
        checks["block_counts_sum_to_nnz"] = int(deg["block_train"].sum()) >= st.nnz["train"]
    numbers["checks"] = checks
    timings["total"] = round(time.perf_counter() - t_start, 3)
    numbers["timings"] = timings

    rep = ValidationReport(
        numbers=_jsonable(numbers), degrees=degrees, gram=gram, keep=keep, notes=notes
    )
    if report_dir is not None:
        rep.write(report_dir, figures=figures)
    return rep


# ======================================================================================
# command line
# ======================================================================================


def _cmd_validate(args: argparse.Namespace) -> int:
    from ._runner import client_from_args

    if args.k < 0:
        raise ParameterError(f"--k {args.k} must be ≥ 0")
    if args.no_original and args.original:
        raise ParameterError("give --original or --no-original, not both")
    with client_from_args(args) as sched:
        rep = validate(
            args.store,
            False if args.no_original else args.original,
            k=args.k,
            report_dir=args.report,
            seed=args.seed,
            scheduler=sched,
            progress=not args.quiet,
            n_iter=args.power_iterations,
            oversample=args.oversample,
            block_sample=args.block_sample,
            figures=not args.no_figures,
        )
    if args.json:
        print(rep.to_json())
    else:
        print(rep.summary())
        if rep.files:
            print(f"report: {rep.files['markdown']}")
    return 0 if rep.numbers["split"]["disjoint"] else 1


def register_cli(subparsers: Any) -> None:
    """Add the ``validate`` sub-command to the ``daskfractal`` argument parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``; the handler is set as ``func`` and returns the
        exit code (1 when train and test intersect).
    """
    p = subparsers.add_parser(
        "validate",
        help="fidelity report of an expansion store: degrees, spectrum, blocks, split",
        description="Compare an expansion store with its input (degree distributions, "
        "Kolmogorov-Smirnov distances, Gini, log-log slopes, randomized-SVD spectrum vs "
        "Theorem 1, block structure left, train/test sanity) and write report.json, "
        "report.md and figures.",
    )
    p.add_argument("store", metavar="STORE", help="an expansion store (Zarr or Parquet)")
    p.add_argument(
        "--original",
        metavar="INPUT",
        help="the input the store was expanded from (default: the source recorded in the "
        "store, when it still exists); pre-processed as the store records",
    )
    p.add_argument(
        "--no-original",
        action="store_true",
        help="do not load the original (R's degrees missing; saves its memory and time)",
    )
    p.add_argument("--k", type=int, default=64, help="singular values to compute (64; 0: none)")
    p.add_argument("--report", metavar="DIR", help="write report.json, report.md and PNGs here")
    p.add_argument("--seed", type=int, default=0, help="seed of the SVD sketch and samples (0)")
    p.add_argument(
        "--power-iterations",
        type=int,
        default=4,
        metavar="Q",
        help="power iterations of the randomized SVD (4)",
    )
    p.add_argument(
        "--oversample", type=int, default=10, metavar="P", help="extra sketch columns (10)"
    )
    p.add_argument(
        "--block-sample",
        type=int,
        default=BLOCK_SAMPLE,
        metavar="N",
        help=f"interactions used for the block structure score ({BLOCK_SAMPLE}; 0: skip)",
    )
    p.add_argument("--no-figures", action="store_true", help="numbers only, no PNGs")
    # threads by default: the sketch is shared between tasks instead of shipped to workers
    from ._runner import add_cluster_options

    add_cluster_options(p, local_default="threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print report.json to stdout")
    p.set_defaults(func=_cmd_validate)
