"""Meta's size controls of one level: the block sample (whole blocks kept or dropped).

The element sample rate is R̂'s ``scale`` (every keep probability multiplied by it,
:func:`daskfractal.reduce`); the block sample rate drops whole blocks, each from its own
counter-based stream (:func:`daskfractal.kernels.block_sample_mask`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError
from ..kernels import block_sample_mask


def check_rate(rate: Any, name: str) -> float:
    """A sample rate in ``(0, 1]`` as a float (:class:`ParameterError` otherwise)."""
    if isinstance(rate, bool) or not isinstance(rate, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a real number in (0, 1], got {rate!r}")
    if not 0.0 < float(rate) <= 1.0:
        raise ParameterError(f"{name}={rate!r} must be in (0, 1]")
    return float(rate)


def block_sampled(keep: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """``keep`` with the blocks a block sample rate drops set to 0 (a copy when any is).

    Examples
    --------
    >>> import numpy as np
    >>> int((block_sampled(np.full((8, 8), 0.5), 0.25, seed=0) > 0).sum())
    12
    """
    rate = check_rate(rate, "block_sample_rate")
    if rate >= 1.0:
        return keep
    return np.where(block_sample_mask(keep.shape, rate, seed), keep, 0.0)


__all__ = ["block_sampled", "check_rate"]
