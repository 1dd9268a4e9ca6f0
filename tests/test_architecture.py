"""The package's dependency structure: no import cycles, no private names across packages.

Every import statement counts, including those inside functions (they run sooner or later);
imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daskfractal"


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


MODULES = _modules()


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import nodes that can run: all but those in an ``if TYPE_CHECKING:`` block."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _owner(name: str) -> str | None:
    """The module of the package that ``name`` (a module or module.attribute) lives in."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else None


def _edges() -> dict[str, set[tuple[str, str | None]]]:
    """module -> {(imported module, imported name or None)} within the package."""
    graph: dict[str, set[tuple[str, str | None]]] = {}
    for mod, (path, is_pkg) in MODULES.items():
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        deps: set[tuple[str, str | None]] = set()
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            else:
                if node.level:
                    parent = base[: len(base) - (node.level - 1)]
                    prefix = ".".join(parent + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = []
                for a in node.names:
                    full = f"{prefix}.{a.name}"
                    targets.append((full, None) if full in MODULES else (prefix, a.name))
            for target, name in targets:
                owner = _owner(target)
                if owner is not None and owner != mod:
                    deps.add((owner, name))
        graph[mod] = deps
    return graph


EDGES = _edges()


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph = {m: {d for d, _ in deps} for m, deps in EDGES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _package_of(mod: str) -> str:
    """The sub-package a module belongs to (``daskfractal`` for top-level modules)."""
    _, is_pkg = MODULES[mod]
    parts = mod.split(".")
    return ".".join(parts if is_pkg else parts[:-1])


def test_the_walk_sees_the_package() -> None:
    # guards the tests below against passing on an empty or misread graph
    assert {"daskfractal", "daskfractal.kernels.emit", "daskfractal.store"} <= set(MODULES)
    assert ("daskfractal.kernels.rng", None) in EDGES["daskfractal.kernels.emit"] or any(
        d == "daskfractal.kernels.rng" for d, _ in EDGES["daskfractal.kernels.emit"]
    )


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_cycle_finder_finds_cycles() -> None:
    saved = {m: set(d) for m, d in EDGES.items()}
    try:
        EDGES["daskfractal.kernels.rng"].add(("daskfractal.kernels.emit", None))
        assert any(
            {"daskfractal.kernels.emit", "daskfractal.kernels.rng"} <= set(c) for c in _cycles()
        )
    finally:
        EDGES.clear()
        EDGES.update(saved)


@pytest.mark.parametrize("low", ["daskfractal.kernels", "daskfractal.store"])
def test_lower_layers_import_nothing_above_them(low: str) -> None:
    # _names: constants only, a leaf (test_names_is_a_leaf)
    allowed = ("daskfractal.kernels", "daskfractal.errors", "daskfractal._checks")
    allowed += ("daskfractal._names",)
    if low == "daskfractal.store":
        allowed += ("daskfractal.store", "daskfractal._preflight", "daskfractal._version")
    bad = sorted(
        f"{m} imports {d}"
        for m, deps in EDGES.items()
        if m.startswith(low)
        for d, _ in deps
        if not d.startswith(allowed)
    )
    assert bad == []


def test_names_is_a_leaf() -> None:
    """The CLI's names and defaults import nothing of the package (any layer may use them)."""
    assert EDGES["daskfractal._names"] == set()


def test_cli_parser_loads_no_engine() -> None:
    """Building the command line (``daskfractal --help``) loads no engine: each command imports
    what it runs when it runs (the fixed cost of a small job, issue 13)."""
    import subprocess
    import sys

    code = (
        "import sys; from daskfractal.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'daskfractal', 'numba', 'zarr', 'pandas', 'dask', 'distributed', 'pyarrow'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(ast.literal_eval(out))  # a printed list of module names
    heavy = {"numba", "zarr", "pandas", "dask", "distributed", "pyarrow"}
    engines = {
        "daskfractal.expansion", "daskfractal.evaluation", "daskfractal.validation",
        "daskfractal.privacy", "daskfractal.negatives", "daskfractal.store",
        "daskfractal.reduction", "daskfractal.kernels",
    }  # fmt: skip
    assert loaded & (heavy | engines) == set()
    assert "daskfractal.cli.main" in loaded


def _private(name: str | None) -> bool:
    return name is not None and name.startswith("_") and not name.startswith("__")


def test_no_private_names_across_packages() -> None:
    # a sub-package's private modules (store._zarr, expansion._plan) are reached through its
    # __init__ from outside; the package root's private helpers (_checks, _dask, ...) are
    # shared by all
    bad = sorted(
        f"{m} imports {name or d} from {d}"
        for m, deps in EDGES.items()
        for d, name in deps
        if _package_of(d) != _package_of(m)
        and (_private(name) or (_package_of(d) != "daskfractal" and _private(d.split(".")[-1])))
    )
    assert bad == []


def _in_cli(mod: str) -> bool:
    return mod == "daskfractal.cli" or mod.startswith("daskfractal.cli.")


def test_only_the_command_line_imports_the_command_line() -> None:
    # cli/ sits on top: it imports the library, the library never imports it (the console
    # script is its only caller)
    assert any(_in_cli(m) for m in MODULES)
    bad = sorted(
        f"{m} imports {d}"
        for m, deps in EDGES.items()
        if not _in_cli(m)
        for d, _ in deps
        if _in_cli(d)
    )
    assert bad == []


def test_the_library_parses_no_command_line() -> None:
    # argument parsing (option groups, sub-commands) is the CLI's job, not a library package's
    bad = sorted(
        mod
        for mod, (path, _) in MODULES.items()
        if not _in_cli(mod)
        for node in _runtime_imports(ast.parse(path.read_text(), str(path)))
        if any(
            name == "argparse"
            for name in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
        )
    )
    assert bad == []


def test_only_the_root_and_the_command_line_import_the_privacy_audit() -> None:
    # privacy/ attacks what the rest of the package writes: it sits on top, beside cli/
    def inside(mod: str) -> bool:
        return mod == "daskfractal.privacy" or mod.startswith("daskfractal.privacy.")

    assert any(inside(m) for m in MODULES)
    bad = sorted(
        f"{m} imports {d}"
        for m, deps in EDGES.items()
        if not inside(m) and not _in_cli(m) and m != "daskfractal"
        for d, _ in deps
        if inside(d)
    )
    assert bad == []


def test_every_public_name_exists() -> None:
    """Every name a module's ``__all__`` lists is defined (``from m import *`` works)."""
    import importlib
    import warnings

    missing = []
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        with warnings.catch_warnings():  # deprecated shims warn on import
            warnings.simplefilter("ignore", DeprecationWarning)
            mod = importlib.import_module(".".join(parts))
        missing += [
            f"{mod.__name__}.{n}" for n in getattr(mod, "__all__", ()) if not hasattr(mod, n)
        ]
    assert not missing, missing
