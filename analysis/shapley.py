"""Shapley values: how much of a package's effect each of its players (levers) accounts for.

A player is a named group of `path: value` overrides on a base scenario (a lever such as the
guarantee cap, or a whole block such as "macro conditions"). A coalition S is the base with the
overrides of the players in S; its value v(S) is a summary metric of one run. For each seed (the
runs of one seed share their firms and shocks: common random numbers) the Shapley value of
player i is the average, over the orders in which the players could join, of what i adds when
it joins. Per seed they sum exactly to the package's total effect v(all) - v(none); the mean
over seeds and its t-interval are reported.

Up to `max_exact` players (8 by default: 256 coalitions a seed) every coalition is run and the
values are exact for each seed. Beyond, each seed draws its own random join orders (antithetic
pairs: an order and its reverse), so the interval over seeds covers both the model's noise and
the sampling's; the per-seed sums stay exact. The interaction share is the part of the total
effect that no lever has alone: (total - sum of solo effects) / total, where a lever's solo
effect is v({i}) - v(none).

Public API (also used by `scf compare --decompose` and `scf replicate`):

    result = decompose(base_config, {"cap": {"guarantor.per_firm_cap": 1000.0},
                                     "fee": {"guarantor.fee_rate": 0.009}},
                       seeds=range(1, 9), months=24, metrics=["credit_access_rate"])
    result.table    # one row per (metric, player): value, ci_low, ci_high, solo, share, ...
    result.totals   # one row per metric: base, full, total effect, interaction share, ...

`shapley_values(n, value)` is the same arithmetic on any value function of coalitions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from analysis.stats import CONFIDENCE, mean_interval
from simulation.config import ScenarioConfig
from simulation.scenario import ConfigError, parameter, with_overrides

MAX_EXACT = 8
MAX_PLAYERS = 40

Coalition = int  # a bit mask over the players: bit i set when player i is in
Value = Callable[[Coalition], np.ndarray]


# ----------------------------------------------------------------------------- the arithmetic


def _weights(n: int) -> np.ndarray:
    """Shapley weight |S|! (n - |S| - 1)! / n! of a coalition S of size s not holding i."""
    return np.array(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    )


def all_coalitions(n: int) -> list[Coalition]:
    """Every coalition of n players, by size then lexicographically."""
    return [sum(1 << i for i in c) for k in range(n + 1) for c in combinations(range(n), k)]


def exact_shapley(n: int, value: Value) -> np.ndarray:
    """Exact Shapley values (n players x metrics) of a value function over all 2^n coalitions."""
    w = _weights(n)
    cache = {c: np.asarray(value(c), dtype=float) for c in all_coalitions(n)}
    phi = np.zeros((n, *cache[0].shape))
    for i in range(n):
        bit = 1 << i
        for c, v in cache.items():
            if not c & bit:
                phi[i] += w[c.bit_count()] * (cache[c | bit] - v)
    return phi


def join_orders(n: int, count: int, rng: np.random.Generator) -> list[list[int]]:
    """`count` random orders of n players, as antithetic pairs (an order, then its reverse)."""
    orders: list[list[int]] = []
    while len(orders) < count:
        order = [int(x) for x in rng.permutation(n)]
        orders.append(order)
        if len(orders) < count:
            orders.append(order[::-1])
    return orders


def prefixes(order: Sequence[int]) -> list[Coalition]:
    """The coalitions met along one join order: none, then each player added in turn."""
    out, c = [0], 0
    for i in order:
        c |= 1 << i
        out.append(c)
    return out


def sampled_shapley(n: int, value: Value, orders: Iterable[Sequence[int]]) -> np.ndarray:
    """Shapley values estimated as the mean marginal contribution over the given join orders."""
    orders = list(orders)
    phi: np.ndarray | None = None
    for order in orders:
        chain = prefixes(order)
        vals = [np.asarray(value(c), dtype=float) for c in chain]
        if phi is None:
            phi = np.zeros((n, *vals[0].shape))
        for step, i in enumerate(order):
            phi[i] += vals[step + 1] - vals[step]
    assert phi is not None
    return phi / len(orders)


def shapley_values(
    n: int, value: Value, orders: Iterable[Sequence[int]] | None = None
) -> np.ndarray:
    """Shapley values of n players: exact without `orders`, else sampled over those orders."""
    return exact_shapley(n, value) if orders is None else sampled_shapley(n, value, orders)


# ----------------------------------------------------------------------------- the design


@dataclass(frozen=True)
class Design:
    """Which coalitions each seed needs: all of them (exact) or those of its join orders."""

    n: int
    seeds: list[int]
    exact: bool
    orders: dict[int, list[list[int]]]  # seed -> join orders (empty when exact)

    def coalitions(self, seed: int) -> list[Coalition]:
        """The coalitions to run for one seed (the solo ones always included)."""
        if self.exact:
            return all_coalitions(self.n)
        need = {0, (1 << self.n) - 1, *(1 << i for i in range(self.n))}
        for order in self.orders[seed]:
            need.update(prefixes(order))
        return sorted(need, key=lambda c: (c.bit_count(), c))

    def pairs(self) -> list[tuple[Coalition, int]]:
        """Every (coalition, seed) to run."""
        return [(c, s) for s in self.seeds for c in self.coalitions(s)]


def make_design(
    n: int,
    seeds: Sequence[int],
    *,
    max_exact: int = MAX_EXACT,
    orders: int | None = None,
    sampler_seed: int = 0,
) -> Design:
    """Exact for n <= max_exact; else `orders` join orders a seed (default 2n), drawn from a
    generator seeded by (sampler_seed, seed) so each seed's orders do not depend on the others."""
    if n < 1:
        raise ConfigError("players: give at least one player (lever)")
    if n > MAX_PLAYERS:
        raise ConfigError(f"players: at most {MAX_PLAYERS} (got {n})")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("seeds: give at least one seed")
    if n <= max_exact:
        return Design(n, seeds, True, {})
    count = orders if orders is not None else 2 * n
    if count < 2:
        raise ConfigError(f"--orders: must be >= 2 (got {count})")
    drawn = {s: join_orders(n, count, np.random.default_rng([sampler_seed, s])) for s in seeds}
    return Design(n, seeds, False, drawn)


# ----------------------------------------------------------------------------- on the model


@dataclass
class ShapleyResult:
    """Shapley values of the players, per metric, over paired seeds.

    `per_seed`: (seeds, players, metrics) Shapley values; `solo`: (seeds, players, metrics)
    effects of each player alone; `base` and `full`: (seeds, metrics) values with no player and
    with all. `table` and `totals` summarise them with t-intervals over seeds.
    """

    players: list[str]
    metrics: list[str]
    seeds: list[int]
    exact: bool
    orders: int  # join orders a seed (0 when exact)
    runs: int  # distinct runs evaluated
    per_seed: np.ndarray
    solo: np.ndarray
    base: np.ndarray
    full: np.ndarray
    confidence: float = CONFIDENCE

    @property
    def total(self) -> np.ndarray:
        """(seeds, metrics): the package's total effect, v(all) - v(none), seed by seed."""
        return self.full - self.base

    @property
    def table(self) -> pd.DataFrame:
        """One row per (metric, player): mean Shapley value with its interval, the solo effect
        with its interval, and `share`, the value as a share of the mean total effect."""
        rows = []
        for m, metric in enumerate(self.metrics):
            total = float(self.total[:, m].mean())
            for p, player in enumerate(self.players):
                mean, low, high = mean_interval(self.per_seed[:, p, m], self.confidence)
                solo, s_low, s_high = mean_interval(self.solo[:, p, m], self.confidence)
                rows.append({
                    "metric": metric, "player": player, "value": mean, "ci_low": low,
                    "ci_high": high, "solo": solo, "solo_low": s_low, "solo_high": s_high,
                    "share": mean / total if abs(total) > 1e-12 else math.nan,
                    "n": len(self.seeds),
                })  # fmt: skip
        return pd.DataFrame(rows)

    @property
    def totals(self) -> pd.DataFrame:
        """One row per metric: base and full means, the total effect with its interval, the
        sum of the Shapley values (equal to the total), and the interaction and its share."""
        rows = []
        for m, metric in enumerate(self.metrics):
            total, low, high = mean_interval(self.total[:, m], self.confidence)
            interaction = self.total[:, m] - self.solo[:, :, m].sum(axis=1)
            inter, i_low, i_high = mean_interval(interaction, self.confidence)
            rows.append({
                "metric": metric, "base": float(self.base[:, m].mean()),
                "full": float(self.full[:, m].mean()), "total": total, "ci_low": low,
                "ci_high": high, "shapley_sum": float(self.per_seed[:, :, m].sum(axis=1).mean()),
                "interaction": inter, "interaction_low": i_low, "interaction_high": i_high,
                "interaction_share": inter / total if abs(total) > 1e-12 else math.nan,
                "n": len(self.seeds),
            })  # fmt: skip
        return pd.DataFrame(rows)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (NaN as null)."""

        def clean(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in r.items()}
                for r in records
            ]  # fmt: skip

        return {
            "players": self.players, "metrics": self.metrics, "seeds": self.seeds,
            "exact": self.exact, "orders": self.orders, "runs": self.runs,
            "confidence": self.confidence,
            "values": clean(self.table.to_dict(orient="records")),
            "totals": clean(self.totals.to_dict(orient="records")),
        }  # fmt: skip


def check_players(players: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Players as plain dicts, refusing (one line) unknown paths, empty players and a path that
    two players both set (their order would then decide its value)."""
    out: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for name, overrides in players.items():
        if not isinstance(overrides, Mapping) or not overrides:
            raise ConfigError(f"players.{name}: give at least one `path: value` override")
        for path in overrides:
            parameter(path)
            if path in owner:
                raise ConfigError(
                    f"players.{name}: {path} is also set by {owner[path]}; a path belongs to "
                    f"one player"
                )
            owner[path] = name
        out[str(name)] = dict(overrides)
    if not out:
        raise ConfigError("players: give at least one player (lever)")
    return out


def coalition_config(
    base: ScenarioConfig, players: Mapping[str, Mapping[str, Any]], coalition: Coalition
) -> ScenarioConfig:
    """The base scenario with the overrides of the players in `coalition`."""
    overrides: dict[str, Any] = {}
    for i, block in enumerate(players.values()):
        if coalition >> i & 1:
            overrides.update(block)
    return with_overrides(base, overrides) if overrides else base


def coalition_label(names: Sequence[str], coalition: Coalition) -> str:
    """A readable name of a coalition: `none`, `all`, or its players joined by `+`."""
    if coalition == 0:
        return "none"
    if coalition == (1 << len(names)) - 1:
        return "all"
    return "+".join(n for i, n in enumerate(names) if coalition >> i & 1)


def decompose(
    base: ScenarioConfig,
    players: Mapping[str, Mapping[str, Any]],
    *,
    seeds: Sequence[int],
    metrics: Sequence[str] = ("credit_access_rate",),
    months: int | None = None,
    max_exact: int = MAX_EXACT,
    orders: int | None = None,
    sampler_seed: int = 0,
    confidence: float = CONFIDENCE,
    evaluator: Any = None,
    workers: int | None = None,
    scheduler: str | None = None,
    store: str | None = None,
) -> ShapleyResult:
    """Shapley values of `players` (name -> overrides) on `base` for each metric.

    Runs go through `evaluator` (an open `analysis.evaluate.Evaluator`) or, without one, a new
    Evaluator with `workers` / `scheduler` / `store`. Raises ConfigError for bad players or
    metrics (before any run) and EvaluationError if runs fail.
    """
    from analysis.evaluate import Evaluator, check_metric, require_ok

    players = check_players(players)
    metrics = [check_metric(m) for m in metrics]
    if not metrics:
        raise ConfigError("--metric: give at least one metric")
    names = list(players)
    design = make_design(
        len(names), seeds, max_exact=max_exact, orders=orders, sampler_seed=sampler_seed
    )
    pairs = design.pairs()
    masks = sorted({c for c, _ in pairs}, key=lambda c: (c.bit_count(), c))
    configs = [coalition_config(base, players, c) for c in masks]  # validates every coalition
    position = {c: k for k, c in enumerate(masks)}
    labels = [coalition_label(names, c) for c in masks]
    request = [(position[c], s) for c, s in pairs]
    if evaluator is None:
        with Evaluator(store, workers=workers, scheduler=scheduler) as ev:
            frame = ev.evaluate_pairs(configs, request, months=months, labels=labels)
    else:
        frame = evaluator.evaluate_pairs(configs, request, months=months, labels=labels)
    frame = require_ok(frame)
    values = {
        (masks[int(i)], int(s)): np.asarray(row, dtype=float)
        for i, s, row in zip(frame["index"], frame.seed, frame[metrics].to_numpy(), strict=True)
    }
    n, full = len(names), (1 << len(names)) - 1
    per_seed, solo, base_v, full_v = [], [], [], []
    for s in design.seeds:

        def value(c: Coalition, s: int = s) -> np.ndarray:
            return values[(c, s)]

        per_seed.append(shapley_values(n, value, None if design.exact else design.orders[s]))
        solo.append(np.stack([value(1 << i) - value(0) for i in range(n)]))
        base_v.append(value(0))
        full_v.append(value(full))
    return ShapleyResult(
        players=names,
        metrics=metrics,
        seeds=design.seeds,
        exact=design.exact,
        orders=0 if design.exact else len(next(iter(design.orders.values()))),
        runs=int(frame.run_id.nunique()),
        per_seed=np.stack(per_seed),
        solo=np.stack(solo),
        base=np.stack(base_v),
        full=np.stack(full_v),
        confidence=confidence,
    )
