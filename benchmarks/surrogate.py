"""Seeded ML-20M-shaped surrogate data (MovieLens 20M itself is not available offline).

The real ML-20M has 20,000,263 ratings by 138,493 users of 26,744 movies, every user with at
least 20 ratings, fat-tailed user and item degrees. This generator reproduces that shape:
user degrees from a shifted log-normal (min 20, mean ≈ 144, max a few thousand), item
popularity from a Zipf-like law, exactly ``n_interactions`` distinct (user, item) pairs,
half-star ratings and increasing timestamps per user. Same seed, same bytes.

Usage::

    python benchmarks/surrogate.py --out bench-data/ml20m-surrogate/ratings.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ML20M_SHAPE = (138_493, 26_744, 20_000_263)


def surrogate_interactions(
    n_users: int = ML20M_SHAPE[0],
    n_items: int = ML20M_SHAPE[1],
    n_interactions: int = ML20M_SHAPE[2],
    *,
    min_user_degree: int = 20,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Distinct (user, item) pairs with fat-tailed degrees, plus ratings and timestamps.

    Returns
    -------
    dict
        ``userId`` (int32, 1-based), ``movieId`` (int32, 1-based), ``rating`` (float32),
        ``timestamp`` (int64), sorted by user then time; exactly ``n_interactions`` rows.
    """
    if n_interactions > n_users * n_items:
        raise ValueError("more interactions than user-item pairs")
    rng = np.random.default_rng(seed)
    # user degrees: log-normal tail above the minimum, scaled to the total
    raw = rng.lognormal(mean=0.0, sigma=1.1, size=n_users)
    extra = n_interactions - min_user_degree * n_users
    deg = min_user_degree + np.floor(raw / raw.sum() * extra).astype(np.int64)
    deg = np.minimum(deg, n_items)
    short = n_interactions - int(deg.sum())
    while short > 0:  # hand out the rounding remainder to random users with room
        room = np.flatnonzero(deg < n_items)
        pick = rng.choice(room, size=min(short, len(room)), replace=False)
        deg[pick] += 1
        short = n_interactions - int(deg.sum())
    # item popularity: Zipf-like weights over a random item order
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    pop = ranks**-0.9
    pop = pop[rng.permutation(n_items)]
    cdf = np.cumsum(pop)
    cdf /= cdf[-1]

    # draw with replacement and drop repeats for a few rounds; the heavy users that have
    # saturated the popular items then get their remainder uniformly from their complement
    keys = np.empty(0, dtype=np.int64)
    missing = deg
    for _ in range(6):
        need = np.repeat(np.arange(n_users, dtype=np.int64), missing)
        items = np.minimum(np.searchsorted(cdf, rng.random(len(need)), side="right"), n_items - 1)
        keys = np.unique(np.concatenate([keys, need * n_items + items]))
        missing = deg - np.bincount(keys // n_items, minlength=n_users)
        if not missing.any():
            break
    extra_keys = []
    bounds = np.searchsorted(keys, np.arange(n_users + 1, dtype=np.int64) * n_items)
    for user in np.flatnonzero(missing):
        have = keys[bounds[user] : bounds[user + 1]] - user * n_items
        free = np.setdiff1d(np.arange(n_items), have, assume_unique=True)
        extra_keys.append(user * n_items + rng.choice(free, missing[user], replace=False))
    if extra_keys:
        keys = np.sort(np.concatenate([keys, *extra_keys]))
    u = (keys // n_items).astype(np.int64)
    it = (keys % n_items).astype(np.int64)
    assert len(u) == n_interactions, (len(u), n_interactions)
    # timestamps: each user active over a random window, ratings at random times in it
    start = rng.integers(789_652_009, 1_400_000_000, n_users)
    span = rng.integers(3_600, 400_000_000, n_users)
    ts = start[u] + (rng.random(len(u)) * span[u]).astype(np.int64)
    order = np.lexsort((ts, u))
    rating = (rng.integers(1, 11, len(u)) / 2).astype(np.float32)
    return {
        "userId": (u[order] + 1).astype(np.int32),
        "movieId": (it[order] + 1).astype(np.int32),
        "rating": rating,
        "timestamp": ts[order],
    }


def write_ratings_csv(path: Path, **kwargs) -> Path:
    """Write a surrogate as a MovieLens ``ratings.csv`` (cached: kept if already there)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = surrogate_interactions(**kwargs)
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(pa.table(data), tmp, write_options=pacsv.WriteOptions(quoting_style="none"))
    tmp.replace(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-data/ml20m-surrogate/ratings.csv")
    ap.add_argument("--users", type=int, default=ML20M_SHAPE[0])
    ap.add_argument("--items", type=int, default=ML20M_SHAPE[1])
    ap.add_argument("--interactions", type=int, default=ML20M_SHAPE[2])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t = time.perf_counter()
    p = write_ratings_csv(
        Path(a.out),
        n_users=a.users,
        n_items=a.items,
        n_interactions=a.interactions,
        seed=a.seed,
    )
    print(f"{p} ({p.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
