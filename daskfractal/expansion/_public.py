"""What a public store records: :func:`public_attrs`, the one filter of the written attributes.

A store written with ``public=True`` (``daskfractal expand --public``) is meant for release.
It keeps what a reader needs (sizes, factors, dropout, test policy, carried columns, the
pre-processing options other than its seed) and drops everything that rebuilds the
construction or helps the attacks of ``docs/privacy.md``: the seeds (the expansion's, the
pre-processing's, the chain's and every level's), the shuffle and its window, R̂ (keep
probabilities, raw values, factors U and V, singular values), the input's source, checksum
and shape, the expected sizes; the writer also drops ``users/slot`` and the block counts
(:data:`daskfractal.store.PUBLIC_HIDDEN_KEYS`). One aggregate of R̂ stays,
``keep_singular_values``: the singular values of the keep-probability matrix, which the
Theorem-1 spectrum prediction of ``validate`` needs and which do not give the keep probability
of any block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PUBLIC_LEVEL_KEYS", "PUBLIC_PARAMS", "public_attrs"]

#: The ``params`` keys a public store keeps (every other key is dropped).
PUBLIC_PARAMS: tuple[str, ...] = (
    "factors",
    "dropout",
    "test_policy",
    "carry",
    "timeline",
    "bernoulli_skip_below",
    "block_sample_rate",
    "public",
    "privacy",
)
#: The keys of each ``params.levels`` record a public store keeps.
PUBLIC_LEVEL_KEYS: tuple[str, ...] = (
    "level",
    "factors",
    "dropout",
    "test_policy",
    "carry",
    "timeline",
)
#: The root attributes a public store keeps besides ``params``.
_PUBLIC_ATTRS: tuple[str, ...] = ("versions", "method", "export")


def public_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """The attributes a public store writes, from those of an ordinary store.

    Parameters
    ----------
    attrs : dict
        ``{"params": ..., "expected": ..., "versions": ..., "method": ...}`` as the store
        writer builds them.

    Returns
    -------
    dict
        ``params`` reduced to :data:`PUBLIC_PARAMS` (``preprocess`` without its seed,
        ``levels`` reduced to :data:`PUBLIC_LEVEL_KEYS`, ``keep_singular_values`` added when
        R̂ is known), ``versions`` and ``method``; no ``expected`` sizes.

    Examples
    --------
    >>> a = {"params": {"seed": 3, "shuffle": "block", "factors": [2, 2], "public": True,
    ...      "preprocess": {"seed": 3, "split": "leave-last-out"},
    ...      "reduced": {"keep": [[1.0, 0.0], [0.0, 0.5]]}}, "expected": {"train": 9.0}}
    >>> p = public_attrs(a)["params"]
    >>> sorted(p)
    ['factors', 'keep_singular_values', 'preprocess', 'public']
    >>> p["preprocess"], p["keep_singular_values"]
    ({'split': 'leave-last-out'}, [1.0, 0.5])
    """
    params = dict(attrs.get("params") or {})
    out: dict[str, Any] = {k: params[k] for k in PUBLIC_PARAMS if k in params}
    if isinstance(params.get("privacy"), dict):  # the defence, without the input's checksum
        out["privacy"] = {k: v for k, v in params["privacy"].items() if k != "input_sha256"}
    pre = params.get("preprocess")
    if isinstance(pre, dict):
        out["preprocess"] = {k: v for k, v in pre.items() if k != "seed"}
    levels = params.get("levels")
    if levels:
        out["levels"] = [{k: rec[k] for k in PUBLIC_LEVEL_KEYS if k in rec} for rec in levels]
    keep = (params.get("reduced") or {}).get("keep")
    if keep is not None:
        sv = np.linalg.svd(np.asarray(keep, dtype=np.float64), compute_uv=False)
        out["keep_singular_values"] = [float(x) for x in sv]
    kept = {k: attrs[k] for k in _PUBLIC_ATTRS if k in attrs}
    return {"params": out, **kept}
