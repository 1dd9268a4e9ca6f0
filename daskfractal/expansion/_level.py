"""Planning one level of an expansion: input → R̂ → :class:`Plan` → lazy :class:`Expansion`.

Used by :func:`daskfractal.expand` for a single level and by :mod:`._chain` for every level
of a multi-level chain (the chain calls this module, never the reverse).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import as_choice, as_int, as_seed
from ..datasets import load
from ..errors import ParameterError
from ..interactions import Interactions
from ..kernels import joint, permute
from ..preprocess import SignedMatrix, SplitData, preprocess
from ..reduction import Reduced, reduce, solve_factors
from ._expansion import Expansion
from ._materialize import check_level_memory
from ._plan import (
    AUTO_JOINT_SIZE,
    CARRY_NAMES,
    DEFAULT_DROPOUT,
    DEFAULT_ROWS,
    DEFAULT_SHUFFLE,
    DEFAULT_TIMELINE,
    DROPOUT_CHOICES,
    ROWS,
    SHUFFLES,
    TEST_POLICIES,
    TIMELINES,
    Plan,
    input_checksum,
)
from ._response import privacy_record, respond_split
from ._sample import block_sampled, check_rate


def _as_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(f"{name} must be True or False, got {value!r}")
    return bool(value)


@dataclasses.dataclass(frozen=True)
class LevelOptions:
    """The options every level of a chain shares (checked once)."""

    shuffle: str = DEFAULT_SHUFFLE
    window: int = 64
    dropout: str = DEFAULT_DROPOUT
    test_policy: str = "all"
    carry: Sequence[str] | str = "auto"
    timeline: str = DEFAULT_TIMELINE
    rows: str = DEFAULT_ROWS
    chunk_size: int = 2**22
    public: bool = False

    @classmethod
    def checked(
        cls,
        *,
        shuffle: Any,
        window: Any,
        dropout: Any,
        test_policy: Any,
        carry: Any,
        chunk_size: Any,
        public: Any = False,
        timeline: Any = DEFAULT_TIMELINE,
        rows: Any = DEFAULT_ROWS,
    ) -> LevelOptions:
        """The options with every value checked (:class:`ParameterError` otherwise)."""
        return cls(
            shuffle=as_choice(shuffle, "shuffle", SHUFFLES),
            window=as_int(window, "window", low=1),
            dropout=as_choice(dropout, "dropout", DROPOUT_CHOICES),
            test_policy=as_choice(test_policy, "test_policy", TEST_POLICIES),
            carry=carry,
            timeline=as_choice(timeline, "timeline", TIMELINES),
            rows=as_choice(rows, "rows", ROWS),
            chunk_size=as_int(chunk_size, "chunk_size", low=1),
            public=_as_flag(public, "public"),
        )

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of :func:`daskfractal.expand`."""
        return dataclasses.asdict(self)


def as_split(
    data: Any,
    seed: int,
    scheduler: Any = None,
    force: bool = False,
    preprocess_options: dict[str, Any] | None = None,
) -> SplitData:
    """Any accepted input as a pre-processed :class:`SplitData`.

    An :class:`Expansion` is an inner level: it is computed now, in memory, after a check that
    it fits (:func:`check_level_memory`, skipped with ``force``). Raw interactions and paths
    are pre-processed with ``preprocess_options`` (a preset's), else the defaults.
    """
    pre = dict(preprocess_options or {})
    if isinstance(data, SplitData):
        return data
    if isinstance(data, Expansion):
        # an inner level: computed now, in memory (the outer R̂ is reduced from it)
        check_level_memory(data, what="the inner expansion", force=force)
        return data.to_split(scheduler=scheduler)
    if isinstance(data, Interactions):
        return preprocess(data, seed=seed, **pre)
    return preprocess(load(data), seed=seed, **pre)


def check_sizes(
    factors: Any, keep: Any, reduced: Any, target_interactions: Any
) -> tuple[int, int] | None:
    """Exactly one way to size R̂; ``factors`` as a pair when it is the one."""
    given = sum(x is not None for x in (factors, keep, reduced, target_interactions))
    if given != 1:
        raise ParameterError(
            f"give exactly one of factors, keep, reduced or target_interactions (got {given})"
        )
    if factors is None:
        return None
    try:
        pair = tuple(factors)
    except TypeError:
        raise ParameterError(f"factors={factors!r} must be a pair (m', n')") from None
    if len(pair) != 2:
        raise ParameterError(f"factors={factors!r} must be a pair (m', n')")
    return (pair[0], pair[1])


def _explicit_keep(keep: Any, reduce_options: dict[str, Any]) -> np.ndarray:
    if reduce_options:
        raise ParameterError(
            f"options {sorted(reduce_options)} apply to R̂ and cannot go with keep="
        )
    try:
        out = np.array(keep, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as e:
        raise ParameterError(f"keep must be an array of probabilities: {e}") from None
    if out.ndim != 2 or out.size == 0:
        raise ParameterError(f"keep must be a non-empty 2-D array, got shape {out.shape}")
    if not np.all(np.isfinite(out)) or out.min() < 0 or out.max() > 1:
        raise ParameterError("keep probabilities must be finite and inside [0, 1]")
    return out


def _reduced(
    split: SplitData,
    factors: tuple[int, int] | None,
    reduced: Reduced | None,
    target_interactions: float | None,
    seed: int,
    reduce_options: dict[str, Any],
) -> Reduced:
    if reduced is not None:
        if reduce_options:
            raise ParameterError(f"options {sorted(reduce_options)} cannot go with reduced=")
        return reduced
    if target_interactions is not None:
        return solve_factors(
            split.train,
            target_interactions,
            seed=seed,
            test_nnz=split.test.nnz,
            **reduce_options,
        )
    assert factors is not None  # expand() requires factors or target_interactions
    return reduce(split.train, factors, seed=seed, **reduce_options)


def _carried(
    src: SignedMatrix, carry: Sequence[str] | str, source: str, public: bool = False
) -> tuple[str, ...]:
    """The carried columns; a public store never carries the real timestamps."""
    if carry == "auto":
        names = tuple(c for c in CARRY_NAMES if getattr(src, c) is not None)
        return tuple(c for c in names if not (public and c == "timestamps"))
    names = tuple([carry] if isinstance(carry, str) else carry)
    for c in names:
        as_choice(c, "carry", CARRY_NAMES)
        if getattr(src, c) is None:
            raise ParameterError(f"carry={c!r}: the input {source} has no {c}")
        if public and c == "timestamps":
            raise ParameterError(
                "carry='timestamps' with public=True: the real time of every kept interaction "
                "singles out its source user; carry ratings only (or none)"
            )
    return names


def targeted_keep(keep: np.ndarray) -> tuple[np.ndarray, int]:
    """R̂ for the targeted dropout: every row rescaled to sum to one integer ``c``.

    ``c = max(1, round(mean row sum))``; a row is scaled to sum ``c``, entries above 1 are
    clipped and their excess spread over the row's other non-zero entries in proportion
    (repeated until none exceeds 1; a row with fewer than ``c`` non-zero entries keeps them
    at 1 and sums to less). Each output user then keeps ``c`` times the train degree of the
    real user it is anchored on, and the block densities are those of this R̂.

    Examples
    --------
    >>> import numpy as np
    >>> k, c = targeted_keep(np.array([[0.5, 0.9], [0.2, 0.6]]))
    >>> c, k.sum(axis=1).round(6).tolist()
    (1, [1.0, 1.0])
    """
    keep = np.asarray(keep, dtype=np.float64)
    c = max(1, int(np.floor(keep.sum(axis=1).mean() + 0.5)))
    out = np.zeros_like(keep)
    for i, row in enumerate(keep):
        total = float(row.sum())
        if total <= 0:
            continue
        scale = c / total
        # a subnormal row sum overflows c / total: divide first (same bits otherwise)
        x = row * scale if np.isfinite(scale) else row / total * c
        for _ in range(len(x) + 1):
            over = x > 1.0
            if not over.any():
                break
            excess = float((x[over] - 1.0).sum())
            x[over] = 1.0
            free = (x > 0) & (x < 1.0)
            mass = float(x[free].sum())
            if mass <= 0:
                break
            x[free] += excess * x[free] / mass
        out[i] = np.minimum(x, 1.0)
    return out, c


def joint_plan_tables(
    keep: np.ndarray,
    split: Any,
    seed: int,
    options: LevelOptions,
    balanced: tuple[np.ndarray, int, int] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """R̂ balanced for the joint dropout and the plan's tables (:mod:`..kernels.joint`).

    Raises :class:`ParameterError` when the shuffle is not ``stratified`` (the joint dropout
    brings its own permutations: rows inside windows of equal train degree, columns shared
    by the block rows) or R̂ cannot be balanced to integer row and column sums.
    ``balanced``: :func:`joint.joint_keep` of ``keep`` when already computed (by ``auto``).
    """
    if options.shuffle != "stratified":
        raise ParameterError(
            f"dropout='joint' needs shuffle='stratified' (got {options.shuffle!r}): it brings "
            "its own permutations"
        )
    grouped = options.rows == "shared"
    if balanced is None:
        try:
            balanced = joint.joint_keep(keep, grouped=grouped)
        except ValueError as e:
            raise ParameterError(str(e)) from None
    balanced_keep, a, b = balanced
    # shared rows: one real user per group of block columns, each entry kept once per group
    groups = joint.row_groups(a, *balanced_keep.shape) if grouped else 1
    order, starts, window_of = joint.row_windows(split.train, options.window)
    tables = {
        "joint_pool": joint.pattern_pool(balanced_keep, seed, groups=groups),
        "joint_order": order,
        "joint_starts": starts,
        "joint_window": window_of,
        "row_groups": groups,
        "multiples": [a, b],
    }
    return balanced_keep, tables


def auto_dropout(
    keep: np.ndarray, shuffle: str, sized: bool = False, grouped: bool = False
) -> tuple[str, str, tuple[np.ndarray, int, int] | None]:
    """The dropout ``dropout="auto"`` takes for R̂ ``keep`` and ``shuffle``, why, and (when
    it takes ``joint``) the balanced R̂ of :func:`joint.joint_keep`, so it is not computed
    twice.

    ``joint`` keeps both degree distributions exactly but expands R̂ balanced to integer row
    and column sums (:func:`..kernels.joint.joint_keep`): it is taken with the ``stratified``
    shuffle when that balanced R̂'s sum is within :data:`AUTO_JOINT_SIZE` of R̂'s own, else
    ``balanced`` (R̂'s size in expectation). ``sized``: the size was asked for (an element
    sample rate, a size target), which ``balanced`` keeps exactly in expectation and
    ``joint`` would not. ``grouped``: shared rows (:func:`..kernels.joint.joint_keep`).

    Examples
    --------
    >>> auto_dropout(np.full((2, 2), 0.5), "stratified")[1]
    'stratified shuffle; R̂ balanced to row sums 1 and column sums 1 keeps its size (1.00 x)'
    >>> auto_dropout(np.full((2, 2), 0.1), "stratified")[0]  # joint would expand 5 x R̂'s size
    'balanced'
    >>> auto_dropout(np.full((2, 2), 0.5), "block")[0]
    'balanced'
    """
    if shuffle != "stratified":
        return "balanced", f"{shuffle} shuffle (joint needs stratified)", None
    if sized:
        return "balanced", "a size was asked for (element sample rate or size target)", None
    try:
        balanced, a, b = joint.joint_keep(keep, grouped=grouped)
    except ValueError as e:
        return "balanced", f"joint not possible: {e}", None
    ratio = float(balanced.sum()) / max(float(keep.sum()), 1e-300)
    fits = 1 / AUTO_JOINT_SIZE <= ratio <= AUTO_JOINT_SIZE
    what = f"R̂ balanced to row sums {a} and column sums {b}"
    if not fits:
        return "balanced", f"{what} would change its size {ratio:.2f} x", None
    return "joint", f"stratified shuffle; {what} keeps its size ({ratio:.2f} x)", (balanced, a, b)


def expand_level(
    data: Any,
    *,
    seed: int,
    options: LevelOptions,
    factors: tuple[int, int] | None = None,
    keep: Any = None,
    reduced: Reduced | None = None,
    target_interactions: float | None = None,
    reduce_options: dict[str, Any] | None = None,
    scheduler: Any = None,
    chain_seed: int | None = None,
    force: bool = False,
    block_sample_rate: float = 1.0,
    preprocess_options: dict[str, Any] | None = None,
    privacy_epsilon: float | None = None,
) -> Expansion:
    """One level R̂ ⊗rand R of ``data`` (lazy); arguments as :func:`daskfractal.expand`.

    ``chain_seed`` is recorded when this level is the outermost of a chain.
    """
    seed = as_seed(seed)
    reduce_options = dict(reduce_options or {})
    split = as_split(data, seed, scheduler, force, preprocess_options)
    privacy = None
    if privacy_epsilon is not None:
        # the defence: everything below sees only the randomized-response report of R_train
        privacy = privacy_record(privacy_epsilon, input_checksum(split.signed()))
        split = respond_split(split, privacy_epsilon, seed)
    pre = dict(split.params)
    inner_levels = pre.pop("levels", None)  # the input is itself an expansion
    meta: dict[str, Any] = {"source": split.source, "preprocess": pre}
    if keep is not None:
        keep_arr = _explicit_keep(keep, reduce_options)
        meta["reduced"] = {"explicit_keep": True, "keep": keep_arr.tolist()}
    else:
        red = _reduced(split, factors, reduced, target_interactions, seed, reduce_options)
        keep_arr = np.array(red.keep, dtype=np.float64, copy=True)
        meta["reduced"] = red.to_dict()
    joint_balanced = None  # joint_keep of keep_arr, when auto has computed it
    if options.dropout == "auto":
        scale = (meta["reduced"].get("params") or {}).get("scale", 1.0)
        sized = target_interactions is not None or float(scale or 1.0) != 1.0
        chosen, reason, joint_balanced = auto_dropout(
            keep_arr, options.shuffle, sized, grouped=options.rows == "shared"
        )
        options = dataclasses.replace(options, dropout=chosen)
        meta["dropout_auto"] = {"chosen": chosen, "reason": reason}
    multiple = 1
    if options.dropout == "targeted":
        keep_arr, multiple = targeted_keep(keep_arr)
        meta["reduced"]["keep_before_targeting"] = meta["reduced"].get("keep")
        meta["reduced"]["keep"] = keep_arr.tolist()
        meta["reduced"]["target_multiple"] = multiple
    joint_tables: dict[str, Any] = {}
    if options.dropout == "joint":
        keep_arr, joint_tables = joint_plan_tables(keep_arr, split, seed, options, joint_balanced)
        meta["reduced"]["keep_before_balancing"] = meta["reduced"].get("keep")
        meta["reduced"]["keep"] = keep_arr.tolist()
        meta["reduced"]["joint_multiples"] = joint_tables.pop("multiples")
    keep_arr = block_sampled(keep_arr, block_sample_rate, seed)
    meta["block_sample_rate"] = check_rate(block_sample_rate, "block_sample_rate")
    src = split.signed()
    carry = _carried(src, options.carry, split.source, options.public)
    m, n = src.shape
    checksum = input_checksum(src)
    # values that are not carried never reach a task: keep them out of the plan (and of the
    # graph every worker receives: 240 MB for ML-20M's ratings and timestamps)
    # mypy checks a ** mapping against every field; these keys are the optional carried arrays
    src = dataclasses.replace(src, **{name: None for name in CARRY_NAMES if name not in carry})  # type: ignore[arg-type]
    meta["input_sha256"] = checksum
    meta["input_shape"] = [m, n]
    meta["input_train"] = int(split.train.nnz)
    meta["input_test"] = int(split.test.nnz)
    if chain_seed is not None:
        meta["chain_seed"] = int(chain_seed)
    if privacy is not None:
        meta["privacy"] = privacy
    if options.public:  # the store writer keeps only what public_attrs lets through
        meta["public"] = True
    aligned = options.timeline == "aligned" and "timestamps" in carry
    token_src = json.dumps(
        [
            checksum,
            keep_arr.tolist(),
            seed,
            options.shuffle,
            options.window,
            options.dropout,
            options.test_policy,
            # aligned timestamps are other bytes (nothing changes without timestamps)
            *(["timeline:aligned"] if aligned else []),
            # shared row permutations are other sources, other bytes
            *(["rows:shared"] if options.rows == "shared" and options.shuffle != "none" else []),
            *(
                [f"row_groups:{joint_tables['row_groups']}"]
                if joint_tables.get("row_groups", 1) > 1
                else []
            ),
            # other permutations, other bytes: an older run's counts are not resumed
            permute.CONSTRUCTION,
        ],
    )
    plan = Plan(
        src=src,
        keep=keep_arr,
        seed=seed,
        shuffle=options.shuffle,
        window=options.window,
        dropout=options.dropout,
        test_policy=options.test_policy,
        carry=carry,
        timeline=options.timeline,
        rows=options.rows,
        token=hashlib.sha256(token_src.encode()).hexdigest()[:16],
        row_degree=np.diff(src.indptr).astype(np.int64),
        col_degree=np.bincount(src.indices, minlength=n).astype(np.int64),
        train_degree=(
            np.diff(split.train.indptr).astype(np.int64) if options.dropout == "targeted" else None
        ),
        multiple=multiple,
        **joint_tables,
    )
    if inner_levels:
        # the whole chain, outermost first, so that the store describes (and can rebuild) it
        record = Expansion(plan, chunk_size=options.chunk_size, meta=meta).level_record()
        meta["levels"] = [
            record,
            *({**rec, "level": int(rec["level"]) + 1} for rec in inner_levels),
        ]
    return Expansion(plan, chunk_size=options.chunk_size, meta=meta)


__all__ = ["LevelOptions", "as_split", "check_sizes", "expand_level", "targeted_keep"]
