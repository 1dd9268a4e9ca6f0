"""Evaluation benchmark: wall clock and peak RSS of ``daskfractal.evaluate`` on big stores.

One command::

    python benchmarks/bench_evaluate.py                        # ml20m-2x2 and ml20m-16x32
    python benchmarks/bench_evaluate.py --cases ml100k-2x2 --keep

Cases:

* ``ml20m-2x2``: the ML-20M-shaped surrogate (``surrogate.py``: 138,493 x 26,744, 20,000,263
  interactions) expanded by 2 x 2 (about 60M train interactions): the baseline row;
* ``ml20m-16x32``: the same by 16 x 32 (1.57B train interactions; the issue's goal is a
  1.2-billion-interaction store in ≤ 15 minutes and ≤ 6 GB on a 2-core machine);
* ``ml100k-2x2``: ML-100K of ``../shared/data`` (skipped when absent).

Stores are written once by ``daskfractal expand --carry none`` (not timed) under
``bench-data/evaluate/`` and deleted afterwards unless ``--keep``. Each evaluation (default
algorithms, the default 10,000 users and 20,000 items per side, full ranking) runs in a fresh
Python process with the threaded scheduler: wall is that process from interpreter start to the
report written (loading and pre-processing the original included), peak RSS the maximum of its
process tree's summed RSS. The ratio columns compare each case with the baseline row: the
sample, not the store, sets the cost.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from _benchutil import (
    BENCH_DATA,
    REPO,
    Stages,
    emit,
    expanded_store,
    machine,
    run_child,
    table,
    wait_until_idle,
)

SHARED = REPO.parent / "shared" / "data"
OUT = BENCH_DATA / "evaluate"
SURROGATE = BENCH_DATA / "ml20m-surrogate" / "ratings.csv"
CASES = {
    # name: (input, factors)
    "ml20m-2x2": (SURROGATE, (2, 2)),
    "ml20m-16x32": (SURROGATE, (16, 32)),
    "ml100k-2x2": (SHARED / "ml-100k", (2, 2)),
}
DEFAULT = ("ml20m-2x2", "ml20m-16x32")
BASELINE = "ml20m-2x2"
TARGET = {"interactions": 1.2e9, "wall": 900.0, "rss_mb": 6144.0}


def child(store: str, report: str) -> None:
    """Evaluate ``store`` and emit the timings and the headline numbers."""
    stages = Stages()
    stages.start("import")
    from daskfractal import evaluate

    stages.start("evaluate")
    rep = evaluate(store, scheduler="threads", progress=False, report_dir=report)
    stages.stop()
    n = rep.numbers
    emit(
        "result",
        wall=stages.elapsed(),
        nnz=n["store"]["nnz_train"],
        timings=n["timings"],
        sides=n["sides"],
        headline=n.get("headline"),
    )


def ensure_store(name: str) -> Path | None:
    """The store of a case (written once by :func:`_benchutil.expanded_store`)."""
    src, factors = CASES[name]
    return expanded_store(name, src, factors, OUT, SURROGATE)


def main(argv: list[str] | None = None) -> int:
    """Run the cases and print a table (and ``bench-data/logs/evaluate.json``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(DEFAULT))
    p.add_argument("--keep", action="store_true", help="keep the stores and reports")
    p.add_argument("--timeout", type=float, default=3600.0, help="per evaluation (s)")
    p.add_argument("--child", nargs=2, metavar=("STORE", "REPORT"))
    args = p.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    print(machine())
    rows, log, base = [], [], None
    for name in args.cases:
        store = ensure_store(name)
        if store is None:
            continue
        load = wait_until_idle(120, quiet=False)
        report = OUT / f"{name}-report"
        print(f"  {name}: evaluating (others' load {load:.1f} cores) ...", flush=True)
        res = run_child(
            [__file__, "--child", str(store), str(report)],
            timeout=args.timeout,
            log=OUT / f"{name}-evaluate.log",
        )
        r = res["result"]
        if r is None:
            print(f"  {name}: failed (return code {res['returncode']}, see the log)")
            continue
        if name == BASELINE:
            base = res
        h = r["headline"] or {}
        x = r["sides"]["expansion"]
        rows.append(
            [
                name,
                f"{r['nnz'] / 1e6:,.1f}M",
                f"{x['n_users']:,} x {x['n_items']:,}",
                f"{res['wall']:.1f}",
                f"{res['tree_peak_mb']:,.0f}",
                f"{res['wall'] / base['wall']:.2f}" if base else "-",
                f"{res['tree_peak_mb'] / base['tree_peak_mb']:.2f}" if base else "-",
                f"{h.get('kendall_tau', float('nan')):.2f}",
                f"{h.get('significant_agreement', float('nan')):.2f}",
                f"{res['other_load']:.1f}",
            ]
        )
        log.append({"case": name, **res, "events": None})
        if not args.keep:
            shutil.rmtree(store, ignore_errors=True)
            shutil.rmtree(report, ignore_errors=True)
    header = ["case", "train", "expansion sample", "wall s", "peak RSS MB",
              f"wall / {BASELINE}", f"RSS / {BASELINE}", "τ (ndcg@10)",
              "agreement (significant pairs)", "others' load"]  # fmt: skip
    print(table(header, rows))
    print(
        f"goal: a {TARGET['interactions'] / 1e9:.1f}B-interaction store in ≤ "
        f"{TARGET['wall'] / 60:.0f} min and ≤ {TARGET['rss_mb'] / 1024:.0f} GB peak RSS"
    )
    logs = BENCH_DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "evaluate.json").write_text(json.dumps(log, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
