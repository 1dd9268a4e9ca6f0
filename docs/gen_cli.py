"""Generate docs/cli.md, the CLI reference, from the argument parser.

Run ``python docs/gen_cli.py`` after changing a CLI option or its help; the test suite
(``tests/test_docs.py``) and ``mkdocs build --strict`` (the hook in ``docs/_ext/hooks.py``)
fail when the committed page is stale. ``--check`` only compares.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "cli.md"


def cli_markdown() -> str:
    """The CLI reference: the help of ``daskfractal`` and of every sub-command."""
    from daskfractal.cli import build_parser

    parser = build_parser()
    parser.prog = "daskfractal"
    out = [
        "# CLI reference",
        "",
        "Generated from the argument parser by `python docs/gen_cli.py`; do not edit by hand.",
        "",
        "Exit codes (every error is one line on stderr, `daskfractal COMMAND: error: ...`):",
        "",
        "| code | meaning |",
        "|---|---|",
        "| 0 | success |",
        "| 1 | any other daskfractal error |",
        "| 2 | bad parameters or usage: an impossible value (`--seed -1`, `--workers 0`, "
        "`--memory-limit lots`), an unreachable scheduler, a missing or garbage "
        "`--scheduler-file` (waited for `--timeout` seconds) |",
        "| 3 | bad input data: missing or malformed file, wrong ids, no user left |",
        "| 4 | download failed: offline, HTTP error, checksum mismatch |",
        "| 5 | store problem: exists, incomplete, damaged (see `daskfractal verify`), other "
        "parameters, a folder daskfractal did not create, an output in use by another run |",
        "| 6 | the output cannot be written: disk full, read-only file system, no "
        "permission (the store is left unfinished: fix it, then rerun with `--resume`) |",
        "| 7 | the job would not fit: the estimated output exceeds the free disk, a task's (or "
        "an in-memory inner level's) estimated memory the memory limit, or it needs more "
        "than 100,000 tasks; refused before any work (`--force` starts anyway) |",
        "| 130 | interrupted (Ctrl-C: rerun `expand` with `--resume`) |",
        "",
        "## `daskfractal`",
        "",
        "```text",
        _help(parser),
        "```",
        "",
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        out += [f"## `daskfractal {name}`", "", "```text", _help(p), "```", ""]
    return "\n".join(out).rstrip() + "\n"


def _help(parser: argparse.ArgumentParser) -> str:
    import os

    # a fixed width, so the file does not depend on the terminal that built it
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    args = p.parse_args(argv)
    text = cli_markdown()
    if args.check:
        if PAGE.read_text() != text:
            print(f"{PAGE} is stale: run `python docs/gen_cli.py`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
