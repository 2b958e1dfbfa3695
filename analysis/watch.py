"""Collecting a batch's results from Dask while watching the cluster: Ctrl-C, worker storms.

`results_dask` submits the runs in chunks (analysis/chunks.py), yields each run's outcome as
its chunk completes, and while it waits it:

- checks the stop flag (set by Ctrl-C) every `TICK` seconds, so an interrupted batch stops
  within a second even when no run completes any more;
- restores a local cluster whose workers died: the nannies of a LocalCluster give up after
  repeated deaths (measured: 92 kills in 15 s left 0 workers and 200 tasks pending for good),
  so the watcher asks the cluster for its workers again;
- gives up when no worker has been up for `NO_WORKER_SECONDS`: the runs left are reported as
  lost (not recorded: they stay pending and the next batch runs them).

A chunk of several runs that fails as a whole (its worker died more than the scheduler's
`allowed-failures` times, 3 by default: KilledWorker; or the cluster lost it) is not blamed on
its runs: each of them is submitted again on its own, so that one run that kills its worker does
not take its neighbours down with it. A single run whose worker died while running it more than
`allowed-failures` times comes back as KilledWorker: it is recorded as failed with that reason,
and the batch goes on with the rest (`--retry-failed` runs it again).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from analysis.chunks import one_line, run_chunk

TICK = 0.25  # seconds between checks of the stop flag while waiting
HEAL_SECONDS = 3.0  # how often a local cluster short of workers is asked for them again
NO_WORKER_SECONDS = 60.0  # with no worker up this long, the batch stops waiting


def failure_outcome(exc: BaseException) -> dict[str, Any]:
    """What a single run's failed task says about it: a run that killed its workers (failed,
    recorded), or a run the cluster lost (pending, run again next time)."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return {
            "ok": False,
            "error": "KilledWorker: every worker that ran it died (the scheduler's "
            "allowed-failures were used up); --retry-failed runs it again",
            "traceback": str(exc),
        }
    return {"ok": False, "lost": True, "error": one_line(exc)}


class _Watch:
    """The cluster's workers over time, and restoring a local cluster's."""

    def __init__(self, client: Any, wanted: int | None) -> None:
        self.client, self.wanted = client, wanted
        self.cluster = getattr(client, "cluster", None) if wanted else None
        self.seen = self.healed = time.monotonic()

    def workers(self) -> int:
        try:
            return len(self.client.scheduler_info()["workers"])
        except Exception:  # the scheduler is unreachable: as good as no workers
            return 0

    def check(self) -> str | None:
        """Restore missing local workers; the reason to give up, if it is time to."""
        now = time.monotonic()
        n = self.workers()
        if n:
            self.seen = now
        if self.cluster is not None and n < self.wanted and now - self.healed > HEAL_SECONDS:
            self.healed = now
            with contextlib.suppress(Exception):  # tried again at the next check
                self.cluster.scale(self.wanted)
        if self.cluster is not None and now - self.seen > NO_WORKER_SECONDS:
            return f"no worker stayed up for {NO_WORKER_SECONDS:.0f} s (they kept dying)"
        return None


def results_dask[S](
    client: Any,
    chunks: list[list[tuple[S, dict[str, Any]]]],
    task: Callable[[dict[str, Any]], dict[str, Any]],
    stop: threading.Event,
    wanted: int | None = None,
) -> Iterator[tuple[S, dict[str, Any]]]:
    """(spec, outcome) for every (spec, meta) of `chunks`, each chunk one task on `client`,
    yielded as the chunks complete.

    `wanted`: the number of workers of a local cluster to keep up (None for a remote cluster,
    whose workers come and go on their own). Raises KeyboardInterrupt when `stop` is set.
    """
    futures: dict[Any, list[tuple[S, dict[str, Any]]]] = {}
    done: queue.Queue[Any] = queue.Queue()

    def submit(chunk: list[tuple[S, dict[str, Any]]]) -> None:
        first = chunk[0][1]["run_id"]
        key = f"scf-run-{first}" if len(chunk) == 1 else f"scf-chunk-{first}-{len(chunk)}"
        metas = [meta for _, meta in chunk]
        future = client.submit(run_chunk, task, metas, key=key, pure=False)
        futures[future] = chunk
        future.add_done_callback(done.put)  # called in a thread of the client's

    for chunk in chunks:
        submit(chunk)
    watch = _Watch(client, wanted)
    last_check = time.monotonic()
    try:
        while futures:
            if stop.is_set():
                raise KeyboardInterrupt
            if time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                reason = watch.check()
                if reason is not None:
                    left = [spec for chunk in futures.values() for spec, _ in chunk]
                    for spec in left:
                        yield spec, {"ok": False, "lost": True, "error": reason}
                    return
            try:
                future = done.get(timeout=TICK)
            except queue.Empty:
                continue
            chunk = futures.pop(future, None)
            if chunk is None:
                continue
            try:
                outcomes = future.result()
            except Exception as exc:
                outcomes = None if len(chunk) > 1 else [failure_outcome(exc)]
            future.release()
            if outcomes is None:  # the chunk failed as a whole: its runs again, one by one
                for pair in chunk:
                    submit([pair])
                continue
            for (spec, _), out in zip(chunk, outcomes, strict=True):
                yield spec, out
    finally:
        if futures:
            with contextlib.suppress(Exception):  # the cluster is going away anyway
                client.cancel(list(futures))
