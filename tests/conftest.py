"""Shared fixtures: where the real data sets live, and small deterministic inputs.

Tests that need real data take it from ``../shared/data`` when present; every such test also
runs on an input that is always there (the embedded ml-latest-small, or seeded generated data
of the same kind from :mod:`daskfractal.testing`), so a fresh clone runs them too. The shared
variants are extra parametrizations that skip when the folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

import daskfractal as dfr
from daskfractal.testing import fat_tailed_interactions

# Real data sets (../shared/data relative to the project root); tests skip when absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

settings.register_profile("ci", max_examples=30, deadline=None)
settings.register_profile("slow", max_examples=500, deadline=None)
settings.register_profile("quick", max_examples=10, deadline=None)  # .ci/run min versions
settings.load_profile("ci")


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


#: MovieLens inputs (ratings and timestamps, leave-last-out): the embedded ml-latest-small
#: (610 x 9,724, always there) and ML-100K (943 x 1,682, ../shared/data, skips when absent).
MOVIELENS = [
    pytest.param("ml-latest-small", id="ml-small"),
    pytest.param("ml-100k", id="ml-100k"),
]


def movielens_source(name: str) -> str:
    """What :func:`daskfractal.load` (and the CLI) reads for a :data:`MOVIELENS` name."""
    if name == "ml-latest-small":
        return "default"
    return str(shared_file("ml-100k", "u.data"))


#: Inputs with a given split and many test interactions per user, no ratings or timestamps:
#: seeded generated data (12,000 x 8,000, fat-tailed, 20 % test; always there) and Gowalla
#: (29,858 x 40,981, ../shared/data, skips when absent).
GIVEN_SPLIT = [
    pytest.param("generated", id="generated"),
    pytest.param("gowalla", id="gowalla"),
]


def given_split_interactions(name: str) -> dfr.Interactions:
    """The raw interactions of a :data:`GIVEN_SPLIT` name."""
    if name == "generated":
        return fat_tailed_interactions(12_000, 8_000, 30, seed=1, test_share=0.2)
    return dfr.load(shared_file("gowalla", "train.txt").parent)
