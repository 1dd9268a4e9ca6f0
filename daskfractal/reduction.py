"""The reduced matrix R̂ of the randomized fractal expansion (Belletti et al., Algorithm 3).

The expanded data set is ``R̂ ⊗rand R``: block ``(i, j)`` of the output is ``R_train`` with each
interaction kept independently with probability ``R̂[i, j]``.  This module builds only the small
``m' × n'`` matrix of keep probabilities ``R̂``:

1. truncated SVD ``R_train ≈ U Σ V`` with ``k = min(m', n')`` singular values (descending);
2. shrink ``U`` (m × k) to ``m'`` rows and ``V`` (k × n) to ``n'`` columns with
   :func:`skimage.transform.resize` ("local averaging");
3. replace the resized ``Ū`` / ``V̄`` by the nearest column- / row-orthonormal matrices
   ``Ũ`` / ``Ṽ`` (polar factors), so that ``R̂_raw = Ũ Σ Ṽ`` has exactly the top-k singular
   values of ``R_train``;
4. rescale ``R̂_raw`` to ``[0, 1]`` (optionally clip, then multiply by a global ``scale``).

:func:`solve_factors` inverts the procedure: given a target number of expected output train
interactions, it picks the factors ``(m', n')`` and the ``scale`` that hit it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from skimage.transform import resize as _sk_resize

from ._checks import as_int, as_seed
from .errors import InputDataError, ParameterError

__all__ = [
    "CLIP_RULES",
    "RESCALE_MODES",
    "RESIZE_MODES",
    "Reduced",
    "candidate_factors",
    "clip_keep",
    "expected_interactions",
    "reduce",
    "solve_factors",
]

#: Keyword arguments of :func:`skimage.transform.resize` for each ``resize=`` option.
#:
#: ``clip=False`` everywhere: with it the resize is an exactly linear map of each column of
#: ``U`` (row of ``V``), which is what makes the singular-vector sign ambiguity cancel exactly
#: (see :func:`_build`).  When down-sampling, both modes produce convex combinations of
#: interior values, so scikit-image's default ``clip=True`` would be a no-op anyway.
RESIZE_MODES: Final[dict[str, dict[str, Any]]] = {
    # The paper's "down-scaling through local averaging": Gaussian pre-filter, then bilinear.
    "antialias": {
        "order": 1,
        "mode": "reflect",
        "anti_aliasing": True,
        "preserve_range": True,
        "clip": False,
    },
    # scikit-image 0.14 defaults (used for the published MovieLens 1B): plain bilinear sampling.
    "legacy": {
        "order": 1,
        "mode": "constant",
        "anti_aliasing": False,
        "preserve_range": True,
        "clip": False,
    },
}

#: Valid ``rescale=`` options.
RESCALE_MODES: Final[tuple[str, ...]] = ("abs-max", "minmax")

#: Valid ``clip_rule=`` options: how ``clip=(lo, hi)`` meets the rescaled R̂ ``r`` and ``scale``.
#:
#: * ``"all"``: ``scale · clip(r, lo, hi)``, every entry clipped (the default);
#: * ``"keep-max"``: ``scale · clip(r, lo, hi)`` except the largest entries (``r == 1`` after
#:   rescaling), which stay 1: the MLPerf reference drops out a block only when its keep
#:   probability is below 1, so the block of R̂'s maximum is kept whole;
#: * ``"after-scale"``: ``clip(scale · r, lo, hi)``, every entry: Meta's script multiplies by
#:   its element sample rate first and clips in the dropout.
CLIP_RULES: Final[tuple[str, ...]] = ("all", "keep-max", "after-scale")

# A resized Ū / V̄ whose singular values spread more than this is treated as rank deficient.
_RANK_RTOL: Final = 1e-10
# Largest matrix (m * n entries) the dense-SVD fallback will materialise (2 GiB of float64).
_DENSE_MAX_ENTRIES: Final = 2**28
# Below this size (entries) the dense SVD is preferred whenever k >= min(m, n) / 2.
_DENSE_SMALL_ENTRIES: Final = 2**25


# --------------------------------------------------------------------------------------------
# result type
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Reduced:
    """The reduced matrix R̂ and everything needed to reproduce and size the expansion.

    Attributes
    ----------
    keep : ndarray of float64, shape (m', n')
        Final keep probabilities in ``[0, 1]`` (after rescale, clip and scale): block ``(i, j)``
        of the expansion keeps each interaction of ``R_train`` with probability ``keep[i, j]``.
    raw : ndarray of float64, shape (m', n')
        ``R̂_raw = Ũ Σ Ṽ`` before rescaling; its singular values are ``singular_values``.
    singular_values : ndarray of float64, shape (k,)
        Top ``k = min(m', n')`` singular values of ``R_train``, descending.
    u : ndarray of float64, shape (m', k)
        ``Ũ``, column-orthonormal.
    v : ndarray of float64, shape (k, n')
        ``Ṽ``, row-orthonormal.
    factors : tuple of int
        ``(m', n')``.
    train_shape : tuple of int
        ``(m, n)``, the shape of ``R_train``.
    train_nnz : int
        Number of non-zeros of ``R_train``.
    params : dict
        Every option that produced this result (JSON-serializable).
    """

    keep: np.ndarray
    raw: np.ndarray
    singular_values: np.ndarray
    u: np.ndarray
    v: np.ndarray
    factors: tuple[int, int]
    train_shape: tuple[int, int]
    train_nnz: int
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("keep", "raw", "singular_values", "u", "v"):
            arr = np.array(getattr(self, name), dtype=np.float64)  # private copy
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def k(self) -> int:
        """Number of singular values kept, ``min(m', n')``."""
        return len(self.singular_values)

    def expected_interactions(
        self, train_nnz: int | None = None, test_nnz: int | None = None
    ) -> dict[str, float | int]:
        """Expected size of the expanded data set.

        Parameters
        ----------
        train_nnz : int, optional
            Interactions in ``R_train``; defaults to :attr:`train_nnz`.
        test_nnz : int, optional
            Interactions in ``R_test``; defaults to ``params["test_nnz"]`` (set by
            :func:`solve_factors`), else 0.

        Returns
        -------
        dict
            See :func:`expected_interactions`; includes ``users = m' * m`` and
            ``items = n' * n``.
        """
        return expected_interactions(
            self.keep,
            self.train_nnz if train_nnz is None else train_nnz,
            self.params.get("test_nnz", 0) if test_nnz is None else test_nnz,
            train_shape=self.train_shape,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form (nested lists of floats); inverse of :meth:`from_dict`."""
        return {
            "factors": list(self.factors),
            "train_shape": list(self.train_shape),
            "train_nnz": self.train_nnz,
            "singular_values": self.singular_values.tolist(),
            "keep": self.keep.tolist(),
            "raw": self.raw.tolist(),
            "u": self.u.tolist(),
            "v": self.v.tolist(),
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reduced:
        """Rebuild a :class:`Reduced` from :meth:`to_dict` output."""
        k = len(d["singular_values"])
        return cls(
            keep=np.asarray(d["keep"], dtype=np.float64),
            raw=np.asarray(d["raw"], dtype=np.float64),
            singular_values=np.asarray(d["singular_values"], dtype=np.float64),
            u=np.asarray(d["u"], dtype=np.float64).reshape(-1, k),
            v=np.asarray(d["v"], dtype=np.float64).reshape(k, -1),
            factors=(int(d["factors"][0]), int(d["factors"][1])),
            train_shape=(int(d["train_shape"][0]), int(d["train_shape"][1])),
            train_nnz=int(d["train_nnz"]),
            params=dict(d["params"]),
        )


def expected_interactions(
    keep: np.ndarray,
    train_nnz: int,
    test_nnz: int = 0,
    *,
    train_shape: tuple[int, int] | None = None,
) -> dict[str, float | int]:
    """Expected number of interactions of ``keep ⊗rand R``.

    Every block ``(i, j)`` keeps each interaction of ``R`` independently with probability
    ``keep[i, j]``, so the expected count is ``sum(keep) * nnz(R)`` (train and test alike, since
    the test expansion uses the same ``R̂_train``).

    Parameters
    ----------
    keep : array_like of float, shape (m', n')
        Keep probabilities in ``[0, 1]``.
    train_nnz, test_nnz : int
        Interactions in ``R_train`` and ``R_test`` (``>= 0``).
    train_shape : tuple of int, optional
        ``(m, n)``; when given the result also has ``users = m' * m`` and ``items = n' * n``.

    Returns
    -------
    dict
        ``train`` and ``test`` (float, expected interactions), ``keep_sum`` (float),
        ``blocks`` (int, ``m' * n'``) and, with ``train_shape``, ``users`` and ``items`` (int).
    """
    keep = np.asarray(keep, dtype=np.float64)
    if keep.ndim != 2 or keep.size == 0:
        raise ParameterError(f"keep must be a non-empty 2-D array, got shape {keep.shape}")
    if not np.all(np.isfinite(keep)) or keep.min() < 0.0 or keep.max() > 1.0:
        raise ParameterError("keep must hold probabilities in [0, 1]")
    train_nnz = _check_count("train_nnz", train_nnz)
    test_nnz = _check_count("test_nnz", test_nnz)
    keep_sum = float(keep.sum())
    out: dict[str, float | int] = {
        "train": keep_sum * train_nnz,
        "test": keep_sum * test_nnz,
        "keep_sum": keep_sum,
        "blocks": int(keep.size),
    }
    if train_shape is not None:
        m, n = (int(x) for x in train_shape)
        out["users"] = keep.shape[0] * m
        out["items"] = keep.shape[1] * n
    return out


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------


def reduce(
    train: Any,
    factors: Sequence[int],
    *,
    resize: str = "antialias",
    rescale: str = "abs-max",
    clip: Sequence[float] | None = None,
    scale: float = 1.0,
    seed: int = 0,
    svd: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    clip_rule: str = "all",
) -> Reduced:
    """Build the reduced matrix R̂ (Algorithm 3 of Belletti et al.).

    Parameters
    ----------
    train : scipy.sparse matrix or array, shape (m, n), or object with a ``.train`` attribute
        The binarized training interactions ``R_train`` (any sparse format; converted to
        CSR float64).
    factors : (int, int)
        ``(m', n')``, both ``>= 1``; ``k = min(m', n')`` must not exceed the numerical rank
        of ``R_train``. A factor above its axis (``m' > m`` or ``n' > n``, e.g. Meta's
        20 × 36,864 of MovieLens-20M's 26,744 items) stretches ``U`` / ``V`` by bilinear
        interpolation instead of shrinking them.
    resize : {"antialias", "legacy"}, default "antialias"
        How ``U`` / ``V`` are shrunk (see :data:`RESIZE_MODES`): ``"antialias"`` is the
        paper's local averaging (Gaussian pre-filter + bilinear, scikit-image >= 0.15
        behaviour); ``"legacy"`` is plain bilinear sampling as scikit-image 0.14 did, which
        produced the published MovieLens 1B sizes.
    rescale : {"abs-max", "minmax"}, default "abs-max"
        ``"abs-max"``: ``|R̂| / max|R̂|`` (as the MLPerf reference); ``"minmax"``:
        ``(R̂ - min) / (max - min)``.
    clip : (float, float), optional
        ``(lo, hi)`` with ``0 <= lo <= hi <= 1``, applied after rescaling.
    scale : float, default 1.0
        Global factor in ``(0, 1]`` applied last (size control), also called the element
        sample rate.
    seed : int, default 0
        Seeds the ARPACK start vector; same seed, same input -> identical bytes.
    svd : (U, s, Vt), optional
        A precomputed truncated SVD of ``R_train`` with at least ``k`` components:
        ``U`` (m, k0), ``s`` (k0,) descending, ``Vt`` (k0, n).  Only the first ``k`` are used
        (the top-k of a larger truncated SVD are the top-k).
    clip_rule : {"all", "keep-max", "after-scale"}, default "all"
        How ``clip`` applies (see :data:`CLIP_RULES`): ``"all"`` clips every rescaled entry,
        then multiplies by ``scale``; ``"keep-max"`` leaves the largest entries (exactly 1
        after rescaling) unclipped, as the MLPerf reference; ``"after-scale"`` clips
        ``scale · r``, as Meta's script. Without ``clip`` only ``"all"`` is accepted.

    Returns
    -------
    Reduced

    Raises
    ------
    ParameterError
        A bad option (``clip_rule`` other than ``"all"`` without ``clip``); factors larger
        than the data (``m' > m``), or larger than the rank of
        ``R_train`` allows; a resized ``Ū`` / ``V̄`` that is rank deficient (e.g. duplicate
        users averaged into identical rows); ``rescale="minmax"`` of a constant ``R̂``
        (e.g. factors ``(1, 1)``).
    InputDataError
        ``train`` is not sparse, not finite, or has no non-zeros.

    Notes
    -----
    ``k >= min(m, n) - 1`` is not computed with ARPACK (``svds``); a dense
    :func:`numpy.linalg.svd` is used then (and for matrices of at most ``2**25`` entries with
    ``k >= min(m, n) / 2``, where it is faster), up to ``2**28`` entries.

    ``k`` larger than the numerical rank of ``R_train`` (singular value
    ``<= σ_1 · max(m, n) · eps``, the :func:`numpy.linalg.matrix_rank` rule) is an error: the
    extra singular vectors would be arbitrary and ``R̂`` would not be determined by the data.
    """
    mat = _as_train(train)
    fac = _check_factors(factors)
    opts = _check_options(resize, rescale, clip, scale, seed, clip_rule)
    k = min(fac)
    _check_rank_bound(mat, k, fac)
    if svd is None:
        u, s, vt, method = _svd(mat, k, opts["seed"])
    else:
        u, s, vt = _check_svd(svd, mat.shape, k)
        method = "precomputed"
    _check_numerical_rank(s, k, mat.shape, fac)
    return _build(u, s, vt, fac, mat, dict(opts, svd=method))


def candidate_factors(
    shape: tuple[int, int], *, aspect: float = 2.0, max_factor: int | None = None
) -> list[tuple[int, int]]:
    """The deterministic sequence of factors :func:`solve_factors` tries, smallest first.

    ``m'`` runs through 1, 2, ..., 8 and then four steps per octave (8, 10, 12, 14, 16, 20, 24,
    28, 32, 40, ...), with ``n' = max(1, round_half_up(aspect * m'))``; the sequence stops at the
    limits ``m' <= min(m, max_factor)`` and ``n' <= min(n, max_factor)``, and always ends with
    the largest ``m'`` within them.

    Parameters
    ----------
    shape : (int, int)
        ``(m, n)`` of ``R_train``.
    aspect : float, default 2.0
        ``n' / m'`` (the paper uses 16 × 32).
    max_factor : int, optional
        Upper bound on both ``m'`` and ``n'``.

    Returns
    -------
    list of (int, int)
        Strictly increasing in ``m'`` and non-decreasing in ``n'``; may be empty.
    """
    aspect = _check_positive_real("aspect", aspect)
    m, n = (int(x) for x in shape)
    if max_factor is not None:
        top = as_int(max_factor, "max_factor", low=1)
        m, n = min(m, top), min(n, top)

    def n_of(mp: int) -> int:
        return max(1, math.floor(aspect * mp + 0.5))

    out: list[tuple[int, int]] = []
    mp = 1
    while mp <= m and n_of(mp) <= n:
        out.append((mp, n_of(mp)))
        mp += 1 if mp < 8 else 2 ** (mp.bit_length() - 3)
    # the largest admissible m' closes the sequence
    hi = min(m, math.ceil((n + 1) / aspect) + 1)
    while hi >= 1 and n_of(hi) > n:
        hi -= 1
    if hi >= 1 and (not out or out[-1][0] < hi):
        out.append((hi, n_of(hi)))
    return out


def solve_factors(
    train: Any,
    target_interactions: float,
    *,
    aspect: float = 2.0,
    max_factor: int | None = None,
    resize: str = "antialias",
    rescale: str = "abs-max",
    clip: Sequence[float] | None = None,
    seed: int = 0,
    test_nnz: int = 0,
    clip_rule: str = "all",
) -> Reduced:
    """Choose factors and scale so the expansion has ``target_interactions`` train interactions.

    Walks :func:`candidate_factors` from the smallest pair and returns the first whose expected
    train interactions at ``scale=1`` reach the target, with ``scale = target / expected``
    (``<= 1``), so that ``result.expected_interactions()["train"] == target_interactions`` up to
    rounding.  The SVD of ``R_train`` is computed once, with the ``k`` of the largest candidate
    that could be needed; pass ``max_factor`` to bound that cost on large data.

    Parameters
    ----------
    train : scipy.sparse matrix or array, or object with ``.train``
        As in :func:`reduce`.
    target_interactions : float
        Expected number of output train interactions, ``> 0``.
    aspect : float, default 2.0
        ``n' / m'`` of the candidates.
    max_factor : int, optional
        Bound on both ``m'`` and ``n'``; by default ``m' <= m`` and ``n' <= n`` only.
    resize, rescale, clip, seed
        As in :func:`reduce`.
    clip_rule : {"all", "keep-max"}, default "all"
        As in :func:`reduce`. ``"after-scale"`` is refused: the scale would then move the
        clipped entries too, and the count would no longer be linear in it (size such an
        expansion with ``factors`` and ``scale``, as Meta's script does).
    test_nnz : int, default 0
        Interactions in ``R_test``, recorded in ``params`` for reporting.

    Returns
    -------
    Reduced
        ``params`` adds ``target_interactions``, ``aspect``, ``max_factor``, ``test_nnz`` and
        ``candidate_index`` (position in :func:`candidate_factors`).

    Raises
    ------
    ParameterError
        Bad options, ``target_interactions <= 0``, or a target unreachable within the limits;
        also any data-dependent refusal of :func:`reduce` met on the way (rank-deficient
        ``Ū`` / ``V̄``), which is reported rather than skipped.
    """
    mat = _as_train(train)
    target = _check_positive_real("target_interactions", target_interactions)
    opts = _check_options(resize, rescale, clip, 1.0, seed, clip_rule)
    if opts["clip_rule"] == "after-scale":
        raise ParameterError(
            "clip_rule='after-scale' cannot go with target_interactions: the scale would move "
            "the clipped keep probabilities too; give factors and scale instead"
        )
    test_nnz = _check_count("test_nnz", test_nnz)
    nnz = mat.nnz
    cands = candidate_factors(mat.shape, aspect=aspect, max_factor=max_factor)
    rank_bound = _rank_bound(mat)
    cands = [c for c in cands if min(c) <= rank_bound]
    limits = f"m' <= {mat.shape[0]}, n' <= {mat.shape[1]}, max_factor={max_factor}, rank"
    if not cands:
        raise ParameterError(
            f"target_interactions={target!r}: no candidate factors within the limits ({limits})"
        )
    # sum(keep) <= m' n', so candidates with m' n' nnz < target cannot reach it: skip them.
    first = next((i for i, c in enumerate(cands) if c[0] * c[1] * nnz >= target), None)
    if first is None:
        m1, n1 = cands[-1]
        raise ParameterError(
            f"target_interactions={target:g} is unreachable: even keeping everything, the "
            f"largest candidate factors ({m1}, {n1}) give {m1 * n1 * nnz:g} interactions "
            f"({limits}); raise max_factor if set, or expand a larger matrix"
        )
    k_max = max(min(c) for c in cands[first:])
    u, s, vt, method = _svd(mat, k_max, opts["seed"])
    rank = _numerical_rank(s, mat.shape)
    base = dict(
        opts,
        svd=method,
        target_interactions=target,
        aspect=float(aspect),
        max_factor=None if max_factor is None else int(max_factor),
        test_nnz=test_nnz,
    )
    best = None
    for i in range(first, len(cands)):
        fac = cands[i]
        if min(fac) > rank:
            break
        red = _build(u, s, vt, fac, mat, dict(base, candidate_index=i))
        expected = float(red.keep.sum()) * nnz
        if expected >= target:
            scale = min(1.0, target / expected)
            return _build(u, s, vt, fac, mat, dict(base, scale=scale, candidate_index=i))
        best = (fac, expected)
    detail = f"; the largest usable candidate {best[0]} gives {best[1]:g}" if best else ""
    raise ParameterError(
        f"target_interactions={target:g} is unreachable within the limits ({limits}, "
        f"numerical rank {rank}){detail}; raise max_factor if set, or expand a larger matrix"
    )


# --------------------------------------------------------------------------------------------
# numerical core
# --------------------------------------------------------------------------------------------


def _svd(train: sp.csr_array, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Top-``k`` singular triplets of ``train``, descending, each σ with its own vectors.

    Parameters
    ----------
    train : scipy.sparse.csr_array of float64, shape (m, n)
    k : int
        ``1 <= k <= min(m, n)``.
    seed : int
        Seeds the ARPACK start vector ``v0`` (deterministic result).

    Returns
    -------
    u : ndarray of float64, shape (m, k)
        Orthonormal columns.
    s : ndarray of float64, shape (k,)
        Descending, ``train @ vt[i] == s[i] * u[:, i]``.
    vt : ndarray of float64, shape (k, n)
        Orthonormal rows.
    method : {"arpack", "dense"}
    """
    m, n = train.shape
    small = min(m, n)
    if not 1 <= k <= small:
        raise ParameterError(f"k={k} must be in [1, min(m, n)={small}]")
    dense = k >= small - 1 or (2 * k >= small and m * n <= _DENSE_SMALL_ENTRIES)
    if dense and m * n > _DENSE_MAX_ENTRIES and k < small:
        dense = False  # too big to densify; ARPACK still handles k <= min(m, n) - 1
    if dense:
        if m * n > _DENSE_MAX_ENTRIES:
            raise ParameterError(
                f"factors: k={k} singular values of a {m} x {n} matrix is too close to "
                f"min(m, n)={small} for a sparse SVD, and a dense SVD would need "
                f"{m * n * 8 / 2**30:.1f} GiB; use smaller factors"
            )
        u, s, vt = np.linalg.svd(train.toarray(), full_matrices=False)
        method = "dense"
    else:
        v0 = np.random.default_rng(seed).uniform(-1.0, 1.0, size=small)
        u, s, vt = svds(train, k=k, v0=v0, solver="arpack")
        method = "arpack"
    # Sort descending, permuting U's columns and V's rows with σ so that every triplet stays
    # paired (the MLPerf reference reverses σ alone, mismatching values and vectors).
    order = np.argsort(-s, kind="stable")[:k]
    u = np.ascontiguousarray(u[:, order])
    vt = np.ascontiguousarray(vt[order, :])
    return u, np.ascontiguousarray(s[order]), vt, method


def _resize(a: np.ndarray, shape: tuple[int, int], mode: str) -> np.ndarray:
    """Resize ``a`` to ``shape`` along its long axis (the ``k`` axis is unchanged): shrink,
    or stretch by bilinear interpolation when the factor exceeds the axis."""
    if a.shape == shape:
        return a.copy()
    if mode == "antialias" and a.shape[1] == shape[1] and a.shape[0] > shape[0]:
        return _antialias_rows(np.asarray(a, dtype=np.float64), shape[0])
    if mode == "antialias" and a.shape[0] == shape[0] and a.shape[1] > shape[1]:
        return _antialias_rows(np.asarray(a, dtype=np.float64).T, shape[1]).T.copy()
    return np.asarray(_sk_resize(a, shape, **RESIZE_MODES[mode]), dtype=np.float64)


def _antialias_rows(a: np.ndarray, rows: int) -> np.ndarray:
    """``skimage.transform.resize(a, (rows, k), **RESIZE_MODES["antialias"])``, fast.

    scikit-image Gaussian-filters the whole array (sigma = (factor - 1) / 2, which at
    ML-20M's 138,493 → 16 rows is a 35,000-tap kernel: ~40 s) and then samples it bilinearly
    at ``rows`` positions. Only the few filtered rows that the sampling reads are needed, so
    they are computed directly with the same kernel and boundary mode, and the same
    ``ndimage.zoom`` call does the sampling. Equal to scikit-image to rounding
    (tests/test_reduce.py checks 1e-12).
    """
    from scipy import ndimage as ndi

    n, _ = a.shape
    factor = n / rows
    sigma = max(0.0, (factor - 1) / 2)
    filtered = np.zeros_like(a)
    # input coordinates read by zoom(grid_mode=True): (o + 0.5) * factor - 0.5, +-1 neighbour
    x = (np.arange(rows) + 0.5) * factor - 0.5
    need = np.unique(np.clip(np.floor(x).astype(np.int64)[:, None] + np.arange(-1, 3), 0, n - 1))
    if sigma > 1e-15:
        radius = int(4.0 * sigma + 0.5)  # ndimage's truncate=4.0
        offsets = np.arange(-radius, radius + 1)
        weights = np.exp(-0.5 / (sigma * sigma) * offsets.astype(np.float64) ** 2)
        weights /= weights.sum()
        period = 2 * (n - 1)
        for row in need:
            idx = row + offsets
            if n > 1:  # ndimage 'mirror' (numpy 'reflect') boundary: d c b | a b c d | c b a
                idx = np.abs(idx) % period
                idx = np.where(idx > n - 1, period - idx, idx)
            else:
                idx = np.zeros_like(idx)
            filtered[row] = weights @ a[idx]
    else:
        filtered[need] = a[need]
    return ndi.zoom(filtered, (rows / n, 1.0), order=1, mode="mirror", grid_mode=True)


def _polar(a: np.ndarray, what: str, factors: tuple[int, int]) -> np.ndarray:
    """Nearest (Frobenius) matrix with orthonormal columns to ``a`` (p × k, p >= k).

    ``a = W S Zᵀ`` (thin SVD) gives ``a (aᵀa)^(-1/2) = W Zᵀ`` without forming the Gram matrix.
    """
    w, sv, zt = np.linalg.svd(a, full_matrices=False)
    if sv.size == 0 or not sv[-1] > _RANK_RTOL * sv[0]:
        cond = "inf" if sv.size == 0 or sv[-1] == 0 else f"{sv[0] / sv[-1]:.3g}"
        raise ParameterError(
            f"factors={factors}: the resized {what} is rank deficient (condition number "
            f"{cond}), so no orthonormal factor of it exists; the factors are too small or "
            f"too large for this data (try other factors, or resize='antialias')"
        )
    return w @ zt


def _build(
    u: np.ndarray,
    s: np.ndarray,
    vt: np.ndarray,
    factors: tuple[int, int],
    train: sp.csr_array,
    params: dict[str, Any],
) -> Reduced:
    """R̂ from a (possibly larger) truncated SVD ``(u, s, vt)`` of ``train``; no validation."""
    mp, np_ = factors
    k = min(factors)
    m, n = train.shape
    mode = params["resize"]
    u_bar = _resize(u[:, :k], (mp, k), mode)  # (m', k)
    v_bar = _resize(vt[:k, :], (k, np_), mode)  # (k, n')
    # Sign ambiguity cancels: flipping (u_i, v_i) -> (-u_i, -v_i) is U -> U D, V -> D V with
    # D = diag(±1).  The resize is linear and acts on each column of U (row of V) separately
    # (no smoothing across the k axis), so Ū -> Ū D; the polar factor of Ū D = W S (D Z)ᵀ is
    # W Zᵀ D = Ũ D, likewise Ṽ -> D Ṽ; hence R̂ = Ũ D Σ D Ṽ = Ũ Σ Ṽ since D Σ D = Σ.
    u_t = _polar(u_bar, "U (Ū)", factors)
    v_t = _polar(v_bar.T, "V (V̄)", factors).T
    sig = s[:k]
    raw = (u_t * sig) @ v_t  # (m', n'); singular values exactly sig (Ũ, Ṽ orthonormal)
    keep = clip_keep(
        _rescale(raw, params["rescale"]),
        params["clip"],
        params["scale"],
        params.get("clip_rule", "all"),
    )
    return Reduced(
        keep=keep,
        raw=raw,
        singular_values=sig,
        u=u_t,
        v=v_t,
        factors=(mp, np_),
        train_shape=(m, n),
        train_nnz=int(train.nnz),
        params=dict(params, factors=[mp, np_]),
    )


def clip_keep(
    rescaled: np.ndarray, clip: Sequence[float] | None, scale: float, clip_rule: str = "all"
) -> np.ndarray:
    """Keep probabilities from the rescaled R̂: ``clip`` by ``clip_rule``, and ``scale``.

    Parameters
    ----------
    rescaled : ndarray of float, shape (m', n')
        R̂ rescaled to ``[0, 1]`` (its largest entries exactly 1).
    clip : (float, float) or None
        ``(lo, hi)``; None: no clipping.
    scale : float
        The element sample rate, in ``(0, 1]``.
    clip_rule : {"all", "keep-max", "after-scale"}, default "all"
        See :data:`CLIP_RULES`.

    Returns
    -------
    ndarray of float64, shape (m', n')

    Examples
    --------
    >>> import numpy as np
    >>> r = np.array([[1.0, 0.97], [0.5, 0.004]])
    >>> clip_keep(r, (0.01, 0.95), 1.0, "all").tolist()
    [[0.95, 0.95], [0.5, 0.01]]
    >>> clip_keep(r, (0.01, 0.95), 1.0, "keep-max").tolist()
    [[1.0, 0.95], [0.5, 0.01]]
    >>> clip_keep(r, (0.01, 0.95), 0.5, "after-scale").tolist()
    [[0.5, 0.485], [0.25, 0.01]]
    """
    r = np.asarray(rescaled, dtype=np.float64)
    if clip is None:
        return r * scale
    lo, hi = float(clip[0]), float(clip[1])
    if clip_rule == "after-scale":
        return np.clip(r * scale, lo, hi)
    out = np.clip(r, lo, hi)
    if clip_rule == "keep-max":
        top = r == r.max()
        out[top] = r[top]
    return out * scale


def _rescale(raw: np.ndarray, mode: str) -> np.ndarray:
    """Map ``raw`` to ``[0, 1]``; the extreme entries map to exactly 0 / 1."""
    if mode == "abs-max":
        a = np.abs(raw)
        return a / a.max()
    lo, hi = raw.min(), raw.max()
    if not hi - lo > 1e-12 * max(abs(lo), abs(hi)):
        raise ParameterError(
            f"rescale='minmax' is undefined: R̂ is constant (= {hi:g}) for factors "
            f"{raw.shape}; use rescale='abs-max'"
        )
    return (raw - lo) / (hi - lo)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool | np.bool_)


def _as_train(train: Any) -> sp.csr_array:
    """``train`` (or ``train.train``) as a canonical CSR float64 array without stored zeros."""
    obj = train
    if not sp.issparse(obj) and hasattr(obj, "train"):
        obj = obj.train
    if not sp.issparse(obj):
        raise InputDataError(
            "train must be a scipy.sparse matrix/array (or an object with a .train attribute "
            f"holding one), got {type(train).__name__}"
        )
    if obj.ndim != 2:
        raise InputDataError(f"train must be 2-D, got shape {obj.shape}")
    mat = sp.csr_array(obj, dtype=np.float64, copy=True)
    mat.sum_duplicates()
    if not np.all(np.isfinite(mat.data)):
        raise InputDataError("train has non-finite values")
    mat.eliminate_zeros()
    if mat.nnz == 0:
        raise InputDataError(f"train ({mat.shape[0]} x {mat.shape[1]}) has no non-zeros")
    return mat


def _check_factors(factors: Any) -> tuple[int, int]:
    try:
        fac = tuple(factors)
    except TypeError:
        fac = ()
    if len(fac) != 2 or not all(_is_int(f) for f in fac):
        raise ParameterError(f"factors must be two integers (m', n'), got {factors!r}")
    mp, np_ = int(fac[0]), int(fac[1])
    if mp < 1 or np_ < 1:
        raise ParameterError(f"factors must be >= 1, got {(mp, np_)}")
    # m' > m or n' > n is allowed: U / V are then stretched (bilinear interpolation, as
    # scikit-image's resize does, the way Meta's ML-18B is made: 36,864 from 26,744 items);
    # the rank bound on k = min(m', n') is checked with the SVD
    return mp, np_


def _check_options(
    resize: Any, rescale: Any, clip: Any, scale: Any, seed: Any, clip_rule: Any = "all"
) -> dict[str, Any]:
    if not isinstance(resize, str) or resize not in RESIZE_MODES:
        raise ParameterError(f"resize={resize!r} is not one of {sorted(RESIZE_MODES)}")
    if not isinstance(rescale, str) or rescale not in RESCALE_MODES:
        raise ParameterError(f"rescale={rescale!r} is not one of {list(RESCALE_MODES)}")
    clip_out: list[float] | None = None
    if clip is not None:
        try:
            lo, hi = (float(c) for c in clip)
        except (TypeError, ValueError):
            raise ParameterError(f"clip must be None or (lo, hi), got {clip!r}") from None
        if not 0.0 <= lo <= hi <= 1.0:
            raise ParameterError(f"clip={clip!r} must satisfy 0 <= lo <= hi <= 1")
        clip_out = [lo, hi]
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise ParameterError(f"scale must be a real number in (0, 1], got {scale!r}")
    if not 0.0 < float(scale) <= 1.0:
        raise ParameterError(f"scale={scale!r} must be in (0, 1]")
    if not isinstance(clip_rule, str) or clip_rule not in CLIP_RULES:
        raise ParameterError(f"clip_rule={clip_rule!r} is not one of {list(CLIP_RULES)}")
    if clip_out is None and clip_rule != "all":
        raise ParameterError(f"clip_rule={clip_rule!r} needs clip=(lo, hi)")
    seed = as_seed(seed)
    return {
        "resize": resize,
        "rescale": rescale,
        "clip": clip_out,
        "clip_rule": clip_rule,
        "scale": float(scale),
        "seed": int(seed),
    }


def _check_positive_real(name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) or x <= 0:
        raise ParameterError(f"{name} must be a finite number > 0, got {x!r}")
    return float(x)


def _check_count(name: str, x: Any) -> int:
    return as_int(x, name, low=0)


def _rank_bound(train: sp.csr_array) -> int:
    """Cheap upper bound on rank: non-empty rows and columns."""
    rows = int(np.count_nonzero(np.diff(train.indptr)))
    cols = int(np.unique(train.indices).size)
    return min(rows, cols)


def _check_rank_bound(train: sp.csr_array, k: int, factors: tuple[int, int]) -> None:
    bound = _rank_bound(train)
    if k > bound:
        raise ParameterError(
            f"factors={factors}: k=min(m', n')={k} exceeds the rank of train (at most {bound}, "
            f"its non-empty rows/columns); use factors with min(m', n') <= {bound}"
        )


def _numerical_rank(s: np.ndarray, shape: tuple[int, int]) -> int:
    tol = s[0] * max(shape) * np.finfo(np.float64).eps
    return int(np.count_nonzero(s > tol))


def _check_numerical_rank(s: np.ndarray, k: int, shape: tuple[int, int], factors: Any) -> None:
    rank = _numerical_rank(s[:k], shape)
    if rank < k:
        raise ParameterError(
            f"factors={factors}: k=min(m', n')={k} exceeds the numerical rank {rank} of train; "
            f"use factors with min(m', n') <= {rank}"
        )


def _check_svd(svd: Any, shape: tuple[int, int], k: int) -> tuple[np.ndarray, ...]:
    try:
        u, s, vt = (np.asarray(x, dtype=np.float64) for x in svd)
    except (TypeError, ValueError):
        raise ParameterError("svd must be a tuple (U, s, Vt) of arrays") from None
    m, n = shape
    k0 = s.shape[0] if s.ndim == 1 else -1
    if k0 < k or u.shape != (m, k0) or vt.shape != (k0, n):
        raise ParameterError(
            f"svd: expected U (m={m}, k0), s (k0,), Vt (k0, n={n}) with k0 >= k={k}, got "
            f"shapes {u.shape}, {s.shape}, {vt.shape}"
        )
    if not np.all(np.isfinite(s[:k])) or np.any(np.diff(s[:k]) > 0) or s[k - 1] < 0:
        raise ParameterError("svd: singular values must be finite, >= 0 and descending")
    return u, s, vt
