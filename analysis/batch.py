"""Run an experiment's plan on dask.distributed into a results store, resumably.

The client submits the runs still missing from the store in chunks of a few runs
(analysis/chunks.py); each task calls the pure `run_one` on a worker for each run of its chunk
and returns each run's encoded store file; the client writes each run as its chunk completes
(so workers need no shared disk). Runs already stored, or recorded as failed, are skipped; a run
that raises is recorded with its error and the batch goes on. Because a run's numbers depend
only on (configuration, seed, months), the store is the same with 1 worker, N workers, a remote
cluster, or after any number of interruptions.
"""

from __future__ import annotations

import os
import signal
import socket
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

from analysis.chunks import check_chunk_size, chunk_sizes, one_line, run_seconds, split
from analysis.cluster import dask_client
from analysis.experiment import Plan, RunSpec
from analysis.outputs import check_output_dir, run_bytes, write_errors
from analysis.store import FAILED, MARKER, Store, encode_run
from analysis.watch import results_dask
from simulation.scenario import ConfigError

Task = Callable[[dict[str, Any]], dict[str, Any]]
KEPT = "the runs finished so far are kept: make room and run the same command again"


def execute(meta: dict[str, Any]) -> dict[str, Any]:
    """The task a worker runs: one simulation, encoded as its store file; never raises (errors
    come back as data). `meta` is `RunSpec.meta()`: run_id, scenario_id, seed, months, config.
    """
    from simulation.config import ScenarioConfig
    from simulation.runner import run_one

    start, cpu = time.perf_counter(), time.process_time()
    where = f"{socket.gethostname()}:{os.getpid()}"
    try:
        config = ScenarioConfig.model_validate(meta["config"])
        result = run_one(config, meta["seed"], meta["months"])
        out = {"ok": True, "parquet": encode_run(meta, result.monthly, result.summary)}
    except Exception as exc:  # a failed run is a result to record
        out = {
            "ok": False,
            "error": one_line(exc),
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
    repaired: int = 0  # stored runs whose files failed their check: set aside and run again


def _record(store: Store, spec: RunSpec, out: dict[str, Any]) -> str:
    """Store a task's outcome; returns 'ok', 'failed' (recorded) or 'lost' (not recorded)."""
    if out.get("lost"):
        return "lost"  # not the run's fault: left pending, so the next batch retries it
    if out["ok"]:
        store.write_encoded(spec.run_id, out["parquet"])
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
        yield spec, task(spec.meta())


def _until_interrupted(
    make: Callable[[threading.Event], Iterable[tuple[RunSpec, dict]]],
) -> Iterable[tuple[RunSpec, dict]]:
    """Yield the results `make(stop)` gives until Ctrl-C, which then surfaces as
    KeyboardInterrupt here.

    A KeyboardInterrupt raised at an arbitrary point was swallowed by Python 3.13 while the
    client waited on the cluster (the batch ran to the end), or surfaced inside the cluster's
    clean-up. Our handler only sets `stop`, checked after every stored run and, by the Dask
    results (analysis/watch.py), every quarter second while waiting: a batch whose workers keep
    dying stops too.
    """
    stop = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        stop.set()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    results = make(stop)
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


def set_aside_damaged(store: Store, ids: set[str]) -> int:
    """Make the plan's damaged stored runs pending again; returns how many there were.

    A run file that fails its seal is moved to damaged/; a failure record that fails its
    seal is deleted (the run is deterministic: running it again records it again).
    """
    runs = store.damaged_runs(ids)
    for rid in runs:
        store.set_aside(rid)
    failures = store.damaged_failures(ids)
    for rid in failures:
        (store.root / FAILED / f"{rid}.json").unlink(missing_ok=True)
    return len(runs) + len(failures)


def run_plan(
    plan: Plan,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    task: Task | None = None,
    chunk_size: int | None = None,
) -> BatchReport:
    """Compute every run of `plan` missing from the store at `out`.

    `workers=0` runs in this process without Dask; otherwise a LocalCluster of `workers`
    processes (default: one per core), or the cluster at `scheduler` (tcp://HOST:PORT).
    `chunk_size`: runs per Dask task (None: chosen from the runs and workers; see
    analysis/chunks.py); it changes nothing stored.
    """
    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers or --scheduler, not both")
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers: must be >= 0 (got {workers})")
    check_chunk_size(chunk_size)
    Store.check_target(out)
    start = time.perf_counter()
    unique = list({s.run_id: s for s in plan.specs}.values())
    ids = {s.run_id for s in unique}
    stored = Store.open(out).done_ids() if (Path(out) / MARKER).is_file() else set()
    need = sum(run_bytes(s.months) for s in unique if s.run_id not in stored)
    check_output_dir(out, need)  # before the cluster starts or anything is written
    serial = workers == 0
    task = task or execute
    with _client(serial, workers, scheduler) as client:
        with write_errors(out, KEPT):
            store = Store.create(out)
        with store.lock():
            with write_errors(out, KEPT):
                store.clean_tmp()
                store.write_plan(plan.name, plan.description, plan.source_text, plan.frame())
                repaired = set_aside_damaged(store, ids)
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
                def results(stop: threading.Event) -> Iterable[tuple[RunSpec, dict]]:
                    if serial:
                        return _results_serial(todo, task)
                    local = None if scheduler else workers or os.cpu_count() or 1
                    pairs = [(s, s.meta()) for s in todo]
                    n = local or len(client.scheduler_info()["workers"])
                    cost = max(run_seconds(s.config["population"]["n_smes"], s.months)
                               for s in todo) if todo else 0.0
                    chunks = split(pairs, chunk_sizes(len(pairs), n, chunk_size, cost))
                    return results_dask(client, chunks, task, stop, local)

                for spec, outcome in _until_interrupted(results):
                    with write_errors(out, KEPT):  # a full disk: one line, finished runs kept
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
                repaired=repaired,
            )


@contextmanager
def _client(serial: bool, workers: int | None, scheduler: str | None) -> Iterator[Any]:
    if serial:
        yield None
    else:
        with dask_client(workers, scheduler) as client:
            yield client
