"""The shape of an output store (:class:`StoreLayout`) and the rules both formats share.

Nothing here touches the disk: the layout says how many users, items and interactions a store
holds, which per-interaction columns it carries and how the big 1-D arrays are cut into shards,
so that the expansion engine and the writers agree on which task writes which range.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import INT32_LIMIT, as_int
from ..errors import ParameterError, StoreError

#: Version of the on-disk layout; bumped on any incompatible change. 2: the same layout, the
#: exact / balanced dropouts draw rows that keep few of many by Floyd's sampling (other bytes
#: than version 1 for those rows). 3: the same layout, the block and stratified shuffles are
#: computed bijections (a keyed Feistel network) instead of Fisher-Yates tables (other bytes)
FORMAT_VERSION = 3
#: every version this library reads (a store is read the same whatever its version; only a
#: store of :data:`FORMAT_VERSION` is resumed)
READABLE_VERSIONS = (1, 2, 3)

SPLITS: tuple[str, ...] = ("train", "test")
CARRY_COLUMNS: tuple[str, ...] = ("ratings", "timestamps")
SHARD_NAMES: tuple[str, ...] = ("indices", *CARRY_COLUMNS)

#: Keys of the arrays written whole with ``write_small``.
STATS_NAMES: tuple[str, ...] = (
    "user_train_degree",
    "user_test_degree",
    "item_train_degree",
    "item_test_degree",
    "block_train",
    "block_test",
)
SMALL_KEYS: tuple[str, ...] = (
    "train/indptr",
    "test/indptr",
    *(f"stats/{name}" for name in STATS_NAMES),
    "users/slot",
)
#: The small arrays a public store does not write: they locate the source user and the keep
#: probability of every block (see :attr:`StoreLayout.public` and docs/privacy.md).
PUBLIC_HIDDEN_KEYS: tuple[str, ...] = ("users/slot", "stats/block_train", "stats/block_test")

#: Above this many items the expansion writer never holds the item degrees as one dense array
#: (2**24 items: 128 MiB an int64 array): they are counted by item range in the work folder.
DENSE_ITEMS_MAX = 2**24
#: Above this many items ``stats()`` does not load ``stats/item_*_degree`` whole (2**27 items:
#: 1 GiB an array); read them by range or as a histogram of degrees instead.
LOAD_ITEMS_MAX = 2**27

#: Marker file written last by ``finalize`` (Hadoop convention).
SUCCESS_FILE = "_SUCCESS"
#: Every file of a finished store with its size and SHA-256 (see store/_manifest.py).
MANIFEST_FILE = "manifest.json"
#: Per-shard completion markers live here while a store is being written.
PROGRESS_DIR = "_progress"


@dataclass(frozen=True)
class StoreLayout:
    """Sizes, dtypes and sharding of one output store.

    Parameters
    ----------
    n_users, n_items : int
        Number of output users (rows) and items (columns).
    nnz : dict of str to int
        Number of stored interactions of each split; keys exactly ``"train"`` and ``"test"``.
    index_dtype : {"auto", "int32", "int64"}, default "auto"
        Dtype of the item ids; ``"auto"`` picks int32 when ``n_items < 2**31``, else int64.
        int32 is refused when ``n_items >= 2**31``.
    carry : tuple of str, default ()
        Per-interaction columns stored beside the item ids, a subset of
        ``("ratings", "timestamps")`` (normalized to that order).
    shard_elems : int, default 2**24
        Elements per shard of the big per-interaction arrays: shard ``k`` of a split is the
        element range ``[k * shard_elems, min((k + 1) * shard_elems, nnz))``; one writer call
        writes exactly one shard. Must be a multiple of ``chunk_elems``.
    chunk_elems : int, default 2**20
        Elements per compressed chunk (the unit a reader decompresses).
    blocks : tuple of int, default (1, 1)
        Shape ``(m', n')`` of the block statistics ``stats/block_train`` and ``stats/block_test``.
    public : bool, default False
        A store meant for release: the arrays of :data:`PUBLIC_HIDDEN_KEYS` are not written
        (:meth:`small_keys`). Recorded in the metadata only when true, so the layout of every
        other store is unchanged.

    Raises
    ------
    ParameterError
        If a size is negative, the splits or carried columns are unknown, the shard is not a
        multiple of the chunk, or int32 cannot hold the item ids.
    """

    n_users: int
    n_items: int
    nnz: dict[str, int]
    index_dtype: str = "auto"
    carry: tuple[str, ...] = ()
    shard_elems: int = 2**24
    chunk_elems: int = 2**20
    blocks: tuple[int, int] = (1, 1)
    public: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("n_users", "n_items", "shard_elems", "chunk_elems"):
            set_(self, name, as_int(getattr(self, name), name, low=0))
        if self.chunk_elems < 1 or self.shard_elems < 1:
            raise ParameterError(
                f"chunk_elems and shard_elems must be >= 1, got {self.chunk_elems}, "
                f"{self.shard_elems}"
            )
        if self.shard_elems % self.chunk_elems:
            raise ParameterError(
                f"shard_elems ({self.shard_elems}) must be a multiple of chunk_elems "
                f"({self.chunk_elems})"
            )
        if not isinstance(self.nnz, dict) or set(self.nnz) != set(SPLITS):
            raise ParameterError(
                f"nnz must be a dict with keys 'train' and 'test', got {self.nnz!r}"
            )
        nnz = {s: as_int(self.nnz[s], f"nnz[{s!r}]", low=0) for s in SPLITS}
        set_(self, "nnz", nnz)
        carry = tuple(self.carry)
        unknown = set(carry) - set(CARRY_COLUMNS)
        if unknown:
            raise ParameterError(
                f"carry may only hold {CARRY_COLUMNS}, got unknown {sorted(unknown)}"
            )
        set_(self, "carry", tuple(c for c in CARRY_COLUMNS if c in carry))
        dtype = str(self.index_dtype)
        if dtype == "auto":
            dtype = "int32" if self.n_items < INT32_LIMIT else "int64"
        elif dtype not in ("int32", "int64"):
            raise ParameterError(f"index_dtype must be 'auto', 'int32' or 'int64', got {dtype!r}")
        elif dtype == "int32" and self.n_items >= INT32_LIMIT:
            raise ParameterError(
                f"index_dtype int32 cannot hold item ids of n_items={self.n_items} (>= 2**31)"
            )
        set_(self, "index_dtype", dtype)
        blocks = tuple(self.blocks)
        if len(blocks) != 2:
            raise ParameterError(f"blocks must be a pair (m', n'), got {self.blocks!r}")
        set_(self, "blocks", tuple(as_int(b, "blocks", low=1) for b in blocks))
        if not isinstance(self.public, bool | np.bool_):
            raise ParameterError(f"public must be True or False, got {self.public!r}")
        set_(self, "public", bool(self.public))

    def __hash__(self) -> int:
        return hash(
            (
                self.n_users,
                self.n_items,
                tuple(sorted(self.nnz.items())),
                self.index_dtype,
                self.carry,
                self.shard_elems,
                self.chunk_elems,
                self.blocks,
                self.public,
            )
        )

    # ----------------------------------------------------------------------------- shards
    def n_shards(self, split: str) -> int:
        """Number of shards of the per-interaction arrays of ``split`` (0 when it is empty)."""
        return math.ceil(self.nnz[check_split(split)] / self.shard_elems)

    def shard_bounds(self, split: str, k: int) -> tuple[int, int]:
        """Element range ``[start, stop)`` of shard ``k`` of ``split``.

        Raises
        ------
        ParameterError
            If ``k`` is not in ``[0, n_shards(split))``.
        """
        n = self.n_shards(split)
        k = as_int(k, "shard index", low=0)
        if k >= n:
            raise ParameterError(f"shard {k} of split {split!r} is out of range [0, {n})")
        start = k * self.shard_elems
        return start, min(start + self.shard_elems, self.nnz[split])

    def n_chunks(self, split: str) -> int:
        """Number of ``chunk_elems`` chunks of the per-interaction arrays of ``split``."""
        return math.ceil(self.nnz[check_split(split)] / self.chunk_elems)

    # ----------------------------------------------------------------------------- arrays
    @property
    def index_np_dtype(self) -> np.dtype:
        """The numpy dtype of the item ids."""
        return np.dtype(self.index_dtype)

    def shard_dtype(self, name: str) -> np.dtype:
        """Dtype of the per-interaction array ``name`` ("indices", "ratings", "timestamps")."""
        if name == "indices":
            return self.index_np_dtype
        if name == "ratings":
            return np.dtype("float32")
        if name == "timestamps":
            return np.dtype("int64")
        raise ParameterError(
            f"unknown per-interaction array {name!r}; expected one of {SHARD_NAMES}"
        )

    def shard_names(self) -> tuple[str, ...]:
        """The per-interaction arrays this layout stores: indices, then the carried ones."""
        return ("indices", *self.carry)

    def small_keys(self) -> tuple[str, ...]:
        """The small arrays this layout writes: :data:`SMALL_KEYS`, without
        :data:`PUBLIC_HIDDEN_KEYS` when :attr:`public`."""
        if not self.public:
            return SMALL_KEYS
        return tuple(k for k in SMALL_KEYS if k not in PUBLIC_HIDDEN_KEYS)

    def small_spec(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of the small array ``key`` (one of :data:`SMALL_KEYS`)."""
        if key not in SMALL_KEYS:
            raise ParameterError(f"unknown small array {key!r}; expected one of {SMALL_KEYS}")
        if key not in self.small_keys():
            raise ParameterError(f"a public store does not hold {key} (it would reveal sources)")
        name = key.split("/")[1]
        if name == "indptr":
            return (self.n_users + 1,), np.dtype("int64")
        if name == "slot":
            return (self.n_users,), np.dtype("int64")
        if name.startswith("user_"):
            return (self.n_users,), np.dtype("int32")
        if name.startswith("item_"):
            return (self.n_items,), np.dtype("int64")
        return tuple(self.blocks), np.dtype("int64")

    # ----------------------------------------------------------------------------- serde
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in the store's metadata."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "nnz": dict(self.nnz),
            "index_dtype": self.index_dtype,
            "carry": list(self.carry),
            "shard_elems": self.shard_elems,
            "chunk_elems": self.chunk_elems,
            "blocks": list(self.blocks),
            **({"public": True} if self.public else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoreLayout:
        """Inverse of :meth:`to_dict`."""
        return cls(
            n_users=data["n_users"],
            n_items=data["n_items"],
            nnz=dict(data["nnz"]),
            index_dtype=data["index_dtype"],
            carry=tuple(data["carry"]),
            shard_elems=data["shard_elems"],
            chunk_elems=data["chunk_elems"],
            blocks=tuple(data["blocks"]),
            public=bool(data.get("public", False)),
        )


def check_dense_items(where: object, n_items: int, what: str) -> None:
    """Refuse to load every item's statistics of a catalogue above :data:`LOAD_ITEMS_MAX`.

    Raises
    ------
    StoreError
        One line: the size, and how to read the item statistics instead.
    """
    if n_items > LOAD_ITEMS_MAX:
        raise StoreError(
            f"{where} has {n_items:,} items: {what} would hold {n_items * 8 / 2**30:.1f} GiB "
            f"per item array (the limit is {LOAD_ITEMS_MAX:,} items); read the item degrees "
            "by range (item_degrees, iter_item_degrees) or as a histogram "
            "(item_degree_histogram), and stats(items=False) for the others"
        )


def check_split(split: str) -> str:
    """``split`` if it is "train" or "test", else :class:`ParameterError`."""
    if split not in SPLITS:
        raise ParameterError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def _to_json(obj: Any, where: str) -> Any:
    """Convert numpy scalars/arrays and tuples to plain JSON types, refusing anything else."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | np.integer) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        if not math.isfinite(value):
            raise ParameterError(f"store attribute {where} is {value}, which JSON cannot hold")
        return value
    if isinstance(obj, np.ndarray):
        return _to_json(obj.tolist(), where)
    if isinstance(obj, list | tuple):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ParameterError(f"store attribute {where} has a non-string key {key!r}")
            out[key] = _to_json(value, f"{where}.{key}")
        return out
    raise ParameterError(
        f"store attribute {where} has type {type(obj).__name__}, which is not JSON-serializable"
    )


def canonical_attrs(attrs: dict[str, Any] | None) -> dict[str, Any]:
    """``attrs`` as plain JSON with keys sorted at every level (so metadata bytes are stable).

    Raises
    ------
    ParameterError
        If ``attrs`` holds something JSON cannot represent (objects, NaN, non-string keys).
    """
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise ParameterError(f"store attributes must be a dict, got {type(attrs).__name__}")
    plain = _to_json(attrs, "attrs")
    return json.loads(json.dumps(plain, sort_keys=True, allow_nan=False))
