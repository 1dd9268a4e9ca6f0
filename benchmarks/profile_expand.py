"""Where the time of an expansion goes: one task timed step by step, then cProfile.

::

    python benchmarks/profile_expand.py                      # s1m input, 16 x 32
    python benchmarks/profile_expand.py --input ml20m --factors 16 32 --task 0
    python benchmarks/profile_expand.py --input ml20m --mode block+bernoulli

Part 1 replays one count task of the engine in this process, timing its steps with the
package's own internals (read-only use; nothing is patched): the source rows of its slots
and the column permutations of its block row (both computed, not stored), the count pass,
then the write-pass work for the same users: the emit kernel (generation straight into a
shard-sized window), one Zarr shard write (Blosc-zstd) and the item degrees.

Part 2 (``--cprofile``) runs the whole write with the synchronous scheduler under cProfile
and prints the functions with the largest own time (the Numba kernels show as one entry).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _benchutil import fmt_rate, table
from bench_expand import INPUTS, ensure_input


class Clock:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    def __call__(self, name: str, f, note: str = ""):
        t = time.perf_counter()
        out = f()
        self.rows.append((name, time.perf_counter() - t, note))
        return out


def one_task(ex, task_no: int, tmp: Path) -> None:
    """Replay count task ``task_no`` and the write of the shard its users start in."""
    import zarr
    from zarr.codecs import BloscCodec

    from daskfractal.expansion import _plan as E
    from daskfractal.expansion._write import DEFAULT_CHUNK, DEFAULT_SHARD

    plan = ex.plan
    tasks = ex.tasks()
    i, t0, t1 = tasks[task_no]
    src = plan.src
    slots = t1 - t0
    E._TABLES.clear()  # cold: the task's tables are built in the steps below
    c = Clock()
    local = np.arange(t0, t1, dtype=np.int64)
    blocks, src_rows, _ = c(
        "source rows of the task's slots (computed permutations)",
        lambda: E.slot_tables(plan, i, local),
        f"{len(E.active_blocks(plan, i))} blocks x {slots:,} slots",
    )
    c(
        "column permutations of the block row (cold)",
        lambda: E.column_tables(plan, i, blocks),
        f"{len(blocks)} x {plan.n:,} items",
    )
    c("kernels: compile/warm (tiny task)", lambda: E.count_slots(plan, i, t0, t0 + 1))
    visited = int(np.diff(src.indptr)[src_rows].sum())
    tr, te, _, _ = c(
        "count pass (count_slots)",
        lambda: E.count_slots(plan, i, t0, t1),
        f"{visited:,} candidates",
    )
    alive = tr > 0
    kept = int(tr[alive].sum() + te[alive].sum())
    # the write of one shard: the users of this task, in a window of at most one shard
    users = (np.int64(i) * plan.m + t0 + np.flatnonzero(alive)).astype(np.int64)
    off_tr = np.concatenate([[0], np.cumsum(tr[alive])[:-1]]).astype(np.int64)
    off_te = np.concatenate([[0], np.cumsum(te[alive])[:-1]]).astype(np.int64)
    n = int(min(tr[alive].sum(), DEFAULT_SHARD))
    args = (plan, users, off_tr, off_te, tr[alive], te[alive], (0, n), (0, int(te[alive].sum())))
    E.emit_users(*args[:1], users[:1], off_tr[:1], off_te[:1], tr[alive][:1], te[alive][:1],
                 (0, 0), (0, 0), np.int32)  # fmt: skip
    out = c(
        "emit pass (emit_users, int32 items)",
        lambda: E.emit_users(*args, np.int32),
        f"{kept:,} kept, window {n:,}",
    )
    n = max(n - n % DEFAULT_CHUNK, min(n, DEFAULT_CHUNK))  # whole inner chunks
    items = out["train_items"][:n]
    z = zarr.create_array(
        store=str(tmp / "z.zarr"),
        shape=(n,),
        chunks=(min(n, DEFAULT_CHUNK),),
        shards=(n,),
        dtype="int32",
        compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=4)],
    )

    def write() -> None:
        z[:] = items

    c("zarr shard write (blosc zstd 3)", write, f"{n * 4 / 1e6:.0f} MB raw")
    c("item degrees (bincount)", lambda: np.bincount(items, minlength=ex.n_items))
    print(
        f"\ncount task {task_no} of {len(tasks)}: block row {i}, slots [{t0:,}, {t1:,}) "
        f"({slots:,} slots x {plan.factors[1]} blocks), {kept:,} kept interactions"
    )
    rows = []
    for name, dt, note in c.rows:
        rate = fmt_rate(kept / dt) if "pass" in name or "path" in name else ""
        rows.append([name, f"{dt:.3f}", rate, note])
    print(table(["step", "s", "kept/s", "note"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", choices=list(INPUTS), default="s1m")
    ap.add_argument("--factors", type=int, nargs=2, default=(16, 32))
    ap.add_argument("--task", type=int, default=0, help="which count task to replay")
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--cprofile", action="store_true", help="also profile a whole sync write")
    ap.add_argument("--mode", default=None, help="shuffle+dropout (default: the library's)")
    a = ap.parse_args()
    import daskfractal as dfr

    split = dfr.preprocess(dfr.load(ensure_input(a.input)))
    kw = {} if a.chunk_size is None else {"chunk_size": a.chunk_size}
    if a.mode:
        kw["shuffle"], _, kw["dropout"] = a.mode.partition("+")
    ex = dfr.expand(split, factors=tuple(a.factors), seed=0, carry=(), **kw)
    tmp = Path(tempfile.mkdtemp(prefix="dfr-prof-", dir=Path(__file__).parents[1] / "bench-data"))
    try:
        one_task(ex, a.task, tmp)
        if a.cprofile:
            pr = cProfile.Profile()
            t = time.perf_counter()
            pr.enable()
            ex.to_zarr(tmp / "out.zarr", scheduler="sync", progress=False, overwrite=True)
            pr.disable()
            print(f"\nwhole write, sync scheduler: {time.perf_counter() - t:.1f} s; top own time:")
            s = io.StringIO()
            pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(18)
            print(s.getvalue()[s.getvalue().find("ncalls") :])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
