"""Privacy against fidelity: re-identification and membership AUC beside validate / evaluate.

One command::

    python benchmarks/privacy_tradeoff.py --figure docs/images/privacy-tradeoff.png

For each data set, factor shape, shuffle mode and ε of the randomized-response defence
(``none``: no defence): expand (``reduce`` with the default options, seed 1, no carried
columns) into a temporary Zarr store, then

* ``privacy_audit`` (``--users`` sampled synthetic users of 2 block rows, seed 0): top-1 /
  top-10 linkage against chance, the share of users with a segment linked, membership AUC;
* ``validate`` (k = 8) against the real R: KS of the log-normalized degrees (users / items),
  the top singular value against the Theorem-1 prediction;
* ``evaluate`` (default algorithms and protocol; not at 16 × 32 unless ``--evaluate-large``):
  Kendall τ of NDCG@10 between the orderings on the original and on the expansion, and the
  agreement on the pairs ordered significantly on the original.

Modes are ``shuffle+dropout[/rows]``: ``block+bernoulli/per-block`` (the papers),
``stratified+bernoulli``, ``stratified+balanced`` (the default of 0.2), ``stratified+joint``;
without ``/rows`` expand's default (``shared`` since 0.5). The table goes to stdout, every number to
``bench-data/logs/privacy.json`` (and ``.md``); ``--figure`` draws re-identification,
membership and fidelity against ε, one line per mode, for the cases that have several ε.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _benchutil import BENCH_DATA, machine, table
from fidelity_matrix import DATASETS, load_split

MODES = ("block+bernoulli/per-block", "stratified+bernoulli", "stratified+balanced")


def one_case(split: Any, name: str, mode: str, factors: tuple[int, int], eps: float | None,
             root: Path, *, users: int, evaluate_too: bool, validate_too: bool = True,
             eval_users: int = 10_000, seed: int = 1) -> dict[str, Any]:  # fmt: skip
    """Expand, audit, validate (and evaluate) one case; return its numbers."""
    import daskfractal as dfr

    t0 = time.perf_counter()
    spec, _, rows = mode.partition("/")
    shuffle, _, dropout = spec.partition("+")
    extra = {"rows": rows} if rows else {}
    ex = dfr.expand(split, factors, shuffle=shuffle, dropout=dropout or "bernoulli", seed=seed,
                    carry=(), privacy_epsilon=eps, **extra)  # fmt: skip
    tag = f"{name}-{shuffle}-{dropout}-{rows or 'default'}-{factors[0]}x{factors[1]}-e{eps}"
    store = ex.to_zarr(root / f"{tag}.zarr", progress=False)
    out: dict[str, Any] = {
        "dataset": name,
        "mode": mode,
        "factors": list(factors),
        "epsilon": eps,
        "seed": seed,
        "nnz_train": store.nnz["train"],
        "expand_s": round(time.perf_counter() - t0, 1),
    }
    t0 = time.perf_counter()
    rep = dfr.privacy_audit(store, split, users=users, seed=0)
    lk, mem = rep.numbers["linkage"], rep.numbers["membership"] or {}
    out.update(
        segments=lk["segments"],
        top1=lk["top1"],
        top10=lk["top10"],
        chance_top1=lk["chance_top1"],
        users_linked=lk["users_linked"],
        ground_truth_check=lk["ground_truth_check"],
        membership_auc=mem.get("auc"),
        audit_s=round(time.perf_counter() - t0, 1),
    )
    out.update(ks_users=None, ks_items=None, sigma1_ratio=None)
    if validate_too:
        t0 = time.perf_counter()
        val = dfr.validate(store, split, k=8, progress=False, figures=False)
        sv = val.numbers["spectrum"]
        s1, p1 = (sv.get("expansion") or [None])[0], (sv.get("prediction") or [None])[0]
        out.update(
            ks_users=val.numbers["degrees"]["users"]["ks"]["log_normalized"],
            ks_items=val.numbers["degrees"]["items"]["ks"]["log_normalized"],
            sigma1_ratio=s1 / p1 if s1 is not None and p1 else None,
            validate_s=round(time.perf_counter() - t0, 1),
        )
    if evaluate_too:
        t0 = time.perf_counter()
        ev = dfr.evaluate(store, split, progress=False, seed=0, users=eval_users, figures=False)
        h = ev.numbers["headline"]
        out.update(
            tau=h["kendall_tau"],
            agreement=h["significant_agreement"],
            n_significant=h["n_significant"],
            evaluate_s=round(time.perf_counter() - t0, 1),
        )
    shutil.rmtree(store.path, ignore_errors=True)
    return out


def _f(x: Any, spec: str = ".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


HEADER = ["data set", "factors", "mode", "ε", "train", "top-1", "top-10", "chance",
          "users linked", "membership AUC", "KS users", "KS items", "σ1 / Thm 1", "τ",
          "agreement", "s"]  # fmt: skip


def rows_of(results: list[dict[str, Any]]) -> list[list[str]]:
    """One table row per case."""
    rows = []
    for r in results:
        secs = sum(r.get(k, 0) for k in ("expand_s", "audit_s", "validate_s", "evaluate_s"))
        rows.append([
            r["dataset"], "x".join(map(str, r["factors"])), r["mode"],
            "none" if r["epsilon"] is None else _f(r["epsilon"], "g"),
            f"{r['nnz_train'] / 1e6:.2f}M", _pct(r["top1"]), _pct(r["top10"]),
            _pct(r["chance_top1"]), _pct(r["users_linked"]), _f(r["membership_auc"], ".2f"),
            _f(r["ks_users"]), _f(r["ks_items"]), _f(r["sigma1_ratio"], ".2f"),
            _f(r.get("tau"), ".2f"), _f(r.get("agreement"), ".2f"), f"{secs:.0f}",
        ])  # fmt: skip
    return rows


def draw_figure(results: list[dict[str, Any]], path: Path) -> None:
    """Re-identification, membership AUC and fidelity against ε, one line per mode, one
    column per data set × factors with several ε."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def case_of(r: dict[str, Any]) -> tuple[str, str]:
        return r["dataset"], "x".join(map(str, r["factors"]))

    all_cases = dict.fromkeys(case_of(r) for r in results)
    cases = [c for c in all_cases if len({r["epsilon"] for r in results if case_of(r) == c}) > 1]
    if not cases:
        return
    panels = [("top-1 linkage", "top1"), ("membership AUC", "membership_auc"),
              ("KS (● users, ■ items)", "ks"), ("τ (NDCG@10 orderings)", "tau")]  # fmt: skip
    fig, axes = plt.subplots(len(panels), len(cases), figsize=(4.5 * len(cases), 11),
                             squeeze=False, sharex=True)  # fmt: skip
    for c, case in enumerate(cases):
        mine = [r for r in results if case_of(r) == case]
        eps_vals = sorted({r["epsilon"] for r in mine if r["epsilon"] is not None})
        big = max(eps_vals) * 1.5 if eps_vals else 1.0  # "none" drawn right of the largest ε

        def x_of(e: float | None, big: float = big) -> float:
            return big if e is None else e

        for k, mode in enumerate(dict.fromkeys(r["mode"] for r in mine)):
            rs = sorted((r for r in mine if r["mode"] == mode), key=lambda r: x_of(r["epsilon"]))
            xs = [x_of(r["epsilon"]) for r in rs]
            color = f"C{k}"
            for row, (_, key) in enumerate(panels):
                ax = axes[row][c]
                if key == "ks":
                    ks_u = [math.nan if r["ks_users"] is None else r["ks_users"] for r in rs]
                    ks_i = [math.nan if r["ks_items"] is None else r["ks_items"] for r in rs]
                    ax.plot(xs, ks_u, "o-", color=color, label=mode)
                    ax.plot(xs, ks_i, "s--", color=color)
                else:
                    ys = [r.get(key) for r in rs]
                    ax.plot(xs, [math.nan if y is None else y for y in ys], "o-", color=color,
                            label=mode)  # fmt: skip
        for row, (label, key) in enumerate(panels):
            ax = axes[row][c]
            if key == "top1":
                ax.axhline(0.01, color="black", ls="--", lw=1)
                ax.axhline(mine[0]["chance_top1"], color="grey", ls=":", lw=1)
            elif key == "membership_auc":
                ax.axhline(0.5, color="grey", ls=":", lw=1)
            elif key == "tau":
                ax.axhline(0.8, color="black", ls="--", lw=1)
            ax.set_ylabel(label)
        axes[0][c].set_title(f"{case[0]} {case[1]}")
        ticks = [*eps_vals, big]
        axes[-1][c].set_xscale("log")
        axes[-1][c].minorticks_off()
        axes[-1][c].set_xticks(ticks, [*(_f(e, "g") for e in eps_vals), "none"])
        axes[-1][c].set_xlabel("ε of randomized response (right: no defence)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the cases and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["ml-100k"])
    p.add_argument(
        "--modes",
        nargs="+",
        default=list(MODES),
        help="shuffle+dropout[/rows] (rows: shared or per-block; default: expand's)",
    )
    p.add_argument("--factors", nargs="+", default=["4x4"], help="shapes like 16x32")
    p.add_argument("--epsilons", nargs="+", default=["none", "8", "6", "4", "2"],
                   help="ε of the defence; 'none' for no defence")  # fmt: skip
    p.add_argument("--users", type=int, default=300, help="synthetic users audited (300)")
    p.add_argument("--no-evaluate", action="store_true", help="no evaluate (τ) at all")
    p.add_argument("--no-validate", action="store_true", help="no validate (KS, σ1)")
    p.add_argument("--eval-users", type=int, default=10_000,
                   help="users of evaluate's samples (10000, its default)")  # fmt: skip
    p.add_argument("--evaluate-large", action="store_true",
                   help="also evaluate above 4 x 4 x |R| (slow on 2 cores)")  # fmt: skip
    p.add_argument("--out", default=str(BENCH_DATA / "logs" / "privacy.json"))
    p.add_argument("--figure", type=Path, help="draw the trade-off curves into this PNG")
    p.add_argument("--from-json", type=Path, nargs="+",
                   help="no runs: print and draw the results of earlier runs")  # fmt: skip
    args = p.parse_args(argv)
    shapes = [tuple(int(v) for v in f.lower().split("x")) for f in args.factors]
    eps_list = [None if e == "none" else float(e) for e in args.epsilons]
    print(machine())
    results: list[dict[str, Any]] = []
    if args.from_json:
        for f in args.from_json:
            results += json.loads(f.read_text())
        args.datasets = []
    tmp_dir = BENCH_DATA if BENCH_DATA.exists() else None
    root = Path(tempfile.mkdtemp(prefix="privacy-", dir=tmp_dir))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.datasets:
            src = DATASETS[name]
            if isinstance(src, Path) and not src.exists():
                print(f"  {name}: {src} is absent, skipped", flush=True)
                continue
            split = load_split(name)
            print(f"  {name}: {split.shape[0]:,} x {split.shape[1]:,}, {split.train.nnz:,} "
                  "train", flush=True)  # fmt: skip
            for shape in shapes:
                small = shape[0] * shape[1] <= 16
                for mode in args.modes:
                    for eps in eps_list:
                        r = one_case(split, name, mode, shape, eps, root, users=args.users,
                                     evaluate_too=not args.no_evaluate
                                     and (small or args.evaluate_large),
                                     validate_too=not args.no_validate,
                                     eval_users=args.eval_users)  # fmt: skip
                        results.append(r)
                        print("    " + " | ".join(rows_of([r])[0]), flush=True)
                        out.write_text(json.dumps(results, indent=2))  # partial results kept
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = rows_of(results)
    print(table(HEADER, rows))
    out.write_text(json.dumps(results, indent=2))
    md = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"numbers: {out}")
    if args.figure:
        draw_figure(results, args.figure)
        print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
