"""Generate docs/api.md (from the docstrings) and docs/cli.md (from the argument parser).

Run ``python docs/build.py`` after changing a public docstring or a CLI option; the test
suite fails when the committed files are stale (``tests/test_docs.py``).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def api_markdown() -> str:
    """The API reference: every name in ``daskfractal.__all__`` with its docstring."""
    import daskfractal

    out = [
        "# API reference",
        "",
        "Generated from the docstrings by `python docs/build.py`; do not edit by hand.",
        "Everything below is importable from `daskfractal` (`import daskfractal as dfr`).",
        "",
    ]
    for name in sorted(daskfractal.__all__, key=str.lower):
        if name.startswith("__"):
            continue
        obj = getattr(daskfractal, name)
        if inspect.isclass(obj):
            kind = "class"
        elif callable(obj):
            kind = "function"
        else:
            continue
        try:
            sig = str(inspect.signature(obj))
        except (TypeError, ValueError):
            sig = ""
        out += [f"## `{name}`", "", f"```python\n{kind} {name}{sig}\n```", ""]
        doc = inspect.getdoc(obj) or "(no docstring)"
        out += ["```text", doc, "```", ""]
        if inspect.isclass(obj):
            for meth_name, meth in sorted(vars(obj).items()):
                if meth_name.startswith("_"):
                    continue
                target = meth.fget if isinstance(meth, property) else meth
                if isinstance(target, staticmethod | classmethod):
                    target = getattr(obj, meth_name)  # bound: no cls in the signature
                if not callable(target):
                    continue
                mdoc = inspect.getdoc(target)
                if not mdoc:
                    continue
                label = "property" if isinstance(meth, property) else "method"
                try:
                    msig = "" if label == "property" else str(inspect.signature(target))
                except (TypeError, ValueError):
                    msig = ""
                out += [f"### `{name}.{meth_name}{msig}` ({label})", "", "```text", mdoc, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def cli_markdown() -> str:
    """The CLI reference: the help of ``daskfractal`` and of every sub-command."""
    from daskfractal.cli import build_parser

    parser = build_parser()
    parser.prog = "daskfractal"
    out = [
        "# CLI reference",
        "",
        "Generated from the argument parser by `python docs/build.py`; do not edit by hand.",
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
        "parameters, a folder daskfractal did not create, an output in use by another run, an "
        "export (`--format mlperf` or `meta-csv`) given to `validate`, `evaluate` or "
        "`negatives` (they read Zarr and Parquet stores) |",
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


PAGES = {"api.md": api_markdown, "cli.md": cli_markdown}


def main() -> int:
    for name, make in PAGES.items():
        (DOCS / name).write_text(make())
        print(f"wrote {DOCS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
