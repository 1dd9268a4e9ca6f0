"""Integrity of finished stores: per-file digests, ``manifest.json`` and :func:`verify`.

A finished store carries ``manifest.json`` in its root, written by ``finalize`` after the
root metadata says ``complete`` and before ``_SUCCESS``: every file of the store (metadata
included) with its size and SHA-256, plus the store's counts. Digests of the big files are
computed by the task that wrote them, right after writing (the bytes are in the page cache),
and kept in its completion marker under ``_progress/``; ``finalize`` only gathers them.

Two levels of checking:

* fast (every :func:`~daskfractal.open`): each listed file exists with its size, no unlisted
  file sits in the store, the metadata files match their digests (they are small), and the
  counts of the root attributes equal the manifest's;
* full (:func:`verify` with ``full=True``): every file's SHA-256.

Bytes flipped inside a Zarr chunk are also caught at read time by the ``crc32c`` codec of
every chunk, and inside a Parquet page by its page checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import StoreError
from ._common import PARQUET_META, ZARR_META, dump_json, inspect_store
from ._fs import (
    StorePath,
    atomic_write_bytes,
    check_reachable,
    remote_errors,
    store_path,
    walk_files,
)
from ._layout import MANIFEST_FILE, PROGRESS_DIR, SUCCESS_FILE
from ._ownership import MARKER

#: Version of the manifest document.
MANIFEST_VERSION = 1
ALGORITHM = "sha256"
_BLOCK = 1 << 22
#: Files that are not data: the manifest itself, the completion marker and the ownership
#: marker (it differs between otherwise byte-identical stores: store id, host, time).
_NOT_LISTED = (MANIFEST_FILE, SUCCESS_FILE, MARKER)
VERIFY_HINT = "run 'daskfractal verify {path} --full' for a full report"


def file_digest(path: StorePath) -> str:
    """SHA-256 of the file at ``path`` (hex)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def describe_file(root: StorePath, rel: str) -> dict[str, Any] | None:
    """``{"file", "size", "sha256"}`` of ``root/rel``, or None when the file does not exist.

    Zarr does not write chunks that hold only the fill value, so a shard may legitimately be
    absent; the record says so and ``finalize`` lists only files that exist.
    """
    path = root / rel
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    return {"file": rel, "size": size, ALGORITHM: file_digest(path)}


def write_marker(marker: StorePath, record: dict[str, Any] | None) -> None:
    """Write a completion marker holding the digest record of the file it stands for."""
    atomic_write_bytes(marker, dump_json({"record": record}))


def read_marker(marker: StorePath) -> tuple[bool, dict[str, Any] | None]:
    """``(has_record, record)`` of a completion marker.

    Markers written before digests existed are empty: ``has_record`` is then false.
    """
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False, None
    if not isinstance(doc, dict) or "record" not in doc:
        return False, None
    return True, doc["record"]


def record_matches(root: StorePath, rel: str, record: dict[str, Any] | None) -> bool:
    """Whether ``root/rel`` is exactly what its marker recorded (absent when it was absent)."""
    path = root / rel
    if record is None:
        return not path.exists()
    try:
        if path.stat().st_size != record["size"]:
            return False
    except (FileNotFoundError, KeyError, TypeError):
        return False
    return file_digest(path) == record.get(ALGORITHM)


def _store_files(root: StorePath) -> list[str]:
    """Relative paths of the files of a store that a manifest lists (sorted)."""
    return [
        rel
        for rel in walk_files(root)
        if rel not in _NOT_LISTED and not rel.startswith(PROGRESS_DIR + "/")
    ]


def write_manifest(root: StorePath, known: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    """Write ``manifest.json``: every file of the store with its size and digest.

    Parameters
    ----------
    root : Path or RemotePath
        The store, with its final root metadata already written.
    known : dict
        Records gathered from completion markers, by relative path; used when the file's size
        still matches (the file is otherwise hashed here).
    meta : dict
        The final root metadata; its layout and counts are copied so that edited attributes
        are noticed on open.
    """
    files = {}
    for rel in _store_files(root):
        rec = known.get(rel)
        size = (root / rel).stat().st_size
        if rec is None or rec.get("size") != size:
            rec = describe_file(root, rel)
            assert rec is not None
        files[rel] = {"size": size, ALGORITHM: rec[ALGORITHM]}
    doc = {
        "algorithm": ALGORITHM,
        "counts": _counts(meta),
        "files": files,
        "format": meta.get("format"),
        "manifest_version": MANIFEST_VERSION,
    }
    atomic_write_bytes(root / MANIFEST_FILE, dump_json(doc))


def _counts(meta: dict[str, Any]) -> dict[str, Any]:
    """The sizes a reader relies on: the layout and the counts of the attributes."""
    return {
        "layout": meta.get("layout"),
        "counts": (meta.get("daskfractal") or {}).get("counts"),
    }


# ---------------------------------------------------------------------------------- checks
@dataclass
class VerifyReport:
    """Result of :func:`verify`.

    Attributes
    ----------
    path : str
        The store checked.
    ok : bool
        True when no problem was found.
    full : bool
        Whether every file's digest was checked (else sizes and metadata digests only).
    files_checked : int
        Files listed in the manifest that were looked at.
    bytes_checked : int
        Bytes hashed.
    problems : list of str
        One line per damaged, missing or unexpected file (first problems first).
    notes : list of str
        Remarks that are not damage (e.g. a store written before manifests existed).
    """

    path: str
    ok: bool = True
    full: bool = False
    files_checked: int = 0
    bytes_checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        return {
            "path": self.path,
            "ok": self.ok,
            "full": self.full,
            "files_checked": self.files_checked,
            "bytes_checked": self.bytes_checked,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def read_manifest(root: StorePath) -> tuple[dict[str, Any] | None, str | None]:
    """``(manifest, None)`` for a readable ``manifest.json`` of ``root``, else ``(None, why)``."""
    try:
        doc = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{MANIFEST_FILE} is missing"
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return None, f"{MANIFEST_FILE} cannot be read ({exc.__class__.__name__})"
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict) or doc.get("algorithm") != ALGORITHM:
        return None, f"{MANIFEST_FILE} is not a daskfractal manifest"
    return doc, None


def _is_metadata(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name in (ZARR_META, PARQUET_META)


def check_store(
    root: StorePath, meta: dict[str, Any], *, full: bool, metadata: tuple[str, ...] = ()
) -> VerifyReport:
    """Compare the store at ``root`` with its manifest; never raises for damage.

    Parameters
    ----------
    root : Path or RemotePath
        A store whose root metadata says it carries a manifest.
    meta : dict
        Its root metadata (as read by ``inspect_store``).
    full : bool
        Hash every file (else only the metadata files).
    metadata : tuple of str
        More file names hashed by the fast check (an output's own metadata file, e.g. the
        negatives' ``_negatives.json``).

    Returns
    -------
    VerifyReport
    """
    report = VerifyReport(path=str(root), full=full)
    doc, why = read_manifest(root)
    if doc is None:
        report.problems.append(str(why))
        report.ok = False
        return report
    files: dict[str, Any] = doc["files"]
    expected = _counts(meta)
    if doc.get("counts") != expected:
        for key in ("layout", "counts"):
            if (doc.get("counts") or {}).get(key) != expected[key]:
                report.problems.append(
                    f"the root attributes' {key} differ from the manifest's (edited attributes)"
                )
    for rel in sorted(files):
        entry = files[rel]
        path = root / rel
        report.files_checked += 1
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            report.problems.append(f"{rel}: missing")
            continue
        if size != entry.get("size"):
            report.problems.append(f"{rel}: {size} bytes, expected {entry.get('size')}")
            continue
        if full or _is_metadata(rel) or rel.rsplit("/", 1)[-1] in metadata:
            report.bytes_checked += size
            if file_digest(path) != entry.get(ALGORITHM):
                report.problems.append(f"{rel}: content differs from its {ALGORITHM} digest")
    listed = set(files)
    for rel in _store_files(root):
        if rel not in listed:
            report.problems.append(f"{rel}: not listed in {MANIFEST_FILE} (unexpected file)")
    report.ok = not report.problems
    return report


def verify(store: str | os.PathLike[str], full: bool = False) -> VerifyReport:
    """Check a finished store against its manifest.

    The fast check (default) looks at every file's presence and size, unexpected files, the
    digests of the metadata files and the counts of the attributes; ``full=True`` also
    hashes every data file (reads the whole store once).

    Parameters
    ----------
    store : str or path-like
        A store directory (Zarr or Parquet).
    full : bool, default False
        Check the SHA-256 of every file.

    Returns
    -------
    VerifyReport
        ``ok`` false with one line per problem when the store is incomplete or damaged.
        A store written by a daskfractal without manifests is reported ``ok`` with the note
        "no manifest: written by an older daskfractal" (nothing can be checked).

    Raises
    ------
    StoreError
        If ``store`` does not exist or is not a daskfractal store.
    """
    root = store_path(store)
    check_reachable(root, writing=False)
    with remote_errors(root, writing=False):
        return _verify(root, full)


def _verify(root: StorePath, full: bool) -> VerifyReport:
    status, _, meta = inspect_store(root)
    if status == "missing":
        raise StoreError(f"{root} does not exist")
    if status in ("empty", "foreign"):
        raise StoreError(f"{root} is not a daskfractal store")
    if status == "incomplete":
        return VerifyReport(
            path=str(root), ok=False, full=full, problems=["incomplete: its run did not finish"]
        )
    if meta.get("manifest") != MANIFEST_FILE:
        if (root / MANIFEST_FILE).is_file():
            return check_store(root, meta, full=full)
        return VerifyReport(
            path=str(root), full=full, notes=["no manifest: written by an older daskfractal"]
        )
    return check_store(root, meta, full=full)


def check_on_open(root: StorePath, meta: dict[str, Any]) -> None:
    """The fast check of :func:`verify`, raising :class:`StoreError` on the first problem.

    Stores without a manifest (written before manifests existed) pass silently.
    """
    if meta.get("manifest") != MANIFEST_FILE and not (root / MANIFEST_FILE).is_file():
        return
    report = check_store(root, meta, full=False)
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise StoreError(
            f"{root} is damaged: {report.problems[0]}{more}; {VERIFY_HINT.format(path=root)}"
        )
