"""The privacy audit: the attack works where it must, is calibrated, and is deterministic.

An honest attack must show high linkage where the expansion hides nothing (``--shuffle none``
at keep 1), chance-level numbers where there is nothing to find (segments independent of R),
and the ground truth rebuilt from the store must be right (every item of a segment is in
its source's row, under every shuffle).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import daskfractal as dfr
from daskfractal.cli import main
from daskfractal.privacy import (
    degree_item_map,
    link_scores,
    map_items,
    roc_auc,
    topk_accuracy,
)
from daskfractal.testing import fat_tailed_interactions, write_movielens_udata

from .conftest import has_shared, shared_file


@pytest.fixture(scope="module")
def udata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated MovieLens-100K-like file (400 users, 300 items, ratings, timestamps)."""
    data = fat_tailed_interactions(400, 300, 25, seed=3, ratings=True, timestamps=True)
    return write_movielens_udata(tmp_path_factory.mktemp("priv") / "u.data", data)


@pytest.fixture(scope="module")
def stores(udata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 2 × 2 store per shuffle at keep 1, and a ``block`` store with R̂, of ``udata``."""
    out = tmp_path_factory.mktemp("stores")
    split = dfr.preprocess(dfr.load(udata))
    paths = {}
    for shuffle in ("none", "block", "stratified"):
        ex = dfr.expand(split, keep=np.ones((2, 2)), shuffle=shuffle, seed=7, window=8)
        paths[shuffle] = ex.to_zarr(out / f"{shuffle}.zarr", progress=False).path
    ex = dfr.expand(split, factors=(2, 2), shuffle="block", seed=7)
    paths["reduced"] = ex.to_zarr(out / "reduced.zarr", progress=False).path
    # the default (auto: joint here) with R̂, and the balanced dropout under stratified
    ex = dfr.expand(split, factors=(2, 2), seed=7, window=8)
    assert ex.params["dropout"] == "joint"
    paths["joint"] = ex.to_zarr(out / "joint.zarr", progress=False).path
    ex = dfr.expand(split, factors=(2, 2), seed=7, window=8, dropout="balanced")
    paths["stratified-balanced"] = ex.to_zarr(out / "balanced.zarr", progress=False).path
    return paths


def test_linkage_is_high_without_shuffle_at_keep_one(stores: dict[str, Path]) -> None:
    rep = dfr.privacy_audit(stores["none"], users=200, seed=0)
    lk = rep.numbers["linkage"]
    assert lk["segments"] >= 200
    assert lk["top1"] >= 0.9 and lk["top10"] >= lk["top1"]
    assert lk["ground_truth_check"] == 1.0
    assert lk["chance_top1"] == pytest.approx(1 / 400, rel=0.05)
    assert rep.numbers["revealed"]["params.seed"]["present"]
    assert rep.numbers["membership"]["members"] == rep.numbers["membership"]["non_members"]


@pytest.mark.parametrize(
    "shuffle", ["block", "stratified", "reduced", "joint", "stratified-balanced"]
)
def test_ground_truth_holds_under_every_shuffle(stores: dict[str, Path], shuffle: str) -> None:
    # the sources recomputed from the recorded seed are right: every item of every segment,
    # mapped back through the recomputed item permutation, is in its source's row
    rep = dfr.privacy_audit(stores[shuffle], users=150, seed=1, membership=False)
    lk = rep.numbers["linkage"]
    assert lk["segments"] > 50
    assert lk["ground_truth_check"] == 1.0
    assert 0.0 <= lk["top1"] <= lk["top10"] <= 1.0


def test_a_wrong_ground_truth_is_detected(stores: dict[str, Path]) -> None:
    # the check above can fail: the sources of another seed are not consistent
    from daskfractal.privacy import LevelTruth

    split = dfr.preprocess(
        dfr.load(dfr.open(stores["block"]).meta["daskfractal"]["params"]["source"])
    )
    rows = dfr.open(stores["block"]).attrs["params"]["rows"]
    right = LevelTruth.of({"seed": 7, "shuffle": "block", "rows": rows}, split.signed(), 2)
    wrong = LevelTruth.of({"seed": 8, "shuffle": "block", "rows": rows}, split.signed(), 2)
    assert not np.array_equal(right.sources(0), wrong.sources(0))
    # a store of format 2 is audited with its Fisher-Yates permutations: not this store's
    assert not LevelTruth.of({"seed": 7, "shuffle": "block"}, split.signed(), 2, 3).legacy
    old = LevelTruth.of({"seed": 7, "shuffle": "block"}, split.signed(), 2, 2)
    assert old.legacy and not right.legacy
    st = dfr.open(stores["block"])
    real = (split.train + split.test).tocsr()
    m, n = split.shape
    slots = st.user_slots()
    users = np.flatnonzero(slots < m)[:50]
    rows = st.user_block(0, int(users[-1]) + 1, "train")[users]
    for truth, expect in ((right, True), (wrong, False), (old, False)):
        src, perm = truth.sources(0)[0], truth.item_permutations(0)[0]
        seg = map_items(rows[:, :n], np.argsort(perm))
        inside = [
            set(seg[a].indices) <= set(real[src[slots[u]]].indices) for a, u in enumerate(users)
        ]
        assert all(inside) is expect


def test_scores_are_calibrated_on_unrelated_segments() -> None:
    # segments independent of R: the linkage accuracy is chance, whatever the "truth"
    rng = np.random.default_rng(0)
    m, n = 400, 300
    real = sp.random(m, n, density=0.08, random_state=1, format="csr")
    segs = sp.random(2000, n, density=0.05, random_state=2, format="csr")
    truth = rng.integers(0, m, 2000)
    phi = degree_item_map(segs, real, seed=0)
    scores = link_scores(map_items(segs, phi), real, keep=0.6)
    top1 = topk_accuracy(scores, truth, 1).mean()
    top10 = topk_accuracy(scores, truth, 10).mean()
    assert abs(top1 - 1 / m) < 3 * np.sqrt(1 / m / 2000) + 1e-3
    assert abs(top10 - 10 / m) < 3 * np.sqrt(10 / m / 2000) + 2e-3
    # a constant score is exactly at chance
    assert topk_accuracy(np.zeros((5, m)), truth[:5], 10).tolist() == [10 / m] * 5


def test_roc_auc_matches_the_pair_count() -> None:
    rng = np.random.default_rng(3)
    pos, neg = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairs = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    assert roc_auc(pos, neg) == pytest.approx(pairs.mean())
    assert np.isnan(roc_auc([], neg))


def test_same_seed_same_numbers(stores: dict[str, Path]) -> None:
    def numbers(seed: int) -> dict:
        rep = dfr.privacy_audit(stores["reduced"], users=120, seed=seed)
        return {k: v for k, v in rep.numbers.items() if k != "timings"}

    a, b = numbers(5), numbers(5)
    assert a == b
    assert numbers(6)["linkage"]["block_rows"] is not None


def test_cli_end_to_end(
    stores: dict[str, Path], udata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["privacy", str(stores["none"]), "--original", str(udata), "--users", "80"]
    assert main([*argv, "--json", "--report", str(tmp_path / "rep")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["linkage"]["top1"] >= 0.9
    assert json.loads((tmp_path / "rep" / "privacy.json").read_text())["linkage"] == doc["linkage"]
    assert "re-identification" in (tmp_path / "rep" / "privacy.md").read_text()
    assert main([*argv, "--no-membership"]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "membership" not in out


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("daskfractal privacy: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "code", "needle"),
    [
        (["--users", "1"], 2, "--users"),
        (["--seed", "-1"], 2, "--seed"),
        (["--block-rows", "0"], 2, "--block-rows"),
    ],
)
def test_cli_bad_options(
    stores: dict[str, Path],
    extra: list[str],
    code: int,
    needle: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["privacy", str(stores["none"]), *extra]) == code
    assert needle in _one_error_line(capsys.readouterr().err)


def test_cli_bad_store_and_original(
    stores: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["privacy", str(tmp_path / "missing.zarr")]) == 5
    assert "does not exist" in _one_error_line(capsys.readouterr().err)
    other = write_movielens_udata(
        tmp_path / "u.data",
        fat_tailed_interactions(300, 200, 20, seed=9, ratings=True, timestamps=True),
    )
    assert main(["privacy", str(stores["none"]), "--original", str(other)]) == 3
    assert "not the store's input" in _one_error_line(capsys.readouterr().err)
    (tmp_path / "file").write_text("")
    assert main(["privacy", str(stores["none"]), "--report", str(tmp_path / "file")]) == 6
    _one_error_line(capsys.readouterr().err)


if has_shared("ml-100k", "u.data"):  # an added case where shared data exists

    @pytest.mark.slow
    def test_linkage_on_ml100k_2x2_none_keep_one(tmp_path: Path) -> None:
        split = dfr.preprocess(dfr.load(shared_file("ml-100k", "u.data")))
        ex = dfr.expand(split, keep=np.ones((2, 2)), shuffle="none", seed=0)
        st = ex.to_zarr(tmp_path / "ml100k.zarr", progress=False)
        lk = dfr.privacy_audit(st, users=300, membership=False).numbers["linkage"]
        assert lk["top1"] >= 0.9
        assert lk["ground_truth_check"] == 1.0
