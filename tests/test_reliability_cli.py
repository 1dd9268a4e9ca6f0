"""Bad inputs, impossible sizes, jobs that cannot fit, hangs and output faults, through the CLI
(``main`` in-process, real subprocesses for hangs and signals) and the Python API.

Every case asserts the documented exit code, a one-line message on stderr without a
traceback, and that no output claiming to be complete is left behind.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import daskfractal as dfr
from daskfractal.cli import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_RESOURCE,
    EXIT_USAGE,
    main,
)
from daskfractal.errors import OutputError, ParameterError, ResourceError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SMALL = ["expand", "default", "--factors", "2", "4", "--quiet"]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, *needles: str) -> None:
    """One ``daskfractal ...: error: ...`` line naming ``needles``, no traceback."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("daskfractal ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def run_cli(args: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """The real command in a subprocess; a hang fails the test through ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "daskfractal.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        **kw,
    )


# ---------------------------------------------------------------------------------------
# impossible values: exit 2, before any work
# ---------------------------------------------------------------------------------------

BAD_VALUES = [
    (["info", "default", "--seed", "-1"], "--seed"),
    (["reduce", "default", "--factors", "2", "4", "--seed", "-1"], "--seed"),
    ([*SMALL, "--out", "{tmp}/s", "--seed", str(2**64)], "--seed"),
    (["info", "default", "--positive-threshold", "100"], "--positive-threshold 100"),
    ([*SMALL, "--out", "{tmp}/s", "--workers", "0"], "--workers"),
    ([*SMALL, "--out", "{tmp}/s", "--threads", "0"], "--threads"),
    ([*SMALL, "--out", "{tmp}/s", "--memory-limit", "lots"], "--memory-limit 'lots'"),
    ([*SMALL, "--out", "{tmp}/s", "--memory-limit", "3MB"], "--memory-limit 3MB"),
    ([*SMALL, "--out", "{tmp}/s", "--timeout", "0"], "--timeout"),
    ([*SMALL, "--out", "{tmp}/s", "--shard-size", "0"], "--shard-size"),
    ([*SMALL, "--out", "{tmp}/s", "--chunk-size", "-3"], "--chunk-size"),
    ([*SMALL, "--out", "{tmp}/s", "--scheduler", "garbage"], "garbage"),
    (["reduce", "default", "--factors", "2", "4", "--scale", "0"], "--scale 0.0"),
]


@pytest.mark.parametrize(("argv", "named"), BAD_VALUES)
def test_impossible_values_are_refused_with_the_flag(
    argv: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run_main(argv, capsys)
    assert code == EXIT_USAGE
    assert_one_line(err, named)
    assert "_" not in err.split("error:")[1].split()[0]  # a flag, not an API argument
    assert not (tmp_path / "s").exists() and not (tmp_path / "s.work").exists()


def test_messages_name_the_flags_the_user_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "g.csv"
    data.write_text("a,b,c\n1,2,3\n1,3,4\n2,2,5\n")
    base = ["info", str(data), "--input-format", "csv"]
    code, _, err = run_main([*base, "--user-col", "nope", "--item-col", "b"], capsys)
    assert code == EXIT_INPUT
    assert_one_line(err, "--user-col")
    assert "user_col" not in err
    code, _, err = run_main([*base, "--user-col", "a"], capsys)
    assert code == EXIT_USAGE
    assert_one_line(err, "--user-col", "--item-col")
    assert "user_col" not in err and "item_col" not in err


def test_one_seed_rule_in_the_api() -> None:
    split = dfr.preprocess(dfr.load("default"))
    for bad in (-1, 2**64, 1.5, "7", True):
        with pytest.raises(ParameterError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
            dfr.expand(split, factors=(2, 2), seed=bad)
        with pytest.raises(ParameterError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
            dfr.reduce(split.train, (2, 2), seed=bad)
        with pytest.raises(ParameterError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
            dfr.preprocess(dfr.load("default"), seed=bad)
    assert dfr.reduce(split.train, (2, 2), seed=2**64 - 1).factors == (2, 2)


def test_positive_threshold_that_keeps_nothing() -> None:
    with pytest.raises(ParameterError, match=r"positive_threshold=6 keeps no interaction"):
        dfr.preprocess(dfr.load("default"), positive_threshold=6)


# ---------------------------------------------------------------------------------------
# jobs that cannot fit: exit 7 before anything is written; --force / force=True
# ---------------------------------------------------------------------------------------


def test_write_task_over_the_memory_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "big"
    argv = ["expand", "default", "--factors", "16", "32", "--out", str(out), "--quiet"]
    code, _, err = run_main([*argv, "--memory-limit", "600MB"], capsys)
    assert code == EXIT_RESOURCE
    assert_one_line(err, "one write task", "iB of memory", "--shard-size", "--force")
    assert not out.exists() and not Path(f"{out}.work").exists()


def test_inner_level_over_the_memory_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "chain"
    argv = [*SMALL, "--out", str(out), "--inner-factors", "40", "80", "--memory-limit", "600MB"]
    code, _, err = run_main(argv, capsys)
    assert code == EXIT_RESOURCE
    assert_one_line(err, "inner level 2 (40 x 80)", "GiB of memory", "572.2 MiB", "--force")
    assert not out.exists() and not Path(f"{out}.work").exists()


def test_inner_expansion_over_the_available_memory_in_the_api() -> None:
    split = dfr.preprocess(dfr.load("default"))
    # 200 x 400 blocks of every interaction: ~8e9 interactions, far over any test machine
    inner = dfr.expand(split, keep=np.ones((200, 400)))
    with pytest.raises(ResourceError, match="the inner expansion, held in memory"):
        dfr.expand(inner, factors=(2, 2))


def test_too_many_tasks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s"
    t0 = time.monotonic()
    code, _, err = run_main([*SMALL, "--out", str(out), "--shard-size", "1"], capsys)
    assert code == EXIT_RESOURCE
    assert_one_line(err, "tasks", "--shard-size", "to at least 5")
    assert time.monotonic() - t0 < 60 and not out.exists()
    ex = dfr.expand("default", factors=(2, 4))
    with pytest.raises(ResourceError, match="shard_size"):
        ex.to_zarr(out, shard_size=2)
    assert not out.exists()


def test_disk_estimate_covers_real_stores(tmp_path: Path) -> None:
    """The estimate is an upper bound of what the stores take, in both formats."""
    from daskfractal._preflight import disk_usage

    ex = dfr.expand("default", factors=(2, 4))
    for fmt in ("zarr", "parquet"):
        path = tmp_path / fmt
        store = getattr(ex, f"to_{fmt}")(path, scheduler="sync", progress=False)
        est = ex.preflight(path, format=fmt, force=True)["disk_bytes"]
        used = disk_usage(path)
        c = store.counts()
        assert c["nnz_train"] > 0
        # uncompressed bound: 2 to 6 times what zstd makes of these columns
        assert used < est < 8 * used, (fmt, used, est)


# ---------------------------------------------------------------------------------------
# output faults: exit 6, the store left unfinished, --resume once fixed
# ---------------------------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB file system (tmpfs), unmounted afterwards; skipped where mount is denied."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
            capture_output=True,
            timeout=30,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True, timeout=60)


def test_disk_full_on_a_real_small_file_system(
    small_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = small_fs / "s"
    filler = small_fs / "filler"
    filler.write_bytes(b"\0" * 2_500_000)
    argv = [*SMALL, "--out", str(out), "--local", "sync"]
    # refused by the estimate, nothing written
    code, _, err = run_main(argv, capsys)
    assert code == EXIT_RESOURCE
    assert_one_line(err, "on disk but only", "is free at", "--force")
    assert not out.exists()
    # forced: the disk fills up during the write
    code, _, err = run_main([*argv, "--force"], capsys)
    assert code == EXIT_OUTPUT
    assert_one_line(err, "No space left on device", "--resume")
    assert dfr.store_status(out) != "complete"
    with pytest.raises(dfr.StoreError):
        dfr.open(out)
    # space freed: the run resumes and completes, as an uninterrupted run
    filler.unlink()
    code, _, err = run_main([*argv, "--resume", "--force"], capsys)
    assert code == 0, err
    ref = dfr.expand("default", factors=(2, 4)).to_zarr(
        small_fs.parent / "ref", scheduler="sync", progress=False
    )
    assert dfr.open(out).counts() == ref.counts()


def test_read_only_file_system(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mnt = tmp_path / "ro"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        code, _, err = run_main([*SMALL, "--out", str(mnt / "s"), "--force"], capsys)
        assert code == EXIT_OUTPUT
        assert_one_line(err, "Read-only file system")
        code, _, err = run_main(
            ["reduce", "default", "--factors", "2", "4", "--out", str(mnt / "r.json")], capsys
        )
        assert code == EXIT_OUTPUT
        assert_one_line(err, "cannot write", "Read-only file system")
    finally:
        subprocess.run(["umount", str(mnt)], check=True, timeout=60)


@pytest.mark.parametrize(
    ("code", "text"),
    [(errno.ENOSPC, "No space left"), (errno.EROFS, "Read-only"), (errno.EACCES, "denied")],
)
def test_injected_write_errors(
    code: int,
    text: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An OSError at the writer (the store's own code, on the in-process local cluster)."""
    from daskfractal.store import _zarr

    real = _zarr.ZarrWriter.write_shard
    calls = []

    def failing(self, split, name, k, values):
        calls.append(k)
        if len(calls) > 1:  # the first shard is written: a half-written store
            raise OSError(code, os.strerror(code), str(self.path))
        return real(self, split, name, k, values)

    monkeypatch.setattr(_zarr.ZarrWriter, "write_shard", failing)
    out = tmp_path / "s"
    argv = [*SMALL, "--out", str(out), "--shard-size", "65536", "--threads", "1"]
    got, _, err = run_main(argv, capsys)
    assert got == EXIT_OUTPUT
    assert_one_line(err, text, str(out))
    assert dfr.store_status(out) == "incomplete"
    monkeypatch.setattr(_zarr.ZarrWriter, "write_shard", real)
    with pytest.raises(OutputError):  # the API raises the same class
        monkeypatch.setattr(_zarr.ZarrWriter, "write_shard", failing)
        dfr.expand("default", factors=(2, 4)).to_zarr(
            tmp_path / "api", shard_size=65536, scheduler="sync", progress=False
        )
    monkeypatch.setattr(_zarr.ZarrWriter, "write_shard", real)
    got, _, err = run_main([*argv, "--resume"], capsys)
    assert got == 0, err
    assert dfr.open(out).counts()["nnz_train"] > 0


def test_resume_of_an_older_format_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that a format-2 version left unfinished (Fisher-Yates permutations: its counts
    were made with those) is not continued with the computed permutations of format 3: one
    line, exit 5, store kept."""
    from daskfractal.cli import EXIT_STORE
    from daskfractal.kernels import permute
    from daskfractal.store import FORMAT_VERSION, StoreLayout, _zarr

    real = _zarr.ZarrWriter.write_shard
    calls = []

    def failing(self, split, name, k, values):
        calls.append(k)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        return real(self, split, name, k, values)

    monkeypatch.setattr(_zarr.ZarrWriter, "write_shard", failing)
    # the older version: its plans had another token (its permutations were other ones)
    monkeypatch.setattr(permute, "CONSTRUCTION", "fisher-yates")
    out = tmp_path / "s"
    argv = [*SMALL, "--out", str(out), "--shard-size", "65536", "--threads", "1"]
    assert run_main(argv, capsys)[0] == EXIT_OUTPUT
    monkeypatch.undo()
    meta = out / "zarr.json"
    text = meta.read_text()
    current = f'"format_version": {FORMAT_VERSION}'
    assert FORMAT_VERSION == 3 and text.count(current) == 1
    meta.write_text(text.replace(current, '"format_version": 2'))
    got, _, err = run_main([*argv, "--resume"], capsys)
    assert got == EXIT_STORE
    assert_one_line(err, "unfinished run used other input or parameters", "--overwrite")
    assert dfr.store_status(out) == "incomplete"
    # and an unfinished store of format 2 is not reopened by the store layer either
    layout = StoreLayout.from_dict(json.loads(meta.read_text())["attributes"]["layout"])
    with pytest.raises(dfr.StoreError, match="format_version 2, this library writes 3"):
        _zarr.ZarrWriter.reopen(out, layout)


# ---------------------------------------------------------------------------------------
# waits with a timeout, progress on stderr, Ctrl-C
# ---------------------------------------------------------------------------------------


def test_missing_scheduler_file_times_out(tmp_path: Path) -> None:
    t0 = time.monotonic()
    done = run_cli(
        [
            *SMALL,
            "--out",
            str(tmp_path / "s"),
            "--scheduler-file",
            str(tmp_path / "nope.json"),
            "--timeout",
            "1",
        ],
        timeout=90,
    )
    assert done.returncode == EXIT_USAGE
    assert_one_line(done.stderr, "does not exist", "waited 1 s", "--timeout")
    assert time.monotonic() - t0 < 60
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("text", ['{"x":', '{"a": 1}', '{"address": 7}', "\x00\x01"])
def test_garbage_scheduler_file(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "sched.json"
    bad.write_text(text)
    argv = [*SMALL, "--out", str(tmp_path / "s"), "--scheduler-file", str(bad)]
    code, _, err = run_main(argv, capsys)
    assert code == EXIT_USAGE
    assert_one_line(err, str(bad))


def test_json_output_is_json_and_the_progress_goes_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a LocalCluster (the default of larger jobs): its bar shows however short the job; the
    # threaded scheduler of small jobs shows one only after a second
    argv = ["expand", "default", "--factors", "2", "4", "--out", str(tmp_path / "s"), "--json"]
    code, out, err = run_main([*argv, "--local", "cluster"], capsys)
    assert code == 0
    assert json.loads(out)["nnz_train"] > 0
    assert "100%" in err


@pytest.mark.parametrize("cluster", [[], ["--workers", "2"]], ids=["in-process", "processes"])
def test_ctrl_c_prints_one_line(cluster: list[str], tmp_path: Path) -> None:
    out = tmp_path / "s"
    args = [sys.executable, "-m", "daskfractal.cli", "expand", "default", "--factors", "40"]
    args += ["80", "--out", str(out), "--chunk-size", "20000", "--shard-size", "65536"]
    proc = subprocess.Popen(
        [*args, "--quiet", *cluster],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,  # Ctrl-C signals the whole group: the workers as well
    )
    try:
        deadline = time.monotonic() + 90
        while not Path(f"{out}.work").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # inside the count pass
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert err.strip() == "daskfractal: interrupted", err
    assert dfr.store_status(out) != "complete"


def test_injected_disk_full_in_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from daskfractal.store import _parquet

    real = _parquet.ParquetWriter.write_part

    def full(self, split, k, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    monkeypatch.setattr(_parquet.ParquetWriter, "write_part", full)
    out = tmp_path / "p"
    argv = [*SMALL, "--out", str(out), "--format", "parquet"]
    code, _, err = run_main(argv, capsys)
    assert code == EXIT_OUTPUT
    assert_one_line(err, "No space left on device", "--resume")
    assert dfr.store_status(out) != "complete"
    monkeypatch.setattr(_parquet.ParquetWriter, "write_part", real)
    code, _, err = run_main([*argv, "--resume"], capsys)
    assert code == 0, err
    assert dfr.open(out).counts()["nnz_train"] > 0
