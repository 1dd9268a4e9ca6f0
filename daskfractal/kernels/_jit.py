"""The Numba decorators every kernel uses.

``ngjit`` compiles in nopython mode, releases the GIL (so Dask threads run kernels in
parallel) and caches the machine code on disk (so workers do not recompile). ``inline_jit``
is the same, and is inlined into its callers at the Numba IR level.

Both are typed as returning the decorated function unchanged, so a type checker keeps the
kernel's annotations (Numba ignores them: the types it compiles for come from the call).

``IntLike`` is what an integer argument of a kernel may be: a Python ``int`` or a NumPy
integer scalar (seeds and stream ids are ``np.uint64``, sizes and counters ``int64``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar, cast

import numba
import numpy as np

_F = TypeVar("_F", bound=Callable[..., Any])

IntLike: TypeAlias = int | np.integer

_ngjit = numba.njit(nogil=True, cache=True)
_inline_jit = numba.njit(nogil=True, cache=True, inline="always")


def ngjit(fn: _F) -> _F:
    """Compile ``fn`` with ``numba.njit(nogil=True, cache=True)``."""
    # a Dispatcher is called exactly like the function it compiles
    return cast(_F, _ngjit(fn))


def inline_jit(fn: _F) -> _F:
    """Compile ``fn`` like :func:`ngjit`, inlined into its Numba callers."""
    # a Dispatcher is called exactly like the function it compiles
    return cast(_F, _inline_jit(fn))


__all__ = ["IntLike", "inline_jit", "ngjit"]
