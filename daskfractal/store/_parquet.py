"""Parquet writer: plain Parquet datasets (one file per part) readable by any engine.

Layout of the store (a directory)::

    _daskfractal.json           root metadata: complete, daskfractal, format, format_version,
                                layout (same document as the Zarr root attributes)
    _SUCCESS                    empty marker, written by finalize() after complete=True
    train/part-00000.parquet    columns user_id int64, item_id int32|int64, [rating float32],
    test/part-00000.parquet     [timestamp int64]; sorted by user_id within each part
    stats/<name>.parquet        one column named like the array (block_*: block_row,
                                block_col, value in C order)
    users/slot.parquet          column slot
    indptr/<split>.parquet      column indptr (optional)
    manifest.json               every file with its size and SHA-256 (written by finalize)
    _progress/                  per-part completion markers holding the part's digest while
                                writing (removed at finalize)

Files are zstd (level 3) compressed with a CRC on every page, written to a hidden temporary
name and moved into place with ``os.replace``, so a part file either exists whole or not at
all; hidden and ``_`` names are skipped by pyarrow.dataset, pandas, Dask and Spark.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ParameterError, StoreError
from ._common import (
    PARQUET_META,
    check_reopen,
    coerce_values,
    dump_json,
    inspect_store,
    prepare_new_store,
    root_meta,
    sweep_temporaries,
    touch,
)
from ._fs import (
    RemotePath,
    StorePath,
    arrow_source,
    atomic_write_bytes,
    glob,
    remove_tree,
    staged_file,
    store_path,
)
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
from ._zarr import validate_small, validate_small_parts

ROW_GROUP_SIZE = 2**20
_TEMPORARIES = (".*.tmp",)
#: Column name of each carried per-interaction array.
COLUMN_OF = {"ratings": "rating", "timestamps": "timestamp"}


def interaction_schema(layout: StoreLayout) -> pa.Schema:
    """Arrow schema of the interaction tables of ``layout``."""
    fields = [
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("item_id", pa.from_numpy_dtype(layout.index_np_dtype), nullable=False),
    ]
    if "ratings" in layout.carry:
        fields.append(pa.field("rating", pa.float32(), nullable=False))
    if "timestamps" in layout.carry:
        fields.append(pa.field("timestamp", pa.int64(), nullable=False))
    return pa.schema(fields)


def small_file(key: str) -> str:
    """Relative path of the Parquet file holding small array ``key``."""
    group, name = key.split("/")
    if name == "indptr":
        return f"indptr/{group}.parquet"
    return f"{group}/{name}.parquet"


def small_column(key: str) -> str:
    """Name of the value column of small array ``key``."""
    name = key.split("/")[1]
    return "value" if name.startswith("block_") else name


def _write_table(table: pa.Table, path: StorePath, sorting: bool = False) -> None:
    """Write ``table`` to ``path`` atomically (a temporary file, then ``os.replace`` or one
    upload: see :func:`~daskfractal.store._fs.staged_file`)."""
    with staged_file(path) as tmp:
        pq.write_table(
            table,
            str(tmp),
            compression="zstd",
            compression_level=3,
            row_group_size=ROW_GROUP_SIZE,
            sorting_columns=[pq.SortingColumn(0)] if sorting else None,
            # readers verify page CRCs, so flipped bytes in a page fail instead of decoding
            write_page_checksum=True,
        )


class ParquetWriter:
    """Writes an expansion store as Parquet datasets, one file per part.

    Like :class:`ZarrWriter` it holds only the path and layout (picklable). A *part* is any
    set of rows the caller chooses (typically a range of users); parts of a split are read in
    part-index order.

    Parameters
    ----------
    path : str or path-like
    layout : StoreLayout
        ``shard_elems``/``chunk_elems`` are not used by this format.
    """

    format = "parquet"

    def __init__(self, path: str | os.PathLike[str] | RemotePath, layout: StoreLayout) -> None:
        self.path = store_path(path)
        self.layout = layout
        self.schema = interaction_schema(layout)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "layout": self.layout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # unpickling: the instance pickle made, initialized again from its state
        self.__init__(state["path"], state["layout"])  # type: ignore[misc]

    def __dask_tokenize__(self) -> tuple[str, str, str]:
        return ("ParquetWriter", str(self.path), repr(self.layout))

    def __repr__(self) -> str:
        return f"ParquetWriter({str(self.path)!r})"

    # ------------------------------------------------------------------------- lifecycle
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | RemotePath,
        layout: StoreLayout,
        attrs: dict[str, Any] | None = None,
        *,
        overwrite: bool = False,
    ) -> ParquetWriter:
        """Create a new, incomplete Parquet store at ``path``.

        Parameters and errors are those of :meth:`ZarrWriter.create`.
        """
        if not isinstance(layout, StoreLayout):
            raise TypeError(f"layout must be a StoreLayout, got {type(layout).__name__}")
        attrs = canonical_attrs(attrs)
        path = store_path(path)
        prepare_new_store(path, "parquet", overwrite)
        for split in SPLITS:
            (path / split).mkdir()
        meta = root_meta("parquet", layout, attrs, complete=False)
        atomic_write_bytes(path / PARQUET_META, dump_json(meta))
        return cls(path, layout)

    @classmethod
    def reopen(
        cls,
        path: str | os.PathLike[str] | RemotePath,
        layout: StoreLayout,
        attrs: dict[str, Any] | None = None,
    ) -> ParquetWriter:
        """Reopen an incomplete Parquet store to resume it (see :meth:`ZarrWriter.reopen`).

        Parts already on disk and marked done (:meth:`part_done`) are checked against the
        digest recorded when they were written; a damaged or unmarked part is deleted so the
        resumed run writes it again.
        """
        path = store_path(path)
        check_reopen(path, "parquet", layout, None if attrs is None else canonical_attrs(attrs))
        writer = cls(path, layout)
        writer._forget_damaged_parts()
        return writer

    def _forget_damaged_parts(self) -> None:
        """Delete every part (and marker) that is unmarked or differs from its recorded digest:
        a part killed before its marker, or changed since, is written again on resume."""
        for split in SPLITS:
            for part in glob(self.path / split, "part-*.parquet"):
                marker = self.path / PROGRESS_DIR / split / part.name
                has, record = read_marker(marker)
                if has and record_matches(self.path, f"{split}/{part.name}", record):
                    continue
                part.unlink()
                marker.unlink(missing_ok=True)

    # ------------------------------------------------------------------------- writing
    def part_path(self, split: str, part_index: int) -> StorePath:
        """Path of part ``part_index`` of ``split``."""
        check_split(split)
        if isinstance(part_index, bool) or not isinstance(part_index, int | np.integer):
            raise ParameterError(f"part_index must be an integer, got {part_index!r}")
        if part_index < 0:
            raise ParameterError(f"part_index must be >= 0, got {part_index}")
        return self.path / split / f"part-{int(part_index):05d}.parquet"

    def write_part(
        self,
        split: str,
        part_index: int,
        user_ids: Any,
        item_ids: Any,
        ratings: Any = None,
        timestamps: Any = None,
    ) -> None:
        """Write one part of ``split`` atomically, sorted by user.

        Parameters
        ----------
        split : {"train", "test"}
        part_index : int
            Parts are named ``part-{part_index:05d}.parquet``; rewriting an index replaces it.
        user_ids : array-like of int
            Non-decreasing, in ``[0, n_users)``.
        item_ids : array-like of int
            In ``[0, n_items)``, aligned with ``user_ids``.
        ratings, timestamps : array-like, optional
            Required exactly when the layout carries them.

        Raises
        ------
        StoreError
            If lengths differ, ids are out of range or unsorted, dtypes do not fit, or a
            carried column is missing (or an uncarried one given).
        """
        path = self.part_path(split, part_index)
        what = f"{path}"
        users = coerce_values(
            user_ids, np.dtype("int64"), f"{what}: user_ids", low=0, high=self.layout.n_users
        )
        items = coerce_values(
            item_ids,
            self.layout.index_np_dtype,
            f"{what}: item_ids",
            low=0,
            high=self.layout.n_items,
        )
        if users.ndim != 1 or items.shape != users.shape:
            raise StoreError(
                f"{what}: user_ids and item_ids must be 1-D of equal length, got shapes "
                f"{users.shape} and {items.shape}"
            )
        if np.any(users[1:] < users[:-1]):
            raise StoreError(f"{what}: user_ids must be sorted (non-decreasing) within a part")
        columns = [pa.array(users), pa.array(items)]
        for name, given in (("ratings", ratings), ("timestamps", timestamps)):
            if (given is not None) != (name in self.layout.carry):
                state = "carries" if name in self.layout.carry else "does not carry"
                raise StoreError(f"{what}: the layout {state} {name}, got {name}={given!r:.40}")
            if given is None:
                continue
            col = coerce_values(given, self.layout.shard_dtype(name), f"{what}: {name}")
            if col.shape != users.shape:
                raise StoreError(f"{what}: {name} has shape {col.shape}, expected {users.shape}")
            columns.append(pa.array(col))
        table = pa.Table.from_arrays(columns, schema=self.schema)
        _write_table(table, path, sorting=True)
        # the digest now, while the bytes are in the page cache; finalize only gathers it
        rel = f"{split}/{path.name}"
        write_marker(self._marker(split, path.name), describe_file(self.path, rel))

    def _marker(self, split: str, name: str) -> StorePath:
        return self.path / PROGRESS_DIR / split / name

    def part_done(self, split: str, part_index: int) -> bool:
        """Whether part ``part_index`` of ``split`` is on disk and marked done (parts are
        written atomically, then marked with their digest)."""
        path = self.part_path(split, part_index)
        return path.is_file() and self._marker(split, path.name).is_file()

    def piece_done(self, split: str, k: int) -> bool:
        """Same as :meth:`part_done` (:class:`~daskfractal.store.Writer` protocol)."""
        return self.part_done(split, k)

    def piece_items(self, split: str, k: int) -> np.ndarray:
        """Item ids of the finished part ``k`` of ``split``."""
        where, fs = arrow_source(self.part_path(split, k))
        table = pq.read_table(where, columns=["item_id"], filesystem=fs)
        return table.column(0).to_numpy()

    def write_small(self, key: str, values: Any) -> None:
        """Write a small array whole (``stats/*``, ``users/slot``, optionally ``*/indptr``).

        Same keys and checks as :meth:`ZarrWriter.write_small`.
        """
        shape, _ = self.layout.small_spec(key)
        arr = validate_small(self.layout, key, values, f"{self.path}: {key}")
        column = small_column(key)
        if len(shape) == 2:
            rows, cols = np.indices(shape, dtype=np.int64)
            table = pa.table(
                {"block_row": rows.ravel(), "block_col": cols.ravel(), column: arr.ravel()}
            )
        else:
            table = pa.table({column: arr})
        _write_table(table, self.path / small_file(key))

    def write_small_parts(self, key: str, parts: Iterable[Any]) -> None:
        """Write the 1-D small array ``key`` from consecutive parts, one part (and one row
        group) in memory at a time: the same bytes as :meth:`write_small` of the whole array
        (row groups of ``ROW_GROUP_SIZE`` rows whatever the parts). Same checks, part by part.
        """
        column = small_column(key)
        schema = pa.schema([pa.field(column, pa.from_numpy_dtype(self.layout.small_spec(key)[1]))])
        checked = validate_small_parts(self.layout, key, parts, f"{self.path}: {key}")
        with staged_file(self.path / small_file(key)) as tmp:
            with pq.ParquetWriter(
                str(tmp),
                schema,
                compression="zstd",
                compression_level=3,
                write_page_checksum=True,
            ) as out:
                for group in _row_groups(checked, ROW_GROUP_SIZE):
                    out.write_table(pa.table({column: group}, schema=schema))

    def small_done(self, key: str) -> bool:
        """Whether the small array ``key`` is on disk."""
        self.layout.small_spec(key)
        return (self.path / small_file(key)).is_file()

    def finalize(self, extra_attrs: dict[str, Any] | None = None) -> None:
        """Check the parts and small arrays, then mark the store complete.

        Requires every ``stats/*`` array and ``users/slot`` (``indptr`` is optional here), and
        the parts of each split to hold exactly ``nnz[split]`` rows with the expected schema
        (read from the Parquet footers only). Then rewrites ``_daskfractal.json`` with
        ``complete = True``, writes ``manifest.json`` (part digests from their markers, other
        files hashed here) and ``_SUCCESS``, and removes ``_progress/``.

        Raises
        ------
        StoreError
            If something is missing or the row counts or schemas disagree with the layout.
        """
        status, fmt, meta = inspect_store(self.path)
        if status != "incomplete" or fmt != "parquet":
            raise StoreError(f"cannot finalize {self.path}: it is {status}, not an incomplete one")
        small = [k for k in self.layout.small_keys() if not k.endswith("/indptr")]
        missing = [k for k in small if not self.small_done(k)]
        if missing:
            raise StoreError(f"cannot finalize {self.path}: not written: {', '.join(missing)}")
        for split in SPLITS:
            rows = 0
            for part in glob(self.path / split, "part-*.parquet"):
                where, fs = arrow_source(part)
                info = pq.read_metadata(where, filesystem=fs)
                if not info.schema.to_arrow_schema().equals(self.schema):
                    raise StoreError(f"cannot finalize {self.path}: {part} has another schema")
                rows += info.num_rows
            if rows != self.layout.nnz[split]:
                raise StoreError(
                    f"cannot finalize {self.path}: the {split} parts hold {rows} rows, "
                    f"expected nnz={self.layout.nnz[split]}"
                )
        attrs = dict(meta.get("daskfractal", {}))
        attrs.update(canonical_attrs(extra_attrs))
        attrs = canonical_attrs(attrs)
        sweep_temporaries(self.path, _TEMPORARIES)
        known = {}
        for marker in (self.path / PROGRESS_DIR).glob("*/part-*.parquet"):
            has, record = read_marker(marker)
            if has and record is not None:
                known[record["file"]] = record
        final = root_meta("parquet", self.layout, attrs, True, manifest=MANIFEST_FILE)
        atomic_write_bytes(self.path / PARQUET_META, dump_json(final))
        write_manifest(self.path, known, final)
        touch(self.path / SUCCESS_FILE)
        remove_tree(self.path / PROGRESS_DIR)


def _row_groups(parts: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The concatenation of ``parts`` cut into arrays of ``size`` values (the last shorter;
    one empty array when there are no values, as ``write_table`` writes one row group)."""
    pending: list[np.ndarray] = []
    held = 0
    sent = False
    for part in parts:
        while part.size:
            take = min(size - held, part.size)
            pending.append(part[:take])
            held += take
            part = part[take:]
            if held == size:
                yield np.concatenate(pending)
                sent = True
                pending, held = [], 0
    if held or not sent:
        yield np.concatenate(pending) if pending else np.zeros(0, np.int64)
