"""The privacy defence: randomized response on R_train before the expansion.

:func:`respond_split` reports every cell ``(u, i)`` of R_train that is not a test entry with
ε-local differential privacy (:mod:`daskfractal.kernels.response`): a training interaction
survives with probability ``p = e^ε / (1 + e^ε)``, a cell without one becomes an interaction
with probability ``q = 1 / (1 + e^ε)``. Everything downstream (R̂, the expansion, the store)
is computed from the reported matrix only, so the presence of any one training interaction
of a real user is ε-differentially private in the released data (post-processing). The test
entries (the held-out interactions) are kept as they are: they are not protected.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import ParameterError
from ..kernels import randomized_response_csr, response_rates
from ..preprocess import SplitData

__all__ = ["check_epsilon", "privacy_record", "respond_split"]


def check_epsilon(epsilon: Any, name: str = "privacy_epsilon") -> float | None:
    """``epsilon`` as a float ``> 0`` (``None``: no defence).

    Examples
    --------
    >>> check_epsilon(None), check_epsilon(4)
    (None, 4.0)
    """
    if epsilon is None:
        return None
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a number > 0, got {epsilon!r}")
    e = float(epsilon)
    if not e > 0 or math.isnan(e) or math.isinf(e):
        raise ParameterError(f"{name} must be a finite number > 0, got {epsilon!r}")
    return e


def respond_split(split: SplitData, epsilon: float, seed: int) -> SplitData:
    """``split`` with randomized response applied to R_train (values 1, no carried columns).

    Parameters
    ----------
    split : SplitData
    epsilon : float
        ``> 0``; the keep and add probabilities are :func:`~daskfractal.kernels.response_rates`.
    seed : int
        The expansion's seed (the draws use their own stream, ``STREAM_RESPONSE``).

    Returns
    -------
    SplitData
        Same users, items, test entries and ``params``; R_train reported cell by cell.

    Examples
    --------
    >>> from daskfractal.testing import tiny_split
    >>> s = tiny_split()
    >>> r = respond_split(s, 50.0, 1)  # e^-50: nothing flips
    >>> (r.train != s.train).nnz
    0
    """
    tr = sp.csr_matrix(split.train, copy=True)
    tr.sum_duplicates()
    tr.sort_indices()
    te = sp.csr_matrix(split.test, copy=True)
    te.sum_duplicates()
    te.sort_indices()
    m, n = split.shape
    ptr, idx = randomized_response_csr(
        tr.indptr, tr.indices, n, epsilon, seed, exclude=(te.indptr, te.indices)
    )
    index_dtype = np.int32 if n < 2**31 else np.int64
    train = sp.csr_matrix(
        (np.ones(idx.size, np.float32), idx.astype(index_dtype), ptr), shape=(m, n)
    )
    return SplitData(
        train=train,
        test=sp.csr_matrix((np.ones(te.nnz, np.float32), te.indices, te.indptr), shape=(m, n)),
        user_ids=split.user_ids,
        item_ids=split.item_ids,
        params=dict(split.params),
        source=split.source,
    )


def privacy_record(epsilon: float, real_checksum: str) -> dict[str, Any]:
    """What ``params.privacy`` records for the defence.

    Examples
    --------
    >>> privacy_record(math.log(3), "ab")["keep"]
    0.75
    """
    p, q = response_rates(epsilon)
    return {
        "mechanism": "randomized_response",
        "epsilon": float(epsilon),
        "keep": p,
        "add": q,
        "applies_to": "train",
        "input_sha256": real_checksum,
    }
