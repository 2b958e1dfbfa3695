"""Dask clusters for batches: local worker processes that start quickly, or an existing cluster.

Local workers are forked from a fork server that has imported the model once (where the
platform has one), instead of each spawned worker importing it again. This module imports
nothing heavy, so that `scf batch` can start the fork server first thing: the server then imports
the model on one core while the command imports its own modules and reads the experiment on the
other, and the workers are ready about when the client is.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# what a worker needs to run a task: imported once, by the fork server
WORKER_MODULES = ["distributed", "simulation.runner", "analysis.batch"]

# Dask's worker environment (one BLAS/OpenMP thread per worker process) but not its
# MALLOC_TRIM_THRESHOLD_=65536: measured here, that glibc setting made a run of 10,000 SMEs take
# 25-35% more CPU on a worker than in a plain process (its large NumPy temporaries are then
# mapped and unmapped every time)
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _has_fork_server() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _output_to_devnull() -> Iterator[None]:
    """Point this process's stdout and stderr (file descriptors 1 and 2) at /dev/null."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)


def start_fork_server() -> None:
    """Start, once, the process local workers are forked from; it imports the model meanwhile.

    Returns at once. On 2 cores the server's imports (2-3 s) then overlap the client's own.
    The server and its workers write to /dev/null, not to the command's output: a server still
    importing would otherwise hold a pipe such as `scf batch bad.yaml | less` open for seconds
    after the command has ended. Workers have nothing to say there anyway: Dask's logs are
    silenced and a failed run comes back to the client as data.
    """
    if not _has_fork_server():
        return
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(WORKER_MODULES)
    # the workers inherit the server's environment and output
    with _environment(WORKER_ENV), _output_to_devnull():
        forkserver.ensure_running()


def wants_local_workers(args: list[str]) -> bool:
    """Whether the command line `args` (without the program) is an `scf batch` that will start
    local workers: no --workers 0, no --scheduler, no --help. False in a worker process, whose
    main module (the `scf` script) is imported again with the batch's command line.

    A guess from the raw arguments: if it is wrong, the batch still starts the server (or an
    unused one idles until the command ends), so it never changes what a batch does.
    """
    if args[:1] != ["batch"] or multiprocessing.current_process().name != "MainProcess":
        return False
    for i, arg in enumerate(args):
        if arg in ("--help", "--scheduler") or arg.startswith("--scheduler="):
            return False
        value = args[i + 1] if arg in ("--workers", "-w") and i + 1 < len(args) else None
        if arg.startswith("--workers="):
            value = arg.split("=", 1)[1]
        if value is not None and value.strip() == "0":
            return False
    return True


def local_cluster(n: int) -> Any:
    """A LocalCluster of `n` single-threaded worker processes on 127.0.0.1, quick to start.

    On 2 busy cores forked workers cut the start-up from 14-26 s (spawned, each importing the
    model) to 8-9 s, and the shutdown from 2-4 s to 0.2 s; on an idle machine it is 2-3 s, the
    fork server's imports, most of which `start_fork_server` hides behind the client's.
    """
    import dask
    from distributed import LocalCluster

    options: dict[str, Any] = {
        # Dask's statistical profiler samples each worker's stack every 10 ms: measured here,
        # it made a 0.45 s run take 0.85 s
        "distributed.worker.profile.enabled": False,
        "distributed.nanny.pre-spawn-environ": WORKER_ENV,
        # housekeeping of the scheduler and nannies (in this process) and of the workers:
        # event-loop ticks every 20 ms, memory checks every 100 ms and system metrics every
        # 500 ms by default. Measured here, these halved the client's CPU over a 40-run batch
        # (1.4 s to 0.7 s), on 2 cores CPU the workers lack; a nanny still stops a worker that
        # nears its memory limit, within a second
        "distributed.admin.tick.interval": "1s",
        "distributed.worker.memory.monitor-interval": "1s",
        "distributed.admin.system-monitor.interval": "2s",
        # a run whose worker dies while running it more than 3 times is given up on
        # (KilledWorker), recorded as failed with that reason (analysis/watch.py)
        "distributed.scheduler.allowed-failures": 3,
        # a worker holds only the task it runs (Dask's default 1.1 queues a second one on it):
        # when a worker dies, every task it holds counts a failure, so a run that kills its
        # worker would take an innocent neighbour down with it (measured: a run queued behind
        # a poisonous one ended as KilledWorker). The round trip to fetch the next task is
        # negligible beside a chunk of runs (analysis/chunks.py)
        "distributed.scheduler.worker-saturation": 1.0,
    }
    if _has_fork_server():
        options["distributed.worker.multiprocessing-method"] = "forkserver"
        start_fork_server()
    # for the life of the process, not only while the cluster starts: a nanny restarting a
    # worker that died reads them again (measured: restarted workers were spawned, importing
    # the model for 10-25 s each, with the profiler on)
    dask.config.set(options)
    return LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # the scheduler's HTTP routes (health, metrics) always listen: on a free port, so
        # a second batch or any other program on 8787 causes no clash and no warning
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.CRITICAL,  # no worker tracebacks racing the shutdown
    )


@contextmanager
def dask_client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A dask.distributed Client: on `scheduler`, else on a LocalCluster of worker processes."""
    from distributed import Client

    from simulation.scenario import ConfigError

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"--scheduler {scheduler}: cannot connect ({str(exc).splitlines()[0]})"
            ) from None
        if not client.scheduler_info()["workers"]:
            sys.stderr.write(f"{scheduler} has no workers yet: waiting for some to join\n")
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    try:
        cluster = local_cluster(n)
    except (RuntimeError, OSError, TimeoutError) as exc:  # e.g. its workers killed as they start
        raise ConfigError(
            f"could not start {n} local workers ({str(exc).splitlines()[0]}); run the same "
            f"command again, or use --workers 0"
        ) from None
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        # bounded, so that Ctrl-C ends the batch within seconds even if workers are dying
        with contextlib.suppress(Exception):
            client.close(timeout=5)
        with contextlib.suppress(Exception):
            cluster.close(timeout=10)
