"""Fixed cost of a small run: the README's main job, end to end, in fresh processes.

One command::

    python benchmarks/bench_startup.py [--repeat 5] [--factors 4 8]

runs ``daskfractal expand default --factors 4 8 --out DIR --overwrite --quiet`` (the README's
first command after the install) ``--repeat`` times each way, interleaved, and prints the
median wall clock and CPU time of each way, with the ratio to the baseline:

* ``--local cluster`` (baseline, the default before 0.2.1): a ``LocalCluster`` with one
  in-process worker;
* ``--local auto`` (the default): small jobs run on Dask's threaded scheduler, without
  importing ``distributed`` or starting a cluster;
* ``daskfractal --help`` and ``daskfractal info default``: commands that run no expansion
  (the parser loads no engine; a command imports what it runs);
* ``import daskfractal`` alone (public names load their sub-package on first use).

The Numba cache is warmed by one unmeasured run first. On a shared machine the numbers carry
the other processes' load: the script waits (up to ``--wait`` s) for the machine to go idle
before each measurement and prints the load it saw.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchutil import machine, table, wait_until_idle


def run_once(argv: list[str]) -> tuple[float, float]:
    """Wall clock and CPU seconds (user + system, its children included) of ``argv``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if done.returncode:
        tail = done.stderr.decode()[-500:]
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {tail}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each way (default 5)")
    ap.add_argument("--factors", type=int, nargs=2, default=(4, 8), metavar=("M", "N"))
    ap.add_argument("--wait", type=float, default=60.0, help="max seconds to wait for idle")
    args = ap.parse_args()

    exe = [sys.executable, "-c", "from daskfractal.cli import main; raise SystemExit(main())"]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.zarr")
        job = [*exe, "expand", "default", "--factors", *map(str, args.factors)]
        job += ["--out", out, "--overwrite", "--quiet"]
        ways = {
            "--local cluster (baseline)": [*job, "--local", "cluster"],
            "--local auto (default)": job,
            "daskfractal --help": [*exe, "--help"],
            "daskfractal info default": [*exe, "info", "default"],
            "import daskfractal": [sys.executable, "-c", "import daskfractal"],
        }
        run_once(job)  # warm the Numba cache and the page cache
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
        loads = []
        for _ in range(args.repeat):
            for name, argv in ways.items():
                loads.append(wait_until_idle(args.wait, quiet=True))
                results[name].append(run_once(argv))
    base = statistics.median(w for w, _ in results["--local cluster (baseline)"])
    rows = []
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        rows.append([name, f"{wall:.2f} s", f"{cpu:.2f} s", f"{wall / base:.2f}"])
    print(machine())
    print(
        f"README main job: expand default --factors {args.factors[0]} {args.factors[1]}, "
        f"median of {args.repeat} fresh processes, interleaved; other load while measuring: "
        f"{statistics.median(loads):.1f} cores (median)"
    )
    print(table(["way", "wall", "CPU", "wall / baseline"], rows))


if __name__ == "__main__":
    main()
