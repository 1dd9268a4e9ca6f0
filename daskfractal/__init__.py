"""daskfractal: randomized fractal (Kronecker) expansion of recommender data sets.

The data flows load → pre-process → reduce → expand → store::

    import daskfractal as dfr

    split = dfr.preprocess(dfr.load("default"))          # R_train, R_test (leave-last-out)
    red = dfr.reduce(split, (4, 8))                      # R̂: keep probabilities, 4 x 8
    store = dfr.expand(split, reduced=red, seed=0).to_zarr("out.zarr")
    store.to_dask_dataframe("train")
"""

from ._version import __version__
from .datasets import DATASETS, download, embedded_datasets, list_datasets, load
from .errors import (
    AlgorithmError,
    DaskFractalError,
    DownloadError,
    InputDataError,
    ParameterError,
    StoreError,
)
from .evaluation import EvaluationReport, Recommender, evaluate
from .expansion import ExpandedData, Expansion, expand, write_store
from .interactions import Interactions
from .negatives import NegativeSampler, NegativesStore, open_negatives
from .preprocess import SignedMatrix, SplitData, preprocess
from .presets import PRESETS, Preset
from .privacy import PrivacyReport, privacy_audit
from .reduction import Reduced, expected_interactions, reduce, solve_factors
from .store import ExpansionStore, VerifyReport, set_storage_options, store_status, verify
from .store import open_store as open  # daskfractal.open(path), like zarr.open
from .validation import ValidationReport, validate

__all__ = [
    "DATASETS",
    "PRESETS",
    "AlgorithmError",
    "DaskFractalError",
    "DownloadError",
    "EvaluationReport",
    "ExpandedData",
    "Expansion",
    "ExpansionStore",
    "InputDataError",
    "Interactions",
    "NegativeSampler",
    "NegativesStore",
    "ParameterError",
    "Preset",
    "PrivacyReport",
    "Recommender",
    "Reduced",
    "SignedMatrix",
    "SplitData",
    "StoreError",
    "ValidationReport",
    "VerifyReport",
    "__version__",
    "download",
    "embedded_datasets",
    "evaluate",
    "expand",
    "expected_interactions",
    "list_datasets",
    "load",
    "open",
    "open_negatives",
    "preprocess",
    "privacy_audit",
    "reduce",
    "set_storage_options",
    "solve_factors",
    "store_status",
    "validate",
    "verify",
    "write_store",
]
