"""Handing a batch's runs to Dask workers in chunks: how many runs a task holds, and the task.

One Dask task per run costs the client (which, for a local cluster, also hosts the scheduler)
about 10 ms of CPU: measured on 2 cores, 272 tasks of 0.1 s took 2.4-2.8 s of the client's CPU,
34 tasks of 8 runs 0.5 s. On 2 cores that CPU is taken from the workers. A chunk runs its runs
one after the other on one worker and returns each run's outcome; the client stores them as
the chunk returns.

Automatic sizes are "guided": each chunk takes a 1/(4 x workers) share of the runs not yet
handed out, at most `AUTO_MAX` runs (and about AUTO_SECONDS of estimated work) and at least
one. Early chunks are large enough to amortise a task's cost; the last ones hold one run each,
so the workers finish together. Nothing a run
computes depends on its chunk: the store is byte-identical whatever the sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulation.scenario import ConfigError

Task = Callable[[dict[str, Any]], dict[str, Any]]
AUTO_MAX = 8  # runs in an automatic chunk: at 0.1 s a run, the task's cost is then ~1%
# ... and at most about this much estimated work, so that an interrupted batch loses little of
# what its running chunks finished (a run's estimate: SME-months at the rate below, plus a
# fixed cost; the model does 1.2-1.4 million SME-months a second on one core of this machine)
AUTO_SECONDS = 2.0
SME_MONTHS_PER_SECOND = 1e6
RUN_SECONDS = 0.02
SHARES_PER_WORKER = 4  # an automatic chunk is at most 1/(this x workers) of the runs left
MAX_CHUNK = 10_000  # the largest --chunk-size accepted


def check_chunk_size(size: int | None) -> None:
    """Refuse a chunk size outside 1..MAX_CHUNK (None: automatic) with one line."""
    if size is not None and not 1 <= size <= MAX_CHUNK:
        raise ConfigError(f"--chunk-size: must be between 1 and {MAX_CHUNK:,} (got {size})")


def run_seconds(smes: int, months: int) -> float:
    """A run's estimated compute time, for sizing chunks (not a promise)."""
    return RUN_SECONDS + smes * months / SME_MONTHS_PER_SECOND


def chunk_sizes(runs: int, workers: int, size: int | None = None,
                run_cost: float = 0.0) -> list[int]:
    """Sizes of the consecutive chunks that hand out `runs` runs to `workers` workers.

    `size`: every chunk that many runs (the last one what is left); None: automatic (guided,
    see the module's docstring), and at most AUTO_SECONDS of work at `run_cost` seconds a run
    (the costliest run's estimate, `run_seconds`).
    """
    check_chunk_size(size)
    if size is not None:
        return [min(size, runs - start) for start in range(0, runs, size)]
    shares = SHARES_PER_WORKER * max(1, workers)
    most = AUTO_MAX if run_cost <= 0 else max(1, min(AUTO_MAX, int(AUTO_SECONDS / run_cost)))
    sizes, left = [], runs
    while left:
        take = max(1, min(most, -(-left // shares)))
        sizes.append(take)
        left -= take
    return sizes


def split[T](items: list[T], sizes: list[int]) -> list[list[T]]:
    """`items` cut into consecutive pieces of `sizes` (which add up to len(items))."""
    pieces, start = [], 0
    for size in sizes:
        pieces.append(items[start : start + size])
        start += size
    return pieces


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_chunk(task: Task, metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Dask task: `task(meta)` for each run of a chunk, in order, each run's outcome.

    `task` (normally `analysis.batch.execute`) returns a run that raises as data, so one failed
    run fails alone. An exception that escapes `task` is not the run's own failure (e.g. the
    worker cannot import the model): that run comes back as lost (left pending, run again by
    the next batch), as it did when each run was its own task, and the chunk goes on.
    """
    outcomes = []
    for meta in metas:
        try:
            outcomes.append(task(meta))
        except Exception as exc:
            outcomes.append({"ok": False, "lost": True, "error": one_line(exc)})
    return outcomes
