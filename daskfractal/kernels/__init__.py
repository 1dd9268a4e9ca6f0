"""Pure compute kernels (Numba) of the randomized Kronecker expansion.

Modules: :mod:`.rng` (counter-based hash), :mod:`.permute` (block permutations),
:mod:`.dropout` (dropout modes, test policies, EXACT dropout), :mod:`.sampling` (geometric
skips of the Bernoulli dropout, block sample), :mod:`.emit` (the expansion
kernels: count and emit passes over one block-row), :mod:`.spmm` (the sparse × dense products
and split counts of the validation passes), :mod:`.alias` (negative sampling),
:mod:`.reference`, :mod:`.reference_spmm` and :mod:`.reference_alias` (pure-NumPy
specifications, for tests).
"""

from __future__ import annotations

from .dropout import (
    MODE_BERNOULLI,
    MODE_EXACT,
    TEST_ALL,
    TEST_ONE,
    exact_row_counts,
    exact_total,
)
from .emit import (
    ExpandedRows,
    count_rows,
    count_rows_kernel,
    emit_rows_kernel,
    expand_block_rows,
    fill_rows,
)
from .permute import (
    PERMUTATION_KINDS,
    block_permutation,
    invert_permutation,
    legacy_permutation_table,
    permutation_table,
    source_rows,
    stratified_permutation,
)
from .response import randomized_response_csr, response_rates
from .rng import (
    STREAM_COL_PERM,
    STREAM_DROP,
    STREAM_EXACT,
    STREAM_NEG_BASE,
    STREAM_ONE,
    STREAM_RESPONSE,
    STREAM_ROW_PERM,
    hash64,
    uniform,
)
from .sampling import SKIP_MAX_P, block_sample_mask

__all__ = [
    "MODE_BERNOULLI",
    "MODE_EXACT",
    "PERMUTATION_KINDS",
    "SKIP_MAX_P",
    "STREAM_COL_PERM",
    "STREAM_DROP",
    "STREAM_EXACT",
    "STREAM_NEG_BASE",
    "STREAM_ONE",
    "STREAM_RESPONSE",
    "STREAM_ROW_PERM",
    "TEST_ALL",
    "TEST_ONE",
    "ExpandedRows",
    "block_permutation",
    "block_sample_mask",
    "count_rows",
    "count_rows_kernel",
    "emit_rows_kernel",
    "exact_row_counts",
    "exact_total",
    "expand_block_rows",
    "fill_rows",
    "hash64",
    "invert_permutation",
    "legacy_permutation_table",
    "permutation_table",
    "randomized_response_csr",
    "response_rates",
    "source_rows",
    "stratified_permutation",
    "uniform",
]
