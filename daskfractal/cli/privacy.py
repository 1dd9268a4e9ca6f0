"""``daskfractal privacy``: attack an expansion store (re-identification, membership)."""

from __future__ import annotations

import argparse

from .._checks import as_int, as_seed
from .codes import EXIT_OK

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal privacy``; returns the exit code."""
    from ..privacy import privacy_audit  # loaded by the command that runs it
    from ..privacy.report import check_report_dir

    as_int(args.users, "--users", low=2)
    as_seed(args.seed, "--seed")
    as_int(args.block_rows, "--block-rows", low=1)
    as_int(args.min_items, "--min-items", low=1)
    as_int(args.refine, "--refine", low=0)
    check_report_dir(args.report)
    rep = privacy_audit(
        args.store,
        args.original,
        users=args.users,
        seed=args.seed,
        block_rows=args.block_rows,
        min_items=args.min_items,
        refine=args.refine,
        membership=not args.no_membership,
        report_dir=args.report,
    )
    if args.json:
        print(rep.to_json())
    else:
        print(rep.summary())
        if rep.files:
            print(f"report: {rep.files['markdown']}")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``privacy`` sub-command to the ``daskfractal`` argument parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``; the handler is set as ``func``.
    """
    p = subparsers.add_parser(
        "privacy",
        help="privacy audit of an expansion store: re-identification, membership inference",
        description="Attack an expansion store as an adversary who knows the original data "
        "and the method: link synthetic user segments to real users (top-1 / top-10 "
        "accuracy against chance, scored with the ground truth the store's recorded seed "
        "gives) and tell members from held-out users by their distance to the closest "
        "synthetic record (ROC AUC). See docs/privacy.md.",
    )
    p.add_argument("store", metavar="STORE", help="an expansion store (Zarr or Parquet)")
    p.add_argument(
        "--original",
        metavar="INPUT",
        help="the input the store was expanded from (default: the source recorded in the "
        "store); pre-processed as the store records",
    )
    p.add_argument(
        "--users", type=int, default=500, metavar="N", help="synthetic users attacked (500)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and ties (0)")
    p.add_argument(
        "--block-rows", type=int, default=2, metavar="B", help="block rows of R̂ audited (2)"
    )
    p.add_argument(
        "--min-items",
        type=int,
        default=3,
        metavar="K",
        help="smallest segment attacked, in items (3)",
    )
    p.add_argument(
        "--refine",
        type=int,
        default=2000,
        metavar="U",
        help="segments per block whose links refine the item mapping (2000; 0: degree rank only)",
    )
    p.add_argument(
        "--no-membership", action="store_true", help="skip the membership-inference attack"
    )
    p.add_argument("--report", metavar="DIR", help="write privacy.json and privacy.md here")
    p.add_argument("--json", action="store_true", help="print privacy.json to stdout")
    p.set_defaults(func=run)
