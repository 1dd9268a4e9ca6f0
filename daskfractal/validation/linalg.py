"""Randomized SVD of a store's train matrix (out-of-core) and of an in-memory R.

Randomized subspace iteration (Halko, Martinsson & Tropp 2011, Algorithms 4.4 / 5.1, with the
sketch on the item side): ``n_power_iter`` passes ``Z = Aᵀ(A Q)``, each followed by a
re-orthonormalization ``Q = qr(Z)``, then one pass accumulating ``(A Q)ᵀ(A Q)`` whose
generalized eigenvalues are the squared Ritz values. The parameter names follow
:func:`dask.array.linalg.svd_compressed` (``n_power_iter``, ``n_oversamples``).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np

from .._checks import as_int, as_seed
from ..errors import ParameterError
from ..store import ExpansionStore
from .passes import (
    Passes,
    SingleThreadedBlas,
    as_store,
    indptr_of,
    lanes_graph,
    pass_task,
    row_plan,
    tasks_per_pass,
)

__all__ = ["randomized_svd"]

#: Deprecated keyword → its dask-style name (:func:`dask.array.linalg.svd_compressed`).
RENAMED_KEYWORDS = {"n_iter": "n_power_iter", "oversample": "n_oversamples"}

F = TypeVar("F", bound=Callable[..., Any])


def renamed_svd_keywords(func: F) -> F:
    """Accept the former keyword names ``n_iter`` / ``oversample`` of ``func`` with a
    DeprecationWarning; giving both a former and its new name is a :class:`ParameterError`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for old, new in RENAMED_KEYWORDS.items():
            if old not in kwargs:
                continue
            if new in kwargs:
                raise ParameterError(f"give {new}= only ({old}= is its deprecated name)")
            warnings.warn(
                f"{func.__name__}({old}=...) is deprecated: use {new}=",
                DeprecationWarning,
                stacklevel=2,
            )
            kwargs[new] = kwargs.pop(old)
        return func(*args, **kwargs)

    return cast(F, wrapper)


CHUNK_ROWS = 2**16


def gram64(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``aᵀ b`` (``aᵀ a``) of tall float32 matrices, accumulated in float64 over row chunks."""
    other = a if b is None else b
    g = np.zeros((a.shape[1], other.shape[1]), np.float64)
    for i in range(0, a.shape[0], CHUNK_ROWS):
        x = a[i : i + CHUNK_ROWS].astype(np.float64)
        y = x if b is None else other[i : i + CHUNK_ROWS].astype(np.float64)
        g += x.T @ y
    return g


def orthonormal(z: np.ndarray) -> np.ndarray:
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
            r = cholesky(gram64(q), lower=False, check_finite=True)
            rinv = solve_triangular(r, eye, lower=False)
            for i in range(0, q.shape[0], CHUNK_ROWS):
                q[i : i + CHUNK_ROWS] = q[i : i + CHUNK_ROWS].astype(np.float64) @ rinv
        err = np.abs(gram64(q) - eye).max()
        if np.isfinite(err) and err < 1e-4:
            return q
    except (LinAlgError, ValueError):
        pass
    if not np.all(np.isfinite(q)):  # a failed round: start again from the input
        q = np.array(z, dtype=np.float32)
    h, _ = np.linalg.qr(q.astype(np.float64))
    return np.ascontiguousarray(h, dtype=np.float32)


@dataclass
class Spectrum:
    values: np.ndarray  # top-k Ritz values, descending
    residual: np.ndarray  # ‖AᵀA v − σ² v‖ / σ² of each Ritz pair (v unit)
    columns: int


def svd_and_split(
    st: ExpansionStore,
    k: int,
    *,
    n_power_iter: int,
    n_oversamples: int,
    seed: int,
    passes: Passes,
    check_split: bool,
    empty_items: np.ndarray | None,
) -> tuple[Spectrum | None, np.ndarray | None]:
    """Top-k singular values of the train matrix and the split counts (fused last pass)."""
    import dask

    n_users, n_items, nnz = st.n_users, st.n_items, st.nnz["train"]
    plan = row_plan(indptr_of(st, "train"), n_users, nnz, tasks_per_pass(nnz))
    path = st.path
    do_svd = bool(k > 0 and nnz > 0 and plan)
    if not plan or not (do_svd or check_split):
        return None, None
    task = dask.delayed(pass_task, pure=True)
    q = None
    l = 0  # noqa: E741
    if do_svd:
        l = min(k + n_oversamples, n_users, n_items)  # noqa: E741
        rng = np.random.default_rng(seed)
        q = orthonormal(rng.standard_normal((n_items, l), dtype=np.float32))
        for it in range(n_power_iter):
            qd = passes.share(q)
            root = lanes_graph(task, plan, (path, qd, False, None, False))
            what = f"power iteration {it + 1}/{n_power_iter}: Z = Aᵀ(A Q), {l} columns"
            q = orthonormal(passes.run(what, root)["z"])
    qd = passes.share(q) if q is not None else None
    ed = passes.share(empty_items) if empty_items is not None else None
    root = lanes_graph(task, plan, (path, qd, True, ed, check_split))
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
        lam, w = eigh(res["c"], gram64(q))
        lam, w = lam[::-1], w[:, ::-1]
        lam = np.clip(lam, 0.0, None)
        # residual of each Ritz pair (v = Q w, ‖v‖ = 1): ‖AᵀA v − λ v‖ = ‖Z w − λ Q w‖
        sq = np.zeros(l)
        z = res["z"]
        for i in range(0, n_items, CHUNK_ROWS):
            zw = z[i : i + CHUNK_ROWS].astype(np.float64) @ w
            qw = q[i : i + CHUNK_ROWS].astype(np.float64) @ w
            sq += ((zw - qw * lam) ** 2).sum(axis=0)
        norms = np.sqrt(sq)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(lam > 0, norms / lam, np.inf)
        spec = Spectrum(values=np.sqrt(lam)[:k], residual=rel[:k], columns=l)
    return spec, (res["counts"] if check_split else None)


@renamed_svd_keywords
def randomized_svd(
    store: str | os.PathLike | ExpansionStore,
    k: int = 64,
    *,
    n_power_iter: int = 4,
    n_oversamples: int = 10,
    seed: int = 0,
    scheduler: Any = None,
    progress: bool = False,
) -> np.ndarray:
    """Top-k singular values of a store's (binarized) train matrix, out-of-core.

    Randomized subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4 with the sketch on
    the item side): a seeded Gaussian ``Ω`` (items × ``l``, ``l = k + n_oversamples``) is
    orthonormalized, then each of the ``n_power_iter`` passes computes ``Z = Aᵀ(A Q)`` — one Dask
    task per user-row range reading the store, accumulating in float32 into one of ``LANES``
    chained partial sums, combined by a tree — and re-orthonormalizes ``Q = qr(Z)``
    (CholeskyQR2, float32) on the client. A last pass accumulates ``C = (A Q)ᵀ(A Q)`` in
    float64 (and ``AᵀA Q`` for the residuals that :func:`validate` reports); the square roots
    of the generalized eigenvalues of ``(C, QᵀQ)`` (the Ritz values of ``A`` on ``span Q``,
    ``Q`` spanning ``(AᵀA)^n_power_iter Ω``) are returned.
    ``n_power_iter + 1`` passes apply ``A`` ``2·n_power_iter + 1`` times, as many as Halko et
    al.'s ``q = n_power_iter`` less one. The result depends only on the store, ``k``,
    ``n_power_iter``, ``n_oversamples`` and ``seed`` — not on the scheduler or the number of
    workers (the reduction tree is fixed by the store's size).

    Parameters
    ----------
    store : path or ExpansionStore
    k : int, default 64
        Number of singular values (``1 ≤ k ≤ min(n_users, n_items)``).
    n_power_iter : int, default 4
        Power iterations (passes over the data before the last one); formerly ``n_iter``
        (deprecated, still accepted with a DeprecationWarning). The name of
        :func:`dask.array.linalg.svd_compressed`.
    n_oversamples : int, default 10
        Extra columns of the sketch; formerly ``oversample`` (deprecated).
    seed : int, default 0
        Seed of ``Ω``, an integer in ``[0, 2**64)``.
    scheduler : None, str or distributed.Client
        See :func:`daskfractal._dask.run`; threads by default.
    progress : bool, default False
        Progress bars for the passes.

    Returns
    -------
    ndarray of float64, shape (k,)
        Descending.

    Notes
    -----
    Memory: about ``(n_items + rows per read) · (k + n_oversamples)`` numbers per running task and
    per partial sum, independent of the number of interactions.
    """
    k = as_int(k, "k", low=0)
    n_power_iter = as_int(n_power_iter, "n_power_iter", low=0)
    n_oversamples = as_int(n_oversamples, "n_oversamples", low=0)
    seed = as_seed(seed)
    st = as_store(store)
    k = min(k, st.n_users, st.n_items)
    with SingleThreadedBlas():
        spec, _ = svd_and_split(
            st,
            k,
            n_power_iter=n_power_iter,
            n_oversamples=n_oversamples,
            seed=seed,
            passes=Passes(scheduler, progress),
            check_split=False,
            empty_items=None,
        )
    return np.zeros(0) if spec is None else spec.values


def top_singular_values(mat: Any, k: int, seed: int) -> tuple[np.ndarray, bool, str]:
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
