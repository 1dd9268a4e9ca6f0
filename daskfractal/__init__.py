"""daskfractal: randomized fractal (Kronecker) expansion of recommender data sets.

The data flows load → pre-process → reduce → expand → store::

    import daskfractal as dfr

    split = dfr.preprocess(dfr.load("default"))          # R_train, R_test (leave-last-out)
    red = dfr.reduce(split, (4, 8))                      # R̂: keep probabilities, 4 x 8
    store = dfr.expand(split, reduced=red, seed=0).to_zarr("out.zarr")
    store.to_dask_dataframe("train")
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    AlgorithmError,
    DaskFractalError,
    DownloadError,
    InputDataError,
    ParameterError,
    StoreError,
)

# eager: the submodule daskfractal.preprocess would otherwise shadow the function
# preprocess the first time anything imports it
from .preprocess import SignedMatrix, SplitData, preprocess

if TYPE_CHECKING:  # the type checker sees the imports; at run time they load on first use
    from .datasets import DATASETS, download, embedded_datasets, list_datasets, load
    from .evaluation import EvaluationReport, Recommender, evaluate
    from .expansion import ExpandedData, Expansion, expand, write_store
    from .interactions import Interactions
    from .negatives import NegativeSampler, NegativesStore, open_negatives
    from .presets import PRESETS, Preset
    from .privacy import PrivacyReport, privacy_audit
    from .reduction import Reduced, expected_interactions, reduce, solve_factors
    from .store import ExpansionStore, VerifyReport, set_storage_options, store_status, verify
    from .store import open_store as open  # daskfractal.open(path), like zarr.open
    from .validation import ValidationReport, validate


#: public name -> (submodule, name in it): ``import daskfractal`` loads only the errors and the
#: version; a name's submodule (and its NumPy / Numba / Zarr / pandas imports) loads the first
#: time the name is used, so a CLI command pays only for what it runs
_LAZY = {
    "DATASETS": ("datasets", "DATASETS"),
    "EvaluationReport": ("evaluation", "EvaluationReport"),
    "ExpandedData": ("expansion", "ExpandedData"),
    "Expansion": ("expansion", "Expansion"),
    "ExpansionStore": ("store", "ExpansionStore"),
    "Interactions": ("interactions", "Interactions"),
    "NegativeSampler": ("negatives", "NegativeSampler"),
    "NegativesStore": ("negatives", "NegativesStore"),
    "PRESETS": ("presets", "PRESETS"),
    "Preset": ("presets", "Preset"),
    "PrivacyReport": ("privacy", "PrivacyReport"),
    "Recommender": ("evaluation", "Recommender"),
    "Reduced": ("reduction", "Reduced"),
    "ValidationReport": ("validation", "ValidationReport"),
    "VerifyReport": ("store", "VerifyReport"),
    "download": ("datasets", "download"),
    "embedded_datasets": ("datasets", "embedded_datasets"),
    "evaluate": ("evaluation", "evaluate"),
    "expand": ("expansion", "expand"),
    "expected_interactions": ("reduction", "expected_interactions"),
    "list_datasets": ("datasets", "list_datasets"),
    "load": ("datasets", "load"),
    "open": ("store", "open_store"),
    "open_negatives": ("negatives", "open_negatives"),
    "privacy_audit": ("privacy", "privacy_audit"),
    "reduce": ("reduction", "reduce"),
    "set_storage_options": ("store", "set_storage_options"),
    "solve_factors": ("reduction", "solve_factors"),
    "store_status": ("store", "store_status"),
    "validate": ("validation", "validate"),
    "verify": ("store", "verify"),
    "write_store": ("expansion", "write_store"),
}

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


def __getattr__(name: str) -> Any:
    """Load a public name's submodule on first use (PEP 562)."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'daskfractal' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
