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

from .._checks import as_int
from ..errors import InputDataError, ParameterError
from ..preprocess import SplitData
from ._level import LevelOptions, as_split, expand_level
from ._materialize import check_level_memory
from ._plan import input_checksum

if TYPE_CHECKING:
    from ..reduction import Reduced
    from ._expansion import Expansion

#: options of R̂ that every level of a chain shares; the size controls (``scale`` and the
#: target search's ``aspect`` / ``max_factor``) apply to the outermost level only, so that
#: they scale the whole output once and not once per level
R_HAT_OPTIONS = ("resize", "rescale", "clip", "clip_rule")


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
        out.append((as_int(a, f"{what}: m'", low=1), as_int(b, f"{what}: n'", low=1)))
    return out


# ---------------------------------------------------------------------------------------
# chains
# ---------------------------------------------------------------------------------------


def build_intermediate(
    split: SplitData,
    inner_factors: Sequence[tuple[int, int]],
    *,
    seed: int,
    options: LevelOptions,
    reduce_options: dict[str, Any] | None = None,
    scheduler: Any = None,
    force: bool = False,
    memory_limit: int | None = None,
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
    options : LevelOptions
        The shuffle, window, dropout, test policy, carried values and chunk size of every level.
    reduce_options : dict, optional
        R̂ options shared by the levels (only those of :data:`R_HAT_OPTIONS` are used).
    scheduler : None, str or distributed.Client
        Where the levels are computed.
    force : bool, default False
        Compute a level even when its estimated memory exceeds the available memory.
    memory_limit : int, optional
        Bytes a level may take (default, and at most: this machine's available memory).

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
    pairs = check_inner_factors(inner_factors)
    shared = {k: v for k, v in (reduce_options or {}).items() if k in R_HAT_OPTIONS}
    current = split
    n_levels = len(pairs) + 1
    for level in range(n_levels, 1, -1):
        try:
            ex = expand_level(
                current,
                factors=pairs[level - 2],
                seed=level_seed(seed, level),
                options=options,
                reduce_options=shared,
                scheduler=scheduler,
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


def expand_chain(
    data: Any,
    inner_factors: Any,
    *,
    seed: int,
    options: LevelOptions,
    factors: tuple[int, int] | None = None,
    keep: Any = None,
    reduced: Reduced | None = None,
    target_interactions: float | None = None,
    reduce_options: dict[str, Any] | None = None,
    scheduler: Any = None,
    force: bool = False,
    memory_limit: int | None = None,
    block_sample_rate: float = 1.0,
    preprocess_options: dict[str, Any] | None = None,
) -> Expansion:
    """``expand(..., inner_factors=...)``: the inner levels now, the outermost one lazily.

    Level ℓ uses :func:`level_seed` ``(seed, ℓ)``; the pre-processing of a path uses ``seed``.
    """
    if reduced is not None:
        raise ParameterError(
            "reduced= cannot go with inner_factors: R̂₁ is reduced from the intermediate, "
            "which does not exist yet (give factors=, keep= or target_interactions=)"
        )
    pairs = check_inner_factors(inner_factors)
    split = as_split(data, seed, scheduler, preprocess_options=preprocess_options)
    inter = build_intermediate(
        split,
        pairs,
        seed=seed,
        options=options,
        reduce_options=reduce_options,
        scheduler=scheduler,
        force=force,
        memory_limit=memory_limit,
    )
    del split
    return expand_level(
        inter,
        factors=factors,
        keep=keep,
        target_interactions=target_interactions,
        seed=level_seed(seed, 1),
        options=options,
        reduce_options=None if keep is not None else reduce_options,
        chain_seed=seed,
        block_sample_rate=block_sample_rate,
    )


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
    current = original
    for rec in reversed(list(levels)[1:]):
        got = input_checksum(current.signed())
        if got != rec.get("input_sha256"):
            raise InputDataError(
                f"cannot rebuild level {rec.get('level')}: its input has SHA-256 {got[:12]}…, "
                f"the store recorded {str(rec.get('input_sha256'))[:12]}…"
            )
        options = LevelOptions.checked(
            shuffle=rec["shuffle"],
            window=rec["window"],
            dropout=rec["dropout"],
            test_policy=rec["test_policy"],
            carry=tuple(rec["carry"]),
            # stores written before timelines existed kept the real timestamps
            timeline=rec.get("timeline", "source"),
            # stores written before shared rows existed had one row permutation per block
            rows=rec.get("rows", "per-block"),
            chunk_size=LevelOptions.chunk_size,
        )
        ex = expand_level(
            current,
            keep=np.asarray(rec["reduced"]["keep"], dtype=np.float64),
            seed=int(rec["seed"]),
            options=options,
        )
        current = ex.to_split(scheduler=scheduler)
    return current


__all__ = [
    "R_HAT_OPTIONS",
    "build_intermediate",
    "check_inner_factors",
    "check_level_memory",
    "expand_chain",
    "level_seed",
    "rebuild_input",
]
