"""daskfractal: randomized fractal (Kronecker) expansion of recommender data sets."""

from .errors import DaskFractalError, DownloadError, InputDataError, ParameterError, StoreError
from .interactions import Interactions
from .preprocess import SignedMatrix, SplitData, preprocess

__version__ = "0.1.0"

__all__ = [
    "DaskFractalError",
    "DownloadError",
    "InputDataError",
    "Interactions",
    "ParameterError",
    "SignedMatrix",
    "SplitData",
    "StoreError",
    "__version__",
    "preprocess",
]
