"""Option groups shared by several commands, and the helpers that turn them into API calls.

* input and pre-processing (:func:`add_input_options`, :func:`load_split`);
* the reduced matrix R̂ (:func:`add_reduce_options`, :func:`reduce_from_args`);
* where to run (:func:`add_cluster_options`, :func:`client_from_args`);
* output (:func:`add_output_options`, :func:`print_json`, :func:`fmt`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .._dask import AUTO_THREADS_BELOW, DEFAULT_TIMEOUT, cluster_client
from ..errors import ParameterError

if TYPE_CHECKING:
    from ..interactions import Interactions
    from ..preprocess import SplitData
    from ..reduction import Reduced

__all__ = [
    "add_cluster_options",
    "add_input_options",
    "add_original_options",
    "add_output_options",
    "add_reduce_options",
    "add_storage_options",
    "apply_storage_options",
    "client_from_args",
    "fmt",
    "json_default",
    "load_split",
    "memory_limit",
    "original_from_args",
    "print_json",
    "reduce_from_args",
    "reduce_options",
]


# --------------------------------------------------------------------------------------
# input and pre-processing


def add_original_options(p: argparse.ArgumentParser, no_original_help: str) -> None:
    """``--original INPUT`` / ``--no-original`` of the commands that compare a store with its
    input (``validate``, ``evaluate``)."""
    p.add_argument(
        "--original",
        metavar="INPUT",
        help="the input the store was expanded from (default: the source recorded in the "
        "store, when it still exists); pre-processed as the store records",
    )
    p.add_argument("--no-original", action="store_true", help=no_original_help)


def original_from_args(args: argparse.Namespace) -> str | bool | None:
    """The ``original`` argument of the API: False for ``--no-original``, else the path."""
    if args.no_original and args.original:
        raise ParameterError("give --original or --no-original, not both")
    return False if args.no_original else args.original


def add_input_options(p: argparse.ArgumentParser) -> None:
    """Add the ``INPUT`` argument and the input-format and pre-processing option groups."""
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
        "--keep-ratings",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="store ratings instead of binarizing to 1 (default: binarize; --no-keep-ratings "
        "binarizes even when expand --preset meta keeps them)",
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
        default=None,
        metavar="K",
        help="drop users with fewer distinct timestamps (default: 2)",
    )
    g.add_argument(
        "--split",
        default=None,
        choices=["auto", "leave-last-out", "random", "given", "none"],
        help="how to build the test set (default: auto)",
    )
    g.add_argument(
        "--tie-policy",
        default=None,
        choices=["one", "all"],
        help="items tied at a user's latest timestamp: one goes to test, or all (default: one)",
    )
    g.add_argument("--seed", type=int, default=0, help="random seed in [0, 2**64) (default: 0)")


def load_split(args: argparse.Namespace) -> tuple[Interactions, SplitData]:
    """The raw interactions and their pre-processed split, as :func:`add_input_options` says.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of a command that called :func:`add_input_options`.

    Returns
    -------
    tuple of (Interactions, SplitData)
    """
    from .._checks import as_seed
    from ..datasets import load
    from ..preprocess import preprocess

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
    given = {
        "binarize": None if args.keep_ratings is None else not args.keep_ratings,
        "min_distinct_timestamps": args.min_distinct_timestamps,
        "split": args.split,
        "tie_policy": args.tie_policy,
    }
    split = preprocess(
        data,
        positive_threshold=args.positive_threshold,
        seed=args.seed,
        # options left out (None) take preprocess()'s defaults
        **{k: v for k, v in given.items() if v is not None},
    )
    return data, split


# --------------------------------------------------------------------------------------
# the reduced matrix R̂


def add_reduce_options(p: argparse.ArgumentParser) -> None:
    """Add the option group that sizes R̂ (``--factors``, ``--target-interactions``, ...)."""
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
        default=None,
        choices=["antialias", "legacy"],
        help="how U and V are shrunk: antialias (local averaging, default) or legacy "
        "(scikit-image 0.14 bilinear, as the published ML-1B sizes)",
    )
    g.add_argument(
        "--rescale",
        default=None,
        choices=["abs-max", "minmax"],
        help="map R̂ to keep probabilities: |R̂|/max|R̂| (default) or min-max",
    )
    g.add_argument(
        "--clip", nargs=2, type=float, metavar=("LO", "HI"), help="clip keep probabilities"
    )
    g.add_argument(
        "--clip-rule",
        default=None,
        choices=["all", "keep-max", "after-scale"],
        help="how --clip applies: all (default: every entry, then the element sample rate), "
        "keep-max (R̂'s largest entry, 1, is not clipped: the MLPerf reference), after-scale "
        "(clip the entries times the element sample rate: Meta's script)",
    )
    g.add_argument(
        "--element-sample-rate",
        "--scale",
        dest="scale",
        type=float,
        default=None,
        metavar="S",
        help="element sample rate: multiply every keep probability by S (0 < S <= 1, "
        "default 1; --scale is the same option)",
    )


def reduce_options(args: argparse.Namespace) -> dict[str, Any]:
    """The R̂ options of the command line, as keyword arguments of reduce / solve_factors."""
    opts: dict[str, Any] = {
        "resize": args.resize,
        "rescale": args.rescale,
        "clip": tuple(args.clip) if args.clip else None,
        "clip_rule": args.clip_rule,
    }
    # --aspect only shapes the factors that --target-interactions chooses
    if args.target_interactions is not None:
        opts["aspect"] = args.aspect
    else:
        opts["scale"] = args.scale
    # options left out (None) take reduce()'s defaults
    return {k: v for k, v in opts.items() if v is not None}


def reduce_from_args(args: argparse.Namespace, split: SplitData) -> Reduced:
    """R̂ of ``split.train`` from ``--factors`` or ``--target-interactions`` (exactly one).

    Raises
    ------
    ParameterError
        When both or neither of the two options is given.
    """
    from ..reduction import reduce, solve_factors

    if args.target_interactions is not None:
        if args.factors:
            raise ParameterError("give either --factors or --target-interactions, not both")
        return solve_factors(
            split.train,
            args.target_interactions,
            seed=args.seed,
            test_nnz=split.test.nnz,
            **reduce_options(args),
        )
    if not args.factors:
        raise ParameterError("give --factors M N or --target-interactions N")
    return reduce(split.train, tuple(args.factors), seed=args.seed, **reduce_options(args))


# --------------------------------------------------------------------------------------
# where to run


def add_cluster_options(parser: argparse.ArgumentParser, *, local_default: str = "cluster") -> None:
    """Add the "where to run" options (shared by every command that runs Dask work).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser of one sub-command.
    local_default : {"cluster", "auto", "threads", "processes", "sync"}
        Default of ``--local`` (``"auto"`` also offers it as a choice).
    """
    g = parser.add_argument_group("where to run")
    g.add_argument(
        "--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler (tcp://...)"
    )
    g.add_argument(
        "--scheduler-file",
        metavar="PATH",
        help="scheduler file of a running cluster (dask-scheduler --scheduler-file)",
    )
    g.add_argument(
        "--workers",
        type=int,
        help="local cluster: worker processes (default: one in-process worker, a thread per "
        "core, sharing the input)",
    )
    g.add_argument(
        "--threads",
        type=int,
        help="local cluster: threads per worker (default: cores for the in-process worker, "
        "1 per worker process)",
    )
    g.add_argument(
        "--memory-limit",
        default="auto",
        help="local cluster: memory limit per worker, e.g. 2GB (default: auto)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="seconds to wait for --scheduler-file to appear and for the scheduler to "
        f"answer (default: {DEFAULT_TIMEOUT:g})",
    )
    choices = ["cluster", "threads", "processes", "sync"]
    what = "a LocalCluster or a plain local scheduler"
    if local_default == "auto":
        choices.insert(0, "auto")
        what = (
            "a LocalCluster, or a plain local scheduler; auto: the threaded scheduler when "
            f"the job is small (under {AUTO_THREADS_BELOW:,} interactions, no --workers, "
            "--threads or --memory-limit), else a LocalCluster"
        )
    g.add_argument(
        "--local",
        default=local_default,
        choices=choices,
        help=f"without --scheduler: {what} (default: {local_default})",
    )


def client_from_args(
    args: argparse.Namespace, work: float | None = None
) -> contextlib.AbstractContextManager:
    """:func:`daskfractal._dask.cluster_client` configured by :func:`add_cluster_options`
    (``work``: the expected interactions, for ``--local auto``)."""
    return cluster_client(
        scheduler=args.scheduler,
        scheduler_file=args.scheduler_file,
        workers=args.workers,
        threads=args.threads,
        memory_limit=args.memory_limit,
        local=args.local,
        timeout=getattr(args, "timeout", DEFAULT_TIMEOUT),
        work=work,
    )


def memory_limit(args: argparse.Namespace) -> int | None:
    """``--memory-limit`` in bytes, None for auto (a local cluster's worker limit is also what
    the driver, which holds an inner level, may use: the default worker runs in-process)."""
    from .._preflight import parse_bytes

    if args.memory_limit is None or str(args.memory_limit).strip().lower() == "auto":
        return None
    return parse_bytes(args.memory_limit, "--memory-limit")


# --------------------------------------------------------------------------------------
# output


def add_output_options(
    p: argparse.ArgumentParser, json_help: str, quiet_help: str | None = None
) -> None:
    """Add ``--quiet`` (when ``quiet_help`` is given), then ``--json``."""
    if quiet_help is not None:
        p.add_argument("--quiet", action="store_true", help=quiet_help)
    p.add_argument("--json", action="store_true", help=json_help)


def add_storage_options(p: argparse.ArgumentParser) -> None:
    """Add ``--storage-options`` (fsspec options of ``s3://`` ... URLs, as JSON)."""
    p.add_argument(
        "--storage-options",
        metavar="JSON",
        help="options of an object-store URL (s3://BUCKET/PREFIX ...) for fsspec, e.g. "
        '\'{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}\' (default: '
        "$DASKFRACTAL_STORAGE_OPTIONS, then the AWS_* variables and ~/.aws)",
    )


def apply_storage_options(args: argparse.Namespace) -> None:
    """Make ``--storage-options`` (when given) the options of every URL the command opens.

    Raises
    ------
    ParameterError
        If the text is not a JSON object.
    """
    from ..store import STORAGE_OPTIONS_ENV, set_storage_options

    text = getattr(args, "storage_options", None)
    if text is not None:
        set_storage_options(text)
        # worker processes started by this command (a LocalCluster) read the same options
        os.environ[STORAGE_OPTIONS_ENV] = text


def print_json(obj: object) -> None:
    """Print ``obj`` as indented JSON (NumPy scalars and arrays as plain numbers and lists)."""
    print(json.dumps(obj, indent=2, default=json_default))


def json_default(o: object) -> object:
    """``default`` of :func:`json.dumps` for NumPy scalars and arrays."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def fmt(x: float | int) -> str:
    """A count with thousands separators; a fraction with 4 significant digits.

    Examples
    --------
    >>> fmt(1234567), fmt(2.5), fmt(3.0)
    ('1,234,567', '2.5', '3')
    """
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.4g}" if abs(x) < 1e4 else f"{x:,.0f}"
    return f"{int(x):,}"
