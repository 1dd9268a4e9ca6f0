"""Zarr v3 writer: one call writes one whole shard, so concurrent tasks never share a file.

Layout of the store (a directory holding one Zarr v3 group)::

    zarr.json                   root group; attributes: complete, daskfractal, format,
                                format_version, layout
    _SUCCESS                    empty marker, written by finalize() after complete=True
    _progress/                  per-shard completion markers while writing (removed at finalize)
    train/ test/                CSR by user
        indptr      int64  (n_users + 1,)
        indices     int32|int64 (nnz,)    item ids, sharded
        ratings     float32 (nnz,)        optional, aligned with indices
        timestamps  int64  (nnz,)         optional, aligned with indices
        chunk_user  int64  (n_chunks + 1,) row holding element c * chunk_elems; last = n_users
    stats/  user_{train,test}_degree int32 (n_users,), item_{train,test}_degree int64
            (n_items,), block_{train,test} int64 (m', n')
    users/slot  int64 (n_users,)

Every 1-D array uses chunks of ``chunk_elems`` inside shards of ``shard_elems`` (both clipped
for arrays shorter than one shard), Blosc with byte shuffle (zstd 3 for int32 item ids,
zstd 1 for float32 ratings, lz4 for int64 arrays), then a ``crc32c`` checksum on every chunk
(the shard index carries its own), fill value 0. ``manifest.json`` (see ``_manifest``) lists
every file with its size and SHA-256; the marker of a finished shard holds its digest.

``da.to_zarr`` is never used: with dask 2026.8 and zarr 3.1 it can silently write wrong data
when Dask chunks and Zarr shards do not line up. Each writer call here assigns exactly one
whole Zarr shard with ``arr[a:b] = values``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec

if TYPE_CHECKING:
    from zarr.core.common import JSON

from ..errors import StoreError
from ._common import (
    check_reopen,
    coerce_values,
    inspect_store,
    prepare_new_store,
    root_meta,
    sweep_temporaries,
    touch,
)
from ._fs import RemotePath, StorePath, remove_tree, store_path, zarr_store
from ._layout import (
    PROGRESS_DIR,
    SPLITS,
    SUCCESS_FILE,
    StoreLayout,
    canonical_attrs,
    check_split,
)
from ._manifest import (
    MANIFEST_FILE,
    describe_file,
    read_marker,
    record_matches,
    write_manifest,
    write_marker,
)

#: Chunk keys are ``c/<k>`` below each array (Zarr v3 default encoding, made explicit).
_CHUNK_KEY_ENCODING: dict[str, JSON] = {"name": "default", "separator": "/"}
#: Zarr's LocalStore writes ``<key>.<uuid>.partial`` then renames; a killed writer leaves them.
_ZARR_TEMPORARIES = ("*.partial",)


def _compressors(dtype: np.dtype) -> list[BloscCodec | Crc32cCodec]:
    """Blosc with byte shuffle, then a crc32c checksum; the codec per dtype measured on
    16M-entry shards.

    int32 item ids: zstd 3 (≈ 250 MB/s, ratio ≈ 50 on sorted rows); float32 ratings: zstd 1
    (twice as fast as level 3 at the same ratio); int64 timestamps and pointers: lz4 (3× faster
    than zstd, ratio 2.0 instead of 2.05: the low bytes of times are noise). The checksum makes
    a flipped byte fail the read of its chunk instead of decoding to other numbers.
    """
    dtype = np.dtype(dtype)
    cname: Literal["zstd", "lz4"]
    if dtype == np.int32:
        cname, level = "zstd", 3
    elif dtype.kind == "f":
        cname, level = "zstd", 1
    else:
        cname, level = "lz4", 5
    blosc = BloscCodec(cname=cname, clevel=level, shuffle="shuffle", typesize=dtype.itemsize)
    return [blosc, Crc32cCodec()]


def _grid_1d(length: int, chunk: int, shard: int) -> tuple[int, int]:
    """Chunk and shard lengths of a 1-D array of ``length`` elements.

    Arrays of at least one shard use ``(chunk, shard)`` exactly; shorter arrays use a single
    shard clipped to whole chunks (or one chunk of ``length``), so shard 0 still spans
    ``[0, length)`` as :meth:`StoreLayout.shard_bounds` says, and tiny arrays do not pad to
    ``shard`` elements.
    """
    if length >= shard:
        return chunk, shard
    if length > chunk:
        return chunk, -(-length // chunk) * chunk
    size = max(length, 1)
    return size, size


def _chunk_user(indptr: np.ndarray, nnz: int, chunk_elems: int, n_users: int) -> np.ndarray:
    """Row holding the first element of each chunk, then ``n_users``: the partition index."""
    starts = np.arange(0, nnz, chunk_elems, dtype=np.int64)
    rows = np.searchsorted(indptr, starts, side="right") - 1
    return np.append(rows, n_users).astype(np.int64)


class ZarrWriter:
    """Writes a Zarr v3 expansion store, one whole shard per call.

    The writer holds only the store path and its :class:`StoreLayout`, so it pickles cheaply
    and every Dask task can use its own copy. Create it with :meth:`create` (new store) or
    :meth:`reopen` (resume an incomplete one), never directly.

    Parameters
    ----------
    path : str or path-like
        The store directory.
    layout : StoreLayout
        Sizes and sharding; must match what the store was created with.
    """

    format = "zarr"

    def __init__(self, path: str | os.PathLike[str] | RemotePath, layout: StoreLayout) -> None:
        self.path = store_path(path)
        self.layout = layout
        self._arrays: dict[str, zarr.Array] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "layout": self.layout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # unpickling: the instance pickle made, initialized again from its state
        self.__init__(state["path"], state["layout"])  # type: ignore[misc]

    def __dask_tokenize__(self) -> tuple[str, str, str]:
        return ("ZarrWriter", str(self.path), repr(self.layout))

    def __repr__(self) -> str:
        return f"ZarrWriter({str(self.path)!r})"

    # ------------------------------------------------------------------------- lifecycle
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | RemotePath,
        layout: StoreLayout,
        attrs: dict[str, Any] | None = None,
        *,
        overwrite: bool = False,
    ) -> ZarrWriter:
        """Create a new, incomplete store at ``path`` with every array allocated (no data).

        Parameters
        ----------
        path : str, path-like or RemotePath
            Directory (or object-store URL, e.g. ``s3://bucket/prefix``) to create (missing
            or empty, or an existing daskfractal store when ``overwrite``).
        layout : StoreLayout
            Sizes, dtypes and sharding.
        attrs : dict, optional
            JSON-serializable run description (parameters, seed, R̂, checksums, versions...),
            stored under the root attribute ``daskfractal``. Keys are sorted on write.
        overwrite : bool, default False
            Replace an existing daskfractal store (complete or not) at ``path``.

        Returns
        -------
        ZarrWriter

        Raises
        ------
        StoreError
            If ``path`` holds a store and ``overwrite`` is false, or holds anything that is
            not a daskfractal store.
        ParameterError
            If ``attrs`` is not JSON-serializable.
        """
        if not isinstance(layout, StoreLayout):
            raise TypeError(f"layout must be a StoreLayout, got {type(layout).__name__}")
        attrs = canonical_attrs(attrs)
        path = store_path(path)
        prepare_new_store(path, "zarr", overwrite)
        # not mode "w-": the folder already holds the ownership marker (written first)
        root = zarr.create_group(store=zarr_store(path), zarr_format=3, overwrite=False)
        root.attrs.put(root_meta("zarr", layout, attrs, complete=False))
        small = layout.small_keys()
        for group in (*SPLITS, "stats", "users"):
            if any(k.startswith(f"{group}/") for k in small) or group in SPLITS:
                root.create_group(group)
        for split in SPLITS:
            cls._create_1d(root, f"{split}/indptr", layout.n_users + 1, np.int64, layout)
            for name in layout.shard_names():
                dtype = layout.shard_dtype(name)
                cls._create_1d(root, f"{split}/{name}", layout.nnz[split], dtype, layout)
            n_index = layout.n_chunks(split) + 1
            cls._create_1d(root, f"{split}/chunk_user", n_index, np.int64, layout)
        for key in small:
            if key.endswith("/indptr"):
                continue
            shape, dtype = layout.small_spec(key)
            if len(shape) == 1:
                cls._create_1d(root, key, shape[0], dtype, layout)
            else:
                root.create_array(
                    key,
                    shape=shape,
                    dtype=dtype,
                    chunks=shape,
                    compressors=_compressors(dtype),
                    fill_value=0,
                    chunk_key_encoding=_CHUNK_KEY_ENCODING,
                )
        (path / PROGRESS_DIR).mkdir()
        return cls(path, layout)

    @staticmethod
    def _create_1d(
        root: zarr.Group, name: str, length: int, dtype: Any, layout: StoreLayout
    ) -> None:
        dtype = np.dtype(dtype)
        chunk, shard = _grid_1d(length, layout.chunk_elems, layout.shard_elems)
        root.create_array(
            name,
            shape=(length,),
            dtype=dtype,
            chunks=(chunk,),
            shards=(shard,),
            compressors=_compressors(dtype),
            fill_value=0,
            chunk_key_encoding=_CHUNK_KEY_ENCODING,
        )

    @classmethod
    def reopen(
        cls,
        path: str | os.PathLike[str] | RemotePath,
        layout: StoreLayout,
        attrs: dict[str, Any] | None = None,
    ) -> ZarrWriter:
        """Reopen an incomplete store to resume writing it.

        Shards already marked done (see :meth:`shard_done`, :meth:`pending_shards`) can be
        skipped; any other shard is rewritten whole.

        Parameters
        ----------
        path : str or path-like
            The incomplete store.
        layout : StoreLayout
            Must equal the layout the store was created with.
        attrs : dict, optional
            When given, must equal the attributes the store was created with (same
            parameters, seed, input checksum...).

        Raises
        ------
        StoreError
            If there is no incomplete Zarr store at ``path``, or its layout, array shapes or
            dtypes, or attributes differ.
        """
        path = store_path(path)
        check_reopen(path, "zarr", layout, None if attrs is None else canonical_attrs(attrs))
        writer = cls(path, layout)
        expected: dict[str, tuple[tuple[int, ...], np.dtype]] = {
            f"{s}/indptr": ((layout.n_users + 1,), np.dtype("int64")) for s in SPLITS
        }
        for split in SPLITS:
            for name in layout.shard_names():
                expected[f"{split}/{name}"] = ((layout.nnz[split],), layout.shard_dtype(name))
        expected.update({k: layout.small_spec(k) for k in layout.small_keys()})
        for key, (shape, dtype) in expected.items():
            try:
                arr = writer._array(key)
            except Exception as exc:  # zarr raises several types for a missing node
                raise StoreError(f"cannot resume {path}: array {key} is missing ({exc})") from exc
            if arr.shape != tuple(shape) or arr.dtype != dtype:
                raise StoreError(
                    f"cannot resume {path}: array {key} is {arr.dtype}{arr.shape}, "
                    f"expected {dtype}{tuple(shape)}"
                )
        (path / PROGRESS_DIR).mkdir(exist_ok=True)
        writer._forget_damaged_shards()
        return writer

    def _forget_damaged_shards(self) -> None:
        """Drop the marker (and the file) of every finished shard that no longer matches the
        digest its writer recorded, so the resumed run writes it again.

        Markers without a digest (from an older daskfractal) are dropped too: nothing proves
        their shard is whole.
        """
        for split in SPLITS:
            for name in self.layout.shard_names():
                for k in range(self.layout.n_shards(split)):
                    marker = self._marker(split, name, k)
                    if not marker.is_file():
                        continue
                    has, record = read_marker(marker)
                    rel = self._shard_file(split, name, k)
                    if has and record_matches(self.path, rel, record):
                        continue
                    marker.unlink()
                    self._clear_shard_files(f"{split}/{name}", k)

    # ------------------------------------------------------------------------- writing
    def _array(self, key: str) -> zarr.Array:
        arr = self._arrays.get(key)
        if arr is None:
            with self._lock:
                arr = self._arrays.get(key)
                if arr is None:
                    arr = zarr.open_array(store=zarr_store(self.path), path=key, mode="r+")
                    self._arrays[key] = arr
        return arr

    def _clear_shard_files(self, key: str, k: int | None) -> None:
        """Remove shard ``k`` (all shards when None) of ``key`` and any half-written copy.

        zarr 3.1 reads an existing shard before overwriting it, even when the write covers
        the whole shard, so a damaged leftover would make the rewrite fail: delete first.
        """
        cdir = self.path / key / "c"
        if k is None:
            remove_tree(cdir)
            return
        (cdir / str(k)).unlink(missing_ok=True)
        for leftover in cdir.glob(f"{k}.*.partial"):
            leftover.unlink(missing_ok=True)

    @staticmethod
    def _shard_file(split: str, name: str, k: int) -> str:
        """Path of shard ``k`` of ``split/name`` relative to the store."""
        return f"{split}/{name}/c/{k}"

    def _marker(self, split: str, name: str, k: int) -> StorePath:
        return self.path / PROGRESS_DIR / split / name / f"{k:08d}"

    def _small_marker(self, key: str) -> StorePath:
        return self.path / PROGRESS_DIR / "small" / key.replace("/", ".")

    def write_shard(
        self, split: str, name: str, k: int, values: Any, *, mark_done: bool = True
    ) -> None:
        """Write shard ``k`` of the per-interaction array ``split/name`` whole.

        Parameters
        ----------
        split : {"train", "test"}
        name : {"indices", "ratings", "timestamps"}
            "ratings"/"timestamps" only when the layout carries them.
        k : int
            Shard index in ``[0, layout.n_shards(split))``.
        values : array-like, 1-D
            Exactly ``stop - start`` values for ``layout.shard_bounds(split, k)``. Item ids
            must be integers in ``[0, n_items)``; timestamps integers; ratings numbers.
        mark_done : bool, default True
            Record the shard as written (see :meth:`shard_done`) once the write returns.

        Raises
        ------
        StoreError
            If the length, dtype or value range is wrong, or ``name`` is not stored.
        ParameterError
            If ``split`` or ``k`` is out of range.
        """
        start, stop = self.layout.shard_bounds(check_split(split), k)
        if name not in self.layout.shard_names():
            raise StoreError(
                f"{self.path}: this store holds per-interaction arrays "
                f"{self.layout.shard_names()}, not {name!r}"
            )
        dtype = self.layout.shard_dtype(name)
        what = f"{self.path}: {split}/{name} shard {k} [{start}, {stop})"
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.shape[0] != stop - start:
            raise StoreError(f"{what}: expected {stop - start} values, got shape {arr.shape}")
        bounds = {"low": 0, "high": self.layout.n_items} if name == "indices" else {}
        # the keys are low/high (mypy types a ** mapping against every parameter)
        arr = coerce_values(arr, dtype, what, **bounds)  # type: ignore[arg-type]
        self._clear_shard_files(f"{split}/{name}", k)
        self._array(f"{split}/{name}")[start:stop] = arr
        if mark_done:
            self.mark_shard_done(split, name, k)

    def shard_done(self, split: str, name: str, k: int) -> bool:
        """Whether shard ``k`` of ``split/name`` was written (and marked) in this run."""
        self.layout.shard_bounds(check_split(split), k)
        return self._marker(split, name, k).is_file()

    def piece_done(self, split: str, k: int) -> bool:
        """Whether shard ``k`` of every stored array of ``split`` is written and marked
        (:class:`~daskfractal.store.Writer` protocol)."""
        return all(self.shard_done(split, name, k) for name in self.layout.shard_names())

    def piece_items(self, split: str, k: int) -> np.ndarray:
        """Item ids of shard ``k`` of ``split`` as stored (chunks checked by their crc32c)."""
        start, stop = self.layout.shard_bounds(check_split(split), k)
        return np.asarray(self._array(f"{split}/indices")[start:stop])

    def mark_shard_done(self, split: str, name: str, k: int) -> None:
        """Record shard ``k`` of ``split/name`` as written: a file under ``_progress`` holding
        the shard file's size and SHA-256 (hashed now, while its bytes are in the page cache),
        which ``finalize`` copies to the manifest and :meth:`reopen` checks again."""
        self.layout.shard_bounds(check_split(split), k)
        if name not in self.layout.shard_names():
            raise StoreError(f"{self.path}: this store does not hold {name!r}")
        rel = self._shard_file(split, name, k)
        write_marker(self._marker(split, name, k), describe_file(self.path, rel))

    def _all_shards(self) -> list[tuple[str, str, int]]:
        return [
            (split, name, k)
            for split in SPLITS
            for name in self.layout.shard_names()
            for k in range(self.layout.n_shards(split))
        ]

    def pending_shards(self) -> list[tuple[str, str, int]]:
        """Every ``(split, name, k)`` not yet marked done, in write order."""
        return [t for t in self._all_shards() if not self._marker(*t).is_file()]

    def write_small(self, key: str, values: Any) -> None:
        """Write a small array whole: ``{train,test}/indptr``, ``stats/*`` or ``users/slot``.

        ``indptr`` must start at 0, not decrease and end at ``nnz[split]``; writing it also
        writes ``{split}/chunk_user``, the index :meth:`ExpansionStore.to_dask_dataframe` uses
        to cut partitions at user boundaries. Degrees must be non-negative and sum to the
        split's nnz.

        Raises
        ------
        StoreError
            If the shape, dtype or values are wrong.
        ParameterError
            If ``key`` is unknown.
        """
        shape, _ = self.layout.small_spec(key)
        what = f"{self.path}: {key}"
        arr = validate_small(self.layout, key, values, what)
        self._clear_shard_files(key, None)
        if arr.size:
            self._array(key)[...] = arr.reshape(shape)
        if key.endswith("/indptr"):
            split = key.split("/")[0]
            index = _chunk_user(arr, self.layout.nnz[split], self.layout.chunk_elems, len(arr) - 1)
            self._clear_shard_files(f"{split}/chunk_user", None)
            self._array(f"{split}/chunk_user")[:] = index
        touch(self._small_marker(key))

    def write_small_parts(self, key: str, parts: Iterable[Any]) -> None:
        """Write the 1-D small array ``key`` from consecutive parts, one part in memory at a
        time (the item degrees of a catalogue too big for one dense array).

        The bytes are those :meth:`write_small` writes for the concatenated parts; parts that
        are whole shards of the array (``layout.shard_elems`` values) are each written
        without reading a shard back. Same checks as :meth:`write_small`, made part by part
        (the length and the sum at the end: the array is then not marked written).
        """
        self._clear_shard_files(key, None)
        arr = self._array(key)
        offset = 0
        for part in validate_small_parts(self.layout, key, parts, f"{self.path}: {key}"):
            if part.size:
                arr[offset : offset + part.size] = part
            offset += part.size
        touch(self._small_marker(key))

    def small_done(self, key: str) -> bool:
        """Whether the small array ``key`` was written in this run."""
        self.layout.small_spec(key)
        return self._small_marker(key).is_file()

    def finalize(self, extra_attrs: dict[str, Any] | None = None) -> None:
        """Check every array was written, then mark the store complete.

        Order: verify all shard and small-array markers; set the root attribute
        ``complete = True`` (merging ``extra_attrs`` into ``daskfractal``) — the last change to
        any Zarr metadata; write ``manifest.json`` (the digests recorded by the shard markers,
        the other files hashed here); write the ``_SUCCESS`` marker; remove ``_progress/`` and
        leftover temporary files.

        Parameters
        ----------
        extra_attrs : dict, optional
            Added to (and overriding keys of) the ``daskfractal`` attributes, e.g. final
            counts. Must be deterministic if byte-identical reruns matter.

        Raises
        ------
        StoreError
            If some shard or small array was not written, or the store is not incomplete.
        """
        status, fmt, meta = inspect_store(self.path)
        if status != "incomplete" or fmt != "zarr":
            raise StoreError(f"cannot finalize {self.path}: it is {status}, not an incomplete one")
        missing = [f"{s}/{n} shard {k}" for s, n, k in self.pending_shards()]
        missing += [key for key in self.layout.small_keys() if not self.small_done(key)]
        if missing:
            shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
            raise StoreError(
                f"cannot finalize {self.path}: {len(missing)} piece(s) not written: {shown}"
            )
        attrs = dict(meta.get("daskfractal", {}))
        attrs.update(canonical_attrs(extra_attrs))
        attrs = canonical_attrs(attrs)
        sweep_temporaries(self.path, _ZARR_TEMPORARIES)
        known = {}
        for split, name, k in self._all_shards():
            has, record = read_marker(self._marker(split, name, k))
            if has and record is not None:
                known[record["file"]] = record
        final = root_meta("zarr", self.layout, attrs, complete=True, manifest=MANIFEST_FILE)
        root = zarr.open_group(zarr_store(self.path), mode="r+")
        root.attrs.put(final)
        write_manifest(self.path, known, final)
        touch(self.path / SUCCESS_FILE)
        remove_tree(self.path / PROGRESS_DIR)


def validate_small(layout: StoreLayout, key: str, values: Any, what: str) -> np.ndarray:
    """Check a small array's shape, dtype and invariants; return it in its stored dtype."""
    shape, dtype = layout.small_spec(key)
    group, name = key.split("/")
    if name == "indptr":
        split = group
        arr = coerce_values(values, dtype, what, shape=shape, low=0)
        if arr[0] != 0 or arr[-1] != layout.nnz[split]:
            raise StoreError(
                f"{what}: indptr must start at 0 and end at nnz={layout.nnz[split]}, got "
                f"{arr[0]} ... {arr[-1]}"
            )
        if np.any(arr[1:] < arr[:-1]):
            raise StoreError(f"{what}: indptr must not decrease")
        return arr
    arr = coerce_values(values, dtype, what, shape=shape, low=0)
    if name.endswith("_degree"):
        split = name.split("_")[1]
        total = int(arr.sum(dtype=np.int64))
        if total != layout.nnz[split]:
            raise StoreError(f"{what}: degrees sum to {total}, expected nnz={layout.nnz[split]}")
    return arr


def validate_small_parts(
    layout: StoreLayout, key: str, parts: Iterable[Any], what: str
) -> Iterator[np.ndarray]:
    """The parts of the 1-D small array ``key``, each checked and in the stored dtype; after
    the last, the checks on the whole array (length; degrees: sum to the split's nnz).

    Raises
    ------
    StoreError
        As :func:`validate_small`, from the first bad part or at the end.
    """
    shape, dtype = layout.small_spec(key)
    name = key.split("/")[1]
    if len(shape) != 1 or name == "indptr":
        raise StoreError(f"{what}: written in parts only when 1-D and not a row pointer")
    length = total = 0
    for part in parts:
        arr = coerce_values(part, dtype, what, low=0)
        if arr.ndim != 1:
            raise StoreError(f"{what}: parts must be 1-D, got shape {arr.shape}")
        length += arr.size
        if length > shape[0]:
            raise StoreError(f"{what}: the parts hold more than the {shape[0]} values expected")
        total += int(arr.sum(dtype=np.int64))
        yield arr
    if length != shape[0]:
        raise StoreError(f"{what}: expected shape {shape}, the parts hold ({length},)")
    if name.endswith("_degree"):
        split = name.split("_")[1]
        if total != layout.nnz[split]:
            raise StoreError(f"{what}: degrees sum to {total}, expected nnz={layout.nnz[split]}")
