"""Command-line interface: a thin adapter that parses options and calls the public API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._runner import add_cluster_options
from ._version import __version__
from .errors import (
    DaskFractalError,
    DownloadError,
    InputDataError,
    OutputError,
    ParameterError,
    ResourceError,
    StoreError,
)

if TYPE_CHECKING:
    from .expansion import Expansion
    from .interactions import Interactions
    from .preprocess import SplitData
    from .reduction import Reduced

# Exit codes: documented in docs/cli.md.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_DOWNLOAD = 4
EXIT_STORE = 5
EXIT_OUTPUT = 6
EXIT_RESOURCE = 7
EXIT_INTERRUPTED = 130


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input",
        metavar="INPUT",
        help="a data file or folder (MovieLens ratings.csv / ratings.dat / u.data, CSV, TSV, "
        "Parquet, adjacency list), or 'default' for the embedded MovieLens ml-latest-small",
    )
    g = p.add_argument_group("input format")
    g.add_argument(
        "--input-format",
        default="auto",
        choices=["auto", "movielens", "csv", "tsv", "parquet", "adjacency"],
        help="input format (default: detected from the file name)",
    )
    g.add_argument("--user-col", help="user id column of a generic CSV/TSV/Parquet file")
    g.add_argument("--item-col", help="item id column of a generic file")
    g.add_argument("--rating-col", help="rating column of a generic file (optional)")
    g.add_argument("--timestamp-col", help="timestamp column of a generic file (optional)")
    g.add_argument("--sep", help="field separator of a generic text file")
    g.add_argument("--no-header", action="store_true", help="the generic text file has no header")
    g.add_argument("--test", metavar="FILE", help="a separate test file (a given split)")
    g = p.add_argument_group("pre-processing")
    g.add_argument(
        "--keep-ratings", action="store_true", help="store ratings instead of binarizing to 1"
    )
    g.add_argument(
        "--positive-threshold",
        type=float,
        metavar="R",
        help="keep only interactions with rating >= R",
    )
    g.add_argument(
        "--min-distinct-timestamps",
        type=int,
        default=2,
        metavar="K",
        help="drop users with fewer distinct timestamps (default: 2)",
    )
    g.add_argument(
        "--split",
        default="auto",
        choices=["auto", "leave-last-out", "random", "given", "none"],
        help="how to build the test set (default: auto)",
    )
    g.add_argument(
        "--tie-policy",
        default="one",
        choices=["one", "all"],
        help="items tied at a user's latest timestamp: one goes to test, or all (default: one)",
    )
    g.add_argument("--seed", type=int, default=0, help="random seed in [0, 2**64) (default: 0)")


def _load_split(args: argparse.Namespace) -> tuple[Interactions, SplitData]:
    from ._checks import as_seed
    from .datasets import load
    from .preprocess import preprocess

    as_seed(args.seed, "--seed")  # before loading anything
    data = load(
        args.input,
        format=args.input_format,
        user_col=args.user_col,
        item_col=args.item_col,
        rating_col=args.rating_col,
        timestamp_col=args.timestamp_col,
        sep=args.sep,
        test=args.test,
        header=not args.no_header,
    )
    split = preprocess(
        data,
        binarize=not args.keep_ratings,
        positive_threshold=args.positive_threshold,
        min_distinct_timestamps=args.min_distinct_timestamps,
        split=args.split,
        tie_policy=args.tie_policy,
        seed=args.seed,
    )
    return data, split


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, default=_json_default))


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _fmt(x: float | int) -> str:
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.4g}" if abs(x) < 1e4 else f"{x:,.0f}"
    return f"{int(x):,}"


def cmd_info(args: argparse.Namespace) -> int:
    data, split = _load_split(args)
    raw, pre = data.summary(), split.summary()
    if args.json:
        _print_json({"input": raw, "split": pre})
        return EXIT_OK
    print(f"input: {raw['source']}")
    print(
        f"  interactions {_fmt(raw['interactions'])}, users {_fmt(raw['users'])}, "
        f"items {_fmt(raw['items'])}, density {raw['density']:.3e}"
    )
    print(
        f"  ratings: {'yes' if raw['has_ratings'] else 'no'}, "
        f"timestamps: {'yes' if raw['has_timestamps'] else 'no'}, "
        f"given split: {'yes' if raw['given_split'] else 'no'}"
    )
    for who in ("user", "item"):
        d = raw[f"{who}_degree"]
        print(
            f"  {who} degree: min {d['min']}, median {_fmt(d['median'])}, mean "
            f"{_fmt(d['mean'])}, p90 {_fmt(d['p90'])}, p99 {_fmt(d['p99'])}, max {d['max']}"
        )
    print(f"after pre-processing ({split.params['split']}):")
    print(
        f"  users {_fmt(pre['users'])}, items {_fmt(pre['items'])}, "
        f"train {_fmt(pre['train_interactions'])}, test {_fmt(pre['test_interactions'])}"
    )
    removed = {k[len("removed_") :]: v for k, v in pre.items() if k.startswith("removed_")}
    print("  removed: " + ", ".join(f"{k} {_fmt(v)}" for k, v in removed.items()))
    return EXIT_OK


def _reduce_options(args: argparse.Namespace) -> dict:
    """The R̂ options of the command line, as keyword arguments of reduce / solve_factors."""
    opts = {
        "resize": args.resize,
        "rescale": args.rescale,
        "clip": tuple(args.clip) if args.clip else None,
    }
    if args.target_interactions is not None:
        opts["aspect"] = args.aspect
    else:
        opts["scale"] = args.scale
    return opts


def _reduce_from_args(args: argparse.Namespace, split: SplitData) -> Reduced:
    from .reduction import reduce, solve_factors

    if args.target_interactions is not None:
        if args.factors:
            raise ParameterError("give either --factors or --target-interactions, not both")
        return solve_factors(
            split.train,
            args.target_interactions,
            seed=args.seed,
            test_nnz=split.test.nnz,
            **_reduce_options(args),
        )
    if not args.factors:
        raise ParameterError("give --factors M N or --target-interactions N")
    return reduce(split.train, tuple(args.factors), seed=args.seed, **_reduce_options(args))


def _add_reduce_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reduced matrix R̂ (size of the expansion)")
    g.add_argument(
        "--factors",
        nargs=2,
        type=int,
        metavar=("M", "N"),
        help="expansion factors: users x M, items x N (R̂ is M x N)",
    )
    g.add_argument(
        "--target-interactions",
        type=float,
        metavar="N",
        help="choose factors and a keep-probability scale that give about N train interactions",
    )
    g.add_argument(
        "--aspect",
        type=float,
        default=2.0,
        help="with --target-interactions: item factor / user factor (default: 2, as 16 x 32)",
    )
    g.add_argument(
        "--resize",
        default="antialias",
        choices=["antialias", "legacy"],
        help="how U and V are shrunk: antialias (local averaging, default) or legacy "
        "(scikit-image 0.14 bilinear, as the published ML-1B sizes)",
    )
    g.add_argument(
        "--rescale",
        default="abs-max",
        choices=["abs-max", "minmax"],
        help="map R̂ to keep probabilities: |R̂|/max|R̂| (default) or min-max",
    )
    g.add_argument(
        "--clip", nargs=2, type=float, metavar=("LO", "HI"), help="clip keep probabilities"
    )
    g.add_argument(
        "--scale", type=float, default=1.0, help="multiply keep probabilities (0 < S <= 1)"
    )


def cmd_reduce(args: argparse.Namespace) -> int:
    _, split = _load_split(args)
    red = _reduce_from_args(args, split)
    exp = red.expected_interactions(split.train.nnz, split.test.nnz)
    out = red.to_dict()
    out["expected"] = exp
    if args.out:
        path = Path(args.out)
        try:
            path.write_text(json.dumps(out, indent=2, default=_json_default) + "\n")
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    if args.json:
        _print_json(out)
        return EXIT_OK
    mp, np_ = red.factors
    keep = red.keep
    print(
        f"R̂: {mp} x {np_} (k = {min(mp, np_)}), resize {red.params['resize']}, "
        f"rescale {red.params['rescale']}, scale {red.params['scale']:.6g}"
    )
    sv = ", ".join(f"{s:.4g}" for s in red.singular_values[:8])
    more = " ..." if len(red.singular_values) > 8 else ""
    print(f"  top singular values of R_train: {sv}{more}")
    print(
        f"  keep probabilities: min {keep.min():.4f}, mean {keep.mean():.4f}, max {keep.max():.4f}"
    )
    print(
        f"  expected output: users {_fmt(exp['users'])}, items {_fmt(exp['items'])}, "
        f"train {_fmt(exp['train'])}, test {_fmt(exp['test'])}"
    )
    if args.out:
        print(f"  written to {args.out}")
    return EXIT_OK


def _carry(value: str) -> str | tuple[str, ...]:
    if value in ("auto",):
        return value
    if value == "none":
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


def cmd_expand(args: argparse.Namespace) -> int:
    from ._runner import client_from_args
    from .expansion import check_inner_factors

    if args.resume and args.overwrite:
        raise ParameterError("--resume and --overwrite exclude each other")
    if args.inner_factors:
        # refuse bad values before loading anything or starting a cluster
        check_inner_factors(args.inner_factors, name="--inner-factors")
    _check_store_options(args)
    from .expansion import check_output

    # a folder that is not ours, an existing store or a busy output: say so before loading
    check_output(args.out, resume=args.resume, overwrite=args.overwrite)
    _, split = _load_split(args)
    if args.factors and args.target_interactions is not None:
        raise ParameterError("give either --factors or --target-interactions, not both")
    with client_from_args(args) as sched:
        ex = _plan_expansion(args, split, sched)
        del split
        return _write_expansion(args, ex, sched)


def _plan_expansion(args: argparse.Namespace, split: SplitData, sched: object) -> Expansion:
    """The lazy expansion of ``split`` (inner levels, if any, computed now on ``sched``)."""
    from .expansion import expand

    options = {
        "seed": args.seed,
        "shuffle": args.shuffle,
        "window": args.window,
        "dropout": args.dropout,
        "test_policy": args.test_policy,
        "carry": _carry(args.carry),
        "chunk_size": args.chunk_size,
    }
    if not args.inner_factors:
        ex = expand(split, reduced=_reduce_from_args(args, split), **options)
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
            memory_limit=_memory_limit(args),
            **options,
            **_reduce_options(args),
        )
    exp = ex.expected()
    if not args.quiet:
        m, n = ex.meta["input_shape"]
        print(
            f"expanding {m:,} x {n:,} by {ex.factors[0]} x "
            f"{ex.factors[1]}: up to {exp['users_max']:,} users, {exp['items']:,} items, "
            f"~{exp['train']:,.0f} train and ~{exp['test']:,.0f} test interactions, "
            f"{len(ex.tasks())} tasks",
            file=sys.stderr,
        )
    return ex


def _memory_limit(args: argparse.Namespace) -> int | None:
    """``--memory-limit`` in bytes, None for auto (a local cluster's worker limit is also what
    the driver, which holds an inner level, may use: the default worker runs in-process)."""
    from ._preflight import parse_bytes

    if args.memory_limit is None or str(args.memory_limit).strip().lower() == "auto":
        return None
    return parse_bytes(args.memory_limit, "--memory-limit")


def _check_store_options(args: argparse.Namespace) -> None:
    """Refuse impossible sizes before loading anything (the API checks them again, later)."""
    from ._checks import as_int

    as_int(args.chunk_size, "--chunk-size", low=1)
    as_int(args.shard_size, "--shard-size", low=1)
    as_int(args.window, "--window", low=1)


def _write_expansion(args: argparse.Namespace, ex: Expansion, sched: object) -> int:
    store = (
        ex.to_zarr(
            args.out,
            resume=args.resume,
            overwrite=args.overwrite,
            scheduler=sched,
            progress=not args.quiet,
            shard_size=args.shard_size,
            force=args.force,
        )
        if args.format_out == "zarr"
        else ex.to_parquet(
            args.out,
            resume=args.resume,
            overwrite=args.overwrite,
            scheduler=sched,
            progress=not args.quiet,
            force=args.force,
        )
    )
    c = store.counts()
    if args.json:
        _print_json({"store": str(store.path), "format": store.format, **c})
    else:
        print(
            f"{store.path} ({store.format}): users {c['n_users']:,}, items {c['n_items']:,}, "
            f"train {c['nnz_train']:,}, test {c['nnz_test']:,}"
        )
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    from .datasets.download import download, list_datasets

    if args.list:
        for info in list_datasets():
            print(f"{info.name:18s} {info.description}")
        return EXIT_OK
    if not args.name:
        raise ParameterError("give a data set NAME (see 'daskfractal download --list')")
    path = download(
        args.name, args.dest, base_url=args.base_url, progress=not args.quiet, force=args.force
    )
    print(path)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal verify``: exit 0 when the store is whole, 5 when damaged."""
    from .store import verify

    report = verify(args.store, full=args.full)
    if args.json:
        _print_json(report.to_dict())
    else:
        level = "full (every file's SHA-256)" if report.full else "fast (sizes and metadata)"
        state = "ok" if report.ok else f"DAMAGED: {len(report.problems)} problem(s)"
        print(
            f"{report.path}: {state}; {level}, {report.files_checked:,} files, "
            f"{report.bytes_checked:,} bytes hashed"
        )
        for line in report.notes:
            print(f"  note: {line}")
        for line in report.problems:
            print(f"  {line}")
    if not report.ok:
        first = report.problems[0] if report.problems else "damaged"
        print(f"daskfractal verify: error: {report.path} is damaged: {first}", file=sys.stderr)
        return EXIT_STORE
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The ``daskfractal`` argument parser (exposed for the docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="daskfractal",
        description="Expand a real recommender data set into a realistic synthetic one, "
        "orders of magnitude larger, by randomized fractal (Kronecker) expansion.",
    )
    parser.add_argument("--version", action="version", version=f"daskfractal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("info", help="counts, density and degree summary of a data set")
    _add_input_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("reduce", help="compute the reduced matrix R̂ and the expected size")
    _add_input_options(p)
    _add_reduce_options(p)
    p.add_argument("--out", metavar="FILE", help="write R̂ and its metadata as JSON")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_reduce)

    p = sub.add_parser(
        "expand",
        help="expand a data set by the randomized Kronecker product into a Zarr/Parquet store",
    )
    _add_input_options(p)
    _add_reduce_options(p)
    g = p.add_argument_group("expansion")
    g.add_argument("--out", required=True, metavar="PATH", help="output store (a directory)")
    g.add_argument(
        "--format",
        dest="format_out",
        default="zarr",
        choices=["zarr", "parquet"],
        help="output format (default: zarr)",
    )
    g.add_argument(
        "--shuffle",
        default="block",
        choices=["block", "stratified", "none"],
        help="per-block permutations: block (the papers, default), stratified "
        "(only among users/items of similar degree: keeps degree distributions), "
        "none (plain stochastic Kronecker)",
    )
    g.add_argument("--window", type=int, default=64, help="window of --shuffle stratified (64)")
    g.add_argument(
        "--dropout",
        default="bernoulli",
        choices=["bernoulli", "exact"],
        help="independent Bernoulli keeps (default) or exactly round(p*nnz) per block",
    )
    g.add_argument(
        "--test-policy",
        default="all",
        choices=["all", "one"],
        help="keep every kept test entry (default) or exactly one per user",
    )
    g.add_argument(
        "--carry",
        default="auto",
        help="carry original values: auto (what the input has), none, or a list "
        "like ratings,timestamps",
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
        help="entries per Zarr shard: one task writes one shard (16777216)",
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
    add_cluster_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_expand)

    p = sub.add_parser("download", help="download a MovieLens release from GroupLens")
    p.add_argument("name", nargs="?", metavar="NAME", help="e.g. ml-20m, ml-25m, ml-100k")
    p.add_argument("--dest", default=".", help="folder to download into (default: .)")
    p.add_argument("--base-url", help="mirror replacing the GroupLens URL prefix")
    p.add_argument(
        "--force",
        action="store_true",
        help="download and unpack again even when present (files you added are never deleted)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the known data sets")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser(
        "verify",
        help="check a finished store against its manifest (exit 5 when damaged)",
        description="Check that every file of a store listed in its manifest.json exists with "
        "its size, that no other file was added and that the metadata and counts were not "
        "edited; --full also checks every file's SHA-256 (reads the whole store).",
    )
    p.add_argument("store", metavar="STORE", help="the store directory (Zarr or Parquet)")
    p.add_argument("--full", action="store_true", help="check the digest of every file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verify)

    for extra in _extra_commands():
        extra(sub)
    return parser


def _extra_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Sub-commands defined next to the features they drive (negatives, validate)."""
    from .negatives.cli import register_cli as negatives_cli
    from .validation.cli import register_cli as validate_cli

    return [negatives_cli, validate_cli]


#: Exception classes and their exit codes, most specific first (documented in docs/cli.md).
EXIT_CODES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int], ...] = (
    (ParameterError, EXIT_USAGE),
    (InputDataError, EXIT_INPUT),
    (DownloadError, EXIT_DOWNLOAD),
    (StoreError, EXIT_STORE),
    (OutputError, EXIT_OUTPUT),
    (ResourceError, EXIT_RESOURCE),
    (DaskFractalError, EXIT_FAILURE),
    # raised by the input side only: the output side raises OutputError (write boundary)
    ((FileNotFoundError, PermissionError, IsADirectoryError), EXIT_INPUT),
)


def _flag_names(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """``{"user_col": "--user-col", ...}``: the API argument behind each option of ``command``."""
    names: dict[str, str] = {}
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        # a subparsers action: its choices are a dict of the command parsers
        sub = action.choices.get(command) if hasattr(action, "choices") else None  # type: ignore[union-attr]
        for opt in getattr(sub, "_actions", ()):
            longs = [o for o in opt.option_strings if o.startswith("--")]
            if longs and opt.dest not in ("help",):
                names[opt.dest] = longs[0]
    # the API name of an option whose dest differs from it
    if "format_out" in names:
        names["format"] = names.pop("format_out")
    return names


def _as_flags(message: str, flags: dict[str, str]) -> str:
    """Name the CLI flags the user typed instead of the API arguments (``user_col='x'`` ->
    ``--user-col 'x'``) in a message raised by the Python API."""
    import re

    # "overwrite=True (--overwrite)" -> "--overwrite"
    message = re.sub(r"\b[a-z_]+=True \((--[a-z-]+)\)", r"\1", message)

    def repl(m: re.Match) -> str:
        return f"{flags[m.group(1)]} " if m.group(1) in flags else m.group(0)

    message = re.sub(r"(?<![\w.-])([a-z][a-z0-9_]*)=(?!=)", repl, message)
    # bare names too, for the two-word ones ("give both user_col and item_col"): a one-word
    # name ("seed", "scale") may be an ordinary word of the message
    for name, flag in flags.items():
        if "_" in name:
            message = re.sub(rf"(?<![\w.-]){name}(?![\w=])", flag, message)
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``daskfractal`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("daskfractal: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DaskFractalError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        code = next(c for cls, c in EXIT_CODES if isinstance(e, cls))
        message = _as_flags(str(e), _flag_names(parser, args.command))
        # one line: a message may quote a multi-line library error
        message = " ".join(message.split())
        print(f"daskfractal {args.command}: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
