"""Ranking metrics of the leave-one-out protocol (pure NumPy/SciPy).

Each user has one held-out *target* item, and a model's scores are compared over a set of
*candidates*: every item not in the user's train row (:func:`full_ranks`, the "full"
protocol), or the target and ``K`` sampled negatives (:func:`sampled_ranks`, the NCF
protocol). Both reduce a user to two counts:

* ``greater``: candidates other than the target scoring strictly higher than the target;
* ``ties``: candidates other than the target scoring exactly as high.

:func:`hit_rate` and :func:`ndcg` turn the counts into per-user HR@k and NDCG@k.

Ties are broken uniformly at random *in expectation*: the target's 0-based position is taken
as uniform on ``{greater, ..., greater + ties}`` and each metric is its expectation over that
position, in closed form. A model that gives many items the same score (popularity gives one
score per item degree; a cold model scores everything 0) ties massively, and the two usual
alternatives both mislead: breaking ties by item id rewards or punishes a model for the
arbitrary numbering of the items (and the numbering differs between the original data set
and its expansion), and breaking them with random draws makes the metric depend on a seed.
The expected credit is deterministic and is the unbiased value of random tie-breaking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse

from .._checks import as_int
from ..errors import InputDataError

__all__ = ["METRICS", "full_ranks", "hit_rate", "metric_values", "ndcg", "sampled_ranks"]

#: The metrics of :func:`metric_values`, in the order of its keys for each cut-off ``k``.
METRICS = ("hr", "ndcg")


def _scores_and_targets(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``scores`` (2-D, real) and ``targets`` (1-D int64, one per row, in range)."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise InputDataError(f"scores must be 2-D (users, items), got shape {scores.shape}")
    if scores.dtype.kind not in "fiu":
        raise InputDataError(f"scores must be real numbers, got dtype {scores.dtype}")
    b, n_items = scores.shape
    targets = np.asarray(targets)
    if targets.shape != (b,):
        raise InputDataError(f"targets must have shape ({b},), got {targets.shape}")
    if targets.dtype.kind not in "iu":
        raise InputDataError(f"targets must be integers, got dtype {targets.dtype}")
    targets = targets.astype(np.int64, copy=False)
    if b and (targets.min() < 0 or targets.max() >= n_items):
        raise InputDataError(f"targets must be item ids in [0, {n_items})")
    return scores, targets


def _target_scores(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``scores[r, targets[r]]`` for every row; a NaN is an error."""
    t = scores[np.arange(scores.shape[0]), targets]
    if scores.dtype.kind == "f" and np.isnan(t).any():
        rows = np.flatnonzero(np.isnan(t))
        raise InputDataError(f"the score of the target is NaN (rows {rows[:5].tolist()})")
    return t


def full_ranks(
    scores: np.ndarray, exclude: scipy.sparse.csr_matrix, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rank counts of the target among every item not excluded (the "full" protocol).

    The candidates of row ``r`` are every item that is not a stored entry of ``exclude[r]``,
    the target included. The counts are taken over the whole row and the excluded entries'
    contributions subtracted with the CSR arrays (no loop over users).

    Parameters
    ----------
    scores : ndarray, shape (b, n_items), float or int
        The model's scores; higher is better. Excluded entries may hold anything (NaN, -inf).
    exclude : scipy.sparse matrix or array, shape (b, n_items)
        The users' train rows: the items that are not candidates. Every stored non-zero entry
        counts (explicit zeros are dropped and duplicates merged, as everywhere in
        daskfractal); converted to CSR when needed.
    targets : ndarray, shape (b,), int
        The held-out item of each row.

    Returns
    -------
    greater : ndarray, shape (b,), int64
        Candidates other than the target with a score strictly greater than the target's.
    ties : ndarray, shape (b,), int64
        Candidates other than the target with a score equal to the target's.

    Raises
    ------
    InputDataError (a ValueError)
        When a target is in its row of ``exclude``, when the score of a target or of a
        candidate is NaN, or on shapes, dtypes or item ids that do not fit.

    Notes
    -----
    Memory: one boolean array of the size of ``scores`` at a time, plus arrays of the size of
    ``exclude.nnz``.

    Examples
    --------
    Item 0 scores higher than the target 2 but is excluded; item 3 ties with it:

    >>> import numpy as np, scipy.sparse
    >>> scores = np.array([[0.9, 0.1, 0.5, 0.5], [0.3, 0.3, 0.3, 0.8]])
    >>> exclude = scipy.sparse.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]]))
    >>> greater, ties = full_ranks(scores, exclude, np.array([2, 0]))
    >>> greater.tolist(), ties.tolist()
    ([0, 1], [1, 2])
    """
    scores, targets = _scores_and_targets(scores, targets)
    b = scores.shape[0]
    if not scipy.sparse.issparse(exclude):
        raise InputDataError(f"exclude must be a scipy.sparse matrix, got {type(exclude)}")
    if exclude.shape != scores.shape:
        raise InputDataError(
            f"exclude has shape {exclude.shape}, and scores {scores.shape}: they must match"
        )
    ex = scipy.sparse.csr_matrix(exclude)  # a view-like conversion when already csr_matrix
    if not ex.has_canonical_format or (ex.data == 0).any():
        ex = ex.copy()
        ex.sum_duplicates()
        ex.eliminate_zeros()
    indptr = ex.indptr.astype(np.int64, copy=False)
    cols = ex.indices.astype(np.int64, copy=False)
    rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(indptr))
    hit = cols == targets[rows]
    if hit.any():
        bad = np.unique(rows[hit])
        raise InputDataError(
            f"the target is in the excluded items of rows {bad[:5].tolist()}"
            f"{' ...' if bad.size > 5 else ''}: a held-out item cannot be in the train row"
        )
    t = _target_scores(scores, targets)
    ex_scores = scores[rows, cols]
    if scores.dtype.kind == "f":
        nan_rows = np.count_nonzero(np.isnan(scores), axis=1)
        if nan_rows.any():
            nan_rows -= np.bincount(rows[np.isnan(ex_scores)], minlength=b)
            if nan_rows.any():
                bad = np.flatnonzero(nan_rows)
                raise InputDataError(
                    f"NaN scores among the candidates of rows {bad[:5].tolist()}"
                    f"{' ...' if bad.size > 5 else ''}"
                )
    tt = t[:, None]
    greater = np.count_nonzero(scores > tt, axis=1).astype(np.int64)
    ties = np.count_nonzero(scores == tt, axis=1).astype(np.int64) - 1  # minus the target
    t_rows = t[rows]
    greater -= np.bincount(rows[ex_scores > t_rows], minlength=b)
    ties -= np.bincount(rows[ex_scores == t_rows], minlength=b)
    return greater, ties


def sampled_ranks(
    scores: np.ndarray, targets: np.ndarray, negatives: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rank counts of the target among ``K`` sampled negatives (the NCF protocol).

    The candidates of row ``r`` are the target and the items ``negatives[r]``; a negative
    drawn twice counts twice (the negatives are taken as they were drawn).

    Parameters
    ----------
    scores : ndarray, shape (b, n_items), float or int
        The model's scores; higher is better. Only the targets and negatives are read.
    targets : ndarray, shape (b,), int
        The held-out item of each row.
    negatives : ndarray, shape (b, K), int
        Item ids of the sampled negatives of each row.

    Returns
    -------
    greater, ties : ndarray, shape (b,), int64
        As in :func:`full_ranks`, over the ``K`` negatives.

    Raises
    ------
    InputDataError (a ValueError)
        When a negative is the row's target (negatives are never positives in the protocol),
        when the score of a target or negative is NaN, or on shapes, dtypes or item ids that
        do not fit.

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.array([[0.9, 0.1, 0.5, 0.5]])
    >>> greater, ties = sampled_ranks(scores, np.array([2]), np.array([[0, 3, 3, 1]]))
    >>> greater.tolist(), ties.tolist()
    ([1], [2])
    """
    scores, targets = _scores_and_targets(scores, targets)
    b, n_items = scores.shape
    negatives = np.asarray(negatives)
    if negatives.ndim != 2 or negatives.shape[0] != b:
        raise InputDataError(f"negatives must have shape ({b}, K), got {negatives.shape}")
    if negatives.dtype.kind not in "iu":
        raise InputDataError(f"negatives must be integers, got dtype {negatives.dtype}")
    negatives = negatives.astype(np.int64, copy=False)
    if negatives.size and (negatives.min() < 0 or negatives.max() >= n_items):
        raise InputDataError(f"negatives must be item ids in [0, {n_items})")
    same = negatives == targets[:, None]
    if same.any():
        bad = np.flatnonzero(same.any(axis=1))
        raise InputDataError(
            f"a negative is the target in rows {bad[:5].tolist()}"
            f"{' ...' if bad.size > 5 else ''}: negatives are never held-out items"
        )
    t = _target_scores(scores, targets)
    neg = np.take_along_axis(scores, negatives, axis=1)
    if neg.dtype.kind == "f" and np.isnan(neg).any():
        bad = np.flatnonzero(np.isnan(neg).any(axis=1))
        raise InputDataError(f"NaN scores among the negatives of rows {bad[:5].tolist()}")
    tt = t[:, None]
    greater = np.count_nonzero(neg > tt, axis=1).astype(np.int64)
    ties = np.count_nonzero(neg == tt, axis=1).astype(np.int64)
    return greater, ties


def _counts(greater: np.ndarray, ties: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(greater)
    t = np.asarray(ties)
    if g.shape != t.shape or g.ndim != 1:
        raise InputDataError(
            f"greater and ties must be 1-D of the same shape, got {g.shape} and {t.shape}"
        )
    if g.dtype.kind not in "iu" or t.dtype.kind not in "iu":
        raise InputDataError(f"greater and ties must be integers, got {g.dtype} and {t.dtype}")
    if g.size and (g.min() < 0 or t.min() < 0):
        raise InputDataError("greater and ties must be >= 0")
    return g.astype(np.int64, copy=False), t.astype(np.int64, copy=False)


def hit_rate(greater: np.ndarray, ties: np.ndarray, k: int) -> np.ndarray:
    """Expected HR@k of each row: the probability that the target is in the top ``k``.

    With the target's 0-based position uniform on ``{g, ..., g + t}`` (``g = greater``,
    ``t = ties``), ``HR@k = #{p in that range : p < k} / (t + 1)
    = clip(k − g, 0, t + 1) / (t + 1)``.

    Parameters
    ----------
    greater, ties : ndarray, shape (b,), int
        From :func:`full_ranks` or :func:`sampled_ranks`.
    k : int
        The cut-off, ``>= 1``. A ``k`` larger than the number of candidates is allowed (every
        target is then a hit).

    Returns
    -------
    ndarray, shape (b,), float64
        In ``[0, 1]``.

    Raises
    ------
    ParameterError (a ValueError)
        When ``k < 1``.

    Examples
    --------
    A target below 1 better item and tied with 3 others is at position 1, 2, 3 or 4:

    >>> import numpy as np
    >>> hit_rate(np.array([1, 0, 5]), np.array([3, 0, 0]), k=3).tolist()
    [0.5, 1.0, 0.0]
    """
    k = as_int(k, "k", low=1)
    g, t = _counts(greater, ties)
    n = t + 1
    return np.clip(k - g, 0, n) / n


def ndcg(greater: np.ndarray, ties: np.ndarray, k: int) -> np.ndarray:
    """Expected NDCG@k of each row (one relevant item, so the ideal DCG is 1).

    ``NDCG@k = E[1{p < k} / log2(p + 2)]`` for the position ``p`` uniform on
    ``{g, ..., g + t}``: with the cumulative table ``C[m] = Σ_{p<m} 1 / log2(p + 2)``
    (``m <= k``), it is ``(C[min(g + t + 1, k)] − C[min(g, k)]) / (t + 1)``.

    Parameters
    ----------
    greater, ties : ndarray, shape (b,), int
        From :func:`full_ranks` or :func:`sampled_ranks`.
    k : int
        The cut-off, ``>= 1``.

    Returns
    -------
    ndarray, shape (b,), float64
        In ``[0, 1]``; 1 for a target strictly first.

    Raises
    ------
    ParameterError (a ValueError)
        When ``k < 1``.

    Examples
    --------
    Position 0 or 1 with equal probability: ``(1 + 1/log2(3)) / 2``:

    >>> import numpy as np
    >>> v = ndcg(np.array([0, 1]), np.array([1, 0]), k=10)
    >>> np.round(v, 6).tolist()
    [0.815465, 0.63093]
    """
    k = as_int(k, "k", low=1)
    g, t = _counts(greater, ties)
    table = np.zeros(k + 1, dtype=np.float64)
    np.cumsum(1.0 / np.log2(np.arange(k, dtype=np.float64) + 2.0), out=table[1:])
    hi = table[np.minimum(g + t + 1, k)]
    lo = table[np.minimum(g, k)]
    return (hi - lo) / (t + 1)


def metric_values(
    greater: np.ndarray, ties: np.ndarray, ks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` at every cut-off of ``ks``.

    Parameters
    ----------
    greater, ties : ndarray, shape (b,), int
        From :func:`full_ranks` or :func:`sampled_ranks`.
    ks : sequence of int
        Cut-offs, each ``>= 1``.

    Returns
    -------
    dict of str to ndarray, shape (b,), float64
        Keys ``"hr@k"`` then ``"ndcg@k"`` for each ``k`` in the order of ``ks``.

    Examples
    --------
    >>> import numpy as np
    >>> values = metric_values(np.array([0, 12]), np.array([0, 0]), [10, 20])
    >>> list(values)
    ['hr@10', 'ndcg@10', 'hr@20', 'ndcg@20']
    >>> values["hr@10"].tolist(), values["hr@20"].tolist()
    ([1.0, 0.0], [1.0, 1.0])
    """
    out: dict[str, np.ndarray] = {}
    for k in ks:
        k = as_int(k, "k", low=1)
        out[f"hr@{k}"] = hit_rate(greater, ties, k)
        out[f"ndcg@{k}"] = ndcg(greater, ties, k)
    return out
