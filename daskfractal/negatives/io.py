"""Negatives outputs: the writers (Zarr v3 / Parquet, one Dask task per shard or part), the
checks made before any work (disk, memory), and the reader (:func:`open_negatives`).

An output has the guarantees of an expansion store (:mod:`daskfractal.store`): its folder
gets daskfractal's ownership marker before anything else and only a folder carrying it is
ever emptied (``overwrite=True``); the whole run holds the output lock ``<out>.lock``, so a
second writer of the same output is refused at once; Zarr chunks carry a crc32c and Parquet
pages a CRC, checked on every read. It is presented as finished only when its writer ran to
the end: the metadata says ``complete: true`` (written after every task returned and the row
count matched), then ``manifest.json`` lists every file with its size and SHA-256, and the
``_SUCCESS`` marker is written last. :func:`open_negatives` refuses an unfinished output, and
a finished one with a missing, resized or unexpected file or edited metadata. A writer killed
or failing half-way (disk full, ...) leaves an output that ``overwrite=True`` replaces.

Nothing here imports the sampler: the writers take any object with the sampler's public
methods (``windows``, ``window``, ``test_users``, ``test_negatives``, ...).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._checks import as_choice, as_int
from .._names import MAX_EPOCHS
from .._preflight import available_memory, check_disk, check_memory, format_bytes
from ..errors import DaskFractalError, OutputError, ParameterError, StoreError
from ..store import (
    MANIFEST_FILE,
    MARKER,
    atomic_write_bytes,
    check_manifest,
    check_owned,
    claim_folder,
    clear_owned,
    dump_json,
    lock_output,
    new_store_id,
    open_checked_array,
    output_path,
    write_manifest,
)

__all__ = [
    "FORMATS",
    "MAX_EPOCHS",
    "META_FILE",
    "META_KEY",
    "OUTPUT_FORMAT_VERSION",
    "SUCCESS_FILE",
    "NegativesStore",
    "WriteEstimate",
    "epoch_list",
    "estimate_write",
    "open_negatives",
    "write_negatives",
]

FORMATS = ("zarr", "parquet")
OUTPUT_FORMAT_VERSION = 1
#: Root attribute (Zarr) / metadata file (Parquet) that marks a negatives output.
META_KEY = "daskfractal_negatives"
META_FILE = "_negatives.json"
SUCCESS_FILE = "_SUCCESS"
#: Epoch numbers are int64 words of the random streams.
EPOCH_LOW, EPOCH_HIGH = -(2**63), 2**63

DEFAULT_TASK_ROWS = 2**22
DEFAULT_TASK_ITEMS = 2**22
#: Parquet row groups of the test negatives.
TEST_ROW_GROUP = 2**20
#: Driver memory per shuffle window of an epoch (window order, task arguments) and per task.
_DRIVER_BYTES_PER_WINDOW = 200
_DRIVER_BYTES_PER_TASK = 4096
#: Errors of the output side of a write (not of the input store).
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM}


def epoch_list(epochs: int | Iterable[int]) -> list[int]:
    """``epochs`` (one epoch number or several, distinct) as a list of ints.

    Raises
    ------
    ParameterError
        Not integers, repeated, outside the int64 range, or more than :data:`MAX_EPOCHS`.
    """
    if isinstance(epochs, int | np.integer) and not isinstance(epochs, bool | np.bool_):
        return [as_int(epochs, "epochs", low=EPOCH_LOW, high=EPOCH_HIGH)]
    try:
        n = len(epochs)  # type: ignore[arg-type]
    except TypeError:
        n = None
    if n is not None and n > MAX_EPOCHS:
        raise ParameterError(
            f"epochs: {n:,} epochs in one output (at most {MAX_EPOCHS:,}); write them in "
            "several outputs"
        )
    try:
        values = []
        for v in epochs:  # type: ignore[union-attr]
            values.append(v)
            if len(values) > MAX_EPOCHS:
                raise ParameterError(f"epochs: more than {MAX_EPOCHS:,} epochs in one output")
    except TypeError as e:
        raise ParameterError(f"epochs must be an int or an iterable of ints, got {epochs!r}") from e
    out = [as_int(v, "epochs", low=EPOCH_LOW, high=EPOCH_HIGH) for v in values]
    if len(set(out)) != len(out):
        raise ParameterError(f"epochs must not repeat, got {out}")
    return out


# --------------------------------------------------------------------------------------
# plan and preflight


@dataclass(frozen=True)
class WriteEstimate:
    """What a write will produce and need, computed before any work.

    Attributes
    ----------
    rows : int
        Training rows over all epochs (``epochs * n_examples``).
    test_values : int
        Evaluation negatives (``test users * k``).
    disk_bytes : int
        Output size, uncompressed (an upper bound: the columns are zstd-compressed).
    task_bytes : int
        Peak memory of the largest task (its rows, the concatenation, the encoded shard,
        two shuffle windows and the sampler's per-worker tables).
    driver_bytes : int
        Memory of the task graph on the client (window order and task arguments).
    n_tasks : int
    n_windows : int
        Shuffle windows of one epoch.
    """

    rows: int
    test_values: int
    disk_bytes: int
    task_bytes: int
    driver_bytes: int
    n_tasks: int
    n_windows: int


def plan_sizes(
    shuffle_window: int, rows_per_task: int | None, chunk_rows: int | None
) -> tuple[int, int]:
    """Checked ``(rows_per_task, chunk_rows)``: a task is whole shuffle windows, a chunk
    (Zarr chunk / Parquet row group) divides a task."""
    window = shuffle_window
    if rows_per_task is None:
        rows_per_task = window * max(1, DEFAULT_TASK_ROWS // window)
    rows_per_task = as_int(rows_per_task, "rows_per_task", low=1, high=EPOCH_HIGH)
    if rows_per_task % window:
        raise ParameterError(
            f"rows_per_task={rows_per_task} must be a multiple of shuffle_window={window}"
        )
    if chunk_rows is None:
        chunk_rows = math.gcd(rows_per_task, 2**16)
        if chunk_rows < 4096:
            chunk_rows = rows_per_task
    chunk_rows = as_int(chunk_rows, "chunk_rows", low=1, high=EPOCH_HIGH)
    if rows_per_task % chunk_rows:
        raise ParameterError(
            f"chunk_rows (batch size) {chunk_rows} must divide rows_per_task={rows_per_task}"
            f" (a multiple of shuffle_window={window})"
        )
    return rows_per_task, chunk_rows


def estimate_write(
    sampler: Any,
    fmt: str,
    n_epochs: int,
    rows_per_task: int,
    n_test_users: int,
    test_k: int | None,
) -> WriteEstimate:
    """Sizes of a write of ``n_epochs`` epochs (and test negatives) by ``sampler``.

    Pure arithmetic on the sampler's counts: nothing is allocated in proportion to them.
    """
    item = int(sampler.item_dtype.itemsize)
    row = 8 + item + 1  # users int64, items, labels int8
    n_rows = int(sampler.n_examples)
    window = int(sampler.shuffle_window)
    rows = n_epochs * n_rows
    k = test_k or 0
    test_values = n_test_users * k
    if fmt == "zarr":
        test_disk = n_test_users * (8 + k * item)
    else:
        test_disk = test_values * (8 + item)
    disk = rows * row + test_disk
    task_rows = min(rows_per_task, n_rows)
    win_rows = min(window, n_rows)
    # per-worker sampler state: row pointer, weights + alias table, bitmap of a row
    state = (sampler.n_users + 1) * 8 + sampler.n_items * (8 + 16 + 1)
    epoch_task = 3 * task_rows * row + 2 * win_rows * row + 2 * win_rows * item
    users_per_task = users_per_test_task(test_k)
    test_task = 4 * min(users_per_task, n_test_users) * max(k, 1) * (item + 8)
    n_windows = -(-n_rows // window) if n_rows else 0
    per_task = rows_per_task // window
    n_tasks = n_epochs * (-(-n_windows // per_task) if n_windows else 0)
    if test_k is not None and n_test_users:
        n_tasks += -(-n_test_users // users_per_task)
    driver = (
        n_epochs * n_windows * _DRIVER_BYTES_PER_WINDOW // 4
        + n_windows * _DRIVER_BYTES_PER_WINDOW
        + n_tasks * _DRIVER_BYTES_PER_TASK
    )
    return WriteEstimate(
        rows=rows,
        test_values=test_values,
        disk_bytes=disk,
        task_bytes=state + max(epoch_task if rows else 0, test_task if test_values else 0),
        driver_bytes=driver,
        n_tasks=n_tasks,
        n_windows=n_windows,
    )


def users_per_test_task(test_k: int | None) -> int:
    """Test users per task / Zarr chunk / Parquet part (about 2**22 negatives a task)."""
    return max(1, DEFAULT_TASK_ITEMS // max(test_k or 1, 1))


def memory_budget(scheduler: Any) -> tuple[int, int]:
    """``(memory limit, tasks at once)`` of one worker of ``scheduler``.

    A ``distributed.Client``: its smallest worker's limit and thread count; the threaded
    scheduler (``None``, ``"threads"``) and ``"processes"``: this machine's available memory
    shared by one task per core; ``"sync"``: one task at a time.
    """
    if scheduler is not None and hasattr(scheduler, "scheduler_info"):
        try:
            workers = scheduler.scheduler_info().get("workers", {})
        except Exception:  # a cluster that cannot answer: check locally
            workers = {}
        budgets = [
            (int(w.get("memory_limit") or 0), max(1, int(w.get("nthreads") or 1)))
            for w in workers.values()
        ]
        budgets = [b for b in budgets if b[0] > 0]
        if budgets:
            return min(budgets, key=lambda b: b[0] / b[1])
        return available_memory(), 1
    if scheduler in ("sync", "synchronous", "single-threaded"):
        return available_memory(), 1
    return available_memory(), max(1, os.cpu_count() or 1)


def preflight(
    est: WriteEstimate,
    out: Path,
    *,
    scheduler: Any,
    force: bool,
    already: int = 0,
) -> None:
    """Refuse (:class:`~daskfractal.errors.ResourceError`) a write whose output exceeds the
    free disk, or whose tasks (at once on a worker) or task graph exceed the memory."""
    rows = f"{est.rows:,} rows" + (
        f" and {est.test_values:,} test negatives" if est.test_values else ""
    )
    check_disk(
        out, est.disk_bytes, what=f"the negatives output ({rows})", force=force, already=already
    )
    limit, at_once = memory_budget(scheduler)
    at_once = max(1, min(at_once, est.n_tasks))
    check_memory(
        est.task_bytes * at_once,
        limit,
        what=f"writing the negatives ({at_once} task(s) of about "
        f"{format_bytes(est.task_bytes)} at once)",
        force=force,
    )
    check_memory(
        est.driver_bytes,
        available_memory(),
        what=f"the task graph of the negatives ({est.n_windows:,} shuffle windows an epoch, "
        f"{est.n_tasks:,} tasks)",
        force=force,
    )


# --------------------------------------------------------------------------------------
# the write


def write_negatives(
    sampler: Any,
    fmt: str,
    path: str | os.PathLike[str],
    epochs: int | Iterable[int],
    *,
    source: str,
    test_negatives: int | None = None,
    rows_per_task: int | None = None,
    chunk_rows: int | None = None,
    overwrite: bool = False,
    scheduler: Any = None,
    progress: bool = True,
    force: bool = False,
) -> NegativesStore:
    """Write ``epochs`` of ``sampler`` (and test negatives) to ``path``; see
    :meth:`NegativeSampler.to_zarr <daskfractal.NegativeSampler.to_zarr>`.

    Every parameter is checked, then the sizes are estimated and compared with the free disk
    and the memory limit (:func:`preflight`), before the output folder is touched.
    """
    fmt = as_choice(fmt, "format", FORMATS)
    epochs_ = epoch_list(epochs)
    test_k = test_negatives
    if test_k is not None:
        test_k = as_int(test_k, "test_negatives", low=0)
        if test_k > sampler.n_items:
            raise ParameterError(f"test_negatives={test_k} exceeds n_items={sampler.n_items}")
    window = sampler.shuffle_window
    rows_per_task, chunk_rows = plan_sizes(window, rows_per_task, chunk_rows)
    out = output_path(path)
    if not isinstance(out, Path):
        raise ParameterError(
            f"{out}: negatives are written to a local folder (or a shared file system), not "
            "to an object store; write them locally and copy them"
        )
    check_output(out, overwrite)
    n_rows = sampler.n_examples
    test_users = sampler.test_users() if test_k is not None else None
    n_test_users = 0 if test_users is None else int(test_users.shape[0])
    users_per_task = users_per_test_task(test_k)
    est = estimate_write(sampler, fmt, len(epochs_), rows_per_task, n_test_users, test_k)
    preflight(est, out, scheduler=scheduler, force=force, already=_output_bytes(out))
    meta = {
        "format_version": OUTPUT_FORMAT_VERSION,
        "format": fmt,
        "source": source,
        "n_users": sampler.n_users,
        "n_items": sampler.n_items,
        "num_negatives": sampler.num_negatives,
        "distribution": sampler.distribution,
        "alpha": sampler.alpha,
        "exclude": sampler.exclude,
        "seed": sampler.seed,
        "shuffle_window": window,
        "epochs": epochs_,
        "n_examples": n_rows,
        "rows_per_task": rows_per_task,
        "chunk_rows": chunk_rows,
        "item_dtype": sampler.item_dtype.name,
        "test_negatives": test_k,
        "n_test_users": None if test_users is None else n_test_users,
        "complete": False,
    }
    # the whole run holds the output's lock: a second writer is refused, not interleaved
    with lock_output(out, what="negatives output (--out)"):
        _write_locked(
            sampler,
            fmt,
            out,
            meta,
            epochs_,
            test_users,
            test_k,
            users_per_task,
            rows_per_task,
            chunk_rows,
            overwrite,
            scheduler,
            progress,
        )
    return open_negatives(out)


def _write_locked(
    sampler: Any,
    fmt: str,
    out: Path,
    meta: dict[str, Any],
    epochs_: list[int],
    test_users: np.ndarray | None,
    test_k: int | None,
    users_per_task: int,
    rows_per_task: int,
    chunk_rows: int,
    overwrite: bool,
    scheduler: Any,
    progress: bool,
) -> None:
    """The body of :func:`write_negatives`, run while the output lock is held."""
    import dask

    from .._dask import run

    window = sampler.shuffle_window
    n_rows = sampler.n_examples
    n_test_users = 0 if test_users is None else int(test_users.shape[0])
    with _output_errors(out):
        _replace_output(out, overwrite)
        if fmt == "zarr":
            _zarr_create(
                out,
                meta,
                epochs_,
                n_rows,
                rows_per_task,
                chunk_rows,
                sampler.item_dtype,
                test_users,
                test_k,
                users_per_task,
            )
        else:
            atomic_write_bytes(out / META_FILE, dump_json(meta))
            for e in epochs_:
                (out / f"epoch-{e}").mkdir()
            if test_users is not None:
                (out / "test").mkdir()
    me = dask.delayed(sampler, name=f"negative-sampler-{uuid.uuid4().hex}")
    tasks = []
    per_task = rows_per_task // window
    for e in epochs_:
        windows = sampler.windows(e)
        for k, q in enumerate(range(0, len(windows), per_task)):
            group = [w for w, _, _ in windows[q : q + per_task]]
            start = q * window
            tasks.append(
                dask.delayed(_epoch_task, pure=False)(
                    me, fmt, str(out), e, k, group, start, chunk_rows
                )
            )
    if test_users is not None and test_users.size:
        for k, q in enumerate(range(0, test_users.shape[0], users_per_task)):
            part = test_users[q : q + users_per_task]
            tasks.append(
                dask.delayed(_test_task, pure=False)(me, fmt, str(out), k, part, q, test_k)
            )
    with _output_errors(out):
        written = run(tasks, scheduler=scheduler, progress=progress)
    expected = len(epochs_) * n_rows + n_test_users * (test_k or 0)
    got = int(sum(written))
    if got != expected:
        raise StoreError(f"{out}: wrote {got} values, expected {expected}")
    meta["complete"] = True
    meta["manifest"] = MANIFEST_FILE
    with _output_errors(out):
        if fmt == "zarr":
            import zarr

            root = zarr.open_group(str(out), mode="r+")
            root.attrs[META_KEY] = meta
        else:
            atomic_write_bytes(out / META_FILE, dump_json(meta))
        # after the final metadata (the manifest hashes it), before the completion marker
        write_manifest(out, {}, meta)
        (out / SUCCESS_FILE).touch()


@contextlib.contextmanager
def _output_errors(out: Path) -> Iterator[None]:
    """Turn an OS error of the output side (disk full, read-only, no permission, or any
    error on a file of the output) into one :class:`OutputError` that says the output is
    unfinished; errors of the input store and daskfractal's own errors pass unchanged."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, DaskFractalError):
            raise
        where = os.path.abspath(exc.filename) if exc.filename else ""
        root = os.path.abspath(out)
        if not (where == root or where.startswith(root + os.sep)) and (
            exc.errno not in _OUTPUT_ERRNOS
        ):
            raise
        reason = exc.strerror or str(exc)
        raise OutputError(
            f"cannot write the negatives output {out}: {reason}"
            f"{f' ({where})' if where else ''}; it is unfinished and will not open "
            "(free space or fix the location, then write it again with --overwrite)"
        ) from exc


def _output_bytes(path: Path) -> int:
    """Bytes of an existing negatives output at ``path`` (freed by an overwrite), else 0."""
    if not path.is_dir() or not _is_negatives_output(path):
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --------------------------------------------------------------------------------------
# output folders


def _is_negatives_output(path: Path) -> bool:
    if (path / META_FILE).is_file():
        return True
    zjson = path / "zarr.json"
    if zjson.is_file():
        try:
            doc = json.loads(zjson.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and META_KEY in doc.get("attributes", {})
    return False


def _marked(path: Path) -> bool:
    """Whether ``path`` carries daskfractal's ownership marker of an output."""
    try:
        check_owned(path, "store")
    except StoreError:
        return False
    return True


def _foreign_entries(path: Path) -> list[str]:
    """Top-level entries of ``path`` that a negatives writer never creates."""
    ours = {"zarr.json", META_FILE, SUCCESS_FILE, MANIFEST_FILE, MARKER, "test"}
    return sorted(
        p.name for p in path.iterdir() if p.name not in ours and not p.name.startswith("epoch-")
    )


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse an output location that cannot be written (nothing is changed on disk).

    ``path`` must be missing, an empty folder (or one holding only daskfractal's ownership
    marker: a run stopped before it wrote anything), or, with ``overwrite``, a negatives
    output that carries the marker and holds only a negatives writer's files.
    """
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} exists and is not a directory")
    if not (path.is_dir() and any(e.name != MARKER for e in path.iterdir())):
        return
    foreign = _foreign_entries(path)
    # a run killed while emptying its output may have removed the metadata already: the
    # marker still proves the folder is ours
    if not _is_negatives_output(path) and (foreign or not _marked(path)):
        raise StoreError(
            f"{path} exists and is not a negatives output; refusing to write into or delete it"
        )
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise StoreError(
            f"{path} holds negatives but also files a negatives writer never creates "
            f"({shown}); refusing to delete them: choose another output"
        )
    if not overwrite:
        finished = (path / SUCCESS_FILE).is_file()
        what = "negatives" if finished else "an unfinished negatives output"
        raise StoreError(
            f"{path} already holds {what}; choose another output, or pass overwrite=True "
            "(--overwrite) to delete and replace it"
        )
    # an output of a daskfractal without markers (or a copy) is never deleted
    check_owned(path, "store")


def _replace_output(path: Path, overwrite: bool) -> None:
    """Claim ``path`` for this run: a new folder gets the ownership marker first; an output
    of ours (checked again, under the lock) is emptied, its completion marks first, so it
    never looks finished while half deleted, and its marker last."""
    check_output(path, overwrite)
    if path.is_dir() and any(e.name != MARKER for e in path.iterdir()):
        store_id = check_owned(path, "store")
        clear_owned(path, "store", store_id, first=(SUCCESS_FILE, MANIFEST_FILE))
    else:
        claim_folder(path, "store", new_store_id())


def _zarr_create(
    out: Path,
    meta: dict,
    epochs: list[int],
    n_rows: int,
    rows_per_task: int,
    chunk_rows: int,
    item_dtype: np.dtype,
    test_users: np.ndarray | None,
    test_k: int | None,
    users_per_task: int,
) -> None:
    import zarr
    from zarr.codecs import BloscCodec, Crc32cCodec

    def comp(dtype: Any) -> list[BloscCodec | Crc32cCodec]:
        # the checksum makes a flipped byte fail the read of its chunk (as in expansion stores)
        size = np.dtype(dtype).itemsize
        return [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=size), Crc32cCodec()]

    # not mode "w": the folder already holds the ownership marker (written first)
    root = zarr.create_group(store=str(out), zarr_format=3, overwrite=False)
    root.attrs[META_KEY] = meta
    chunk = max(1, min(chunk_rows, n_rows))
    shard = max(chunk, min(rows_per_task, -(-n_rows // chunk) * chunk))
    for e in epochs:
        g = root.create_group(f"epoch-{e}")
        for name, dtype in (("users", np.int64), ("items", item_dtype), ("labels", np.int8)):
            g.create_array(
                name,
                shape=(n_rows,),
                dtype=dtype,
                chunks=(chunk,),
                shards=(shard,),
                compressors=comp(dtype),
                fill_value=0,
            )
    if test_users is not None:
        g = root.create_group("test")
        t = int(test_users.shape[0])
        rows = max(1, min(users_per_task, t))
        g.create_array(
            "users",
            shape=(t,),
            dtype=np.int64,
            chunks=(rows,),
            compressors=comp(np.int64),
            fill_value=0,
        )
        g.create_array(
            "items",
            shape=(t, test_k),  # type: ignore[arg-type]  # test_k is set with test_users
            dtype=item_dtype,
            chunks=(rows, max(1, test_k or 1)),
            compressors=comp(item_dtype),
            fill_value=0,
        )


def _write_table(file: Path, columns: dict[str, np.ndarray], row_group: int) -> None:
    """One Parquet part, moved into place whole (:func:`daskfractal.store.atomic_write_bytes`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: pa.array(v) for k, v in columns.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        row_group_size=max(1, row_group),
        compression="zstd",
        write_page_checksum=True,  # checked on read: a flipped byte is an error, not data
    )
    atomic_write_bytes(file, memoryview(sink.getvalue()))


def _epoch_task(
    sampler: Any,
    fmt: str,
    out: str,
    epoch: int,
    part: int,
    windows: list[int],
    start: int,
    chunk_rows: int,
) -> int:
    """Compute whole shuffle windows (consecutive in stream order) and write them."""
    pieces = [sampler.window(epoch, w) for w in windows]
    users, items, labels = (np.concatenate([p[i] for p in pieces]) for i in range(3))
    if fmt == "zarr":
        import zarr

        store = zarr.storage.LocalStore(out)
        for name, values in (("users", users), ("items", items), ("labels", labels)):
            arr = zarr.open_array(store=store, path=f"epoch-{epoch}/{name}", mode="r+")
            arr[start : start + values.shape[0]] = values
    else:
        file = Path(out) / f"epoch-{epoch}" / f"part-{part:06d}.parquet"
        _write_table(file, {"user_id": users, "item_id": items, "label": labels}, chunk_rows)
    return int(users.shape[0])


def _test_task(
    sampler: Any, fmt: str, out: str, part: int, users: np.ndarray, start: int, k: int
) -> int:
    """Test negatives of a run of test users, written as one chunk / part."""
    users, items = sampler.test_negatives(k, users)
    if fmt == "zarr":
        import zarr

        store = zarr.storage.LocalStore(out)
        zarr.open_array(store=store, path="test/users", mode="r+")[start : start + users.size] = (
            users
        )
        zarr.open_array(store=store, path="test/items", mode="r+")[start : start + users.size] = (
            items
        )
    else:
        file = Path(out) / "test" / f"part-{part:06d}.parquet"
        _write_table(
            file,
            {"user_id": np.repeat(users, k), "item_id": items.reshape(-1)},
            TEST_ROW_GROUP,
        )
    return int(items.size)


class NegativesStore:
    """A finished negatives output (Zarr or Parquet), read back whole per epoch.

    Attributes
    ----------
    path : pathlib.Path
    format : {"zarr", "parquet"}
    meta : dict
        The parameters it was written with (``epochs``, ``num_negatives``, ``seed``, ...).
    """

    def __init__(
        self, path: Path, fmt: str, meta: dict, files: dict[str, dict] | None = None
    ) -> None:
        self.path = path
        self.format = fmt
        self.meta = meta
        # the manifest's records: Parquet parts are checked against their SHA-256 when read
        self.files = files or {}

    def __repr__(self) -> str:
        return (
            f"NegativesStore({str(self.path)!r}, format={self.format!r}, "
            f"epochs={self.epochs}, test_negatives={self.meta.get('test_negatives')})"
        )

    @property
    def epochs(self) -> list[int]:
        """Epoch numbers stored."""
        return list(self.meta["epochs"])

    def epoch(self, e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All rows of epoch ``e``: ``(users int64, items, labels int8)``, in stream order."""
        if e not in self.epochs:
            raise ParameterError(f"{self.path} holds epochs {self.epochs}, not {e}")
        if self.format == "zarr":
            names = ("users", "items", "labels")
            users, items, labels = (
                open_checked_array(self.path, f"epoch-{e}/{n}")[...] for n in names
            )
            return users, items, labels
        table = _read_parts(self.path, f"epoch-{e}", int(self.meta["n_examples"]), self.files)
        if table is None:
            dtype = np.dtype(self.meta["item_dtype"])
            return np.empty(0, np.int64), np.empty(0, dtype), np.empty(0, np.int8)
        return tuple(table.column(c).to_numpy() for c in ("user_id", "item_id", "label"))

    def test_negatives(self) -> tuple[np.ndarray, np.ndarray]:
        """``(users int64 (T,), items (T, k))``."""
        k = self.meta.get("test_negatives")
        if k is None:
            raise ParameterError(f"{self.path} holds no test negatives")
        if self.format == "zarr":
            users = open_checked_array(self.path, "test/users")[...]
            return users, open_checked_array(self.path, "test/items")[...]
        table = _read_parts(self.path, "test", int(self.meta["n_test_users"] or 0) * k, self.files)
        dtype = np.dtype(self.meta["item_dtype"])
        if table is None:
            return np.empty(0, np.int64), np.empty((0, k), dtype)
        users = table.column("user_id").to_numpy()
        items = table.column("item_id").to_numpy().astype(dtype, copy=False)
        return users[::k] if k else np.empty(0, np.int64), items.reshape(-1, k)


def _read_parts(root: Path, sub: str, expect: int, files: dict[str, dict]) -> Any:
    """The part files of ``root/sub`` concatenated in order (``None`` without parts).

    A missing or damaged part is a :class:`StoreError`, never fewer rows: each part's bytes
    are compared with the SHA-256 the manifest recorded (``files``, when there is one) before
    they are decoded, and every page's CRC is checked.
    """
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / sub
    parts = sorted(folder.glob("part-*.parquet"))
    tables = []
    try:
        for p in parts:
            data = p.read_bytes()
            record = files.get(f"{sub}/{p.name}")
            if record is not None and hashlib.sha256(data).hexdigest() != record.get("sha256"):
                raise StoreError(
                    f"{root} is damaged: {sub}/{p.name}: content differs from its sha256 "
                    "digest; write the output again"
                )
            tables.append(pq.read_table(pa.BufferReader(data), page_checksum_verification=True))
    except (OSError, pa.ArrowException) as e:
        if isinstance(e, StoreError):
            raise
        raise StoreError(f"{folder}: a part file is damaged ({e}); write the output again") from e
    table = pa.concat_tables(tables) if tables else None
    got = 0 if table is None else table.num_rows
    if got != expect:
        raise StoreError(
            f"{folder}: {got:,} rows in {len(parts)} part file(s), expected {expect:,}: a part "
            "file is missing or damaged; write the output again"
        )
    return table


def open_negatives(path: str | os.PathLike[str]) -> NegativesStore:
    """Open a finished output of :meth:`NegativeSampler.to_zarr` / ``to_parquet``.

    Raises
    ------
    StoreError
        If ``path`` is missing, not a negatives output, or incomplete, or damaged: a file
        its ``manifest.json`` lists is missing or has another size, a file it does not list
        is present, or a metadata file was edited (damaged chunks and pages are refused
        when read).
    """
    path = Path(path)
    if not path.is_dir():
        raise StoreError(f"{path} does not exist")
    try:
        if (path / META_FILE).is_file():
            fmt, meta = "parquet", json.loads((path / META_FILE).read_text())
        elif _is_negatives_output(path):
            fmt = "zarr"
            meta = json.loads((path / "zarr.json").read_text())["attributes"][META_KEY]
        else:
            raise StoreError(f"{path} is not a negatives output")
    except (OSError, ValueError, KeyError, TypeError) as e:
        if isinstance(e, StoreError):
            raise
        raise StoreError(f"{path}: unreadable negatives metadata ({e}); write it again") from e
    if not isinstance(meta, dict) or meta.get("format_version") != OUTPUT_FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise StoreError(f"{path} has format_version {version}")
    if not meta.get("complete") or not (path / SUCCESS_FILE).is_file():
        raise StoreError(f"{path} is incomplete (its writer did not finish); write it again")
    if meta.get("manifest") == MANIFEST_FILE or (path / MANIFEST_FILE).is_file():
        report = check_manifest(path, meta, full=False, metadata=(META_FILE,))
        if not report.ok:
            more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
            raise StoreError(
                f"{path} is damaged: {report.problems[0]}{more}; write the output again"
            )
        files = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))["files"]
        return NegativesStore(path, fmt, meta, files)
    return NegativesStore(path, fmt, meta)
