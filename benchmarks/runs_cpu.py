"""CPU time of whole runs in one process: model build, the months, and the results.

Run by hand from a checkout's root, e.g. alternately in two checkouts to compare them under the
same load (CPU time, unlike wall time, is not stretched by other processes' turns):

    .venv/bin/python benchmarks/runs_cpu.py 1000 36 9     # 9 runs of 1,000 SMEs x 36 months

A tiny run comes first, so that the compiled loops are loaded (as in a Dask worker or the
dashboard); prints the median CPU milliseconds of the runs and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> None:
    """Time `runs` runs of the Shanghai baseline at `smes` SMEs and `months` months."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("smes", type=int)
    p.add_argument("months", type=int)
    p.add_argument("runs", type=int)
    a = p.parse_args(argv)
    sys.path.insert(0, os.getcwd())  # the checkout this is run from, not the installed one
    from simulation import run_one
    from simulation.scenario import load_scenario

    run_one(load_scenario("baselines/shanghai", {"population.n_smes": 50}), 0, 1)
    cfg = load_scenario("baselines/shanghai", {"population.n_smes": a.smes})
    cpu = []
    for r in range(a.runs):
        c0 = time.process_time()
        run_one(cfg, 1 + r, a.months)
        cpu.append(time.process_time() - c0)
    print(f"{a.smes} SMEs x {a.months} months: median CPU {statistics.median(cpu) * 1e3:.0f} ms "
          f"over {a.runs} runs; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
