"""Dashboard responsiveness: how long a baseline and policy pair takes to recompute.

Run by hand (never as a timed test):

    .venv/bin/python benchmarks/dashboard.py                 # 1,000 SMEs, 36 months, 5 repeats
    .venv/bin/python benchmarks/dashboard.py --smes 5000 --months 60 --repeats 3

Measures exactly what the page runs (`dashboards.results.run_pair`, the same `run_one` the CLI
uses), after one warm-up pair so imports and first-call costs are not counted:
  - full pair: baseline and policy both computed (a new chain, seed, size or horizon);
  - lever move: the cached baseline is reused and only the policy runs (the usual case);
  - figures: building the headline paths, instrument mix and network figures for one pair.
Prints the median and worst of each; the target is a full pair under 1 s at 1,000 SMEs and 36
months. Also prints the CPU time of the full pair, so a busy shared machine shows up as
wall >> CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dashboards.controls import Settings, baseline_config, lever_values
from dashboards.figures import mix_figure, network_figure, paths_figure
from dashboards.layout import tier_layout
from dashboards.results import instrument_volumes, network_graph, run_pair, status_matrix

TARGET_SECONDS = 1.0


def _settings(smes: int, months: int, seed: int, chain: str) -> Settings:
    s = Settings(baseline=f"chain:{chain}", n_smes=smes, months=months, seed=seed)
    s.levers = lever_values(baseline_config(s))
    return s


def _moved(s: Settings, value: float) -> Settings:
    return Settings(
        s.baseline, s.n_smes, s.seed, s.months, {**s.levers, "core.confirm_willingness": value}
    )


def _time(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _figures(pair) -> None:
    s = pair.settings
    g = network_graph(pair.policy.config, s.seed)
    pos = tier_layout(g)
    st = status_matrix(pair.policy)
    paths_figure(pair.baseline, pair.policy, "en")
    mix_figure(instrument_volumes(pair.baseline), instrument_volumes(pair.policy), "en")
    network_figure(g, pos, st[-1], "en")


def _line(name: str, walls: list[float], cpus: list[float] | None = None) -> str:
    text = f"  {name:<34} median {statistics.median(walls):6.3f} s   worst {max(walls):6.3f} s"
    if cpus:
        text += f"   (CPU median {statistics.median(cpus):.3f} s)"
    return text


def main() -> None:
    """Time the pair and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smes", type=int, default=1000)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chain", default="core_led")
    args = ap.parse_args()

    s = _settings(args.smes, args.months, 1, args.chain)
    _figures(run_pair(_moved(s, 0.9)))  # warm-up: imports, first-call costs

    full, full_cpu, lever, figs = [], [], [], []
    for i in range(args.repeats):
        si = _settings(args.smes, args.months, 100 + i, args.chain)  # new seed: no cache hit
        w, c = _time(lambda si=si: run_pair(_moved(si, 0.9), {}))
        full.append(w)
        full_cpu.append(c)
        cache: dict = {}
        pair = run_pair(_moved(si, 0.9), cache)
        lever.append(_time(lambda si=si, cache=cache: run_pair(_moved(si, 0.6), cache))[0])
        figs.append(_time(lambda pair=pair: _figures(pair))[0])
    print(
        f"dashboard recompute, {args.chain}, {args.smes:,} SMEs x {args.months} months, "
        f"{args.repeats} repeats (after a warm-up):"
    )
    print(_line("full pair (baseline + policy)", full, full_cpu))
    print(_line("lever move (cached baseline)", lever))
    print(_line("figures + network layout, one pair", figs))
    verdict = "meets" if statistics.median(full) < TARGET_SECONDS else "MISSES"
    print(f"  target: full pair < {TARGET_SECONDS:.1f} s -> {verdict} (median)")


if __name__ == "__main__":
    main()
