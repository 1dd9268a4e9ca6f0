"""Output stores of an expansion: Zarr v3 (CSR, sharded) or Parquet (COO parts), and the
exports ``mlperf`` (MovieLens-1B ``.npz`` shards) and ``meta-csv`` (Meta's per-user CSV).

Writers (the :class:`Writer` protocol, implemented by :class:`ZarrWriter` and
:class:`ParquetWriter`; :func:`writer_class` picks one by format) are created once by the
driver and then used from Dask tasks, each task writing one whole shard (Zarr) or part
(Parquet)::

    layout = StoreLayout(n_users, n_items, {"train": nnz_tr, "test": nnz_te}, carry=("ratings",))
    writer = ZarrWriter.create("out.zarr", layout, attrs={"seed": 0, ...})
    # in tasks: writer.write_shard("train", "indices", k, values) for k < layout.n_shards(...)
    writer.write_small("train/indptr", indptr)  # ... stats/*, users/slot
    writer.finalize()
    store = open("out.zarr")                    # refuses incomplete stores

Object stores: every path may be an fsspec URL (``s3://bucket/prefix``): :mod:`._fs` is the
one I/O interface (:class:`RemotePath`, :func:`staged_file`, :func:`store_path`; storage
options from :func:`set_storage_options` or ``DASKFRACTAL_STORAGE_OPTIONS``).

Ownership and locking (:mod:`._ownership`: the ``.daskfractal-owner`` marker, the output
lock), run preparation (:func:`prepare_run`, :func:`check_resume`) and the manifest
(:func:`write_manifest`, :func:`check_manifest`) are the internal API of the writers of
other packages: the expansion writer (:mod:`daskfractal.expansion._write`) and the negatives
writer (:mod:`daskfractal.negatives.io`), which give their outputs the same guarantees.
"""

from ._common import (
    MLPERF_FILE,
    check_resume,
    dump_json,
    prepare_run,
    store_format,
    store_status,
)
from ._export import (
    EXPORT_FORMATS,
    ExportStore,
    ExportWriter,
    MetaCSVWriter,
    MLPerfWriter,
    csv_lines,
    open_export,
)
from ._fs import (
    STORAGE_OPTIONS_ENV,
    RemotePath,
    StorePath,
    atomic_write_bytes,
    check_reachable,
    glob,
    is_remote,
    read_npz,
    remote_errors,
    remove_tree,
    set_storage_options,
    staged_file,
    storage_options,
    store_path,
    walk_files,
)
from ._layout import (
    DENSE_ITEMS_MAX,
    FORMAT_VERSION,
    LOAD_ITEMS_MAX,
    READABLE_VERSIONS,
    SMALL_KEYS,
    SPLITS,
    STATS_NAMES,
    StoreLayout,
)
from ._manifest import MANIFEST_FILE, VerifyReport, verify, write_manifest
from ._manifest import check_store as check_manifest
from ._ownership import (
    MARKER,
    check_lock,
    check_owned,
    claim_folder,
    clear_owned,
    lock_output,
    new_store_id,
    output_path,
    remove_owned,
)
from ._parquet import ParquetWriter
from ._reader import ExpansionStore, open_checked_array, open_store
from ._writer import FORMATS, Writer, writer_class
from ._zarr import ZarrWriter

#: ``daskfractal.store.open(path)`` — same as :func:`open_store`.
open = open_store

__all__ = [
    "DENSE_ITEMS_MAX",
    "EXPORT_FORMATS",
    "FORMATS",
    "FORMAT_VERSION",
    "LOAD_ITEMS_MAX",
    "MANIFEST_FILE",
    "MARKER",
    "MLPERF_FILE",
    "READABLE_VERSIONS",
    "SMALL_KEYS",
    "SPLITS",
    "STATS_NAMES",
    "STORAGE_OPTIONS_ENV",
    "ExpansionStore",
    "ExportStore",
    "ExportWriter",
    "MLPerfWriter",
    "MetaCSVWriter",
    "ParquetWriter",
    "RemotePath",
    "StoreLayout",
    "StorePath",
    "VerifyReport",
    "Writer",
    "ZarrWriter",
    "atomic_write_bytes",
    "check_lock",
    "check_manifest",
    "check_owned",
    "check_reachable",
    "check_resume",
    "claim_folder",
    "clear_owned",
    "csv_lines",
    "dump_json",
    "glob",
    "is_remote",
    "lock_output",
    "new_store_id",
    "open",
    "open_checked_array",
    "open_export",
    "open_store",
    "output_path",
    "prepare_run",
    "read_npz",
    "remote_errors",
    "remove_owned",
    "remove_tree",
    "set_storage_options",
    "staged_file",
    "storage_options",
    "store_format",
    "store_path",
    "store_status",
    "verify",
    "walk_files",
    "write_manifest",
    "writer_class",
]
