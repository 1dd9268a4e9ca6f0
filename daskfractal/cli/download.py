"""``daskfractal download``: a MovieLens release from GroupLens, checksum-verified."""

from __future__ import annotations

import argparse

from ..errors import ParameterError
from .codes import EXIT_OK

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``download`` sub-command to the ``daskfractal`` parser."""
    p = subparsers.add_parser("download", help="download a MovieLens release from GroupLens")
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal download``: prints the data set's folder; returns 0."""
    from ..datasets import download, list_datasets

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
