"""Which folders daskfractal may delete, and who may write an output: the marker and the lock.

*Marker.* Every folder daskfractal creates for an output (the store ``<out>`` and its work
folder ``<out>.work``) receives the file :data:`MARKER` before anything else. It holds a
random store id; the work folder's marker carries the id of its store. A folder is deleted
(or emptied) only when its marker is present, names the expected role and id, and no
symlink is involved; anything else is refused with a message saying it was not created by
daskfractal. Stores of earlier versions have no marker: they stay readable, never deleted.

*Lock.* A run that writes ``<out>`` holds the file ``<out>.lock``, created atomically
(``O_CREAT | O_EXCL``) and kept ``flock``-ed for the whole run, so the OS releases it when
the process dies. A second writer is refused with the holder's host, pid and start time; a
lock whose holder is gone (same host, ``flock`` free) is taken over with a warning; a lock
from another host is refused with how to remove it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..errors import DaskFractalError, OutputError, StoreError
from ._fs import (
    RemotePath,
    StorePath,
    atomic_write_bytes,
    is_remote,
    listdir,
    remote_errors,
    remove_tree,
    store_path,
)
from ._fs import tree_size as _tree_size

try:  # POSIX; elsewhere the lock falls back to the pid check alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("daskfractal")

#: File written first into every folder daskfractal creates for an output.
MARKER = ".daskfractal-owner"
#: Suffix of the lock file next to an output (``<out>.lock``).
LOCK_SUFFIX = ".lock"
#: Key identifying our JSON documents (marker and lock) among look-alike user files.
_KIND = "daskfractal"

Role = Literal["store", "work"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def output_path(path: str | os.PathLike[str] | RemotePath) -> StorePath:
    """``path`` normalized so that it has a last component (``.``, ``..``, ``a/..``).

    Symlinks are not resolved: a symlink given as output is refused, not followed. An
    object-store URL becomes a :class:`~daskfractal.store.RemotePath`.

    Raises
    ------
    StoreError
        If the path is the file-system root or a bare bucket (no sibling work folder or lock
        can exist).
    ParameterError
        If the URL is malformed or its protocol unknown.
    """
    if is_remote(path):
        remote = store_path(path)
        if isinstance(remote, RemotePath) and "/" not in remote.key:
            raise StoreError(
                f"cannot use {remote} as an output: give a prefix inside the bucket "
                f"({remote}/NAME), its work prefix and lock lie next to it"
            )
        return remote
    local = store_path(path)
    assert isinstance(local, Path)
    p = Path(os.path.normpath(local))
    if p.name in ("", ".", ".."):
        p = Path(os.path.abspath(p))
    if not p.name:
        raise StoreError(f"cannot use {p} as an output: give a folder below the file-system root")
    return p


def refuse_symlinks(*paths: StorePath) -> None:
    """Refuse outputs that are symlinks: nothing is written or deleted through one.

    Raises
    ------
    StoreError
        Naming the first symlink and where it points.
    """
    for p in paths:
        if isinstance(p, Path) and p.is_symlink():
            raise StoreError(
                f"{p} is a symbolic link (to {os.readlink(p)}): daskfractal does not write "
                "through or delete a symlink; give the real folder as the output"
            )


# ------------------------------------------------------------------------------- marker
def read_marker(folder: StorePath) -> dict[str, Any] | None:
    """The marker document of ``folder``, or None when absent or not one of ours."""
    try:
        doc = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != _KIND or "store_id" not in doc:
        return None
    return doc


def write_marker(folder: StorePath, role: Role, store_id: str) -> None:
    """Write the marker of ``folder`` atomically (whole or absent)."""
    from .._version import __version__

    doc = {
        "kind": _KIND,
        "role": role,
        "store_id": store_id,
        "created": _now(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "version": __version__,
    }
    atomic_write_bytes(folder / MARKER, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())


def new_store_id() -> str:
    """A fresh random store id."""
    return uuid.uuid4().hex


def only_marker(folder: StorePath) -> bool:
    """Whether ``folder`` holds nothing but (at most) the marker."""
    return all(e.name == MARKER for e in folder.iterdir())


def claim_folder(folder: StorePath, role: Role, store_id: str) -> None:
    """Create ``folder`` (or take an existing empty one) and write its marker first.

    Raises
    ------
    StoreError
        If ``folder`` is a symlink, or exists and holds anything but the marker.
    OutputError
        If the folder or its marker cannot be written (permissions, full disk...).
    """
    refuse_symlinks(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
        except FileExistsError:
            if not folder.is_dir() or not only_marker(folder):
                raise StoreError(
                    f"{folder} exists and is not empty: daskfractal writes only into a new or "
                    "empty folder; choose another output path (--out)"
                ) from None
        write_marker(folder, role, store_id)
    except DaskFractalError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc}") from exc


def tree_size(folder: StorePath) -> tuple[int, int]:
    """``(files, bytes)`` under ``folder`` (symlinks counted, never followed)."""
    return _tree_size(folder)


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover - the loop always returns


def describe(folder: StorePath) -> str:
    """``"<folder> (N files, S)"``: what deleting ``folder`` would remove."""
    n, size = tree_size(folder)
    return f"{folder} ({n:,} file{'s' if n != 1 else ''}, {_human(size)})"


def check_owned(folder: StorePath, role: Role, store_id: str | None = None) -> str:
    """Check that ``folder`` was created by daskfractal as ``role`` (and for ``store_id``).

    Returns
    -------
    str
        The store id in the marker.

    Raises
    ------
    StoreError
        If ``folder`` is a symlink, has no (valid) marker, or the role or id differ: the
        message says the folder was not created by daskfractal and is not deleted.
    """
    refuse_symlinks(folder)
    doc = read_marker(folder)
    if doc is None:
        raise StoreError(
            f"{folder} was not created by daskfractal (it has no {MARKER} marker): it is never "
            "deleted or written into; move it away or choose another output path (--out)"
        )
    if doc.get("role") != role or (store_id is not None and doc["store_id"] != store_id):
        raise StoreError(
            f"{folder} was created by daskfractal for another output (marker {doc.get('role')} "
            f"{doc['store_id']}, expected {role} {store_id}): it is not deleted; remove it by "
            "hand if it is no longer needed"
        )
    return str(doc["store_id"])


def unexpected_entries(folder: StorePath, expected: Iterable[str]) -> list[str]:
    """Top-level names of ``folder`` a store never writes (user files put into a store).

    Names starting with ``.`` or ``_`` are ours (markers, temporaries, ``_SUCCESS``...).
    """
    allowed = set(expected)
    return sorted(
        e.name for e in folder.iterdir() if e.name not in allowed and e.name[:1] not in "._"
    )


def clear_owned(folder: StorePath, role: Role, store_id: str, first: Iterable[str] = ()) -> None:
    """Delete everything in ``folder`` but its marker (checked first), ``first`` names first.

    The marker goes last, so a run killed while deleting leaves a folder that is still
    provably daskfractal's and that the next ``overwrite`` empties. ``first`` lets a store
    drop its completion marks before its data, so it never looks complete while half gone.
    """
    check_owned(folder, role, store_id)
    for name in first:
        _remove(folder / name)
    for entry in listdir(folder):
        if entry.name != MARKER:
            _remove(entry)


def remove_owned(folder: StorePath, role: Role, store_id: str, first: Iterable[str] = ()) -> None:
    """Delete ``folder`` entirely after checking its marker (removed last, then the folder)."""
    clear_owned(folder, role, store_id, first)
    (folder / MARKER).unlink(missing_ok=True)
    folder.rmdir()


def _remove(p: StorePath) -> None:
    remove_tree(p)


# ------------------------------------------------------------------------------- lock
def lock_path(out: StorePath) -> StorePath:
    """The lock file of the output ``out``: ``<out>.lock`` next to it."""
    return out.with_name(out.name + LOCK_SUFFIX)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


def _holder(doc: dict[str, Any] | None) -> str:
    if not doc:
        return "a daskfractal run"
    return f"pid {doc.get('pid')} on host {doc.get('host')}, started {doc.get('started')}"


class OutputLock:
    """An exclusive lock on one output path, held by this process until :meth:`release`.

    Use :func:`lock_output` to take it; it is a context manager.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Remove the lock file (if it is still ours) and close it; safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # unlink before close: a waiter that opened the old file then sees a new inode
            if _same_file(fd, self.path):
                self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read_lock(fd: int) -> dict[str, Any] | Literal["foreign"] | None:
    """The lock document behind ``fd``: a dict, None when empty, "foreign" when not ours."""
    os.lseek(fd, 0, os.SEEK_SET)
    return _parse_lock(os.read(fd, 1 << 16))


def _parse_lock(raw: bytes) -> dict[str, Any] | Literal["foreign"] | None:
    """A lock document: a dict, None when empty, "foreign" when not ours."""
    if not raw.strip():
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return "foreign"
    if not isinstance(doc, dict) or doc.get("kind") != _KIND:
        return "foreign"
    return doc


def _try_flock(fd: int) -> bool | None:
    """Take the OS lock on ``fd``: True if taken, False if held elsewhere, None if unsupported."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return None  # e.g. ENOLCK on some network file systems: the pid check decides
    return True


def _inspect_lock(
    fd: int, out: StorePath, path: Path, what: str
) -> tuple[bool | None, dict[str, Any] | None]:
    """Try the flock of an open lock file and read it; refuse a foreign or held lock.

    Returns what :func:`_try_flock` and :func:`_read_lock` gave (the caller decides about
    stale locks).
    """
    got = _try_flock(fd)
    doc = _read_lock(fd)
    if doc == "foreign":
        raise StoreError(
            f"{path} exists and was not written by daskfractal: it is not used or "
            f"deleted; move it away or choose another {what}"
        )
    if got is False:
        raise StoreError(
            f"{out} is being written by another daskfractal run ({_holder(doc)}; lock "
            f"{path}): wait for it to finish or choose another {what}"
        )
    return got, doc


def lock_output(out: StorePath, *, what: str = "output path (--out)") -> OutputLock | RemoteLock:
    """Take the exclusive lock of output ``out`` (the file ``<out>.lock``).

    Parameters
    ----------
    out : Path
        The output folder (it need not exist yet).
    what : str
        How messages name the output.

    Returns
    -------
    OutputLock or RemoteLock
        Release it (or use it as a context manager) when the run ends. On an object store
        the lock is the object ``<out>.lock``, created by a conditional PUT
        (``If-None-Match: *``): see :func:`_lock_remote`.

    Raises
    ------
    StoreError
        If another live run holds the lock (naming its host, pid and start time), the lock
        comes from another host, or ``<out>.lock`` is a file daskfractal did not write.
    """
    path = lock_path(out)
    if isinstance(path, RemotePath):
        with remote_errors(path, writing=True):
            return _lock_remote(out, path, what)
    refuse_symlinks(path)
    try:
        return _lock(out, path, what)
    except DaskFractalError:
        raise
    except OSError as exc:  # read-only or full file system, no permission...
        raise OutputError(f"cannot create the lock file {path} for {out}: {exc}") from exc


class RemoteLock:
    """The lock object ``<out>.lock`` of an output on an object store, held until
    :meth:`release` (a context manager, like :class:`OutputLock`)."""

    def __init__(self, path: RemotePath, token: bytes) -> None:
        self.path = path
        self._token: bytes | None = token

    def __enter__(self) -> RemoteLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Delete the lock object if it is still ours; safe to call twice."""
        token, self._token = self._token, None
        if token is None:
            return
        try:
            if self.path.read_bytes() == token:
                self.path.unlink(missing_ok=True)
        except Exception as exc:  # the run is over: a lock left behind is taken over later
            logger.warning("daskfractal: could not remove the lock %s: %s", self.path, exc)


def _lock_remote(out: StorePath, path: RemotePath, what: str) -> RemoteLock:
    """Take the lock object of ``out``.

    Object stores have no ``flock``: the object is created with a conditional PUT
    (``If-None-Match: *``, S3 and its clones), so of two runs starting together one gets
    it. A lock left by a dead run on this host (its pid is gone) is taken over, as locally;
    a lock from another host is refused with how to remove it. File systems without
    conditional writes check, then write: two runs starting within one round trip may both
    proceed (docs/reliability.md).
    """
    host = socket.gethostname()
    doc = {"kind": _KIND, "host": host, "pid": os.getpid(), "started": _now(), "output": str(out)}
    token = (json.dumps(doc, sort_keys=True) + "\n").encode()
    for _ in range(5):
        if path.create_exclusive(token):
            return RemoteLock(path, token)
        try:
            held = _parse_lock(path.read_bytes())
        except FileNotFoundError:  # released meanwhile: try to create it again
            continue
        if held == "foreign":
            raise StoreError(
                f"{path} exists and was not written by daskfractal: it is not used or "
                f"deleted; move it away or choose another {what}"
            )
        if held is not None:
            _check_stale(out, path, held, host, None)
        path.write_bytes(token)
        return RemoteLock(path, token)
    raise StoreError(f"could not take the lock {path}: it keeps changing; try again")


def _lock(out: StorePath, path: Path, what: str) -> OutputLock:
    path.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for _ in range(20):  # retried only when the file is replaced under us
        created = True
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            created = False
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
            except FileNotFoundError:  # released meanwhile: try to create it again
                continue
        try:
            got, doc = _inspect_lock(fd, out, path, what)
            if not _same_file(fd, path):  # the holder released it between open and flock
                os.close(fd)
                continue
            if not created and doc is not None:
                _check_stale(out, path, doc, host, got)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            doc_new = {
                "kind": _KIND,
                "host": host,
                "pid": os.getpid(),
                "started": _now(),
                "output": str(out),
            }
            os.write(fd, (json.dumps(doc_new, sort_keys=True) + "\n").encode())
            return OutputLock(path, fd)
        except BaseException:
            try:
                os.close(fd)
            except OSError:
                pass
            raise
    raise StoreError(f"could not take the lock {path}: it keeps changing; try again")


def check_lock(out: StorePath, *, what: str = "output path (--out)") -> None:
    """Refuse now what :func:`lock_output` would refuse later, without taking the lock.

    Lets a command fail before reading its input when the output is in use. A stale lock
    (same host, holder gone) passes: the run takes it over.

    Raises
    ------
    StoreError
        As :func:`lock_output`.
    """
    path = lock_path(out)
    if isinstance(path, RemotePath):
        with remote_errors(path, writing=True):
            _check_remote_lock(out, path, what)
        return
    refuse_symlinks(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError:  # unreadable: lock_output reports it with the reason
        return
    try:
        got, doc = _inspect_lock(fd, out, path, what)
        if doc is not None and doc.get("host") != socket.gethostname():
            _check_stale(out, path, doc, socket.gethostname(), got)
    finally:
        os.close(fd)  # also drops the flock taken to look


def _check_remote_lock(out: StorePath, path: RemotePath, what: str) -> None:
    """:func:`check_lock` of an output on an object store."""
    try:
        held = _parse_lock(path.read_bytes())
    except FileNotFoundError:
        return
    if held == "foreign":
        raise StoreError(
            f"{path} exists and was not written by daskfractal: it is not used or "
            f"deleted; move it away or choose another {what}"
        )
    if held is None:
        return
    host = socket.gethostname()
    pid = held.get("pid")
    if held.get("host") != host:
        _check_stale(out, path, held, host, None)
    elif isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid):
        raise StoreError(
            f"{out} is being written by another daskfractal run ({_holder(held)}; lock "
            f"{path}): wait for it to finish or choose another {what}"
        )


def _check_stale(
    out: StorePath, path: StorePath, doc: dict[str, Any], host: str, got: bool | None
) -> None:
    """Take over a lock left by a dead process, or refuse one that may still be held."""
    if doc.get("host") != host:
        raise StoreError(
            f"{out} is locked by a daskfractal run on another host ({_holder(doc)}): if no run "
            f"is active there any more, delete {path} by hand and run again"
        )
    pid = doc.get("pid")
    alive = isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid)
    if got is None and alive:  # no OS lock to ask: trust the pid
        raise StoreError(
            f"{out} is being written by another daskfractal run ({_holder(doc)}; lock "
            f"{path}): wait for it to finish or choose another output path (--out)"
        )
    logger.warning(
        "daskfractal: taking over the lock %s left by %s, which is no longer running",
        path,
        _holder(doc),
    )
