"""``evaluate``: fit the same recommenders on the original and on the expansion, compare rankings.

The steps: reload the original exactly as :func:`~daskfractal.validate` does
(:func:`~daskfractal.validation.original.load_original`), cut the expansion down to a
block-aligned sub-expansion (:mod:`.sample`), build both sides with one protocol
(:func:`~.sample.build_side`), fit and score every algorithm (:mod:`.algorithms`), rank the
held-out items (:mod:`.metrics`) and compare the two orderings (:mod:`.agreement`); the
:class:`~.report.EvaluationReport` holds the numbers and writes the files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .._checks import as_choice, as_int, as_seed
from .._names import PROTOCOLS
from ..errors import InputDataError, ParameterError, StoreError
from ..store import ExpansionStore
from .agreement import (
    correlation_intervals,
    mean_interval,
    pairwise_agreement,
    popularity_ratios,
)
from .algorithms import (
    DEFAULT_ALGORITHMS,
    SEQUENTIAL_ALGORITHMS,
    Recommender,
    as_recommender,
    checked_fit,
    checked_scores,
    make_algorithm,
)
from .metrics import full_ranks, metric_values, sampled_ranks
from .report import EvaluationReport, check_report_dir
from .sample import EvalSide, build_side, choose_blocks, item_subset, read_sub_expansion

__all__ = ["PROTOCOLS", "evaluate"]

#: Score-matrix elements per batch of users (bounds the memory of scoring).
BATCH_ELEMS = 2**23
#: The metric the headline numbers are given for: NDCG at the first k.
HEADLINE_METRIC = "ndcg"

AlgorithmSpec = str | Recommender | Callable[..., Any]


def _parse_ks(k: int | Iterable[int]) -> tuple[int, ...]:
    ks = (k,) if isinstance(k, int | np.integer) else tuple(k)
    if not ks:
        raise ParameterError("k must list at least one cutoff (e.g. 10 20)")
    return tuple(sorted({as_int(v, "k", low=1) for v in ks}))


def _recommenders(
    algorithms: Any, seed: int, sequential: bool
) -> tuple[list[str], list[Callable[[], Recommender]]]:
    """Names and fresh-instance factories (each side gets its own fitted instance)."""
    if algorithms is None:
        defaults = list(DEFAULT_ALGORITHMS) + (list(SEQUENTIAL_ALGORITHMS) if sequential else [])
        return defaults, [
            lambda s=s: make_algorithm(s, seed)  # type: ignore[misc]
            for s in defaults
        ]
    items: list[tuple[str | None, Any]]
    if isinstance(algorithms, str):
        items = [(None, a) for a in _split_specs([algorithms])]
    elif isinstance(algorithms, Mapping):
        items = list(algorithms.items())
    else:
        items = [(None, a) for a in algorithms]
    names: list[str] = []
    makers: list[Callable[[], Recommender]] = []
    for name, spec in items:
        if isinstance(spec, str):
            for s in _split_specs([spec]):
                rec = make_algorithm(s, seed)  # checks the spec now
                names.append(name or s)
                makers.append(lambda s=s: make_algorithm(s, seed))  # type: ignore[misc]
            continue
        rec = as_recommender(spec, name)
        names.append(rec.name)
        # a user object is fitted on one side, then refitted on the other: fit must reset it
        makers.append(lambda spec=spec, name=name: as_recommender(spec, name))  # type: ignore[misc]
    if not names:
        raise ParameterError("algorithms is empty: give at least two to compare rankings")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ParameterError(f"algorithm names must be unique, got {dup} more than once")
    return names, makers


def _split_specs(specs: Sequence[str]) -> list[str]:
    """``["ease:l2=100", "popularity,itemknn"]`` -> one spec per algorithm."""
    out: list[str] = []
    for spec in specs:
        if ":" in spec:
            out.append(spec.strip())
        else:
            out += [s.strip() for s in spec.split(",") if s.strip()]
    return out


def _score_side(
    side: EvalSide,
    rec: Recommender,
    name: str,
    ks: tuple[int, ...],
    negatives: np.ndarray | None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Per-user metric values of one fitted algorithm on one side, and its timings."""
    t0 = time.perf_counter()
    checked_fit(rec, side.train, side.timestamps)
    t_fit = time.perf_counter() - t0
    n_items = side.n_items
    batch = max(1, BATCH_ELEMS // max(1, n_items))
    greater = np.zeros(side.users.size, np.int64)
    ties = np.zeros(side.users.size, np.int64)
    t0 = time.perf_counter()
    for a in range(0, side.users.size, batch):
        users = side.users[a : a + batch]
        scores = checked_scores(rec, users, n_items)
        if negatives is None:
            g, t = full_ranks(scores, side.train[users], side.targets[a : a + batch])
        else:
            g, t = sampled_ranks(scores, side.targets[a : a + batch], negatives[a : a + batch])
        greater[a : a + batch], ties[a : a + batch] = g, t
    t_score = time.perf_counter() - t0
    return metric_values(greater, ties, ks), {"fit": t_fit, "score": t_score}


def _side_negatives(side: EvalSide, k: int, seed: int) -> np.ndarray:
    """The NCF protocol's negatives of the evaluated users: ``k`` items that are neither a
    train item nor the target, from :meth:`NegativeSampler.test_negatives`."""
    from ..negatives import NegativeSampler

    sampler = NegativeSampler((side.train, side.test_matrix()), seed=seed)
    _, items = sampler.test_negatives(k, users=side.users)
    return np.asarray(items, dtype=np.int64)


def evaluate(
    store: str | os.PathLike | ExpansionStore,
    original: Any = None,
    *,
    algorithms: Any = None,
    k: int | Iterable[int] = (10, 20),
    users: int = 10_000,
    max_items: int = 20_000,
    protocol: str = "full",
    negatives: int = 99,
    seed: int = 0,
    n_boot: int = 1000,
    report_dir: str | os.PathLike | None = None,
    scheduler: Any = None,
    progress: bool = True,
    figures: bool = True,
) -> EvaluationReport:
    """Do recommenders rank the same on the expansion as on the real data?

    Fits every algorithm on the original data set and on a sample of the expansion with the
    same protocol, measures HR@k and NDCG@k of one held-out item per user on both sides and
    compares the two orderings of the algorithms (survey §3, "predicting algorithm rankings").

    Parameters
    ----------
    store : path or ExpansionStore
        A finished expansion store with test entries.
    original : path, Interactions, SplitData or False, optional
        The store's input, as for :func:`~daskfractal.validate` (pre-processed as the store
        records, checked against its SHA-256). Default: the store's recorded source when it
        still exists. False, or unavailable: the expansion side only (no comparison).
    algorithms : sequence or mapping, optional
        Built-in names or specs with hyper-parameters (``"ease:l2=100"``; see
        :data:`~daskfractal.evaluation.ALGORITHMS`), objects with ``fit(train)`` /
        ``score(users)`` (:class:`~daskfractal.evaluation.Recommender`) or callables
        ``fit(train) -> score`` (a mapping gives them names). Default: random, popularity,
        itemknn, rp3beta, ease, puresvd, infae, and transitions when both sides carry
        timestamps.
    k : int or sequence of int, default (10, 20)
        Cutoffs of HR@k and NDCG@k.
    users : int, default 10000
        At most this many evaluated users per side (users with a held-out item; a seeded
        subset above).
    max_items : int, default 20000
        At most this many items per side: above it a seeded uniform subset of the items (the
        same rule on both sides; the expansion's sample spans every block column).
    protocol : {"full", "sampled"}, default "full"
        ``full``: the held-out item against every item not in the user's train row.
        ``sampled``: against ``negatives`` uniformly drawn non-positive items (NCF).
    negatives : int, default 99
        Negatives per user of the sampled protocol.
    seed : int, default 0
        Seeds the block and user samples, the held-out choice, the negatives, the random
        baseline and the bootstrap.
    n_boot : int, default 1000
        Bootstrap replicates of the intervals.
    report_dir : path, optional
        Write ``report.json``, ``report.md`` and the figure there.
    scheduler : None, str or distributed.Client
        Where the sub-expansion is read (the default Client if any, else threads).
    progress : bool, default True
        A line per step on stderr and a progress bar while reading.
    figures : bool, default True
        Draw the PNG figure when writing the report.

    Returns
    -------
    EvaluationReport

    Raises
    ------
    ParameterError
        A bad option (``k`` < 1, unknown protocol or algorithm, fewer than 2 algorithms).
    InputDataError
        The store has no test entries, no sampled user has a held-out item, or ``original``
        is not the store's input.
    StoreError
        The store is missing, incomplete or damaged, or is a public store (no users/slot).
    AlgorithmError
        An algorithm failed to fit or score (a user callable that raises, NaN scores).

    Examples
    --------
    >>> import daskfractal as dfr
    >>> rep = dfr.evaluate("ml-small-4x8.zarr", algorithms=["popularity", "ease"])  # doctest: +SKIP
    >>> rep["agreement"]["ndcg@10"]["kendall_tau"]["value"]  # doctest: +SKIP
    1.0
    """
    from ..validation.core import store_numbers
    from ..validation.original import load_original
    from ..validation.passes import as_store

    t_start = time.perf_counter()
    ks = _parse_ks(k)
    users = as_int(users, "users", low=1)
    max_items = as_int(max_items, "max_items", low=1)
    protocol = as_choice(protocol, "protocol", PROTOCOLS)
    negatives = as_int(negatives, "negatives", low=1)
    seed = as_seed(seed)
    n_boot = as_int(n_boot, "n_boot", low=10)
    report_dir = check_report_dir(report_dir)
    st = as_store(store)
    if st.layout.public:
        raise StoreError(
            f"{st.path} is a public store: evaluate reads whole block rows, located by "
            "users/slot, which a public store does not record; evaluate the same expansion "
            "written without --public"
        )
    if st.nnz["test"] == 0:
        raise InputDataError(
            f"{st.path} has no test entries: nothing is held out to evaluate on (expand an "
            "input with a test split, e.g. the default leave-last-out split)"
        )
    params = st.attrs.get("params", {})
    carried = tuple(st.layout.carry)
    notes: list[str] = []

    def say(msg: str) -> None:
        if progress:
            import sys

            print(f"evaluate: {msg}", file=sys.stderr, flush=True)

    # ---- the original side (rebuilt as validate does) --------------------------------------
    split, orig_info = load_original(original, params, notes, scheduler)
    orig_side: EvalSide | None = None
    if split is not None:
        tr, te = split.train.tocsr(), split.test.tocsr()
        orig_side = build_side(
            tr.indptr.astype(np.int64),
            tr.indices,
            te.indptr.astype(np.int64),
            te.indices,
            split.n_items,
            user_keys=np.arange(split.n_users, dtype=np.int64),
            train_ts=split.train_timestamps if "timestamps" in carried else None,
            max_users=users,
            max_items=max_items,
            seed=seed,
            name="original",
        )
        del split, tr, te
        say(
            f"original: {orig_side.train.shape[0]:,} users x {orig_side.n_items:,} items, "
            f"{orig_side.users.size:,} evaluated"
        )

    # ---- the expansion side: a block-aligned sub-expansion ---------------------------------
    from ..validation.blocks import input_shape

    shape = input_shape(st)
    if shape is None:
        raise InputDataError(f"{st.path}: params.input_shape is missing (not an expansion store)")
    from .sample import block_users

    bounds = block_users(st, shape[0])
    rows, cols = choose_blocks(st.layout.blocks, np.diff(bounds), max_users=users, seed=seed)
    sample_items = int(cols.size * shape[1])
    keep_items = item_subset(sample_items, max_items, seed)
    # timestamps only feed the sequential baseline, which needs them on both sides
    with_ts = "timestamps" in carried and (orig_side is None or orig_side.timestamps is not None)
    say(
        f"reading the sub-expansion of block rows {rows.tolist()} x block columns "
        f"{cols.tolist()} of {st.layout.blocks[0]} x {st.layout.blocks[1]}"
    )
    raw = read_sub_expansion(
        st,
        rows,
        cols,
        timestamps=with_ts,
        keep_items=keep_items,
        scheduler=scheduler,
        progress=progress,
    )
    exp_side = build_side(
        raw["train_ptr"],
        raw["train_idx"],
        raw["test_ptr"],
        raw["test_idx"],
        raw["n_items"],
        user_keys=raw["user_ids"],
        train_ts=raw["train_ts"],
        max_users=users,
        max_items=max_items,
        seed=seed,
        name="expansion",
    )
    del raw
    mp = st.layout.blocks[0]
    exp_side.info["n_items_before"] = sample_items
    if keep_items is not None:
        exp_side.info["notes"].append(_thinning_note(max_items, sample_items, orig_side))
    exp_side.info["block_rows"] = rows.tolist()
    exp_side.info["block_cols"] = cols.tolist()
    exp_side.info["whole_store"] = bool(rows.size == mp and keep_items is None)
    say(
        f"expansion sample: {exp_side.train.shape[0]:,} users x {exp_side.n_items:,} items, "
        f"{exp_side.users.size:,} evaluated"
    )
    sides = (
        {"expansion": exp_side}
        if orig_side is None
        else {
            "original": orig_side,
            "expansion": exp_side,
        }
    )
    for name, side in sides.items():
        notes += side.info.pop("notes", [])
        if side.users.size == 0:
            raise InputDataError(
                f"no user of the {name} side has a held-out item"
                + (" among the sampled items (raise max_items)" if name == "expansion" else "")
            )

    # ---- algorithms -----------------------------------------------------------------------
    sequential = all(s.timestamps is not None for s in sides.values())
    names, makers = _recommenders(algorithms, seed, sequential)
    if len(names) < 2 and orig_side is not None:
        raise ParameterError("give at least two algorithms: a ranking needs two")
    metric_names = list(metric_values(np.zeros(0, np.int64), np.zeros(0, np.int64), ks))
    values: dict[str, dict[str, np.ndarray]] = {}
    timings: dict[str, dict[str, dict[str, float]]] = {}
    for side_name, side in sides.items():
        negs = _side_negatives(side, negatives, seed) if protocol == "sampled" else None
        per_metric = {m: np.zeros((side.users.size, len(names))) for m in metric_names}
        timings[side_name] = {}
        for a, (name, make) in enumerate(zip(names, makers, strict=True)):
            say(f"{side_name}: {name}")
            vals, tm = _score_side(side, make(), name, ks, negs)
            for m in metric_names:
                per_metric[m][:, a] = vals[m]
            timings[side_name][name] = {key: round(v, 3) for key, v in tm.items()}
        values[side_name] = per_metric

    # ---- statistics -----------------------------------------------------------------------
    numbers: dict[str, Any] = {
        "store": store_numbers(st),
        "settings": {
            "protocol": protocol,
            "negatives": negatives if protocol == "sampled" else None,
            "k": list(ks),
            "users": users,
            "max_items": max_items,
            "seed": seed,
            "n_boot": n_boot,
            "ties": "expected credit under a uniformly random order of tied candidates",
        },
        "original": orig_info,
        "algorithms": names,
        "metrics": metric_names,
        "sides": {name: side.info for name, side in sides.items()},
        "results": {},
        "agreement": None,
        "popularity_ratio": {},
    }
    for side_name, per_metric in values.items():
        res: dict[str, Any] = {}
        for m, v in per_metric.items():
            ci = mean_interval(v, n_boot=n_boot, seed=seed)
            res[m] = {
                name: {
                    "mean": float(ci["mean"][a]),
                    "lo": float(ci["lo"][a]),
                    "hi": float(ci["hi"][a]),
                }
                for a, name in enumerate(names)
            }
        numbers["results"][side_name] = res
        if "popularity" in names:
            numbers["popularity_ratio"][side_name] = {
                m: popularity_ratios({n: res[m][n]["mean"] for n in names}) for m in metric_names
            }
    if orig_side is not None and len(names) >= 2:
        agreement: dict[str, Any] = {}
        for m in metric_names:
            o, x = values["original"][m], values["expansion"][m]
            agreement[m] = {
                **correlation_intervals(o, x, n_boot=n_boot, seed=seed),
                **_plain(pairwise_agreement(o, x, n_boot=n_boot, seed=seed)),
            }
        numbers["agreement"] = agreement
        head = f"{HEADLINE_METRIC}@{ks[0]}"
        numbers["headline"] = {
            "metric": head,
            "significant_agreement": agreement[head]["significant_agreement"],
            "n_significant": agreement[head]["n_significant"],
            "kendall_tau": agreement[head]["kendall_tau"]["value"],
            "kendall_tau_interval": [
                agreement[head]["kendall_tau"]["lo"],
                agreement[head]["kendall_tau"]["hi"],
            ],
            "spearman_rho": agreement[head]["spearman_rho"]["value"],
        }
    numbers["timings"] = {
        "algorithms": timings,
        "total": round(time.perf_counter() - t_start, 3),
    }
    rep = EvaluationReport(numbers=numbers, values=values, notes=notes)
    if report_dir is not None:
        rep.write(report_dir, figures=figures)
    return rep


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    """NumPy values of a result dict as plain Python (lists, floats, ints)."""
    out: dict[str, Any] = {}
    for key, v in d.items():
        if isinstance(v, np.ndarray):
            out[key] = v.tolist()
        elif isinstance(v, np.generic):
            out[key] = v.item()
        else:
            out[key] = v
    return out


def _thinning_note(kept: int, sample_items: int, orig_side: EvalSide | None) -> str:
    """What an item cap does to the expansion's sample: every user keeps about the kept
    share of its history (docs/evaluation.md, the effect of sampling).

    Examples
    --------
    >>> print(_thinning_note(20_000, 95_392, None)[:74])
    expansion: 20,000 of the sample's 95,392 items kept (21%, a seeded uniform
    """
    other = ""
    if orig_side is not None:
        before, after = orig_side.info["n_items_before"], orig_side.info["n_items"]
        other = (
            "; the original side keeps all of its items"
            if after >= before
            else f"; the original side {after / before:.0%} of its items"
        )
    return (
        f"expansion: {kept:,} of the sample's {sample_items:,} items kept "
        f"({kept / sample_items:.0%}, a seeded uniform subset), so each user keeps about that "
        f"share of its history{other}; "
        "short histories favour popularity over the models that learn from them, so compare "
        "the agreement on clearly ordered pairs, or raise max_items"
    )
