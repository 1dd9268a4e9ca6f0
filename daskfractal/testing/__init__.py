"""Helpers for testing daskfractal and code built on it.

:mod:`daskfractal.testing.data`
    Seeded generators of small data sets (in memory and as files in the formats the readers
    take) and the embedded MovieLens ``ml-latest-small`` as a plain ``ratings.csv``. Needs
    nothing beyond daskfractal's own dependencies.
:mod:`daskfractal.testing.strategies`
    Hypothesis strategies (needs ``hypothesis``, in the ``test`` extra).

The test suite falls back to these generated inputs when the public data sets it also uses
(MovieLens 100K, Gowalla, in the development checkout's data folder) are absent, so that
every test runs everywhere.
"""

from .data import (
    embedded_movielens_dir,
    fat_tailed_interactions,
    random_binary,
    random_csr,
    tiny_split,
    write_adjacency_split,
    write_movielens_udata,
)

__all__ = [
    "embedded_movielens_dir",
    "fat_tailed_interactions",
    "random_binary",
    "random_csr",
    "tiny_split",
    "write_adjacency_split",
    "write_movielens_udata",
]
