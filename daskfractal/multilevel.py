"""Multi-level expansion R̂₁ ⊗rand (R̂₂ ⊗rand (… ⊗rand R)) (sizes one level cannot reach).

A level expands its input by the randomized Kronecker product; the next level treats that
output as an ordinary data set: it is *materialized* in memory as a :class:`SplitData`
(train/test CSR over the inner output's users and items, carried values aligned), its own R̂
is reduced from it, and it is expanded again. Only the last (outermost) level is written to a
store; the intermediate is held in memory by every process that runs the outer level's tasks.

Levels are numbered as in the formula: level 1 is the outermost R̂₁, level L the innermost,
applied to R itself. Every level's parameters are recorded, outermost first, in
``Expansion.meta["levels"]`` (hence in the store attributes ``params.levels``), so that the
intermediate can be rebuilt from the original data (:func:`rebuild_input`, used by
:func:`daskfractal.validate`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._runner import release_memory
from .errors import InputDataError, ParameterError
from .preprocess import SplitData

if TYPE_CHECKING:
    from .expansion import Expansion, _Plan

#: options of R̂ that every level of a chain shares; the size controls (``scale`` and the
#: target search's ``aspect`` / ``max_factor``) apply to the outermost level only, so that
#: they scale the whole output once and not once per level
R_HAT_OPTIONS = ("resize", "rescale", "clip")

#: freed bytes after which :func:`materialize` returns memory to the OS
_TRIM_BYTES = 2**23


def level_seed(seed: int, level: int) -> int:
    """Seed of one level of a chain built by ``expand(..., inner_factors=...)``.

    A hash of (seed, level): levels get independent random streams, and the whole chain is a
    pure function of the user's seed.

    Parameters
    ----------
    seed : int
        The chain's seed (``expand(seed=...)``).
    level : int
        1 for the outermost level, L for the innermost one (applied to R).

    Returns
    -------
    int
        A seed in ``[0, 2**64)``.
    """
    digest = hashlib.sha256(f"daskfractal/level/{int(seed)}/{int(level)}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def check_inner_factors(value: Any, name: str = "inner_factors") -> list[tuple[int, int]]:
    """``inner_factors`` as a list of (m', n') pairs, else :class:`ParameterError`."""
    from .expansion import _int_param

    hint = "a non-empty list of (m', n') pairs, innermost last, e.g. [(2, 2)]"
    if isinstance(value, str | bytes):
        raise ParameterError(f"{name}={value!r} must be {hint}")
    try:
        pairs = [tuple(p) for p in value]
    except TypeError:
        raise ParameterError(f"{name}={value!r} must be {hint}") from None
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ParameterError(f"{name}={value!r} must be {hint}")
    out = []
    for a, b in pairs:
        what = f"{name} {a} {b}"
        out.append(
            (
                _int_param(f"{what}: m'", a, 1, "an integer ≥ 1"),
                _int_param(f"{what}: n'", b, 1, "an integer ≥ 1"),
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# materializing a level
# ---------------------------------------------------------------------------------------


def _split_part(plan: _Plan, i: int, t0: int, t1: int, idx_dtype: Any) -> dict[str, np.ndarray]:
    """One generate task, compacted: item ids in ``idx_dtype``, no per-block tallies.

    Runs inside the task so that only the narrow arrays travel back and are held until they
    are copied into place (generate's item ids are int64).
    """
    from .expansion import generate

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
    import dask

    from ._runner import run

    plan = expansion._plan
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
        The estimate in bytes (:func:`daskfractal._preflight.materialized_bytes`).

    Raises
    ------
    ResourceError
        Unless ``force``.
    """
    from ._preflight import available_memory, check_memory, format_bytes, materialized_bytes

    exp = expansion.expected()
    need = materialized_bytes(
        train=exp["train"],
        test=exp["test"],
        n_slots=expansion.n_slots,
        carry=tuple(expansion._plan.carry),
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


# ---------------------------------------------------------------------------------------
# chains
# ---------------------------------------------------------------------------------------


def build_intermediate(
    split: SplitData,
    inner_factors: Sequence[tuple[int, int]],
    *,
    seed: int,
    scheduler: Any = None,
    force: bool = False,
    memory_limit: int | None = None,
    **options: Any,
) -> SplitData:
    """Expand ``split`` by the inner levels of a chain and materialize the result.

    Parameters
    ----------
    split : SplitData
        The original data R (or an intermediate).
    inner_factors : list of (int, int)
        Levels 2..L, innermost last (level ℓ is ``inner_factors[ℓ - 2]``).
    seed : int
        The chain's seed; level ℓ uses :func:`level_seed` ``(seed, ℓ)``.
    scheduler : None, str or distributed.Client
        Where the levels are computed.
    force : bool, default False
        Compute a level even when its estimated memory exceeds the available memory.
    memory_limit : int, optional
        Bytes a level may take (default, and at most: this machine's available memory).
    **options
        :func:`daskfractal.expand` options (shuffle, window, dropout, test_policy, carry,
        chunk_size and the R̂ options of :data:`R_HAT_OPTIONS`).

    Returns
    -------
    SplitData
        The input of level 1, with ``params["levels"]`` recording levels 2..L.

    Raises
    ------
    ResourceError
        A level's estimated memory (:func:`check_level_memory`) exceeds the available memory,
        checked before that level is computed.
    """
    from .expansion import expand

    pairs = check_inner_factors(inner_factors)
    current = split
    n_levels = len(pairs) + 1
    for level in range(n_levels, 1, -1):
        try:
            ex = expand(
                current,
                factors=pairs[level - 2],
                seed=level_seed(seed, level),
                scheduler=scheduler,
                **options,
            )
        except ParameterError as e:
            # say which level: a bad inner factor is reported by reduce() without context
            m, n = current.shape
            raise ParameterError(
                f"inner level {level} (factors {pairs[level - 2]}, input {m} x {n}): {e}"
            ) from e
        check_level_memory(
            ex,
            what=f"inner level {level} ({pairs[level - 2][0]} x {pairs[level - 2][1]})",
            force=force,
            limit=memory_limit,
        )
        del current  # the previous intermediate is only needed by the plan (its S)
        current = ex.to_split(scheduler=scheduler)
        del ex
    return current


def rebuild_input(
    original: SplitData, levels: Sequence[dict], *, scheduler: Any = None
) -> SplitData:
    """Rebuild the input of the outermost level of a recorded chain from the original data.

    Parameters
    ----------
    original : SplitData
        The pre-processed original R; its checksum must be the innermost level's
        ``input_sha256``.
    levels : list of dict
        ``params["levels"]`` of a multi-level store (outermost first).
    scheduler : None, str or distributed.Client
        Where the inner levels are computed.

    Returns
    -------
    SplitData
        The intermediate the outermost level expanded (checked against every recorded
        ``input_sha256``).

    Raises
    ------
    InputDataError
        ``original`` (or a rebuilt level) does not have the recorded checksum.
    """
    from .expansion import _checksum, expand

    current = original
    for rec in reversed(list(levels)[1:]):
        got = _checksum(current.signed())
        if got != rec.get("input_sha256"):
            raise InputDataError(
                f"cannot rebuild level {rec.get('level')}: its input has SHA-256 {got[:12]}…, "
                f"the store recorded {str(rec.get('input_sha256'))[:12]}…"
            )
        ex = expand(
            current,
            keep=np.asarray(rec["reduced"]["keep"], dtype=np.float64),
            seed=int(rec["seed"]),
            shuffle=rec["shuffle"],
            window=int(rec["window"]),
            dropout=rec["dropout"],
            test_policy=rec["test_policy"],
            carry=tuple(rec["carry"]),
        )
        current = ex.to_split(scheduler=scheduler)
    return current


__all__ = [
    "build_intermediate",
    "check_inner_factors",
    "check_level_memory",
    "level_seed",
    "materialize",
    "rebuild_input",
]
