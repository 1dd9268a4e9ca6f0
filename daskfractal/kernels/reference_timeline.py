"""Pure-NumPy specification of :func:`.timeline.align_timelines` (one user at a time).

Computed independently of the Numba code, bit for bit the same (the tests demand it).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def align_user(
    n: int,
    train_items: npt.ArrayLike,
    train_times: npt.ArrayLike,
    test_items: npt.ArrayLike,
    test_times: npt.ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """One user's train and test timestamps, aligned; the inputs are not modified.

    The anchor is the block of the first test entry, else the block of the latest train
    timestamp (the lowest such block); ``ref`` is the anchor's latest train timestamp, else
    its first test timestamp. Every other block with train entries moves by ``ref - 1 -
    (its latest train timestamp)``, train and test entries alike.
    """
    tr_items = np.asarray(train_items, dtype=np.int64)
    te_items = np.asarray(test_items, dtype=np.int64)
    tr = np.array(train_times, dtype=np.int64)
    te = np.array(test_times, dtype=np.int64)
    tr_block, te_block = tr_items // n, te_items // n
    latest = {int(j): int(tr[tr_block == j].max()) for j in np.unique(tr_block)}
    if te.size:
        anchor = int(te_block[0])
    elif latest:
        top = max(latest.values())
        anchor = min(j for j, t in latest.items() if t == top)
    else:
        return tr, te
    if anchor in latest:
        ref = latest[anchor]
    elif te.size:
        ref = int(te[0])
    else:
        return tr, te
    for j, last in latest.items():
        if j != anchor:
            tr[tr_block == j] += ref - 1 - last
            te[te_block == j] += ref - 1 - last
    return tr, te


__all__ = ["align_user"]
