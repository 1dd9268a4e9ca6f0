"""Scaling benchmark: does the cost follow the kept interactions and the block count?

One command::

    python benchmarks/bench_scale.py                      # 3 keep rates x 3 factor shapes
    python benchmarks/bench_scale.py --json after.json --compare before.json

Every case expands the same input (the embedded ``ml-latest-small``, or ``--input ml20m``:
the ML-20M surrogate of ``surrogate.py``) with item ids only (``carry=()``, the CLI's
``--carry none``) into a Zarr store, in a fresh Python process: keep rates ``1, 0.1, 0.01``
(the element sample rate, ``--element-sample-rate`` / ``--scale``: every keep probability
of R̂ multiplied by it) × factor shapes ``16 x 32, 16 x 1024, 16 x 4096``. The table gives,
per case, interactions written per second of the child's wall (interpreter start to the
store complete, imports and cluster start included), the wall, the peak RSS of the process
tree (driver + LocalCluster workers, sampled every 0.2 s), the output size, and the ratio of
the throughput to the ``16 x 32`` / rate 1 case of the same run. The goal of issue 13 is a
throughput that does not fall with the keep rate or the number of blocks.

``--element-sample-rate`` is an alias of ``--rates``; ``--block-sample-rate B`` keeps each
block whole with probability ``B`` (Meta's block rate); ``--shard-size S`` writes shards of
``S`` entries (one write task each: its memory follows ``S``); ``--block-rows K`` runs a slice of
user blocks: block rows ``K..m'-1`` keep nothing, so the store is exactly the first ``K``
block rows of the whole expansion (for shapes too large to run whole on a small machine).

``--compare FILE`` adds the wall and throughput of an earlier ``--json`` (for instance the
same command run on the main branch: export it with ``git archive main daskfractal | tar -x
-C /tmp/base`` and run with ``PYTHONPATH=/tmp/base``) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from _benchutil import (
    BENCH_DATA,
    Stages,
    emit,
    fmt_bytes,
    fmt_rate,
    machine,
    run_child,
    table,
    wait_until_idle,
)
from surrogate import write_ratings_csv

RATES = (1.0, 0.1, 0.01)
SHAPES = ((16, 32), (16, 1024), (16, 4096))
INPUTS = {
    "default": "default",
    "ml20m": str(BENCH_DATA / "ml20m-surrogate" / "ratings.csv"),
}
SEED = 0


def case_name(
    shape: tuple[int, int], rate: float, block_rate: float = 1.0, block_rows: int | None = None
) -> str:
    name = f"{shape[0]}x{shape[1]} rate {rate:g}"
    if block_rate < 1:
        name += f" blocks {block_rate:g}"
    if block_rows is not None:
        name += f" rows 0-{block_rows - 1}"
    return name


# --------------------------------------------------------------------------------------
# child
# --------------------------------------------------------------------------------------


def child(spec: dict) -> None:
    st = Stages()
    st.start("import")
    import numpy as np

    import daskfractal as dfr
    from daskfractal import _dask

    st.start("load + preprocess + reduce")
    split = dfr.preprocess(dfr.load(spec["input"]))
    red = dfr.reduce(split, tuple(spec["factors"]), scale=spec["rate"])
    st.start("plan")
    # the papers' / Meta's modes (block shuffles with a row permutation per block,
    # independent Bernoulli keeps), whose cost the geometric skips make follow the output:
    # the numbers in benchmarks/README.md
    modes = {"seed": SEED, "carry": (), "shuffle": "block", "dropout": "bernoulli"}
    modes["rows"] = spec.get("rows", "per-block")
    modes["block_sample_rate"] = spec.get("block_rate", 1.0)
    if spec.get("block_rows") is None:
        ex = dfr.expand(split, reduced=red, **modes)
    else:
        # a slice of user blocks: the block rows past it keep nothing, so the output is
        # exactly the first block rows of the whole expansion
        keep = np.array(red.keep, dtype=np.float64)
        keep[spec["block_rows"] :] = 0.0
        ex = dfr.expand(split, keep=keep, **modes)
    del split
    if spec["scheduler"] == "cluster":
        st.start("cluster start")
        ctx = _dask.cluster_client()
        sched = ctx.__enter__()
    else:
        ctx, sched = None, spec["scheduler"]
    st.start("expand")
    shards = {}
    if spec.get("shard_size"):
        # smaller shards: less memory per write task (its entries), more tasks
        size = int(spec["shard_size"])
        shards = {"shard_size": size, "chunk_elems": min(size, 2**20)}
    store = ex.to_zarr(spec["out"], scheduler=sched, progress=False, overwrite=True, **shards)
    st.stop()
    wall = st.elapsed()
    counts = {"users": int(store.n_users), **{k: int(v) for k, v in store.nnz.items()}}
    if ctx is not None:
        ctx.__exit__(None, None, None)
    emit("result", wall=wall, times=st.times, counts=counts)


def child_warm(spec: dict) -> None:
    import tempfile

    import daskfractal as dfr

    with tempfile.TemporaryDirectory() as tmp:
        for rate in RATES:
            ex = dfr.expand(
                "default",
                factors=(2, 2),
                seed=SEED,
                carry=(),
                scale=rate,
                shuffle="block",
                dropout="bernoulli",
                rows="per-block",
            )
            ex.to_zarr(Path(tmp) / f"w{rate}.zarr", scheduler="sync", progress=False)


# --------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------


def run_case(shape: tuple[int, int], rate: float, a: argparse.Namespace) -> dict:
    name = case_name(shape, rate, a.block_sample_rate, a.block_rows)
    out = a.out_dir / f"scale-{shape[0]}x{shape[1]}-{rate:g}.zarr"
    spec = {
        "input": INPUTS[a.input],
        "factors": list(shape),
        "rate": rate,
        "out": str(out),
        "scheduler": a.scheduler,
        "block_rate": a.block_sample_rate,
        "block_rows": a.block_rows,
        "shard_size": a.shard_size,
        "rows": a.rows,
    }
    print(f"\n== {name}", flush=True)
    wait_until_idle(a.idle_wait)
    res = run_child(
        [__file__, "--child", json.dumps(spec)],
        timeout=a.timeout,
        log=a.out_dir / f"scale-{shape[0]}x{shape[1]}-{rate:g}.log",
        echo=True,
    )
    res["case"] = name
    for p in (out, out.with_name(out.name + ".work")):
        shutil.rmtree(p, ignore_errors=True)
    if res["result"] is None:
        what = "stopped" if res["timed_out"] else f"failed (exit code {res['returncode']})"
        print(f"  {what}", flush=True)
    return res


def rate_of(res: dict | None) -> float | None:
    if not res or not res.get("result"):
        return None
    r = res["result"]
    return (r["counts"]["train"] + r["counts"]["test"]) / r["wall"]


def rows_for(results: list[dict], before: dict[str, dict]) -> list[list[str]]:
    base = rate_of(results[0]) if results else None
    rows = []
    for res in results:
        r = res["result"]
        x = rate_of(res)
        row = [res["case"]]
        if r is None:
            row += ["—", f">{res['wall']:.0f}", f"{res['tree_peak_mb']:,.0f}", "—", "—"]
        else:
            c = r["counts"]
            row += [
                fmt_rate(x),
                f"{r['wall']:.1f}",
                f"{res['tree_peak_mb']:,.0f}",
                f"{c['train'] + c['test']:,}",
                f"{x / base:.2f}" if x and base else "—",
            ]
        if before:
            b = before.get(res["case"])
            xb = rate_of(b)
            row += [
                f"{b['result']['wall']:.1f}" if b and b.get("result") else "—",
                f"{b['tree_peak_mb']:,.0f}" if b else "—",
                fmt_rate(xb),
                f"{x / xb:.2f}" if x and xb else "—",
            ]
        row.append(f"{res['other_load']:.2f}")
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", choices=list(INPUTS), default="default")
    ap.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    ap.add_argument(
        "--shapes", nargs="+", default=[f"{a}x{b}" for a, b in SHAPES], help="e.g. 16x32"
    )
    ap.add_argument("--scheduler", choices=("threads", "cluster"), default="cluster")
    ap.add_argument(
        "--element-sample-rate", dest="rates", nargs="+", type=float, help="alias of --rates"
    )
    ap.add_argument("--block-sample-rate", type=float, default=1.0, help="Meta's block rate")
    ap.add_argument(
        "--block-rows",
        type=int,
        help="a slice: only the first K block rows (user blocks) keep anything",
    )
    ap.add_argument(
        "--shard-size", type=int, help="entries per Zarr shard (write task); default 2**24"
    )
    ap.add_argument(
        "--rows",
        choices=("per-block", "shared"),
        default="per-block",
        help="row permutations: per block (Meta's script, default) or shared by a block row",
    )
    ap.add_argument("--out-dir", type=Path, default=BENCH_DATA / "out")
    ap.add_argument("--timeout", type=float, default=900.0, help="per case, seconds")
    ap.add_argument("--idle-wait", type=float, default=60.0, help="wait for a quiet machine")
    ap.add_argument("--json", type=Path, help="write the raw results here")
    ap.add_argument("--compare", type=Path, help="an earlier --json: add its numbers, ratio")
    ap.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    ap.add_argument("--child-warm", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_warm:
        child_warm({})
        return
    if a.child:
        child(json.loads(a.child))
        return
    shapes = [tuple(int(x) for x in s.split("x")) for s in a.shapes]
    a.out_dir = a.out_dir.resolve()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    if a.input == "ml20m" and not Path(INPUTS["ml20m"]).exists():
        print("generating the ML-20M surrogate ...", flush=True)
        write_ratings_csv(Path(INPUTS["ml20m"]))
    print(f"machine: {machine()}")
    print(f"input {a.input}, item ids only, scheduler {a.scheduler}, seed {SEED}")
    print("JIT warm-up (not measured) ...", flush=True)
    run_child([__file__, "--child-warm"])
    results = [run_case(s, r, a) for s in shapes for r in a.rates]
    before = {}
    if a.compare:
        before = {r["case"]: r for r in json.loads(a.compare.read_text())}
    headers = ["case", "interactions/s", "wall s", "peak RSS MB", "interactions", "ratio"]
    if before:
        headers += ["wall before", "RSS before", "before/s", "after/before"]
    headers.append("other load")
    print(f"\nratio: throughput / the first case ({results[0]['case'] if results else '—'})")
    print(table(headers, rows_for(results, before)))
    if a.json:
        keep = ("case", "result", "wall", "tree_peak_mb", "other_load", "timed_out")
        a.json.write_text(json.dumps([{k: r[k] for k in keep} for r in results], indent=1))
    print(f"\n{fmt_bytes(shutil.disk_usage(a.out_dir).free)} free in {a.out_dir}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
