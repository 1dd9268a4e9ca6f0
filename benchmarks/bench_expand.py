"""Whole-pipeline expansion benchmark (load → preprocess → R̂ → expand → Zarr), with a baseline.

One command::

    python benchmarks/bench_expand.py                 # all cases, LocalCluster
    python benchmarks/bench_expand.py --quick         # the 1M-interaction case only
    python benchmarks/bench_expand.py --cases ml20m-4x8 --scheduler threads
    python benchmarks/bench_expand.py --cases ml20m-16x32 --modes block stratified+balanced

Cases (inputs are seeded surrogates from ``surrogate.py``, generated once under ``bench-data/``):

* ``s1m-16x32``: 6,000 x 3,700, 1,000,000 interactions, factors 16 x 32, the case the MLPerf
  reference was measured on (issue #3: 146 s, 1.97 GB for 88.6M interactions on this machine);
  also run by a single-process NumPy baseline in the reference's style (per block
  ``rng.random(nnz) < p`` dropout, ``rng.permutation`` of rows and columns, COO pieces
  concatenated, written with ``scipy.sparse.save_npz``), with the same R̂;
* ``ml20m-4x8`` and ``ml20m-16x32``: the ML-20M-shaped surrogate (138,493 x 26,744,
  20,000,263 interactions).

Each case runs in a fresh Python process. Wall is that process's clock from its start to the
store being complete (cluster start-up included, tear-down not); peak RSS is the maximum over
time of the summed RSS of the process and all its descendants (driver + LocalCluster workers),
sampled every 0.2 s by the parent. Outputs are deleted after measuring unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from _benchutil import (
    BENCH_DATA,
    REPO,
    Stages,
    dir_bytes,
    emit,
    fmt_bytes,
    fmt_rate,
    machine,
    run_child,
    table,
    wait_until_idle,
)
from surrogate import ML20M_SHAPE, write_ratings_csv

INPUTS = {
    "s1m": ((6_000, 3_700, 1_000_000), BENCH_DATA / "s1m-surrogate" / "ratings.csv"),
    "ml20m": (ML20M_SHAPE, BENCH_DATA / "ml20m-surrogate" / "ratings.csv"),
}
CASES = {
    "s1m-16x32": ("s1m", (16, 32)),
    "ml20m-4x8": ("ml20m", (4, 8)),
    "ml20m-16x32": ("ml20m", (16, 32)),
}
QUICK = ("s1m-16x32",)
BASELINE_CASES = ("s1m-16x32",)
MLPERF = {"wall": 146.0, "rss_mb": 1970.0, "interactions": 88.6e6}  # issue #3, this machine
PASS_NAMES = ("expand: count (pass 1)", "expand: write (pass 2)")
SEED = 0
#: the mode of the runs beside the NumPy baseline, "shuffle+dropout/rows": the papers' and
#: the MLPerf reference's algorithm (per-block rows), so that the ratio compares like with like
DEFAULT_MODE = "block+bernoulli/per-block"


# --------------------------------------------------------------------------------------
# child: daskfractal
# --------------------------------------------------------------------------------------


def child_ours(spec: dict) -> None:
    st = Stages()
    st.start("import")
    import daskfractal as dfr
    from daskfractal import _dask

    out = Path(spec["out"])
    st.start("load")
    data = dfr.load(spec["path"])
    st.start("preprocess")
    split = dfr.preprocess(data)
    del data
    st.start("reduce")
    red = dfr.reduce(split, tuple(spec["factors"]), resize=spec["resize"])
    st.start("plan")
    kw = {} if spec["chunk_size"] is None else {"chunk_size": spec["chunk_size"]}
    carry = "auto" if spec["carry"] == "auto" else ()
    mode, _, rows = spec["mode"].partition("/")
    shuffle, _, dropout = mode.partition("+")
    kw["shuffle"] = shuffle
    kw["dropout"] = dropout or "bernoulli"
    if rows:
        kw["rows"] = rows
    ex = dfr.expand(split, reduced=red, seed=SEED, carry=carry, **kw)
    n_tasks = len(ex.tasks())
    expected = ex.expected()
    emit("note", name=f"plan: {n_tasks} count tasks", tasks=n_tasks, expected=expected)
    del split

    info: dict = {}
    orig_run = _dask.run
    calls = [0]

    def timed_run(tasks, **kwargs):  # one call per pass of write_store
        k = calls[0]
        calls[0] += 1
        st.start(PASS_NAMES[k] if k < len(PASS_NAMES) else f"expand: run {k}")
        res = orig_run(tasks, **kwargs)
        if k == 0:
            st.start("expand: index + store creation")
        else:
            st.start("expand: finalize")
        return res

    _dask.run = timed_run
    # the writer imported run by name: time its passes too
    import daskfractal.expansion._write as writer_module

    writer_module.run = timed_run
    if spec["scheduler"] == "cluster":
        st.start("cluster start")
        ctx = _dask.cluster_client(workers=spec["workers"], threads=spec["threads"])
        sched = ctx.__enter__()
    else:
        ctx, sched = None, spec["scheduler"]
    store = ex.to_zarr(out, scheduler=sched, progress=False, overwrite=True)
    st.stop()
    wall = st.elapsed() - sum(v for k, v in st.times.items() if k.startswith("(bench"))
    st.start("(bench: measuring store)")
    nbytes = dir_bytes(out)
    counts = {"users": int(store.n_users), **{k: int(v) for k, v in store.nnz.items()}}
    if ctx is not None:
        st.start("(cluster stop)")
        ctx.__exit__(None, None, None)
    st.stop()
    emit(
        "result",
        wall=wall,
        times=st.times,
        peaks=st.peaks,
        bytes=nbytes,
        counts=counts,
        tasks=n_tasks,
        expected=expected,
        **info,
    )


def child_warm(_: dict) -> None:
    import tempfile

    import daskfractal as dfr

    with tempfile.TemporaryDirectory() as tmp:
        ex = dfr.expand("default", factors=(2, 2), seed=SEED)
        ex.to_zarr(Path(tmp) / "w.zarr", scheduler="sync", progress=False)
        ex.count(scheduler="sync")


# --------------------------------------------------------------------------------------
# child: single-process NumPy baseline in the style of the MLPerf reference
# --------------------------------------------------------------------------------------


def child_baseline(spec: dict) -> None:
    st = Stages()
    st.start("import")
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    out = Path(spec["out"])
    st.start("load")
    df = pd.read_csv(spec["path"])
    _, u = np.unique(df["userId"].to_numpy(), return_inverse=True)
    _, it = np.unique(df["movieId"].to_numpy(), return_inverse=True)
    ts = df["timestamp"].to_numpy()
    del df
    m, n = int(u.max()) + 1, int(it.max()) + 1
    st.start("preprocess")  # leave-last-out: each user's latest interaction is the test item
    order = np.lexsort((ts, u))
    u, it = u[order], it[order]
    is_test = np.r_[u[1:] != u[:-1], True]
    train = sp.csr_matrix(
        (np.ones(int((~is_test).sum()), np.float32), (u[~is_test], it[~is_test])), shape=(m, n)
    )
    r = u.astype(np.int64)
    c = it.astype(np.int64)
    sign = np.where(is_test, -1, 1).astype(np.int8)
    del order, ts
    st.start("reduce")  # the same R̂ as daskfractal, so both produce the same expected size
    import daskfractal as dfr

    keep = dfr.reduce(train, tuple(spec["factors"]), resize=spec["resize"]).keep
    del train
    st.start("expand (numpy)")
    rng = np.random.default_rng(SEED)
    mp, npr = keep.shape
    rows, cols, signs = [], [], []
    for i in range(mp):
        for j in range(npr):
            mask = rng.random(len(r)) < keep[i, j]
            row_perm = rng.permutation(m)
            col_perm = rng.permutation(n)
            rows.append(i * m + row_perm[r[mask]])
            cols.append(j * n + col_perm[c[mask]])
            signs.append(sign[mask])
    rows = np.concatenate(rows)
    cols = np.concatenate(cols)
    signs = np.concatenate(signs)
    st.start("write (.npz)")
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    shape = (mp * m, npr * n)
    for name, sel in (("train", signs > 0), ("test", signs < 0)):
        k = int(sel.sum())
        mat = sp.coo_matrix((np.ones(k, np.float32), (rows[sel], cols[sel])), shape=shape)
        sp.save_npz(out / f"{name}.npz", mat, compressed=False)
        counts[name] = k
        del mat
    st.stop()
    wall = st.elapsed()
    counts["users"] = len(np.unique(rows[signs > 0]))
    st.start("(bench: measuring store)")
    nbytes = dir_bytes(out)
    st.stop()
    emit("result", wall=wall, times=st.times, peaks=st.peaks, bytes=nbytes, counts=counts)


# --------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------


def ensure_input(name: str) -> Path:
    (users, items, rows), path = INPUTS[name]
    if not path.exists():
        t = time.perf_counter()
        print(f"  generating {path.relative_to(REPO)} ...", flush=True)
        write_ratings_csv(path, n_users=users, n_items=items, n_interactions=rows, seed=0)
        print(f"  ... {time.perf_counter() - t:.0f} s", flush=True)
    return path


def remove_output(out: Path) -> None:
    for p in (out, out.with_name(out.name + ".work")):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


def partial_progress(out: Path) -> dict | None:
    """What a stopped run had done: count tasks finished, train shards written."""
    work = out.with_name(out.name + ".work")
    plan = work / "plan.json"
    if not plan.exists():
        return None
    n_tasks = len(json.loads(plan.read_text())["tasks"])
    done = list((work / "counts").glob("0*.npz"))
    marks = out / "_progress" / "train" / "indices"
    shards = len(list(marks.iterdir())) if marks.exists() else 0
    return {"tasks": n_tasks, "done": len(done), "shards": shards}


def run_case(name: str, a: argparse.Namespace, baseline: bool, mode: str = "") -> dict:
    """Run a case ``--repeat`` times; keep the fastest complete run."""
    runs = [run_once(name, a, baseline, mode) for _ in range(a.repeat)]
    done = [r for r in runs if r["result"] is not None]
    if not done:
        return runs[-1]
    best = min(done, key=lambda r: r["result"]["wall"])
    best["all_walls"] = [r["result"]["wall"] for r in done]
    return best


def run_once(name: str, a: argparse.Namespace, baseline: bool, mode: str = "") -> dict:
    inp, factors = CASES[name]
    path = ensure_input(inp)
    mode = mode or a.modes[0]
    label = (
        f"{name} [numpy baseline]"
        if baseline
        else f"{name} [daskfractal {a.scheduler}{'' if mode == DEFAULT_MODE else ', ' + mode}]"
    )
    out = a.out_dir / (f"{name}-baseline" if baseline else f"{name}.zarr")
    spec = {
        "path": str(path),
        "out": str(out),
        "factors": list(factors),
        "resize": a.resize,
        "carry": a.carry,
        "chunk_size": a.chunk_size,
        "scheduler": a.scheduler,
        "workers": a.workers,
        "threads": a.threads,
        "mode": mode,
    }
    print(f"\n== {label}", flush=True)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    tag = "-baseline" if baseline else "-" + mode.replace("/", "-")  # (a file name)
    log = a.out_dir / f"{name}{tag}.log"
    child = "baseline" if baseline else "ours"
    wait_until_idle(a.idle_wait)
    res = run_child(
        [__file__, "--child", child, json.dumps(spec)], timeout=a.timeout, log=log, echo=True
    )
    res["label"] = label
    res["case"] = name
    res["baseline"] = baseline
    res["mode"] = None if baseline else mode
    if res["timed_out"]:
        res["partial"] = partial_progress(out)
        print(f"  stopped after {a.timeout:.0f} s: {res['partial']}", flush=True)
    elif res["result"] is None:
        print(f"  FAILED (exit code {res['returncode']}), see {log}", flush=True)
    if not a.keep:
        remove_output(out)
    return res


def summary_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for res in results:
        r = res["result"]
        peak = f"{res['tree_peak_mb']:,.0f}"
        load = f"{res['other_load']:.2f}"
        if r is None:
            p = res.get("partial") or {}
            what = "stopped" if res["timed_out"] else "failed"
            note = (
                f"{what}: {p.get('done', '?')}/{p.get('tasks', '?')} count tasks, "
                f"{p.get('shards', 0)} train shards written"
            )
            rows.append([res["label"], "—", f">{res['wall']:.0f}", peak, "—", "—", note, load])
            continue
        c = r["counts"]
        total = c["train"] + c["test"]
        rows.append(
            [
                res["label"],
                fmt_rate(total / r["wall"]),
                f"{r['wall']:.1f}",
                peak,
                fmt_bytes(r["bytes"]),
                f"{c['train']:,}",
                f"{c['test']:,}",
                load,
            ]
        )
    return rows


def stage_rows(res: dict) -> list[list[str]]:
    r = res["result"]
    times = r["times"] if r else {}
    if not r:  # a stopped run: stage walls from the events
        times = {e["name"]: e["wall"] for e in res["events"] if e["kind"] == "stage_done"}
    rows = []
    for stage, wall in times.items():
        peak = res["stage_tree_peak_mb"].get(stage)
        rows.append([stage, f"{wall:.1f}", "—" if peak is None else f"{peak:,.0f}"])
    return rows


def expand_rate(res: dict) -> float | None:
    """Output interactions per second of the expand + write passes alone."""
    r = res["result"]
    if not r:
        return None
    t = sum(v for k, v in r["times"].items() if k.startswith("expand"))
    c = r["counts"]
    return (c["train"] + c["test"]) / t if t else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--scheduler", choices=("threads", "cluster"), default="cluster")
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster workers (cores)")
    ap.add_argument("--threads", type=int, default=None, help="threads per worker (1)")
    ap.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="expected kept interactions per task (library default 2**22)",
    )
    ap.add_argument(
        "--carry",
        choices=("none", "auto"),
        default="none",
        help="carry ratings/timestamps (auto) or ids only (none, like the MLPerf reference)",
    )
    ap.add_argument("--resize", choices=("antialias", "legacy"), default="antialias")
    ap.add_argument(
        "--modes",
        nargs="+",
        default=[DEFAULT_MODE],
        help="shuffle+dropout[/rows] of each daskfractal run, e.g. block+bernoulli/per-block "
        "stratified+joint (rows: shared or per-block, default expand's; the first is the "
        "reference of the ratio lines)",
    )
    ap.add_argument("--no-baseline", action="store_true", help="skip the NumPy baseline")
    ap.add_argument("--out-dir", type=Path, default=BENCH_DATA / "out")
    ap.add_argument("--timeout", type=float, default=900.0, help="per case, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the outputs")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest is kept")
    ap.add_argument(
        "--idle-wait",
        type=float,
        default=600.0,
        help="before each case wait up to this many s for other processes to go quiet",
    )
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        mode, spec = a.child
        {"baseline": child_baseline, "ours": child_ours, "warm": child_warm}[mode](json.loads(spec))
        return

    cases = list(QUICK) if a.quick else a.cases
    a.out_dir = a.out_dir.resolve()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(a.out_dir).free
    print(f"machine: {machine()}")
    print(
        "inputs:  seeded surrogates (benchmarks/surrogate.py): "
        + "; ".join(
            f"{k} = {s[0]:,} users x {s[1]:,} items, {s[2]:,} interactions"
            for k, (s, _) in INPUTS.items()
        )
    )
    print(
        f"options: scheduler={a.scheduler}, modes={' '.join(a.modes)}, "
        f"chunk_size={a.chunk_size or 'default'}, "
        f"carry={a.carry}, resize={a.resize}, seed={SEED}; out-dir {a.out_dir} "
        f"({free / 1e9:.0f} GB free)"
    )

    print("\nJIT warm-up (a tiny expansion, so Numba's on-disk cache is filled; not measured) ...")
    warm = run_child([__file__, "--child", "warm", "{}"])
    print(f"  {warm['wall']:.1f} s", flush=True)
    results = []
    for name in cases:
        for mode in a.modes:
            results.append(run_case(name, a, baseline=False, mode=mode))
        if name in BASELINE_CASES and not a.no_baseline:
            results.append(run_case(name, a, baseline=True))

    print("\nwhole pipeline (load → preprocess → R̂ → expand → store), one fresh process each;")
    print("peak RSS = max over time of the summed RSS of the process tree (driver + workers);")
    print("other load = mean cores used by processes outside the benchmark during the run\n")
    headers = ["case", "interactions/s", "wall s", "peak RSS MB", "bytes written", "train", "test"]
    headers.append("other load")
    print(table(headers, summary_rows(results)))
    print(
        f"\nMLPerf reference, s1m-16x32 on this machine (issue #3): {MLPERF['wall']:.0f} s, "
        f"{MLPERF['rss_mb']:,.0f} MB, {MLPERF['interactions'] / 1e6:.1f}M interactions = "
        f"{fmt_rate(MLPERF['interactions'] / MLPERF['wall'])}"
    )

    for name in cases:
        runs = [r for r in results if r["case"] == name and not r["baseline"] and r["result"]]
        if len(runs) > 1:
            ref = runs[0]
            for r in runs[1:]:
                rr, rf = expand_rate(r), expand_rate(ref)
                passes = f"{rr / rf:.2f} (expand + write passes), " if rr and rf else ""
                print(
                    f"{name}: {r['mode']} / {ref['mode']}: interactions/s {passes}"
                    f"wall {r['result']['wall'] / ref['result']['wall']:.2f}, peak RSS "
                    f"{r['tree_peak_mb'] / ref['tree_peak_mb']:.2f}"
                )

    by = {(r["case"], r["baseline"]): r for r in results if r.get("mode") in (None, a.modes[0])}
    for name in cases:
        ours, base = by.get((name, False)), by.get((name, True))
        if ours and base and ours["result"] and base["result"]:
            o, b = ours["result"], base["result"]
            ro = (o["counts"]["train"] + o["counts"]["test"]) / o["wall"]
            rb = (b["counts"]["train"] + b["counts"]["test"]) / b["wall"]
            print(
                f"{name}: daskfractal / numpy baseline: wall {o['wall'] / b['wall']:.2f}, "
                f"peak RSS {ours['tree_peak_mb'] / base['tree_peak_mb']:.2f}, "
                f"interactions/s {ro / rb:.2f}"
            )

    for res in results:
        parts = ", ".join(f"{role} {mb:,.0f}" for role, mb in res.get("tree_peak_detail", []))
        where = f"overall peak in '{res['tree_peak_stage']}' = {parts} MB"
        print(f"\n-- {res['label']}: stages (peak RSS of the tree during the stage; {where})")
        print(table(["stage", "wall s", "peak RSS MB"], stage_rows(res)))
        r = res["result"]
        if r and not res["baseline"]:
            rate = expand_rate(res)
            print(f"expand + write passes only: {fmt_rate(rate)}; {r['tasks']} count tasks")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
