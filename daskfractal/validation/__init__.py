"""Fidelity report of an expansion: degrees, spectrum, block structure and split sanity.

The papers validate an expansion ``R̃ = R̂ ⊗rand R`` by three distributions — row sums (user
engagement), column sums (item popularity) and the singular values — of ``R``, ``R̂`` and ``R̃``
(Belletti et al., Figures 1, 3, 4), anchored by Proposition 1 (row / column sums of a Kronecker
product are the Minkowski products of the factors' sums) and Theorem 1 (its singular values are
the Minkowski product of the factors' singular values). :func:`validate` computes all of them
out-of-core from a store, plus how much block structure the shuffles left and whether the
train / test split is sane, and :meth:`ValidationReport.write` saves ``report.json``,
``report.md`` and PNG figures.

Everything is computed on the *binarized* train split (stored ratings are ignored): degrees
count interactions, the spectrum is that of the 0/1 matrix.

Out-of-core passes are Dask tasks over user-row ranges that read the Zarr (or Parquet) store
directly and combine their partial results with tree reductions:

* degrees: the store's ``stats/`` arrays (a pass over the item ids only when they are absent);
* spectrum: randomized subspace iteration (Halko, Martinsson & Tropp 2011, Algorithms 4.4 /
  5.1, with the sketch on the item side) — ``n_power_iter`` passes ``Z = Aᵀ(A Q)``, each followed
  by a QR re-orthonormalization ``Q = qr(Z)``, then one pass accumulating the Gram matrix
  ``(A Q)ᵀ(A Q)`` whose eigenvalues are the squared Ritz values; the same pass checks
  train ∩ test = ∅;
* block structure: the Gram matrix of the blocks over all rows (small stores) or over a seeded
  sample of row windows (large ones).

Modules, one role each: :mod:`.stats` (pure statistics), :mod:`.passes` (task plans, store reads,
the out-of-core passes), :mod:`.linalg` (randomized SVD), :mod:`.blocks` (block structure),
:mod:`.original` (reloading ``R``), :mod:`.report` (:class:`ValidationReport`), :mod:`.render`
(report.json, report.md, figures) and :mod:`.core` (:func:`validate`); the Numba kernels are
in :mod:`daskfractal.kernels.spmm`, the ``validate`` sub-command in
:mod:`daskfractal.cli.validate`.

``daskfractal.validate`` is the function :func:`validate`; the modules are reached as
``from daskfractal.validation import stats``.
"""

from .blocks import BLOCK_SAMPLE, block_gram
from .core import fidelity_goal, validate
from .linalg import randomized_svd
from .report import ValidationReport
from .stats import (
    FIDELITY_GOAL,
    gini,
    ks_distance,
    loglog_slopes,
    minkowski_product,
    normalized_log_degrees,
    rank1_energy_share,
    theorem1_prediction,
)

__all__ = [
    "BLOCK_SAMPLE",
    "FIDELITY_GOAL",
    "ValidationReport",
    "block_gram",
    "fidelity_goal",
    "gini",
    "ks_distance",
    "loglog_slopes",
    "minkowski_product",
    "normalized_log_degrees",
    "randomized_svd",
    "rank1_energy_share",
    "theorem1_prediction",
    "validate",
]
