"""Deprecated module path: use :mod:`daskfractal.expansion` (moved in 0.2)."""

from __future__ import annotations

import warnings

from .expansion import check_inner_factors, level_seed, rebuild_input

warnings.warn(
    "daskfractal.multilevel is deprecated: import level_seed, check_inner_factors and "
    "rebuild_input from daskfractal.expansion",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["check_inner_factors", "level_seed", "rebuild_input"]
