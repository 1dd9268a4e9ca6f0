"""Small statistics of the report (pure NumPy; public so that users and tests can reuse them).

Degree-distribution distances and shapes (KS distance, Gini, log-log slopes), the Proposition-1
Minkowski product, the Theorem-1 spectrum prediction and the rank-1 energy share of the block
Gram matrix, plus the summaries and ranked curves that report.json stores.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, TypeAlias

import numpy as np

from ..errors import ParameterError

__all__ = [
    "CURVE_POINTS",
    "FIDELITY_GOAL",
    "HEAD_SHARE",
    "gini",
    "ks_distance",
    "ks_scaled_degrees",
    "loglog_slopes",
    "minkowski_product",
    "normalized_log_degrees",
    "rank1_energy_share",
    "theorem1_prediction",
]

#: Share of the ranked curve that is the "head" of the log-log slope fits.
HEAD_SHARE = 0.1
#: The fidelity goal an expansion is flagged against (``validate``): KS distance of
#: ``log(d / mean d)`` between R_train and the expansion's train part, users and items; the top
#: singular value against Theorem 1; the Kronecker rank-1 share of the block energy (the
#: blocks stay hidden).
FIDELITY_GOAL = {
    "ks_users": 0.10,
    "ks_items": 0.10,
    "top_sigma_deviation": 0.05,
    "rank1_energy_share": 0.30,
}
#: Points kept per ranked curve in report.json (log-spaced ranks).
CURVE_POINTS = 400


def normalized_log_degrees(degrees: np.ndarray, how: str = "standard") -> np.ndarray:
    """Log of the non-zero degrees, centered (and scaled to unit variance).

    Parameters
    ----------
    degrees : array_like
        Degrees (or any non-negative sums); zeros are dropped.
    how : {"standard", "center", "mean"}
        ``standard``: ``(x − mean) / std`` of ``x = log d`` (shape only: invariant to a
        multiplicative scale of the degrees and to a power of them); ``center``: ``x − mean``
        (invariant to a multiplicative scale only). A constant ``x`` is only centered.
        ``mean``: ``log(d / mean d)`` (invariant to a multiplicative scale; the fidelity
        goal's measure, :data:`FIDELITY_GOAL`).

    Returns
    -------
    ndarray of float64
    """
    d = np.asarray(degrees, dtype=np.float64).ravel()
    d = d[d > 0]
    if how == "mean":
        # divide before the log: equal degrees give equal values whatever log's rounding
        return np.log(d / d.mean()) if d.size else d
    x = np.log(d)
    if x.size == 0:
        return x
    x = x - x.mean()
    if how == "standard":
        sd = x.std()
        if sd > 0:
            x = x / sd
    elif how != "center":
        raise ParameterError(f"how={how!r} must be 'standard', 'center' or 'mean'")
    return x


def ks_scaled_degrees(a: np.ndarray, b: np.ndarray) -> float:
    """KS distance between the distributions of ``d / mean d`` (equivalently of
    ``log(d / mean d)``) over the non-zero degrees of two samples, exact for integer degrees.

    Degrees are discrete: an expansion whose degrees are exactly ``c`` times the input's has
    distance 0, but in floating point ``log(c·d / mean(c·d))`` and ``log(d / mean d)`` may
    differ in the last bit, and the distance would then count a whole atom's mass. Integer
    samples are therefore compared by exact rationals ``d · N / S`` (``S`` the sum, ``N`` the
    count) over their distinct values; other samples fall back to
    :func:`normalized_log_degrees` with ``how="mean"``.

    Examples
    --------
    >>> d = np.array([4, 4, 5, 9, 40])
    >>> ks_scaled_degrees(d, 5 * np.repeat(d, 16))
    0.0
    >>> ks_scaled_degrees(d, d + 1) > 0
    True
    """
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    integer = all(
        np.issubdtype(x.dtype, np.integer)
        or (x.size > 0 and np.all(np.isfinite(x)) and np.all(x == np.round(x)))
        for x in (a, b)
    )
    if not integer:
        return ks_distance(normalized_log_degrees(a, "mean"), normalized_log_degrees(b, "mean"))
    cdf: list[dict[Fraction, float]] = []
    for x in (a, b):
        x = x[x > 0].astype(np.int64)
        if x.size == 0:
            return math.nan
        values, counts = np.unique(x, return_counts=True)
        total, n = int(x.sum()), int(x.size)
        cdf.append(
            dict(
                zip(
                    (Fraction(int(v) * n, total) for v in values),
                    np.cumsum(counts) / n,
                    strict=True,
                )
            )
        )
    keys = sorted(set(cdf[0]) | set(cdf[1]))
    fa = fb = 0.0
    worst = 0.0
    for k in keys:
        fa = cdf[0].get(k, fa)
        fb = cdf[1].get(k, fb)
        worst = max(worst, abs(fa - fb))
    return float(worst)


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov distance ``sup_x |F_a(x) − F_b(x)|``.

    Exact for samples with ties (the supremum is taken over every sample point).

    Parameters
    ----------
    a, b : array_like
        Non-empty 1-D samples.

    Returns
    -------
    float
        In ``[0, 1]``; NaN when a sample is empty.
    """
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        return math.nan
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.abs(fa - fb).max())


def _ls_slope(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return math.nan
    xc = x - x.mean()
    den = float(xc @ xc)
    return math.nan if den == 0 else float(xc @ (y - y.mean())) / den


def loglog_slopes(values: np.ndarray, head: float = HEAD_SHARE) -> tuple[float, float]:
    """Least-squares slopes of the ranked curve ``log v_(r)`` against ``log r``.

    The non-zero values are sorted in decreasing order and given ranks ``r = 1, 2, ...``; the
    head is the first ``max(2, ceil(head · N))`` ranks, the tail the remaining ones.

    Parameters
    ----------
    values : array_like
        Degrees, sums or singular values; zeros are dropped.
    head : float, default 0.1
        Share of the ranks in the head.

    Returns
    -------
    head_slope, tail_slope : float
        NaN when a part has fewer than 2 points. A power law ``v ∝ r^−a`` has slope ``−a``.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = np.sort(v[v > 0])[::-1]
    n = v.size
    if n < 2:
        return math.nan, math.nan
    h = min(n, max(2, math.ceil(head * n)))
    lr = np.log(np.arange(1, n + 1, dtype=np.float64))
    lv = np.log(v)
    return _ls_slope(lr[:h], lv[:h]), _ls_slope(lr[h:], lv[h:])


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (zeros included: empty items count).

    ``G = Σ_i Σ_j |x_i − x_j| / (2 n² mean(x))``, computed as
    ``(2 Σ_i i·x_(i)) / (n Σ x) − (n + 1) / n`` on the ascending order statistics.

    Returns
    -------
    float
        0 for equal values, → 1 when one value holds everything; NaN for an empty or all-zero
        input.
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    s = float(x.sum())
    if n == 0 or s <= 0:
        return math.nan
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * (i @ x) / (n * s) - (n + 1) / n)


def minkowski_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``{x·y : x ∈ a, y ∈ b}`` as a flat array of ``len(a)·len(b)`` values (Proposition 1)."""
    return np.multiply.outer(np.asarray(a, np.float64), np.asarray(b, np.float64)).ravel()


def theorem1_prediction(
    sv_keep: np.ndarray, sv_r: np.ndarray, k: int, *, complete: bool = False
) -> tuple[np.ndarray, int]:
    """Top singular values of ``keep ⊗ R`` predicted by Theorem 1.

    ``S(A ⊗ B) = S(A) × S(B)``: the singular values of the Kronecker product are all products
    ``σ_i(A)·σ_j(B)``. When only the top ``K`` singular values of ``R`` are known, the unknown
    ones are ``≤ σ_K(R)``, so every product involving them is ``≤ σ_1(keep)·σ_K(R)``; the
    sorted known products ``≥`` that bound are exactly the top of the true list.

    Parameters
    ----------
    sv_keep : array_like
        Singular values of the keep-probability matrix ``R̂`` (all of them; numerically zero
        ones, ``≤ σ₁·len·eps``, are dropped).
    sv_r : array_like
        The top singular values of ``R``, descending.
    k : int
        How many to return (at most).
    complete : bool
        ``sv_r`` holds every non-zero singular value of ``R``: all products are valid.

    Returns
    -------
    prediction : ndarray of float64, shape (≤ k,)
        Descending.
    n_valid : int
        How many leading entries of ``prediction`` are guaranteed (all when ``complete``).
    """
    a = _nonzero_sv(sv_keep)
    b = np.sort(np.asarray(sv_r, np.float64).ravel())[::-1]
    if a.size == 0 or b.size == 0:
        return np.zeros(0), 0
    prod = np.sort(minkowski_product(a, b))[::-1]
    if complete:
        valid = prod.size
    else:
        bound = a[0] * b[-1]
        valid = int(np.count_nonzero(prod >= bound * (1 - 1e-12)))
    out = prod[:k]
    return out, min(valid, out.size)


def _nonzero_sv(values: Any) -> np.ndarray:
    """Descending singular values without the numerically zero ones (``≤ σ₁·n·eps``)."""
    v = np.sort(np.asarray(values, np.float64).ravel())[::-1]
    if v.size == 0 or v[0] <= 0:
        return v[:0]
    return v[v > v[0] * v.size * np.finfo(np.float64).eps]


def rank1_energy_share(gram: np.ndarray) -> float:
    """Share of the energy in the best rank-1 fit of the Van Loan–Pitsianis rearrangement.

    The rearrangement ``ℛ(X)`` of a block matrix has one row per block, the block vectorized;
    its best rank-1 approximation is the best Kronecker-product fit ``A ⊗ B`` of ``X``. With
    ``G = ℛ ℛᵀ`` (the Gram matrix of the blocks), the share is ``λ_max(G) / trace(G)``:
    1 for an exact Kronecker product, ``1 / #blocks`` for orthogonal blocks of equal energy.

    Parameters
    ----------
    gram : ndarray, shape (B, B)
        Symmetric positive semi-definite.

    Returns
    -------
    float
    """
    g = np.asarray(gram, dtype=np.float64)
    tr = float(np.trace(g))
    if tr <= 0:
        return math.nan
    return float(np.linalg.eigvalsh((g + g.T) / 2)[-1] / tr)


def _expected_shares(keep: np.ndarray, density: float) -> tuple[float, float]:
    """Expected rank-1 share under ``shuffle="none"`` and under full per-block shuffles.

    Every interaction of ``R`` is kept in block ``b`` with probability ``p_b``; per sampled
    interaction of ``R``, ``E[G] = p pᵀ + diag(p − p²)`` without shuffles (blocks overlap on the
    same positions), and ``E[G] ≈ diag(p) + ρ (p pᵀ − diag(p²))`` when every block is an
    independently row- and column-permuted copy (overlaps by chance only, ``ρ`` the density
    of ``R``).
    """
    p = np.asarray(keep, np.float64).ravel()
    if p.sum() <= 0:
        return math.nan, math.nan
    pp = np.outer(p, p)
    none = pp + np.diag(p - p * p)
    shuffled = np.diag(p) + density * (pp - np.diag(p * p))
    return rank1_energy_share(none), rank1_energy_share(shuffled)


def _spectrum_slope(values: Any) -> float | None:
    """Least-squares slope of ``log σ_i`` against ``log i`` over the positive values given."""
    if values is None:
        return None
    v = np.asarray(values, np.float64)
    v = v[v > 0]
    return _ls_slope(np.log(np.arange(1, v.size + 1)), np.log(v)) if v.size > 1 else None


def _ranked(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return np.sort(v[v > 0])[::-1]


#: a ranked curve as report.json stores it: ``{"rank": [...], "value": [...], "n": count}``
Curve: TypeAlias = dict[str, list[int] | list[float] | int]


def _curve(values: np.ndarray, points: int = CURVE_POINTS) -> Curve:
    """A ranked curve on log-spaced ranks: ``{"rank": [...], "value": [...]}`` (1-based)."""
    v = _ranked(values)
    if v.size == 0:
        return {"rank": [], "value": [], "n": 0}
    idx = np.unique(np.round(np.logspace(0, math.log10(v.size), points)).astype(np.int64)) - 1
    idx = np.unique(np.concatenate([idx, [v.size - 1]]))
    return {"rank": (idx + 1).tolist(), "value": v[idx].tolist(), "n": int(v.size)}


def _summary(values: np.ndarray, *, integer: bool = True) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64).ravel()
    pos = v[v > 0]
    head, tail = loglog_slopes(v)
    out: dict[str, Any] = {
        "count": int(v.size),
        "nonzero": int(pos.size),
        "empty_share": float(1 - pos.size / v.size) if v.size else math.nan,
        "sum": float(v.sum()),
        "min": float(v.min()) if v.size else math.nan,
        "median": float(np.median(v)) if v.size else math.nan,
        "mean": float(v.mean()) if v.size else math.nan,
        "max": float(v.max()) if v.size else math.nan,
        "gini": gini(v),
        "head_slope": head,
        "tail_slope": tail,
    }
    if integer:
        for key in ("sum", "min", "max"):
            if not math.isnan(out[key]):
                out[key] = int(out[key])
    return out
