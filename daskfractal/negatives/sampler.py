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
:mod:`daskfractal.kernels.reference_alias`. Positives come from :mod:`.sources`, outputs are
written by :mod:`.io`.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .._checks import as_choice, as_int, as_seed, index_dtype
from .._names import DEFAULT_WINDOW, EXCLUDES
from .._preflight import check_memory
from ..errors import ParameterError, StoreError
from ..kernels import alias as A
from .io import EPOCH_HIGH, EPOCH_LOW, NegativesStore, write_negatives
from .sources import canonical_rows, make_source

__all__ = ["DEFAULT_WINDOW", "DISTRIBUTIONS", "EXCLUDES", "MAX_USER_DRAWS", "NegativeSampler"]

DISTRIBUTIONS = ("uniform", "popularity", "weights")
#: Negatives of one user in one epoch: the draw counter is ``t * 2**32 + j`` in a uint64, so
#: ``t`` must stay below 2**32 for every draw to have its own stream.
MAX_USER_DRAWS = 2**32
#: Allocations below this size are not checked against the available memory.
_CHECK_ALLOC_ABOVE = 2**26


def _as_epoch(value: Any, name: str = "epoch") -> int:
    return as_int(value, name, low=EPOCH_LOW, high=EPOCH_HIGH)


def _check_alloc(nbytes: int, what: str) -> None:
    """Refuse an allocation proportional to a user-given count when it cannot fit."""
    if nbytes > _CHECK_ALLOC_ABOVE:
        check_memory(nbytes, None, what=what)


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
        An integer in ``[0, 2**64)``, the one seed rule of daskfractal (negative or larger
        seeds are refused; they used to be taken modulo 2**64).
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
        shuffle_window: int = DEFAULT_WINDOW,
    ) -> None:
        self.num_negatives = as_int(num_negatives, "num_negatives", low=0, high=MAX_USER_DRAWS)
        distribution = as_choice(distribution, "distribution", DISTRIBUTIONS)
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
        self.exclude = as_choice(exclude, "exclude", EXCLUDES)
        self.seed = as_seed(seed)
        self._seed = np.uint64(self.seed)
        self.shuffle_window = as_int(shuffle_window, "shuffle_window", low=1, high=EPOCH_HIGH)
        self._src = make_source(store_or_csr)
        self.n_users = self._src.n_users
        self.n_items = self._src.n_items
        self.item_dtype = index_dtype(self.n_items)
        self._max_degree: int | None = None
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

    def _check_draws(self, per_user: int | None = None) -> None:
        """Refuse more than :data:`MAX_USER_DRAWS` negatives for one user (``per_user``;
        default: the most train positives of a user times ``num_negatives``)."""
        if per_user is None:
            if self._max_degree is None:
                ip = self._indptr()
                self._max_degree = int(np.diff(ip).max()) if ip.shape[0] > 1 else 0
            per_user = self._max_degree * self.num_negatives
        if per_user >= MAX_USER_DRAWS:
            raise ParameterError(
                f"{per_user:,} negatives for one user (num_negatives={self.num_negatives:,}"
                f" x its positives) exceed the {MAX_USER_DRAWS:,} draws a user's random "
                "stream has; lower num_negatives"
            )

    def _exclusion_rows(
        self, u0: int, u1: int, train: tuple[np.ndarray, np.ndarray] | None, mode: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Canonical exclusion rows of users ``[u0, u1)`` for ``mode`` (an ``exclude`` value)."""
        if mode == "none":
            return np.zeros(u1 - u0 + 1, np.int64), np.empty(0, self._src.index_dtype)
        if train is None:
            train = self._src.rows(u0, u1, "train")
        xptr, xind = canonical_rows(*train, self.n_items)
        if mode == "train+test":
            tptr, tind = canonical_rows(*self._src.rows(u0, u1, "test"), self.n_items)
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
        batch_size = as_int(batch_size, "batch_size", low=1)
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
        n = self.num_negatives if n is None else as_int(n, "n", low=0, high=MAX_USER_DRAWS)
        epoch = _as_epoch(epoch)
        users = self._check_users(users)
        if users.size == 0 or n == 0:
            return np.empty((users.shape[0], n), self.item_dtype)
        order = np.argsort(users, kind="stable")
        sorted_users = users[order]
        uniq, counts = np.unique(sorted_users, return_counts=True)
        self._check_draws(int(counts.max()) * n)
        _check_alloc(
            2 * users.shape[0] * n * self.item_dtype.itemsize,
            f"sample({users.shape[0]:,} users, n={n:,})",
        )
        out = np.empty((users.shape[0], n), self.item_dtype)
        indptr = self._indptr()
        deg = indptr[uniq + 1] - indptr[uniq]
        need = np.maximum(deg * self.num_negatives, 1).astype(np.int64)
        if self.exclude == "none":
            xptr, xind = np.zeros(uniq.shape[0] + 1, np.int64), np.empty(0, self.item_dtype)
        else:
            xptr, xind = canonical_rows(*self._rows_for(uniq, "train"), self.n_items)
            if self.exclude == "train+test":
                tptr, tind = canonical_rows(*self._rows_for(uniq, "test"), self.n_items)
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
        u0, u1 = as_int(u0, "u0", low=0), as_int(u1, "u1", low=0)
        if not u0 <= u1 <= self.n_users:
            raise ParameterError(f"user range [{u0}, {u1}) is not within [0, {self.n_users}]")
        epoch = _as_epoch(epoch)
        k = self.num_negatives
        ip = self._indptr()
        deg = np.diff(ip[u0 : u1 + 1])
        t1 = deg * k
        ptr = np.concatenate([[0], np.cumsum(t1)]).astype(np.int64)
        if t1.size:
            self._check_draws(int(t1.max()))
        _check_alloc(
            int(ptr[-1]) * self.item_dtype.itemsize,
            f"the negatives of users [{u0}, {u1})",
        )
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
        u0, u1 = as_int(u0, "u0", low=0), as_int(u1, "u1", low=0)
        if not u0 <= u1 <= self.n_users:
            raise ParameterError(f"user range [{u0}, {u1}) is not within [0, {self.n_users}]")
        kp1 = self.num_negatives + 1
        indptr = self._indptr()
        return self._rows(int(indptr[u0]) * kp1, int(indptr[u1]) * kp1, _as_epoch(epoch))

    def _rows(self, r0: int, r1: int, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unshuffled epoch rows ``[r0, r1)``."""
        size = r1 - r0
        if size > 0:
            self._check_draws()
            _check_alloc(2 * size * (9 + self.item_dtype.itemsize), f"{size:,} rows of an epoch")
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
        epoch = _as_epoch(epoch)
        n_rows, size = self.n_examples, self.shuffle_window
        n_full = n_rows // size
        self._check_draws()
        _check_alloc(n_full * 200, f"the order of the {n_full:,} shuffle windows of an epoch")
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
        epoch, w = _as_epoch(epoch), as_int(w, "window", low=0)
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
        e = _as_epoch(e, "e")
        batch_size = as_int(batch_size, "batch_size", low=1)
        prefetch = as_int(prefetch, "prefetch", low=0)
        window_rows = min(self.shuffle_window, self.n_examples)
        _check_alloc(
            (3 + prefetch) * window_rows * (9 + self.item_dtype.itemsize),
            f"epoch(prefetch={prefetch}) with shuffle windows of {window_rows:,} rows",
        )
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
                yield tuple(np.concatenate([c[i] for c in carry]) for i in range(3))  # type: ignore[misc]  # 3 arrays
                carry, n_carry = [], 0
            while size - start >= batch_size:
                yield tuple(a[start : start + batch_size] for a in arrays)  # type: ignore[misc]  # 3 arrays
                start += batch_size
            if start < size:
                carry = [tuple(a[start:] for a in arrays)]
                n_carry = size - start
        if n_carry and not drop_last:
            yield tuple(np.concatenate([c[i] for c in carry]) for i in range(3))  # type: ignore[misc]  # 3 arrays

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
        user = as_int(user, "user", low=0)
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
        k = as_int(k, "k", low=0)
        users = self.test_users() if users is None else self._check_users(users)
        if users.size and k > self.n_items:
            raise ParameterError(f"k={k} exceeds the number of items ({self.n_items})")
        _check_alloc(
            2 * users.shape[0] * k * self.item_dtype.itemsize,
            f"test_negatives(k={k:,}) of {users.shape[0]:,} users",
        )
        out = np.empty((users.shape[0], k), self.item_dtype)
        if users.size == 0:
            return users, out
        uniq, inverse = np.unique(users, return_inverse=True)
        xptr, xind = canonical_rows(*self._rows_for(uniq, "train"), self.n_items)
        tptr, tind = canonical_rows(*self._rows_for(uniq, "test"), self.n_items)
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
        force: bool = False,
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
            Replace an existing negatives output at ``path`` (only one holding nothing but
            a negatives writer's files).
        scheduler : None, str or distributed.Client
            See :func:`daskfractal._dask.run`.
        progress : bool, default True
        force : bool, default False
            Start even when the estimated output exceeds the free disk or a task's estimated
            memory exceeds the memory limit.

        Returns
        -------
        NegativesStore

        Raises
        ------
        ParameterError
            A bad argument.
        ResourceError
            Before any work, when the output (uncompressed, an upper bound) would not fit
            on the disk, or the tasks running at once on a worker, or the task graph, would
            not fit in memory; the message gives the numbers (``force=True`` to start anyway).
        StoreError
            ``path`` is a file, not a negatives output, or (without ``overwrite``) already
            holds one.
        OutputError
            Writing failed (disk full, read-only, no permission): the output is left
            unfinished, which :func:`open_negatives` refuses.
        """
        return write_negatives(
            self,
            "zarr",
            path,
            epochs,
            source=self._src.describe(),
            test_negatives=test_negatives,
            rows_per_task=rows_per_task,
            chunk_rows=chunk_rows,
            overwrite=overwrite,
            scheduler=scheduler,
            progress=progress,
            force=force,
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
        force: bool = False,
    ) -> NegativesStore:
        """Write epochs (and test negatives) as Parquet part files, one Dask task per part.

        Layout: ``epoch-<e>/part-<k>.parquet`` with columns ``user_id`` (int64),
        ``item_id``, ``label`` (int8); concatenating the parts in order gives the rows of
        :meth:`epoch`. ``test/part-<k>.parquet``: ``user_id``, ``item_id`` with ``k`` rows per
        test user (users ascending, items ascending). ``_negatives.json`` holds the
        parameters, ``_SUCCESS`` is written last. Parameters as in :meth:`to_zarr`
        (``chunk_rows``: rows per row group), raises as in :meth:`to_zarr`.

        Returns
        -------
        NegativesStore
        """
        return write_negatives(
            self,
            "parquet",
            path,
            epochs,
            source=self._src.describe(),
            test_negatives=test_negatives,
            rows_per_task=rows_per_task,
            chunk_rows=chunk_rows,
            overwrite=overwrite,
            scheduler=scheduler,
            progress=progress,
            force=force,
        )
