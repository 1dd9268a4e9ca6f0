"""Pre-processing: filters, de-duplication, leave-last-out split and its invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daskfractal.errors import InputDataError, ParameterError
from daskfractal.interactions import Interactions
from daskfractal.preprocess import preprocess
from daskfractal.testing import embedded_movielens_dir

from .conftest import if_shared, shared_file


def _inter(rows, **kw) -> Interactions:
    """rows: list of (user, item, rating, timestamp)."""
    a = np.array(rows, dtype=np.int64)
    return Interactions.from_raw(a[:, 0], a[:, 1], ratings=a[:, 2], timestamps=a[:, 3], **kw)


def _pairs(split, which: str) -> set[tuple[int, int]]:
    mat = getattr(split, which).tocoo()
    return {
        (int(split.user_ids[r]), int(split.item_ids[c]))
        for r, c in zip(mat.row, mat.col, strict=True)
    }


def test_leave_last_out_tie_policies():
    rows = [
        (1, 10, 5, 100),
        (1, 11, 4, 200),
        (1, 12, 3, 200),  # tie at the latest timestamp
        (2, 10, 1, 50),
        (2, 13, 2, 60),
        (3, 11, 5, 70),  # one distinct timestamp only: dropped
        (3, 12, 5, 70),
    ]
    one = preprocess(_inter(rows), tie_policy="one")
    assert list(one.user_ids) == [1, 2]
    test1 = _pairs(one, "test")
    assert (2, 13) in test1
    assert len([p for p in test1 if p[0] == 1]) == 1
    assert test1 & {(1, 11), (1, 12)}
    assert one.stats["users_few_timestamps"] == 1

    allp = preprocess(_inter(rows), tie_policy="all")
    assert _pairs(allp, "test") == {(1, 11), (1, 12), (2, 13)}
    assert _pairs(allp, "train") == {(1, 10), (2, 10)}


def test_tie_choice_depends_on_seed_only():
    rows = [(1, i, 1, 5 if i < 20 else 1) for i in range(40)] + [(2, 1, 1, 1), (2, 2, 1, 2)]
    picks = set()
    for seed in range(12):
        a = preprocess(_inter(rows), seed=seed)
        b = preprocess(_inter(rows[::-1]), seed=seed)  # input order must not matter
        assert _pairs(a, "test") == _pairs(b, "test")
        picks |= _pairs(a, "test")
    assert len(picks) > 3  # different seeds pick different tied items


def test_duplicates_keep_latest_and_threshold():
    rows = [(1, 10, 2, 100), (1, 10, 5, 300), (1, 11, 5, 200), (1, 12, 1, 50)]
    s = preprocess(_inter(rows), binarize=False)
    assert s.stats["duplicates"] == 1
    assert _pairs(s, "test") == {(1, 10)}
    assert s.test.data.tolist() == [5.0]
    assert s.test_timestamps.tolist() == [300]
    th = preprocess(_inter(rows), positive_threshold=4)
    assert th.stats["below_threshold"] == 2
    assert _pairs(th, "train") == {(1, 11)} and _pairs(th, "test") == {(1, 10)}


def test_random_holdout_without_timestamps():
    users = np.repeat(np.arange(50), 5)
    items = np.tile(np.arange(5), 50)
    users = np.r_[users, 99]  # a user with a single interaction is dropped
    items = np.r_[items, 3]
    s = preprocess(Interactions.from_raw(users, items))
    assert s.params["split"] == "random"
    assert s.n_users == 50 and s.stats["users_single_interaction"] == 1
    assert np.all(np.diff(s.test.indptr) == 1)
    assert s.train.nnz == 200
    again = preprocess(Interactions.from_raw(users, items))
    assert (again.test != s.test).nnz == 0


def test_given_split_and_none():
    users = np.array([0, 0, 0, 1, 1, 2])
    items = np.array([1, 2, 1, 1, 3, 4])
    is_test = np.array([False, False, True, False, True, True])
    s = preprocess(Interactions.from_raw(users, items, is_test=is_test))
    assert s.params["split"] == "given"
    # (0, 1) is in both: it stays in test only; user 2 has no train interaction: dropped
    assert _pairs(s, "train") == {(0, 2), (1, 1)}
    assert _pairs(s, "test") == {(0, 1), (1, 3)}
    assert s.stats["users_without_train"] == 1
    n = preprocess(Interactions.from_raw(users, items), split="none")
    assert n.test.nnz == 0 and n.train.nnz == 5


def test_signed_matrix_matches_train_minus_test():
    rng = np.random.default_rng(3)
    users = rng.integers(0, 30, 400)
    items = rng.integers(0, 40, 400)
    ts = rng.integers(0, 10, 400)
    ratings = rng.integers(1, 6, 400)
    s = preprocess(Interactions.from_raw(users, items, ratings=ratings, timestamps=ts))
    sig = s.signed()
    import scipy.sparse as sp

    dense = sp.csr_matrix(
        (sig.sign.astype(np.float32), sig.indices, sig.indptr), shape=sig.shape
    ).toarray()
    np.testing.assert_array_equal(dense, (s.train - s.test).toarray())
    # carried timestamps: test entries are each user's latest
    for r in range(sig.shape[0]):
        seg = slice(sig.indptr[r], sig.indptr[r + 1])
        assert np.all(np.diff(sig.indices[seg]) > 0)
        tmax = sig.timestamps[seg].max()
        assert np.all(sig.timestamps[seg][sig.sign[seg] == -1] == tmax)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "bogus"}, "split="),
        ({"tie_policy": "first"}, "tie_policy="),
        ({"min_distinct_timestamps": 0}, "min_distinct_timestamps"),
        ({"min_distinct_timestamps": 1.5}, "min_distinct_timestamps"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        preprocess(_inter([(1, 1, 1, 1), (1, 2, 1, 2)]), **kwargs)


def test_options_the_data_cannot_support():
    plain = Interactions.from_raw([1, 1], [1, 2], source="x.csv")
    with pytest.raises(ParameterError, match=r"leave-last-out.*x\.csv"):
        preprocess(plain, split="leave-last-out")
    with pytest.raises(ParameterError, match="given"):
        preprocess(plain, split="given")
    with pytest.raises(ParameterError, match="positive_threshold"):
        preprocess(plain, positive_threshold=4)
    with pytest.raises(ParameterError, match="binarize"):
        preprocess(plain, binarize=False)


def test_no_user_left_is_an_error():
    rows = [(1, 1, 1, 5), (1, 2, 1, 5), (2, 1, 1, 7)]
    with pytest.raises(InputDataError, match="no user is left"):
        preprocess(_inter(rows, source="tiny.csv"))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 200).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 15), min_size=n, max_size=n),
            st.lists(st.integers(0, 25), min_size=n, max_size=n),
            st.lists(st.integers(0, 4), min_size=n, max_size=n),
        )
    ),
    st.sampled_from(["one", "all"]),
    st.integers(0, 3),
)
def test_split_invariants_property(data, tie_policy, seed):
    users, items, ts = (np.array(x) for x in data)
    inter = Interactions.from_raw(users, items, timestamps=ts)
    try:
        s = preprocess(inter, tie_policy=tie_policy, seed=seed)
    except InputDataError:
        return  # every user had a single distinct timestamp
    train, test = _pairs(s, "train"), _pairs(s, "test")
    assert not train & test
    per_user_test = np.diff(s.test.indptr)
    assert np.all(per_user_test >= 1) and np.all(np.diff(s.train.indptr) >= 1)
    if tie_policy == "one":
        assert np.all(per_user_test == 1)
    # the test entries carry each kept user's latest timestamp
    latest = pd.DataFrame({"u": users, "t": ts}).groupby("u").t.max()
    for r in range(s.n_users):
        seg = slice(s.test.indptr[r], s.test.indptr[r + 1])
        assert np.all(s.test_timestamps[seg] == latest[s.user_ids[r]])
    # nothing invented, nothing of a kept user lost
    kept = {(int(a), int(b)) for a, b in zip(users, items, strict=True) if a in set(s.user_ids)}
    assert train | test == kept


@pytest.fixture(
    scope="module",
    params=["embedded", *if_shared(["shared"], "ml-latest-small", "ratings.csv")],
)
def ml_small(request, tmp_path_factory):
    """ml-latest-small's ratings.csv: the embedded copy, and ../shared/data's when present."""
    if request.param == "embedded":
        path = embedded_movielens_dir(tmp_path_factory.mktemp("ml")) / "ratings.csv"
    else:
        path = shared_file("ml-latest-small", "ratings.csv")
    df = pd.read_csv(path)
    return df, Interactions.from_raw(
        df.userId.to_numpy(),
        df.movieId.to_numpy(),
        ratings=df.rating.to_numpy(),
        timestamps=df.timestamp.to_numpy(),
        source=str(path),
    )


@pytest.mark.parametrize("tie_policy", ["one", "all"])
def test_real_movielens_split(ml_small, tie_policy):
    df, inter = ml_small
    s = preprocess(inter, tie_policy=tie_policy, seed=7)
    # independent computation with pandas
    distinct = df.groupby("userId").timestamp.nunique()
    kept_users = np.sort(distinct.index[distinct >= 2].to_numpy())
    np.testing.assert_array_equal(s.user_ids, kept_users)
    assert s.train.nnz + s.test.nnz == len(df[df.userId.isin(kept_users)])
    assert not _pairs(s, "train") & _pairs(s, "test")
    per_user = np.diff(s.test.indptr)
    latest = df.groupby("userId").timestamp.max()
    n_tied = df.merge(latest.rename("tmax"), left_on="userId", right_index=True)
    n_tied = (n_tied.timestamp == n_tied.tmax).groupby(n_tied.userId).sum()
    if tie_policy == "one":
        assert np.all(per_user == 1)
    else:
        np.testing.assert_array_equal(per_user, n_tied.loc[s.user_ids].to_numpy())
    for r in range(0, s.n_users, 7):
        seg = slice(s.test.indptr[r], s.test.indptr[r + 1])
        tseg = slice(s.train.indptr[r], s.train.indptr[r + 1])
        tmax = latest[s.user_ids[r]]
        assert np.all(s.test_timestamps[seg] == tmax)
        assert np.all(s.train_timestamps[tseg] <= tmax)
    assert s.train.dtype == np.float32 and np.all(s.train.data == 1)
