"""Shared fixtures: where the real data sets live, and small deterministic inputs.

Tests that need real data take it from ``../shared/data`` when present; every such test also
runs on an input that is always there (the embedded ml-latest-small, or seeded generated data
of the same kind from :mod:`daskfractal.testing`), so a fresh clone runs them too. The shared
variants are extra cases, defined only where the files exist (:func:`if_shared`): nothing
skips for want of data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from hypothesis import settings

import daskfractal as dfr
from daskfractal.testing import fat_tailed_interactions

# Real data sets (../shared/data relative to the project root): they add cases when present.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

settings.register_profile("ci", max_examples=30, deadline=None)
settings.register_profile("slow", max_examples=500, deadline=None)
settings.register_profile("quick", max_examples=10, deadline=None)  # .ci/run min versions
settings.load_profile("ci")

_MISSING = object()


@pytest.fixture(autouse=True)
def _dask_scheduler_restored() -> Iterator[None]:
    """Each test leaves Dask's default scheduler as it found it. A distributed ``Client``
    sets ``scheduler`` / ``shuffle`` while it is open and puts the old values back when it
    closes; two clients closed out of order (clusters of tests overlapping in time) put back
    the wrong ones, and later tests' ``compute()`` then asked for a distributed client that
    no longer exists (seen once in CI, in tests/test_store.py)."""
    before = {k: dask.config.config.get(k, _MISSING) for k in ("scheduler", "shuffle")}
    yield
    for key, value in before.items():
        if dask.config.config.get(key, _MISSING) != value:
            if value is _MISSING:
                dask.config.config.pop(key, None)
            else:
                dask.config.config[key] = value


def has_shared(*parts: str) -> bool:
    """Whether ``../shared/data/<parts>`` exists (the cases that read it are then defined)."""
    return SHARED_DATA.joinpath(*parts).exists()


def if_shared(cases: list, *parts: str) -> list:
    """``cases`` where ``../shared/data/<parts>`` exists, else none: extra parametrizations."""
    return list(cases) if has_shared(*parts) else []


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data; only called by cases :func:`if_shared` defined."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():  # a case defined without its file is a bug of the test module
        raise FileNotFoundError(f"{path} is absent: define the case with if_shared()")
    return path


#: MovieLens inputs (ratings and timestamps, leave-last-out): the embedded ml-latest-small
#: (610 x 9,724, always there) and ML-100K (943 x 1,682, ../shared/data, where present).
MOVIELENS = [
    pytest.param("ml-latest-small", id="ml-small"),
    *if_shared([pytest.param("ml-100k", id="ml-100k")], "ml-100k", "u.data"),
]


def movielens_source(name: str) -> str:
    """What :func:`daskfractal.load` (and the CLI) reads for a :data:`MOVIELENS` name."""
    if name == "ml-latest-small":
        return "default"
    return str(shared_file("ml-100k", "u.data"))


#: Inputs with a given split and many test interactions per user, no ratings or timestamps:
#: seeded generated data (12,000 x 8,000, fat-tailed, 20 % test; always there) and Gowalla
#: (29,858 x 40,981, ../shared/data, where present).
GIVEN_SPLIT = [
    pytest.param("generated", id="generated"),
    *if_shared([pytest.param("gowalla", id="gowalla")], "gowalla", "train.txt"),
]


def given_split_interactions(name: str) -> dfr.Interactions:
    """The raw interactions of a :data:`GIVEN_SPLIT` name."""
    if name == "generated":
        return fat_tailed_interactions(12_000, 8_000, 30, seed=1, test_share=0.2)
    return dfr.load(shared_file("gowalla", "train.txt").parent)
