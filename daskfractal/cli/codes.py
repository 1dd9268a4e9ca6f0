"""The exit codes of the ``daskfractal`` command (documented in docs/cli.md).

Kept apart from :mod:`.main` so that a command can return one without importing the parser
that imports the command.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_DOWNLOAD = 4
EXIT_STORE = 5
EXIT_OUTPUT = 6
EXIT_RESOURCE = 7
EXIT_INTERRUPTED = 130
