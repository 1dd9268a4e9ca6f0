"""Reading a finished store, whatever its format: :func:`open_store` and :class:`ExpansionStore`."""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
import zarr

from ..errors import DaskFractalError, ParameterError, StoreError
from ._common import INCOMPLETE_HINT, StoreFormat, inspect_store
from ._fs import (
    RemotePath,
    StorePath,
    arrow_source,
    check_reachable,
    glob,
    remote_errors,
    store_path,
    zarr_store,
)
from ._layout import (
    READABLE_VERSIONS,
    SPLITS,
    STATS_NAMES,
    StoreLayout,
    check_dense_items,
    check_split,
)
from ._manifest import VERIFY_HINT, check_on_open
from ._parquet import COLUMN_OF, interaction_schema, small_column, small_file

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

_VALUES = ("auto", "ones", "ratings", "timestamps")


class _AbandonedTaskFilter(logging.Filter):
    """Drops asyncio's "Task was destroyed but it is pending!" records.

    When one chunk of a zarr read fails, the sibling chunk reads of that call are left
    pending in zarr's event loop and asyncio logs each of them when they are collected: noise
    after a damage error has already been raised with a one-line message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Task was destroyed but it is pending")


_ABANDONED_FILTER = _AbandonedTaskFilter()


def _quiet_abandoned_zarr_reads() -> None:
    logger = logging.getLogger("asyncio")
    if _ABANDONED_FILTER not in logger.filters:
        logger.addFilter(_ABANDONED_FILTER)


@contextmanager
def _damaged_as_store_error(path: object, what: str) -> Iterator[None]:
    """Turn a failed read of stored bytes into a one-line :class:`StoreError`.

    A chunk failing its crc32c (zarr raises ValueError), a Parquet page failing its CRC or a
    footer that does not parse (pyarrow raises ArrowInvalid / OSError) means the file changed
    after it was written: never hand out what it decodes to.
    """
    try:
        yield
    except DaskFractalError:
        raise
    except (ValueError, OSError, RuntimeError) as exc:
        _quiet_abandoned_zarr_reads()
        why = "a chunk fails its checksum" if "checksum" in str(exc).lower() else None
        why = why or f"it cannot be decoded ({exc.__class__.__name__})"
        raise StoreError(
            f"{path} is damaged: {what}: {why}; {VERIFY_HINT.format(path=path)}"
        ) from exc


class CheckedArray:
    """A read-only Zarr array whose reads raise :class:`StoreError` on damaged chunks.

    Parameters
    ----------
    path : str, path-like or RemotePath
        The store directory (or object-store URL).
    key : str
        The array inside it, e.g. ``"train/indices"``.
    """

    def __init__(self, path: str | os.PathLike[str] | RemotePath, key: str) -> None:
        where = store_path(path)
        self.path = str(where)
        self.key = key
        store = zarr_store(where, read_only=True)
        with _damaged_as_store_error(self.path, key):
            self._array = zarr.open_array(store=store, path=key, mode="r")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the array."""
        return tuple(self._array.shape)

    @property
    def dtype(self) -> np.dtype:
        """Dtype of the array."""
        return np.dtype(self._array.dtype)

    def __getitem__(self, selection: Any) -> np.ndarray:
        with _damaged_as_store_error(self.path, self.key):
            return np.asarray(self._array[selection])


def open_checked_array(path: str | os.PathLike[str] | RemotePath, key: str) -> CheckedArray:
    """Open array ``key`` of the Zarr store at ``path`` for checked reads (see
    :class:`CheckedArray`)."""
    return CheckedArray(path, key)


def open_store(path: str | os.PathLike[str] | RemotePath) -> ExpansionStore:
    """Open a finished daskfractal store (Zarr or Parquet, detected from its content).

    Parameters
    ----------
    path : str, path-like or RemotePath
        The store directory, or an fsspec URL (``s3://bucket/prefix``; storage options from
        :func:`~daskfractal.store.set_storage_options` or ``DASKFRACTAL_STORAGE_OPTIONS``).

    Returns
    -------
    ExpansionStore

    Raises
    ------
    StoreError
        If ``path`` does not exist, is not a daskfractal store, is an ``mlperf`` or
        ``meta-csv`` export (see :func:`open_export`), was written by a newer
        format version, is incomplete (its writer did not finish), or is damaged: a file its
        ``manifest.json`` lists is missing or has another size, a file it does not list is
        present, or a metadata file or the counts were edited (``daskfractal.verify`` gives
        the full list; damaged chunks are refused when read).
    """
    where = store_path(path)
    check_reachable(where, writing=False)
    with remote_errors(where, writing=False):
        return _open_store(where)


def _open_store(path: StorePath) -> ExpansionStore:
    status, fmt, meta = inspect_store(path)
    if status == "missing":
        # a run stopped in its first pass has only its work folder (see expansion._write)
        if path.with_name(path.name + ".work").is_dir():
            raise StoreError(f"{path} is incomplete: {INCOMPLETE_HINT}")
        raise StoreError(f"{path} does not exist")
    if status in ("empty", "foreign"):
        raise StoreError(
            f"{path} is not a daskfractal store (no zarr.json or _daskfractal.json with "
            "daskfractal metadata)"
        )
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise StoreError(
            f"{path} has store format_version {meta.get('format_version')}; this version of "
            f"daskfractal reads {', '.join(map(str, READABLE_VERSIONS))}"
        )
    if status != "complete":
        raise StoreError(f"{path} is incomplete: {INCOMPLETE_HINT}")
    assert fmt is not None
    if fmt not in ("zarr", "parquet"):
        raise StoreError(
            f"{path} is an export in the {fmt} layout, read by its own pipeline's reader "
            "(np.load, csv; see docs/store-format.md): daskfractal.open, validate, evaluate "
            "and negatives read Zarr and Parquet stores; write one with --format zarr or parquet"
        )
    # missing, truncated or unexpected files and edited attributes: refuse before any read
    check_on_open(path, meta)
    return ExpansionStore(path, fmt, meta)


class ExpansionStore:
    """A finished expansion store, read lazily.

    Attributes
    ----------
    path : pathlib.Path or RemotePath
    format : {"zarr", "parquet"}
    attrs : dict
        The run description the writer was given (``daskfractal`` root attribute, with the
        ``extra_attrs`` of ``finalize`` merged in).
    layout : StoreLayout
    n_users, n_items : int
    nnz : dict of str to int
        Interactions per split (``"train"``, ``"test"``).
    """

    def __init__(self, path: StorePath, fmt: StoreFormat, meta: dict) -> None:
        self.path = path
        self.format: StoreFormat = fmt
        self.meta = meta
        self.attrs: dict[str, Any] = meta.get("daskfractal", {})
        self.layout = StoreLayout.from_dict(meta["layout"])
        self.n_users = self.layout.n_users
        self.n_items = self.layout.n_items
        self.nnz = dict(self.layout.nnz)
        # open arrays, shared by the threads of a Dask worker; never pickled (see __getstate__)
        self._zarrays: dict[str, CheckedArray] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # a store travels to workers as its description; each process opens its own arrays
        return {"path": self.path, "format": self.format, "meta": self.meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["format"], state["meta"])  # type: ignore[misc]  # re-run the constructor on unpickling

    def __dask_tokenize__(self) -> tuple[str, str, str]:
        return (str(self.path), self.format, repr(sorted(self.meta.items())))

    def __repr__(self) -> str:
        return (
            f"ExpansionStore({str(self.path)!r}, format={self.format!r}, n_users={self.n_users}, "
            f"n_items={self.n_items}, nnz={self.nnz})"
        )

    # ------------------------------------------------------------------------- helpers
    def _zarray(self, key: str) -> CheckedArray:
        with self._lock:
            arr = self._zarrays.get(key)
            if arr is None:
                arr = self._zarrays[key] = open_checked_array(self.path, key)
        return arr

    def _read_small(self, key: str) -> np.ndarray:
        shape, dtype = self.layout.small_spec(key)
        if self.format == "zarr":
            return np.asarray(self._zarray(key)[...], dtype=dtype)
        file = self.path / small_file(key)
        if not file.is_file():
            raise StoreError(f"{self.path}: {key} was not written")
        where, fs = arrow_source(file)
        with _damaged_as_store_error(self.path, small_file(key)):
            table = pq.read_table(
                where, columns=[small_column(key)], page_checksum_verification=True, filesystem=fs
            )
        return table.column(0).to_numpy().astype(dtype, copy=False).reshape(shape)

    def _parquet_parts(self, split: str) -> list[StorePath]:
        return glob(self.path / split, "part-*.parquet")

    # ------------------------------------------------------------------------- public
    def counts(self) -> dict[str, int]:
        """Sizes of the store: n_users, n_items, nnz_train, nnz_test."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "nnz_train": self.nnz["train"],
            "nnz_test": self.nnz["test"],
        }

    def stats(self, *, items: bool = True) -> dict[str, np.ndarray]:
        """The ``stats/*`` arrays: user/item train/test degrees and block counts.

        Parameters
        ----------
        items : bool, default True
            Include ``item_train_degree`` and ``item_test_degree`` (``n_items`` int64 each).

        Raises
        ------
        StoreError
            ``items`` on a store of more than :data:`~daskfractal.store.LOAD_ITEMS_MAX`
            items: read them with :meth:`item_degrees`, :meth:`iter_item_degrees` or
            :meth:`item_degree_histogram`.
        """
        if items:
            check_dense_items(self.path, self.n_items, "stats()")
        keys = self.layout.small_keys()  # a public store has no block counts
        return {
            name: self._read_small(f"stats/{name}")
            for name in STATS_NAMES
            if f"stats/{name}" in keys and (items or not name.startswith("item_"))
        }

    def iter_item_degrees(
        self, split: str = "train", step: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``stats/item_{split}_degree`` range by range: ``(start, degrees)`` pairs (int64)
        of about ``step`` items (default: the store's shard length, whole Zarr shards), in
        item order; one range in memory at a time."""
        key = f"stats/item_{check_split(split)}_degree"
        step = int(step or self.layout.shard_elems)
        if step < 1:
            raise ParameterError(f"step={step} must be ≥ 1")
        if self.format == "zarr":
            arr = self._zarray(key)
            for a in range(0, self.n_items, step):
                yield a, np.asarray(arr[a : min(a + step, self.n_items)], dtype=np.int64)
            return
        file = self.path / small_file(key)
        where, fs = arrow_source(file)
        with _damaged_as_store_error(self.path, small_file(key)):
            reader = pq.ParquetFile(where, filesystem=fs, page_checksum_verification=True)
            a = 0
            for batch in reader.iter_batches(batch_size=step, columns=[small_column(key)]):
                values = batch.column(0).to_numpy().astype(np.int64, copy=False)
                yield a, values
                a += len(values)

    def item_degrees(
        self, split: str = "train", start: int = 0, stop: int | None = None
    ) -> np.ndarray:
        """Items ``[start, stop)`` of ``stats/item_{split}_degree`` (int64), read by range."""
        stop = self.n_items if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop <= self.n_items:
            raise ParameterError(f"items [{start}, {stop}) are not inside [0, {self.n_items})")
        if self.format == "zarr":
            key = f"stats/item_{check_split(split)}_degree"
            return np.asarray(self._zarray(key)[start:stop], dtype=np.int64)
        out = []
        for a, values in self.iter_item_degrees(split):
            if a >= stop:
                break
            if a + len(values) > start:
                out.append(values[max(start - a, 0) : stop - a])
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def item_degree_histogram(self, split: str = "train") -> np.ndarray:
        """How many items have each degree: ``h[d]`` items of degree ``d`` in ``split``
        (int64, ``h.sum() == n_items``), built range by range: the item degree distribution
        (quantiles, Gini, KS) of a catalogue too big to load."""
        hist = np.zeros(1, np.int64)
        for _, values in self.iter_item_degrees(split):
            h = np.bincount(values)
            if h.size > hist.size:
                h[: hist.size] += hist
                hist = h.astype(np.int64)
            else:
                hist[: h.size] += h
        return hist

    def user_slots(self) -> np.ndarray:
        """``users/slot``: for each output user, its slot ``i·m + t`` before users were dropped.

        Raises
        ------
        StoreError
            On a public store, which does not record the slots.
        """
        if self.layout.public:
            raise StoreError(
                f"{self.path} is a public store: it does not record users/slot (the block row "
                "and source position of every user)"
            )
        return self._read_small("users/slot")

    def indptr(self, split: str = "train") -> np.ndarray:
        """The CSR row pointer of ``split`` (Zarr stores, or Parquet stores that saved it)."""
        return self._read_small(f"{check_split(split)}/indptr")

    def user_block(
        self, u0: int, u1: int, split: str = "train", values: str = "auto"
    ) -> sp.csr_matrix:
        """Rows ``[u0, u1)`` of ``split`` as a CSR matrix of shape ``(u1 - u0, n_items)``.

        Zarr stores read ``indptr[u0:u1+1]`` and then only that element range of the item
        ids (and values); Parquet stores filter on ``user_id`` (row-group statistics prune).

        Parameters
        ----------
        u0, u1 : int
            ``0 <= u0 <= u1 <= n_users``.
        split : {"train", "test"}
        values : {"auto", "ones", "ratings", "timestamps"}
            Matrix data: "auto" is the ratings when stored, else ones (float32).

        Returns
        -------
        scipy.sparse.csr_matrix
            Entries in stored order within each row (not re-sorted, duplicates kept).
        """
        column = self._value_column(values)
        names = ("indices",) if column is None else ("indices", column)
        ptr, cols = self.row_columns(u0, u1, split, names)
        indices = cols["indices"].astype(self.layout.index_np_dtype, copy=False)
        data = np.ones(len(indices), dtype=np.float32) if column is None else cols[column]
        return sp.csr_matrix((data, indices, ptr), shape=(ptr.shape[0] - 1, self.n_items))

    def rows(self, u0: int, u1: int, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[u0, u1)`` of ``split`` as ``(indptr, indices)``: the one CSR row read.

        Every reader of the package (validation passes, negative sampling, :meth:`user_block`,
        :meth:`to_dask_dataframe`) goes through :meth:`row_columns`, which this calls. Zarr
        stores read ``{split}/indptr[u0:u1+1]`` and then only that element range of
        ``{split}/indices``, through arrays opened once per store object (thread-safe; a
        pickled store reopens them in the receiving process) whose damaged chunks raise
        :class:`~daskfractal.errors.StoreError`. Parquet stores read the rows of the parts
        (row-group statistics prune) and rebuild the row pointer.

        Parameters
        ----------
        u0, u1 : int
            ``0 <= u0 <= u1 <= n_users``.
        split : {"train", "test"}

        Returns
        -------
        indptr : numpy.ndarray
            int64, ``u1 - u0 + 1`` entries, local: ``indptr[0] == 0``.
        indices : numpy.ndarray
            Item ids (the store's index dtype, int32 or int64), in stored order within each
            row (not re-sorted, duplicates kept).

        Raises
        ------
        StoreError
            If a chunk or page fails its checksum, or the rows read disagree with the row
            pointer.
        """
        ptr, cols = self.row_columns(u0, u1, split, ("indices",))
        return ptr, cols["indices"]

    def row_columns(
        self, u0: int, u1: int, split: str = "train", names: tuple[str, ...] = ("indices",)
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rows ``[u0, u1)`` of ``split``: the local row pointer and the stored ``names``.

        Parameters
        ----------
        u0, u1 : int
            ``0 <= u0 <= u1 <= n_users``.
        split : {"train", "test"}
        names : tuple of str
            Stored per-interaction arrays: ``"indices"`` and any of the carried
            ``"ratings"``, ``"timestamps"`` (see ``layout.shard_names()``).

        Returns
        -------
        indptr : numpy.ndarray
            int64, local (``indptr[0] == 0``).
        columns : dict of str to numpy.ndarray
            One array per name, in the dtype of ``layout.shard_dtype(name)``.
        """
        check_split(split)
        u0, u1 = self._check_rows(u0, u1)
        for name in names:
            if name not in self.layout.shard_names():
                raise ParameterError(f"{self.path} does not store {name}")
        if self.format == "zarr":
            ptr = np.asarray(self._zarray(f"{split}/indptr")[u0 : u1 + 1], dtype=np.int64)
            a, b = int(ptr[0]), int(ptr[-1])
            if b < a or np.any(np.diff(ptr) < 0):
                raise StoreError(
                    f"{self.path} is damaged: {split}/indptr decreases within rows "
                    f"[{u0}, {u1}); {VERIFY_HINT.format(path=self.path)}"
                )
            cols = {}
            for name in names:
                dtype = self.layout.shard_dtype(name)
                cols[name] = (
                    np.asarray(self._zarray(f"{split}/{name}")[a:b]).astype(dtype, copy=False)
                    if b > a
                    else np.empty(0, dtype)
                )
            return ptr - a, cols
        table = self._parquet_rows(split, u0, u1)
        users = table.column("user_id").to_numpy() - u0
        counts = np.bincount(users, minlength=u1 - u0) if len(users) else np.zeros(u1 - u0, int)
        ptr = np.zeros(u1 - u0 + 1, np.int64)
        np.cumsum(counts, out=ptr[1:])
        cols = {
            name: table.column("item_id" if name == "indices" else COLUMN_OF[name])
            .to_numpy()
            .astype(self.layout.shard_dtype(name), copy=False)
            for name in names
        }
        return ptr, cols

    def to_scipy(self, split: str = "train", values: str = "auto") -> sp.csr_matrix:
        """The whole ``split`` as one CSR matrix (only for stores that fit in memory)."""
        return self.user_block(0, self.n_users, split, values)

    def to_dask_dataframe(
        self, split: str = "train", rows_per_partition: int | None = None
    ) -> dd.DataFrame:
        """``split`` as a lazy Dask DataFrame of interactions.

        Columns ``user_id`` (int64), ``item_id`` (int32/int64) and, when stored, ``rating``
        (float32) and ``timestamp`` (int64); rows in user order. Building it reads no
        per-interaction data: for Zarr only the tiny ``{split}/chunk_user`` index, to cut
        partitions of about ``rows_per_partition`` rows (default: one shard, rounded to whole
        chunks) at user boundaries, so every user's rows sit in one partition. For Parquet
        there is one partition per part file (``rows_per_partition`` is ignored).

        Parameters
        ----------
        split : {"train", "test"}
        rows_per_partition : int, optional
            Target rows per partition (Zarr only), rounded up to whole chunks.

        Returns
        -------
        dask.dataframe.DataFrame
        """
        import dask.dataframe as dd

        check_split(split)
        schema = interaction_schema(self.layout)
        meta = schema.empty_table().to_pandas()
        if self.format == "parquet":
            parts: list[StorePath | None] = list(self._parquet_parts(split))
            if not parts:
                parts = [None]
            return dd.from_map(
                _read_parquet_part, parts, args=(schema,), meta=meta, label="daskfractal-parquet"
            )
        if rows_per_partition is None:
            rows_per_partition = self.layout.shard_elems
        if rows_per_partition < 1:
            raise ParameterError(f"rows_per_partition must be >= 1, got {rows_per_partition}")
        chunk = self.layout.chunk_elems
        step = max(1, -(-int(rows_per_partition) // chunk))
        index = np.asarray(self._zarray(f"{split}/chunk_user")[...], dtype=np.int64)
        bounds = np.unique(np.concatenate([[0], index[step:-1:step], [self.n_users]]))
        if len(bounds) == 1:  # n_users == 0
            bounds = np.array([0, 0])
        ranges = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        return dd.from_map(
            _read_zarr_rows,
            ranges,
            args=(self, split),
            meta=meta,
            label="daskfractal-zarr",
        )

    # ------------------------------------------------------------------------- private
    def _check_rows(self, u0: int, u1: int) -> tuple[int, int]:
        try:
            u0, u1 = int(u0), int(u1)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"user range must be integers, got {u0!r}, {u1!r}") from exc
        if not 0 <= u0 <= u1 <= self.n_users:
            raise ParameterError(
                f"user range [{u0}, {u1}) is not within [0, {self.n_users}] (need u0 <= u1)"
            )
        return u0, u1

    def _value_column(self, values: str) -> str | None:
        if values not in _VALUES:
            raise ParameterError(f"values must be one of {_VALUES}, got {values!r}")
        if values == "auto":
            return "ratings" if "ratings" in self.layout.carry else None
        if values == "ones":
            return None
        if values not in self.layout.carry:
            raise ParameterError(f"{self.path} does not store {values}")
        return values

    def _parquet_rows(self, split: str, u0: int, u1: int) -> pa.Table:
        parts = self._parquet_parts(split)
        schema = interaction_schema(self.layout)
        if not parts or u0 == u1:
            return schema.empty_table()
        import pyarrow.dataset as pads  # imports pandas: only readers of Parquet rows pay

        with _damaged_as_store_error(self.path, f"{split} parts"):
            sources = [arrow_source(p) for p in parts]
            dataset = pads.dataset(
                [where for where, _ in sources],
                format=pads.ParquetFileFormat(  # verify the CRC of every page
                    default_fragment_scan_options=pads.ParquetFragmentScanOptions(
                        page_checksum_verification=True
                    )
                ),
                schema=schema,
                filesystem=sources[0][1],
            )
            user = pads.field("user_id")
            table = dataset.to_table(filter=(user >= u0) & (user < u1))
        if (u0, u1) == (0, self.n_users) and table.num_rows != self.nnz[split]:
            # a lost part or a footer whose statistics changed: rows went missing
            raise StoreError(
                f"{self.path} is damaged: the {split} parts hold {table.num_rows} rows, "
                f"expected {self.nnz[split]}; {VERIFY_HINT.format(path=self.path)}"
            )
        order = np.argsort(table.column("user_id").to_numpy(), kind="stable")
        return table.take(pa.array(order))


def _read_parquet_part(file: StorePath | None, schema: pa.Schema) -> pd.DataFrame:
    """One Dask partition of a Parquet store: a whole part file."""
    if file is None:
        return schema.empty_table().to_pandas()
    where, fs = arrow_source(file)
    with _damaged_as_store_error(file.parent.parent, file.name):
        table = pq.read_table(where, schema=schema, page_checksum_verification=True, filesystem=fs)
    return table.to_pandas()


def _read_zarr_rows(rows: tuple[int, int], store: ExpansionStore, split: str) -> pd.DataFrame:
    """One Dask partition of a Zarr store: the interactions of users ``[u0, u1)``."""
    import pandas as pd  # a reader of Dask partitions needs it; writing a store does not

    u0, u1 = rows
    names = store.layout.shard_names()
    ptr, cols = store.row_columns(u0, u1, split, names)
    columns: dict[str, np.ndarray] = {
        "user_id": np.repeat(np.arange(u0, u1, dtype=np.int64), np.diff(ptr))
    }
    for name in names:
        columns["item_id" if name == "indices" else COLUMN_OF[name]] = cols[name]
    return pd.DataFrame(columns)


__all__ = ["SPLITS", "CheckedArray", "ExpansionStore", "open_checked_array", "open_store"]
