"""Deprecated module path: use :mod:`daskfractal.write_store` (moved in 0.2)."""

from __future__ import annotations

import warnings

from .expansion import write_store

warnings.warn(
    "daskfractal.write is deprecated: use daskfractal.write_store",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["write_store"]
