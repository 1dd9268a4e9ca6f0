"""The one Numba decorator every kernel uses.

``ngjit`` compiles in nopython mode, releases the GIL (so Dask threads run kernels in
parallel) and caches the machine code on disk (so workers do not recompile).
"""

from __future__ import annotations

import numba

ngjit = numba.njit(nogil=True, cache=True)

__all__ = ["ngjit"]
