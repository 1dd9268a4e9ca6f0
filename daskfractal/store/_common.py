"""Helpers both formats share: store detection, safe replacement, value checks, atomic files."""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, Literal

import numpy as np

from ..errors import StoreError
from ._fs import RemotePath, StorePath, store_path
from ._layout import FORMAT_VERSION, MANIFEST_FILE, SUCCESS_FILE, StoreLayout
from ._ownership import (
    MARKER,
    check_owned,
    claim_folder,
    clear_owned,
    describe,
    new_store_id,
    only_marker,
    read_marker,
    refuse_symlinks,
    remove_owned,
    unexpected_entries,
)

logger = logging.getLogger("daskfractal")

StoreFormat = Literal["zarr", "parquet", "mlperf", "meta-csv"]
Status = Literal["missing", "empty", "foreign", "incomplete", "complete"]

ZARR_META = "zarr.json"
#: Root metadata of every format but Zarr (Parquet and the exports ``mlperf``, ``meta-csv``).
PARQUET_META = "_daskfractal.json"
_META_FORMATS = ("parquet", "mlperf", "meta-csv")
#: Top-level names of the MLPerf shards (a store may hold them: ``--overwrite`` deletes them).
MLPERF_FILE = re.compile(r"(train|test)x\d+x\d+_\d+\.npz")

INCOMPLETE_HINT = (
    "the run that wrote it did not finish; rerun with --resume to complete it "
    "(or with --overwrite to start over)"
)


def inspect_store(
    path: str | os.PathLike[str] | RemotePath,
) -> tuple[Status, StoreFormat | None, dict]:
    """What lies at ``path``: its status, format and root metadata (empty when not a store).

    Returns
    -------
    status : {"missing", "empty", "foreign", "incomplete", "complete"}
        "empty" is an existing empty directory; "foreign" is anything that is not a
        daskfractal store (a file, a directory with other content, another Zarr group).
    format : {"zarr", "parquet", "mlperf", "meta-csv"} or None
    meta : dict
        The root attributes (``format_version``, ``complete``, ``layout``, ``daskfractal``...).
    """
    p = store_path(path)
    if not p.exists():
        return "missing", None, {}
    if not p.is_dir():
        return "foreign", None, {}
    fmt: StoreFormat | None = None
    meta: dict = {}
    try:
        if (p / ZARR_META).is_file():
            doc = json.loads((p / ZARR_META).read_text(encoding="utf-8"))
            meta = doc.get("attributes", {}) if isinstance(doc, dict) else {}
            fmt = "zarr"
        elif (p / PARQUET_META).is_file():
            meta = json.loads((p / PARQUET_META).read_text(encoding="utf-8"))
            found = meta.get("format") if isinstance(meta, dict) else None
            fmt = found if found in _META_FORMATS else "parquet"
    except (OSError, ValueError, UnicodeDecodeError):
        return "foreign", None, {}
    if fmt is None:
        # a folder holding only our marker is a claimed, still empty output
        foreign = any(e.name != MARKER for e in p.iterdir())
        return ("foreign" if foreign else "empty"), None, {}
    if not isinstance(meta, dict) or meta.get("format") != fmt or "format_version" not in meta:
        return "foreign", None, {}
    done = meta.get("complete") is True and (p / SUCCESS_FILE).is_file()
    return ("complete" if done else "incomplete"), fmt, meta


def store_status(path: str | os.PathLike[str] | RemotePath) -> Status:
    """Whether ``path`` is missing, empty, foreign, or an incomplete or complete store.

    Parameters
    ----------
    path : str or path-like
        A directory that may hold a daskfractal store (Zarr or Parquet).

    Returns
    -------
    {"missing", "empty", "foreign", "incomplete", "complete"}
    """
    return inspect_store(path)[0]


def store_format(path: str | os.PathLike[str] | RemotePath) -> StoreFormat | None:
    """The format of the daskfractal output at ``path`` (finished or not), else None.

    Examples
    --------
    >>> store_format("no/such/folder") is None
    True
    """
    return inspect_store(path)[1]


def prepare_new_store(path: StorePath, fmt: StoreFormat, overwrite: bool) -> None:
    """Make ``path`` an empty, marked folder for a new store, refusing what it must not touch.

    A missing or empty folder is claimed (the ownership marker is written first). An existing
    store is emptied only when ``overwrite`` and only when its marker proves daskfractal
    created it and it holds no file a store never writes; its marker is kept (same store id).
    Anything else (a user folder, a store of an earlier version without marker, a symlink) is
    never written into or deleted.

    Raises
    ------
    StoreError
        Saying why nothing was deleted, or what ``overwrite`` would delete.
    """
    refuse_symlinks(path)
    if path.exists() and not path.is_dir():
        raise StoreError(
            f"{path} exists and is a file, not a folder; choose another output path (--out)"
        )
    status, _, _ = inspect_store(path)
    doc = read_marker(path) if path.is_dir() else None
    if doc is None:
        if status in ("missing", "empty"):
            claim_folder(path, "store", new_store_id())
            return
        if status == "foreign":
            raise StoreError(
                f"{path} is not a daskfractal store and was not created by daskfractal (it is "
                f"not empty and has no {MARKER} marker): it is never written into or deleted; "
                "choose another output path (--out)"
            )
        # with or without overwrite: pointing at an option that would refuse helps no one
        raise StoreError(unmarked_message(path))
    store_id = check_owned(path, "store")
    if only_marker(path):
        return
    refuse_unexpected(path)
    if not overwrite:
        raise StoreError(existing_message(path, status, None, api=True))
    clear_owned(path, "store", store_id, first=COMPLETION_FILES)


#: Top-level names a store writes (names starting with ``.`` or ``_`` are ours as well).
STORE_ENTRIES = (
    ZARR_META,
    PARQUET_META,
    MANIFEST_FILE,
    "train",
    "test",
    "stats",
    "users",
    "indptr",
)
#: Removed first when a store is deleted, so a half-deleted store never looks complete.
COMPLETION_FILES = (SUCCESS_FILE, MANIFEST_FILE, ZARR_META, PARQUET_META)


def refuse_unexpected(path: StorePath) -> None:
    """Refuse to delete a store that holds files a store never writes (the user's).

    Raises
    ------
    StoreError
        Naming up to five of those files.
    """
    extra = [e for e in unexpected_entries(path, STORE_ENTRIES) if not MLPERF_FILE.fullmatch(e)]
    if extra:
        shown = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
        raise StoreError(
            f"{path} holds files daskfractal did not write ({shown}): it is not deleted; move "
            "them out (or remove the store by hand) and run again"
        )


def unmarked_message(path: StorePath) -> str:
    """The refusal to delete a store that has no ownership marker."""
    return (
        f"{path} holds a store without the {MARKER} marker (written by an earlier daskfractal "
        "version, or copied by hand): it stays readable, but daskfractal cannot prove it "
        "created the folder, so it neither resumes nor deletes it nor writes into it; "
        f"remove it by hand ({_rm(path)}) or choose another output path (--out)"
    )


def _rm(path: StorePath) -> str:
    """The command that removes ``path`` by hand."""
    if isinstance(path, RemotePath):
        return f"e.g. aws s3 rm --recursive {path}/"
    return f"rm -r {path}"


def existing_message(
    path: StorePath, status: str, work: StorePath | None, *, api: bool = False
) -> str:
    """What is at ``path``, the safe way on first, then exactly what overwriting deletes."""
    gone = describe(path) if path.is_dir() else str(path)
    if work is not None and work.is_dir():
        gone += f" and {describe(work)}"
    if status == "complete":
        return (
            f"{path} already holds a complete store: choose another output, or pass "
            f"overwrite=True (--overwrite) to delete {gone} and write a new one"
        )
    if api:  # the writer classes: resuming is reopen(), not a flag
        return (
            f"{path} holds an incomplete store (its run did not finish): reopen it to resume, "
            f"or pass overwrite=True to delete {gone} and start over"
        )
    return (
        f"{path} holds an unfinished run: pass resume=True (--resume) to continue it, or "
        f"overwrite=True (--overwrite) to delete {gone} and start over"
    )


def prepare_run(path: StorePath, work: StorePath, overwrite: bool, *, dry_run: bool = False) -> str:
    """Make ``path`` and its work folder ready for a new run; return the store id.

    The store folder is claimed (marker first) or, with ``overwrite``, emptied after its
    marker is checked; the old work folder is removed only when its marker carries the same
    store id. The caller holds the output lock and creates the new work folder. With
    ``dry_run`` nothing is created or deleted: only the refusals are raised ("" returned).

    Raises
    ------
    StoreError
        If either folder is not provably daskfractal's, or a store or unfinished run is there
        and ``overwrite`` is false (the message says the safe way first and what ``overwrite``
        deletes: paths, file counts, sizes).
    """
    refuse_symlinks(path, work)
    if work.exists() and not work.is_dir():
        raise StoreError(
            f"{work} exists and is a file: it is not deleted; choose another output path (--out)"
        )
    if work.is_dir():
        check_owned(work, "work")
    if path.exists() and not path.is_dir():
        raise StoreError(
            f"{path} exists and is a file, not a folder; choose another output path (--out)"
        )
    status, _, _ = inspect_store(path)
    doc = read_marker(path) if path.is_dir() else None
    if doc is None:
        if work.is_dir():
            raise StoreError(
                f"{work} is the work folder of a store that is no longer at {path}: it is not "
                f"deleted; remove it by hand ({_rm(work)}) or choose another output path (--out)"
            )
        if status in ("complete", "incomplete"):
            raise StoreError(unmarked_message(path))
        if dry_run and status in ("missing", "empty"):
            return ""
        prepare_new_store(path, "zarr", overwrite=False)  # claims it, or refuses a user folder
        return check_owned(path, "store")
    store_id = check_owned(path, "store")
    if work.is_dir():
        check_owned(work, "work", store_id)
    if only_marker(path) and not work.is_dir():
        return store_id
    refuse_unexpected(path)
    if not overwrite:
        raise StoreError(existing_message(path, status, work))
    if dry_run:
        return ""
    gone = describe(path) + (f" and {describe(work)}" if work.is_dir() else "")
    logger.warning("daskfractal: --overwrite: deleting %s", gone)
    if work.is_dir():
        remove_owned(work, "work", store_id)
    clear_owned(path, "store", store_id, first=COMPLETION_FILES)
    return store_id


def check_resume(path: StorePath, work: StorePath) -> str:
    """Check that the unfinished run at ``path`` and ``work`` is daskfractal's; its store id.

    Raises
    ------
    StoreError
        If a marker is missing (an earlier version's run: resumed by no one, deleted by the
        user) or the two folders belong to different stores.
    """
    refuse_symlinks(path, work)
    if read_marker(work) is None:
        raise StoreError(
            f"cannot resume {path}: its work folder {work} has no {MARKER} marker (started by "
            "an earlier daskfractal version, or not by daskfractal), so it is neither used nor "
            f"deleted; remove {path} and {work} by hand and run again"
        )
    store_id = check_owned(work, "work")
    if not path.is_dir():
        raise StoreError(
            f"cannot resume {path}: the store folder is gone; remove {work} by hand "
            f"({_rm(work)}) and run again"
        )
    check_owned(path, "store", store_id)
    refuse_unexpected(path)
    return store_id


def check_reopen(
    path: StorePath, fmt: StoreFormat, layout: StoreLayout, attrs: dict | None
) -> dict:
    """Validate that ``path`` is an incomplete ``fmt`` store written with ``layout``/``attrs``.

    Returns
    -------
    dict
        The stored root metadata.
    """
    status, found, meta = inspect_store(path)
    if status in ("missing", "empty"):
        raise StoreError(f"cannot resume {path}: there is no store there")
    if status == "foreign":
        raise StoreError(f"cannot resume {path}: it is not a daskfractal store")
    if found != fmt:
        raise StoreError(f"cannot resume {path}: it is a {found} store, not {fmt}")
    if status == "complete":
        raise StoreError(f"cannot resume {path}: it is already complete")
    if meta.get("format_version") != FORMAT_VERSION:
        raise StoreError(
            f"cannot resume {path}: it has format_version {meta.get('format_version')}, "
            f"this library writes {FORMAT_VERSION} (other permutations): start it over"
        )
    stored = meta.get("layout")
    if stored != layout.to_dict():
        raise StoreError(
            f"cannot resume {path}: it was started with a different layout "
            f"(stored {stored}, requested {layout.to_dict()})"
        )
    if attrs is not None and meta.get("daskfractal") != attrs:
        raise StoreError(
            f"cannot resume {path}: it was started with different parameters/attributes"
        )
    return meta


def root_meta(
    fmt: StoreFormat,
    layout: StoreLayout,
    attrs: dict,
    complete: bool,
    manifest: str | None = None,
) -> dict:
    """The root metadata document of a store (keys in a fixed order).

    ``manifest`` names the manifest file of a finished store: a reader then knows the store
    must carry one (stores written before manifests existed do not say so).
    """
    meta = {
        "complete": complete,
        "daskfractal": attrs,
        "format": fmt,
        "format_version": FORMAT_VERSION,
        "layout": layout.to_dict(),
    }
    if manifest is not None:
        meta["manifest"] = manifest
    return meta


def coerce_values(
    values: Any,
    dtype: np.dtype,
    what: str,
    *,
    shape: tuple[int, ...] | None = None,
    low: int | None = None,
    high: int | None = None,
) -> np.ndarray:
    """``values`` as an array of ``dtype``, refusing lossy or impossible conversions.

    Integer targets take integer input only (range-checked when the input dtype is wider);
    float32 targets take integer or float input. ``low``/``high`` bound the values (``high``
    exclusive). Errors are :class:`StoreError` naming ``what``.
    """
    arr = np.asarray(values)
    if shape is not None and arr.shape != shape:
        raise StoreError(f"{what}: expected shape {shape}, got {arr.shape}")
    kind = arr.dtype.kind
    if dtype.kind in "iu":
        if kind not in "iu":
            raise StoreError(f"{what}: expected integers for {dtype}, got dtype {arr.dtype}")
        info = np.iinfo(dtype)
        low = info.min if low is None else max(low, info.min)
        high = info.max + 1 if high is None else min(high, info.max + 1)
    elif dtype.kind == "f":
        if kind not in "iuf":
            raise StoreError(f"{what}: expected numbers for {dtype}, got dtype {arr.dtype}")
    else:  # pragma: no cover - every stored array is int or float
        raise StoreError(f"{what}: unsupported target dtype {dtype}")
    if arr.size and (low is not None or high is not None):
        lo, hi = arr.min(), arr.max()
        if (low is not None and lo < low) or (high is not None and hi >= high):
            raise StoreError(f"{what}: values must lie in [{low}, {high}), got [{lo}, {hi}]")
    return arr.astype(dtype, copy=False)


def dump_json(doc: dict) -> bytes:
    """Deterministic JSON bytes (sorted keys, indented, trailing newline)."""
    return (json.dumps(doc, sort_keys=True, indent=2, allow_nan=False) + "\n").encode()


def touch(path: StorePath) -> None:
    """Create the empty marker file ``path`` (and its parents)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def sweep_temporaries(root: StorePath, patterns: tuple[str, ...]) -> None:
    """Delete files under ``root`` matching ``patterns`` (leftovers of killed writers)."""
    for pattern in patterns:
        for leftover in root.rglob(pattern):
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
