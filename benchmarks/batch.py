"""Batch speed: the same experiment run serially in one process and on a 2-worker LocalCluster.

Run by hand (never as a timed test):

    .venv/bin/python benchmarks/batch.py                # 40 runs, core-led, 3,000 SMEs, 24 months
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


def _digest(store: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((store / "runs").glob("*.parquet"))
    }


def _simulation_seconds(store: Path, key: str = "seconds") -> float:
    """Total wall (or, with key="cpu_seconds", CPU) time of the runs, from the store's log."""
    lines = (store / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(json.loads(line)[key] for line in lines)


def main() -> None:
    """Time serial against parallel and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="number of runs (seeds)")
    parser.add_argument("--smes", type=int, default=3000, help="SMEs per run")
    parser.add_argument("--months", type=int, default=24, help="months per run")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--scenario", default="baselines/core_led")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="scf-bench-") as tmp:
        root = Path(tmp)
        exp = root / "bench.yaml"
        exp.write_text(
            f"description: batch benchmark\nscenarios: [{args.scenario}]\nseeds: {args.runs}\n"
            f"months: {args.months}\nset:\n  population.n_smes: {args.smes}\n",
            encoding="utf-8",
        )
        plan = load_experiment(exp)
        print(
            f"{args.runs} runs of {args.scenario}, {args.smes} SMEs x {args.months} months; "
            f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start"
        )

        t0 = time.perf_counter()
        run_plan(plan, root / "serial", workers=0, progress=False)
        serial = time.perf_counter() - t0
        sim_serial = _simulation_seconds(root / "serial")

        t0, c0 = time.perf_counter(), time.process_time()
        run_plan(plan, root / "parallel", workers=args.workers, progress=False)
        parallel, client_cpu = time.perf_counter() - t0, time.process_time() - c0
        sim_parallel = _simulation_seconds(root / "parallel")

        identical = _digest(root / "serial") == _digest(root / "parallel")
        n = args.runs
        print(f"serial (one process, no Dask): {serial:7.1f} s  ({serial / n:.3f} s per run)")
        print(
            f"LocalCluster, {args.workers} workers:   {parallel:7.1f} s  "
            f"({parallel / n:.3f} s per run)"
        )
        print(f"speed-up: {serial / parallel:.2f}x (target >= 1.6x)")
        print(
            f"simulation time per run: {sim_serial / n:.3f} s serial, "
            f"{sim_parallel / n:.3f} s on workers"
        )
        cpu_serial = _simulation_seconds(root / "serial", "cpu_seconds")
        cpu_parallel = _simulation_seconds(root / "parallel", "cpu_seconds")
        print(
            f"simulation CPU time per run: {cpu_serial / n:.3f} s serial, "
            f"{cpu_parallel / n:.3f} s on workers (wall >> CPU means other processes compete)"
        )
        print(f"serial overhead per run: {(serial - sim_serial) / n * 1000:.1f} ms")
        print(
            f"Dask overhead per run: {(args.workers * parallel - sim_parallel) / n * 1000:.0f} "
            f"worker-ms (start-up, imports, scheduling, transfer, idle tail)"
        )
        print(
            f"client CPU per run (in-process scheduler, receiving results, writing the store): "
            f"{client_cpu / n * 1000:.0f} ms"
        )
        print(f"load average at end {os.getloadavg()[0]:.1f}; identical stores: {identical}")


if __name__ == "__main__":
    main()
