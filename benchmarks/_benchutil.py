"""Shared helpers of the benchmark scripts: child processes, memory sampling, tables.

Every configuration runs in a fresh ``python`` child so that memory and caches of one do not
contaminate the next. The child reports what it measured as JSON lines prefixed with
:data:`TAG` on its stdout; the parent samples the resident memory of the child's whole process
tree (the child and everything it started, e.g. LocalCluster workers) every ``interval``
seconds and keeps the maximum of the sum, attributed to the stage the child said it was in.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TAG = "@@bench "
MB = 1024 * 1024
REPO = Path(__file__).resolve().parents[1]
BENCH_DATA = REPO / "bench-data"


# --------------------------------------------------------------------------------------
# child side
# --------------------------------------------------------------------------------------


def emit(kind: str, **fields: Any) -> None:
    """Send one event to the parent (a JSON line on stdout)."""
    sys.stdout.write(TAG + json.dumps({"kind": kind, **fields}) + "\n")
    sys.stdout.flush()


def self_peak_mb() -> float:
    """Peak RSS of this process so far (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    """Wall clock per stage in the child; announces each stage to the parent."""

    def __init__(self) -> None:
        self.t_start = time.perf_counter()
        self.times: dict[str, float] = {}
        self.peaks: dict[str, float] = {}
        self._name: str | None = None
        self._t0 = 0.0

    def start(self, name: str) -> None:
        self.stop()
        self._name, self._t0 = name, time.perf_counter()
        emit("stage", name=name)

    def stop(self) -> None:
        if self._name is not None:
            dt = time.perf_counter() - self._t0
            self.times[self._name] = self.times.get(self._name, 0.0) + dt
            self.peaks[self._name] = self_peak_mb()
            emit("stage_done", name=self._name, wall=dt, self_peak_mb=self.peaks[self._name])
            self._name = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start


# --------------------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.interval = interval
        self.stage = "start"
        self.peak = 0.0
        self.peak_stage = "start"
        self.peak_detail: list[tuple[str, float]] = []
        self.stage_peaks: dict[str, float] = {}
        self.max_procs = 0
        self._cpu_last: dict[int, float] = {}
        self._busy0 = busy_cpu_seconds()
        self._t0 = time.perf_counter()
        self._halted = threading.Event()

    def sample(self) -> tuple[float, list[tuple[str, float]]]:
        """Summed RSS (MB) of the tree, and (role, MB) of each process."""
        ps = self._psutil
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except ps.Error:
            return 0.0, []
        total = 0
        detail = []
        for p in procs:
            try:
                rss = p.memory_info().rss
                c = p.cpu_times()
                self._cpu_last[p.pid] = c.user + c.system
                detail.append((self._role(p), rss / MB))
                total += rss
            except ps.Error:
                pass
        self.max_procs = max(self.max_procs, len(procs))
        return total / MB, detail

    def _role(self, p) -> str:
        if p.pid == self.root.pid:
            return "driver"
        cmd = " ".join(p.cmdline())
        if "resource_tracker" in cmd:
            return "resource tracker"
        if "spawn_main" in cmd or "forkserver" in cmd:
            return "worker"
        return p.name()

    def run(self) -> None:
        while not self._halted.is_set():
            mb, detail = self.sample()
            stage = self.stage
            self.stage_peaks[stage] = max(self.stage_peaks.get(stage, 0.0), mb)
            if mb > self.peak:
                self.peak, self.peak_stage, self.peak_detail = mb, stage, detail
            self._halted.wait(self.interval)

    def halt(self) -> None:
        self._halted.set()
        self.join()

    def other_load(self) -> float:
        """Mean number of cores used by processes outside the tree while it ran."""
        wall = time.perf_counter() - self._t0
        ours = sum(self._cpu_last.values())
        return max(0.0, (busy_cpu_seconds() - self._busy0 - ours) / wall) if wall else 0.0


def busy_cpu_seconds() -> float:
    """CPU seconds spent busy by the whole machine since boot (all processes)."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def wait_until_idle(
    max_wait: float, threshold: float = 0.3, window: float = 5.0, quiet: bool = False
) -> float:
    """Wait (up to ``max_wait`` s) until other processes use < ``threshold`` cores.

    Returns the load of the last window (cores). Other people's work on a shared 2-core
    machine would otherwise be measured as ours.
    """
    t_end = time.monotonic() + max_wait
    said = False
    while True:
        b0 = busy_cpu_seconds()
        time.sleep(window)
        load = (busy_cpu_seconds() - b0) / window
        if load < threshold or time.monotonic() >= t_end:
            return load
        if not said and not quiet:
            print(f"  machine busy ({load:.1f} cores used by others): waiting ...", flush=True)
            said = True


def kill_tree(pid: int) -> None:
    """Kill a child we started and all of its descendants (by pid)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


def run_child(
    argv: list[str], *, timeout: float | None = None, log: Path | None = None, echo: bool = False
) -> dict:
    """Run ``python argv...`` in a fresh process; collect its events and its tree's peak RSS.

    Returns
    -------
    dict
        ``events`` (list), ``result`` (the last ``result`` event or None), ``returncode``,
        ``wall`` (parent-side wall of the whole child, interpreter start to exit),
        ``tree_peak_mb``, ``tree_peak_stage``, ``stage_tree_peak_mb``, ``timed_out``,
        ``max_procs``.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    err = open(log, "w") if log else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=err, text=True, env=env
    )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    events: list[dict] = []
    timed_out = False

    timer = None
    if timeout is not None:

        def on_timeout() -> None:
            nonlocal timed_out
            if proc.poll() is None:
                timed_out = True
                kill_tree(proc.pid)

        timer = threading.Timer(timeout, on_timeout)
        timer.daemon = True
        timer.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        if not line.startswith(TAG):
            if echo:
                sys.stdout.write(line)
            continue
        ev = json.loads(line[len(TAG) :])
        ev["t"] = time.perf_counter() - t0
        events.append(ev)
        if ev["kind"] == "stage":
            sampler.stage = ev["name"]
        if echo and ev["kind"] in ("stage_done", "note"):
            took = f" ({ev['wall']:.1f} s)" if "wall" in ev else ""
            print(f"    [{ev['t']:7.1f} s] {ev.get('name', '')}{took}", flush=True)
    proc.wait()
    wall = time.perf_counter() - t0
    if timer is not None:
        timer.cancel()
    sampler.halt()
    if err is not subprocess.DEVNULL:
        err.close()
    results = [e for e in events if e["kind"] == "result"]
    return {
        "events": events,
        "result": results[-1] if results else None,
        "returncode": proc.returncode,
        "wall": wall,
        "tree_peak_mb": sampler.peak,
        "tree_peak_stage": sampler.peak_stage,
        "tree_peak_detail": sampler.peak_detail,
        "stage_tree_peak_mb": sampler.stage_peaks,
        "timed_out": timed_out,
        "max_procs": sampler.max_procs,
        "other_load": sampler.other_load(),
    }


def expanded_store(
    name: str, src: Path, factors: tuple[int, int], out_dir: Path, surrogate: Path
) -> Path | None:
    """``out_dir/name.zarr``: ``src`` expanded by ``factors`` with ``daskfractal expand
    --carry none`` (item ids only: smaller, faster stores), written when missing and not timed;
    the ML-20M surrogate ``surrogate`` is generated first when ``src`` is it. None (with a
    line) when ``src`` is absent."""
    path = out_dir / f"{name}.zarr"
    if (path / "_SUCCESS").exists():
        return path
    if src == surrogate and not surrogate.exists():
        from surrogate import write_ratings_csv

        print(f"  generating the ML-20M surrogate {surrogate} ...", flush=True)
        write_ratings_csv(surrogate)
    if not src.exists():
        print(f"  {name}: {src} is absent, skipped")
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"  {name}: writing {path} with daskfractal expand ... ", end="", flush=True)
    t0 = time.perf_counter()
    mp, npr = factors
    cmd = [sys.executable, "-m", "daskfractal.cli", "expand", str(src), "--factors", str(mp),
           str(npr), "--out", str(path), "--carry", "none", "--overwrite", "--quiet"]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    print(f"{time.perf_counter() - t0:.0f} s, {fmt_bytes(dir_bytes(path))}", flush=True)
    return path


# --------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------


def dir_bytes(path: Path) -> int:
    """Total size of the files below ``path`` (or of the file ``path``)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def machine() -> str:
    """One line describing the machine, the date and the library versions."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:  # pragma: no cover
        mem = "?"
    ver = package_provenance()
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"{now}; {cpu}, {os.cpu_count()} cores, {mem}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, daskfractal {ver}"
    )


def package_provenance() -> str:
    """Version, location and git commit of the daskfractal that the children import.

    The package is often installed in editable mode from a working tree that other people
    change; to measure a fixed commit, export it and put it first on ``PYTHONPATH``
    (``git archive HEAD daskfractal | tar -x -C DIR; PYTHONPATH=DIR python ...``).
    """
    out = subprocess.run(
        [sys.executable, "-c", "import daskfractal as d; print(d.__version__, d.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",  # import what a child sees, not a package in the current directory
    )
    if out.returncode:
        return "? (import failed)"
    ver, file = out.stdout.split()
    pkg = Path(file).parent
    git = ["git", "-C", str(pkg.parent)]
    sha = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if sha.returncode or pkg.parent != REPO:
        return f"{ver} from {pkg}"
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no", "--", "daskfractal"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{ver} @ {sha.stdout.strip()}{' + uncommitted changes' if dirty else ''} ({pkg})"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(headers))]

    def line(r: list[str]) -> str:
        out = []
        for k, c in enumerate(r):
            left = k == 0
            out.append(c.ljust(widths[k]) if left else c.rjust(widths[k]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "—"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f} {unit}/s"
    return f"{x:.0f} /s"


def fmt_bytes(x: float | None) -> str:
    if x is None:
        return "—"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f} {unit}"
    return f"{x:.0f} B"
