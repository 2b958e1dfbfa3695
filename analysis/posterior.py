"""What a calibration leaves: the posterior sample, the calibrated scenario, and posterior-
predictive draws (intervals over parameter draws and seeds, not over seeds alone).

Files in a calibration's --out directory:

- `posterior.parquet`: the last generation's particles, one column per parameter path (schema
  units), `weight` (summing to 1), `distance`, `generation`.
- `calibrated.yaml`: a scenario over the targets file's `baseline` with each parameter at its
  posterior median, the 90% posterior range beside it as a comment.
- `predictive.parquet`: every target's value for posterior draws x seeds (`draw`, `seed`,
  `target`, `value`), paired: each seed runs every scenario of a draw.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.targets import Prior, Target, Targets
from simulation.scenario import ConfigError

POSTERIOR, CALIBRATED, PREDICTIVE = "posterior.parquet", "calibrated.yaml", "predictive.parquet"
WIDE = 0.8  # a 90% posterior range this share of the prior's (or more): not identified
LEVEL = 0.95


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The q-quantile of x under weights w (inverse of the weighted empirical CDF, midpoints)."""
    order = np.argsort(x, kind="stable")
    x, w = np.asarray(x, float)[order], np.asarray(w, float)[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cdf, x))


@dataclass(frozen=True)
class ParamSummary:
    """One parameter's posterior against its prior."""

    path: str
    median: float
    low: float  # 5% posterior quantile
    high: float  # 95%
    prior: str
    prior_low: float
    prior_high: float
    width_ratio: float  # 90% posterior width / 90% prior width, in the sampled coordinate

    @property
    def identified(self) -> bool:
        """False when the posterior is (almost) as wide as the prior."""
        return self.width_ratio < WIDE


def summarise(posterior: pd.DataFrame, priors: tuple[Prior, ...]) -> list[ParamSummary]:
    """Median, 90% range and width against the prior, per parameter."""
    w = posterior["weight"].to_numpy(float)
    out = []
    for p in priors:
        x = posterior[p.path].to_numpy(float)
        lo, med, hi = (weighted_quantile(x, w, q) for q in (0.05, 0.5, 0.95))
        inner = np.array([p.to_internal(v) for v in (lo, hi)])
        a, b = p.internal_bounds
        ratio = float((inner[1] - inner[0]) / (0.9 * (b - a)))
        if p.kind == "int":
            lo, med, hi = (round(v) for v in (lo, med, hi))
        out.append(ParamSummary(p.path, med, lo, hi, p.prior, p.low, p.high, ratio))
    return out


def correlations(posterior: pd.DataFrame, priors: tuple[Prior, ...],
                 top: int = 5) -> list[tuple[str, str, float]]:
    """The strongest weighted posterior correlations between parameters (sampled coordinates)."""
    if len(priors) < 2:
        return []
    w = posterior["weight"].to_numpy(float)
    x = np.column_stack([[p.to_internal(v) for v in posterior[p.path]] for p in priors])
    cov = np.cov(x, rowvar=False, aweights=w)
    sd = np.sqrt(np.diag(cov))
    pairs = []
    for i in range(len(priors)):
        for j in range(i + 1, len(priors)):
            r = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else math.nan
            pairs.append((priors[i].path, priors[j].path, float(r)))
    pairs.sort(key=lambda p: -abs(p[2]) if math.isfinite(p[2]) else 0.0)
    return pairs[:top]


def _num(v: float) -> str:
    return f"{v:.6g}"


def calibrated_yaml(targets: Targets, params: list[ParamSummary]) -> str:
    """A scenario over the baseline with every free parameter at its posterior median."""
    lines = [
        f"description: {targets.spec.baseline} calibrated by scf calibrate to "
        f"{targets.path.name} (posterior medians; 90% posterior ranges in the comments)",
        f"base: {targets.spec.baseline}",
    ]
    sections: dict[str, list[ParamSummary]] = {}
    for p in params:
        sections.setdefault(p.path.split(".")[0], []).append(p)
    for section, items in sections.items():
        lines.append(f"{section}:")
        for p in items:
            flag = "" if p.identified else "; NOT IDENTIFIED by these targets"
            lines.append(
                f"  {p.path.split('.', 1)[1]}: {_num(p.median)}  # 90% range {_num(p.low)} .. "
                f"{_num(p.high)}; prior {p.prior} {_num(p.prior_low)} .. {_num(p.prior_high)}"
                f"{flag}")
    return "\n".join(lines) + "\n"


def draws(posterior: pd.DataFrame, paths: list[str], n: int, seed: int) -> list[dict[str, Any]]:
    """n parameter settings resampled from the posterior by weight (same seed, same draws)."""
    rng = np.random.default_rng([seed, 7])
    w = posterior["weight"].to_numpy(float)
    rows = rng.choice(len(posterior), size=n, replace=True, p=w / w.sum())
    return [{path: posterior[path].iloc[r].item() for path in paths} for r in rows]


def _predict_one(configs: dict[str, Any], overrides: dict[str, Any], targets: tuple[Target, ...],
                 months: int, seeds: list[int]) -> np.ndarray:
    """A Dask task: every target over seeds for one parameter draw."""
    from analysis.calibrate import run_seeds

    return run_seeds(configs, overrides, targets, months, seeds)


def predictive(targets: Targets, posterior: pd.DataFrame, n_draws: int, n_seeds: int,
               client: Any = None) -> pd.DataFrame:
    """Every target for n_draws posterior draws x seeds 1..n_seeds: a long frame."""
    paths = [p.path for p in targets.priors]
    settings = draws(posterior, paths, n_draws, targets.spec.abc.seed)
    seeds = list(range(1, n_seeds + 1))
    args = (targets.configs, targets.targets, targets.months, seeds)
    if client is None:
        results = [_predict_one(args[0], s, *args[1:]) for s in settings]
    else:
        shared = client.scatter(list(args), broadcast=True, hash=False)
        futures = [client.submit(_predict_one, shared[0], s, shared[1], shared[2], shared[3],
                                 pure=False) for s in settings]
        results = client.gather(futures)
    rows = []
    for d, values in enumerate(results):
        for i, seed in enumerate(seeds):
            for j, t in enumerate(targets.targets):
                rows.append({"draw": d, "seed": seed, "target": t.name,
                             "value": float(values[i, j])})
    return pd.DataFrame(rows)


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the mean and the central `level` range of the values given (draws x
    seeds): a posterior-predictive interval, not an interval of the mean."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    tail = (1 - level) / 2
    return float(v.mean()), float(np.quantile(v, tail)), float(np.quantile(v, 1 - tail))


def verdict(t: Target, low: float, high: float) -> str:
    """Whether the figure sits inside the interval (a threshold: whether it can be met)."""
    v = t.spec.value
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no value"
    if t.spec.bound == ">=":
        return "meets" if low >= v else ("inside" if high >= v else "misses")
    if t.spec.bound == "<=":
        return "meets" if high <= v else ("inside" if low <= v else "misses")
    return "inside" if low <= v <= high else "outside"


def target_table(targets: Targets, pred: pd.DataFrame) -> pd.DataFrame:
    """Per target: the figure, the posterior-predictive mean with 90% and 95% intervals."""
    rows = []
    for t in targets.targets:
        v = pred.loc[pred.target == t.name, "value"].to_numpy(float)
        mean, lo95, hi95 = interval(v, 0.95)
        _, lo90, hi90 = interval(v, 0.90)
        rows.append({
            "target": t.name, "role": t.role, "study": t.spec.study, "line": t.spec.line,
            "figure": t.spec.value, "bound": t.spec.bound or "", "unit": t.spec.unit,
            "mean": mean, "low90": lo90, "high90": hi90, "low95": lo95, "high95": hi95,
            "verdict": verdict(t, lo95, hi95), "note": t.spec.note,
        })  # fmt: skip
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- a directory


def read_posterior(out: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A calibration directory's posterior sample and its state (targets file, fingerprint)."""
    out = Path(out)
    path = out / POSTERIOR
    if not path.is_file():
        raise ConfigError(f"--posterior {out}: no {POSTERIOR} there (run scf calibrate into it "
                          f"first)")
    state_path = out / "calibration.json"
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    return pd.read_parquet(path), state


def parameter_paths(posterior: pd.DataFrame) -> list[str]:
    """The parameter columns of a posterior sample."""
    return [c for c in posterior.columns if c not in ("weight", "distance", "generation")]


def check_not_set(changed: dict[str, Any], reference: Any, reference_name: str,
                  paths: list[str]) -> None:
    """Refuse scenarios that differ from `reference` in a fitted parameter: a posterior draw
    sets that parameter in both, erasing the very difference being compared."""
    base = reference.model_dump()
    for name, cfg in changed.items():
        data = cfg.model_dump()
        for path in paths:
            here, there = data, base
            for part in path.split("."):
                here, there = here[part], there[part]
            if here != there:
                raise ConfigError(f"--posterior: {name} sets {path} to {here!r} and "
                                  f"{reference_name} to {there!r}; a posterior draw sets it in "
                                  f"both and would erase that difference")


@dataclass
class Outputs:
    """What `finish` wrote and found."""

    posterior: pd.DataFrame
    params: list[ParamSummary]
    table: pd.DataFrame  # per target: figure, predictive intervals, verdict
    files: list[Path]


def finish(targets: Targets, out: str | Path, *, n_draws: int = 40, n_seeds: int = 2,
           client: Any = None, facts: dict[str, Any] | None = None) -> Outputs:
    """Write the posterior sample, the calibrated scenario, the predictive draws and the page."""
    from analysis import calibration_page
    from analysis.calibrate import last_population
    from analysis.report import write

    out = Path(out)
    posterior = last_population(out, targets)
    params = summarise(posterior, targets.priors)
    pred = predictive(targets, posterior, n_draws, n_seeds, client)
    table = target_table(targets, pred)
    files = [out / POSTERIOR, out / PREDICTIVE, out / CALIBRATED, out / "calibration.html"]
    posterior.to_parquet(files[0], index=False)
    pred.to_parquet(files[1], index=False)
    write(files[2], calibrated_yaml(targets, params))
    facts = {**(facts or {}), "predictive": f"{n_draws} draws x {n_seeds} seeds"}
    page = calibration_page.build(targets, posterior, params,
                                  correlations(posterior, targets.priors), table, facts)
    write(files[3], page)
    return Outputs(posterior, params, table, files)


# ----------------------------------------------------------------------------- carried forward


def posterior_settings(posterior_dir: str | Path, n_draws: int, reference: Any,
                       reference_name: str, changed: dict[str, Any]) -> list[dict[str, Any]]:
    """n_draws parameter settings from a calibration's posterior (the same every time), after
    checking that the `changed` scenarios do not differ from `reference` in a fitted one."""
    posterior, state = read_posterior(posterior_dir)
    paths = parameter_paths(posterior)
    check_not_set(changed, reference, reference_name, paths)
    return draws(posterior, paths, n_draws, int(state.get("fingerprint", {}).get("seed", 0)))


def replicate_posterior(posterior_dir: str | Path, n_draws: int = 20, seeds: int = 2,
                        months: int | None = None) -> tuple[list[Any], Any]:
    """`scf replicate --posterior`: the pre-policy/package pair over posterior draws x seeds
    (each draw's pre and package runs on the same seeds), each figure's interval the central
    95% of its values over draws and seeds (posterior-predictive)."""
    from analysis.replicate import PACKAGE, PRE, Runs, evaluate
    from simulation.runner import run_one
    from simulation.scenario import load_scenario, with_overrides

    base = {PRE: load_scenario(PRE), PACKAGE: load_scenario(PACKAGE)}
    settings = posterior_settings(posterior_dir, n_draws, base[PRE], PRE,
                                  {PACKAGE: base[PACKAGE]})
    pre, pkg = [], []
    for point in settings:
        cfg = {k: with_overrides(c, point) for k, c in base.items()}
        for s in range(1, seeds + 1):
            pre.append(run_one(cfg[PRE], s, months))
            pkg.append(run_one(cfg[PACKAGE], s, months))
    runs = Runs(pre, pkg)
    return evaluate(runs, interval), runs


def compare_posterior(results: str | Path, comparison: Any, posterior_dir: str | Path,
                      n_draws: int, n_seeds: int | None, evaluator: Any,
                      metrics: tuple[str, ...]) -> pd.DataFrame:
    """`scf compare --posterior`: each policy and the baseline as stored, run again over
    posterior draws x the shared seeds (paired within a draw and seed); per metric the mean
    difference, its posterior-predictive 95% interval over draws x seeds, and beside it the
    store's interval over seeds alone."""
    from analysis.evaluate import require_ok
    from analysis.store import Store
    from simulation.config import ScenarioConfig
    from simulation.scenario import with_overrides

    store = Store.open(results)

    def config(run_id: str) -> ScenarioConfig:
        return ScenarioConfig.model_validate(store.run_meta(run_id)["config"])

    rows = []
    for policy in comparison.policies:
        p = comparison.pairings[policy]
        base, pol = config(p.baseline_run_ids[0]), config(p.policy_run_ids[0])
        settings = posterior_settings(posterior_dir, n_draws, base, comparison.baseline,
                                      {policy: pol})
        seeds = p.seeds[:n_seeds] if n_seeds else p.seeds
        configs = [with_overrides(c, d) for c in (base, pol) for d in settings]
        labels = [f"{name} @ posterior draw {i}" for name in (comparison.baseline, policy)
                  for i in range(len(settings))]
        frame = require_ok(evaluator.evaluate(
            configs, seeds, months=p.months, labels=labels,
            experiment=f"posterior-{Path(posterior_dir).name}"))
        half = len(settings) * len(seeds)
        for metric in metrics:
            if metric not in frame.columns:
                continue
            v = frame[metric].to_numpy(float)
            b, q = v[:half], v[half:]
            diff = q - b
            mean, low, high = interval(diff)
            try:
                seeds_only = comparison.get(policy, metric)
            except KeyError:
                seeds_only = {"ci_low": math.nan, "ci_high": math.nan}
            rows.append({
                "policy": policy, "metric": metric, "draws": len(settings),
                "seeds": len(seeds), "baseline_mean": float(np.nanmean(b)),
                "policy_mean": float(np.nanmean(q)), "diff_mean": mean,
                "predictive_low": low, "predictive_high": high,
                "seeds_only_low": seeds_only["ci_low"], "seeds_only_high": seeds_only["ci_high"],
            })  # fmt: skip
    return pd.DataFrame(rows)
