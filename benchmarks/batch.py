"""Batch speed: `scf batch` in one process against `scf batch` on 2 local Dask workers.

Run by hand (never as a timed test):

    .venv/bin/python benchmarks/batch.py --rounds 3     # 40 runs, core-led, 10,000 SMEs, 36 months
    .venv/bin/python benchmarks/batch.py --runs 60 --smes 5000 --workers 2

Each round times the two commands a researcher types, as fresh processes, end to end (Python
start-up, imports, reading the experiment, the cluster's start and shutdown, writing the store):

    scf batch EXP --out A --workers 0      # serial: this process, no Dask
    scf batch EXP --out B --workers 2      # a LocalCluster of 2 worker processes

alternating which goes first. It prints both wall times, the speed-up (target >= 1.6x on a
2-core machine), the runs' own simulation time from the store's log, and the overhead per run:
  - serial: (wall - simulation) / runs: start-up, imports, writing the store;
  - Dask: (workers x wall - simulation) / runs, in worker-seconds: all of the above plus the
    cluster's start-up and shutdown, scheduling, moving results, and the idle tail at the end.
It checks that both stores hold byte-identical run files, and ends with the median speed-up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCF = Path(sys.executable).with_name("scf")  # the console script, as a researcher runs it


def _digest(store: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((store / "runs").glob("*.parquet"))
    }


def _log_total(store: Path, key: str) -> float:
    """Total wall ("seconds") or CPU ("cpu_seconds") time of the runs, from the store's log."""
    lines = (store / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(json.loads(line)[key] for line in lines)


def _measure(exp: Path, store: Path, workers: int) -> dict[str, float]:
    """One `scf batch` into a fresh store, as a new process: wall, and the runs' wall and CPU."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(SCF), "batch", str(exp), "--out", str(store), "--workers", str(workers),
         "--no-progress"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"scf batch --workers {workers} failed ({done.returncode}): {done.stderr}")
    return {
        "wall": wall,
        "sim": _log_total(store, "seconds"),
        "sim_cpu": _log_total(store, "cpu_seconds"),
    }


SPIN = (  # pure Python arithmetic: no memory traffic, no I/O
    "import time\nt = time.process_time()\nx = 0\nfor i in range(12_000_000):\n"
    "    x += i * i % 7\nprint(time.process_time() - t)"
)


def _core_contention(k: int) -> float:
    """How much slower one CPU-bound Python process runs when `k` run at once (1.0: not at all).

    The ceiling of any speed-up on this machine is about k / this: on a VM two vCPUs can share a
    physical core or its caches.
    """

    def spin(n: int) -> float:
        procs = [
            subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
            for _ in range(n)
        ]
        return statistics.mean(float(p.communicate()[0]) for p in procs)

    # interleaved, median of three: the host's load drifts from minute to minute
    return statistics.median(spin(k) / spin(1) for _ in range(3))


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
    if not SCF.exists():
        sys.exit(f"{SCF} not found: install the project first (./.ci/setup)")

    speedups = []
    with tempfile.TemporaryDirectory(prefix="scf-bench-") as tmp:
        root = Path(tmp)
        exp = root / "bench.yaml"
        exp.write_text(
            f"description: batch benchmark\nscenarios: [{args.scenario}]\nseeds: {n}\n"
            f"months: {args.months}\nset:\n  population.n_smes: {args.smes}\n",
            encoding="utf-8",
        )
        print(
            f"{n} runs of {args.scenario}, {args.smes} SMEs x {args.months} months; "
            f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start"
        )
        slowdown = _core_contention(w)
        print(
            f"this machine: a CPU-bound process runs {slowdown:.2f}x as long when {w} run at "
            f"once (median of 3, interleaved), so no batch can gain much more than "
            f"{w / slowdown:.2f}x here now"
        )
        for r in range(args.rounds):
            order = (0, w) if r % 2 == 0 else (w, 0)
            m = {k: _measure(exp, root / f"r{r}-w{k}", k) for k in order}
            s, p = m[0], m[w]
            same = _digest(root / f"r{r}-w0") == _digest(root / f"r{r}-w{w}")
            speedups.append(s["wall"] / p["wall"])
            first = "serial" if order[0] == 0 else "parallel"
            print(f"round {r + 1} ({first} first):")
            print(f"  scf batch --workers 0: {s['wall']:6.1f} s ({s['wall'] / n:.3f} s/run)")
            print(f"  scf batch --workers {w}: {p['wall']:6.1f} s ({p['wall'] / n:.3f} s/run)")
            print(f"  speed-up: {speedups[-1]:.2f}x (target >= 1.6x)")
            print(
                f"  one run's simulation: {s['sim'] / n:.3f} s wall / {s['sim_cpu'] / n:.3f} s CPU "
                f"serial, {p['sim'] / n:.3f} s / {p['sim_cpu'] / n:.3f} s on workers"
            )
            print(f"  serial overhead per run: {(s['wall'] - s['sim']) / n * 1000:.0f} ms")
            print(
                f"  Dask overhead per run: {(w * p['wall'] - p['sim']) / n * 1000:.0f} worker-ms "
                f"(start-up, scheduling, transfer, shutdown, idle tail)"
            )
            print(f"  identical stores: {same}; load average now {os.getloadavg()[0]:.1f}")
    if len(speedups) > 1:
        print(
            f"median speed-up over {len(speedups)} rounds: {statistics.median(speedups):.2f}x "
            f"(range {min(speedups):.2f}x to {max(speedups):.2f}x)"
        )
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print(
            "note: the machine is busy with other processes. Where Linux shares the CPU "
            "between sessions first (autogroup), extra worker processes of one session gain "
            "little CPU, so the speed-up here mostly measures the other users: compare the "
            "wall and CPU times above, and measure on an otherwise idle machine."
        )


if __name__ == "__main__":
    main()
