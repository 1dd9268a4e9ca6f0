"""Sampling at the cost of what is kept: geometric skips for the Bernoulli dropout, and the
block sample (whole blocks kept or dropped).

**Geometric skips.** Under the Bernoulli dropout every candidate of block ``(i, j)`` is kept
independently with probability ``p = keep[i, j]``. Testing each candidate costs one hash per
candidate, kept or not: at ``p = 0.01``, 99 % of the work is thrown away. For ``p <
SKIP_MAX_P`` the kernels instead jump from one survivor to the next. In the source row
``[a, b)`` of block ``(i, j)``, the ``k``-th jump (``k = 0, 1, ...``) skips ``G_k`` dropped
candidates, ``G_k = floor(log(U_k) / log1p(-p))`` with ``U_k = ((h >> 11) + 1) · 2**-53`` in
``(0, 1]`` and ``h = hash64(seed, STREAM_DROP, i, j, a + k)`` (:func:`geometric_gap`); the
survivors are ``x_0 = a + G_0``, ``x_k = x_{k-1} + 1 + G_k``, while ``< b``. Since ``P(G >=
n) = P(U <= (1 - p)**n) = (1 - p)**n``, the survivors are independent Bernoulli(p) (up to
the 53-bit resolution of ``U``), for one hash and one logarithm per *kept* candidate. The
draws are numbered by the survivor, not by its position, so that they do not depend on each
other (the processor overlaps them); ``a + k <= x_k < b``, so a row's counters never reach
the next row's.

The jumps restart at the first position of every source row of every block (the unit a task
counts or generates: a task owns whole (row, block) pairs), so the survivors are a pure
function of ``(seed, i, j, a, b, p)``, whatever the chunking. The rule per block is fixed
by ``p`` alone (:func:`skip_log`): ``p <= 0`` keeps nothing, ``0 < p < SKIP_MAX_P`` skips,
``p >= SKIP_MAX_P`` tests every candidate (kept iff ``uniform(seed, STREAM_DROP, i, j, q) <
p``). The test of every candidate is vectorized in the count pass (a fraction of a
nanosecond per candidate), a skip costs about 20 ns per survivor (the logarithm), and both
passes must draw the same survivors: on this machine the skip pays below ``p`` ≈ 0.07 for
the two passes together (``SKIP_MAX_P = 1/16``).

**Block sample.** With a block sample rate ``B``, block ``(i, j)`` is kept whole iff
``uniform(seed, STREAM_BLOCK, i, j, 0) < B`` (:func:`block_sample_mask`); a dropped block
contributes nothing (its keep probability becomes 0).

The NumPy specification is :func:`daskfractal.kernels.reference.bernoulli_kept`.
"""

from __future__ import annotations

import numpy as np

from ._jit import IntLike, ngjit
from .rng import STREAM_BLOCK, TWO_M53, absorb, as_seed, uniform

#: keep probabilities below this use geometric skips, the others a test per candidate
SKIP_MAX_P = 0.0625
_S11 = np.uint64(11)


@ngjit
def skip_log(p: float) -> float:
    """``log(1 - p)`` when block keep probability ``p`` uses skips (``0 < p < SKIP_MAX_P``),
    else ``0.0`` (the direct test, or nothing kept when ``p <= 0``).

    Examples
    --------
    >>> skip_log(0.5), skip_log(0.0), round(skip_log(0.01), 6)
    (0.0, 0.0, -0.01005)
    """
    if p > 0.0 and p < SKIP_MAX_P:
        return np.log1p(-p)
    return 0.0


@ngjit
def geometric_gap(hp: np.uint64, c: IntLike, lq: float) -> float:
    """``log(U) / lq`` (its floor is the jump), ``U = ((absorb(hp, c) >> 11) + 1) · 2**-53``.

    ``hp`` is ``hash_prefix(seed, STREAM_DROP, i, j)``, ``c`` the counter of the draw (``a +
    k`` for the ``k``-th jump of the row starting at ``a``), ``lq = skip_log(p) < 0``:
    ``P(floor(gap) >= n) = (1 - p)**n``. A float, compared with the room left before it is
    converted (it is huge for tiny ``p``).

    Examples
    --------
    >>> from daskfractal.kernels.rng import hash_prefix, STREAM_DROP
    >>> hp = hash_prefix(1, STREAM_DROP, 0, 0)
    >>> b, x, k, kept = 1000, 0, 0, []
    >>> while (g := geometric_gap(hp, k, skip_log(0.01))) < b - x:
    ...     x += int(g)
    ...     kept.append(x)
    ...     x, k = x + 1, k + 1
    >>> len(kept)  # about 1 % of the 1000 candidates
    12
    """
    return np.log((np.float64(absorb(hp, c) >> _S11) + 1.0) * TWO_M53) / lq


@ngjit
def block_sample_kernel(mp: IntLike, npr: IntLike, rate: float, seed: IntLike) -> np.ndarray:
    """Bool ``(mp, npr)``: block ``(i, j)`` kept iff ``uniform(seed, STREAM_BLOCK, i, j, 0) <
    rate``."""
    out = np.empty((mp, npr), np.bool_)
    for i in range(mp):
        for j in range(npr):
            out[i, j] = uniform(seed, STREAM_BLOCK, i, j, 0) < rate
    return out


def block_sample_mask(shape: tuple[int, int], rate: float, seed: int) -> np.ndarray:
    """Which blocks ``(i, j)`` of an ``(m', n')`` expansion a block sample rate keeps.

    Parameters
    ----------
    shape : (int, int)
        The factors ``(m', n')``.
    rate : float
        Block sample rate in ``[0, 1]``: each block is kept whole with this probability,
        independently, from its own stream ``(seed, STREAM_BLOCK, i, j)``.
    seed : int
        The expansion's seed.

    Returns
    -------
    ndarray of bool, shape (m', n')

    Examples
    --------
    >>> mask = block_sample_mask((16, 64), 0.25, seed=0)
    >>> mask.shape, int(mask.sum())  # about a quarter of the 1024 blocks
    ((16, 64), 262)
    >>> bool(block_sample_mask((2, 2), 1.0, 0).all()), bool(block_sample_mask((2, 2), 0.0, 0).any())
    (True, False)
    """
    mp, npr = (int(x) for x in shape)
    if mp < 0 or npr < 0:
        raise ValueError(f"shape must be non-negative, got {shape}")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    return block_sample_kernel(mp, npr, rate, as_seed(seed))


__all__ = [
    "SKIP_MAX_P",
    "block_sample_kernel",
    "block_sample_mask",
    "geometric_gap",
    "skip_log",
]
