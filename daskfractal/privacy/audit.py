"""The privacy audit of a store: :func:`privacy_audit`.

Two attacks, each scored against a ground truth the attacker does not use:

* **re-identification** (identity disclosure): for a seeded sample of synthetic users of a
  few seeded block rows, every segment (the user's train and test items inside one block
  column, at least ``min_items`` of them) is linked to the real users most likely to be its
  source (:mod:`.attacks`: item mapping by degree rank, refined by co-occurrence, then a
  thinning log-likelihood); the true source comes from the store's recorded seed and slots
  (:mod:`.truth`). Reported: top-1 / top-10 accuracy against chance ``1 / m`` and ``10 / m``.
* **membership inference**: a seeded sample of real users (at most ``users / 2`` and one in
  20 real users) is held out, the rest of
  ``R`` is expanded with the store's own options (its R̂ rows of the audited block rows, its
  shuffle, window, dropout and test policy; a seed derived from ``seed``), and every sampled
  real user (the held-out ones and as many members) gets the score ``1 − distance to the
  closest synthetic record`` (the best Jaccard similarity with a segment under the
  attacker's item mapping, averaged over the blocks).
  Reported: the ROC AUC between members and held-out users (0.5 is chance).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._checks import as_int, as_seed
from ..errors import InputDataError, ParameterError, StoreError
from ..expansion import expand, respond_split
from ..preprocess import SplitData
from ..store import ExpansionStore, open_store
from ..validation.original import keep_of, load_original
from .attacks import (
    binary_csr,
    degree_item_map,
    jaccard_best,
    link_scores,
    map_items,
    refine_item_map,
    roc_auc,
    topk_accuracy,
)
from .report import PrivacyReport, check_report_dir
from .truth import LevelTruth, level_of

__all__ = ["REVEALING_ATTRIBUTES", "privacy_audit"]

#: Store attributes that help an attacker, and what each one gives.
REVEALING_ATTRIBUTES: dict[str, str] = {
    "params.seed": "with the shuffle, window and R every row and item permutation: the source "
    "of every segment, exactly (the audit's ground truth)",
    "users/slot": "the block row of every user, so the attacker attacks one block at a time "
    "(and, with the seed, the source user itself)",
    "params.shuffle / window": "which permutations were drawn (with the seed: all of them; "
    "without it, how far a user or item can have moved)",
    "params.reduced.keep": "the keep probability of every block (the attacker otherwise "
    "estimates it from the block's size)",
    "stats/block_train": "the kept entries per block (the keep probabilities, estimated)",
    "params.source / input_sha256": "which real data set was expanded, and a check that the "
    "attacker holds exactly it",
}

_STREAM_AUDIT = 14  # salt of the audit's own draws (not an expansion stream)


def _rng(seed: int, *salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM_AUDIT, *salt])


def _revealed(st: ExpansionStore, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    level = (params.get("levels") or [params])[0]
    try:
        slots_present = st.user_slots() is not None
    except (StoreError, OSError, KeyError):
        slots_present = False
    present = {
        "params.seed": level.get("seed") is not None,
        "users/slot": slots_present,
        "params.shuffle / window": level.get("shuffle") is not None,
        "params.reduced.keep": keep_of(level) is not None or keep_of(params) is not None,
        "stats/block_train": "block_train" in (st.stats(items=False) or {}),
        "params.source / input_sha256": bool(params.get("source") or params.get("input_sha256")),
    }
    return {k: {"present": bool(present[k]), "gives": v} for k, v in REVEALING_ATTRIBUTES.items()}


def _block_row_matrix(st: ExpansionStore, u0: int, u1: int) -> sp.csr_matrix:
    """Train and test rows ``[u0, u1)`` together, binary (the released interactions)."""
    out = None
    for split in ("train", "test"):
        ptr, idx = st.rows(u0, u1, split)
        part = sp.csr_matrix(
            (np.ones(idx.size), np.asarray(idx, dtype=np.int64), ptr),
            shape=(u1 - u0, st.n_items),
        )
        out = part if out is None else out + part
    assert out is not None
    return binary_csr(out)


def _best_links(
    block: sp.csr_matrix, real: sp.csr_matrix, rows: np.ndarray, phi: np.ndarray, keep: float
) -> tuple[np.ndarray, float]:
    """The best real user of each segment ``block[rows]`` and the mean best score."""
    linked = np.full(block.shape[0], -1, np.int64)
    total = 0.0
    for a in range(0, rows.size, 512):
        part = rows[a : a + 512]
        sc = link_scores(map_items(block[part], phi), real, keep)
        linked[part] = sc.argmax(axis=1)
        total += float(sc.max(axis=1).sum())
    return linked, total / max(rows.size, 1)


def _item_map(
    block: sp.csr_matrix, real: sp.csr_matrix, *, seed: int, refine: int, min_items: int
) -> np.ndarray:
    """The attacker's guess of a block's item permutation: degree rank, then co-occurrence.

    A refinement round is kept only when it raises the attacker's own objective, the mean
    best log-likelihood of the segments (no ground truth is used).
    """
    keep = block.nnz / max(real.nnz, 1)  # the attacker's estimate of R̂[i, j]
    phi = degree_item_map(block, real, seed)
    if not refine:
        return phi
    big = np.flatnonzero(np.diff(block.indptr) >= min_items)
    if big.size > refine:
        big = np.sort(_rng(seed, 3).choice(big, refine, replace=False))
    linked, best = _best_links(block, real, big, phi, keep)
    for _ in range(3):
        new = refine_item_map(block, real, linked, phi)
        new_linked, score = _best_links(block, real, big, new, keep)
        if score <= best:
            break
        phi, linked, best = new, new_linked, score
    return phi


def _holdout(split: SplitData, held: np.ndarray) -> SplitData:
    keep = np.ones(split.shape[0], bool)
    keep[held] = False
    rows = np.flatnonzero(keep)
    return SplitData(
        train=split.train[rows],
        test=split.test[rows],
        user_ids=np.asarray(split.user_ids)[rows],
        item_ids=split.item_ids,
        params=dict(split.params),
        source="<privacy audit: members only>",
    )


def _membership(
    split: SplitData,
    real: sp.csr_matrix,
    level: dict[str, Any],
    keep: np.ndarray,
    block_rows: np.ndarray,
    *,
    n_sample: int,
    seed: int,
    refine: int,
    min_items: int,
) -> dict[str, Any]:
    m, n = split.shape
    # at most 1 in 20 real users held out, so that R's item degrees barely move
    half = max(1, min(n_sample // 2, m // 20))
    cand = np.sort(_rng(seed, 4).choice(m, min(2 * half, m), replace=False))
    flip = _rng(seed, 5).permutation(cand.size)
    held = np.sort(cand[flip[:half]])
    members = np.sort(cand[flip[half:]])
    ex = expand(
        _holdout(split, held),
        keep=keep[block_rows],
        seed=int(_rng(seed, 6).integers(2**63)),
        shuffle=level.get("shuffle", "block"),
        window=int(level.get("window", 64)),
        dropout=level.get("dropout", "bernoulli"),
        test_policy=level.get("test_policy", "all"),
        rows=level.get("rows", "per-block"),
        carry=(),  # (so the timeline does not matter)
        privacy_epsilon=(level.get("privacy") or {}).get("epsilon"),
    )
    data = ex.compute(scheduler="sync")
    syn = binary_csr(data.train + data.test)
    m_sub = m - held.size
    brow = np.asarray(data.user_slot) // m_sub
    score = np.zeros(cand.size)
    n_blocks = 0
    for i in range(len(block_rows)):
        users = np.flatnonzero(brow == i)
        rows = syn[users]
        for j in range(keep.shape[1]):
            block = rows[:, j * n : (j + 1) * n]
            if block.nnz == 0:
                continue
            phi = _item_map(block, real, seed=seed, refine=refine, min_items=min_items)
            mapped = map_items(block, phi)
            score += jaccard_best(mapped, real[cand])
            n_blocks += 1
    score /= max(n_blocks, 1)
    is_member = np.isin(cand, members)
    return {
        "members": int(members.size),
        "non_members": int(held.size),
        "auc": roc_auc(score[is_member], score[~is_member]),
        "mean_score_members": float(score[is_member].mean()) if members.size else None,
        "mean_score_non_members": float(score[~is_member].mean()) if held.size else None,
        "blocks": n_blocks,
        "expansion_users": int(syn.shape[0]),
    }


def privacy_audit(
    store: str | os.PathLike | ExpansionStore,
    original: Any = None,
    *,
    users: int = 500,
    seed: int = 0,
    block_rows: int = 2,
    min_items: int = 3,
    refine: int = 2000,
    membership: bool = True,
    report_dir: str | os.PathLike | None = None,
    scheduler: Any = None,
) -> PrivacyReport:
    """Attack an expansion store: re-identification and membership inference.

    The attacker knows the real data ``R`` (the store's input, reloaded and checked as
    :func:`daskfractal.validate` does) and the method, but not the store's seed: it links
    every synthetic segment (a user's items inside one block column) to the most likely real
    user, after guessing each block's item permutation from item degrees and co-occurrence.
    The ground truth comes from the store's recorded seed, shuffle and ``users/slot``,
    through the expansion's own permutation functions. See ``docs/privacy.md``.

    Parameters
    ----------
    store : path or ExpansionStore
        A Zarr or Parquet store (single level; a chain's outermost level is audited against
        its rebuilt intermediate).
    original : path, Interactions or SplitData, optional
        The store's input (default: the source the store records).
    users : int, default 500
        Synthetic users sampled for the linkage attack; membership inference holds out
        ``min(users // 2, m // 20)`` real users and scores as many members.
    seed : int, default 0
        Every sample and tie break of the audit; the same seed gives the same numbers.
    block_rows : int, default 2
        Block rows of R̂ audited (a seeded choice): the attack on a block row reads all its
        users, to see its item degrees.
    min_items : int, default 3
        Segments with fewer items are not attacked (not counted).
    refine : int, default 2000
        Segments per block whose links refine the item mapping by co-occurrence (up to three
        rounds of :func:`~daskfractal.privacy.refine_item_map`, each kept only when it raises
        the mean best log-likelihood of those segments); 0 keeps the degree-rank mapping.
    membership : bool, default True
        Run the membership-inference attack (it builds its own small expansion).
    report_dir : path, optional
        Write ``privacy.json`` and ``privacy.md`` here.
    scheduler : optional
        Where a multi-level store's intermediate is rebuilt.

    Returns
    -------
    PrivacyReport

    Raises
    ------
    InputDataError
        If the original is not available or is not the store's input.
    StoreError
        If the store is damaged or does not record its seed and shuffle.

    Examples
    --------
    >>> import numpy as np, daskfractal as dfr
    >>> from daskfractal.testing import fat_tailed_interactions
    >>> split = dfr.preprocess(fat_tailed_interactions(300, 200, 20, seed=2))
    >>> st = dfr.expand(split, keep=np.ones((2, 2)), shuffle="none", seed=1).to_zarr(
    ...     getfixture("tmp_path") / "p.zarr", progress=False)
    >>> rep = dfr.privacy_audit(st, split, users=100, membership=False)
    >>> rep.numbers["linkage"]["top1"] > 0.9
    True
    """
    t_start = time.perf_counter()
    n_users = as_int(users, "users", low=2)
    seed = as_seed(seed)
    n_rows = as_int(block_rows, "block_rows", low=1)
    min_items = as_int(min_items, "min_items", low=1)
    refine = as_int(refine, "refine", low=0)
    check_report_dir(report_dir)
    st = store if isinstance(store, ExpansionStore) else open_store(store)
    params = st.meta["daskfractal"]["params"]
    if params.get("public") or st.layout.public:
        raise StoreError(
            f"{st.path} is a public store: without its seed and users/slot there is no ground "
            "truth to score an audit; audit the same expansion written without --public"
        )
    level = level_of(params)
    notes: list[str] = []
    split, info = load_original(original, params, notes, scheduler)
    if split is None:
        raise InputDataError(
            "the privacy audit attacks with the original data: "
            + (notes[-1] if notes else "pass original=")
        )
    if original is False:
        raise ParameterError("the privacy audit needs the original: original=False")
    m, n = split.shape
    blocks = st.meta.get("layout", {}).get("blocks") or params.get("factors")
    if blocks is None or st.n_items != int(blocks[1]) * n:
        raise StoreError(
            f"the store has {st.n_items} items, not n' x {n} (its input's items): it is not an "
            "expansion of this original"
        )
    mp, npr = int(blocks[0]), int(blocks[1])
    eps = (params.get("privacy") or {}).get("epsilon")
    # with the defence the level expanded R after randomized response, rebuilt here from the
    # recorded seed for the ground truth; the attacker knows only the real R
    expanded = split if eps is None else respond_split(split, float(eps), int(level["seed"]))
    truth = LevelTruth.of(
        params, expanded.signed(), npr, st.meta.get("format_version"), train=expanded.train
    )
    real = binary_csr(split.train + split.test)
    copied = real if eps is None else binary_csr(expanded.train + expanded.test)
    slots = np.asarray(st.user_slots(), dtype=np.int64)
    brow = slots // m
    present = np.unique(brow)
    chosen = np.sort(_rng(seed, 1).choice(present, min(n_rows, present.size), replace=False))
    in_rows = np.flatnonzero(np.isin(brow, chosen))
    sample = np.sort(_rng(seed, 2).choice(in_rows, min(n_users, in_rows.size), replace=False))

    t0 = time.perf_counter()
    top1: list[np.ndarray] = []
    top10: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    consistent = 0
    for i in chosen.tolist():
        u0, u1 = np.searchsorted(brow, [i, i + 1])
        mat = _block_row_matrix(st, int(u0), int(u1))
        src = truth.sources(i)
        perm = truth.item_permutations(i)
        mine = sample[(sample >= u0) & (sample < u1)]
        t = slots[mine] - i * m
        for j in range(npr):
            block = mat[:, j * n : (j + 1) * n].tocsr()
            seg = block[mine - u0]
            rows = np.flatnonzero(np.diff(seg.indptr) >= min_items)
            if rows.size == 0:
                continue
            true = src[j, t[rows]]
            # the truth checked: every item of a segment is in its source's row
            inv = np.argsort(perm[j])
            back = map_items(seg[rows], inv)
            consistent += int(((back - back.multiply(copied[true])).getnnz(axis=1) == 0).sum())
            phi = _item_map(block, real, seed=seed, refine=refine, min_items=min_items)
            scores = link_scores(map_items(seg[rows], phi), real, block.nnz / max(real.nnz, 1))
            top1.append(topk_accuracy(scores, true, 1))
            top10.append(topk_accuracy(scores, true, 10))
            owner.append(mine[rows])
            cols.append(np.full(rows.size, j))
    t_link = time.perf_counter() - t0
    a1 = np.concatenate(top1) if top1 else np.zeros(0)
    a10 = np.concatenate(top10) if top10 else np.zeros(0)
    who = np.concatenate(owner) if owner else np.zeros(0, np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    # a user is re-identified when one of its segments is: 1 - prod(1 - p) over them
    linked_users = None
    if who.size:
        uniq, inv_u = np.unique(who, return_inverse=True)
        miss = np.ones(uniq.size)
        np.multiply.at(miss, inv_u, 1.0 - a1)
        linked_users = float(1.0 - miss.mean())
    linkage = {
        "segments": int(a1.size),
        "users": int(sample.size),
        "users_with_segments": int(np.unique(who).size),
        "block_rows": chosen.tolist(),
        "top1": float(a1.mean()) if a1.size else None,
        "top10": float(a10.mean()) if a10.size else None,
        "chance_top1": 1.0 / m,
        "chance_top10": min(10, m) / m,
        "users_linked": linked_users,
        "per_block_column": [
            {
                "j": j,
                "segments": int((col == j).sum()),
                "top1": float(a1[col == j].mean()),
                "top10": float(a10[col == j].mean()),
            }
            for j in range(npr)
            if (col == j).any()
        ],
        "ground_truth_check": consistent / a1.size if a1.size else None,
    }
    mem = None
    t_mem = 0.0
    if membership:
        t0 = time.perf_counter()
        keep = keep_of(level)
        if keep is None:
            keep = keep_of(params)
        if keep is None:
            keep = np.ones((mp, npr))
            notes.append("the store records no R̂: membership uses keep probabilities of 1")
        mem = _membership(
            split,
            real,
            level,
            keep,
            chosen,
            n_sample=n_users,
            seed=seed,
            refine=refine,
            min_items=min_items,
        )
        t_mem = time.perf_counter() - t0
        notes.append(
            f"membership: {mem['members']} sampled real users kept and {mem['non_members']} "
            f"held out of the audit's own expansion of R by R̂ block rows {chosen.tolist()} "
            "with the store's options (another seed); score = the best Jaccard similarity "
            "with a synthetic segment under the attacker's item mapping, mean over blocks"
        )
    if level.get("dropout") == "targeted":
        notes.append("targeted dropout: segments are thinned copies as under the other modes")
    if len(params.get("levels") or []) > 1:
        notes.append("multi-level store: the real users are the rows of the rebuilt intermediate")
    numbers: dict[str, Any] = {
        "store": {
            "path": str(st.path),
            "users": int(st.n_users),
            "items": int(st.n_items),
            "factors": [mp, npr],
            "shuffle": level.get("shuffle"),
            "window": level.get("window"),
            "dropout": level.get("dropout", "bernoulli"),
        },
        "original": {k: v for k, v in info.items() if k != "available"},
        "linkage": linkage,
        "membership": mem,
        "revealed": _revealed(st, params),
        "options": {
            "users": n_users,
            "seed": seed,
            "block_rows": n_rows,
            "min_items": min_items,
            "refine": refine,
            "membership": bool(membership),
        },
        "timings": {
            "linkage_s": round(t_link, 3),
            "membership_s": round(t_mem, 3),
            "total_s": round(time.perf_counter() - t_start, 3),
        },
    }
    rep = PrivacyReport(numbers, notes)
    if report_dir is not None:
        rep.write(report_dir)
    return rep
