"""Running a baseline and policy pair, and reading headline indicators from the results.

Pure functions over `simulation.run_one`: no Solara here, so the unit tests and the benchmark use
exactly what the page uses. Baseline and policy share the seed, so with common random numbers
their difference is the paired effect of the levers. A per-session cache keeps the last baseline:
moving a lever then recomputes only the policy run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from dashboards.controls import Settings, baseline_config, policy_config
from simulation import RunResult, run_one
from simulation.config import ScenarioConfig

# Headline indicators: (summary key, format). Formats: pct, money, count, x.
INDICATORS: tuple[tuple[str, str], ...] = (
    ("credit_access_rate", "pct"),
    ("funded_share", "pct"),
    ("financing_gap", "money"),
    ("avg_cost_of_funds", "pct"),
    ("lost_output", "money"),
    ("sme_defaults", "count"),
    ("guarantee_outstanding", "money"),
    ("guarantor_leverage", "x"),
    ("guarantee_payout_rate", "pct"),
    ("bank_npl_ratio", "pct"),
    ("confirmations_outstanding", "money"),
    ("public_cost", "money"),
)
# Monthly paths shown for both runs (column of RunResult.monthly, format).
PATHS: tuple[tuple[str, str], ...] = (
    ("credit_access_rate", "pct"),
    ("avg_cost_of_funds", "pct"),
    ("financing_gap", "money"),
    ("sme_defaults", "count"),
    ("guarantee_outstanding", "money"),
    ("guarantor_leverage", "x"),
)


@dataclass
class Pair:
    """A finished baseline and policy pair."""

    settings: Settings
    baseline: RunResult
    policy: RunResult
    seconds: float
    baseline_cached: bool


def _base_key(s: Settings) -> tuple:
    return (s.baseline, s.n_smes, s.seed, s.months)


def run_pair(
    s: Settings,
    cache: dict[tuple, RunResult] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Pair:
    """Run (or reuse) the baseline and run the policy, with the same seed and horizon."""
    t0 = time.perf_counter()
    key = _base_key(s)
    base = cache.get(key) if cache is not None else None
    cached = base is not None
    if base is None:
        if on_stage:
            on_stage("baseline")
        base = run_one(baseline_config(s), s.seed, s.months)
        if cache is not None:
            cache.clear()  # one baseline per session is enough; keeps memory flat
            cache[key] = base
    if on_stage:
        on_stage("policy")
    pol = run_one(policy_config(s), s.seed, s.months)
    return Pair(s, base, pol, time.perf_counter() - t0, cached)


def estimate_seconds(last: Pair | None, s: Settings) -> float | None:
    """Expected time of the next pair, scaled from the last one by runs x SMEs x months."""
    if last is None or last.seconds <= 0:
        return None
    runs_last = 1 if last.baseline_cached else 2
    rate = last.seconds / (runs_last * last.settings.n_smes * last.settings.months)
    runs = 1 if _base_key(s) == _base_key(last.settings) else 2
    return rate * runs * s.n_smes * s.months


def headline(result: RunResult) -> dict[str, float]:
    """The headline indicators of a run (whole run, all SMEs)."""
    out: dict[str, float] = {}
    for key, _ in INDICATORS:
        v = result.summary.get(key)
        out[key] = float("nan") if v is None else float(v)
    return out


def fmt_value(kind: str, v: float) -> str:
    """Display text of an indicator value."""
    if v != v:  # NaN
        return "–"
    if kind == "pct":
        return f"{100 * v:.1f}%"
    if kind == "x":
        return f"{v:.2f}x"
    return f"{v:,.0f}"  # money (10k CNY) and counts


def fmt_diff(kind: str, d: float) -> str:
    """Display text of a policy-minus-baseline difference (percentage points for rates)."""
    if d != d:
        return "–"
    if kind == "pct":
        return f"{100 * d:+.1f} pp"
    if kind == "x":
        return f"{d:+.2f}x"
    return f"{d:+,.0f}"


def status_matrix(result: RunResult) -> np.ndarray:
    """SME status names as a (months, n_smes) array, from `network_frame()`."""
    frame = result.network_frame().sort_values(["month", "sme"], kind="stable")
    months = int(frame["month"].max())
    return frame["status"].astype(str).to_numpy().reshape(months, -1)


def network_graph(cfg: ScenarioConfig, seed: int) -> nx.DiGraph:
    """The run's supply network (same seed => same firms as the run) as a DiGraph."""
    from simulation.model import supply_network

    net = supply_network(cfg, seed)
    return net.to_networkx(cfg.payment.term_months, cfg.population.cost_share)


def instrument_rates(result: RunResult) -> dict[str, float | None]:
    """All-in annual rate paid on each instrument over the run; None where nobody used it."""
    return dict(result.summary.get("rate_by_instrument") or {})


def instrument_volumes(result: RunResult) -> dict[str, float]:
    """Total financing volume by instrument over the run (10k CNY)."""
    vol: dict[str, Any] = result.summary.get("volume_by_instrument") or {}
    return {k: float(v) for k, v in vol.items()}
