"""Global sensitivity: which parameters move credit access most, by SALib over the schema's ranges.

A sensitivity study is an experiment like any other: SALib's sampler (Morris trajectories by
default, or Sobol' / Saltelli points) gives parameter points, each point is run over the same
seeds (common random numbers) through the batch runner into a results store, and the metric is
averaged over seeds before SALib analyses it. The study's specification (method, ranges, sampler
seed) is stored as the experiment's source text, so the indices can be recomputed from the store
alone, by `scf sensitivity` or by a report.

Ranges come from the schema (`PARAMETERS`: `ge` and `le`) unless given as `path=low:high`.
Only numeric parameters can be varied; integer ones are rounded to whole numbers.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from analysis.batch import BatchReport, run_plan
from analysis.experiment import Experiment, Plan, expand
from analysis.store import Store, load_summaries
from simulation.market import INSTRUMENTS
from simulation.metrics import BY_INSTRUMENT, GROUPS, SUMMARY_KEYS
from simulation.scenario import ConfigError, parameter

METHODS = ("morris", "sobol")
DEFAULT_METRIC = "credit_access_rate"
IMPORTANCE = {"morris": ("mu_star", "mu_star_conf"), "sobol": ("ST", "ST_conf")}
SOURCE_KEY = "sensitivity"


@dataclass(frozen=True)
class Study:
    """What a sensitivity study runs: enough to rebuild its design exactly."""

    scenario: str
    method: str
    ranges: dict[str, tuple[float, float]]
    kinds: dict[str, str]
    samples: int  # Morris: trajectories; Sobol': base sample N (runs N x (k + 2) points)
    levels: int  # Morris grid levels
    sampler_seed: int
    seeds: list[int]
    months: int | None
    overrides: dict[str, Any]

    @property
    def problem(self) -> dict[str, Any]:
        """The SALib problem definition."""
        names = list(self.ranges)
        return {"num_vars": len(names), "names": names, "bounds": [self.ranges[n] for n in names]}

    def design(self) -> np.ndarray:
        """The sampler's points (rows) in parameter units, before integer rounding."""
        from SALib.sample import morris, sobol

        if self.method == "morris":
            return morris.sample(
                self.problem, self.samples, num_levels=self.levels, seed=self.sampler_seed
            )
        return sobol.sample(
            self.problem, self.samples, calc_second_order=False, seed=self.sampler_seed
        )

    def points(self) -> list[dict[str, Any]]:
        """The design as parameter settings (integers rounded)."""
        out = []
        for row in self.design():
            point = {}
            for name, value in zip(self.ranges, row, strict=True):
                point[name] = int(round(value)) if self.kinds[name] == "int" else float(value)
            out.append(point)
        return out

    def name(self) -> str:
        """The experiment's name in the store."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(self.scenario).with_suffix("").as_posix())
        return f"sensitivity-{self.method}-{slug.strip('-')}"

    def source_text(self) -> str:
        """The study as YAML: stored with the plan so the store alone can recompute indices."""
        spec = dataclasses.asdict(self)
        spec["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        return "# written by scf sensitivity\n" + yaml.safe_dump(
            {SOURCE_KEY: spec}, sort_keys=False
        )

    @classmethod
    def from_source(cls, text: str) -> Study | None:
        """The study stored as an experiment's source text, or None if it is not one."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get(SOURCE_KEY), dict):
            return None
        spec = dict(data[SOURCE_KEY])
        spec["ranges"] = {k: tuple(v) for k, v in spec["ranges"].items()}
        return cls(**spec)


def parse_params(text: str | list[str]) -> dict[str, tuple[float, float] | None]:
    """`a.b,c.d=0.1:0.5` -> {'a.b': None, 'c.d': (0.1, 0.5)} (None: take the schema's range)."""
    items = text if isinstance(text, list) else [text]
    out: dict[str, tuple[float, float] | None] = {}
    for item in (p.strip() for chunk in items for p in chunk.split(",")):
        if not item:
            continue
        path, _, span = item.partition("=")
        path = path.strip()
        if not span:
            out[path] = None
            continue
        low, sep, high = span.partition(":")
        try:
            out[path] = (float(low), float(high))
        except ValueError:
            raise ConfigError(
                f"--params {item}: a range is PATH=LOW:HIGH, e.g. core.data_sharing=0.1:0.9"
            ) from None
        if not sep:
            raise ConfigError(f"--params {item}: a range is PATH=LOW:HIGH (missing ':HIGH')")
    if not out:
        raise ConfigError("--params: give at least one parameter path, e.g. core.data_sharing")
    return out


def resolve_ranges(
    params: dict[str, tuple[float, float] | None],
) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """Each parameter's range (given, or the schema's `ge`/`le`) and kind; one-line errors."""
    ranges, kinds = {}, {}
    for path, given in params.items():
        spec = parameter(path)
        if spec.kind not in ("int", "float"):
            raise ConfigError(
                f"--params {path}: sensitivity varies numeric parameters only ({path} is "
                f"{spec.range_text()}); compare its two settings with `scf compare` instead"
            )
        if given is None:
            if spec.ge is None or spec.le is None:
                raise ConfigError(
                    f"--params {path}: the schema gives no closed range ({spec.range_text()}); "
                    f"give one, e.g. {path}=LOW:HIGH"
                )
            given = (float(spec.ge), float(spec.le))
        low, high = given
        if not low < high:
            raise ConfigError(f"--params {path}: low must be below high (got {low:g}:{high:g})")
        for value, bound in ((low, "low"), (high, "high")):
            too_low = (spec.ge is not None and value < spec.ge) or (
                spec.gt is not None and value <= spec.gt
            )
            too_high = (spec.le is not None and value > spec.le) or (
                spec.lt is not None and value >= spec.lt
            )
            if too_low or too_high:
                raise ConfigError(
                    f"--params {path}: {bound} end must be {spec.range_text()} (got {value:g})"
                )
        ranges[path], kinds[path] = (low, high), spec.kind
    return ranges, kinds


def make_study(
    scenario: str,
    params: str | list[str],
    *,
    method: str = "morris",
    samples: int | None = None,
    levels: int = 4,
    sampler_seed: int = 0,
    seeds: int | list[int] = 2,
    months: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> Study:
    """A validated study (every mistake a one-line ConfigError)."""
    if method not in METHODS:
        raise ConfigError(f"--method: must be one of {', '.join(METHODS)} (got {method!r})")
    ranges, kinds = resolve_ranges(parse_params(params))
    overlap = set(ranges) & set(overrides or {})
    if overlap:
        raise ConfigError(f"--set {', '.join(sorted(overlap))}: also in --params; give it once")
    if method == "morris" and levels < 2:
        raise ConfigError(f"--levels: must be >= 2 (got {levels})")
    samples = samples or (10 if method == "morris" else 32)
    if samples < 2:
        raise ConfigError(f"--samples: must be >= 2 (got {samples})")
    if method == "sobol" and samples & (samples - 1):
        raise ConfigError(f"--samples: Sobol' needs a power of 2, e.g. 32 or 64 (got {samples})")
    seed_list = list(range(1, seeds + 1)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ConfigError("--seeds: must be at least 1")
    return Study(
        scenario, method, ranges, kinds, samples, levels, sampler_seed, seed_list, months,
        dict(overrides or {}),
    )  # fmt: skip


def plan_of(study: Study) -> Plan:
    """The study as a batch plan: every sampled point over every seed, labelled by point."""
    specs = []
    source = f"sensitivity of {study.scenario}"
    for index, point in enumerate(study.points()):
        experiment = Experiment(
            description="",
            scenarios=[study.scenario],
            seeds=study.seeds,
            months=study.months,
            overrides={**study.overrides, **point},
        )
        for spec in expand(experiment, source, study.name()).specs:
            variant = f"{study.scenario} {study.method}#{index}"
            specs.append(dataclasses.replace(spec, point=index, variant=variant))
    ranges = ", ".join(f"{k} [{lo:g}, {hi:g}]" for k, (lo, hi) in study.ranges.items())
    description = f"{study.method} sensitivity of {study.scenario} over {ranges}"
    return Plan(study.name(), description, study.source_text(), specs)


# ----------------------------------------------------------------------------- analysis


@dataclass
class SensitivityResult:
    """Indices of a study for one metric, per SME group.

    `indices`: one row per (group, parameter) with `importance` and `importance_conf` (Morris:
    mu_star, the mean absolute change of the metric across the parameter's whole range, and
    its bootstrap interval; Sobol': ST, the total-order index), the method's own columns, and
    `rank` within the group (1 moves the metric most).
    """

    study: Study
    metric: str
    indices: pd.DataFrame
    runs: int
    experiment: str

    def ranking(self, group: str = "all") -> pd.DataFrame:
        """The parameters of one group, most important first."""
        return self.indices[self.indices.group == group].sort_values("rank")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (NaN as null)."""
        records = self.indices.to_dict(orient="records")
        return {
            "experiment": self.experiment,
            "scenario": self.study.scenario,
            "method": self.study.method,
            "metric": self.metric,
            "ranges": {k: list(v) for k, v in self.study.ranges.items()},
            "seeds": self.study.seeds,
            "samples": self.study.samples,
            "runs": self.runs,
            "indices": [
                {
                    k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in r.items()
                }
                for r in records
            ],
        }


def analyse(study: Study, summaries: pd.DataFrame, metric: str = DEFAULT_METRIC) -> pd.DataFrame:
    """SALib indices per group from a study's run summaries (seed means per point)."""
    from SALib.analyze import morris, sobol

    ok = summaries[summaries.status == "ok"]
    design = study.design()
    n_points = len(design)
    rows = []
    for group in GROUPS:
        column = metric if group == "all" else f"{group}.{metric}"
        if column not in ok.columns:
            if group == "all":
                raise ConfigError(f"--metric {metric}: not a summary metric of the runs")
            continue
        y = ok.groupby("point")[column].mean().reindex(range(n_points)).to_numpy(dtype=float)
        if not np.isfinite(y).all():
            missing = int((~np.isfinite(y)).sum())
            raise ConfigError(
                f"{study.name()}: {missing} of {n_points} points have no finished run for "
                f"{column}; run `scf sensitivity` again to finish them"
            )
        if study.method == "morris":
            res = morris.analyze(study.problem, design, y, num_levels=study.levels, seed=0)
        else:
            res = sobol.analyze(study.problem, y, calc_second_order=False, seed=0)
        frame = _frame(res, study.problem["names"])
        key, conf = IMPORTANCE[study.method]
        frame.insert(0, "group", group)
        frame["importance"], frame["importance_conf"] = frame[key], frame[conf]
        frame["low"] = [study.ranges[p][0] for p in frame.parameter]
        frame["high"] = [study.ranges[p][1] for p in frame.parameter]
        frame["rank"] = frame.importance.rank(ascending=False, method="first").astype(int)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def _frame(result: Any, names: list[str]) -> pd.DataFrame:
    out = {"parameter": names}
    for key, values in result.items():
        if key in ("names",) or key.startswith("S2"):
            continue
        arr = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
        if arr.shape == (len(names),):
            out[key] = arr
    return pd.DataFrame(out)


def studies(path: str | Path) -> dict[str, Study]:
    """The sensitivity studies stored in a results store, by experiment name."""
    found = {}
    for name, info in Store.open(path).experiments().items():
        study = Study.from_source(info.get("source", ""))
        if study is not None:
            found[name] = study
    return found


def load_result(
    path: str | Path, experiment: str | None = None, metric: str = DEFAULT_METRIC
) -> SensitivityResult:
    """Recompute a stored study's indices (the only study in the store if none is named)."""
    found = studies(path)
    if experiment is None:
        if len(found) != 1:
            names = ", ".join(found) or "none"
            raise ConfigError(f"{path}: name one sensitivity study (stored: {names})")
        experiment = next(iter(found))
    if experiment not in found:
        names = ", ".join(found) or "none"
        raise ConfigError(f"{path}: no sensitivity study named {experiment!r} (stored: {names})")
    study = found[experiment]
    summaries = load_summaries(path, experiment)
    indices = analyse(study, summaries, metric)
    runs = int(summaries.run_id.nunique())
    return SensitivityResult(study, metric, indices, runs, experiment)


def check_metric(metric: str) -> None:
    """Refuse, before any run, a metric the run summaries do not carry."""
    known = [k for k in SUMMARY_KEYS if k not in BY_INSTRUMENT]
    known += [f"{d}.{k}" for d in BY_INSTRUMENT for k in INSTRUMENTS]
    if metric not in known:
        raise ConfigError(f"--metric {metric}: not a summary metric (one of {', '.join(known)})")


def run_study(
    study: Study,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    metric: str = DEFAULT_METRIC,
) -> tuple[SensitivityResult | None, BatchReport]:
    """Run a study's plan through the batch runner into `out`, then analyse it.

    The result is None when some runs failed: indices over a partial design would mislead.
    """
    check_metric(metric)
    plan = plan_of(study)
    report = run_plan(plan, out, workers=workers, scheduler=scheduler, progress=progress)
    if report.failed_total:
        return None, report
    return load_result(out, plan.name, metric), report
