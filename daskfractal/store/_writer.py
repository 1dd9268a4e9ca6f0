"""The :class:`Writer` protocol: what the expansion writer needs from a store format.

Both formats are written the same way: the driver creates (or, to resume, reopens) a store,
Dask tasks each write one whole *piece* (a Zarr shard of every stored array of a split, or a
Parquet part of a split), the driver writes the small arrays and finalizes. A task first asks
:meth:`Writer.piece_done`: a piece finished by an earlier run is not generated again, and its
item ids (:meth:`Writer.piece_items`) give the item degrees the task returns.

How a piece is written differs (a shard has fixed entry bounds and per-array files, a part is
a user range of rows): that stays on the classes (``ZarrWriter.write_shard``,
``ParquetWriter.write_part``), called by the format's task function.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Protocol, Self

import numpy as np

from .._names import STORE_FORMATS
from ..errors import ParameterError
from ._export import MetaCSVWriter, MLPerfWriter
from ._fs import StorePath
from ._layout import StoreLayout
from ._parquet import ParquetWriter
from ._zarr import ZarrWriter


class Writer(Protocol):
    """A store being written: implemented by :class:`ZarrWriter`, :class:`ParquetWriter` and
    the export writers :class:`MLPerfWriter` and :class:`MetaCSVWriter`.

    Attributes
    ----------
    format : {"zarr", "parquet", "mlperf", "meta-csv"}
    path : pathlib.Path or RemotePath
        The store directory (or object-store prefix).
    layout : StoreLayout
        Sizes and sharding of the store.
    """

    format: str
    path: StorePath
    layout: StoreLayout

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        layout: StoreLayout,
        attrs: dict[str, Any] | None = None,
        *,
        overwrite: bool = False,
    ) -> Self:
        """Create a new, incomplete store (see :meth:`ZarrWriter.create`)."""
        ...

    @classmethod
    def reopen(
        cls,
        path: str | os.PathLike[str],
        layout: StoreLayout,
        attrs: dict[str, Any] | None = None,
    ) -> Self:
        """Reopen an incomplete store to resume it; damaged finished pieces are forgotten."""
        ...

    def piece_done(self, split: str, k: int) -> bool:
        """Whether piece ``k`` of ``split`` is whole on disk and marked done."""
        ...

    def piece_items(self, split: str, k: int) -> np.ndarray:
        """Item ids of the finished piece ``k`` of ``split`` (read back, checksum-checked)."""
        ...

    def write_small(self, key: str, values: Any) -> None:
        """Write a small array whole (``*/indptr``, ``stats/*``, ``users/slot``)."""
        ...

    def write_small_parts(self, key: str, parts: Iterable[Any]) -> None:
        """Write a 1-D small array from consecutive parts, one in memory at a time (the same
        bytes as :meth:`write_small` of their concatenation)."""
        ...

    def finalize(self, extra_attrs: dict[str, Any] | None = None) -> None:
        """Check every piece is written, write the manifest, mark the store complete."""
        ...


#: Every format :func:`writer_class` knows, in the order of the CLI's ``--format`` choices.
FORMATS: tuple[str, ...] = STORE_FORMATS


def writer_class(
    format: str,
) -> type[ZarrWriter] | type[ParquetWriter] | type[MLPerfWriter] | type[MetaCSVWriter]:
    """The :class:`Writer` implementation of ``format`` (one of :data:`FORMATS`).

    Examples
    --------
    >>> writer_class("mlperf").__name__
    'MLPerfWriter'
    """
    classes: dict[
        str, type[ZarrWriter] | type[ParquetWriter] | type[MLPerfWriter] | type[MetaCSVWriter]
    ] = {
        "zarr": ZarrWriter,
        "parquet": ParquetWriter,
        "mlperf": MLPerfWriter,
        "meta-csv": MetaCSVWriter,
    }
    if format not in classes:
        raise ParameterError(f"format={format!r} is not one of {', '.join(FORMATS)}")
    return classes[format]


__all__ = ["FORMATS", "Writer", "writer_class"]
