"""The command line: a thin adapter, tested through ``main(argv)`` and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import daskfractal as dfr
from daskfractal.cli import EXIT_DOWNLOAD, EXIT_INPUT, EXIT_OK, EXIT_STORE, EXIT_USAGE, main

from .conftest import MOVIELENS, movielens_source
from .test_download import _no_proxy, closed_port, make_zip, server  # noqa: F401 (fixtures)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_of_every_command(capsys):
    for cmd in ("info", "reduce", "expand", "download"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "usage: daskfractal " + cmd in capsys.readouterr().out


def test_info_default(capsys):
    code, out, _ = run(capsys, "info", "default")
    assert code == EXIT_OK
    assert "interactions 100,836, users 610, items 9,724" in out
    assert "train 100,226, test 610" in out


#: (interactions, users, items) of the MovieLens sets
ML_COUNTS = {"ml-latest-small": (100_836, 610, 9_724), "ml-100k": (100_000, 943, 1_682)}


@pytest.mark.parametrize("data", MOVIELENS)
def test_info_json_movielens(capsys, data):
    nnz, users, items = ML_COUNTS[data]
    code, out, _ = run(capsys, "info", movielens_source(data), "--json", "--tie-policy", "all")
    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["input"]["interactions"] == nnz
    assert doc["input"]["users"] == users and doc["input"]["items"] == items
    assert doc["split"]["train_interactions"] + doc["split"]["test_interactions"] == nnz


def test_reduce_json_and_out_file(capsys, tmp_path):
    out_file = tmp_path / "rhat.json"
    code, out, _ = run(
        capsys, "reduce", "default", "--factors", "4", "8", "--json", "--out", str(out_file)
    )
    assert code == EXIT_OK
    doc = json.loads(out)
    keep = np.array(doc["keep"])
    assert keep.shape == (4, 8) and keep.max() == pytest.approx(1.0)
    # the CLI's numbers are the API's
    red = dfr.reduce(dfr.preprocess(dfr.load("default")), (4, 8))
    np.testing.assert_allclose(keep, red.keep)
    assert doc["expected"]["train"] == pytest.approx(red.keep.sum() * 100_226)
    assert json.loads(out_file.read_text())["keep"] == doc["keep"]


def test_reduce_target_interactions(capsys):
    code, out, _ = run(capsys, "reduce", "default", "--target-interactions", "2e6", "--json")
    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["expected"]["train"] == pytest.approx(2e6, rel=1e-9)


@pytest.mark.parametrize(
    ("argv", "code", "match"),
    [
        (["reduce", "default", "--factors", "0", "4"], EXIT_USAGE, "factors"),
        (["reduce", "default", "--factors", "5000", "5000"], EXIT_USAGE, "exceeds the rank"),
        (["reduce", "default"], EXIT_USAGE, "--factors"),
        (["info", "/nonexistent/ratings.csv"], EXIT_INPUT, "/nonexistent/ratings.csv"),
        (["download", "ml-2b", "--dest", "."], EXIT_USAGE, "ml-20m"),
        (
            ["expand", "default", "--factors", "2", "2", "--out", "x", "--resume", "--overwrite"],
            EXIT_USAGE,
            "exclude",
        ),
    ],
)
def test_errors_name_the_problem(capsys, argv, code, match):
    got, _, err = run(capsys, *argv)
    assert got == code
    assert err.startswith(f"daskfractal {argv[0]}: error:")
    import re

    assert re.search(match, err)
    assert "Traceback" not in err


def test_bad_input_file_exit_code(capsys, tmp_path):
    bad = tmp_path / "ratings.csv"
    bad.write_text("userId,movieId,rating,timestamp\n1,2,3.0,4\nx,2,3.0,5\n")
    code, _, err = run(capsys, "info", str(bad))
    assert code == EXIT_INPUT
    assert "ratings.csv" in err and "line 3" in err


def test_download_offline_and_corrupt(capsys, tmp_path, server):  # noqa: F811
    port = closed_port()
    code, _, err = run(
        capsys,
        "download",
        "ml-100k",
        "--dest",
        str(tmp_path),
        "--quiet",
        "--base-url",
        f"http://127.0.0.1:{port}",
    )
    assert code == EXIT_DOWNLOAD and "offline" in err
    server.files["movielens/ml-100k.zip"] = make_zip({"ml-100k/u.data": b"1\t2\t3\t4\n"})
    code, _, err = run(
        capsys,
        "download",
        "ml-100k",
        "--dest",
        str(tmp_path / "b"),
        "--quiet",
        "--base-url",
        server.url,
    )
    assert code == EXIT_DOWNLOAD
    assert "0e33842e24a9c977be4e0107933c0723" in err  # the expected, published md5
    assert not (tmp_path / "b" / "ml-100k").exists()


def test_expand_rows_option(capsys, tmp_path):
    base = ["expand", "default", "--factors", "2", "2", "--quiet", "--local", "threads"]
    for rows in ("shared", "per-block"):
        out = tmp_path / f"{rows}.zarr"
        assert run(capsys, *base, "--out", str(out), "--rows", rows)[0] == EXIT_OK
        assert dfr.open(out).attrs["params"]["rows"] == rows
        code, text, _ = run(capsys, "info", str(out), "--json")
        assert code == EXIT_OK and json.loads(text)["params"]["rows"] == rows
    with pytest.raises(SystemExit) as e:
        main([*base, "--out", str(tmp_path / "x"), "--rows", "per-user"])
    assert e.value.code == EXIT_USAGE


def test_download_list(capsys):
    code, out, _ = run(capsys, "download", "--list")
    assert code == EXIT_OK
    for name in ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-latest-small"):
        assert name in out


def test_expand_timeline_option(capsys, tmp_path):
    # per-block rows: a user's pieces come from several real users, so aligning moves them
    base = ["expand", "default", "--factors", "2", "2", "--quiet", "--local", "threads"]
    base += ["--rows", "per-block"]
    stores = {}
    for timeline in ("aligned", "source"):
        out = tmp_path / f"{timeline}.zarr"
        assert run(capsys, *base, "--out", str(out), "--timeline", timeline)[0] == EXIT_OK
        stores[timeline] = dfr.open(out)
        assert stores[timeline].attrs["params"]["timeline"] == timeline
    # the same interactions; the source store holds the real times, the aligned one moves some
    a, s = (stores[k].to_scipy("train", values="timestamps") for k in ("aligned", "source"))
    np.testing.assert_array_equal(a.indices, s.indices)
    real = set(dfr.preprocess(dfr.load("default")).train_timestamps.tolist())
    assert set(s.data.tolist()) <= real and not set(a.data.tolist()) <= real
    with pytest.raises(SystemExit) as e:
        main([*base, "--out", str(tmp_path / "x"), "--timeline", "later"])
    assert e.value.code == EXIT_USAGE
    assert "argument --timeline: invalid choice: 'later'" in capsys.readouterr().err


def test_expand_zarr_then_refuse_overwrite_then_parquet(capsys, tmp_path):
    out = tmp_path / "x.zarr"
    argv = [
        "expand",
        "default",
        "--factors",
        "2",
        "2",
        "--out",
        str(out),
        "--quiet",
        "--local",
        "threads",
        "--json",
        "--seed",
        "5",
    ]
    code, stdout, _ = run(capsys, *argv)
    assert code == EXIT_OK
    doc = json.loads(stdout)
    store = dfr.open(out)
    assert doc["nnz_train"] == store.nnz["train"] > 0
    assert store.attrs["params"]["seed"] == 5
    code, _, err = run(capsys, *argv)
    assert code == EXIT_STORE and "overwrite" in err
    pq = tmp_path / "x.pq"
    code, _, _ = run(
        capsys, *[a if a != str(out) else str(pq) for a in argv], "--format", "parquet"
    )
    assert code == EXIT_OK
    import pandas as pd

    df = pd.read_parquet(pq / "train")
    csr = store.to_scipy("train").tocoo()
    np.testing.assert_array_equal(df.user_id.to_numpy(), csr.row)
    np.testing.assert_array_equal(df.item_id.to_numpy(), csr.col)


def test_console_script_runs(tmp_path):
    """The installed ``daskfractal`` entry point, as a user runs it."""
    exe = Path(sys.executable).with_name("daskfractal")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "daskfractal.cli"]
    res = subprocess.run([*cmd, "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and res.stdout.startswith("daskfractal ")
    res = subprocess.run(
        [*cmd, "info", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == EXIT_INPUT and "missing.csv" in res.stderr
