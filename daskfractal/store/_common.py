"""Helpers both formats share: store detection, safe replacement, value checks, atomic files."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import StoreError
from ._layout import FORMAT_VERSION, SUCCESS_FILE, StoreLayout

StoreFormat = Literal["zarr", "parquet"]
Status = Literal["missing", "empty", "foreign", "incomplete", "complete"]

ZARR_META = "zarr.json"
PARQUET_META = "_daskfractal.json"

INCOMPLETE_HINT = (
    "the run that wrote it did not finish; rerun with --resume to complete it "
    "(or with --overwrite to start over)"
)


def inspect_store(path: str | os.PathLike[str]) -> tuple[Status, StoreFormat | None, dict]:
    """What lies at ``path``: its status, format and root metadata (empty when not a store).

    Returns
    -------
    status : {"missing", "empty", "foreign", "incomplete", "complete"}
        "empty" is an existing empty directory; "foreign" is anything that is not a
        daskfractal store (a file, a directory with other content, another Zarr group).
    format : {"zarr", "parquet"} or None
    meta : dict
        The root attributes (``format_version``, ``complete``, ``layout``, ``daskfractal``...).
    """
    p = Path(path)
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
            fmt = "parquet"
    except (OSError, ValueError, UnicodeDecodeError):
        return "foreign", None, {}
    if fmt is None:
        return ("foreign" if any(p.iterdir()) else "empty"), None, {}
    if not isinstance(meta, dict) or meta.get("format") != fmt or "format_version" not in meta:
        return "foreign", None, {}
    done = meta.get("complete") is True and (p / SUCCESS_FILE).is_file()
    return ("complete" if done else "incomplete"), fmt, meta


def store_status(path: str | os.PathLike[str]) -> Status:
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


def prepare_new_store(path: Path, fmt: StoreFormat, overwrite: bool) -> None:
    """Make ``path`` an empty directory for a new store, refusing to clobber what it must not.

    A complete or incomplete daskfractal store is replaced only when ``overwrite``; a path
    holding anything else is never deleted.
    """
    status, _, _ = inspect_store(path)
    if status == "foreign":
        raise StoreError(
            f"{path} exists and is not a daskfractal store; refusing to write into or delete it"
        )
    if status in ("complete", "incomplete") and not overwrite:
        if status == "complete":
            raise StoreError(
                f"{path} already holds a complete store; pass overwrite=True (--overwrite) to "
                "replace it"
            )
        raise StoreError(
            f"{path} holds an incomplete store: {INCOMPLETE_HINT}; reopen it to resume, or pass "
            "overwrite=True to start over"
        )
    if status in ("complete", "incomplete"):
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def check_reopen(path: Path, fmt: StoreFormat, layout: StoreLayout, attrs: dict | None) -> dict:
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
            f"this library writes {FORMAT_VERSION}"
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def dump_json(doc: dict) -> bytes:
    """Deterministic JSON bytes (sorted keys, indented, trailing newline)."""
    return (json.dumps(doc, sort_keys=True, indent=2, allow_nan=False) + "\n").encode()


def touch(path: Path) -> None:
    """Create the empty marker file ``path`` (and its parents)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def sweep_temporaries(root: Path, patterns: tuple[str, ...]) -> None:
    """Delete files under ``root`` matching ``patterns`` (leftovers of killed writers)."""
    for pattern in patterns:
        for leftover in root.rglob(pattern):
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
