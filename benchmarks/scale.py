"""Scale benchmark: Shanghai's SMEs for three years, and Mesa's Boltzmann example at the same size.

Run by hand, never as a timed test:

    .venv/bin/python benchmarks/scale.py                       # 10k, 100k, 500k SMEs x 36 months
    .venv/bin/python benchmarks/scale.py --sizes 10000 --months 12 --boltzmann-steps 5
    .venv/bin/python benchmarks/scale.py --sizes 1000 10000 --repeat 5  # median of 5 ratios

Each measurement runs in a fresh subprocess, so peak memory (RSS) belongs to that size alone. The
scenario is `baselines/shanghai` when that file exists, otherwise all four chain types together
(`chain.type=mixed`). The run is exactly what `run_one` does: set-up (network, population, the
Mesa agents' ids: SME and core agents are made the first time anything looks at `model.agents`,
which a run never does; that is timed apart, after the run, and printed), the monthly steps,
and the result (tidy frame, summary, status matrix). Mesa's reference is the Boltzmann wealth
model that ships with mesa at the same number of agents, steps only, over as many steps as we run
months (from its start, as ours); the ratios compare our SME-months per second (whole run, and
steps only) with its agent-steps per second.
Targets (issue 8): 500,000 SMEs x 36 months in at most 30 s and 3 GiB, at least 10x Boltzmann.
Targets (issue 16): at least 10x Boltzmann at 1,000 SMEs x 36 months (the model build included),
25x at 10,000, and at 500,000 35x in at most 6 s wall and 1.5 GiB; each is printed as met or not.

The monthly cycle's hot loops are compiled by numba and cached on disk. Each timed run first makes
one small run in its process, so the figures are those of a process that has its compiled code
loaded (a Dask worker, the dashboard, a second run); what a fresh process pays once, to compile
(empty cache) or to load the cache, is measured on its own and printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10_000, 100_000, 500_000)
TARGET_SECONDS, TARGET_GIB, TARGET_RATIO = 30.0, 3.0, 10.0
ISSUE16_RATIO = {1_000: 10.0, 10_000: 25.0, 500_000: 35.0}  # whole-run ratio to Boltzmann


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def scenario_name() -> str:
    """The Shanghai baseline when it exists, else the four chain types mixed."""
    from simulation.scenario import SCENARIO_DIR

    return "baselines/shanghai" if (SCENARIO_DIR / "baselines/shanghai.yaml").exists() else "mixed"


def _config(n: int):
    from simulation.scenario import load_scenario

    name = scenario_name()
    if name == "mixed":
        return load_scenario("baselines/core_led", {"population.n_smes": n, "chain.type": "mixed"})
    return load_scenario(name, {"population.n_smes": n})


def _small_run() -> None:
    """Small runs that take every compiled path a timed run takes, so that it loads no compiled
    code: 50 SMEs (lenders' serving order by the compiled merge sort) and 1,000 SMEs' first two
    months (most in need: more bidders than that sort serves, so the keyed sort), and 3,000
    SMEs' first month (the month's draws in their compiled loop, from about 2,500 SMEs)."""
    from simulation import run_one

    run_one(_config(50), 0, 1)
    run_one(_config(1000), 0, 2)
    run_one(_config(3000), 0, 1)


def child_first_run() -> dict:
    """What a process's first run pays for the compiled loops: CPU time of a small run, first
    and again (imports excluded)."""
    import simulation.model  # noqa: F401

    c0 = time.process_time()
    _small_run()
    c1 = time.process_time()
    _small_run()
    return {"first": c1 - c0, "again": time.process_time() - c1}


def child_scf(n: int, months: int, seed: int) -> dict:
    """One run, timed the way `run_one` performs it (after a small run that loads the kernels)."""
    import numpy as np

    from simulation.model import SCFModel
    from simulation.runner import RunResult, _clean

    _small_run()
    cfg = _config(n)
    c0, t0 = time.process_time(), time.perf_counter()
    model = SCFModel(cfg, seed=seed)
    t1 = time.perf_counter()
    for _ in range(months):
        model.step()
    t2 = time.perf_counter()
    rec = model.recorder
    result = RunResult(
        config=cfg,
        seed=seed,
        months=months,
        monthly=rec.frame(),
        summary=_clean(rec.summary()),
        status=np.stack(rec.status),
    )
    t3, c3 = time.perf_counter(), time.process_time()
    peak = _peak_rss_gib()
    n_agents = len(model.agents)  # the agents' objects made now, on first look
    return {
        "setup": t1 - t0,
        "steps": t2 - t1,
        "result": t3 - t2,
        "total": t3 - t0,
        "cpu": c3 - c0,
        "peak_gib": peak,
        "n_agents": n_agents,
        "agents_s": time.perf_counter() - t3,
        "agents_peak_gib": _peak_rss_gib(),
        "credit_access_rate": result.summary["credit_access_rate"],
    }


def child_boltzmann(n: int, steps: int) -> dict:
    """Mesa's Boltzmann wealth example at n agents: its first `steps` steps, steps only."""
    from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannScenario, BoltzmannWealth

    model = BoltzmannWealth(BoltzmannScenario(n=n, width=200, height=200, rng=1))
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        model.step()
    return {
        "steps": time.perf_counter() - t0,
        "cpu": time.process_time() - c0,
        "peak_gib": _peak_rss_gib(),
    }


def _in_subprocess(*args: str, env_extra: dict[str, str] | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           **(env_extra or {})}
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    """Measure every size in its own subprocess and print one line per size."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--months", type=int, default=36)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--boltzmann-steps",
        type=int,
        default=None,
        help="Boltzmann steps timed per size (default: as many as months; its later "
        "steps are faster, as wealth concentrates); 0 skips the comparison",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each size this many times, ours and Boltzmann's alternately, each in a "
        "fresh process; every ratio is printed, and the median is held against the target",
    )
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.boltzmann_steps is None:
        a.boltzmann_steps = a.months
    sys.path.insert(0, str(ROOT))
    if a.child:
        kind, *rest = a.child
        if kind == "first":
            res = child_first_run()
        elif kind == "scf":
            res = child_scf(*map(int, rest))
        else:
            res = child_boltzmann(*map(int, rest))
        print(json.dumps(res))
        return

    print(
        f"SCF-Sim scale benchmark: scenario {scenario_name()}, {a.months} months, seed {a.seed}; "
        f"Boltzmann: {a.boltzmann_steps} steps"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    print(f"load average before: {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as cache:  # an empty numba cache: compile, then load
        cold = _in_subprocess("first", env_extra={"NUMBA_CACHE_DIR": cache})
        warm = _in_subprocess("first", env_extra={"NUMBA_CACHE_DIR": cache})
    print(
        f"compiled loops, once per process (CPU s): compile {cold['first'] - cold['again']:.2f} "
        f"with an empty cache, load {warm['first'] - warm['again']:.2f} from the cache "
        f"(a small run's first call less its second; import numba not included)"
    )
    head = (
        f"{'SMEs':>9} {'set-up s':>8} {'s/month':>7} {'total s':>7} {'cpu s':>6} "
        f"{'peak GiB':>8} {'SME-mo/s':>9} {'steps':>9} | {'Boltzmann':>9} {'ratio':>6} "
        f"{'steps':>6} {'cpu ratio':>9}"
    )
    print(head)
    print("-" * len(head))
    rows = []
    for n in a.sizes:
        ratios = []
        for _ in range(max(a.repeat, 1)):
            r = _in_subprocess("scf", str(n), str(a.months), str(a.seed))
            rate, step_rate = n * a.months / r["total"], n * a.months / r["steps"]
            line = (
                f"{n:>9,} {r['setup']:>8.2f} {r['steps'] / a.months:>7.3f} {r['total']:>7.2f} "
                f"{r['cpu']:>6.2f} {r['peak_gib']:>8.2f} {rate:>9,.0f} {step_rate:>9,.0f} |"
            )
            if a.boltzmann_steps > 0:
                bz = _in_subprocess("boltzmann", str(n), str(a.boltzmann_steps))
                b_rate = n * a.boltzmann_steps / bz["steps"]
                ratios.append(rate / b_rate)
                cpu_ratio = (n * a.months / r["cpu"]) / (n * a.boltzmann_steps / bz["cpu"])
                line += (f" {b_rate:>9,.0f} {rate / b_rate:>5.1f}x {step_rate / b_rate:>5.1f}x "
                         f"{cpu_ratio:>8.1f}x")
            print(line, flush=True)
        print(f"{'':>9} then {r['n_agents']:,} agents made on first look at model.agents: "
              f"{r['agents_s']:.2f} s more, peak {r['agents_peak_gib']:.2f} GiB", flush=True)
        ratio = statistics.median(ratios) if ratios else None
        if len(ratios) > 1:
            print(f"{'':>9} ratios {', '.join(f'{x:.1f}x' for x in ratios)}: median "
                  f"{ratio:.1f}x", flush=True)
        rows.append((n, r, ratio))
    print(f"load average after: {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("Times are wall-clock seconds; cpu s is the run's process CPU time. SME-mo/s: SME-months")
    print("per second over the whole run (set-up, steps, results); steps: over the monthly steps")
    print("only. Boltzmann: its agent-steps per second (steps only, same number of agents); ratio:")
    print("our whole-run SME-mo/s over that; steps: our steps-only rate over that; cpu ratio: the")
    print("whole-run ratio in CPU time (ours) over CPU time (Boltzmann's steps): the one to read")
    print("when other processes load the machine.")
    if a.months == 36:  # issue 16's targets: ratio at each size; 500,000 also wall and peak
        for n, r, ratio in rows:
            if n not in ISSUE16_RATIO or ratio is None:
                continue
            ok = ratio >= ISSUE16_RATIO[n]
            line = f"issue 16 at {n:,} x 36: ratio >= {ISSUE16_RATIO[n]:.0f}x: {ratio:.1f}x"
            if n == 500_000:
                ok_500 = r["total"] <= 6.0 and r["peak_gib"] <= 1.5
                line += (f"; total <= 6 s: {r['total']:.1f} s; peak <= 1.5 GiB: "
                         f"{r['peak_gib']:.2f} GiB")
                ok = ok and ok_500
            print(f"{line} -> {'met' if ok else 'NOT met'}")
    for n, r, ratio in rows:
        if n == 500_000 and a.months == 36:
            ok = r["total"] <= TARGET_SECONDS and r["peak_gib"] <= TARGET_GIB
            print(
                f"targets at 500,000 x 36: total <= {TARGET_SECONDS:.0f} s and peak <= "
                f"{TARGET_GIB:.0f} GiB: {'met' if ok else 'NOT met'}"
                + (
                    ""
                    if ratio is None
                    else f"; whole-run ratio >= {TARGET_RATIO:.0f}x: "
                    f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}"
                )
            )


if __name__ == "__main__":
    main()
