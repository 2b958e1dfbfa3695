"""The year 2020 in Shanghai, split into what the model's own dynamics, the year's macro conditions
and the policy package each account for.

`packages/shanghai_2020` runs 24 months: months 1-12 are 2019 under the pre-policy state, and from
month 13 its schedule brings in the year's changes, each tagged with a group (`macro`: policy rates,
the first-quarter collapse and recovery of demand, repayment deferral; `package`: the city's
measures). A figure's change over 2020 is the run's value over the last quarter of 2020 against the
last quarter of 2019 (loan cohorts cycle with the payment term). Runs with a subset of the groups
share their seeds (common random numbers), so per seed the two groups' Shapley values add up
exactly to the change with both minus the change with neither (the model's drift in a year with
no change at all), which is reported beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analysis.shapley import exact_shapley
from analysis.stats import mean_interval
from simulation.config import ScenarioConfig
from simulation.runner import RunResult, run_one
from simulation.scenario import load_scenario

SCENARIO = "packages/shanghai_2020"
GROUPS = ("macro", "package")
START, END = 12, 24  # the last months of 2019 and of 2020


def _quarter_mean(r: RunResult, column: str, month: int) -> float:
    df = r.monthly[r.monthly.group == "all"]
    return float(df.loc[(df.month > month - 3) & (df.month <= month), column].mean())


def _growth(column: str) -> Callable[[RunResult], float]:
    return lambda r: _quarter_mean(r, column, END) / _quarter_mean(r, column, START) - 1.0


def _points(column: str) -> Callable[[RunResult], float]:
    return lambda r: 100 * (_quarter_mean(r, column, END) - _quarter_mean(r, column, START))


@dataclass(frozen=True)
class YearFigure:
    """A change the study records for 2020 and how the model measures it within a run."""

    label: str
    study: str
    target: float
    unit: str  # "pct" (a growth, as a fraction) or "pt" (percentage points)
    change: Callable[[RunResult], float]


FIGURES: tuple[YearFigure, ...] = (
    YearFigure("small and micro loans", "+36.93%", 0.3693, "pct", _growth("loan_balance")),
    YearFigure("small and micro borrowers", "+107.5% (+41,333)", 41_333 / 38_445, "pct",
               _growth("borrowers")),
    YearFigure("guaranteed lending", "+49%", 0.49, "pct", _growth("guarantee_outstanding")),
    YearFigure("average inclusive loan rate", "-1.46 pt", -1.46, "pt", _points("avg_loan_rate")),
)


def coalition_config(config: ScenarioConfig, groups: tuple[str, ...]) -> ScenarioConfig:
    """The scenario with only the scheduled changes of `groups`."""
    kept = [c for c in config.schedule if c.group in groups]
    return config.model_copy(update={"schedule": kept})


@dataclass
class Part:
    """One part of a figure's change: per-seed values, their mean and 95% interval."""

    name: str
    values: np.ndarray

    @property
    def interval(self) -> tuple[float, float, float]:
        return mean_interval(self.values)


def decompose_year(seeds: int = 8, config: ScenarioConfig | None = None
                   ) -> list[tuple[YearFigure, list[Part]]]:
    """Per figure: its total change over 2020, the drift (no change at all) and each group's
    Shapley value, seed by seed (total = drift + macro + package on every seed)."""
    cfg = config or load_scenario(SCENARIO)
    unknown = {c.group for c in cfg.schedule} - set(GROUPS)
    if unknown:
        raise ValueError(f"{SCENARIO}: schedule groups must be {GROUPS} (got {sorted(unknown)})")
    if seeds < 2:
        raise ValueError("the 2020 decomposition needs at least 2 seeds for an interval")
    seq = range(1, seeds + 1)
    runs = {}
    for mask in range(1 << len(GROUPS)):
        groups = tuple(g for i, g in enumerate(GROUPS) if mask >> i & 1)
        c = coalition_config(cfg, groups)
        runs[mask] = [run_one(c, s, END) for s in seq]
    out = []
    for f in FIGURES:
        v = {m: np.array([f.change(r) for r in rs]) for m, rs in runs.items()}
        phi = exact_shapley(len(GROUPS), lambda m, v=v: v[m])
        parts = [Part("total", v[(1 << len(GROUPS)) - 1]), Part("drift", v[0])]
        parts += [Part(g, phi[i]) for i, g in enumerate(GROUPS)]
        out.append((f, parts))
    return out


def year_records(parts: list[tuple[YearFigure, list[Part]]]) -> list[dict[str, object]]:
    """The decomposition as plain dicts (for JSON)."""
    out = []
    for f, ps in parts:
        rec: dict[str, object] = {"figure": f.label, "study": f.study, "target": f.target,
                                  "unit": f.unit}
        for p in ps:
            m, lo, hi = p.interval
            rec[p.name] = {"mean": m, "ci95_low": lo, "ci95_high": hi,
                           "per_seed": [float(x) for x in p.values]}
        out.append(rec)
    return out
