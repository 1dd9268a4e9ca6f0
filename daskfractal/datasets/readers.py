"""Readers for recommender data sets: every source becomes an :class:`~daskfractal.Interactions`.

One entry point, :func:`load`, reads

* MovieLens in every published layout: ``ratings.csv`` (ml-20m, ml-25m, ml-latest,
  ml-latest-small; header ``userId,movieId,rating,timestamp``), ``ratings.dat`` (ml-1m, ml-10m;
  ``UserID::MovieID::Rating::Timestamp``, no header) and ``u.data`` (ml-100k; tab-separated
  ``user item rating timestamp``, no header), given as the file or as its directory;
* generic delimited text (CSV, TSV, any separator) and Parquet with caller-given columns;
* adjacency lists (``user item item ...`` per line, as the Gowalla/Yelp/Amazon-book files of
  NGCF and LightGCN), optionally with a given train/test split;
* in-memory pandas DataFrames, pyarrow Tables and scipy sparse matrices;
* the embedded MovieLens ``ml-latest-small`` data set (``load("default")``).

All text readers are vectorised (pyarrow's multi-threaded CSV reader, numpy for adjacency
lists): a 20M-row ``ratings.csv`` loads in seconds. Malformed input raises
:class:`~daskfractal.errors.InputDataError` naming the file, the line and the column at fault;
impossible arguments raise :class:`~daskfractal.errors.ParameterError`.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import scipy.sparse as sp

from ..errors import InputDataError, ParameterError
from ..interactions import Interactions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "embedded_datasets", "load"]

#: Values accepted by ``load(format=...)``.
FORMATS: tuple[str, ...] = ("auto", "movielens", "csv", "tsv", "parquet", "adjacency")

ColumnSpec = str | int | None

_ROLES = ("user", "item", "rating", "timestamp")
_NOUNS = {"user": "user id", "item": "item id", "rating": "rating", "timestamp": "timestamp"}
_ARROW_TYPES = {
    "user": pa.int64(),
    "item": pa.int64(),
    "rating": pa.float32(),
    "timestamp": pa.int64(),
}
_MOVIELENS_COLUMNS = {
    "user": "userId",
    "item": "movieId",
    "rating": "rating",
    "timestamp": "timestamp",
}

# MovieLens layouts: file name -> (separator, header, columns, labels used in messages).
_ML_LAYOUTS: dict[str, tuple[str, bool, dict[str, ColumnSpec], dict[str, str] | None]] = {
    "ratings.csv": (",", True, dict(_MOVIELENS_COLUMNS), None),
    "ratings.dat": (
        "::",
        False,
        {"user": 0, "item": 1, "rating": 2, "timestamp": 3},
        {"user": "UserID", "item": "MovieID", "rating": "Rating", "timestamp": "Timestamp"},
    ),
    "u.data": (
        "\t",
        False,
        {"user": 0, "item": 1, "rating": 2, "timestamp": 3},
        {"user": "user id", "item": "item id", "rating": "rating", "timestamp": "timestamp"},
    ),
}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")
_EMBEDDED_ALIASES = {"default": "ml-latest-small"}
_EMBEDDED_FILE = "ratings.csv.zst"
_MAX_EXACT_FLOAT_ID = 2**53
_ADJACENCY_BLOCK = 1 << 26  # bytes parsed at a time: bounds the temporaries to ~1 GB
_BOM = b"\xef\xbb\xbf"
_CSV_COLUMN = re.compile(r"In CSV column #(\d+)")


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def embedded_datasets() -> list[str]:
    """Names of the data sets shipped inside the package.

    Returns
    -------
    list of str
        Names accepted by :func:`load` (``"default"`` is an alias of the first,
        ``"ml-latest-small"``).

    Examples
    --------
    >>> embedded_datasets()
    ['ml-latest-small']
    """
    root = resources.files(__package__).joinpath("data")
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and p.joinpath(_EMBEDDED_FILE).is_file()
    )


def load(
    source: Any,
    *,
    format: str = "auto",
    user_col: ColumnSpec = None,
    item_col: ColumnSpec = None,
    rating_col: ColumnSpec = None,
    timestamp_col: ColumnSpec = None,
    sep: str | None = None,
    test: str | os.PathLike | None = None,
    header: bool = True,
) -> Interactions:
    """Read interactions from a file, a directory, an embedded data set or an in-memory table.

    Parameters
    ----------
    source : str, os.PathLike, pandas.DataFrame, pyarrow.Table or scipy sparse matrix
        What to read:

        * ``"default"`` or ``"ml-latest-small"``: the embedded MovieLens data set (see
          :func:`embedded_datasets`; these names win over a file of the same name, pass
          ``"./default"`` for the file);
        * a path to a file, read in ``format``;
        * a path to a directory: a MovieLens directory (the first of ``ratings.csv``,
          ``ratings.dat``, ``u.data`` it holds, optionally compressed), an adjacency-list
          directory in the NGCF/LightGCN layout (``train.txt`` with optional ``valid.txt`` and
          ``test.txt``, see Notes), or a directory of ``*.parquet`` parts;
        * a :class:`pandas.DataFrame` or :class:`pyarrow.Table`: one interaction per row; the
          columns default to the MovieLens names (``userId``, ``movieId``, ``rating``,
          ``timestamp``);
        * a scipy sparse matrix or array: rows are users, columns are items and the stored
          non-zero values are ratings (no ratings for a boolean matrix); original ids are the
          row and column indices, so empty rows and columns disappear in the re-indexing.
    format : {"auto", "movielens", "csv", "tsv", "parquet", "adjacency"}
        File format. ``"auto"`` decides from the file name: the MovieLens names above, then the
        extension (``.csv``, ``.tsv``/``.tab``, ``.parquet``/``.pq``, ``.txt`` = adjacency
        list); ``.gz``, ``.bz2``, ``.zst`` and ``.lz4`` compression is read transparently.
        ``"movielens"`` reads a MovieLens file of any name, recognising its layout from the
        first line.
    user_col, item_col : str or int, optional
        User and item columns of a generic table (``"csv"``, ``"tsv"``, ``"parquet"``, or an
        in-memory table): a header name or a 0-based position. Required unless the table has
        the MovieLens columns ``userId`` and ``movieId``. Giving columns for a file named
        ``ratings.csv`` reads it as a generic CSV.
    rating_col, timestamp_col : str or int, optional
        Optional rating and timestamp columns (read as float32 and int64). Timestamps may be
        numbers or ISO 8601 date-times (converted to unix seconds).
    sep : str, optional
        Field separator of a generic text file (default ``","`` for CSV, tab for TSV). Multi-
        character separators such as ``"::"`` are supported (taken literally, not as a regex).
    test : str or os.PathLike, optional
        A second file in the same format whose interactions form the given test split:
        they are appended and flagged in ``Interactions.is_test``.
    header : bool, default True
        Whether a generic text file starts with a header line. Without one, columns are given
        by 0-based position (``user_col=0``). Ignored for MovieLens, adjacency and Parquet.

    Returns
    -------
    Interactions
        Re-indexed interactions; ``source`` is the path as given (or a description of the
        in-memory object) and ``meta`` records the format, the columns and the files read
        (and, with a given split, ``meta["split_rows"]``: the ``[start, stop)`` interaction
        range of each file).

    Raises
    ------
    InputDataError
        If a file does not exist or cannot be read, is empty, lacks a column (the message lists
        the columns found), has a malformed line, a non-numeric, missing or negative id, or a
        non-numeric rating or timestamp; messages name the file, the 1-based line (``row``,
        0-based, for tables) and the column.
        A directory with no recognisable data file raises it too (listing the files found).
    ParameterError
        For an unknown ``format``, columns that do not fit the format, an unusable ``sep`` or
        a source of an unsupported type.

    Notes
    -----
    In the adjacency layout each line is ``user item item ...`` with non-negative integer ids
    separated by spaces or tabs; a line holding only a user adds no interaction. For a
    directory with ``train.txt`` and ``test.txt``, the test interactions are flagged in
    ``is_test``; ``valid.txt``, if present, is read too and counted as **training** data
    (``is_test`` False), its rows are identifiable through ``meta["split_rows"]["valid"]``.
    Duplicate interactions are kept as they are in the source.

    Examples
    --------
    >>> data = load("default")
    >>> data.nnz, data.n_users, data.n_items
    (100836, 610, 9724)
    >>> data = load("ml-1m/ratings.dat")  # doctest: +SKIP
    >>> data = load("log.tsv", user_col="uid", item_col="sku", timestamp_col="t")  # doctest: +SKIP
    >>> data = load("gowalla/")  # doctest: +SKIP
    """
    fmt = _check_format(format)
    roles = {"user": user_col, "item": item_col, "rating": rating_col, "timestamp": timestamp_col}
    for role, spec in roles.items():
        if spec is not None and (isinstance(spec, bool) or not isinstance(spec, str | int)):
            raise ParameterError(
                f"{role}_col must be a column name (str) or a 0-based position (int), got {spec!r}"
            )
        if isinstance(spec, int) and spec < 0:
            raise ParameterError(f"{role}_col must be a non-negative position, got {spec}")
    if sep is not None and (not isinstance(sep, str) or not sep or set(sep) & set('\r\n"')):
        raise ParameterError(
            f"sep must be a non-empty string without newlines or quotes, got {sep!r}"
        )
    if not isinstance(header, bool | np.bool_):
        raise ParameterError(f"header must be True or False, got {header!r}")

    # pandas is imported only if the caller has it loaded: a DataFrame implies it was
    pd = sys.modules.get("pandas")
    is_frame = pd is not None and isinstance(source, pd.DataFrame)
    if is_frame or isinstance(source, pa.Table | pa.RecordBatch) or sp.issparse(source):
        if fmt != "auto":
            raise ParameterError(f"format={format!r} applies to files, not to in-memory tables")
        if test is not None:
            raise ParameterError("test= is a file path; concatenate in-memory tables yourself")
        if sep is not None:
            raise ParameterError("sep= applies to text files, not to in-memory tables")
        if sp.issparse(source):
            if any(spec is not None for spec in roles.values()):
                raise ParameterError("a sparse matrix has no columns to choose (rows are users)")
            raw = _from_sparse(source)
        elif is_frame:
            raw = _from_dataframe(source, roles)
        else:
            table = source if isinstance(source, pa.Table) else pa.Table.from_batches([source])
            raw = _from_arrow(table, roles, "<pyarrow.Table>", "arrow")
        return raw.to_interactions()

    if isinstance(source, str) and source in _embedded_names():
        return _load_embedded(source, fmt, roles, sep, test)
    if not isinstance(source, str | os.PathLike):
        raise ParameterError(
            f"cannot load a {type(source).__name__}: pass a path, 'default', a pandas "
            "DataFrame, a pyarrow Table or a scipy sparse matrix"
        )
    path = Path(source)
    src = os.fspath(source)
    if isinstance(src, bytes):  # pragma: no cover - os.PathLike returning bytes
        src = os.fsdecode(src)
    return _load_path(path, src, fmt, roles, sep, header, test).to_interactions()


# --------------------------------------------------------------------------------------------
# raw result and dispatch
# --------------------------------------------------------------------------------------------


@dataclass
class _Raw:
    """Original-id interactions as read, before :meth:`Interactions.from_raw`."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray | None
    timestamps: np.ndarray | None
    source: str
    meta: dict = field(default_factory=dict)
    is_test: np.ndarray | None = None

    def to_interactions(self) -> Interactions:
        out = Interactions.from_raw(
            self.users,
            self.items,
            ratings=self.ratings,
            timestamps=self.timestamps,
            is_test=self.is_test,
            source=self.source,
            meta=self.meta,
        )
        self.users = self.items = np.zeros(0, np.int64)
        # Arrow's allocator keeps the pages of the parsed table (≈ 1 GB at 20M rows) for
        # reuse; hand them back to the OS so the rest of the run has them
        pa.default_memory_pool().release_unused()
        return out


def _check_format(fmt: Any) -> str:
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise ParameterError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt.lower()


def _embedded_names() -> set[str]:
    return set(_EMBEDDED_ALIASES) | set(embedded_datasets())


def _load_embedded(
    name: str,
    fmt: str,
    roles: dict[str, ColumnSpec],
    sep: str | None,
    test: str | os.PathLike | None,
) -> Interactions:
    if fmt not in ("auto", "movielens"):
        raise ParameterError(f"the embedded data set {name!r} is MovieLens, not {fmt!r}")
    if any(spec is not None for spec in roles.values()) or sep is not None or test is not None:
        raise ParameterError(
            f"the embedded data set {name!r} has fixed columns and no test split; "
            "column, sep and test arguments do not apply"
        )
    real = _EMBEDDED_ALIASES.get(name, name)
    resource = resources.files(__package__).joinpath("data", real, _EMBEDDED_FILE)
    with resources.as_file(resource) as path:
        raw = _read_movielens(path, str(path))
    raw.meta["embedded"] = real
    return raw.to_interactions()


def _any_columns(roles: dict[str, ColumnSpec]) -> bool:
    return any(spec is not None for spec in roles.values())


def _split_compression(name: str) -> str:
    """File name without a compression suffix, lower-cased."""
    lower = name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            return lower[: -len(suffix)]
    return lower


def _detect_file_format(path: Path, src: str, roles: dict[str, ColumnSpec], sep: str | None) -> str:
    base = _split_compression(path.name)
    columns = _any_columns(roles)
    if base in _ML_LAYOUTS:
        if not columns and sep is None:
            return "movielens"
        if base.endswith(".csv"):
            return "csv"
        raise ParameterError(
            f"{src}: a MovieLens {base} has fixed columns; to choose columns or the separator "
            "pass format='csv' (with sep= and header=False)"
        )
    ext = Path(base).suffix
    if ext == ".csv":
        return "csv"
    if ext in (".tsv", ".tab"):
        return "tsv"
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext == ".txt" and not columns and sep is None:
        return "adjacency"
    if sep is not None:
        return "csv"
    if ext == ".zip":
        raise ParameterError(f"{src}: zip archives are not read directly; extract it first")
    raise ParameterError(
        f"{src}: cannot tell the format from the file name; pass format= (one of "
        f"{', '.join(FORMATS[1:])})"
    )


def _load_path(
    path: Path,
    src: str,
    fmt: str,
    roles: dict[str, ColumnSpec],
    sep: str | None,
    header: bool,
    test: str | os.PathLike | None,
) -> _Raw:
    _stat(path, src)
    parts: list[tuple[str, Path, str]] = []  # (split name, file, source string)
    if path.is_dir():
        fmt, files = _resolve_directory(path, src, fmt, roles, sep)
        for split, file in files:
            parts.append((split, file, os.path.join(src, file.name) if file != path else src))
    else:
        if fmt == "auto":
            fmt = _detect_file_format(path, src, roles, sep)
        parts.append(("train", path, src))
    if test is not None:
        if not isinstance(test, str | os.PathLike):
            raise ParameterError(f"test must be a path, got {type(test).__name__}")
        if any(split == "test" for split, _, _ in parts):
            raise ParameterError(f"{src} already holds a test.txt; do not pass test= as well")
        test_path = Path(test)
        test_src = os.fsdecode(os.fspath(test))
        _stat(test_path, test_src)
        if test_path.is_dir():
            raise ParameterError(f"test={test_src!r} is a directory; pass the test file")
        parts.append(("test", test_path, test_src))

    raws = [(split, _read_file(file, s, fmt, roles, sep, header)) for split, file, s in parts]
    if len(raws) == 1 and raws[0][0] == "train":
        return raws[0][1]
    return _combine(raws, src)


def _stat(path: Path, src: str) -> None:
    try:
        path.stat()
    except FileNotFoundError:
        raise InputDataError(f"{src}: no such file or directory") from None
    except OSError as exc:
        raise InputDataError(f"{src}: cannot access ({exc.strerror or exc})") from exc
    if not os.access(path, os.R_OK):
        raise InputDataError(f"{src}: permission denied (not readable)")


def _resolve_directory(
    path: Path, src: str, fmt: str, roles: dict[str, ColumnSpec], sep: str | None
) -> tuple[str, list[tuple[str, Path]]]:
    try:
        entries = {p.name: p for p in path.iterdir() if p.is_file()}
    except OSError as exc:
        raise InputDataError(f"{src}: cannot list directory ({exc.strerror or exc})") from exc
    if fmt in ("auto", "adjacency") and "train.txt" in entries:
        files = [("train", entries["train.txt"])]
        if "valid.txt" in entries:
            files.append(("valid", entries["valid.txt"]))
        if "test.txt" in entries:
            files.append(("test", entries["test.txt"]))
        return "adjacency", files
    if fmt in ("auto", "movielens", "csv", "tsv"):
        for layout in _ML_LAYOUTS:
            for suffix in ("", *_COMPRESSION_SUFFIXES):
                name = layout + suffix
                if name in entries:
                    file = entries[name]
                    if fmt == "auto":
                        sub = _detect_file_format(file, os.path.join(src, name), roles, sep)
                    else:
                        sub = fmt
                    return sub, [("train", file)]
    parquet = sorted(p for n, p in entries.items() if n.lower().endswith((".parquet", ".pq")))
    if fmt in ("auto", "parquet") and parquet:
        return "parquet", [("train", path)]
    looked = "train.txt (adjacency), ratings.csv, ratings.dat, u.data (MovieLens), *.parquet"
    found = ", ".join(sorted(entries)) or "no files"
    raise InputDataError(
        f"{src}: no recognisable data file in this directory"
        + (f" for format={fmt!r}" if fmt != "auto" else "")
        + f" (looked for {looked}; found: {found})"
    )


def _read_file(
    path: Path,
    src: str,
    fmt: str,
    roles: dict[str, ColumnSpec],
    sep: str | None,
    header: bool,
) -> _Raw:
    if fmt == "movielens":
        if _any_columns(roles) or sep is not None:
            raise ParameterError(
                f"{src}: format='movielens' has fixed columns and separator; use format='csv' "
                "or 'tsv' to choose them"
            )
        return _read_movielens(path, src)
    if fmt == "adjacency":
        if _any_columns(roles) or sep is not None:
            raise ParameterError(
                f"{src}: an adjacency list ('user item item ...') has no columns or separator "
                "to choose"
            )
        return _read_adjacency(path, src)
    if path.is_file() and path.stat().st_size == 0:
        raise InputDataError(f"{src}: the file is empty")
    if fmt == "parquet":
        return _read_parquet(path, src, roles)
    default_sep = "\t" if fmt == "tsv" else ","
    return _read_delimited(
        path,
        src,
        sep=sep if sep is not None else default_sep,
        header=header,
        roles=roles,
        meta={"format": fmt},
        movielens_default=True,
    )


def _combine(raws: list[tuple[str, _Raw]], src: str) -> _Raw:
    first = raws[0][1]
    for split, raw in raws[1:]:
        for what in ("ratings", "timestamps"):
            if (getattr(raw, what) is None) != (getattr(first, what) is None):
                have, lack = (first, raw) if getattr(raw, what) is None else (raw, first)
                raise InputDataError(
                    f"{lack.source}: has no {what} but {have.source} has; the {split} file "
                    "must have the same columns"
                )
    split_rows: dict[str, list[int]] = {}
    start = 0
    for split, raw in raws:
        split_rows[split] = [start, start + len(raw.users)]
        start += len(raw.users)
    is_test = np.concatenate(
        [np.full(len(raw.users), split == "test", dtype=bool) for split, raw in raws]
    )
    meta = dict(first.meta)
    meta["files"] = [f for _, raw in raws for f in raw.meta.get("files", [raw.source])]
    meta["split_rows"] = split_rows
    return _Raw(
        users=np.concatenate([raw.users for _, raw in raws]),
        items=np.concatenate([raw.items for _, raw in raws]),
        ratings=None if first.ratings is None else np.concatenate([raw.ratings for _, raw in raws]),
        timestamps=None
        if first.timestamps is None
        else np.concatenate([raw.timestamps for _, raw in raws]),
        source=src,
        meta=meta,
        is_test=is_test if "test" in split_rows else None,
    )


# --------------------------------------------------------------------------------------------
# column conversion (shared by text, Parquet and in-memory tables)
# --------------------------------------------------------------------------------------------


class _BadValue(Exception):
    """A bad value at ``row`` (0-based row of the table being converted)."""

    def __init__(self, row: int, problem: str) -> None:
        super().__init__(problem)
        self.row = row
        self.problem = problem


class _BadType(Exception):
    """A column whose type cannot hold the role's values at all."""


def _first_true(mask: pa.ChunkedArray | pa.Array | np.ndarray) -> int:
    if not isinstance(mask, np.ndarray):
        mask = mask.to_numpy(zero_copy_only=False)
    return int(np.flatnonzero(mask)[0])


def _first_failure(arr: pa.ChunkedArray, cast: Callable[[pa.ChunkedArray], Any]) -> int:
    """Index of the first element on which the element-wise ``cast`` fails (it fails on arr)."""
    lo, hi = 0, len(arr)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            cast(arr.slice(lo, mid - lo))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            hi = mid
        else:
            lo = mid
    return lo


def _plain(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Decode dictionary and extension arrays, and normalise string views."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = pa.chunked_array([c.dictionary_decode() for c in arr.chunks], type=t.value_type)
        t = arr.type
    if isinstance(t, pa.ExtensionType):
        arr = pa.chunked_array([c.storage for c in arr.chunks], type=t.storage_type)
        t = arr.type
    if pa.types.is_string_view(t):
        arr = arr.cast(pa.large_string())
    return arr


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _to_timestamp(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        return pc.cast(arr, pa.timestamp("ns"))
    except pa.ArrowInvalid:
        return pc.cast(arr, pa.timestamp("ns", tz="UTC"))


def _parse_text(arr: pa.ChunkedArray, role: str) -> pa.ChunkedArray:
    """Parse a text column into numbers (or date-times for timestamps)."""
    noun = _NOUNS[role]
    try:
        text = pc.utf8_trim_whitespace(arr)
    except pa.ArrowInvalid:  # invalid UTF-8 (text files are read without checking it)
        row = _first_failure(arr, pc.utf8_trim_whitespace)
        value = pc.cast(arr.slice(row, 1), pa.binary())[0].as_py()
        raise _BadValue(row, f"{noun} {value!r} is not valid UTF-8 text") from None
    if text.null_count:
        raise _BadValue(_first_true(text.is_null()), f"missing {noun}")
    empty = pc.equal(text, "")
    if pc.any(empty).as_py():
        raise _BadValue(_first_true(empty), f"missing {noun}")
    if role != "rating":
        try:
            return pc.cast(text, pa.int64())
        except pa.ArrowInvalid:
            pass
    try:
        return pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        pass
    numeric_first = True
    if role == "timestamp":
        try:
            return _to_timestamp(text)
        except pa.ArrowInvalid:
            pass
        try:
            pc.cast(text.slice(0, 1), pa.float64())
        except pa.ArrowInvalid:
            numeric_first = False

    def _cast(chunk: pa.ChunkedArray) -> Any:
        return pc.cast(chunk, pa.float64()) if numeric_first else _to_timestamp(chunk)

    row = _first_failure(text, _cast)
    try:
        value = text[row].as_py()
    except UnicodeDecodeError:
        value = pc.cast(text.slice(row, 1), pa.binary())[0].as_py()
    if role in ("user", "item"):
        problem = f"{noun} {value!r} is not a non-negative integer"
    elif role == "rating":
        problem = f"rating {value!r} is not a number"
    else:
        problem = f"timestamp {value!r} is not a number or an ISO 8601 date-time"
    raise _BadValue(row, problem)


def _floats(arr: pa.ChunkedArray, noun: str) -> np.ndarray:
    """Float values of a numeric column, rejecting NaN and infinities."""
    t = arr.type
    if pa.types.is_floating(t):
        values = arr.to_numpy()
    elif pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t):
        values = pc.cast(arr, pa.float64()).to_numpy()
    else:
        raise _BadType(t)
    finite = np.isfinite(values)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise _BadValue(row, f"missing {noun}" if np.isnan(values[row]) else f"{noun} is infinite")
    return values


def _column_values(arr: pa.ChunkedArray, role: str) -> np.ndarray:
    """Convert one column to the numpy array ``Interactions.from_raw`` expects."""
    noun = _NOUNS[role]
    arr = _plain(arr)
    if pa.types.is_null(arr.type):
        if len(arr):
            raise _BadValue(0, f"missing {noun}")
        raise _BadType(arr.type)
    if _is_text(arr.type):
        arr = _parse_text(arr, role)
    if arr.null_count:
        raise _BadValue(_first_true(arr.is_null()), f"missing {noun}")
    t = arr.type

    if role in ("user", "item"):
        if pa.types.is_integer(t):
            values = arr.to_numpy()
            if values.dtype == np.uint64 and len(values) and values.max() > np.iinfo(np.int64).max:
                row = int(np.argmax(values > np.iinfo(np.int64).max))
                raise _BadValue(row, f"{noun} {int(values[row])} is too large")
            values = values.astype(np.int64, copy=False)
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            floats = _floats(arr, noun)
            whole = floats == np.floor(floats)
            if not whole.all():
                row = int(np.flatnonzero(~whole)[0])
                raise _BadValue(row, f"{noun} {float(floats[row])!r} is not an integer")
            big = np.abs(floats) > _MAX_EXACT_FLOAT_ID
            if big.any():
                row = int(np.flatnonzero(big)[0])
                raise _BadValue(row, f"{noun} {float(floats[row])!r} is too large")
            values = floats.astype(np.int64)
        else:
            raise _BadType(t)
        if len(values) and values.min() < 0:
            row = int(np.flatnonzero(values < 0)[0])
            raise _BadValue(row, f"negative {noun} {int(values[row])}")
        return values

    if role == "rating":
        values = _floats(arr, noun).astype(np.float32, copy=False)
        finite = np.isfinite(values)
        if not finite.all():
            row = int(np.flatnonzero(~finite)[0])
            raise _BadValue(row, "rating is out of the float32 range")
        return values

    # timestamps
    if pa.types.is_integer(t):
        return pc.cast(arr, pa.int64()).to_numpy()
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return np.floor(_floats(arr, noun)).astype(np.int64)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        seconds = pc.cast(arr, pa.timestamp("s", tz=getattr(t, "tz", None)), safe=False)
        return pc.cast(seconds, pa.int64()).to_numpy()
    raise _BadType(t)


def _type_message(role: str, t: Any) -> str:
    wanted = {
        "user": "integer ids",
        "item": "integer ids",
        "rating": "numbers",
        "timestamp": "numbers or date-times",
    }[role]
    return f"has type {t}, expected {wanted}"


def _convert_columns(
    columns: dict[str, pa.ChunkedArray],
    labels: dict[str, Any],
    source: str,
    locate: Callable[[int], str],
    extra_checks: Callable[[], list[tuple[int, Any, str]]] | None = None,
) -> dict[str, np.ndarray]:
    """Convert every role column; raise for the earliest bad row over all columns."""
    out: dict[str, np.ndarray] = {}
    bad: list[tuple[int, Any, str]] = []
    for role in list(columns):
        arr = columns.pop(role)  # release each arrow column as soon as it is converted
        try:
            out[role] = _column_values(arr, role)
        except _BadValue as exc:
            bad.append((exc.row, labels[role], exc.problem))
        except _BadType as exc:
            raise InputDataError(
                f"{source}: column {labels[role]!r} {_type_message(role, exc.args[0])}"
            ) from None
        except (pa.ArrowException, ValueError, TypeError) as exc:  # safety net: never raw
            raise InputDataError(
                f"{source}: column {labels[role]!r} cannot be read as {_NOUNS[role]}s ({exc})"
            ) from exc
        del arr
    if extra_checks is not None:
        bad.extend(extra_checks())
    if bad:
        row, label, problem = min(bad, key=lambda b: b[0])
        raise InputDataError(f"{source}: {locate(row)}, column {label!r}: {problem}")
    return out


def _resolve_names(
    names: list[str],
    roles: dict[str, ColumnSpec],
    source: str,
    *,
    positional_only: bool = False,
) -> dict[str, int]:
    """Map each given role to a column position in ``names`` (header names or positions)."""
    positions: dict[str, int] = {}
    for role, spec in roles.items():
        if spec is None:
            continue
        if isinstance(spec, int) or (positional_only and isinstance(spec, str) and spec.isdigit()):
            pos = int(spec)
            if pos >= len(names):
                raise InputDataError(
                    f"{source}: {role}_col={spec!r} is out of range: the data has "
                    f"{len(names)} columns"
                )
            positions[role] = pos
        elif positional_only:
            raise ParameterError(
                f"{source}: without a header, {role}_col must be a 0-based column position, "
                f"got {spec!r}"
            )
        elif spec in names:
            positions[role] = names.index(spec)
        else:
            raise InputDataError(
                f"{source}: no column {spec!r} ({role}_col); columns found: "
                f"{', '.join(repr(n) for n in names)}"
            )
    return positions


def _default_roles(
    roles: dict[str, ColumnSpec], names: list[Any] | None, source: str
) -> dict[str, ColumnSpec]:
    """Fill in the MovieLens column names when no user/item columns were given."""
    if roles["user"] is not None and roles["item"] is not None:
        return roles
    if roles["user"] is not None or roles["item"] is not None:
        raise ParameterError(f"{source}: give both user_col and item_col (or neither)")
    found = f"columns found: {', '.join(repr(n) for n in names)}" if names else "no header"
    if names and _MOVIELENS_COLUMNS["user"] in names and _MOVIELENS_COLUMNS["item"] in names:
        out = dict(roles)
        out["user"] = _MOVIELENS_COLUMNS["user"]
        out["item"] = _MOVIELENS_COLUMNS["item"]
        if not _any_columns({"r": roles["rating"], "t": roles["timestamp"]}):
            for role in ("rating", "timestamp"):
                if _MOVIELENS_COLUMNS[role] in names:
                    out[role] = _MOVIELENS_COLUMNS[role]
        return out
    raise ParameterError(
        f"{source}: pass user_col= and item_col= to say which columns hold the ids ({found})"
    )


# --------------------------------------------------------------------------------------------
# delimited text (MovieLens, CSV, TSV)
# --------------------------------------------------------------------------------------------


@contextmanager
def _open_stream(path: Path, source: str) -> Iterator[pa.NativeFile]:
    """Open ``path`` for reading, decompressing by extension; wrap OS errors."""
    try:
        stream = pa.input_stream(str(path), compression="detect")
    except OSError as exc:
        raise InputDataError(f"{source}: cannot read the file ({exc})") from exc
    try:
        yield stream
    finally:
        stream.close()


def _read_all(path: Path, source: str) -> bytes:
    with _open_stream(path, source) as f:
        try:
            return f.read()
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputDataError(f"{source}: cannot read the file ({exc})") from exc


class _TextInput:
    """A text file, possibly decompressed and with a multi-character separator replaced."""

    def __init__(self, path: Path, source: str, replace: tuple[bytes, bytes] | None) -> None:
        self.path = path
        self.source = source
        self.replace = replace
        self._data: bytes | None = None

    def data(self) -> bytes:
        if self._data is None:
            raw = _read_all(self.path, self.source)
            if self.replace is not None:
                old, new = self.replace
                if new in raw:
                    raise InputDataError(
                        f"{self.source}: contains the control character {new!r}; cannot use "
                        f"the separator {old.decode()!r}"
                    )
                raw = raw.replace(old, new)
            self._data = raw
        return self._data

    @contextmanager
    def stream(self) -> Iterator[pa.NativeFile]:
        if self.replace is not None:
            with pa.BufferReader(self.data()) as reader:
                yield reader
        else:
            with _open_stream(self.path, self.source) as f:
                yield f

    def first_line(self) -> tuple[str, int] | None:
        """The first non-empty line and the number of physical lines up to and including it."""
        lines = 0
        pending = b""
        with self.stream() as f:
            try:
                start = True
                while True:
                    chunk = f.read(1 << 20)
                    if start:
                        chunk = chunk.removeprefix(_BOM)
                        start = False
                    pending += chunk
                    while True:
                        cut = pending.find(b"\n")
                        if cut < 0:
                            break
                        line, pending = pending[:cut].rstrip(b"\r"), pending[cut + 1 :]
                        lines += 1
                        if line:
                            return line.decode("utf-8", errors="replace"), lines
                    if not chunk:
                        pending = pending.rstrip(b"\r")
                        if pending:
                            return pending.decode("utf-8", errors="replace"), lines + 1
                        return None
            except (OSError, pa.ArrowInvalid) as exc:
                raise InputDataError(f"{self.source}: cannot read the file ({exc})") from exc

    def line_of_row(self, row: int, skip: int) -> int | None:
        """1-based line of data row ``row``: the ``row``-th non-empty line after ``skip`` lines."""
        buf = np.frombuffer(self.data(), dtype=np.uint8)
        newlines = np.flatnonzero(buf == ord("\n"))
        starts = np.concatenate([[0], newlines + 1])
        ends = np.concatenate([newlines, [len(buf)]])
        lengths = ends - starts
        has_cr = (lengths > 0) & (buf[np.maximum(ends - 1, 0)] == ord("\r")) if len(buf) else 0
        nonempty = (lengths - has_cr) > 0
        nonempty[:skip] = False
        lines = np.flatnonzero(nonempty)
        return int(lines[row]) + 1 if row < len(lines) else None


def _split_fields(line: str, sep: str) -> list[str]:
    if len(sep) == 1:
        return next(csv.reader([line], delimiter=sep))
    return line.split(sep)


def _read_delimited(
    path: Path,
    source: str,
    *,
    sep: str,
    header: bool,
    roles: dict[str, ColumnSpec],
    meta: dict,
    labels: dict[str, str] | None = None,
    movielens_default: bool = False,
) -> _Raw:
    """Read a delimited text file with pyarrow, typed; locate bad lines on failure."""
    if len(sep) == 1 or sep == sep[0] * len(sep):
        # "::" and the like: split on the single character, the real fields are every
        # stride-th column and the columns in between must be empty (typed as null).
        delimiter, stride, replace = sep[0], len(sep), None
    else:
        delimiter, stride, replace = "\x1f", 1, (sep.encode(), b"\x1f")
    inp = _TextInput(path, source, replace)
    first = inp.first_line()
    if first is None:
        raise InputDataError(f"{source}: the file is empty")
    first_line, lead = first
    shown_sep = sep if replace is None else "\x1f"
    fields = _split_fields(first_line, shown_sep)
    ncols = len(fields)
    names: list[Any] = fields if header else list(range(ncols))
    if movielens_default:
        roles = _default_roles(roles, fields if header else None, source)
    positions = _resolve_names(fields, roles, source, positional_only=not header)
    if labels is None:
        labels = {role: names[pos] for role, pos in positions.items()}
    skip = lead if header else 0

    nphys = (ncols - 1) * stride + 1
    phys = [f"f{i}" for i in range(nphys)]
    role_phys = {role: phys[pos * stride] for role, pos in positions.items()}
    pads = [phys[i] for i in range(nphys) if i % stride]
    wanted = list(dict.fromkeys(role_phys.values()))
    invalid: list[Any] = []

    def _on_invalid(row: Any) -> str:
        invalid.append(row)
        return "error"

    read_options = pacsv.ReadOptions(column_names=phys, skip_rows=skip)
    parse_options = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=_on_invalid)
    types = {role_phys[role]: _ARROW_TYPES[role] for role in role_phys}
    types.update(dict.fromkeys(pads, pa.null()))
    while True:
        convert = pacsv.ConvertOptions(
            column_types=types,
            include_columns=wanted + pads,
            check_utf8=False,  # bad bytes in a text column are reported with their line
        )
        table, error = _csv_read(inp, read_options, parse_options, convert)
        if table is not None or invalid:
            break
        # A value did not convert: read that column as text (all of them if pyarrow does not
        # say which), which _convert_columns parses leniently or reports with its line.
        match = _CSV_COLUMN.search(error)
        name = phys[int(match.group(1))] if match and int(match.group(1)) < nphys else None
        retry = dict(types)
        if name in retry and retry[name] != pa.string():
            retry[name] = pa.string()
        else:
            retry = dict.fromkeys(types, pa.string())
        if retry == types:
            break
        types = retry
    if table is None:
        _raise_invalid_row(inp, read_options, delimiter, sep, ncols, phys[0])
    if table.num_rows == 0:
        raise InputDataError(f"{source}: no data lines" + (" after the header" if header else ""))

    def _locate(row: int) -> str:
        line = inp.line_of_row(row, skip)
        return f"line {line}" if line is not None else f"data row {row + 1}"

    pad_columns = {name: table.column(name) for name in pads if types[name] == pa.string()}
    columns = {role: table.column(name) for role, name in role_phys.items()}
    del table  # the columns are released one by one as they are converted

    pos_labels = {positions[role]: label for role, label in labels.items()}

    def _pad_checks() -> list[tuple[int, Any, str]]:
        found = []
        for name, col in pad_columns.items():
            nonempty = pc.not_equal(col, "")
            if pc.any(nonempty).as_py():
                row = _first_true(nonempty)
                pos = int(name[1:]) // stride
                label = pos_labels.get(pos, names[pos])
                found.append((row, label, f"unexpected {sep[0]!r} in {col[row].as_py()!r}"))
        return found

    values = _convert_columns(columns, labels, source, _locate, _pad_checks)
    out_meta = dict(meta)
    out_meta.update(
        {
            "columns": dict(labels),
            "sep": sep,
            "header": header,
            "files": [source],
        }
    )
    return _Raw(
        users=values["user"],
        items=values["item"],
        ratings=values.get("rating"),
        timestamps=values.get("timestamp"),
        source=source,
        meta=out_meta,
    )


def _csv_read(
    inp: _TextInput,
    read_options: pacsv.ReadOptions,
    parse_options: pacsv.ParseOptions,
    convert: pacsv.ConvertOptions,
) -> tuple[pa.Table | None, str]:
    """Read with pyarrow: the table, or ``None`` and pyarrow's message for an invalid file."""
    with inp.stream() as f:
        try:
            table = pacsv.read_csv(
                f, read_options=read_options, parse_options=parse_options, convert_options=convert
            )
        except pa.ArrowInvalid as exc:
            if str(exc).startswith("Empty CSV file"):
                raise InputDataError(f"{inp.source}: the file is empty") from None
            return None, str(exc)
        except OSError as exc:
            raise InputDataError(f"{inp.source}: cannot read the file ({exc})") from exc
    return table, ""


def _raise_invalid_row(
    inp: _TextInput,
    read_options: pacsv.ReadOptions,
    delimiter: str,
    sep: str,
    ncols: int,
    any_column: str,
) -> NoReturn:
    """Re-read serially to get the line number of the first row with a wrong field count."""
    rows: list[Any] = []

    def _on_invalid(row: Any) -> str:
        rows.append(row)
        return "error"

    serial = pacsv.ReadOptions(
        column_names=read_options.column_names,
        skip_rows=read_options.skip_rows,
        use_threads=False,
    )
    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=_on_invalid)
    convert = pacsv.ConvertOptions(
        include_columns=[any_column], column_types={any_column: pa.string()}
    )
    error: Exception | None = None
    with inp.stream() as f:
        try:
            pacsv.read_csv(f, read_options=serial, parse_options=parse, convert_options=convert)
        except pa.ArrowInvalid as exc:
            error = exc
    if not rows:
        detail = f" ({error})" if error is not None else ""
        raise InputDataError(f"{inp.source}: cannot parse the file{detail}")
    row = rows[0]
    text = row.text if inp.replace is None else row.text.replace("\x1f", sep)
    # pyarrow numbers rows from 1, counting skipped lines but not empty ones
    line = None
    if row.number is not None:
        line = inp.line_of_row(row.number - read_options.skip_rows - 1, read_options.skip_rows)
    where = f"line {line}" if line is not None else "a line"
    found = len(_split_fields(text, sep))
    raise InputDataError(
        f"{inp.source}: {where}: expected {ncols} fields separated by {sep!r} (as on the first "
        f"line), found {found}: {text[:120]!r}"
    )


def _read_movielens(path: Path, source: str) -> _Raw:
    """Read a MovieLens ratings file in whichever published layout it has."""
    if path.stat().st_size == 0:
        raise InputDataError(f"{source}: the file is empty")
    base = _split_compression(path.name)
    if base not in _ML_LAYOUTS:
        first = _TextInput(path, source, None).first_line()
        if first is None:
            raise InputDataError(f"{source}: the file is empty")
        line = first[0]
        base = "ratings.dat" if "::" in line else "u.data" if "\t" in line else "ratings.csv"
    sep, header, roles, labels = _ML_LAYOUTS[base]
    return _read_delimited(
        path,
        source,
        sep=sep,
        header=header,
        roles=dict(roles),
        labels=labels,
        meta={"format": "movielens", "layout": base},
    )


# --------------------------------------------------------------------------------------------
# Parquet and in-memory tables
# --------------------------------------------------------------------------------------------


def _from_arrow(table: pa.Table, roles: dict[str, ColumnSpec], source: str, fmt: str) -> _Raw:
    names = list(table.column_names)
    roles = _default_roles(roles, names, source)
    positions = _resolve_names(names, roles, source)
    labels = {role: names[pos] for role, pos in positions.items()}
    if table.num_rows == 0:
        raise InputDataError(f"{source}: no interactions (the table has no rows)")
    columns = {role: table.column(pos) for role, pos in positions.items()}
    values = _convert_columns(columns, labels, source, lambda row: f"row {row}")
    return _Raw(
        users=values["user"],
        items=values["item"],
        ratings=values.get("rating"),
        timestamps=values.get("timestamp"),
        source=source,
        meta={"format": fmt, "columns": labels},
    )


def _read_parquet(path: Path, source: str, roles: dict[str, ColumnSpec]) -> _Raw:
    files: list[str] | str = str(path)
    if path.is_dir():
        files = [str(p) for p in sorted(path.iterdir()) if p.suffix.lower() in (".parquet", ".pq")]
    import pyarrow.dataset as pads  # imports pandas: only Parquet inputs pay for it

    try:
        dataset = pads.dataset(files, format="parquet")
        names = list(dataset.schema.names)
        roles = _default_roles(roles, names, source)
        positions = _resolve_names(names, roles, source)
        table = dataset.to_table(columns=list(dict.fromkeys(names[p] for p in positions.values())))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(f"{source}: not a readable Parquet file ({exc})") from exc
    raw = _from_arrow(
        table, {role: names[pos] for role, pos in positions.items()}, source, "parquet"
    )
    raw.meta["files"] = [files] if isinstance(files, str) else files
    return raw


def _series_to_arrow(series: pd.Series) -> pa.ChunkedArray:
    try:
        return pa.chunked_array([pa.array(series, from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        # mixed Python objects: compare them as text so the bad row can be named
        return pa.chunked_array([pa.array(series.astype("string"), from_pandas=True)])


def _from_dataframe(df: pd.DataFrame, roles: dict[str, ColumnSpec]) -> _Raw:
    source = "<DataFrame>"
    labels_list = list(df.columns)
    roles = _default_roles(roles, labels_list, source)
    columns: dict[str, pa.ChunkedArray] = {}
    labels: dict[str, Any] = {}
    for role, spec in roles.items():
        if spec is None:
            continue
        if spec in labels_list:
            pos = labels_list.index(spec)
            if labels_list.count(spec) > 1:
                raise InputDataError(f"{source}: column {spec!r} appears more than once")
        elif isinstance(spec, int) and not isinstance(spec, bool) and spec < len(labels_list):
            pos = spec
        else:
            raise InputDataError(
                f"{source}: no column {spec!r} ({role}_col); columns found: "
                f"{', '.join(repr(n) for n in labels_list)}"
            )
        labels[role] = labels_list[pos]
        columns[role] = _series_to_arrow(df.iloc[:, pos])
    if len(df) == 0:
        raise InputDataError(f"{source}: no interactions (the DataFrame has no rows)")
    values = _convert_columns(columns, labels, source, lambda row: f"row {row}")
    return _Raw(
        users=values["user"],
        items=values["item"],
        ratings=values.get("rating"),
        timestamps=values.get("timestamp"),
        source=source,
        meta={"format": "dataframe", "columns": labels},
    )


def _from_sparse(matrix: Any) -> _Raw:
    shape = matrix.shape
    source = f"<scipy.sparse {type(matrix).__name__} {shape[0]}x{shape[-1]}>"
    if len(shape) != 2:
        raise InputDataError(f"{source}: expected a 2-d matrix, got shape {shape}")
    dtype = matrix.dtype
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_) or np.issubdtype(
        dtype, np.complexfloating
    ):
        raise InputDataError(f"{source}: values must be real numbers, got dtype {dtype}")
    coo = sp.coo_array(matrix, copy=True)
    coo.sum_duplicates()
    coo.eliminate_zeros()
    if coo.nnz == 0:
        raise InputDataError(f"{source}: no interactions (the matrix has no non-zero entries)")
    ratings = None
    if dtype != np.bool_:
        ratings = coo.data.astype(np.float64, copy=False)
        finite = np.isfinite(ratings)
        if not finite.all():
            k = int(np.flatnonzero(~finite)[0])
            raise InputDataError(
                f"{source}: entry ({coo.row[k]}, {coo.col[k]}) is not finite ({ratings[k]})"
            )
    return _Raw(
        users=coo.row.astype(np.int64),
        items=coo.col.astype(np.int64),
        ratings=ratings,
        timestamps=None,
        source=source,
        meta={"format": "sparse", "shape": [int(shape[0]), int(shape[1])]},
    )


# --------------------------------------------------------------------------------------------
# adjacency lists
# --------------------------------------------------------------------------------------------


def _read_adjacency(path: Path, source: str) -> _Raw:
    """Read ``user item item ...`` lines with numpy, a block of whole lines at a time."""
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    line0 = 0  # lines before the current block
    tokens = 0
    carry = b""
    start = True
    with _open_stream(path, source) as f:
        while True:
            try:
                chunk = f.read(_ADJACENCY_BLOCK)
            except (OSError, pa.ArrowInvalid) as exc:
                raise InputDataError(f"{source}: cannot read the file ({exc})") from exc
            if start:
                chunk = chunk.removeprefix(_BOM)
                start = False
            data = carry + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                block, carry = data[:cut], data[cut:]
            else:
                block, carry = data, b""
            if block:
                u, i, n = _parse_adjacency_block(block, line0, source)
                users.append(u)
                items.append(i)
                tokens += n
                line0 += block.count(b"\n")
            if not chunk:
                break
    if tokens == 0:
        raise InputDataError(f"{source}: the file is empty")
    return _Raw(
        users=np.concatenate(users),
        items=np.concatenate(items),
        ratings=None,
        timestamps=None,
        source=source,
        meta={
            "format": "adjacency",
            "columns": {"user": "first field", "item": "other fields"},
            "files": [source],
        },
    )


def _parse_adjacency_block(
    block: bytes, line0: int, source: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Parse whole lines of an adjacency list: (users, items, number of ids)."""
    buf = np.frombuffer(block, dtype=np.uint8)
    digit = buf - np.uint8(ord("0"))
    is_digit = digit < 10
    space = (buf == ord(" ")) | (buf == ord("\t")) | (buf == ord("\n")) | (buf == ord("\r"))
    bad = ~(is_digit | space)
    if bad.any():
        pos = int(np.argmax(bad))
        line, col = _line_col(buf, pos, line0)
        char = bytes(block[pos : pos + 1]).decode("latin-1")
        what = "a negative id" if char == "-" else f"unexpected character {char!r}"
        raise InputDataError(
            f"{source}: line {line}, column {col}: {what}; each line must be 'user item item "
            "...', non-negative integer ids separated by spaces"
        )
    edge = np.diff(is_digit.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    ends = np.flatnonzero(edge == -1)
    if len(starts) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), 0
    lengths = ends - starts
    if lengths.max() > 18:
        pos = int(starts[np.argmax(lengths > 18)])
        line, col = _line_col(buf, pos, line0)
        raise InputDataError(f"{source}: line {line}, column {col}: id is too large")
    values = np.zeros(len(starts), dtype=np.int64)
    for k in range(int(lengths.max())):
        more = lengths > k
        values[more] = values[more] * 10 + digit[starts[more] + k]
    newlines = np.flatnonzero(buf == ord("\n"))
    line_of = np.searchsorted(newlines, starts)
    first = np.empty(len(starts), dtype=bool)
    first[0] = True
    np.not_equal(line_of[1:], line_of[:-1], out=first[1:])
    heads = np.flatnonzero(first)
    counts = np.diff(np.append(heads, len(values))) - 1
    return np.repeat(values[heads], counts), values[~first], len(values)


def _line_col(buf: np.ndarray, pos: int, line0: int) -> tuple[int, int]:
    """1-based line and column of byte ``pos`` of a block starting after ``line0`` lines."""
    before = np.flatnonzero(buf[:pos] == ord("\n"))
    line = line0 + len(before) + 1
    col = pos - (int(before[-1]) + 1 if len(before) else 0) + 1
    return line, col
