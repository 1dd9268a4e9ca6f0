"""``daskfractal validate``: the fidelity report of an expansion store."""

from __future__ import annotations

import argparse

from .._checks import as_int, as_seed
from .._names import BLOCK_SAMPLE
from ..errors import ParameterError
from .codes import EXIT_FAILURE, EXIT_OK
from .evaluate import add_evaluation_options, check_evaluation_args, evaluate_from_args
from .options import (
    add_cluster_options,
    add_original_options,
    add_output_options,
    add_storage_options,
    client_from_args,
    original_from_args,
)

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal validate``; returns the exit code (1 when train and test
    intersect)."""
    from ..validation import validate  # loaded by the command that runs it
    from ..validation.report import check_report_dir

    # checked here with the flags' names (validate() checks them again with its own names)
    as_int(args.k, "--k", low=0)
    as_int(args.power_iterations, "--power-iterations", low=0)
    as_int(args.oversample, "--oversample", low=0)
    as_int(args.block_sample, "--block-sample", low=0)
    as_seed(args.seed, "--seed")
    check_report_dir(args.report)
    original = original_from_args(args)
    if args.downstream:
        check_evaluation_args(args)
        if args.no_original:
            raise ParameterError("--downstream compares with the original: drop --no-original")
    with client_from_args(args) as sched:
        rep = validate(
            args.store,
            original,
            k=args.k,
            report_dir=args.report,
            seed=args.seed,
            scheduler=sched,
            progress=not args.quiet,
            n_power_iter=args.power_iterations,
            n_oversamples=args.oversample,
            block_sample=args.block_sample,
            figures=not args.no_figures,
        )
        down = None
        if args.downstream:
            sub = None if args.report is None else f"{args.report}/downstream"
            down = evaluate_from_args(args, sub, sched)
    if args.json:
        if down is None:
            print(rep.to_json())
        else:
            import json

            doc = rep.to_dict()
            doc["downstream"] = down.to_dict()
            print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(rep.summary())
        if rep.files:
            print(f"report: {rep.files['markdown']}")
        if down is not None:
            print(down.summary())
            if down.files:
                print(f"downstream report: {down.files['markdown']}")
    return EXIT_OK if rep.numbers["split"]["disjoint"] else EXIT_FAILURE


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` sub-command to the ``daskfractal`` argument parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``; the handler is set as ``func`` and returns the
        exit code (1 when train and test intersect).
    """
    p = subparsers.add_parser(
        "validate",
        help="fidelity report of an expansion store: degrees, spectrum, blocks, split",
        description="Compare an expansion store with its input (degree distributions, "
        "Kolmogorov-Smirnov distances, Gini, log-log slopes, randomized-SVD spectrum vs "
        "Theorem 1, block structure left, train/test sanity) and write report.json, "
        "report.md and figures.",
    )
    p.add_argument("store", metavar="STORE", help="an expansion store (Zarr or Parquet)")
    add_original_options(
        p, "do not load the original (R's degrees missing; saves its memory and time)"
    )
    p.add_argument("--k", type=int, default=64, help="singular values to compute (64; 0: none)")
    p.add_argument("--report", metavar="DIR", help="write report.json, report.md and PNGs here")
    p.add_argument("--seed", type=int, default=0, help="seed of the SVD sketch and samples (0)")
    p.add_argument(
        "--power-iterations",
        type=int,
        default=4,
        metavar="Q",
        help="power iterations of the randomized SVD (4)",
    )
    p.add_argument(
        "--oversample", type=int, default=10, metavar="P", help="extra sketch columns (10)"
    )
    p.add_argument(
        "--block-sample",
        type=int,
        default=BLOCK_SAMPLE,
        metavar="N",
        help=f"interactions used for the block structure score ({BLOCK_SAMPLE}; 0: skip)",
    )
    p.add_argument("--no-figures", action="store_true", help="numbers only, no PNGs")
    p.add_argument(
        "--downstream",
        action="store_true",
        help="also run `daskfractal evaluate` (algorithm rankings; report in DIR/downstream)",
    )
    add_evaluation_options(p, with_k=False)
    # threads by default: the sketch is shared between tasks instead of shipped to workers
    add_cluster_options(p, local_default="threads")
    add_output_options(p, "print report.json to stdout", quiet_help="no progress bars")
    add_storage_options(p)
    p.set_defaults(func=run)
