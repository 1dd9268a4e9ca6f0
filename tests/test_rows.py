"""Shared row permutations (``rows="shared"``, the default): a synthetic user copies one real
user in every block column. Sources against the NumPy specification, every piece of a user
from its one real row, chunking and schedulers, the sign trick, timelines, old stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import daskfractal as dfr
from daskfractal.errors import ParameterError
from daskfractal.expansion import _plan
from daskfractal.kernels import permute as P
from daskfractal.kernels import reference as R
from daskfractal.kernels.rng import STREAM_ROW_PERM
from daskfractal.testing import fat_tailed_interactions

from .test_expand import assert_chunk_and_scheduler_invariant

#: (shuffle, dropout) pairs: the default and the papers' / the previous default's modes
MODES = [
    ("stratified", "joint"),
    ("block", "bernoulli"),
    ("stratified", "balanced"),
    ("block", "exact"),
]


@pytest.fixture(scope="module")
def kcore():
    """A sparse, k-core-like input (every user ≥ 5 interactions), with timestamps."""
    data = fat_tailed_interactions(2000, 1500, 7, seed=3, min_degree=5, timestamps=True)
    return dfr.preprocess(data)


def _expand(split, shuffle, dropout, rows, **kw):
    return dfr.expand(
        split, factors=(3, 4), shuffle=shuffle, dropout=dropout, rows=rows, seed=7, **kw
    )


def test_rows_default_is_shared_and_presets_say_theirs(kcore):
    assert dfr.expand(kcore, factors=(2, 2), seed=1).params["rows"] == "shared"
    for preset, rows in [("mlperf", "per-block"), ("meta", "per-block"), ("faithful", "shared")]:
        assert dfr.PRESETS[preset].expand["rows"] == rows


def test_rows_must_be_a_known_choice(kcore):
    with pytest.raises(ParameterError, match="rows"):
        dfr.expand(kcore, factors=(2, 2), rows="per-row")  # type: ignore[arg-type]


@pytest.mark.parametrize(("shuffle", "dropout"), MODES)
def test_shared_sources_are_the_block_rows_permutation(kcore, shuffle, dropout):
    """Every block of a block row takes the same source rows: the permutation at the shared
    block-column key, as the NumPy specification computes it (per-block: one per block)."""
    slots = np.array([0, 3, 17, 400, kcore.n_users - 1], np.int64)
    blocks = np.arange(4, dtype=np.int64)
    for rows in ("shared", "per-block"):
        plan = _expand(kcore, shuffle, dropout, rows).plan
        for i in range(3):
            got = _plan.source_rows(plan, i, blocks, slots)
            # shared: one key per group of block columns (one group but for joint at a > 1)
            group = blocks // (4 // plan.row_groups)
            keys = P.SHARED_COLUMN + group if rows == "shared" else blocks
            if dropout == "joint":
                want = R.window_source_rows(
                    plan.joint_order, plan.joint_starts, 7, STREAM_ROW_PERM, i, keys, slots
                )
            else:
                perms = [
                    R.stratified_permutation(plan.row_degree, plan.window, 7, STREAM_ROW_PERM, i, k)
                    if shuffle == "stratified"
                    else R.block_permutation(plan.m, 7, STREAM_ROW_PERM, i, k)
                    for k in keys.tolist()
                ]
                want = np.stack([R.invert_permutation(p)[slots] for p in perms])
            np.testing.assert_array_equal(got, want)
            for g in np.unique(group).tolist():
                same = (got[group == g] == got[group == g][:1]).all()
                assert same if rows == "shared" else not same
            if rows == "per-block" or plan.row_groups > 1:
                assert not (got == got[:1]).all()


@pytest.mark.parametrize(("shuffle", "dropout"), MODES)
def test_every_piece_of_a_user_comes_from_its_one_real_user(kcore, shuffle, dropout):
    """Mapped back through its block's item permutation, every train and test item of a
    synthetic user, in every block column, is in the one real row it copies; train and test
    stay apart (the sign trick)."""
    ex = _expand(kcore, shuffle, dropout, "shared")
    got = ex.compute(scheduler="sync")
    plan = ex.plan
    m, n = plan.m, plan.n
    real = (kcore.train + kcore.test).tocsr()
    train, test = got.train.tocsr(), got.test.tocsr()
    assert train.multiply(test).nnz == 0
    src = {i: _plan.source_rows(plan, i, np.arange(4), np.arange(m)) for i in range(3)}
    inverse = {}
    for i in range(3):
        for j in range(4):
            perm = _plan.column_permutation(plan, i, j)
            inverse[i, j] = np.argsort(perm)
    pieces = 0
    for u in range(0, train.shape[0], 7):
        slot = int(got.user_slot[u])
        i, t = divmod(slot, m)
        assert len(set(src[i][:, t].tolist())) <= plan.row_groups  # one real user per group
        for mat in (train, test):
            items = mat.indices[mat.indptr[u] : mat.indptr[u + 1]]
            for j in np.unique(items // n).tolist():
                s = src[i][j, t]
                row = set(real.indices[real.indptr[s] : real.indptr[s + 1]].tolist())
                offsets = items[items // n == j] - j * n
                assert set(inverse[i, j][offsets].tolist()) <= row
                pieces += 1
    assert pieces > 100


@pytest.mark.parametrize(
    ("factors", "keep", "a"),
    [((2, 4), None, 2), (None, np.full((4, 4), 0.75), 3)],
    ids=["2x4-a2", "4x4-a3"],
)
def test_joint_shared_rows_keep_each_entry_once_per_group(kcore, factors, keep, a):
    """Joint at a > 1: a synthetic user copies one real user per group of block columns (a
    groups: two of two at 2 x 4; of two, one and one, rotating with the block row, at 4 x 4)
    and holds each of its train entries exactly once there, so no item has a renamed twin in
    the same history (one group would hold every entry a times)."""
    from daskfractal.kernels.joint import column_groups

    ex = dfr.expand(kcore, factors=factors, keep=keep, dropout="joint", rows="shared", seed=7)
    plan = ex.plan
    mp, npr = plan.factors
    assert ex.params["reduced"]["joint_multiples"][0] == a
    assert plan.row_groups == ex.params["row_groups"] == a
    got = ex.compute(scheduler="sync")
    m, n = plan.m, plan.n
    train = got.train.tocsr()
    real = kcore.train.tocsr()
    blocks = np.arange(npr)
    inverse = {
        (i, j): np.argsort(_plan.column_permutation(plan, i, j)) for i in range(mp) for j in blocks
    }
    src = {i: _plan.source_rows(plan, i, blocks, np.arange(m)) for i in range(mp)}
    group = {i: column_groups(i, blocks, npr, a) for i in range(mp)}
    assert sorted(set(group[1].tolist())) == list(range(a))
    checked = 0
    for u in range(0, train.shape[0], 3):
        i, t = divmod(int(got.user_slot[u]), m)
        items = train.indices[train.indptr[u] : train.indptr[u + 1]]
        for g in range(a):
            cols = blocks[group[i] == g]
            (s,) = set(src[i][cols, t].tolist())  # one real user per group
            mapped = [
                int(inverse[i, j][c - j * n]) for c in items.tolist() if (j := c // n) in cols
            ]
            want = real.indices[real.indptr[s] : real.indptr[s + 1]]
            assert sorted(mapped) == sorted(want.tolist())
            checked += 1
    assert checked > 500


@pytest.mark.parametrize(("shuffle", "dropout"), MODES[:2])
def test_shared_rows_stores_are_byte_identical_across_chunks_and_schedulers(
    kcore, tmp_path: Path, shuffle, dropout
):
    red = dfr.reduce(kcore, (3, 4))
    opts = {"reduced": red, "shuffle": shuffle, "dropout": dropout, "seed": 5, "rows": "shared"}
    assert_chunk_and_scheduler_invariant(kcore, tmp_path, **opts)


def test_shared_rows_align_the_pieces_of_one_timeline(kcore):
    """With shared rows the pieces of a user are parts of one real timeline; ``aligned``
    ends them together, so the latest train interaction is in the test item's block column
    and precedes the test (``source``: the real timestamps, the same interactions)."""
    a = _expand(kcore, "stratified", "joint", "shared", timeline="aligned").compute()
    s = _expand(kcore, "stratified", "joint", "shared", timeline="source").compute()
    assert a.train_timestamps is not None and s.train_timestamps is not None
    assert (a.train != s.train).nnz == 0
    assert not np.array_equal(a.train_timestamps, s.train_timestamps)
    real = set(np.concatenate([kcore.train_timestamps, kcore.test_timestamps]).tolist())
    assert set(s.train_timestamps.tolist()) <= real
    train, test = a.train.tocsr(), a.test.tocsr()
    n = kcore.n_items
    checked = 0
    for u in range(train.shape[0]):
        t0, t1 = test.indptr[u], test.indptr[u + 1]
        if t1 - t0 != 1:
            continue
        lo, hi = train.indptr[u], train.indptr[u + 1]
        col = test.indices[t0] // n
        if not (train.indices[lo:hi] // n == col).any():
            continue
        latest = lo + int(np.argmax(a.train_timestamps[lo:hi]))
        assert train.indices[latest] // n == col
        assert a.train_timestamps[latest] <= a.test_timestamps[t0]
        checked += 1
    assert checked > 100


def test_shared_rows_change_only_the_sources(kcore):
    """Same R̂, same degrees: a shared-rows user's degree is its real user's times ``a``
    (joint), as with per-block rows, but the items differ (other sources)."""
    a = _expand(kcore, "stratified", "joint", "shared").compute()
    b = _expand(kcore, "stratified", "joint", "per-block").compute()
    assert a.train.nnz == b.train.nnz
    np.testing.assert_array_equal(
        np.sort(np.diff(a.train.tocsr().indptr)), np.sort(np.diff(b.train.tocsr().indptr))
    )
    assert (a.train != b.train).nnz > 0


def test_stores_without_rows_are_per_block(kcore, tmp_path: Path):
    """A store of 0.4 (no ``rows`` in its parameters) was written with per-block rows: its
    chain rebuilds and its privacy ground truth read it so."""
    from daskfractal.expansion import rebuild_input
    from daskfractal.privacy.truth import LevelTruth

    inner = dfr.expand(kcore, factors=(2, 1), seed=3, rows="per-block")
    outer = dfr.expand(inner, factors=(2, 2), seed=4, rows="per-block")
    levels = [dict(rec) for rec in outer.params["levels"]]
    for rec in levels:
        rec.pop("rows")
    rebuilt = rebuild_input(kcore, levels, scheduler="sync")
    direct = inner.to_split(scheduler="sync")
    assert (rebuilt.train != direct.train).nnz == 0
    params = {k: v for k, v in inner.params.items() if k != "rows"}
    truth = LevelTruth.of(params, kcore.signed(), 1, train=kcore.train)
    assert truth.rows == "per-block"
    sources = truth.sources(0)
    want = _plan.source_rows(inner.plan, 0, np.array([0]), np.arange(kcore.n_users))
    np.testing.assert_array_equal(sources, want)


@pytest.mark.parametrize("shuffle", ["block", "stratified"])
def test_shared_sources_are_uniform_over_block_rows(shuffle):
    """Over 3,000 block rows, where a real user lands (per slot) and where two land (pairs)
    are uniform: the shared key draws one uniform permutation per block row."""
    import itertools

    from scipy import stats

    from daskfractal.testing import tiny_split

    split = tiny_split(seed=2, n_users=6, n_items=5)
    nb = 3000
    # (bernoulli: joint's windows hold one degree each; stratified's one window here: m < 64)
    keep = np.full((nb, 2), 0.5)
    plan = dfr.expand(
        split, keep=keep, shuffle=shuffle, window=64, seed=4, dropout="bernoulli"
    ).plan
    m = plan.m
    src = np.stack([_plan.source_rows(plan, i, np.array([0, 1]), np.arange(m)) for i in range(nb)])
    np.testing.assert_array_equal(src[:, 0], src[:, 1])
    slot_of = np.argsort(src[:, 0], axis=1)  # slot_of[i, r]: the slot real user r lands in
    counts = np.zeros((m, m), np.int64)
    np.add.at(counts, (np.tile(np.arange(m), nb), slot_of.ravel()), 1)
    assert stats.chisquare(counts.ravel()).pvalue > 1e-4
    pairs = np.bincount(slot_of[:, 0] * m + slot_of[:, 1], minlength=m * m)
    cells = [a * m + b for a, b in itertools.permutations(range(m), 2)]
    assert stats.chisquare(pairs[cells]).pvalue > 1e-4


def test_joint_groups_rebuild_in_a_chain_and_in_the_privacy_ground_truth(kcore):
    """A level with joint's groups (2 x 4, a = 2) rebuilds from its record to the same data
    (the recorded, group-balanced R̂ is taken as it is), and the privacy audit's ground truth
    gives every block the source rows of its group, as the planner does."""
    from daskfractal.expansion import rebuild_input
    from daskfractal.privacy.truth import LevelTruth

    inner = dfr.expand(kcore, factors=(2, 4), dropout="joint", seed=3)
    assert inner.params["row_groups"] == 2
    outer = dfr.expand(inner, factors=(2, 1), seed=4)
    rebuilt = rebuild_input(kcore, outer.params["levels"], scheduler="sync")
    direct = inner.to_split(scheduler="sync")
    assert (rebuilt.train != direct.train).nnz == 0 and (rebuilt.test != direct.test).nnz == 0
    truth = LevelTruth.of(inner.params, kcore.signed(), 4, train=kcore.train)
    assert truth.row_groups == 2
    for i in range(2):
        want = _plan.source_rows(inner.plan, i, np.arange(4), np.arange(kcore.n_users))
        np.testing.assert_array_equal(truth.sources(i), want)
        assert (want[0] == want[1]).all() and (want[2] == want[3]).all()
        assert not (want[0] == want[2]).all()
