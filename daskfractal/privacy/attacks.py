"""The attacks, as pure functions of sparse matrices: no store, no ground truth.

An attacker knows the real data ``R`` (m × n, binary) and the method. Inside one block
``(i, j)`` of an expansion, the synthetic users of block row ``i`` restricted to the items of
block column ``j`` are a Bernoulli-thinned copy of ``R`` with its rows and columns permuted.
The attacker

1. guesses the item permutation by matching item degrees (:func:`degree_item_map`): the
   column sums of the block are ``p · d(c)`` in expectation, so the k-th most popular
   synthetic item is taken for the k-th most popular real one (ties broken by a seeded draw);
2. optionally refines that guess by co-occurrence with users already linked
   (:func:`refine_item_map`): a synthetic item is mapped to the real item held by most of the
   real users its holders were linked to;
3. scores every real user against every synthetic segment (:func:`link_scores`), the
   log-likelihood of the segment being a thinned copy of the user's row under the guessed
   mapping, and takes the best ones.

:func:`topk_accuracy` and :func:`roc_auc` turn scores into the reported numbers; both give
ties their expected value under a random tie break, so a constant score is exactly at chance.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "binary_csr",
    "degree_item_map",
    "jaccard_best",
    "link_scores",
    "map_items",
    "refine_item_map",
    "roc_auc",
    "topk_accuracy",
]

#: Probability that an item of a segment is not in its source row under the guessed mapping
#: (the mapping errors), used by :func:`link_scores` when none is given.
MISMATCH = 0.05


def binary_csr(a: sp.spmatrix | sp.sparray, shape: tuple[int, int] | None = None) -> sp.csr_matrix:
    """``a`` as a canonical binary float64 CSR matrix (duplicates merged, values 1).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> binary_csr(sp.csr_matrix([[0, 2], [3, 0]])).toarray().tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    out = sp.csr_matrix(a, shape=shape, dtype=np.float64, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out


def _tie_break(n: int, seed: int, salt: int) -> np.ndarray:
    return np.random.default_rng([seed, salt]).random(n)


def degree_item_map(block: sp.spmatrix, real: sp.spmatrix, seed: int = 0) -> np.ndarray:
    """Guess which real item each synthetic item of a block copies, by degree rank.

    Parameters
    ----------
    block : scipy.sparse matrix, shape (k, n)
        The synthetic users of one block row restricted to one block column (binary).
    real : scipy.sparse matrix, shape (m, n)
        The real data ``R`` (binary).
    seed : int, default 0
        Breaks ties between items of equal degree.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        ``phi[x]``: the real item guessed for synthetic item ``x`` (a permutation).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> real = sp.csr_matrix(np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1]]))
    >>> block = real[:, [2, 0, 1]]  # synthetic item x is real item [2, 0, 1][x]
    >>> degree_item_map(block, real).tolist()
    [2, 0, 1]
    """
    n = real.shape[1]
    if block.shape[1] != n:
        raise ValueError(f"block has {block.shape[1]} items, real has {n}")
    syn_deg = np.asarray(binary_csr(block).sum(axis=0)).ravel()
    real_deg = np.asarray(binary_csr(real).sum(axis=0)).ravel()
    syn_order = np.lexsort((_tie_break(n, seed, 1), -syn_deg))
    real_order = np.lexsort((_tie_break(n, seed, 2), -real_deg))
    phi = np.empty(n, np.int64)
    phi[syn_order] = real_order
    return phi


def map_items(block: sp.spmatrix, phi: np.ndarray) -> sp.csr_matrix:
    """The rows of ``block`` with synthetic item ``x`` renamed ``phi[x]`` (binary CSR).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> map_items(sp.csr_matrix([[1, 0, 1]]), np.array([2, 0, 1])).toarray().tolist()
    [[0.0, 1.0, 1.0]]
    """
    b = binary_csr(block)
    return binary_csr(sp.csr_matrix((b.data, np.asarray(phi)[b.indices], b.indptr), shape=b.shape))


def link_scores(
    segments: sp.spmatrix,
    real: sp.spmatrix,
    keep: float,
    mismatch: float = MISMATCH,
) -> np.ndarray:
    """Log-likelihood that each segment is a thinned copy of each real user's row.

    A segment ``X`` (already in real item ids, :func:`map_items`) and a real row ``R_r`` with
    overlap ``o = |X ∩ R_r|``: every item of ``R_r`` is kept with probability ``keep``, and an
    item of ``X`` outside ``R_r`` is a mapping error of probability ``mismatch``. Up to terms
    that do not depend on ``r`` the log-likelihood is
    ``o · log(keep / ((1 - keep) · mismatch)) + |R_r| · log(1 - keep)``; ``keep`` is clipped
    to [0.01, 0.99] so that the true row of a keep-1 copy still wins over its supersets.

    Parameters
    ----------
    segments : scipy.sparse matrix, shape (s, n)
    real : scipy.sparse matrix, shape (m, n)
    keep : float
        The keep probability of the block (R̂[i, j]; estimated by the caller).
    mismatch : float, default 0.05

    Returns
    -------
    numpy.ndarray of float64, shape (s, m)
        Higher is more likely.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> real = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 1]]))
    >>> link_scores(sp.csr_matrix([[1, 1, 0, 0]]), real, 1.0).argmax(axis=1).tolist()
    [0]
    """
    p = float(np.clip(keep, 0.01, 0.99))
    q = float(np.clip(mismatch, 1e-6, 0.5))
    x = binary_csr(segments)
    r = binary_csr(real)
    overlap = (x @ r.T).toarray()
    size = np.diff(r.indptr).astype(np.float64)
    return overlap * np.log(p / ((1 - p) * q)) + size[None, :] * np.log(1 - p)


def refine_item_map(
    block: sp.spmatrix,
    real: sp.spmatrix,
    linked: np.ndarray,
    phi: np.ndarray,
) -> np.ndarray:
    """Improve an item mapping by co-occurrence with users already linked.

    Row ``a`` of ``block`` was linked to real user ``linked[a]`` (-1: not linked). A synthetic
    item ``x`` is mapped to the real item held by the largest share of the real users its
    linked holders point to (``co[x, c] / sqrt(d(c))`` over the linked users, ``d`` the real
    degree among them); items without a linked holder keep ``phi[x]``.

    Parameters
    ----------
    block : scipy.sparse matrix, shape (k, n)
    real : scipy.sparse matrix, shape (m, n)
    linked : numpy.ndarray of int64, shape (k,)
    phi : numpy.ndarray of int64, shape (n,)
        The current mapping (:func:`degree_item_map`).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        The refined mapping (not necessarily a permutation).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> real = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0]]))
    >>> block = real[:, [1, 2, 0]]
    >>> refine_item_map(block, real, np.array([0, 1, 2]), np.array([0, 1, 2])).tolist()
    [1, 2, 0]
    """
    linked = np.asarray(linked, dtype=np.int64)
    ok = np.flatnonzero(linked >= 0)
    out = np.array(phi, dtype=np.int64, copy=True)
    if ok.size == 0:
        return out
    b = binary_csr(block)[ok]
    r = binary_csr(real)[linked[ok]]
    co = (b.T @ r).tocsr()  # (n syn, n real)
    deg = np.asarray(r.sum(axis=0)).ravel()
    co = sp.csr_matrix(co @ sp.diags(1.0 / np.sqrt(np.maximum(deg, 1.0))))
    has = np.flatnonzero(np.diff(co.indptr) > 0)
    if has.size:
        out[has] = np.asarray(co[has].argmax(axis=1)).ravel()
    return out


def topk_accuracy(scores: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """Per row, the probability that ``truth`` is among the ``k`` best scores (random ties).

    With ``g`` scores strictly above the true one and ``e`` equal to it (itself included),
    the credit is ``clip((k - g) / e, 0, 1)``: the expected hit under a uniform tie break, so a
    constant score gives exactly ``k / m``.

    Examples
    --------
    >>> import numpy as np
    >>> topk_accuracy(np.array([[3.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), np.array([0, 1]), 1)
    array([1.        , 0.33333333])
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    true = scores[np.arange(len(truth)), truth][:, None]
    greater = (scores > true).sum(axis=1)
    equal = (scores == true).sum(axis=1)
    return np.clip((k - greater) / equal, 0.0, 1.0)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties 1/2.

    The Mann-Whitney U statistic over average ranks (no scikit-learn).

    Examples
    --------
    >>> roc_auc([0.9, 0.8, 0.4], [0.1, 0.4])
    0.9166666666666666
    """
    from scipy.stats import rankdata

    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))


def jaccard_best(segments: sp.spmatrix, real: sp.spmatrix) -> np.ndarray:
    """For each real row, the largest Jaccard similarity with any segment (0 if none).

    The distance to the closest synthetic record is one minus it.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> segs = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1]]))
    >>> jaccard_best(segs, sp.csr_matrix(np.array([[1, 1, 1], [0, 0, 1]]))).tolist()
    [0.6666666666666666, 1.0]
    """
    x = binary_csr(segments)
    r = binary_csr(real)
    if x.shape[0] == 0:
        return np.zeros(r.shape[0])
    inter = (r @ x.T).toarray()
    union = np.diff(r.indptr)[:, None] + np.diff(x.indptr)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return sim.max(axis=1)
