"""Materializing an expansion in memory as a :class:`SplitData`: the input of the next
level of a multi-level chain (:meth:`Expansion.to_split`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import scipy.sparse as sp

from .._dask import release_memory, run
from .._preflight import available_memory, check_memory, format_bytes, materialized_bytes
from ..preprocess import SplitData
from ._plan import Plan, generate

if TYPE_CHECKING:
    from ._expansion import Expansion

#: freed bytes after which :func:`materialize` returns memory to the OS
_TRIM_BYTES = 2**23


def _split_part(plan: Plan, i: int, t0: int, t1: int, idx_dtype: Any) -> dict[str, np.ndarray]:
    """One generate task, compacted: item ids in ``idx_dtype``, no per-block tallies.

    Runs inside the task so that only the narrow arrays travel back and are held until they
    are copied into place (generate's item ids are int64).
    """
    part = generate(plan, i, t0, t1)
    out = {"slots": part["slots"]}
    for split in ("train", "test"):
        out[f"{split}_counts"] = part.pop(f"{split}_counts").astype(np.int64, copy=False)
        out[f"{split}_items"] = part.pop(f"{split}_items").astype(idx_dtype)
        for name in plan.carry:
            out[f"{split}_{name}"] = part.pop(f"{split}_{name}")
    return out


def materialize(
    expansion: Expansion, *, scheduler: Any = None, progress: bool = False
) -> SplitData:
    """Compute an expansion in memory as the :class:`SplitData` input of another level.

    See :meth:`daskfractal.Expansion.to_split`.
    """
    plan = expansion.plan
    n_items = expansion.n_items
    idx_dtype = np.int32 if n_items < 2**31 else np.int64
    dplan = dask.delayed(plan, pure=True)
    task = dask.delayed(_split_part, pure=True)
    parts = run(
        [task(dplan, *t, idx_dtype) for t in expansion.tasks()],
        scheduler=scheduler,
        progress=progress,
    )
    slots = np.concatenate([p.pop("slots") for p in parts]) if parts else np.zeros(0, np.int64)
    n_users = len(slots)
    # ratings as values when the original was not binarized and they are carried
    binarized = expansion.meta.get("preprocess", {}).get("binarize", True) is not False
    as_ratings = not binarized and "ratings" in plan.carry
    mats: dict[str, sp.csr_matrix] = {}
    carried: dict[str, np.ndarray | None] = {}
    for split in ("train", "test"):
        indptr = np.zeros(n_users + 1, np.int64)
        if parts:
            np.cumsum(np.concatenate([p.pop(f"{split}_counts") for p in parts]), out=indptr[1:])
        nnz = int(indptr[-1])
        # preallocate the final arrays and move every part in, freeing it at once: the peak
        # is the final arrays plus what is still in the parts
        items = np.empty(nnz, idx_dtype)
        values = {name: np.empty(nnz, getattr(plan.src, name).dtype) for name in plan.carry}
        pos = freed = 0
        for p in parts:
            chunk = p.pop(f"{split}_items")
            items[pos : pos + len(chunk)] = chunk
            freed += chunk.nbytes
            for name in plan.carry:
                value = p.pop(f"{split}_{name}")
                values[name][pos : pos + len(chunk)] = value
                freed += value.nbytes
                del value
            pos += len(chunk)
            del chunk
            if freed > _TRIM_BYTES:
                # hand the freed parts back to the OS now, not after the loop: glibc keeps
                # freed mid-size arrays in its arenas, and the peak would be parts + result
                release_memory()
                freed = 0
        data = values["ratings"].astype(np.float32) if as_ratings else np.ones(nnz, np.float32)
        mat = sp.csr_matrix((data, items, indptr), shape=(n_users, n_items))
        mat.has_sorted_indices = True  # generate sorts the items of every user
        mats[split] = mat
        for name in ("ratings", "timestamps"):
            carried[f"{split}_{name}"] = values.get(name)
        del items, data, values
    pre = dict(expansion.meta.get("preprocess", {}))
    pre.pop("levels", None)
    levels = list(expansion.meta.get("levels") or [expansion.level_record()])
    levels[0] = dict(
        levels[0],
        output={
            "users": n_users,
            "items": n_items,
            "train": int(mats["train"].nnz),
            "test": int(mats["test"].nnz),
        },
    )
    return SplitData(
        train=mats["train"],
        test=mats["test"],
        user_ids=slots.astype(np.int64, copy=False),
        item_ids=np.arange(n_items, dtype=np.int64),
        **carried,
        params={**pre, "levels": levels},
        stats={},
        source=expansion.meta.get("source", "<memory>"),
    )


def check_level_memory(
    expansion: Expansion, *, what: str, force: bool = False, limit: int | None = None
) -> float:
    """Refuse to materialize ``expansion`` when its estimated memory exceeds what is free.

    The level is gathered into this process (the driver), so the limit is this machine's
    available memory (or ``limit`` when smaller), whatever the workers' limits.

    Returns
    -------
    float
        The estimate in bytes (``_preflight.materialized_bytes``).

    Raises
    ------
    ResourceError
        Unless ``force``.
    """
    exp = expansion.expected()
    need = materialized_bytes(
        train=exp["train"],
        test=exp["test"],
        n_slots=expansion.n_slots,
        carry=tuple(expansion.plan.carry),
    )
    free = available_memory()
    check_memory(
        need,
        free if limit is None else min(free, limit),
        what=f"{what}, held in memory (~{exp['train'] + exp['test']:,.0f} interactions; "
        f"estimate {format_bytes(need)})",
        force=force,
    )
    return need


__all__ = ["check_level_memory", "materialize"]
