"""Negative-sampling throughput: daskfractal's alias sampler vs ``Generator.choice``.

One command::

    python benchmarks/bench_negatives.py              # Gowalla expanded 4 x 4, 2 threads
    python benchmarks/bench_negatives.py --factors 8 8 --threads 2 --reps 5

Input: the Gowalla data set (``/work/shared/data/gowalla``, given split) expanded by
``--factors`` into ``bench-data/gowalla-<m>x<n>.zarr`` (built once, seed 0).

Rows of the table (best of ``--reps`` runs, a different epoch each run; "epoch" is the time
for all the negatives of one epoch, ``num_negatives`` per train positive of every user):

* ``ours, exclude=train``: each user's positives excluded, through
  :meth:`NegativeSampler.epoch_negatives` over user chunks of about ``--chunk`` positives on
  ``--threads`` threads (the kernels release the GIL) and on 1 thread; the train rows are
  either read from the Zarr store chunk by chunk (memory O(n_users + n_items + chunk),
  decompression included) or held in memory as a CSR matrix;
* ``ours, exclude=none``: plain draws from the target;
* ``ours, epoch() shuffled stream``: the whole shuffled epoch (positives + negatives in
  65,536-row batches, windows computed by ``prefetch`` background threads), still counted in
  negatives per second;
* ``numpy Generator.choice(n_items, size, p=p)``: the same target ``p`` (uniform as a ``p``
  vector, or popularity ** 0.75), one thread, no exclusion, timed on ``--choice-size`` draws
  (its "epoch" is extrapolated).

The ratio column divides by the ``Generator.choice`` rate of the same distribution. Memory:
the alias table (16 B/item), the weights (8 B/item), an exclusion bitmap (1 bit/item per
thread), the train row pointer (8 B/user) and the chunk's rows and negatives; the peak RSS of
the process is printed too. The machine is shared: the load average is printed before and
after; rerun if the numbers look noisy.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BENCH_DATA = REPO / "bench-data"
GOWALLA = REPO.parent / "shared" / "data" / "gowalla"

sys.path.insert(0, str(REPO))

import daskfractal as dfr  # noqa: E402
from daskfractal.negatives import NegativeSampler  # noqa: E402


def ensure_store(factors: tuple[int, int]) -> Path:
    """The expansion of Gowalla by ``factors`` (built once into bench-data/)."""
    out = BENCH_DATA / f"gowalla-{factors[0]}x{factors[1]}.zarr"
    if dfr.store_status(out) != "complete":
        if not GOWALLA.exists():
            sys.exit(f"{GOWALLA} is absent: cannot build the benchmark input")
        print(f"building {out.relative_to(REPO)} ...", flush=True)
        t = time.perf_counter()
        ex = dfr.expand(str(GOWALLA), factors, seed=0)
        ex.to_zarr(out, overwrite=True, scheduler="threads", progress=False)
        print(f"... {time.perf_counter() - t:.0f} s", flush=True)
    return out


def user_chunks(indptr: np.ndarray, chunk: int) -> list[tuple[int, int]]:
    """User ranges of about ``chunk`` train positives each."""
    n_users = indptr.shape[0] - 1
    cuts = np.searchsorted(indptr, np.arange(chunk, int(indptr[-1]), chunk), side="left")
    bounds = np.unique(np.concatenate([[0], cuts, [n_users]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def time_negatives(sampler: NegativeSampler, chunks, threads: int, epoch: int) -> float:
    """Wall seconds to draw every negative of ``epoch`` over ``chunks`` on ``threads``."""
    t = time.perf_counter()
    if threads == 1:
        total = sum(sampler.epoch_negatives(a, b, epoch)[1].size for a, b in chunks)
    else:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            total = sum(
                r[1].size for r in pool.map(lambda ab: sampler.epoch_negatives(*ab, epoch), chunks)
            )
    dt = time.perf_counter() - t
    assert total == sampler.n_examples // (sampler.num_negatives + 1) * sampler.num_negatives
    return dt


def time_stream(sampler: NegativeSampler, threads: int, epoch: int) -> float:
    t = time.perf_counter()
    rows = sum(b[0].shape[0] for b in sampler.epoch(epoch, 65536, prefetch=threads))
    dt = time.perf_counter() - t
    assert rows == sampler.n_examples
    return dt


def best(fn, reps: int) -> float:
    return min(fn(r) for r in range(reps))


def fmt_rate(x: float) -> str:
    return f"{x / 1e6:,.1f} M/s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", type=int, nargs=2, default=(4, 4), metavar=("M", "N"))
    ap.add_argument("--num-negatives", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=2**20, help="train positives per task")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--choice-size", type=int, default=4_000_000)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = ap.parse_args()

    load0 = os.getloadavg()
    path = ensure_store(tuple(a.factors))
    store = dfr.open(path)
    c = store.counts()
    k = a.num_negatives
    n_neg = c["nnz_train"] * k
    input_desc = (
        f"Gowalla expanded {a.factors[0]}x{a.factors[1]} ({path.relative_to(REPO)}): "
        f"{c['n_users']:,} users x {c['n_items']:,} items, {c['nnz_train']:,} train "
        f"(mean {c['nnz_train'] / c['n_users']:.1f}/user, max "
        f"{int(np.diff(store.indptr('train')).max()):,}); {k} negatives per positive = "
        f"{n_neg:,} negatives per epoch"
    )
    print(input_desc)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"load average before {load0[0]:.2f}",
        flush=True,
    )

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    th = a.threads
    chunks = user_chunks(store.indptr("train"), a.chunk)
    labels = {"uniform": "uniform", "popularity": "popularity^0.75"}

    def make(src, dist, exc):
        smp = NegativeSampler(src, k, distribution=dist, alpha=0.75, exclude=exc, seed=1)
        smp.epoch_negatives(0, min(10, smp.n_users), 0)  # compile / load the kernels
        return smp

    def measure(name, smp, threads, dist):
        if threads > 0:
            dt = best(lambda r: time_negatives(smp, chunks, threads, r), a.reps)
        else:
            dt = best(lambda r: time_stream(smp, -threads, r), 2)
        return {"distribution": labels[dist], "method": name, "seconds": dt, "rate": n_neg / dt}

    # phase 1: everything that reads the store chunk by chunk (memory O(n_items + chunk))
    for dist in labels:
        make(store, dist, "train")
    rss_start = peak_mib()
    rows: dict[str, list[dict]] = {dist: [] for dist in labels}
    for dist in labels:
        s_store, s_none = make(store, dist, "train"), make(store, dist, "none")
        rows[dist] += [
            measure(
                f"ours, exclude=train, rows read from the Zarr store, {th} threads",
                s_store,
                th,
                dist,
            ),
            measure(
                "ours, exclude=train, rows read from the Zarr store, 1 thread", s_store, 1, dist
            ),
            measure(f"ours, exclude=none, {th} threads", s_none, th, dist),
            measure(
                f"ours, epoch() shuffled stream, exclude=train, Zarr, prefetch={th}",
                s_store,
                -th,
                dist,
            ),
        ]
    rss_store = peak_mib()
    # phase 2: train rows held in memory, and numpy
    in_memory = (store.to_scipy("train"), store.to_scipy("test"))
    rng = np.random.default_rng(0)
    results = []
    for dist in labels:
        s_mem = make(in_memory, dist, "train")
        rows[dist][2:2] = [
            measure(f"ours, exclude=train, rows in memory (CSR), {th} threads", s_mem, th, dist),
            measure("ours, exclude=train, rows in memory (CSR), 1 thread", s_mem, 1, dist),
        ]
        p = s_mem.probabilities()
        size = a.choice_size
        rng.choice(len(p), size=1000, p=p)
        t_choice = best(
            lambda r, p=p, size=size: _timed(lambda: rng.choice(len(p), size=size, p=p)), 2
        )
        choice_rate = size / t_choice
        rows[dist].append(
            {
                "distribution": labels[dist],
                "method": "numpy Generator.choice(n_items, size, p=p), 1 thread, no exclusion",
                "seconds": t_choice * n_neg / size,
                "rate": choice_rate,
            }
        )
        for r in rows[dist]:
            r["ratio"] = r["rate"] / choice_rate
        results += rows[dist]

    load1 = os.getloadavg()
    rss = peak_mib()
    n_items = c["n_items"]
    print()
    print(f"Input: {input_desc}")
    print()
    w1 = max(len(r["method"]) for r in results)
    head = (
        f"| {'distribution':<15} | {'method':<{w1}} | {'epoch':>8} | {'negatives/s':>12} "
        "| vs choice |"
    )
    print(head)
    print("|" + "|".join("-" * (len(x)) for x in head.split("|")[1:-1]) + "|")
    for r in results:
        print(
            f"| {r['distribution']:<15} | {r['method']:<{w1}} | {r['seconds']:>7.3f}s | "
            f"{fmt_rate(r['rate']):>12} | {r['ratio']:>8.1f}x |"
        )
    print()
    print(
        f"Memory: alias table 16 B x {n_items:,} items = {16 * n_items / 2**20:.1f} MiB, "
        f"weights {8 * n_items / 2**20:.1f} MiB, exclusion bitmap {n_items / 8 / 2**10:.0f} KiB "
        f"per thread, chunks of ~{a.chunk:,} positives. Peak RSS of the process: "
        f"{rss_start:,.0f} MiB after imports and kernel loading, {rss_store:,.0f} MiB after "
        f"the store-backed runs ({th} chunks in flight), {rss:,.0f} MiB at the end (in-memory "
        f"CSR and Generator.choice included)."
    )
    print(f"Load average before {load0[0]:.2f}, after {load1[0]:.2f} (2 cores shared).")
    if a.json:
        Path(a.json).write_text(
            json.dumps(
                {
                    "input": input_desc,
                    "results": results,
                    "peak_rss_mib": [rss_start, rss_store, rss],
                },
                indent=2,
            )
        )


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
