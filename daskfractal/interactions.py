"""The in-memory form every reader produces: re-indexed interactions with their id maps."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputDataError


@dataclass(frozen=True, eq=False)
class Interactions:
    """Interactions with contiguous ids, as read from any source.

    Parameters
    ----------
    users, items : ndarray of int32 (int64 beyond 2**31 ids), shape (nnz,)
        Contiguous ids in ``[0, n_users)`` and ``[0, n_items)``.
    user_ids, item_ids : ndarray of int64, shapes (n_users,), (n_items,)
        Original ids: ``user_ids[users[k]]`` is the id the source file used.
    ratings : ndarray of float32, shape (nnz,), optional
        Explicit rating of each interaction, when the source has one.
    timestamps : ndarray of int64, shape (nnz,), optional
        Time of each interaction (the source's unit, unix seconds for MovieLens).
    is_test : ndarray of bool, shape (nnz,), optional
        A split given by the source (e.g. separate train/test files); ``None`` when none.
    source : str
        Where the data came from, for messages and store metadata.
    """

    users: np.ndarray
    items: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    is_test: np.ndarray | None = None
    source: str = "<memory>"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        nnz = len(self.users)
        if len(self.items) != nnz:
            raise InputDataError(f"{self.source}: users and items have different lengths")
        for name in ("ratings", "timestamps", "is_test"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != nnz:
                raise InputDataError(
                    f"{self.source}: {name} has {len(arr)} entries, expected {nnz}"
                )

    @property
    def n_users(self) -> int:
        """Number of distinct users."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of distinct items."""
        return len(self.item_ids)

    @property
    def nnz(self) -> int:
        """Number of interaction rows (before de-duplication)."""
        return len(self.users)

    @classmethod
    def from_raw(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        *,
        ratings: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
        is_test: np.ndarray | None = None,
        source: str = "<memory>",
        meta: dict | None = None,
    ) -> Interactions:
        """Validate raw (original) ids and re-index them contiguously.

        Parameters
        ----------
        users, items : array_like of integers, shape (nnz,)
            Original, non-negative integer ids.
        ratings, timestamps, is_test : array_like, optional
            Per-interaction values, see the class docstring.
        source : str
            Name used in error messages.
        meta : dict, optional
            Free-form description of the source (format, columns).

        Returns
        -------
        Interactions

        Raises
        ------
        InputDataError
            If the input is empty, ids are not integers or are negative, or values are not finite.
        """
        users = _as_id_array(users, "user", source)
        items = _as_id_array(items, "item", source)
        if len(users) != len(items):
            raise InputDataError(f"{source}: {len(users)} user ids but {len(items)} item ids")
        if len(users) == 0:
            raise InputDataError(f"{source}: no interactions (the input is empty)")
        if ratings is not None:
            ratings = np.asarray(ratings)
            if not np.issubdtype(ratings.dtype, np.number):
                raise InputDataError(f"{source}: ratings are not numeric (dtype {ratings.dtype})")
            ratings = ratings.astype(np.float32, copy=False)
            if not np.all(np.isfinite(ratings)):
                bad = int(np.flatnonzero(~np.isfinite(ratings))[0])
                raise InputDataError(f"{source}: rating of interaction {bad} is not finite")
        if timestamps is not None:
            timestamps = np.asarray(timestamps)
            if np.issubdtype(timestamps.dtype, np.datetime64):
                timestamps = timestamps.astype("datetime64[s]").astype(np.int64)
            elif np.issubdtype(timestamps.dtype, np.floating):
                if not np.all(np.isfinite(timestamps)):
                    bad = int(np.flatnonzero(~np.isfinite(timestamps))[0])
                    raise InputDataError(f"{source}: timestamp of interaction {bad} is missing")
                timestamps = timestamps.astype(np.int64)
            elif not np.issubdtype(timestamps.dtype, np.integer):
                raise InputDataError(
                    f"{source}: timestamps are not numeric (dtype {timestamps.dtype})"
                )
            timestamps = timestamps.astype(np.int64, copy=False)
        if is_test is not None:
            is_test = np.asarray(is_test, dtype=bool)
        user_ids, u = _reindex(users)
        item_ids, i = _reindex(items)
        return cls(
            users=u,
            items=i,
            user_ids=user_ids,
            item_ids=item_ids,
            ratings=ratings,
            timestamps=timestamps,
            is_test=is_test,
            source=source,
            meta=dict(meta or {}),
        )

    def summary(self) -> dict:
        """Counts, density and degree summary, as plain Python numbers."""
        udeg = np.bincount(self.users, minlength=self.n_users)
        ideg = np.bincount(self.items, minlength=self.n_items)

        def _deg(d: np.ndarray) -> dict:
            q = np.percentile(d, [50, 90, 99]) if len(d) else [0, 0, 0]
            return {
                "min": int(d.min()),
                "median": float(q[0]),
                "mean": float(d.mean()),
                "p90": float(q[1]),
                "p99": float(q[2]),
                "max": int(d.max()),
            }

        out = {
            "source": self.source,
            "interactions": self.nnz,
            "users": self.n_users,
            "items": self.n_items,
            "density": self.nnz / (self.n_users * self.n_items),
            "has_ratings": self.ratings is not None,
            "has_timestamps": self.timestamps is not None,
            "given_split": self.is_test is not None,
            "user_degree": _deg(udeg),
            "item_degree": _deg(ideg),
        }
        if self.is_test is not None:
            out["test_interactions"] = int(self.is_test.sum())
        return out


def _as_id_array(values: np.ndarray, what: str, source: str) -> np.ndarray:
    """Return ``values`` as int64, or raise naming the first bad entry."""
    arr = np.asarray(values)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InputDataError(
            f"{source}: {what} ids must be non-negative integers (got dtype {arr.dtype})"
        )
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise InputDataError(f"{source}: {what} id of interaction {bad} is missing")
        if not np.all(arr == np.floor(arr)):
            bad = int(np.flatnonzero(arr != np.floor(arr))[0])
            raise InputDataError(
                f"{source}: {what} id of interaction {bad} is not an integer ({arr[bad]!r})"
            )
    arr = arr.astype(np.int64, copy=False)
    if len(arr) and arr.min() < 0:
        bad = int(np.flatnonzero(arr < 0)[0])
        raise InputDataError(f"{source}: {what} id of interaction {bad} is negative ({arr[bad]})")
    return arr


def _reindex(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids (int64) and each entry's position among them (like ``np.unique``).

    Positions are int32 while they fit (half the memory at 20M rows). Counting is linear-time
    when the ids are dense enough (MovieLens, most exports); sorting is the fallback for
    sparse, huge ids.
    """
    top = int(ids.max())
    if top < max(4 * len(ids), 1 << 16):
        present = np.zeros(top + 1, dtype=bool)
        present[ids] = True
        distinct = np.flatnonzero(present).astype(np.int64)
        pos_dtype = np.int32 if len(distinct) < 2**31 else np.int64
        new_id = (np.cumsum(present, dtype=np.int64) - 1).astype(pos_dtype)
        return distinct, new_id[ids]
    distinct, inverse = np.unique(ids, return_inverse=True)
    pos_dtype = np.int32 if len(distinct) < 2**31 else np.int64
    return distinct.astype(np.int64), inverse.astype(pos_dtype)
