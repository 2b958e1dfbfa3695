"""Run an experiment's plan on dask.distributed into a results store, resumably.

The client submits one task per run still missing from the store; each task calls the pure
`run_one` on a worker and returns its tables; the client writes each run as it completes (so
workers need no shared disk). Runs already stored, or recorded as failed, are skipped; a run
that raises is recorded with its error and the batch goes on. Because a run's numbers depend
only on (configuration, seed, months), the store is the same with 1 worker, N workers, a remote
cluster, or after any number of interruptions.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from analysis.experiment import Plan, RunSpec
from analysis.store import Store
from simulation.scenario import ConfigError

Task = Callable[[dict[str, Any], int, int], dict[str, Any]]


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def execute(config: dict[str, Any], seed: int, months: int) -> dict[str, Any]:
    """The task a worker runs: one simulation, never raising (errors come back as data)."""
    from simulation.config import ScenarioConfig
    from simulation.runner import run_one

    start, cpu = time.perf_counter(), time.process_time()
    where = f"{socket.gethostname()}:{os.getpid()}"
    try:
        result = run_one(ScenarioConfig.model_validate(config), seed, months)
        out = {"ok": True, "monthly": result.monthly, "summary": result.summary}
    except Exception as exc:  # a failed run is a result to record
        out = {
            "ok": False,
            "error": _one_line(exc),
            "traceback": traceback.format_exc(),
        }
    timing = {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
    return {**out, "worker": where, **timing}


@dataclass
class BatchReport:
    """What a batch did, and the state of its experiment in the store afterwards."""

    planned: int  # distinct runs in the plan
    already: int  # stored (ok or failed) before this batch
    ran: int  # runs computed by this batch
    failed_now: int  # of which failed
    ok_total: int  # ok runs of the plan in the store now
    failed_total: int  # failed runs of the plan in the store now
    seconds: float
    where: str
    lost: int = 0  # runs the cluster could not run (worker lost, import error): left pending
    lost_error: str = ""  # the first such error


def _record(store: Store, spec: RunSpec, out: dict[str, Any]) -> str:
    """Store a task's outcome; returns 'ok', 'failed' (recorded) or 'lost' (not recorded)."""
    if out.get("lost"):
        return "lost"  # not the run's fault: left pending, so the next batch retries it
    if out["ok"]:
        store.write_run(spec.meta(), out["monthly"], out["summary"])
    else:
        store.write_failure(spec.meta(), out["error"], out["traceback"])
    store.append_log(
        {
            "run_id": spec.run_id,
            "ok": out["ok"],
            "seconds": out.get("seconds"),
            "cpu_seconds": out.get("cpu_seconds"),
            "worker": out.get("worker"),
            "at": time.time(),
        }
    )
    return "ok" if out["ok"] else "failed"


@contextmanager
def _worker_environment(env: dict[str, Any]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def local_cluster(n: int) -> Any:
    """A LocalCluster of `n` single-threaded worker processes on 127.0.0.1, quick to start.

    Workers are forked from a fork server that has imported the model once (where the platform
    has one), instead of each spawned worker importing it again: on 2 busy cores this cut the
    start-up from 14-26 s to 8-9 s and the shutdown from 2-4 s to 0.2 s. The fork server starts
    with the workers' environment (one BLAS thread per worker), as spawned workers would.
    """
    import multiprocessing

    import dask
    from distributed import LocalCluster
    from distributed.utils import get_mp_context

    options: dict[str, Any] = {
        # Dask's statistical profiler samples each worker's stack every 10 ms: measured here,
        # it made a 0.45 s run take 0.85 s
        "distributed.worker.profile.enabled": False,
    }
    forkserver = "forkserver" in multiprocessing.get_all_start_methods()
    if forkserver:
        options["distributed.worker.multiprocessing-method"] = "forkserver"
    # Dask's worker environment (one BLAS/OpenMP thread per worker) but not its
    # MALLOC_TRIM_THRESHOLD_=65536: measured here, that glibc setting made a run of 10,000 SMEs
    # take 25-35% more CPU on a worker than in a plain process (its large NumPy temporaries
    # are then mapped and unmapped every time)
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    options["distributed.nanny.pre-spawn-environ"] = env
    with dask.config.set(options), _worker_environment(env):
        if forkserver:
            get_mp_context().set_forkserver_preload(
                ["distributed", "simulation.runner", "analysis.batch"]
            )
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
    cluster = local_cluster(workers or os.cpu_count() or 1)
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def _results_serial(todo: list[RunSpec], task: Task) -> Iterable[tuple[RunSpec, dict]]:
    for spec in todo:
        yield spec, task(spec.config, spec.seed, spec.months)


def _results_dask(client: Any, todo: list[RunSpec], task: Task) -> Iterable[tuple[RunSpec, dict]]:
    from distributed import as_completed

    futures = {
        client.submit(task, s.config, s.seed, s.months, key=f"scf-run-{s.run_id}", pure=False): s
        for s in todo
    }
    try:
        for future in as_completed(futures, loop=client.loop):
            spec = futures.pop(future)
            try:
                out = future.result()
            except Exception as exc:  # the cluster, not the model, failed: retried next time
                out = {"ok": False, "lost": True, "error": _one_line(exc)}
            future.release()
            yield spec, out
    finally:
        if futures:
            client.cancel(list(futures))


def _until_interrupted(results: Iterable[tuple[RunSpec, dict]]) -> Iterable[tuple[RunSpec, dict]]:
    """Yield results until Ctrl-C, which then surfaces as KeyboardInterrupt here.

    A KeyboardInterrupt raised at an arbitrary point was swallowed by Python 3.13 while the
    client waited on the cluster (the batch ran to the end), or surfaced inside the cluster's
    clean-up. Our handler only sets a flag, checked after every stored run.
    """
    stop = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        stop.set()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    try:
        for item in results:
            yield item
            if stop.is_set():
                raise KeyboardInterrupt
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
        close = getattr(results, "close", None)
        if close is not None:  # cancel what is left while the client is still open
            close()


def run_plan(
    plan: Plan,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    task: Task | None = None,
) -> BatchReport:
    """Compute every run of `plan` missing from the store at `out`.

    `workers=0` runs in this process without Dask; otherwise a LocalCluster of `workers`
    processes (default: one per core), or the cluster at `scheduler` (tcp://HOST:PORT).
    """
    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers or --scheduler, not both")
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers: must be >= 0 (got {workers})")
    Store.check_target(out)
    start = time.perf_counter()
    unique = list({s.run_id: s for s in plan.specs}.values())
    ids = {s.run_id for s in unique}
    serial = workers == 0
    task = task or execute
    with _client(serial, workers, scheduler) as client:
        store = Store.create(out)
        with store.lock():
            store.clean_tmp()
            store.write_plan(plan.name, plan.description, plan.source_text, plan.frame())
            failed_before = ids & store.failed_ids()
            skip = store.done_ids() | (set() if retry_failed else failed_before)
            todo = [s for s in unique if s.run_id not in skip]
            where = (
                "in this process"
                if serial
                else f"on {scheduler}"
                if scheduler
                else f"on {len(client.scheduler_info()['workers'])} local workers"
            )
            failed = 0 if retry_failed else len(failed_before)
            counts = {"ok": 0, "failed": 0, "lost": 0}
            lost_error = ""
            with _progress(progress) as bar:
                tid = bar.add_task(
                    plan.name, total=len(unique), completed=len(unique) - len(todo), failed=failed
                )
                results = (
                    _results_serial(todo, task) if serial else _results_dask(client, todo, task)
                )
                for spec, outcome in _until_interrupted(results):
                    kind = _record(store, spec, outcome)
                    counts[kind] += 1
                    if kind == "lost":
                        lost_error = lost_error or outcome["error"]
                    bar.update(tid, advance=1, failed=failed + counts["failed"] + counts["lost"])
            return BatchReport(
                planned=len(unique),
                already=len(unique) - len(todo),
                ran=len(todo) - counts["lost"],
                failed_now=counts["failed"],
                ok_total=len(ids & store.done_ids()),
                failed_total=len(ids & store.failed_ids()),
                seconds=time.perf_counter() - start,
                where=where,
                lost=counts["lost"],
                lost_error=lost_error,
            )


@contextmanager
def _client(serial: bool, workers: int | None, scheduler: str | None) -> Iterator[Any]:
    if serial:
        yield None
    else:
        with dask_client(workers, scheduler) as client:
            yield client
