"""Never delete a user's file, one writer per output: issue 9 items 1 and 5, through the CLI
(in-process and as real subprocesses) and the Python API.

Every refusal is checked for: the documented exit code (5, a store problem), one line on
stderr, no traceback, and every user file byte-identical afterwards (hash of the tree).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import daskfractal as dfr
from daskfractal.cli import EXIT_OK, EXIT_STORE, main
from daskfractal.errors import StoreError
from daskfractal.expansion._write import work_dir
from daskfractal.store._ownership import MARKER, lock_output, lock_path
from tests import test_download
from tests.test_download import DEAD_URL, ML100K_ZIP, entry

# the module (``daskfractal.datasets.download`` is also the name of the function)
download_mod = sys.modules["daskfractal.datasets.download"]

#: The loopback HTTP server fixture of the download tests (no mocks of urllib).
server = test_download.server

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
# small and fast: the embedded ml-latest-small, 2 x 2, threads (no LocalCluster)
EXPAND = ["expand", "default", "--factors", "2", "2", "--quiet", "--local", "threads"]


def tree_hash(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file and symlink target under ``root``."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def store_bytes(root: Path) -> dict[str, bytes]:
    """Every file of a store but the ownership marker (it holds a random id)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, err: str, *phrases: str) -> None:
    """Exit 5, a single ``daskfractal CMD: error: ...`` line, no traceback, the phrases."""
    lines = err.strip().splitlines()
    assert code == EXIT_STORE, err
    assert len(lines) == 1, err
    assert lines[0].startswith("daskfractal ") and ": error: " in lines[0], err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def run(cwd: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daskfractal.cli", *argv],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete store written by this version (copied by the tests that change it)."""
    out = tmp_path_factory.mktemp("finished") / "results"
    assert main([*EXPAND, "--out", str(out)]) == EXIT_OK
    return out


def copy_store(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, symlinks=True)
    return dst


# ------------------------------------------------------------------ item 1: refusals
def test_user_work_folder_is_never_deleted(capsys, tmp_path: Path, finished) -> None:
    out = tmp_path / "results"
    mine = work_dir(out)
    mine.mkdir()
    (mine / "thesis.tex").write_text("four years")
    before = tree_hash(tmp_path)
    for extra in ([], ["--overwrite"], ["--resume"]):
        code, _, err = cli(capsys, *EXPAND, "--out", str(out), *extra)
        assert code == EXIT_STORE, err
        if extra != ["--resume"]:
            assert_refused(code, err, str(mine), "not created by daskfractal")
    assert tree_hash(tmp_path) == before
    # next to one of our stores as well: the store's marker does not vouch for the folder
    copy_store(finished, out)
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, *EXPAND, "--out", str(out), "--overwrite")
    assert_refused(code, err, "not created by daskfractal")
    assert tree_hash(tmp_path) == before


def test_copied_zarr_json_folder_is_never_deleted(capsys, tmp_path: Path, finished) -> None:
    # a user folder holding a copy of a store's zarr.json next to their own files
    folder = tmp_path / "analysis"
    folder.mkdir()
    (folder / "zarr.json").write_bytes((finished / "zarr.json").read_bytes())
    (folder / "source.py").write_text("print('mine')")
    doc = json.loads((folder / "zarr.json").read_text())
    doc["attributes"]["complete"] = False  # looks like an unfinished store
    (folder / "zarr.json").write_text(json.dumps(doc))
    before = tree_hash(tmp_path)
    for extra in ([], ["--overwrite"], ["--resume"]):
        code, _, err = cli(capsys, *EXPAND, "--out", str(folder), *extra)
        assert code == EXIT_STORE and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
        # never tell the user to pass the option that would delete it
        assert "--overwrite to" not in err and "overwrite=True" not in err
    assert tree_hash(tmp_path) == before


def test_store_of_earlier_version_reads_but_is_never_deleted(
    capsys, tmp_path: Path, finished
) -> None:
    old = copy_store(finished, tmp_path / "old")
    (old / MARKER).unlink()  # what an earlier version wrote: no marker
    assert dfr.open(old).counts() == dfr.open(finished).counts()
    before = tree_hash(tmp_path)
    for extra in ([], ["--overwrite"]):
        code, _, err = cli(capsys, *EXPAND, "--out", str(old), *extra)
        assert_refused(code, err, "earlier daskfractal version", "by hand")
    assert tree_hash(tmp_path) == before
    assert dfr.open(old).counts() == dfr.open(finished).counts()


def test_files_added_to_our_store_are_never_deleted(capsys, tmp_path: Path, finished) -> None:
    out = copy_store(finished, tmp_path / "results")
    (out / "notes.txt").write_text("my notes on this store")
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, *EXPAND, "--out", str(out), "--overwrite")
    assert_refused(code, err, "notes.txt", "did not write")
    assert tree_hash(tmp_path) == before


def test_work_folder_of_another_store_is_never_deleted(capsys, tmp_path: Path, finished) -> None:
    out = copy_store(finished, tmp_path / "results")
    work = work_dir(out)
    work.mkdir()
    (work / MARKER).write_text(
        json.dumps({"kind": "daskfractal", "role": "work", "store_id": "someone-else"})
    )
    (work / "plan.json").write_text("{}")
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, *EXPAND, "--out", str(out), "--overwrite")
    assert_refused(code, err, "another output", "not deleted")
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("case", ["file", "lockfile", "symlink-store", "symlink-empty", "root"])
def test_out_paths_that_are_refused(capsys, tmp_path: Path, finished, case: str) -> None:
    out = tmp_path / "results"
    phrase = {
        "file": "is a file",
        "lockfile": "not written by daskfractal",
        "symlink-store": "symbolic link",
        "symlink-empty": "symbolic link",
        "root": "file-system root",
    }[case]
    if case == "file":
        out.write_text("a file where the store would go")
    elif case == "lockfile":
        lock_path(out).write_text("my lock notes")
    elif case == "symlink-store":
        copy_store(finished, tmp_path / "real")
        out.symlink_to(tmp_path / "real")
    elif case == "symlink-empty":
        (tmp_path / "empty").mkdir()
        out.symlink_to(tmp_path / "empty")
    else:
        out = Path("/")
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, *EXPAND, "--out", str(out), "--overwrite")
    assert_refused(code, err, phrase)
    assert tree_hash(tmp_path) == before


def test_out_dot_and_parent_of_input_as_subprocesses(tmp_path: Path) -> None:
    # a small MovieLens-style file in a folder of the user's
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    rows = ["userId,movieId,rating,timestamp"]
    for u in range(60):
        for k, i in enumerate(rng.choice(40, 12, replace=False)):
            rows.append(f"{u},{i},{rng.integers(1, 6)},{1000 + k}")
    (data / "ratings.csv").write_text("\n".join(rows) + "\n")
    (data / "README").write_text("my data")
    base = ["expand", str(data / "ratings.csv"), "--factors", "2", "2", "--quiet"]
    base += ["--local", "threads"]
    before = tree_hash(tmp_path)
    for cwd, out in ((data, "."), (data, ".."), (tmp_path, "data"), (data / "..", "data")):
        for extra in ([], ["--overwrite"]):
            proc = run(cwd, *base, "--out", out, *extra)
            assert_refused(proc.returncode, proc.stderr, "not created by daskfractal")
    assert tree_hash(tmp_path) == before
    # an empty current folder is a fine output: `--out .` writes the store there
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run(empty, *base, "--out", ".")
    assert proc.returncode == EXIT_OK, proc.stderr
    assert dfr.open(empty).counts()["nnz_train"] > 0
    assert (empty / MARKER).is_file() and not lock_path(empty).exists()
    assert not work_dir(empty).exists()
    assert tree_hash(data) == {k[5:]: v for k, v in before.items() if k.startswith("data/")}


# ------------------------------------------------------------------ item 1: what is deleted
def test_overwrite_deletes_only_our_store_and_says_what(
    capsys, caplog: pytest.LogCaptureFixture, tmp_path: Path, finished
) -> None:
    out = copy_store(finished, tmp_path / "results")
    (tmp_path / "results.csv").write_text("a sibling the user made")
    (tmp_path / "results-notes").mkdir()
    (tmp_path / "results-notes" / "n.txt").write_text("mine")
    siblings = {k: v for k, v in tree_hash(tmp_path).items() if not k.startswith("results/")}
    code, _, err = cli(capsys, *EXPAND, "--out", str(out), "--seed", "3")
    assert_refused(code, err, "already holds a complete store", "files", "--overwrite")
    assert err.index("choose another output") < err.index("--overwrite")  # safe way first
    code, _, err = cli(capsys, *EXPAND, "--out", str(out), "--seed", "3", "--overwrite")
    assert code == EXIT_OK, err
    said = err + caplog.text  # a logged warning: stderr outside pytest
    assert f"deleting {out} (" in said and " files, " in said
    assert dfr.open(out).attrs["params"]["seed"] == 3
    now = {k: v for k, v in tree_hash(tmp_path).items() if not k.startswith("results/")}
    assert now == siblings


def test_unfinished_run_message_names_resume_first(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import daskfractal.expansion._write as write_mod

    out = tmp_path / "results"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(write_mod, "_write_zarr_shard", boom)
    code, _, err = cli(capsys, *EXPAND, "--local", "sync", "--out", str(out))
    assert code == 130, err
    monkeypatch.undo()
    assert not lock_path(out).exists()  # released on the way out
    code, _, err = cli(capsys, *EXPAND, "--out", str(out))
    assert_refused(code, err, "unfinished run", "--resume", f"{work_dir(out)} (")
    assert err.index("--resume") < err.index("--overwrite")
    code, _, err = cli(capsys, *EXPAND, "--out", str(out), "--resume")
    assert code == EXIT_OK, err
    assert not work_dir(out).exists()


# ------------------------------------------------------------------ item 1: download
def test_download_refuses_user_folders(
    capsys, tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download_mod, "DATASETS", {"ml-100k": entry("ml-100k", ML100K_ZIP)})
    mine = tmp_path / "ml-100k"
    mine.mkdir()
    (mine / "u.data").write_text("my own ratings")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep").write_text("x")
    before = tree_hash(tmp_path)
    for extra in ([], ["--force"]):
        args = ["download", "ml-100k", "--dest", str(tmp_path), "--base-url", DEAD_URL]
        code, _, err = cli(capsys, *args, "--quiet", *extra)
        assert_refused(code, err, "not created by daskfractal download")
    assert tree_hash(tmp_path) == before
    # a symlink named like the data set is neither followed nor deleted
    mine.rename(tmp_path / "moved")
    mine.symlink_to(tmp_path / "elsewhere")
    before = tree_hash(tmp_path)
    args = ["download", "ml-100k", "--dest", str(tmp_path), "--base-url", DEAD_URL, "--force"]
    code, _, err = cli(capsys, *args, "--quiet")
    assert_refused(code, err, "symbolic link")
    assert tree_hash(tmp_path) == before
    # a finished download with a file the user added: --force refuses, as a subprocess too
    mine.unlink()
    code, _, err = cli(capsys, "download", "ml-100k", "--dest", str(tmp_path), "--quiet",
                       "--base-url", server.url)  # fmt: skip
    assert code == EXIT_OK, err
    (mine / "my-notes.md").write_text("notes")
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, "download", "ml-100k", "--dest", str(tmp_path), "--quiet",
                       "--base-url", server.url, "--force")  # fmt: skip
    assert_refused(code, err, "my-notes.md", "--force does not delete")
    assert tree_hash(tmp_path) == before
    proc = run(tmp_path, "download", "ml-100k", "--dest", str(tmp_path), "--base-url", DEAD_URL)
    assert proc.returncode == EXIT_OK and proc.stdout.strip() == str(mine), proc.stderr


# ------------------------------------------------------------------ item 5: one writer
def test_api_refuses_a_second_writer_and_takes_over_stale_locks(tmp_path: Path) -> None:
    split = dfr.preprocess(dfr.datasets.load("default"), seed=0)
    ex = dfr.expand(split, factors=(2, 2), seed=0)
    out = tmp_path / "results"
    with lock_output(out):
        for write in (ex.to_zarr, ex.to_parquet):
            with pytest.raises(StoreError, match=f"pid {os.getpid()} on host"):
                write(out, progress=False, scheduler="threads")
    assert not out.exists() and not lock_path(out).exists()
    # a lock left by a process that died (same host, pid gone, no OS lock held)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    doc = {"kind": "daskfractal", "host": socket.gethostname(), "pid": int(dead.stdout)}
    lock_path(out).write_text(json.dumps({**doc, "started": "earlier"}))
    store = ex.to_zarr(out, progress=False, scheduler="threads")
    assert store.counts()["nnz_train"] > 0 and not lock_path(out).exists()
    # a lock from another host is not taken over: the message says how to remove it
    lock_path(out).write_text(json.dumps({**doc, "host": "elsewhere.example", "started": "x"}))
    with pytest.raises(StoreError, match=r"another host.*delete .* by hand"):
        ex.to_zarr(out, overwrite=True, progress=False, scheduler="threads")
    assert lock_path(out).exists() and dfr.open(out).counts() == store.counts()


def test_cli_names_the_live_holder(
    capsys, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path;"
         "from daskfractal.store._ownership import lock_output;"
         "lock = lock_output(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)",
         str(out)],
        env=ENV, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = cli(capsys, *EXPAND, "--out", str(out), "--overwrite")
        assert_refused(code, err, f"pid {holder.pid} on host", "being written by another")
    finally:
        holder.kill()  # kill -9: the OS drops its flock, the lock file stays behind
        holder.wait()
    assert lock_path(out).exists()
    code, _, err = cli(capsys, *EXPAND, "--out", str(out))
    assert code == EXIT_OK, err
    said = err + caplog.text
    assert "taking over the lock" in said and f"pid {holder.pid} " in said


def test_two_overwrite_runs_a_tenth_of_a_second_apart(tmp_path: Path, finished) -> None:
    out = copy_store(finished, tmp_path / "results")
    # bigger factors so that the first writer still holds the lock when the second arrives
    args = [*EXPAND, "--out", str(out), "--overwrite", "--factors", "4", "4"]
    first = subprocess.Popen(
        [sys.executable, "-m", "daskfractal.cli", *args, "--seed", "7"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.1)
    second = subprocess.Popen(
        [sys.executable, "-m", "daskfractal.cli", *args, "--seed", "8"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    results = {7: first.communicate(timeout=300), 8: second.communicate(timeout=300)}
    codes = {7: first.returncode, 8: second.returncode}
    winners = [s for s, c in codes.items() if c == EXIT_OK]
    losers = [s for s, c in codes.items() if c != EXIT_OK]
    assert winners and set(codes.values()) <= {EXIT_OK, EXIT_STORE}, results
    for s in losers:
        assert_refused(codes[s], results[s][1], "being written by another daskfractal run")
    # the store is one run's, whole: attributes and data from the same seed
    seed = dfr.open(out).attrs["params"]["seed"]
    assert seed in winners
    reference = tmp_path / "reference"
    assert main([*EXPAND, "--factors", "4", "4", "--seed", str(seed), "--out", str(reference)]) == 0
    assert store_bytes(out) == store_bytes(reference)
    assert not lock_path(out).exists() and not work_dir(out).exists()
    # the output stays usable: the refused writer can simply run again
    for s in losers:
        assert main([*args, "--seed", str(s)]) == EXIT_OK
        assert dfr.open(out).attrs["params"]["seed"] == s
