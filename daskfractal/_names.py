"""Names and defaults the command line shows in ``--help`` and checks while parsing.

They live here, away from the engines that use them, so that building the argument parser
imports no NumPy, Numba, Zarr or pandas: each command loads what it runs when it runs.
The engines import them from here (one definition each).
"""

from __future__ import annotations

from typing import Final, Literal

#: The default shuffle of :func:`daskfractal.expand` and ``daskfractal expand``
#: (``daskfractal.expansion.DEFAULT_SHUFFLE``).
DEFAULT_SHUFFLE: Final[Literal["stratified"]] = "stratified"
#: Timestamps of the output: each synthetic user's pieces aligned to end before its test
#: interaction (the default), or the real users' timestamps as they are.
TIMELINES: Final[tuple[str, ...]] = ("aligned", "source")
DEFAULT_TIMELINE: Final[Literal["aligned"]] = "aligned"
#: Row permutations of a block row: ``shared`` by its block columns (a synthetic user copies
#: one real user in every block column: its history is one person's, renamed), or one
#: ``per-block`` (the papers: a synthetic user is stitched from n' real users).
ROWS: Final[tuple[str, ...]] = ("shared", "per-block")
DEFAULT_ROWS: Final[Literal["shared"]] = "shared"
#: Every store format the writers know, in the order of ``--format``'s choices.
STORE_FORMATS: Final[tuple[str, ...]] = ("zarr", "parquet", "mlperf", "meta-csv")
#: What ``daskfractal evaluate`` runs by default.
DEFAULT_ALGORITHMS: Final[tuple[str, ...]] = (
    "random",
    "popularity",
    "itemknn",
    "rp3beta",
    "ease",
    "puresvd",
    "infae",
)
#: Evaluation protocols: every item ranked, or sampled negatives.
PROTOCOLS: Final[tuple[str, ...]] = ("full", "sampled")
#: Default number of sampled interactions for the block-structure Gram matrix.
BLOCK_SAMPLE: Final = 2**23
#: What the negatives of a user must avoid.
EXCLUDES: Final[tuple[str, ...]] = ("train", "train+test", "none")
#: Rows of the negatives' epoch order shuffled together.
DEFAULT_WINDOW: Final = 2**20
#: Most epochs one negatives output may hold (each epoch is three arrays / a folder of parts).
MAX_EPOCHS: Final = 2**16
