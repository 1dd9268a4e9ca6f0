"""Seeded data generators for tests: same seed, same data, on every platform.

Every generator takes an explicit ``seed`` and uses :func:`numpy.random.default_rng` only, so
its output is a pure function of its arguments.
"""

from __future__ import annotations

import itertools
import os
from importlib import resources
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..interactions import Interactions
from ..preprocess import SplitData

__all__ = [
    "embedded_movielens_dir",
    "fat_tailed_interactions",
    "random_binary",
    "random_csr",
    "tiny_split",
    "write_adjacency_split",
    "write_movielens_udata",
]


def random_binary(m: int, n: int, density: float, seed: int) -> sp.csr_array:
    """Random ``m × n`` 0/1 matrix (float64) with every row and every column non-empty."""
    rng = np.random.default_rng(seed)
    a = (rng.random((m, n)) < density).astype(np.float64)
    a[np.arange(m), rng.integers(0, n, m)] = 1.0
    a[rng.integers(0, m, n), np.arange(n)] = 1.0
    return sp.csr_array(a)


def random_csr(
    rng: np.random.Generator, n_users: int, n_items: int, density: float
) -> sp.csr_matrix:
    """Random 0/1 ``n_users × n_items`` CSR matrix (float32) with the given density."""
    mask = rng.random((n_users, n_items)) < density
    return sp.csr_matrix(mask.astype(np.float32))


def _indptr(rows: np.ndarray, m: int) -> np.ndarray:
    out = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=out[1:])
    return out


def tiny_split(seed: int = 11, n_users: int = 7, n_items: int = 5) -> SplitData:
    """A tiny :class:`SplitData`: one test entry per user, ratings and timestamps carried.

    Every user has at least two interactions (items 0 and 1 always), one of them in test.
    """
    rng = np.random.default_rng(seed)
    m, n = n_users, n_items
    dense = rng.random((m, n)) < 0.55
    dense[:, 0] = True
    dense[:, 1] = True
    rows, cols = np.nonzero(dense)
    is_test = np.zeros(len(rows), bool)
    for u in range(m):
        is_test[rng.choice(np.flatnonzero(rows == u))] = True
    ratings = rng.integers(1, 11, len(rows)).astype(np.float32) / 2
    stamps = rng.integers(1, 10**6, len(rows)).astype(np.int64)

    def csr(mask: np.ndarray) -> sp.csr_matrix:
        mat = sp.csr_matrix(
            (np.ones(mask.sum(), np.float32), cols[mask].astype(np.int32), _indptr(rows[mask], m)),
            shape=(m, n),
        )
        mat.has_sorted_indices = True
        return mat

    return SplitData(
        train=csr(~is_test),
        test=csr(is_test),
        user_ids=np.arange(m, dtype=np.int64),
        item_ids=np.arange(n, dtype=np.int64),
        train_ratings=ratings[~is_test],
        test_ratings=ratings[is_test],
        train_timestamps=stamps[~is_test],
        test_timestamps=stamps[is_test],
    )


def fat_tailed_interactions(
    n_users: int,
    n_items: int,
    mean_degree: float,
    *,
    seed: int,
    min_degree: int = 2,
    test_share: float | None = None,
    ratings: bool = False,
    timestamps: bool = False,
    user_tail: float = 1.5,
    item_tail: float = 1.1,
    source: str = "<generated>",
) -> Interactions:
    """Interactions with fat-tailed (Pareto) user activity and item popularity.

    Parameters
    ----------
    n_users, n_items : int
        Ids ``1 .. n_users`` / ``1 .. n_items`` (as 1-based files number them); an item no
        draw hits is absent, so ``Interactions.n_items`` may be a little smaller.
    mean_degree : float
        Mean interactions per user before duplicate pairs are merged.
    seed : int
    min_degree : int, default 2
        Every user interacts with at least this many (distinct) items.
    test_share : float, optional
        A given split (``is_test``): each interaction is test with this probability; the
        first interaction of every user stays train.
    ratings, timestamps : bool
        Add ratings (``1 .. 5``, integers as MovieLens 100K) and distinct timestamps.
    user_tail, item_tail : float
        Pareto shapes of user activity and item popularity (smaller: fatter tails).
    source : str
        Recorded as ``Interactions.source``.

    Returns
    -------
    Interactions
        Rows sorted by user, then in draw order; no duplicate (user, item) pair.
    """
    rng = np.random.default_rng(seed)
    act = rng.pareto(user_tail, n_users) + 1.0
    pop = rng.pareto(item_tail, n_items) + 1.0
    extra = max(round(n_users * (mean_degree - min_degree)), 0)
    users = np.concatenate(
        [
            np.repeat(np.arange(n_users), min_degree),
            rng.choice(n_users, extra, p=act / act.sum()),
        ]
    )
    items = rng.choice(n_items, len(users), p=pop / pop.sum())
    # at least min_degree distinct items per user: the first ones are uniform and distinct
    first = np.arange(n_users * min_degree)
    base = rng.integers(0, n_items, n_users)
    items[first] = (np.repeat(base, min_degree) + np.tile(np.arange(min_degree), n_users)) % n_items
    key = users.astype(np.int64) * n_items + items
    _, keep = np.unique(key, return_index=True)
    keep.sort()
    users, items = users[keep], items[keep]
    order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]
    nnz = len(users)
    is_test = None
    if test_share is not None:
        is_test = rng.random(nnz) < test_share
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        is_test[starts] = False
    return Interactions.from_raw(
        users + 1,
        items + 1,
        ratings=rng.integers(1, 6, nnz).astype(np.float32) if ratings else None,
        timestamps=(8 * 10**8 + rng.permutation(nnz) * 7) if timestamps else None,
        is_test=is_test,
        source=source,
    )


def write_movielens_udata(path: str | os.PathLike[str], data: Interactions) -> Path:
    """Write ``data`` as MovieLens 100K ``u.data``: ``user\\titem\\trating\\ttimestamp``."""
    if data.ratings is None or data.timestamps is None:
        raise ValueError("u.data needs ratings and timestamps")
    path = Path(path)
    users, items = data.user_ids[data.users], data.item_ids[data.items]
    lines = [
        f"{u}\t{i}\t{int(r)}\t{t}"
        for u, i, r, t in zip(
            users.tolist(),
            items.tolist(),
            data.ratings.tolist(),
            data.timestamps.tolist(),
            strict=True,
        )
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_adjacency_split(
    folder: str | os.PathLike[str], data: Interactions, *, valid_share: float = 0.0, seed: int = 0
) -> Path:
    """Write ``data`` as an NGCF/LightGCN folder: ``train.txt`` (``valid.txt``) ``test.txt``.

    Each line is ``user item item ...`` with 0-based ids; the test interactions are
    ``data.is_test``; a ``valid_share`` of the train interactions goes to ``valid.txt``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    users = data.user_ids[data.users] - 1
    items = data.item_ids[data.items] - 1
    is_test = np.zeros(data.nnz, bool) if data.is_test is None else data.is_test
    is_valid = ~is_test & (np.random.default_rng(seed).random(data.nnz) < valid_share)
    parts = {"train.txt": ~is_test & ~is_valid, "test.txt": is_test}
    if valid_share:
        parts["valid.txt"] = is_valid
    for name, mask in parts.items():
        u, i = users[mask], items[mask]
        order = np.argsort(u, kind="stable")
        u, i = u[order], i[order]
        cut = np.flatnonzero(np.r_[True, u[1:] != u[:-1], True])
        lines = [
            " ".join(map(str, [int(u[a]), *i[a:b].tolist()]))
            for a, b in itertools.pairwise(cut.tolist())
        ]
        (folder / name).write_text("\n".join(lines) + "\n" if lines else "")
    return folder


def embedded_movielens_dir(dest: str | os.PathLike[str]) -> Path:
    """The embedded ``ml-latest-small`` as a plain MovieLens folder under ``dest``.

    ``dest/ml-latest-small/ratings.csv`` (the published bytes, decompressed) and
    ``README.txt``; returns that folder.
    """
    import pyarrow as pa

    folder = Path(dest) / "ml-latest-small"
    folder.mkdir(parents=True, exist_ok=True)
    data = resources.files("daskfractal.datasets").joinpath("data", "ml-latest-small")
    raw = pa.input_stream(str(data.joinpath("ratings.csv.zst")), compression="zstd").read()
    (folder / "ratings.csv").write_bytes(raw)
    (folder / "README.txt").write_bytes(data.joinpath("README.txt").read_bytes())
    return folder
