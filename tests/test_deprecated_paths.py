"""Module paths that moved keep working for a while, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest

import daskfractal as dfr
from daskfractal import expansion


@pytest.mark.parametrize(
    ("old", "names", "new"),
    [
        ("daskfractal.write", ["write_store"], dfr),
        (
            "daskfractal.multilevel",
            ["level_seed", "check_inner_factors", "rebuild_input"],
            expansion,
        ),
    ],
)
def test_old_module_paths_warn_and_still_work(old: str, names: list[str], new: object) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=old.replace(".", r"\.")):
        mod = importlib.import_module(old)
    for name in names:
        assert getattr(mod, name) is getattr(new, name)
