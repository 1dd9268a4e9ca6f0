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
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np

from ..errors import ParameterError
from ._layout import StoreLayout
from ._parquet import ParquetWriter
from ._zarr import ZarrWriter


class Writer(Protocol):
    """A store being written: implemented by :class:`ZarrWriter` and :class:`ParquetWriter`.

    Attributes
    ----------
    format : {"zarr", "parquet"}
    path : pathlib.Path
        The store directory.
    layout : StoreLayout
        Sizes and sharding of the store.
    """

    format: str
    path: Path
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

    def finalize(self, extra_attrs: dict[str, Any] | None = None) -> None:
        """Check every piece is written, write the manifest, mark the store complete."""
        ...


def writer_class(format: str) -> type[ZarrWriter] | type[ParquetWriter]:
    """The :class:`Writer` implementation of ``format`` ("zarr" or "parquet")."""
    if format == "zarr":
        return ZarrWriter
    if format == "parquet":
        return ParquetWriter
    raise ParameterError(f"format={format!r} is not one of zarr, parquet")


__all__ = ["Writer", "writer_class"]
