"""Parameter checks shared by every entry point: one integer rule, one seed rule, one index dtype.

Every public function and every CLI command validates its arguments with these helpers, so the
same bad value gets the same :class:`~daskfractal.errors.ParameterError` message everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np

from .errors import ParameterError

__all__ = ["INT32_LIMIT", "SEED_LIMIT", "as_choice", "as_int", "as_seed", "index_dtype"]

#: Ids below this fit an int32 index array.
INT32_LIMIT = 2**31
#: Seeds live in ``[0, SEED_LIMIT)``: every random stream is keyed by a uint64.
SEED_LIMIT = 2**64

T = TypeVar("T")


def as_int(
    value: Any,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """``value`` as a Python int in ``[low, high)``, else :class:`ParameterError`.

    Integral floats (``1e6``) are accepted, booleans and fractions are not.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str
        The parameter name used in the message (``"--factors"`` from the CLI, ``"factors"`` from
        the API).
    low, high : int, optional
        Inclusive lower and exclusive upper bound.

    Returns
    -------
    int

    Examples
    --------
    >>> as_int(3, "k", low=1)
    3
    >>> as_int(1e3, "n")
    1000
    >>> as_int(0, "k", low=1)
    Traceback (most recent call last):
    ...
    daskfractal.errors.ParameterError: k must be an integer >= 1, got 0
    """
    number: int | None
    try:
        if isinstance(value, bool | np.bool_) or isinstance(value, str | bytes):
            number = None
        else:
            number = int(value)
            if number != value:
                number = None
    except (TypeError, ValueError, OverflowError):
        number = None
    if (
        number is None
        or (low is not None and number < low)
        or (high is not None and number >= high)
    ):
        raise ParameterError(f"{name} must be {_describe(low, high)}, got {value!r}")
    return number


def _describe(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an integer in [{low}, {_power(high)})"
    if low is not None:
        return f"an integer >= {low}"
    if high is not None:
        return f"an integer < {_power(high)}"
    return "an integer"


def _power(x: int) -> str:
    """``2**64`` rather than 18446744073709551616 in messages."""
    if x > 1024 and x & (x - 1) == 0:
        return f"2**{x.bit_length() - 1}"
    return str(x)


def as_seed(seed: Any, name: str = "seed") -> int:
    """The one seed rule of daskfractal: an integer in ``[0, 2**64)``.

    Larger or negative seeds are refused rather than wrapped, since a wrapped seed would
    silently alias another one.

    Examples
    --------
    >>> as_seed(7)
    7
    >>> as_seed(-1)
    Traceback (most recent call last):
    ...
    daskfractal.errors.ParameterError: seed must be an integer in [0, 2**64), got -1
    """
    return as_int(seed, name, low=0, high=SEED_LIMIT)


def as_choice(value: Any, name: str, choices: Iterable[T]) -> T:
    """``value`` if it is one of ``choices``, else :class:`ParameterError` listing them.

    Examples
    --------
    >>> as_choice("zarr", "format", ("zarr", "parquet"))
    'zarr'
    >>> as_choice("csv", "format", ("zarr", "parquet"))
    Traceback (most recent call last):
    ...
    daskfractal.errors.ParameterError: format must be one of 'zarr', 'parquet', got 'csv'
    """
    options = tuple(choices)
    for option in options:
        if isinstance(value, type(option)) and value == option:
            return option
    listed = ", ".join(repr(o) for o in options)
    raise ParameterError(f"{name} must be one of {listed}, got {value!r}")


def index_dtype(n: int) -> np.dtype:
    """The index dtype for ids in ``[0, n)``: int32 when they fit, else int64.

    Examples
    --------
    >>> index_dtype(10), index_dtype(2**31)
    (dtype('int32'), dtype('int64'))
    """
    return np.dtype(np.int32 if n < INT32_LIMIT else np.int64)
