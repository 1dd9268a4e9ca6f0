"""Expansion: the randomized Kronecker product R̂ ⊗rand R, planned lazily and written out.

Modules, in the order the data flows:

* :mod:`._plan` — the :class:`~._plan.Plan` of one level and the work of its tasks (count
  and emit, on the kernels of :mod:`daskfractal.kernels`);
* :mod:`._level` — input → R̂ → plan → lazy :class:`Expansion` for one level;
* :mod:`._chain` — multi-level chains (calls :mod:`._level`, never the reverse);
* :mod:`._expansion` — the lazy :class:`Expansion` and its in-memory result;
* :mod:`._materialize` — an expansion as the in-memory input of the next level;
* :mod:`._write` — the two-pass write into a store (:mod:`daskfractal.store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import as_seed
from ..errors import ParameterError
from ..presets import Preset, get_preset, preset_record
from ._chain import check_inner_factors, expand_chain, level_seed, rebuild_input
from ._expansion import ExpandedData, Expansion
from ._level import LevelOptions, check_sizes, expand_level, targeted_keep
from ._materialize import check_level_memory
from ._plan import (
    CARRY_NAMES,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_DROPOUT,
    DEFAULT_ROWS,
    DEFAULT_SHUFFLE,
    DEFAULT_TIMELINE,
    DROPOUT_CHOICES,
    DROPOUTS,
    ROWS,
    SHUFFLES,
    TEST_POLICIES,
    TIMELINES,
    Dropout,
    Rows,
    Shuffle,
    TestPolicy,
    Timeline,
    input_checksum,
)
from ._response import check_epsilon, respond_split
from ._sample import check_rate
from ._write import check_output, write_store


def expand(
    data: Any,
    factors: tuple[int, int] | None = None,
    *,
    keep: np.ndarray | None = None,
    reduced: Any = None,
    target_interactions: float | None = None,
    seed: int = 0,
    shuffle: Shuffle | None = None,
    window: int = 64,
    dropout: Dropout | None = None,
    test_policy: TestPolicy | None = None,
    carry: Sequence[str] | str | None = None,
    timeline: Timeline | None = None,
    rows: Rows | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    inner_factors: Sequence[tuple[int, int]] | None = None,
    scheduler: Any = None,
    force: bool = False,
    memory_limit: int | None = None,
    block_sample_rate: float | None = None,
    preset: str | Preset | None = None,
    public: bool = False,
    privacy_epsilon: float | None = None,
    **reduce_options: Any,
) -> Expansion:
    """Plan the randomized Kronecker expansion R̂ ⊗rand R of a data set (lazy).

    Block (i, j) of the output is S = R_train − R_test with each non-zero kept with
    probability ``keep[i, j]``, its rows and columns permuted by permutations drawn for that
    block (the rows, by default, for its whole block row: ``rows``), placed at users
    ``i·m + π_ij(r)`` and items ``j·n + σ_ij(c)``. Kept +1 entries are train, kept −1 entries
    test: both go through the same randomness and the test set never leaks into training.
    Users left with no train interaction (and, under ``test_policy="one"``, none of test) are
    dropped and the others renumbered contiguously.

    Parameters
    ----------
    data : SplitData, Interactions, Expansion, path or "default"
        The input; raw interactions and paths are loaded and pre-processed with the defaults
        (and ``seed``). An :class:`Expansion` is an inner level: it is computed now, in memory
        (:meth:`Expansion.to_split`), and expanded again (multi-level expansion
        R̂₁ ⊗rand (R̂₂ ⊗rand R)); R̂ is then reduced from that intermediate.
    factors : (int, int), optional
        (m', n'): R̂ is computed with :func:`daskfractal.reduce` and these options.
    keep : ndarray of float, shape (m', n'), optional
        Explicit keep probabilities instead of R̂ (e.g. all ones for the plain Kronecker
        product).
    reduced : Reduced, optional
        A precomputed :class:`daskfractal.Reduced`.
    target_interactions : float, optional
        Choose factors and a keep-probability scale so that the expected number of train
        interactions is this (:func:`daskfractal.solve_factors`).
    seed : int in [0, 2**64), default 0
        Every random stream is derived from (seed, block, row, element): the same seed gives
        the same output whatever the chunking, workers or scheduler.
    preset : {"mlperf", "meta", "faithful"} or Preset, optional
        Every option of a published expansion at once (:data:`daskfractal.PRESETS`): the
        preset's values replace the defaults of the options it sets (shuffle,
        dropout, test_policy, carry, block_sample_rate, the R̂ options and, for a path or raw
        interactions, the pre-processing). An option given here overrides the preset's.
        Recorded as ``params.preset`` (``name`` and the ``overridden`` options); the
        preset's output format is ``PRESETS[name].format`` (``to_mlperf``, ``to_meta_csv``).
        Options that are None below take the preset's value, else their default.
    shuffle : {"stratified", "block", "none"}, default "stratified"
        ``stratified``: per-block permutations that only exchange users (items) of similar
        degree, inside windows of ``window`` after sorting by degree: keeps the degree
        distributions' shape. ``block``: independent uniform row and column permutations per
        block (the papers and the MLPerf reference). ``none``: no permutation (plain
        stochastic Kronecker product).
    window : int, default 64
        Window of the ``stratified`` shuffle.
    dropout : {"auto", "joint", "balanced", "bernoulli", "exact", "targeted"}, default "auto"
        ``auto``: ``joint`` with the ``stratified`` shuffle when R̂ balanced to integer row
        and column sums keeps its size within a factor 1.5 (and has the non-zero entries
        ``joint`` needs), else ``balanced``; the mode taken is recorded as
        ``params["dropout"]`` and the reason as ``meta["dropout_auto"]``. ``balanced``:
        each (row, block) keeps ``p·d`` entries rounded stochastically, a uniform subset
        (a user's degree varies by at most one per block instead of binomially);
        ``bernoulli``: every entry kept independently (the papers);
        ``exact``: exactly round(p·nnz(S)) entries per block, chosen uniformly (the MLPerf
        reference); ``targeted``: R̂'s rows are rescaled to one integer sum ``c`` and every
        output user keeps exactly ``c`` times the train degree of the real user it is
        anchored on, split over its blocks by systematic rounding (the point masses of
        k-core data survive; the size is R̂'s up to the rounding of ``c``); ``joint`` (with
        ``shuffle="stratified"``, ``window`` capping its windows): R̂ is balanced to
        integer row sums ``a`` and column sums ``b`` and every output user keeps exactly
        ``a`` times, every output item exactly ``b`` times the train degree of one real
        user / item (each train entry follows a 0/1 block pattern with those sums; rows
        are permuted among users of equal train degree, columns by one permutation per
        block column; see :mod:`daskfractal.kernels.joint` and docs/fidelity.md). Apart
        from ``targeted``'s and ``joint``'s rescaling, the expected count of every
        (row, block) is ``p·d``.
    test_policy : {"all", "one"}, default "all"
        ``all``: every kept test entry; ``one``: exactly one test item per user, chosen
        uniformly among its kept test entries (users with none are dropped).
    carry : "auto", sequence of {"ratings", "timestamps"}
        Original values carried to each kept interaction; ``auto`` carries what the input has.
    timeline : {"aligned", "source"}, default "aligned"
        With timestamps carried: ``aligned`` shifts each of a synthetic user's pieces (the
        row it copies in one block column) by a constant so that they all end one time unit
        before the latest train timestamp of the piece holding its test entry; inside a
        piece, order and gaps stay the real user's, so the user's latest train interaction
        precedes its test as in the input (:mod:`daskfractal.kernels.timeline`).
        ``source``: every interaction keeps its real timestamp (the papers, Meta's script).
        With ``rows="shared"`` the pieces are parts of one real user's timeline, each thinned
        to the interactions its block column keeps; ``aligned`` ends them together the same
        way, so the latest train interaction is in the test's block column.
    rows : {"shared", "per-block"}, default "shared"
        ``shared``: the row permutation of block (i, j) is block row i's, the same for every
        j, so a synthetic user copies one real user in all its block columns (under each
        block column's item renaming): its history, test interaction and timeline are one
        person's, as a recommender benchmark expects. ``per-block`` (the papers, Meta's
        script): each block its own, so a synthetic user is stitched from n' real users.
        No effect with ``shuffle="none"`` (docs/fidelity.md, "Rows").
    chunk_size : int, default 2**22
        Expected kept interactions per count task (and per task of :meth:`Expansion.compute`);
        the write tasks are sized by the store's shard size (``shard_size`` of
        :func:`daskfractal.write_store`), which bounds their memory.
    inner_factors : list of (int, int), optional
        Multi-level expansion: the factors of the inner levels, innermost **last**
        (``factors=(16, 32), inner_factors=[(2, 2), (3, 3)]`` is
        R̂₁ ⊗rand (R̂₂ ⊗rand (R̂₃ ⊗rand R)) with R̂₁ 16 × 32, R̂₂ 2 × 2, R̂₃ 3 × 3). Each inner
        level's R̂ is reduced from its own input with the same ``resize``, ``rescale`` and
        ``clip`` and expanded with the same ``shuffle``, ``window``, ``dropout``,
        ``test_policy``, ``carry`` and ``chunk_size``; ``factors`` / ``keep`` /
        ``target_interactions`` and the size controls ``scale`` / ``aspect`` /
        ``max_factor`` apply to the outermost level only (``reduced`` cannot: its input does
        not exist yet). Level ℓ (1 = outermost) uses the seed
        :func:`daskfractal.expansion.level_seed` ``(seed, ℓ)``; the pre-processing of a
        path uses ``seed`` itself. The inner levels are computed now, in memory.
    block_sample_rate : float, default 1.0
        Meta's block sample rate, in ``(0, 1]``: each block ``(i, j)`` of the outermost level
        is kept whole with this probability, from its own stream ``(seed, i, j)``
        (:func:`daskfractal.kernels.block_sample_mask`); a dropped block contributes
        nothing (its keep probability becomes 0). Recorded as ``params.block_sample_rate``.
        The element sample rate is ``scale`` (or ``element_sample_rate``, Meta's name for
        it): every keep probability of R̂ multiplied by it.
    scheduler : None, str or distributed.Client
        Where inner levels are computed (multi-level only; the default Client if any, else
        threads). The outer level runs where ``to_zarr`` / ``to_parquet`` say.
    force : bool, default False
        Compute an inner level (``inner_factors``, or ``data`` an :class:`Expansion`) even when
        its estimated memory exceeds the available memory (:class:`ResourceError`).
    memory_limit : int, optional
        Bytes an inner level may take in memory (default, and at most: the available memory
        of this machine, which holds the level).
    public : bool, default False
        Write a store meant for release (``params.public``, ``layout.public``): without the
        seeds, the shuffle and window, R̂ (only the singular values of its keep probabilities
        are kept), the input's source, checksum and shape, ``users/slot`` and the block
        counts (see ``docs/privacy.md``), and without carried timestamps (``carry="auto"``
        leaves them out; asking for them is refused). Such a store is read by
        :func:`daskfractal.open`, ``validate`` (which says what it cannot compute) and
        ``negatives``; ``privacy_audit`` refuses it (it has no ground truth). Only for the
        ``zarr`` and ``parquet`` formats.
    privacy_epsilon : float, optional
        The privacy defence (``docs/privacy.md``): before anything else, every cell of
        R_train that is not a test entry is reported by randomized response with ε-local
        differential privacy for the presence of that interaction: a training interaction is
        kept with probability ``e^ε / (1 + e^ε)``, an absent cell added with probability
        ``1 / (1 + e^ε)`` (counter-based draws from ``(seed, row, item)``, stream
        ``STREAM_RESPONSE``; the number added to a row is binomial, the items uniform, the
        matrix is never densified). R̂ and the expansion are computed from that report only.
        Recorded as ``params.privacy`` (ε, the two probabilities, the real input's SHA-256).
        Test entries are kept as they are (not protected). Carries nothing (the added
        interactions have no rating or timestamp); not with ``inner_factors``.
    **reduce_options
        Passed to :func:`daskfractal.reduce` (``resize``, ``rescale``, ``clip``, ``scale``;
        ``element_sample_rate`` is accepted for ``scale``).

    Returns
    -------
    Expansion
        Lazy: call ``to_zarr``, ``to_parquet``, ``compute`` or ``count`` (only the inner
        levels of a multi-level expansion are computed by ``expand`` itself). A multi-level
        expansion records every level, outermost first, in ``meta["levels"]`` (store
        attributes ``params.levels``); ``source`` and ``preprocess`` are the original's and
        ``input_sha256`` the checksum of the intermediate the outermost level expands.

    Examples
    --------
    >>> import daskfractal as dfr
    >>> ex = dfr.expand("default", factors=(2, 4), seed=1)
    >>> ex.factors
    (2, 4)
    >>> two = dfr.expand("default", factors=(2, 4), inner_factors=[(2, 2)], seed=1)
    >>> two.n_items  # 4 · 2 · 9724
    77792
    """
    if "element_sample_rate" in reduce_options:
        if "scale" in reduce_options:
            raise ParameterError("give scale or element_sample_rate (the same option), not both")
        reduce_options["scale"] = reduce_options.pop("element_sample_rate")
    chosen = get_preset(preset) if preset is not None else None
    given = {
        "shuffle": shuffle,
        "dropout": dropout,
        "test_policy": test_policy,
        "carry": carry,
        "timeline": timeline,
        "rows": rows,
        "block_sample_rate": block_sample_rate,
    }
    level = {**_EXPAND_DEFAULTS, **(chosen.expand if chosen else {})}
    level.update({k: v for k, v in given.items() if v is not None})
    preprocess_options: dict[str, Any] = {}
    if chosen is not None:
        preprocess_options = dict(chosen.preprocess)
        if keep is None and reduced is None:
            reduce_options = {**chosen.reduce, **reduce_options}
    options = LevelOptions.checked(
        shuffle=level["shuffle"],
        window=window,
        dropout=level["dropout"],
        test_policy=level["test_policy"],
        carry=level["carry"],
        timeline=level["timeline"],
        rows=level["rows"],
        chunk_size=chunk_size,
        public=public,
    )
    seed = as_seed(seed)
    privacy_epsilon = check_epsilon(privacy_epsilon)
    if privacy_epsilon is not None:
        if inner_factors is not None or isinstance(data, Expansion):
            raise ParameterError("privacy_epsilon applies to a one-level expansion of real data")
        carry_given = level["carry"]
        if carry_given != "auto" and tuple(
            [carry_given] if isinstance(carry_given, str) else carry_given
        ):
            raise ParameterError(
                f"carry={carry_given!r} with privacy_epsilon: the interactions randomized "
                "response adds have no rating or timestamp; carry none"
            )
    factors = check_sizes(factors, keep, reduced, target_interactions)
    sizes: dict[str, Any] = {
        "factors": factors,
        "keep": keep,
        "reduced": reduced,
        "target_interactions": target_interactions,
        "block_sample_rate": check_rate(level["block_sample_rate"], "block_sample_rate"),
    }
    if inner_factors is not None:
        ex = expand_chain(
            data,
            inner_factors,
            seed=seed,
            options=options,
            reduce_options=reduce_options,
            scheduler=scheduler,
            force=force,
            memory_limit=memory_limit,
            preprocess_options=preprocess_options,
            **sizes,
        )
    else:
        ex = expand_level(
            data,
            seed=seed,
            options=options,
            reduce_options=reduce_options,
            scheduler=scheduler,
            force=force,
            preprocess_options=preprocess_options,
            privacy_epsilon=privacy_epsilon,
            **sizes,
        )
    if chosen is not None:
        ex.meta["preset"] = preset_record(chosen, _used_options(ex.params))
    return ex


#: The expansion options a preset may set, at their defaults (``expand``'s None).
_EXPAND_DEFAULTS: dict[str, Any] = {
    "shuffle": DEFAULT_SHUFFLE,
    "dropout": DEFAULT_DROPOUT,
    "test_policy": "all",
    "carry": "auto",
    "timeline": DEFAULT_TIMELINE,
    "rows": DEFAULT_ROWS,
    "block_sample_rate": 1.0,
}


def _used_options(params: dict[str, Any]) -> dict[str, Any]:
    """The options an expansion used, by the names of :class:`daskfractal.presets.Preset`."""
    used = {k: params[k] for k in (*_EXPAND_DEFAULTS, "window") if k in params}
    if "dropout_auto" in params:  # the mode auto took is params["dropout"]
        used["dropout"] = "auto"
    reduced = params.get("reduced", {}).get("params", {})
    used.update({k: reduced[k] for k in _R_HAT_NAMES if k in reduced})
    pre = params.get("preprocess", {})
    used.update({k: pre[k] for k in _PREPROCESS_NAMES if k in pre})
    return used


_R_HAT_NAMES = ("resize", "rescale", "clip", "clip_rule", "scale")
_PREPROCESS_NAMES = ("binarize", "min_distinct_timestamps", "tie_policy", "split")


__all__ = [
    "CARRY_NAMES",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_DROPOUT",
    "DEFAULT_ROWS",
    "DEFAULT_SHUFFLE",
    "DEFAULT_TIMELINE",
    "DROPOUTS",
    "DROPOUT_CHOICES",
    "ROWS",
    "SHUFFLES",
    "TEST_POLICIES",
    "TIMELINES",
    "ExpandedData",
    "Expansion",
    "check_epsilon",
    "check_inner_factors",
    "check_level_memory",
    "check_output",
    "expand",
    "input_checksum",
    "level_seed",
    "rebuild_input",
    "respond_split",
    "targeted_keep",
    "write_store",
]
