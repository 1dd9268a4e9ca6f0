"""What a permutation costs: computed per element, or a table per block (issue 13).

::

    python benchmarks/bench_permute.py [--users 138493] [--items 26744] [--blocks 32]

On the ML-20M shape (138,493 users × 26,744 items) and one block row of ``--blocks``
blocks, nanoseconds per element (the fastest of ``--repeat`` runs, kernels warmed):

* the source rows of every slot by the inverse bijection (what a task computes for its own
  slots: ``kernels.permute.source_rows_kernel``), block and stratified (window 64);
* an item permutation per emitted entry (``feistel_at`` at random items, one at a time, as
  an emit kernel would have to) against a table per block (``fill_block_kernel``) and a
  lookup in it;
* the Fisher-Yates tables of store formats 1 and 2, for comparison.

The per-entry cost is paid for every emitted entry (1.57 billion for ML-20M at 16 × 32),
the table once per block and process: the expansion uses tables for items.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from _benchutil import machine, table

from daskfractal.kernels import permute as P
from daskfractal.kernels._jit import ngjit
from daskfractal.kernels.rng import STREAM_COL_PERM, STREAM_ROW_PERM, as_seed


@ngjit
def _per_entry(items, keys, n):  # pragma: no cover - timed, not tested
    s = 0
    for c in items:
        s += P.feistel_at(c, keys, n, 0)
    return s


@ngjit
def _lookup(items, tab):  # pragma: no cover - timed, not tested
    s = 0
    for c in items:
        s += tab[c]
    return s


def _best(fn: Callable[[], object], repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=138_493)
    ap.add_argument("--items", type=int, default=26_744)
    ap.add_argument("--blocks", type=int, default=32)
    ap.add_argument("--entries", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    m, n, nb = args.users, args.items, args.blocks
    print(machine())
    g = np.random.default_rng(0)
    degree = g.zipf(1.6, m)
    order = np.argsort(degree, kind="stable").astype(np.int64)
    rank = np.empty(m, np.int64)
    rank[order] = np.arange(m)
    slots = np.arange(m, dtype=np.int64)
    blocks = np.arange(nb, dtype=np.int64)
    out = np.empty((nb, m), np.int64)
    seed = as_seed(0)
    rows: list[list[object]] = []

    def add(what: str, secs: float, count: int) -> None:
        rows.append([what, f"{secs / count * 1e9:.1f}", f"{count:,}", f"{secs:.3f}"])

    empty = np.empty(0, np.int64)
    add(
        "source rows, block (inverse, batched)",
        _best(lambda: P.source_rows_kernel(
            slots, empty, empty, 1, m, seed, STREAM_ROW_PERM, 0, blocks, out), args.repeat),
        m * nb,
    )  # fmt: skip
    add(
        "source rows, stratified w=64",
        _best(lambda: P.source_rows_kernel(
            slots, order, rank, 64, m, seed, STREAM_ROW_PERM, 0, blocks, out), args.repeat),
        m * nb,
    )  # fmt: skip
    items = g.integers(0, n, args.entries).astype(np.int64)
    keys = P.feistel_keys(seed, STREAM_COL_PERM, 0, 0)
    add("item per emitted entry (feistel_at)", _best(lambda: _per_entry(items, keys, n), 1),
        args.entries)  # fmt: skip
    tab = np.empty(n, np.int32)
    add(
        "item table per block (fill_block_kernel)",
        _best(lambda: [P.fill_block_kernel(tab, empty, 1, seed, STREAM_COL_PERM, 0, j)
                       for j in range(nb)], args.repeat),
        n * nb,
    )  # fmt: skip
    add("item table lookup per entry", _best(lambda: _lookup(items, tab), args.repeat),
        args.entries)  # fmt: skip
    active = np.ones(nb, np.bool_)
    fy = np.empty((nb, m), np.int32)
    add(
        "Fisher-Yates row tables (format 2)",
        _best(lambda: P.legacy_fill_table_kernel(fy, empty, 1, seed, STREAM_ROW_PERM, 0, active),
              args.repeat),
        m * nb,
    )  # fmt: skip
    print(table(["what", "ns / element", "elements", "seconds"], rows))


if __name__ == "__main__":
    main()
