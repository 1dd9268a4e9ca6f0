"""Data-set readers, the embedded default data set and the MovieLens downloader.

:func:`load` is the one entry point: MovieLens (every published layout), generic CSV/TSV and
Parquet, adjacency lists with a given split, pandas/pyarrow tables and scipy sparse matrices.
:func:`download` fetches the GroupLens MovieLens releases, checksum-verified.
"""

from .download import DATASETS, DatasetInfo, download, list_datasets
from .readers import FORMATS, embedded_datasets, load

__all__ = [
    "DATASETS",
    "FORMATS",
    "DatasetInfo",
    "download",
    "embedded_datasets",
    "list_datasets",
    "load",
]
