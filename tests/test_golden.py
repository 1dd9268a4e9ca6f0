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
        "indptr/test.parquet:indptr": "c8e5098d9866b1c9598e3474b8def2f87a0447bffe6ec23f37b7121c487201e6",
        "indptr/train.parquet:indptr": "2d12a4463c4a4e11dd9527399907a8a99a4e08389ceeee77d24bfcefd851c151",
        "stats/block_test.parquet:block_col": "de897692864a7cc041e476ffd846b932e48d689c2285622028f5b9c01e58e5e0",
        "stats/block_test.parquet:block_row": "5f47f2c2b445feb89c2008b1a39b73aec91e473b08849f00c0eb7f3a7dcd6d7c",
        "stats/block_test.parquet:value": "3b5865942123010347dae6c73e80fe05899f0aee45ac0ff5038783bdcb38a81b",
        "stats/block_train.parquet:block_col": "de897692864a7cc041e476ffd846b932e48d689c2285622028f5b9c01e58e5e0",
        "stats/block_train.parquet:block_row": "5f47f2c2b445feb89c2008b1a39b73aec91e473b08849f00c0eb7f3a7dcd6d7c",
        "stats/block_train.parquet:value": "fad73e0540e5000cd468c461939ce512310b26bc951ae2f8ebc80e1235c07170",
        "stats/item_test_degree.parquet:item_test_degree": "2118940fa2d1bf4d75674f94f5f3a27fb525c168bcd496a94c1a4bcb1a522728",
        "stats/item_train_degree.parquet:item_train_degree": "b1da5cec916afe81c53a897dc7a5b39fb310268ab6d839473ef97cb85438acb1",
        "stats/user_test_degree.parquet:user_test_degree": "5a35c4d0d322cb356bc44297dbb4eef444d6124874f34faa54d9fb96af280279",
        "stats/user_train_degree.parquet:user_train_degree": "049f24a62ca9df4d8a004e18654089cfce1020a0c14ac3bea4bac49b02fe9687",
        "test/part-00000.parquet:item_id": "5af7fcd86cfdfb2c44f73940e74426d6002d6a4e91a964105a5f4c648a195274",
        "test/part-00000.parquet:rating": "54b17066e8ea04eb9d379f9107cb7397fb134df0550b2a7b3f896a2f95642a6d",
        "test/part-00000.parquet:timestamp": "207bd7d24372c015d8acc4b41e8fb2f4ac21aafdfd279540375ec95e5e48ade5",
        "test/part-00000.parquet:user_id": "ebe2f6194cfb7f0880e8ca6b7605825c4670797cd75bb0d8d11cbcf0bba5af62",
        "test/part-00001.parquet:item_id": "8196356e488b3677c7c2186a7cd2a031008a174cf5e486555d2dc3eaf477b4b3",
        "test/part-00001.parquet:rating": "a9bc3a9f861bc049b27d0fa63202b7c320364e52694fac67273d32bed7d73523",
        "test/part-00001.parquet:timestamp": "7411d16c7e10f03a47e91c744896282dc86b352766dc335d6672486a57ab2560",
        "test/part-00001.parquet:user_id": "44032b228b9143b99b470c52c8ec0497e2b8260c771db0980b67bae243986aaa",
        "test/part-00002.parquet:item_id": "54875c2f6c8e168c21e53a20a3b2391ea40104fa31d41484e00f85037be8a137",
        "test/part-00002.parquet:rating": "93bf12699ed297f0270f9d779f003b57123db1c7adcd4a20bb7143fbc086ec4f",
        "test/part-00002.parquet:timestamp": "45d5a329d2b8f4c448599d3fb8482309c1f0ae8750e95d75e15ce633b4a13709",
        "test/part-00002.parquet:user_id": "32d467dc5f30750babaeb9c7d13430681bbaf571fdd9ce75b938beb94c0a64f9",
        "train/part-00000.parquet:item_id": "a9be259978721710a91f942a5d74eb07bb76a8f4b8e033a47de70d8c19178a31",
        "train/part-00000.parquet:rating": "149e6d2e1e0eae1db0fddd6d9c36ce813c0650b1d781002110fd991c66f920d5",
        "train/part-00000.parquet:timestamp": "e56da0f2d1416fe4a8f19cd4a4cc7165c8aec5646d595f3a526430908fadded6",
        "train/part-00000.parquet:user_id": "b95ff26bc951728e7e1668a36616912eb84980a6b7e43dd2d330cb10ca1b1e78",
        "train/part-00001.parquet:item_id": "8bd7b759a4b8c873c449d831841dbaecc4816ec103adb708b7a0d60b0239ee18",
        "train/part-00001.parquet:rating": "1f851e63bfe78b675c2ad909c28859883be796243f0bff0640f84204fe47ffab",
        "train/part-00001.parquet:timestamp": "5ce94319c34c5ee106ee814093d8e6e0673c9bcdbe2a25746b87503845758c8c",
        "train/part-00001.parquet:user_id": "1d20bdb6a1e019e0d2c8055f07363ba1eede3bd040d7c47e2ebbde15a4c4ccb4",
        "train/part-00002.parquet:item_id": "07bf250072d2b0a597d4a1aded2df0dd8f4ea1fbfc1018c6bbfaebdd04fefca4",
        "train/part-00002.parquet:rating": "62b97ab78533b294a46f0c9a6f4ad58d4c28fb5bd4ca6f5c1979d5b90e41eb4a",
        "train/part-00002.parquet:timestamp": "a2aa9717010ddf3636711828cb9fef424f9fb259ca32ed2a7417c4b7b7973b7c",
        "train/part-00002.parquet:user_id": "a39df7f60ab5d27a79e3b6e34e8d62c2baacd48e05e1a362ab8e6bfe74c95cfa",
        "users/slot.parquet:slot": "74019cfbb97e21f844ae37a3e280eb7610259abd133159901b3aaf2b30ff5fa1",
    },
    "default-block-zarr": {
        "stats/block_test": "9fbf347463c75d745084b266b06d0c773cb7a958e22d7671f26b8c86f2f3f668",
        "stats/block_train": "bcee6dbda52f16bb33ee80b862f18b0d50fd08e1d1a9dada8c4421e305f74bac",
        "stats/item_test_degree": "225a1d30876d62eb6eab0df126d6ab543bfd0974269ee66f3d7d64e6def942dd",
        "stats/item_train_degree": "ff8ee2818b66a709e61ab367e3a98cbe2d9eeabf6f5002eb67fcc1c64bd878e8",
        "stats/user_test_degree": "64b7d154e7da830289cea7e01dc41261205ba7d6a34631b02926238ad0b06121",
        "stats/user_train_degree": "c63dc3109f52c2469e47439fd24c1659c2a92b8ff7787a69ce06195d5b82ecf2",
        "test/chunk_user": "af54e358110eff79144caee5d4b01bbcf4c5b8291aea4ff97e26ffdcff550af3",
        "test/indices": "05be04651460fc89ca66bf396ea682ae38966ad751ca24874e6779156168afb4",
        "test/indptr": "09251017be75e3b70636ec31744bdf9ce7284bdbb0944ee5321df6c8efe6ce49",
        "test/ratings": "bb49ad38a0fdf54a684b4dc65dede6e5e2cb214de646ae2ddcb1808cc6cb2232",
        "test/timestamps": "4b6d6f22d51cb896f45cb0fe09d51294b6a9a6445f20900d3b01c7abdd281ecf",
        "train/chunk_user": "6b1f5066c8b45406e7c1f89d28d2e2bff30a75425aaf9f941de67e105b68d4da",
        "train/indices": "13b623288ecccb7bd432970297a35f27c0a3474da5a1f2c02fe0f83f4b32277b",
        "train/indptr": "7e94d6ffe72a0f3ae19db1bb96bd22d7d40b7202c41d6a8fbd3ec61201a336b4",
        "train/ratings": "5cf9543ef989dd6815ccae422f47cd83b0c1614433339fb2c207a2ec58768cf1",
        "train/timestamps": "b02b62d01c5774a03002f1d4da6535937aa23067dd8c3e458e4a8815afc71842",
        "users/slot": "241046a5a0a08ed981e57e66d6815709c301f15c9a24dbe49de697cb9c957ef0",
    },
    "default-multilevel-zarr": {
        "stats/block_test": "3d2a7b00542ad60a1be3c52137970100152bac8c598f5e87664181817340c341",
        "stats/block_train": "c14108ef36dd990763d65fa7cd47d456b23375e549d6b238984384e5f7c23e4b",
        "stats/item_test_degree": "13b32a190ea2316281ac401705afddb48361cb32ba0834ebf409e6b13ee2b79b",
        "stats/item_train_degree": "0d2f061981998c35ad19928a452ed5f75cd2c8376014801eab8f072d5837b340",
        "stats/user_test_degree": "32a3719b90692ee5e0678ecd27667dd9d2dce4e690f0389829f3e93f8c9589b7",
        "stats/user_train_degree": "e8d1285f68eb676549be11e52c4ad04571996dd316c787e951d30eb32efa1348",
        "test/chunk_user": "22c9bd80b45db4a0f3d6c0d9a0c5ef96f38f16a817b5894baa120b3282b06e59",
        "test/indices": "0da5d60ab21175378c8d8be0b6bcee837c0d418ac5f6642fc3b10f1036d43056",
        "test/indptr": "defde03503c21972af2380cde61d60660fcf1ac26e94ed32ef39a84e2a161432",
        "test/ratings": "71bd5bc99a309c2e1b7f0a8db68530bdb4d00673b383db52387484f5a88ff990",
        "test/timestamps": "89465cd8ff091e6d39c407df6ce40f3ee81f27a823c4c37eb339ac00c7a0a2d4",
        "train/chunk_user": "22c9bd80b45db4a0f3d6c0d9a0c5ef96f38f16a817b5894baa120b3282b06e59",
        "train/indices": "2f754a8734ca0869b6742abd3df7c31b76feefb14d5b6a1897f03fbbdd0bb95f",
        "train/indptr": "30b18f71ede0711049acab3d4afec4e825462a674aa7d4132ab764427d346f61",
        "train/ratings": "b3e16de186b1874aae197ed58ab51dc1969c59a5405cda410c076e8fea8798f4",
        "train/timestamps": "f9cfee380ac8a4bf56b0d7aa5e2985b6b49de7858d22706a15c4766d99b788aa",
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
        "indptr/test.parquet:indptr": "b44a7d8c211b02d110be89a859a45636783e2ce4db50ea629dca36b563009b7f",
        "indptr/train.parquet:indptr": "a213964508fcd74dcb18797a7d0647eee8b582e121b08ddf0a15a8aa1b3f684c",
        "stats/block_test.parquet:block_col": "39cdd0009870085c3364ba5444af25b1e0bf2a815c99adfc73491355c7126817",
        "stats/block_test.parquet:block_row": "c0fbb2080d118340cb40275102839b243765c095bdf96e018fb81e4f203c521a",
        "stats/block_test.parquet:value": "fc89b7c05c609efccb6f062cb8280e359079ec2292f6ae96551d1a568de1167a",
        "stats/block_train.parquet:block_col": "39cdd0009870085c3364ba5444af25b1e0bf2a815c99adfc73491355c7126817",
        "stats/block_train.parquet:block_row": "c0fbb2080d118340cb40275102839b243765c095bdf96e018fb81e4f203c521a",
        "stats/block_train.parquet:value": "8ff2de2ee2b01ddc82aec17719b86524cca1f2971864b273acb7550857aa9f11",
        "stats/item_test_degree.parquet:item_test_degree": "072f018d3ed83f7ccb47bf5a7d22da83e540377e91725bbb21484a87f33250d8",
        "stats/item_train_degree.parquet:item_train_degree": "556096b81434ee422aace73330c1ea41e1af64a908852cfca0937d2b563335b5",
        "stats/user_test_degree.parquet:user_test_degree": "00e1887b98b9d018c42c240cd69a9bbf2ffef7150fae60d72b6d115451243ed2",
        "stats/user_train_degree.parquet:user_train_degree": "0f55e3e519b94c37f9ee7501e28cc7b0e790489a57417ccf00e592e5bb95e837",
        "test/part-00000.parquet:item_id": "392921755ffa8312b9f4f6f1c7c5ef27b63e941889941ac10cd25a2bf0c7e1ab",
        "test/part-00000.parquet:rating": "d6461164f490669a7c55f20680f3a65cfd723b0f65e847ad3893c2ec2935e59b",
        "test/part-00000.parquet:user_id": "d309e946901429fb5b4b74ae8f9990e431aa124c8200edc999e884baaf816e7b",
        "train/part-00000.parquet:item_id": "a8186b8666624086a16edd0a89389ca923e5085f74f369ac212513b62268c595",
        "train/part-00000.parquet:rating": "60e8fed83e764d93ca365a51470474b7e77e6c13d8586e865a42112b724b03b1",
        "train/part-00000.parquet:user_id": "17b129d0048b25d2692936d94be410d0989dc4e5b47996d1d96cdfcb7518a035",
        "users/slot.parquet:slot": "f6105f856ace613b3c193f481b4bf3ec9c0aeec65e0feddeb256dd6960da9512",
    },
    "default-stratified-zarr": {
        "stats/block_test": "3943b3e137e81707f4100635d6935e4c335915f1ff8d3eef848ca1ab5f5aa71a",
        "stats/block_train": "b5de22e31d8c9f727caa4f83b57555bd3efd8e49aa5bec5f3bebc80d31de8acd",
        "stats/item_test_degree": "9d417d04446d3dca22499ebdb406421a3147d0d42cca2fce0d8e283103c2ec4e",
        "stats/item_train_degree": "2ad68a1ac9caf4ca300227e25b58638789eea27f8af59af2f45abc49fa6beaf0",
        "stats/user_test_degree": "3e1cbb896728ae8ff241e77911811439044e35bf485cb85b52e9451fba1292bd",
        "stats/user_train_degree": "dd851b479fbf50ccc92605fe2b33a1c26dde60a8f4c5fa33bf292697444f5794",
        "test/chunk_user": "db496ebd073b8704186b80e9cb8db87dd38f26be413bf9846dd0413a9c0d1723",
        "test/indices": "92444970da7021e5abbd374bf5a3417913855a2e92efb1ef5e913b53475d5f79",
        "test/indptr": "534b7f5d0b12cc18d96f3a5914cebb8664cb140b60993a0bb41e1c699e57dff3",
        "test/ratings": "28ccc517baf1e7d60e12f4e6b401c020c895a9299c55b4e05502cf920f9cc424",
        "test/timestamps": "1966c381f656b22e2473cfe4f6b9e44bfb00e8843d4fc0aa997a00eaaf2345b4",
        "train/chunk_user": "db496ebd073b8704186b80e9cb8db87dd38f26be413bf9846dd0413a9c0d1723",
        "train/indices": "6d68999a82649d63f8f09448a9c07fc7c641537990c172b42d2edb932cf124fc",
        "train/indptr": "b1b9a2634bd460347e80e5d68f1de356a4e6b71f84e82d90de75baa19bacd078",
        "train/ratings": "c584f54175182ca4a8d0c63b5934fe24ebda797d24bb86c8ae708a3649136b19",
        "train/timestamps": "f9a570ba7a0a35daefb2db1c2cded813f05cf791ef1473ecc6386ba2aad6d85f",
        "users/slot": "34b7698ebb5b67c851039d734d0657128573758f1603f202e528091f7ea4d4e7",
    },
    "ml100k-block-zarr": {
        "stats/block_test": "02636e9d18680872586983b7e0bf92a617aab747ad673aad38e3ba4be721af14",
        "stats/block_train": "c5ed045214085e536d7716992a55272e2b9ec035fb6cfbaaff77e7bd0608f326",
        "stats/item_test_degree": "f3b31d6f277609feb9864394419a779f789df1b6340f6f16acf12a5a242abd3b",
        "stats/item_train_degree": "32e68e2126c2bb3020e7aa88febb16026eea09e9e1f2bc928d7750de670f951f",
        "stats/user_test_degree": "0bb0e6ec589ddddad7eab363f1e1e60fbf6a9d46af17379f68b660fbda559eee",
        "stats/user_train_degree": "f02a9c4f72a36372c80ddb7b26ef2ed0d90e2860ff1a705ef1bc10c82ec0837a",
        "test/chunk_user": "2370c49773a157e72b54d9b7a14f165af04d06e2e8d3cb82f5d18f74ae97ee80",
        "test/indices": "7e4b7b0cddb41487833b622fc9c158682e34294e79beb3b6d787fe7482740330",
        "test/indptr": "e9fcecf2c5b7f3982a639ed5353dc25903f053da7113f9e395629dcbd2066c58",
        "test/ratings": "595e6e2fb6d6a2d88c80a0f8e7a66fb04516333bbb65a5cb3038b3da0d324537",
        "test/timestamps": "cf78a2e6feeb00929d7408e3eb9d3c7490ba877f71140f5e35a5bb93fa635f27",
        "train/chunk_user": "2370c49773a157e72b54d9b7a14f165af04d06e2e8d3cb82f5d18f74ae97ee80",
        "train/indices": "899cd3d7f3383ed49c7244344a143cd759b1d19a8d29a8ebb8e95353c22b4723",
        "train/indptr": "6e0ebeb180d1efab391f9701332dccb3e45eba8196a5c3fd1f1ff96b42d59f8c",
        "train/ratings": "e28e7ed9a5a36d0b9e6c7283f6e2469c4511f7303c260db45f1dc27ae420efbc",
        "train/timestamps": "7a246879a96e7b4bb6afebd07c5a15887db3be9d45f78f9b78bcad75d20b2cd9",
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
        "test/part-00000.parquet:timestamp": "8f4982d0929be617aa407c9b7fd7fd0ad386ec992d19ff055dc8602cfb7e882c",
        "test/part-00000.parquet:user_id": "76cdea65b629987cea99f9596c674d8600da8c085cb5a9cba110e6ce24a535e5",
        "test/part-00001.parquet:item_id": "9ed7341b2f7ac5e025ae31b3920d254bf4b9e8a32665cf769cfd59603f612530",
        "test/part-00001.parquet:rating": "f6518321c8c38f4373016c9423ccf09bce0c73b07dd6cfda0473dcb02985a3ce",
        "test/part-00001.parquet:timestamp": "7a2f6bffa8552626947333f74ae65158e7adeb94093a90aa7561b0250943a168",
        "test/part-00001.parquet:user_id": "6346971329a288b5159e9c60a8df54b09cbe54a04f5e01966a70735a98c18aee",
        "test/part-00002.parquet:item_id": "9c06bd296f64727268224e752f1e66b94a09d45b52265259a5784678eed67d17",
        "test/part-00002.parquet:rating": "8958f3017df6379c57481e3b2e7282a12b33c76fa452dc41f944fa56a6ced06e",
        "test/part-00002.parquet:timestamp": "790c3eaa81dffc52a054041560caa898d37823aec2a20907cf314f413b6847e1",
        "test/part-00002.parquet:user_id": "23a3e628331120a8df5af2f4253daf00b02ef55df01612c557acd3663c258da1",
        "train/part-00000.parquet:item_id": "30927982f69b61bff38ca13066eca73a54e0acb2d2c79a1d325192c1ef0f4e40",
        "train/part-00000.parquet:rating": "0db5f2781882a2d8069e7d8456bb5258eaed8853aa5e83aec533a0c4eb34a398",
        "train/part-00000.parquet:timestamp": "d00ddee02066536433f994820e8f8672b9bc2bfd041057d1c8a53a2fae53d2ad",
        "train/part-00000.parquet:user_id": "2ee81513ccf53e7bf92813e99e22ec42eedd96d871b7a91bf497627a292a1c09",
        "train/part-00001.parquet:item_id": "bf5af51b276322cfc205f6c77a19f0d208b4013dfb75780945350980164ab3ca",
        "train/part-00001.parquet:rating": "7514eae5c7ba70abf23d7e604bc03248b251fe7c86827e3d73665767e45377ba",
        "train/part-00001.parquet:timestamp": "9362cc97c1aa581b4934072f9e08ae64aa7503a35fffd25a6e4446d2eb13ae73",
        "train/part-00001.parquet:user_id": "49a0282882a4c203ca7aaa1c148ff9d2a023aba48b4a76ab06c354df5b6f2849",
        "train/part-00002.parquet:item_id": "317730ad682c75bb247aca92699c62300eaf168aa590aa1563aacbaabe656890",
        "train/part-00002.parquet:rating": "cf427d89a14c09adb525a4551c7547d411a52e0a4d2fa2022c5a7e37a9c17465",
        "train/part-00002.parquet:timestamp": "4a609523f278f1e2ab1fb6b5dde26be75dbc7bca05d6ccfb65872fab2d2b9e2f",
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
    "blocks.mean_offdiagonal_cosine": 0.008308505,
    "blocks.of_rows": 610,
    "blocks.rank1_energy_share": 0.2886987,
    "blocks.rows": 610,
    "blocks.structure_left": -0.0007743138,
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
    "degrees.items.expansion.empty_share": 0.03582202,
    "degrees.items.expansion.gini": 0.6570262,
    "degrees.items.expansion.head_slope": -0.4416696,
    "degrees.items.expansion.max": 330,
    "degrees.items.expansion.mean": 11.92291,
    "degrees.items.expansion.median": 5.0,
    "degrees.items.expansion.min": 0,
    "degrees.items.expansion.nonzero": 28127,
    "degrees.items.expansion.sum": 347815,
    "degrees.items.expansion.tail_slope": -1.653652,
    "degrees.items.ks.centered": 0.1936541,
    "degrees.items.ks.log_normalized": 0.1936541,
    "degrees.items.ks.prediction": 0.2381168,
    "degrees.items.ks.standardized": 0.1936541,
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
    "degrees.users.expansion.gini": 0.4762579,
    "degrees.users.expansion.head_slope": -0.3533461,
    "degrees.users.expansion.max": 2713,
    "degrees.users.expansion.mean": 285.0943,
    "degrees.users.expansion.median": 186.5,
    "degrees.users.expansion.min": 27,
    "degrees.users.expansion.nonzero": 1220,
    "degrees.users.expansion.sum": 347815,
    "degrees.users.expansion.tail_slope": -1.169357,
    "degrees.users.ks.centered": 0.1016393,
    "degrees.users.ks.log_normalized": 0.2,
    "degrees.users.ks.prediction": 0.2032787,
    "degrees.users.ks.standardized": 0.0795082,
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
    "degrees.users.prediction_max_abs_diff": 2861.301,
    "density.R": 0.01689684,
    "density.expansion": 0.009772873,
    "density.ratio": 0.5783845,
    "density.ratio_expected": 0.577487,
    "fidelity_goal.goal.ks_items": 0.1,
    "fidelity_goal.goal.ks_users": 0.1,
    "fidelity_goal.goal.rank1_energy_share": 0.3090781,
    "fidelity_goal.goal.top_sigma_deviation": 0.05,
    "fidelity_goal.met": False,
    "fidelity_goal.missed.0": "ks_users",
    "fidelity_goal.missed.1": "ks_items",
    "fidelity_goal.missed.2": "top_sigma_deviation",
    "fidelity_goal.values.ks_items": 0.1936541,
    "fidelity_goal.values.ks_users": 0.2,
    "fidelity_goal.values.rank1_energy_share": 0.2886987,
    "fidelity_goal.values.top_sigma_deviation": 0.2855189,
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
    "spectrum.expansion.0": 153.8851,
    "spectrum.expansion.1": 134.8136,
    "spectrum.expansion.2": 90.82952,
    "spectrum.expansion.3": 74.6989,
    "spectrum.expansion.4": 64.1771,
    "spectrum.expansion.5": 55.3648,
    "spectrum.expansion.6": 50.44165,
    "spectrum.expansion.7": 49.63288,
    "spectrum.k": 8,
    "spectrum.loglog_slope.R": -0.6235718,
    "spectrum.loglog_slope.R_hat": -1.206693,
    "spectrum.loglog_slope.expansion": -0.6093281,
    "spectrum.loglog_slope.prediction": -0.5917896,
    "spectrum.max_relative_deviation": 0.4447038,
    "spectrum.n_iter": 4,
    "spectrum.normalized_max_abs_diff_vs_R": 0.4428062,
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
    "spectrum.relative_deviation.0": -0.2855189,
    "spectrum.relative_deviation.1": 0.4447038,
    "spectrum.relative_deviation.2": -0.02664286,
    "spectrum.relative_deviation.3": -0.03988747,
    "spectrum.relative_deviation.4": -0.08071524,
    "spectrum.relative_deviation.5": -0.1005752,
    "spectrum.relative_deviation.6": -0.1604735,
    "spectrum.relative_deviation.7": -0.1190675,
    "spectrum.sketch_columns": 18,
    "spectrum.top1_ratio": 0.7144811,
    "split.disjoint": True,
    "split.overlap": 0,
    "split.test_on_items_without_train": 37,
    "split.test_per_user.histogram.0": 22,
    "split.test_per_user.histogram.1": 493,
    "split.test_per_user.histogram.2": 511,
    "split.test_per_user.histogram.3": 194,
    "split.test_per_user.max": 3,
    "split.test_per_user.mean": 1.718852,
    "split.test_per_user.median": 2.0,
    "split.train_duplicates": 0,
    "split.unsorted_train_rows": 0,
    "split.users_without_test": 22,
    "split.users_without_test_share": 0.01803279,
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
    "epoch-0/items": "4f2a71185ec664c25e557411636d0e6cb5246468a50e4a9a3813b268a13d36ef",
    "epoch-0/labels": "fc8903e4979f411e67b416bb3ef05bca9857ad4f82a075a4d4b888656e85efd5",
    "epoch-0/users": "763d6bb9a7edd23c03dc53071b169462f3135f6982275563df2fb8392be94bde",
    "epoch-1/items": "4fe9a29ec663a79c972d6312e328e58af12549d0e93c26fa94a1ff354d582d1c",
    "epoch-1/labels": "80e859fd44f67d8ceede696200d82bc869cf3d0ef0c42041dd693dd0b853885a",
    "epoch-1/users": "5ba41a1cef3c0983d2e5a80f4c84a1daf1af9bb061129ebc4484dce9caaa8387",
    "test/items": "036e735cb3d6b1b58c22deff4437274c2e9dcb53e08cce4b3ba3453120b50338",
    "test/users": "0d819f991cb0ee221fafb405eebdb8661f5f86ccfb77b72aa16727cd98936755",
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
