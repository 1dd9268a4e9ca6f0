"""The documentation: the generated CLI page is current, the API pages document every public
name, the site's nav holds every page, relative links resolve, and the pages point at
nothing a user of the package does not have. ``mkdocs build --strict`` (``.ci/run``) checks
the rest: anchors, docstrings that render, references between API objects."""

from __future__ import annotations

import importlib
import importlib.util
import re
import textwrap
from pathlib import Path

import pytest
import yaml

import daskfractal

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
_DIRECTIVE = re.compile(r"^::: (daskfractal[\w.]*)\n((?:    .*\n|\n)*)", re.MULTILINE)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _directives(page: str) -> dict[str, list[str] | None]:
    """``{object: its explicit members option, or None}`` of the ``:::`` blocks of a page."""
    out: dict[str, list[str] | None] = {}
    for name, options in _DIRECTIVE.findall((DOCS / page).read_text()):
        parsed = yaml.safe_load(textwrap.dedent(options)) if options.strip() else None
        out[name] = (parsed or {}).get("options", {}).get("members")
    return out


def _defined_here(module) -> set[str]:
    """Public names defined in ``module`` itself (for a module without ``__all__``)."""
    return {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__
    }


def test_cli_page_is_current():
    gen_cli = _load("gen_cli", DOCS / "gen_cli.py")
    current = (DOCS / "cli.md").read_text()
    assert current == gen_cli.cli_markdown(), "docs/cli.md is stale: run `python docs/gen_cli.py`"


def test_api_page_documents_every_public_name():
    documented = set(_directives("api.md"))
    public = {f"daskfractal.{n}" for n in daskfractal.__all__ if not n.startswith("__")}
    assert documented == public, (
        f"docs/api.md: missing {sorted(public - documented)}, unknown {sorted(documented - public)}"
    )


def test_subpackage_page_documents_their_public_names():
    top = set(daskfractal.__all__)
    for name, members in _directives("api-subpackages.md").items():
        module = importlib.import_module(name)
        names = set(getattr(module, "__all__", None) or _defined_here(module))
        shown = names if members is None else set(members)
        assert shown <= names, f"{name}: {sorted(shown - names)} are not in its __all__"
        assert names - top <= shown, f"{name}: {sorted(names - top - shown)} undocumented"


def test_nav_holds_every_page():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for x in node:
                yield from walk(x)
        elif isinstance(node, dict):
            for x in node.values():
                yield from walk(x)

    nav = list(walk(config["nav"]))
    assert sorted(nav) == sorted(p.name for p in PAGES), "mkdocs.yml's nav and docs/*.md differ"
    assert len(set(nav)) == len(nav)


@pytest.mark.parametrize(
    "page",
    [ROOT / "README.md", ROOT / "benchmarks/README.md", *PAGES],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_relative_links_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.relative_to(ROOT)} links to missing {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_point_at_nothing_a_user_lacks(page):
    # the project's sibling folders (papers, data) exist in its development checkout only:
    # the README's development notes may name them, the site may not
    assert not re.search(r"\.\./shared/|shared/papers", page.read_text()), (
        f"{page.relative_to(ROOT)}: cite papers by title, authors and arXiv id, and name "
        "public data sets instead of ../shared paths"
    )


def test_sphinx_roles_become_markdown():
    pytest.importorskip("griffe")
    roles = _load("griffe_sphinx_roles", DOCS / "_ext" / "griffe_sphinx_roles.py")
    public = frozenset({"load", "Reduced"})
    assert roles.to_markdown(":func:`~daskfractal.load`::", public) == (
        "[`load`][daskfractal.load]:"
    )
    assert roles.to_markdown(":meth:`.Reduced.keep`", public) == (
        "[`Reduced.keep`][daskfractal.Reduced.keep]"
    )
    assert roles.to_markdown(":mod:`.algorithms`, :class:`~._plan.Plan`", public) == (
        "`algorithms`, `Plan`"
    )


def test_readme_opens_with_two_commands():
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index("```bash")
    end = readme.index("```", start + 1)
    cmds = readme[start + 1 : end]
    assert len(cmds) == 2
    assert "pip install" in cmds[0] and "daskfractal expand default" in cmds[0]
    assert "pytest" in cmds[1]
