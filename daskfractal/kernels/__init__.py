"""Pure compute kernels (Numba) of the randomized Kronecker expansion.

Modules: :mod:`.rng` (counter-based hash), :mod:`.permute` (block permutations),
:mod:`.expand` (dropout + shuffle of one block-row), :mod:`.spmm` (the sparse × dense products
and split counts of the validation passes), :mod:`.reference` / :mod:`.reference_spmm`
(pure-NumPy specification of each kernel, for tests).
"""

from __future__ import annotations

from .expand import (
    MODE_BERNOULLI,
    MODE_EXACT,
    TEST_ALL,
    TEST_ONE,
    ExpandedRows,
    count_rows,
    exact_row_counts,
    exact_total,
    expand_block_rows,
    expand_rows_kernel,
    fill_rows,
)
from .permute import (
    PERMUTATION_KINDS,
    block_permutation,
    invert_permutation,
    permutation_table,
    stratified_permutation,
)
from .rng import (
    STREAM_COL_PERM,
    STREAM_DROP,
    STREAM_EXACT,
    STREAM_NEG_BASE,
    STREAM_ONE,
    STREAM_ROW_PERM,
    hash64,
    uniform,
)

__all__ = [
    "MODE_BERNOULLI",
    "MODE_EXACT",
    "PERMUTATION_KINDS",
    "STREAM_COL_PERM",
    "STREAM_DROP",
    "STREAM_EXACT",
    "STREAM_NEG_BASE",
    "STREAM_ONE",
    "STREAM_ROW_PERM",
    "TEST_ALL",
    "TEST_ONE",
    "ExpandedRows",
    "block_permutation",
    "count_rows",
    "exact_row_counts",
    "exact_total",
    "expand_block_rows",
    "expand_rows_kernel",
    "fill_rows",
    "hash64",
    "invert_permutation",
    "permutation_table",
    "stratified_permutation",
    "uniform",
]
