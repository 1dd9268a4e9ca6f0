"""The ``daskfractal`` parser, and the one table that maps every error to an exit code."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import (
    DaskFractalError,
    DownloadError,
    InputDataError,
    OutputError,
    ParameterError,
    ResourceError,
    StoreError,
)
from . import download, evaluate, expand, info, negatives, privacy, reduce, validate, verify
from .codes import (
    EXIT_DOWNLOAD,
    EXIT_FAILURE,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_RESOURCE,
    EXIT_STORE,
    EXIT_USAGE,
)
from .options import apply_storage_options

__all__ = ["EXIT_CODES", "build_parser", "main"]

#: The sub-commands, in the order of ``daskfractal --help``.
COMMANDS = (info, reduce, expand, download, verify, negatives, validate, evaluate, privacy)

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
    for command in COMMANDS:
        command.register(sub)
    return parser


def _flag_names(
    parser: argparse.ArgumentParser, command: str, typed: Sequence[str] = ()
) -> dict[str, str]:
    """``{"user_col": "--user-col", ...}``: the API argument behind each option of ``command``
    (of an option with two names, the one in ``typed``, the arguments the user gave)."""
    given = {t.split("=", 1)[0] for t in typed}
    names: dict[str, str] = {}
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        choices = action.choices if isinstance(action.choices, dict) else {}
        sub = choices.get(command)
        for opt in getattr(sub, "_actions", ()):
            longs = [o for o in opt.option_strings if o.startswith("--")]
            if longs and opt.dest not in ("help",):
                names[opt.dest] = ([o for o in longs if o in given] or longs)[0]
    # the API name of an option whose dest differs from it
    if "format_out" in names:
        names["format"] = names.pop("format_out")
    return names


def _as_flags(message: str, flags: dict[str, str]) -> str:
    """Name the CLI flags the user typed instead of the API arguments (``user_col='x'`` ->
    ``--user-col 'x'``) in a message raised by the Python API."""
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
    """Entry point of the ``daskfractal`` command; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, else the code :data:`EXIT_CODES` gives the error (130 on Ctrl-C); the
        error is one line on stderr, ``daskfractal COMMAND: error: ...``.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        apply_storage_options(args)
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("daskfractal: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DaskFractalError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        code = next(c for cls, c in EXIT_CODES if isinstance(e, cls))
        message = _as_flags(str(e), _flag_names(parser, args.command, argv))
        # one line: a message may quote a multi-line library error
        message = " ".join(message.split())
        print(f"daskfractal {args.command}: error: {message}", file=sys.stderr)
        return code
