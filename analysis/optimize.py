"""Policy search: the levers and ranges a spec names, searched by optuna for the best mixes.

A spec (YAML) names a base scenario, the levers to search (`path: [low, high]`, a mapping with
`low`, `high`, `step`, or `choices: [...]`), one to three objectives (`minimize: public_cost`,
`maximize: tier2.credit_access_rate`), constraints (`bank_npl_ratio <= 0.03`), the paired seeds
every trial runs on (common random numbers), the sampler (optuna's NSGA-II or TPE) and the
number of trials. A trial's value is the mean over its seeds of each metric.

The study lives in `DIR/study.db` (SQLite through optuna's storage), its runs in the results
store `DIR/runs`: interrupting and rerunning the same command continues the same study, and a
trial cut short by the interruption is asked again first, its finished runs read back from the
store. Trials are asked in batches (an NSGA-II generation, or one per worker for TPE) whose runs
go through the batch runner's workers together.

Every mistake in a spec is a one-line `ConfigError` naming the field and what is allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.evaluate import check_metric
from analysis.experiment import _pydantic_line
from simulation.config import ScenarioConfig
from simulation.scenario import (
    ConfigError,
    load_scenario,
    parameter,
    resolve_path,
    with_overrides,
)
from simulation.yaml_input import read_text, read_yaml_mapping

SAMPLERS = ("nsga2", "tpe")
CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")
SHARES = ("credit_access_rate", "funded_share", "bank_npl_ratio", "arrears_repaid_share")
MAX_TRIALS = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LeverSpec(_Strict):
    """One searched lever: a numeric range (with an optional step) or a list of choices."""

    low: float | None = None
    high: float | None = None
    step: float | None = Field(None, gt=0)
    choices: list[Any] | None = None


class Objective(_Strict):
    """Minimise or maximise one summary metric (mean over the trial's seeds)."""

    minimize: str | None = None
    maximize: str | None = None


class Recheck(_Strict):
    """Fresh seeds on which the front is evaluated again."""

    seeds: list[int] | int = 8


class Spec(_Strict):
    """The validated content of an optimisation spec file."""

    description: str = ""
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    scenario: str
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")
    months: int | None = Field(None, ge=1, le=600)
    seeds: list[int] | int = 4
    levers: dict[str, Any] = Field(min_length=1)
    objectives: list[Objective] = Field(min_length=1, max_length=3)
    constraints: list[str] = Field(default_factory=list)
    sampler: Literal["nsga2", "tpe"] | None = None
    trials: int = Field(40, ge=1, le=MAX_TRIALS)
    batch: int | None = Field(None, ge=1, le=1000)
    sampler_seed: int = Field(0, ge=0)
    recheck: Recheck = Field(default_factory=Recheck)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> Any:
        return _seed_list(value)


def _seed_list(value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 1000:
            raise ValueError("a count must be between 1 and 1000")
        return list(range(1, value + 1))
    if (
        isinstance(value, list)
        and value
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
        and len(set(value)) == len(value)
    ):
        return value
    raise ValueError("must be a count N >= 1 or a list of distinct integers >= 0")


@dataclass(frozen=True)
class Lever:
    """A searched parameter: `kind` int/float with [low, high] (and step), or `choices`."""

    path: str
    kind: str
    low: float = math.nan
    high: float = math.nan
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The trial's value of this lever (optuna's suggest API)."""
        if self.choices:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high),
                                     step=int(self.step or 1))  # fmt: skip
        return trial.suggest_float(self.path, self.low, self.high, step=self.step)

    def describe(self) -> str:
        """`path in [low, high]` or `path in {a, b}`, for messages and pages."""
        if self.choices:
            return f"{self.path} in {{{', '.join(map(str, self.choices))}}}"
        step = f" step {self.step:g}" if self.step else ""
        return f"{self.path} in [{self.low:g}, {self.high:g}]{step}"


@dataclass(frozen=True)
class Constraint:
    """`metric <= bound` or `metric >= bound`, on the mean over the trial's seeds."""

    metric: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 when met (NaN counts as violated)."""
        if not math.isfinite(value):
            return math.inf
        return value - self.bound if self.op == "<=" else self.bound - value

    def text(self) -> str:
        """The constraint as written."""
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass
class Problem:
    """A spec resolved against the schema: everything a search needs."""

    name: str
    description: str
    scenario: str
    base: ScenarioConfig
    months: int
    seeds: list[int]
    levers: list[Lever]
    objectives: list[tuple[str, str]]  # (metric, "minimize" | "maximize")
    constraints: list[Constraint]
    sampler: str
    trials: int
    batch: int
    sampler_seed: int
    recheck_seeds: list[int]
    source_text: str

    @property
    def metrics(self) -> list[str]:
        """Every metric a trial records: objectives, constraints, then the headline ones."""
        named = [m for m, _ in self.objectives] + [c.metric for c in self.constraints]
        from simulation.costs import SUMMARY_KEYS

        extra = ["public_cost", *SUMMARY_KEYS, "credit_access_rate", "tier2.credit_access_rate",
                 "lost_output", "bank_npl_ratio", "guarantee_payout_rate"]  # fmt: skip
        return list(dict.fromkeys(named + extra))

    def config(self, values: dict[str, Any]) -> ScenarioConfig:
        """The base scenario with these lever values."""
        return with_overrides(self.base, values) if values else self.base

    def identity(self) -> dict[str, Any]:
        """What must not change between a study and its resumption (all but `trials`)."""
        return {
            "scenario": self.scenario, "base": self.base.model_dump(mode="json"),
            "months": self.months, "seeds": self.seeds,
            "levers": [lv.describe() for lv in self.levers], "objectives": self.objectives,
            "constraints": [c.text() for c in self.constraints], "sampler": self.sampler,
            "sampler_seed": self.sampler_seed,
        }  # fmt: skip


# ----------------------------------------------------------------------------- reading


def _lever(source: str, path: str, raw: Any) -> Lever:
    where = f"{source}: levers.{path}"
    try:
        spec = parameter(path)
    except ConfigError as exc:
        raise ConfigError(f"{source}: levers.{exc}") from None
    if isinstance(raw, list) and spec.kind in ("bool", "choice", "other"):
        raw = {"choices": raw}
    elif isinstance(raw, list):
        if len(raw) != 2:
            raise ConfigError(f"{where}: a range is [low, high], two numbers (got {raw!r})")
        raw = {"low": raw[0], "high": raw[1]}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: give [low, high], {{low, high, step}} or {{choices: [...]}}")
    try:
        lever = LeverSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_pydantic_line(where, exc)) from None
    if lever.choices is not None:
        if lever.low is not None or lever.high is not None:
            raise ConfigError(f"{where}: give choices or low/high, not both")
        if len(lever.choices) < 2:
            raise ConfigError(f"{where}: choices: give at least two values (got {lever.choices})")
        for value in lever.choices:
            _check_value(where, path, value)
        return Lever(path, spec.kind, choices=tuple(lever.choices))
    if spec.kind not in ("int", "float"):
        raise ConfigError(
            f"{where}: {path} is {spec.range_text()}: give choices, e.g. [false, true]"
        )
    if lever.low is None or lever.high is None:
        raise ConfigError(f"{where}: give both low and high")
    if not lever.low < lever.high:
        raise ConfigError(
            f"{where}: empty range: low must be below high (got [{lever.low:g}, {lever.high:g}])"
        )
    for value in (lever.low, lever.high):
        _check_value(where, path, int(value) if spec.kind == "int" else value)
    if lever.step is not None and lever.step > lever.high - lever.low:
        raise ConfigError(f"{where}: step {lever.step:g} is wider than the range")
    return Lever(path, spec.kind, float(lever.low), float(lever.high), lever.step)


def _check_value(where: str, path: str, value: Any) -> None:
    try:
        with_overrides(ScenarioConfig(), {path: value})
    except ConfigError:
        raise ConfigError(
            f"{where}: {value!r} is outside the schema ({parameter(path).range_text()})"
        ) from None


def _objective(source: str, i: int, obj: Objective) -> tuple[str, str]:
    if (obj.minimize is None) == (obj.maximize is None):
        raise ConfigError(f"{source}: objectives[{i}]: give one of minimize: or maximize:")
    direction = "minimize" if obj.minimize is not None else "maximize"
    metric = obj.minimize or obj.maximize or ""
    return check_metric(metric, f"{source}: objectives[{i}]:"), direction


def _constraint(source: str, i: int, text: str) -> Constraint:
    match = CONSTRAINT.match(text)
    if not match:
        raise ConfigError(
            f"{source}: constraints[{i}]: write METRIC <= NUMBER or METRIC >= NUMBER (got {text!r})"
        )
    metric, op, bound = match.groups()
    try:
        value = float(bound)
    except ValueError:
        raise ConfigError(f"{source}: constraints[{i}]: {bound!r} is not a number") from None
    check_metric(metric, f"{source}: constraints[{i}]:")
    return Constraint(metric, op, value)


def _check_possible(source: str, constraints: list[Constraint]) -> None:
    """Refuse constraints no run can meet: below zero, a share above 1, or a pair that
    leaves no room between them (every metric runs report is >= 0; shares are <= 1)."""
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for c in constraints:
        share = c.metric.split(".")[-1] in SHARES
        if c.op == "<=" and c.bound < 0:
            raise ConfigError(f"{source}: constraints: {c.text()} is impossible "
                              f"({c.metric} is never below 0)")  # fmt: skip
        if c.op == ">=" and share and c.bound > 1:
            raise ConfigError(f"{source}: constraints: {c.text()} is impossible "
                              f"({c.metric} is a share, at most 1)")  # fmt: skip
        side = high if c.op == "<=" else low
        side[c.metric] = (min if c.op == "<=" else max)(side.get(c.metric, c.bound), c.bound)
    for metric in set(low) & set(high):
        if low[metric] > high[metric]:
            raise ConfigError(
                f"{source}: constraints: {metric} >= {low[metric]:g} and <= {high[metric]:g} "
                f"cannot both hold"
            )


def load_problem(path: str | Path) -> Problem:
    """Read, validate and resolve a spec file (every mistake a one-line ConfigError)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: spec file not found")
    data = read_yaml_mapping(path)
    source = str(path)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_pydantic_line(source, exc)) from None
    levers = [_lever(source, p, raw) for p, raw in spec.levers.items()]
    both = sorted(set(spec.levers) & set(spec.overrides))
    if both:
        raise ConfigError(f"{source}: set: {', '.join(both)} is also a lever; give it once")
    objectives = [_objective(source, i, o) for i, o in enumerate(spec.objectives)]
    if len({m for m, _ in objectives}) != len(objectives):
        raise ConfigError(f"{source}: objectives: each metric once")
    constraints = [_constraint(source, i, t) for i, t in enumerate(spec.constraints)]
    _check_possible(source, constraints)
    try:
        scenario = resolve_path(spec.scenario, path.parent)
        base = load_scenario(scenario, spec.overrides)
    except ConfigError as exc:
        raise ConfigError(f"{source}: scenario: {exc}") from None
    try:
        recheck = _seed_list(spec.recheck.seeds)
    except ValueError as exc:
        raise ConfigError(f"{source}: recheck.seeds: {exc}") from None
    if isinstance(spec.recheck.seeds, int):  # fresh: after the trial seeds
        start = max(spec.seeds) + 1
        recheck = list(range(start, start + spec.recheck.seeds))
    if set(recheck) & set(spec.seeds):
        raise ConfigError(f"{source}: recheck.seeds: must be fresh, not trial seeds")
    sampler = spec.sampler or ("tpe" if len(objectives) == 1 else "nsga2")
    batch = spec.batch or (8 if sampler == "nsga2" else 2)
    return Problem(
        name=spec.name or path.stem,
        description=spec.description,
        scenario=spec.scenario,
        base=base,
        months=spec.months or base.months,
        seeds=list(spec.seeds),
        levers=levers,
        objectives=objectives,
        constraints=constraints,
        sampler=sampler,
        trials=spec.trials,
        batch=batch,
        sampler_seed=spec.sampler_seed,
        recheck_seeds=recheck,
        source_text=read_text(path),
    )


# ----------------------------------------------------------------------------- searching

STUDY_FILE = "study.db"
RUNS_DIR = "runs"
IDENTITY_FILE = "problem.json"


@dataclass
class SearchReport:
    """What a search did: trials finished in all, run now, and whether it resumed a study."""

    finished: int
    ran_now: int
    resumed: bool
    retried: int  # trials an interruption had cut short, asked again
    runs_computed: int
    where: str


def _sampler(problem: Problem, already: int) -> Any:
    import optuna

    # seeded by the trials already run, so that a resumed study does not redraw the first ones
    seed = problem.sampler_seed * 100_003 + already
    if problem.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=max(problem.batch, 2), seed=seed)
    startup = min(10, max(problem.trials // 4, 2))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def prepare(problem: Problem, out: str | Path) -> bool:
    """Make `out` for the study, or check it holds this problem's study (True: resuming);
    refuse a different problem's study and any other non-empty directory, before any run."""
    import json

    out = Path(out)
    path = out / IDENTITY_FILE
    ident = json.dumps(problem.identity(), sort_keys=True, default=str)
    if path.is_file():
        if path.read_text(encoding="utf-8") != ident:
            raise ConfigError(
                f"{out}: holds a study of a different spec (only `trials` may change when "
                f"resuming); choose another --out"
            )
        return True
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not empty; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(ident, encoding="utf-8")
    return False


def open_study(problem: Problem, out: str | Path, *, create: bool = True) -> Any:
    """The optuna study of `problem` in `out/study.db` (created, or loaded to resume)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(out)
    storage = f"sqlite:///{(out / STUDY_FILE).resolve()}"
    if not create:
        return optuna.load_study(study_name=problem.name, storage=storage)
    directions = [d for _, d in problem.objectives]
    study = optuna.create_study(
        storage=storage, study_name=problem.name, directions=directions, load_if_exists=True
    )
    finished = _finished(study)
    study.sampler = _sampler(problem, finished)
    return study


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return sum(
        t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and "error" in t.user_attrs)
        for t in trials
    )


def _means(frame: Any, metrics: list[str]) -> dict[str, float]:
    out = {}
    for m in metrics:
        value = float(frame[m].astype(float).mean()) if m in frame else math.nan
        out[m] = value if math.isfinite(value) else math.nan
    return out


def search(problem: Problem, out: str | Path, evaluator: Any, progress: Any = None) -> SearchReport:
    """Run (or resume) the study until `problem.trials` trials have finished.

    Call `prepare(problem, out)` first. `evaluator` is an open `analysis.evaluate.Evaluator`
    (its store: `out/runs`);
    `progress(finished, total, best_text)` is called after each batch.
    """
    from optuna.trial import TrialState

    study = open_study(problem, out)
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for t in stale:  # cut short by an interruption: ask the same levers again first
        if t.state == TrialState.RUNNING:
            study.tell(t.number, state=TrialState.FAIL)
        if t.params:
            study.enqueue_trial(t.params)
    finished = start = _finished(study)
    computed = evaluator.computed
    while finished < problem.trials:
        trials = [study.ask() for _ in range(min(problem.batch, problem.trials - finished))]
        values = [{lv.path: lv.suggest(t) for lv in problem.levers} for t in trials]
        configs, bad = [], {}
        for i, v in enumerate(values):
            try:
                configs.append(problem.config(v))
            except ConfigError as exc:  # a combination the schema refuses
                bad[i] = str(exc)
                configs.append(problem.base)
        frame = evaluator.evaluate(configs, problem.seeds, months=problem.months)
        for i, trial in enumerate(trials):
            rows = frame[frame["index"] == i]
            error = bad.get(i) or next((e for e in rows.error if e), None)
            if error:
                trial.set_user_attr("error", str(error))
                study.tell(trial, state=TrialState.FAIL)
                continue
            means = _means(rows, problem.metrics)
            trial.set_user_attr("means", means)
            violations = [c.violation(means[c.metric]) for c in problem.constraints]
            trial.set_user_attr("constraints", violations)
            for c, v in zip(problem.constraints, violations, strict=True):
                trial.set_constraint(c.text(), min(v, 1e300))  # <= 0: met (optuna's sign)
            objective = [means[m] for m, _ in problem.objectives]
            if not all(math.isfinite(v) for v in objective):
                trial.set_user_attr("error", "an objective is not measured (NaN)")
                study.tell(trial, state=TrialState.FAIL)
                continue
            study.tell(trial, objective)
        finished += len(trials)
        if progress is not None:
            progress(finished, problem.trials)
    return SearchReport(
        finished=finished,
        ran_now=finished - start,
        resumed=start > 0 or bool(stale),
        retried=sum(1 for t in stale if t.params),
        runs_computed=evaluator.computed - computed,
        where=evaluator.where,
    )
