"""daskfractal.testing: the generators are pure functions of their arguments."""

from __future__ import annotations

import numpy as np
from hypothesis import given

import daskfractal as dfr
from daskfractal.testing import fat_tailed_interactions, random_binary, tiny_split
from daskfractal.testing.strategies import expand_options, keep_matrices, split_data


def test_fat_tailed_interactions_are_seeded_and_shaped() -> None:
    a = fat_tailed_interactions(300, 200, 12, seed=5, test_share=0.3, ratings=True)
    b = fat_tailed_interactions(300, 200, 12, seed=5, test_share=0.3, ratings=True)
    c = fat_tailed_interactions(300, 200, 12, seed=6, test_share=0.3, ratings=True)
    for name in ("users", "items", "ratings", "is_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.nnz != c.nnz or not np.array_equal(a.items, c.items)
    assert a.n_users == 300 and a.n_items <= 200
    degree = np.bincount(a.users)
    assert degree.min() >= 2 and degree.max() > 4 * np.median(degree)  # a fat tail
    keys = a.users.astype(np.int64) * a.n_items + a.items
    assert len(np.unique(keys)) == a.nnz  # no duplicate pairs
    train_per_user = np.bincount(a.users[~a.is_test], minlength=a.n_users)
    assert train_per_user.min() >= 1
    split = dfr.preprocess(a)
    assert split.n_users == 300 and split.test.nnz == int(a.is_test.sum())


def test_small_generators() -> None:
    m = random_binary(6, 9, 0.2, 1)
    assert np.all(m.sum(axis=1) > 0) and np.all(m.sum(axis=0) > 0)
    t = tiny_split()
    assert t.shape == (7, 5) and np.all(np.diff(t.test.indptr) == 1)


@given(split=split_data(), keep=keep_matrices(), opts=expand_options())
def test_strategies_give_valid_expand_inputs(split, keep, opts) -> None:
    assert split.train.nnz >= 1 and 0.0 <= keep.min() <= keep.max() <= 1.0
    dfr.expand(split, keep=keep, **opts)  # plans without error
