"""``daskfractal evaluate``: do recommenders rank the same on the expansion as on the real data?"""

from __future__ import annotations

import argparse
from typing import Any

from .._checks import as_int, as_seed
from .._names import DEFAULT_ALGORITHMS, PROTOCOLS
from .codes import EXIT_OK
from .options import (
    add_cluster_options,
    add_original_options,
    add_output_options,
    add_storage_options,
    client_from_args,
    original_from_args,
)

__all__ = ["add_evaluation_options", "evaluate_from_args", "register", "run"]


def evaluate_from_args(args: argparse.Namespace, report: Any, sched: Any) -> Any:
    """Run :func:`~daskfractal.evaluate` with the options of :func:`add_evaluation_options`."""
    from ..evaluation import evaluate  # loaded by the command that runs it, not by --help

    return evaluate(
        args.store,
        original_from_args(args),
        algorithms=args.algorithms,
        k=args.eval_k,
        users=args.users,
        max_items=args.max_items,
        protocol=args.protocol,
        negatives=args.negatives,
        seed=args.seed,
        n_boot=args.bootstrap,
        report_dir=report,
        scheduler=sched,
        progress=not args.quiet,
        figures=not args.no_figures,
    )


def check_evaluation_args(args: argparse.Namespace) -> None:
    """Check the options with the flags' names, before any work."""
    for v in args.eval_k:
        as_int(v, "--k", low=1)
    as_int(args.users, "--users", low=1)
    as_int(args.max_items, "--max-items", low=1)
    as_int(args.negatives, "--negatives", low=1)
    as_int(args.bootstrap, "--bootstrap", low=10)
    as_seed(args.seed, "--seed")


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal evaluate``; returns the exit code."""
    from ..evaluation.report import check_report_dir

    check_evaluation_args(args)
    check_report_dir(args.report)
    original_from_args(args)  # checked before any work
    with client_from_args(args) as sched:
        rep = evaluate_from_args(args, args.report, sched)
    if args.json:
        print(rep.to_json())
    else:
        print(rep.summary())
        if rep.files:
            print(f"report: {rep.files['markdown']}")
    return EXIT_OK


def add_evaluation_options(p: argparse.ArgumentParser, *, with_k: bool = True) -> None:
    """The options of the downstream evaluation (shared with ``validate --downstream``)."""
    g = p.add_argument_group("downstream evaluation")
    g.add_argument(
        "--algorithms",
        nargs="+",
        metavar="ALGO",
        help="algorithms to compare, with optional hyper-parameters (name:key=value,...); "
        f"default: {', '.join(DEFAULT_ALGORITHMS)} (+ transitions with timestamps)",
    )
    g.add_argument(
        "--k" if with_k else "--eval-k",
        dest="eval_k",
        nargs="+",
        type=int,
        default=[10, 20],
        metavar="K",
        help="cutoffs of HR@k and NDCG@k (10 20)",
    )
    g.add_argument(
        "--users",
        type=int,
        default=10_000,
        metavar="N",
        help="at most N evaluated users per side (10000)",
    )
    g.add_argument(
        "--max-items",
        type=int,
        default=20_000,
        metavar="N",
        help="at most N items per side (20000; a seeded uniform subset above, both sides)",
    )
    g.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="full",
        help="full: against every item not in the train row (default); sampled: against "
        "--negatives sampled items (NCF)",
    )
    g.add_argument(
        "--negatives",
        type=int,
        default=99,
        metavar="N",
        help="negatives of --protocol sampled (99)",
    )
    g.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates (1000)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command to the ``daskfractal`` argument parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``; the handler is set as ``func``.
    """
    p = subparsers.add_parser(
        "evaluate",
        help="downstream fidelity: do recommenders rank the same on the expansion?",
        description="Fit the same recommenders (popularity, ItemKNN, RP3beta, EASE, PureSVD, "
        "∞-AE, random, and item transitions with timestamps) on the original and on a "
        "block-aligned sample of the expansion, with one held-out item per user on both "
        "sides, and compare how they rank: metrics with bootstrap intervals, Kendall τ and "
        "Spearman ρ, agreement on the pairs ordered significantly on the original.",
    )
    p.add_argument("store", metavar="STORE", help="an expansion store (Zarr or Parquet)")
    add_original_options(p, "evaluate the expansion only (no comparison)")
    add_evaluation_options(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and bootstrap (0)")
    p.add_argument("--report", metavar="DIR", help="write report.json, report.md and a PNG here")
    p.add_argument("--no-figures", action="store_true", help="numbers only, no PNG")
    add_cluster_options(p, local_default="threads")
    add_output_options(p, "print report.json to stdout", quiet_help="no progress output")
    add_storage_options(p)
    p.set_defaults(func=run)
