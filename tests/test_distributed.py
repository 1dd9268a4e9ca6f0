"""The expansion on real Dask clusters: a LocalCluster with worker processes, and a
``dask-scheduler`` + ``dask-worker`` started as subprocesses on 127.0.0.1.

Every store is compared byte for byte with one written by the synchronous scheduler; workers
killed in the middle of a pass (SIGKILL, no cleanup) must not change a single byte, whether
Dask retries the lost tasks or the run fails and is resumed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import daskfractal as dfr
from daskfractal._dask import AUTO_THREADS_BELOW, auto_local, cluster_client
from daskfractal.errors import StoreError
from daskfractal.expansion import _write as write_mod

from .conftest import MOVIELENS, movielens_source
from .test_expand import QUIET, SMALL_SHARDS, assert_same_bytes, ml_expansion

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module", params=MOVIELENS)
def ml100k(request: pytest.FixtureRequest) -> dfr.SplitData:
    return dfr.preprocess(dfr.load(movielens_source(request.param)))


@pytest.fixture(scope="module")
def reference_zarr(tmp_path_factory: pytest.TempPathFactory, ml100k: dfr.SplitData) -> Path:
    out = tmp_path_factory.mktemp("reference") / "ref.zarr"
    ml_expansion(ml100k, chunk_size=10**9).to_zarr(out, scheduler="sync", **QUIET, **SMALL_SHARDS)
    return out


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two single-threaded worker processes (the default client while the module runs)."""
    import dask
    from distributed import Client, LocalCluster

    # A LocalCluster retires a worker name for good if no worker of that name is registered
    # `lost-worker-timeout` (15 s) after a removal; the kill tests kill the same worker twice,
    # and on a loaded machine the second restart can straddle that check, leaving one worker.
    with (
        dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def kill_once(flag: Path, name: str, before: Any = None) -> Any:
    """A stand-in for ``daskfractal.expansion._write.<name>`` whose first call, on whichever worker
    claims ``flag``, runs ``before(*args)`` and then SIGKILLs its own worker process.

    It is a closure, so cloudpickle ships it by value; on the workers the real function is
    the unpatched module attribute.
    """
    path = str(flag)

    def task(*args: Any) -> Any:
        import os
        import signal

        from daskfractal.expansion import _write as write

        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return getattr(write, name)(*args)
        os.close(fd)
        if before is not None:
            before(*args)
        os.kill(os.getpid(), signal.SIGKILL)
        return None  # pragma: no cover

    return task


def half_written_shard(plan: Any, writer: Any, index: Any, k: int, *rest: Any) -> None:
    """What a worker killed while writing train shard k leaves: garbage, no completion marker."""
    shard = Path(writer.path) / "train" / "indices" / "c" / str(k)
    shard.parent.mkdir(parents=True, exist_ok=True)
    shard.write_bytes(b"\x00half a shard" * 100)


# ------------------------------------------------------------------------- LocalCluster
def test_localcluster_bytes_identical(
    client: Any, tmp_path: Path, ml100k: dfr.SplitData, reference_zarr: Path
) -> None:
    ml_expansion(ml100k, chunk_size=3_000).to_zarr(
        tmp_path / "a.zarr", scheduler=client, progress=True, **SMALL_SHARDS
    )
    assert_same_bytes(reference_zarr, tmp_path / "a.zarr")
    # scheduler=None runs on the default Client
    ml_expansion(ml100k, chunk_size=40_000).to_zarr(tmp_path / "b.zarr", **QUIET, **SMALL_SHARDS)
    assert_same_bytes(reference_zarr, tmp_path / "b.zarr")
    assert ml_expansion(ml100k).count(scheduler=client) == ml_expansion(ml100k).count(
        scheduler="sync"
    )


def test_killed_workers_are_retried(
    client: Any,
    tmp_path: Path,
    ml100k: dfr.SplitData,
    reference_zarr: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker dies in the count pass, another one in the middle of a shard write."""
    monkeypatch.setattr(write_mod, "_count_part", kill_once(tmp_path / "k1", "_count_part"))
    monkeypatch.setattr(
        write_mod,
        "_write_zarr_shard",
        kill_once(tmp_path / "k2", "_write_zarr_shard", before=half_written_shard),
    )
    out = tmp_path / "out.zarr"
    ml_expansion(ml100k, chunk_size=3_000).to_zarr(out, scheduler=client, **QUIET, **SMALL_SHARDS)
    assert (tmp_path / "k1").exists() and (tmp_path / "k2").exists()
    assert_same_bytes(reference_zarr, out)
    client.wait_for_workers(2, timeout=60)


def test_killed_worker_then_resume(
    client: Any,
    tmp_path: Path,
    ml100k: dfr.SplitData,
    reference_zarr: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No retries allowed: the run fails on the killed worker, then resumes to the same bytes."""
    from distributed.scheduler import KilledWorker

    scheduler = client.cluster.scheduler
    allowed = scheduler.allowed_failures
    out = tmp_path / "out.zarr"
    ex = ml_expansion(ml100k, chunk_size=3_000)
    monkeypatch.setattr(write_mod, "_count_part", kill_once(tmp_path / "k", "_count_part"))
    scheduler.allowed_failures = 0
    try:
        with pytest.raises(KilledWorker):
            ex.to_zarr(out, scheduler=client, **QUIET, **SMALL_SHARDS)
    finally:
        scheduler.allowed_failures = allowed
    monkeypatch.undo()
    # the failed run left nothing queued on the cluster that could still write into the store
    deadline = time.monotonic() + 20
    while scheduler.tasks and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not scheduler.tasks
    with pytest.raises(StoreError):
        dfr.open(out)
    assert (write_mod.work_dir(out) / "plan.json").exists()
    client.wait_for_workers(2, timeout=60)
    ex.to_zarr(out, resume=True, scheduler=client, **QUIET, **SMALL_SHARDS)
    assert_same_bytes(reference_zarr, out)


# ------------------------------------------------------- dask-scheduler + dask-worker
def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def test_scheduler_and_worker_subprocesses(
    tmp_path: Path, ml100k: dfr.SplitData, reference_zarr: Path
) -> None:
    sched_file = tmp_path / "scheduler.json"
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("scheduler", "worker")}
    env = dict(os.environ)
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                 "--port", "0", "--scheduler-file", str(sched_file), "--no-dashboard"],
                stdout=logs["scheduler"], stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            assert procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not write its file"
            time.sleep(0.1)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                 str(sched_file), "--nthreads", "1", "--no-dashboard",
                 "--local-directory", str(tmp_path / "worker-space")],
                stdout=logs["worker"], stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
            )
        )  # fmt: skip
        with cluster_client(scheduler_file=sched_file) as client:
            assert client.scheduler.address.startswith("tcp://127.0.0.1:")
            client.wait_for_workers(1, timeout=60)
            ex = ml_expansion(ml100k, chunk_size=40_000)
            ex.to_zarr(tmp_path / "out.zarr", scheduler=client, **QUIET, **SMALL_SHARDS)
            assert_same_bytes(reference_zarr, tmp_path / "out.zarr")
            ex.to_parquet(tmp_path / "out.pq", scheduler=client, users_per_file=400, **QUIET)
        ml_expansion(ml100k).to_parquet(
            tmp_path / "ref.pq", scheduler="sync", users_per_file=400, **QUIET
        )
        assert_same_bytes(tmp_path / "ref.pq", tmp_path / "out.pq")
    finally:
        for proc in reversed(procs):  # worker first, then the scheduler
            _stop(proc)
        for f in logs.values():
            f.close()
    assert all(p.poll() is not None for p in procs)


# ------------------------------------------------------------ the CLI's default cluster
@pytest.mark.parametrize("workers", [None, 2])
def test_default_local_cluster(workers: int | None) -> None:
    """No options: one in-process worker with a thread per core; --workers: processes."""
    with cluster_client(workers=workers, threads=None, memory_limit="2GB") as client:
        info = client.scheduler_info()
        ws = list(info["workers"].values())
        if workers is None:
            assert len(ws) == 1 and ws[0]["nthreads"] == (os.cpu_count() or 1)
            # in-process: the worker runs in this very process
            assert list(client.run(os.getpid).values()) == [os.getpid()]
        else:
            assert len(ws) == workers and all(w["nthreads"] == 1 for w in ws)
            assert os.getpid() not in client.run(os.getpid).values()
        assert all(w["memory_limit"] == 2 * 10**9 for w in ws)


@pytest.mark.parametrize("data", MOVIELENS)
def test_cli_expand_on_the_default_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str
) -> None:
    from daskfractal.cli import main

    ml_path = movielens_source(data)
    out = tmp_path / "cli.zarr"
    argv = ["expand", ml_path, "--factors", "2", "3", "--out", str(out), "--seed", "3"]
    # a job this small runs on threads by default (--local auto): ask for the cluster
    assert main([*argv, "--local", "cluster"]) == 0
    shown, err = capsys.readouterr()
    assert "100%" in err and "100%" not in shown  # distributed's bar showed, on stderr
    assert "ERROR" not in err and "Traceback" not in err
    ref = tmp_path / "ref.zarr"
    assert main([*argv[:-4], "--out", str(ref), "--seed", "3", "--local", "sync", "--quiet"]) == 0
    assert_same_bytes(ref, out)


@pytest.mark.parametrize(
    ("work", "options", "expected"),
    [
        (AUTO_THREADS_BELOW - 1, {}, "threads"),
        (AUTO_THREADS_BELOW, {}, "cluster"),
        (None, {}, "cluster"),
        (1_000, {"workers": 2}, "cluster"),
        (1_000, {"threads": 1}, "cluster"),
        (1_000, {"memory_limit": "2GB"}, "cluster"),
        (1_000, {"memory_limit": "auto"}, "threads"),
    ],
)
def test_auto_local_picks_threads_for_small_jobs_only(
    work: float | None, options: dict, expected: str
) -> None:
    assert auto_local(work, **options) == expected


def test_auto_local_starts_a_cluster_for_large_jobs() -> None:
    from distributed import Client

    with cluster_client(local="auto", work=AUTO_THREADS_BELOW, memory_limit="2GB") as sched:
        assert isinstance(sched, Client)
    with cluster_client(local="auto", work=10_000) as sched:
        assert sched == "threads"


def test_small_cli_job_does_not_start_a_cluster(tmp_path: Path) -> None:
    """The README's main job (under a million interactions) runs on threads: no
    ``distributed`` import, no cluster start (about a second of its fixed cost), same bytes."""
    out = tmp_path / "auto.zarr"
    code = (
        "import sys; from daskfractal.cli import main; "
        f"rc = main(['expand', 'default', '--factors', '2', '2', '--out', {str(out)!r}, "
        "'--seed', '3', '--quiet']); "
        "print(rc, 'distributed' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
    )
    assert done.stdout.split()[-2:] == ["0", "False"], done.stderr
    from daskfractal.cli import main

    ref = tmp_path / "ref.zarr"
    argv = ["expand", "default", "--factors", "2", "2", "--out", str(ref), "--seed", "3"]
    assert main([*argv, "--quiet", "--local", "cluster"]) == 0
    assert_same_bytes(ref, out)


def test_shutdown_noise_filter_drops_only_cancellations() -> None:
    import asyncio
    import logging

    from daskfractal._dask import _SHUTDOWN_NOISE

    def record(exc: BaseException) -> logging.LogRecord:
        try:
            raise exc
        except BaseException:
            return logging.LogRecord("distributed.scheduler", logging.ERROR, __file__, 1, "",
                                     None, sys.exc_info())  # fmt: skip

    assert not _SHUTDOWN_NOISE.filter(record(asyncio.CancelledError()))
    assert _SHUTDOWN_NOISE.filter(record(RuntimeError("a real failure")))
    plain = logging.LogRecord("distributed.scheduler", logging.ERROR, __file__, 1, "x", None, None)
    assert _SHUTDOWN_NOISE.filter(plain)


def test_memory_limit_is_distributeds() -> None:
    """The preflight's machine limit follows distributed's rule without importing it."""
    from distributed.system import memory_limit as distributed_limit

    from daskfractal._preflight import memory_limit

    assert memory_limit() == distributed_limit()
