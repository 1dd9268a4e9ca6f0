"""Golden outputs: the sha256 of every array of a few stores, and validate / negatives numbers.

What is pinned is the *decoded* content (the arrays read back through zarr, the Parquet
columns read back with pyarrow, file by file in order), not the files on disk: a change of
codec, chunking, sharding or metadata keeps these digests, any change of the data breaks them.
They guard restructurings that must give the same bytes out (moving modules, one kernel path,
store codec changes).

When a change of output is *intended*, regenerate the expected values and say why in the
commit message::

    PYTHONPATH=. python -m tests.test_golden --regenerate          # print EXPECTED_* blocks
    PYTHONPATH=. python -m tests.test_golden --regenerate --write  # rewrite them in this file

The ML-100K cases are added where ``../shared/data/ml-100k`` exists (``--regenerate``
keeps their previous values without it).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import pprint
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import zarr

import daskfractal as dfr

from .conftest import has_shared, shared_file

# --------------------------------------------------------------------------------------
# what is built

#: Every case: its input and the options of expand and of the store. Small on purpose
#: (well under a second each once the kernels are compiled).
CASES: dict[str, dict[str, Any]] = {
    # the papers' modes (block, bernoulli; test policy all, ratings and timestamps carried);
    # small shards so that several write tasks assemble the train arrays
    "default-block-zarr": {
        "data": "default",
        "expand": {"factors": (2, 3), "seed": 7, "shuffle": "block", "dropout": "bernoulli"},
        "store": {"format": "zarr", "shard_size": 2**17, "chunk_elems": 2**15},
    },
    "default-stratified-zarr": {
        "data": "default",
        "expand": {
            "factors": (3, 2),
            "seed": 11,
            "shuffle": "stratified",
            "window": 8,
            "dropout": "exact",
        },
        "store": {"format": "zarr"},
    },
    "default-none-zarr": {
        "data": "default",
        "expand": {
            "factors": (2, 2),
            "seed": 5,
            "shuffle": "none",
            "dropout": "bernoulli",
            "test_policy": "one",
            "carry": (),
        },
        "store": {"format": "zarr"},
    },
    # several Parquet files (a fixed user range each), ratings and timestamps carried
    "default-block-parquet": {
        "data": "default",
        "expand": {
            "factors": (2, 3),
            "seed": 3,
            "shuffle": "block",
            "dropout": "exact",
            "test_policy": "one",
            "timeline": "source",  # the real timestamps, as the papers
        },
        "store": {"format": "parquet", "users_per_file": 500},
    },
    "default-stratified-parquet": {
        "data": "default",
        "expand": {
            "factors": (2, 2),
            "seed": 13,
            "shuffle": "stratified",
            "dropout": "bernoulli",
            "carry": "ratings",
        },
        "store": {"format": "parquet"},
    },
    # two levels: R̂₁ (2 × 2) ⊗rand (R̂₂ (2 × 1) ⊗rand R), every option at its default
    # (stratified, balanced): pins the default modes
    "default-multilevel-zarr": {
        "data": "default",
        "expand": {"factors": (2, 2), "inner_factors": [(2, 1)], "seed": 17},
        "store": {"format": "zarr"},
    },
    "ml100k-block-zarr": {
        "data": ("ml-100k", "u.data"),
        "expand": {"factors": (2, 3), "seed": 7, "shuffle": "block", "dropout": "bernoulli"},
        "store": {"format": "zarr"},
    },
    "ml100k-none-parquet": {
        "data": ("ml-100k", "u.data"),
        "expand": {"factors": (3, 2), "seed": 9, "shuffle": "none", "dropout": "exact"},
        "store": {"format": "parquet", "users_per_file": 1000},
    },
}

#: The store whose validate numbers and negatives are pinned.
VALIDATED = "default-block-zarr"
VALIDATE_OPTIONS: dict[str, Any] = {"k": 8, "seed": 1, "figures": False}
NEGATIVES_OPTIONS: dict[str, Any] = {
    "num_negatives": 2,
    "distribution": "popularity",
    "alpha": 0.5,
    "seed": 4,
    "shuffle_window": 2**16,
}
NEGATIVES_WRITE: dict[str, Any] = {"epochs": [0, 1], "test_negatives": 20}

# --------------------------------------------------------------------------------------
# digests of decoded contents


def _digest(values: np.ndarray, kind: str) -> str:
    """sha256 of an array's kind (dtype or Arrow type), shape and C-order bytes."""
    values = np.ascontiguousarray(values)
    h = hashlib.sha256(f"{kind}|{values.shape}|".encode())
    h.update(values.tobytes())
    return h.hexdigest()


def _zarr_arrays(group: zarr.Group, prefix: str = "") -> Iterator[tuple[str, zarr.Array]]:
    for name, member in sorted(group.members(), key=lambda kv: kv[0]):
        if isinstance(member, zarr.Group):
            yield from _zarr_arrays(member, f"{prefix}{name}/")
        else:
            yield f"{prefix}{name}", member


def zarr_digests(path: str | Path) -> dict[str, str]:
    """``{array path: digest}`` of every array of a Zarr group, read back through zarr."""
    group = zarr.open_group(str(path), mode="r")
    out = {}
    with warnings.catch_warnings():
        # the store's _SUCCESS marker is a file zarr does not know
        warnings.filterwarnings("ignore", "Object at .* is not recognized", UserWarning)
        members = list(_zarr_arrays(group))
    for name, arr in members:
        values = arr[...]
        out[name] = _digest(np.asarray(values), np.dtype(values.dtype).str)
    return out


def parquet_digests(path: str | Path) -> dict[str, str]:
    """``{file:column: digest}`` of every column of every Parquet file under ``path``."""
    root = Path(path)
    out = {}
    for file in sorted(root.rglob("*.parquet")):
        rel = file.relative_to(root).as_posix()
        table = pq.read_table(file)
        for name in table.column_names:
            column = table.column(name)
            if column.null_count:
                raise AssertionError(f"{rel}:{name} has nulls")
            values = column.to_numpy()
            out[f"{rel}:{name}"] = _digest(values, str(column.type))
    return out


def store_digests(path: str | Path, fmt: str) -> dict[str, str]:
    return zarr_digests(path) if fmt == "zarr" else parquet_digests(path)


def build(name: str, where: Path) -> Path:
    """Expand and write case ``name`` under ``where``; return the store path."""
    case = CASES[name]
    data = case["data"]
    source = data if isinstance(data, str) else str(shared_file(*data))
    ex = dfr.expand(source, **case["expand"])
    store = case["store"]
    path = where / f"{name}.{store['format']}"
    writer = ex.to_zarr if store["format"] == "zarr" else ex.to_parquet
    writer(path, progress=False, **{k: v for k, v in store.items() if k != "format"})
    return path


def negatives_digests(store: Path, where: Path) -> dict[str, str]:
    sampler = dfr.NegativeSampler(dfr.open(store), **NEGATIVES_OPTIONS)
    out = where / "negatives.zarr"
    sampler.to_zarr(out, progress=False, **NEGATIVES_WRITE)
    return zarr_digests(out)


# --------------------------------------------------------------------------------------
# validate numbers

#: Significant digits kept of a float, and the relative tolerance a comparison allows. The
#: randomized SVD runs float32 passes whose sums depend on BLAS threads: its numbers get a
#: looser tolerance. Checked stable across runs and with OMP_NUM_THREADS=1.
SIGNIFICANT = 7
REL_TOL = 1e-6
LOOSE = {"spectrum.expansion": 1e-4, "spectrum.relative_deviation": 1e-3}
#: Leaves not pinned: where things are, how long they took, and the randomized SVD's
#: residuals (tiny values, noise relative to themselves).
UNPINNED = re.compile(
    r"^(timings|settings|store\.path|store\.source|original\.source|"
    r"spectrum\.residual|spectrum\.method)(\.|$)"
)


def _flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _flatten(obj[k], f"{prefix}{k}.")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _flatten(v, f"{prefix}{i}.")
    else:
        yield prefix[:-1], obj


def _round(x: float) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{SIGNIFICANT - 1}e}")


def validate_numbers(store: Path) -> dict[str, Any]:
    """The report's numbers, flattened to ``{dotted.key: value}``, floats rounded."""
    report = dfr.validate(store, progress=False, **VALIDATE_OPTIONS)
    out: dict[str, Any] = {}
    for key, value in _flatten(report.numbers):
        if UNPINNED.match(key):
            continue
        if isinstance(value, bool | int | str) or value is None:
            out[key] = value
        elif isinstance(value, float):
            out[key] = _round(value)
        else:
            raise TypeError(f"{key}: unexpected {type(value).__name__}")
    return out


def _tolerance(key: str) -> float:
    for prefix, tol in LOOSE.items():
        if key.startswith(prefix + "."):
            return tol
    return REL_TOL


def _number_mismatches(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    bad = [f"{k}: missing (expected {expected[k]!r})" for k in expected if k not in actual]
    bad += [f"{k}: new key ({actual[k]!r})" for k in actual if k not in expected]
    for key in expected.keys() & actual.keys():
        a, e = actual[key], expected[key]
        if isinstance(e, float) and isinstance(a, float):
            if not math.isclose(a, e, rel_tol=_tolerance(key), abs_tol=1e-12):
                bad.append(f"{key}: {a!r} != {e!r} (rel. tolerance {_tolerance(key)})")
        elif a != e or type(a) is not type(e):
            bad.append(f"{key}: {a!r} != {e!r}")
    return sorted(bad)


def _digest_mismatches(actual: dict[str, str], expected: dict[str, str]) -> list[str]:
    bad = [f"{k}: missing" for k in expected if k not in actual]
    bad += [f"{k}: new array (not pinned)" for k in actual if k not in expected]
    bad += [
        f"{k}: content changed (sha256 {actual[k][:16]}…, expected {expected[k][:16]}…)"
        for k in expected
        if k in actual and actual[k] != expected[k]
    ]
    return sorted(bad)


# --------------------------------------------------------------------------------------
# the tests


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    where = tmp_path_factory.mktemp("golden")
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = build(name, where)
        return cache[name]

    return get


def _case_available(name: str) -> bool:
    """Whether the input of case ``name`` is here (the embedded data, or shared data present)."""
    data = CASES[name]["data"]
    return isinstance(data, str) or has_shared(*data)


@pytest.mark.parametrize("name", [name for name in sorted(CASES) if _case_available(name)])
def test_store_digests(name: str, built: Callable[[str], Path]) -> None:
    path = built(name)
    actual = store_digests(path, CASES[name]["store"]["format"])
    bad = _digest_mismatches(actual, EXPECTED_STORES[name])
    assert not bad, f"store {name}: {len(bad)} array(s) differ:\n  " + "\n  ".join(bad)


def test_validate_numbers(built: Callable[[str], Path]) -> None:
    bad = _number_mismatches(validate_numbers(built(VALIDATED)), EXPECTED_VALIDATE)
    assert not bad, f"validate {VALIDATED}: {len(bad)} number(s) differ:\n  " + "\n  ".join(bad)


def test_negatives_digests(built: Callable[[str], Path], tmp_path: Path) -> None:
    actual = negatives_digests(built(VALIDATED), tmp_path)
    bad = _digest_mismatches(actual, EXPECTED_NEGATIVES)
    assert not bad, f"negatives of {VALIDATED}: {len(bad)} array(s) differ:\n  " + "\n  ".join(bad)


def test_digest_reads_decoded_values(tmp_path: Path) -> None:
    """The digest depends on the values only, not on chunks, shards or codecs."""
    values = np.arange(1000, dtype=np.int64) * 7919 % 1009
    for i, (chunks, shards, compressors) in enumerate(
        [((1000,), None, "auto"), ((100,), (500,), None), ((64,), (128,), "auto")]
    ):
        path = tmp_path / f"a{i}.zarr"
        group = zarr.open_group(str(path), mode="w")
        arr = group.create_array(
            "x",
            shape=values.shape,
            dtype=values.dtype,
            chunks=chunks,
            shards=shards,
            compressors=compressors,
        )
        arr[...] = values
        assert zarr_digests(path) == {"x": _digest(values, "<i8")}
    changed = values.copy()
    changed[500] += 1
    assert _digest(changed, "<i8") != _digest(values, "<i8")


# --------------------------------------------------------------------------------------
# expected values (generated by ``python -m tests.test_golden --regenerate --write``)

# BEGIN GOLDEN
EXPECTED_STORES: dict[str, dict[str, str]] = {
    "default-block-parquet": {
        "indptr/test.parquet:indptr": "71fa99f0fc7c7b9364873d6a616efa602cea9b15af9c8476854ea77c5a474e21",
        "indptr/train.parquet:indptr": "67f9ddbe934751be768c052eb54fb051ec34f4a9cb70319d1d7501376a8cbad6",
        "stats/block_test.parquet:block_col": "de897692864a7cc041e476ffd846b932e48d689c2285622028f5b9c01e58e5e0",
        "stats/block_test.parquet:block_row": "5f47f2c2b445feb89c2008b1a39b73aec91e473b08849f00c0eb7f3a7dcd6d7c",
        "stats/block_test.parquet:value": "3b5865942123010347dae6c73e80fe05899f0aee45ac0ff5038783bdcb38a81b",
        "stats/block_train.parquet:block_col": "de897692864a7cc041e476ffd846b932e48d689c2285622028f5b9c01e58e5e0",
        "stats/block_train.parquet:block_row": "5f47f2c2b445feb89c2008b1a39b73aec91e473b08849f00c0eb7f3a7dcd6d7c",
        "stats/block_train.parquet:value": "fad73e0540e5000cd468c461939ce512310b26bc951ae2f8ebc80e1235c07170",
        "stats/item_test_degree.parquet:item_test_degree": "8fec70ddb3107ebfb38ccbff0552513f448bf6650d14bd5407f159a9d1675e9d",
        "stats/item_train_degree.parquet:item_train_degree": "b39b856ba30a1d657ed03e81f0d18abea4e87324827f299697059841ce34118f",
        "stats/user_test_degree.parquet:user_test_degree": "a45d950a8c37cb3dcb634165a96a3a5e9fdf1578f080212f6ecce137dd2b98cf",
        "stats/user_train_degree.parquet:user_train_degree": "25991ab37028b22285553f3e3c90ade3e2b97b61d5ad467df4491ab6a64d9cd9",
        "test/part-00000.parquet:item_id": "7ca03925a8075d422c73b3662b1628f663d81664b56a2080eb160dc1a5c70f68",
        "test/part-00000.parquet:rating": "2f92ae6af3b250ae2a9ec476d2b400a6ab35bbba0e6b262d17216190c4c235af",
        "test/part-00000.parquet:timestamp": "7eb00347168f5640b3f91819f83b651ff1f7bd01e68ae296e9b38c29bbe1a823",
        "test/part-00000.parquet:user_id": "ebe2f6194cfb7f0880e8ca6b7605825c4670797cd75bb0d8d11cbcf0bba5af62",
        "test/part-00001.parquet:item_id": "0882c9a9ea73f6473addef5fb7c3fca54a11d2c8a811551222000ffcb7671d38",
        "test/part-00001.parquet:rating": "fb6e6a10eb3a60effa1cc169e6dfc1a5dbbfe63fae42c2db74bbe2d69fe4d2e1",
        "test/part-00001.parquet:timestamp": "17c7752a8508a8d338f65bb24e5789863f15b37fae7ce7b7a278c0d5d1b36ceb",
        "test/part-00001.parquet:user_id": "44032b228b9143b99b470c52c8ec0497e2b8260c771db0980b67bae243986aaa",
        "test/part-00002.parquet:item_id": "5dac6cd2f303a001581203e02d24d4cd845f81c394bfcf72bc09b9bcc4b7006f",
        "test/part-00002.parquet:rating": "5b761eab2860fdebcdc06c74aa19ef3660a787eca1c40154a0627ff1f3eaf09d",
        "test/part-00002.parquet:timestamp": "042610e4a421b27b6564068943791c45286c0f2a6b555d81ab4fb4303cd4604c",
        "test/part-00002.parquet:user_id": "2858506b53de52ff1ec3c52ed40bd77c463748974b54299324d08f273778ff33",
        "train/part-00000.parquet:item_id": "a57bce2d911f269715aaa81d8a44ebf4ada2fd1db58d8ee3a1ec7e216f3d7629",
        "train/part-00000.parquet:rating": "6cda217ec402eec26bf868b5f5c9a8f727ffaf03e38d40446859370442531bb3",
        "train/part-00000.parquet:timestamp": "bbc247073d3a322d30a1f50b2eb85976ed15a4802152156b24305402a7cc33c8",
        "train/part-00000.parquet:user_id": "dd9d7d7a902629fd7182d0528835709bcfff6a87ef5ba53990499d16a15f2400",
        "train/part-00001.parquet:item_id": "d0c7872c193243900662d166a2a153ca5f89668ae48489441bb178bdc9689730",
        "train/part-00001.parquet:rating": "a666a399dc0759dcc60b4e98402c0c11ed3c3e22404ddff1eb43296c3cde0acc",
        "train/part-00001.parquet:timestamp": "c47d73df8671821b874631fd4cda0f0f1217da14deabc1caf4f924c52f77e5b1",
        "train/part-00001.parquet:user_id": "d851f92c984b87279fba464da3b865ebf17e88152ccff6044eb53a52c9b475f9",
        "train/part-00002.parquet:item_id": "7d19c9faf9a2d235bd709c2359c782b958ecc3745d4e0fb04b933910a69e44e6",
        "train/part-00002.parquet:rating": "c2b5e0d31410d54406474e2da4f2a1ae73f793284293b7fc723cfbace73fda7d",
        "train/part-00002.parquet:timestamp": "e651a4aaffa54779ec06f9086c5fb6fc94ef46dd3c03d706c7b2a41716964042",
        "train/part-00002.parquet:user_id": "d9fd7ddcff4f4c4f5967acd49b7d5ca348d389ab5259842c573c58e3bfe64111",
        "users/slot.parquet:slot": "b60cfdb2c1c270c6ce776e3717d02fe19910ce73da58b1c77bd0e5d67d44c0ed",
    },
    "default-block-zarr": {
        "stats/block_test": "9fbf347463c75d745084b266b06d0c773cb7a958e22d7671f26b8c86f2f3f668",
        "stats/block_train": "bcee6dbda52f16bb33ee80b862f18b0d50fd08e1d1a9dada8c4421e305f74bac",
        "stats/item_test_degree": "9a6c5240ea763918515df29ee757c7b81524b70de9867ca3e682e0354be23269",
        "stats/item_train_degree": "971c715655263b06c934afd9f2adc5b6fd9d2bb14fb1e0710e385f1007c78d08",
        "stats/user_test_degree": "9918dc306b3bc9e9176f5b607568730dfd326b2b65e83cf85cf439a4b755d524",
        "stats/user_train_degree": "155d729d5042ba099f20d5fcbe1870a67b90845c26ed2c55fc30a8afa12474b7",
        "test/chunk_user": "af54e358110eff79144caee5d4b01bbcf4c5b8291aea4ff97e26ffdcff550af3",
        "test/indices": "c24e512e3b9afe2d5e4701ef45e1146f6271687e0894da112d23a2c5c47ef140",
        "test/indptr": "154a5743be48e16c0cdc3f70ed2ef7df573be6fa91cfdc55f3e2550ab91c69c6",
        "test/ratings": "076f34506cbad96d42e1bbdec77aa166f918a94b835ceaf766fa0c71846abb97",
        "test/timestamps": "7a66320e71b11cdbbe3af4ff13e1e8f9674c465930dda2d7b7938ff8923f6251",
        "train/chunk_user": "9ea467b61a5ca0b5737acc4fcdf64db6362b9ba2d87a9158df6d87a737f5d103",
        "train/indices": "316b94f0abd711f650622cd5936ffbd34dee976c87b866e4c627eb737fccd573",
        "train/indptr": "661ad802beca2ab428d8c84d63e2256f898c82fbc59e2f49d44f6c06e6db58e3",
        "train/ratings": "52eb2a2234a8d6a621cb7225d88bad8f20b52060faa10d1f9eadf018f2baf81c",
        "train/timestamps": "a81b4ae0946ff5024c83a33ea6fa63ebb82da81d919f47968186f0e7a0acf63b",
        "users/slot": "241046a5a0a08ed981e57e66d6815709c301f15c9a24dbe49de697cb9c957ef0",
    },
    "default-multilevel-zarr": {
        "stats/block_test": "d91ded2fd46de758d9c447eced2e9f09fbc30f74600c3ecbba054dca3468ccb4",
        "stats/block_train": "f456cf7fa8e0b39761d45fd9d9844fae049664bebe210d85bec637324bd5e9cc",
        "stats/item_test_degree": "0932af533c2e5623f19b70712fffc9f1b770fca6766a315b8e91d9bd164f7ae5",
        "stats/item_train_degree": "defb196cda5d616c75340fda40148a5bef2afef8798651432758e3851c8f749d",
        "stats/user_test_degree": "60da5d01c20443e76790e9b6958cb6303f9b0b676ea0da6a173db215910b8745",
        "stats/user_train_degree": "56809d16cc1299dcdd2e4f030cb2eddd9bd2793287466f5c2aa0285c5120d624",
        "test/chunk_user": "22c9bd80b45db4a0f3d6c0d9a0c5ef96f38f16a817b5894baa120b3282b06e59",
        "test/indices": "76fba63248408b92a01b260339ac15e34c95aeb7165793719bd892a89c813dd1",
        "test/indptr": "084a141ce43d3e1a4989292c04276e9d8d2c85f3847d070e61a1bff745f48797",
        "test/ratings": "cfbb4d763c07ba60bc7653aca20335107ab51eb58939a147817eaf5662c51721",
        "test/timestamps": "af615aa9c233ec17ec8c4342b1ad2759654bb57bc8f04c8bcf90f54d9909dc8f",
        "train/chunk_user": "22c9bd80b45db4a0f3d6c0d9a0c5ef96f38f16a817b5894baa120b3282b06e59",
        "train/indices": "9510f03d595e61a71f557a24324889e8b91bece876c286444979fc63652ac05e",
        "train/indptr": "5d48f926be6a67fa21559775fac503ae3461c6cce0a23113ecc67e44c859dedf",
        "train/ratings": "a5848523e091f2d4fc67bab081a9f3cdaae89c0dcf03c278f4a0b044b1ed242d",
        "train/timestamps": "1774d4503a1a4238f421886f4818074c484639019e3f67df73dee4b3f977431a",
        "users/slot": "f30b7e2675f374bac6b2f0a9b57705ad0946787752789b5c61669aa5d87409c9",
    },
    "default-none-zarr": {
        "stats/block_test": "9f45b667aa597584692229de1aec2c3ff873918b550d948137ba48b1da9f0325",
        "stats/block_train": "a5154f18589a367080a6be752726fa7fd410eeb1b940f6fd00ebdf22726ffb8d",
        "stats/item_test_degree": "cd792c8bf800cdbcde286b97837b6dc518d8b176331e05ee1688fa87c41e325e",
        "stats/item_train_degree": "33fbf487f5aadabb3f46abaeb0c09f59ac2f0e7b332763f7e57e3f0bc76441f1",
        "stats/user_test_degree": "f74c468b20c480cd90fc22a52f037f752aa46745bb0dfc634d0f7855f4814a6b",
        "stats/user_train_degree": "bb4cc34f9f86b64e0f48a66d1deb0d5891ab0f5508f7fb122704e21cd9799a7c",
        "test/chunk_user": "61b45df4a81cbe466802a9b96ca087c287ca6d8050eeb0e834b5c3987908e38f",
        "test/indices": "7e57b7d117e5cc84816431a0d63e50b53e4a306bb914a83dd7a3fe01cafdf48a",
        "test/indptr": "a9a15cd01c729e066dc31eee7910ea2c8b91a87f0bdc6d63e69876f483d9e400",
        "train/chunk_user": "61b45df4a81cbe466802a9b96ca087c287ca6d8050eeb0e834b5c3987908e38f",
        "train/indices": "0a90763fc37e11d5ac27eacdce762a4ad0435e53b2e746fedc3494684d97d97b",
        "train/indptr": "c63e7697e29297e74c850c031873acc186c20904883651ab0131e8ab357137f0",
        "users/slot": "46c534944a9f74538291878edc7766ded8b2e1c44b01b874b389dae8bd2d19fb",
    },
    "default-stratified-parquet": {
        "indptr/test.parquet:indptr": "6ff23b14fe00acd7d56e91eec7e603df70a0a22e7579f4b643d5f06b3550cf60",
        "indptr/train.parquet:indptr": "c72a6b51ed227863e6216089fe18e4dccfd4807de80d9b53ebac28c1f3e66b1b",
        "stats/block_test.parquet:block_col": "39cdd0009870085c3364ba5444af25b1e0bf2a815c99adfc73491355c7126817",
        "stats/block_test.parquet:block_row": "c0fbb2080d118340cb40275102839b243765c095bdf96e018fb81e4f203c521a",
        "stats/block_test.parquet:value": "fc89b7c05c609efccb6f062cb8280e359079ec2292f6ae96551d1a568de1167a",
        "stats/block_train.parquet:block_col": "39cdd0009870085c3364ba5444af25b1e0bf2a815c99adfc73491355c7126817",
        "stats/block_train.parquet:block_row": "c0fbb2080d118340cb40275102839b243765c095bdf96e018fb81e4f203c521a",
        "stats/block_train.parquet:value": "8ff2de2ee2b01ddc82aec17719b86524cca1f2971864b273acb7550857aa9f11",
        "stats/item_test_degree.parquet:item_test_degree": "88818dad50f97166741079cdccb2dc41dd019f7935a7b4065e0a7c565f9f0dff",
        "stats/item_train_degree.parquet:item_train_degree": "da64aea28c655f3eba3c628d368d238c3bd77a635ae4f424558fa03b19a73e38",
        "stats/user_test_degree.parquet:user_test_degree": "53557bcc81c2b0ee6d02b6f82a89934c6f8c281d3709e9630dc2c45fa1647d68",
        "stats/user_train_degree.parquet:user_train_degree": "d2c926e04d45e867a4e118df06e26d6aa15c11e35499aaea33c071f2f76448aa",
        "test/part-00000.parquet:item_id": "200c179725c651cbd3ce78326ecb893bee36bbe2eaec379423c39017a4a4a931",
        "test/part-00000.parquet:rating": "e08831741fb51be955c4efc7f69b2047c3f42bbc8c30c4e93f154d65cc3f7dc6",
        "test/part-00000.parquet:user_id": "6d5d98d0855c1fa17190d9fdedcec65a3be42890217bb1f3c2ef973d05cde217",
        "train/part-00000.parquet:item_id": "638986f0857b89573fceec53f76287bd2131455681605c2a88c6ac4c1f9970dd",
        "train/part-00000.parquet:rating": "9baf227a6298ae42e0586ae110daadf467b32f279c9858cf9cac1f995019886a",
        "train/part-00000.parquet:user_id": "a0d5af1e151f623437dabe457e707185e0629381a63efe9faf7989050aaa9c66",
        "users/slot.parquet:slot": "f6105f856ace613b3c193f481b4bf3ec9c0aeec65e0feddeb256dd6960da9512",
    },
    "default-stratified-zarr": {
        "stats/block_test": "3943b3e137e81707f4100635d6935e4c335915f1ff8d3eef848ca1ab5f5aa71a",
        "stats/block_train": "b5de22e31d8c9f727caa4f83b57555bd3efd8e49aa5bec5f3bebc80d31de8acd",
        "stats/item_test_degree": "11bf42ceca5b2b93bb6ae4384129a35ab54d41853134db3683314dd384783aee",
        "stats/item_train_degree": "e56e1ad9c83cbb91a99c3c9c0049f7df883ca1e72df4998bc2bb0cceb434b685",
        "stats/user_test_degree": "e34b6c7bcf83abeae2d2c27aa428c9130b681b2822fa7b4f89e9ab51b19e8765",
        "stats/user_train_degree": "edf0aeff7ed0ae235e37fa092ffe2f4ec38c825a8c39f426cd51f998c954687a",
        "test/chunk_user": "db496ebd073b8704186b80e9cb8db87dd38f26be413bf9846dd0413a9c0d1723",
        "test/indices": "99b5daa5bb5964d4b721548133b988edbd77663498b6d1d12fadad651a847d3f",
        "test/indptr": "c3a43bac188ed531f3a6861356da302dc3039cfbdf0a875cf440cbf1b7cb14df",
        "test/ratings": "84b333f5e4f6d070054ec8c718acff4f265912b9b4b878af91e3b85b848095f2",
        "test/timestamps": "2e1a20a4c05d9009c725505a6be391c953f6888218f7ff7d1350686cb014ee5d",
        "train/chunk_user": "db496ebd073b8704186b80e9cb8db87dd38f26be413bf9846dd0413a9c0d1723",
        "train/indices": "14c715885a03e660c9916b40894a77ed63289ac7632251a6f33a6513778c4177",
        "train/indptr": "24f1aa14560c747f4b33b2bd909de8fb6203793b2adda9d7925f62bb908accf5",
        "train/ratings": "499d0c5c23e3c9d3de7cd1c1da3934bc6f2cbf217f37e2280ff5b0d1f4c6cd3a",
        "train/timestamps": "7f566919df6440358462a967d3bd259bdabf240cf9c981ed2828c55a2552f256",
        "users/slot": "34b7698ebb5b67c851039d734d0657128573758f1603f202e528091f7ea4d4e7",
    },
    "ml100k-block-zarr": {
        "stats/block_test": "02636e9d18680872586983b7e0bf92a617aab747ad673aad38e3ba4be721af14",
        "stats/block_train": "c5ed045214085e536d7716992a55272e2b9ec035fb6cfbaaff77e7bd0608f326",
        "stats/item_test_degree": "42ad56e3719fd248336808994b694f37d8f13338dd773c2a1044234e20258561",
        "stats/item_train_degree": "bf50f9caea2e9d07d65b5a4160226b4afea872f687beadd406e28de8834d1d32",
        "stats/user_test_degree": "1b07ecbc266fd5f04c8de66db5ca51e8761b499e3aa02dc8e71188aa43dd47df",
        "stats/user_train_degree": "aad50db36b2676f0159373553ef59222bbf71d0e5a7a261a4779139352cc37ec",
        "test/chunk_user": "2370c49773a157e72b54d9b7a14f165af04d06e2e8d3cb82f5d18f74ae97ee80",
        "test/indices": "3900c7c04e003cc2dd8985281f7708fb2e2d9e7661fcd97bbf36286aa09b3b8a",
        "test/indptr": "7c344bae95b451731cc052d1f6a4c0e233083f88c2c32441f0703824441d6c1d",
        "test/ratings": "d23f3f602538cf26921ce7bf66f3342ef318f6c05c770751e40fcaa1f5fc32f4",
        "test/timestamps": "fbf2171af4916da485b0b6219ba5d98bcdd21b03345c49b731aabd8bf810576d",
        "train/chunk_user": "2370c49773a157e72b54d9b7a14f165af04d06e2e8d3cb82f5d18f74ae97ee80",
        "train/indices": "d20e7eb051b68489e4a5b37c93a40517762c5ede190800a3c45153551e2c2758",
        "train/indptr": "52b23aa503e5d9834937e46731a1d553cf0810a995d7c61c77270f5facb2bda9",
        "train/ratings": "599ad8a7b965531b85d4e084aa41bf90887439da4f4e8fe622c21408d3cdde1e",
        "train/timestamps": "f7ba4e3cc887797578b386043e837086c0d87d5f5680d73a102bf7c3c5c90f28",
        "users/slot": "575dc8b8e683e2c251cd9f47f0dcc40c5fd73600133ddd43cd33458d3de17882",
    },
    "ml100k-none-parquet": {
        "indptr/test.parquet:indptr": "008b8e917558761ace180392a4c2515a4f86c9de87637b304c7375da0046b0ce",
        "indptr/train.parquet:indptr": "572db81ff951b7ccb267c11a5fd92c61e9ff6b112bd3fb0a30e846c990418cf8",
        "stats/block_test.parquet:block_col": "4262cc649e090bf7f9d4abc5fdf624f08d991c6bdde4f883154c3d6ee5bd955f",
        "stats/block_test.parquet:block_row": "477c2e81389e196dcf38751b7fc2960e5233de400737c9879abce3a0e58d1c72",
        "stats/block_test.parquet:value": "80d827179b15a80d0fd80595d3caaa5563c2631d65b09532cef96df81f843ce3",
        "stats/block_train.parquet:block_col": "4262cc649e090bf7f9d4abc5fdf624f08d991c6bdde4f883154c3d6ee5bd955f",
        "stats/block_train.parquet:block_row": "477c2e81389e196dcf38751b7fc2960e5233de400737c9879abce3a0e58d1c72",
        "stats/block_train.parquet:value": "33d5fe577f66be4be1e51228452ec2e0713e8f7a15cd0667a5d74ed018dedc15",
        "stats/item_test_degree.parquet:item_test_degree": "33118f615a40830649fd0f6f41e11d632fc69b385fa21e189d20c13b6c73139d",
        "stats/item_train_degree.parquet:item_train_degree": "49ebbea7b5fd936c72572d7bee863f49cf3b8fadf065ace094dc521ebf2b0902",
        "stats/user_test_degree.parquet:user_test_degree": "e7d5867fcf9a6cee289bf6494590260cccc473f062073e5869ba4604ebb247b1",
        "stats/user_train_degree.parquet:user_train_degree": "82fba9457e605b46a2d9fb67f8e362ef8d5c94398b779fc0e1a26c02d61ef85c",
        "test/part-00000.parquet:item_id": "d869bbf1ff62038089a3b36849d406b8c02b53bf9b81cde32bcd9120ab4a8e42",
        "test/part-00000.parquet:rating": "32a214beba3f5d78b0ccc5d8062fd106aac1316eec0ee95367700fd844d44bc2",
        "test/part-00000.parquet:timestamp": "9291ed36afa28c9c8382ff2a6930a31d4494f81a418725e4fbe1009f89c89411",
        "test/part-00000.parquet:user_id": "76cdea65b629987cea99f9596c674d8600da8c085cb5a9cba110e6ce24a535e5",
        "test/part-00001.parquet:item_id": "9ed7341b2f7ac5e025ae31b3920d254bf4b9e8a32665cf769cfd59603f612530",
        "test/part-00001.parquet:rating": "f6518321c8c38f4373016c9423ccf09bce0c73b07dd6cfda0473dcb02985a3ce",
        "test/part-00001.parquet:timestamp": "ed3dd93df5bd1aaf31082f54c375df23d5a5fa5e4c0721ed141fddb7604190f3",
        "test/part-00001.parquet:user_id": "6346971329a288b5159e9c60a8df54b09cbe54a04f5e01966a70735a98c18aee",
        "test/part-00002.parquet:item_id": "9c06bd296f64727268224e752f1e66b94a09d45b52265259a5784678eed67d17",
        "test/part-00002.parquet:rating": "8958f3017df6379c57481e3b2e7282a12b33c76fa452dc41f944fa56a6ced06e",
        "test/part-00002.parquet:timestamp": "da663ce274828ef043f9d9ee0de347801d30cb4506e52d4bb76a1beb721edc9c",
        "test/part-00002.parquet:user_id": "23a3e628331120a8df5af2f4253daf00b02ef55df01612c557acd3663c258da1",
        "train/part-00000.parquet:item_id": "30927982f69b61bff38ca13066eca73a54e0acb2d2c79a1d325192c1ef0f4e40",
        "train/part-00000.parquet:rating": "0db5f2781882a2d8069e7d8456bb5258eaed8853aa5e83aec533a0c4eb34a398",
        "train/part-00000.parquet:timestamp": "2aaae778246006f80ac28e8c1ba3efc1a81aded8954f76f11e2667b27be6ed3a",
        "train/part-00000.parquet:user_id": "2ee81513ccf53e7bf92813e99e22ec42eedd96d871b7a91bf497627a292a1c09",
        "train/part-00001.parquet:item_id": "bf5af51b276322cfc205f6c77a19f0d208b4013dfb75780945350980164ab3ca",
        "train/part-00001.parquet:rating": "7514eae5c7ba70abf23d7e604bc03248b251fe7c86827e3d73665767e45377ba",
        "train/part-00001.parquet:timestamp": "ef9375e6ad15790769e8af718a7215bfb10bcfa06369dcbc67af592fdc920e62",
        "train/part-00001.parquet:user_id": "49a0282882a4c203ca7aaa1c148ff9d2a023aba48b4a76ab06c354df5b6f2849",
        "train/part-00002.parquet:item_id": "317730ad682c75bb247aca92699c62300eaf168aa590aa1563aacbaabe656890",
        "train/part-00002.parquet:rating": "cf427d89a14c09adb525a4551c7547d411a52e0a4d2fa2022c5a7e37a9c17465",
        "train/part-00002.parquet:timestamp": "88ba181b50aeb731949fe856d2209db6b293205187f08fc702f1b2585a982eb9",
        "train/part-00002.parquet:user_id": "0186e34af1e008ebc3b8f31112de8914e9d613827a43e23756c8e61595d522c0",
        "users/slot.parquet:slot": "ca9b32221773bddc0266007f8ea10cf074fb081f1120fd81c9388762bf8100d0",
    },
}
EXPECTED_VALIDATE: dict[str, Any] = {
    "R_hat.keep.0.0": 0.5692053,
    "R_hat.keep.0.1": 0.740139,
    "R_hat.keep.0.2": 0.7575083,
    "R_hat.keep.1.0": 1.0,
    "R_hat.keep.1.1": 0.3516181,
    "R_hat.keep.1.2": 0.04645143,
    "R_hat.mean": 0.577487,
    "R_hat.shape.0": 2,
    "R_hat.shape.1": 3,
    "blocks.exact": True,
    "blocks.expected_share_none": 0.7789964,
    "blocks.expected_share_shuffled": 0.2890781,
    "blocks.interactions": 347815,
    "blocks.mean_offdiagonal_cosine": 0.01800364,
    "blocks.of_rows": 610,
    "blocks.rank1_energy_share": 0.2889984,
    "blocks.rows": 610,
    "blocks.structure_left": -0.0001625759,
    "blocks.windows": 1,
    "checks.block_counts_sum_to_nnz": True,
    "checks.input_sha256_matches": True,
    "checks.item_degrees_sum_to_nnz": True,
    "checks.train_rows_sorted_unique": True,
    "checks.train_test_disjoint": True,
    "checks.user_degrees_sum_to_nnz": True,
    "degrees.items.R.count": 9724,
    "degrees.items.R.empty_share": 0.002365282,
    "degrees.items.R.gini": 0.7165099,
    "degrees.items.R.head_slope": -0.5144983,
    "degrees.items.R.max": 329,
    "degrees.items.R.mean": 10.30708,
    "degrees.items.R.median": 3.0,
    "degrees.items.R.min": 0,
    "degrees.items.R.nonzero": 9701,
    "degrees.items.R.sum": 100226,
    "degrees.items.R.tail_slope": -1.670563,
    "degrees.items.R_hat.count": 3,
    "degrees.items.R_hat.empty_share": 0.0,
    "degrees.items.R_hat.gini": 0.1472367,
    "degrees.items.R_hat.head_slope": -0.5233822,
    "degrees.items.R_hat.max": 1.569205,
    "degrees.items.R_hat.mean": 1.154974,
    "degrees.items.R_hat.median": 1.091757,
    "degrees.items.R_hat.min": 0.8039598,
    "degrees.items.R_hat.nonzero": 3,
    "degrees.items.R_hat.sum": 3.464922,
    "degrees.items.R_hat.tail_slope": None,
    "degrees.items.expansion.count": 29172,
    "degrees.items.expansion.empty_share": 0.03695324,
    "degrees.items.expansion.gini": 0.65817,
    "degrees.items.expansion.head_slope": -0.4381229,
    "degrees.items.expansion.max": 368,
    "degrees.items.expansion.mean": 11.92291,
    "degrees.items.expansion.median": 4.0,
    "degrees.items.expansion.min": 0,
    "degrees.items.expansion.nonzero": 28094,
    "degrees.items.expansion.sum": 347815,
    "degrees.items.expansion.tail_slope": -1.652247,
    "degrees.items.ks.centered": 0.1945329,
    "degrees.items.ks.log_normalized": 0.1945329,
    "degrees.items.ks.prediction": 0.2389956,
    "degrees.items.ks.standardized": 0.1945329,
    "degrees.items.prediction.count": 29172,
    "degrees.items.prediction.empty_share": 0.002365282,
    "degrees.items.prediction.gini": 0.7250354,
    "degrees.items.prediction.head_slope": -0.5328535,
    "degrees.items.prediction.max": 516.2685,
    "degrees.items.prediction.mean": 11.9044,
    "degrees.items.prediction.median": 3.138411,
    "degrees.items.prediction.min": 0.0,
    "degrees.items.prediction.nonzero": 29103,
    "degrees.items.prediction.sum": 347275.3,
    "degrees.items.prediction.tail_slope": -1.73091,
    "degrees.items.prediction_exact": False,
    "degrees.items.prediction_max_abs_diff": None,
    "degrees.source": "stats",
    "degrees.users.R.count": 610,
    "degrees.users.R.empty_share": 0.0,
    "degrees.users.R.gini": 0.6076597,
    "degrees.users.R.head_slope": -0.5105179,
    "degrees.users.R.max": 2697,
    "degrees.users.R.mean": 164.3049,
    "degrees.users.R.median": 69.5,
    "degrees.users.R.min": 19,
    "degrees.users.R.nonzero": 610,
    "degrees.users.R.sum": 100226,
    "degrees.users.R.tail_slope": -1.41311,
    "degrees.users.R_hat.count": 2,
    "degrees.users.R_hat.empty_share": 0.0,
    "degrees.users.R_hat.gini": 0.09650767,
    "degrees.users.R_hat.head_slope": -0.5639994,
    "degrees.users.R_hat.max": 2.066853,
    "degrees.users.R_hat.mean": 1.732461,
    "degrees.users.R_hat.median": 1.732461,
    "degrees.users.R_hat.min": 1.39807,
    "degrees.users.R_hat.nonzero": 2,
    "degrees.users.R_hat.sum": 3.464922,
    "degrees.users.R_hat.tail_slope": None,
    "degrees.users.expansion.count": 1220,
    "degrees.users.expansion.empty_share": 0.0,
    "degrees.users.expansion.gini": 0.6137742,
    "degrees.users.expansion.head_slope": -0.4968699,
    "degrees.users.expansion.max": 5631,
    "degrees.users.expansion.mean": 285.0943,
    "degrees.users.expansion.median": 122.0,
    "degrees.users.expansion.min": 23,
    "degrees.users.expansion.nonzero": 1220,
    "degrees.users.expansion.sum": 347815,
    "degrees.users.expansion.tail_slope": -1.434158,
    "degrees.users.ks.centered": 0.04754098,
    "degrees.users.ks.log_normalized": 0.04754098,
    "degrees.users.ks.prediction": 0.01557377,
    "degrees.users.ks.standardized": 0.04098361,
    "degrees.users.prediction.count": 1220,
    "degrees.users.prediction.empty_share": 0.0,
    "degrees.users.prediction.gini": 0.6136659,
    "degrees.users.prediction.head_slope": -0.4966638,
    "degrees.users.prediction.max": 5574.301,
    "degrees.users.prediction.mean": 284.6519,
    "degrees.users.prediction.median": 119.8775,
    "degrees.users.prediction.min": 26.56332,
    "degrees.users.prediction.nonzero": 1220,
    "degrees.users.prediction.sum": 347275.3,
    "degrees.users.prediction.tail_slope": -1.433368,
    "degrees.users.prediction_exact": False,
    "degrees.users.prediction_max_abs_diff": 76.85846,
    "density.R": 0.01689684,
    "density.expansion": 0.009772873,
    "density.ratio": 0.5783845,
    "density.ratio_expected": 0.577487,
    "fidelity_goal.goal.ks_items": 0.1,
    "fidelity_goal.goal.ks_users": 0.1,
    "fidelity_goal.goal.rank1_energy_share": 0.3090781,
    "fidelity_goal.goal.top_sigma_deviation": 0.05,
    "fidelity_goal.met": False,
    "fidelity_goal.missed.0": "ks_items",
    "fidelity_goal.missed.1": "top_sigma_deviation",
    "fidelity_goal.values.ks_items": 0.1945329,
    "fidelity_goal.values.ks_users": 0.04754098,
    "fidelity_goal.values.rank1_energy_share": 0.2889984,
    "fidelity_goal.values.top_sigma_deviation": 0.1420762,
    "original.available": True,
    "original.how": "source",
    "original.n_items": 9724,
    "original.n_users": 610,
    "original.nnz_test": 610,
    "original.nnz_train": 100226,
    "original.sha256_matches": True,
    "spectrum.R.0": 146.378,
    "spectrum.R.1": 63.41982,
    "spectrum.R.2": 52.87645,
    "spectrum.R.3": 47.44607,
    "spectrum.R.4": 41.83493,
    "spectrum.R.5": 40.8343,
    "spectrum.R.6": 38.29103,
    "spectrum.R.7": 35.46238,
    "spectrum.R_hat.0": 1.471397,
    "spectrum.R_hat.1": 0.6374981,
    "spectrum.R_hat_raw.0": 146.378,
    "spectrum.R_hat_raw.1": 63.41982,
    "spectrum.R_method": "svds",
    "spectrum.compared": 8,
    "spectrum.expansion.0": 184.7798,
    "spectrum.expansion.1": 148.118,
    "spectrum.expansion.2": 78.61825,
    "spectrum.expansion.3": 70.62885,
    "spectrum.expansion.4": 68.68878,
    "spectrum.expansion.5": 62.29184,
    "spectrum.expansion.6": 58.79536,
    "spectrum.expansion.7": 57.90102,
    "spectrum.k": 8,
    "spectrum.loglog_slope.R": -0.6235718,
    "spectrum.loglog_slope.R_hat": -1.206693,
    "spectrum.loglog_slope.expansion": -0.6056373,
    "spectrum.loglog_slope.prediction": -0.5917896,
    "spectrum.max_relative_deviation": 0.587278,
    "spectrum.n_iter": 4,
    "spectrum.normalized_max_abs_diff_vs_R": 0.3683315,
    "spectrum.oversample": 10,
    "spectrum.prediction.0": 215.3802,
    "spectrum.prediction.1": 93.31571,
    "spectrum.prediction.2": 93.31571,
    "spectrum.prediction.3": 77.80224,
    "spectrum.prediction.4": 69.81199,
    "spectrum.prediction.5": 61.55579,
    "spectrum.prediction.6": 60.08345,
    "spectrum.prediction.7": 56.34129,
    "spectrum.prediction_valid": 8,
    "spectrum.relative_deviation.0": -0.1420762,
    "spectrum.relative_deviation.1": 0.587278,
    "spectrum.relative_deviation.2": -0.1575026,
    "spectrum.relative_deviation.3": -0.09220021,
    "spectrum.relative_deviation.4": -0.01608904,
    "spectrum.relative_deviation.5": 0.01195748,
    "spectrum.relative_deviation.6": -0.02143843,
    "spectrum.relative_deviation.7": 0.02768359,
    "spectrum.sketch_columns": 18,
    "spectrum.top1_ratio": 0.8579238,
    "split.disjoint": True,
    "split.overlap": 0,
    "split.test_on_items_without_train": 27,
    "split.test_per_user.histogram.0": 20,
    "split.test_per_user.histogram.1": 490,
    "split.test_per_user.histogram.2": 523,
    "split.test_per_user.histogram.3": 187,
    "split.test_per_user.max": 3,
    "split.test_per_user.mean": 1.718852,
    "split.test_per_user.median": 2.0,
    "split.train_duplicates": 0,
    "split.unsorted_train_rows": 0,
    "split.users_without_test": 20,
    "split.users_without_test_share": 0.01639344,
    "store.dropout": "bernoulli",
    "store.factors.0": 2,
    "store.factors.1": 3,
    "store.format": "zarr",
    "store.input_sha256": "05b8de8d3fc363d203373c261ee248b319db0c06b0794a636b8c27e67db134b8",
    "store.input_shape.0": 610,
    "store.input_shape.1": 9724,
    "store.n_items": 29172,
    "store.n_users": 1220,
    "store.nnz_test": 2097,
    "store.nnz_train": 347815,
    "store.seed": 7,
    "store.shuffle": "block",
    "store.test_policy": "all",
}
EXPECTED_NEGATIVES: dict[str, str] = {
    "epoch-0/items": "afe5a06c54eb03b303e00a2606b125e4393d10e359f471b22363ff7a05b2b29b",
    "epoch-0/labels": "fc8903e4979f411e67b416bb3ef05bca9857ad4f82a075a4d4b888656e85efd5",
    "epoch-0/users": "5e308972a3f5b4981a3b735f533a23c02af6b8ee6e7b1dc325758b95c24376cc",
    "epoch-1/items": "dab6ccb97b09d062a5911b6e6808b7422378095e3c60fcfed532d4b40a6c2d25",
    "epoch-1/labels": "80e859fd44f67d8ceede696200d82bc869cf3d0ef0c42041dd693dd0b853885a",
    "epoch-1/users": "d4974875ccf0d60bc307f741eb78b8bedb7ca06f6439481ae6bd9cfea72eba92",
    "test/items": "260c62db19e62ae110aaa53947ff76977bab8b655b1d81cc17aadb8d09e085af",
    "test/users": "f5fedca052dbc263a2e494a0a1df96ad1de2b88542bae50ecc67c966dbd973e4",
}
# END GOLDEN


def _regenerate() -> str:
    """Build every case and return the text of the expected-values block."""
    stores = dict(EXPECTED_STORES)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for name in sorted(CASES):
            if not _case_available(name):
                print(f"# {name}: its input is absent; previous values kept", file=sys.stderr)
                continue
            path = build(name, where)
            stores[name] = store_digests(path, CASES[name]["store"]["format"])
        store = where / f"{VALIDATED}.{CASES[VALIDATED]['store']['format']}"
        numbers = validate_numbers(store)
        negs = negatives_digests(store, where)
    fmt = pprint.PrettyPrinter(width=96, sort_dicts=True).pformat
    return (
        f"EXPECTED_STORES: dict[str, dict[str, str]] = {fmt(stores)}\n"
        f"EXPECTED_VALIDATE: dict[str, Any] = {fmt(numbers)}\n"
        f"EXPECTED_NEGATIVES: dict[str, str] = {fmt(negs)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.test_golden", description=__doc__)
    p.add_argument("--regenerate", action="store_true", help="compute the expected values")
    p.add_argument("--write", action="store_true", help="rewrite them in this file")
    args = p.parse_args(argv)
    if not args.regenerate:
        p.error("nothing to do: give --regenerate")
    block = _regenerate()
    if not args.write:
        print(block)
        return 0
    file = Path(__file__)
    text = file.read_text()
    begin, end = "# BEGIN GOLDEN\n", "# END GOLDEN\n"
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    file.write_text(head + begin + block + end + tail)
    print(f"rewrote the expected values in {file}; run `ruff format {file}`", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
