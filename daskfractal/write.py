"""Writing an :class:`~daskfractal.expansion.Expansion` to a Zarr or Parquet store.

Three Dask passes (see :mod:`daskfractal.expansion`): *generate* parts, *assemble* whole
shards (Zarr) or user-range files (Parquet) from them, *finalize*. Parts live in a work folder
next to the store (``<store>.work``) and are renamed into place when complete, so a run that
is stopped (Ctrl-C, a crash, a killed worker) resumes with ``resume=True`` where it stopped and
produces the identical store.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ParameterError, StoreError
from .expansion import Expansion, _Plan, generate

WORK_SUFFIX = ".work"
PLAN_FILE = "plan.json"
SPLITS = ("train", "test")
DEFAULT_SHARD = 2**24
DEFAULT_CHUNK = 2**20
PARQUET_ROWS_TARGET = 2**24  # interactions per Parquet file (on average)


def work_dir(path: str | os.PathLike) -> Path:
    """The work folder of the store at ``path`` (parts of an unfinished run)."""
    p = Path(path)
    return p.with_name(p.name + WORK_SUFFIX)


# ---------------------------------------------------------------------------------------
# pass 1: parts
# ---------------------------------------------------------------------------------------


def _part_name(task: Sequence[int]) -> str:
    i, t0, t1 = task
    return f"{i:06d}-{t0:012d}-{t1:012d}"


def _generate_part(plan: _Plan, task: tuple[int, int, int], parts: str, index_dtype: str) -> dict:
    """Generate one slot range and save it as a part; return its summary (tiny)."""
    final = Path(parts) / _part_name(task)
    meta_file = final / "meta.json"
    if meta_file.exists():  # done by an earlier (interrupted) run
        return json.loads(meta_file.read_text())
    out = generate(plan, *task)
    tmp = Path(parts) / f".tmp-{_part_name(task)}-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    for key, arr in out.items():
        if key.endswith("_items"):
            arr = arr.astype(index_dtype)
        np.save(tmp / f"{key}.npy", arr, allow_pickle=False)
    summary = {
        "task": list(task),
        "users": len(out["slots"]),
        "train": len(out["train_items"]),
        "test": len(out["test_items"]),
    }
    (tmp / "meta.json").write_text(json.dumps(summary))
    try:
        os.replace(tmp, final)
    except OSError:
        # another attempt of the same task (a retried or stolen task) finished first: its
        # bytes are the same, keep them
        shutil.rmtree(tmp, ignore_errors=True)
        if not meta_file.exists():
            raise
    return summary


@dataclass(frozen=True)
class _Index:
    """Where each part's users and entries go in the store (from the part summaries)."""

    names: tuple[str, ...]
    user_off: np.ndarray  # (n_parts + 1,)
    off: dict  # split -> (n_parts + 1,) entry offsets

    @classmethod
    def build(cls, tasks: Sequence[tuple[int, int, int]], summaries: Sequence[dict]) -> _Index:
        def cum(key: str) -> np.ndarray:
            out = np.zeros(len(summaries) + 1, dtype=np.int64)
            np.cumsum([s[key] for s in summaries], out=out[1:])
            return out

        return cls(
            names=tuple(_part_name(t) for t in tasks),
            user_off=cum("users"),
            off={s: cum(s) for s in SPLITS},
        )

    def gather(self, parts: Path, split: str, key: str, start: int, stop: int) -> np.ndarray:
        """Entries [start, stop) of ``split`` for ``key`` (items, ratings...), from the parts."""
        off = self.user_off if split == "users" else self.off[split]
        first = int(np.searchsorted(off, start, side="right")) - 1
        pieces = []
        p = max(first, 0)
        while p < len(self.names) and off[p] < stop:
            a, b = max(start, off[p]) - off[p], min(stop, off[p + 1]) - off[p]
            if b > a:
                arr = np.load(parts / self.names[p] / f"{key}.npy", mmap_mode="r")
                pieces.append(np.asarray(arr[a:b]))
            p += 1
        if not pieces:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(pieces)


# ---------------------------------------------------------------------------------------
# pass 2: assemble
# ---------------------------------------------------------------------------------------


def _item_degree(items: np.ndarray, n_items: int) -> np.ndarray:
    return np.bincount(items, minlength=n_items).astype(np.int64)


def _assemble_zarr_shard(writer: Any, index: _Index, parts: str, split: str, k: int) -> np.ndarray:
    """Write shard ``k`` of every per-entry array of ``split``; return its item degrees."""
    layout = writer.layout
    start, stop = layout.shard_bounds(split, k)
    items = index.gather(Path(parts), split, f"{split}_items", start, stop)
    if not writer.shard_done(split, "indices", k):
        writer.write_shard(split, "indices", k, items)
    for name in layout.carry:
        if not writer.shard_done(split, name, k):
            vals = index.gather(Path(parts), split, f"{split}_{name}", start, stop)
            writer.write_shard(split, name, k, vals)
    return _item_degree(items, layout.n_items)


def _assemble_parquet_file(
    writer: Any, index: _Index, parts: str, split: str, k: int, rows: tuple[int, int, int, int]
) -> np.ndarray:
    """Write Parquet file ``k`` of ``split``: users [u0, u1), entries [start, stop)."""
    layout = writer.layout
    u0, u1, start, stop = rows
    pdir = Path(parts)
    items = index.gather(pdir, split, f"{split}_items", start, stop)
    if not writer.part_done(split, k):
        counts = index.gather(pdir, "users", f"{split}_counts", u0, u1)
        user_ids = np.repeat(np.arange(u0, u1, dtype=np.int64), counts)
        extra = {
            name: index.gather(pdir, split, f"{split}_{name}", start, stop) for name in layout.carry
        }
        writer.write_part(split, k, user_ids, items, **extra)
    return _item_degree(items, layout.n_items)


def _sum_tree(values: list) -> Any:
    """Pairwise sum of delayed arrays (no single task holds them all)."""
    import dask

    add = dask.delayed(np.add, pure=True)
    while len(values) > 1:
        values = [
            add(values[a], values[a + 1]) if a + 1 < len(values) else values[a]
            for a in range(0, len(values), 2)
        ]
    return values[0]


# ---------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------


def _versions() -> dict:
    import dask
    import numba
    import scipy
    import skimage
    import zarr

    from . import __version__

    return {
        "daskfractal": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "dask": dask.__version__,
        "numba": numba.__version__,
        "zarr": zarr.__version__,
        "scikit-image": skimage.__version__,
    }


def write_store(
    expansion: Expansion,
    path: str | os.PathLike,
    *,
    format: Literal["zarr", "parquet"] = "zarr",
    resume: bool = False,
    overwrite: bool = False,
    scheduler: Any = None,
    progress: bool = True,
    shard_size: int = DEFAULT_SHARD,
    chunk_elems: int = DEFAULT_CHUNK,
    users_per_file: int | None = None,
):
    """Compute an expansion and write it to a store; return the store opened for reading.

    Parameters
    ----------
    expansion : Expansion
        From :func:`daskfractal.expand`.
    path : path
        Directory of the store (created). Its work folder ``<path>.work`` holds the parts of
        an unfinished run and is removed at the end.
    format : {"zarr", "parquet"}
        Zarr v3 CSR by user (``train/``, ``test/``: ``indptr``, ``indices``[, ``ratings``,
        ``timestamps``], ``stats/``, ``users/slot``), or Parquet data sets ``train/`` and
        ``test/`` of (user_id, item_id[, rating, timestamp]) sorted by user.
    resume : bool
        Continue an unfinished run at ``path`` (same input and parameters): finished parts and
        shards are kept, the result is byte-identical to an uninterrupted run.
    overwrite : bool
        Replace a store (complete or not) at ``path``.
    scheduler : None, str or distributed.Client
        Where to run (see :func:`daskfractal._runner.run`).
    progress : bool
        Progress bars for the passes.
    shard_size, chunk_elems : int
        Zarr shard and chunk sizes (entries); one task writes one whole shard.
    users_per_file : int, optional
        Users per Parquet file (default: about 2**24 interactions per file).

    Returns
    -------
    ExpansionStore

    Raises
    ------
    StoreError
        A store exists and neither ``overwrite`` nor ``resume`` says what to do, or the store
        to resume was written with other parameters.
    """
    import dask

    from ._runner import run
    from .store import ParquetWriter, StoreLayout, ZarrWriter, open_store, store_status

    if format not in ("zarr", "parquet"):
        raise ParameterError(f"format={format!r} is not one of zarr, parquet")
    if resume and overwrite:
        raise ParameterError("resume and overwrite exclude each other")
    # check the store options now, not after the first pass has run
    StoreLayout(
        n_users=0,
        n_items=expansion.n_items,
        nnz=dict.fromkeys(SPLITS, 0),
        carry=expansion._plan.carry,
        shard_elems=shard_size,
        chunk_elems=min(chunk_elems, shard_size),
        blocks=expansion.factors,
    )
    if users_per_file is not None and (
        isinstance(users_per_file, bool)
        or not isinstance(users_per_file, int | np.integer)
        or users_per_file < 1
    ):
        raise ParameterError(f"users_per_file={users_per_file!r} must be an integer ≥ 1")
    path = Path(path)
    work = work_dir(path)
    plan = expansion._plan
    params = expansion.params
    # everything that decides the bytes of the store: a resumed run must use the same
    fingerprint = {
        "params": params,
        "format": format,
        "token": plan.token,
        "store": {
            "shard_size": int(shard_size),
            "chunk_elems": int(chunk_elems),
            "users_per_file": (
                int(users_per_file) if format == "parquet" and users_per_file else None
            ),
        },
    }
    status = store_status(path)
    if status == "foreign":
        raise StoreError(f"{path} exists and is not a daskfractal store; refusing to touch it")
    if resume:
        if not (work / PLAN_FILE).exists():
            if status == "complete":
                raise StoreError(f"{path} is already complete: nothing to resume")
            raise StoreError(f"{path}: no unfinished run to resume (no {work / PLAN_FILE})")
        saved = json.loads((work / PLAN_FILE).read_text())
        if saved["fingerprint"] != json.loads(json.dumps(fingerprint)):
            raise StoreError(
                f"{path}: the unfinished run used other input or parameters; run again with "
                "the same ones to resume, or with --overwrite to start over"
            )
        tasks = [tuple(t) for t in saved["tasks"]]
    else:
        if status in ("complete", "incomplete") or work.exists():
            if not overwrite:
                what = "a complete store" if status == "complete" else "an unfinished run"
                raise StoreError(
                    f"{path} holds {what}: pass overwrite=True (--overwrite) to replace it"
                    + ("" if status == "complete" else ", or resume=True (--resume)")
                )
            if status in ("complete", "incomplete"):
                shutil.rmtree(path)
            if work.exists():
                shutil.rmtree(work)
        tasks = expansion.tasks()
        (work / "parts").mkdir(parents=True)
        doc = {"fingerprint": fingerprint, "tasks": [list(t) for t in tasks]}
        tmp = work / f".{PLAN_FILE}.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, work / PLAN_FILE)  # a plan file is whole or absent

    index_dtype = "int32" if expansion.n_items < 2**31 else "int64"
    parts = str(work / "parts")

    # pass 1: parts
    dplan = dask.delayed(plan, pure=True)
    gen = dask.delayed(_generate_part, pure=False)
    summaries = run(
        [gen(dplan, t, parts, index_dtype) for t in tasks], scheduler=scheduler, progress=progress
    )
    index = _Index.build(tasks, summaries)
    n_users = int(index.user_off[-1])
    nnz = {s: int(index.off[s][-1]) for s in SPLITS}
    layout = StoreLayout(
        n_users=n_users,
        n_items=expansion.n_items,
        nnz=nnz,
        carry=plan.carry,
        shard_elems=shard_size,
        chunk_elems=min(chunk_elems, shard_size),
        blocks=expansion.factors,
    )
    attrs = {
        "params": params,
        "expected": expansion.expected(),
        "versions": _versions(),
        "method": "randomized Kronecker expansion R̂ ⊗rand R (Belletti et al.)",
    }
    writer_cls = ZarrWriter if format == "zarr" else ParquetWriter
    writer = None
    if resume and store_status(path) == "incomplete":
        try:
            writer = writer_cls.reopen(path, layout, attrs)
        except StoreError:
            # stopped while the empty store was being created (or written by another
            # library version): the parameters match (checked above), start the store over
            writer = None
    if writer is None:
        writer = writer_cls.create(path, layout, attrs, overwrite=True)

    # small arrays and user statistics (from the part summaries)
    pdir = Path(parts)
    small: dict[str, np.ndarray] = {"users/slot": index.gather(pdir, "users", "slots", 0, n_users)}
    mp, npr = expansion.factors
    for split in SPLITS:
        counts = index.gather(pdir, "users", f"{split}_counts", 0, n_users).astype(np.int64)
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        small[f"{split}/indptr"] = indptr
        small[f"stats/user_{split}_degree"] = counts.astype(np.int32)
        block = np.zeros((mp, npr), dtype=np.int64)
        for (i, _, _), name in zip(tasks, index.names, strict=True):
            block[i] += np.load(pdir / name / f"block_{split}.npy")
        small[f"stats/block_{split}"] = block
    # pass 2: assemble (every task returns the item degrees of what it wrote)
    dwriter = dask.delayed(writer, pure=True)
    dindex = dask.delayed(index, pure=True)
    degrees = {}
    for split in SPLITS:
        if format == "zarr":
            f = dask.delayed(_assemble_zarr_shard, pure=False)
            pieces = [f(dwriter, dindex, parts, split, k) for k in range(layout.n_shards(split))]
        else:
            upf = users_per_file or _default_users_per_file(n_users, nnz["train"])
            indptr = small[f"{split}/indptr"]
            bounds = [
                (u0, min(u0 + upf, n_users), int(indptr[u0]), int(indptr[min(u0 + upf, n_users)]))
                for u0 in range(0, max(n_users, 1), upf)
            ]
            f = dask.delayed(_assemble_parquet_file, pure=False)
            pieces = [f(dwriter, dindex, parts, split, k, r) for k, r in enumerate(bounds)]
        degrees[split] = (
            _sum_tree(pieces) if pieces else dask.delayed(np.zeros)(layout.n_items, np.int64)
        )
    item_train, item_test = run(
        [degrees["train"], degrees["test"]], scheduler=scheduler, progress=progress
    )

    # finally: item statistics, then mark complete
    small["stats/item_train_degree"] = np.asarray(item_train, dtype=np.int64)
    small["stats/item_test_degree"] = np.asarray(item_test, dtype=np.int64)
    for key, values in small.items():
        writer.write_small(key, values)
    empty_items = int(
        ((small["stats/item_train_degree"] + small["stats/item_test_degree"]) == 0).sum()
    )
    writer.finalize(
        {
            "counts": {
                "users": n_users,
                "items": expansion.n_items,
                "train": nnz["train"],
                "test": nnz["test"],
                "empty_items": empty_items,
                "users_dropped": expansion.n_slots - n_users,
            }
        }
    )
    shutil.rmtree(work, ignore_errors=True)
    return open_store(path)


def _default_users_per_file(n_users: int, train_nnz: int) -> int:
    per_user = max(train_nnz / max(n_users, 1), 1.0)
    return int(max(1, PARQUET_ROWS_TARGET // per_user))
