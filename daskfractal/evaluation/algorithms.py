"""The recommender baselines of ``daskfractal evaluate``, and how user models plug in.

Every model is an object with ``name``, ``fit(train, timestamps=None)`` and a batched
``score(users) -> (len(users), n_items)`` (:class:`Recommender`). The built-ins:

- ``random`` (:class:`RandomScores`): seeded uniform scores; ``seed``.
- ``popularity`` (:class:`Popularity`): item train degree; no hyper-parameters.
- ``itemknn`` (:class:`ItemKNN`): item-based kNN with shrunk cosine similarity (Sarwar et al.
  2001); ``k``, ``shrink``.
- ``rp3beta`` (:class:`RP3beta`): popularity-penalised 3-step random walk (Paudel et al.
  2017); ``alpha``, ``beta``, ``k``, ``normalize``.
- ``ease`` (:class:`EASE`): closed-form linear item-item model (Steck 2019); ``l2``.
- ``puresvd`` (:class:`PureSVD`): truncated-SVD projection (Cremonesi et al. 2010);
  ``factors``, ``seed``.
- ``infae`` (:class:`InfiniteAE`): ∞-AE, kernel ridge regression with a ReLU NTK between users
  (Sachdeva et al. 2022); ``l2``, ``max_users``, ``seed``.
- ``transitions`` (:class:`Transitions`, sequential, needs timestamps): item-to-next-item
  transitions; ``history``, ``decay``.

:func:`make_algorithm` builds one from a spec such as ``"ease:l2=200"``, :func:`as_recommender`
accepts a user's object or a plain ``fit_fn(train) -> score_fn`` callable, and
:func:`checked_fit` / :func:`checked_scores` run any of them, turning a failure or an
impossible score array into one :class:`~daskfractal.errors.AlgorithmError`.

Scores are deterministic: the same train matrix and seed give bit-identical scores whatever
the batches of users (products with a sparse matrix run row by row; the few dense products
run in zero-padded blocks of a fixed number of rows, since BLAS takes other code paths, with
other rounding, for a handful of rows). No model builds a dense ``n_users × n_items`` matrix;
``itemknn``, ``rp3beta`` and ``ease`` hold or stream ``n_items × n_items`` dense arrays
(``quadratic_in_items``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

from .._checks import as_int, as_seed
from .._names import DEFAULT_ALGORITHMS
from ..errors import AlgorithmError, ParameterError

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "EASE",
    "SEQUENTIAL_ALGORITHMS",
    "CallableRecommender",
    "InfiniteAE",
    "ItemKNN",
    "Popularity",
    "PureSVD",
    "RP3beta",
    "RandomScores",
    "Recommender",
    "Transitions",
    "as_recommender",
    "checked_fit",
    "checked_scores",
    "make_algorithm",
    "relu_ntk",
]

#: Bytes of one dense block of an item-item model (a block of rows of the item Gram matrix).
_BLOCK_BYTES = 2**26
#: Rows of every dense matrix product of a score (zero-padded): BLAS rounds the same way
#: for every row only when the shape of the call does not change with the batch.
_GEMM_ROWS = 64


# --------------------------------------------------------------------------------------
# the protocol


@runtime_checkable
class Recommender(Protocol):
    """What ``daskfractal evaluate`` needs of a model: a name, ``fit`` and a batched ``score``.

    ``fit`` receives the train matrix (CSR, float32, binary, ``(n_users, n_items)``, sorted
    indices, no duplicates, possibly empty rows and columns) and, for models with
    ``needs_timestamps = True``, the time of each train interaction (a CSR matrix with
    train's ``indptr``/``indices`` and int64 data). ``score(users)`` takes int64 row indices
    into that train matrix and returns a float ``(len(users), n_items)`` array, higher is
    better, train items not masked.
    """

    name: str

    def fit(self, train: sp.csr_matrix, timestamps: sp.csr_matrix | None = None) -> None:
        """Learn from ``train`` (and ``timestamps`` when the model needs them)."""

    def score(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for ``users``: shape ``(len(users), n_items)``."""


# --------------------------------------------------------------------------------------
# parameter checks


def _as_float(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    low_open: bool = False,
    high: float | None = None,
) -> float:
    """``value`` as a finite Python float in the given range, else :class:`ParameterError`."""
    number: float | None
    if isinstance(value, bool | np.bool_ | str | bytes):
        number = None
    else:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = None
    ok = number is not None and math.isfinite(number)
    if ok and number is not None and low is not None:
        ok = number > low if low_open else number >= low
    if ok and number is not None and high is not None:
        ok = number <= high
    if not ok or number is None:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            bounds.append(f"<= {high:g}")
        what = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
        raise ParameterError(f"{name} must be {what}, got {value!r}")
    return number


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _as_flag(value: Any, name: str) -> bool:
    """``value`` as a bool: a bool, 0/1 or true/false/yes/no/on/off."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ParameterError(f"{name} must be a flag (true/false or 1/0), got {value!r}")


def _train_matrix(train: Any) -> sp.csr_matrix:
    """The train matrix as a float64 CSR matrix with sorted indices (a copy)."""
    if not sp.issparse(train) or len(train.shape) != 2:
        raise ParameterError(f"train must be a 2-D scipy.sparse matrix, got {type(train).__name__}")
    x = sp.csr_matrix(train, dtype=np.float64, copy=True)
    x.sum_duplicates()
    x.sort_indices()
    return x


def _user_rows(users: Any, n_users: int) -> np.ndarray:
    """``users`` as a 1-D int64 array of row indices in ``[0, n_users)``."""
    u = np.asarray(users)
    if u.ndim != 1 or (u.size and u.dtype.kind not in "iu"):
        raise ParameterError(
            f"users must be a 1-D integer array, got shape {u.shape} and dtype {u.dtype}"
        )
    u = u.astype(np.int64, copy=False)
    if u.size and (u.min() < 0 or u.max() >= n_users):
        raise ParameterError(
            f"users must be row indices in [0, {n_users}), got values in [{u.min()}, {u.max()}]"
        )
    return u


# --------------------------------------------------------------------------------------
# dense linear algebra shared by the models


def _rows_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` computed in zero-padded blocks of :data:`_GEMM_ROWS` rows.

    Row ``i`` of the result is bit-identical whatever the other rows of ``a``: BLAS picks
    other kernels (and so other rounding) for a call with a few rows than for a full block.
    """
    a = np.ascontiguousarray(a, dtype=np.float64)
    m = a.shape[0]
    out = np.empty((m, b.shape[1]), dtype=np.float64)
    pad = np.zeros((_GEMM_ROWS, a.shape[1]), dtype=np.float64)
    for r0 in range(0, m, _GEMM_ROWS):
        r1 = min(m, r0 + _GEMM_ROWS)
        if r1 - r0 == _GEMM_ROWS:
            out[r0:r1] = a[r0:r1] @ b
        else:
            pad[: r1 - r0] = a[r0:r1]
            pad[r1 - r0 :] = 0.0
            out[r0:r1] = (pad @ b)[: r1 - r0]
    return out


def _block_rows(n_rows: int, n_cols: int) -> int:
    """Rows of a dense float64 block of ``n_cols`` columns that fit :data:`_BLOCK_BYTES`."""
    return max(1, min(max(n_rows, 1), _BLOCK_BYTES // (8 * max(n_cols, 1))))


def _dense_gram(x: sp.csr_matrix) -> np.ndarray:
    """The dense ``xᵀx`` (float64, C order), built block of rows by block of rows."""
    xt = x.T.tocsr()
    n = x.shape[1]
    gram = np.empty((n, n), dtype=np.float64)
    step = _block_rows(n, n)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        gram[r0:r1] = (xt[r0:r1] @ x).toarray()
    return gram


def _symmetrize_from_lower(a: np.ndarray) -> None:
    """Copy the lower triangle of the square ``a`` onto its upper triangle, in place."""
    n = a.shape[0]
    step = _block_rows(n, n)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        block = a[r0:r1, r0:r1]
        upper = np.triu_indices(r1 - r0, 1)
        block[upper] = block.T[upper]
        a[r0:r1, r1:] = a[r1:, r0:r1].T


def _spd_inverse(a: np.ndarray, name: str, what: str) -> np.ndarray:
    """The inverse of the symmetric positive definite ``a``, computed in ``a``'s memory.

    LAPACK ``dpotrf`` (Cholesky) then ``dpotri`` (inverse from the factor) work on one
    triangle in place, so the peak memory is ``a`` itself. ``a`` (C order) is handed to
    LAPACK as its transpose (Fortran order, the same values since ``a`` is symmetric).

    BLAS runs single-threaded here: OpenBLAS' multi-threaded ``dpotrf`` (0.3.30 and
    0.3.31, SkylakeX kernels, both the SciPy and the NumPy wheels) crashes the process
    with a segmentation fault from about 16,000 items on a 2-core machine, and the
    second thread only saved ~10 % there.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _spd_inverse_in_place(a, name, what)


def _spd_inverse_in_place(a: np.ndarray, name: str, what: str) -> np.ndarray:
    factor, info = lapack.dpotrf(a.T, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        detail = (
            f"the leading minor of order {info} is not positive definite"
            if info > 0
            else f"dpotrf argument {-info} is invalid"
        )
        raise AlgorithmError(
            f"algorithm {name!r} failed to fit: Cholesky factorization of {what} failed "
            f"({detail}); increase l2"
        )
    inverse, info = lapack.dpotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise AlgorithmError(
            f"algorithm {name!r} failed to fit: inverting {what} from its Cholesky factor "
            f"failed (dpotri info={info}); increase l2"
        )
    out = np.ascontiguousarray(inverse.T)
    # the upper triangle of the Fortran-order factor is the lower triangle of ``out``
    _symmetrize_from_lower(out)
    return out


def _top_k_per_row(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row of ``block``, zeros dropped.

    Returns ``(row, column, value)`` arrays of the kept entries (ties at the k-th value are
    broken by :func:`numpy.argpartition`, deterministically for a given block).
    """
    m, n = block.shape
    if k < n:
        cols = np.argpartition(-block, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(block, cols, axis=1)
    else:
        cols = np.broadcast_to(np.arange(n), (m, n))
        vals = block
    keep = vals != 0
    rows = np.nonzero(keep)[0]
    return rows, cols[keep], vals[keep]


def _row_normalize(x: sp.csr_matrix) -> sp.csr_matrix:
    """``x`` with every row divided by its sum (empty rows stay empty)."""
    sums = np.asarray(x.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums != 0)
    return sp.csr_matrix(sp.diags(inv) @ x)


# --------------------------------------------------------------------------------------
# the base of the built-ins


class _Builtin:
    """Validation and bookkeeping shared by the built-in models."""

    name: str = ""
    needs_timestamps: bool = False
    quadratic_in_items: bool = False

    def __init__(self) -> None:
        self.n_users_ = 0
        self.n_items_ = 0
        self._train: sp.csr_matrix | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The hyper-parameters (JSON-serializable)."""
        return {}

    def fit(self, train: sp.csr_matrix, timestamps: sp.csr_matrix | None = None) -> None:
        """Learn from ``train`` (``(n_users, n_items)`` sparse); see :class:`Recommender`."""
        x = _train_matrix(train)
        self.n_users_, self.n_items_ = (int(s) for s in x.shape)
        self._fit(x, timestamps)
        self._train = x

    def score(self, users: np.ndarray) -> np.ndarray:
        """Float64 scores of shape ``(len(users), n_items)`` for the train rows ``users``."""
        if self._train is None:
            raise AlgorithmError(
                f"algorithm {self.name!r} is not fitted: call fit(train) before score"
            )
        rows = _user_rows(users, self.n_users_)
        return self._score(self._train, rows)

    def _fit(self, x: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        pass

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------------------------
# the built-ins


class RandomScores(_Builtin):
    """Seeded uniform random scores (the floor of every metric); hyper-parameter ``seed``.

    The scores of user row ``u`` are ``numpy.random.default_rng([seed, u]).random(n_items)``:
    uniform on ``[0, 1)``, a pure function of ``(seed, u)``, so batches do not matter.

    Parameters
    ----------
    seed : int, default 0
        In ``[0, 2**64)``.

    Examples
    --------
    >>> x = sp.csr_matrix(np.eye(3, 4, dtype=np.float32))
    >>> rec = RandomScores(seed=1)
    >>> rec.fit(x)
    >>> s = rec.score(np.array([0, 2]))
    >>> s.shape, s.dtype
    ((2, 4), dtype('float64'))
    >>> bool((rec.score(np.array([2])) == s[1]).all())
    True
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = as_seed(seed)

    @property
    def params(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        out = np.empty((len(users), self.n_items_), dtype=np.float64)
        for r, u in enumerate(users):
            out[r] = np.random.default_rng([self.seed, int(u)]).random(self.n_items_)
        return out


class Popularity(_Builtin):
    """Most-popular baseline: an item's score is its train degree; no hyper-parameters.

    Every user gets the same float64 score row, the column sums of the train matrix.

    Examples
    --------
    >>> x = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0]], dtype=np.float32))
    >>> rec = Popularity()
    >>> rec.fit(x)
    >>> rec.score(np.array([0, 1]))
    array([[1., 2., 0.],
           [1., 2., 0.]])
    """

    name = "popularity"

    def _fit(self, x: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        self.popularity_ = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(users), 1))


class ItemKNN(_Builtin):
    """Item-based kNN (Sarwar et al. 2001) with shrunk cosine similarity; ``k``, ``shrink``.

    The similarity of items ``i`` and ``j`` (columns ``x_i``, ``x_j`` of train) is
    ``sim(i, j) = x_i·x_j / (‖x_i‖ ‖x_j‖ + shrink)`` (0 when the denominator is 0), with
    ``sim(j, j) = 0``. Each item ``j`` keeps its ``k`` most similar items: column ``j`` of the
    sparse ``(n_items, n_items)`` matrix ``S`` (:attr:`similarity_`) holds them, and the
    score of user ``u`` is ``x_u S`` (the similarities of ``j`` to the items of ``u``, over
    ``j``'s neighbourhood). ``S`` is computed in blocks of items from the sparse Gram matrix,
    so the memory is one dense ``n_items × block`` array plus ``nnz(S) <= k n_items``.

    Parameters
    ----------
    k : int, default 100
        Neighbours kept per item (>= 1); ``k >= n_items - 1`` keeps them all.
    shrink : float, default 0
        Added to the denominator (>= 0): damps similarities supported by few users.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix of float64, shape (n_items, n_items)

    Examples
    --------
    >>> x = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 1, 0]], dtype=np.float32))
    >>> rec = ItemKNN(k=1)
    >>> rec.fit(x)
    >>> rec.similarity_.toarray().round(3)
    array([[0.   , 0.816, 0.   ],
           [0.816, 0.   , 0.577],
           [0.   , 0.   , 0.   ]])
    >>> rec.score(np.array([1])).round(3)
    array([[0.816, 0.   , 0.577]])
    """

    name = "itemknn"
    quadratic_in_items = True

    def __init__(self, k: int = 100, shrink: float = 0.0) -> None:
        super().__init__()
        self.k = as_int(k, "k", low=1)
        self.shrink = _as_float(shrink, "shrink", low=0.0)

    @property
    def params(self) -> dict[str, Any]:
        return {"k": self.k, "shrink": self.shrink}

    def _fit(self, x: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        n = x.shape[1]
        xt = x.T.tocsr()
        norms = np.sqrt(np.asarray(xt.multiply(xt).sum(axis=1), dtype=np.float64).ravel())

        def block(r0: int, r1: int) -> np.ndarray:
            dots = (xt[r0:r1] @ x).toarray()  # dots[j - r0, i] = x_j · x_i
            denom = np.multiply.outer(norms[r0:r1], norms) + self.shrink
            return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)

        # row j of the blocks holds item j's neighbours; S stores them as column j
        self.similarity_ = _blocked_top_k(block, n, self.k, transpose=True)

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return np.asarray((x[users] @ self.similarity_).toarray())


def _blocked_top_k(
    block: Callable[[int, int], np.ndarray], n: int, k: int, *, transpose: bool
) -> sp.csr_matrix:
    """An ``n × n`` item-item CSR matrix (sorted indices) built block of rows by block of rows.

    ``block(r0, r1)`` gives the dense rows ``[r0, r1)`` (float64, ``(r1 - r0, n)``); their
    diagonal is zeroed and the ``k`` largest entries of each row are kept
    (:func:`_top_k_per_row`). ``transpose``: row ``j`` of the blocks becomes column ``j``.
    Memory: one block (:func:`_block_rows`) plus the kept entries.
    """
    step = _block_rows(n, n)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        dense = block(r0, r1)
        dense[np.arange(r1 - r0), np.arange(r0, r1)] = 0.0
        row, col, value = _top_k_per_row(dense, k)
        rows.append(row + r0)
        cols.append(col)
        vals.append(value)
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0, np.float64)
    if transpose:
        r, c = c, r
    out = sp.csr_matrix((v, (r, c)), shape=(n, n), dtype=np.float64)
    out.sort_indices()
    return out


class RP3beta(_Builtin):
    """RP3beta (Paudel et al. 2017) random-walk item similarity; ``alpha``, ``beta``, ``k``.

    With ``P_ui`` the row-normalized train matrix (user → item transition probabilities),
    ``P_iu`` the row-normalized binary ``trainᵀ`` (item → user), both raised elementwise to
    the power ``alpha`` (as in P3alpha: each one-step transition probability is powered),
    the item-item weight is

    ``W[i, j] = (P_iu^alpha @ P_ui^alpha)[i, j] / deg(j)^beta``

    with ``deg(j)`` the train degree of item ``j`` (items without interactions get weight 0),
    ``W[i, i] = 0``, and each row ``i`` keeping its ``k`` largest weights; with
    ``normalize`` the kept rows are divided by their sums. The score of user ``u`` is
    ``x_u W``. This follows the reference implementation of Dacrema et al. (2019,
    ``RP3betaRecommender``); ``W`` is computed in blocks of rows, so the memory is one dense
    ``block × n_items`` array plus ``nnz(W) <= k n_items``.

    Parameters
    ----------
    alpha : float, default 1.0
        Power of the transition probabilities (> 0).
    beta : float, default 0.5
        Popularity penalty: exponent of the target item's degree (finite; 0 gives P3alpha).
    k : int, default 100
        Weights kept per item row (>= 1).
    normalize : bool, default False
        Divide each kept row of ``W`` by its sum (``normalize_similarity`` of the reference).

    Attributes
    ----------
    weights_ : scipy.sparse.csr_matrix of float64, shape (n_items, n_items)

    Examples
    --------
    >>> x = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 1, 0]], dtype=np.float32))
    >>> rec = RP3beta(beta=0.0)
    >>> rec.fit(x)
    >>> rec.weights_.toarray().round(3)
    array([[0.   , 0.5  , 0.   ],
           [0.333, 0.   , 0.167],
           [0.   , 0.5  , 0.   ]])
    """

    name = "rp3beta"
    quadratic_in_items = True

    def __init__(
        self, alpha: float = 1.0, beta: float = 0.5, k: int = 100, normalize: bool = False
    ) -> None:
        super().__init__()
        self.alpha = _as_float(alpha, "alpha", low=0.0, low_open=True)
        self.beta = _as_float(beta, "beta")
        self.k = as_int(k, "k", low=1)
        self.normalize = _as_flag(normalize, "normalize")

    @property
    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "k": self.k, "normalize": self.normalize}

    def _fit(self, x: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        n = x.shape[1]
        p_ui = _row_normalize(x)
        binary = x.T.tocsr()
        binary.data[:] = 1.0
        p_iu = _row_normalize(binary)
        if self.alpha != 1.0:
            p_ui.data **= self.alpha
            p_iu.data **= self.alpha
        degree = np.asarray(binary.sum(axis=1), dtype=np.float64).ravel()
        penalty = np.zeros(n)
        np.power(degree, -self.beta, out=penalty, where=degree > 0)

        def block(r0: int, r1: int) -> np.ndarray:
            out = (p_iu[r0:r1] @ p_ui).toarray()
            out *= penalty
            return out

        weights = _blocked_top_k(block, n, self.k, transpose=False)
        self.weights_ = _row_normalize(weights) if self.normalize else weights

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return np.asarray((x[users] @ self.weights_).toarray())


class EASE(_Builtin):
    """EASE (Steck 2019), the closed-form linear item-item autoencoder; hyper-parameter ``l2``.

    With ``G = XᵀX + λI`` (``X`` the train matrix, ``λ = l2``) and ``P = G⁻¹``, the weights
    are ``B = I − P diag(P)⁻¹``, i.e. ``B[i, j] = −P[i, j] / P[j, j]`` and ``B[j, j] = 0``
    (the least-squares ``min ‖X − XB‖² + λ‖B‖²`` under ``diag(B) = 0``). The score of user
    ``u`` is ``x_u B``.

    ``P`` is computed in place: the dense Gram matrix is factorized by LAPACK ``dpotrf``
    (Cholesky) and inverted from its factor by ``dpotri``, overwriting the Gram matrix, as
    in Van Balen & Goethals (2021, §2), so the peak memory is about one dense
    ``n_items × n_items`` float64 array (8 n_items² bytes) plus the train matrix.

    Parameters
    ----------
    l2 : float, default 200.0
        The ridge penalty λ (>= 0; 0 only works when ``XᵀX`` is non-singular).

    Attributes
    ----------
    weights_ : ndarray of float64, shape (n_items, n_items)
        ``B``.

    Raises
    ------
    AlgorithmError
        From :meth:`fit`, when ``XᵀX + λI`` is not numerically positive definite.

    Examples
    --------
    >>> x = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 1, 0]], dtype=np.float32))
    >>> rec = EASE(l2=1.0)
    >>> rec.fit(x)
    >>> rec.weights_.round(3)
    array([[ 0.   ,  0.667, -0.25 ],
           [ 0.571,  0.   ,  0.375],
           [-0.286,  0.5  ,  0.   ]])
    >>> rec.score(np.array([1])).round(3)
    array([[0.286, 0.5  , 0.375]])
    """

    name = "ease"
    quadratic_in_items = True

    def __init__(self, l2: float = 200.0) -> None:
        super().__init__()
        self.l2 = _as_float(l2, "l2", low=0.0)

    @property
    def params(self) -> dict[str, Any]:
        return {"l2": self.l2}

    def _fit(self, x: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        n = x.shape[1]
        gram = _dense_gram(x)
        gram[np.arange(n), np.arange(n)] += self.l2
        p = _spd_inverse(gram, self.name, "the Gram matrix XᵀX + l2·I")
        del gram
        diag = p[np.arange(n), np.arange(n)].copy()
        p /= -diag
        p[np.arange(n), np.arange(n)] = 0.0
        self.weights_ = p

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return np.asarray(x[users] @ self.weights_)


class PureSVD(_Builtin):
    """PureSVD (Cremonesi et al. 2010), projection on the top singular vectors; ``factors``.

    The train matrix is approximated by its truncated SVD ``X ≈ U Σ Vᵀ`` with
    ``k = min(factors, min(X.shape) − 1)`` singular triplets (ARPACK through
    :func:`scipy.sparse.linalg.svds`, with a start vector drawn from ``seed`` so that the
    result is reproducible); the score of user ``u`` is ``x_u V Vᵀ``. A matrix without
    entries or with ``min(X.shape) <= 1`` gives ``k = 0`` and zero scores. ``V Vᵀ`` is
    unique when ``σ_k > σ_{k+1}``; under a tie at the cut ARPACK picks one of the subspaces.

    Parameters
    ----------
    factors : int, default 64
        Number of singular triplets (>= 1).
    seed : int, default 0
        Seed of the ARPACK start vector, in ``[0, 2**64)``.

    Attributes
    ----------
    item_factors_ : ndarray of float64, shape (n_items, k)
        ``V`` (orthonormal columns, by decreasing singular value).
    singular_values_ : ndarray of float64, shape (k,)

    Examples
    --------
    >>> x = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 1, 0]], dtype=np.float32))
    >>> rec = PureSVD(factors=1)
    >>> rec.fit(x)
    >>> rec.singular_values_.round(3)
    array([2.175])
    >>> rec.score(np.array([0])).round(3)
    array([[0.789, 1.077, 0.289]])
    """

    name = "puresvd"

    def __init__(self, factors: int = 64, seed: int = 0) -> None:
        super().__init__()
        self.factors = as_int(factors, "factors", low=1)
        self.seed = as_seed(seed)

    @property
    def params(self) -> dict[str, Any]:
        return {"factors": self.factors, "seed": self.seed}

    def _fit(self, x: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        n_users, n_items = x.shape
        k = min(self.factors, min(n_users, n_items) - 1)
        if k < 1 or x.nnz == 0:
            self.item_factors_ = np.zeros((n_items, 0))
            self.singular_values_ = np.zeros(0)
            return
        v0 = np.random.default_rng(self.seed).uniform(-1.0, 1.0, min(n_users, n_items))
        _, s, vt = svds(x, k=k, v0=v0, solver="arpack")
        order = np.argsort(-s, kind="stable")
        self.singular_values_ = s[order]
        self.item_factors_ = np.ascontiguousarray(vt[order].T)

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        v = self.item_factors_
        if v.shape[1] == 0:
            return np.zeros((len(users), self.n_items_))
        projected = np.asarray(x[users] @ v)
        return _rows_matmul(projected, np.ascontiguousarray(v.T))


#: Weight and bias standard deviations of the ∞-AE network: the authors' code builds
#: ``stax.serial(Dense(W_std=2**0.5, b_std=0.1), Relu(), Dense(W_std=2**0.5, b_std=0.1))``
#: (NTK parameterization).
_INFAE_W_VAR = 2.0
_INFAE_B_VAR = 0.01


def relu_ntk(
    dots: np.ndarray,
    sq_left: np.ndarray,
    sq_right: np.ndarray,
    n_features: int,
    *,
    w_var: float = _INFAE_W_VAR,
    b_var: float = _INFAE_B_VAR,
) -> np.ndarray:
    """The NTK of an infinitely wide ``Dense → ReLU → Dense`` network, from inner products.

    For inputs ``x, y`` of dimension ``d = n_features``, weight variance ``σw² = w_var`` and
    bias variance ``σb² = b_var`` (NTK parameterization, as ``neural_tangents.stax``):

    - first layer: ``K0(x, y) = σw² x·y / d + σb²`` (and ``Θ0 = K0``);
    - ReLU (arc-cosine kernels of degree 1 and 0), with
      ``θ = arccos(K0(x, y) / √(K0(x, x) K0(y, y)))``:
      ``K1 = √(K0(x, x) K0(y, y)) (sin θ + (π − θ) cos θ) / (2π)`` and
      ``K̇1 = (π − θ) / (2π)``;
    - output layer: ``Θ(x, y) = σw² K1 + σb² + σw² K̇1 K0``.

    Parameters
    ----------
    dots : ndarray of float64, shape (m, n)
        Inner products ``x_a · y_b``.
    sq_left : ndarray of float64, shape (m,)
        Squared norms ``x_a · x_a``.
    sq_right : ndarray of float64, shape (n,)
        Squared norms ``y_b · y_b``.
    n_features : int
        The input dimension ``d`` (the number of items).
    w_var, b_var : float, keyword-only
        ``σw²`` and ``σb²``; the defaults (2 and 0.01) are those of the ∞-AE code.

    Returns
    -------
    ndarray of float64, shape (m, n)

    Examples
    --------
    >>> x = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    >>> sq = (x * x).sum(axis=1)
    >>> relu_ntk(x @ x.T, sq, sq, 3).round(4)
    array([[2.6967, 1.2835],
           [1.2835, 2.6967]])
    """
    d = max(int(n_features), 1)
    k0 = w_var * np.asarray(dots, dtype=np.float64) / d + b_var
    k0_left = w_var * np.asarray(sq_left, dtype=np.float64) / d + b_var
    k0_right = w_var * np.asarray(sq_right, dtype=np.float64) / d + b_var
    norm = np.sqrt(np.multiply.outer(k0_left, k0_right))
    cos = np.clip(np.divide(k0, norm, out=np.ones_like(k0), where=norm > 0), -1.0, 1.0)
    theta = np.arccos(cos)
    k1 = norm * (np.sqrt(1.0 - cos * cos) + (math.pi - theta) * cos) / (2.0 * math.pi)
    k1_dot = (math.pi - theta) / (2.0 * math.pi)
    out: np.ndarray = w_var * k1 + b_var + w_var * k1_dot * k0
    return out


class InfiniteAE(_Builtin):
    """∞-AE (Sachdeva et al. 2022), NTK kernel ridge regression on users; ``l2``, ``max_users``.

    An infinitely wide single-hidden-layer ReLU autoencoder trained to convergence on the
    users' train rows is kernel ridge regression with its neural tangent kernel
    (:func:`relu_ntk`, the kernel of the authors' ``stax.serial(Dense, Relu, Dense)`` with
    their ``W_std = √2``, ``b_std = 0.1``). On the support users ``X_s`` (``m`` rows of
    train):

    ``K = NTK(X_s, X_s)``, ``α = (K + λ tr(K)/m I)⁻¹ X_s``, ``score(u) = NTK(x_u, X_s) α``

    where the ridge ``λ = l2`` is relative to the mean diagonal of ``K``, as in the authors'
    code. ``X_s`` is the whole train matrix when it has at most ``max_users`` rows, else a
    seeded uniform subset of ``max_users`` rows (the authors' ``user_support``); any train
    row can be scored, through its kernel row against ``X_s``. The inverse is computed in
    place by LAPACK (Cholesky, then the inverse from the factor), so the memory is about two
    dense ``m × m`` float64 arrays plus the train matrix.

    Parameters
    ----------
    l2 : float, default 1.0
        The relative ridge λ (> 0). The authors select it on validation data from
        ``{1e-5, 1e-3, 0.1, 1, 5, 50}`` (0.1 when not searched).
    max_users : int, default 5000
        Most support users ``m`` (>= 1): the kernel is ``m × m``.
    seed : int, default 0
        Seed of the subset of support users, in ``[0, 2**64)``.

    Attributes
    ----------
    support_ : ndarray of int64, shape (m,)
        The train rows of ``X_s`` (sorted).

    Examples
    --------
    >>> x = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 1, 0]], dtype=np.float32))
    >>> rec = InfiniteAE(l2=0.1)
    >>> rec.fit(x)
    >>> rec.score(np.array([1])).round(3)
    array([[0.051, 0.938, 0.887]])
    """

    name = "infae"

    def __init__(self, l2: float = 1.0, max_users: int = 5000, seed: int = 0) -> None:
        super().__init__()
        self.l2 = _as_float(l2, "l2", low=0.0, low_open=True)
        self.max_users = as_int(max_users, "max_users", low=1)
        self.seed = as_seed(seed)

    @property
    def params(self) -> dict[str, Any]:
        return {"l2": self.l2, "max_users": self.max_users, "seed": self.seed}

    def _fit(self, x: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        n_users, n_items = x.shape
        if n_users > self.max_users:
            rng = np.random.default_rng(self.seed)
            support = np.sort(rng.choice(n_users, self.max_users, replace=False))
        else:
            support = np.arange(n_users)
        self.support_ = support.astype(np.int64)
        xs = sp.csr_matrix(x[support])
        m = xs.shape[0]
        self._support_t = xs.T.tocsr()
        self._support_sq = np.asarray(xs.multiply(xs).sum(axis=1), dtype=np.float64).ravel()
        self._support_rows = xs
        if m == 0:
            self._inverse = np.zeros((0, 0))
            self._alpha: np.ndarray | None = None
            return
        kernel = np.empty((m, m), dtype=np.float64)
        step = _block_rows(m, m)
        for r0 in range(0, m, step):
            r1 = min(m, r0 + step)
            dots = (xs[r0:r1] @ self._support_t).toarray()
            kernel[r0:r1] = relu_ntk(dots, self._support_sq[r0:r1], self._support_sq, n_items)
        diag = np.arange(m)
        kernel[diag, diag] += self.l2 * float(np.trace(kernel)) / m
        inverse = _spd_inverse(kernel, self.name, "the regularized kernel K + l2·tr(K)/m·I")
        if n_items < m:
            # α = (K + λI)⁻¹ X_s is the smaller one: (m, n_items)
            self._alpha = np.ascontiguousarray(np.asarray(self._support_t @ inverse).T)
            self._inverse = np.zeros((0, 0))
        else:
            self._alpha = None
            self._inverse = inverse

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        if self._support_rows.shape[0] == 0:
            return np.zeros((len(users), self.n_items_))
        xu = x[users]
        dots = (xu @ self._support_t).toarray()
        sq = np.asarray(xu.multiply(xu).sum(axis=1), dtype=np.float64).ravel()
        k_u = relu_ntk(dots, sq, self._support_sq, self.n_items_)
        if self._alpha is not None:
            return _rows_matmul(k_u, self._alpha)
        coef = _rows_matmul(k_u, self._inverse)
        # (X_sᵀ coefᵀ)ᵀ: a sparse product, row by row of coef
        return np.ascontiguousarray(np.asarray(self._support_t @ coef.T).T)


class Transitions(_Builtin):
    """Item-to-next-item transition model (sequential, needs timestamps); ``history``, ``decay``.

    Each user's train items are grouped by timestamp, and the groups ordered by time: items
    with the same timestamp have no order between them. Every pair of consecutive groups
    ``(A, B)`` of a user counts one transition, shared evenly by the ``|A| · |B|`` item pairs
    (``a → b`` counts ``1 / (|A| |B|)``; with distinct timestamps, one per pair of consecutive
    items). ``T`` is the ``(n_items, n_items)`` sparse matrix of these counts over all users,
    row-normalized (:attr:`transitions_`). With ``G_1, G_2, ...`` the last, second-to-last,
    ... group of user ``u`` and ``1_G / |G|`` the uniform weights on a group's items,

    ``score(u) = Σ_{h=1..H} decay^(h−1) (1_{G_h} / |G_h|) T + ε pop / max(pop)``

    with ``H = min(history, number of groups of u)``. Grouping makes the model independent of
    the item ids: renaming the items renames the scores, up to the rounding of the sums
    (breaking equal times by item id, as a sequence would need, ranks a renamed copy of the
    same data differently: on MovieLens 100K, where many ratings share a second, NDCG@10
    0.069 against 0.076 for the same data with other ids). The last term
    breaks ties (and ranks the items of users without train items) by popularity (train
    degree): ``ε`` is ``10⁻⁶`` times the smallest positive term, ``decay^(history−1)
    min(T) / max |G|``, so it never lifts an item without transition score above one with a
    transition score (it could only reorder items whose transition scores differ by less
    than ``ε``).

    Parameters
    ----------
    history : int, default 1
        Most recent timestamp groups used (>= 1).
    decay : float, default 0.5
        Weight ratio between consecutive history positions (in ``(0, 1]``).

    Attributes
    ----------
    transitions_ : scipy.sparse.csr_matrix of float64, shape (n_items, n_items)

    Examples
    --------
    >>> x = sp.csr_matrix(np.array([[1, 1, 1], [1, 0, 1]], dtype=np.float32))
    >>> times = x.copy().astype(np.int64)
    >>> times.data = np.array([30, 10, 20, 5, 6])   # user 0: 1, 2, 0; user 1: 0, 2
    >>> rec = Transitions()
    >>> rec.fit(x, times)
    >>> rec.transitions_.toarray()
    array([[0., 0., 1.],
           [0., 0., 1.],
           [1., 0., 0.]])
    >>> rec.score(np.array([0, 1]))      # the last items are 0 and 2; ties by popularity
    array([[1.000000e-06, 5.000000e-07, 1.000001e+00],
           [1.000001e+00, 5.000000e-07, 1.000000e-06]])
    >>> times.data = np.array([30, 10, 10, 5, 6])   # user 0: {1, 2} at 10, then 0
    >>> rec.fit(x, times)
    >>> rec.transitions_.toarray()
    array([[0., 0., 1.],
           [1., 0., 0.],
           [1., 0., 0.]])
    """

    name = "transitions"
    needs_timestamps = True

    def __init__(self, history: int = 1, decay: float = 0.5) -> None:
        super().__init__()
        self.history = as_int(history, "history", low=1)
        self.decay = _as_float(decay, "decay", low=0.0, low_open=True, high=1.0)

    @property
    def params(self) -> dict[str, Any]:
        return {"history": self.history, "decay": self.decay}

    def _fit(self, x: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        if timestamps is None:
            raise AlgorithmError(
                f"algorithm {self.name!r} needs timestamps: fit(train, timestamps) with a "
                "matrix of the time of each train interaction"
            )
        times = _timestamps_like(x, timestamps, self.name)
        n_users, n_items = x.shape
        row = np.repeat(np.arange(n_users), np.diff(x.indptr))
        order = np.lexsort((x.indices, times, row))
        items = x.indices[order].astype(np.int64)
        t_sorted = times[order]  # row is sorted, so row[order] == row
        first = np.ones(items.size, dtype=bool)
        first[1:] = (row[1:] != row[:-1]) | (t_sorted[1:] != t_sorted[:-1])
        starts = np.flatnonzero(first)
        sizes = np.diff(np.append(starts, items.size))
        # groups: row g holds 1 / |G_g| on the items of timestamp group g
        groups = sp.csr_matrix(
            (np.repeat(1.0 / np.maximum(sizes, 1), sizes), items, np.append(starts, items.size)),
            shape=(starts.size, n_items),
        )
        group_user = row[starts]
        link = np.flatnonzero(group_user[1:] == group_user[:-1])  # groups g → g + 1
        # Σ over links of the outer product of two uniform weight vectors: each link counts 1
        counts = sp.csr_matrix(groups[link].T @ groups[link + 1])
        counts.sum_duplicates()
        self.transitions_ = _row_normalize(counts)
        self.transitions_.sort_indices()
        self._groups = groups
        self._group_ptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(group_user, minlength=n_users), out=self._group_ptr[1:])
        popularity = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
        smallest = self.transitions_.data.min() if self.transitions_.nnz else 1.0
        widest = int(sizes.max()) if sizes.size else 1
        epsilon = 1e-6 * self.decay ** (self.history - 1) * smallest / widest
        top = popularity.max() if popularity.size else 0.0
        self._tie_break = epsilon * popularity / top if top > 0 else np.zeros(n_items)

    def _score(self, x: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        ends = self._group_ptr[users + 1]
        counts = ends - self._group_ptr[users]
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for h in range(1, self.history + 1):
            has = np.nonzero(counts >= h)[0]
            if has.size == 0:
                break
            rows.append(has)
            cols.append(ends[has] - h)
            vals.append(np.full(has.size, self.decay ** (h - 1)))
        pick = sp.csr_matrix(
            (
                np.concatenate(vals) if vals else np.zeros(0),
                (
                    np.concatenate(rows) if rows else np.zeros(0, np.int64),
                    np.concatenate(cols) if cols else np.zeros(0, np.int64),
                ),
            ),
            shape=(len(users), self._groups.shape[0]),
        )
        recent = sp.csr_matrix(pick @ self._groups)
        recent.sort_indices()
        out = np.asarray((recent @ self.transitions_).toarray())
        out += self._tie_break
        return out


def _timestamps_like(x: sp.csr_matrix, timestamps: Any, name: str) -> np.ndarray:
    """The data of ``timestamps`` aligned with ``x``'s entries, else :class:`AlgorithmError`."""
    if not sp.issparse(timestamps) or timestamps.shape != x.shape:
        raise AlgorithmError(
            f"algorithm {name!r} failed to fit: timestamps must be a sparse matrix of shape "
            f"{x.shape}, got {type(timestamps).__name__} of shape "
            f"{getattr(timestamps, 'shape', None)}"
        )
    t = sp.csr_matrix(timestamps)
    if not (np.array_equal(t.indptr, x.indptr) and np.array_equal(t.indices, x.indices)):
        raise AlgorithmError(
            f"algorithm {name!r} failed to fit: timestamps must have exactly train's "
            "entries (same indptr and indices)"
        )
    return np.asarray(t.data)


# --------------------------------------------------------------------------------------
# the registry and the spec parser

#: The built-in recommenders by name.
ALGORITHMS: dict[str, type] = {
    cls.name: cls
    for cls in (
        RandomScores,
        Popularity,
        ItemKNN,
        RP3beta,
        EASE,
        PureSVD,
        InfiniteAE,
        Transitions,
    )
}
#: The built-ins that need timestamps.
SEQUENTIAL_ALGORITHMS: tuple[str, ...] = ("transitions",)


def _hyper_parameters(cls: type) -> dict[str, Any]:
    """The hyper-parameters of a built-in and their defaults, from its signature."""
    signature = inspect.signature(cls)
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.default is not inspect.Parameter.empty
    }


def _listing(params: dict[str, Any]) -> str:
    if not params:
        return "no hyper-parameters"
    return "hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in params.items())


def _parse_value(text: str) -> int | float | str:
    """A spec value: an int if it parses as one, else a float, else the string."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def make_algorithm(spec: str, seed: int = 0) -> Recommender:
    """A built-in recommender from a spec ``"name"`` or ``"name:key=value,key=value"``.

    Values are parsed as int, then float, else kept as a string, and checked by the model.

    Parameters
    ----------
    spec : str
        A name of :data:`ALGORITHMS` with optional hyper-parameters, e.g. ``"ease:l2=200"``
        or ``"itemknn:k=50,shrink=10"``.
    seed : int, default 0
        The seed of the models that have one (``random``, ``puresvd``, ``infae``), unless the
        spec sets ``seed``; in ``[0, 2**64)``.

    Returns
    -------
    Recommender
        An unfitted model.

    Raises
    ------
    ParameterError
        Unknown name, unknown, repeated or malformed hyper-parameter, or an impossible
        value; the one-line message names the algorithm and lists the valid choices.

    Examples
    --------
    >>> make_algorithm("itemknn:k=50,shrink=10")
    ItemKNN(k=50, shrink=10.0)
    >>> make_algorithm("puresvd", seed=3).params
    {'factors': 64, 'seed': 3}
    >>> make_algorithm("ease:lambda=5")
    Traceback (most recent call last):
    ...
    daskfractal.errors.ParameterError: algorithm 'ease' has no hyper-parameter 'lambda' \
(hyper-parameters: l2=200.0)
    """
    if not isinstance(spec, str):
        raise ParameterError(f"an algorithm spec must be a string, got {type(spec).__name__}")
    seed = as_seed(seed)
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    cls = ALGORITHMS.get(name)
    if cls is None:
        raise ParameterError(
            f"unknown algorithm {name!r} in {spec!r}; valid names: {', '.join(ALGORITHMS)}"
        )
    valid = _hyper_parameters(cls)
    listing = _listing(valid)
    kwargs: dict[str, Any] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise ParameterError(
                    f"algorithm {name!r}: malformed hyper-parameter {item.strip()!r} in "
                    f"{spec!r}, expected key=value ({listing})"
                )
            if key not in valid:
                raise ParameterError(
                    f"algorithm {name!r} has no hyper-parameter {key!r} ({listing})"
                )
            if key in kwargs:
                raise ParameterError(
                    f"algorithm {name!r}: hyper-parameter {key!r} given twice in {spec!r}"
                )
            kwargs[key] = _parse_value(value.strip())
    if "seed" in valid and "seed" not in kwargs:
        kwargs["seed"] = seed
    try:
        rec: Recommender = cls(**kwargs)
    except ParameterError as exc:
        raise ParameterError(f"algorithm {name!r}: {exc} ({listing})") from None
    return rec


# --------------------------------------------------------------------------------------
# user models and the checked calls


def _name_of(rec: object) -> str:
    name = getattr(rec, "name", None)
    return name if isinstance(name, str) and name else type(rec).__name__


def _failure(name: str, what: str, exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return f"algorithm {name!r} failed to {what}: {type(exc).__name__}: {message}"


def _check_scores(name: str, scores: Any, n_users: int, n_items: int) -> np.ndarray:
    """``scores`` as an ndarray if it is a numeric, NaN-free ``(n_users, n_items)`` array."""
    if sp.issparse(scores):
        raise AlgorithmError(
            f"algorithm {name!r} returned a sparse matrix of scores; score must return a "
            "dense ndarray"
        )
    try:
        arr = np.asarray(scores)
    except Exception as exc:
        raise AlgorithmError(_failure(name, "score", exc)) from exc
    if arr.dtype.kind not in "biuf":
        raise AlgorithmError(
            f"algorithm {name!r} returned scores of dtype {arr.dtype}, expected a numeric "
            "(integer or float) dtype"
        )
    if arr.shape != (n_users, n_items):
        raise AlgorithmError(
            f"algorithm {name!r} returned scores of shape {arr.shape}, expected "
            f"({n_users}, {n_items})"
        )
    if arr.dtype.kind == "f":
        nan = int(np.count_nonzero(np.isnan(arr)))
        if nan:
            raise AlgorithmError(f"algorithm {name!r} returned NaN scores ({nan} of {arr.size})")
    return arr


class CallableRecommender:
    """A user's ``fit_fn(train) -> score_fn`` as a :class:`Recommender`; no hyper-parameters.

    :meth:`fit` calls ``fit_fn(train)`` and keeps the returned ``score_fn``; :meth:`score`
    returns ``score_fn(users)`` after checking it (shape ``(len(users), n_items)``, numeric,
    no NaN). An exception raised by either becomes an
    :class:`~daskfractal.errors.AlgorithmError` naming the algorithm.

    Parameters
    ----------
    fit_fn : callable
        ``fit_fn(train: csr_matrix) -> score_fn`` with ``score_fn(users: ndarray) -> ndarray``.
    name : str, optional
        Defaults to ``fit_fn.__name__``.

    Examples
    --------
    >>> def popular(train):
    ...     counts = np.asarray(train.sum(axis=0)).ravel()
    ...     return lambda users: np.tile(counts, (len(users), 1))
    >>> rec = CallableRecommender(popular)
    >>> rec.fit(sp.csr_matrix(np.array([[1, 0], [1, 1]], dtype=np.float32)))
    >>> rec.name, rec.score(np.array([0]))
    ('popular', array([[2., 1.]], dtype=float32))
    """

    needs_timestamps = False
    quadratic_in_items = False

    def __init__(
        self, fit_fn: Callable[[Any], Callable[[np.ndarray], Any]], name: str | None = None
    ) -> None:
        self.fit_fn = fit_fn
        self.name: str = name or getattr(fit_fn, "__name__", None) or type(fit_fn).__name__
        self._score_fn: Callable[[np.ndarray], Any] | None = None
        self.n_items_ = 0

    @property
    def params(self) -> dict[str, Any]:
        """No hyper-parameters: ``{}``."""
        return {}

    def fit(self, train: sp.csr_matrix, timestamps: sp.csr_matrix | None = None) -> None:
        """Call ``fit_fn(train)``; ``timestamps`` are ignored."""
        try:
            score_fn = self.fit_fn(train)
        except AlgorithmError:
            raise
        except Exception as exc:
            raise AlgorithmError(_failure(self.name, "fit", exc)) from exc
        if not callable(score_fn):
            raise AlgorithmError(
                f"algorithm {self.name!r} failed to fit: fit_fn returned "
                f"{type(score_fn).__name__}, not a score function"
            )
        self._score_fn = score_fn
        self.n_items_ = int(train.shape[1])

    def score(self, users: np.ndarray) -> np.ndarray:
        """``score_fn(users)``, checked; see :func:`checked_scores`."""
        if self._score_fn is None:
            raise AlgorithmError(
                f"algorithm {self.name!r} is not fitted: call fit(train) before score"
            )
        try:
            scores = self._score_fn(users)
        except AlgorithmError:
            raise
        except Exception as exc:
            raise AlgorithmError(_failure(self.name, "score", exc)) from exc
        return _check_scores(self.name, scores, len(users), self.n_items_)

    def __repr__(self) -> str:
        return f"CallableRecommender({self.fit_fn!r}, name={self.name!r})"


def as_recommender(obj: object, name: str | None = None) -> Recommender:
    """A user's model as a :class:`Recommender`.

    Parameters
    ----------
    obj : object
        Either an object with ``fit`` and ``score`` methods (returned as is; when it has no
        string ``name`` attribute, one is set: ``name`` or the class name), or a plain
        callable ``fit_fn(train) -> score_fn`` (wrapped in a :class:`CallableRecommender`).
    name : str, optional
        The name of a callable (default ``fit_fn.__name__``) or of an object without one.

    Raises
    ------
    ParameterError
        For anything else (including a class rather than an instance).

    Examples
    --------
    >>> def popular(train):
    ...     counts = np.asarray(train.sum(axis=0)).ravel()
    ...     return lambda users: np.tile(counts, (len(users), 1))
    >>> as_recommender(popular, name="pop").name
    'pop'
    >>> as_recommender(EASE()).name
    'ease'
    >>> as_recommender(42)
    Traceback (most recent call last):
    ...
    daskfractal.errors.ParameterError: cannot use int as a recommender: expected an object \
with fit(train) and score(users) methods, or a callable fit_fn(train) -> score_fn
    """
    if name is not None and not isinstance(name, str):
        raise ParameterError(f"name must be a string, got {type(name).__name__}")
    has_methods = callable(getattr(obj, "fit", None)) and callable(getattr(obj, "score", None))
    if isinstance(obj, type):
        hint = f" (pass an instance, e.g. {obj.__name__}())" if has_methods else ""
        raise ParameterError(f"cannot use the class {obj.__name__} as a recommender{hint}")
    if has_methods:
        current = getattr(obj, "name", None)
        if not (isinstance(current, str) and current):
            try:
                obj.name = name or type(obj).__name__  # type: ignore[attr-defined]
            except (AttributeError, TypeError) as exc:
                raise ParameterError(
                    f"cannot set a name on {type(obj).__name__}; give it a 'name' attribute"
                ) from exc
        return obj  # type: ignore[return-value]
    if callable(obj):
        return CallableRecommender(obj, name)
    raise ParameterError(
        f"cannot use {type(obj).__name__} as a recommender: expected an object with "
        "fit(train) and score(users) methods, or a callable fit_fn(train) -> score_fn"
    )


def checked_fit(
    rec: Recommender, train: sp.csr_matrix, timestamps: sp.csr_matrix | None = None
) -> None:
    """``rec.fit(train)`` with failures as :class:`~daskfractal.errors.AlgorithmError`.

    ``timestamps`` are passed only to models with ``needs_timestamps = True``. An
    :class:`~daskfractal.errors.AlgorithmError` raised by the model passes unchanged; any
    other exception becomes one: ``"algorithm 'name' failed to fit: ExcType: message"``.

    Examples
    --------
    >>> def broken(train):
    ...     raise ValueError("no data")
    >>> checked_fit(as_recommender(broken), sp.csr_matrix((2, 3), dtype=np.float32))
    Traceback (most recent call last):
    ...
    daskfractal.errors.AlgorithmError: algorithm 'broken' failed to fit: ValueError: no data
    """
    name = _name_of(rec)
    try:
        if getattr(rec, "needs_timestamps", False):
            rec.fit(train, timestamps)
        else:
            rec.fit(train)
    except AlgorithmError:
        raise
    except Exception as exc:
        raise AlgorithmError(_failure(name, "fit", exc)) from exc


def checked_scores(rec: Recommender, users: np.ndarray, n_items: int) -> np.ndarray:
    """``rec.score(users)``, checked: a numeric, NaN-free ``(len(users), n_items)`` ndarray.

    Raises
    ------
    AlgorithmError
        When ``score`` raises (``"algorithm 'name' failed to score: ExcType: message"``) or
        returns a sparse matrix, a non-numeric dtype, another shape or NaN.

    Examples
    --------
    >>> rec = make_algorithm("popularity")
    >>> rec.fit(sp.csr_matrix(np.array([[1, 0, 1]], dtype=np.float32)))
    >>> checked_scores(rec, np.array([0]), 3)
    array([[1., 0., 1.]])
    >>> checked_scores(rec, np.array([0]), 4)
    Traceback (most recent call last):
    ...
    daskfractal.errors.AlgorithmError: algorithm 'popularity' returned scores of shape \
(1, 3), expected (1, 4)
    """
    name = _name_of(rec)
    try:
        scores = rec.score(users)
    except AlgorithmError:
        raise
    except Exception as exc:
        raise AlgorithmError(_failure(name, "score", exc)) from exc
    return _check_scores(name, scores, len(users), int(n_items))
