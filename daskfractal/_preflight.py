"""Checks made before any work starts: will the output fit on the disk, will a task fit in memory.

Every command that writes or allocates in proportion to a user-given size calls these with its
own estimate, so a job that cannot fit is refused with the numbers instead of being started and
killed half-way. ``force=True`` (``--force`` on the command line) skips a refusal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

from .errors import ResourceError
from .store import is_remote

__all__ = [
    "MAX_TASKS",
    "MIN_WORKER_MEMORY",
    "available_memory",
    "check_disk",
    "check_memory",
    "check_tasks",
    "disk_usage",
    "format_bytes",
    "free_disk",
    "interaction_bytes",
    "materialized_bytes",
    "store_bytes",
    "task_bytes",
]

#: Fraction of the free disk an output may take: file systems slow down and other programs
#: fail when a disk is filled to the last byte.
DISK_HEADROOM = 0.95


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human string.

    Examples
    --------
    >>> format_bytes(1536), format_bytes(3.2e9), format_bytes(12)
    ('1.5 KiB', '3.0 GiB', '12 B')
    """
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def parse_bytes(text: str | int | float, name: str = "memory limit") -> int:
    """``"2GB"``, ``"512 MiB"``, ``2e9`` as a number of bytes, else :class:`ParameterError`.

    Examples
    --------
    >>> parse_bytes("2GB"), parse_bytes("1 KiB"), parse_bytes(100)
    (2000000000, 1024, 100)
    """
    from dask.utils import parse_bytes as _dask_parse

    from .errors import ParameterError

    try:
        value = _dask_parse(text) if isinstance(text, str) else int(text)
    except (ValueError, TypeError, KeyError):
        raise ParameterError(
            f"{name} {text!r} is not a size (examples: 2GB, 512MiB, 1e9)"
        ) from None
    if value <= 0:
        raise ParameterError(f"{name} must be a positive size, got {text!r}")
    return int(value)


#: Smallest memory limit of a local worker: Python, NumPy, Numba and distributed take about
#: 300 MB before any task; below ~1.25x that, a worker pauses at once and the run waits forever.
MIN_WORKER_MEMORY = 512 * 2**20


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_disk(path: str | os.PathLike[str]) -> int:
    """Free bytes on the file system that holds ``path`` (or would hold it, once created)."""
    return int(shutil.disk_usage(_existing_ancestor(Path(path))).free)


#: Where Linux states a memory limit for this process's cgroup (v1 hard and soft, v2 max,
#: high and low): the files ``distributed.system.memory_limit`` reads.
_CGROUP_LIMITS = (
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory.high",
    "/sys/fs/cgroup/memory.low",
)


def memory_limit() -> int:
    """The machine's memory limit: total memory, lowered by a cgroup limit or ``RLIMIT_RSS``.

    The rule of ``distributed.system.memory_limit`` (a worker's default limit), without
    importing ``distributed``, which costs half a second that a small job on the threaded
    scheduler need not pay.
    """
    import psutil

    limit = int(psutil.virtual_memory().total)
    if sys.platform == "linux":
        for path in _CGROUP_LIMITS:
            try:
                with open(path) as f:
                    value = int(f.read())
            except (OSError, ValueError):  # absent, or "max"
                continue
            if value > 0:
                limit = min(limit, value)
    if sys.platform != "win32":
        import resource

        with contextlib.suppress(OSError, ValueError):
            hard = resource.getrlimit(resource.RLIMIT_RSS)[1]
            if 0 < hard < limit:
                limit = hard
    return limit


def available_memory() -> int:
    """Memory this process may use: the smaller of the machine's available memory and the
    cgroup / container limit (:func:`memory_limit`, what ``distributed`` reports)."""
    import psutil

    return int(min(psutil.virtual_memory().available, memory_limit()))


def check_disk(
    path: str | os.PathLike[str],
    need: float,
    *,
    what: str,
    force: bool = False,
    already: float = 0,
) -> None:
    """Refuse when ``need`` bytes (less ``already`` written by an earlier run) exceed the free disk.

    Parameters
    ----------
    path : path-like
        Where the output goes (need not exist yet).
    need : float
        Estimated bytes of the whole output.
    what : str
        What is being written, for the message (``"the expansion"``).
    force : bool
        Skip the refusal (the caller knows better, e.g. a compressing file system).
    already : float
        Bytes of this output already on the disk (a resumed run needs only the rest).

    Raises
    ------
    ResourceError
        With the estimate, the free space and the way out.
    """
    if force or is_remote(path):  # an object store has no free-space figure to check
        return
    free = free_disk(path)
    rest = max(float(need) - float(already), 0.0)
    if rest > DISK_HEADROOM * free:
        raise ResourceError(
            f"{what} needs about {format_bytes(rest)} on disk but only {format_bytes(free)} "
            f"is free at {_existing_ancestor(Path(path))}: choose smaller sizes or another "
            f"location (--force to start anyway)"
        )


def disk_usage(*paths: object) -> int:
    """Bytes of the files under ``paths`` (missing paths count 0): what a resumed or
    overwritten run may reuse or free."""
    total = 0
    for top in paths:
        if is_remote(top):  # not checked against a free-space figure (see check_disk)
            continue
        assert isinstance(top, str | Path)
        for root, _dirs, files in os.walk(top):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:  # removed meanwhile
                    pass
    return total


#: Uncompressed bytes of one stored value per carried column.
CARRY_BYTES = {"ratings": 4, "timestamps": 8}
#: Most tasks (shards, files or count ranges) one run may have: past this the scheduler's
#: per-task overhead dominates (``--shard-size 1`` on 420k interactions ran for minutes).
MAX_TASKS = 100_000


def interaction_bytes(*, n_items: int, carry: tuple[str, ...], format: str) -> int:
    """Uncompressed bytes one stored interaction takes.

    Zarr: the item id (int32, int64 from 2**31 items) and each carried value (rating
    float32, timestamp int64); Parquet adds the int64 ``user_id`` column. The estimate of the
    disk is this *uncompressed* size: the stores are compressed (zstd), but how much depends
    on the data (measured: 0.34 of this on ml-latest-small x (2, 4) with ratings and
    timestamps; 0.27 Zarr and 0.19 Parquet on ML-100K x (4, 8); 0.33 on ml-latest-small x
    (40, 80), whose 778k items make the item ids less compressible), so the uncompressed
    size is the bound that does not depend on luck. The exports are not compressed:
    ``mlperf`` takes 16 bytes (two int64), ``meta-csv`` the item id's text and a rating's.
    """
    if format == "mlperf":  # (user, item) int64 rows; carried values are not written
        return 16
    if format == "meta-csv":  # the item id's digits and a comma, a rating "4.5,"
        return len(str(max(n_items - 1, 0))) + 1 + 4
    size = (4 if n_items < 2**31 else 8) + sum(CARRY_BYTES[c] for c in carry)
    return size + (8 if format == "parquet" else 0)


def store_bytes(
    *,
    train: float,
    test: float,
    n_slots: int,
    n_items: int,
    carry: tuple[str, ...],
    format: str,
) -> float:
    """Estimated bytes on disk of a whole expansion store, with its work folder.

    Parameters
    ----------
    train, test : float
        Expected interactions (:meth:`daskfractal.Expansion.expected`).
    n_slots : int
        Users before dropping the empty ones (m'·m): the row pointers, slots, degrees and
        the per-slot counts of the work folder are sized by it.
    n_items : int
        Items of the output (item degree statistics).
    carry : tuple of str
        Carried values.
    format : {"zarr", "parquet"}

    Returns
    -------
    float
        Bytes: interactions x :func:`interaction_bytes` (the test entries twice: a part in
        the work folder, then the store), 48 bytes per user slot (indptr x 2, slot, degrees
        x 2, counts x 2), 16 per item, plus 1 MiB of metadata.
    """
    per = interaction_bytes(n_items=n_items, carry=carry, format=format)
    return per * (float(train) + 2.0 * float(test)) + 48.0 * n_slots + 16.0 * n_items + 2**20


def task_bytes(*, entries: float, carry: tuple[str, ...]) -> float:
    """Estimated peak memory of one task that generates ``entries`` interactions.

    A task holds the candidates as int64 item ids plus sort keys, then the narrowed output
    and the carried values: 3 x (16 + carried bytes) per entry bounds the arrays alive at
    the same time, plus 64 MiB for the interpreter's own share. Measured (ml-latest-small x
    (16, 32), ratings and timestamps, ``--local sync``): peak RSS 399 MB with 2**20-entry
    shards and 500 MB with 2**22, i.e. ~34 bytes per entry against the 84 estimated.
    """
    return 3.0 * float(entries) * (16 + sum(CARRY_BYTES[c] for c in carry)) + 64 * 2**20


def materialized_bytes(*, train: float, test: float, n_slots: int, carry: tuple[str, ...]) -> float:
    """Estimated peak memory of an inner level held in memory (``--inner-factors``).

    Each interaction is an int32 item id and a float32 value in CSR, and its carried values;
    the computed parts are all gathered before they are moved into the final arrays, so the
    peak is at most about twice the result, plus the row pointers (int64) of every user slot.
    Measured (ml-latest-small x (16, 32), 11.4M interactions with ratings and timestamps):
    peak RSS growth 229 MB against 457 MB estimated.
    """
    per = 4 + 4 + sum(CARRY_BYTES[c] for c in carry)
    return 2.0 * per * (float(train) + float(test)) + 3 * 8.0 * n_slots


def check_tasks(
    n_tasks: int, *, what: str, option: str, minimum: int | None = None, force: bool = False
) -> None:
    """Refuse a run of more than :data:`MAX_TASKS` tasks.

    ``option`` names what to raise, ``minimum`` the smallest value that keeps the run under
    the cap (when known).
    """
    if force or n_tasks <= MAX_TASKS:
        return
    least = f" to at least {minimum:,}" if minimum else ""
    raise ResourceError(
        f"{what} would make {n_tasks:,} tasks (more than {MAX_TASKS:,}: the scheduler's "
        f"overhead would dominate the run): raise {option}{least} (--force to start anyway)"
    )


def check_memory(need: float, limit: float | None, *, what: str, force: bool = False) -> None:
    """Refuse when ``need`` bytes exceed ``limit`` (default: :func:`available_memory`).

    Raises
    ------
    ResourceError
        With the estimate, the limit and the way out.
    """
    if force:
        return
    limit = available_memory() if limit is None else limit
    if need > limit:
        raise ResourceError(
            f"{what} needs about {format_bytes(need)} of memory but the limit is "
            f"{format_bytes(limit)}: choose smaller sizes or raise --memory-limit "
            f"(--force to start anyway)"
        )
