"""Negative sampling: training epochs (positives + negatives) and evaluation negatives.

One role per module, dependencies pointing one way (``sampler`` → ``io``,
``sources`` → :mod:`daskfractal.store`, :mod:`daskfractal.kernels`):

* :mod:`.sampler` — :class:`NegativeSampler`, the deterministic sampler;
* :mod:`.sources` — where the positives come from (in-memory CSR, expansion store);
* :mod:`.io` — the writers (Zarr, Parquet), their preflight checks, and the reader
  (:class:`NegativesStore`, :func:`open_negatives`).

The ``daskfractal negatives`` sub-command is in :mod:`daskfractal.cli.negatives`.
"""

from .io import NegativesStore, open_negatives
from .sampler import DISTRIBUTIONS, EXCLUDES, NegativeSampler

__all__ = ["DISTRIBUTIONS", "EXCLUDES", "NegativeSampler", "NegativesStore", "open_negatives"]
