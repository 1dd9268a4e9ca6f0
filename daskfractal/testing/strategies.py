"""Hypothesis strategies for daskfractal's inputs (needs ``hypothesis``: the ``test`` extra).

>>> from hypothesis import given
>>> from daskfractal.testing.strategies import expand_options, keep_matrices, split_data
>>> @given(split=split_data(), keep=keep_matrices(), opts=expand_options())
... def test_something(split, keep, opts): ...
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..interactions import Interactions
from ..preprocess import SplitData, preprocess

__all__ = ["expand_options", "keep_matrices", "split_data"]


@st.composite
def split_data(draw: st.DrawFn, max_users: int = 9, max_items: int = 8) -> SplitData:
    """A small :class:`SplitData` (given split, ratings and timestamps) from a random 0/1 matrix.

    Every user interacts; ids are sparse (``3u + 1``, ``2i + 5``) so re-indexing is exercised.
    """
    m = draw(st.integers(1, max_users))
    n = draw(st.integers(1, max_items))
    density = draw(st.floats(0.15, 1.0))
    test_share = draw(st.floats(0.0, 0.6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = rng.random((m, n)) < density
    mask[np.arange(m), rng.integers(0, n, m)] = True  # every user interacts
    users, items = np.nonzero(mask)
    is_test = rng.random(len(users)) < test_share
    is_test[0] = False  # at least one train interaction somewhere
    inter = Interactions.from_raw(
        users * 3 + 1,
        items * 2 + 5,
        ratings=rng.integers(1, 11, len(users)) / 2,
        timestamps=rng.integers(0, 10**9, len(users)),
        is_test=is_test,
    )
    return preprocess(inter)


def keep_matrices(max_rows: int = 3, max_cols: int = 3) -> st.SearchStrategy[np.ndarray]:
    """Keep-probability matrices R̂ (float64 in [0, 1], often exactly 0 or 1)."""
    return st.tuples(st.integers(1, max_rows), st.integers(1, max_cols)).flatmap(
        lambda shape: hnp.arrays(
            np.float64,
            shape,
            elements=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)),
        )
    )


def expand_options(max_window: int = 5) -> st.SearchStrategy[dict]:
    """Keyword arguments of :func:`daskfractal.expand` beyond the input and R̂."""
    return st.fixed_dictionaries(
        {
            "seed": st.integers(0, 2**63),
            "shuffle": st.sampled_from(["block", "stratified", "none"]),
            "window": st.integers(1, max_window),
            "dropout": st.sampled_from(["bernoulli", "exact", "balanced", "targeted"]),
            "test_policy": st.sampled_from(["all", "one"]),
            "timeline": st.sampled_from(["aligned", "source"]),
            "rows": st.sampled_from(["shared", "per-block"]),
        }
    )
