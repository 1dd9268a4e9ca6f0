"""Counter-based random numbers: every draw is a pure function of its coordinates.

``hash64(seed, stream, a, b, c)`` absorbs five 64-bit words one after the other with the
splitmix64 step ``h <- mix64(h + w * GAMMA)`` (``mix64`` is Stafford's "Mix13" finalizer,
the output function of splitmix64). For a fixed prefix, successive counters ``c, c+1, ...``
are exactly the splitmix64 sequence started at the prefix state, so neighbouring
coordinates are decorrelated; a change in an earlier word goes through several more full
avalanche rounds. There is no state: the value does not depend on chunking, threads or
call order.

All arithmetic is on ``uint64`` with explicit casts (Numba promotes ``uint64 op int64`` to
float64), and wraps modulo 2**64. Integer arguments may be any signed or unsigned 64-bit
value; negative values are taken modulo 2**64.

``hash_prefix`` / ``absorb`` let a kernel hash the first four words once and pay one mixing
round per element: ``hash64(s, k, a, b, c) == absorb(hash_prefix(s, k, a, b), c)``.

The vectorized NumPy twins live in :mod:`daskfractal.kernels.reference`.
"""

from __future__ import annotations

import numpy as np

from ._jit import IntLike, ngjit

# --- stream ids: one per independent use of randomness --------------------------------
STREAM_ROW_PERM = 1  #: row permutations pi_ij (coordinates: i, j, position)
STREAM_COL_PERM = 2  #: column permutations sigma_ij (coordinates: i, j, position)
STREAM_DROP = 3  #: Bernoulli dropout (coordinates: i, j, CSR position q; for keep < 1/4 the
#: position a geometric skip starts from, see :mod:`.sampling`)
STREAM_EXACT = 4  #: exact-count dropout keys and row split (coordinates: i, j, q)
STREAM_ONE = 5  #: "one test item per row" choice (coordinates: i, output slot t, 0)
STREAM_BALANCE = 6  #: balanced dropout's rounding (coordinates: i, j, source row r)
STREAM_TARGET = 7  #: targeted dropout's rounding and split (coordinates: i, output slot t, 0/1)
STREAM_BLOCK = 8  #: block sample: is block (i, j) kept whole (coordinates: i, j, 0)
STREAM_RESPONSE = 9  #: randomized response on R_train before expansion (coordinates: row r,
#: 0 for the keep test of present cell c / 1 for the skips over absent cells, c or k)
STREAM_JOINT = 10  #: joint dropout: block patterns, pattern choice, rank shift, test block
# 11..15 are reserved for further expansion streams.
STREAM_NEG_BASE = 16  #: first stream id for negative sampling; 16..31 are reserved for it

# --- constants (uint64, so Numba never mixes signed and unsigned) --------------------
INIT = np.uint64(0x243F6A8885A308D3)  # digits of pi: start state before the seed
GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64 increment (golden ratio)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
_S11 = np.uint64(11)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
TWO_M53 = 2.0**-53


@ngjit
def mix64(z: IntLike) -> np.uint64:
    """Splitmix64 finalizer (a bijection of uint64 with full avalanche)."""
    z = np.uint64(z)
    z = (z ^ (z >> _S30)) * M1
    z = (z ^ (z >> _S27)) * M2
    return z ^ (z >> _S31)


@ngjit
def absorb(h: IntLike, w: IntLike) -> np.uint64:
    """Mix one more word ``w`` into the state ``h``: ``mix64(h + w * GAMMA)``."""
    return mix64(np.uint64(h) + np.uint64(w) * GAMMA)


@ngjit
def hash_prefix(seed: IntLike, stream: IntLike, a: IntLike, b: IntLike) -> np.uint64:
    """State after absorbing ``seed, stream, a, b`` (uint64)."""
    h = absorb(INIT, seed)
    h = absorb(h, stream)
    h = absorb(h, a)
    return absorb(h, b)


@ngjit
def hash64(seed: IntLike, stream: IntLike, a: IntLike, b: IntLike, c: IntLike) -> np.uint64:
    """64-bit hash of five integer words (uint64)."""
    return absorb(hash_prefix(seed, stream, a, b), c)


@ngjit
def to_unit(h: IntLike) -> float:
    """Top 53 bits of a uint64 as a float64 in [0, 1): ``(h >> 11) * 2**-53`` (exact)."""
    return np.float64(np.uint64(h) >> _S11) * TWO_M53


@ngjit
def uniform(seed: IntLike, stream: IntLike, a: IntLike, b: IntLike, c: IntLike) -> float:
    """Float64 in [0, 1), a pure function of the five words."""
    return to_unit(hash64(seed, stream, a, b, c))


def as_seed(seed: object) -> np.uint64:
    """Normalize a user seed (any Python/NumPy integer) to uint64 modulo 2**64."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    return np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)


__all__ = [
    "GAMMA",
    "INIT",
    "M1",
    "M2",
    "STREAM_BALANCE",
    "STREAM_BLOCK",
    "STREAM_COL_PERM",
    "STREAM_DROP",
    "STREAM_EXACT",
    "STREAM_JOINT",
    "STREAM_NEG_BASE",
    "STREAM_ONE",
    "STREAM_RESPONSE",
    "STREAM_ROW_PERM",
    "STREAM_TARGET",
    "TWO_M53",
    "absorb",
    "as_seed",
    "hash64",
    "hash_prefix",
    "mix64",
    "to_unit",
    "uniform",
]
