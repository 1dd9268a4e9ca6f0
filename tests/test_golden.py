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

The ML-100K cases need ``../shared/data/ml-100k`` (they skip without it; ``--regenerate``
keeps their previous values then).
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

from .conftest import shared_file

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


@pytest.mark.parametrize("name", sorted(CASES))
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
        "indptr/test.parquet:indptr": "4e3e3f250c395a0693c7fca8f02446ffdac4d018371b6c0099f9e57a3f6984f2",
        "indptr/train.parquet:indptr": "3ce69cb6e5c70c73880be57a8c1ff60735f03b05865aab2bf3bffd959e9fb64d",
        "stats/block_test.parquet:block_col": "de897692864a7cc041e476ffd846b932e48d689c2285622028f5b9c01e58e5e0",
        "stats/block_test.parquet:block_row": "5f47f2c2b445feb89c2008b1a39b73aec91e473b08849f00c0eb7f3a7dcd6d7c",
        "stats/block_test.parquet:value": "ba66c859ce55765eb599c78045514f680833018d81a47b7d40123dfbeb19b04f",
        "stats/block_train.parquet:block_col": "de897692864a7cc041e476ffd846b932e48d689c2285622028f5b9c01e58e5e0",
        "stats/block_train.parquet:block_row": "5f47f2c2b445feb89c2008b1a39b73aec91e473b08849f00c0eb7f3a7dcd6d7c",
        "stats/block_train.parquet:value": "3ed88bac6c555bd2099a8af0ab46c73b81ac3aaebb75d5e1f87da3fffe4cb654",
        "stats/item_test_degree.parquet:item_test_degree": "07b6d84f5e6d064b0e02eebd8852cae34f56f1cf02a6aa9ac3a45693394a51c7",
        "stats/item_train_degree.parquet:item_train_degree": "bd7398f4ddee3f24f53e4e63e7b3a47d5c17201e7d8dd95c44904a1a1d262a22",
        "stats/user_test_degree.parquet:user_test_degree": "845fd1fe93865d864389c254e4ba8b3b2a73cf2a66fb655037f682eacbc30bf5",
        "stats/user_train_degree.parquet:user_train_degree": "a6bb1066708d7e9155b46c03b6cf04012f267b9cd2f13bb5dc8972e636bc1691",
        "test/part-00000.parquet:item_id": "9519d771de4d0cbd3623c34875ae7ac6a79f168ae644e9f963f200fc866fdf35",
        "test/part-00000.parquet:rating": "251b2ef9fa38ef275d66681062eb337420bcefe19affddb0be75bfb0925c1779",
        "test/part-00000.parquet:timestamp": "3f9d2ca81b70ac12f2b7d229053aef9ebe090808d414ff7a350bd9696477da67",
        "test/part-00000.parquet:user_id": "ebe2f6194cfb7f0880e8ca6b7605825c4670797cd75bb0d8d11cbcf0bba5af62",
        "test/part-00001.parquet:item_id": "1c3546f595392b1d69e883bc761eb6ae25541653da272679c2464fa0d7efc5ee",
        "test/part-00001.parquet:rating": "5f3f11e3dadf18bb179ee05b8a731aac4552004bed583d7ad47b967c77eb5c35",
        "test/part-00001.parquet:timestamp": "5fae9ebf84066d877e32aa9abdcd46507de264e97d9853c0127ad9f3ff5873de",
        "test/part-00001.parquet:user_id": "44032b228b9143b99b470c52c8ec0497e2b8260c771db0980b67bae243986aaa",
        "test/part-00002.parquet:item_id": "9dfc775d6e00768ee6967a4408cb3ec2dac793d6e8566c8dda0536e61adab18c",
        "test/part-00002.parquet:rating": "e31c34fd9e170a0a929cb5c70608df8e87e01d376ec68bdb4283b81dd034b6c3",
        "test/part-00002.parquet:timestamp": "3a29e3571aab2855475454070359b5ce45694e791093349f4c6f18dd29b1555a",
        "test/part-00002.parquet:user_id": "57e00349b0e93e47984228e6d321a4b4f11d83b9fc7983363e8f886975c6c15b",
        "train/part-00000.parquet:item_id": "733f367753f108826718372ba037428e2d007f24dd382a2b3c6aafaa2d343a2a",
        "train/part-00000.parquet:rating": "34a10686339040c1a35b31c74875357a9ea125a5b3660848bc415f52d578dcc5",
        "train/part-00000.parquet:timestamp": "3f4b0ec46ceb6d7619b5d523f08f95c51a41d89b449a3e37fb0489b73a677c85",
        "train/part-00000.parquet:user_id": "00ebd469079bdda6ffbb0a30155e61b961dd524d734de2e44e529640012f5655",
        "train/part-00001.parquet:item_id": "196254bd26170dcdfedc9192b48c2019fcd6e2ec0a2d6fa75a2cb667005e8d6a",
        "train/part-00001.parquet:rating": "b04dae0ce7ac4681e721894796d19dcacede14cdba4c41195c237da33854de7a",
        "train/part-00001.parquet:timestamp": "db1193d96b8f4e401a3a1355dad859dd3b5b2f0af3ade2e7f895e48b3605701e",
        "train/part-00001.parquet:user_id": "d034c61d3288b676fd08728f435664120837993d54661b1109362d25c865cfc1",
        "train/part-00002.parquet:item_id": "bc192478e376841d0f01eec5bfb22ef9ae1ad17c9f5332701e19c27881dab4cb",
        "train/part-00002.parquet:rating": "9699652a7525f278a37a6ccbeb85d49f0c2b1dcf3f87290a2d176a5139af2c84",
        "train/part-00002.parquet:timestamp": "0761980bb629c8215d39ce70ee5c35fdcae9d3c56a159b09336d1e7d247d31df",
        "train/part-00002.parquet:user_id": "8e54bf44ff6ffa816d9307cbc00ef520c699285cecb5117b8704e553d0aec1be",
        "users/slot.parquet:slot": "d4e4fefbf1586830f3bde937b0f4e1811461cd9fa0bdafbc361e5316e2a51fa8",
    },
    "default-block-zarr": {
        "stats/block_test": "4806387c3600d420e95bbc486aba03a6254c025ce38a66d4814b2ec77aa43418",
        "stats/block_train": "ecad80965a2302db688db2275ef2fac3a7938bdaa775d933837f6e620d3dca0e",
        "stats/item_test_degree": "f600593a2a52de2231a8dec85390fa9d52d38333f2dd437d2852e141ea347b5d",
        "stats/item_train_degree": "2cd78add02d410e839298a4c2d3098c2ee11a837be5ae5da15f5170d3a344667",
        "stats/user_test_degree": "91dcb6c899b1f24091d97f162ff2b55b82e84cfdabe58b7bc466213cba9599d3",
        "stats/user_train_degree": "ee63e5fe672bd56bd41151305f3519c8704d98e737e97eedeb8c731445701c00",
        "test/chunk_user": "af54e358110eff79144caee5d4b01bbcf4c5b8291aea4ff97e26ffdcff550af3",
        "test/indices": "94bca56fef2364b8b9ebc87319974dac617bd44fbae37b6bc57df82e55fed342",
        "test/indptr": "da2e414d0a233e914a7ab0a7681f29db8b0b44d267c1f33bc13fee0455c35601",
        "test/ratings": "2fa1c5c83567502138fe04cd4bc0a8341ca3cc6cd8db6ed4567b1cb027d25665",
        "test/timestamps": "b5b641a1c0c589ce72e2e3588dce184cb7b8105d8ddd65c6296dfc5b19091018",
        "train/chunk_user": "ffdf5bd15f28e127c079527a36c3a518323ea74ad6292a061a0b80819595c8c3",
        "train/indices": "59a8d57369a80a1cbdbaee2a49fafe138381cadebc971c338acdfb439b1a880c",
        "train/indptr": "9dc219e3069ea261368e9f9e0bce91c8cc659b0b8cf5ba4a5fe5163f335d7708",
        "train/ratings": "ffe8da34ba84f67a35ab10b2751b14c729ec483a4110d834f69b51f42919b75c",
        "train/timestamps": "52db101d7047e56c9ca1a15e330b9aa5691ed67a4618958ad506fc4608a5bb71",
        "users/slot": "241046a5a0a08ed981e57e66d6815709c301f15c9a24dbe49de697cb9c957ef0",
    },
    "default-multilevel-zarr": {
        "stats/block_test": "5fcde08acdb281483df10d28c338428bcaaf391d5b853e1f5ffc9876a8db79b6",
        "stats/block_train": "72b9fbc6db6ed80a3f711bc36fe2a64529736b0e11c7634cdb317a6be0fb8c99",
        "stats/item_test_degree": "043254355a313a54c51fde06ebd71d7183d08974a7ddccce207c9fa146bfbfe2",
        "stats/item_train_degree": "eee80849362e62a4413a5c8ff3a880dd834d56e3037b4883c8caf94d34242573",
        "stats/user_test_degree": "aeeb4141375968261098447ddd7ada508d919f93f8e960dc9002e99bbd83c98b",
        "stats/user_train_degree": "c66622f6dd252c8c47d0a3e9e44dd5388e828424d91cafb13e0cbb310c22f8e0",
        "test/chunk_user": "22c9bd80b45db4a0f3d6c0d9a0c5ef96f38f16a817b5894baa120b3282b06e59",
        "test/indices": "492b069adb02d09aae26d326f984a86f4b88e386bdf0ca857c9ae58061fd41ff",
        "test/indptr": "90e44070ed5a3e227e2ce35313b535d095959560cfeb7aba8d00510e3b78ce67",
        "test/ratings": "5445898c1695827b11c7113830bdc957b50430b21a24ffba6ae6847e46e6b0a6",
        "test/timestamps": "87f6b86de2419513bfad4b432ddf916e4b682256b1b7377987078d9595250794",
        "train/chunk_user": "22c9bd80b45db4a0f3d6c0d9a0c5ef96f38f16a817b5894baa120b3282b06e59",
        "train/indices": "f19c17c298e03f0ce4c1ce6cbc22ab189b6bddddd8c58343e1cb00d88582c345",
        "train/indptr": "2f0b22037244c3470c4b4b931a0f76c8beb543dde8023c095c70f5da06fbb8b8",
        "train/ratings": "240406ad0661231ab398554db1ad79cb508a6068fecfa15740759413eb51d6f2",
        "train/timestamps": "cbf48329760b34f480c4a8cbf3209920930825304b6d4996dc4026a6a7ad2cc1",
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
        "stats/block_test": "70322621c595556734fedf0c79ad933f9e8f2eda77d6519771b52e8d826f6c87",
        "stats/block_train": "481c46e472fabf87a119143819a334856249c213c22cb4e147721dbd398a87af",
        "stats/item_test_degree": "edbddc22cbe10d491394317afacd335efabc207b0fd21bdfa70da05f774b29bb",
        "stats/item_train_degree": "30ab152ed09c87c1a57693450c9e6784f931979e636fa84563beb6173b55c50b",
        "stats/user_test_degree": "5f70de8d609871d1e630759803c5e2a480cb280bed1511d7ece9def49ca3f3fa",
        "stats/user_train_degree": "80089396c3b51fe0c75fa4d3371aecc0c70aeb0d90adc31ee0141df939f442fa",
        "test/chunk_user": "db496ebd073b8704186b80e9cb8db87dd38f26be413bf9846dd0413a9c0d1723",
        "test/indices": "6ecec166473230f3f58aacbaa53df8455d32f80f7f1e2dda23c6946eefe1718e",
        "test/indptr": "9cc7b6c7b15f2e4198eb29e19faef00d7ced186c36a39c897b25127aad025558",
        "test/ratings": "a2d02b822e58edacb2d10583442c2bafe092f750157f1e50aeeb39db5f468d09",
        "test/timestamps": "4845597d21e284afe4401c494caecddd4d4d74a8b6592e02e4bacd7b00f42e93",
        "train/chunk_user": "db496ebd073b8704186b80e9cb8db87dd38f26be413bf9846dd0413a9c0d1723",
        "train/indices": "b67eb666a416069221b6be0a9af0d78c92fed32f7cf4176887195f3536cc09e6",
        "train/indptr": "fecaa5f8576851014b862e02b80902cda10a0fb121ab26f7ee18b6518fc72ea4",
        "train/ratings": "47def6dda14e41523939f18a739e8720b883f9c796a3b348e020e8521ab0f0e1",
        "train/timestamps": "ec3c6335f003119280c987b039a984565976a8d6dba7cc3f6ae53e3035e0e20c",
        "users/slot": "34b7698ebb5b67c851039d734d0657128573758f1603f202e528091f7ea4d4e7",
    },
    "ml100k-block-zarr": {
        "stats/block_test": "50224b39708cb1de2cf258321e4e11a5dc03bd7a3fb45cb064225b31f20d302f",
        "stats/block_train": "0fc556bafdea19dea4385e01560ac8b6d0db1635cdd8a32f5489e75cf2c85f6d",
        "stats/item_test_degree": "ebec1a1bf7cacd3aef82478da6c6a03d79c4e0d3ab79c40aaa60bcb46b21ab53",
        "stats/item_train_degree": "cfb65bd4577f1caedcf464f073b5f5e942bca4f4b70bd14a4e3442ad0daff80f",
        "stats/user_test_degree": "8a5075b2ac607d3bdf0cc7adf9d602bca768ca196bdc78e81cc249ce2c410756",
        "stats/user_train_degree": "22396c0462533466d2ac223d70e3463e8a8232cbf949f72350a2d065da4185dc",
        "test/chunk_user": "2370c49773a157e72b54d9b7a14f165af04d06e2e8d3cb82f5d18f74ae97ee80",
        "test/indices": "90ddc61914b8affdecbe4d9a89790588ace1516b72202d54db2d676185f001de",
        "test/indptr": "b1ef88e4e32aa85735838add3a5b6faaf68e5e55fb2fa2c9cce2bdb3fe9b9b89",
        "test/ratings": "e1c3dd0ee5c06936e1db7f24f0d4d21065249b6b482067632cdfeada8836389f",
        "test/timestamps": "64617efed4b673be7a99ff955964585656182f9168ad01ac4e592bb670a6b819",
        "train/chunk_user": "2370c49773a157e72b54d9b7a14f165af04d06e2e8d3cb82f5d18f74ae97ee80",
        "train/indices": "ae23363881963a943ee0a60d260358e903e398c669ae445270d30b4e0e075642",
        "train/indptr": "6a2fd4cfd63be37782b50e474404b9fe906f39c5813ae38497ae0dd4c4b78cce",
        "train/ratings": "ed7f467de76e90d038a20a77a68f9fcc891285bb0fbe22121ab085ad04117e2b",
        "train/timestamps": "bb73df8e2146935502f306f6c96a69d8986ce4bef363de28073c65bdec5c9978",
        "users/slot": "575dc8b8e683e2c251cd9f47f0dcc40c5fd73600133ddd43cd33458d3de17882",
    },
    "ml100k-none-parquet": {
        "indptr/test.parquet:indptr": "496a05235fba2559d0a0a97fd08d2d2aecfe50172deb498ec373286a4201a84a",
        "indptr/train.parquet:indptr": "d57c870abb9e22d19cd0b66d2e36fbc638825771aafc3d16c1972dbe1eb4d2ac",
        "stats/block_test.parquet:block_col": "4262cc649e090bf7f9d4abc5fdf624f08d991c6bdde4f883154c3d6ee5bd955f",
        "stats/block_test.parquet:block_row": "477c2e81389e196dcf38751b7fc2960e5233de400737c9879abce3a0e58d1c72",
        "stats/block_test.parquet:value": "b75b8fd9a6c6510c227dfa98ac9a97d86362209db9815808e9fac1802b954244",
        "stats/block_train.parquet:block_col": "4262cc649e090bf7f9d4abc5fdf624f08d991c6bdde4f883154c3d6ee5bd955f",
        "stats/block_train.parquet:block_row": "477c2e81389e196dcf38751b7fc2960e5233de400737c9879abce3a0e58d1c72",
        "stats/block_train.parquet:value": "c9f47352b61ca95302c4a61d04ebb0dbccd95651e42b87e6cb74bdf3370a8a0c",
        "stats/item_test_degree.parquet:item_test_degree": "a9f2f08c47a72d3370ee551692feed808bcacaaf10d2404f13a0b346b9afb32e",
        "stats/item_train_degree.parquet:item_train_degree": "4822266d501c9cbba25b6f65ea4e1ef1b574c2b7230575dce895f438e37b362c",
        "stats/user_test_degree.parquet:user_test_degree": "268dc4f1bc9869e46aafa85eb94ba09d4a2f668f478fffd970c7738bee99e11b",
        "stats/user_train_degree.parquet:user_train_degree": "655526c3fc431f172ca7c0a0fce57ea22de8f93345b28a8070f7b3735ab05d58",
        "test/part-00000.parquet:item_id": "d8003eaf56a388bd23c284d114b2f906ae37ca7a8c436710cd06ac978f2d147c",
        "test/part-00000.parquet:rating": "b52ec3bd2aa83b0702c870ed10e31877049d69efe8037eb5843816653a124173",
        "test/part-00000.parquet:timestamp": "d591a6558647aaa68b5c7689296a8e170c1fde78686d7e180d72e2ba929e5fb5",
        "test/part-00000.parquet:user_id": "48610166bfea9d07abc6b8f944f603ab8dde0443e106f4ca6517965642863664",
        "test/part-00001.parquet:item_id": "8e6ee6f4533b81e2c05d82758c8fc9765b32794e2043a5a800b0d987aef0a3f0",
        "test/part-00001.parquet:rating": "bc691c9dec565f2f4410e3a173f3c0f0a5e314a93697f1484695aebc816b635c",
        "test/part-00001.parquet:timestamp": "4e8809e41959151cf3fa59ea77b3cfd7014ccd482654cc815d4d5aa3d9821c66",
        "test/part-00001.parquet:user_id": "b672d1c8e61b72c07c4a58e94c118004c852c30be51d34fcd44b805f80e95539",
        "test/part-00002.parquet:item_id": "ed0e45dbec41b80e697f18f6a33080d4cc726b4ad85fddb6aefee1e507431831",
        "test/part-00002.parquet:rating": "b3a6cb61c4ddc5e70e341e9b0aeb43a3990fb5e3d1361c554d759a03ee3f3874",
        "test/part-00002.parquet:timestamp": "f52d5cbb021c5a4a1e840de6bbf86c4324968466d617ca7141cab9b8f1b59207",
        "test/part-00002.parquet:user_id": "ffc313b68d8f010e02d57396fd2be5ad20d23f3ffef9b5b4775d864a00954b85",
        "train/part-00000.parquet:item_id": "fa7429e4e10f321441ef5ce3bfc2e02d2577973e6a1cbee230403f2178ffd395",
        "train/part-00000.parquet:rating": "ff99870622897fe973bfdf4bcbd7c8f74696c5cd2eddc18c8a275c57a1317d7f",
        "train/part-00000.parquet:timestamp": "5aa2d139e447f34678feccda51f7433f0d6aecac3c0deef301a02dc570eb1d51",
        "train/part-00000.parquet:user_id": "e6b5130320a7a9e190d6f5fab79fe5f6e1fc5a17b80a42a08d741ef1b66f25bf",
        "train/part-00001.parquet:item_id": "d9ca4640bcbeb9411b0641919bb08094bff8b0ab5ab1a0e2a6cb04e0b9c33606",
        "train/part-00001.parquet:rating": "107695b650500bbf69469a7d8f9757cc8395b9136d23517679f4f74d2a254fdd",
        "train/part-00001.parquet:timestamp": "a4a04d4b5ae49943f8b2ac5579a71636bd997b203307a6c540e58d52f4a68cba",
        "train/part-00001.parquet:user_id": "88ac9b2a3735850f43b9ce7f217c2998003879efdc27d577519dcd38eb9e276b",
        "train/part-00002.parquet:item_id": "b28bcf8fda476dc37333be08c15d78f77ec11e9ff6ba360b47a485ed293d0576",
        "train/part-00002.parquet:rating": "31c6cf76178d140635d1e97901e0afa790114e3dd82437da2358c156b10c33ae",
        "train/part-00002.parquet:timestamp": "04348ed52afe60c3907a3dd2bae0d2e238759904f0f679740659f18e4473729e",
        "train/part-00002.parquet:user_id": "f67c7bae1863b7cdadf56552d41ad6be6ad3a64873736bd9201e9dfba3e777f1",
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
    "blocks.interactions": 347612,
    "blocks.mean_offdiagonal_cosine": 0.008191259,
    "blocks.of_rows": 610,
    "blocks.rank1_energy_share": 0.2888673,
    "blocks.rows": 610,
    "blocks.structure_left": -0.0004302901,
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
    "degrees.items.expansion.empty_share": 0.03705608,
    "degrees.items.expansion.gini": 0.6576694,
    "degrees.items.expansion.head_slope": -0.4417382,
    "degrees.items.expansion.max": 330,
    "degrees.items.expansion.mean": 11.91595,
    "degrees.items.expansion.median": 5.0,
    "degrees.items.expansion.min": 0,
    "degrees.items.expansion.nonzero": 28091,
    "degrees.items.expansion.sum": 347612,
    "degrees.items.expansion.tail_slope": -1.65689,
    "degrees.items.ks.centered": 0.1920951,
    "degrees.items.ks.log_normalized": 0.1920951,
    "degrees.items.ks.prediction": 0.2365578,
    "degrees.items.ks.standardized": 0.1920951,
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
    "degrees.users.expansion.gini": 0.4768454,
    "degrees.users.expansion.head_slope": -0.3530808,
    "degrees.users.expansion.max": 2714,
    "degrees.users.expansion.mean": 284.9279,
    "degrees.users.expansion.median": 186.5,
    "degrees.users.expansion.min": 27,
    "degrees.users.expansion.nonzero": 1220,
    "degrees.users.expansion.sum": 347612,
    "degrees.users.expansion.tail_slope": -1.173557,
    "degrees.users.ks.centered": 0.104918,
    "degrees.users.ks.log_normalized": 0.1991803,
    "degrees.users.ks.prediction": 0.204918,
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
    "degrees.users.prediction_max_abs_diff": 2860.301,
    "density.R": 0.01689684,
    "density.expansion": 0.00976717,
    "density.ratio": 0.5780469,
    "density.ratio_expected": 0.577487,
    "fidelity_goal.goal.ks_items": 0.1,
    "fidelity_goal.goal.ks_users": 0.1,
    "fidelity_goal.goal.rank1_energy_share": 0.3090781,
    "fidelity_goal.goal.top_sigma_deviation": 0.05,
    "fidelity_goal.met": False,
    "fidelity_goal.missed.0": "ks_users",
    "fidelity_goal.missed.1": "ks_items",
    "fidelity_goal.missed.2": "top_sigma_deviation",
    "fidelity_goal.values.ks_items": 0.1920951,
    "fidelity_goal.values.ks_users": 0.1991803,
    "fidelity_goal.values.rank1_energy_share": 0.2888673,
    "fidelity_goal.values.top_sigma_deviation": 0.2855411,
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
    "spectrum.expansion.0": 153.8803,
    "spectrum.expansion.1": 134.8161,
    "spectrum.expansion.2": 90.82437,
    "spectrum.expansion.3": 74.71121,
    "spectrum.expansion.4": 64.17223,
    "spectrum.expansion.5": 55.36499,
    "spectrum.expansion.6": 50.44523,
    "spectrum.expansion.7": 49.62585,
    "spectrum.k": 8,
    "spectrum.loglog_slope.R": -0.6235718,
    "spectrum.loglog_slope.R_hat": -1.206693,
    "spectrum.loglog_slope.expansion": -0.6093369,
    "spectrum.loglog_slope.prediction": -0.5917896,
    "spectrum.max_relative_deviation": 0.4447309,
    "spectrum.n_iter": 4,
    "spectrum.normalized_max_abs_diff_vs_R": 0.4428498,
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
    "spectrum.relative_deviation.0": -0.2855411,
    "spectrum.relative_deviation.1": 0.4447309,
    "spectrum.relative_deviation.2": -0.02669804,
    "spectrum.relative_deviation.3": -0.03972931,
    "spectrum.relative_deviation.4": -0.08078506,
    "spectrum.relative_deviation.5": -0.1005721,
    "spectrum.relative_deviation.6": -0.1604139,
    "spectrum.relative_deviation.7": -0.1191922,
    "spectrum.sketch_columns": 18,
    "spectrum.top1_ratio": 0.7144589,
    "split.disjoint": True,
    "split.overlap": 0,
    "split.test_on_items_without_train": 33,
    "split.test_per_user.histogram.0": 22,
    "split.test_per_user.histogram.1": 489,
    "split.test_per_user.histogram.2": 511,
    "split.test_per_user.histogram.3": 198,
    "split.test_per_user.max": 3,
    "split.test_per_user.mean": 1.72541,
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
    "store.nnz_test": 2105,
    "store.nnz_train": 347612,
    "store.seed": 7,
    "store.shuffle": "block",
    "store.test_policy": "all",
}
EXPECTED_NEGATIVES: dict[str, str] = {
    "epoch-0/items": "ea878769623fec18888529956285c65ad983222576b22dc0532340e44bf17ec2",
    "epoch-0/labels": "d4c30dee5b9b58eba4b8710c9430e89905e5d9721e561b07f94b60cfdb592ed0",
    "epoch-0/users": "1e321079bee31527acb25ba5be5c752ca6fbab435fb1d6fcfdb55751232ae927",
    "epoch-1/items": "8aee0c3276a195950cfbb8d086867ee8703c8ade44cb684f0e4c6dad12ece6a4",
    "epoch-1/labels": "8098e5c505267f189c72a0512bc1755368bbe80e2d0f133e7b9aff83950ab4c3",
    "epoch-1/users": "4a9935c33003864eca5c2a2d9a53e15645b1ffc30b1a781131eec3906f81ddc0",
    "test/items": "35a1ce59f6a471cec1ecb4d23eaf4a5d6570dd649404fd9a23f7df5b99c65a96",
    "test/users": "0d819f991cb0ee221fafb405eebdb8661f5f86ccfb77b72aa16727cd98936755",
}
# END GOLDEN


def _regenerate() -> str:
    """Build every case and return the text of the expected-values block."""
    stores = dict(EXPECTED_STORES)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for name in sorted(CASES):
            try:
                path = build(name, where)
            except pytest.skip.Exception as e:
                print(f"# {name}: skipped ({e}); previous values kept", file=sys.stderr)
                continue
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
