"""``daskfractal verify``: check a finished store against its manifest."""

from __future__ import annotations

import argparse
import sys

from .codes import EXIT_OK, EXIT_STORE
from .options import add_output_options, add_storage_options, print_json

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify`` sub-command to the ``daskfractal`` parser."""
    p = subparsers.add_parser(
        "verify",
        help="check a finished store against its manifest (exit 5 when damaged)",
        description="Check that every file of a store listed in its manifest.json exists with "
        "its size, that no other file was added and that the metadata and counts were not "
        "edited; --full also checks every file's SHA-256 (reads the whole store).",
    )
    p.add_argument("store", metavar="STORE", help="the store directory (Zarr or Parquet)")
    p.add_argument("--full", action="store_true", help="check the digest of every file")
    add_output_options(p, "print the report as JSON")
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal verify``: exit 0 when the store is whole, 5 when damaged."""
    from ..store import verify

    report = verify(args.store, full=args.full)
    if args.json:
        print_json(report.to_dict())
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
