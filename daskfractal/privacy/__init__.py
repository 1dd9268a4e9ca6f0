"""Privacy audit of an expansion: how much of a real user can be found in the synthetic data.

A fractal expansion copies thinned, permuted pieces of real rows: the segment of a synthetic
user in block column ``j`` is a Bernoulli-thinned copy of one real user's row under a
per-block item permutation. :func:`privacy_audit` attacks a store the way an adversary who
knows the real data and the method would, and scores the attacks against the ground truth
that the store's own recorded seed gives (see ``docs/privacy.md``).

Modules: :mod:`.attacks` (the attacks as pure functions of sparse matrices), :mod:`.truth`
(the ground truth, from the expansion's own permutation functions), :mod:`.audit`
(:func:`privacy_audit`) and :mod:`.report` (:class:`PrivacyReport`); the ``privacy``
sub-command is in :mod:`daskfractal.cli.privacy`.
"""

from .attacks import (
    degree_item_map,
    jaccard_best,
    link_scores,
    map_items,
    refine_item_map,
    roc_auc,
    topk_accuracy,
)
from .audit import REVEALING_ATTRIBUTES, privacy_audit
from .report import PrivacyReport
from .truth import LevelTruth

__all__ = [
    "REVEALING_ATTRIBUTES",
    "LevelTruth",
    "PrivacyReport",
    "degree_item_map",
    "jaccard_best",
    "link_scores",
    "map_items",
    "privacy_audit",
    "refine_item_map",
    "roc_auc",
    "topk_accuracy",
]
