"""``daskfractal expand``: expand a data set into a Zarr or Parquet store, or an export."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._names import DEFAULT_ROWS, DEFAULT_SHUFFLE, DEFAULT_TIMELINE, ROWS, STORE_FORMATS, TIMELINES
from ..errors import ParameterError
from ..presets import PRESET_NAMES, PRESETS
from .codes import EXIT_OK
from .options import (
    add_cluster_options,
    add_input_options,
    add_output_options,
    add_reduce_options,
    add_storage_options,
    client_from_args,
    load_split,
    memory_limit,
    print_json,
    reduce_from_args,
    reduce_options,
)

if TYPE_CHECKING:
    from ..expansion import Expansion
    from ..preprocess import SplitData
    from ..store import ExpansionStore, ExportStore

__all__ = ["apply_preset", "register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``expand`` sub-command to the ``daskfractal`` parser."""
    p = subparsers.add_parser(
        "expand",
        help="expand a data set by the randomized Kronecker product into a Zarr/Parquet store "
        "or an MLPerf / Meta export",
    )
    add_input_options(p)
    add_reduce_options(p)
    g = p.add_argument_group("expansion")
    g.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="output store: a directory, or an object-store URL (s3://BUCKET/PREFIX, any "
        "fsspec URL; see --storage-options)",
    )
    g.add_argument(
        "--preset",
        choices=list(PRESET_NAMES),
        help="set every option of a published expansion at once; options you give override "
        "the preset's, and the store records it (params.preset). "
        + "; ".join(f"{p.name}: {p.summary} ({p.describe()})" for p in PRESETS.values()),
    )
    g.add_argument(
        "--format",
        dest="format_out",
        default=None,
        choices=list(STORE_FORMATS),
        help="output format (default: zarr): zarr, parquet, or an export for another "
        "pipeline: mlperf (MovieLens-1B .npz shards trainx{M}x{N}_{k}.npz of (user, item) "
        "int64 rows), meta-csv (Meta generative-recommenders' CSV per block row)",
    )
    g.add_argument(
        "--shards",
        type=int,
        default=None,
        metavar="K",
        help="--format mlperf: number of shards (contiguous user ranges; default 16, never "
        "more than the users)",
    )
    g.add_argument(
        "--shuffle",
        default=None,
        choices=["stratified", "block", "none"],
        help="per-block permutations: stratified (default: only among users/items of similar "
        "degree, keeps degree distributions), block (the papers and MLPerf), none (plain "
        "stochastic Kronecker)",
    )
    g.add_argument("--window", type=int, default=64, help="window of --shuffle stratified (64)")
    g.add_argument(
        "--dropout",
        default=None,
        choices=["auto", "joint", "balanced", "bernoulli", "exact", "targeted"],
        help="auto (default): joint with --shuffle stratified where it keeps R-hat's size "
        "within 1.5x and no size was asked for, else balanced; balanced: p*d per "
        "(row, block), rounded; bernoulli: "
        "independent keeps (the papers); exact: round(p*nnz) per block (MLPerf); targeted: "
        "each user exactly c times a real user's degree (keeps k-core degree "
        "distributions); joint: every user exactly a times and every item exactly b times "
        "a real one's degree (needs --shuffle stratified; --window caps its windows)",
    )
    g.add_argument(
        "--block-sample-rate",
        type=float,
        default=None,
        metavar="B",
        help="keep each block (i, j) whole with probability B, drawn from its own stream "
        "(0 < B <= 1; default 1: every block), as Meta's fractal expansion",
    )
    g.add_argument(
        "--test-policy",
        default=None,
        choices=["all", "one"],
        help="keep every kept test entry (default) or exactly one per user",
    )
    g.add_argument(
        "--carry",
        default=None,
        help="carry original values: auto (default: what the input has), none, or a list "
        "like ratings,timestamps",
    )
    g.add_argument(
        "--timeline",
        default=None,
        choices=list(TIMELINES),
        help="with timestamps carried: aligned (default) shifts each real user's piece of a "
        "synthetic user so that all end just before the piece holding its test interaction "
        "(order and gaps inside a piece kept); source keeps every real timestamp as it is",
    )
    g.add_argument(
        "--rows",
        default=None,
        choices=list(ROWS),
        help="shared (default): a block row's blocks share its row permutation, so a "
        "synthetic user copies one real user in every block column (one person's history, "
        "test and timeline); per-block: each block its own, as the papers and Meta's script "
        "(a synthetic user stitched from n' real users)",
    )
    g.add_argument(
        "--chunk-size",
        type=int,
        default=2**22,
        metavar="N",
        help="expected interactions per task: bounds the memory of a task (4194304)",
    )
    g.add_argument(
        "--shard-size",
        type=int,
        default=2**24,
        metavar="N",
        help="entries per Zarr shard: one task writes one shard; for --format mlperf and "
        "meta-csv, the entries a task generates at a time (16777216)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run into the same --out (identical result)",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the store at --out (and its .work folder) and write a new one; only "
        "folders daskfractal created are deleted, never a folder of yours",
    )
    g.add_argument(
        "--force",
        action="store_true",
        help="start even when the estimated output exceeds the free disk or a task's (or "
        "the in-memory inner level's) estimated memory exceeds the memory limit",
    )
    g.add_argument(
        "--public",
        action="store_true",
        help="a store meant for release: without the seeds, shuffle, R̂, input checksum, "
        "users/slot, block counts and carried timestamps (docs/privacy.md); zarr or parquet",
    )
    g.add_argument(
        "--privacy-epsilon",
        type=float,
        default=None,
        metavar="EPS",
        help="defence: randomized response on R_train before expanding, ε-local differential "
        "privacy for each training interaction (docs/privacy.md); carries nothing",
    )
    g = p.add_argument_group("multi-level expansion R̂₁ ⊗rand (R̂₂ ⊗rand R)")
    g.add_argument(
        "--inner-factors",
        nargs=2,
        type=int,
        action="append",
        metavar=("M", "N"),
        help="an inner level, expanded first and held in memory; repeat for more levels, "
        "innermost last (--factors 16 32 --inner-factors 2 2: users x 32, items x 64). Each "
        "level's R̂ is reduced from its own input with the same --resize, --rescale and "
        "--clip (--scale and --target-interactions size the outermost level); level l uses "
        "a seed derived from (--seed, l)",
    )
    add_cluster_options(p, local_default="auto")
    add_output_options(p, "print the result as JSON", quiet_help="no progress bars")
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal expand``; returns the exit code (0)."""
    from ..expansion import check_inner_factors, check_output

    if args.resume and args.overwrite:
        raise ParameterError("--resume and --overwrite exclude each other")
    apply_preset(args)
    if args.inner_factors:
        # refuse bad values before loading anything or starting a cluster
        check_inner_factors(args.inner_factors, name="--inner-factors")
    _check_store_options(args)
    # a folder that is not ours, an existing store or a busy output: say so before loading
    check_output(args.out, resume=args.resume, overwrite=args.overwrite)
    _, split = load_split(args)
    if args.factors and args.target_interactions is not None:
        raise ParameterError("give either --factors or --target-interactions, not both")
    if args.inner_factors:
        # the inner levels are computed while planning: the cluster starts first
        with client_from_args(args) as sched:
            ex = _plan_expansion(args, split, sched)
            del split
            return _write_expansion(args, ex, sched)
    ex = _plan_expansion(args, split, None)
    del split
    exp = ex.expected()
    # --local auto: a small job runs on threads, without starting a cluster
    with client_from_args(args, work=exp["train"] + exp["test"]) as sched:
        return _write_expansion(args, ex, sched)


def _carry(value: str | Sequence[str]) -> str | tuple[str, ...]:
    if not isinstance(value, str):
        return tuple(value)  # a preset's
    if value in ("auto",):
        return value
    if value == "none":
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


#: The options ``--preset`` may set: parser destination → (preset option, default).
_PRESET_OPTIONS: dict[str, tuple[str, Any]] = {
    "keep_ratings": ("binarize", False),
    "min_distinct_timestamps": ("min_distinct_timestamps", None),
    "split": ("split", None),
    "tie_policy": ("tie_policy", None),
    "resize": ("resize", None),
    "rescale": ("rescale", None),
    "clip": ("clip", None),
    "clip_rule": ("clip_rule", None),
    "scale": ("scale", None),
    "shuffle": ("shuffle", DEFAULT_SHUFFLE),
    "dropout": ("dropout", None),  # None: expand's default (auto: resolved with R̂)
    "test_policy": ("test_policy", "all"),
    "block_sample_rate": ("block_sample_rate", 1.0),
    "carry": ("carry", "auto"),
    "timeline": ("timeline", DEFAULT_TIMELINE),
    "rows": ("rows", DEFAULT_ROWS),
    "format_out": ("format", "zarr"),
}


def apply_preset(args: argparse.Namespace) -> None:
    """Fill the options the user left out with ``--preset``'s values, else the defaults.

    An option given on the command line keeps its value (it overrides the preset). Options of
    the pre-processing and of R̂ that neither sets stay None: the API's defaults apply.

    Raises
    ------
    ParameterError
        A combination the preset cannot honour (one line, exit code 2).
    """
    preset = PRESETS[args.preset] if args.preset else None
    options = preset.options() if preset else {}
    for dest, (name, default) in _PRESET_OPTIONS.items():
        if getattr(args, dest) is not None:
            continue
        value = options.get(name, default)
        if dest == "keep_ratings" and name in options:
            value = not value  # the preset says binarize
        elif dest == "clip" and value is not None:
            value = list(value)
        setattr(args, dest, value)
    if preset is None:
        return
    if args.clip_rule == "after-scale" and args.target_interactions is not None:
        raise ParameterError(
            f"--preset {preset.name} cannot go with --target-interactions: its clipping "
            "(--clip-rule after-scale) follows the element sample rate, so the size is not "
            "linear in it; give --factors and --element-sample-rate, as Meta's script"
        )


def _plan_expansion(args: argparse.Namespace, split: SplitData, sched: Any) -> Expansion:
    """The lazy expansion of ``split`` (inner levels, if any, computed now on ``sched``)."""
    from ..expansion import expand

    options = {
        "seed": args.seed,
        "preset": args.preset,
        "shuffle": args.shuffle,
        "window": args.window,
        "dropout": args.dropout,
        "test_policy": args.test_policy,
        "carry": _carry(args.carry),
        "timeline": args.timeline,
        "rows": args.rows,
        "chunk_size": args.chunk_size,
        "block_sample_rate": args.block_sample_rate,
        "public": args.public,
        "privacy_epsilon": args.privacy_epsilon,
    }
    if not args.inner_factors:
        ex = expand(split, reduced=reduce_from_args(args, split), **options)
    else:
        if not args.factors and args.target_interactions is None:
            raise ParameterError("give --factors M N or --target-interactions N")
        if not args.quiet:
            levels = " ⊗ ".join(f"{a}x{b}" for a, b in args.inner_factors)
            print(
                f"computing the inner level(s) {levels} of {split.n_users:,} x "
                f"{split.n_items:,} in memory",
                file=sys.stderr,
            )
        ex = expand(
            split,
            tuple(args.factors) if args.factors else None,
            target_interactions=args.target_interactions,
            inner_factors=[tuple(p) for p in args.inner_factors],
            scheduler=sched,
            force=args.force,
            memory_limit=memory_limit(args),
            **options,
            **reduce_options(args),
        )
    exp = ex.expected()
    if not args.quiet:
        m, n = ex.meta["input_shape"]
        print(
            f"expanding {m:,} x {n:,} by {ex.factors[0]} x "
            f"{ex.factors[1]}: up to {exp['users_max']:,} users, {exp['items']:,} items, "
            f"~{exp['train']:,.0f} train and ~{exp['test']:,.0f} test interactions, "
            f"{len(ex.tasks())} tasks, {ex.params['shuffle']} + {ex.params['dropout']}",
            file=sys.stderr,
        )
    return ex


def _check_store_options(args: argparse.Namespace) -> None:
    """Refuse impossible sizes before loading anything (the API checks them again, later)."""
    from .._checks import as_int

    as_int(args.chunk_size, "--chunk-size", low=1)
    as_int(args.shard_size, "--shard-size", low=1)
    as_int(args.window, "--window", low=1)
    if args.public and args.format_out not in ("zarr", "parquet"):
        raise ParameterError(
            f"--public writes zarr or parquet stores, not --format {args.format_out}"
        )
    if args.shards is not None:
        if args.format_out != "mlperf":
            raise ParameterError("--shards applies to --format mlperf only")
        as_int(args.shards, "--shards", low=1)


def _write_expansion(args: argparse.Namespace, ex: Expansion, sched: Any) -> int:
    options = {
        "resume": args.resume,
        "overwrite": args.overwrite,
        "scheduler": sched,
        "progress": not args.quiet,
        "force": args.force,
    }
    store: ExpansionStore | ExportStore
    if args.format_out == "zarr":
        store = ex.to_zarr(args.out, shard_size=args.shard_size, **options)
    elif args.format_out == "parquet":
        store = ex.to_parquet(args.out, **options)
    elif args.format_out == "mlperf":
        store = ex.to_mlperf(args.out, shards=args.shards, shard_size=args.shard_size, **options)
    else:
        store = ex.to_meta_csv(args.out, shard_size=args.shard_size, **options)
    c = store.counts()
    if args.json:
        print_json({"store": str(store.path), "format": store.format, **c})
    else:
        print(
            f"{store.path} ({store.format}): users {c['n_users']:,}, items {c['n_items']:,}, "
            f"train {c['nnz_train']:,}, test {c['nnz_test']:,}"
            + (" (public: no seeds, R̂, slots or block counts)" if args.public else "")
        )
    return EXIT_OK
