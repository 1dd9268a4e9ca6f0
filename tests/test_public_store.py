"""Public stores (``expand(..., public=True)``, ``daskfractal expand --public``).

A public store must hold none of the attributes that rebuild the construction (seeds,
shuffle, R̂, slots, block counts, the input's identity, carried timestamps): checked on the
bytes of every file written, not on an API flag. It must still be read by ``open``,
``validate`` (with a note saying what it could not compute) and ``negatives``, hold the same
interactions as the ordinary store of the same seed, and be refused by ``privacy``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import daskfractal as dfr
from daskfractal.cli import main
from daskfractal.errors import ParameterError, StoreError
from daskfractal.testing import fat_tailed_interactions, write_movielens_udata

SEED = 987654321  # long enough not to appear by chance in the bytes of a store
HIDDEN_PARAMS = (
    "seed",
    "shuffle",
    "window",
    "reduced",
    "source",
    "input_sha256",
    "input_shape",
    "input_train",
    "input_test",
    "chain_seed",
)


@pytest.fixture(scope="module")
def udata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = fat_tailed_interactions(300, 200, 20, seed=4, ratings=True, timestamps=True)
    return write_movielens_udata(tmp_path_factory.mktemp("pub") / "u.data", data)


@pytest.fixture(scope="module")
def pair(udata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same expansion written public and not, as Zarr and as Parquet."""
    out = tmp_path_factory.mktemp("pairs")
    split = dfr.preprocess(dfr.load(udata))
    paths = {}
    for public in (False, True):
        ex = dfr.expand(
            split, factors=(2, 3), shuffle="stratified", seed=SEED, public=public, window=8
        )
        tag = "public" if public else "private"
        paths[f"zarr-{tag}"] = ex.to_zarr(out / f"{tag}.zarr", progress=False).path
        paths[f"parquet-{tag}"] = ex.to_parquet(out / f"{tag}.pq", progress=False).path
    return paths


def _keys(doc: object) -> set[str]:
    """Every key of a JSON document, at every level."""
    if isinstance(doc, dict):
        return set(doc) | {k for v in doc.values() for k in _keys(v)}
    if isinstance(doc, list):
        return {k for v in doc for k in _keys(v)}
    return set()


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_public_store_bytes_hold_no_revealing_attribute(
    pair: dict[str, Path], udata: Path, fmt: str
) -> None:
    private = dfr.open(pair[f"{fmt}-private"])
    path = pair[f"{fmt}-public"]
    files = [p for p in path.rglob("*") if p.is_file()]
    names = {p.relative_to(path).as_posix() for p in files}
    assert not any("slot" in n or "block_train" in n or "block_test" in n for n in names)
    assert not any("timestamps" in n for n in names)
    assert not (path / "users").exists()
    # what the private twin records must not be in any byte of the public store
    p = private.attrs["params"]
    secrets = [
        str(SEED),
        p["input_sha256"],
        p["source"],
        str(udata.name),
        repr(p["reduced"]["keep"][0][0]),
        repr(p["reduced"]["singular_values"][0]),
    ]
    blob = b"".join(f.read_bytes() for f in files)
    for s in secrets:
        assert s.encode() not in blob, s
    # and no daskfractal metadata document has a revealing key (the array documents name
    # their codecs' options, e.g. Blosc's "shuffle")
    for name in ("zarr.json", "_daskfractal.json", "manifest.json"):
        if (path / name).is_file():
            keys = _keys(json.loads((path / name).read_text()))
            assert not keys & {*HIDDEN_PARAMS, "expected"}, (name, keys & set(HIDDEN_PARAMS))
    st = dfr.open(path)
    assert st.layout.public and st.attrs["params"]["public"] is True
    assert st.attrs["params"]["carry"] == ["ratings"]
    assert set(st.stats()) == {
        "user_train_degree",
        "user_test_degree",
        "item_train_degree",
        "item_test_degree",
    }
    with pytest.raises(StoreError, match="public store"):
        st.user_slots()


@pytest.mark.parametrize("fmt", ["zarr", "parquet"])
def test_public_store_holds_the_same_interactions(pair: dict[str, Path], fmt: str) -> None:
    a, b = dfr.open(pair[f"{fmt}-private"]), dfr.open(pair[f"{fmt}-public"])
    assert a.counts() == b.counts()
    for split in ("train", "test"):
        pa, ia = a.rows(0, a.n_users, split)
        pb, ib = b.rows(0, b.n_users, split)
        assert np.array_equal(pa, pb) and np.array_equal(ia, ib)
        ra = a.row_columns(0, a.n_users, split, ["ratings"])
        rb = b.row_columns(0, b.n_users, split, ["ratings"])
        assert np.array_equal(ra[-1]["ratings"], rb[-1]["ratings"])
    sa, sb = a.stats(), b.stats()
    for name, values in sb.items():
        assert np.array_equal(values, sa[name])


def test_validate_reads_a_public_store_with_a_note(pair: dict[str, Path], udata: Path) -> None:
    pub = dfr.validate(pair["zarr-public"], udata, k=4, progress=False, figures=False)
    priv = dfr.validate(pair["zarr-private"], udata, k=4, progress=False, figures=False)
    assert any(n.startswith("public store:") for n in pub.notes)
    assert pub.numbers["store"]["public"] is True and pub.numbers["store"]["seed"] is None
    # the same degrees; Theorem 1 from the recorded singular values of R̂: the same prediction
    for axis in ("users", "items"):
        ks = pub.numbers["degrees"][axis]["ks"]["log_normalized"]
        assert ks == priv.numbers["degrees"][axis]["ks"]["log_normalized"]
        assert pub.numbers["degrees"][axis]["ks"]["prediction"] is None
    assert pub.numbers["spectrum"]["top1_ratio"] == pytest.approx(
        priv.numbers["spectrum"]["top1_ratio"], rel=1e-9
    )
    assert "rank1_energy_share" not in pub.numbers["blocks"]
    assert pub.numbers["original"]["sha256_matches"] is None


def test_cli_public_store_validate_negatives_privacy(
    pair: dict[str, Path], udata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(pair["parquet-public"])
    assert main(["validate", store, "--original", str(udata), "--quiet", "--k", "4"]) == 0
    assert "note: public store:" in capsys.readouterr().out
    neg = ["negatives", store, "--out", str(tmp_path / "neg"), "--quiet", "--local", "sync"]
    assert main(neg) == 0
    capsys.readouterr()
    assert main(["privacy", store, "--original", str(udata)]) == 5
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "public store" in err[0] and "no ground truth" in err[0]
    with pytest.raises(StoreError, match="public store"):
        dfr.privacy_audit(store, udata)
    assert main(["evaluate", store, "--original", str(udata)]) == 5
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "public store" in err[-1], err


def test_cli_expand_public(udata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.zarr"
    argv = ["expand", str(udata), "--factors", "2", "2", "--out", str(out), "--quiet"]
    assert main([*argv, "--public", "--local", "sync", "--seed", str(SEED)]) == 0
    assert "(public" in capsys.readouterr().out
    st = dfr.open(out)
    assert st.layout.public and "seed" not in st.attrs["params"]
    assert st.layout.carry == ("ratings",)
    bad = ["expand", str(udata), "--factors", "2", "2", "--out", str(tmp_path / "m")]
    assert main([*bad, "--public", "--format", "mlperf"]) == 2
    assert "--public" in capsys.readouterr().err
    assert main([*bad, "--public", "--carry", "ratings,timestamps"]) == 2
    assert "timestamps" in capsys.readouterr().err


def test_public_multilevel_store_records_no_level_seed(udata: Path, tmp_path: Path) -> None:
    split = dfr.preprocess(dfr.load(udata))
    ex = dfr.expand(split, factors=(2, 2), inner_factors=[(2, 1)], seed=SEED, public=True)
    st = ex.to_zarr(tmp_path / "ml.zarr", progress=False)
    levels = st.attrs["params"]["levels"]
    assert [lv["level"] for lv in levels] == [1, 2]
    assert not _keys(st.attrs) & set(HIDDEN_PARAMS)
    assert str(SEED).encode() not in (tmp_path / "ml.zarr" / "zarr.json").read_bytes()


def test_public_flag_is_checked() -> None:
    with pytest.raises(ParameterError, match="public"):
        dfr.expand("default", factors=(2, 2), public="yes")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="timestamps"):
        dfr.expand("default", factors=(2, 2), public=True, carry=("timestamps",))
