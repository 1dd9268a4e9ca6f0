"""Negatives outputs have the guarantees of expansion stores (issue 9, items 1, 2 and 5).

Only a folder carrying daskfractal's ownership marker is ever emptied; the whole run holds
the output lock, so a second writer is refused at once; a finished output lists its files in
``manifest.json`` and carries crc32c (Zarr) / page CRCs (Parquet), so a deleted, resized,
added or flipped file is refused with a one-line :class:`StoreError` (CLI exit 5) instead of
read; a failed run leaves an output the next run replaces (``overwrite``), byte for byte the
same as an uninterrupted run.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from daskfractal.cli import main
from daskfractal.errors import OutputError, StoreError
from daskfractal.negatives import NegativeSampler, open_negatives
from daskfractal.negatives import io as nio
from daskfractal.store import MANIFEST_FILE, MARKER, claim_folder, lock_output, new_store_id

QUIET = {"progress": False, "scheduler": "sync"}
EXIT_STORE = 5
FORMATS = ("zarr", "parquet")


@pytest.fixture(scope="module")
def sampler() -> NegativeSampler:
    rng = np.random.default_rng(5)
    train = sp.random(60, 50, density=0.15, format="csr", random_state=rng)
    test = sp.random(60, 50, density=0.02, format="csr", random_state=rng)
    train.data[:] = 1
    test.data[:] = 1
    return NegativeSampler((train, test), num_negatives=2, shuffle_window=16, seed=4)


def write(s: NegativeSampler, fmt: str, out: Path, **kw: object) -> nio.NegativesStore:
    to = s.to_zarr if fmt == "zarr" else s.to_parquet
    return to(out, [0, 1], test_negatives=3, rows_per_task=32, chunk_rows=16, **QUIET, **kw)


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file but the ownership marker (it holds a random id and the time)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def read_all(out: Path) -> None:
    store = open_negatives(out)
    for e in store.epochs:
        store.epoch(e)
    store.test_negatives()


def data_files(out: Path) -> list[Path]:
    """Data files of an output (Zarr chunks/shards or Parquet parts), biggest first."""
    names = {"zarr.json", MANIFEST_FILE, MARKER, "_SUCCESS", nio.META_FILE}
    files = [p for p in out.rglob("*") if p.is_file() and p.name not in names]
    return sorted(files, key=lambda p: -p.stat().st_size)


@pytest.mark.parametrize("fmt", FORMATS)
def test_marker_manifest_and_checksums_are_written(sampler, tmp_path, fmt):
    out = write(sampler, fmt, tmp_path / "o").path
    assert (out / MARKER).is_file() and (out / MANIFEST_FILE).is_file()
    assert not (tmp_path / "o.lock").exists()  # released at the end
    listed = set(json.loads((out / MANIFEST_FILE).read_text())["files"])
    assert listed == set(digests(out)) - {MANIFEST_FILE, "_SUCCESS"}
    if fmt == "zarr":
        meta = json.loads((out / "epoch-0" / "items" / "zarr.json").read_text())
        names = [c["name"] for c in meta["codecs"][0]["configuration"]["codecs"]]
        assert "crc32c" in names
    read_all(out)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_users_folder_is_never_deleted(sampler, tmp_path, fmt):
    # a copy of a finished output carries no marker of its own making: not deleted
    done = write(sampler, fmt, tmp_path / "done").path
    copy = tmp_path / "copy"
    shutil.copytree(done, copy)
    (copy / MARKER).unlink()
    before = digests(copy)
    with pytest.raises(StoreError, match="was not created by daskfractal"):
        write(sampler, fmt, copy, overwrite=True)
    assert digests(copy) == before
    # a folder of the user's files
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("keep")
    with pytest.raises(StoreError, match="not a negatives output"):
        write(sampler, fmt, mine, overwrite=True)
    assert (mine / "data.csv").read_text() == "keep"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_second_writer_is_refused(sampler, tmp_path, fmt):
    out = tmp_path / "o"
    with lock_output(out):
        with pytest.raises(StoreError, match=f"pid {os.getpid()}"):
            write(sampler, fmt, out)
    assert not out.exists()
    # ... also over a finished output it would overwrite: nothing of it is touched
    write(sampler, fmt, out)
    before = digests(out)
    with lock_output(out):
        with pytest.raises(StoreError, match="being written by another daskfractal run"):
            write(sampler, fmt, out, overwrite=True)
    assert digests(out) == before


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fault", ["delete", "flip", "add", "edit-meta"])
def test_a_damaged_output_is_refused(sampler, tmp_path, fmt, fault):
    out = write(sampler, fmt, tmp_path / "o").path
    victim = data_files(out)[0]
    if fault == "delete":
        victim.unlink()
    elif fault == "flip":
        data = bytearray(victim.read_bytes())
        for i in range(len(data) // 2, len(data) // 2 + 4):
            data[i] ^= 0x5A
        victim.write_bytes(bytes(data))
    elif fault == "add":
        (out / "epoch-0" / "extra.bin").write_bytes(b"x")
    else:  # same size, other numbers
        meta = out / ("zarr.json" if fmt == "zarr" else nio.META_FILE)
        text = meta.read_text()
        assert '"seed": 4' in text
        meta.write_text(text.replace('"seed": 4', '"seed": 5'))
    with pytest.raises(StoreError, match="damaged") as err:
        read_all(out)
    assert "\n" not in str(err.value)


def test_cli_exit_5_with_one_line(sampler, tmp_path, capsys):
    import daskfractal as dfr
    from daskfractal.store import open_store  # noqa: F401  (the CLI reads stores only)

    store = dfr.expand("default", (1, 1), seed=0).to_zarr(tmp_path / "s.zarr", **QUIET)
    out = tmp_path / "neg"
    args = ["negatives", str(store.path), "--out", str(out), "--quiet", "--local", "sync"]
    assert main(args) == 0
    capsys.readouterr()
    with lock_output(out):  # a concurrent writer
        assert main([*args, "--overwrite"]) == EXIT_STORE
    err = capsys.readouterr().err.strip()
    assert "being written by another daskfractal run" in err and "\n" not in err
    (out / "notes.txt").write_text("mine")  # a user's file: never deleted
    assert main([*args, "--overwrite"]) == EXIT_STORE
    err = capsys.readouterr().err.strip()
    assert "never creates (notes.txt)" in err and "\n" not in err
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_run_is_replaced_by_the_next(sampler, tmp_path, fmt, monkeypatch):
    want = digests(write(sampler, fmt, tmp_path / "ref").path)
    out = tmp_path / "o"
    real = nio._epoch_task
    calls: list[int] = []

    def fail_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(out / "epoch-0" / "x"))
        return real(*args)

    monkeypatch.setattr(nio, "_epoch_task", fail_third)
    with pytest.raises(OutputError, match="unfinished"):
        write(sampler, fmt, out)
    monkeypatch.undo()
    assert (out / MARKER).is_file() and not (tmp_path / "o.lock").exists()
    with pytest.raises(StoreError, match="incomplete"):
        open_negatives(out)
    assert digests(write(sampler, fmt, out, overwrite=True).path) == want
    # a run killed while emptying its output for an overwrite: metadata gone, marker kept
    for name in ("_SUCCESS", MANIFEST_FILE, "zarr.json", nio.META_FILE):
        (out / name).unlink(missing_ok=True)
    with pytest.raises(StoreError, match=r"unfinished negatives output.*overwrite"):
        write(sampler, fmt, out)
    assert digests(write(sampler, fmt, out, overwrite=True).path) == want
    # a run stopped right after claiming its folder (only the marker) needs no overwrite
    stopped = tmp_path / "stopped"
    claim_folder(stopped, "store", new_store_id())
    assert digests(write(sampler, fmt, stopped).path) == want
