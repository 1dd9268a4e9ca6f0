"""Checks made before any work starts: will the output fit on the disk, will a task fit in memory.

Every command that writes or allocates in proportion to a user-given size calls these with its
own estimate, so a job that cannot fit is refused with the numbers instead of being started and
killed half-way. ``force=True`` (``--force`` on the command line) skips a refusal.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import ResourceError

__all__ = [
    "available_memory",
    "check_disk",
    "check_memory",
    "format_bytes",
    "free_disk",
    "parse_bytes",
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


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_disk(path: str | os.PathLike[str]) -> int:
    """Free bytes on the file system that holds ``path`` (or would hold it, once created)."""
    return int(shutil.disk_usage(_existing_ancestor(Path(path))).free)


def available_memory() -> int:
    """Memory this process may use: the smaller of the machine's available memory and the
    cgroup / container limit (what ``distributed`` reports as its memory limit)."""
    import psutil
    from distributed.system import MEMORY_LIMIT

    return int(min(psutil.virtual_memory().available, MEMORY_LIMIT))


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
    if force:
        return
    free = free_disk(path)
    rest = max(float(need) - float(already), 0.0)
    if rest > DISK_HEADROOM * free:
        raise ResourceError(
            f"{what} needs about {format_bytes(rest)} on disk but only {format_bytes(free)} "
            f"is free at {_existing_ancestor(Path(path))}: choose smaller sizes or another "
            f"location (--force to start anyway)"
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
