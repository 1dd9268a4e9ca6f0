"""The ``daskfractal`` command line: a thin adapter that parses options and calls the public API.

One module per command (:mod:`.info`, :mod:`.reduce`, :mod:`.expand`, :mod:`.download`,
:mod:`.verify`, :mod:`.validate`, :mod:`.negatives`), each with ``register(subparsers)`` and
``run(args)``; the option groups they share are in :mod:`.options`, the exit codes in
:mod:`.codes`, and :mod:`.main` assembles the parser and maps every error to one exit code.

Dependencies point one way: this package imports the library, and nothing in the library
imports it (the console script ``daskfractal`` calls :func:`main`).
"""

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
from .main import EXIT_CODES, build_parser, main

__all__ = [
    "EXIT_CODES",
    "EXIT_DOWNLOAD",
    "EXIT_FAILURE",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_RESOURCE",
    "EXIT_STORE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]
