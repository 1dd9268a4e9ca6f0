"""Aligned timelines: the pieces of a synthetic user end together, before its test.

A synthetic user of block row ``i`` copies, in each block column ``j``, the row of one real
user (a *piece*), with that user's timestamps. Left as they are, the pieces of one synthetic
user come from unrelated timelines (years apart on MovieLens), and its latest train
interaction is in any piece, so a sequential model on the expansion sees a "last item" that
has nothing to do with the held-out one. :func:`align_timelines` shifts every piece but one
by a constant, so that

* inside a piece, the order and the gaps between timestamps stay as the real user's;
* the *anchor* piece (the block of the user's first test entry; without a test entry, the
  block with the latest train timestamp, the lowest such ``j``) keeps its timestamps;
* every other piece with train entries ends one time unit before the anchor's latest train
  timestamp (``ref``; the anchor's first test timestamp when it has no train entry), its test
  entries moving with it. Pieces without train entries keep their timestamps.

So the user's latest train interaction is its anchor's, just before its test interaction,
as in the leave-last-out data the expansion copies. A user's shifts depend on that user's
entries alone: the same bytes for any chunking. :mod:`.reference_timeline` is the NumPy
specification.
"""

from __future__ import annotations

import numpy as np

from ._jit import IntLike, ngjit

#: marks a block without train entries in the per-user table of latest timestamps
NO_TIME = np.iinfo(np.int64).min


@ngjit
def align_timelines(
    n: IntLike,
    n_blocks: IntLike,
    train_start: np.ndarray,
    train_stop: np.ndarray,
    test_start: np.ndarray,
    test_stop: np.ndarray,
    train_items: np.ndarray,
    train_times: np.ndarray,
    test_items: np.ndarray,
    test_times: np.ndarray,
) -> None:
    """Shift the timestamps of each user's pieces in place (see the module docstring).

    Parameters
    ----------
    n : int
        Items per block column: an output item ``c`` is in block ``c // n``.
    n_blocks : int
        Block columns n' (every ``item // n < n_blocks``).
    train_start, train_stop, test_start, test_stop : ndarray of int64, shape (u,)
        User ``x``'s train entries are ``[train_start[x], train_stop[x])`` of ``train_items``
        / ``train_times`` (test likewise); the whole user, never part of one.
    train_items, test_items : ndarray of int
    train_times, test_times : ndarray of int64
        Modified in place.
    """
    latest = np.full(n_blocks, NO_TIME, np.int64)
    longest = 0
    for x in range(train_start.shape[0]):
        longest = max(longest, train_stop[x] - train_start[x])
    block = np.empty(longest, np.int64)  # the block of each train entry of one user
    # branch-free inner loops (one division and a max per entry): the block changes every
    # few entries and the times are in no order, so branches on either mispredict
    for x in range(train_start.shape[0]):
        a, b = train_start[x], train_stop[x]
        c, d = test_start[x], test_stop[x]
        for e in range(a, b):
            j = train_items[e] // n
            block[e - a] = j
            latest[j] = max(latest[j], train_times[e])
        if d > c:
            anchor = test_items[c] // n
        else:  # the lowest of the user's blocks with the latest train time (not all n')
            anchor = block[0] if b > a else 0
            for e in range(1, b - a):
                k = block[e]
                if latest[k] > latest[anchor] or (latest[k] == latest[anchor] and k < anchor):
                    anchor = k
        ref = latest[anchor]
        if ref == NO_TIME and d > c:
            ref = test_times[c]
        if ref != NO_TIME:
            for e in range(a, b):
                j = block[e - a]
                train_times[e] += (ref - 1 - latest[j]) * (j != anchor)
            for e in range(c, d):
                j = test_items[e] // n
                if j != anchor and latest[j] != NO_TIME:
                    test_times[e] += ref - 1 - latest[j]
        for e in range(b - a):
            latest[block[e]] = NO_TIME


__all__ = ["NO_TIME", "align_timelines"]
