"""Fidelity matrix: every data set × shuffle mode × factors, degree / spectrum / ranking numbers.

One command::

    python benchmarks/fidelity_matrix.py                                 # 2x2 and 4x4, 3 modes
    python benchmarks/fidelity_matrix.py --datasets ml-100k --factors 8x8 --modes block stratified

For each data set of ``../shared/data`` (the embedded ml-latest-small always), each shuffle mode
and each factor shape: expand (``reduce`` with the default options, seed 1 or each of
``--seeds``, ratings and timestamps carried when the input has them) into a temporary Zarr
store, then

* ``validate`` (k = 8): the KS distance of the log-normalized degrees ``log(d / mean d)`` of
  R_train and of the expansion's train part (users / items, non-zero degrees), the top
  singular value against the Theorem-1 prediction, the Kronecker rank-1 block energy share;
* ``evaluate`` (the default algorithms and protocol): Kendall τ and Spearman ρ of NDCG@10
  between the orderings on the original and on the expansion, the agreement on the pairs
  ordered significantly on the original, and the per-algorithm NDCG@10 on both sides.

The Amazon 5-core sets hold the items of each user in chronological order without timestamps:
the position in the sequence becomes an ordinal timestamp, so the last item of each sequence is
the test item (leave-last-out), as in the sequential-recommendation literature. Gowalla uses its
given split. The table goes to stdout, every number to ``bench-data/logs/fidelity.json`` and a
Markdown version of the tables to ``bench-data/logs/fidelity.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _benchutil import BENCH_DATA, REPO, machine, table

SHARED = REPO.parent / "shared" / "data"
DATASETS = {
    "ml-latest-small": "default",
    "ml-100k": SHARED / "ml-100k",
    "gowalla": SHARED / "gowalla",
    "amazon-toys": SHARED / "amazon-toys" / "sequences.txt",
    "amazon-sports": SHARED / "amazon-sports" / "sequences.txt",
}
MODES = ("block", "stratified", "none")
#: a mode is a shuffle, optionally "+dropout", ":window" and "/rows" (e.g. "stratified+targeted:2",
#: "block/per-block": the papers; without "/rows" the default, shared)


def load_split(name: str) -> Any:
    """The pre-processed input of a data set (sequences: position as ordinal timestamp)."""
    import daskfractal as dfr

    src = DATASETS[name]
    data = dfr.load(src)
    if name.startswith("amazon"):
        # file order is each user's chronological order: the position is the time
        data = dfr.Interactions(
            users=data.users,
            items=data.items,
            user_ids=data.user_ids,
            item_ids=data.item_ids,
            timestamps=np.arange(data.nnz, dtype=np.int64),
            source=data.source,
        )
    return dfr.preprocess(data)


def one_case(split: Any, name: str, mode: str, factors: tuple[int, int], root: Path,
             evaluate_too: bool, max_items: int, seed: int = 1) -> dict[str, Any]:  # fmt: skip
    """Expand, validate and evaluate one case; return its numbers."""
    import daskfractal as dfr

    t0 = time.perf_counter()
    red = dfr.reduce(split, factors)
    spec, _, rows = mode.partition("/")
    shuffle, _, rest = spec.partition("+")
    dropout, _, window = (rest or "bernoulli").partition(":")
    if ":" in shuffle:
        shuffle, _, window = shuffle.partition(":")
    extra: dict[str, Any] = {"window": int(window)} if window else {}
    if rows:
        extra["rows"] = rows
    ex = dfr.expand(split, reduced=red, shuffle=shuffle, dropout=dropout, seed=seed, **extra)
    label = mode.replace(":", "w").replace("+", "-").replace("/", "-")
    store = ex.to_zarr(
        root / f"{name}-{label}-{factors[0]}x{factors[1]}-s{seed}.zarr", progress=False
    )
    t_expand = time.perf_counter() - t0
    val = dfr.validate(store, split, k=8, progress=False, figures=False)
    sv = val.numbers["spectrum"]
    out: dict[str, Any] = {
        "dataset": name,
        "mode": mode,
        "seed": seed,
        "factors": list(factors),
        "nnz_train": store.nnz["train"],
        "ks_users": val.numbers["degrees"]["users"]["ks"]["log_normalized"],
        "ks_items": val.numbers["degrees"]["items"]["ks"]["log_normalized"],
        "ks_standardized": [
            val.numbers["degrees"]["users"]["ks"]["standardized"],
            val.numbers["degrees"]["items"]["ks"]["standardized"],
        ],
        "sigma1": (sv.get("expansion") or [None])[0],
        "sigma1_theorem1": (sv.get("prediction") or [None])[0],
        "rank1_share": val.numbers["blocks"].get("rank1_energy_share"),
        "goal_missed": val.numbers["fidelity_goal"]["missed"],
        "expand_s": round(t_expand, 1),
    }
    if evaluate_too:
        t0 = time.perf_counter()
        rep = dfr.evaluate(store, split, progress=False, seed=0, max_items=max_items)
        h = rep.numbers["headline"]
        out.update(
            tau=h["kendall_tau"],
            tau_interval=h["kendall_tau_interval"],
            rho=h["spearman_rho"],
            agreement=h["significant_agreement"],
            n_significant=h["n_significant"],
            ndcg10={
                side: {a: r["mean"] for a, r in res["ndcg@10"].items()}
                for side, res in rep.numbers["results"].items()
            },
            sample=rep.numbers["sides"]["expansion"],
            evaluate_s=round(time.perf_counter() - t0, 1),
        )
    shutil.rmtree(store.path, ignore_errors=True)
    return out


def metric_tables(results: list[dict[str, Any]]) -> list[str]:
    """Markdown: per data set and factors, NDCG@10 of each algorithm on the original and on
    the expansion of every mode."""
    md: list[str] = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        if "ndcg10" in r:
            groups.setdefault((r["dataset"], "x".join(map(str, r["factors"]))), []).append(r)
    for (name, shape), rs in groups.items():
        algos = list(rs[0]["ndcg10"]["original"])
        modes = [r["mode"] for r in rs]
        md += ["", f"NDCG@10, {name} {shape}:", ""]
        md += ["| algorithm | original | " + " | ".join(modes) + " |"]
        md += ["|" + "---|" * (len(modes) + 2)]
        for a in algos:
            cells = [_f(rs[0]["ndcg10"]["original"][a], ".4f")]
            cells += [_f(r["ndcg10"]["expansion"].get(a), ".4f") for r in rs]
            md.append(f"| {a} | " + " | ".join(cells) + " |")
    return md


#: the goal of each number drawn by :func:`draw_figure` (issue: faithful by default)
GOALS = {"KS users": 0.10, "KS items": 0.10, "|σ1 / Thm 1 − 1|": 0.05, "agreement": 0.90}


def draw_figure(results: list[dict[str, Any]], path: Path) -> None:
    """One panel per number (KS users, KS items, top-σ deviation, ranking agreement): bars per
    data set × factors, one colour per mode, the goal as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = sorted({(r["dataset"], "x".join(map(str, r["factors"]))) for r in results})
    modes = list(dict.fromkeys(r["mode"] for r in results))

    def value(r: dict[str, Any], what: str) -> float:
        if what == "KS users":
            v = r["ks_users"]
        elif what == "KS items":
            v = r["ks_items"]
        elif what == "agreement":
            v = r.get("agreement")
        else:
            s1, s2 = r["sigma1"], r["sigma1_theorem1"]
            v = abs(s1 / s2 - 1) if s1 is not None and s2 else None
        return float("nan") if v is None else float(v)

    fig, axes = plt.subplots(len(GOALS), 1, figsize=(max(8, 1.2 * len(cases)), 10), sharex=True)
    width = 0.8 / max(1, len(modes))
    for ax, (what, goal) in zip(axes, GOALS.items(), strict=True):
        for k, mode in enumerate(modes):
            vals = []
            for name, shape in cases:
                rs = [
                    value(r, what)
                    for r in results
                    if r["mode"] == mode
                    and r["dataset"] == name
                    and "x".join(map(str, r["factors"])) == shape
                ]
                vals.append(float(np.nanmean(rs)) if rs and not np.all(np.isnan(rs)) else np.nan)
            ax.bar(np.arange(len(cases)) + (k - (len(modes) - 1) / 2) * width, vals, width,
                   label=mode)  # fmt: skip
        ax.axhline(goal, color="black", ls="--", lw=1)
        ax.set_ylabel(what + (" (≥ goal)" if what == "agreement" else " (≤ goal)"))
    axes[-1].set_xticks(range(len(cases)), [f"{n}\n{s}" for n, s in cases], fontsize=8)
    axes[0].legend(fontsize=8, ncol=min(len(modes), 3), loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(x: Any, spec: str = ".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    """Run the matrix and print the tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=list(DATASETS))
    p.add_argument(
        "--modes",
        nargs="+",
        default=list(MODES),
        help="shuffle[+dropout][:window][/rows], e.g. block/per-block stratified+targeted:2 "
        "stratified+joint/per-block (rows: the default, shared, unless given; default: the "
        "three shuffles with Bernoulli dropout)",
    )
    p.add_argument("--factors", nargs="+", default=["2x2", "4x4"], help="shapes like 8x8")
    p.add_argument("--no-evaluate", action="store_true", help="degrees and spectrum only")
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[1],
        help="expansion seeds: one row per seed (the spread of the ranking numbers over seeds)",
    )
    p.add_argument(
        "--max-items", type=int, default=20_000, help="evaluate's max_items (20000, its default)"
    )
    p.add_argument("--out", default=str(BENCH_DATA / "logs" / "fidelity.json"))
    p.add_argument("--figure", type=Path, help="also draw the numbers into this PNG")
    p.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="no runs: print, write and draw the results of earlier runs (their --out files)",
    )
    args = p.parse_args(argv)
    shapes = [tuple(int(v) for v in f.lower().split("x")) for f in args.factors]
    print(machine())
    results: list[dict[str, Any]] = []
    if args.from_json:
        for f in args.from_json:
            results += json.loads(f.read_text())
        args.datasets = []
    tmp_dir = BENCH_DATA if BENCH_DATA.exists() else None
    root = Path(tempfile.mkdtemp(prefix="fidelity-", dir=tmp_dir))
    try:
        for name in args.datasets:
            src = DATASETS[name]
            if isinstance(src, Path) and not src.exists():
                print(f"  {name}: {src} is absent, skipped", flush=True)
                continue
            split = load_split(name)
            print(f"  {name}: {split.shape[0]:,} x {split.shape[1]:,}, {split.train.nnz:,} "
                  f"train / {split.test.nnz:,} test", flush=True)  # fmt: skip
            for shape in shapes:
                for mode, seed in itertools.product(args.modes, args.seeds):
                    r = one_case(split, name, mode, shape, root, not args.no_evaluate,
                                 args.max_items, seed)  # fmt: skip
                    results.append(r)
                    print(f"    {mode:10s} {shape[0]}x{shape[1]} seed {seed}: "
                          f"KS {_f(r['ks_users'])} / "
                          f"{_f(r['ks_items'])}, τ {_f(r.get('tau'), '.2f')}, agreement "
                          f"{_f(r.get('agreement'), '.2f')} ({r.get('evaluate_s', 0)} s)",
                          flush=True)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    header = ["data set", "factors", "mode", "seed", "train", "KS users", "KS items", "σ1 / Thm 1",
              "rank-1 energy", "τ ndcg@10 [95 %]", "ρ", "agreement (sig. pairs)"]  # fmt: skip
    rows = []
    for r in results:
        ratio = (
            r["sigma1"] / r["sigma1_theorem1"]
            if r["sigma1"] is not None and r["sigma1_theorem1"]
            else None
        )
        tau = r.get("tau")
        lo, hi = r.get("tau_interval") or (None, None)
        rows.append([
            r["dataset"], f"{r['factors'][0]}x{r['factors'][1]}", r["mode"], str(r.get("seed", 1)),
            f"{r['nnz_train'] / 1e6:.2f}M", _f(r["ks_users"]), _f(r["ks_items"]), _f(ratio, ".2f"),
            _f(r["rank1_share"], ".2f"),
            f"{_f(tau, '.2f')} [{_f(lo, '.2f')}, {_f(hi, '.2f')}]" if tau is not None else "-",
            _f(r.get("rho"), ".2f"),
            f"{_f(r.get('agreement'), '.2f')} ({r.get('n_significant', '-')})",
        ])  # fmt: skip
    text = table(header, rows)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    md += metric_tables(results)
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"numbers: {out}")
    if args.figure:
        draw_figure(results, args.figure)
        print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
