"""``--preset mlperf`` at 16 × 32 on the ML-20M surrogate against the published ML-1B counts.

MovieLens-1B (``ml-20mx16x32``, made by the MLPerf reference from MovieLens 20M) has
2,197,225 users, 855,776 items, 1,223,962,043 train and 12,709,557 test interactions.
MovieLens 20M is not available offline, so this runs the preset on the seeded ML-20M-shaped
surrogate (``surrogate.py``) and prints the counts next to the published ones: the input
after pre-processing, R̂'s keep sum, the expected sizes and the exact output counts
(:meth:`Expansion.count`, the numbers a write produces, without writing), plus the same
counts with ``--test-policy all`` (the policy of the reference version that produced the
published files, before it kept one test item per user).

Usage::

    python benchmarks/mlperf_counts.py [--factors 16 32] [--seed 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from surrogate import surrogate_interactions

import daskfractal as dfr
from daskfractal.reduction import clip_keep

PUBLISHED = {
    "users": 2_197_225,
    "items": 855_776,
    "train": 1_223_962_043,
    "test": 12_709_557,
}


def surrogate() -> dfr.Interactions:
    d = surrogate_interactions()
    return dfr.Interactions.from_raw(
        d["userId"],
        d["movieId"],
        ratings=d["rating"],
        timestamps=d["timestamp"],
        source="ml20m-surrogate",
    )


def reference_pairing_keep_sum(red: dfr.Reduced) -> float:
    """Σ keep of the R̂ the MLPerf reference builds from the same Ũ, Σ, Ṽ.

    The reference multiplies SciPy's singular vectors (ascending order) by the singular values
    reversed (``s[::-1]``): with Ũ, Ṽ in descending order that is ``Ũ diag(σ ascending) Ṽ``.
    """
    raw = (red.u * red.singular_values[::-1]) @ red.v
    rescaled = np.abs(raw) / np.abs(raw).max()
    return float(clip_keep(rescaled, (0.01, 0.95), 1.0, "keep-max").sum())


def measure(factors: tuple[int, int], seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    raw = surrogate()
    ex = dfr.expand(raw, factors, preset="mlperf", seed=seed)
    pre = ex.params["preprocess"]
    red = dfr.Reduced.from_dict(ex.params["reduced"])
    exp = ex.expected()
    t1 = time.perf_counter()
    counts = ex.count(scheduler="threads")
    t2 = time.perf_counter()
    items = ex.n_items
    all_test = dfr.expand(raw, factors, preset="mlperf", seed=seed, test_policy="all")
    counts_all = all_test.count(scheduler="threads")
    return {
        "factors": list(factors),
        "seed": seed,
        "input": {
            "users": ex.meta["input_shape"][0],
            "items": ex.meta["input_shape"][1],
            "train": ex.meta["input_train"],
            "test": ex.meta["input_test"],
            "min_distinct_timestamps": pre["min_distinct_timestamps"],
            "tie_policy": pre["tie_policy"],
        },
        "keep_sum": float(red.keep.sum()),
        "keep_sum_unclipped": float((np.abs(red.raw) / np.abs(red.raw).max()).sum()),
        "keep_sum_reference_pairing": reference_pairing_keep_sum(red),
        "expected": {"train": exp["train"], "test": exp["test"], "users_max": exp["users_max"]},
        "output": {"users": counts["users"], "items": items, **counts},
        "output_test_all": counts_all,
        "seconds": {"plan": t1 - t0, "count": t2 - t1},
    }


def report(r: dict[str, Any]) -> str:
    out = r["output"]
    rows = [
        ("users", out["users"], PUBLISHED["users"]),
        ("items", out["items"], PUBLISHED["items"]),
        ("train", out["train"], PUBLISHED["train"]),
        ("test", out["test"], PUBLISHED["test"]),
    ]
    lines = [
        f"input after pre-processing: {r['input']['users']:,} users, {r['input']['items']:,} "
        f"items, {r['input']['train']:,} train, {r['input']['test']:,} test",
        f"R̂ keep sum {r['keep_sum']:.3f} (unclipped {r['keep_sum_unclipped']:.3f}, with the "
        f"reference's σ pairing {r['keep_sum_reference_pairing']:.3f}); expected "
        f"train {r['expected']['train']:,.0f}, test {r['expected']['test']:,.0f}",
        "",
        f"{'':8}{'--preset mlperf':>18}{'published ML-1B':>18}{'ratio':>8}",
    ]
    lines += [f"{k:8}{a:>18,}{b:>18,}{a / b:>8.3f}" for k, a, b in rows]
    c = r["output_test_all"]
    lines.append(
        f"with --test-policy all: users {c['users']:,}, train {c['train']:,}, test {c['test']:,}"
    )
    lines.append(f"plan {r['seconds']['plan']:.1f} s, count {r['seconds']['count']:.1f} s")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", nargs=2, type=int, default=[16, 32])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    r = measure((a.factors[0], a.factors[1]), a.seed)
    print(report(r))
    if a.json:
        a.json.write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
