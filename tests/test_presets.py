"""Presets (``--preset mlperf|meta|faithful``, ``daskfractal.PRESETS``) and the clip rules.

What the store records equals what each preset promises; options given explicitly override
the preset's (API and CLI) and the store says which; the clip rules against hand-worked R̂;
``expand --help`` lists the presets; each preset end to end on the embedded data, read back
as its consumer reads it and compared with :meth:`Expansion.compute`; combinations a preset
cannot honour exit with 2 and one line.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import daskfractal as dfr
from daskfractal.cli import EXIT_OK, EXIT_USAGE, main
from daskfractal.errors import ParameterError
from daskfractal.expansion import (
    DEFAULT_DROPOUT,
    DEFAULT_ROWS,
    DEFAULT_SHUFFLE,
    DEFAULT_TIMELINE,
    DROPOUT_CHOICES,
    SHUFFLES,
)
from daskfractal.presets import PRESET_NAMES, PRESETS, Preset, get_preset
from daskfractal.reduction import CLIP_RULES, RESCALE_MODES, RESIZE_MODES, clip_keep
from daskfractal.store import FORMATS, open_export

FACTORS = (2, 2)
SEED = 5


@pytest.fixture(scope="module")
def raw() -> dfr.Interactions:
    return dfr.load("default")


def recorded(params: dict[str, Any]) -> dict[str, Any]:
    """The options a store used, by the presets' names (pre-processing, R̂, expansion)."""
    red = params["reduced"]["params"]
    pre = params["preprocess"]
    out = {
        k: params[k]
        for k in ("shuffle", "window", "dropout", "test_policy", "carry", "timeline", "rows")
    }
    if "dropout_auto" in params:  # params["dropout"] is the mode auto took
        out["dropout"] = "auto"
    out["block_sample_rate"] = params["block_sample_rate"]
    out.update({k: red[k] for k in ("resize", "rescale", "clip", "clip_rule", "scale")})
    out.update({k: pre[k] for k in ("binarize", "min_distinct_timestamps", "tie_policy", "split")})
    return out


def as_json(v: Any) -> Any:
    return [as_json(x) for x in v] if isinstance(v, tuple | list) else v


# ----------------------------------------------------------------------------- clip rules
#: a hand-worked rescaled R̂ (its maximum exactly 1, one entry above 0.95, one below 0.01)
R = np.array([[1.0, 0.97, 0.5], [0.004, 0.95, 0.2]])


def test_clip_rule_all_clips_every_entry_then_scales() -> None:
    got = clip_keep(R, (0.01, 0.95), 0.5, "all")
    want = [[0.475, 0.475, 0.25], [0.005, 0.475, 0.1]]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_clip_rule_keep_max_is_the_mlperf_reference() -> None:
    # the reference drops out a block only when 1 - keep > 0: R̂'s maximum (1) stays whole,
    # every other entry is clipped to [0.01, 0.95]
    got = clip_keep(R, (0.01, 0.95), 1.0, "keep-max")
    assert got.tolist() == [[1.0, 0.95, 0.5], [0.01, 0.95, 0.2]]
    # the element sample rate then scales every entry, the maximum too
    np.testing.assert_allclose(
        clip_keep(R, (0.01, 0.95), 0.5, "keep-max"), [[0.5, 0.475, 0.25], [0.005, 0.475, 0.1]]
    )


def test_clip_rule_after_scale_is_metas_order() -> None:
    # Meta multiplies by its element sample rate, then clips in the dropout: 0.2 * 0.004
    # = 0.0008 is raised to 0.001, and nothing reaches the upper bound
    got = clip_keep(R, (0.001, 0.995), 0.2, "after-scale")
    np.testing.assert_allclose(got, [[0.2, 0.194, 0.1], [0.001, 0.19, 0.04]], atol=1e-15)
    # scale 1: the maximum is clipped too (unlike keep-max)
    assert clip_keep(R, (0.001, 0.995), 1.0, "after-scale")[0, 0] == 0.995


def test_reduce_applies_the_clip_rule_to_its_rescaled_matrix(raw: dfr.Interactions) -> None:
    split = dfr.preprocess(raw)
    plain = dfr.reduce(split, (4, 8), resize="legacy")
    r = plain.keep  # rescaled, unclipped (scale 1)
    assert r.max() == 1.0 and (r < 0.01).any()  # both ends of the rule are exercised
    kept = dfr.reduce(split, (4, 8), resize="legacy", clip=(0.01, 0.95), clip_rule="keep-max")
    np.testing.assert_array_equal(kept.keep, np.where(r == 1.0, 1.0, np.clip(r, 0.01, 0.95)))
    every = dfr.reduce(split, (4, 8), resize="legacy", clip=(0.01, 0.95))
    assert every.keep.max() == 0.95 and kept.keep.max() == 1.0
    assert kept.params["clip_rule"] == "keep-max"
    np.testing.assert_array_equal(kept.raw, plain.raw)  # only the keep probabilities change
    mm = dfr.reduce(split, (4, 8), rescale="minmax").keep
    meta = dfr.reduce(
        split, (4, 8), rescale="minmax", clip=(0.001, 0.995), clip_rule="after-scale", scale=0.3
    )
    np.testing.assert_array_equal(meta.keep, np.clip(0.3 * mm, 0.001, 0.995))
    assert meta.keep.min() == 0.001  # min-max puts one entry at 0: clipped after scaling


def test_clip_rule_errors(raw: dfr.Interactions) -> None:
    split = dfr.preprocess(raw)
    with pytest.raises(ParameterError, match="needs clip"):
        dfr.reduce(split, (2, 2), clip_rule="keep-max")
    with pytest.raises(ParameterError, match="clip_rule='bogus' is not one of"):
        dfr.reduce(split, (2, 2), clip=(0.1, 0.9), clip_rule="bogus")
    with pytest.raises(ParameterError, match=r"after-scale.*target_interactions"):
        dfr.solve_factors(split, 1e6, clip=(0.01, 0.9), clip_rule="after-scale")
    # keep-max stays linear in the scale: the target search hits it
    red = dfr.solve_factors(split, 3e5, clip=(0.01, 0.95), clip_rule="keep-max")
    assert red.expected_interactions()["train"] == pytest.approx(3e5)


# ----------------------------------------------------------------------------- the presets
def test_preset_values_are_valid_options() -> None:
    assert PRESET_NAMES == ("mlperf", "meta", "faithful")
    for p in PRESETS.values():
        assert p.format in FORMATS
        assert p.expand.get("shuffle", DEFAULT_SHUFFLE) in SHUFFLES
        assert p.expand.get("dropout", DEFAULT_DROPOUT) in DROPOUT_CHOICES
        assert p.reduce.get("resize", "antialias") in RESIZE_MODES
        assert p.reduce.get("rescale", "abs-max") in RESCALE_MODES
        assert p.reduce.get("clip_rule", "all") in CLIP_RULES
    # faithful is the defaults: any change of the defaults must change it too
    faithful = PRESETS["faithful"]
    assert (
        faithful.expand["shuffle"],
        faithful.expand["dropout"],
        faithful.expand["timeline"],
        faithful.expand["rows"],
    ) == (DEFAULT_SHUFFLE, DEFAULT_DROPOUT, DEFAULT_TIMELINE, DEFAULT_ROWS)
    assert get_preset(faithful) is faithful
    with pytest.raises(ParameterError, match="preset='nope' is not one of"):
        get_preset("nope")
    with pytest.raises(TypeError):
        PRESETS["mlperf"].expand["dropout"] = "bernoulli"  # type: ignore[index]


def test_mlperf_and_meta_promise_the_published_pipelines() -> None:
    ml, meta = PRESETS["mlperf"].options(), PRESETS["meta"].options()
    assert ml == {
        "binarize": True,
        "min_distinct_timestamps": 3,
        "tie_policy": "all",
        "resize": "legacy",
        "rescale": "abs-max",
        "clip": (0.01, 0.95),
        "clip_rule": "keep-max",
        "scale": 1.0,
        "shuffle": "block",
        "dropout": "exact",
        "test_policy": "one",
        "block_sample_rate": 1.0,
        "carry": (),
        "timeline": "source",
        "rows": "per-block",
        "format": "mlperf",
    }
    assert meta["binarize"] is False and meta["carry"] == ("ratings",)
    assert (meta["rescale"], meta["clip"], meta["clip_rule"]) == (
        "minmax",
        (0.001, 0.995),
        "after-scale",
    )
    assert (meta["split"], meta["format"]) == ("none", "meta-csv")


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_api_records_what_the_preset_promises(raw: dfr.Interactions, name: str) -> None:
    preset = PRESETS[name]
    ex = dfr.expand(raw, FACTORS, preset=name, seed=SEED)
    used = recorded(ex.params)
    promised = {k: as_json(v) for k, v in preset.options().items() if k != "format"}
    assert {k: as_json(used[k]) for k in promised} == promised
    assert ex.params["preset"] == {"name": name, "overridden": {}}


def test_api_explicit_options_override_the_preset(raw: dfr.Interactions) -> None:
    ex = dfr.expand(
        raw,
        FACTORS,
        preset="mlperf",
        seed=SEED,
        dropout="bernoulli",
        resize="antialias",
        test_policy="all",
    )
    p = ex.params
    assert (p["dropout"], p["test_policy"], p["shuffle"]) == ("bernoulli", "all", "block")
    assert p["reduced"]["params"]["resize"] == "antialias"
    assert p["reduced"]["params"]["clip_rule"] == "keep-max"  # not overridden: the preset's
    assert p["preset"] == {
        "name": "mlperf",
        "overridden": {"dropout": "bernoulli", "test_policy": "all", "resize": "antialias"},
    }
    # an explicit default value overrides too (None, not the default, means "not given")
    ex = dfr.expand(raw, FACTORS, preset="mlperf", seed=SEED, shuffle=DEFAULT_SHUFFLE)
    assert ex.params["shuffle"] == DEFAULT_SHUFFLE
    assert ex.params["preset"]["overridden"] == {"shuffle": DEFAULT_SHUFFLE}


def test_a_preset_expansion_is_that_of_its_options(raw: dfr.Interactions) -> None:
    """The preset is only a name for its options: the same options give the same data."""
    opts = PRESETS["mlperf"].options()
    pre = {k: opts.pop(k) for k in ("binarize", "min_distinct_timestamps", "tie_policy")}
    opts.pop("format")
    split = dfr.preprocess(raw, seed=SEED, **pre)
    a = dfr.expand(raw, FACTORS, preset="mlperf", seed=SEED).compute()
    b = dfr.expand(split, FACTORS, seed=SEED, **opts).compute()
    for part in ("train", "test"):
        assert (getattr(a, part) != getattr(b, part)).nnz == 0
    assert a.test.shape[0] == np.diff(a.test.indptr).astype(bool).sum()  # one test item each
    assert np.diff(a.test.indptr).max() == 1


# ----------------------------------------------------------------------------- command line
def cli(*args: str) -> int:
    return main(["expand", "default", "--factors", *map(str, FACTORS), "--seed", str(SEED),
                 "--local", "sync", "--quiet", *args])  # fmt: skip


def test_help_lists_every_preset_and_what_it_sets(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["expand", "--help"])
    assert e.value.code == 0
    # (argparse wraps long lines after hyphens too: "generative-\nrecommenders")
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")
    assert "--preset {mlperf,meta,faithful}" in text
    for p in PRESETS.values():
        assert f"{p.name}: {p.summary}" in text
        # every option the preset sets, with its value (argparse may break a line anywhere)
        for item in p.describe().split(", "):
            assert item in text.replace("- ", "-"), item


def expanded_like(raw: dfr.Interactions, name: str, **kw: Any) -> dfr.ExpandedData:
    return dfr.expand(raw, FACTORS, preset=name, seed=SEED, **kw).compute()


def pairs(m: sp.csr_matrix) -> np.ndarray:
    coo = m.tocoo()
    out = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
    return out[np.lexsort((out[:, 1], out[:, 0]))]


def test_cli_mlperf_end_to_end(tmp_path: Path, raw: dfr.Interactions) -> None:
    out = tmp_path / "ml1b"
    assert cli("--preset", "mlperf", "--out", str(out)) == EXIT_OK
    store = open_export(out)
    assert store.format == "mlperf"
    want = expanded_like(raw, "mlperf")
    for split in ("train", "test"):
        rows = [np.load(f)["arr_0"] for f in store.files(split)]
        assert all(r.dtype == np.int64 and r.shape[1] == 2 for r in rows)
        np.testing.assert_array_equal(np.concatenate(rows), pairs(getattr(want, split)))
    params = store.attrs["params"]
    assert params["preset"] == {"name": "mlperf", "overridden": {}}
    promised = {k: as_json(v) for k, v in PRESETS["mlperf"].options().items() if k != "format"}
    assert {k: as_json(recorded(params)[k]) for k in promised} == promised


def test_cli_meta_end_to_end(tmp_path: Path, raw: dfr.Interactions) -> None:
    out = tmp_path / "ml3b"
    assert cli("--preset", "meta", "--out", str(out)) == EXIT_OK
    store = open_export(out)
    assert store.format == "meta-csv"
    want = expanded_like(raw, "meta")
    assert want.test.nnz == 0  # Meta's script has no test set: everything is expanded
    lines = []
    for f in store.files("train"):
        with open(f, newline="") as fh:
            lines.extend(csv.reader(fh))
    train = want.train.tocsr()
    assert len(lines) == int((np.diff(train.indptr) > 0).sum())
    for user, items, ratings in lines:
        u = int(user)
        a, b = train.indptr[u], train.indptr[u + 1]
        assert [int(x) for x in items.split(",")] == train.indices[a:b].tolist()
        np.testing.assert_array_equal(
            np.array(ratings.split(","), dtype=np.float32),
            want.train_ratings[a:b].astype(np.float32),
        )
    assert {float(r) for _, _, rs in lines for r in rs.split(",")} - {1.0}  # real ratings
    assert store.attrs["params"]["preset"] == {"name": "meta", "overridden": {}}


def test_cli_faithful_end_to_end(tmp_path: Path, raw: dfr.Interactions) -> None:
    out = tmp_path / "faithful.zarr"
    assert cli("--preset", "faithful", "--out", str(out)) == EXIT_OK
    store = dfr.open(out)
    want = expanded_like(raw, "faithful")
    for split in ("train", "test"):
        assert (store.to_scipy(split).astype(bool) != getattr(want, split).astype(bool)).nnz == 0
    params = store.attrs["params"]
    assert (params["shuffle"], params["dropout"]) == (DEFAULT_SHUFFLE, "joint")  # auto's choice
    assert params["dropout_auto"]["chosen"] == "joint"
    assert params["preset"] == {"name": "faithful", "overridden": {}}
    # the same as no preset at all, byte for byte in the data
    plain = dfr.expand(raw, FACTORS, seed=SEED).compute()
    assert (plain.train != want.train).nnz == 0


def test_cli_explicit_options_override_the_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "meta-bin.zarr"
    code = cli(
        "--preset", "meta", "--no-keep-ratings", "--carry", "none", "--clip", "0.01", "0.95",
        "--format", "zarr", "--out", str(out),
    )  # fmt: skip
    assert code == EXIT_OK
    params = dfr.open(out).attrs["params"]
    used = recorded(params)
    assert (used["binarize"], used["carry"], used["clip"]) == (True, [], [0.01, 0.95])
    assert (used["clip_rule"], used["rescale"], used["split"]) == ("after-scale", "minmax", "none")
    assert params["preset"] == {
        "name": "meta",
        "overridden": {"binarize": True, "clip": [0.01, 0.95], "carry": [], "format": "zarr"},
    }
    capsys.readouterr()
    assert main(["info", str(out)]) == EXIT_OK
    shown = capsys.readouterr().out
    line = "preset meta (overridden: binarize=True, carry=[], clip=[0.01, 0.95], format=zarr)"
    assert line in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--preset", "meta", "--target-interactions", "1e6"],
            "--preset meta cannot go with --target-interactions",
        ),
        (["--preset", "meta", "--shards", "4"], "--shards applies to --format mlperf only"),
        (["--preset", "faithful", "--clip-rule", "keep-max"], "--clip-rule 'keep-max' needs"),
        (["--preset", "mlperf", "--window", "0"], "--window"),
    ],
)
def test_cli_bad_combinations_exit_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = cli(*args, "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert message in err
    assert not (tmp_path / "out").exists()


def test_stores_without_a_preset_read_as_before(
    tmp_path: Path, raw: dfr.Interactions, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plain.zarr"
    dfr.expand(raw, FACTORS, seed=SEED).to_zarr(out, progress=False, scheduler="sync")
    params = dfr.open(out).attrs["params"]
    assert "preset" not in params and params["reduced"]["params"]["clip_rule"] == "all"
    capsys.readouterr()
    assert main(["info", str(out)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and not any(ln.strip().startswith("preset") for ln in lines)


def test_presets_are_exported() -> None:
    assert dfr.PRESETS is PRESETS and dfr.Preset is Preset
