"""Print a pip constraints file pinning every declared dependency to its lower bound.

    python3 .ci/min_versions.py [--extra test] > constraints.txt
    pip install -c constraints.txt -e ".[test]"
    pip freeze > installed.txt && python3 .ci/min_versions.py --extra test --check installed.txt

Every requirement of ``[project] dependencies`` (and of the optional extras named) must have a
``>=`` lower bound; it becomes ``name==bound``. Extras in brackets (``dask[array]``) are
dropped: constraints name distributions only. Used by the minimum-versions job of ``.ci/run``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def lower_bounds(requirements: list[str]) -> dict[str, str]:
    """``{name: lower bound}`` of requirements written ``name[extras]>=X[,<Y]``."""
    out: dict[str, str] = {}
    for req in requirements:
        m = _REQ.match(req.split(";")[0])
        if not m:
            raise SystemExit(f"cannot parse requirement {req!r}")
        name, _, spec = m.groups()
        low = [s.strip()[2:].strip() for s in spec.split(",") if s.strip().startswith(">=")]
        if len(low) != 1:
            raise SystemExit(f"requirement {req!r} has no single '>=' lower bound")
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in out and out[key] != low[0]:
            raise SystemExit(f"{name}: two lower bounds {out[key]} and {low[0]}")
        out[key] = low[0]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--extra", action="append", default=[], help="optional extra to include")
    p.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    p.add_argument(
        "--check",
        type=Path,
        metavar="FREEZE",
        help="instead: check that a `pip freeze` output has every bound installed exactly",
    )
    args = p.parse_args(argv)
    project = tomllib.loads(args.pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in args.extra:
        reqs += project["optional-dependencies"][extra]
    bounds = lower_bounds(reqs)
    if args.check:
        return check(bounds, args.check)
    for name, low in sorted(bounds.items()):
        print(f"{name}=={low}")
    return 0


def check(bounds: dict[str, str], freeze: Path) -> int:
    """0 when ``freeze`` (``name==version`` lines) holds every bound exactly, else 1."""
    from packaging.version import Version

    installed = {}
    for line in freeze.read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            installed[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    bad = [
        f"{name}: {installed.get(name, 'not installed')} installed, lower bound {low}"
        for name, low in sorted(bounds.items())
        if name not in installed or Version(installed[name]) != Version(low)
    ]
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
