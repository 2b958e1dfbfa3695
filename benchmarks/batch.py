"""Batch speed: the same experiment run serially in one process and on a 2-worker LocalCluster.

Run by hand (never as a timed test):

    .venv/bin/python benchmarks/batch.py                # 40 runs, core-led, 10,000 SMEs, 36 months
    .venv/bin/python benchmarks/batch.py --runs 60 --smes 5000 --workers 2

Prints wall times, the speed-up (target >= 1.6x on a 2-core machine) and the overhead per run:
  - serial overhead: (serial wall - simulation time) / runs: writing the store, bookkeeping;
  - Dask overhead: (workers x parallel wall - simulation time) / runs, in worker-seconds: cluster
    start-up and shutdown, importing the model on each worker, scheduling, moving results to the
    client, and the idle tail at the end, spread over the runs.
It also checks that both stores hold byte-identical run files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from analysis.batch import run_plan
from analysis.experiment import load_experiment
from simulation import runner  # noqa: F401 - loaded up front, as `scf` has it (fair to serial)


def _digest(store: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((store / "runs").glob("*.parquet"))
    }


def _simulation_seconds(store: Path, key: str = "seconds") -> float:
    """Total wall (or, with key="cpu_seconds", CPU) time of the runs, from the store's log."""
    lines = (store / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(json.loads(line)[key] for line in lines)


def _measure(plan, store: Path, workers: int) -> dict[str, float]:
    """One batch into a fresh store: wall, client CPU, and the runs' own wall and CPU time."""
    t0, c0 = time.perf_counter(), time.process_time()
    run_plan(plan, store, workers=workers, progress=False)
    return {
        "wall": time.perf_counter() - t0,
        "client_cpu": time.process_time() - c0,
        "sim": _simulation_seconds(store),
        "sim_cpu": _simulation_seconds(store, "cpu_seconds"),
    }


def main() -> None:
    """Time serial against parallel (alternating the order each round) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="number of runs (seeds)")
    parser.add_argument("--smes", type=int, default=10_000, help="SMEs per run")
    parser.add_argument("--months", type=int, default=36, help="months per run")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, alternating the order")
    parser.add_argument("--scenario", default="baselines/core_led")
    args = parser.parse_args()
    n, w = args.runs, args.workers

    with tempfile.TemporaryDirectory(prefix="scf-bench-") as tmp:
        root = Path(tmp)
        exp = root / "bench.yaml"
        exp.write_text(
            f"description: batch benchmark\nscenarios: [{args.scenario}]\nseeds: {n}\n"
            f"months: {args.months}\nset:\n  population.n_smes: {args.smes}\n",
            encoding="utf-8",
        )
        plan = load_experiment(exp)
        print(
            f"{n} runs of {args.scenario}, {args.smes} SMEs x {args.months} months; "
            f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start"
        )
        for r in range(args.rounds):
            order = (0, w) if r % 2 == 0 else (w, 0)
            m = {k: _measure(plan, root / f"r{r}-w{k}", k) for k in order}
            s, p = m[0], m[w]
            same = _digest(root / f"r{r}-w0") == _digest(root / f"r{r}-w{w}")
            first = "serial" if order[0] == 0 else "parallel"
            print(f"round {r + 1} ({first} first):")
            print(
                f"  serial (one process, no Dask): {s['wall']:6.1f} s ({s['wall'] / n:.3f} s/run)"
            )
            print(
                f"  LocalCluster, {w} workers:      {p['wall']:6.1f} s ({p['wall'] / n:.3f} s/run)"
            )
            print(f"  speed-up: {s['wall'] / p['wall']:.2f}x (target >= 1.6x)")
            print(
                f"  one run's simulation: {s['sim'] / n:.3f} s wall / {s['sim_cpu'] / n:.3f} s CPU "
                f"serial, {p['sim'] / n:.3f} s / {p['sim_cpu'] / n:.3f} s on workers "
                f"(wall >> CPU: other processes compete)"
            )
            print(f"  serial overhead per run: {(s['wall'] - s['sim']) / n * 1000:.0f} ms")
            print(
                f"  Dask overhead per run: {(w * p['wall'] - p['sim']) / n * 1000:.0f} worker-ms "
                f"(start-up, imports, scheduling, transfer, idle tail); client CPU "
                f"{p['client_cpu'] / n * 1000:.0f} ms/run"
            )
            print(f"  identical stores: {same}; load average now {os.getloadavg()[0]:.1f}")
        if os.getloadavg()[0] > (os.cpu_count() or 1):
            print(
                "note: the machine is busy with other processes. Where Linux shares the CPU "
                "between sessions first (autogroup), extra worker processes of one session gain "
                "little CPU, so the speed-up here mostly measures the other users: compare the "
                "wall and CPU times above, and measure on an otherwise idle machine."
            )


if __name__ == "__main__":
    main()
