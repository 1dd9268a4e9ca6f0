"""The ground truth of an audit: which real user each synthetic segment copies.

A store records its seed, shuffle and window (``params``, or ``params.levels[0]`` for the
outermost level of a chain) and the slot ``i·m + t`` of every user (``users/slot``). With the
input ``R`` these give back every permutation of the expansion: the row and column
permutations of block ``(i, j)`` are recomputed here with the expansion's own functions
(:func:`daskfractal.kernels.permute.permutation_table` on the streams
:data:`~daskfractal.kernels.rng.STREAM_ROW_PERM` / ``STREAM_COL_PERM``, with the degrees of the
signed input S = R_train − R_test for the ``stratified`` kind; for the ``joint`` dropout its
row windows of R_train and one column permutation per block column), exactly as the planner
does;
stores of format 1 and 2 made them with Fisher-Yates shuffles
(:func:`daskfractal.kernels.permute.legacy_permutation_table`), format 3 computes them.
That is also what an attacker holding the store and ``R`` can do: with the recorded seed the
re-identification is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import StoreError
from ..kernels import (
    STREAM_COL_PERM,
    STREAM_ROW_PERM,
    invert_permutation,
    legacy_permutation_table,
    permutation_table,
)
from ..kernels import joint as _joint_kernels
from ..kernels import permute as _permute
from ..preprocess import SignedMatrix

__all__ = ["COMPUTED_PERMUTATIONS_FORMAT", "LevelTruth", "level_of"]

#: the first store format whose permutations are the computed bijections (Feistel); the
#: older ones used Fisher-Yates tables
COMPUTED_PERMUTATIONS_FORMAT = 3


def level_of(params: dict[str, Any]) -> dict[str, Any]:
    """The recorded options of the outermost level: ``seed``, ``shuffle``, ``window``, ...

    Raises
    ------
    StoreError
        If the store does not record its seed or shuffle (a store written without them).

    Examples
    --------
    >>> level_of({"seed": 3, "shuffle": "none", "window": 64})["seed"]
    3
    """
    levels = params.get("levels") or []
    level = dict(levels[0]) if levels else dict(params)
    missing = [k for k in ("seed", "shuffle") if level.get(k) is None]
    if missing:
        raise StoreError(
            f"the store does not record {' and '.join(missing)}: the ground truth of a privacy "
            "audit cannot be rebuilt"
        )
    level.setdefault("window", 64)
    return level


@dataclass(frozen=True)
class LevelTruth:
    """The permutations of one expansion level, recomputed from its recorded options.

    Attributes
    ----------
    seed : int
    shuffle : str
        ``"block"``, ``"stratified"`` or ``"none"``.
    window : int
    n_blocks : int
        n', the number of block columns.
    row_degree, col_degree : numpy.ndarray of int64
        Row and column degrees of the signed input (train and test entries), which the
        ``stratified`` kind sorts by.
    legacy : bool
        The store is of format 1 or 2: its permutations are Fisher-Yates tables.
    joint : tuple of ndarray or None
        For the ``joint`` dropout, its row windows ``(order, rank, starts, window_of)`` of
        R_train (:func:`daskfractal.kernels.joint.row_windows`).

    Examples
    --------
    >>> import daskfractal as dfr
    >>> from daskfractal.testing import tiny_split
    >>> split = tiny_split()
    >>> truth = LevelTruth.of({"seed": 1, "shuffle": "none"}, split.signed(), 2)
    >>> truth.sources(0)[0].tolist() == list(range(split.shape[0]))
    True
    """

    seed: int
    shuffle: str
    window: int
    n_blocks: int
    row_degree: np.ndarray
    col_degree: np.ndarray
    legacy: bool = False
    joint: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    #: ``shared``: every block of a block row has its row permutation (stores before 0.5:
    #: ``per-block``)
    rows: str = "per-block"
    #: shared rows, joint dropout: groups of block columns with a row permutation each
    #: (``params.row_groups``; 1 when absent)
    row_groups: int = 1

    @classmethod
    def of(
        cls,
        params: dict[str, Any],
        signed: SignedMatrix,
        n_blocks: int,
        format_version: int | None = None,
        train: Any = None,
    ) -> LevelTruth:
        """From a store's ``params`` (see :func:`level_of`), the signed input, the store's
        ``format_version`` (default: the current one) and, for the ``joint`` dropout, the
        train matrix R_train (scipy CSR) its row windows come from.

        Raises
        ------
        StoreError
            A ``joint`` store of format 1 or 2 (development versions: not reproducible) or
            a ``joint`` level without ``train``.
        """
        level = level_of(params)
        n = signed.shape[1]
        old = format_version is not None and int(format_version) < COMPUTED_PERMUTATIONS_FORMAT
        windows = None
        if level.get("dropout") == "joint":
            if old or train is None:
                raise StoreError(
                    "the ground truth of a joint-dropout store needs store format "
                    f"{COMPUTED_PERMUTATIONS_FORMAT} or later and the original's R_train"
                )
            order, starts, window_of = _joint_kernels.row_windows(train, int(level["window"]))
            windows = (order, invert_permutation(order), starts, window_of)
        return cls(
            seed=int(level["seed"]),
            shuffle=str(level["shuffle"]),
            window=int(level["window"]),
            n_blocks=int(n_blocks),
            row_degree=np.diff(signed.indptr).astype(np.int64),
            col_degree=np.bincount(signed.indices, minlength=n).astype(np.int64),
            legacy=old,
            joint=windows,
            rows=str(level.get("rows", "per-block")),
            row_groups=int(level.get("row_groups", 1)),
        )

    def _table(self, size: int, stream: int, i: int, degree: np.ndarray) -> np.ndarray:
        extra: dict[str, Any] = {}
        if self.shuffle == "stratified":
            extra = {"degree": degree, "window": self.window}
        table = legacy_permutation_table if self.legacy else permutation_table
        return table(self.shuffle, size, self.seed, stream, i, self.n_blocks, **extra)

    def sources(self, i: int) -> np.ndarray:
        """int64 (n', m): ``out[j, t]`` is the real user copied into slot ``t`` of block (i, j)."""
        m = self.row_degree.size
        if self.rows == "shared" and self.shuffle != "none":
            # one permutation of the block row, at the shared block-column key (one per
            # group of block columns for the joint dropout at a > 1)
            if self.joint is not None:
                k = self.row_groups
                keys = _permute.SHARED_COLUMN + np.arange(k, dtype=np.int64)
                one = np.empty((k, m), np.int64)
                order, rank, starts, window_of = self.joint
                _permute.window_source_rows_kernel(
                    np.arange(m, dtype=np.int64), order, rank, starts, window_of, self.seed,
                    STREAM_ROW_PERM, int(i), keys, one,
                )  # fmt: skip
                cols = np.arange(self.n_blocks, dtype=np.int64)
                return one[_joint_kernels.column_groups(i, cols, self.n_blocks, k)]
            perm = np.empty(m, np.int64)
            strat = self.shuffle == "stratified"
            order = np.argsort(self.row_degree, kind="stable") if strat else np.zeros(0)
            _permute.fill_block_kernel(
                perm, order.astype(np.int64), self.window, self.seed, STREAM_ROW_PERM,
                int(i), _permute.SHARED_COLUMN,
            )  # fmt: skip
            return np.repeat(invert_permutation(perm)[None, :], self.n_blocks, axis=0)
        if self.joint is not None:
            # rows exchange slots inside their window of equal train degree (the planner's
            # inverse, for every slot and block)
            out = np.empty((self.n_blocks, m), np.int64)
            order, rank, starts, window_of = self.joint
            _permute.window_source_rows_kernel(
                np.arange(m, dtype=np.int64), order, rank, starts, window_of, self.seed,
                STREAM_ROW_PERM, int(i), np.arange(self.n_blocks, dtype=np.int64), out,
            )  # fmt: skip
            return out
        rows = self._table(self.row_degree.size, STREAM_ROW_PERM, i, self.row_degree)
        return invert_permutation(rows)

    def item_permutations(self, i: int) -> np.ndarray:
        """int64 (n', n): ``out[j, c]`` is the offset of real item ``c`` in block (i, j)."""
        if self.joint is not None:
            # one uniform permutation per block column, shared by the block rows
            n = self.col_degree.size
            out = np.empty((self.n_blocks, n), np.int64)
            for j in range(self.n_blocks):
                _permute.fill_block_kernel(
                    out[j], np.zeros(0, np.int64), self.window, self.seed, STREAM_COL_PERM,
                    _joint_kernels.SHARED_ROW, j,
                )  # fmt: skip
            return out
        return self._table(self.col_degree.size, STREAM_COL_PERM, i, self.col_degree)
