"""Export layouts read by other pipelines: MLPerf / MovieLens-1B ``.npz`` shards, Meta CSV.

Both are plain files in the layout another project's reader expects, plus the daskfractal
files every output carries (see docs/store-format.md)::

    _daskfractal.json            root metadata (same document as the Zarr root attributes)
    manifest.json, _SUCCESS      integrity, written by finalize()
    stats/<name>.npy             the statistics (np.load), users/slot.npy, indptr/<split>.npy

``mlperf`` (:class:`MLPerfWriter`): ``trainx{m'}x{n'}_{k}.npz`` and ``testx{m'}x{n'}_{k}.npz``
in the root, one pair per contiguous user range, each holding ``arr_0``, an (N, 2) int64
array of (user, item) rows sorted by user then item, byte for byte what ``np.savez`` writes.

``meta-csv`` (:class:`MetaCSVWriter`): ``train/{m'}x{n'}_{i}.csv`` and ``test/...`` per block
row ``i`` of R̂, each line ``user,"item,item,…","rating,rating,…"`` as Python's ``csv.writer``
writes it (quoted only when a list has more than one entry, ``\\r\\n`` line ends, no header),
plus ``{m'}x{n'}_users.csv`` lines ``i,number of lines of file i``.

A piece ``k`` (the train and the test file of one user range) is written by one task through
:meth:`ExportWriter.write_piece`, which streams chunks of users into hidden temporary files,
moves them into place (``os.replace``) and records their size, SHA-256 and row count in a
completion marker under ``_progress/``; ``reopen`` deletes pieces whose marker is missing or
no longer matches, so a resumed run writes them again.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Self

import numpy as np

from ..errors import ParameterError, StoreError
from ._common import (
    INCOMPLETE_HINT,
    MLPERF_FILE,
    PARQUET_META,
    check_reopen,
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
    atomic_write_bytes,
    check_reachable,
    read_npz,
    remote_errors,
    remove_tree,
    staged_file,
    store_path,
)
from ._layout import (
    PROGRESS_DIR,
    READABLE_VERSIONS,
    SMALL_KEYS,
    SPLITS,
    STATS_NAMES,
    SUCCESS_FILE,
    StoreLayout,
    canonical_attrs,
    check_dense_items,
    check_split,
)
from ._manifest import (
    MANIFEST_FILE,
    check_on_open,
    describe_file,
    read_marker,
    record_matches,
    write_manifest,
    write_marker,
)
from ._zarr import validate_small, validate_small_parts

#: The export formats (written by :func:`daskfractal.write_store`, not read by ``open``).
EXPORT_FORMATS: tuple[str, ...] = ("mlperf", "meta-csv")
#: The npz member every shard holds (``np.savez``'s name of its first positional array).
NPZ_MEMBER = "arr_0.npy"
_TEMPORARIES = (".*.tmp",)

#: One chunk of a piece: per split, the arrays ``users`` (non-decreasing), ``items`` and,
#: when generated, ``ratings`` and ``timestamps``.
Chunk = dict[str, dict[str, np.ndarray]]


def small_npy(key: str) -> str:
    """Relative path of the ``.npy`` file of small array ``key`` in an export."""
    group, name = key.split("/")
    if name == "indptr":
        return f"indptr/{group}.npy"
    return f"{group}/{name}.npy"


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


class ExportWriter(ABC):
    """What both export writers share: lifecycle, markers, small arrays, manifest.

    Like :class:`ParquetWriter` it holds only the path and the layout (picklable); the
    subclasses say which files a piece has and how a chunk of users is written.

    Parameters
    ----------
    path : str or path-like
    layout : StoreLayout
        Its ``carry`` names what the files hold besides (user, item) (``mlperf``: nothing;
        ``meta-csv``: ``ratings`` when carried).
    """

    format: str = ""

    def __init__(self, path: str | os.PathLike[str] | RemotePath, layout: StoreLayout) -> None:
        self.path = store_path(path)
        self.layout = layout

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "layout": self.layout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["layout"])  # type: ignore[misc]  # unpickling

    def __dask_tokenize__(self) -> tuple[str, str, str]:
        return (type(self).__name__, str(self.path), repr(self.layout))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # ------------------------------------------------------------------------- lifecycle
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | RemotePath,
        layout: StoreLayout,
        attrs: dict[str, Any] | None = None,
        *,
        overwrite: bool = False,
    ) -> Self:
        """Create a new, incomplete export at ``path`` (errors as :meth:`ZarrWriter.create`)."""
        if not isinstance(layout, StoreLayout):
            raise TypeError(f"layout must be a StoreLayout, got {type(layout).__name__}")
        attrs = canonical_attrs(attrs)
        path = store_path(path)
        prepare_new_store(path, "parquet", overwrite)
        fmt: Any = cls.format
        meta = root_meta(fmt, layout, attrs, complete=False)
        atomic_write_bytes(path / PARQUET_META, dump_json(meta))
        return cls(path, layout)

    @classmethod
    def reopen(
        cls,
        path: str | os.PathLike[str] | RemotePath,
        layout: StoreLayout,
        attrs: dict[str, Any] | None = None,
    ) -> Self:
        """Reopen an incomplete export to resume it; damaged or unmarked pieces are deleted."""
        path = store_path(path)
        fmt: Any = cls.format
        check_reopen(path, fmt, layout, None if attrs is None else canonical_attrs(attrs))
        writer = cls(path, layout)
        writer._forget_damaged_pieces()
        return writer

    def _forget_damaged_pieces(self) -> None:
        for rel in self._data_files():
            marker = self._marker(rel)
            has, record = read_marker(marker)
            if has and record_matches(self.path, rel, record):
                continue
            (self.path / rel).unlink(missing_ok=True)
            marker.unlink(missing_ok=True)

    # ------------------------------------------------------------------------- pieces
    @abstractmethod
    def piece_file(self, split: str, k: int) -> str:
        """Relative path of the ``split`` file of piece ``k``."""

    @abstractmethod
    def _data_files(self) -> list[str]:
        """Relative paths of the piece files on disk."""

    def _check_piece(self, split: str, k: int) -> str:
        check_split(split)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
            raise ParameterError(f"piece index must be an integer >= 0, got {k!r}")
        return self.piece_file(split, int(k))

    def _marker(self, rel: str) -> StorePath:
        return self.path / PROGRESS_DIR / (rel.replace("/", "__") + ".json")

    def piece_done(self, split: str, k: int) -> bool:
        """Whether the ``split`` file of piece ``k`` is on disk and marked done."""
        rel = self._check_piece(split, k)
        return (self.path / rel).is_file() and self._marker(rel).is_file()

    @abstractmethod
    def piece_items(self, split: str, k: int) -> np.ndarray:
        """Item ids of the finished ``split`` file of piece ``k`` (read back)."""

    def write_piece(self, k: int, rows: dict[str, int], chunks: Iterable[Chunk]) -> None:
        """Write the train and the test file of piece ``k`` from ``chunks``, atomically.

        Parameters
        ----------
        k : int
            Piece index (the ``{k}`` of the file names).
        rows : dict of str to int
            Interactions of each split the chunks hold in total (checked).
        chunks : iterable of dict
            Consecutive user ranges, in user order: ``{split: {"users", "items"[,
            "ratings", "timestamps"]}}``; ``users`` non-decreasing.

        Raises
        ------
        StoreError
            If the chunks do not hold ``rows`` interactions or users go backwards.
        """
        rels = {s: self._check_piece(s, k) for s in SPLITS}
        written = dict.fromkeys(SPLITS, 0)
        lines = dict.fromkeys(SPLITS, 0)
        last = dict.fromkeys(SPLITS, -1)
        # both files are placed (moved or uploaded) only when both were written whole
        with ExitStack() as staged:
            tmps = {s: staged.enter_context(staged_file(self.path / rels[s])) for s in SPLITS}
            with ExitStack() as stack:
                sinks = {}
                for s in SPLITS:
                    sinks[s] = stack.enter_context(self._open_sink(tmps[s], int(rows[s])))
                for chunk in chunks:
                    for s in SPLITS:
                        part = chunk[s]
                        users = part["users"]
                        if len(users) and (users[0] < last[s] or np.any(np.diff(users) < 0)):
                            raise StoreError(f"{self.path}: users of piece {k} go backwards")
                        if len(users):
                            last[s] = int(users[-1])
                        lines[s] += self._write_chunk(sinks[s], part)
                        written[s] += len(users)
            for s in SPLITS:
                if written[s] != rows[s]:
                    raise StoreError(
                        f"{self.path}: piece {k} of {s} got {written[s]} rows, expected {rows[s]}"
                    )
        for s in SPLITS:
            # the digest now, while the bytes are in the page cache; finalize only gathers it
            record = describe_file(self.path, rels[s])
            assert record is not None
            record.update(rows=written[s], lines=lines[s])
            write_marker(self._marker(rels[s]), record)

    @abstractmethod
    def _open_sink(self, tmp: Path, rows: int) -> Any:
        """A context manager yielding what :meth:`_write_chunk` writes to."""

    @abstractmethod
    def _write_chunk(self, sink: Any, part: dict[str, np.ndarray]) -> int:
        """Append one chunk of one split; return the lines written (users, for CSV)."""

    # ------------------------------------------------------------------------- small
    def write_small(self, key: str, values: Any) -> None:
        """Write a small array whole as ``.npy`` (``stats/*``, ``users/slot``, ``*/indptr``)."""
        arr = validate_small(self.layout, key, values, f"{self.path}: {key}")
        atomic_write_bytes(self.path / small_npy(key), _npy_bytes(arr))

    def write_small_parts(self, key: str, parts: Iterable[Any]) -> None:
        """Write the 1-D small array ``key`` from consecutive parts, one part in memory at a
        time: the ``.npy`` header, then each part's bytes (the bytes ``np.save`` writes for
        the whole array). Same checks as :meth:`write_small`, part by part."""
        shape, dtype = self.layout.small_spec(key)
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": shape,
        }
        with staged_file(self.path / small_npy(key)) as tmp, open(tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            for part in validate_small_parts(self.layout, key, parts, f"{self.path}: {key}"):
                f.write(np.ascontiguousarray(part).tobytes())

    def small_done(self, key: str) -> bool:
        """Whether the small array ``key`` is on disk."""
        self.layout.small_spec(key)
        return (self.path / small_npy(key)).is_file()

    def _finish_files(self, records: dict[str, dict[str, Any]]) -> None:  # noqa: B027
        """Write the files that summarize the pieces (the Meta ``_users.csv``); none here."""

    def n_pieces(self) -> int:
        """Pieces on disk (train files)."""
        return sum(1 for rel in self._data_files() if rel.startswith("train"))

    def finalize(self, extra_attrs: dict[str, Any] | None = None) -> None:
        """Check the pieces and small arrays, then mark the export complete.

        Requires every small array and, for each split, pieces ``0 … K-1`` all marked with
        ``nnz[split]`` rows in total. Then writes the summary files, ``_daskfractal.json``
        with ``complete = True``, ``manifest.json`` (piece digests from their markers) and
        ``_SUCCESS``, and removes ``_progress/``.

        Raises
        ------
        StoreError
            If something is missing or the row counts disagree with the layout.
        """
        status, fmt, meta = inspect_store(self.path)
        if status != "incomplete" or fmt != self.format:
            raise StoreError(f"cannot finalize {self.path}: it is {status}, not an incomplete one")
        missing = [k for k in SMALL_KEYS if not self.small_done(k)]
        if missing:
            raise StoreError(f"cannot finalize {self.path}: not written: {', '.join(missing)}")
        records: dict[str, dict[str, Any]] = {}
        # the pieces the run planned (write_store records them), else those on disk
        planned = meta.get("daskfractal", {}).get("export", {}).get("pieces")
        n = int(planned) if planned is not None else self.n_pieces()
        for split in SPLITS:
            rows = 0
            for k in range(n):
                rel = self.piece_file(split, k)
                has, record = read_marker(self._marker(rel))
                if not has or record is None or not (self.path / rel).is_file():
                    raise StoreError(f"cannot finalize {self.path}: {rel} is not written")
                records[rel] = record
                rows += int(record["rows"])
            if rows != self.layout.nnz[split]:
                raise StoreError(
                    f"cannot finalize {self.path}: the {split} files hold {rows} rows, "
                    f"expected nnz={self.layout.nnz[split]}"
                )
        self._finish_files(records)
        attrs = dict(meta.get("daskfractal", {}))
        attrs.update(canonical_attrs(extra_attrs))
        attrs = canonical_attrs(attrs)
        sweep_temporaries(self.path, _TEMPORARIES)
        meta_format: Any = self.format
        final = root_meta(meta_format, self.layout, attrs, True, manifest=MANIFEST_FILE)
        atomic_write_bytes(self.path / PARQUET_META, dump_json(final))
        write_manifest(self.path, records, final)
        touch(self.path / SUCCESS_FILE)
        remove_tree(self.path / PROGRESS_DIR)


class _NpzSink:
    """One ``arr_0.npy`` member of a stored (uncompressed) zip, written row chunk by chunk.

    The bytes are those of ``np.savez(path, array)``: the same zip settings (``ZIP_STORED``,
    zip64, numpy's fixed member date) and the same version 1.0 ``.npy`` header.
    """

    def __init__(self, tmp: Path, rows: int) -> None:
        self._zip = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._fp: IO[bytes] = self._zip.open(NPZ_MEMBER, "w", force_zip64=True)
        header = {"descr": "<i8", "fortran_order": False, "shape": (rows, 2)}
        np.lib.format.write_array_header_1_0(self._fp, header)

    def __enter__(self) -> _NpzSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fp.close()
        self._zip.close()

    def write(self, users: np.ndarray, items: np.ndarray) -> None:
        rows = np.empty((len(users), 2), dtype="<i8")
        rows[:, 0] = users
        rows[:, 1] = items
        self._fp.write(rows.tobytes())


class MLPerfWriter(ExportWriter):
    """The MLPerf / MovieLens-1B layout: ``trainx{m'}x{n'}_{k}.npz`` / ``testx…`` shards.

    Shard ``k`` holds the users of one contiguous range, in ``arr_0``: an (N, 2) int64 array
    of (user, item) rows sorted by user then item (``np.load(f)["arr_0"]``, as the MLPerf
    NCF ``convert.py`` and PyTorch Geometric's ``MovieLens1B`` read it). Carried ratings and
    timestamps are not written (the layout has none).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from daskfractal.store import MLPerfWriter, StoreLayout
    >>> layout = StoreLayout(2, 3, {"train": 3, "test": 1}, blocks=(1, 1))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     w = MLPerfWriter.create(f"{tmp}/out", layout)
    ...     chunk = {"train": {"users": np.array([0, 0, 1]), "items": np.array([2, 0, 1])},
    ...              "test": {"users": np.array([1]), "items": np.array([2])}}
    ...     w.write_piece(0, {"train": 3, "test": 1}, [chunk])
    ...     np.load(f"{tmp}/out/trainx1x1_0.npz")["arr_0"].tolist()
    [[0, 0], [0, 2], [1, 1]]
    """

    format = "mlperf"

    def piece_file(self, split: str, k: int) -> str:
        """``{split}x{m'}x{n'}_{k}.npz``."""
        mp, npr = self.layout.blocks
        return f"{split}x{mp}x{npr}_{k}.npz"

    def _data_files(self) -> list[str]:
        return sorted(p.name for p in self.path.glob("*.npz") if MLPERF_FILE.fullmatch(p.name))

    def piece_items(self, split: str, k: int) -> np.ndarray:
        """Item ids of the finished shard ``k`` of ``split``."""
        return np.asarray(read_npz(self.path / self._check_piece(split, k))["arr_0"][:, 1])

    def _open_sink(self, tmp: Path, rows: int) -> _NpzSink:
        return _NpzSink(tmp, rows)

    def _write_chunk(self, sink: _NpzSink, part: dict[str, np.ndarray]) -> int:
        users, items = part["users"], part["items"]
        order = np.lexsort((items, users))
        sink.write(users[order], items[order])
        return len(np.unique(users))


def _joined(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    """Each ``values[a:b]`` as a CSV field: comma-joined, quoted when it has a comma."""
    text = values.astype(str).tolist()
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        field = ",".join(text[a:b])
        out.append(f'"{field}"' if b - a > 1 else field)
    return out


def csv_lines(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray | None = None,
    timestamps: np.ndarray | None = None,
) -> str:
    """Meta's CSV lines of the users in ``users`` (non-decreasing), one line per user.

    Each line is ``user,"item,item,…","rating,rating,…"`` with ``\\r\\n`` ends, as
    ``csv.writer`` writes the lists Meta's ``run_fractal_expansion.py`` joins. Items are in
    chronological order when ``timestamps`` are given (ties by item id), else ascending;
    ratings follow their items (the float32 value's shortest text, ``1.0`` when None).

    Examples
    --------
    >>> import numpy as np
    >>> csv_lines(np.array([0, 0, 3]), np.array([7, 2, 5]),
    ...           np.array([4.0, 3.5, 1.0], "f4"), np.array([20, 30, 10]))
    '0,"7,2","4.0,3.5"\\r\\n3,5,1.0\\r\\n'
    """
    keys = (items, users) if timestamps is None else (items, timestamps, users)
    order = np.lexsort(keys)
    users, items = users[order], items[order]
    if len(users) == 0:
        return ""
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    item_fields = _joined(items, starts, ends)
    if ratings is None:
        rating_fields = [",".join(["1.0"] * (b - a)) for a, b in zip(starts, ends, strict=True)]
        rating_fields = [f'"{f}"' if "," in f else f for f in rating_fields]
    else:
        rating_fields = _joined(ratings[order].astype(np.float32), starts, ends)
    return "".join(
        f"{u},{i},{r}\r\n"
        for u, i, r in zip(users[starts].tolist(), item_fields, rating_fields, strict=True)
    )


class _TextSink:
    def __init__(self, tmp: Path) -> None:
        self._f = open(tmp, "w", encoding="ascii", newline="")

    def __enter__(self) -> _TextSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def write(self, text: str) -> None:
        self._f.write(text)


class MetaCSVWriter(ExportWriter):
    """Meta generative-recommenders' layout: ``{split}/{m'}x{n'}_{i}.csv`` per block row.

    File ``i`` holds one line per user of block row ``i`` of R̂ that has interactions in the
    split (``user,"item,item,…","rating,rating,…"``); ``{split}/{m'}x{n'}_users.csv`` lists
    ``i,lines`` (what Meta's ``DLRMv3SyntheticMovieLensDataset`` reads to find a user's line).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from daskfractal.store import MetaCSVWriter, StoreLayout
    >>> layout = StoreLayout(2, 3, {"train": 3, "test": 1}, blocks=(1, 1))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     w = MetaCSVWriter.create(f"{tmp}/out", layout)
    ...     chunk = {"train": {"users": np.array([0, 0, 1]), "items": np.array([2, 0, 1])},
    ...              "test": {"users": np.array([1]), "items": np.array([2])}}
    ...     w.write_piece(0, {"train": 3, "test": 1}, [chunk])
    ...     print(open(f"{tmp}/out/train/1x1_0.csv").read(), end="")
    0,"0,2","1.0,1.0"
    1,1,1.0
    """

    format = "meta-csv"

    def _prefix(self) -> str:
        mp, npr = self.layout.blocks
        return f"{mp}x{npr}"

    def piece_file(self, split: str, k: int) -> str:
        """``{split}/{m'}x{n'}_{k}.csv``."""
        return f"{split}/{self._prefix()}_{k}.csv"

    def users_file(self, split: str) -> str:
        """``{split}/{m'}x{n'}_users.csv``: ``i,lines of file i`` per block row."""
        return f"{check_split(split)}/{self._prefix()}_users.csv"

    def _data_files(self) -> list[str]:
        pattern = re.compile(rf"{re.escape(self._prefix())}_\d+\.csv")
        return sorted(
            f"{split}/{p.name}"
            for split in SPLITS
            for p in (self.path / split).glob("*.csv")
            if pattern.fullmatch(p.name)
        )

    def piece_items(self, split: str, k: int) -> np.ndarray:
        """Item ids of the finished file ``k`` of ``split``."""
        items: list[int] = []
        with (self.path / self._check_piece(split, k)).open("rb") as raw:
            f = io.TextIOWrapper(raw, encoding="ascii", newline="")
            for row in csv.reader(f):
                items.extend(int(x) for x in row[1].split(","))
        return np.asarray(items, dtype=np.int64)

    def _open_sink(self, tmp: Path, rows: int) -> _TextSink:
        return _TextSink(tmp)

    def _write_chunk(self, sink: _TextSink, part: dict[str, np.ndarray]) -> int:
        ratings = part.get("ratings") if "ratings" in self.layout.carry else None
        text = csv_lines(part["users"], part["items"], ratings, part.get("timestamps"))
        sink.write(text)
        return text.count("\n")

    def _finish_files(self, records: dict[str, dict[str, Any]]) -> None:
        n = sum(1 for rel in records if rel.startswith("train/"))
        for split in SPLITS:
            lines = [int(records[self.piece_file(split, k)]["lines"]) for k in range(n)]
            text = "".join(f"{k},{c}\r\n" for k, c in enumerate(lines))
            atomic_write_bytes(self.path / self.users_file(split), text.encode("ascii"))


# ------------------------------------------------------------------------------ reading
class ExportStore:
    """A finished export (``mlperf`` or ``meta-csv``): its description and files.

    The data is read with the other project's reader (``np.load``, ``csv``); this object
    gives the counts, attributes and statistics. ``daskfractal.open`` reads Zarr and Parquet
    stores only.

    Attributes
    ----------
    path : pathlib.Path
    format : {"mlperf", "meta-csv"}
    attrs : dict
        The run description (``params``, ``counts``, ``export`` ...).
    layout : StoreLayout
    n_users, n_items : int
    nnz : dict of str to int
    """

    def __init__(self, path: StorePath, fmt: str, meta: dict[str, Any]) -> None:
        self.path = path
        self.format = fmt
        self.meta = meta
        self.attrs: dict[str, Any] = meta.get("daskfractal", {})
        self.layout = StoreLayout.from_dict(meta["layout"])
        self.n_users = self.layout.n_users
        self.n_items = self.layout.n_items
        self.nnz = dict(self.layout.nnz)

    def __repr__(self) -> str:
        return (
            f"ExportStore({str(self.path)!r}, format={self.format!r}, n_users={self.n_users}, "
            f"n_items={self.n_items}, nnz={self.nnz})"
        )

    def counts(self) -> dict[str, int]:
        """Sizes: n_users, n_items, nnz_train, nnz_test."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "nnz_train": self.nnz["train"],
            "nnz_test": self.nnz["test"],
        }

    def files(self, split: str = "train") -> list[StorePath]:
        """The data files of ``split`` in piece order."""
        writer = (MLPerfWriter if self.format == "mlperf" else MetaCSVWriter)(
            self.path, self.layout
        )
        n = int(self.attrs.get("export", {}).get("pieces", 0))
        return [self.path / writer.piece_file(check_split(split), k) for k in range(n)]

    def _small(self, key: str) -> np.ndarray:
        shape, dtype = self.layout.small_spec(key)
        arr = np.load(io.BytesIO((self.path / small_npy(key)).read_bytes()), allow_pickle=False)
        return np.asarray(arr, dtype=dtype).reshape(shape)

    def stats(self, *, items: bool = True) -> dict[str, np.ndarray]:
        """The ``stats/*`` arrays: user/item train/test degrees and block counts.

        ``items=False`` leaves out ``item_train_degree`` and ``item_test_degree``, which are
        refused (:class:`StoreError`) above :data:`~daskfractal.store.LOAD_ITEMS_MAX` items:
        ``np.load(path / "stats/item_train_degree.npy", mmap_mode="r")`` reads them by range.
        """
        if items:
            check_dense_items(self.path, self.n_items, "stats()")
        return {
            name: self._small(f"stats/{name}")
            for name in STATS_NAMES
            if items or not name.startswith("item_")
        }

    def user_slots(self) -> np.ndarray:
        """``users/slot``: each output user's slot ``i·m + t`` before users were dropped."""
        return self._small("users/slot")

    def indptr(self, split: str = "train") -> np.ndarray:
        """The CSR row pointer of ``split`` (int64, ``n_users + 1``)."""
        return self._small(f"{check_split(split)}/indptr")


def open_export(path: str | os.PathLike[str] | RemotePath) -> ExportStore:
    """Open a finished ``mlperf`` or ``meta-csv`` export (checked against its manifest).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ExportStore

    Raises
    ------
    StoreError
        If ``path`` is not a finished export, or is damaged (missing, resized or unexpected
        files, edited metadata).
    """
    root = store_path(path)
    check_reachable(root, writing=False)
    with remote_errors(root, writing=False):
        return _open_export(root)


def _open_export(root: StorePath) -> ExportStore:
    status, fmt, meta = inspect_store(root)
    if status == "missing":
        raise StoreError(f"{root} does not exist")
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"{root} is not an mlperf or meta-csv export")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise StoreError(
            f"{root} has format_version {meta.get('format_version')}; this version of "
            f"daskfractal reads {', '.join(map(str, READABLE_VERSIONS))}"
        )
    if status != "complete":
        raise StoreError(f"{root} is incomplete: {INCOMPLETE_HINT}")
    check_on_open(root, meta)
    assert fmt is not None
    return ExportStore(root, fmt, meta)


__all__ = [
    "EXPORT_FORMATS",
    "MLPERF_FILE",
    "ExportStore",
    "ExportWriter",
    "MLPerfWriter",
    "MetaCSVWriter",
    "csv_lines",
    "open_export",
    "small_npy",
]
