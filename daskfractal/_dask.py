"""Running Dask work on the scheduler the caller chose, with a progress bar that shows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from .errors import ParameterError

if TYPE_CHECKING:
    from distributed import Client

LOCAL_SCHEDULERS = ("sync", "synchronous", "single-threaded", "threads", "processes")

#: ``local="auto"``: below this many expected interactions the work runs on the threaded
#: scheduler instead of a ``LocalCluster``. Starting the cluster (and importing
#: ``distributed``) costs about a second, more than such a job takes on it; a job of this
#: size takes a few seconds and a few hundred MB either way, so the cluster's memory
#: monitor has nothing to guard.
AUTO_THREADS_BELOW = 1 << 25


class _ShutdownNoise(logging.Filter):
    """Drop the scheduler's "ERROR ... CancelledError" of a progress feed cut by shutdown.

    ``distributed.progress`` polls the scheduler every 100 ms; when a local cluster closes
    right after the bar finished, the scheduler cancels that sleeping feed and logs the
    cancellation as an error (with a traceback) although nothing failed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


_SHUTDOWN_NOISE = _ShutdownNoise()


def _default_client() -> Any | None:
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return default_client()
    except ValueError:
        return None


#: Public name of :func:`_default_client` (the current distributed Client, else None).
default_client = _default_client


def run(tasks: Sequence[Any], *, scheduler: Any = None, progress: bool = True) -> list:
    """Compute Dask delayed objects and return their results in order.

    Parameters
    ----------
    tasks : sequence of dask.delayed.Delayed
    scheduler : None, str or distributed.Client
        A ``Client`` (its cluster runs the work), one of ``"sync"``, ``"threads"``,
        ``"processes"``, or None: the current default ``Client`` if there is one, else threads.
    progress : bool
        Show a progress bar: ``distributed.progress`` under a Client (Dask's local
        ``ProgressBar`` prints nothing there), ``dask.diagnostics.ProgressBar`` otherwise.
    """
    import dask

    if not tasks:
        return []
    client = scheduler if _is_client(scheduler) else None
    if scheduler is None:
        client = _default_client()
    if client is not None:
        with warnings.catch_warnings():
            # the plan (the input matrix) is one key of the graph, sent once per worker on
            # purpose; distributed warns about any graph over 10 MB
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            futures = client.compute(list(tasks))
        try:
            if progress:
                from distributed import progress as dprogress

                # the bar writes to sys.stdout; stdout is for results (--json)
                with contextlib.redirect_stdout(sys.stderr):
                    dprogress(futures)
                print(file=sys.stderr)
            return client.gather(futures)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt) and _owns_cluster(client):
                # at once: the gathers cut short are collected (and logged) while cancelling
                _silence_for_exit()
            # a failed or interrupted run must not leave tasks queued on a long-lived cluster,
            # still writing into the store while the caller resumes or overwrites it
            with contextlib.suppress(Exception):
                client.cancel(futures)
            raise
    name = scheduler or "threads"
    if name not in LOCAL_SCHEDULERS:
        raise ParameterError(
            f"scheduler={scheduler!r}: use a distributed Client or one of "
            f"{', '.join(LOCAL_SCHEDULERS)}"
        )
    ctx: Any = contextlib.nullcontext()
    if progress:
        from dask.diagnostics import ProgressBar

        ctx = ProgressBar(minimum=1.0, out=sys.stderr)
    with ctx:
        # the scheduler's function, not its name: for a name, dask imports distributed to
        # look for a Client (half a second a small job on threads need not pay)
        return list(dask.compute(*tasks, scheduler=_local_get(name)))


def _local_get(name: str) -> Any:
    """The ``get`` function of Dask's local scheduler ``name`` (one of LOCAL_SCHEDULERS)."""
    if name == "threads":
        import dask.threaded

        return dask.threaded.get
    if name == "processes":
        import dask.multiprocessing

        return dask.multiprocessing.get
    import dask.local

    return dask.local.get_sync


def tree_reduce(nodes: Sequence[Any], combine: Any, empty: Any = None) -> Any:
    """Pairwise tree reduction of Dask delayed nodes with ``combine(a, b)``.

    The fixed shape makes floating-point sums deterministic, and no single task holds every
    partial result. ``empty`` (wrapped in a delayed) when there are no nodes.
    """
    import dask

    if not nodes:
        return dask.delayed(empty)
    f = dask.delayed(combine, pure=True)
    nodes = list(nodes)
    while len(nodes) > 1:
        nodes = [
            f(nodes[i], nodes[i + 1]) if i + 1 < len(nodes) else nodes[i]
            for i in range(0, len(nodes), 2)
        ]
    return nodes[0]


def release_memory() -> None:
    """Give freed memory back to the OS: pyarrow's pool and glibc's free lists keep what
    large temporaries used (≈ 1 GB after reading 20M rows), which would add to later peaks."""
    import gc

    gc.collect()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - pyarrow is a dependency
        pass
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


#: Clients of the local clusters :func:`cluster_client` started (the CLI's): a Ctrl-C there
#: ends the process, so its teardown noise may be muted process-wide.
_OWNED_CLIENTS: set[int] = set()


def _owns_cluster(client: Any) -> bool:
    return id(client) in _OWNED_CLIENTS


def _is_client(obj: object) -> TypeGuard[Client]:
    # a Client exists only once distributed is imported: do not import it (~0.5 s) to ask
    if obj is None or isinstance(obj, str) or "distributed" not in sys.modules:
        return False
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, Client)


#: Public name of :func:`_is_client` (is ``obj`` a distributed Client).
is_client = _is_client


#: Seconds to wait for a scheduler (its file to appear, then the connection) by default.
DEFAULT_TIMEOUT = 30.0


def _wait_for_scheduler_file(path: str, timeout: float) -> str:
    """The scheduler address in the file at ``path``, waiting up to ``timeout`` s for it.

    ``distributed.Client(scheduler_file=...)`` polls for a missing file forever (its own
    timeout only starts once the file exists): a job script that points at the wrong path
    would hang. The file may still be on its way (the scheduler of an HPC job starting), so
    wait, but not forever.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = Path(path).read_text()
            break
        except FileNotFoundError:
            if time.monotonic() >= deadline:
                raise ParameterError(
                    f"scheduler file {path} does not exist (waited {timeout:g} s for a "
                    "scheduler to write it; see --timeout)"
                ) from None
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
            raise ParameterError(f"cannot read the scheduler file {path}: {e}") from None
    try:
        address = json.loads(text)["address"]
    except (ValueError, KeyError, TypeError):
        raise ParameterError(
            f'{path} is not a Dask scheduler file (JSON with an "address", as written by '
            "dask-scheduler --scheduler-file)"
        ) from None
    if not isinstance(address, str) or not address:
        raise ParameterError(f"{path}: the scheduler address {address!r} is not an address")
    return address


def _check_local_options(
    workers: int | None, threads: int | None, memory_limit: Any
) -> str | int | None:
    """Refuse impossible local-cluster sizes (a LocalCluster with 0 workers waits forever)."""
    from ._checks import as_int

    if workers is not None:
        as_int(workers, "--workers", low=1)
    if threads is not None:
        as_int(threads, "--threads", low=1)
    if memory_limit is None or (
        isinstance(memory_limit, str) and memory_limit.strip().lower() == "auto"
    ):
        return memory_limit
    from ._preflight import MIN_WORKER_MEMORY, format_bytes, parse_bytes

    limit = parse_bytes(memory_limit, "--memory-limit")
    if limit < MIN_WORKER_MEMORY:
        # a worker over 80 % of its limit pauses: one that starts there never runs a task
        raise ParameterError(
            f"--memory-limit {memory_limit} is below the {format_bytes(MIN_WORKER_MEMORY)} a "
            "worker needs before running any task"
        )
    return limit


def dask_setup(worker: Any) -> None:
    """Preload of the local cluster's worker processes (``--workers N``): ignore SIGINT.

    Ctrl-C in a terminal signals the whole process group; the driver stops the run and
    closes the cluster, while a worker process that got the signal too would print its own
    KeyboardInterrupt traceback.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed.worker").setLevel(_TASK_ERROR_LEVEL)


#: A failed task is logged by its worker as "Compute Failed" with a traceback, then raised
#: again on the driver, where the CLI prints it in one line: on the local cluster's workers,
#: only critical worker messages are logged.
_TASK_ERROR_LEVEL = logging.CRITICAL


@contextlib.contextmanager
def _quiet_task_errors() -> Iterator[None]:
    """The in-process worker's side of :data:`_TASK_ERROR_LEVEL`, restored afterwards."""
    log = logging.getLogger("distributed.worker")
    level = log.level
    log.setLevel(_TASK_ERROR_LEVEL)
    try:
        yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _quiet_on_interrupt() -> Iterator[None]:
    """Silence distributed's logs once the user pressed Ctrl-C.

    Closing a cluster whose tasks were cut short logs dozens of tracebacks (cancelled
    comms, closed streams) that tell the user nothing: the CLI prints one line instead.
    """
    try:
        yield
    except KeyboardInterrupt:
        _silence_for_exit()
        raise


def _silence_for_exit() -> None:
    """Mute what distributed and asyncio print while a run cut by Ctrl-C is torn down."""
    # every distributed logger (the nanny's has its own level, set by the config), and
    # asyncio's "Task exception was never retrieved" of the gathers cut short
    names = [
        n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "asyncio")
    ]
    for name in ("distributed", "asyncio", *names):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    # distributed's GC timer asserts when a collection runs during shutdown; the process is
    # exiting on the user's request: nothing "ignored" in it is worth a traceback
    sys.unraisablehook = lambda _unraisable: None


@contextlib.contextmanager
def cluster_client(
    *,
    scheduler: str | None = None,
    scheduler_file: str | os.PathLike | None = None,
    workers: int | None = None,
    threads: int | None = None,
    memory_limit: str | int | None = "auto",
    local: str = "cluster",
    timeout: float = DEFAULT_TIMEOUT,
    work: float | None = None,
) -> Iterator[Any]:
    """A Dask scheduler to run on, chosen the way the CLI's options say.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:port``): attach to it.
    scheduler_file : path, optional
        A scheduler file written by ``dask-scheduler --scheduler-file`` (HPC).
    workers, threads : int, optional
        Size of the local cluster (each >= 1). Default: one worker inside this process with
        a thread per core (``threads`` changes the count); with ``workers``: that many worker
        processes with ``threads`` (default 1) threads each.
    memory_limit : str or int, optional
        Memory limit of each local worker (``"auto"``: the machine's memory / workers; a
        size such as ``"2GB"``).
    local : {"cluster", "auto", "threads", "sync", "processes"}
        Without a scheduler address: start a ``LocalCluster`` (default) or use a plain local
        scheduler; ``"auto"``: the threaded scheduler when ``work`` is below
        :data:`AUTO_THREADS_BELOW` and no local-cluster size (``workers``, ``threads``,
        ``memory_limit``) was chosen, else a ``LocalCluster``.
    timeout : float, default 30
        Seconds to wait for the scheduler file to appear, then for the connection.
    work : float, optional
        How many interactions the work is expected to produce (for ``local="auto"``).

    Yields
    ------
    distributed.Client or str
        What to pass as ``scheduler=`` to :func:`run`.

    Raises
    ------
    ParameterError
        Impossible sizes, an unreadable or garbage scheduler file or address, or no
        scheduler within ``timeout``.
    """
    if scheduler and scheduler_file:
        raise ParameterError("give --scheduler or --scheduler-file, not both")
    if not (isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0):
        raise ParameterError(f"--timeout must be a number of seconds > 0, got {timeout!r}")
    if local == "auto":
        local = auto_local(work, workers=workers, threads=threads, memory_limit=memory_limit)
    memory_limit = _check_local_options(workers, threads, memory_limit)
    if scheduler or scheduler_file:
        from distributed import Client

        where = os.fspath(scheduler_file) if scheduler_file else scheduler
        # with scheduler_file set, where is its path (a str)
        address = _wait_for_scheduler_file(where, timeout) if scheduler_file else scheduler  # type: ignore[arg-type]
        try:
            client = Client(address, timeout=f"{timeout}s")
        except (OSError, ValueError, TypeError) as e:
            # OSError: unreachable / timed out; ValueError, TypeError: not an address
            what = f"the scheduler file {where} ({address})" if scheduler_file else where
            raise ParameterError(f"cannot reach the Dask scheduler at {what}: {e}") from None
        # quiet first (innermost): the noise comes from closing the client / cluster
        with client, _quiet_on_interrupt():
            yield client
        return
    if local != "cluster":
        if local not in LOCAL_SCHEDULERS:
            raise ParameterError(f"local scheduler {local!r} is not one of {LOCAL_SCHEDULERS}")
        yield local
        return
    from distributed import Client, LocalCluster

    cores = os.cpu_count() or 1
    if workers is None:
        # one worker in this process, a thread per core: the kernels release the GIL, and the
        # input is shared by every task instead of copied into each worker process (the
        # difference between ~1.5 and ~3 GB for ML-20M on a laptop)
        # the keyword arguments of LocalCluster (int, bool, list of str)
        opts: dict[str, Any] = {
            "n_workers": 1,
            "threads_per_worker": threads or cores,
            "processes": False,
        }
    else:
        opts = {
            "n_workers": workers,
            "threads_per_worker": threads or 1,
            "processes": True,
            "preload": [__name__],  # dask_setup: SIGINT is the driver's
        }
    logging.getLogger("distributed.scheduler").addFilter(_SHUTDOWN_NOISE)
    with warnings.catch_warnings():
        # without a dashboard the scheduler still serves its HTTP routes, on port 8787 when
        # free and on another one otherwise: a warning about a port nobody asked for
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
        cluster = LocalCluster(**opts, memory_limit=memory_limit, dashboard_address=None)
    with (
        _quiet_task_errors(),
        cluster,
        Client(cluster, timeout=f"{timeout}s") as client,
        _quiet_on_interrupt(),
    ):
        _OWNED_CLIENTS.add(id(client))
        try:
            yield client
        finally:
            _OWNED_CLIENTS.discard(id(client))


def auto_local(
    work: float | None,
    *,
    workers: int | None = None,
    threads: int | None = None,
    memory_limit: str | int | None = "auto",
) -> str:
    """What ``local="auto"`` runs on: ``"threads"`` for small work, else ``"cluster"``.

    Parameters
    ----------
    work : float or None
        Expected interactions of the job (None: unknown, a cluster).
    workers, threads, memory_limit
        The local-cluster options: any of them chosen means the caller wants the cluster.

    Returns
    -------
    str
        ``"threads"`` or ``"cluster"``.

    Examples
    --------
    >>> auto_local(1e6), auto_local(1e9), auto_local(1e6, workers=2)
    ('threads', 'cluster', 'cluster')
    """
    sized = workers is not None or threads is not None
    sized = sized or not (memory_limit is None or str(memory_limit).strip().lower() == "auto")
    if work is None or sized or not work < AUTO_THREADS_BELOW:
        return "cluster"
    return "threads"


def worker_memory_limit(scheduler: object = None) -> int:
    """Memory one task may use: the smallest worker limit of a ``distributed.Client``
    (``scheduler``, else the default Client), else :func:`available_memory`."""
    from ._preflight import available_memory

    client = scheduler if _is_client(scheduler) else None
    if scheduler is None:
        client = _default_client()
    if client is not None:
        try:
            workers = client.scheduler_info()["workers"].values()
            limits = [int(w.get("memory_limit") or 0) for w in workers]
        except Exception:  # a scheduler that does not answer: the run itself will say so
            limits = []
        limits = [x for x in limits if x > 0]
        if limits:
            return min(limits)
    return available_memory()
