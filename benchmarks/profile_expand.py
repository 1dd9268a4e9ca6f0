"""Where the time of an expansion goes: one generate task timed step by step, then cProfile.

::

    python benchmarks/profile_expand.py                      # s1m input, 16 x 32
    python benchmarks/profile_expand.py --input ml20m --factors 16 32 --task 0

Part 1 replays one generate task of the engine in this process, timing its steps with the
package's own internals (read-only use; nothing is patched): the permutation tables of the
block row, the kernel's count pass, its fill pass, the survivor compaction done in NumPy
by ``expansion.generate``, and saving the part (``np.save``). It then times one assemble
shard: gathering the parts, writing one Zarr shard (Blosc-zstd) and the item degrees.

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
    from daskfractal import expansion as E
    from daskfractal.kernels import expand as K
    from daskfractal.write import DEFAULT_CHUNK, DEFAULT_SHARD

    plan = ex._plan
    tasks = ex.tasks()
    i, t0, t1 = tasks[task_no]
    src = plan.src
    slots = t1 - t0
    row_src_all, _, _ = E._block_row_tables(plan, i)
    E._PERM_CACHE.clear()
    c = Clock()
    c(
        "permutation tables (block row, cold)",
        lambda: E._block_row_tables(plan, i),
        f"{plan.factors[1]} x ({plan.m:,} + {plan.n:,})",
    )
    args = E._kernel_args(plan, i, t0, t1)
    c(
        "kernel: compile/warm (tiny task)",
        lambda: K.expand_block_rows(*E._kernel_args(plan, i, t0, t0 + 1)),
    )
    visited = int(
        sum(np.diff(src.indptr)[row_src_all[j, t0:t1]].sum() for j in range(plan.factors[1]))
    )
    counts = c("kernel: count pass", lambda: K.count_rows(*args), f"{visited:,} source entries")
    kept = int(counts[0].sum() + counts[1].sum())
    res = c(
        "kernel: count + fill (expand_block_rows)",
        lambda: K.expand_block_rows(*args),
        f"{kept:,} kept",
    )
    ident = list(args)
    ident[4] = np.broadcast_to(np.arange(plan.n, dtype=np.int64), args[4].shape).copy()
    c(
        "kernel: count + fill, identity column perm",
        lambda: K.expand_block_rows(*ident),
        "rows already sorted: no sort work",
    )
    c("_prepare (validation, dtype copies)", lambda: K._prepare(*args, True))
    c("_prepare (no validation)", lambda: K._prepare(*args, False))
    out = c("generate() total (kernel + NumPy compaction)", lambda: E.generate(plan, i, t0, t1))
    alive = np.diff(res.train_indptr) > 0
    mask = np.repeat(alive, np.diff(res.train_indptr))
    c("  compaction: items[mask] -> int64 (train)", lambda: res.train_items[mask].astype(np.int64))
    part = tmp / "part"
    part.mkdir()

    def save() -> None:
        for k, v in out.items():
            if k.endswith("_items"):
                v = v.astype("int32")
            np.save(part / f"{k}.npy", v, allow_pickle=False)

    c(
        "np.save part (items as int32)",
        save,
        f"{sum(v.nbytes for v in out.values()) / 1e6:.0f} MB in memory",
    )
    items = out["train_items"].astype(np.int32)
    n = min(len(items), DEFAULT_SHARD)
    n = max(n - n % DEFAULT_CHUNK, min(n, DEFAULT_CHUNK))  # whole inner chunks
    mm = np.load(part / "train_items.npy", mmap_mode="r")
    c(
        "assemble: gather (mmap slice + concatenate)",
        lambda: np.concatenate([np.asarray(mm[:n])]),
        f"{n:,} entries",
    )
    import zarr
    from zarr.codecs import BloscCodec

    z = zarr.create_array(
        store=str(tmp / "z.zarr"),
        shape=(n,),
        chunks=(min(n, DEFAULT_CHUNK),),
        shards=(n,),
        dtype="int32",
        compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")],
    )

    def write() -> None:
        z[:] = items[:n]

    c("assemble: zarr shard write (blosc zstd 3)", write, f"{n * 4 / 1e6:.0f} MB raw")
    c("assemble: item degrees (bincount)", lambda: np.bincount(items[:n], minlength=ex.n_items))
    print(
        f"\none generate task {task_no} of {len(tasks)}: block row {i}, slots [{t0:,}, {t1:,}) "
        f"({slots:,} slots x {plan.factors[1]} blocks), {kept:,} kept interactions"
    )
    rows = []
    for name, dt, note in c.rows:
        rate = fmt_rate(kept / dt) if "kernel:" in name or "generate" in name else ""
        rows.append([name, f"{dt:.3f}", rate, note])
    print(table(["step", "s", "kept/s", "note"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", choices=list(INPUTS), default="s1m")
    ap.add_argument("--factors", type=int, nargs=2, default=(16, 32))
    ap.add_argument("--task", type=int, default=0, help="which generate task to replay")
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--cprofile", action="store_true", help="also profile a whole sync write")
    a = ap.parse_args()
    import daskfractal as dfr

    split = dfr.preprocess(dfr.load(ensure_input(a.input)))
    kw = {} if a.chunk_size is None else {"chunk_size": a.chunk_size}
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
