"""The generated reference pages (docs/api.md, docs/cli.md) are up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _build():
    spec = importlib.util.spec_from_file_location("docs_build", DOCS / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("page", ["api.md", "cli.md"])
def test_generated_page_is_current(page):
    build = _build()
    expected = build.PAGES[page]()
    current = (DOCS / page).read_text()
    assert current == expected, f"docs/{page} is stale: run `python docs/build.py`"


def test_readme_opens_with_two_commands():
    readme = (DOCS.parent / "README.md").read_text().splitlines()
    start = readme.index("```bash")
    end = readme.index("```", start + 1)
    cmds = readme[start + 1 : end]
    assert len(cmds) == 2
    assert "pip install" in cmds[0] and "daskfractal expand default" in cmds[0]
    assert "pytest" in cmds[1]
