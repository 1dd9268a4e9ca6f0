"""Block structure left by the shuffles: the Van Loan–Pitsianis Gram matrix of the blocks.

The Gram matrix of the ``m' × n'`` blocks over all rows (small stores) or over a seeded sample
of row windows of ``R`` (large ones); its rank-1 energy share
(:func:`~daskfractal.validation.stats.rank1_energy_share`) measures how Kronecker-like the
expansion still is.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from .._checks import as_int, as_seed
from .._dask import tree_reduce
from .._names import BLOCK_SAMPLE
from ..errors import StoreError
from ..store import ExpansionStore, StorePath
from .passes import READ_NNZ, Passes, SingleThreadedBlas, add, as_store, csr_rows

__all__ = ["BLOCK_SAMPLE", "block_gram"]


def _block_task(
    path: str | StorePath,
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
        ip, ix = csr_rows(path, u0, u1)
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
        Interactions to use at most (approximately), ``≥ 1``.
    seed : int, default 0
        An integer in ``[0, 2**64)``.
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
    sample = as_int(sample, "sample", low=1)
    seed = as_seed(seed)
    st = as_store(store)
    with SingleThreadedBlas():
        return block_gram_of(st, sample=sample, seed=seed, passes=Passes(scheduler, progress))


def input_shape(st: ExpansionStore) -> tuple[int, int] | None:
    """``(m, n)``, the shape of the expansion's input ``R`` recorded in the store, or None."""
    shape = st.attrs.get("params", {}).get("input_shape")
    if shape is None:
        return None
    return int(shape[0]), int(shape[1])


def block_gram_of(
    st: ExpansionStore, *, sample: int, seed: int, passes: Passes
) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`block_gram` of an open store with checked parameters, on ``passes``."""
    import dask

    shape = input_shape(st)
    mp, npr = st.layout.blocks
    if shape is None:
        raise StoreError(f"{st.path}: params.input_shape is missing; cannot locate the blocks")
    m, n = shape
    if n * npr != st.n_items:
        raise StoreError(f"{st.path}: {st.n_items} items is not n'·n = {npr}·{n}")
    sample = as_int(sample, "sample", low=1)
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
        tasks.append(dask.delayed(_block_task, pure=True)(st.path, pieces, m, n, npr, mp * npr))
    g = passes.run(
        "block Gram matrix" + (" (all rows)" if exact else f" ({n_rows} sampled rows of R)"),
        tree_reduce(tasks, add),
    )
    info = {
        "exact": bool(exact),
        "rows": int(n_rows),
        "of_rows": int(m),
        "interactions": round(float(np.trace(g))),
        "windows": [list(w) for w in windows] if not exact else len(windows),
    }
    return g, info
