"""Calibration targets files: the study's figures, the model quantities that answer them, and the
free parameters with their priors, validated like scenarios.

A targets file (YAML) declares up front which figures are fitted and which are held out, names
the scenarios its quantities are measured on, and gives each free parameter as a schema path
with a prior inside the schema's range. A quantity is one metric of one scenario's run (a summary
metric, or a monthly metric at a month or averaged over months, for an SME group), or a
difference, ratio or relative change between two such terms: two months of one run, or two
scenarios run on the same seeds (paired). `docs/CALIBRATION.md` describes the format.

Every mistake is a one-line `ConfigError` naming the file and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulation.config import ScenarioConfig, get_dotted
from simulation.scenario import SCENARIO_DIR, ConfigError, load_scenario, parameter, resolve_path
from simulation.yaml_input import as_mapping, parse_yaml, read_text

OPS = ("difference", "ratio", "relative_change")
ROLES = ("fitted", "held_out")


def summary_metrics() -> list[str]:
    """Names a summary term may use: the model's summary keys, dicts flattened as `key.entry`."""
    from simulation.market import INSTRUMENTS
    from simulation.metrics import BY_INSTRUMENT, SUMMARY_KEYS

    flat = [k for k in SUMMARY_KEYS if k not in BY_INSTRUMENT]
    return flat + [f"{d}.{k}" for d in BY_INSTRUMENT if d in SUMMARY_KEYS for k in INSTRUMENTS]


def monthly_metrics() -> list[str]:
    """Columns a monthly term may use: the model's monthly metrics."""
    from simulation.metrics import MONTHLY_METRICS

    return list(MONTHLY_METRICS)


def groups() -> list[str]:
    """SME groups a term may name."""
    from simulation.metrics import GROUPS

    return list(GROUPS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TermSpec(_Strict):
    """Fields of a term; in `vs:` every field left out is the first term's."""

    scenario: str | None = Field(None, description="a key of `scenarios:`")
    metric: str | None = Field(None, description="summary or monthly metric")
    month: int | None = Field(None, ge=1, le=600, description="monthly value at this month")
    months: tuple[int, int] | None = Field(None, description="monthly mean over [first, last]")
    group: str | None = Field(None, description="SME group (default all)")

    @model_validator(mode="after")
    def _one_time(self) -> TermSpec:
        if self.month is not None and self.months is not None:
            raise ValueError("give month or months, not both")
        if self.months is not None and not 1 <= self.months[0] <= self.months[1]:
            raise ValueError(f"months: must be [first, last] with 1 <= first <= last "
                             f"(got {list(self.months)})")
        return self


class QuantitySpec(TermSpec):
    """A term, or `op` of a term and its `vs` term."""

    vs: TermSpec | None = Field(None, description="the second term (fields default to the first)")
    op: Literal["difference", "ratio", "relative_change"] | None = None
    scale: float = Field(1.0, description="multiplier applied to the result")

    @model_validator(mode="after")
    def _op_needs_vs(self) -> QuantitySpec:
        if self.op is not None and self.vs is None:
            raise ValueError(f"op {self.op} needs a `vs:` term")
        return self


class TargetSpec(_Strict):
    """One figure of the study and the model quantity that answers it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    study: str = Field(min_length=1, description="the figure as the study states it")
    line: str = Field(min_length=1, description="where in the study (line or section)")
    value: float = Field(description="the figure in the model's unit")
    bound: Literal[">=", "<="] | None = Field(None, description="the figure is a threshold")
    unit: Literal["pct", "pt", "wan", "x", "count", "share"] = "wan"
    quantity: QuantitySpec
    tolerance: float = Field(gt=0, description="distance scale: |model - figure| / tolerance")
    weight: float = Field(1.0, gt=0)
    note: str = ""


class PriorSpec(_Strict):
    """A free parameter's prior: uniform or log-uniform over [low, high]."""

    prior: Literal["uniform", "loguniform"] = "uniform"
    low: float
    high: float


class AbcSpec(_Strict):
    """ABC-SMC settings (the command line may override the budget)."""

    population: int = Field(100, ge=5, le=100_000, description="particles per generation")
    budget: int = Field(2000, ge=1, description="most parameter draws simulated in all")
    generations: int = Field(20, ge=1, le=1000, description="most generations")
    alpha: float = Field(0.5, gt=0, lt=1, description="quantile of distances for the tolerance")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the sampler and the runs")
    seeds_per_draw: int = Field(1, ge=1, le=100, description="seeds each draw runs (averaged)")
    batch: int = Field(4, ge=1, le=1000, description="draws per Dask task")


class TargetsSpec(_Strict):
    """The validated content of a targets file."""

    description: str = ""
    baseline: str = Field(description="scenario the calibrated scenario is written over")
    scenarios: dict[str, str] = Field(min_length=1, description="key: scenario name or file")
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")
    months: int | None = Field(None, ge=1, le=600, description="horizon of every run")
    fitted: list[str] = Field(min_length=1, description="names of the fitted targets")
    held_out: list[str] = Field(description="names of the held-out targets")
    parameters: dict[str, PriorSpec] = Field(min_length=1)
    abc: AbcSpec = Field(default_factory=AbcSpec)
    targets: list[TargetSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Term:
    """A resolved term: one metric of one scenario's run."""

    scenario: str
    metric: str
    month: int | None
    months: tuple[int, int] | None
    group: str

    def value(self, result: Any) -> float:
        """This term in a RunResult (NaN where the model has no value)."""
        if self.month is None and self.months is None:
            summary = result.summary if self.group == "all" else result.summary["by_group"].get(
                self.group, {})
            v: Any = summary
            for part in self.metric.split("."):
                v = v.get(part) if isinstance(v, dict) else None
            return float(v) if v is not None else math.nan
        first, last = self.months or (self.month, self.month)
        df = result.monthly
        rows = df[(df.group == self.group) & (df.month >= first) & (df.month <= last)]
        return float(rows[self.metric].mean()) if len(rows) else math.nan

    @property
    def last_month(self) -> int:
        """The latest month this term reads (0 for a summary)."""
        return self.months[1] if self.months else (self.month or 0)


@dataclass(frozen=True)
class Target:
    """A validated target: the figure and its resolved quantity."""

    spec: TargetSpec
    role: str
    first: Term
    second: Term | None
    op: str | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.scenario for t in (self.first, self.second) if t))

    def value(self, results: dict[str, Any]) -> float:
        """The quantity over one seed's runs ({scenario key: RunResult})."""
        a = self.first.value(results[self.first.scenario])
        if self.second is None:
            out = a
        else:
            b = self.second.value(results[self.second.scenario])
            if self.op == "difference":
                out = a - b
            elif b == 0 or not math.isfinite(b):
                out = math.nan
            else:
                out = a / b - (1.0 if self.op == "relative_change" else 0.0)
        return out * self.spec.quantity.scale

    def distance(self, x: float) -> float:
        """|x - figure| / tolerance, or how far a threshold is missed; NaN stays NaN."""
        v, tol = self.spec.value, self.spec.tolerance
        if self.spec.bound == ">=":
            return max(v - x, 0.0) / tol
        if self.spec.bound == "<=":
            return max(x - v, 0.0) / tol
        return abs(x - v) / tol


@dataclass(frozen=True)
class Prior:
    """A free parameter: schema path, kind and prior."""

    path: str
    kind: str  # "int" or "float"
    prior: str
    low: float
    high: float

    @property
    def key(self) -> str:
        """The parameter's name inside pyabc (dots are not used there)."""
        return self.path.replace(".", "__")

    def to_internal(self, value: float) -> float:
        """Schema value -> the sampled coordinate (log for a log-uniform prior)."""
        return math.log(value) if self.prior == "loguniform" else float(value)

    def from_internal(self, x: float) -> float | int:
        """Sampled coordinate -> schema value (integers rounded)."""
        v = math.exp(x) if self.prior == "loguniform" else float(x)
        v = min(max(v, self.low), self.high)
        return int(round(v)) if self.kind == "int" else v

    @property
    def internal_bounds(self) -> tuple[float, float]:
        return self.to_internal(self.low), self.to_internal(self.high)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n draws from the prior, in schema units (for prior-vs-posterior plots)."""
        lo, hi = self.internal_bounds
        x = rng.uniform(lo, hi, n)
        return np.exp(x) if self.prior == "loguniform" else x


@dataclass(frozen=True)
class Targets:
    """A validated targets file, its scenarios resolved."""

    path: Path
    text: str
    spec: TargetsSpec
    targets: tuple[Target, ...]
    priors: tuple[Prior, ...]
    configs: dict[str, ScenarioConfig]  # scenario key -> resolved config (with `set:`)
    months: int

    def of_role(self, role: str) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.role == role)

    def scenarios_for(self, targets: tuple[Target, ...]) -> tuple[str, ...]:
        """The scenario keys these targets need, in the file's order."""
        used = {s for t in targets for s in t.scenarios}
        return tuple(k for k in self.spec.scenarios if k in used)

    def horizon_for(self, targets: tuple[Target, ...]) -> int:
        """Months these targets need run: the last month they read, or the whole horizon when
        one reads a summary. The model looks no month ahead, so month m of a shorter run is
        month m of the full one (tested), and a fit to the pre-policy months runs only those."""
        last = [term.last_month for t in targets for term in (t.first, t.second) if term]
        return self.months if not last or min(last) == 0 else max(last)


# ----------------------------------------------------------------------------- validation


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tuple[", "literal[")):
            out += ("." if out else "") + str(part)
    return out or "file"


def _pydantic_line(source: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = _where(err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        elif err["type"] == "missing":
            parts.append(f"{where}: missing (a required field)")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = "" if "(got" in msg else f" (got {str(err.get('input'))[:60]!r})"
            parts.append(f"{where}: {msg}{got}")
    return f"{source}: " + "; ".join(parts)


def _check_prior(source: str, path: str, p: PriorSpec) -> Prior:
    where = f"{source}: parameters.{path}"
    try:
        spec = parameter(path)
    except ConfigError as exc:
        raise ConfigError(f"{source}: parameters.{exc}") from None
    if spec.kind not in ("int", "float"):
        raise ConfigError(f"{where}: only numeric parameters can be fitted ({path} is "
                          f"{spec.range_text()})")
    if not p.low < p.high:
        raise ConfigError(f"{where}: low must be below high (got {p.low:g}, {p.high:g})")
    for value, end in ((p.low, "low"), (p.high, "high")):
        if ((spec.ge is not None and value < spec.ge) or (spec.gt is not None and value <= spec.gt)
                or (spec.le is not None and value > spec.le)
                or (spec.lt is not None and value >= spec.lt)):
            raise ConfigError(f"{where}: prior {end} end must be within the schema's range, "
                              f"{spec.range_text()} (got {value:g})")
    if p.prior == "loguniform" and p.low <= 0:
        raise ConfigError(f"{where}: a loguniform prior needs low > 0 (got {p.low:g})")
    return Prior(path, spec.kind, p.prior, float(p.low), float(p.high))


def _term(source: str, where: str, spec: TermSpec, base: Term | None,
          scenarios: dict[str, str]) -> Term:
    def pick(name: str, default: Any) -> Any:
        v = getattr(spec, name)
        return default if v is None else v

    timed = spec.month is not None or spec.months is not None
    term = Term(
        scenario=pick("scenario", base.scenario if base else None),
        metric=pick("metric", base.metric if base else None),
        month=spec.month if timed or base is None else base.month,
        months=spec.months if timed or base is None else base.months,
        group=pick("group", base.group if base else "all"),
    )
    if term.scenario is None or term.scenario not in scenarios:
        raise ConfigError(f"{source}: {where}.scenario: must be a key of scenarios: "
                          f"({', '.join(scenarios)}) (got {term.scenario!r})")
    if term.metric is None:
        raise ConfigError(f"{source}: {where}.metric: missing (a required field)")
    monthly = term.month is not None or term.months is not None
    known = monthly_metrics() if monthly else summary_metrics()
    if term.metric not in known:
        kind = "monthly" if monthly else "summary"
        raise ConfigError(f"{source}: {where}.metric: unknown {kind} metric {term.metric!r} "
                          f"(known: {', '.join(known)})")
    if term.group not in groups():
        raise ConfigError(f"{source}: {where}.group: must be one of {', '.join(groups())} "
                          f"(got {term.group!r})")
    return term


def _parse(path: Path, data: dict[str, Any]) -> TargetsSpec:
    try:
        return TargetsSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_pydantic_line(str(path), exc)) from None


def _check_roles(source: str, spec: TargetsSpec) -> dict[str, str]:
    names = [t.name for t in spec.targets]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{source}: targets: duplicate name {name!r}")
    role: dict[str, str] = {}
    for key, listed in (("fitted", spec.fitted), ("held_out", spec.held_out)):
        for name in listed:
            if name not in names:
                raise ConfigError(f"{source}: {key}: {name!r} is not a target's name "
                                  f"(targets: {', '.join(names)})")
            if name in role:
                raise ConfigError(f"{source}: {key}: {name!r} is listed twice (fitted and "
                                  f"held-out lists must not overlap or repeat)")
            role[name] = key
    missing = [n for n in names if n not in role]
    if missing:
        raise ConfigError(f"{source}: targets {', '.join(missing)}: declare each as fitted or "
                          f"held_out up front")
    if not spec.held_out:
        raise ConfigError(f"{source}: held_out: at least one figure must be held out (never "
                          f"fitted), so that the calibration is tested")
    return role


def _configs(source: str, spec: TargetsSpec, priors: tuple[Prior, ...],
             base: Path) -> tuple[dict[str, ScenarioConfig], int]:
    for path in spec.overrides:
        try:
            parameter(path)
        except ConfigError as exc:
            raise ConfigError(f"{source}: set.{exc}") from None
        if path in spec.parameters:
            raise ConfigError(f"{source}: set.{path}: also a free parameter; give it once")
    configs = {}
    for key, name in {"baseline": spec.baseline, **spec.scenarios}.items():
        where = "baseline" if key == "baseline" else f"scenarios.{key}"
        try:
            found = resolve_path(name, base)
            configs[key] = load_scenario(found, spec.overrides)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {where}: {exc}") from None
    baseline = configs.pop("baseline").model_dump()
    for p in priors:  # a scenario that sets a free parameter itself would be overwritten
        for key, cfg in configs.items():
            here, there = get_dotted(cfg.model_dump(), p.path), get_dotted(baseline, p.path)
            if here != there:
                raise ConfigError(
                    f"{source}: parameters.{p.path}: scenario {key} sets it ({here!r}, baseline "
                    f"{there!r}); fitting it would overwrite the scenario's own value")
    months = {cfg.months for cfg in configs.values()}
    horizon = spec.months or max(months)
    return configs, horizon


def load_targets(name: str | Path) -> Targets:
    """Read and validate a targets file (every mistake a one-line ConfigError)."""
    path = Path(name)
    if not path.is_file() and (SCENARIO_DIR / "calibration" / path).with_suffix(".yaml").is_file():
        path = (SCENARIO_DIR / "calibration" / path).with_suffix(".yaml")
    if not path.is_file():
        raise ConfigError(f"{name}: targets file not found")
    source = str(path)
    text = read_text(path)
    data = as_mapping(parse_yaml(text, source), source)
    spec = _parse(path, data)
    role = _check_roles(source, spec)
    priors = tuple(_check_prior(source, k, p) for k, p in spec.parameters.items())
    targets = []
    for i, t in enumerate(spec.targets):
        where = f"targets[{i}] ({t.name}).quantity"
        first = _term(source, where, t.quantity, None, spec.scenarios)
        second = (_term(source, f"{where}.vs", t.quantity.vs, first, spec.scenarios)
                  if t.quantity.vs is not None else None)
        op = t.quantity.op or ("difference" if second is not None else None)
        if second is not None and second == first:
            raise ConfigError(f"{source}: {where}.vs: the same term as the first; a "
                              f"comparison needs another month, metric or scenario")
        targets.append(Target(t, role[t.name], first, second, op))
    configs, months = _configs(source, spec, priors, path.parent)
    for t in targets:
        for term in (t.first, t.second):
            if term is not None and term.last_month > months:
                raise ConfigError(f"{source}: targets ({t.name}): month {term.last_month} is "
                                  f"after the runs' last month ({months})")
    return Targets(path, text, spec, tuple(targets), priors, configs, months)
