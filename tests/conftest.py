"""Shared fixtures: where the real data sets live, and small deterministic inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Real data sets (../shared/data relative to the project root); tests skip when absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

settings.register_profile("ci", max_examples=30, deadline=None)
settings.register_profile("slow", max_examples=500, deadline=None)
settings.load_profile("ci")


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path
