"""Aligned timelines (kernels/timeline.py): kernel against its NumPy specification, the
properties the module promises, and the expansion's timestamps with ``timeline=``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import daskfractal as dfr
from daskfractal.kernels.reference_timeline import align_user
from daskfractal.kernels.timeline import align_timelines
from daskfractal.testing.data import tiny_split

QUIET = {"progress": False}


@st.composite
def users(draw: st.DrawFn) -> tuple[int, int, list[tuple[np.ndarray, ...]]]:
    """Users of an expansion with ``n_blocks`` block columns of ``n`` items: per user, train
    items / times and test items / times (few distinct times: ties happen)."""
    n = draw(st.integers(1, 5))
    n_blocks = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    span = draw(st.sampled_from([3, 10**9]))
    out = []
    for _ in range(draw(st.integers(1, 6))):
        n_train = int(rng.integers(0, 8))
        n_test = int(rng.integers(0, 3))
        out.append(
            (
                np.sort(rng.integers(0, n * n_blocks, n_train)),
                rng.integers(-span, span, n_train),
                np.sort(rng.integers(0, n * n_blocks, n_test)),
                rng.integers(-span, span, n_test),
            )
        )
    return n, n_blocks, out


def _run_kernel(n: int, n_blocks: int, rows: list[tuple[np.ndarray, ...]]):
    """The users laid out back to back (CSR), aligned by the kernel."""
    cat = [np.concatenate([r[k] for r in rows]).astype(np.int64) for k in range(4)]
    ptr_tr = np.cumsum([0] + [len(r[0]) for r in rows])
    ptr_te = np.cumsum([0] + [len(r[2]) for r in rows])
    align_timelines(
        n,
        n_blocks,
        ptr_tr[:-1],
        ptr_tr[1:],
        ptr_te[:-1],
        ptr_te[1:],
        cat[0],
        cat[1],
        cat[2],
        cat[3],
    )
    return [
        (cat[1][ptr_tr[x] : ptr_tr[x + 1]], cat[3][ptr_te[x] : ptr_te[x + 1]])
        for x in range(len(rows))
    ]


@given(users())
def test_kernel_matches_the_reference(case) -> None:
    n, n_blocks, rows = case
    got = _run_kernel(n, n_blocks, rows)
    for (tr_items, tr_t, te_items, te_t), (g_tr, g_te) in zip(rows, got, strict=True):
        want_tr, want_te = align_user(n, tr_items, tr_t, te_items, te_t)
        np.testing.assert_array_equal(g_tr, want_tr)
        np.testing.assert_array_equal(g_te, want_te)


@given(users())
def test_pieces_keep_their_gaps_and_end_before_the_anchor(case) -> None:
    n, n_blocks, rows = case
    for (tr_items, tr_t, te_items, te_t), (g_tr, g_te) in zip(
        rows, _run_kernel(n, n_blocks, rows), strict=True
    ):
        tr_block, te_block = tr_items // n, te_items // n
        # every block moves by one constant: order and gaps inside a piece are the user's
        for j in np.unique(np.concatenate([tr_block, te_block])):
            moved = np.concatenate([g_tr[tr_block == j] - tr_t[tr_block == j]])
            assert len(np.unique(moved)) <= 1
            if (tr_block == j).any():
                shift = moved[0] if moved.size else 0
                np.testing.assert_array_equal(g_te[te_block == j], te_t[te_block == j] + shift)
        if te_items.size and (tr_block == te_block[0]).any():
            anchor = te_block[0]
            # the anchor keeps its timestamps, its latest train entry is the user's only latest
            np.testing.assert_array_equal(g_tr[tr_block == anchor], tr_t[tr_block == anchor])
            ref = tr_t[tr_block == anchor].max()
            for j in np.unique(tr_block[tr_block != anchor]):
                assert g_tr[tr_block == j].max() == ref - 1


def test_by_hand() -> None:
    # n = 10 items a block; test in block 1 at time 100; block 1's latest train at 90;
    # block 0 ends at 500 (moves by 90 - 1 - 500), block 2 at 7 (moves by 82)
    tr_items = np.array([1, 3, 12, 15, 21])
    tr_t = np.array([400, 500, 50, 90, 7])
    te_items, te_t = np.array([14]), np.array([100])
    got_tr, got_te = align_user(10, tr_items, tr_t, te_items, te_t)
    np.testing.assert_array_equal(got_tr, [-11, 89, 50, 90, 89])
    np.testing.assert_array_equal(got_te, [100])
    assert _run_kernel(10, 3, [(tr_items, tr_t, te_items, te_t)])[0][0].tolist() == [
        -11, 89, 50, 90, 89,
    ]  # fmt: skip


# --------------------------------------------------------------------------- the expansion


def _split() -> dfr.SplitData:
    return tiny_split(seed=3, n_users=40, n_items=25)


def test_aligned_is_the_default_and_source_keeps_the_real_times() -> None:
    split = _split()
    keep = np.full((2, 3), 0.8)
    aligned = dfr.expand(split, keep=keep, seed=4, shuffle="block", dropout="bernoulli")
    source = dfr.expand(
        split, keep=keep, seed=4, shuffle="block", dropout="bernoulli", timeline="source"
    )
    assert aligned.params["timeline"] == "aligned" and source.params["timeline"] == "source"
    a, s = aligned.compute(), source.compute()
    # same interactions, same ratings; only the timestamps move
    assert (a.train != s.train).nnz == 0 and (a.test != s.test).nnz == 0
    np.testing.assert_array_equal(a.train_ratings, s.train_ratings)
    real = set(np.concatenate([split.train_timestamps, split.test_timestamps]).tolist())
    assert set(s.train_timestamps.tolist()) <= real
    assert not np.array_equal(a.train_timestamps, s.train_timestamps)
    n = split.n_items
    for u in range(a.train.shape[0]):
        lo, hi = a.train.indptr[u], a.train.indptr[u + 1]
        t0, t1 = a.test.indptr[u], a.test.indptr[u + 1]
        if t1 == t0 or hi == lo:
            continue
        anchor = a.test.indices[t0] // n
        blocks = a.train.indices[lo:hi] // n
        times = a.train_timestamps[lo:hi]
        if (blocks == anchor).any():
            # the user's latest train interactions are its anchor piece's
            assert blocks[times == times.max()].tolist() == [anchor] * int(
                (times == times.max()).sum()
            )


def test_timeline_needs_no_timestamps() -> None:
    split = _split()
    keep = np.full((2, 2), 0.7)
    ex = dfr.expand(split, keep=keep, seed=1, carry=["ratings"])
    assert ex.params["timeline"] == "aligned"  # recorded, without effect
    same = dfr.expand(split, keep=keep, seed=1, carry=["ratings"], timeline="source")
    assert (ex.compute().train != same.compute().train).nnz == 0


@pytest.mark.parametrize("bad", ["shifted", "", 3])
def test_bad_timeline_is_one_parameter_error(bad: object) -> None:
    with pytest.raises(dfr.ParameterError, match="timeline"):
        dfr.expand(_split(), keep=np.full((2, 2), 0.5), timeline=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("dropout", ["bernoulli", "joint", "balanced"])
def test_store_cut_into_tiny_shards_holds_the_aligned_times(dropout: str) -> None:
    """Users cut by shard edges are aligned as a whole: same store for any shard size, and
    its timestamps are compute()'s."""
    split = _split()
    keep = np.array([[0.9, 0.6, 0.7], [0.5, 0.8, 0.9]])
    shuffle = "stratified" if dropout == "joint" else "block"
    ex = dfr.expand(split, keep=keep, seed=9, shuffle=shuffle, dropout=dropout, chunk_size=50)
    want = ex.compute()
    with tempfile.TemporaryDirectory() as tmp:
        for shard in (32, 2**16):
            chunk = min(shard, 8)
            store = ex.to_zarr(
                Path(tmp, f"s{shard}"), scheduler="threads", shard_size=shard,
                chunk_elems=chunk, **QUIET,
            )  # fmt: skip
            for s in ("train", "test"):
                got = store.to_scipy(s, values="timestamps")
                np.testing.assert_array_equal(got.data, getattr(want, f"{s}_timestamps"))
