"""Do the algorithms rank the same on the original data set and on its expansion?

Statistics of the comparison, over per-user metric values (from
:mod:`daskfractal.evaluation.metrics`) arranged as a ``(n_users, n_algos)`` float64 array per
side: every algorithm is evaluated on the same users of a side (*paired*), while the two sides
have different users.

* :func:`mean_interval`: each algorithm's mean and its percentile-bootstrap interval;
* :func:`rank_correlations` / :func:`correlation_intervals`: Kendall τ-b and Spearman ρ
  between the two sides' per-algorithm means, with bootstrap intervals;
* :func:`significant_pairs` / :func:`pairwise_agreement`: which pairs of algorithms the
  original data set orders with confidence, and whether the expansion orders them the same
  way (the headline number, ``significant_agreement``);
* :func:`popularity_ratios`: each algorithm's metric relative to the popularity baseline.

Randomness: every resample comes from
``np.random.default_rng(np.random.SeedSequence([seed, stream]))`` with one fixed stream id per
purpose (:data:`STREAM_MEANS`, :data:`STREAM_ORIGINAL`, :data:`STREAM_EXPANSION`), so the same
seed gives the same numbers, and the resamples of different purposes are independent.
Resampling draws users with replacement, the same users for every algorithm of a side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._checks import as_int, as_seed
from ..errors import InputDataError, ParameterError

__all__ = [
    "STREAM_EXPANSION",
    "STREAM_MEANS",
    "STREAM_ORIGINAL",
    "bootstrap_means",
    "correlation_intervals",
    "mean_interval",
    "pairwise_agreement",
    "popularity_ratios",
    "rank_correlations",
    "significant_pairs",
]

# --- stream ids: one per independent use of randomness --------------------------------
#: Resample of :func:`mean_interval` and :func:`significant_pairs` (the same replicates, so
#: the intervals of the means and of their differences come from the same resamples).
STREAM_MEANS = 1
#: Resample of the original side in :func:`correlation_intervals`.
STREAM_ORIGINAL = 2
#: Resample of the expansion side in :func:`correlation_intervals` (independent of the
#: original side's, since the two sides have different users).
STREAM_EXPANSION = 3

#: Bound on the (replicates × users) index and count arrays of one batch of resamples.
_BATCH_ELEMENTS = 1 << 22
_MAX_BATCH = 64


def _values(values: np.ndarray, name: str = "values") -> np.ndarray:
    """``values`` as a checked 2-D float64 array with at least one user and one algorithm."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise InputDataError(f"{name} must be 2-D (users, algorithms), got shape {v.shape}")
    if v.shape[0] == 0:
        raise InputDataError(f"{name} has no users: nothing to resample")
    if v.shape[1] == 0:
        raise InputDataError(f"{name} has no algorithms")
    if not np.isfinite(v).all():
        raise InputDataError(f"{name} holds NaN or infinite metric values")
    return v


def _alpha(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ParameterError(f"level must be in (0, 1), got {level}")
    return 1.0 - level


def bootstrap_means(
    values: np.ndarray, n_boot: int, seed: int, *, stream: int = STREAM_MEANS
) -> np.ndarray:
    """Means over users resampled with replacement, the same resample for every algorithm.

    Replicate ``b`` draws ``n_users`` users uniformly with replacement, counts how often each
    is drawn (``c``) and returns ``c @ values / n_users``. Replicates are drawn in batches of
    at most 64 with at most ``2**22`` (replicate, user) counts, so memory is bounded
    whatever ``n_boot``. Replicate ``b`` is the same (bit for bit) whatever ``n_boot > b``.

    Parameters
    ----------
    values : ndarray, shape (n_users, n_algos), float64
        Per-user metric values of each algorithm (paired: the same users in every column).
    n_boot : int
        Replicates, ``>= 1``.
    seed : int
        Seed in ``[0, 2**64)``.
    stream : int, default :data:`STREAM_MEANS`
        The purpose of the draws; the generator is
        ``default_rng(SeedSequence([seed, stream]))``.

    Returns
    -------
    ndarray, shape (n_boot, n_algos), float64
        Identical columns of ``values`` give identical columns.

    Raises
    ------
    InputDataError (a ValueError)
        When ``values`` has no users or algorithms, or holds NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    >>> boot = bootstrap_means(values, n_boot=200, seed=0)
    >>> boot.shape
    (200, 2)
    >>> bool((boot[:, 0] >= boot[:, 1]).all())  # paired: column 0 dominates user by user
    True
    """
    v = _values(values)
    n_boot = as_int(n_boot, "n_boot", low=1)
    rng = np.random.default_rng(np.random.SeedSequence([as_seed(seed), as_seed(stream, "stream")]))
    n, a = v.shape
    columns = np.ascontiguousarray(v.T)
    batch = max(1, min(_MAX_BATCH, _BATCH_ELEMENTS // n))
    out = np.empty((n_boot, a), dtype=np.float64)
    for start in range(0, n_boot, batch):
        m = min(batch, n_boot - start)
        idx = rng.integers(0, n, size=(m, n))
        idx += (np.arange(m, dtype=idx.dtype) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(np.float64)
        del idx
        # one dot product per (replicate, algorithm), never a matrix product whose rounding
        # depends on the shapes: a replicate's bits do not depend on n_boot or the batch, and
        # identical columns give identical bits
        for r in range(m):
            for j in range(a):
                out[start + r, j] = np.dot(counts[r], columns[j])
    out /= n
    return out


def mean_interval(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, np.ndarray]:
    """Each algorithm's mean with its percentile-bootstrap interval.

    Parameters
    ----------
    values : ndarray, shape (n_users, n_algos), float64
        Per-user metric values of each algorithm.
    n_boot : int, default 1000
        Replicates (:func:`bootstrap_means`, stream :data:`STREAM_MEANS`).
    seed : int, default 0
    level : float, default 0.95
        Coverage of the interval: the ``(1 − level)/2`` and ``(1 + level)/2`` quantiles of
        the replicate means (linear interpolation).

    Returns
    -------
    dict
        ``"mean"``, ``"lo"``, ``"hi"``: ndarray, shape (n_algos,), float64 (``.tolist()``
        for JSON).

    Examples
    --------
    >>> import numpy as np
    >>> values = np.random.default_rng(0).random((500, 2))
    >>> ci = mean_interval(values, n_boot=200)
    >>> bool(np.all((ci["lo"] <= ci["mean"]) & (ci["mean"] <= ci["hi"])))
    True
    """
    alpha = _alpha(level)
    v = _values(values)
    boot = bootstrap_means(v, n_boot, seed, stream=STREAM_MEANS)
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return {"mean": v.mean(axis=0), "lo": lo, "hi": hi}


def rank_correlations(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Kendall τ-b and Spearman ρ between two vectors of per-algorithm means.

    Computed with :func:`scipy.stats.kendalltau` (τ-b, which corrects for ties) and
    :func:`scipy.stats.spearmanr` (ties get their average rank).

    Parameters
    ----------
    a, b : ndarray, shape (n_algos,), float
        The same algorithms, in the same order, on the two sides.

    Returns
    -------
    tau, rho : float
        NaN when undefined: fewer than 2 algorithms, a constant side, or a NaN mean (no
        warning is emitted).

    Examples
    --------
    >>> tau, rho = rank_correlations([0.1, 0.2, 0.3], [0.5, 0.7, 0.6])
    >>> round(tau, 6), round(rho, 6)
    (0.333333, 0.5)
    >>> rank_correlations([0.1, 0.1, 0.1], [0.5, 0.7, 0.6])
    (nan, nan)
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InputDataError(f"a and b must have the same length, got {x.size} and {y.size}")
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.nan, math.nan
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    import scipy.stats  # here: importing it costs ~0.4 s, which `expand` need not pay

    tau = float(scipy.stats.kendalltau(x, y).statistic)
    rho = float(scipy.stats.spearmanr(x, y).statistic)
    return tau, rho


def _rank_correlations_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kendall τ-b and Spearman ρ of each row pair of ``x`` and ``y`` (shape (B, a)).

    The vectorized twin of :func:`rank_correlations` for bootstrap replicates: τ-b is
    ``Σ sign(Δx)·sign(Δy) / sqrt(#{Δx ≠ 0} · #{Δy ≠ 0})`` over the pairs ``i < j``, ρ the
    Pearson correlation of the average ranks. NaN where undefined.
    """
    n_rows, a = x.shape
    if a < 2:
        nan = np.full(n_rows, np.nan)
        return nan, nan.copy()
    i, j = np.triu_indices(a, 1)
    sx = np.sign(x[:, i] - x[:, j])
    sy = np.sign(y[:, i] - y[:, j])
    num = (sx * sy).sum(axis=1)
    den = np.sqrt(np.count_nonzero(sx, axis=1) * np.count_nonzero(sy, axis=1).astype(np.float64))
    import scipy.stats

    rx = scipy.stats.rankdata(x, axis=1)
    ry = scipy.stats.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    rden = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    rnum = (rx * ry).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(den > 0, num / den, np.nan)
        rho = np.where(rden > 0, rnum / rden, np.nan)
    return np.clip(tau, -1.0, 1.0), np.clip(rho, -1.0, 1.0)


def _interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    """Percentile interval of the finite samples; NaN when there is none."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def correlation_intervals(
    orig: np.ndarray,
    exp: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Rank correlations of the two sides' means, with percentile-bootstrap intervals.

    Each side is resampled independently (its own users; paired across algorithms within the
    side: stream :data:`STREAM_ORIGINAL` and :data:`STREAM_EXPANSION`), and τ and ρ are
    computed on every pair of replicates.

    Parameters
    ----------
    orig : ndarray, shape (u1, n_algos), float64
        Per-user metric values on the original data set.
    exp : ndarray, shape (u2, n_algos), float64
        The same algorithms, in the same column order, on the expansion.
    n_boot : int, default 1000
    seed : int, default 0
    level : float, default 0.95

    Returns
    -------
    dict
        ``{"kendall_tau": {"value", "lo", "hi"}, "spearman_rho": {...}}``, Python floats.
        ``value`` is computed on the full means (:func:`rank_correlations`); ``lo``/``hi``
        are percentiles over the replicates where the correlation is defined (NaN when it is
        defined in none, e.g. fewer than 2 algorithms).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> orig = rng.random((300, 3)) + [0.0, 0.2, 0.4]
    >>> exp = rng.random((400, 3)) + [0.0, 0.3, 0.6]
    >>> out = correlation_intervals(orig, exp, n_boot=200)
    >>> out["kendall_tau"]["value"], out["spearman_rho"]["value"]
    (1.0, 1.0)
    """
    alpha = _alpha(level)
    o = _values(orig, "orig")
    e = _values(exp, "exp")
    if o.shape[1] != e.shape[1]:
        raise InputDataError(
            f"orig has {o.shape[1]} algorithms and exp {e.shape[1]}: they must be the same"
        )
    tau, rho = rank_correlations(o.mean(axis=0), e.mean(axis=0))
    bo = bootstrap_means(o, n_boot, seed, stream=STREAM_ORIGINAL)
    be = bootstrap_means(e, n_boot, seed, stream=STREAM_EXPANSION)
    taus, rhos = _rank_correlations_rows(bo, be)
    out: dict[str, dict[str, float]] = {}
    for name, value, samples in (("kendall_tau", tau, taus), ("spearman_rho", rho, rhos)):
        lo, hi = _interval(samples, alpha)
        out[name] = {"value": value, "lo": lo, "hi": hi}
    return out


def _pair_signs(boot: np.ndarray, alpha: float) -> np.ndarray:
    """(a, a) int8: ±1 where the interval of ``boot_i − boot_j`` excludes 0."""
    a = boot.shape[1]
    out = np.zeros((a, a), dtype=np.int8)
    if a < 2:
        return out
    i, j = np.triu_indices(a, 1)
    d = boot[:, i] - boot[:, j]
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2], axis=0)
    sign = np.where(lo > 0, 1, np.where(hi < 0, -1, 0)).astype(np.int8)
    out[i, j] = sign
    out[j, i] = -sign
    return out


def significant_pairs(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> np.ndarray:
    """Which algorithm beats which, with confidence (paired bootstrap over users).

    The pair ``(i, j)`` is significant when the percentile-bootstrap interval of
    ``mean(v_i − v_j)`` lies strictly above 0 (``+1``: ``i`` better) or strictly below 0
    (``−1``: ``i`` worse). The replicates are those of :func:`mean_interval` (stream
    :data:`STREAM_MEANS`); the difference of two replicate means is the replicate mean of the
    difference, so the test is paired.

    Parameters
    ----------
    values : ndarray, shape (n_users, n_algos), float64
        Per-user metric values of each algorithm.
    n_boot : int, default 1000
    seed : int, default 0
    level : float, default 0.95

    Returns
    -------
    ndarray, shape (n_algos, n_algos), int8
        In ``{-1, 0, 1}``, antisymmetric, 0 on the diagonal. Identical columns give 0.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.random.default_rng(0).random(1000)
    >>> significant_pairs(np.column_stack([a, a + 0.1, a]), n_boot=200)
    array([[ 0, -1,  0],
           [ 1,  0,  1],
           [ 0, -1,  0]], dtype=int8)
    """
    alpha = _alpha(level)
    boot = bootstrap_means(_values(values), n_boot, seed, stream=STREAM_MEANS)
    return _pair_signs(boot, alpha)


def _order(means: np.ndarray) -> np.ndarray:
    """(a, a) int8 ``sign(mean_i − mean_j)``."""
    return np.sign(means[:, None] - means[None, :]).astype(np.int8)


def pairwise_agreement(
    orig: np.ndarray,
    exp: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Do the two sides order the pairs of algorithms the same way?

    Parameters
    ----------
    orig : ndarray, shape (u1, n_algos), float64
        Per-user metric values on the original data set.
    exp : ndarray, shape (u2, n_algos), float64
        The same algorithms, in the same column order, on the expansion.
    n_boot, seed, level
        Of :func:`significant_pairs`, run on each side.

    Returns
    -------
    dict
        Matrices are ndarrays of shape (n_algos, n_algos); counts are over the
        ``n_algos (n_algos − 1) / 2`` unordered pairs ``i < j``. Everything is JSON-friendly
        after ``.tolist()`` on the arrays (counts are Python ints, ratios Python floats, NaN
        included):

        * ``"order_original"``, ``"order_expansion"``: int8 ``sign(mean_i − mean_j)``;
        * ``"agree"``: bool, the same strict order on both sides (a tie agrees only with a
          tie; True on the diagonal);
        * ``"significant"``: int8, :func:`significant_pairs` of the original;
        * ``"significant_expansion"``: int8, :func:`significant_pairs` of the expansion;
        * ``"significant_both"``: bool, significant on both sides with the same sign;
        * ``"n_pairs"``, ``"n_agree"``, ``"n_significant"`` (on the original),
          ``"n_significant_agree"`` (significant on the original, and the expansion orders
          the pair in the significant direction), ``"n_significant_both"``: int;
        * ``"significant_agreement"``: ``n_significant_agree / n_significant`` (NaN when no
          pair is significant), the headline number;
        * ``"all_agreement"``: ``n_agree / n_pairs`` (NaN with fewer than 2 algorithms).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> orig = rng.random((1000, 3)) * 0.2 + [0.0, 0.3, 0.6]
    >>> exp = rng.random((1000, 3)) * 0.2 + [0.0, 0.7, 0.5]  # algorithms 1 and 2 swap
    >>> out = pairwise_agreement(orig, exp, n_boot=200)
    >>> out["n_pairs"], out["n_agree"], out["n_significant"], out["n_significant_agree"]
    (3, 2, 3, 2)
    >>> round(out["significant_agreement"], 3)
    0.667
    """
    alpha = _alpha(level)
    o = _values(orig, "orig")
    e = _values(exp, "exp")
    a = o.shape[1]
    if e.shape[1] != a:
        raise InputDataError(f"orig has {a} algorithms and exp {e.shape[1]}: they must be the same")
    order_o = _order(o.mean(axis=0))
    order_e = _order(e.mean(axis=0))
    agree = order_o == order_e
    sig_o = _pair_signs(bootstrap_means(o, n_boot, seed, stream=STREAM_MEANS), alpha)
    sig_e = _pair_signs(bootstrap_means(e, n_boot, seed, stream=STREAM_MEANS), alpha)
    both = (sig_o != 0) & (sig_o == sig_e)
    upper = np.triu(np.ones((a, a), dtype=bool), 1)
    n_pairs = a * (a - 1) // 2
    n_agree = int(np.count_nonzero(agree & upper))
    n_sig = int(np.count_nonzero((sig_o != 0) & upper))
    n_sig_agree = int(np.count_nonzero((sig_o != 0) & (sig_o == order_e) & upper))
    return {
        "order_original": order_o,
        "order_expansion": order_e,
        "agree": agree,
        "significant": sig_o,
        "significant_expansion": sig_e,
        "significant_both": both,
        "n_pairs": n_pairs,
        "n_agree": n_agree,
        "n_significant": n_sig,
        "n_significant_agree": n_sig_agree,
        "n_significant_both": int(np.count_nonzero(both & upper)),
        "significant_agreement": n_sig_agree / n_sig if n_sig else math.nan,
        "all_agreement": n_agree / n_pairs if n_pairs else math.nan,
    }


def popularity_ratios(means: Mapping[str, float], baseline: str = "popularity") -> dict[str, float]:
    """Each algorithm's metric divided by the baseline's.

    Parameters
    ----------
    means : mapping of str to float
        Algorithm name → mean metric value.
    baseline : str, default "popularity"
        The name of the baseline algorithm in ``means``.

    Returns
    -------
    dict of str to float
        The same keys (the baseline's ratio is 1); every ratio is NaN when the baseline is
        absent, 0 or not finite.

    Examples
    --------
    >>> popularity_ratios({"popularity": 0.2, "als": 0.5})
    {'popularity': 1.0, 'als': 2.5}
    >>> popularity_ratios({"als": 0.5})
    {'als': nan}
    """
    base = float(means.get(baseline, math.nan))
    if not math.isfinite(base) or base == 0:
        return {name: math.nan for name in means}
    return {name: float(value) / base for name, value in means.items()}
