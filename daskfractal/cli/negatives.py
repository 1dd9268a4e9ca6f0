"""``daskfractal negatives``: training epochs and evaluation negatives for an expansion store."""

from __future__ import annotations

import argparse
import json
import sys

from .._checks import as_int
from .._names import DEFAULT_WINDOW, EXCLUDES, MAX_EPOCHS
from .codes import EXIT_OK
from .options import add_cluster_options, add_storage_options, client_from_args

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``negatives`` sub-command to the ``daskfractal`` parser."""
    p = subparsers.add_parser(
        "negatives",
        help="sample training negatives (and evaluation negatives) for an expansion store",
        description="Write shuffled training epochs (positives + negatives, with labels) and "
        "optionally k evaluation negatives per test user, from an expansion store.",
    )
    p.add_argument("store", metavar="STORE", help="an expansion store (Zarr or Parquet)")
    g = p.add_argument_group("sampling")
    g.add_argument("--epochs", type=int, default=1, metavar="E", help="epochs 0..E-1 (1)")
    g.add_argument(
        "--num-negatives", type=int, default=4, metavar="K", help="negatives per positive (4)"
    )
    g.add_argument(
        "--test-negatives",
        type=int,
        metavar="K",
        help="also write K distinct uniform negatives per test user (e.g. 999)",
    )
    g.add_argument(
        "--distribution",
        default="uniform",
        choices=["uniform", "popularity"],
        help="target distribution of training negatives (default: uniform)",
    )
    g.add_argument("--alpha", type=float, default=0.75, help="popularity exponent (default: 0.75)")
    g.add_argument(
        "--exclude",
        default="train",
        choices=list(EXCLUDES),
        help="positives a training negative never is (default: train)",
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    g.add_argument(
        "--shuffle-window",
        type=int,
        default=DEFAULT_WINDOW,
        metavar="N",
        help=f"rows shuffled together; defines the epoch order ({DEFAULT_WINDOW})",
    )
    g = p.add_argument_group("output")
    g.add_argument("--out", required=True, metavar="PATH", help="output directory")
    g.add_argument(
        "--format",
        dest="format_out",
        default="zarr",
        choices=["zarr", "parquet"],
        help="output format (default: zarr)",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="rows per Zarr chunk / Parquet row group; must divide the rows of a task "
        "(default: 65536)",
    )
    g.add_argument("--overwrite", action="store_true", help="replace an existing output")
    g.add_argument(
        "--force",
        action="store_true",
        help="start even when the estimated output exceeds the free disk or a task's "
        "memory exceeds the memory limit",
    )
    add_cluster_options(p, local_default="threads")
    add_storage_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal negatives``; returns the exit code (0)."""
    from ..negatives import NegativeSampler  # loaded by the command that runs it
    from ..store import open_store

    epochs = as_int(args.epochs, "--epochs", low=0, high=MAX_EPOCHS + 1)
    store = open_store(args.store)
    sampler = NegativeSampler(
        store,
        num_negatives=args.num_negatives,
        distribution=args.distribution,
        alpha=args.alpha,
        exclude=args.exclude,
        seed=args.seed,
        shuffle_window=args.shuffle_window,
    )
    if not args.quiet:
        print(
            f"sampling {epochs} epoch(s) of {sampler.n_examples:,} rows from {store.path} "
            f"({sampler.n_users:,} users, {sampler.n_items:,} items)",
            file=sys.stderr,
        )
    with client_from_args(args) as sched:
        write = sampler.to_zarr if args.format_out == "zarr" else sampler.to_parquet
        out = write(
            args.out,
            list(range(epochs)),
            test_negatives=args.test_negatives,
            chunk_rows=args.batch_size,
            overwrite=args.overwrite,
            scheduler=sched,
            progress=not args.quiet,
            force=args.force,
        )
    summary = {
        "out": str(out.path),
        "format": out.format,
        "epochs": out.epochs,
        "rows_per_epoch": out.meta["n_examples"],
        "test_negatives": out.meta["test_negatives"],
        "test_users": out.meta["n_test_users"],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        test = (
            ""
            if summary["test_negatives"] is None
            else f", {summary['test_users']:,} test users x {summary['test_negatives']} negatives"
        )
        print(
            f"{out.path} ({out.format}): {len(out.epochs)} epoch(s) x "
            f"{summary['rows_per_epoch']:,} rows{test}"
        )
    return EXIT_OK
