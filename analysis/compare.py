"""Paired counterfactuals: policy minus baseline, run by run with the same seed.

A run's random streams depend only on (population, seed), never on the policy, so a baseline run
and a policy run with the same seed face the same firms and the same shocks. The difference of
the two is one paired observation; over the seeds we report its mean, a t-interval and the
relative change, for every summary metric and every SME group. Beside it we give the width of
the interval the same runs would have if treated as two independent samples (Welch), so a reader
sees how much the pairing buys. Comparing a scenario with itself gives differences of exactly
zero and intervals of zero width.

Everything here reads the results store (`analysis.store`) only, never model objects.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.stats import CONFIDENCE, paired_stats
from analysis.store import LABELS, load_parameters, load_summaries
from simulation.costs import SUMMARY_KEYS as COST_KEYS
from simulation.metrics import GROUPS
from simulation.scenario import ConfigError

MONEY_UNIT = "10k CNY"
TOTAL_CREDIT = "total_credit"  # derived: the sum of volume_by_instrument.* (credit extended)
SKIP_METRICS = ("ledger_residual",)  # an accounting check, not an outcome
NOT_METRICS = {*LABELS, "status", "error"}
POPULATION_SECTIONS = ("chain.", "population.")
GAINS = {  # value-for-money gain -> (metric, sign): a gain is good when positive
    "extra_credit": (TOTAL_CREDIT, 1),
    "gap_closed": ("financing_gap", -1),
    "lost_output_avoided": ("lost_output", -1),
}
PER_COST = {"extra_credit": "credit", "gap_closed": "gap", "lost_output_avoided": "output"}
RANK_NAMES = {short: gain for gain, short in PER_COST.items()}  # --rank-by output -> gain


# ----------------------------------------------------------------------------- selecting runs


def metric_columns(summaries: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(column, metric, group) of every numeric summary metric in a summaries frame."""
    out = []
    prefixes = {f"{g}.": g for g in GROUPS[1:]}
    for column in summaries.columns:
        if column in NOT_METRICS or column.startswith("param."):
            continue
        if not pd.api.types.is_numeric_dtype(summaries[column]):
            continue
        group, metric = "all", column
        for prefix, g in prefixes.items():
            if column.startswith(prefix):
                group, metric = g, column.removeprefix(prefix)
        if metric not in SKIP_METRICS:
            out.append((column, metric, group))
    return out


def with_total_credit(summaries: pd.DataFrame) -> pd.DataFrame:
    """Add `total_credit` (and `<group>.total_credit`): the sum of the instrument volumes."""
    frame = summaries.copy()
    for group in GROUPS:
        prefix = "" if group == "all" else f"{group}."
        cols = [c for c in frame.columns if c.startswith(f"{prefix}volume_by_instrument.")]
        if cols:
            frame[f"{prefix}{TOTAL_CREDIT}"] = frame[cols].astype(float).sum(axis=1, min_count=1)
    return frame


def available(summaries: pd.DataFrame) -> list[str]:
    """The scenario names a comparison can use (sweep variants, such as `X lhs#3`, too)."""
    ok = summaries[summaries.status == "ok"]
    return list(dict.fromkeys(ok.scenario))


def _available_text(summaries: pd.DataFrame) -> str:
    ok = summaries[summaries.status == "ok"]
    variants = set(ok.variant) - set(ok.scenario)
    more = f"; and {len(variants)} sweep variants such as {min(variants)!r}" if variants else ""
    return (_listing(available(summaries)) or "none (no finished runs)") + more


def select(summaries: pd.DataFrame, name: str, where: str) -> pd.DataFrame:
    """The ok runs of one scenario (or sweep variant) by name: one configuration, one row a seed.

    Raises a one-line ConfigError listing the names available when `name` is unknown, or the
    variants and experiments to choose from when it names more than one configuration.
    """
    ok = summaries[summaries.status == "ok"]
    rows = ok[(ok.variant == name) | ((ok.scenario == name) & (ok.variant == ok.scenario))]
    if rows.empty:
        rows = ok[ok.scenario == name]
    if rows.empty:
        names = _available_text(summaries)
        raise ConfigError(f"{where}: no scenario named {name!r} in the store (available: {names})")
    rows = rows.drop_duplicates("run_id")
    configs = rows.drop_duplicates("scenario_id")
    if len(configs) > 1:
        choices = "; ".join(
            f"{v} ({e}, {m} months)"
            for v, e, m in zip(configs.variant, configs.experiment, configs.months, strict=True)
        )
        raise ConfigError(
            f"{where}: {name!r} names {len(configs)} configurations in the store ({choices}); "
            f"name a variant, or pick one experiment with --experiment"
        )
    return rows.sort_values("seed").reset_index(drop=True)


def _listing(names: list[str], most: int = 40) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def expand_patterns(
    summaries: pd.DataFrame, names: list[str], baseline: str, where: str
) -> list[str]:
    """Policy names with shell patterns (`levers/*`) expanded over the store's scenarios.

    A pattern matches scenario names (not sweep variants) and never the baseline itself.
    """
    scenarios = list(dict.fromkeys(summaries[summaries.status == "ok"].scenario))
    out: list[str] = []
    for name in names:
        if not any(c in name for c in "*?["):
            out.append(name)
            continue
        matched = [s for s in fnmatch.filter(scenarios, name) if s != baseline]
        if not matched:
            raise ConfigError(
                f"{where}: --policy {name} matches no scenario in the store "
                f"(available: {_listing(scenarios)})"
            )
        out.extend(matched)
    return list(dict.fromkeys(out))


# ----------------------------------------------------------------------------- comparing


@dataclass
class Pairing:
    """How one policy's runs were paired with the baseline's."""

    policy: str
    seeds: list[int]
    months: int
    unpaired_seeds: list[int]  # seeds run for only one side (dropped)
    population_differs: list[str]  # chain./population. paths that differ from the baseline
    baseline_run_ids: list[str] = field(repr=False)
    policy_run_ids: list[str] = field(repr=False)


@dataclass
class Comparison:
    """Paired differences of several policies against one baseline.

    `table` is tidy: one row per (policy, metric, group) with n, baseline_mean, policy_mean,
    diff_mean, ci_low, ci_high, rel_change, paired_halfwidth, unpaired_halfwidth.
    """

    store: str
    baseline: str
    policies: list[str]
    table: pd.DataFrame
    pairings: dict[str, Pairing]
    runs: pd.DataFrame  # the compared runs' summary rows, with a `side` column
    parameters: pd.DataFrame  # resolved parameters of the compared configurations
    confidence: float = CONFIDENCE
    rank_by: str = "lost_output_avoided"  # the value-for-money gain that ranks the policies

    def get(self, policy: str, metric: str, group: str = "all") -> dict[str, Any]:
        """One row of the table as a dict (a KeyError if absent)."""
        t = self.table
        row = t[(t.policy == policy) & (t.metric == metric) & (t.group == group)]
        if row.empty:
            raise KeyError((policy, metric, group))
        return row.iloc[0].to_dict()

    def narrowing(self, policy: str | None = None) -> float:
        """Median over metrics of 1 - paired / unpaired interval width (0.6: 60% narrower)."""
        t = self.table if policy is None else self.table[self.table.policy == policy]
        ok = t[(t.unpaired_halfwidth > 0) & t.paired_halfwidth.notna()]
        if ok.empty:
            return math.nan
        return float((1 - ok.paired_halfwidth / ok.unpaired_halfwidth).median())

    def value_for_money(self) -> pd.DataFrame:
        """Gains per unit of extra public cost, ranked by `rank_by` (see `value_for_money`)."""
        return value_for_money(self, self.rank_by)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (NaN as null) for `scf compare --json` and scripts."""
        comparisons = []
        for policy in self.policies:
            p = self.pairings[policy]
            rows = self.table[self.table.policy == policy].drop(columns="policy")
            comparisons.append(
                {
                    "policy": policy,
                    "seeds": p.seeds,
                    "months": p.months,
                    "unpaired_seeds": p.unpaired_seeds,
                    "population_differs": p.population_differs,
                    "narrowing": _clean(self.narrowing(policy)),
                    "metrics": _clean(rows.to_dict(orient="records")),
                }
            )
        vfm = self.value_for_money()
        return {
            "store": self.store,
            "baseline": self.baseline,
            "policies": self.policies,
            "confidence": self.confidence,
            "money_unit": MONEY_UNIT,
            "rank_by": self.rank_by,
            "narrowing": _clean(self.narrowing()),
            "comparisons": comparisons,
            "value_for_money": _clean(vfm.to_dict(orient="records")),
        }


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def _population_differs(params: pd.DataFrame, base_sid: str, pol_sid: str) -> list[str]:
    if params.empty or "scenario_id" not in params:
        return []
    by_id = params.set_index("scenario_id")
    if base_sid not in by_id.index or pol_sid not in by_id.index:
        return []
    a, b = by_id.loc[base_sid], by_id.loc[pol_sid]
    paths = [c for c in by_id.columns if c.startswith(POPULATION_SECTIONS)]
    return [c for c in paths if not (a[c] == b[c] or (pd.isna(a[c]) and pd.isna(b[c])))]


def compare_frames(
    summaries: pd.DataFrame,
    baseline: str,
    policies: list[str],
    *,
    parameters: pd.DataFrame | None = None,
    store: str = "",
    confidence: float = CONFIDENCE,
    rank_by: str = "lost_output_avoided",
) -> Comparison:
    """Compare policies with a baseline in a summaries frame (as `load_summaries` returns)."""
    where = store or "results"
    rank_by = RANK_NAMES.get(rank_by, rank_by)
    if rank_by not in GAINS:
        raise ConfigError(f"--rank-by: must be one of {', '.join(RANK_NAMES)} (got {rank_by!r})")
    if not policies:
        raise ConfigError(f"{where}: give at least one --policy")
    if not 0 < confidence < 1:
        raise ConfigError(f"--confidence: must be between 0 and 1 (got {confidence})")
    summaries = with_total_credit(summaries)
    params = parameters if parameters is not None else pd.DataFrame()
    base = select(summaries, baseline, where)
    policies = expand_patterns(summaries, policies, baseline, where)
    columns = metric_columns(summaries)
    tables, pairings, runs = [], {}, [base.assign(side="baseline", policy=baseline)]
    for policy in policies:
        pol = select(summaries, policy, where)
        if int(pol.months.iloc[0]) != int(base.months.iloc[0]):
            raise ConfigError(
                f"{where}: cannot pair {policy!r} ({pol.months.iloc[0]} months) with "
                f"{baseline!r} ({base.months.iloc[0]} months): runs must have the same horizon"
            )
        merged = base.merge(pol, on="seed", suffixes=("__b", "__p"))
        if merged.empty:
            raise ConfigError(
                f"{where}: {policy!r} and {baseline!r} share no seed (baseline seeds "
                f"{sorted(base.seed)}, policy seeds {sorted(pol.seed)}); pairing needs the "
                f"same seeds"
            )
        pairings[policy] = Pairing(
            policy=policy,
            seeds=[int(s) for s in merged.seed],
            months=int(base.months.iloc[0]),
            unpaired_seeds=sorted(int(s) for s in set(base.seed) ^ set(pol.seed)),
            population_differs=_population_differs(
                params, base.scenario_id.iloc[0], pol.scenario_id.iloc[0]
            ),
            baseline_run_ids=list(merged["run_id__b"]),
            policy_run_ids=list(merged["run_id__p"]),
        )
        rows = []
        for column, metric, group in columns:
            s = paired_stats(merged[f"{column}__b"], merged[f"{column}__p"], confidence)
            rows.append({"policy": policy, "metric": metric, "group": group, **s})
        tables.append(pd.DataFrame(rows))
        runs.append(pol.assign(side="policy", policy=policy))
    table = pd.concat(tables, ignore_index=True)
    table = table[table.n > 0].reset_index(drop=True)
    used = pd.concat(runs, ignore_index=True)
    if not params.empty:
        params = params[params.scenario_id.isin(set(used.scenario_id))].reset_index(drop=True)
    return Comparison(
        store=store,
        baseline=baseline,
        policies=policies,
        table=table,
        pairings=pairings,
        runs=used,
        parameters=params,
        confidence=confidence,
        rank_by=rank_by,
    )


def compare_store(
    path: str | Path,
    baseline: str,
    policies: list[str],
    *,
    experiment: str | None = None,
    confidence: float = CONFIDENCE,
    rank_by: str = "lost_output_avoided",
) -> Comparison:
    """Compare policies with a baseline, reading the results store at `path`."""
    summaries = load_summaries(path, experiment)
    return compare_frames(
        summaries,
        baseline,
        policies,
        parameters=load_parameters(path, experiment),
        store=str(path),
        confidence=confidence,
        rank_by=rank_by,
    )


# ----------------------------------------------------------------------------- value for money


def value_for_money(comparison: Comparison, rank_by: str = "lost_output_avoided") -> pd.DataFrame:
    """Per policy: gains, extra public cost and gains per unit of that cost, ranked.

    Gains (10k CNY, totals over the run, with 95% intervals): extra SME credit extended, the
    financing gap closed and the lost output avoided. Credit volume can fall when a lever
    removes the need for it (late-payment enforcement pays SMEs on time), so levers are
    ranked by `rank_by`, lost output avoided by default. Public cost is the government's money
    only, every lever's cost counted (`simulation.costs`: fee subsidies, reimbursements, the
    guarantor's expected losses and capital, the running costs of data platforms, the one-stop
    entry and the arrears campaign; each item's extra cost is a `public_cost_<item>` column);
    a policy adding none has no ratio: those with a positive gain rank first (by gain),
    then the others by gain per unit of cost, then the rest.
    """
    rows = []
    for policy in comparison.policies:
        cost = _get(comparison, policy, "public_cost")["diff_mean"]
        row: dict[str, Any] = {"policy": policy}
        for gain, (metric, sign) in GAINS.items():
            r = _get(comparison, policy, metric)
            low, high = sorted((0.0 + sign * r["ci_low"], 0.0 + sign * r["ci_high"]))
            row |= {gain: 0.0 + sign * r["diff_mean"], f"{gain}_low": low, f"{gain}_high": high}
        row["public_cost"] = cost
        for item in COST_KEYS:  # what the extra public cost is made of, lever by lever
            row[item] = _get(comparison, policy, item)["diff_mean"]
        for gain, short in PER_COST.items():
            row[f"{short}_per_public_cost"] = row[gain] / cost if cost > 1e-9 else math.nan
        row["credit_access_change"] = _get(comparison, policy, "credit_access_rate")["diff_mean"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    free = ~(frame.public_cost > 1e-9)
    ratio = frame[f"{PER_COST[rank_by]}_per_public_cost"]
    frame["tier"] = np.where(free & (frame[rank_by] > 0), 0, np.where(free, 2, 1))
    frame["key"] = np.where(frame.tier == 1, -ratio, -frame[rank_by])
    frame = frame.sort_values(["tier", "key"], kind="stable").drop(columns=["tier", "key"])
    frame.insert(1, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def _get(comparison: Comparison, policy: str, metric: str) -> dict[str, Any]:
    try:
        return comparison.get(policy, metric)
    except KeyError:
        return {"diff_mean": math.nan, "ci_low": math.nan, "ci_high": math.nan}
