"""Pre-processing (papers §V-1): binarize, filter, de-duplicate, leave-last-out split, re-index.

The result, :class:`SplitData`, holds R_train and R_test as disjoint m × n CSR matrices with the
maps back to the original ids, and (when the input has them) the rating and timestamp of every
stored entry, aligned with the CSR order so that later stages can carry them along.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ._checks import as_seed, index_dtype
from .errors import InputDataError, ParameterError
from .interactions import Interactions, _reindex

SplitName = Literal["auto", "leave-last-out", "random", "given", "none"]
TiePolicy = Literal["one", "all"]

SPLIT_MODES = ("auto", "leave-last-out", "random", "given", "none")
TIE_POLICIES = ("one", "all")
#: entries merged at a time by :meth:`SplitData.signed` (bounds its temporary memory)
SIGNED_MERGE_CHUNK = 2**20


@dataclass(frozen=True, eq=False)
class SplitData:
    """Binarized (or rated) train/test matrices over the same re-indexed users and items.

    Attributes
    ----------
    train, test : scipy.sparse.csr_matrix of float32, shape (n_users, n_items)
        Disjoint; canonical CSR (sorted column indices, no duplicates). Values are 1 when
        binarized, else the ratings.
    user_ids, item_ids : ndarray of int64
        Original ids: row ``u`` is the source's user ``user_ids[u]``.
    train_ratings, test_ratings : ndarray of float32 or None
        Original rating of each stored entry, aligned with ``train.indices`` / ``test.indices``.
    train_timestamps, test_timestamps : ndarray of int64 or None
        Timestamp of each stored entry, aligned the same way.
    params : dict
        The options used (JSON-serializable).
    stats : dict
        What each step removed, for the user and for store metadata.
    source : str
        Where the interactions came from.
    """

    train: sp.csr_matrix
    test: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    train_ratings: np.ndarray | None = None
    test_ratings: np.ndarray | None = None
    train_timestamps: np.ndarray | None = None
    test_timestamps: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    source: str = "<memory>"

    @property
    def shape(self) -> tuple[int, int]:
        """(n_users, n_items)."""
        return self.train.shape

    @property
    def n_users(self) -> int:
        """Number of users (rows)."""
        return self.train.shape[0]

    @property
    def n_items(self) -> int:
        """Number of items (columns)."""
        return self.train.shape[1]

    def signed(self) -> SignedMatrix:
        """The signed matrix S = R_train − R_test as raw CSR arrays.

        Returns
        -------
        SignedMatrix
            ``indptr`` (int64, m+1), ``indices`` (int32), ``sign`` (int8: +1 train, −1 test)
            and, when present, ``ratings``/``timestamps`` aligned with ``indices``.
        """
        m, n = self.shape
        tr, te = self.train, self.test
        ptr_tr = tr.indptr.astype(np.int64)
        ptr_te = te.indptr.astype(np.int64)
        indptr = ptr_tr + ptr_te
        nnz = int(indptr[-1])
        indices = np.empty(nnz, index_dtype(n))
        sign = np.empty(nnz, np.int8)
        aux = {}
        for name in ("ratings", "timestamps"):
            x, y = getattr(self, f"train_{name}"), getattr(self, f"test_{name}")
            if x is not None and y is not None:
                aux[name] = (x, y, np.empty(nnz, np.result_type(x, y)))
        # rows merged SIGNED_MERGE_CHUNK entries at a time: the int64 sort keys and orders
        # (~40 bytes per entry) exist for one chunk only, so the peak is the output itself
        cuts = np.searchsorted(
            indptr, np.arange(SIGNED_MERGE_CHUNK, nnz, SIGNED_MERGE_CHUNK), side="right"
        )
        for a, b in itertools.pairwise(np.unique(np.r_[0, cuts, m])):
            s0, s1, e0, e1 = ptr_tr[a], ptr_tr[b], ptr_te[a], ptr_te[b]
            local = np.arange(b - a, dtype=np.int64)
            rows = np.concatenate(
                [
                    np.repeat(local, np.diff(ptr_tr[a : b + 1])),
                    np.repeat(local, np.diff(ptr_te[a : b + 1])),
                ]
            )
            cols = np.concatenate([tr.indices[s0:s1], te.indices[e0:e1]]).astype(np.int64)
            # two sorted runs (train, then test): a stable sort of the (row, col) key merges
            # them in linear time, where a lexsort would sort twice
            order = np.argsort(rows * np.int64(n) + cols, kind="stable")
            out = slice(indptr[a], indptr[b])
            indices[out] = cols[order]
            sgn = np.concatenate([np.ones(s1 - s0, np.int8), np.full(e1 - e0, -1, np.int8)])
            sign[out] = sgn[order]
            for x, y, dest in aux.values():
                dest[out] = np.concatenate([x[s0:s1], y[e0:e1]])[order]
        return SignedMatrix(
            indptr=indptr,
            indices=indices,
            sign=sign,
            shape=(m, n),
            ratings=aux["ratings"][2] if "ratings" in aux else None,
            timestamps=aux["timestamps"][2] if "timestamps" in aux else None,
        )

    def summary(self) -> dict:
        """Counts of the split, as plain Python numbers."""
        m, n = self.shape
        test_per_user = np.diff(self.test.indptr)
        return {
            "source": self.source,
            "users": m,
            "items": n,
            "train_interactions": int(self.train.nnz),
            "test_interactions": int(self.test.nnz),
            "density": (self.train.nnz + self.test.nnz) / (m * n),
            "users_without_test": int((test_per_user == 0).sum()),
            "max_test_per_user": int(test_per_user.max()) if m else 0,
            **{f"removed_{k}": v for k, v in self.stats.items()},
        }


@dataclass(frozen=True, eq=False)
class SignedMatrix:
    """S = R_train − R_test as raw CSR arrays (see :meth:`SplitData.signed`)."""

    indptr: np.ndarray
    indices: np.ndarray
    sign: np.ndarray
    shape: tuple[int, int]
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None

    @property
    def nnz(self) -> int:
        """Number of stored entries (train + test)."""
        return len(self.indices)


def preprocess(
    data: Interactions,
    *,
    binarize: bool = True,
    positive_threshold: float | None = None,
    min_distinct_timestamps: int = 2,
    split: SplitName = "auto",
    tie_policy: TiePolicy = "one",
    seed: int = 0,
) -> SplitData:
    """Turn raw interactions into the disjoint R_train / R_test of the papers.

    Steps, in order: keep ratings ≥ ``positive_threshold`` (when given); drop duplicate
    (user, item) pairs, keeping the latest one (a pair both in a given train and test set stays
    in test only); drop users with fewer than ``min_distinct_timestamps`` distinct timestamps
    (timestamped splits) or fewer than 2 interactions (random hold-out); split; drop users left
    with no train interaction; re-index users and items contiguously.

    Parameters
    ----------
    data : Interactions
        Output of :func:`daskfractal.load`.
    binarize : bool, default True
        Store 1 for every interaction (the papers); False stores the rating.
    positive_threshold : float, optional
        Keep only interactions with rating ≥ this value (e.g. 4 for "liked"); needs ratings.
    min_distinct_timestamps : int, default 2
        Users with fewer distinct timestamps are dropped before a leave-last-out split.
    split : {"auto", "leave-last-out", "random", "given", "none"}, default "auto"
        ``leave-last-out``: each user's latest interaction is the test set. ``random``: one
        interaction per user, chosen from ``seed``, is the test set (data without timestamps).
        ``given``: the split the source provides (``data.is_test``). ``none``: empty test set.
        ``auto``: ``given`` when the source has a split, else ``leave-last-out`` when it has
        timestamps, else ``random``.
    tie_policy : {"one", "all"}, default "one"
        When several interactions share a user's latest timestamp: ``one`` puts one of them,
        chosen from ``seed``, in the test set; ``all`` puts all of them (the MLPerf reference).
    seed : int, default 0
        Seed of the tie breaking and of the random hold-out.

    Returns
    -------
    SplitData

    Raises
    ------
    ParameterError
        For an unknown option, or an option the data cannot support (threshold without ratings,
        leave-last-out without timestamps, given split without one).
    InputDataError
        When no user is left after filtering.

    Examples
    --------
    >>> import daskfractal as dfr
    >>> split = dfr.preprocess(dfr.load("default"))
    >>> split.shape
    (610, 9724)
    """
    seed = as_seed(seed)
    if split not in SPLIT_MODES:
        raise ParameterError(f"split={split!r} is not one of {', '.join(SPLIT_MODES)}")
    if tie_policy not in TIE_POLICIES:
        raise ParameterError(f"tie_policy={tie_policy!r} is not one of {', '.join(TIE_POLICIES)}")
    if int(min_distinct_timestamps) != min_distinct_timestamps or min_distinct_timestamps < 1:
        raise ParameterError(
            f"min_distinct_timestamps={min_distinct_timestamps!r} must be an integer ≥ 1"
        )
    if split == "auto":
        if data.is_test is not None:
            split = "given"
        elif data.timestamps is not None:
            split = "leave-last-out"
        else:
            split = "random"
    if split == "leave-last-out" and data.timestamps is None:
        raise ParameterError(
            f"split='leave-last-out' needs timestamps, and {data.source} has none: "
            "use split='random' (one random interaction per user) or 'given'"
        )
    if split == "given" and data.is_test is None:
        raise ParameterError(
            f"split='given' needs a split from the source, and {data.source} has none "
            "(give a test file, or use split='leave-last-out' / 'random')"
        )
    if positive_threshold is not None and data.ratings is None:
        raise ParameterError(
            f"positive_threshold={positive_threshold} needs ratings, and {data.source} has none"
        )
    if not binarize and data.ratings is None:
        raise ParameterError(f"binarize=False keeps ratings, and {data.source} has none")

    stats: dict[str, int] = {}
    users, items = data.users, data.items
    ratings, ts, is_test = data.ratings, data.timestamps, data.is_test
    keep = np.ones(len(users), dtype=bool)

    if positive_threshold is not None:
        assert ratings is not None  # refused above when the data has no ratings
        keep &= ratings >= positive_threshold
        stats["below_threshold"] = int((~keep).sum())
        if not keep.any():
            # refused here: every later step would work on empty arrays
            raise ParameterError(
                f"positive_threshold={positive_threshold:g} keeps no interaction of "
                f"{data.source} (its ratings range from {float(ratings.min()):g} to "
                f"{float(ratings.max()):g})"
            )

    # Canonical order (user, item; within a duplicate pair test-last, time-last): makes every
    # later step independent of the input's row order, and puts the survivor of each duplicate
    # group last. One stable sort of a (user, item) key is linear on the usual, already
    # user-sorted files; only the (rare) duplicate groups are ordered by (test, time).
    # (the many 20M-long temporaries below are deleted as soon as they are used: the peak
    # memory of a whole run is set here)
    if keep.all():
        pair = users.astype(np.int64) * np.int64(data.n_items)
        pair += items
        order = np.argsort(pair, kind="stable")
        sp_pair = pair[order]
    else:
        idx = np.flatnonzero(keep)
        pair = users[idx].astype(np.int64) * np.int64(data.n_items)
        pair += items[idx]
        by_pair = np.argsort(pair, kind="stable")
        order = idx[by_pair]
        sp_pair = pair[by_pair]
        del idx, by_pair
    del keep, pair
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] = sp_pair[1:] == sp_pair[:-1]
    if dup.any():
        in_group = dup.copy()
        in_group[:-1] |= dup[1:]
        pos = np.flatnonzero(in_group)
        sub_keys = [k[order[pos]] for k in (ts, is_test) if k is not None]
        order[pos] = order[pos][np.lexsort([*sub_keys, sp_pair[pos]])]
    last_of_pair = np.ones(len(order), dtype=bool)
    last_of_pair[:-1] = sp_pair[1:] != sp_pair[:-1]
    del sp_pair
    stats["duplicates"] = int((~last_of_pair).sum())
    order = order[last_of_pair]

    u, it = users[order], items[order]
    r, t, given = (None if a is None else a[order] for a in (ratings, ts, is_test))
    del order
    n_users_in = data.n_users

    # user filter
    if split == "leave-last-out":
        assert t is not None  # refused above when the data has no timestamps
        present = np.bincount(u, minlength=n_users_in) > 0
        starts_u = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
        if min_distinct_timestamps <= 2:
            # two distinct timestamps <=> latest != earliest (no sort needed)
            ok = np.maximum.reduceat(t, starts_u) != np.minimum.reduceat(t, starts_u)
            ok |= min_distinct_timestamps <= 1
        else:
            # distinct (user, timestamp) pairs, counted per user
            ut = np.lexsort((t, u))
            us, tss = u[ut], t[ut]
            new = np.ones(len(ut), dtype=bool)
            new[1:] = (us[1:] != us[:-1]) | (tss[1:] != tss[:-1])
            ok = np.bincount(us[new], minlength=n_users_in)[u[starts_u]] >= min_distinct_timestamps
        ok_user = np.zeros(n_users_in, dtype=bool)
        ok_user[u[starts_u]] = ok
        distinct = present  # users present before the filter
        stats["users_few_timestamps"] = int((distinct & ~ok_user).sum())
    elif split == "random":
        cnt = np.bincount(u, minlength=n_users_in)
        ok_user = cnt >= 2
        stats["users_single_interaction"] = int(((cnt > 0) & ~ok_user).sum())
    else:
        ok_user = np.ones(n_users_in, dtype=bool)
    if not ok_user[u].all():
        sel = ok_user[u]
        u, it = u[sel], it[sel]
        r = None if r is None else r[sel]
        t = None if t is None else t[sel]
        given = None if given is None else given[sel]
        del sel
    if len(u) == 0:
        raise InputDataError(
            f"{data.source}: no user is left after filtering "
            f"(removed: {', '.join(f'{k}={v}' for k, v in stats.items()) or 'none'})"
        )

    # split: entries are sorted by (user, item), so per-user groups are contiguous
    n = len(u)
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    group = np.cumsum(np.r_[False, u[1:] != u[:-1]], dtype=index_dtype(n))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED_5917]))
    if split == "given":
        assert given is not None  # refused above when the data has no split
        test_mask = given.copy()
    elif split == "none":
        test_mask = np.zeros(n, dtype=bool)
    else:
        if split == "leave-last-out":
            assert t is not None  # refused above when the data has no timestamps
            latest = np.maximum.reduceat(t, starts)
            candidate = t == latest[group]
        else:
            candidate = np.ones(n, dtype=bool)
        if split == "leave-last-out" and tie_policy == "all":
            test_mask = candidate
        else:
            # one candidate per user: the one with the smallest random key
            key = rng.random(n)
            key[~candidate] = np.inf
            best = np.minimum.reduceat(key, starts)
            test_mask = candidate & (key == best[group])
            del key, best
            # two equal float keys in one user are practically impossible, but never emit two
            first = np.zeros(n, dtype=bool)
            pos = np.flatnonzero(test_mask)
            keep_first = np.r_[True, group[pos][1:] != group[pos][:-1]]
            first[pos[keep_first]] = True
            test_mask = first

    del group, given
    # users without any train interaction cannot be expanded: drop them
    has_train = np.bincount(u[~test_mask], minlength=n_users_in) > 0
    present = np.bincount(u, minlength=n_users_in) > 0
    stats["users_without_train"] = int((present & ~has_train).sum())
    sel = has_train[u]
    if not sel.any():
        raise InputDataError(f"{data.source}: no user has a train interaction after the split")
    if not sel.all():
        u, it, test_mask = u[sel], it[sel], test_mask[sel]
        r = None if r is None else r[sel]
        t = None if t is None else t[sel]
    del sel

    # contiguous re-index (keeps the (user, item) order, so CSR rows come out sorted)
    user_keep, new_u = _reindex(u)
    item_keep, new_i = _reindex(it)
    del u, it
    m, n_items = len(user_keep), len(item_keep)
    stats["items_unused"] = int(data.n_items - n_items)

    def csr(mask: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray | None, np.ndarray | None]:
        rows, cols = new_u[mask], new_i[mask]
        if binarize:
            values = np.ones(len(rows), np.float32)
        else:
            assert r is not None  # refused above when the data has no ratings
            values = r[mask].astype(np.float32)
        indptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
        mat = sp.csr_matrix(
            (values, cols.astype(index_dtype(n_items), copy=False), indptr),
            shape=(m, n_items),
        )
        mat.has_sorted_indices = True
        return mat, None if r is None else r[mask], None if t is None else t[mask]

    train, train_r, train_t = csr(~test_mask)
    test, test_r, test_t = csr(test_mask)
    params = {
        "binarize": binarize,
        "positive_threshold": positive_threshold,
        "min_distinct_timestamps": int(min_distinct_timestamps),
        "split": split,
        "tie_policy": tie_policy,
        "seed": int(seed),
    }
    return SplitData(
        train=train,
        test=test,
        user_ids=data.user_ids[user_keep],
        item_ids=data.item_ids[item_keep],
        train_ratings=train_r,
        test_ratings=test_r,
        train_timestamps=train_t,
        test_timestamps=test_t,
        params=params,
        stats=stats,
        source=data.source,
    )
