"""``daskfractal evaluate``: the sample, the protocol, the report, the command and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

import daskfractal as dfr
from daskfractal.cli import main
from daskfractal.errors import AlgorithmError, InputDataError, ParameterError
from daskfractal.evaluation import evaluate
from daskfractal.evaluation.sample import (
    block_users,
    build_side,
    choose_blocks,
    item_subset,
    read_sub_expansion,
)
from daskfractal.testing import fat_tailed_interactions

from .conftest import MOVIELENS, movielens_source

FAST = ["random", "popularity", "itemknn", "ease"]


@pytest.fixture(scope="module")
def small_split():
    """About 80 x 50 fat-tailed interactions with timestamps, leave-last-out (in memory)."""
    data = fat_tailed_interactions(80, 50, 8, seed=3, min_degree=3, timestamps=True)
    return dfr.preprocess(data)


@pytest.fixture(scope="module")
def small_store(small_split, tmp_path_factory):
    keep = np.random.default_rng(0).uniform(0.3, 1.0, (3, 4))
    ex = dfr.expand(small_split, keep=keep, shuffle="block", seed=0)
    path = tmp_path_factory.mktemp("ev") / "small.zarr"
    return ex.to_zarr(path, progress=False, scheduler="sync"), ex.compute()


@pytest.fixture(scope="module")
def ml_small_store(tmp_path_factory):
    """The embedded ml-latest-small expanded 2 x 2 (its source recorded in the store)."""
    split = dfr.preprocess(dfr.load("default"))
    red = dfr.reduce(split, (2, 2))
    path = tmp_path_factory.mktemp("ml") / "ml.zarr"
    return dfr.expand(split, reduced=red, seed=0).to_zarr(path, progress=False)


# ------------------------------------------------------------------------------ sampling
def test_sub_expansion_holds_exactly_the_users_and_items_of_the_chosen_blocks(
    small_split, small_store
):
    st, full = small_store
    m, n = small_split.shape
    rows, cols = np.array([0, 2]), np.array([1, 3])
    got = read_sub_expansion(st, rows, cols, timestamps=True, scheduler="sync")
    block_of_user = full.user_slot // m
    users = np.flatnonzero(np.isin(block_of_user, rows))
    np.testing.assert_array_equal(got["user_ids"], users)
    assert got["n_items"] == 2 * n
    for split_name, mat in (("train", full.train), ("test", full.test)):
        sub = mat[users].tocoo()
        keep = np.isin(sub.col // n, cols)
        rank = np.searchsorted(cols, sub.col[keep] // n)
        expect = sp.csr_matrix(
            (np.ones(keep.sum()), (sub.row[keep], rank * n + sub.col[keep] % n)),
            shape=(users.size, 2 * n),
        )
        ptr, idx = got[f"{split_name}_ptr"], got[f"{split_name}_idx"]
        mine = sp.csr_matrix((np.ones(idx.size), idx, ptr), shape=(users.size, 2 * n))
        assert (mine != expect).nnz == 0
        assert mine.nnz == expect.nnz
    # the timestamps travel with their entries
    assert got["train_ts"].shape == got["train_idx"].shape


def test_block_users_are_contiguous_ranges(small_split, small_store):
    st, full = small_store
    b = block_users(st, small_split.shape[0])
    assert b[0] == 0 and b[-1] == st.n_users
    for i in range(3):
        assert np.all(full.user_slot[b[i] : b[i + 1]] // small_split.shape[0] == i)


def test_choose_blocks_rules():
    # every block column; the fewest block rows that hold the users
    rows, cols = choose_blocks((4, 8), np.full(4, 100), max_users=10, seed=1)
    assert cols.tolist() == list(range(8)) and len(rows) == 1
    rows, cols = choose_blocks((4, 8), np.full(4, 100), max_users=350, seed=1)
    assert len(rows) == 4
    rows, _ = choose_blocks((4, 8), np.array([0, 0, 100, 0]), max_users=50, seed=1)
    assert 2 in rows.tolist()  # empty block rows do not count
    again = choose_blocks((4, 8), np.full(4, 100), max_users=150, seed=1)
    assert (
        again[0].tolist()
        == choose_blocks((4, 8), np.full(4, 100), max_users=150, seed=1)[0].tolist()
    )
    picks = {
        tuple(choose_blocks((8, 8), np.full(8, 10), max_users=1, seed=s)[0]) for s in range(20)
    }
    assert len(picks) > 3  # the block row is drawn, not always the first


def test_item_cap_while_reading_equals_the_cap_after(small_split, small_store):
    st, _ = small_store
    rows, cols = np.array([1]), np.arange(4)
    n = small_split.n_items
    keep = item_subset(4 * n, 30, seed=3)
    a = read_sub_expansion(st, rows, cols, timestamps=False, keep_items=keep, scheduler="sync")
    b = read_sub_expansion(st, rows, cols, timestamps=False, scheduler="sync")
    assert a["n_items"] == 30
    for split_name in ("train", "test"):
        full = sp.csr_matrix(
            (np.ones(b[f"{split_name}_idx"].size), b[f"{split_name}_idx"], b[f"{split_name}_ptr"]),
            shape=(b["user_ids"].size, 4 * n),
        )[:, keep]
        mine = sp.csr_matrix(
            (np.ones(a[f"{split_name}_idx"].size), a[f"{split_name}_idx"], a[f"{split_name}_ptr"]),
            shape=(a["user_ids"].size, 30),
        )
        assert (mine != full).nnz == 0


def test_build_side_holds_out_one_test_item_uniformly():
    # 2000 users, each with train item 0 and test items 1..4: the choice is uniform
    n_users = 2000
    train_ptr = np.arange(n_users + 1, dtype=np.int64)
    train_idx = np.zeros(n_users, np.int64)
    test_ptr = np.arange(0, 4 * n_users + 1, 4, dtype=np.int64)
    test_idx = np.tile(np.arange(1, 5), n_users)
    side = build_side(
        train_ptr,
        train_idx,
        test_ptr,
        test_idx,
        5,
        user_keys=np.arange(n_users),
        max_users=n_users,
        max_items=100,
        seed=0,
        name="t",
    )
    assert side.users.size == n_users
    counts = np.bincount(side.targets, minlength=5)[1:]
    assert counts.min() > 400 and counts.max() < 600  # 500 expected, sd ~19
    again = build_side(
        train_ptr,
        train_idx,
        test_ptr,
        test_idx,
        5,
        user_keys=np.arange(n_users),
        max_users=n_users,
        max_items=100,
        seed=0,
        name="t",
    )
    np.testing.assert_array_equal(side.targets, again.targets)
    other = build_side(
        train_ptr,
        train_idx,
        test_ptr,
        test_idx,
        5,
        user_keys=np.arange(n_users),
        max_users=n_users,
        max_items=100,
        seed=1,
        name="t",
    )
    assert (side.targets != other.targets).any()


def test_build_side_user_sample_depends_on_keys_not_on_row_order():
    rng = np.random.default_rng(0)
    n_users, n_items = 300, 50
    train = sp.random(n_users, n_items, density=0.2, random_state=rng, format="csr")
    test = sp.csr_matrix(
        (np.ones(n_users), (np.arange(n_users), rng.integers(0, n_items, n_users))),
        shape=(n_users, n_items),
    )
    test = (test - test.multiply(train > 0)).tocsr()
    test.eliminate_zeros()
    keys = np.arange(n_users) + 1000

    def side(order):
        tr, te = train[order], test[order]
        return build_side(
            tr.indptr,
            tr.indices,
            te.indptr,
            te.indices,
            n_items,
            user_keys=keys[order],
            max_users=40,
            max_items=n_items,
            seed=5,
            name="t",
        )

    a = side(np.arange(n_users))
    b = side(np.arange(n_users)[::-1])
    assert a.users.size == 40
    assert sorted(a.user_keys.tolist()) == sorted(b.user_keys.tolist())
    by_key_a = dict(zip(a.user_keys.tolist(), a.targets.tolist(), strict=True))
    by_key_b = dict(zip(b.user_keys.tolist(), b.targets.tolist(), strict=True))
    assert by_key_a == by_key_b
    # never a target in the train row
    for r, t in zip(a.users, a.targets, strict=True):
        assert t not in a.train[r].indices


def test_build_side_item_cap_keeps_train_and_test_consistent():
    n_users, n_items = 50, 30
    train = sp.random(n_users, n_items, density=0.3, random_state=1, format="csr")
    test = sp.identity(n_items, format="csr")[np.arange(n_users) % n_items]
    test = (test - test.multiply(train > 0)).tocsr()
    test.eliminate_zeros()
    side = build_side(
        train.indptr,
        train.indices,
        test.indptr,
        test.indices,
        n_items,
        user_keys=np.arange(n_users),
        max_users=n_users,
        max_items=10,
        seed=2,
        name="t",
    )
    assert side.train.shape == (n_users, 10)
    rng = np.random.default_rng(np.random.SeedSequence([2, 34]))
    kept = np.sort(rng.choice(n_items, 10, replace=False))
    expect = train[:, kept]
    assert (side.train != (expect > 0).astype(np.float32)).nnz == 0
    for r, t in zip(side.users, side.targets, strict=True):
        assert test[r, kept[t]] == 1


# ------------------------------------------------------------------------------ evaluate
def test_evaluate_on_a_small_store(small_split, small_store, tmp_path):
    st, _ = small_store
    rep = evaluate(
        st, small_split, algorithms=FAST, progress=False, report_dir=tmp_path, n_boot=200
    )
    n = rep.numbers
    assert n["algorithms"] == FAST
    assert n["metrics"] == ["hr@10", "ndcg@10", "hr@20", "ndcg@20"]
    assert set(n["results"]) == {"original", "expansion"}
    # the sample is the whole store (small): every user with a test item is evaluated
    assert n["sides"]["expansion"]["whole_store"]
    assert n["sides"]["original"]["users_evaluated"] == int(
        (small_split.test.getnnz(axis=1) > 0).sum()
    )
    for side in ("original", "expansion"):
        for m in n["metrics"]:
            for a in FAST:
                r = n["results"][side][m][a]
                assert r["lo"] <= r["mean"] <= r["hi"]
                assert rep.values[side][m][:, FAST.index(a)].mean() == pytest.approx(r["mean"])
    ag = n["agreement"]["ndcg@10"]
    assert -1 <= ag["kendall_tau"]["value"] <= 1
    assert ag["n_pairs"] == 6
    assert (tmp_path / "report.json").is_file() and (tmp_path / "report.md").is_file()
    assert (tmp_path / "evaluation.png").is_file()
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["headline"]["metric"] == "ndcg@10"
    assert "Kendall τ" in rep.summary()
    # hr@20 >= hr@10 for every user
    assert np.all(rep.values["original"]["hr@20"] >= rep.values["original"]["hr@10"] - 1e-12)


def test_an_item_cap_says_how_much_history_it_keeps(small_split, small_store):
    st, _ = small_store
    rep = evaluate(st, small_split, algorithms=["random", "popularity"], progress=False, n_boot=20,
                   max_items=60)  # fmt: skip
    side = rep.numbers["sides"]["expansion"]
    assert side["n_items"] == 60 and not side["whole_store"]
    share = 60 / side["n_items_before"]
    note = next(x for x in rep.notes if x.startswith("expansion: 60 of"))
    assert f"({share:.0%}, a seeded uniform subset)" in note
    assert "the original side keeps all of its items" in note  # 50 items, under the cap
    assert "note: expansion: 60 of" in rep.summary()


def test_evaluate_is_deterministic_and_seeded(small_split, small_store):
    st, _ = small_store
    a = evaluate(st, small_split, algorithms=FAST, progress=False, n_boot=100, seed=3)
    b = evaluate(st, small_split, algorithms=FAST, progress=False, n_boot=100, seed=3)
    a.numbers["timings"] = b.numbers["timings"] = None
    assert a.to_json() == b.to_json()
    c = evaluate(st, small_split, algorithms=FAST, progress=False, n_boot=100, seed=4)
    assert c.numbers["results"] != a.numbers["results"]


def test_evaluate_same_numbers_on_a_distributed_cluster(small_split, small_store):
    from distributed import Client, LocalCluster

    st, _ = small_store
    ref = evaluate(st, small_split, algorithms=["popularity", "itemknn"], progress=False, n_boot=50)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as lc,
        Client(lc) as client,
    ):
        got = evaluate(
            st,
            small_split,
            algorithms=["popularity", "itemknn"],
            progress=False,
            n_boot=50,
            scheduler=client,
        )
    assert got.numbers["results"] == ref.numbers["results"]
    assert got.numbers["agreement"] == ref.numbers["agreement"]


def test_sampled_protocol(small_split, small_store):
    st, _ = small_store
    full = evaluate(st, small_split, algorithms=FAST, progress=False, n_boot=50)
    samp = evaluate(
        st,
        small_split,
        algorithms=FAST,
        progress=False,
        n_boot=50,
        protocol="sampled",
        negatives=20,
    )
    assert samp.numbers["settings"]["negatives"] == 20
    # 21 candidates: a hit at 20 is almost certain; easier than the full ranking
    for side in ("original", "expansion"):
        pop_full = full.numbers["results"][side]["hr@10"]["popularity"]["mean"]
        pop_samp = samp.numbers["results"][side]["hr@10"]["popularity"]["mean"]
        assert pop_samp >= pop_full
        rnd = samp.numbers["results"][side]["hr@10"]["random"]["mean"]
        assert rnd == pytest.approx(10 / 21, abs=0.2)


def test_sequential_baseline_runs_when_timestamps_are_carried(small_split, small_store):
    st, _ = small_store
    assert "timestamps" in st.layout.carry
    rep = evaluate(
        st, small_split, algorithms=["popularity", "transitions"], progress=False, n_boot=50
    )
    assert rep.numbers["algorithms"] == ["popularity", "transitions"]


def test_user_algorithms(small_split, small_store):
    st, _ = small_store

    def by_item_id(train):
        n_items = train.shape[1]
        return lambda users: np.tile(-np.arange(n_items, dtype=np.float64), (len(users), 1))

    rep = evaluate(
        st,
        small_split,
        algorithms={"popularity": "popularity", "ids": by_item_id},
        progress=False,
        n_boot=50,
    )
    assert rep.numbers["algorithms"] == ["popularity", "ids"]

    def broken(train):
        raise RuntimeError("boom")

    with pytest.raises(AlgorithmError, match="boom"):
        evaluate(
            st,
            small_split,
            algorithms={"popularity": "popularity", "broken": broken},
            progress=False,
            n_boot=50,
        )

    def nan_scores(train):
        return lambda users: np.full((len(users), train.shape[1]), np.nan)

    with pytest.raises(AlgorithmError):
        evaluate(
            st,
            small_split,
            algorithms={"popularity": "popularity", "nan": nan_scores},
            progress=False,
            n_boot=50,
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k"),
        ({"k": []}, "k"),
        ({"users": 0}, "users"),
        ({"max_items": 0}, "max_items"),
        ({"protocol": "leave-one-out"}, "protocol"),
        ({"algorithms": ["popularity", "deep-magic"]}, "deep-magic"),
        ({"algorithms": ["popularity"]}, "two"),
        ({"algorithms": ["ease:l2=abc", "popularity"]}, "l2"),
        ({"negatives": 0}, "negatives"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_are_refused(small_split, small_store, kwargs, match):
    st, _ = small_store
    kwargs.setdefault("algorithms", FAST)
    with pytest.raises(ParameterError, match=match):
        evaluate(st, small_split, progress=False, **kwargs)


def test_a_store_without_test_entries_is_refused(tmp_path):
    split = dfr.preprocess(dfr.load("default"), split="none")
    st = dfr.expand(split, keep=np.ones((1, 2)), shuffle="none", seed=0).to_zarr(
        tmp_path / "nt.zarr", progress=False
    )
    with pytest.raises(InputDataError, match="no test entries"):
        evaluate(st, split, progress=False)
    assert main(["evaluate", str(st.path), "--quiet"]) == 3


def test_expansion_only_without_the_original(small_store):
    st, _ = small_store
    rep = evaluate(st, False, algorithms=FAST, progress=False, n_boot=50)
    assert set(rep.numbers["results"]) == {"expansion"}
    assert rep.numbers["agreement"] is None
    assert any("original" in note for note in rep.notes)


# ------------------------------------------------------------------------------ command
def test_cli_evaluate_end_to_end_on_the_embedded_data(ml_small_store, tmp_path, capsys):
    code = main(
        [
            "evaluate",
            str(ml_small_store.path),
            "--algorithms",
            "popularity,itemknn",
            "ease:l2=100",
            "--k",
            "5",
            "10",
            "--users",
            "300",
            "--report",
            str(tmp_path / "r"),
            "--quiet",
            "--bootstrap",
            "100",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Kendall τ" in out and "ease:l2=100" in out
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["metrics"] == ["hr@5", "ndcg@5", "hr@10", "ndcg@10"]
    assert doc["sides"]["original"]["users_evaluated"] == 300
    assert doc["sides"]["expansion"]["users_evaluated"] == 300
    assert doc["original"]["sha256_matches"] is True


@pytest.mark.parametrize(
    "args", [["--k", "0"], ["--algorithms", "nope"], ["--users", "-1"], ["--negatives", "0"]]
)
def test_cli_errors_are_one_line(ml_small_store, args, capsys):
    code = main(["evaluate", str(ml_small_store.path), "--quiet", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert err.startswith("daskfractal evaluate: error:")


def test_cli_unknown_protocol_is_a_usage_error(ml_small_store, capsys):
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(ml_small_store.path), "--protocol", "x"])
    assert e.value.code == 2
    assert "invalid choice: 'x'" in capsys.readouterr().err.splitlines()[-1]


def test_validate_downstream(ml_small_store, tmp_path, capsys):
    code = main(
        [
            "validate",
            str(ml_small_store.path),
            "--k",
            "4",
            "--block-sample",
            "0",
            "--downstream",
            "--algorithms",
            "popularity",
            "itemknn",
            "--users",
            "200",
            "--bootstrap",
            "50",
            "--max-items",
            "3000",
            "--report",
            str(tmp_path),
            "--quiet",
            "--no-figures",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "spectrum" in out and "Kendall τ" in out
    assert (tmp_path / "downstream" / "report.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", MOVIELENS)
def test_cli_default_algorithms_on_movielens_2x2(name, tmp_path, capsys):
    src = movielens_source(name)
    out = tmp_path / "x.zarr"
    assert (
        main(
            [
                "expand",
                src,
                "--factors",
                "2",
                "2",
                "--out",
                str(out),
                "--quiet",
                "--local",
                "threads",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(["evaluate", str(out), "--original", src, "--quiet", "--json", "--bootstrap", "200"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    names = doc["algorithms"]
    assert {
        "random",
        "popularity",
        "itemknn",
        "rp3beta",
        "ease",
        "puresvd",
        "infae",
        "transitions",
    } <= set(names)
    res = doc["results"]["original"]["ndcg@10"]
    # the floor is the floor, on both sides
    for side in ("original", "expansion"):
        r = doc["results"][side]["ndcg@10"]
        assert r["random"]["mean"] < min(r[a]["mean"] for a in names if a != "random")
    assert res["ease"]["mean"] > res["popularity"]["mean"]
    assert doc["headline"]["kendall_tau"] > 0.3


def test_parquet_store_gives_the_same_numbers(small_split, small_store, tmp_path):
    st, _ = small_store
    keep = np.random.default_rng(0).uniform(0.3, 1.0, (3, 4))
    pq_store = dfr.expand(small_split, keep=keep, shuffle="block", seed=0).to_parquet(
        tmp_path / "small.parquet", progress=False, scheduler="sync"
    )
    a = evaluate(st, small_split, algorithms=FAST, progress=False, n_boot=50)
    b = evaluate(pq_store, small_split, algorithms=FAST, progress=False, n_boot=50)
    assert a.numbers["results"] == b.numbers["results"]
    assert a.numbers["sides"]["expansion"] == b.numbers["sides"]["expansion"]
