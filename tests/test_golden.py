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
        "indptr/test.parquet:indptr": "7069ef9de49e3dd697a565e939d859e9323b50d4f4050f0ece4859613150d8e8",
        "indptr/train.parquet:indptr": "8e46f7ff0e69711410125b4f0648d9bb0d7d86e61d8c340020a40f816b714d2d",
        "stats/block_test.parquet:block_col": "de897692864a7cc041e476ffd846b932e48d689c2285622028f5b9c01e58e5e0",
        "stats/block_test.parquet:block_row": "5f47f2c2b445feb89c2008b1a39b73aec91e473b08849f00c0eb7f3a7dcd6d7c",
        "stats/block_test.parquet:value": "3b5865942123010347dae6c73e80fe05899f0aee45ac0ff5038783bdcb38a81b",
        "stats/block_train.parquet:block_col": "de897692864a7cc041e476ffd846b932e48d689c2285622028f5b9c01e58e5e0",
        "stats/block_train.parquet:block_row": "5f47f2c2b445feb89c2008b1a39b73aec91e473b08849f00c0eb7f3a7dcd6d7c",
        "stats/block_train.parquet:value": "fad73e0540e5000cd468c461939ce512310b26bc951ae2f8ebc80e1235c07170",
        "stats/item_test_degree.parquet:item_test_degree": "11ecd46e0e1aa05cf7eae9b8d6cf2fa857942b5da02e84c62b9bc38735db5507",
        "stats/item_train_degree.parquet:item_train_degree": "73c0e7c7fa8f5bd9683a1fc014252abc52e7f7c7bc13b0ed87eb078370d893c3",
        "stats/user_test_degree.parquet:user_test_degree": "381a11c1e5e1292c4e991860a6f85a28572dbd0fce005a4732b913e9ec62646d",
        "stats/user_train_degree.parquet:user_train_degree": "c356afd7df04e1b5b92c2faa5a10760670a3258ce82c3932dc8ae6b273846e5c",
        "test/part-00000.parquet:item_id": "e02f720f974b39ca4ce7960a72eca81d5bc3e40f62b6e6223a7e071045116115",
        "test/part-00000.parquet:rating": "14ca1b70e9d860bfefac37c4956a7e00907adaade68b1c644b9ec7e1fafd6540",
        "test/part-00000.parquet:timestamp": "ac024f740ce839aff3d0ace2e2b0aa0062681efa8df4b7dbfda10e6edbf3bf83",
        "test/part-00000.parquet:user_id": "ebe2f6194cfb7f0880e8ca6b7605825c4670797cd75bb0d8d11cbcf0bba5af62",
        "test/part-00001.parquet:item_id": "e74228a322aa4b372daeba5a3e4508f9e2ea05f383f8bb09f513361513d9450b",
        "test/part-00001.parquet:rating": "06d1ef21b01fbe2085bcf5f2937583d17443a1901c99088aa5b9b0fe1c030460",
        "test/part-00001.parquet:timestamp": "3c3ef10500def0f7e0346e9ed3c600df586adf389132726cd47f2b6d8af635b8",
        "test/part-00001.parquet:user_id": "44032b228b9143b99b470c52c8ec0497e2b8260c771db0980b67bae243986aaa",
        "test/part-00002.parquet:item_id": "4127163fd930fe603d8a35e11634f257c14516aa40d9edbadc4f466f63077b38",
        "test/part-00002.parquet:rating": "a43dc32348016fc431f2125fccb62ae04bc5c5d62c406053ad3c85c9ba7d7f35",
        "test/part-00002.parquet:timestamp": "06faac0a1bfdc675d2e75aa9f9d40cb6d8824ba1925764bcb37ee0720dbf1bbd",
        "test/part-00002.parquet:user_id": "014f0da4dc34704dfad629d4fcac253517ee134ddaefb3567a8a5e1b4f5846df",
        "train/part-00000.parquet:item_id": "3269a2d936e6b5b3b9c4e9120c0759697249437c7c9bb2cf7bb3bc6350c4d945",
        "train/part-00000.parquet:rating": "e1fc9f6c8147bd9f5f945d6ed8ac0f41c6ae12e0d98225eab5dd1abf15df87f8",
        "train/part-00000.parquet:timestamp": "7c9ff1c9109525b4051a5fee2198fa8402470b98c698c75ee749ce0440c572ad",
        "train/part-00000.parquet:user_id": "af0e432fc3853df7ae71908b0bbf64901bb62104091944caa4f2f11d8ddb5979",
        "train/part-00001.parquet:item_id": "8a7e4f6e4476e168930e17aaa166622c86d92e8fff7f68d8f4424c063b1169a7",
        "train/part-00001.parquet:rating": "ab1e2f1c4c8703b89f52f04da33efbe760df4d1cab05690487ad76114442eabe",
        "train/part-00001.parquet:timestamp": "35d8116840d15d9ca20c582c83ce8b652a70680cba9fabea3bfa7186640d02d0",
        "train/part-00001.parquet:user_id": "ae5a97bdc50dc45f2aa4921baff25f5a69e51f9c9459beb77a6bc484f713c04b",
        "train/part-00002.parquet:item_id": "80b1f779a0c2da38091494f676616362547cafe9dbafa3bbe13109cc6196b03b",
        "train/part-00002.parquet:rating": "47790109861d2a743b33e61166c5b3f9fc7fbfbecc2501bd201314a2d0c50c22",
        "train/part-00002.parquet:timestamp": "599b80ccb9dbd86d6768669d03eb805cdab1666a40c1ea60045fc86d87c54bf5",
        "train/part-00002.parquet:user_id": "80ae11c5f92635d5b9c7f904fe717a82561021cba9573fee12d04f68344cffd8",
        "users/slot.parquet:slot": "257cf396415ef3383b184e7eab87f6ba4c98d120a89a04134222abedd02ea210",
    },
    "default-block-zarr": {
        "stats/block_test": "9fbf347463c75d745084b266b06d0c773cb7a958e22d7671f26b8c86f2f3f668",
        "stats/block_train": "bcee6dbda52f16bb33ee80b862f18b0d50fd08e1d1a9dada8c4421e305f74bac",
        "stats/item_test_degree": "9a6c5240ea763918515df29ee757c7b81524b70de9867ca3e682e0354be23269",
        "stats/item_train_degree": "971c715655263b06c934afd9f2adc5b6fd9d2bb14fb1e0710e385f1007c78d08",
        "stats/user_test_degree": "94dc99b36eb38f73206a5036d762c91338067bda578496e03dffa6cebdf010f1",
        "stats/user_train_degree": "5e9f37e3492a3be95cdd57c644bb0e2520bcdf2735a0e2e9c72cd36c34152c00",
        "test/chunk_user": "af54e358110eff79144caee5d4b01bbcf4c5b8291aea4ff97e26ffdcff550af3",
        "test/indices": "58d045e6093e3f4869d3ab2cf8acce6c39beb55e064bc7b6d0b5c08b16e40f6a",
        "test/indptr": "d8b6ed259fd3c9e8655e79e542722fe3999a3f6c21cf25869bd2915cdbc04bbd",
        "test/ratings": "41ad7068e34a94f795dc09ca1280fa344bdbc10510eaf488f0d919c08f4507c7",
        "test/timestamps": "4a8f3b8fdf637c8f21aac657b1255e101f5c128af0985dc5fa637e3407bea4e1",
        "train/chunk_user": "74a98be63f25fbb835713d313c9290f32334557798940a861b5e289ba66222e8",
        "train/indices": "3e5484ed29bda5d3ce18c50a89bf44e9de41a5677e8c77188c7ad1871d70875c",
        "train/indptr": "def4239bdfdf122707f293e882fa9c310ab78459dbb97bf1aaccd9237f6be446",
        "train/ratings": "8bfc293b6e5691aa5b2cbb1c3c89feac74f0ce576c029ec13d003bf75c14e1bf",
        "train/timestamps": "68565c13270dd9652d6b105c3f85ee57da6fd7282b30b1d5b04b199dd3639fd1",
        "users/slot": "241046a5a0a08ed981e57e66d6815709c301f15c9a24dbe49de697cb9c957ef0",
    },
    "default-multilevel-zarr": {
        "stats/block_test": "d91ded2fd46de758d9c447eced2e9f09fbc30f74600c3ecbba054dca3468ccb4",
        "stats/block_train": "f456cf7fa8e0b39761d45fd9d9844fae049664bebe210d85bec637324bd5e9cc",
        "stats/item_test_degree": "38af6b3533866ad3b1dc4ddb03cefbea6bdd55168ca09b7adff2e3bec88d6493",
        "stats/item_train_degree": "defb196cda5d616c75340fda40148a5bef2afef8798651432758e3851c8f749d",
        "stats/user_test_degree": "60da5d01c20443e76790e9b6958cb6303f9b0b676ea0da6a173db215910b8745",
        "stats/user_train_degree": "56809d16cc1299dcdd2e4f030cb2eddd9bd2793287466f5c2aa0285c5120d624",
        "test/chunk_user": "22c9bd80b45db4a0f3d6c0d9a0c5ef96f38f16a817b5894baa120b3282b06e59",
        "test/indices": "ef4b2ac629f8aa99f46edccb7563818a8ea40b44f39ad387c51db6dcf6216130",
        "test/indptr": "084a141ce43d3e1a4989292c04276e9d8d2c85f3847d070e61a1bff745f48797",
        "test/ratings": "0f8237aec963f925bb8bbe92c46994e331fb83a14c5d3e85078686c95cb23e75",
        "test/timestamps": "932ac7076ad8a46112b102c5c32798e0d174e864973080d3ed66b1a0bde010ed",
        "train/chunk_user": "22c9bd80b45db4a0f3d6c0d9a0c5ef96f38f16a817b5894baa120b3282b06e59",
        "train/indices": "f196f86c2ec990a06bb8c96b509d7349ff57b7d2e3e446020508a8730e23dc1c",
        "train/indptr": "5d48f926be6a67fa21559775fac503ae3461c6cce0a23113ecc67e44c859dedf",
        "train/ratings": "5436102d07be1b64b0f761ee2f71a6f6c1aeb7719bf3f9fe20b44f2c4e1cf36f",
        "train/timestamps": "58ed509bb09b2ee975268671d62508c57686159cc0cf4ca8d7c3452550f3a7d6",
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
        "indptr/test.parquet:indptr": "5dc05faf66ce7b0375aaa0c908b242a4710657fd082071ac240245a2b0d8466c",
        "indptr/train.parquet:indptr": "57c107dd69a473da18e97f631bf600432464a8cf43bcb362ddcd17bb4c5e023a",
        "stats/block_test.parquet:block_col": "39cdd0009870085c3364ba5444af25b1e0bf2a815c99adfc73491355c7126817",
        "stats/block_test.parquet:block_row": "c0fbb2080d118340cb40275102839b243765c095bdf96e018fb81e4f203c521a",
        "stats/block_test.parquet:value": "fc89b7c05c609efccb6f062cb8280e359079ec2292f6ae96551d1a568de1167a",
        "stats/block_train.parquet:block_col": "39cdd0009870085c3364ba5444af25b1e0bf2a815c99adfc73491355c7126817",
        "stats/block_train.parquet:block_row": "c0fbb2080d118340cb40275102839b243765c095bdf96e018fb81e4f203c521a",
        "stats/block_train.parquet:value": "8ff2de2ee2b01ddc82aec17719b86524cca1f2971864b273acb7550857aa9f11",
        "stats/item_test_degree.parquet:item_test_degree": "88818dad50f97166741079cdccb2dc41dd019f7935a7b4065e0a7c565f9f0dff",
        "stats/item_train_degree.parquet:item_train_degree": "da64aea28c655f3eba3c628d368d238c3bd77a635ae4f424558fa03b19a73e38",
        "stats/user_test_degree.parquet:user_test_degree": "f1dc0079f49660bb1be61efd878becde4efc5ed3607c74c50599e290932db81a",
        "stats/user_train_degree.parquet:user_train_degree": "08d74927c8f7bb319089d5f6dc14706d83221615810bf2909be86a3f8f48d8c5",
        "test/part-00000.parquet:item_id": "6c4eb07e11c4f463b42ff6d195f87bcc295bcaea2139d5761287d515fe468321",
        "test/part-00000.parquet:rating": "12d5946249f5db673d8f21e0dd582449378504cc8e854d5fe95314d007c280f5",
        "test/part-00000.parquet:user_id": "f2f2f53d19476172b834f496b99fbc0e55e4dcbad518847c078760e6900e90c4",
        "train/part-00000.parquet:item_id": "ffd797b82fbed152089711aa0004b13b3f33d602739743bcac5a444d802b9c0e",
        "train/part-00000.parquet:rating": "e22aea2ade87d175dee498ee88f12b8ce2195ef0b77979f1cb65a5f8481b9e3a",
        "train/part-00000.parquet:user_id": "55d175697dd703eb1ad4fdf8e513e84058468504a450324d90ffa9ced0ff1bcb",
        "users/slot.parquet:slot": "f6105f856ace613b3c193f481b4bf3ec9c0aeec65e0feddeb256dd6960da9512",
    },
    "default-stratified-zarr": {
        "stats/block_test": "3943b3e137e81707f4100635d6935e4c335915f1ff8d3eef848ca1ab5f5aa71a",
        "stats/block_train": "b5de22e31d8c9f727caa4f83b57555bd3efd8e49aa5bec5f3bebc80d31de8acd",
        "stats/item_test_degree": "11bf42ceca5b2b93bb6ae4384129a35ab54d41853134db3683314dd384783aee",
        "stats/item_train_degree": "e56e1ad9c83cbb91a99c3c9c0049f7df883ca1e72df4998bc2bb0cceb434b685",
        "stats/user_test_degree": "89fcf7b63d5504581ae27ff9a246612cd217a3edab30b05a5227ce0991137465",
        "stats/user_train_degree": "f9eae3066005988db32d5a56f2cd5aca941b3359417eb558f95f43b28b328bc6",
        "test/chunk_user": "db496ebd073b8704186b80e9cb8db87dd38f26be413bf9846dd0413a9c0d1723",
        "test/indices": "810441108e6aee8a950029f0f2a8f0d16a9c7e76d6ea764a02efa1fe76eea61d",
        "test/indptr": "6c1e7f2e7aab3da1ae8c932f6c6688d3584deccb82273339d076a179ca25db9e",
        "test/ratings": "4c0d2fc166f1eed86cd56c3d9a87f8b0fe74156a76477b46bcf297de1a5d8a1a",
        "test/timestamps": "f196a58af1ae8053e50b49401f90e270ea93524d4778039586965757ac86990f",
        "train/chunk_user": "db496ebd073b8704186b80e9cb8db87dd38f26be413bf9846dd0413a9c0d1723",
        "train/indices": "b0441b77444530b0f5da61d9d622eef46497f74f81ecde45b4388854f3d12c80",
        "train/indptr": "f4216c5302e94d0dda606a9b7d04cfc0dda214a5357df00f2c71aa94988c4e68",
        "train/ratings": "f073209ef4c134cbc1cd2fde0e6443b93a225aeb7e502c3515b49e0f7bff2f36",
        "train/timestamps": "58e53013806d4bf741895f6d5701f89f5946b3905102dc92ee5ab09a44e359ff",
        "users/slot": "34b7698ebb5b67c851039d734d0657128573758f1603f202e528091f7ea4d4e7",
    },
    "ml100k-block-zarr": {
        "stats/block_test": "02636e9d18680872586983b7e0bf92a617aab747ad673aad38e3ba4be721af14",
        "stats/block_train": "c5ed045214085e536d7716992a55272e2b9ec035fb6cfbaaff77e7bd0608f326",
        "stats/item_test_degree": "42ad56e3719fd248336808994b694f37d8f13338dd773c2a1044234e20258561",
        "stats/item_train_degree": "bf50f9caea2e9d07d65b5a4160226b4afea872f687beadd406e28de8834d1d32",
        "stats/user_test_degree": "7b58a4d053d0a11775c8fee4dd6d7a3182cccc69137d46ae13ebeaf46deef0ef",
        "stats/user_train_degree": "441ed0ebed4bb11ade44640610cddfff7dc477decd80bd2c136c2a77c9be0ffe",
        "test/chunk_user": "2370c49773a157e72b54d9b7a14f165af04d06e2e8d3cb82f5d18f74ae97ee80",
        "test/indices": "c62019f799efa636a84cd985425596d74d3e8a359b106aad64cfe9de42dca445",
        "test/indptr": "b6a3845324202d3cb29c7ba74414a89162f573f794e6ecc74eca515bbe870578",
        "test/ratings": "aabc22e76d5b2b9dc7c32fa980fdd2f3d0700820779ca58c1bbdf6f3ae09bb75",
        "test/timestamps": "3a17917c8012d54e3f01e673f7908a3fc2bec937c07344cf6363020cd2576a42",
        "train/chunk_user": "2370c49773a157e72b54d9b7a14f165af04d06e2e8d3cb82f5d18f74ae97ee80",
        "train/indices": "c62d30887909f261efcb7b767627fced4107eec0ef61893af94bb80f2f9c49d5",
        "train/indptr": "1cb4c67d2bed7b2b746042a513e21b1e4205e6bebc40576a02896f7cb761a4ed",
        "train/ratings": "1d9c9fad3e2233a74d57753cc4bf28fdb28708c903b2cec21553821d96be60ca",
        "train/timestamps": "362822019566df2213afc50b25e8bf97cac7317d37afd20ca3528cad4f228247",
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
    "blocks.mean_offdiagonal_cosine": 0.008308553,
    "blocks.of_rows": 610,
    "blocks.rank1_energy_share": 0.2885223,
    "blocks.rows": 610,
    "blocks.structure_left": -0.001134478,
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
    "degrees.users.expansion.gini": 0.4854946,
    "degrees.users.expansion.head_slope": -0.3854082,
    "degrees.users.expansion.max": 3115,
    "degrees.users.expansion.mean": 285.0943,
    "degrees.users.expansion.median": 183.0,
    "degrees.users.expansion.min": 26,
    "degrees.users.expansion.nonzero": 1220,
    "degrees.users.expansion.sum": 347815,
    "degrees.users.expansion.tail_slope": -1.192817,
    "degrees.users.ks.centered": 0.09918033,
    "degrees.users.ks.log_normalized": 0.1942623,
    "degrees.users.ks.prediction": 0.1918033,
    "degrees.users.ks.standardized": 0.08360656,
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
    "degrees.users.prediction_max_abs_diff": 2459.301,
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
    "fidelity_goal.values.ks_items": 0.1945329,
    "fidelity_goal.values.ks_users": 0.1942623,
    "fidelity_goal.values.rank1_energy_share": 0.2885223,
    "fidelity_goal.values.top_sigma_deviation": 0.2777696,
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
    "spectrum.expansion.0": 155.5541,
    "spectrum.expansion.1": 136.799,
    "spectrum.expansion.2": 87.26447,
    "spectrum.expansion.3": 72.71006,
    "spectrum.expansion.4": 63.85579,
    "spectrum.expansion.5": 55.69022,
    "spectrum.expansion.6": 52.40437,
    "spectrum.expansion.7": 51.65071,
    "spectrum.k": 8,
    "spectrum.loglog_slope.R": -0.6235718,
    "spectrum.loglog_slope.R_hat": -1.206693,
    "spectrum.loglog_slope.expansion": -0.5980868,
    "spectrum.loglog_slope.prediction": -0.5917896,
    "spectrum.max_relative_deviation": 0.4659806,
    "spectrum.n_iter": 4,
    "spectrum.normalized_max_abs_diff_vs_R": 0.4461701,
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
    "spectrum.relative_deviation.0": -0.2777696,
    "spectrum.relative_deviation.1": 0.4659806,
    "spectrum.relative_deviation.2": -0.06484702,
    "spectrum.relative_deviation.3": -0.06545021,
    "spectrum.relative_deviation.4": -0.08531782,
    "spectrum.relative_deviation.5": -0.09528865,
    "spectrum.relative_deviation.6": -0.127807,
    "spectrum.relative_deviation.7": -0.08325295,
    "spectrum.sketch_columns": 18,
    "spectrum.top1_ratio": 0.7222304,
    "split.disjoint": True,
    "split.overlap": 0,
    "split.test_on_items_without_train": 27,
    "split.test_per_user.histogram.0": 19,
    "split.test_per_user.histogram.1": 495,
    "split.test_per_user.histogram.2": 516,
    "split.test_per_user.histogram.3": 190,
    "split.test_per_user.max": 3,
    "split.test_per_user.mean": 1.718852,
    "split.test_per_user.median": 2.0,
    "split.train_duplicates": 0,
    "split.unsorted_train_rows": 0,
    "split.users_without_test": 19,
    "split.users_without_test_share": 0.01557377,
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
    "epoch-0/items": "31231bf3e440d2ca2f14f429734b99b14300673d4a34a83cd9343daa90009e3b",
    "epoch-0/labels": "fc8903e4979f411e67b416bb3ef05bca9857ad4f82a075a4d4b888656e85efd5",
    "epoch-0/users": "c23cc140df67d84ca2df10452dc77c3b95ebcbbc605e7f92dfc50aebf446c2ae",
    "epoch-1/items": "0f333ee7c32fc42077fec0282859bb8e4568963e15e3bc063865acfdedce32b2",
    "epoch-1/labels": "80e859fd44f67d8ceede696200d82bc869cf3d0ef0c42041dd693dd0b853885a",
    "epoch-1/users": "9075c8c136f68914bfaf06500e118914af6e3e3db8e5c217dd798b36c98576b9",
    "test/items": "7f6b507a42f4f1280eb581f5e06428291a159cfc2dee03e2108de9d42a72302f",
    "test/users": "1ea5403e94142a6b0b94c509bca11fabd49a01fde4689839040a63813c550675",
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
