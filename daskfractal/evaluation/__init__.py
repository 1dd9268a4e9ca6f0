"""Downstream fidelity: do recommenders rank the same on the expansion as on the real data?

:func:`evaluate` fits the same algorithms (:mod:`.algorithms`) on the original and on a
block-aligned sample of the expansion (:mod:`.sample`), scores one held-out item per user with
the same protocol on both sides (:mod:`.metrics`) and compares the orderings
(:mod:`.agreement`); :class:`EvaluationReport` (:mod:`.report`) holds the numbers.
"""

from .algorithms import (
    ALGORITHMS,
    DEFAULT_ALGORITHMS,
    SEQUENTIAL_ALGORITHMS,
    Recommender,
    as_recommender,
    make_algorithm,
)
from .core import PROTOCOLS, evaluate
from .report import EvaluationReport

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "PROTOCOLS",
    "SEQUENTIAL_ALGORITHMS",
    "EvaluationReport",
    "Recommender",
    "as_recommender",
    "evaluate",
    "make_algorithm",
]
