"""MkDocs hooks of the docs site (``hooks:`` in ``mkdocs.yml``).

``docs/cli.md`` is generated from the argument parser (``python docs/gen_cli.py``) and
committed, so that it reads on GitHub too; a stale page is a warning here, which
``mkdocs build --strict`` turns into a failed build.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.daskfractal")
DOCS = Path(__file__).resolve().parents[1]


def on_pre_build(config: Any, **kwargs: Any) -> None:
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    gen_cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_cli)
    if (DOCS / "cli.md").read_text() != gen_cli.cli_markdown():
        log.warning("docs/cli.md is stale: run `python docs/gen_cli.py`")
