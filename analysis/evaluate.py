"""Evaluate many scenario configurations over paired seeds, through the batch runner's workers.

`Evaluator` keeps one Dask client open (local worker processes by default, an existing cluster
with `scheduler=`, or this process with `workers=0`) and runs the same task as `scf batch`
(`analysis.batch.execute`, which calls the pure `run_one`). Every run is identified by the hash
of (configuration, seed, months), as in the results store: a run asked for twice is computed
once, and with a `store` runs already stored are read back instead of recomputed (so an
interrupted search resumes at no cost). The answer is a summaries frame as `load_summaries`
gives: one row per (configuration, seed), with `total_credit` added.

    with Evaluator(workers=2) as ev:
        frame = ev.evaluate([config_a, config_b], seeds=[1, 2, 3], months=24)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.batch import _until_interrupted, execute
from analysis.compare import with_total_credit
from analysis.store import META_KEY, Store, flatten_summary, run_id, scenario_id
from simulation.config import ScenarioConfig
from simulation.scenario import ConfigError


@dataclass(frozen=True)
class Run:
    """One requested run: a configuration (JSON form, no description), a seed, a horizon."""

    config: dict[str, Any]
    seed: int
    months: int

    @property
    def run_id(self) -> str:
        """The run's id in a results store."""
        return run_id(self.config, self.seed, self.months)

    def meta(self) -> dict[str, Any]:
        """The mapping `analysis.batch.execute` takes (as `RunSpec.meta`)."""
        return {
            "run_id": self.run_id,
            "scenario_id": scenario_id(self.config, self.months),
            "seed": self.seed,
            "months": self.months,
            "config": self.config,
        }


def config_json(config: ScenarioConfig, months: int | None = None) -> tuple[dict[str, Any], int]:
    """A configuration as the store hashes it (no description; `months` set) and its horizon."""
    data = config.model_dump(mode="json")
    data.pop("description", None)
    horizon = int(months if months is not None else config.months)
    data["months"] = horizon
    return data, horizon


def summary_of(parquet: bytes) -> dict[str, Any]:
    """The summary a worker encoded into a run's Parquet bytes."""
    schema = pq.read_schema(pa.BufferReader(parquet))
    return json.loads(schema.metadata[META_KEY])["summary"]


class Evaluator(AbstractContextManager):
    """Runs configurations over seeds on one Dask client kept open between calls.

    `workers=0`: in this process, no Dask; `workers=N`: N local processes (default: one per
    core); `scheduler="tcp://HOST:PORT"`: an existing cluster. With `store`, every run is kept
    in that results store and runs found there are not recomputed.
    """

    def __init__(
        self,
        store: str | Path | None = None,
        *,
        workers: int | None = None,
        scheduler: str | None = None,
    ) -> None:
        """Check the options; the client starts on entering the `with` block."""
        if workers is not None and scheduler is not None:
            raise ConfigError("give --workers or --scheduler, not both")
        if workers is not None and workers < 0:
            raise ConfigError(f"--workers: must be >= 0 (got {workers})")
        if store is not None:
            Store.check_target(store)
        self.store_path = Path(store) if store is not None else None
        self.workers, self.scheduler = workers, scheduler
        self.client: Any = None
        self.store: Store | None = None
        self.computed = 0  # runs computed (not read back from the store) so far
        self._stack = ExitStack()

    def __enter__(self) -> Evaluator:
        """Open the store and start (or connect to) the cluster."""
        if self.store_path is not None:
            self.store = Store.create(self.store_path)
            self._stack.enter_context(self.store.lock())
            self.store.clean_tmp()
        if self.workers != 0:
            from analysis.cluster import dask_client

            self.client = self._stack.enter_context(dask_client(self.workers, self.scheduler))
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the client and release the store."""
        self._stack.close()
        self.client = None

    @property
    def where(self) -> str:
        """Where runs are computed, for messages."""
        if self.client is None:
            return "in this process"
        if self.scheduler:
            return f"on {self.scheduler}"
        return f"on {len(self.client.scheduler_info()['workers'])} local workers"

    def evaluate(
        self,
        configs: Sequence[ScenarioConfig],
        seeds: Sequence[int],
        *,
        months: int | None = None,
        labels: Sequence[str] | None = None,
        experiment: str | None = None,
        on_done: Any = None,
    ) -> pd.DataFrame:
        """Every configuration over every seed (common random numbers): a summaries frame.

        Rows are in the order (configuration, seed), with columns `index` (position in
        `configs`), `label`, `seed`, `months`, `run_id`, `scenario_id`, `status` ('ok' or
        'failed'), `error`, then the flattened summary metrics and `total_credit`. With a store
        and an `experiment` name, the runs are also written as that experiment's plan, so `scf
        compare` and `load_summaries` can read them. `on_done(n_done, n_total)` is called as
        runs finish (for progress).
        """
        if not seeds:
            raise ConfigError("seeds: give at least one seed")
        pairs = [(i, int(s)) for i in range(len(configs)) for s in seeds]
        return self.evaluate_pairs(
            configs, pairs, months=months, labels=labels, experiment=experiment, on_done=on_done
        )

    def evaluate_pairs(
        self,
        configs: Sequence[ScenarioConfig],
        pairs: Sequence[tuple[int, int]],
        *,
        months: int | None = None,
        labels: Sequence[str] | None = None,
        experiment: str | None = None,
        on_done: Any = None,
    ) -> pd.DataFrame:
        """Like `evaluate`, for chosen (configuration index, seed) pairs only, in that order."""
        labels = (
            list(labels) if labels is not None else [f"config#{i}" for i in range(len(configs))]
        )
        if len(labels) != len(configs):
            raise ValueError("labels: one per configuration")
        resolved = [config_json(c, months) for c in configs]
        requests = [(i, labels[i], Run(resolved[i][0], int(s), resolved[i][1])) for i, s in pairs]
        unique = {r.run_id: r for _, _, r in requests}
        results = dict(self._collect(unique, on_done))
        rows = []
        for i, label, run in requests:
            out = results[run.run_id]
            row: dict[str, Any] = {
                "index": i,
                "label": label,
                "seed": run.seed,
                "months": run.months,
                "run_id": run.run_id,
                "scenario_id": scenario_id(run.config, run.months),
                "status": "ok" if out["ok"] else "failed",
                "error": None if out["ok"] else out["error"],
            }
            if out["ok"]:
                row.update(flatten_summary(out["summary"]))
            rows.append(row)
        if self.store is not None and experiment is not None:
            self._write_plan(experiment, requests)
        return with_total_credit(pd.DataFrame(rows))

    # -- internals -------------------------------------------------------------------

    def _collect(self, runs: dict[str, Run], on_done: Any) -> Iterator[tuple[str, dict]]:
        """(run_id, {'ok', 'summary' | 'error'}) for every run, stored or computed."""
        todo = []
        done = 0
        stored_ids = self.store.done_ids() if self.store is not None else set()
        for rid, run in runs.items():
            stored = self._stored(rid) if rid in stored_ids else None
            if stored is None:
                todo.append(run)
                continue
            done += 1
            yield rid, stored
        if on_done is not None:
            on_done(done, len(runs))
        # Ctrl-C stops after the run in hand (as in scf batch): finished runs stay in the store
        for run, out in _until_interrupted(lambda stop: self._compute(todo)):
            self.computed += 1
            done += 1
            if self.store is not None and out.get("ok"):
                self.store.write_encoded(run.run_id, out["parquet"])
            elif self.store is not None and not out.get("lost"):
                self.store.write_failure(run.meta(), out["error"], out.get("traceback", ""))
            if out.get("ok"):
                out = {"ok": True, "summary": summary_of(out["parquet"])}
            if on_done is not None:
                on_done(done, len(runs))
            yield run.run_id, out

    def _stored(self, rid: str) -> dict[str, Any]:
        assert self.store is not None
        return {"ok": True, "summary": self.store.run_meta(rid)["summary"]}

    def _compute(self, todo: list[Run]) -> Iterable[tuple[Run, dict[str, Any]]]:
        if self.client is None:
            for run in todo:
                yield run, execute(run.meta())
            return
        from distributed import as_completed

        futures = {
            self.client.submit(execute, r.meta(), key=f"scf-run-{r.run_id}", pure=False): r
            for r in todo
        }
        try:
            for future in as_completed(futures, loop=self.client.loop):
                run = futures.pop(future)
                try:
                    out = future.result()
                except Exception as exc:  # the cluster failed, not the model
                    out = {"ok": False, "lost": True, "error": f"{type(exc).__name__}: {exc}"}
                future.release()
                yield run, out
        finally:
            if futures:
                self.client.cancel(list(futures))

    def _write_plan(self, experiment: str, requests: list[tuple[int, str, Run]]) -> None:
        assert self.store is not None
        rows = [
            {
                "experiment": experiment,
                "scenario": label,
                "variant": label,
                "point": i,
                "seed": run.seed,
                "months": run.months,
                "run_id": run.run_id,
                "scenario_id": scenario_id(run.config, run.months),
            }
            for i, label, run in requests
        ]
        self.store.write_plan(
            experiment, f"evaluated by scf ({experiment})", "", pd.DataFrame(rows)
        )


def evaluate(
    configs: Sequence[ScenarioConfig],
    seeds: Sequence[int],
    *,
    months: int | None = None,
    labels: Sequence[str] | None = None,
    store: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """One-shot `Evaluator(...).evaluate(...)`: starts the workers, runs, stops them."""
    with Evaluator(store, workers=workers, scheduler=scheduler) as ev:
        return ev.evaluate(configs, seeds, months=months, labels=labels)


class EvaluationError(RuntimeError):
    """Some runs failed (a model error, not a user mistake): one line with the first error."""


def require_ok(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` if every run is ok, else an EvaluationError naming how many failed and why."""
    failed = frame[frame.status != "ok"]
    if not failed.empty:
        raise EvaluationError(
            f"{failed.run_id.nunique()} of {frame.run_id.nunique()} runs failed "
            f"(first: {failed.error.iloc[0]})"
        )
    return frame


def metric_names() -> list[str]:
    """Every summary metric a frame from `evaluate` carries, as its column name."""
    from simulation.market import INSTRUMENTS
    from simulation.metrics import BY_INSTRUMENT, GROUP_METRICS, GROUPS, SUMMARY_KEYS

    by_inst = [f"{d}.{k}" for d in BY_INSTRUMENT for k in INSTRUMENTS]
    top = [k for k in SUMMARY_KEYS if k not in BY_INSTRUMENT] + by_inst + ["total_credit"]
    per_group = [*GROUP_METRICS, *by_inst, "total_credit"]
    return top + [f"{g}.{m}" for g in GROUPS[1:] for m in per_group]


def check_metric(metric: str, where: str = "--metric") -> str:
    """`metric` if runs report it, else a one-line ConfigError listing some that they do."""
    known = metric_names()
    if metric not in known:
        top = ", ".join(k for k in known if "." not in k)
        raise ConfigError(
            f"{where} {metric}: not a summary metric (one of {top}; per group as "
            f"tier2.credit_access_rate; per instrument as volume_by_instrument.credit_loan)"
        )
    return metric
